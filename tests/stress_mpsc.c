/* stress_mpsc.c - 4 producers -> 1 consumer, every message exactly once, in
 * per-producer order, through capacities 1, 2, 64, 1024 and unbounded, on the
 * poll path (a real waker: the thread parker) and on the blocking path.
 *
 * Messages per case: ACHAN_STRESS_MESSAGES (default 1,000,000) divided by
 * ACHAN_STRESS_SCALE. Each case prints its time; nothing asserts a time.
 */
#include "test_support.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#define PRODUCERS 4

typedef enum { PATH_POLL, PATH_BLOCKING } path;

typedef struct {
    achan_mpsc_sender *tx;
    uint64_t id, count;
    path how;
} producer;

static void *produce(void *arg) {
    producer *p = arg;
    achan_waker w;
    TEST_CHECK(achan_thread_waker(&w) == ACHAN_OK);
    achan_context cx = {&w};
    for (uint64_t seq = 0; seq < p->count; seq++) {
        uint64_t m = test_msg(p->id, seq);
        achan_status st;
        if (p->how == PATH_BLOCKING) {
            st = achan_mpsc_send_blocking(p->tx, &m, -1);
        } else {
            while ((st = achan_mpsc_poll_send(p->tx, &cx, &m)) == ACHAN_PENDING)
                achan_thread_park(-1);
        }
        TEST_CHECK(st == ACHAN_OK);
    }
    achan_waker_drop(w);
    achan_mpsc_sender_drop(p->tx);
    return NULL;
}

/* Checks one message against the next expected sequence of its producer. */
static void check(uint64_t m, uint64_t *next) {
    uint64_t id = test_msg_producer(m), seq = test_msg_seq(m);
    assert_true(id < PRODUCERS);
    assert_int_equal(seq, next[id]); /* Exactly once, in order: no gap, no repeat. */
    next[id]++;
}

static uint64_t consume(achan_mpsc_receiver *rx, path how, uint64_t *next) {
    uint64_t received = 0, m;
    if (how == PATH_BLOCKING) {
        achan_status st;
        while ((st = achan_mpsc_recv_blocking(rx, &m, -1)) == ACHAN_OK) {
            check(m, next);
            received++;
        }
        assert_int_equal(st, ACHAN_CLOSED);
        return received;
    }
    /* Poll path: alternate between the stream view and recv_many. */
    achan_waker w;
    assert_int_equal(achan_thread_waker(&w), ACHAN_OK);
    achan_context cx = {&w};
    achan_stream *s = achan_mpsc_receiver_stream(rx);
    uint64_t batch[16];
    for (;;) {
        achan_status st;
        size_t n;
        if (received & 1) {
            n = achan_mpsc_poll_recv_many(rx, &cx, batch, 16, &st);
        } else {
            st = achan_stream_poll_next(s, &cx, batch);
            n = st == ACHAN_OK;
        }
        if (st == ACHAN_PENDING) {
            achan_thread_park(-1);
            continue;
        }
        if (st == ACHAN_CLOSED)
            break;
        assert_int_equal(st, ACHAN_OK);
        for (size_t i = 0; i < n; i++)
            check(batch[i], next);
        received += n;
    }
    achan_waker_drop(w);
    return received;
}

static void run_case(size_t cap, path how) {
    const char *env = getenv("ACHAN_STRESS_MESSAGES");
    uint64_t total = test_stress_count(env ? (size_t)atoll(env) : 1000000);
    uint64_t per = total / PRODUCERS;
    achan_opts o = {.item_size = sizeof(uint64_t), .capacity = cap};
    achan_mpsc_sender *tx;
    achan_mpsc_receiver *rx;
    assert_int_equal(achan_mpsc_new(&o, &tx, &rx), ACHAN_OK);
    producer ps[PRODUCERS];
    pthread_t threads[PRODUCERS];
    double t0 = test_now_ms();
    for (uint64_t i = 0; i < PRODUCERS; i++) {
        ps[i].tx = i == 0 ? tx : achan_mpsc_sender_clone(tx);
        assert_non_null(ps[i].tx);
        ps[i].id = i;
        ps[i].count = per;
        ps[i].how = how;
    }
    for (int i = 0; i < PRODUCERS; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, produce, &ps[i]), 0);
    uint64_t next[PRODUCERS] = {0};
    uint64_t received = consume(rx, how, next);
    for (int i = 0; i < PRODUCERS; i++)
        pthread_join(threads[i], NULL);
    double ms = test_now_ms() - t0;
    assert_int_equal(received, per * PRODUCERS);
    for (int i = 0; i < PRODUCERS; i++)
        assert_int_equal(next[i], per);
    achan_mpsc_receiver_drop(rx);
    printf("    cap %-9s %-8s %9llu msgs  %8.1f ms  %6.1f ns/msg\n",
           cap ? (cap == 1    ? "1"
                  : cap == 2  ? "2"
                  : cap == 64 ? "64"
                              : "1024")
               : "unbounded",
           how == PATH_POLL ? "poll" : "blocking", (unsigned long long)received, ms,
           ms * 1e6 / (double)received);
}

#define CASE(name, cap, how)                                                                       \
    static void name(void **state) {                                                               \
        (void)state;                                                                               \
        run_case(cap, how);                                                                        \
    }
CASE(cap1_poll, 1, PATH_POLL)
CASE(cap1_blocking, 1, PATH_BLOCKING)
CASE(cap2_poll, 2, PATH_POLL)
CASE(cap2_blocking, 2, PATH_BLOCKING)
CASE(cap64_poll, 64, PATH_POLL)
CASE(cap64_blocking, 64, PATH_BLOCKING)
CASE(cap1024_poll, 1024, PATH_POLL)
CASE(cap1024_blocking, 1024, PATH_BLOCKING)
CASE(unbounded_poll, 0, PATH_POLL)
CASE(unbounded_blocking, 0, PATH_BLOCKING)

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cap1_poll),      cmocka_unit_test(cap1_blocking),
        cmocka_unit_test(cap2_poll),      cmocka_unit_test(cap2_blocking),
        cmocka_unit_test(cap64_poll),     cmocka_unit_test(cap64_blocking),
        cmocka_unit_test(cap1024_poll),   cmocka_unit_test(cap1024_blocking),
        cmocka_unit_test(unbounded_poll), cmocka_unit_test(unbounded_blocking),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
