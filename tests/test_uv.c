/* test_uv.c - the libuv adapter: every message of 4 producer threads reaches
 * a uv loop, timeouts and sleeps fire on the loop, futures complete, and a
 * stream stopped mid-way leaks nothing. */
#define _POSIX_C_SOURCE 200809L
#include "test_support.h"

#include <pthread.h>
#include <time.h>

#include "achan/uv.h"

/* ---- every message from 4 producer threads ---- */

#define PRODUCERS 4

typedef struct {
    uint64_t next[PRODUCERS], got;
    int ends, bad;
} tally;

static void count_item(achan_uv_stream *h, achan_status st, void *item, void *user) {
    (void)h;
    tally *t = user;
    uint64_t m = *(uint64_t *)item, id = test_msg_producer(m);
    if (st != ACHAN_OK || id >= PRODUCERS || test_msg_seq(m) != t->next[id]) {
        t->bad++;
        return;
    }
    t->next[id]++;
    t->got++;
}

static void count_end(achan_uv_stream *h, void *user) {
    (void)h;
    ((tally *)user)->ends++;
}

static void loop_receives_every_message(void **state) {
    (void)state;
    uint64_t per = test_stress_count(100000);
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    achan_mpsc_sender *tx;
    achan_mpsc_receiver *rx;
    achan_opts o = {.item_size = sizeof(uint64_t), .capacity = 1024};
    assert_int_equal(achan_mpsc_new(&o, &tx, &rx), ACHAN_OK);
    tally t = {{0}, 0, 0, 0};
    achan_uv_stream *h;
    assert_int_equal(
        achan_uv_stream_start(&loop, achan_mpsc_receiver_stream(rx), count_item, count_end, &t, &h),
        ACHAN_OK);
    test_producer ps[PRODUCERS];
    pthread_t ts[PRODUCERS];
    for (uint64_t i = 0; i < PRODUCERS; i++) /* All clones before any thread runs. */
        ps[i] = (test_producer){i == 0 ? tx : achan_mpsc_sender_clone(tx), i, per};
    for (uint64_t i = 0; i < PRODUCERS; i++)
        assert_int_equal(pthread_create(&ts[i], NULL, test_produce, &ps[i]), 0);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0); /* Returns once the stream ended. */
    for (int i = 0; i < PRODUCERS; i++)
        pthread_join(ts[i], NULL);
    assert_int_equal(t.bad, 0);
    assert_int_equal(t.got, per * PRODUCERS);
    assert_int_equal(t.ends, 1);
    assert_int_equal(uv_loop_close(&loop), 0); /* Every handle was closed. */
}

/* ---- timeouts and sleeps on the loop ---- */

typedef struct {
    int timeouts, items;
    uint64_t started, at;
} timeout_seen;

static void on_timeout_item(achan_uv_stream *h, achan_status st, void *item, void *user) {
    (void)item;
    timeout_seen *s = user;
    if (st == ACHAN_TIMEOUT) {
        s->timeouts++;
        s->at = achan_monotonic_ns();
        achan_uv_stream_stop(h); /* From inside the callback. */
    } else {
        s->items++;
    }
}

static void timeout_fires_on_the_loop(void **state) {
    (void)state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    achan_mpsc_sender *tx;
    achan_mpsc_receiver *rx;
    achan_opts o = {.item_size = sizeof(int), .capacity = 4};
    assert_int_equal(achan_mpsc_new(&o, &tx, &rx), ACHAN_OK);
    achan_stream *s = achan_mpsc_receiver_stream(rx);
    /* The adapter times its first gap from its creation: start the clock
     * before it, or a slow run (valgrind) sees the timeout "early". */
    timeout_seen seen = {0, 0, achan_monotonic_ns(), 0};
    assert_int_equal(achan_stream_timeout(s, 20 * 1000 * 1000, &s), ACHAN_OK);
    achan_uv_stream *h;
    assert_int_equal(achan_uv_stream_start(&loop, s, on_timeout_item, NULL, &seen, &h), ACHAN_OK);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(seen.timeouts, 1);
    assert_int_equal(seen.items, 0);
    assert_true(seen.at - seen.started >= 20 * 1000 * 1000); /* Never early. */
    assert_true(achan_mpsc_sender_is_closed(tx));            /* The stop dropped the receiver. */
    achan_mpsc_sender_drop(tx);
    assert_int_equal(uv_loop_close(&loop), 0);
}

typedef struct {
    int calls;
    achan_status st;
    uint64_t at;
    int value;
} done_seen;

static void on_done(achan_status st, void *output, void *user) {
    done_seen *d = user;
    d->calls++;
    d->st = st;
    d->at = achan_monotonic_ns();
    if (output)
        d->value = *(int *)output;
}

static void sleep_future_completes_on_the_loop(void **state) {
    (void)state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    achan_future *f;
    uint64_t t0 = achan_monotonic_ns();
    assert_int_equal(achan_sleep(15 * 1000 * 1000, &f), ACHAN_OK);
    done_seen d = {0, ACHAN_PENDING, 0, 0};
    assert_int_equal(achan_uv_spawn(&loop, f, on_done, &d), ACHAN_OK);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(d.calls, 1);
    assert_int_equal(d.st, ACHAN_OK);
    assert_true(d.at - t0 >= 15 * 1000 * 1000);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void *send_later(void *arg) {
    struct timespec ts = {0, 10 * 1000 * 1000};
    nanosleep(&ts, NULL);
    int v = 77;
    TEST_CHECK(achan_oneshot_send(arg, &v) == ACHAN_OK);
    return NULL;
}

static void future_completed_from_another_thread(void **state) {
    (void)state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    achan_oneshot_sender *tx;
    achan_oneshot_receiver *rx;
    achan_opts o = {.item_size = sizeof(int)};
    assert_int_equal(achan_oneshot_new(&o, &tx, &rx), ACHAN_OK);
    done_seen d = {0, ACHAN_PENDING, 0, 0};
    assert_int_equal(achan_uv_spawn(&loop, achan_oneshot_receiver_future(rx), on_done, &d),
                     ACHAN_OK);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, send_later, tx), 0);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    pthread_join(t, NULL);
    assert_int_equal(d.calls, 1);
    assert_int_equal(d.st, ACHAN_OK);
    assert_int_equal(d.value, 77);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* Throttle on the loop: every item, in order, at least a period apart,
 * then on_end. The loop's uv timer is what holds each item back. */
#define THROTTLE_ITEMS 5
#define THROTTLE_P (10 * 1000 * 1000ull)

typedef struct {
    int items, ends, bad;
    uint64_t at[THROTTLE_ITEMS];
} throttle_seen;

static void on_throttled(achan_uv_stream *h, achan_status st, void *item, void *user) {
    (void)h;
    throttle_seen *t = user;
    if (st != ACHAN_OK || t->items >= THROTTLE_ITEMS || *(int *)item != t->items) {
        t->bad++;
        return;
    }
    t->at[t->items++] = achan_monotonic_ns();
}

static void on_throttle_end(achan_uv_stream *h, void *user) {
    (void)h;
    ((throttle_seen *)user)->ends++;
}

static void throttle_spaces_items_on_the_loop(void **state) {
    (void)state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    achan_mpsc_sender *tx;
    achan_mpsc_receiver *rx;
    achan_opts o = {.item_size = sizeof(int)};
    assert_int_equal(achan_mpsc_new(&o, &tx, &rx), ACHAN_OK);
    for (int i = 0; i < THROTTLE_ITEMS; i++) /* All ready at once: a burst. */
        assert_int_equal(achan_mpsc_try_send(tx, &i), ACHAN_OK);
    achan_mpsc_sender_drop(tx);
    achan_stream *s = achan_mpsc_receiver_stream(rx);
    assert_int_equal(achan_stream_throttle(s, THROTTLE_P, &s), ACHAN_OK);
    throttle_seen t = {0, 0, 0, {0}};
    achan_uv_stream *h;
    assert_int_equal(achan_uv_stream_start(&loop, s, on_throttled, on_throttle_end, &t, &h),
                     ACHAN_OK);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(t.bad, 0);
    assert_int_equal(t.items, THROTTLE_ITEMS);
    assert_int_equal(t.ends, 1);
    for (int k = 1; k < THROTTLE_ITEMS; k++)
        assert_true(t.at[k] - t.at[k - 1] >= THROTTLE_P); /* Never early. */
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* ---- stopping mid-stream ---- */

static int dropped;
static void count_drop(void *item, void *user) {
    (void)item;
    (void)user;
    dropped++;
}

static void stop_after_ten(achan_uv_stream *h, achan_status st, void *item, void *user) {
    (void)st;
    (void)item;
    if (++*(int *)user == 10)
        achan_uv_stream_stop(h);
}

static void stopping_mid_stream_leaks_nothing(void **state) {
    (void)state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    achan_mpsc_sender *tx;
    achan_mpsc_receiver *rx;
    achan_opts o = {.item_size = sizeof(int), .capacity = 100, .item_drop = count_drop};
    assert_int_equal(achan_mpsc_new(&o, &tx, &rx), ACHAN_OK);
    for (int i = 0; i < 100; i++)
        assert_int_equal(achan_mpsc_try_send(tx, &i), ACHAN_OK);
    int seen = 0;
    dropped = 0;
    achan_uv_stream *h;
    assert_int_equal(achan_uv_stream_start(&loop, achan_mpsc_receiver_stream(rx), stop_after_ten,
                                           NULL, &seen, &h),
                     ACHAN_OK);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(seen, 10);
    assert_int_equal(dropped, 90); /* The rest went to item_drop with the receiver. */
    assert_int_equal(achan_mpsc_try_send(tx, &seen), ACHAN_CLOSED);
    achan_mpsc_sender_drop(tx);
    /* Stopping before the loop ever ran also frees everything. */
    achan_stream *empty;
    assert_int_equal(achan_stream_empty(sizeof(int), &empty), ACHAN_OK);
    assert_int_equal(achan_uv_stream_start(&loop, empty, stop_after_ten, NULL, &seen, &h),
                     ACHAN_OK);
    achan_uv_stream_stop(h);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* Stopped (by a uv timer of the test) while the adapter's own timer entry
 * is armed far in the future: a timeout watching a silent channel, and a
 * throttle holding back its next item. The stop drops the stream with its
 * channel, disarms the entry and closes the adapter's handles: uv_run
 * returns long before the entry's deadline, the loop closes, and ASan sees
 * no leak. */
static void stop_h(uv_timer_t *t) {
    achan_uv_stream_stop(t->data);
    uv_close((uv_handle_t *)t, NULL);
}

static void count_items(achan_uv_stream *h, achan_status st, void *item, void *user) {
    (void)h;
    (void)item;
    if (st == ACHAN_OK)
        ++*(int *)user;
}

static void stopping_with_a_timer_armed_leaks_nothing(void **state) {
    (void)state;
    for (int kind = 0; kind < 2; kind++) {
        uv_loop_t loop;
        assert_int_equal(uv_loop_init(&loop), 0);
        achan_mpsc_sender *tx;
        achan_mpsc_receiver *rx;
        achan_opts o = {.item_size = sizeof(int), .item_drop = count_drop};
        assert_int_equal(achan_mpsc_new(&o, &tx, &rx), ACHAN_OK);
        dropped = 0;
        int sent = kind == 0 ? 0 : 3;
        for (int i = 0; i < sent; i++)
            assert_int_equal(achan_mpsc_try_send(tx, &i), ACHAN_OK);
        achan_stream *s = achan_mpsc_receiver_stream(rx);
        if (kind == 0)
            assert_int_equal(achan_stream_timeout(s, 10ull * 1000 * 1000 * 1000, &s), ACHAN_OK);
        else
            assert_int_equal(achan_stream_throttle(s, 10ull * 1000 * 1000 * 1000, &s), ACHAN_OK);
        int items = 0;
        achan_uv_stream *h;
        assert_int_equal(achan_uv_stream_start(&loop, s, count_items, NULL, &items, &h), ACHAN_OK);
        uv_timer_t stopper;
        assert_int_equal(uv_timer_init(&loop, &stopper), 0);
        stopper.data = h;
        assert_int_equal(uv_timer_start(&stopper, stop_h, 20, 0), 0);
        uint64_t t0 = achan_monotonic_ns();
        assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
        assert_true(achan_monotonic_ns() - t0 < 5ull * 1000 * 1000 * 1000);
        assert_int_equal(items, kind == 0 ? 0 : 1); /* throttle: the first passed at once. */
        assert_int_equal(dropped, kind == 0 ? 0 : 2);
        assert_true(achan_mpsc_sender_is_closed(tx));
        achan_mpsc_sender_drop(tx);
        assert_int_equal(uv_loop_close(&loop), 0);
    }
}

static void bad_input_is_rejected(void **state) {
    (void)state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    achan_stream *s;
    achan_uv_stream *h = NULL;
    assert_int_equal(achan_stream_empty(sizeof(int), &s), ACHAN_OK);
    assert_int_equal(achan_uv_stream_start(NULL, s, stop_after_ten, NULL, NULL, &h), ACHAN_INVALID);
    assert_int_equal(achan_uv_stream_start(&loop, NULL, stop_after_ten, NULL, NULL, &h),
                     ACHAN_INVALID);
    assert_int_equal(achan_uv_stream_start(&loop, s, NULL, NULL, NULL, &h), ACHAN_INVALID);
    assert_int_equal(achan_uv_stream_start(&loop, s, stop_after_ten, NULL, NULL, NULL),
                     ACHAN_INVALID);
    assert_int_equal(achan_uv_spawn(NULL, NULL, NULL, NULL), ACHAN_INVALID);
    achan_uv_stream_stop(NULL);
    achan_stream_drop(s); /* Not taken by the failed calls. */
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(loop_receives_every_message),
        cmocka_unit_test(timeout_fires_on_the_loop),
        cmocka_unit_test(sleep_future_completes_on_the_loop),
        cmocka_unit_test(future_completed_from_another_thread),
        cmocka_unit_test(throttle_spaces_items_on_the_loop),
        cmocka_unit_test(stopping_mid_stream_leaks_nothing),
        cmocka_unit_test(stopping_with_a_timer_armed_leaks_nothing),
        cmocka_unit_test(bad_input_is_rejected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
