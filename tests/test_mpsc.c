/* test_mpsc.c - conformance: achan's mpsc behaves as Tokio's mpsc.
 *
 * Each test states one observable rule; names follow Tokio's
 * tests/sync_mpsc.rs where a test there pins the same behaviour.
 */
#include "test_support.h"

#include <pthread.h>
#include <string.h>

/* ---- helpers ---- */

static achan_status new_chan(size_t cap, achan_mpsc_sender **tx, achan_mpsc_receiver **rx) {
    achan_opts o = {.item_size = sizeof(int), .capacity = cap};
    return achan_mpsc_new(&o, tx, rx);
}

static achan_status send_int(achan_mpsc_sender *tx, int v) { return achan_mpsc_try_send(tx, &v); }

static int recv_int(achan_mpsc_receiver *rx) {
    int v = -1;
    assert_int_equal(achan_mpsc_try_recv(rx, &v), ACHAN_OK);
    return v;
}

static achan_status poll_recv_with(achan_mpsc_receiver *rx, test_waker *t, int *out) {
    achan_waker w = test_waker_get(t);
    achan_context cx = {&w};
    return achan_mpsc_poll_recv(rx, &cx, out);
}

static achan_status poll_send_with(achan_mpsc_sender *tx, test_waker *t, int v) {
    achan_waker w = test_waker_get(t);
    achan_context cx = {&w};
    return achan_mpsc_poll_send(tx, &cx, &v);
}

/* Both flavours, for the rules they share. */
static const size_t caps[] = {16, 0};

/* ---- creation and bad input ---- */

static void new_rejects_bad_arguments(void **state) {
    (void)state;
    achan_mpsc_sender *tx = (achan_mpsc_sender *)0x1;
    achan_mpsc_receiver *rx = (achan_mpsc_receiver *)0x1;
    achan_opts ok = {.item_size = 4, .capacity = 4};
    achan_opts zero = {.item_size = 0, .capacity = 4};
    achan_opts huge = {.item_size = 4, .capacity = SIZE_MAX};
    achan_opts huge_item = {.item_size = SIZE_MAX - 8, .capacity = 4};
    achan_allocator half = {NULL, NULL, NULL};
    achan_opts bad_alloc = {.item_size = 4, .allocator = &half};
    assert_int_equal(achan_mpsc_new(NULL, &tx, &rx), ACHAN_INVALID);
    assert_int_equal(achan_mpsc_new(&ok, NULL, &rx), ACHAN_INVALID);
    assert_int_equal(achan_mpsc_new(&ok, &tx, NULL), ACHAN_INVALID);
    assert_int_equal(achan_mpsc_new(&zero, &tx, &rx), ACHAN_INVALID);
    assert_int_equal(achan_mpsc_new(&huge, &tx, &rx), ACHAN_INVALID);
    assert_int_equal(achan_mpsc_new(&huge_item, &tx, &rx), ACHAN_INVALID);
    assert_int_equal(achan_mpsc_new(&bad_alloc, &tx, &rx), ACHAN_INVALID);
    /* Nothing was written on failure. */
    assert_ptr_equal(tx, (achan_mpsc_sender *)0x1);
    assert_ptr_equal(rx, (achan_mpsc_receiver *)0x1);
}

static void every_function_rejects_null(void **state) {
    (void)state;
    achan_mpsc_sender *tx;
    achan_mpsc_receiver *rx;
    assert_int_equal(new_chan(2, &tx, &rx), ACHAN_OK);
    int v = 1;
    achan_waker w = achan_waker_noop();
    achan_context cx = {&w}, nocx = {NULL};
    achan_status st = ACHAN_OK;
    assert_int_equal(achan_mpsc_try_send(NULL, &v), ACHAN_INVALID);
    assert_int_equal(achan_mpsc_try_send(tx, NULL), ACHAN_INVALID);
    assert_int_equal(achan_mpsc_poll_send(NULL, &cx, &v), ACHAN_INVALID);
    assert_int_equal(achan_mpsc_poll_send(tx, NULL, &v), ACHAN_INVALID);
    assert_int_equal(achan_mpsc_poll_send(tx, &nocx, &v), ACHAN_INVALID);
    assert_int_equal(achan_mpsc_poll_send(tx, &cx, NULL), ACHAN_INVALID);
    assert_int_equal(achan_mpsc_send_blocking(NULL, &v, 0), ACHAN_INVALID);
    assert_int_equal(achan_mpsc_send_blocking(tx, NULL, 0), ACHAN_INVALID);
    assert_int_equal(achan_mpsc_try_recv(NULL, &v), ACHAN_INVALID);
    assert_int_equal(achan_mpsc_try_recv(rx, NULL), ACHAN_INVALID);
    assert_int_equal(achan_mpsc_poll_recv(NULL, &cx, &v), ACHAN_INVALID);
    assert_int_equal(achan_mpsc_poll_recv(rx, NULL, &v), ACHAN_INVALID);
    assert_int_equal(achan_mpsc_poll_recv(rx, &nocx, &v), ACHAN_INVALID);
    assert_int_equal(achan_mpsc_poll_recv(rx, &cx, NULL), ACHAN_INVALID);
    assert_int_equal(achan_mpsc_recv_blocking(NULL, &v, 0), ACHAN_INVALID);
    assert_int_equal(achan_mpsc_recv_blocking(rx, NULL, 0), ACHAN_INVALID);
    assert_int_equal(achan_mpsc_poll_recv_many(NULL, &cx, &v, 1, &st), 0);
    assert_int_equal(st, ACHAN_INVALID);
    st = ACHAN_OK;
    assert_int_equal(achan_mpsc_poll_recv_many(rx, &cx, &v, 0, &st), 0);
    assert_int_equal(st, ACHAN_INVALID);
    assert_int_equal(achan_mpsc_poll_recv_many(rx, &cx, NULL, 1, NULL), 0);
    assert_null(achan_mpsc_sender_clone(NULL));
    assert_null(achan_mpsc_receiver_stream(NULL));
    assert_int_equal(achan_mpsc_len(NULL), 0);
    assert_int_equal(achan_mpsc_capacity(NULL), 0);
    assert_true(achan_mpsc_sender_is_closed(NULL));
    achan_mpsc_sender_drop(NULL);
    achan_mpsc_receiver_drop(NULL);
    achan_mpsc_receiver_close(NULL);
    achan_mpsc_poll_send_cancel(NULL);
    /* The channel is untouched by all of the above. */
    assert_int_equal(send_int(tx, 7), ACHAN_OK);
    assert_int_equal(recv_int(rx), 7);
    achan_mpsc_sender_drop(tx);
    achan_mpsc_receiver_drop(rx);
}

/* ---- sending and receiving ---- */

/* Tokio send_recv_with_buffer / send_recv_unbounded. */
static void send_recv_then_closed_after_last_sender(void **state) {
    (void)state;
    for (size_t i = 0; i < 2; i++) {
        achan_mpsc_sender *tx;
        achan_mpsc_receiver *rx;
        assert_int_equal(new_chan(caps[i], &tx, &rx), ACHAN_OK);
        assert_int_equal(send_int(tx, 1), ACHAN_OK);
        assert_int_equal(send_int(tx, 2), ACHAN_OK);
        achan_mpsc_sender_drop(tx);
        assert_int_equal(recv_int(rx), 1);
        assert_int_equal(recv_int(rx), 2);
        int v;
        assert_int_equal(achan_mpsc_try_recv(rx, &v), ACHAN_CLOSED);
        assert_int_equal(achan_mpsc_try_recv(rx, &v), ACHAN_CLOSED);
        achan_mpsc_receiver_drop(rx);
    }
}

/* Capacity is exact: capacity n holds n items, not a power of two. */
static void bounded_capacity_is_exact(void **state) {
    (void)state;
    const size_t sizes[] = {1, 2, 3, 5, 7, 16, 100, 1000, 1023, 1024, 1025};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        size_t cap = sizes[s];
        achan_mpsc_sender *tx;
        achan_mpsc_receiver *rx;
        assert_int_equal(new_chan(cap, &tx, &rx), ACHAN_OK);
        /* Go around the ring a few times at full occupancy. */
        int next_send = 0, next_recv = 0;
        for (int round = 0; round < 3; round++) {
            for (size_t i = 0; i < cap; i++)
                assert_int_equal(send_int(tx, next_send++), ACHAN_OK);
            assert_int_equal(achan_mpsc_len(rx), cap);
            assert_int_equal(achan_mpsc_capacity(tx), 0);
            assert_int_equal(send_int(tx, -1), ACHAN_FULL);
            assert_int_equal(recv_int(rx), next_recv++);
            assert_int_equal(achan_mpsc_capacity(tx), 1);
            assert_int_equal(send_int(tx, next_send++), ACHAN_OK);
            assert_int_equal(send_int(tx, -1), ACHAN_FULL);
            for (size_t i = 0; i < cap; i++)
                assert_int_equal(recv_int(rx), next_recv++);
            int v;
            assert_int_equal(achan_mpsc_try_recv(rx, &v), ACHAN_EMPTY);
        }
        achan_mpsc_sender_drop(tx);
        achan_mpsc_receiver_drop(rx);
    }
}

/* Tokio try_send_fail. */
static void try_send_full_then_ok_after_recv(void **state) {
    (void)state;
    achan_mpsc_sender *tx;
    achan_mpsc_receiver *rx;
    assert_int_equal(new_chan(1, &tx, &rx), ACHAN_OK);
    assert_int_equal(send_int(tx, 10), ACHAN_OK);
    assert_int_equal(send_int(tx, 11), ACHAN_FULL);
    assert_int_equal(recv_int(rx), 10);
    assert_int_equal(send_int(tx, 12), ACHAN_OK);
    achan_mpsc_sender_drop(tx);
    assert_int_equal(recv_int(rx), 12);
    int v;
    assert_int_equal(achan_mpsc_try_recv(rx, &v), ACHAN_CLOSED);
    achan_mpsc_receiver_drop(rx);
}

/* Tokio try_recv_bounded. */
static void try_recv_bounded(void **state) {
    (void)state;
    achan_mpsc_sender *tx;
    achan_mpsc_receiver *rx;
    int v;
    assert_int_equal(new_chan(5, &tx, &rx), ACHAN_OK);
    for (int i = 0; i < 5; i++)
        assert_int_equal(send_int(tx, i), ACHAN_OK);
    assert_int_equal(send_int(tx, 5), ACHAN_FULL);
    for (int i = 0; i < 5; i++)
        assert_int_equal(recv_int(rx), i);
    assert_int_equal(achan_mpsc_try_recv(rx, &v), ACHAN_EMPTY);
    /* Interleaved refills. */
    for (int i = 0; i < 3; i++)
        assert_int_equal(send_int(tx, 100 + i), ACHAN_OK);
    assert_int_equal(recv_int(rx), 100);
    assert_int_equal(send_int(tx, 103), ACHAN_OK);
    for (int i = 101; i <= 103; i++)
        assert_int_equal(recv_int(rx), i);
    assert_int_equal(achan_mpsc_try_recv(rx, &v), ACHAN_EMPTY);
    for (int i = 0; i < 3; i++)
        assert_int_equal(send_int(tx, 200 + i), ACHAN_OK);
    achan_mpsc_sender_drop(tx);
    for (int i = 0; i < 3; i++)
        assert_int_equal(recv_int(rx), 200 + i);
    assert_int_equal(achan_mpsc_try_recv(rx, &v), ACHAN_CLOSED);
    achan_mpsc_receiver_drop(rx);
}

/* Tokio try_recv_unbounded: n sends, n receives in order, EMPTY; crosses
 * many segment boundaries. */
static void try_recv_unbounded(void **state) {
    (void)state;
    achan_mpsc_sender *tx;
    achan_mpsc_receiver *rx;
    int v;
    assert_int_equal(new_chan(0, &tx, &rx), ACHAN_OK);
    assert_int_equal(achan_mpsc_capacity(tx), SIZE_MAX);
    for (int n = 0; n < 300; n += 7) {
        for (int i = 0; i < n; i++)
            assert_int_equal(send_int(tx, i), ACHAN_OK);
        assert_int_equal(achan_mpsc_len(rx), (size_t)n);
        for (int i = 0; i < n; i++)
            assert_int_equal(recv_int(rx), i);
        assert_int_equal(achan_mpsc_try_recv(rx, &v), ACHAN_EMPTY);
    }
    achan_mpsc_sender_drop(tx);
    assert_int_equal(achan_mpsc_try_recv(rx, &v), ACHAN_CLOSED);
    achan_mpsc_receiver_drop(rx);
}

/* Tokio tx_close_gets_none / try_recv_close_while_empty. */
static void dropping_every_sender_closes(void **state) {
    (void)state;
    for (size_t i = 0; i < 2; i++) {
        achan_mpsc_sender *tx;
        achan_mpsc_receiver *rx;
        int v;
        assert_int_equal(new_chan(caps[i], &tx, &rx), ACHAN_OK);
        achan_mpsc_sender *tx2 = achan_mpsc_sender_clone(tx);
        assert_non_null(tx2);
        assert_int_equal(achan_mpsc_try_recv(rx, &v), ACHAN_EMPTY);
        achan_mpsc_sender_drop(tx);
        assert_int_equal(achan_mpsc_try_recv(rx, &v), ACHAN_EMPTY);
        assert_int_equal(send_int(tx2, 5), ACHAN_OK);
        achan_mpsc_sender_drop(tx2);
        assert_int_equal(recv_int(rx), 5);
        assert_int_equal(achan_mpsc_try_recv(rx, &v), ACHAN_CLOSED);
        achan_mpsc_receiver_drop(rx);
    }
}

/* ---- wakers ---- */

/* PENDING registers the waker; one send wakes it; the next poll gets the item. */
static void poll_recv_registers_and_send_wakes(void **state) {
    (void)state;
    for (size_t i = 0; i < 2; i++) {
        achan_mpsc_sender *tx;
        achan_mpsc_receiver *rx;
        test_waker t = {0};
        int v;
        assert_int_equal(new_chan(caps[i], &tx, &rx), ACHAN_OK);
        assert_int_equal(poll_recv_with(rx, &t, &v), ACHAN_PENDING);
        assert_int_equal(test_waker_live(&t), 1);
        assert_int_equal(test_waker_wakes(&t), 0);
        assert_int_equal(send_int(tx, 9), ACHAN_OK);
        assert_int_equal(test_waker_wakes(&t), 1);
        assert_int_equal(test_waker_live(&t), 0); /* The wake consumed the clone. */
        assert_int_equal(send_int(tx, 10), ACHAN_OK);
        assert_int_equal(test_waker_wakes(&t), 1); /* Nobody registered: no wake. */
        assert_int_equal(poll_recv_with(rx, &t, &v), ACHAN_OK);
        assert_int_equal(v, 9);
        assert_int_equal(poll_recv_with(rx, &t, &v), ACHAN_OK);
        assert_int_equal(v, 10);
        achan_mpsc_sender_drop(tx);
        achan_mpsc_receiver_drop(rx);
        assert_int_equal(test_waker_live(&t), 0);
    }
}

/* Re-polling with another waker replaces the first (Tokio: only the most
 * recent waker is woken). */
static void repoll_with_new_waker_replaces_old(void **state) {
    (void)state;
    achan_mpsc_sender *tx;
    achan_mpsc_receiver *rx;
    test_waker a = {0}, b = {0};
    int v;
    assert_int_equal(new_chan(4, &tx, &rx), ACHAN_OK);
    assert_int_equal(poll_recv_with(rx, &a, &v), ACHAN_PENDING);
    assert_int_equal(poll_recv_with(rx, &a, &v), ACHAN_PENDING);
    assert_int_equal(test_waker_live(&a), 1); /* Same waker: kept, not cloned again. */
    assert_int_equal(poll_recv_with(rx, &b, &v), ACHAN_PENDING);
    assert_int_equal(test_waker_live(&a), 0); /* Replaced and dropped. */
    assert_int_equal(test_waker_live(&b), 1);
    assert_int_equal(send_int(tx, 1), ACHAN_OK);
    assert_int_equal(test_waker_wakes(&a), 0);
    assert_int_equal(test_waker_wakes(&b), 1);
    achan_mpsc_sender_drop(tx);
    achan_mpsc_receiver_drop(rx);
    assert_int_equal(test_waker_live(&b), 0);
}

/* Tokio release_waker_on_rx_drop: dropping the receiver releases its waker. */
static void receiver_drop_releases_waker(void **state) {
    (void)state;
    achan_mpsc_sender *tx;
    achan_mpsc_receiver *rx;
    test_waker t = {0};
    int v;
    assert_int_equal(new_chan(0, &tx, &rx), ACHAN_OK);
    assert_int_equal(poll_recv_with(rx, &t, &v), ACHAN_PENDING);
    assert_int_equal(test_waker_live(&t), 1);
    achan_mpsc_receiver_drop(rx);
    assert_int_equal(test_waker_live(&t), 0);
    assert_int_equal(send_int(tx, 1), ACHAN_CLOSED);
    achan_mpsc_sender_drop(tx);
}

/* Tokio dropping_tx_notifies_rx (for mpsc): the receiver is woken by the
 * last sender's drop, not by an earlier one. */
static void last_sender_drop_wakes_receiver(void **state) {
    (void)state;
    for (size_t i = 0; i < 2; i++) {
        achan_mpsc_sender *tx;
        achan_mpsc_receiver *rx;
        test_waker t = {0};
        int v;
        assert_int_equal(new_chan(caps[i], &tx, &rx), ACHAN_OK);
        achan_mpsc_sender *tx2 = achan_mpsc_sender_clone(tx);
        assert_int_equal(poll_recv_with(rx, &t, &v), ACHAN_PENDING);
        achan_mpsc_sender_drop(tx);
        assert_int_equal(test_waker_wakes(&t), 0);
        achan_mpsc_sender_drop(tx2);
        assert_int_equal(test_waker_wakes(&t), 1);
        assert_int_equal(poll_recv_with(rx, &t, &v), ACHAN_CLOSED);
        assert_int_equal(poll_recv_with(rx, &t, &v), ACHAN_CLOSED);
        achan_mpsc_receiver_drop(rx);
        assert_int_equal(test_waker_live(&t), 0);
    }
}

/* ---- waiting senders: FIFO and grants ---- */

/* Tokio start_send_past_cap / send_recv_buffer_limited: waiting senders are
 * served in order; the freed slot belongs to the first waiter, so try_send
 * (even on that waiter's own handle) is FULL until it polls. */
static void waiting_senders_are_served_fifo(void **state) {
    (void)state;
    achan_mpsc_sender *tx1, *tx2, *tx3;
    achan_mpsc_receiver *rx;
    test_waker w2 = {0}, w3 = {0};
    int v;
    assert_int_equal(new_chan(1, &tx1, &rx), ACHAN_OK);
    tx2 = achan_mpsc_sender_clone(tx1);
    tx3 = achan_mpsc_sender_clone(tx1);
    assert_int_equal(send_int(tx1, 1), ACHAN_OK);
    assert_int_equal(poll_send_with(tx2, &w2, 2), ACHAN_PENDING);
    assert_int_equal(poll_send_with(tx3, &w3, 3), ACHAN_PENDING);
    assert_int_equal(test_waker_live(&w2), 1);
    assert_int_equal(test_waker_live(&w3), 1);

    assert_int_equal(recv_int(rx), 1);
    assert_int_equal(test_waker_wakes(&w2), 1); /* First waiter woken ... */
    assert_int_equal(test_waker_wakes(&w3), 0); /* ... not the second. */
    assert_int_equal(send_int(tx1, 99), ACHAN_FULL); /* No barging. */
    assert_int_equal(send_int(tx2, 99), ACHAN_FULL); /* Not even the waiter's own handle. */
    assert_int_equal(achan_mpsc_capacity(tx1), 0);
    assert_int_equal(achan_mpsc_try_recv(rx, &v), ACHAN_EMPTY);
    assert_int_equal(poll_send_with(tx2, &w2, 2), ACHAN_OK);

    assert_int_equal(recv_int(rx), 2);
    assert_int_equal(test_waker_wakes(&w3), 1);
    assert_int_equal(poll_send_with(tx3, &w3, 3), ACHAN_OK);
    assert_int_equal(recv_int(rx), 3);
    /* Queue empty again: the fast path is back. */
    assert_int_equal(send_int(tx1, 4), ACHAN_OK);
    assert_int_equal(recv_int(rx), 4);

    achan_mpsc_sender_drop(tx1);
    achan_mpsc_sender_drop(tx2);
    achan_mpsc_sender_drop(tx3);
    assert_int_equal(achan_mpsc_try_recv(rx, &v), ACHAN_CLOSED);
    achan_mpsc_receiver_drop(rx);
    assert_int_equal(test_waker_live(&w2), 0);
    assert_int_equal(test_waker_live(&w3), 0);
}

/* A waiter that leaves (drop or cancel) passes a granted slot on. */
static void dropped_waiter_passes_its_grant_on(void **state) {
    (void)state;
    for (int use_cancel = 0; use_cancel < 2; use_cancel++) {
        achan_mpsc_sender *tx1, *tx2, *tx3;
        achan_mpsc_receiver *rx;
        test_waker w2 = {0}, w3 = {0};
        assert_int_equal(new_chan(1, &tx1, &rx), ACHAN_OK);
        tx2 = achan_mpsc_sender_clone(tx1);
        tx3 = achan_mpsc_sender_clone(tx1);
        assert_int_equal(send_int(tx1, 1), ACHAN_OK);
        assert_int_equal(poll_send_with(tx2, &w2, 2), ACHAN_PENDING);
        assert_int_equal(poll_send_with(tx3, &w3, 3), ACHAN_PENDING);
        assert_int_equal(recv_int(rx), 1); /* Grants the slot to tx2. */
        assert_int_equal(test_waker_wakes(&w3), 0);
        if (use_cancel) {
            achan_mpsc_poll_send_cancel(tx2);
        } else {
            achan_mpsc_sender_drop(tx2);
            tx2 = NULL;
        }
        assert_int_equal(test_waker_wakes(&w3), 1);
        assert_int_equal(poll_send_with(tx3, &w3, 3), ACHAN_OK);
        assert_int_equal(recv_int(rx), 3);
        if (tx2) /* The cancelled sender is idle and usable again. */
            assert_int_equal(send_int(tx2, 22), ACHAN_OK);
        achan_mpsc_sender_drop(tx1);
        achan_mpsc_sender_drop(tx2);
        achan_mpsc_sender_drop(tx3);
        achan_mpsc_receiver_drop(rx);
        assert_int_equal(test_waker_live(&w2), 0);
        assert_int_equal(test_waker_live(&w3), 0);
    }
}

/* Only the slots granted to waiters are reserved: with the queue empty, a
 * try_send takes any other free slot (Tokio: an unassigned permit), and
 * capacity() agrees with what try_send can do. */
static void unreserved_free_slots_stay_usable(void **state) {
    (void)state;
    achan_mpsc_sender *tx1, *tx2;
    achan_mpsc_receiver *rx;
    test_waker w2 = {0};
    int v;
    assert_int_equal(new_chan(4, &tx1, &rx), ACHAN_OK);
    tx2 = achan_mpsc_sender_clone(tx1);
    for (int i = 0; i < 4; i++)
        assert_int_equal(send_int(tx1, i), ACHAN_OK);
    assert_int_equal(poll_send_with(tx2, &w2, 100), ACHAN_PENDING);
    for (int i = 0; i < 4; i++) /* Frees 4 slots: one is granted to tx2. */
        assert_int_equal(recv_int(rx), i);
    assert_int_equal(test_waker_wakes(&w2), 1);
    assert_int_equal(achan_mpsc_capacity(tx1), 3);
    for (int i = 0; i < 3; i++)
        assert_int_equal(send_int(tx1, 10 + i), ACHAN_OK);
    assert_int_equal(achan_mpsc_capacity(tx1), 0);
    assert_int_equal(send_int(tx1, 99), ACHAN_FULL); /* The last one is tx2's. */
    assert_int_equal(poll_send_with(tx2, &w2, 100), ACHAN_OK);
    for (int i = 0; i < 3; i++)
        assert_int_equal(recv_int(rx), 10 + i);
    assert_int_equal(recv_int(rx), 100);
    assert_int_equal(achan_mpsc_try_recv(rx, &v), ACHAN_EMPTY);
    achan_mpsc_sender_drop(tx1);
    achan_mpsc_sender_drop(tx2);
    achan_mpsc_receiver_drop(rx);
    assert_int_equal(test_waker_live(&w2), 0);
}

/* ---- closing ---- */

/* Tokio recv_close_gets_none_idle + receiver close semantics: buffered items
 * stay receivable, sends fail and the sender keeps its item. */
static void receiver_close_refuses_sends_keeps_items(void **state) {
    (void)state;
    for (size_t i = 0; i < 2; i++) {
        achan_mpsc_sender *tx;
        achan_mpsc_receiver *rx;
        int v;
        assert_int_equal(new_chan(caps[i], &tx, &rx), ACHAN_OK);
        assert_false(achan_mpsc_sender_is_closed(tx));
        assert_int_equal(send_int(tx, 1), ACHAN_OK);
        achan_mpsc_receiver_close(rx);
        achan_mpsc_receiver_close(rx); /* Idempotent. */
        assert_true(achan_mpsc_sender_is_closed(tx));
        assert_int_equal(send_int(tx, 2), ACHAN_CLOSED);
        assert_int_equal(achan_mpsc_send_blocking(tx, &v, -1), ACHAN_CLOSED);
        assert_int_equal(recv_int(rx), 1);
        assert_int_equal(achan_mpsc_try_recv(rx, &v), ACHAN_CLOSED);
        assert_int_equal(achan_mpsc_recv_blocking(rx, &v, -1), ACHAN_CLOSED);
        achan_mpsc_sender_drop(tx);
        achan_mpsc_receiver_drop(rx);
    }
}

/* Closing wakes every waiting sender; their next poll_send is CLOSED. */
static void receiver_close_wakes_waiting_senders(void **state) {
    (void)state;
    achan_mpsc_sender *tx, *tx2;
    achan_mpsc_receiver *rx;
    test_waker w = {0};
    int v;
    assert_int_equal(new_chan(1, &tx, &rx), ACHAN_OK);
    tx2 = achan_mpsc_sender_clone(tx);
    assert_int_equal(send_int(tx, 1), ACHAN_OK);
    assert_int_equal(poll_send_with(tx2, &w, 2), ACHAN_PENDING);
    achan_mpsc_receiver_close(rx);
    assert_int_equal(test_waker_wakes(&w), 1);
    assert_int_equal(poll_send_with(tx2, &w, 2), ACHAN_CLOSED);
    assert_int_equal(recv_int(rx), 1);
    assert_int_equal(achan_mpsc_try_recv(rx, &v), ACHAN_CLOSED);
    achan_mpsc_sender_drop(tx);
    achan_mpsc_sender_drop(tx2);
    achan_mpsc_receiver_drop(rx);
    assert_int_equal(test_waker_live(&w), 0);
}

/* Tokio recv_close_gets_none_reserved: a send granted its slot before the
 * close still goes through, and the receiver waits for it. */
static void send_granted_before_close_is_delivered(void **state) {
    (void)state;
    achan_mpsc_sender *tx, *tx2;
    achan_mpsc_receiver *rx;
    test_waker ws = {0}, wr = {0};
    int v;
    assert_int_equal(new_chan(1, &tx, &rx), ACHAN_OK);
    tx2 = achan_mpsc_sender_clone(tx);
    assert_int_equal(send_int(tx, 1), ACHAN_OK);
    assert_int_equal(poll_send_with(tx2, &ws, 123), ACHAN_PENDING);
    assert_int_equal(recv_int(rx), 1); /* Grants the slot to tx2. */
    achan_mpsc_receiver_close(rx);
    assert_int_equal(poll_recv_with(rx, &wr, &v), ACHAN_PENDING);
    assert_int_equal(poll_send_with(tx2, &ws, 123), ACHAN_OK);
    assert_int_equal(test_waker_wakes(&wr), 1);
    assert_int_equal(poll_recv_with(rx, &wr, &v), ACHAN_OK);
    assert_int_equal(v, 123);
    assert_int_equal(poll_recv_with(rx, &wr, &v), ACHAN_CLOSED);
    achan_mpsc_sender_drop(tx);
    achan_mpsc_sender_drop(tx2);
    achan_mpsc_receiver_drop(rx);
}

/* ... and if that sender gives the grant up instead, the receiver is woken
 * and sees CLOSED (Tokio cancelled_reserve_wakes_closed_receiver). */
static void cancelled_grant_after_close_wakes_receiver(void **state) {
    (void)state;
    achan_mpsc_sender *tx, *tx2;
    achan_mpsc_receiver *rx;
    test_waker ws = {0}, wr = {0};
    int v;
    assert_int_equal(new_chan(1, &tx, &rx), ACHAN_OK);
    tx2 = achan_mpsc_sender_clone(tx);
    assert_int_equal(send_int(tx, 1), ACHAN_OK);
    assert_int_equal(poll_send_with(tx2, &ws, 5), ACHAN_PENDING);
    assert_int_equal(recv_int(rx), 1);
    achan_mpsc_receiver_close(rx);
    assert_int_equal(poll_recv_with(rx, &wr, &v), ACHAN_PENDING);
    achan_mpsc_poll_send_cancel(tx2);
    assert_int_equal(test_waker_wakes(&wr), 1);
    assert_int_equal(poll_recv_with(rx, &wr, &v), ACHAN_CLOSED);
    achan_mpsc_sender_drop(tx);
    achan_mpsc_sender_drop(tx2);
    achan_mpsc_receiver_drop(rx);
}

/* After the receiver is dropped, every send is CLOSED and keeps its item. */
static void sends_after_receiver_drop_are_closed(void **state) {
    (void)state;
    for (size_t i = 0; i < 2; i++) {
        achan_mpsc_sender *tx;
        achan_mpsc_receiver *rx;
        test_waker w = {0};
        assert_int_equal(new_chan(caps[i], &tx, &rx), ACHAN_OK);
        achan_mpsc_receiver_drop(rx);
        assert_true(achan_mpsc_sender_is_closed(tx));
        assert_int_equal(send_int(tx, 1), ACHAN_CLOSED);
        assert_int_equal(poll_send_with(tx, &w, 1), ACHAN_CLOSED);
        int v = 3;
        assert_int_equal(achan_mpsc_send_blocking(tx, &v, -1), ACHAN_CLOSED);
        achan_mpsc_sender_drop(tx);
        assert_int_equal(test_waker_live(&w), 0);
    }
}

/* ---- item_drop ---- */

typedef struct {
    int count;
    int seen[512];
} drop_log;

static void log_drop(void *item, void *user) {
    drop_log *d = user;
    d->seen[d->count++] = *(int *)item;
}

/* Tokio test_msgs_dropped_on_rx_drop: items never received go to item_drop,
 * each exactly once; items received or refused do not. */
static void unreceived_items_are_dropped_exactly_once(void **state) {
    (void)state;
    const size_t cs[] = {3, 0, 300};
    for (size_t i = 0; i < 3; i++) {
        drop_log d = {0};
        achan_opts o = {.item_size = sizeof(int), .capacity = cs[i], .item_drop = log_drop,
                        .user = &d};
        achan_mpsc_sender *tx;
        achan_mpsc_receiver *rx;
        assert_int_equal(achan_mpsc_new(&o, &tx, &rx), ACHAN_OK);
        int n = cs[i] == 3 ? 3 : 200;
        for (int k = 0; k < n; k++)
            assert_int_equal(send_int(tx, k), ACHAN_OK);
        assert_int_equal(recv_int(rx), 0);
        assert_int_equal(recv_int(rx), 1);
        achan_mpsc_receiver_drop(rx);
        assert_int_equal(d.count, n - 2);
        for (int k = 2; k < n; k++)
            assert_int_equal(d.seen[k - 2], k);
        assert_int_equal(send_int(tx, 1000), ACHAN_CLOSED); /* Refused: not dropped. */
        achan_mpsc_sender_drop(tx);
        assert_int_equal(d.count, n - 2);
    }
}

/* Dropping the senders first, then the receiver, also drops what is left. */
static void items_left_when_both_sides_go_are_dropped(void **state) {
    (void)state;
    for (size_t i = 0; i < 2; i++) {
        drop_log d = {0};
        achan_opts o = {.item_size = sizeof(int), .capacity = caps[i] ? 400 : 0,
                        .item_drop = log_drop, .user = &d};
        achan_mpsc_sender *tx;
        achan_mpsc_receiver *rx;
        assert_int_equal(achan_mpsc_new(&o, &tx, &rx), ACHAN_OK);
        for (int k = 0; k < 333; k++)
            assert_int_equal(send_int(tx, k), ACHAN_OK);
        achan_mpsc_sender_drop(tx);
        achan_mpsc_receiver_drop(rx);
        assert_int_equal(d.count, 333);
        for (int k = 0; k < 333; k++)
            assert_int_equal(d.seen[k], k);
    }
}

/* ---- len, capacity, recv_many ---- */

/* Tokio test_tx_capacity / test_rx_len. */
static void len_and_capacity_track_the_buffer(void **state) {
    (void)state;
    achan_mpsc_sender *tx;
    achan_mpsc_receiver *rx;
    assert_int_equal(new_chan(100, &tx, &rx), ACHAN_OK);
    assert_int_equal(achan_mpsc_len(rx), 0);
    assert_int_equal(achan_mpsc_capacity(tx), 100);
    for (int i = 0; i < 100; i++) {
        assert_int_equal(send_int(tx, i), ACHAN_OK);
        assert_int_equal(achan_mpsc_len(rx), (size_t)i + 1);
        assert_int_equal(achan_mpsc_capacity(tx), (size_t)(99 - i));
    }
    for (int i = 0; i < 100; i++) {
        assert_int_equal(recv_int(rx), i);
        assert_int_equal(achan_mpsc_len(rx), (size_t)(99 - i));
    }
    assert_int_equal(send_int(tx, 1), ACHAN_OK);
    achan_mpsc_receiver_close(rx);
    assert_int_equal(achan_mpsc_len(rx), 1); /* Close keeps the item. */
    achan_mpsc_sender_drop(tx);
    assert_int_equal(achan_mpsc_len(rx), 1);
    achan_mpsc_receiver_drop(rx);
}

/* Tokio test_is_empty_32_msgs: len is 0 after every matched send/recv,
 * across block (here: segment and lap) boundaries. */
static void len_zero_after_each_roundtrip(void **state) {
    (void)state;
    for (size_t c = 0; c < 2; c++) {
        achan_mpsc_sender *tx;
        achan_mpsc_receiver *rx;
        assert_int_equal(new_chan(c ? 33 : 0, &tx, &rx), ACHAN_OK);
        for (int i = 1; i < 257; i++) {
            assert_int_equal(send_int(tx, i), ACHAN_OK);
            assert_int_equal(recv_int(rx), i);
            assert_int_equal(achan_mpsc_len(rx), 0);
        }
        achan_mpsc_sender_drop(tx);
        achan_mpsc_receiver_drop(rx);
    }
}

/* Tokio send_recv_many_*: returns what is ready, up to max; PENDING when
 * none; CLOSED when closed and drained. */
static void poll_recv_many_takes_what_is_ready(void **state) {
    (void)state;
    for (size_t c = 0; c < 2; c++) {
        achan_mpsc_sender *tx;
        achan_mpsc_receiver *rx;
        test_waker t = {0};
        achan_waker w = test_waker_get(&t);
        achan_context cx = {&w};
        achan_status st;
        int buf[8];
        assert_int_equal(new_chan(caps[c], &tx, &rx), ACHAN_OK);
        assert_int_equal(achan_mpsc_poll_recv_many(rx, &cx, buf, 8, &st), 0);
        assert_int_equal(st, ACHAN_PENDING);
        const int vals[] = {7, 13, 100, 1002};
        for (int i = 0; i < 4; i++)
            assert_int_equal(send_int(tx, vals[i]), ACHAN_OK);
        assert_int_equal(test_waker_wakes(&t), 1);
        assert_int_equal(achan_mpsc_poll_recv_many(rx, &cx, buf, 1, &st), 1);
        assert_int_equal(st, ACHAN_OK);
        assert_int_equal(buf[0], 7);
        assert_int_equal(achan_mpsc_poll_recv_many(rx, &cx, buf, 8, &st), 3);
        assert_int_equal(buf[0], 13);
        assert_int_equal(buf[1], 100);
        assert_int_equal(buf[2], 1002);
        for (int i = 0; i < 4; i++)
            assert_int_equal(send_int(tx, 5 + i), ACHAN_OK);
        achan_mpsc_sender_drop(tx);
        assert_int_equal(achan_mpsc_poll_recv_many(rx, &cx, buf, 32 > 8 ? 8 : 32, &st), 4);
        assert_int_equal(buf[3], 8);
        buf[0] = -5;
        assert_int_equal(achan_mpsc_poll_recv_many(rx, &cx, buf, 8, &st), 0);
        assert_int_equal(st, ACHAN_CLOSED);
        assert_int_equal(buf[0], -5); /* Untouched. */
        achan_mpsc_receiver_drop(rx);
        assert_int_equal(test_waker_live(&t), 0);
    }
}

/* ---- the stream view ---- */

/* Tokio send_recv_stream_*: the receiver's stream yields items, then CLOSED
 * forever; dropping the stream drops the receiver. */
static void receiver_stream_yields_then_stays_closed(void **state) {
    (void)state;
    for (size_t c = 0; c < 2; c++) {
        achan_mpsc_sender *tx;
        achan_mpsc_receiver *rx;
        test_waker t = {0};
        achan_waker w = test_waker_get(&t);
        achan_context cx = {&w};
        int v;
        assert_int_equal(new_chan(caps[c], &tx, &rx), ACHAN_OK);
        achan_stream *s = achan_mpsc_receiver_stream(rx);
        assert_ptr_equal((void *)s, (void *)rx);
        assert_int_equal(s->item_size, sizeof(int));
        assert_int_equal(achan_stream_poll_next(s, &cx, &v), ACHAN_PENDING);
        assert_int_equal(send_int(tx, 1), ACHAN_OK);
        assert_int_equal(test_waker_wakes(&t), 1);
        assert_int_equal(send_int(tx, 2), ACHAN_OK);
        achan_mpsc_sender_drop(tx);
        assert_int_equal(achan_stream_poll_next(s, &cx, &v), ACHAN_OK);
        assert_int_equal(v, 1);
        assert_int_equal(achan_stream_next_blocking(s, &v, -1), ACHAN_OK);
        assert_int_equal(v, 2);
        for (int i = 0; i < 3; i++)
            assert_int_equal(achan_stream_poll_next(s, &cx, &v), ACHAN_CLOSED);
        assert_int_equal(achan_stream_next_blocking(s, &v, 0), ACHAN_CLOSED);
        achan_stream_drop(s);
        assert_int_equal(test_waker_live(&t), 0);
    }
}

/* ---- blocking calls ---- */

static void blocking_calls_time_out(void **state) {
    (void)state;
    achan_mpsc_sender *tx;
    achan_mpsc_receiver *rx;
    int v = 1;
    assert_int_equal(new_chan(1, &tx, &rx), ACHAN_OK);
    assert_int_equal(achan_mpsc_recv_blocking(rx, &v, 0), ACHAN_TIMEOUT);
    assert_int_equal(achan_mpsc_recv_blocking(rx, &v, 2000000), ACHAN_TIMEOUT);
    assert_int_equal(achan_mpsc_send_blocking(tx, &v, 0), ACHAN_OK);
    assert_int_equal(achan_mpsc_send_blocking(tx, &v, 0), ACHAN_TIMEOUT);
    assert_int_equal(achan_mpsc_send_blocking(tx, &v, 2000000), ACHAN_TIMEOUT);
    /* The timed-out send left the queue: after a receive the slot is free
     * for anyone. */
    assert_int_equal(achan_mpsc_recv_blocking(rx, &v, 0), ACHAN_OK);
    assert_int_equal(achan_mpsc_capacity(tx), 1);
    assert_int_equal(send_int(tx, 2), ACHAN_OK);
    assert_int_equal(recv_int(rx), 2);
    achan_mpsc_sender_drop(tx);
    achan_mpsc_receiver_drop(rx);
}

typedef struct {
    achan_mpsc_sender *tx;
    int n;
} producer_args;

static void *blocking_producer(void *arg) {
    producer_args *a = arg;
    for (int i = 0; i < a->n; i++)
        TEST_CHECK(achan_mpsc_send_blocking(a->tx, &i, -1) == ACHAN_OK);
    achan_mpsc_sender_drop(a->tx);
    return NULL;
}

/* Tokio blocking_recv / blocking_send: a thread hands items over through a
 * capacity-1 channel; the receiver sees all of them, then CLOSED. */
static void blocking_handoff_between_threads(void **state) {
    (void)state;
    for (size_t c = 0; c < 2; c++) {
        achan_mpsc_sender *tx;
        achan_mpsc_receiver *rx;
        assert_int_equal(new_chan(c ? 1 : 0, &tx, &rx), ACHAN_OK);
        producer_args a = {tx, 20000};
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, blocking_producer, &a), 0);
        int v;
        for (int i = 0; i < a.n; i++) {
            assert_int_equal(achan_mpsc_recv_blocking(rx, &v, -1), ACHAN_OK);
            assert_int_equal(v, i);
        }
        assert_int_equal(achan_mpsc_recv_blocking(rx, &v, -1), ACHAN_CLOSED);
        pthread_join(t, NULL);
        achan_mpsc_receiver_drop(rx);
    }
}

/* Large items are copied whole. */
static void large_items_are_copied_whole(void **state) {
    (void)state;
    typedef struct {
        unsigned char bytes[700];
    } big;
    for (size_t c = 0; c < 2; c++) {
        achan_opts o = {.item_size = sizeof(big), .capacity = caps[c] ? 3 : 0};
        achan_mpsc_sender *tx;
        achan_mpsc_receiver *rx;
        assert_int_equal(achan_mpsc_new(&o, &tx, &rx), ACHAN_OK);
        for (int round = 0; round < 40; round++) {
            big in, out;
            memset(in.bytes, round, sizeof in.bytes);
            in.bytes[699] = (unsigned char)(round + 1);
            assert_int_equal(achan_mpsc_try_send(tx, &in), ACHAN_OK);
            assert_int_equal(achan_mpsc_try_recv(rx, &out), ACHAN_OK);
            assert_memory_equal(in.bytes, out.bytes, sizeof in.bytes);
        }
        achan_mpsc_sender_drop(tx);
        achan_mpsc_receiver_drop(rx);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(new_rejects_bad_arguments),
        cmocka_unit_test(every_function_rejects_null),
        cmocka_unit_test(send_recv_then_closed_after_last_sender),
        cmocka_unit_test(bounded_capacity_is_exact),
        cmocka_unit_test(try_send_full_then_ok_after_recv),
        cmocka_unit_test(try_recv_bounded),
        cmocka_unit_test(try_recv_unbounded),
        cmocka_unit_test(dropping_every_sender_closes),
        cmocka_unit_test(poll_recv_registers_and_send_wakes),
        cmocka_unit_test(repoll_with_new_waker_replaces_old),
        cmocka_unit_test(receiver_drop_releases_waker),
        cmocka_unit_test(last_sender_drop_wakes_receiver),
        cmocka_unit_test(waiting_senders_are_served_fifo),
        cmocka_unit_test(dropped_waiter_passes_its_grant_on),
        cmocka_unit_test(unreserved_free_slots_stay_usable),
        cmocka_unit_test(receiver_close_refuses_sends_keeps_items),
        cmocka_unit_test(receiver_close_wakes_waiting_senders),
        cmocka_unit_test(send_granted_before_close_is_delivered),
        cmocka_unit_test(cancelled_grant_after_close_wakes_receiver),
        cmocka_unit_test(sends_after_receiver_drop_are_closed),
        cmocka_unit_test(unreceived_items_are_dropped_exactly_once),
        cmocka_unit_test(items_left_when_both_sides_go_are_dropped),
        cmocka_unit_test(len_and_capacity_track_the_buffer),
        cmocka_unit_test(len_zero_after_each_roundtrip),
        cmocka_unit_test(poll_recv_many_takes_what_is_ready),
        cmocka_unit_test(receiver_stream_yields_then_stays_closed),
        cmocka_unit_test(blocking_calls_time_out),
        cmocka_unit_test(blocking_handoff_between_threads),
        cmocka_unit_test(large_items_are_copied_whole),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
