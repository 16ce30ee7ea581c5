/* stress_broadcast.c - 2 senders -> 4 receivers through capacities 1, 16 and
 * 1024, each receiver on its own thread: one with recv_blocking, one with
 * poll_recv and a thread waker, one polling the stream with a thread waker,
 * one with the stream's next_blocking. A last case paces the senders (a
 * yield every 8 sends) so that receivers keep up and wait for nearly every
 * message: the waking path under load, and (when nothing lagged) every
 * message of each sender received, in order.
 *
 * Every receiver checks that its view accounts for every message (received
 * + skipped == sent), that the sequence numbers of each sender strictly
 * increase (order kept, nothing twice), and that no value is torn: each
 * 64-byte message carries a checksum of its other bytes. Capacity 1 with two
 * senders also makes senders land on the same slot a lap apart all the time.
 *
 * Messages per sender per case: ACHAN_STRESS_MESSAGES (default 300,000)
 * divided by ACHAN_STRESS_SCALE. Each case prints its time and how many
 * messages each receiver got and missed; nothing asserts a time.
 */
#include "test_support.h"

#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SENDERS 2
#define RECEIVERS 4

/* For the sender and receiver threads: cmocka's assertions can only report
 * from the test's own thread, so a failure elsewhere says what failed and
 * aborts. */
#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);               \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

typedef struct {
    uint32_t sender, sender_inv; /* sender_inv == ~sender */
    uint64_t seq;
    uint64_t data[5];
    uint64_t check; /* Over the 56 bytes before it. */
} msg;

_Static_assert(sizeof(msg) == 64, "a message is 64 bytes");

static uint64_t mix(uint64_t x) { /* splitmix64's finaliser */
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static uint64_t checksum(const msg *m) {
    const unsigned char *p = (const unsigned char *)m;
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (size_t i = 0; i < offsetof(msg, check); i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

static void fill(msg *m, uint32_t sender, uint64_t seq) {
    m->sender = sender;
    m->sender_inv = ~sender;
    m->seq = seq;
    for (int i = 0; i < 5; i++)
        m->data[i] = mix(seq * 8 + (uint64_t)i + ((uint64_t)sender << 48));
    m->check = checksum(m);
}

typedef struct {
    achan_broadcast_sender *tx;
    uint32_t id;
    uint64_t count;
    bool paced; /* Yield now and then, so receivers mostly keep up. */
} sender_args;

static void *run_sender(void *arg) {
    sender_args *s = arg;
    msg m;
    for (uint64_t seq = 0; seq < s->count; seq++) {
        fill(&m, s->id, seq);
        size_t receivers = 0;
        CHECK(achan_broadcast_send(s->tx, &m, &receivers) == ACHAN_OK);
        CHECK(receivers == RECEIVERS);
        if (s->paced && seq % 8 == 7)
            sched_yield();
    }
    achan_broadcast_sender_drop(s->tx);
    return NULL;
}

typedef enum { VIA_BLOCKING, VIA_POLL, VIA_STREAM_POLL, VIA_STREAM_BLOCKING } via;
static const char *const via_names[] = {"recv_blocking", "poll+waker", "stream poll",
                                        "stream blocking"};

typedef struct {
    achan_broadcast_receiver *rx;
    via how;
    uint64_t received, skipped, lags;
    uint64_t next_seq[SENDERS]; /* Lowest sequence still acceptable per sender. */
} receiver_args;

/* Checks one message: whole, from a known sender, later than the last one
 * seen from that sender. */
static void check(receiver_args *r, const msg *m) {
    CHECK(m->sender < SENDERS);
    CHECK(m->sender_inv == ~m->sender);
    CHECK(m->check == checksum(m));
    CHECK(m->seq >= r->next_seq[m->sender]); /* Strictly increasing. */
    r->next_seq[m->sender] = m->seq + 1;
    r->received++;
}

/* One receive by r's method: OK, LAGGED (with *skipped when known) or CLOSED. */
static achan_status receive(receiver_args *r, achan_context *cx, msg *m, uint64_t *skipped) {
    achan_stream *s = achan_broadcast_receiver_stream(r->rx);
    achan_status st;
    *skipped = 0;
    switch (r->how) {
    case VIA_BLOCKING:
        return achan_broadcast_recv_blocking(r->rx, m, skipped, -1);
    case VIA_POLL:
        while ((st = achan_broadcast_poll_recv(r->rx, cx, m, skipped)) == ACHAN_PENDING)
            achan_thread_park(-1);
        return st;
    case VIA_STREAM_POLL:
        while ((st = achan_stream_poll_next(s, cx, m)) == ACHAN_PENDING)
            achan_thread_park(-1);
        return st;
    default:
        return achan_stream_next_blocking(s, m, -1);
    }
}

static void *run_receiver(void *arg) {
    receiver_args *r = arg;
    achan_waker w;
    CHECK(achan_thread_waker(&w) == ACHAN_OK);
    achan_context cx = {&w};
    msg m;
    uint64_t skipped;
    achan_status st;
    while ((st = receive(r, &cx, &m, &skipped)) != ACHAN_CLOSED) {
        if (st == ACHAN_LAGGED) {
            r->lags++;
            r->skipped += skipped;
            continue;
        }
        CHECK(st == ACHAN_OK);
        check(r, &m);
    }
    achan_waker_drop(w);
    /* The stream does not report counts: the receiver's total does. */
    uint64_t total = achan_broadcast_receiver_skipped(r->rx);
    if (r->how == VIA_BLOCKING || r->how == VIA_POLL)
        CHECK(r->skipped == total);
    r->skipped = total;
    return NULL;
}

static void run_case(size_t cap, bool paced) {
    const char *env = getenv("ACHAN_STRESS_MESSAGES");
    uint64_t per = test_stress_count(env ? (size_t)atoll(env) : 300000);
    if (paced)
        per = per / 3 + 1; /* Every message wakes receivers: slower per message. */
    achan_opts o = {.item_size = sizeof(msg), .capacity = cap};
    achan_broadcast_sender *tx;
    achan_broadcast_receiver *rx;
    assert_int_equal(achan_broadcast_new(&o, &tx, &rx), ACHAN_OK);

    receiver_args rs[RECEIVERS];
    memset(rs, 0, sizeof rs);
    for (int i = 0; i < RECEIVERS; i++) {
        rs[i].rx = i == 0 ? rx : achan_broadcast_subscribe(tx);
        assert_non_null(rs[i].rx);
        rs[i].how = (via)i;
    }
    sender_args ss[SENDERS];
    for (int i = 0; i < SENDERS; i++) {
        ss[i].tx = i == 0 ? tx : achan_broadcast_sender_clone(tx);
        assert_non_null(ss[i].tx);
        ss[i].id = (uint32_t)i;
        ss[i].count = per;
        ss[i].paced = paced;
    }

    double t0 = test_now_ms();
    pthread_t rt[RECEIVERS], st[SENDERS];
    for (int i = 0; i < RECEIVERS; i++)
        assert_int_equal(pthread_create(&rt[i], NULL, run_receiver, &rs[i]), 0);
    for (int i = 0; i < SENDERS; i++)
        assert_int_equal(pthread_create(&st[i], NULL, run_sender, &ss[i]), 0);
    for (int i = 0; i < SENDERS; i++)
        pthread_join(st[i], NULL);
    for (int i = 0; i < RECEIVERS; i++)
        pthread_join(rt[i], NULL);
    double ms = test_now_ms() - t0;

    printf("    cap %-5zu %llu msgs sent in %8.1f ms\n", cap, (unsigned long long)(per * SENDERS),
           ms);
    for (int i = 0; i < RECEIVERS; i++) {
        receiver_args *r = &rs[i];
        printf("      %-16s received %9llu  skipped %9llu in %7llu lags\n", via_names[r->how],
               (unsigned long long)r->received, (unsigned long long)r->skipped,
               (unsigned long long)r->lags);
        assert_int_equal(r->received + r->skipped, per * SENDERS);
        if (r->lags == 0)
            for (int s = 0; s < SENDERS; s++)
                assert_int_equal(r->next_seq[s], per); /* Nothing missed: all, in order. */
        assert_int_equal(achan_broadcast_len(r->rx), 0);
        achan_broadcast_receiver_drop(r->rx);
    }
}

#define CASE(name, cap, paced)                                                                     \
    static void name(void **state) {                                                               \
        (void)state;                                                                               \
        run_case(cap, paced);                                                                      \
    }
CASE(cap1, 1, false)
CASE(cap16, 16, false)
CASE(cap1024, 1024, false)
CASE(cap1024_paced, 1024, true)

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cap1),
        cmocka_unit_test(cap16),
        cmocka_unit_test(cap1024),
        cmocka_unit_test(cap1024_paced),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
