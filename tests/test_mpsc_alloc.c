/* test_mpsc_alloc.c - allocation and fault injection for the mpsc channel.
 *
 * Every allocation goes through opts.allocator (test_alloc here), which can
 * fail the n-th allocation. The rules checked:
 *   - a call that returns ACHAN_NOMEM (or NULL, for sender_clone) changed
 *     nothing: no handle written, no item sent, no byte leaked, and the
 *     channel works afterwards;
 *   - every byte comes back once every handle is dropped;
 *   - bounded channels allocate nothing per message; unbounded ones nothing
 *     in steady state, and give a burst's memory back once it is received.
 */
#define _POSIX_C_SOURCE 200809L
#include "test_support.h"

#include <pthread.h>
#include <string.h>

#define MS 1000000LL

static achan_mpsc_sender *const TX_UNTOUCHED = (achan_mpsc_sender *)0x5e4d;
static achan_mpsc_receiver *const RX_UNTOUCHED = (achan_mpsc_receiver *)0x4ecf;

typedef struct {
    atomic_long calls;
} drop_count;

static void count_drop(void *item, void *user) {
    (void)item;
    atomic_fetch_add(&((drop_count *)user)->calls, 1);
}

static achan_opts opts_for(test_alloc *ta, size_t cap, drop_count *d) {
    achan_opts o = {.item_size = sizeof(uint64_t),
                    .capacity = cap,
                    .item_drop = count_drop,
                    .user = d,
                    .allocator = &ta->a};
    return o;
}

static uint64_t recv_u64(achan_mpsc_receiver *rx) {
    uint64_t v = UINT64_MAX;
    assert_int_equal(achan_mpsc_try_recv(rx, &v), ACHAN_OK);
    return v;
}

static const size_t caps[] = {4, 0}; /* Bounded and unbounded. */

/* ---- creation ---- */

static void new_fails_cleanly_at_every_allocation(void **state) {
    (void)state;
    for (size_t c = 0; c < 2; c++) {
        long k;
        test_alloc ta;
        drop_count d = {0};
        achan_mpsc_sender *tx;
        achan_mpsc_receiver *rx;
        for (k = 0;; k++) {
            assert_true(k < 32); /* A handful of allocation points, not more. */
            test_alloc_init(&ta);
            achan_opts o = opts_for(&ta, caps[c], &d);
            tx = TX_UNTOUCHED;
            rx = RX_UNTOUCHED;
            test_alloc_fail_at(&ta, k);
            achan_status st = achan_mpsc_new(&o, &tx, &rx);
            test_alloc_fail_at(&ta, -1);
            if (st == ACHAN_OK)
                break;
            assert_int_equal(st, ACHAN_NOMEM);
            assert_ptr_equal(tx, TX_UNTOUCHED);
            assert_ptr_equal(rx, RX_UNTOUCHED);
            assert_int_equal(test_alloc_live_bytes(&ta), 0);
        }
        print_message("capacity %zu: achan_mpsc_new has %ld allocation points\n", caps[c], k);
        /* The channel and the sender at least; unbounded also its first segment. */
        assert_true(k >= (caps[c] ? 2 : 3));
        assert_int_equal(test_alloc_count(&ta), k);
        /* The channel made on the first run that did not fail works. */
        uint64_t v = 11;
        assert_int_equal(achan_mpsc_try_send(tx, &v), ACHAN_OK);
        assert_int_equal(recv_u64(rx), 11);
        achan_mpsc_sender_drop(tx);
        assert_int_equal(achan_mpsc_try_recv(rx, &v), ACHAN_CLOSED);
        achan_mpsc_receiver_drop(rx);
        assert_int_equal(test_alloc_live_bytes(&ta), 0);
        assert_int_equal(atomic_load(&d.calls), 0);
    }
}

/* ---- sender_clone ---- */

static void sender_clone_fails_cleanly(void **state) {
    (void)state;
    for (size_t c = 0; c < 2; c++) {
        test_alloc ta;
        test_alloc_init(&ta);
        drop_count d = {0};
        achan_opts o = opts_for(&ta, caps[c], &d);
        achan_mpsc_sender *tx;
        achan_mpsc_receiver *rx;
        assert_int_equal(achan_mpsc_new(&o, &tx, &rx), ACHAN_OK);
        long live = test_alloc_live_bytes(&ta), allocs = test_alloc_count(&ta);
        for (int i = 0; i < 3; i++) {
            test_alloc_fail_at(&ta, 0);
            assert_null(achan_mpsc_sender_clone(tx));
            test_alloc_fail_at(&ta, -1);
            assert_int_equal(test_alloc_live_bytes(&ta), live);
            assert_int_equal(test_alloc_count(&ta), allocs);
        }
        /* The channel still works, and a clone succeeds now. */
        uint64_t v = 1;
        assert_int_equal(achan_mpsc_try_send(tx, &v), ACHAN_OK);
        achan_mpsc_sender *tx2 = achan_mpsc_sender_clone(tx);
        assert_non_null(tx2);
        v = 2;
        assert_int_equal(achan_mpsc_try_send(tx2, &v), ACHAN_OK);
        assert_int_equal(recv_u64(rx), 1);
        assert_int_equal(recv_u64(rx), 2);
        /* The failed clones counted as no sender: dropping the two real ones
         * closes the channel. */
        achan_mpsc_sender_drop(tx);
        assert_int_equal(achan_mpsc_try_recv(rx, &v), ACHAN_EMPTY);
        achan_mpsc_sender_drop(tx2);
        assert_int_equal(achan_mpsc_try_recv(rx, &v), ACHAN_CLOSED);
        achan_mpsc_receiver_drop(rx);
        assert_int_equal(test_alloc_live_bytes(&ta), 0);
    }
}

/* ---- unbounded sends that need a new segment ---- */

typedef enum { VIA_TRY, VIA_POLL, VIA_BLOCKING } send_via;

static achan_status send_via_(achan_mpsc_sender *tx, send_via via, uint64_t v, test_waker *t) {
    achan_waker w = test_waker_get(t);
    achan_context cx = {&w};
    switch (via) {
    case VIA_TRY:
        return achan_mpsc_try_send(tx, &v);
    case VIA_POLL:
        return achan_mpsc_poll_send(tx, &cx, &v);
    case VIA_BLOCKING:
        return achan_mpsc_send_blocking(tx, &v, 5000 * MS);
    }
    return ACHAN_INVALID;
}

static void unbounded_send_nomem_sends_nothing(void **state) {
    (void)state;
    test_alloc ta;
    test_alloc_init(&ta);
    drop_count d = {0};
    achan_opts o = opts_for(&ta, 0, &d);
    achan_mpsc_sender *tx;
    achan_mpsc_receiver *rx;
    assert_int_equal(achan_mpsc_new(&o, &tx, &rx), ACHAN_OK);
    test_waker t = {0};
    uint64_t next = 0;
    for (send_via via = VIA_TRY; via <= VIA_BLOCKING; via++) {
        for (int boundary = 0; boundary < 2; boundary++) {
            /* Send with every allocation failing until a send needs one. */
            for (;;) {
                long allocs = test_alloc_count(&ta);
                size_t len = achan_mpsc_len(rx);
                test_alloc_fail_at(&ta, 0);
                achan_status st = send_via_(tx, via, next, &t);
                test_alloc_fail_at(&ta, -1);
                if (st == ACHAN_OK) {
                    assert_int_equal(test_alloc_count(&ta), allocs);
                    next++;
                    assert_true(next < 100000);
                    continue;
                }
                assert_int_equal(st, ACHAN_NOMEM);
                /* Nothing was sent, nothing registered, nothing leaked. */
                assert_int_equal(achan_mpsc_len(rx), len);
                assert_int_equal(test_alloc_count(&ta), allocs);
                assert_int_equal(atomic_load(&t.clones), 0);
                assert_false(achan_mpsc_sender_is_closed(tx));
                break;
            }
            /* The same send succeeds once memory is there. */
            assert_int_equal(send_via_(tx, via, next, &t), ACHAN_OK);
            next++;
        }
    }
    assert_int_equal(achan_mpsc_len(rx), next);
    /* Every item exactly once, in order: nothing lost, nothing doubled. */
    for (uint64_t i = 0; i < next; i++)
        assert_int_equal(recv_u64(rx), i);
    uint64_t v;
    assert_int_equal(achan_mpsc_try_recv(rx, &v), ACHAN_EMPTY);
    achan_mpsc_sender_drop(tx);
    assert_int_equal(achan_mpsc_try_recv(rx, &v), ACHAN_CLOSED);
    achan_mpsc_receiver_drop(rx);
    assert_int_equal(test_alloc_live_bytes(&ta), 0);
    assert_int_equal(atomic_load(&d.calls), 0);
    assert_int_equal(test_waker_live(&t), 0);
}

/* ---- a workload under a failure at each allocation in turn ---- */

typedef struct {
    test_alloc ta;
    drop_count drops;
    achan_mpsc_receiver *rx;
    uint64_t next_in, next_out;
    int nomems; /* Calls that returned ACHAN_NOMEM (or NULL) this run. */
} workload;

static achan_mpsc_sender *clone_retrying(workload *w, achan_mpsc_sender *tx) {
    long live = test_alloc_live_bytes(&w->ta);
    achan_mpsc_sender *c = achan_mpsc_sender_clone(tx);
    if (!c) {
        w->nomems++;
        assert_int_equal(test_alloc_live_bytes(&w->ta), live);
        c = achan_mpsc_sender_clone(tx); /* One failure at a time: now it works. */
    }
    assert_non_null(c);
    return c;
}

static void send_retrying(workload *w, achan_mpsc_sender *tx, send_via via) {
    test_waker t = {0};
    size_t len = achan_mpsc_len(w->rx);
    achan_status st = send_via_(tx, via, w->next_in, &t);
    if (st == ACHAN_NOMEM) {
        w->nomems++;
        assert_int_equal(achan_mpsc_len(w->rx), len);
        st = send_via_(tx, via, w->next_in, &t);
    }
    assert_int_equal(st, ACHAN_OK);
    assert_int_equal(test_waker_live(&t), 0);
    w->next_in++;
}

static void recv_some(workload *w, uint64_t n) {
    for (uint64_t i = 0; i < n && w->next_out < w->next_in; i++)
        assert_int_equal(recv_u64(w->rx), w->next_out++);
}

/* Runs the workload with allocation k failing. Returns the number of
 * allocations the run made (so the caller knows when k is past them all). */
static long run_workload(size_t cap, long k, int *nomems) {
    workload w;
    memset(&w, 0, sizeof w);
    test_alloc_init(&w.ta);
    test_alloc_fail_at(&w.ta, k);
    achan_opts o = opts_for(&w.ta, cap, &w.drops);
    achan_mpsc_sender *tx = TX_UNTOUCHED;
    achan_mpsc_receiver *rx = RX_UNTOUCHED;
    achan_status st = achan_mpsc_new(&o, &tx, &rx);
    if (st == ACHAN_NOMEM) {
        w.nomems++;
        assert_ptr_equal(tx, TX_UNTOUCHED);
        assert_ptr_equal(rx, RX_UNTOUCHED);
        assert_int_equal(test_alloc_live_bytes(&w.ta), 0);
        st = achan_mpsc_new(&o, &tx, &rx);
    }
    assert_int_equal(st, ACHAN_OK);
    w.rx = rx;
    achan_mpsc_sender *tx2 = clone_retrying(&w, tx);
    /* Bounded: at most cap in flight, so receive after every few sends. */
    uint64_t burst = cap ? cap : 150;
    for (int round = 0; round < 4; round++) {
        for (uint64_t i = 0; i < burst; i++)
            send_retrying(&w, (i & 1) ? tx2 : tx, (send_via)((i + (uint64_t)round) % 3));
        recv_some(&w, burst - (cap ? 0 : 40)); /* Unbounded: a backlog grows. */
    }
    achan_mpsc_sender_drop(tx2);
    achan_mpsc_sender *tx3 = clone_retrying(&w, tx);
    for (uint64_t i = 0; i < (cap ? cap : 100); i++)
        send_retrying(&w, tx3, VIA_TRY);
    achan_mpsc_sender_drop(tx3);
    achan_mpsc_sender_drop(tx);
    recv_some(&w, UINT64_MAX);
    uint64_t v;
    assert_int_equal(achan_mpsc_try_recv(rx, &v), ACHAN_CLOSED);
    assert_int_equal(w.next_out, w.next_in);
    achan_mpsc_receiver_drop(rx);
    assert_int_equal(atomic_load(&w.drops.calls), 0);
    assert_int_equal(test_alloc_live_bytes(&w.ta), 0);
    *nomems = w.nomems;
    return atomic_load(&w.ta.next_index);
}

static void every_allocation_can_fail(void **state) {
    (void)state;
    for (size_t c = 0; c < 2; c++) {
        int nomems = 0;
        long total = run_workload(caps[c], -1, &nomems);
        assert_int_equal(nomems, 0);
        int failed_runs = 0;
        for (long k = 0; k < total; k++) {
            long n = run_workload(caps[c], k, &nomems);
            /* Allocation k was attempted and failed: exactly one call said so. */
            assert_int_equal(nomems, 1);
            assert_true(n >= k + 1);
            failed_runs++;
        }
        print_message("capacity %zu: %ld allocations, each failed in turn\n", caps[c], total);
        assert_int_equal(failed_runs, total);
        assert_true(total >= (caps[c] ? 4 : 6));
    }
}

/* Items still buffered when the receiver goes are dropped exactly once,
 * even when the channel met allocation failures on the way. */
static void items_dropped_after_failures(void **state) {
    (void)state;
    test_alloc ta;
    test_alloc_init(&ta);
    drop_count d = {0};
    achan_opts o = opts_for(&ta, 0, &d);
    achan_mpsc_sender *tx;
    achan_mpsc_receiver *rx;
    assert_int_equal(achan_mpsc_new(&o, &tx, &rx), ACHAN_OK);
    uint64_t sent = 0;
    for (uint64_t i = 0; i < 500; i++) {
        if (i % 7 == 0)
            test_alloc_fail_at(&ta, 0);
        achan_status st = achan_mpsc_try_send(tx, &i);
        test_alloc_fail_at(&ta, -1);
        if (st == ACHAN_OK)
            sent++;
        else
            assert_int_equal(st, ACHAN_NOMEM);
    }
    assert_true(sent < 500);
    assert_int_equal(achan_mpsc_len(rx), sent);
    achan_mpsc_receiver_drop(rx);
    assert_int_equal(atomic_load(&d.calls), sent);
    achan_mpsc_sender_drop(tx);
    assert_int_equal(test_alloc_live_bytes(&ta), 0);
}

/* ---- allocation counting ---- */

static void bounded_allocates_nothing_per_message(void **state) {
    (void)state;
    test_alloc ta;
    test_alloc_init(&ta);
    drop_count d = {0};
    achan_opts o = opts_for(&ta, 64, &d);
    achan_mpsc_sender *tx;
    achan_mpsc_receiver *rx;
    assert_int_equal(achan_mpsc_new(&o, &tx, &rx), ACHAN_OK);
    long allocs = test_alloc_count(&ta);
    test_waker t = {0};
    achan_waker w = test_waker_get(&t);
    achan_context cx = {&w};
    const uint64_t n = 1000000;
    uint64_t in = 0, out = 0;
    unsigned step = 0;
    while (out < n) {
        /* Fill past capacity (the extra poll_send waits in the queue), then
         * drain with every receive flavour. */
        uint64_t batch = step++ % 70 + 1;
        for (uint64_t i = 0; i < batch && in < n; i++) {
            achan_status st =
                (i & 1) ? achan_mpsc_try_send(tx, &in) : achan_mpsc_poll_send(tx, &cx, &in);
            if (st != ACHAN_OK) {
                assert_true(st == ACHAN_FULL || st == ACHAN_PENDING);
                if (st == ACHAN_PENDING)
                    achan_mpsc_poll_send_cancel(tx);
                break;
            }
            in++;
        }
        uint64_t v, items[16];
        achan_status st;
        switch (step % 3) {
        case 0:
            while (achan_mpsc_try_recv(rx, &v) == ACHAN_OK)
                assert_int_equal(v, out++);
            break;
        case 1:
            while ((st = achan_mpsc_poll_recv(rx, &cx, &v)) == ACHAN_OK)
                assert_int_equal(v, out++);
            assert_int_equal(st, ACHAN_PENDING);
            break;
        default:
            for (;;) {
                size_t got = achan_mpsc_poll_recv_many(rx, &cx, items, 16, &st);
                if (got == 0)
                    break;
                for (size_t i = 0; i < got; i++)
                    assert_int_equal(items[i], out++);
            }
            break;
        }
    }
    assert_int_equal(test_alloc_count(&ta), allocs);
    achan_mpsc_sender_drop(tx);
    achan_mpsc_receiver_drop(rx);
    assert_int_equal(test_alloc_live_bytes(&ta), 0);
    assert_int_equal(test_waker_live(&t), 0);
}

typedef struct {
    achan_mpsc_sender *tx;
    uint64_t n;
    achan_status last;
} blocking_producer_args;

static void *blocking_producer(void *arg) {
    blocking_producer_args *a = arg;
    a->last = ACHAN_OK;
    for (uint64_t i = 0; i < a->n && a->last == ACHAN_OK; i++)
        a->last = achan_mpsc_send_blocking(a->tx, &i, 10000 * MS);
    return NULL;
}

/* With a thread blocked on each side in turn: waiting (queued senders,
 * parked threads) allocates nothing from the channel's allocator either. */
static void bounded_blocking_allocates_nothing(void **state) {
    (void)state;
    test_alloc ta;
    test_alloc_init(&ta);
    drop_count d = {0};
    achan_opts o = opts_for(&ta, 64, &d);
    achan_mpsc_sender *tx;
    achan_mpsc_receiver *rx;
    assert_int_equal(achan_mpsc_new(&o, &tx, &rx), ACHAN_OK);
    long allocs = test_alloc_count(&ta);
    blocking_producer_args a = {tx, test_stress_count(200000), ACHAN_OK};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, blocking_producer, &a), 0);
    uint64_t v, bad = 0;
    for (uint64_t i = 0; i < a.n; i++) {
        if (achan_mpsc_recv_blocking(rx, &v, 10000 * MS) != ACHAN_OK || v != i) {
            bad++;
            break;
        }
    }
    pthread_join(th, NULL);
    assert_int_equal(bad, 0);
    assert_int_equal(a.last, ACHAN_OK);
    assert_int_equal(test_alloc_count(&ta), allocs);
    achan_mpsc_sender_drop(tx);
    achan_mpsc_receiver_drop(rx);
    assert_int_equal(test_alloc_live_bytes(&ta), 0);
}

static void unbounded_steady_state_allocates_nothing(void **state) {
    (void)state;
    test_alloc ta;
    test_alloc_init(&ta);
    drop_count d = {0};
    achan_opts o = opts_for(&ta, 0, &d);
    achan_mpsc_sender *tx;
    achan_mpsc_receiver *rx;
    assert_int_equal(achan_mpsc_new(&o, &tx, &rx), ACHAN_OK);
    uint64_t in = 0, out = 0;
    /* Lock-step batches of 1..100: send a batch, receive it all. */
    for (unsigned step = 0; step < 1000; step++) { /* Warm-up. */
        for (unsigned i = 0; i < step % 100 + 1; i++) {
            assert_int_equal(achan_mpsc_try_send(tx, &in), ACHAN_OK);
            in++;
        }
        while (out < in)
            assert_int_equal(recv_u64(rx), out++);
    }
    long allocs = test_alloc_count(&ta);
    const uint64_t n = 1000000;
    uint64_t end = in + n;
    for (unsigned step = 0; in < end; step++) {
        uint64_t batch = (step * 37u) % 100 + 1;
        for (uint64_t i = 0; i < batch && in < end; i++) {
            assert_int_equal(achan_mpsc_try_send(tx, &in), ACHAN_OK);
            in++;
        }
        while (out < in)
            assert_int_equal(recv_u64(rx), out++);
    }
    long grown = test_alloc_count(&ta) - allocs;
    print_message("unbounded steady state: %ld allocations for %lu messages\n", grown,
                  (unsigned long)n);
    assert_true(grown <= 4);
    achan_mpsc_sender_drop(tx);
    achan_mpsc_receiver_drop(rx);
    assert_int_equal(test_alloc_live_bytes(&ta), 0);
}

static void unbounded_burst_memory_is_given_back(void **state) {
    (void)state;
    test_alloc ta;
    test_alloc_init(&ta);
    drop_count d = {0};
    achan_opts o = opts_for(&ta, 0, &d);
    achan_mpsc_sender *tx;
    achan_mpsc_receiver *rx;
    assert_int_equal(achan_mpsc_new(&o, &tx, &rx), ACHAN_OK);
    long created = test_alloc_live_bytes(&ta);
    const uint64_t n = 1000000;
    for (uint64_t i = 0; i < n; i++)
        assert_int_equal(achan_mpsc_try_send(tx, &i), ACHAN_OK);
    assert_int_equal(achan_mpsc_len(rx), n);
    for (uint64_t i = 0; i < n; i++)
        assert_int_equal(recv_u64(rx), i);
    /* Everything the channel's allocator still holds: channel, sender,
     * segments in use and spares. */
    long live = test_alloc_live_bytes(&ta);
    long peak = atomic_load(&ta.peak_bytes);
    print_message("unbounded burst: %ld bytes at creation, peak %ld, %ld after draining\n", created,
                  peak, live);
    assert_true(peak >= (long)(n * sizeof(uint64_t)));
    assert_true(live <= 64 * 1024);
    achan_mpsc_sender_drop(tx);
    achan_mpsc_receiver_drop(rx);
    assert_int_equal(test_alloc_live_bytes(&ta), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(new_fails_cleanly_at_every_allocation),
        cmocka_unit_test(sender_clone_fails_cleanly),
        cmocka_unit_test(unbounded_send_nomem_sends_nothing),
        cmocka_unit_test(every_allocation_can_fail),
        cmocka_unit_test(items_dropped_after_failures),
        cmocka_unit_test(bounded_allocates_nothing_per_message),
        cmocka_unit_test(bounded_blocking_allocates_nothing),
        cmocka_unit_test(unbounded_steady_state_allocates_nothing),
        cmocka_unit_test(unbounded_burst_memory_is_given_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
