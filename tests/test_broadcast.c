/* test_broadcast.c - conformance: achan's broadcast behaves as Tokio's.
 *
 * Each test states one observable rule; names follow Tokio's
 * tests/sync_broadcast.rs (and the inline tests of broadcast.rs) where a test
 * there pins the same behaviour, with the same expected values.
 */
#include "test_support.h"

#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ---- */

static achan_status new_chan(size_t cap, achan_broadcast_sender **tx,
                             achan_broadcast_receiver **rx) {
    achan_opts o = {.item_size = sizeof(int), .capacity = cap};
    return achan_broadcast_new(&o, tx, rx);
}

/* Sends v and checks how many receivers the send reports. */
static void send_to(achan_broadcast_sender *tx, int v, size_t receivers) {
    size_t n = 12345;
    assert_int_equal(achan_broadcast_send(tx, &v, &n), ACHAN_OK);
    assert_int_equal(n, receivers);
}

static void send_int(achan_broadcast_sender *tx, int v) {
    assert_int_equal(achan_broadcast_send(tx, &v, NULL), ACHAN_OK);
}

static int recv_int(achan_broadcast_receiver *rx) {
    int v = -1;
    uint64_t skipped = 77;
    assert_int_equal(achan_broadcast_try_recv(rx, &v, &skipped), ACHAN_OK);
    assert_int_equal(skipped, 0);
    return v;
}

/* try_recv returns st (EMPTY or CLOSED) and writes no item. */
static void expect_try(achan_broadcast_receiver *rx, achan_status st) {
    int v = -7;
    uint64_t skipped = 77;
    assert_int_equal(achan_broadcast_try_recv(rx, &v, &skipped), st);
    assert_int_equal(v, -7);
    assert_int_equal(skipped, 0);
}

/* try_recv reports a lag of n and writes no item. */
static void expect_lagged(achan_broadcast_receiver *rx, uint64_t n) {
    int v = -7;
    uint64_t skipped = 0;
    assert_int_equal(achan_broadcast_try_recv(rx, &v, &skipped), ACHAN_LAGGED);
    assert_int_equal(skipped, n);
    assert_int_equal(v, -7);
}

static achan_status poll_with(achan_broadcast_receiver *rx, test_waker *t, int *out,
                              uint64_t *skipped) {
    achan_waker w = test_waker_get(t);
    achan_context cx = {&w};
    return achan_broadcast_poll_recv(rx, &cx, out, skipped);
}

/* ---- creation and bad input ---- */

static void new_rejects_bad_arguments(void **state) {
    (void)state;
    achan_broadcast_sender *tx = (achan_broadcast_sender *)0x1;
    achan_broadcast_receiver *rx = (achan_broadcast_receiver *)0x1;
    achan_opts ok = {.item_size = 4, .capacity = 4};
    achan_opts zero_item = {.item_size = 0, .capacity = 4};
    achan_opts zero_cap = {.item_size = 4, .capacity = 0};               /* Tokio zero_capacity */
    achan_opts too_big = {.item_size = 4, .capacity = SIZE_MAX / 2 + 1}; /* capacity_too_big */
    achan_opts max = {.item_size = 4, .capacity = SIZE_MAX};
    achan_opts unaddressable = {.item_size = 4, .capacity = SIZE_MAX / 2};
    achan_opts huge_item = {.item_size = SIZE_MAX - 8, .capacity = 4};
    achan_allocator half = {NULL, NULL, NULL};
    achan_opts bad_alloc = {.item_size = 4, .capacity = 4, .allocator = &half};
    assert_int_equal(achan_broadcast_new(NULL, &tx, &rx), ACHAN_INVALID);
    assert_int_equal(achan_broadcast_new(&ok, NULL, &rx), ACHAN_INVALID);
    assert_int_equal(achan_broadcast_new(&ok, &tx, NULL), ACHAN_INVALID);
    assert_int_equal(achan_broadcast_new(&zero_item, &tx, &rx), ACHAN_INVALID);
    assert_int_equal(achan_broadcast_new(&zero_cap, &tx, &rx), ACHAN_INVALID);
    assert_int_equal(achan_broadcast_new(&too_big, &tx, &rx), ACHAN_INVALID);
    assert_int_equal(achan_broadcast_new(&max, &tx, &rx), ACHAN_INVALID);
    assert_int_equal(achan_broadcast_new(&unaddressable, &tx, &rx), ACHAN_INVALID);
    assert_int_equal(achan_broadcast_new(&huge_item, &tx, &rx), ACHAN_INVALID);
    assert_int_equal(achan_broadcast_new(&bad_alloc, &tx, &rx), ACHAN_INVALID);
    /* Nothing was written on failure. */
    assert_ptr_equal(tx, (achan_broadcast_sender *)0x1);
    assert_ptr_equal(rx, (achan_broadcast_receiver *)0x1);
}

/* An allocator that refuses anything above 1 MiB (without asking malloc). */
static void *small_only_alloc(void *ctx, size_t size, size_t align) {
    (void)ctx;
    if (size > (1u << 20))
        return NULL;
    void *p = NULL;
    return posix_memalign(&p, align < sizeof(void *) ? sizeof(void *) : align, size) == 0 ? p
                                                                                          : NULL;
}
static void small_only_free(void *ctx, void *p, size_t size) {
    (void)ctx;
    (void)size;
    free(p);
}

/* A capacity that can be rounded and addressed but not allocated: NOMEM. */
static void capacity_too_large_to_allocate_is_nomem(void **state) {
    (void)state;
    achan_allocator a = {small_only_alloc, small_only_free, NULL};
    achan_opts o = {.item_size = 8, .capacity = (size_t)1 << 20, .allocator = &a};
    achan_broadcast_sender *tx = (achan_broadcast_sender *)0x1;
    achan_broadcast_receiver *rx = (achan_broadcast_receiver *)0x1;
    assert_int_equal(achan_broadcast_new(&o, &tx, &rx), ACHAN_NOMEM);
    assert_ptr_equal(tx, (achan_broadcast_sender *)0x1);
    assert_ptr_equal(rx, (achan_broadcast_receiver *)0x1);
    o.capacity = 1000; /* 1024 slots of 16 bytes: fits. */
    assert_int_equal(achan_broadcast_new(&o, &tx, &rx), ACHAN_OK);
    achan_broadcast_sender_drop(tx);
    achan_broadcast_receiver_drop(rx);
}

static void every_function_rejects_null(void **state) {
    (void)state;
    achan_broadcast_sender *tx;
    achan_broadcast_receiver *rx;
    assert_int_equal(new_chan(2, &tx, &rx), ACHAN_OK);
    int v = 1;
    uint64_t sk = 5;
    size_t n = 5;
    achan_waker w = achan_waker_noop();
    achan_context cx = {&w}, nocx = {NULL};
    assert_int_equal(achan_broadcast_send(NULL, &v, &n), ACHAN_INVALID);
    assert_int_equal(achan_broadcast_send(tx, NULL, &n), ACHAN_INVALID);
    assert_int_equal(n, 5);
    assert_int_equal(achan_broadcast_try_recv(NULL, &v, &sk), ACHAN_INVALID);
    assert_int_equal(achan_broadcast_try_recv(rx, NULL, &sk), ACHAN_INVALID);
    assert_int_equal(achan_broadcast_poll_recv(NULL, &cx, &v, &sk), ACHAN_INVALID);
    assert_int_equal(achan_broadcast_poll_recv(rx, NULL, &v, &sk), ACHAN_INVALID);
    assert_int_equal(achan_broadcast_poll_recv(rx, &nocx, &v, &sk), ACHAN_INVALID);
    assert_int_equal(achan_broadcast_poll_recv(rx, &cx, NULL, &sk), ACHAN_INVALID);
    assert_int_equal(achan_broadcast_recv_blocking(NULL, &v, &sk, 0), ACHAN_INVALID);
    assert_int_equal(achan_broadcast_recv_blocking(rx, NULL, &sk, 0), ACHAN_INVALID);
    assert_int_equal(sk, 5); /* INVALID writes nothing. */
    assert_null(achan_broadcast_sender_clone(NULL));
    assert_null(achan_broadcast_subscribe(NULL));
    assert_null(achan_broadcast_resubscribe(NULL));
    assert_null(achan_broadcast_receiver_stream(NULL));
    assert_int_equal(achan_broadcast_receiver_count(NULL), 0);
    assert_int_equal(achan_broadcast_len(NULL), 0);
    assert_int_equal(achan_broadcast_receiver_skipped(NULL), 0);
    assert_int_equal(achan_stream_poll_next(NULL, &cx, &v), ACHAN_INVALID);
    achan_broadcast_sender_drop(NULL);
    achan_broadcast_receiver_drop(NULL);
    /* The channel is untouched by all of the above. */
    assert_int_equal(achan_broadcast_len(rx), 0);
    send_to(tx, 7, 1);
    assert_int_equal(recv_int(rx), 7);
    /* Optional out-parameters may be NULL. */
    assert_int_equal(achan_broadcast_send(tx, &v, NULL), ACHAN_OK);
    assert_int_equal(achan_broadcast_try_recv(rx, &v, NULL), ACHAN_OK);
    assert_int_equal(achan_broadcast_poll_recv(rx, &cx, &v, NULL), ACHAN_PENDING);
    assert_int_equal(achan_broadcast_recv_blocking(rx, &v, NULL, 0), ACHAN_TIMEOUT);
    achan_broadcast_sender_drop(tx);
    achan_broadcast_receiver_drop(rx);
}

/* Every allocation point fails in turn: NOMEM, nothing written, nothing
 * leaked; a failed clone or subscribe leaves the channel usable. */
static void allocation_failure_at_every_point(void **state) {
    (void)state;
    test_alloc ta;
    test_alloc_init(&ta);
    achan_opts o = {.item_size = sizeof(int), .capacity = 4, .allocator = &ta.a};
    achan_broadcast_sender *tx;
    achan_broadcast_receiver *rx;
    assert_int_equal(achan_broadcast_new(&o, &tx, &rx), ACHAN_OK);
    long points = test_alloc_count(&ta);
    assert_int_equal(points, 3); /* Channel, sender, receiver. */
    achan_broadcast_sender_drop(tx);
    achan_broadcast_receiver_drop(rx);
    assert_int_equal(test_alloc_live_bytes(&ta), 0);

    for (long i = 0; i < points; i++) {
        tx = (achan_broadcast_sender *)0x1;
        rx = (achan_broadcast_receiver *)0x1;
        test_alloc_fail_at(&ta, i);
        assert_int_equal(achan_broadcast_new(&o, &tx, &rx), ACHAN_NOMEM);
        assert_ptr_equal(tx, (achan_broadcast_sender *)0x1);
        assert_ptr_equal(rx, (achan_broadcast_receiver *)0x1);
        assert_int_equal(test_alloc_live_bytes(&ta), 0);
    }

    test_alloc_fail_at(&ta, -1);
    assert_int_equal(achan_broadcast_new(&o, &tx, &rx), ACHAN_OK);
    long live = test_alloc_live_bytes(&ta);
    test_alloc_fail_at(&ta, 0);
    assert_null(achan_broadcast_sender_clone(tx));
    test_alloc_fail_at(&ta, 0);
    assert_null(achan_broadcast_subscribe(tx));
    test_alloc_fail_at(&ta, 0);
    assert_null(achan_broadcast_resubscribe(rx));
    test_alloc_fail_at(&ta, -1);
    assert_int_equal(test_alloc_live_bytes(&ta), live);
    assert_int_equal(achan_broadcast_receiver_count(tx), 1);
    send_to(tx, 3, 1);
    assert_int_equal(recv_int(rx), 3);
    achan_broadcast_sender_drop(tx);
    expect_try(rx, ACHAN_CLOSED);
    achan_broadcast_receiver_drop(rx);
    assert_int_equal(test_alloc_live_bytes(&ta), 0);
}

/* ---- sending and receiving ---- */

/* Tokio send_try_recv_bounded. */
static void send_try_recv_bounded(void **state) {
    (void)state;
    achan_broadcast_sender *tx;
    achan_broadcast_receiver *rx;
    assert_int_equal(new_chan(16, &tx, &rx), ACHAN_OK);
    expect_try(rx, ACHAN_EMPTY);
    send_to(tx, 1, 1);
    assert_int_equal(recv_int(rx), 1);
    expect_try(rx, ACHAN_EMPTY);
    achan_broadcast_sender_drop(tx);
    achan_broadcast_receiver_drop(rx);
}

/* Tokio send_two_recv: the send reports 2 receivers, both get the value. */
static void send_two_recv(void **state) {
    (void)state;
    achan_broadcast_sender *tx;
    achan_broadcast_receiver *rx1, *rx2;
    assert_int_equal(new_chan(16, &tx, &rx1), ACHAN_OK);
    rx2 = achan_broadcast_subscribe(tx);
    assert_non_null(rx2);
    send_to(tx, 1, 2);
    assert_int_equal(recv_int(rx1), 1);
    expect_try(rx1, ACHAN_EMPTY);
    assert_int_equal(recv_int(rx2), 1);
    expect_try(rx2, ACHAN_EMPTY);
    achan_broadcast_sender_drop(tx);
    achan_broadcast_receiver_drop(rx1);
    achan_broadcast_receiver_drop(rx2);
}

/* Tokio send_recv_bounded: a pending receive is woken by the send. */
static void send_recv_bounded(void **state) {
    (void)state;
    achan_broadcast_sender *tx;
    achan_broadcast_receiver *rx;
    test_waker t = {0};
    int v = 0;
    assert_int_equal(new_chan(16, &tx, &rx), ACHAN_OK);
    assert_int_equal(poll_with(rx, &t, &v, NULL), ACHAN_PENDING);
    send_int(tx, 5);
    assert_int_equal(test_waker_wakes(&t), 1);
    assert_int_equal(poll_with(rx, &t, &v, NULL), ACHAN_OK);
    assert_int_equal(v, 5);
    achan_broadcast_sender_drop(tx);
    achan_broadcast_receiver_drop(rx);
    assert_int_equal(test_waker_live(&t), 0);
}

/* Tokio send_two_recv_bounded: both pending receivers are woken; in the
 * second round only the one that polled is. */
static void send_two_recv_bounded(void **state) {
    (void)state;
    achan_broadcast_sender *tx;
    achan_broadcast_receiver *rx1, *rx2;
    test_waker t1 = {0}, t2 = {0};
    int v1 = 0, v2 = 0;
    assert_int_equal(new_chan(16, &tx, &rx1), ACHAN_OK);
    rx2 = achan_broadcast_subscribe(tx);
    assert_int_equal(poll_with(rx1, &t1, &v1, NULL), ACHAN_PENDING);
    assert_int_equal(poll_with(rx2, &t2, &v2, NULL), ACHAN_PENDING);
    send_int(tx, 10);
    assert_int_equal(test_waker_wakes(&t1), 1);
    assert_int_equal(test_waker_wakes(&t2), 1);
    assert_int_equal(poll_with(rx1, &t1, &v1, NULL), ACHAN_OK);
    assert_int_equal(poll_with(rx2, &t2, &v2, NULL), ACHAN_OK);
    assert_int_equal(v1, 10);
    assert_int_equal(v2, 10);

    assert_int_equal(poll_with(rx1, &t1, &v1, NULL), ACHAN_PENDING);
    send_int(tx, 20);
    assert_int_equal(test_waker_wakes(&t1), 2);
    assert_int_equal(test_waker_wakes(&t2), 1);
    assert_int_equal(poll_with(rx1, &t1, &v1, NULL), ACHAN_OK);
    assert_int_equal(poll_with(rx2, &t2, &v2, NULL), ACHAN_OK);
    assert_int_equal(v1, 20);
    assert_int_equal(v2, 20);
    achan_broadcast_sender_drop(tx);
    achan_broadcast_receiver_drop(rx1);
    achan_broadcast_receiver_drop(rx2);
    assert_int_equal(test_waker_live(&t1), 0);
    assert_int_equal(test_waker_live(&t2), 0);
}

/* Tokio change_tasks (cap 1): the same receive polled from task 1, then task
 * 2; the send wakes task 2 only, and task 1's waker was released. */
static void change_tasks(void **state) {
    (void)state;
    achan_broadcast_sender *tx;
    achan_broadcast_receiver *rx;
    test_waker t1 = {0}, t2 = {0};
    int v;
    assert_int_equal(new_chan(1, &tx, &rx), ACHAN_OK);
    assert_int_equal(poll_with(rx, &t1, &v, NULL), ACHAN_PENDING);
    assert_int_equal(poll_with(rx, &t2, &v, NULL), ACHAN_PENDING);
    assert_int_equal(test_waker_live(&t1), 0);
    assert_int_equal(test_waker_live(&t2), 1);
    send_int(tx, 1);
    assert_int_equal(test_waker_wakes(&t2), 1);
    assert_int_equal(test_waker_wakes(&t1), 0);
    assert_int_equal(poll_with(rx, &t2, &v, NULL), ACHAN_OK);
    assert_int_equal(v, 1);
    achan_broadcast_sender_drop(tx);
    achan_broadcast_receiver_drop(rx);
    assert_int_equal(test_waker_live(&t2), 0);
}

/* Tokio send_slow_rx (cap 16): rx1 keeps up, rx2 reads late and still gets
 * everything in order. */
static void send_slow_rx(void **state) {
    (void)state;
    enum { ONE = 1, TWO, THREE };
    achan_broadcast_sender *tx;
    achan_broadcast_receiver *rx1, *rx2;
    test_waker t1 = {0}, t2 = {0};
    int v;
    assert_int_equal(new_chan(16, &tx, &rx1), ACHAN_OK);
    rx2 = achan_broadcast_subscribe(tx);
    assert_int_equal(poll_with(rx1, &t1, &v, NULL), ACHAN_PENDING);
    assert_int_equal(poll_with(rx2, &t2, &v, NULL), ACHAN_PENDING);
    send_int(tx, ONE);
    assert_int_equal(test_waker_wakes(&t1), 1);
    assert_int_equal(test_waker_wakes(&t2), 1);
    assert_int_equal(poll_with(rx1, &t1, &v, NULL), ACHAN_OK);
    assert_int_equal(v, ONE);

    send_int(tx, TWO);
    assert_int_equal(poll_with(rx1, &t1, &v, NULL), ACHAN_OK);
    assert_int_equal(v, TWO);
    assert_int_equal(poll_with(rx1, &t1, &v, NULL), ACHAN_PENDING);
    send_int(tx, THREE);
    assert_int_equal(test_waker_wakes(&t1), 2);
    assert_int_equal(poll_with(rx1, &t1, &v, NULL), ACHAN_OK);
    assert_int_equal(v, THREE);

    assert_int_equal(poll_with(rx2, &t2, &v, NULL), ACHAN_OK);
    assert_int_equal(v, ONE);
    assert_int_equal(recv_int(rx2), TWO);
    assert_int_equal(recv_int(rx2), THREE);
    achan_broadcast_sender_drop(tx);
    achan_broadcast_receiver_drop(rx1);
    achan_broadcast_receiver_drop(rx2);
    assert_int_equal(test_waker_live(&t1), 0);
    assert_int_equal(test_waker_live(&t2), 0);
}

/* Tokio drop_rx_while_values_remain / unconsumed_messages_are_dropped:
 * dropping receivers with unread values frees everything. */
static void drop_rx_while_values_remain(void **state) {
    (void)state;
    test_alloc ta;
    test_alloc_init(&ta);
    achan_opts o = {.item_size = sizeof(int), .capacity = 16, .allocator = &ta.a};
    achan_broadcast_sender *tx;
    achan_broadcast_receiver *rx1, *rx2;
    assert_int_equal(achan_broadcast_new(&o, &tx, &rx1), ACHAN_OK);
    rx2 = achan_broadcast_subscribe(tx);
    send_to(tx, 1, 2);
    send_to(tx, 2, 2);
    achan_broadcast_receiver_drop(rx1);
    achan_broadcast_receiver_drop(rx2);
    achan_broadcast_sender_drop(tx);
    assert_int_equal(test_alloc_live_bytes(&ta), 0);
}

/* Tokio lagging_rx (cap 2). */
static void lagging_rx(void **state) {
    (void)state;
    enum { ONE = 1, TWO, THREE, FOUR, FIVE, SIX };
    achan_broadcast_sender *tx;
    achan_broadcast_receiver *rx1, *rx2;
    assert_int_equal(new_chan(2, &tx, &rx1), ACHAN_OK);
    rx2 = achan_broadcast_subscribe(tx);
    send_int(tx, ONE);
    send_int(tx, TWO);
    assert_int_equal(recv_int(rx1), ONE);
    send_int(tx, THREE);
    expect_lagged(rx2, 1);                /* Lagged too far. */
    assert_int_equal(recv_int(rx2), TWO); /* Calling again gets the next value. */
    assert_int_equal(recv_int(rx1), TWO);
    assert_int_equal(recv_int(rx1), THREE);
    send_int(tx, FOUR);
    send_int(tx, FIVE);
    expect_lagged(rx2, 1);
    send_int(tx, SIX);
    expect_lagged(rx2, 1);
    assert_int_equal(achan_broadcast_receiver_skipped(rx2), 3);
    assert_int_equal(achan_broadcast_receiver_skipped(rx1), 0);
    achan_broadcast_sender_drop(tx);
    achan_broadcast_receiver_drop(rx1);
    achan_broadcast_receiver_drop(rx2);
}

/* Tokio send_no_rx: no receiver -> CLOSED, nothing stored; a subscribe
 * makes sends succeed again, and sees only what comes after it. */
static void send_no_rx(void **state) {
    (void)state;
    achan_broadcast_sender *tx;
    achan_broadcast_receiver *rx;
    assert_int_equal(new_chan(16, &tx, &rx), ACHAN_OK);
    achan_broadcast_receiver_drop(rx);
    size_t n = 99;
    int v = 1;
    assert_int_equal(achan_broadcast_send(tx, &v, &n), ACHAN_CLOSED);
    assert_int_equal(n, 0);
    rx = achan_broadcast_subscribe(tx);
    assert_non_null(rx);
    send_to(tx, 2, 1);
    assert_int_equal(recv_int(rx), 2);
    expect_try(rx, ACHAN_EMPTY);
    achan_broadcast_sender_drop(tx);
    achan_broadcast_receiver_drop(rx);
}

/* Tokio dropping_tx_notifies_rx: dropping one of two senders wakes nobody;
 * dropping the last wakes every waiting receiver, which then sees CLOSED. */
static void dropping_tx_notifies_rx(void **state) {
    (void)state;
    achan_broadcast_sender *tx1, *tx2;
    achan_broadcast_receiver *rx1, *rx2;
    test_waker t1 = {0}, t2 = {0};
    int v;
    assert_int_equal(new_chan(10, &tx1, &rx1), ACHAN_OK);
    rx2 = achan_broadcast_subscribe(tx1);
    tx2 = achan_broadcast_sender_clone(tx1);
    assert_non_null(tx2);
    assert_int_equal(poll_with(rx1, &t1, &v, NULL), ACHAN_PENDING);
    assert_int_equal(poll_with(rx2, &t2, &v, NULL), ACHAN_PENDING);
    achan_broadcast_sender_drop(tx1);
    assert_int_equal(test_waker_wakes(&t1), 0);
    assert_int_equal(test_waker_wakes(&t2), 0);
    assert_int_equal(poll_with(rx1, &t1, &v, NULL), ACHAN_PENDING);
    assert_int_equal(poll_with(rx2, &t2, &v, NULL), ACHAN_PENDING);
    achan_broadcast_sender_drop(tx2);
    assert_int_equal(test_waker_wakes(&t1), 1);
    assert_int_equal(test_waker_wakes(&t2), 1);
    assert_int_equal(poll_with(rx1, &t1, &v, NULL), ACHAN_CLOSED);
    assert_int_equal(poll_with(rx2, &t2, &v, NULL), ACHAN_CLOSED);
    assert_int_equal(poll_with(rx1, &t1, &v, NULL), ACHAN_CLOSED);
    achan_broadcast_receiver_drop(rx1);
    achan_broadcast_receiver_drop(rx2);
    assert_int_equal(test_waker_live(&t1), 0);
    assert_int_equal(test_waker_live(&t2), 0);
}

/* Tokio single_capacity_recvs. */
static void single_capacity_recvs(void **state) {
    (void)state;
    achan_broadcast_sender *tx;
    achan_broadcast_receiver *rx;
    assert_int_equal(new_chan(1, &tx, &rx), ACHAN_OK);
    send_int(tx, 1);
    assert_int_equal(recv_int(rx), 1);
    expect_try(rx, ACHAN_EMPTY);
    achan_broadcast_sender_drop(tx);
    achan_broadcast_receiver_drop(rx);
}

/* Tokio single_capacity_recvs_after_drop_1. */
static void single_capacity_recvs_after_drop_1(void **state) {
    (void)state;
    achan_broadcast_sender *tx;
    achan_broadcast_receiver *rx;
    assert_int_equal(new_chan(1, &tx, &rx), ACHAN_OK);
    send_int(tx, 1);
    achan_broadcast_sender_drop(tx);
    assert_int_equal(recv_int(rx), 1);
    expect_try(rx, ACHAN_CLOSED);
    achan_broadcast_receiver_drop(rx);
}

/* Tokio single_capacity_recvs_after_drop_2. */
static void single_capacity_recvs_after_drop_2(void **state) {
    (void)state;
    achan_broadcast_sender *tx;
    achan_broadcast_receiver *rx;
    assert_int_equal(new_chan(1, &tx, &rx), ACHAN_OK);
    send_int(tx, 1);
    send_int(tx, 2);
    achan_broadcast_sender_drop(tx);
    expect_lagged(rx, 1);
    assert_int_equal(recv_int(rx), 2);
    expect_try(rx, ACHAN_CLOSED);
    achan_broadcast_receiver_drop(rx);
}

/* Tokio dropping_sender_does_not_overwrite (cap 2). */
static void dropping_sender_does_not_overwrite(void **state) {
    (void)state;
    achan_broadcast_sender *tx;
    achan_broadcast_receiver *rx;
    assert_int_equal(new_chan(2, &tx, &rx), ACHAN_OK);
    send_int(tx, 1);
    send_int(tx, 2);
    achan_broadcast_sender_drop(tx);
    assert_int_equal(recv_int(rx), 1);
    assert_int_equal(recv_int(rx), 2);
    expect_try(rx, ACHAN_CLOSED);
    achan_broadcast_receiver_drop(rx);
}

/* Tokio lagging_receiver_recovers_after_wrap_closed_1 (cap 2). */
static void lagging_receiver_recovers_after_wrap_closed_1(void **state) {
    (void)state;
    achan_broadcast_sender *tx;
    achan_broadcast_receiver *rx;
    assert_int_equal(new_chan(2, &tx, &rx), ACHAN_OK);
    for (int i = 1; i <= 3; i++)
        send_int(tx, i);
    achan_broadcast_sender_drop(tx);
    expect_lagged(rx, 1);
    assert_int_equal(recv_int(rx), 2);
    assert_int_equal(recv_int(rx), 3);
    expect_try(rx, ACHAN_CLOSED);
    achan_broadcast_receiver_drop(rx);
}

/* Tokio lagging_receiver_recovers_after_wrap_closed_2 (cap 2). */
static void lagging_receiver_recovers_after_wrap_closed_2(void **state) {
    (void)state;
    achan_broadcast_sender *tx;
    achan_broadcast_receiver *rx;
    assert_int_equal(new_chan(2, &tx, &rx), ACHAN_OK);
    for (int i = 1; i <= 4; i++)
        send_int(tx, i);
    achan_broadcast_sender_drop(tx);
    expect_lagged(rx, 2);
    assert_int_equal(recv_int(rx), 3);
    assert_int_equal(recv_int(rx), 4);
    expect_try(rx, ACHAN_CLOSED);
    achan_broadcast_receiver_drop(rx);
}

/* Tokio lagging_receiver_recovers_after_wrap_open (cap 2). */
static void lagging_receiver_recovers_after_wrap_open(void **state) {
    (void)state;
    achan_broadcast_sender *tx;
    achan_broadcast_receiver *rx;
    assert_int_equal(new_chan(2, &tx, &rx), ACHAN_OK);
    for (int i = 1; i <= 3; i++)
        send_int(tx, i);
    expect_lagged(rx, 1);
    assert_int_equal(recv_int(rx), 2);
    assert_int_equal(recv_int(rx), 3);
    expect_try(rx, ACHAN_EMPTY);
    achan_broadcast_sender_drop(tx);
    achan_broadcast_receiver_drop(rx);
}

/* Tokio receiver_len_with_lagged (cap 3, rounded to 4). */
static void receiver_len_with_lagged(void **state) {
    (void)state;
    achan_broadcast_sender *tx;
    achan_broadcast_receiver *rx;
    assert_int_equal(new_chan(3, &tx, &rx), ACHAN_OK);
    for (int v = 10; v <= 40; v += 10)
        send_int(tx, v);
    assert_int_equal(achan_broadcast_len(rx), 4);
    assert_int_equal(recv_int(rx), 10);
    send_int(tx, 50);
    send_int(tx, 60);
    assert_int_equal(achan_broadcast_len(rx), 5);
    expect_lagged(rx, 1);
    achan_broadcast_sender_drop(tx);
    achan_broadcast_receiver_drop(rx);
}

/* Tokio resubscribe_points_to_tail (cap 3). */
static void resubscribe_points_to_tail(void **state) {
    (void)state;
    achan_broadcast_sender *tx;
    achan_broadcast_receiver *rx, *resub;
    assert_int_equal(new_chan(3, &tx, &rx), ACHAN_OK);
    send_int(tx, 1);
    resub = achan_broadcast_resubscribe(rx);
    assert_non_null(resub);
    expect_try(resub, ACHAN_EMPTY); /* One behind at the start. */
    assert_int_equal(recv_int(rx), 1);
    send_int(tx, 2); /* rx is not affected. */
    assert_int_equal(recv_int(resub), 2);
    send_int(tx, 3);
    assert_int_equal(recv_int(rx), 2);
    assert_int_equal(recv_int(rx), 3);
    expect_try(rx, ACHAN_EMPTY);
    assert_int_equal(recv_int(resub), 3);
    expect_try(resub, ACHAN_EMPTY);
    achan_broadcast_sender_drop(tx);
    achan_broadcast_receiver_drop(rx);
    achan_broadcast_receiver_drop(resub);
}

/* Tokio resubscribe_lagged (cap 1). */
static void resubscribe_lagged(void **state) {
    (void)state;
    achan_broadcast_sender *tx;
    achan_broadcast_receiver *rx, *resub;
    assert_int_equal(new_chan(1, &tx, &rx), ACHAN_OK);
    send_int(tx, 1);
    send_int(tx, 2);
    resub = achan_broadcast_resubscribe(rx);
    expect_lagged(rx, 1);
    expect_try(resub, ACHAN_EMPTY);
    assert_int_equal(recv_int(rx), 2);
    expect_try(rx, ACHAN_EMPTY);
    expect_try(resub, ACHAN_EMPTY);
    achan_broadcast_sender_drop(tx);
    achan_broadcast_receiver_drop(rx);
    achan_broadcast_receiver_drop(resub);
}

/* Tokio resubscribe_to_closed_channel. */
static void resubscribe_to_closed_channel(void **state) {
    (void)state;
    achan_broadcast_sender *tx;
    achan_broadcast_receiver *rx, *resub;
    assert_int_equal(new_chan(2, &tx, &rx), ACHAN_OK);
    achan_broadcast_sender_drop(tx);
    resub = achan_broadcast_resubscribe(rx);
    assert_non_null(resub);
    expect_try(resub, ACHAN_CLOSED);
    achan_broadcast_receiver_drop(rx);
    achan_broadcast_receiver_drop(resub);
}

/* Tokio slow_receiver_within_capacity_does_not_lag (cap 2). */
static void slow_receiver_within_capacity_does_not_lag(void **state) {
    (void)state;
    achan_broadcast_sender *tx;
    achan_broadcast_receiver *fast, *slow;
    assert_int_equal(new_chan(2, &tx, &fast), ACHAN_OK);
    slow = achan_broadcast_subscribe(tx);
    send_int(tx, 1);
    send_int(tx, 2);
    assert_int_equal(recv_int(fast), 1);
    assert_int_equal(recv_int(fast), 2);
    assert_int_equal(recv_int(slow), 1);
    assert_int_equal(recv_int(slow), 2);
    expect_try(fast, ACHAN_EMPTY);
    expect_try(slow, ACHAN_EMPTY);
    achan_broadcast_sender_drop(tx);
    achan_broadcast_receiver_drop(fast);
    achan_broadcast_receiver_drop(slow);
}

/* Tokio capacity_overflow_reports_lagged_then_oldest_retained (cap 2). */
static void capacity_overflow_reports_lagged_then_oldest_retained(void **state) {
    (void)state;
    achan_broadcast_sender *tx;
    achan_broadcast_receiver *rx;
    assert_int_equal(new_chan(2, &tx, &rx), ACHAN_OK);
    send_int(tx, 10);
    send_int(tx, 20);
    send_int(tx, 30);
    expect_lagged(rx, 1);
    assert_int_equal(recv_int(rx), 20);
    assert_int_equal(recv_int(rx), 30);
    expect_try(rx, ACHAN_EMPTY);
    achan_broadcast_sender_drop(tx);
    achan_broadcast_receiver_drop(rx);
}

/* Tokio lagged_count_matches_number_of_overwritten_messages (cap 4). */
static void lagged_count_matches_number_of_overwritten_messages(void **state) {
    (void)state;
    achan_broadcast_sender *tx;
    achan_broadcast_receiver *rx;
    assert_int_equal(new_chan(4, &tx, &rx), ACHAN_OK);
    for (int i = 1; i <= 4; i++)
        send_int(tx, i);
    assert_int_equal(recv_int(rx), 1);
    for (int i = 5; i <= 8; i++)
        send_int(tx, i);
    expect_lagged(rx, 3);
    for (int i = 5; i <= 8; i++)
        assert_int_equal(recv_int(rx), i);
    expect_try(rx, ACHAN_EMPTY);
    achan_broadcast_sender_drop(tx);
    achan_broadcast_receiver_drop(rx);
}

/* Tokio lag_uses_power_of_two_buffer_length (cap 3 holds 4). */
static void lag_uses_power_of_two_buffer_length(void **state) {
    (void)state;
    achan_broadcast_sender *tx;
    achan_broadcast_receiver *rx;
    assert_int_equal(new_chan(3, &tx, &rx), ACHAN_OK);
    for (int i = 1; i <= 4; i++)
        send_int(tx, i);
    assert_int_equal(achan_broadcast_len(rx), 4);
    assert_int_equal(recv_int(rx), 1);
    send_int(tx, 5);
    assert_int_equal(achan_broadcast_len(rx), 4);
    send_int(tx, 6);
    assert_int_equal(achan_broadcast_len(rx), 5);
    expect_lagged(rx, 1);
    for (int i = 3; i <= 6; i++)
        assert_int_equal(recv_int(rx), i);
    achan_broadcast_sender_drop(tx);
    achan_broadcast_receiver_drop(rx);
}

/* Capacity rounding: each requested capacity holds exactly the next power of
 * two before the oldest message is lost. */
static void capacity_rounds_up_to_power_of_two(void **state) {
    (void)state;
    const size_t req[] = {1, 2, 3, 5, 8, 9, 100, 1000, 1024, 1025};
    const size_t rounded[] = {1, 2, 4, 8, 8, 16, 128, 1024, 1024, 2048};
    for (size_t k = 0; k < sizeof req / sizeof req[0]; k++) {
        achan_broadcast_sender *tx;
        achan_broadcast_receiver *rx;
        assert_int_equal(new_chan(req[k], &tx, &rx), ACHAN_OK);
        for (size_t i = 0; i < rounded[k]; i++)
            send_int(tx, (int)i);
        assert_int_equal(recv_int(rx), 0); /* All held. */
        for (size_t i = 0; i < 2; i++)
            send_int(tx, (int)(rounded[k] + i));
        expect_lagged(rx, 1); /* One more than held: the oldest is gone. */
        assert_int_equal(recv_int(rx), 2);
        achan_broadcast_sender_drop(tx);
        achan_broadcast_receiver_drop(rx);
    }
}

/* Tokio async_recv_lagged_then_resumes_from_oldest_retained (cap 2), on the
 * poll path. */
static void poll_recv_lagged_then_resumes_from_oldest_retained(void **state) {
    (void)state;
    achan_broadcast_sender *tx;
    achan_broadcast_receiver *rx;
    test_waker t = {0};
    int v = -7;
    uint64_t skipped = 0;
    assert_int_equal(new_chan(2, &tx, &rx), ACHAN_OK);
    send_int(tx, 10);
    send_int(tx, 20);
    send_int(tx, 30);
    assert_int_equal(poll_with(rx, &t, &v, &skipped), ACHAN_LAGGED);
    assert_int_equal(skipped, 1);
    assert_int_equal(v, -7);
    assert_int_equal(poll_with(rx, &t, &v, &skipped), ACHAN_OK);
    assert_int_equal(v, 20);
    assert_int_equal(skipped, 0);
    assert_int_equal(poll_with(rx, &t, &v, &skipped), ACHAN_OK);
    assert_int_equal(v, 30);
    assert_int_equal(test_waker_live(&t), 0); /* Never had to wait. */
    achan_broadcast_sender_drop(tx);
    achan_broadcast_receiver_drop(rx);
}

/* Tokio lag_catch_up_then_lag_again (cap 2). */
static void lag_catch_up_then_lag_again(void **state) {
    (void)state;
    achan_broadcast_sender *tx;
    achan_broadcast_receiver *rx;
    assert_int_equal(new_chan(2, &tx, &rx), ACHAN_OK);
    for (int i = 1; i <= 3; i++)
        send_int(tx, i);
    expect_lagged(rx, 1);
    assert_int_equal(recv_int(rx), 2);
    assert_int_equal(recv_int(rx), 3);
    expect_try(rx, ACHAN_EMPTY);
    for (int i = 4; i <= 6; i++)
        send_int(tx, i);
    expect_lagged(rx, 1);
    assert_int_equal(recv_int(rx), 5);
    assert_int_equal(recv_int(rx), 6);
    expect_try(rx, ACHAN_EMPTY);
    assert_int_equal(achan_broadcast_receiver_skipped(rx), 2);
    achan_broadcast_sender_drop(tx);
    achan_broadcast_receiver_drop(rx);
}

/* Tokio lag_is_per_receiver (cap 2). */
static void lag_is_per_receiver(void **state) {
    (void)state;
    achan_broadcast_sender *tx;
    achan_broadcast_receiver *fast, *slow;
    assert_int_equal(new_chan(2, &tx, &fast), ACHAN_OK);
    slow = achan_broadcast_subscribe(tx);
    for (int i = 1; i <= 4; i++) {
        send_int(tx, i);
        assert_int_equal(recv_int(fast), i);
    }
    expect_lagged(slow, 2);
    assert_int_equal(recv_int(slow), 3);
    assert_int_equal(recv_int(slow), 4);
    assert_int_equal(achan_broadcast_receiver_skipped(fast), 0);
    assert_int_equal(achan_broadcast_receiver_skipped(slow), 2);
    achan_broadcast_sender_drop(tx);
    achan_broadcast_receiver_drop(fast);
    achan_broadcast_receiver_drop(slow);
}

/* Tokio lag_again_before_reading_retained_messages (cap 2). */
static void lag_again_before_reading_retained_messages(void **state) {
    (void)state;
    achan_broadcast_sender *tx;
    achan_broadcast_receiver *rx;
    assert_int_equal(new_chan(2, &tx, &rx), ACHAN_OK);
    for (int i = 1; i <= 3; i++)
        send_int(tx, i);
    expect_lagged(rx, 1);
    for (int i = 4; i <= 6; i++)
        send_int(tx, i);
    expect_lagged(rx, 3);
    assert_int_equal(recv_int(rx), 5);
    assert_int_equal(recv_int(rx), 6);
    expect_try(rx, ACHAN_EMPTY);
    assert_int_equal(achan_broadcast_receiver_skipped(rx), 4);
    achan_broadcast_sender_drop(tx);
    achan_broadcast_receiver_drop(rx);
}

/* Tokio single_slot_capacity_lag_semantics (cap 1). */
static void single_slot_capacity_lag_semantics(void **state) {
    (void)state;
    achan_broadcast_sender *tx;
    achan_broadcast_receiver *rx;
    assert_int_equal(new_chan(1, &tx, &rx), ACHAN_OK);
    send_int(tx, 1);
    assert_int_equal(recv_int(rx), 1);
    send_int(tx, 2);
    send_int(tx, 3);
    expect_lagged(rx, 1);
    assert_int_equal(recv_int(rx), 3);
    expect_try(rx, ACHAN_EMPTY);
    achan_broadcast_sender_drop(tx);
    achan_broadcast_receiver_drop(rx);
}

/* Tokio receiver_len_after_lag_error_advances_cursor (cap 2). */
static void receiver_len_after_lag_error_advances_cursor(void **state) {
    (void)state;
    achan_broadcast_sender *tx;
    achan_broadcast_receiver *rx;
    assert_int_equal(new_chan(2, &tx, &rx), ACHAN_OK);
    for (int i = 1; i <= 4; i++)
        send_int(tx, i);
    assert_int_equal(achan_broadcast_len(rx), 4);
    expect_lagged(rx, 2);
    assert_int_equal(achan_broadcast_len(rx), 2);
    assert_int_equal(recv_int(rx), 3);
    assert_int_equal(achan_broadcast_len(rx), 1);
    assert_int_equal(recv_int(rx), 4);
    assert_int_equal(achan_broadcast_len(rx), 0);
    achan_broadcast_sender_drop(tx);
    achan_broadcast_receiver_drop(rx);
}

/* Tokio sender_len_random, for what achan exposes: 2000 random sends and
 * receives on two receivers (cap 16), each checked against Tokio's
 * arithmetic (P sent, N read, C held): LAGGED(P - C - N) when P - N > C,
 * else the message at N, or EMPTY; len == P - N throughout. */
static void receiver_len_random(void **state) {
    (void)state;
    enum { C = 16 };
    achan_broadcast_sender *tx;
    achan_broadcast_receiver *rx[2];
    uint64_t n[2] = {0, 0}, p = 0, rng = 0x2545f4914f6cdd1dull;
    assert_int_equal(new_chan(C, &tx, &rx[0]), ACHAN_OK);
    rx[1] = achan_broadcast_subscribe(tx);
    for (int op = 0; op < 2000; op++) {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        unsigned what = (unsigned)(rng % 5);
        if (what < 2) { /* Sends are as likely as receives: lags happen. */
            send_to(tx, (int)p, 2);
            p++;
        } else {
            int i = (int)(what % 2);
            if (p - n[i] > C) {
                expect_lagged(rx[i], p - C - n[i]);
                n[i] = p - C;
            } else if (p == n[i]) {
                expect_try(rx[i], ACHAN_EMPTY);
            } else {
                assert_int_equal(recv_int(rx[i]), (int)n[i]);
                n[i]++;
            }
        }
        assert_int_equal(achan_broadcast_len(rx[0]), p - n[0]);
        assert_int_equal(achan_broadcast_len(rx[1]), p - n[1]);
    }
    assert_true(achan_broadcast_receiver_skipped(rx[0]) > 0); /* Lags were exercised. */
    assert_true(achan_broadcast_receiver_skipped(rx[1]) > 0);
    achan_broadcast_sender_drop(tx);
    achan_broadcast_receiver_drop(rx[0]);
    achan_broadcast_receiver_drop(rx[1]);
}

/* Tokio receiver_count_on_channel_constructor and, with the first receiver
 * dropped to stand for Sender::new, receiver_count_on_sender_constructor. */
static void receiver_count(void **state) {
    (void)state;
    achan_broadcast_sender *tx;
    achan_broadcast_receiver *rx;
    assert_int_equal(new_chan(16, &tx, &rx), ACHAN_OK);
    assert_int_equal(achan_broadcast_receiver_count(tx), 1);
    achan_broadcast_receiver *rx2 = achan_broadcast_resubscribe(rx);
    assert_int_equal(achan_broadcast_receiver_count(tx), 2);
    achan_broadcast_receiver_drop(rx);
    achan_broadcast_receiver_drop(rx2);
    assert_int_equal(achan_broadcast_receiver_count(tx), 0);

    achan_broadcast_receiver *a = achan_broadcast_subscribe(tx);
    assert_int_equal(achan_broadcast_receiver_count(tx), 1);
    achan_broadcast_receiver *b = achan_broadcast_resubscribe(a);
    assert_int_equal(achan_broadcast_receiver_count(tx), 2);
    achan_broadcast_receiver *c = achan_broadcast_subscribe(tx);
    assert_int_equal(achan_broadcast_receiver_count(tx), 3);
    send_to(tx, 1, 3);
    achan_broadcast_receiver_drop(a);
    achan_broadcast_receiver_drop(b);
    assert_int_equal(achan_broadcast_receiver_count(tx), 1);
    assert_int_equal(recv_int(c), 1);
    achan_broadcast_receiver_drop(c);
    assert_int_equal(achan_broadcast_receiver_count(tx), 0);
    achan_broadcast_sender_drop(tx);
}

/* Sender clones share the channel; the receivers see CLOSED only once the
 * last of them is gone, after everything sent. */
static void sender_clones_share_the_channel(void **state) {
    (void)state;
    achan_broadcast_sender *tx1, *tx2;
    achan_broadcast_receiver *rx;
    assert_int_equal(new_chan(8, &tx1, &rx), ACHAN_OK);
    tx2 = achan_broadcast_sender_clone(tx1);
    assert_non_null(tx2);
    assert_ptr_not_equal(tx1, tx2);
    send_int(tx1, 1);
    send_int(tx2, 2);
    achan_broadcast_sender_drop(tx1);
    send_int(tx2, 3);
    assert_int_equal(recv_int(rx), 1);
    assert_int_equal(recv_int(rx), 2);
    assert_int_equal(recv_int(rx), 3);
    expect_try(rx, ACHAN_EMPTY);
    achan_broadcast_sender_drop(tx2);
    expect_try(rx, ACHAN_CLOSED);
    expect_try(rx, ACHAN_CLOSED);
    achan_broadcast_receiver_drop(rx);
}

/* opts.item_drop is ignored: broadcast copies plain bytes. */
static int item_drop_calls;
static void count_drop(void *item, void *user) {
    (void)item;
    (void)user;
    item_drop_calls++;
}

static void item_drop_is_ignored(void **state) {
    (void)state;
    achan_opts o = {.item_size = sizeof(int), .capacity = 2, .item_drop = count_drop};
    achan_broadcast_sender *tx;
    achan_broadcast_receiver *rx;
    item_drop_calls = 0;
    assert_int_equal(achan_broadcast_new(&o, &tx, &rx), ACHAN_OK);
    for (int i = 0; i < 5; i++)
        send_int(tx, i); /* Overwrites three. */
    achan_broadcast_receiver_drop(rx);
    achan_broadcast_sender_drop(tx);
    assert_int_equal(item_drop_calls, 0);
}

/* Items of any size, including sizes that are not a whole number of words,
 * are copied whole, around the ring several times. */
static void items_of_any_size_are_copied_whole(void **state) {
    (void)state;
    const size_t sizes[] = {1, 3, 7, 8, 13, 64, 700};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        size_t size = sizes[s];
        achan_opts o = {.item_size = size, .capacity = 4};
        achan_broadcast_sender *tx;
        achan_broadcast_receiver *rx;
        assert_int_equal(achan_broadcast_new(&o, &tx, &rx), ACHAN_OK);
        unsigned char in[701], out[701];
        for (int round = 0; round < 20; round++) {
            for (size_t i = 0; i < size; i++)
                in[i] = (unsigned char)(round * 31 + i * 7 + 1);
            memset(out, 0xee, sizeof out);
            assert_int_equal(achan_broadcast_send(tx, in, NULL), ACHAN_OK);
            assert_int_equal(achan_broadcast_try_recv(rx, out, NULL), ACHAN_OK);
            assert_memory_equal(in, out, size);
            assert_int_equal(out[size], 0xee); /* Not a byte more. */
        }
        achan_broadcast_sender_drop(tx);
        achan_broadcast_receiver_drop(rx);
    }
}

/* ---- wakers ---- */

/* PENDING registers a clone; a send wakes it (consuming it); later sends do
 * not wake again until the receiver registers again. */
static void poll_recv_registers_and_send_wakes(void **state) {
    (void)state;
    achan_broadcast_sender *tx;
    achan_broadcast_receiver *rx;
    test_waker t = {0};
    int v;
    assert_int_equal(new_chan(16, &tx, &rx), ACHAN_OK);
    assert_int_equal(poll_with(rx, &t, &v, NULL), ACHAN_PENDING);
    assert_int_equal(test_waker_live(&t), 1);
    assert_int_equal(test_waker_wakes(&t), 0);
    send_int(tx, 9);
    assert_int_equal(test_waker_wakes(&t), 1);
    assert_int_equal(test_waker_live(&t), 0);
    send_int(tx, 10);
    assert_int_equal(test_waker_wakes(&t), 1);
    assert_int_equal(poll_with(rx, &t, &v, NULL), ACHAN_OK);
    assert_int_equal(v, 9);
    assert_int_equal(poll_with(rx, &t, &v, NULL), ACHAN_OK);
    assert_int_equal(v, 10);
    achan_broadcast_sender_drop(tx);
    achan_broadcast_receiver_drop(rx);
    assert_int_equal(test_waker_live(&t), 0);
}

/* Polling again with the same waker keeps the registration (no new clone);
 * with another waker replaces it, and only the newest is woken. */
static void repoll_keeps_same_waker_replaces_other(void **state) {
    (void)state;
    achan_broadcast_sender *tx;
    achan_broadcast_receiver *rx;
    test_waker a = {0}, b = {0};
    int v;
    assert_int_equal(new_chan(4, &tx, &rx), ACHAN_OK);
    assert_int_equal(poll_with(rx, &a, &v, NULL), ACHAN_PENDING);
    assert_int_equal(poll_with(rx, &a, &v, NULL), ACHAN_PENDING);
    assert_int_equal(test_waker_live(&a), 1);
    assert_int_equal(atomic_load(&a.clones), 1);
    assert_int_equal(poll_with(rx, &b, &v, NULL), ACHAN_PENDING);
    assert_int_equal(test_waker_live(&a), 0);
    assert_int_equal(test_waker_live(&b), 1);
    send_int(tx, 1);
    assert_int_equal(test_waker_wakes(&a), 0);
    assert_int_equal(test_waker_wakes(&b), 1);
    achan_broadcast_sender_drop(tx);
    achan_broadcast_receiver_drop(rx);
    assert_int_equal(test_waker_live(&b), 0);
}

/* Dropping a waiting receiver releases its waker and wakes nobody. */
static void receiver_drop_releases_waker(void **state) {
    (void)state;
    achan_broadcast_sender *tx;
    achan_broadcast_receiver *rx, *rx2;
    test_waker t = {0};
    int v;
    assert_int_equal(new_chan(4, &tx, &rx), ACHAN_OK);
    rx2 = achan_broadcast_subscribe(tx);
    assert_int_equal(poll_with(rx, &t, &v, NULL), ACHAN_PENDING);
    assert_int_equal(test_waker_live(&t), 1);
    achan_broadcast_receiver_drop(rx);
    assert_int_equal(test_waker_live(&t), 0);
    send_to(tx, 1, 1);
    assert_int_equal(test_waker_wakes(&t), 0);
    assert_int_equal(recv_int(rx2), 1);
    achan_broadcast_sender_drop(tx);
    achan_broadcast_receiver_drop(rx2);
}

/* More waiting receivers than one wake batch holds: one send wakes all. */
static void one_send_wakes_every_waiting_receiver(void **state) {
    (void)state;
    enum { N = 40 };
    achan_broadcast_sender *tx;
    achan_broadcast_receiver *rx[N];
    test_waker t[N];
    int v;
    memset(t, 0, sizeof t);
    assert_int_equal(new_chan(4, &tx, &rx[0]), ACHAN_OK);
    for (int i = 1; i < N; i++)
        rx[i] = achan_broadcast_subscribe(tx);
    for (int i = 0; i < N; i++)
        assert_int_equal(poll_with(rx[i], &t[i], &v, NULL), ACHAN_PENDING);
    send_to(tx, 5, N);
    for (int i = 0; i < N; i++) {
        assert_int_equal(test_waker_wakes(&t[i]), 1);
        assert_int_equal(test_waker_live(&t[i]), 0);
        assert_int_equal(poll_with(rx[i], &t[i], &v, NULL), ACHAN_OK);
        assert_int_equal(v, 5);
    }
    send_int(tx, 6); /* Nobody waits now: nobody woken. */
    for (int i = 0; i < N; i++) {
        assert_int_equal(test_waker_wakes(&t[i]), 1);
        achan_broadcast_receiver_drop(rx[i]);
    }
    achan_broadcast_sender_drop(tx);
}

/* A waker whose clone sends on the channel: the message lands between the
 * first look and the registration, so the re-check finds it; the poll
 * returns it and leaves nothing registered (no wake, no clone kept). */
typedef struct {
    test_waker counts;
    achan_broadcast_sender *tx;
    int sends;
} clone_sender;

static const achan_waker_vtbl clone_sender_vtbl;

static achan_waker cs_clone(const void *data) {
    clone_sender *c = (clone_sender *)data;
    if (c->sends++ == 0)
        send_int(c->tx, 42);
    atomic_fetch_add(&c->counts.live, 1);
    achan_waker w = {&clone_sender_vtbl, c};
    return w;
}
static void cs_wake(void *data) {
    clone_sender *c = data;
    atomic_fetch_add(&c->counts.wakes, 1);
    atomic_fetch_sub(&c->counts.live, 1);
}
static void cs_wake_by_ref(const void *data) {
    atomic_fetch_add(&((clone_sender *)data)->counts.wakes, 1);
}
static void cs_drop(void *data) {
    atomic_fetch_sub(&((clone_sender *)data)->counts.live, 1);
}
static const achan_waker_vtbl clone_sender_vtbl = {cs_clone, cs_wake, cs_wake_by_ref, cs_drop};

static void recheck_after_register_finds_message(void **state) {
    (void)state;
    clone_sender c = {.sends = 0};
    achan_broadcast_receiver *rx;
    assert_int_equal(new_chan(4, &c.tx, &rx), ACHAN_OK);
    achan_waker w = {&clone_sender_vtbl, &c};
    achan_context cx = {&w};
    int v = 0;
    assert_int_equal(achan_broadcast_poll_recv(rx, &cx, &v, NULL), ACHAN_OK);
    assert_int_equal(v, 42);
    assert_int_equal(c.sends, 1);
    assert_int_equal(test_waker_live(&c.counts), 0); /* Unregistered again. */
    assert_int_equal(test_waker_wakes(&c.counts), 0);
    send_int(c.tx, 43); /* Finds nobody waiting. */
    assert_int_equal(test_waker_wakes(&c.counts), 0);
    assert_int_equal(recv_int(rx), 43);
    achan_broadcast_sender_drop(c.tx);
    achan_broadcast_receiver_drop(rx);
}

/* Tokio send_in_waker_drop: a waker whose last drop sends on the same
 * channel must not deadlock, whether it is dropped by a re-poll that
 * replaces it, woken by a send, or dropped with its receiver. */
typedef struct {
    atomic_long refs;
    achan_broadcast_sender *tx;
    int sends;
    achan_status last;
} send_on_drop;

static const achan_waker_vtbl send_on_drop_vtbl;

static void sod_release(send_on_drop *s) {
    if (atomic_fetch_sub(&s->refs, 1) != 1)
        return;
    int v = 99;
    s->last = achan_broadcast_send(s->tx, &v, NULL);
    s->sends++;
    achan_broadcast_sender_drop(s->tx);
    s->tx = NULL;
}
static achan_waker sod_clone(const void *data) {
    send_on_drop *s = (send_on_drop *)data;
    atomic_fetch_add(&s->refs, 1);
    achan_waker w = {&send_on_drop_vtbl, s};
    return w;
}
static void sod_wake(void *data) {
    sod_release(data);
}
static void sod_wake_by_ref(const void *data) {
    (void)data;
}
static void sod_drop(void *data) {
    sod_release(data);
}
static const achan_waker_vtbl send_on_drop_vtbl = {sod_clone, sod_wake, sod_wake_by_ref, sod_drop};

static void send_in_waker_drop(void **state) {
    (void)state;
    int v = 0;
    achan_waker noop = achan_waker_noop();
    achan_context noop_cx = {&noop};

    /* Dropped when a re-poll replaces it; the waker holds the only sender. */
    {
        achan_broadcast_sender *tx;
        achan_broadcast_receiver *rx;
        assert_int_equal(new_chan(16, &tx, &rx), ACHAN_OK);
        send_on_drop s = {.tx = tx, .sends = 0};
        atomic_init(&s.refs, 1);
        achan_waker w = {&send_on_drop_vtbl, &s};
        achan_context cx = {&w};
        assert_int_equal(achan_broadcast_poll_recv(rx, &cx, &v, NULL), ACHAN_PENDING);
        sod_drop(&s); /* drop(waker): the channel holds the last reference. */
        assert_int_equal(s.sends, 0);
        /* Second poll shouldn't deadlock; it sees the value sent on drop. */
        assert_int_equal(achan_broadcast_poll_recv(rx, &noop_cx, &v, NULL), ACHAN_OK);
        assert_int_equal(s.sends, 1);
        assert_int_equal(s.last, ACHAN_OK);
        assert_int_equal(v, 99);
        assert_int_equal(achan_broadcast_poll_recv(rx, &noop_cx, &v, NULL), ACHAN_CLOSED);
        achan_broadcast_receiver_drop(rx);
    }
    /* Dropped by the wake of a send. */
    {
        achan_broadcast_sender *tx;
        achan_broadcast_receiver *rx;
        assert_int_equal(new_chan(16, &tx, &rx), ACHAN_OK);
        send_on_drop s = {.tx = achan_broadcast_sender_clone(tx), .sends = 0};
        atomic_init(&s.refs, 1);
        achan_waker w = {&send_on_drop_vtbl, &s};
        achan_context cx = {&w};
        assert_int_equal(achan_broadcast_poll_recv(rx, &cx, &v, NULL), ACHAN_PENDING);
        sod_drop(&s);
        send_int(tx, 1); /* Shouldn't deadlock. */
        assert_int_equal(s.sends, 1);
        assert_int_equal(s.last, ACHAN_OK);
        assert_int_equal(recv_int(rx), 1);
        assert_int_equal(recv_int(rx), 99);
        achan_broadcast_sender_drop(tx);
        expect_try(rx, ACHAN_CLOSED);
        achan_broadcast_receiver_drop(rx);
    }
    /* Dropped with its receiver. */
    {
        achan_broadcast_sender *tx;
        achan_broadcast_receiver *rx, *other;
        assert_int_equal(new_chan(16, &tx, &rx), ACHAN_OK);
        other = achan_broadcast_subscribe(tx);
        send_on_drop s = {.tx = achan_broadcast_sender_clone(tx), .sends = 0};
        atomic_init(&s.refs, 1);
        achan_waker w = {&send_on_drop_vtbl, &s};
        achan_context cx = {&w};
        assert_int_equal(achan_broadcast_poll_recv(rx, &cx, &v, NULL), ACHAN_PENDING);
        sod_drop(&s);
        achan_broadcast_receiver_drop(rx);
        assert_int_equal(s.sends, 1);
        assert_int_equal(s.last, ACHAN_OK);
        assert_int_equal(recv_int(other), 99);
        achan_broadcast_sender_drop(tx);
        achan_broadcast_receiver_drop(other);
    }
}

/* ---- the stream ---- */

/* The receiver is its stream: LAGGED passes through (nothing written), the
 * stream continues with the oldest value held, and after the last sender's
 * drop it ends, for good. */
static void stream_reports_lag_then_continues_then_ends(void **state) {
    (void)state;
    achan_broadcast_sender *tx;
    achan_broadcast_receiver *rx;
    test_waker t = {0};
    achan_waker w = test_waker_get(&t);
    achan_context cx = {&w};
    int v = -7;
    assert_int_equal(new_chan(2, &tx, &rx), ACHAN_OK);
    achan_stream *s = achan_broadcast_receiver_stream(rx);
    assert_ptr_equal((void *)s, (void *)rx);
    assert_int_equal(s->item_size, sizeof(int));
    assert_int_equal(achan_stream_poll_next(s, &cx, &v), ACHAN_PENDING);
    send_int(tx, 10);
    assert_int_equal(test_waker_wakes(&t), 1);
    send_int(tx, 20);
    send_int(tx, 30);
    assert_int_equal(achan_stream_poll_next(s, &cx, &v), ACHAN_LAGGED);
    assert_int_equal(v, -7);
    assert_int_equal(achan_broadcast_receiver_skipped(rx), 1);
    assert_int_equal(achan_stream_poll_next(s, &cx, &v), ACHAN_OK);
    assert_int_equal(v, 20);
    assert_int_equal(achan_stream_next_blocking(s, &v, -1), ACHAN_OK);
    assert_int_equal(v, 30);
    assert_int_equal(achan_stream_poll_next(s, &cx, &v), ACHAN_PENDING);
    for (int i = 0; i < 3; i++)
        send_int(tx, 40 + i);
    assert_int_equal(achan_stream_next_blocking(s, &v, -1), ACHAN_LAGGED);
    assert_int_equal(achan_stream_next_blocking(s, &v, -1), ACHAN_OK);
    assert_int_equal(v, 41);
    achan_broadcast_sender_drop(tx);
    assert_int_equal(achan_stream_poll_next(s, &cx, &v), ACHAN_OK);
    assert_int_equal(v, 42);
    for (int i = 0; i < 3; i++)
        assert_int_equal(achan_stream_poll_next(s, &cx, &v), ACHAN_CLOSED);
    assert_int_equal(achan_stream_next_blocking(s, &v, 0), ACHAN_CLOSED);
    assert_int_equal(achan_broadcast_receiver_skipped(rx), 2);
    achan_stream_drop(s);
    assert_int_equal(test_waker_live(&t), 0);
}

/* ---- blocking calls ---- */

static void recv_blocking_times_out_and_passes_lag_through(void **state) {
    (void)state;
    achan_broadcast_sender *tx;
    achan_broadcast_receiver *rx;
    int v = -7;
    uint64_t skipped = 77;
    assert_int_equal(new_chan(2, &tx, &rx), ACHAN_OK);
    assert_int_equal(achan_broadcast_recv_blocking(rx, &v, &skipped, 0), ACHAN_TIMEOUT);
    assert_int_equal(skipped, 0);
    assert_int_equal(achan_broadcast_recv_blocking(rx, &v, &skipped, 2000000), ACHAN_TIMEOUT);
    assert_int_equal(v, -7);
    for (int i = 1; i <= 5; i++)
        send_int(tx, i);
    assert_int_equal(achan_broadcast_recv_blocking(rx, &v, &skipped, -1), ACHAN_LAGGED);
    assert_int_equal(skipped, 3);
    assert_int_equal(v, -7);
    assert_int_equal(achan_broadcast_recv_blocking(rx, &v, &skipped, 0), ACHAN_OK);
    assert_int_equal(v, 4);
    assert_int_equal(skipped, 0);
    assert_int_equal(achan_broadcast_recv_blocking(rx, &v, &skipped, -1), ACHAN_OK);
    assert_int_equal(v, 5);
    achan_broadcast_sender_drop(tx);
    assert_int_equal(achan_broadcast_recv_blocking(rx, &v, &skipped, -1), ACHAN_CLOSED);
    assert_int_equal(achan_broadcast_recv_blocking(rx, &v, &skipped, 0), ACHAN_CLOSED);
    achan_broadcast_receiver_drop(rx);
}

/* A timed-out blocking receive leaves nothing registered: a later send
 * does not wake this thread's parker. */
static void timed_out_blocking_recv_unregisters(void **state) {
    (void)state;
    achan_broadcast_sender *tx;
    achan_broadcast_receiver *rx;
    int v;
    assert_int_equal(new_chan(2, &tx, &rx), ACHAN_OK);
    achan_thread_park(0); /* Consume a wake token left by an earlier test, if any. */
    assert_int_equal(achan_broadcast_recv_blocking(rx, &v, NULL, 1000000), ACHAN_TIMEOUT);
    send_int(tx, 1);
    assert_int_equal(achan_thread_park(0), ACHAN_TIMEOUT); /* No stale wake arrived. */
    assert_int_equal(recv_int(rx), 1);
    achan_broadcast_sender_drop(tx);
    achan_broadcast_receiver_drop(rx);
}

typedef struct {
    achan_broadcast_receiver *rx;
    long sum, count;
    achan_status end;
} blocking_reader;

static void *read_until_closed(void *arg) {
    blocking_reader *r = arg;
    int v;
    achan_status st;
    while ((st = achan_broadcast_recv_blocking(r->rx, &v, NULL, -1)) == ACHAN_OK) {
        r->sum += v;
        r->count++;
    }
    r->end = st;
    return NULL;
}

/* Receivers blocked on their own threads get every message (the history is
 * large enough that nothing is lost), then CLOSED after the last sender
 * goes. */
static void blocking_receivers_on_threads(void **state) {
    (void)state;
    enum { READERS = 3, N = 1000 };
    achan_broadcast_sender *tx;
    achan_broadcast_receiver *rx;
    assert_int_equal(new_chan(1024, &tx, &rx), ACHAN_OK);
    blocking_reader r[READERS];
    pthread_t th[READERS];
    for (int i = 0; i < READERS; i++) {
        r[i] = (blocking_reader){.rx = i == 0 ? rx : achan_broadcast_subscribe(tx)};
        assert_int_equal(pthread_create(&th[i], NULL, read_until_closed, &r[i]), 0);
    }
    for (int i = 1; i <= N; i++)
        send_to(tx, i, READERS);
    achan_broadcast_sender_drop(tx);
    for (int i = 0; i < READERS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(r[i].end, ACHAN_CLOSED);
        assert_int_equal(r[i].count, N);
        assert_int_equal(r[i].sum, (long)N * (N + 1) / 2);
        assert_int_equal(achan_broadcast_receiver_skipped(r[i].rx), 0);
        achan_broadcast_receiver_drop(r[i].rx);
    }
}

/* ---- Tokio's loom_broadcast.rs, on real threads ----
 *
 * Loom runs each model under every interleaving; here each model runs
 * LOOM_ROUNDS times on real threads and the scheduler varies the
 * interleaving. Threads other than the test's own check with TEST_CHECK. */

enum { LOOM_ROUNDS = 200 };

/* Senders pace themselves by round: not at all (receivers fall behind and
 * lag), a yield after each send, or a short sleep after each send (receivers
 * mostly keep up and wait: the wake path). */
static void pace(int round) {
    if (round % 3 == 1)
        sched_yield();
    else if (round % 3 == 2)
        achan_thread_park(50000); /* About 50 us (a stray wake ends it early). */
}

/* What one receiver accounts for until CLOSED: Tokio's `num` counts each
 * value received and each lag's skipped count. Values are 10 * sender +
 * sequence; each sender's must arrive in increasing order. */
typedef struct {
    achan_broadcast_receiver *rx;
    uint64_t received, skipped;
    int last[2];
    bool out_of_order;
} tally;

static void tally_until_closed(tally *t) {
    int v;
    uint64_t skipped;
    achan_status st;
    t->last[0] = 0;
    t->last[1] = 10;
    while ((st = achan_broadcast_recv_blocking(t->rx, &v, &skipped, -1)) != ACHAN_CLOSED) {
        if (st == ACHAN_LAGGED) {
            t->skipped += skipped;
            continue;
        }
        TEST_CHECK(st == ACHAN_OK);
        TEST_CHECK(v / 10 == 0 || v / 10 == 1);
        t->out_of_order |= v <= t->last[v / 10];
        t->last[v / 10] = v;
        t->received++;
    }
}

static void *tally_thread(void *arg) {
    tally_until_closed(arg);
    return NULL;
}

typedef struct {
    achan_broadcast_sender *tx;
    int base, round;
} three_sends;

/* Sends base + 1, base + 2, base + 3, then drops its sender. */
static void *send_three_then_drop(void *arg) {
    three_sends *s = arg;
    for (int i = 1; i <= 3; i++) {
        int v = s->base + i;
        TEST_CHECK(achan_broadcast_send(s->tx, &v, NULL) == ACHAN_OK);
        pace(s->round);
    }
    achan_broadcast_sender_drop(s->tx);
    return NULL;
}

/* Tokio loom broadcast_send (cap 2): two senders on two threads send three
 * values each; the receiver accounts for all 6 (received + skipped), then
 * sees CLOSED. */
static void loom_broadcast_send(void **state) {
    (void)state;
    for (int round = 0; round < LOOM_ROUNDS; round++) {
        achan_broadcast_sender *tx;
        achan_broadcast_receiver *rx;
        assert_int_equal(new_chan(2, &tx, &rx), ACHAN_OK);
        three_sends s[2] = {{tx, 0, round}, {achan_broadcast_sender_clone(tx), 10, round}};
        assert_non_null(s[1].tx);
        pthread_t th[2];
        for (int i = 0; i < 2; i++)
            assert_int_equal(pthread_create(&th[i], NULL, send_three_then_drop, &s[i]), 0);
        tally t = {.rx = rx};
        tally_until_closed(&t);
        for (int i = 0; i < 2; i++)
            pthread_join(th[i], NULL);
        assert_int_equal(t.received + t.skipped, 6);
        assert_int_equal(achan_broadcast_receiver_skipped(rx), t.skipped);
        assert_false(t.out_of_order);
        achan_broadcast_receiver_drop(rx);
    }
}

/* Tokio loom broadcast_wrap (cap 2): three sends wrap the ring while two
 * receivers read on their own threads; each accounts for 3, then CLOSED. */
static void loom_broadcast_wrap(void **state) {
    (void)state;
    for (int round = 0; round < LOOM_ROUNDS; round++) {
        achan_broadcast_sender *tx;
        achan_broadcast_receiver *rx;
        assert_int_equal(new_chan(2, &tx, &rx), ACHAN_OK);
        tally t[2] = {{.rx = rx}, {.rx = achan_broadcast_subscribe(tx)}};
        assert_non_null(t[1].rx);
        pthread_t th[2];
        for (int i = 0; i < 2; i++)
            assert_int_equal(pthread_create(&th[i], NULL, tally_thread, &t[i]), 0);
        for (int v = 1; v <= 3; v++) {
            send_to(tx, v, 2);
            pace(round);
        }
        achan_broadcast_sender_drop(tx);
        for (int i = 0; i < 2; i++) {
            pthread_join(th[i], NULL);
            assert_int_equal(t[i].received + t[i].skipped, 3);
            assert_false(t[i].out_of_order);
            achan_broadcast_receiver_drop(t[i].rx);
        }
    }
}

static void *expect_one_two_three_then_closed(void *arg) {
    achan_broadcast_receiver *rx = arg;
    int v = 0;
    for (int i = 1; i <= 3; i++) {
        TEST_CHECK(achan_broadcast_recv_blocking(rx, &v, NULL, -1) == ACHAN_OK);
        TEST_CHECK(v == i);
    }
    TEST_CHECK(achan_broadcast_recv_blocking(rx, &v, NULL, -1) == ACHAN_CLOSED);
    achan_broadcast_receiver_drop(rx);
    return NULL;
}

static void *drop_receiver(void *arg) {
    achan_broadcast_receiver_drop(arg);
    return NULL;
}

/* Tokio loom drop_rx (cap 16): one receiver reads 1, 2, 3, CLOSED on its
 * thread while the other is dropped on another, during the sends; nothing
 * leaks. */
static void loom_drop_rx(void **state) {
    (void)state;
    test_alloc ta;
    test_alloc_init(&ta);
    achan_opts o = {.item_size = sizeof(int), .capacity = 16, .allocator = &ta.a};
    for (int round = 0; round < LOOM_ROUNDS; round++) {
        achan_broadcast_sender *tx;
        achan_broadcast_receiver *rx1, *rx2;
        assert_int_equal(achan_broadcast_new(&o, &tx, &rx1), ACHAN_OK);
        rx2 = achan_broadcast_subscribe(tx);
        assert_non_null(rx2);
        pthread_t th[2];
        assert_int_equal(pthread_create(&th[0], NULL, expect_one_two_three_then_closed, rx1), 0);
        assert_int_equal(pthread_create(&th[1], NULL, drop_receiver, rx2), 0);
        for (int v = 1; v <= 3; v++) {
            size_t n = 0;
            assert_int_equal(achan_broadcast_send(tx, &v, &n), ACHAN_OK);
            assert_true(n == 1 || n == 2); /* rx2 may be gone already. */
        }
        achan_broadcast_sender_drop(tx);
        for (int i = 0; i < 2; i++)
            pthread_join(th[i], NULL);
        assert_int_equal(test_alloc_live_bytes(&ta), 0);
    }
}

static void *send_hundred_then_drop(void *arg) {
    int v = 0;
    for (int i = 0; i < 100; i++)
        TEST_CHECK(achan_broadcast_send(arg, &v, NULL) == ACHAN_OK);
    achan_broadcast_sender_drop(arg);
    return NULL;
}

static void *recv_while_ok_then_drop(void *arg) {
    int v;
    achan_status st;
    while ((st = achan_broadcast_recv_blocking(arg, &v, NULL, -1)) == ACHAN_OK) {
    }
    TEST_CHECK(st == ACHAN_LAGGED); /* Two sends into one slot before it starts. */
    achan_broadcast_receiver_drop(arg);
    return NULL;
}

/* Tokio loom drop_multiple_rx_with_overflow (cap 1): a second sender
 * overwrites the single slot 100 times on one thread while a lagging
 * receiver reads and is dropped on another; the other receiver stays. No
 * crash, nothing leaked, every send OK (a receiver is always left). */
static void loom_drop_multiple_rx_with_overflow(void **state) {
    (void)state;
    test_alloc ta;
    test_alloc_init(&ta);
    achan_opts o = {.item_size = sizeof(int), .capacity = 1, .allocator = &ta.a};
    for (int round = 0; round < LOOM_ROUNDS; round++) {
        achan_broadcast_sender *tx, *tx2;
        achan_broadcast_receiver *rx, *rx2;
        assert_int_equal(achan_broadcast_new(&o, &tx, &rx), ACHAN_OK);
        rx2 = achan_broadcast_subscribe(tx);
        assert_non_null(rx2);
        send_to(tx, 0, 2);
        tx2 = achan_broadcast_sender_clone(tx);
        assert_non_null(tx2);
        pthread_t th[2];
        assert_int_equal(pthread_create(&th[0], NULL, send_hundred_then_drop, tx2), 0);
        send_int(tx, 0);
        assert_int_equal(pthread_create(&th[1], NULL, recv_while_ok_then_drop, rx), 0);
        for (int i = 0; i < 2; i++)
            pthread_join(th[i], NULL);
        assert_int_equal(achan_broadcast_receiver_count(tx), 1);
        expect_lagged(rx2, 101); /* 102 sent, the last one held. */
        int v = -1;
        assert_int_equal(achan_broadcast_try_recv(rx2, &v, NULL), ACHAN_OK);
        assert_int_equal(v, 0);
        achan_broadcast_sender_drop(tx);
        expect_try(rx2, ACHAN_CLOSED);
        achan_broadcast_receiver_drop(rx2);
        assert_int_equal(test_alloc_live_bytes(&ta), 0);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(new_rejects_bad_arguments),
        cmocka_unit_test(capacity_too_large_to_allocate_is_nomem),
        cmocka_unit_test(every_function_rejects_null),
        cmocka_unit_test(allocation_failure_at_every_point),
        cmocka_unit_test(send_try_recv_bounded),
        cmocka_unit_test(send_two_recv),
        cmocka_unit_test(send_recv_bounded),
        cmocka_unit_test(send_two_recv_bounded),
        cmocka_unit_test(change_tasks),
        cmocka_unit_test(send_slow_rx),
        cmocka_unit_test(drop_rx_while_values_remain),
        cmocka_unit_test(lagging_rx),
        cmocka_unit_test(send_no_rx),
        cmocka_unit_test(dropping_tx_notifies_rx),
        cmocka_unit_test(single_capacity_recvs),
        cmocka_unit_test(single_capacity_recvs_after_drop_1),
        cmocka_unit_test(single_capacity_recvs_after_drop_2),
        cmocka_unit_test(dropping_sender_does_not_overwrite),
        cmocka_unit_test(lagging_receiver_recovers_after_wrap_closed_1),
        cmocka_unit_test(lagging_receiver_recovers_after_wrap_closed_2),
        cmocka_unit_test(lagging_receiver_recovers_after_wrap_open),
        cmocka_unit_test(receiver_len_with_lagged),
        cmocka_unit_test(resubscribe_points_to_tail),
        cmocka_unit_test(resubscribe_lagged),
        cmocka_unit_test(resubscribe_to_closed_channel),
        cmocka_unit_test(slow_receiver_within_capacity_does_not_lag),
        cmocka_unit_test(capacity_overflow_reports_lagged_then_oldest_retained),
        cmocka_unit_test(lagged_count_matches_number_of_overwritten_messages),
        cmocka_unit_test(lag_uses_power_of_two_buffer_length),
        cmocka_unit_test(capacity_rounds_up_to_power_of_two),
        cmocka_unit_test(poll_recv_lagged_then_resumes_from_oldest_retained),
        cmocka_unit_test(lag_catch_up_then_lag_again),
        cmocka_unit_test(lag_is_per_receiver),
        cmocka_unit_test(lag_again_before_reading_retained_messages),
        cmocka_unit_test(single_slot_capacity_lag_semantics),
        cmocka_unit_test(receiver_len_after_lag_error_advances_cursor),
        cmocka_unit_test(receiver_len_random),
        cmocka_unit_test(receiver_count),
        cmocka_unit_test(sender_clones_share_the_channel),
        cmocka_unit_test(item_drop_is_ignored),
        cmocka_unit_test(items_of_any_size_are_copied_whole),
        cmocka_unit_test(poll_recv_registers_and_send_wakes),
        cmocka_unit_test(repoll_keeps_same_waker_replaces_other),
        cmocka_unit_test(receiver_drop_releases_waker),
        cmocka_unit_test(one_send_wakes_every_waiting_receiver),
        cmocka_unit_test(recheck_after_register_finds_message),
        cmocka_unit_test(send_in_waker_drop),
        cmocka_unit_test(stream_reports_lag_then_continues_then_ends),
        cmocka_unit_test(recv_blocking_times_out_and_passes_lag_through),
        cmocka_unit_test(timed_out_blocking_recv_unregisters),
        cmocka_unit_test(blocking_receivers_on_threads),
        cmocka_unit_test(loom_broadcast_send),
        cmocka_unit_test(loom_broadcast_wrap),
        cmocka_unit_test(loom_drop_rx),
        cmocka_unit_test(loom_drop_multiple_rx_with_overflow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
