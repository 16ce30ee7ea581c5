/* stress_oneshot_watch.c - oneshot and watch under real concurrency.
 *
 *   watch_readers_never_see_torn_values
 *       one writer publishes 256-byte values (send, send_modify,
 *       send_if_modified) as fast as it can while 4 readers check a checksum
 *       inside every value they read: by borrow in a loop, by
 *       changed_blocking + borrow_and_update, by the stream on the poll path
 *       (thread-parker waker) and by the stream's blocking next. Readers that
 *       wait for changes must see strictly increasing values (no value
 *       twice) and end with the final value, then ACHAN_CLOSED.
 *   watch_concurrent_writers_exclude_each_other
 *       4 writer threads increment the value's sequence number through
 *       send_modify and send_if_modified at once (a read-modify-write of
 *       256 bytes inside the function; now and then the function sleeps, so
 *       waiting writers go to sleep too) while 2 readers check every value:
 *       the final value counts every increment exactly once, and no reader
 *       sees a torn value or a sequence number go backwards.
 *   oneshot_round_trips
 *       a requester creates a oneshot per request and hands the sender to a
 *       responder thread over an mpsc, then waits for the reply (blocking
 *       receive, or the receiver's future on the thread parker).
 *   oneshot_concurrent_drops
 *       the two handles of a fresh oneshot are used and dropped at the same
 *       moment from two threads (drop / send / receive / close / poll_closed
 *       in every pairing); every value sent is received or passed to
 *       item_drop exactly once, and nothing leaks (run under ASan).
 *
 * Sizes: ACHAN_STRESS_SCALE divides them. Each case prints its time; nothing
 * asserts a time.
 */
#include "test_support.h"

#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ------------------------------------------------------------------------ */
/* watch: torn values.                                                       */

#define VALUE_WORDS 32 /* 256 bytes. */

typedef struct {
    uint64_t seq;
    uint64_t words[VALUE_WORDS - 2];
    uint64_t check;
} value256;

_Static_assert(sizeof(value256) == 256, "value256 is 256 bytes");

static uint64_t mix(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return x;
}

static void make_value(value256 *v, uint64_t seq) {
    v->seq = seq;
    uint64_t sum = seq;
    for (int i = 0; i < VALUE_WORDS - 2; i++) {
        v->words[i] = mix(seq * 31 + (uint64_t)i);
        sum = sum * 1099511628211ull + v->words[i];
    }
    v->check = sum;
}

static bool value_ok(const value256 *v) {
    value256 want;
    make_value(&want, v->seq);
    return memcmp(v, &want, sizeof want) == 0;
}

typedef enum { READ_BORROW, READ_CHANGED, READ_STREAM_POLL, READ_STREAM_BLOCKING } read_mode;

typedef struct {
    achan_watch_receiver *rx;
    read_mode mode;
    uint64_t final_seq;
    /* Results, read by the main thread after join. */
    uint64_t reads, torn, out_of_order, last_seq;
    achan_status end;
} reader;

static void reader_saw(reader *r, const value256 *v, bool strictly) {
    r->reads++;
    if (!value_ok(v)) {
        if (r->torn++ == 0)
            fprintf(stderr, "reader %d: torn value at seq %llu\n", (int)r->mode,
                    (unsigned long long)v->seq);
        return;
    }
    bool bad = strictly ? v->seq <= r->last_seq && r->reads > 1 : v->seq < r->last_seq;
    if (bad && r->out_of_order++ == 0)
        fprintf(stderr, "reader %d: seq %llu after %llu\n", (int)r->mode,
                (unsigned long long)v->seq, (unsigned long long)r->last_seq);
    r->last_seq = v->seq;
}

static void read_by_borrow(reader *r) {
    value256 v;
    while (achan_watch_has_changed(r->rx) != ACHAN_CLOSED) {
        achan_watch_borrow(r->rx, &v);
        reader_saw(r, &v, false);
    }
    achan_watch_borrow(r->rx, &v); /* After CLOSED: the final value. */
    reader_saw(r, &v, false);
    r->end = ACHAN_CLOSED;
}

static void read_by_changed(reader *r) {
    value256 v;
    achan_status st;
    while ((st = achan_watch_changed_blocking(r->rx, -1)) == ACHAN_OK) {
        achan_watch_borrow_and_update(r->rx, &v);
        reader_saw(r, &v, true);
    }
    r->end = st;
}

static void read_by_stream(reader *r, bool blocking) {
    achan_stream *s = achan_watch_receiver_stream(r->rx);
    achan_waker w;
    TEST_CHECK(achan_thread_waker(&w) == ACHAN_OK);
    achan_context cx = {&w};
    value256 v;
    achan_status st;
    for (;;) {
        st = blocking ? achan_stream_next_blocking(s, &v, -1) : achan_stream_poll_next(s, &cx, &v);
        if (st == ACHAN_PENDING) {
            achan_thread_park(-1);
            continue;
        }
        if (st != ACHAN_OK)
            break;
        reader_saw(r, &v, true);
    }
    achan_waker_drop(w);
    r->end = st;
}

static void *run_reader(void *arg) {
    reader *r = arg;
    switch (r->mode) {
    case READ_BORROW:
        read_by_borrow(r);
        break;
    case READ_CHANGED:
        read_by_changed(r);
        break;
    case READ_STREAM_POLL:
        read_by_stream(r, false);
        break;
    case READ_STREAM_BLOCKING:
        read_by_stream(r, true);
        break;
    }
    achan_watch_receiver_drop(r->rx);
    return NULL;
}

static void modify_to(void *value, void *u) {
    make_value(value, *(uint64_t *)u);
}

static bool modify_to_if(void *value, void *u) {
    make_value(value, *(uint64_t *)u);
    return true;
}

static void watch_readers_never_see_torn_values(void **state) {
    (void)state;
    enum { READERS = 4 };
    uint64_t writes = test_stress_count(400000);
    value256 v;
    make_value(&v, 0);
    achan_opts o = {.item_size = sizeof v};
    achan_watch_sender *tx;
    achan_watch_receiver *rx;
    assert_int_equal(achan_watch_new(&o, &v, &tx, &rx), ACHAN_OK);
    reader rs[READERS];
    pthread_t th[READERS];
    memset(rs, 0, sizeof rs);
    for (int i = 0; i < READERS; i++) {
        rs[i].rx = i == 0   ? rx
                   : i == 1 ? achan_watch_receiver_clone(rx)
                            : achan_watch_subscribe(tx);
        assert_non_null(rs[i].rx);
        rs[i].mode = (read_mode)i;
        rs[i].final_seq = writes;
    }
    double t0 = test_now_ms();
    for (int i = 0; i < READERS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, run_reader, &rs[i]), 0);
    for (uint64_t seq = 1; seq <= writes; seq++) {
        /* Give way now and then, so that on a machine with few cores the
         * readers run between writes too, not only after the last one. */
        if (seq % 16 == 0)
            sched_yield();
        switch (seq % 5) {
        case 0:
            achan_watch_send_modify(tx, modify_to, &seq);
            break;
        case 1:
            assert_true(achan_watch_send_if_modified(tx, modify_to_if, &seq));
            break;
        case 2:
            make_value(&v, seq);
            achan_watch_send_replace(tx, &v, NULL);
            break;
        default:
            make_value(&v, seq);
            assert_int_equal(achan_watch_send(tx, &v), ACHAN_OK);
            break;
        }
    }
    achan_watch_sender_drop(tx);
    for (int i = 0; i < READERS; i++)
        pthread_join(th[i], NULL);
    double ms = test_now_ms() - t0;
    for (int i = 0; i < READERS; i++) {
        printf("    reader %d: %8llu reads\n", i, (unsigned long long)rs[i].reads);
        assert_int_equal(rs[i].torn, 0);
        assert_int_equal(rs[i].out_of_order, 0);
        assert_int_equal(rs[i].last_seq, writes); /* Every reader sees the final value. */
        assert_int_equal(rs[i].end, ACHAN_CLOSED);
        assert_true(rs[i].reads >= 1);
    }
    printf("    watch: %llu writes of 256 bytes, 4 readers: %.1f ms\n", (unsigned long long)writes,
           ms);
}

/* ------------------------------------------------------------------------ */
/* watch: several writers at once.                                           */

typedef struct {
    achan_watch_sender *tx;
    uint64_t increments;
    uint64_t calls; /* Owner-only: how often this writer's function ran. */
} writer;

/* The function runs under the writers' lock, so a plain read-modify-write of
 * the value is safe; a missing exclusion would lose increments or tear. */
static void increment(void *value, void *u) {
    writer *w = u;
    value256 *v = value;
    if (++w->calls % 64 == 0) {
        /* Hold the lock for a while: the other writers give up spinning and
         * sleep, so the release path must wake them. */
        struct timespec ts = {0, 50000};
        nanosleep(&ts, NULL);
    }
    make_value(v, v->seq + 1);
}

static bool increment_if(void *value, void *u) {
    increment(value, u);
    return true;
}

static void *run_writer(void *arg) {
    writer *w = arg;
    for (uint64_t i = 0; i < w->increments; i++) {
        if (i % 2 == 0)
            achan_watch_send_modify(w->tx, increment, w);
        else
            TEST_CHECK(achan_watch_send_if_modified(w->tx, increment_if, w));
    }
    return NULL;
}

static void watch_concurrent_writers_exclude_each_other(void **state) {
    (void)state;
    enum { WRITERS = 4, READERS = 2 };
    uint64_t each = test_stress_count(50000);
    uint64_t total = each * WRITERS;
    value256 v;
    make_value(&v, 0);
    achan_opts o = {.item_size = sizeof v};
    achan_watch_sender *tx;
    achan_watch_receiver *rx;
    assert_int_equal(achan_watch_new(&o, &v, &tx, &rx), ACHAN_OK);
    reader rs[READERS];
    writer ws[WRITERS];
    pthread_t rth[READERS], wth[WRITERS];
    memset(rs, 0, sizeof rs);
    memset(ws, 0, sizeof ws);
    for (int i = 0; i < READERS; i++) {
        rs[i].rx = i == 0 ? rx : achan_watch_subscribe(tx);
        assert_non_null(rs[i].rx);
        rs[i].mode = i == 0 ? READ_CHANGED : READ_STREAM_BLOCKING;
        rs[i].final_seq = total;
    }
    double t0 = test_now_ms();
    for (int i = 0; i < READERS; i++)
        assert_int_equal(pthread_create(&rth[i], NULL, run_reader, &rs[i]), 0);
    for (int i = 0; i < WRITERS; i++) {
        ws[i].tx = tx;
        ws[i].increments = each;
        assert_int_equal(pthread_create(&wth[i], NULL, run_writer, &ws[i]), 0);
    }
    for (int i = 0; i < WRITERS; i++)
        pthread_join(wth[i], NULL);
    achan_watch_sender_drop(tx);
    for (int i = 0; i < READERS; i++)
        pthread_join(rth[i], NULL);
    double ms = test_now_ms() - t0;
    for (int i = 0; i < READERS; i++) {
        assert_int_equal(rs[i].torn, 0);
        assert_int_equal(rs[i].out_of_order, 0);
        assert_int_equal(rs[i].last_seq, total); /* Every increment counted once. */
        assert_int_equal(rs[i].end, ACHAN_CLOSED);
    }
    printf("    watch: %d writers x %llu increments, %d readers: %.1f ms\n", WRITERS,
           (unsigned long long)each, READERS, ms);
}

/* ------------------------------------------------------------------------ */
/* oneshot: cross-thread round trips.                                        */

typedef struct {
    uint64_t n;
    achan_oneshot_sender *reply;
} request;

static void drop_request(void *item, void *user) {
    (void)user;
    achan_oneshot_sender_drop(((request *)item)->reply);
}

static void *respond(void *arg) {
    achan_mpsc_receiver *requests = arg;
    request req;
    while (achan_mpsc_recv_blocking(requests, &req, -1) == ACHAN_OK) {
        uint64_t answer = req.n * 2 + 1;
        achan_status st = achan_oneshot_send(req.reply, &answer);
        TEST_CHECK(st == ACHAN_OK);
    }
    achan_mpsc_receiver_drop(requests);
    return NULL;
}

static void oneshot_round_trips(void **state) {
    (void)state;
    uint64_t trips = test_stress_count(100000);
    achan_opts ro = {.item_size = sizeof(request), .capacity = 16, .item_drop = drop_request};
    achan_mpsc_sender *requests;
    achan_mpsc_receiver *incoming;
    assert_int_equal(achan_mpsc_new(&ro, &requests, &incoming), ACHAN_OK);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, respond, incoming), 0);
    achan_opts oo = {.item_size = sizeof(uint64_t)};
    uint64_t wrong = 0;
    double t0 = test_now_ms();
    for (uint64_t n = 0; n < trips; n++) {
        achan_oneshot_sender *tx;
        achan_oneshot_receiver *rx;
        assert_int_equal(achan_oneshot_new(&oo, &tx, &rx), ACHAN_OK);
        request req = {n, tx};
        assert_int_equal(achan_mpsc_send_blocking(requests, &req, -1), ACHAN_OK);
        uint64_t answer = 0;
        if (n & 1) {
            assert_int_equal(achan_oneshot_recv_blocking(rx, &answer, -1), ACHAN_OK);
            achan_oneshot_receiver_drop(rx);
        } else {
            achan_future *f = achan_oneshot_receiver_future(rx);
            assert_int_equal(achan_block_on(f, &answer, -1), ACHAN_OK);
            achan_future_drop(f);
        }
        wrong += answer != n * 2 + 1;
    }
    achan_mpsc_sender_drop(requests);
    pthread_join(th, NULL);
    double ms = test_now_ms() - t0;
    assert_int_equal(wrong, 0);
    printf("    oneshot: %llu round trips: %.1f ms (%.2f us each)\n", (unsigned long long)trips, ms,
           ms * 1e3 / (double)trips);
}

/* ------------------------------------------------------------------------ */
/* oneshot: both handles dropped at the same moment.                         */

/* A two-thread barrier that spins, then yields (both threads may share a
 * core). */
typedef struct {
    atomic_uint arrived;
    atomic_uint phase;
} barrier2;

static void barrier_wait(barrier2 *b) {
    unsigned phase = atomic_load(&b->phase);
    if (atomic_fetch_add(&b->arrived, 1) == 1) {
        atomic_store(&b->arrived, 0);
        atomic_store(&b->phase, phase + 1);
        return;
    }
    for (unsigned spins = 0; atomic_load(&b->phase) == phase; spins++) {
        if (spins > 64)
            sched_yield();
    }
}

/* Who acts first in iteration i: in a third of the iterations the sender,
 * in a third the receiver (the other side waits for it), and in the rest
 * both race, after a short pseudo-random pause each so that either may win.
 * The fixed orders guarantee both outcomes of every case even when the
 * scheduler serialises the two threads; the free races catch overlaps. */
typedef enum { ORDER_RACE, ORDER_SENDER_FIRST, ORDER_RECEIVER_FIRST } order;

static order order_of(uint64_t i) {
    return (order)(i / 4 % 3);
}

static void jitter(uint64_t i, uint64_t side) {
    for (volatile uint64_t n = mix(i * 2 + side) % 512; n > 0; n--) {
    }
}

typedef struct {
    barrier2 bar;
    uint64_t iterations;
    achan_oneshot_receiver *slot[2]; /* Handed over through the barrier. */
    atomic_ulong first_done;         /* i + 1 once the first side of i acted. */
    atomic_long sent, received, dropped;
} drop_race;

static test_waker race_waker;

static void count_drop(void *item, void *user) {
    (void)item;
    atomic_fetch_add(&((drop_race *)user)->dropped, 1);
}

static void sender_side(drop_race *d, achan_oneshot_sender *tx, uint64_t i) {
    uint64_t v = i;
    if (i % 4 == 0) {
        achan_oneshot_sender_drop(tx);
        return;
    }
    if (i % 4 == 3) {
        /* Register for poll_closed first, then send (or see it closed). */
        achan_waker w = achan_waker_noop();
        achan_context cx = {&w};
        if (achan_oneshot_poll_closed(tx, &cx) == ACHAN_OK) {
            achan_oneshot_sender_drop(tx);
            return;
        }
    }
    if (achan_oneshot_send(tx, &v) == ACHAN_OK)
        atomic_fetch_add(&d->sent, 1);
}

static void receiver_side(drop_race *d, achan_oneshot_receiver *rx, uint64_t i) {
    uint64_t v;
    switch (i % 4) {
    case 2:
        if (achan_oneshot_try_recv(rx, &v) == ACHAN_OK) {
            TEST_CHECK(v == i);
            atomic_fetch_add(&d->received, 1);
        }
        break;
    case 3: {
        /* The registered clone may outlive this call (the last handle drops
         * it), so the counting waker is a static one, checked at the end. */
        achan_waker w = test_waker_get(&race_waker);
        achan_context cx = {&w};
        if (achan_oneshot_poll_recv(rx, &cx, &v) == ACHAN_OK) {
            TEST_CHECK(v == i);
            atomic_fetch_add(&d->received, 1);
        }
        achan_oneshot_receiver_close(rx);
        break;
    }
    default:
        break;
    }
    achan_oneshot_receiver_drop(rx);
}

/* Runs one side of iteration i in the order order_of(i) asks for. */
static void in_order(drop_race *d, uint64_t i, order mine, order theirs, void (*act)(void *),
                     void *arg) {
    order o = order_of(i);
    if (o == theirs) {
        for (unsigned spins = 0; atomic_load(&d->first_done) != i + 1; spins++) {
            if (spins > 64)
                sched_yield();
        }
    } else if (o == ORDER_RACE) {
        jitter(i, mine == ORDER_RECEIVER_FIRST);
    }
    act(arg);
    if (o == mine)
        atomic_store(&d->first_done, i + 1);
}

typedef struct {
    drop_race *d;
    uint64_t i;
    achan_oneshot_sender *tx;
    achan_oneshot_receiver *rx;
} side_args;

static void act_sender(void *arg) {
    side_args *a = arg;
    sender_side(a->d, a->tx, a->i);
}

static void act_receiver(void *arg) {
    side_args *a = arg;
    receiver_side(a->d, a->rx, a->i);
}

static void *receiver_thread(void *arg) {
    drop_race *d = arg;
    for (uint64_t i = 0; i < d->iterations; i++) {
        barrier_wait(&d->bar);
        side_args a = {d, i, NULL, d->slot[i & 1]};
        in_order(d, i, ORDER_RECEIVER_FIRST, ORDER_SENDER_FIRST, act_receiver, &a);
    }
    return NULL;
}

static void oneshot_concurrent_drops(void **state) {
    (void)state;
    test_alloc ta;
    test_alloc_init(&ta);
    drop_race d;
    memset(&d, 0, sizeof d);
    atomic_init(&d.bar.arrived, 0);
    atomic_init(&d.bar.phase, 0);
    atomic_init(&d.sent, 0);
    atomic_init(&d.received, 0);
    atomic_init(&d.dropped, 0);
    atomic_init(&d.first_done, 0);
    d.iterations = test_stress_count(100000);
    achan_opts o = {
        .item_size = sizeof(uint64_t), .item_drop = count_drop, .user = &d, .allocator = &ta.a};
    pthread_t th;
    double t0 = test_now_ms();
    assert_int_equal(pthread_create(&th, NULL, receiver_thread, &d), 0);
    for (uint64_t i = 0; i < d.iterations; i++) {
        achan_oneshot_sender *tx;
        achan_oneshot_receiver *rx;
        assert_int_equal(achan_oneshot_new(&o, &tx, &rx), ACHAN_OK);
        d.slot[i & 1] = rx;
        barrier_wait(&d.bar);
        side_args a = {&d, i, tx, NULL};
        in_order(&d, i, ORDER_SENDER_FIRST, ORDER_RECEIVER_FIRST, act_sender, &a);
    }
    pthread_join(th, NULL);
    double ms = test_now_ms() - t0;
    long sent = atomic_load(&d.sent), received = atomic_load(&d.received);
    long dropped = atomic_load(&d.dropped);
    printf("    oneshot drops: %llu races, %ld sent = %ld received + %ld dropped: %.1f ms\n",
           (unsigned long long)d.iterations, sent, received, dropped, ms);
    assert_int_equal(sent, received + dropped); /* Exactly once each. */
    assert_int_equal(test_waker_live(&race_waker), 0);
    assert_int_equal(test_alloc_live_bytes(&ta), 0);
    assert_int_equal(test_alloc_count(&ta), (long)d.iterations);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(watch_readers_never_see_torn_values),
        cmocka_unit_test(watch_concurrent_writers_exclude_each_other),
        cmocka_unit_test(oneshot_round_trips),
        cmocka_unit_test(oneshot_concurrent_drops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
