/* test_select.c - achan_select (achan/select.h): fairness between always
 * ready streams, ended streams reported once and never polled again, one
 * waker registered with every open stream, blocking with a timeout and with
 * items from another thread, bad arguments, allocation failure.
 */
#define _POSIX_C_SOURCE 200809L
#include "test_support.h"

#include <pthread.h>
#include <string.h>

#include "achan/combinators.h"

#define MS 1000000ll

/* A stream that is always ready with its own id, or ended after `left`
 * items (left < 0: never ends). Counts its polls. */
typedef struct {
    achan_stream base;
    int id;
    long left;
    long polls;
} test_stream;

static achan_status ts_poll(achan_stream *s, achan_context *cx, void *item) {
    (void)cx;
    test_stream *t = (test_stream *)s;
    t->polls++;
    if (t->left == 0)
        return ACHAN_CLOSED;
    if (t->left > 0)
        t->left--;
    memcpy(item, &t->id, sizeof t->id);
    return ACHAN_OK;
}
static void ts_drop(achan_stream *s) {
    (void)s;
}
static const achan_stream_vtbl ts_vtbl = {ts_poll, ts_drop};

static test_stream ts_make(int id, long left) {
    test_stream t = {{&ts_vtbl, sizeof(int)}, id, left, 0};
    return t;
}

static achan_status sel_poll(achan_select *sel, int *item, size_t *index) {
    achan_waker w = achan_waker_noop();
    achan_context cx = {&w};
    return achan_select_poll(sel, &cx, item, index);
}

static void always_ready_streams_are_served_in_turn(void **state) {
    (void)state;
    test_stream a = ts_make(0, -1), b = ts_make(1, -1), c = ts_make(2, -1);
    achan_stream *ins[3] = {&a.base, &b.base, &c.base};
    achan_select *sel;
    assert_int_equal(achan_select_new(ins, 3, &sel), ACHAN_OK);
    /* Every ready stream is served within n calls: here, strictly in turn. */
    for (int i = 0; i < 30; i++) {
        int item = -1;
        size_t index = 99;
        assert_int_equal(sel_poll(sel, &item, &index), ACHAN_OK);
        assert_int_equal(index, (size_t)(i % 3));
        assert_int_equal(item, i % 3);
    }
    assert_int_equal(a.polls, 10);
    assert_int_equal(b.polls, 10);
    assert_int_equal(c.polls, 10);
    achan_select_drop(sel);
}

static void ended_streams_are_reported_once_then_left_alone(void **state) {
    (void)state;
    test_stream a = ts_make(0, 0), b = ts_make(1, 2);
    achan_stream *ins[2] = {&a.base, &b.base};
    achan_select *sel;
    assert_int_equal(achan_select_new(ins, 2, &sel), ACHAN_OK);
    int item;
    size_t index;
    assert_int_equal(sel_poll(sel, &item, &index), ACHAN_CLOSED);
    assert_int_equal(index, 0);
    assert_int_equal(sel_poll(sel, &item, &index), ACHAN_OK);
    assert_int_equal(index, 1);
    assert_int_equal(sel_poll(sel, &item, &index), ACHAN_OK);
    assert_int_equal(index, 1);
    assert_int_equal(sel_poll(sel, &item, &index), ACHAN_CLOSED);
    assert_int_equal(index, 1);
    for (int i = 0; i < 3; i++) {
        index = 0;
        assert_int_equal(sel_poll(sel, &item, &index), ACHAN_CLOSED);
        assert_int_equal(index, SIZE_MAX);
    }
    assert_int_equal(a.polls, 1); /* Never polled after it ended. */
    assert_int_equal(b.polls, 3);
    index = 0;
    assert_int_equal(achan_select_blocking(sel, &item, &index, -1), ACHAN_CLOSED);
    assert_int_equal(index, SIZE_MAX);
    achan_select_drop(sel);
}

static void pending_registers_the_waker_with_every_open_stream(void **state) {
    (void)state;
    enum { N = 3 };
    achan_opts o = {.item_size = sizeof(int)};
    achan_mpsc_sender *tx[N];
    achan_mpsc_receiver *rx[N];
    achan_stream *ins[N];
    for (int i = 0; i < N; i++) {
        assert_int_equal(achan_mpsc_new(&o, &tx[i], &rx[i]), ACHAN_OK);
        ins[i] = achan_mpsc_receiver_stream(rx[i]);
    }
    achan_select *sel;
    assert_int_equal(achan_select_new(ins, N, &sel), ACHAN_OK);
    for (int k = 0; k < N; k++) {
        test_waker tw = {0};
        achan_waker w = test_waker_get(&tw);
        achan_context cx = {&w};
        int item;
        size_t index = 77;
        assert_int_equal(achan_select_poll(sel, &cx, &item, &index), ACHAN_PENDING);
        assert_int_equal(index, 77);               /* Untouched. */
        assert_int_equal(test_waker_live(&tw), N); /* One clone in each stream. */
        int v = 100 + k;
        assert_int_equal(achan_mpsc_try_send(tx[k], &v), ACHAN_OK);
        assert_int_equal(test_waker_wakes(&tw), 1);
        assert_int_equal(achan_select_poll(sel, &cx, &item, &index), ACHAN_OK);
        assert_int_equal(index, (size_t)k);
        assert_int_equal(item, v);
        /* Release the registrations before tw goes out of scope. */
        for (int i = 0; i < N; i++)
            achan_mpsc_sender_drop(tx[i]);
        for (int i = 0; i < N; i++) {
            assert_int_equal(achan_select_poll(sel, &cx, &item, &index), ACHAN_CLOSED);
        }
        assert_int_equal(test_waker_live(&tw), 0);
        achan_select_drop(sel);
        for (int i = 0; i < N; i++) {
            achan_stream_drop(ins[i]);
            assert_int_equal(achan_mpsc_new(&o, &tx[i], &rx[i]), ACHAN_OK);
            ins[i] = achan_mpsc_receiver_stream(rx[i]);
        }
        assert_int_equal(achan_select_new(ins, N, &sel), ACHAN_OK);
    }
    achan_select_drop(sel);
    for (int i = 0; i < N; i++) {
        achan_mpsc_sender_drop(tx[i]);
        achan_stream_drop(ins[i]);
    }
}

static void blocking_times_out(void **state) {
    (void)state;
    achan_opts o = {.item_size = sizeof(int)};
    achan_mpsc_sender *tx;
    achan_mpsc_receiver *rx;
    assert_int_equal(achan_mpsc_new(&o, &tx, &rx), ACHAN_OK);
    achan_stream *ins[1] = {achan_mpsc_receiver_stream(rx)};
    achan_select *sel;
    assert_int_equal(achan_select_new(ins, 1, &sel), ACHAN_OK);
    int item;
    size_t index = 0;
    uint64_t start = achan_monotonic_ns();
    assert_int_equal(achan_select_blocking(sel, &item, &index, 20 * MS), ACHAN_TIMEOUT);
    assert_true(achan_monotonic_ns() >= start + 20 * MS);
    assert_int_equal(index, SIZE_MAX);
    assert_int_equal(achan_select_blocking(sel, &item, &index, 0), ACHAN_TIMEOUT);
    int v = 9;
    assert_int_equal(achan_mpsc_try_send(tx, &v), ACHAN_OK);
    assert_int_equal(achan_select_blocking(sel, &item, &index, 0), ACHAN_OK);
    assert_int_equal(index, 0);
    assert_int_equal(item, 9);
    achan_select_drop(sel);
    achan_mpsc_sender_drop(tx);
    achan_mpsc_receiver_drop(rx);
}

/* A timeout adapter's own ACHAN_TIMEOUT comes with its index. */
static void a_stream_timeout_comes_with_its_index(void **state) {
    (void)state;
    achan_opts o = {.item_size = sizeof(int)};
    achan_mpsc_sender *tx;
    achan_mpsc_receiver *rx;
    assert_int_equal(achan_mpsc_new(&o, &tx, &rx), ACHAN_OK);
    achan_stream *s = achan_mpsc_receiver_stream(rx);
    assert_int_equal(achan_stream_timeout(s, 5 * MS, &s), ACHAN_OK);
    test_stream never = ts_make(1, 0);
    achan_stream *ins[2] = {s, &never.base};
    achan_select *sel;
    assert_int_equal(achan_select_new(ins, 2, &sel), ACHAN_OK);
    int item;
    size_t index;
    /* Stream 1 ends at once; stream 0 times out 5 ms after the adapter was
     * made, which a slow run (valgrind) may reach before the first select
     * looks: the two results come in either order, each with its index. */
    bool closed = false, timed_out = false;
    for (int i = 0; i < 2; i++) {
        achan_status st = achan_select_blocking(sel, &item, &index, -1);
        if (st == ACHAN_CLOSED && index == 1 && !closed) {
            closed = true;
        } else {
            assert_int_equal(st, ACHAN_TIMEOUT);
            assert_int_equal(index, 0);
            assert_false(timed_out);
            timed_out = true;
        }
    }
    assert_true(closed && timed_out);
    achan_select_drop(sel);
    achan_mpsc_sender_drop(tx);
    achan_stream_drop(s);
}

typedef struct {
    achan_mpsc_sender *tx[2];
    int per;
} sender_args;

static void *send_both(void *arg) {
    sender_args *a = arg;
    for (int i = 0; i < a->per; i++) {
        for (int k = 0; k < 2; k++) {
            int v = k * 1000000 + i;
            assert_int_equal(achan_mpsc_send_blocking(a->tx[k], &v, -1), ACHAN_OK);
        }
    }
    achan_mpsc_sender_drop(a->tx[0]);
    achan_mpsc_sender_drop(a->tx[1]);
    return NULL;
}

static void blocking_receives_everything_from_another_thread(void **state) {
    (void)state;
    int per = (int)test_stress_count(20000);
    achan_opts o = {.item_size = sizeof(int), .capacity = 8};
    sender_args a = {{NULL, NULL}, per};
    achan_mpsc_receiver *rx[2];
    achan_stream *ins[2];
    for (int k = 0; k < 2; k++) {
        assert_int_equal(achan_mpsc_new(&o, &a.tx[k], &rx[k]), ACHAN_OK);
        ins[k] = achan_mpsc_receiver_stream(rx[k]);
    }
    achan_select *sel;
    assert_int_equal(achan_select_new(ins, 2, &sel), ACHAN_OK);
    pthread_t th;
    pthread_create(&th, NULL, send_both, &a);
    int next[2] = {0, 0}, closed = 0, item;
    size_t index;
    achan_status st;
    while ((st = achan_select_blocking(sel, &item, &index, -1)) != ACHAN_CLOSED ||
           index != SIZE_MAX) {
        if (st == ACHAN_CLOSED) {
            closed++;
            continue;
        }
        assert_int_equal(st, ACHAN_OK);
        assert_true(index < 2);
        assert_int_equal(item, (int)index * 1000000 + next[index]); /* In order, once. */
        next[index]++;
    }
    pthread_join(th, NULL);
    assert_int_equal(closed, 2);
    assert_int_equal(next[0], per);
    assert_int_equal(next[1], per);
    achan_select_drop(sel);
    achan_stream_drop(ins[0]);
    achan_stream_drop(ins[1]);
}

static void bad_arguments_and_allocation_failure(void **state) {
    (void)state;
    test_stream a = ts_make(0, -1);
    achan_stream *ins[2] = {&a.base, NULL};
    achan_select *sel = (achan_select *)0x1;
    assert_int_equal(achan_select_new(NULL, 1, &sel), ACHAN_INVALID);
    assert_int_equal(achan_select_new(ins, 0, &sel), ACHAN_INVALID);
    assert_int_equal(achan_select_new(ins, 2, &sel), ACHAN_INVALID);
    assert_int_equal(achan_select_new(ins, 1, NULL), ACHAN_INVALID);
    assert_ptr_equal(sel, (achan_select *)0x1);

    test_alloc ta;
    test_alloc_init(&ta);
    assert_int_equal(achan_set_default_allocator(&ta.a), ACHAN_OK);
    test_alloc_fail_at(&ta, 0);
    assert_int_equal(achan_select_new(ins, 1, &sel), ACHAN_NOMEM);
    assert_ptr_equal(sel, (achan_select *)0x1);
    assert_int_equal(test_alloc_live_bytes(&ta), 0);
    assert_int_equal(achan_select_new(ins, 1, &sel), ACHAN_OK);
    assert_int_equal(achan_set_default_allocator(NULL), ACHAN_OK);

    achan_waker w = achan_waker_noop();
    achan_context cx = {&w}, nocx = {NULL};
    int item;
    size_t index;
    assert_int_equal(achan_select_poll(NULL, &cx, &item, &index), ACHAN_INVALID);
    assert_int_equal(achan_select_poll(sel, NULL, &item, &index), ACHAN_INVALID);
    assert_int_equal(achan_select_poll(sel, &nocx, &item, &index), ACHAN_INVALID);
    assert_int_equal(achan_select_poll(sel, &cx, NULL, &index), ACHAN_INVALID);
    assert_int_equal(achan_select_poll(sel, &cx, &item, NULL), ACHAN_INVALID);
    assert_int_equal(achan_select_blocking(NULL, &item, &index, 0), ACHAN_INVALID);
    assert_int_equal(achan_select_blocking(sel, NULL, &index, 0), ACHAN_INVALID);
    assert_int_equal(achan_select_blocking(sel, &item, NULL, 0), ACHAN_INVALID);
    assert_int_equal(a.polls, 0);
    achan_select_drop(sel);
    assert_int_equal(test_alloc_live_bytes(&ta), 0);
    achan_select_drop(NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(always_ready_streams_are_served_in_turn),
        cmocka_unit_test(ended_streams_are_reported_once_then_left_alone),
        cmocka_unit_test(pending_registers_the_waker_with_every_open_stream),
        cmocka_unit_test(blocking_times_out),
        cmocka_unit_test(a_stream_timeout_comes_with_its_index),
        cmocka_unit_test(blocking_receives_everything_from_another_thread),
        cmocka_unit_test(bad_arguments_and_allocation_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
