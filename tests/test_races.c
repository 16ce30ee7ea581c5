/* test_races.c - drop and close races: every pair of operations that can end
 * a channel (or wait on it) at the same moment, run many times from two
 * threads.
 *
 * Each case is a pair of operations, `a` on the test's thread and `b` on a
 * helper thread, on a channel set up fresh for every round. A round:
 *
 *     setup (test thread) -> barrier -> a | b -> barrier -> finish (test thread)
 *
 * The barrier spins, so both operations start within a few hundred
 * nanoseconds of each other; a per-round delay of 0 to 63 spin hints before
 * one side or the other (alternating) makes them overlap at every offset.
 * `finish` checks the outcome of the round exactly and releases everything:
 *
 *   - exactly once: every item a send reported as sent is received or passed
 *     to item_drop, exactly once;
 *   - no lost wake-up: a poll that returned ACHAN_PENDING must have been
 *     woken by the time the other operation has returned (channels wake
 *     synchronously inside the call that makes progress), and every blocking
 *     wait has a deadline (WAIT_NS) that fails the test instead of hanging it;
 *   - no leak: each round's channel allocates through a counting allocator
 *     whose live bytes must be 0 after the round, and no waker clone may
 *     stay alive; ASan finds double frees and leaks, TSan data races.
 *
 * Rounds per case: ROUNDS (100,000) divided by ACHAN_STRESS_SCALE, or
 * ACHAN_RACE_ROUNDS when set. mpsc cases alternate a bounded (capacity 1)
 * and an unbounded channel from round to round where both apply.
 */
#define _POSIX_C_SOURCE 200809L
#include "test_support.h"

#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ROUNDS 100000
/* Deadline of every blocking wait: far beyond any real delay, so reaching
 * it means a wake-up was lost. */
#define WAIT_NS (10 * 1000000000LL)

/* ------------------------------------------------------------------------ */
/* The harness.                                                              */

/* A two-party barrier that spins, so that both threads leave it within a
 * few hundred nanoseconds of each other, then yields between looks. How long
 * it spins adapts, per thread: while the partner keeps arriving within the
 * spin (both threads have a core) it spins up to SPIN_MAX looks; when it
 * keeps having to yield (the two threads share a core on a busy machine, and
 * spinning only delays the partner) it spins as little as SPIN_MIN. */
typedef struct {
    atomic_uint arrived;
    atomic_uint phase;
} spin_barrier;

#define SPIN_MIN 64
#define SPIN_MAX 32768
static _Thread_local unsigned spin_budget = SPIN_MAX;

static void barrier_wait(spin_barrier *b) {
    unsigned phase = atomic_load(&b->phase);
    if (atomic_fetch_add(&b->arrived, 1) == 1) {
        atomic_store(&b->arrived, 0);
        atomic_store(&b->phase, phase + 1);
        return;
    }
    unsigned i = 0;
    while (atomic_load(&b->phase) == phase && i < spin_budget)
        i++;
    if (i < spin_budget) { /* Arrived while we spun: spinning pays. */
        if (spin_budget < SPIN_MAX)
            spin_budget *= 2;
        return;
    }
    if (spin_budget > SPIN_MIN)
        spin_budget /= 2;
    while (atomic_load(&b->phase) == phase)
        sched_yield();
}

static void spin(unsigned n) {
    for (volatile unsigned i = 0; i < n; i++) {
    }
}

typedef struct race race;
struct race {
    void (*setup)(race *r);
    void (*a)(race *r);
    void (*b)(race *r);
    void (*finish)(race *r);
    spin_barrier bar;
    size_t rounds, round;
    /* State shared by the cases: each uses what it needs. */
    test_alloc ta;
    achan_opts opts;
    test_waker tw;
    achan_waker w;
    achan_context cx;
    atomic_long drops; /* item_drop calls. */
    achan_status sa, sb;
    int va, vb;
    achan_mpsc_sender *mtx;
    achan_mpsc_receiver *mrx;
    achan_oneshot_sender *otx;
    achan_oneshot_receiver *orx;
    achan_watch_sender *wtx;
    achan_watch_receiver *wrx, *wrx2;
    achan_broadcast_sender *btx, *btx2;
    achan_broadcast_receiver *brx, *brx2;
};

static unsigned delay_a(const race *r) {
    return (r->round & 1) ? (r->round >> 1) % 64 : 0;
}
static unsigned delay_b(const race *r) {
    return (r->round & 1) ? 0 : (r->round >> 1) % 64;
}

static void *helper(void *arg) {
    race *r = arg;
    for (size_t i = 0; i < r->rounds; i++) {
        barrier_wait(&r->bar);
        spin(delay_b(r));
        r->b(r);
        barrier_wait(&r->bar);
    }
    return NULL;
}

static void count_drop(void *item, void *user) {
    (void)item;
    atomic_fetch_add((atomic_long *)user, 1);
}

static size_t race_rounds(void) {
    const char *env = getenv("ACHAN_RACE_ROUNDS");
    if (env && atol(env) > 0)
        return (size_t)atol(env);
    return test_stress_count(ROUNDS);
}

/* Fresh per-round state: counting allocator, counting waker, item_drop. */
static void round_init(race *r, size_t item_size, size_t capacity) {
    test_alloc_init(&r->ta);
    memset(&r->tw, 0, sizeof r->tw);
    r->w = test_waker_get(&r->tw);
    r->cx.waker = &r->w;
    atomic_store(&r->drops, 0);
    r->sa = r->sb = ACHAN_INVALID;
    r->opts = (achan_opts){.item_size = item_size,
                           .capacity = capacity,
                           .item_drop = count_drop,
                           .user = &r->drops,
                           .allocator = &r->ta.a};
}

/* After the round's teardown: nothing allocated, no waker clone alive. */
static void round_done(race *r) {
    TEST_CHECK(test_alloc_live_bytes(&r->ta) == 0);
    TEST_CHECK(test_waker_live(&r->tw) == 0);
}

static void run_race(const char *name, race *r) {
    r->rounds = race_rounds();
    atomic_init(&r->bar.arrived, 0);
    atomic_init(&r->bar.phase, 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, helper, r), 0);
    double t0 = test_now_ms();
    for (r->round = 0; r->round < r->rounds; r->round++) {
        r->setup(r);
        barrier_wait(&r->bar);
        spin(delay_a(r));
        r->a(r);
        barrier_wait(&r->bar);
        r->finish(r);
    }
    assert_int_equal(pthread_join(t, NULL), 0);
    printf("  %-58s %zu rounds, %.0f ms\n", name, r->rounds, test_now_ms() - t0);
    fflush(stdout);
}

/* Runs one race case: a cmocka test per case. */
#define RACE(fn, setup_, a_, b_, finish_)                                                          \
    static void fn(void **state) {                                                                 \
        (void)state;                                                                               \
        static race r;                                                                             \
        memset(&r, 0, sizeof r);                                                                   \
        r.setup = setup_;                                                                          \
        r.a = a_;                                                                                  \
        r.b = b_;                                                                                  \
        r.finish = finish_;                                                                        \
        run_race(#fn, &r);                                                                         \
    }

/* True when the counting waker was woken since the round began. */
static bool woken(race *r) {
    return test_waker_wakes(&r->tw) > 0;
}

/* ------------------------------------------------------------------------ */
/* mpsc                                                                      */

/* Alternating flavours: odd rounds bounded (capacity 1), even unbounded. */
static size_t mpsc_cap(const race *r) {
    return (r->round / 2) & 1;
}

static void mpsc_setup(race *r) {
    round_init(r, sizeof(int), mpsc_cap(r));
    TEST_CHECK(achan_mpsc_new(&r->opts, &r->mtx, &r->mrx) == ACHAN_OK);
}

static void mpsc_setup_full(race *r) { /* Bounded, its one slot taken. */
    round_init(r, sizeof(int), 1);
    TEST_CHECK(achan_mpsc_new(&r->opts, &r->mtx, &r->mrx) == ACHAN_OK);
    int v = 1;
    TEST_CHECK(achan_mpsc_try_send(r->mtx, &v) == ACHAN_OK);
}

static void mpsc_a_sender_drop(race *r) {
    achan_mpsc_sender_drop(r->mtx);
}
static void mpsc_b_receiver_drop(race *r) {
    achan_mpsc_receiver_drop(r->mrx);
}
static void mpsc_a_receiver_drop(race *r) {
    achan_mpsc_receiver_drop(r->mrx);
}
static void mpsc_a_close(race *r) {
    achan_mpsc_receiver_close(r->mrx);
}

/* 1. The last sender and the receiver go at once, one item buffered. */
static void mpsc_setup_one_item(race *r) {
    mpsc_setup(r);
    int v = 7;
    TEST_CHECK(achan_mpsc_try_send(r->mtx, &v) == ACHAN_OK);
}
static void mpsc_finish_both_dropped(race *r) {
    TEST_CHECK(atomic_load(&r->drops) == 1); /* The buffered item, once. */
    round_done(r);
}
RACE(mpsc_last_sender_drop_vs_receiver_drop, mpsc_setup_one_item, mpsc_a_sender_drop,
     mpsc_b_receiver_drop, mpsc_finish_both_dropped)

/* 2. A send (then the last sender's drop) against the receiver's drop, with
 * the receiver waiting (its waker registered). */
static void mpsc_setup_waiting(race *r) {
    mpsc_setup(r);
    int v;
    TEST_CHECK(achan_mpsc_poll_recv(r->mrx, &r->cx, &v) == ACHAN_PENDING);
}
static void mpsc_a_send_then_drop(race *r) {
    r->va = 5;
    r->sa = achan_mpsc_try_send(r->mtx, &r->va);
    achan_mpsc_sender_drop(r->mtx);
}
static void mpsc_finish_send_vs_drop(race *r) {
    TEST_CHECK(r->sa == ACHAN_OK || r->sa == ACHAN_CLOSED);
    TEST_CHECK(atomic_load(&r->drops) == (r->sa == ACHAN_OK)); /* Sent: dropped once. */
    round_done(r);
}
RACE(mpsc_send_and_sender_drop_vs_receiver_drop, mpsc_setup_waiting, mpsc_a_send_then_drop,
     mpsc_b_receiver_drop, mpsc_finish_send_vs_drop)

/* 3. receiver_close against a send: a send that returned OK is received. */
static void mpsc_b_send(race *r) {
    r->vb = 9;
    r->sb = achan_mpsc_try_send(r->mtx, &r->vb);
}
static void mpsc_finish_close_vs_send(race *r) {
    TEST_CHECK(r->sb == ACHAN_OK || r->sb == ACHAN_CLOSED);
    int v = 0;
    if (r->sb == ACHAN_OK) {
        TEST_CHECK(achan_mpsc_try_recv(r->mrx, &v) == ACHAN_OK);
        TEST_CHECK(v == 9);
    }
    TEST_CHECK(achan_mpsc_try_recv(r->mrx, &v) == ACHAN_CLOSED);
    TEST_CHECK(achan_mpsc_try_send(r->mtx, &v) == ACHAN_CLOSED);
    achan_mpsc_sender_drop(r->mtx);
    achan_mpsc_receiver_drop(r->mrx);
    TEST_CHECK(atomic_load(&r->drops) == 0);
    round_done(r);
}
RACE(mpsc_close_vs_send, mpsc_setup, mpsc_a_close, mpsc_b_send, mpsc_finish_close_vs_send)

/* 4. receiver_close against a send_blocking waiting for capacity: the close
 * must wake it (ACHAN_CLOSED), never leave it to time out. */
static void mpsc_b_send_blocking(race *r) {
    r->vb = 2;
    r->sb = achan_mpsc_send_blocking(r->mtx, &r->vb, WAIT_NS);
}
static void mpsc_finish_close_vs_blocked_send(race *r) {
    TEST_CHECK(r->sb == ACHAN_CLOSED); /* TIMEOUT: a lost wake-up. */
    int v = 0;
    TEST_CHECK(achan_mpsc_try_recv(r->mrx, &v) == ACHAN_OK && v == 1);
    TEST_CHECK(achan_mpsc_try_recv(r->mrx, &v) == ACHAN_CLOSED);
    achan_mpsc_sender_drop(r->mtx);
    achan_mpsc_receiver_drop(r->mrx);
    round_done(r);
}
RACE(mpsc_close_vs_blocked_send, mpsc_setup_full, mpsc_a_close, mpsc_b_send_blocking,
     mpsc_finish_close_vs_blocked_send)

/* 5. The receiver's drop against a sender registering for capacity. */
static void mpsc_b_poll_send(race *r) {
    r->vb = 2;
    r->sb = achan_mpsc_poll_send(r->mtx, &r->cx, &r->vb);
}
static void mpsc_finish_drop_vs_poll_send(race *r) {
    TEST_CHECK(r->sb == ACHAN_PENDING || r->sb == ACHAN_CLOSED);
    if (r->sb == ACHAN_PENDING) {
        TEST_CHECK(woken(r)); /* The drop wakes queued senders. */
        TEST_CHECK(achan_mpsc_poll_send(r->mtx, &r->cx, &r->vb) == ACHAN_CLOSED);
    }
    achan_mpsc_sender_drop(r->mtx);
    TEST_CHECK(atomic_load(&r->drops) == 1); /* The prefilled item. */
    round_done(r);
}
RACE(mpsc_receiver_drop_vs_poll_send, mpsc_setup_full, mpsc_a_receiver_drop, mpsc_b_poll_send,
     mpsc_finish_drop_vs_poll_send)

/* 6. poll_recv registering against a send. */
static void mpsc_a_poll_recv(race *r) {
    r->sa = achan_mpsc_poll_recv(r->mrx, &r->cx, &r->va);
}
static void mpsc_finish_poll_recv_vs_send(race *r) {
    TEST_CHECK(r->sb == ACHAN_OK);
    if (r->sa == ACHAN_PENDING) {
        TEST_CHECK(woken(r)); /* Else a lost wake-up. */
        TEST_CHECK(achan_mpsc_poll_recv(r->mrx, &r->cx, &r->va) == ACHAN_OK);
    } else {
        TEST_CHECK(r->sa == ACHAN_OK);
    }
    TEST_CHECK(r->va == 9);
    TEST_CHECK(achan_mpsc_try_recv(r->mrx, &r->va) == ACHAN_EMPTY);
    achan_mpsc_sender_drop(r->mtx);
    achan_mpsc_receiver_drop(r->mrx);
    TEST_CHECK(atomic_load(&r->drops) == 0);
    round_done(r);
}
RACE(mpsc_poll_recv_vs_send, mpsc_setup, mpsc_a_poll_recv, mpsc_b_send,
     mpsc_finish_poll_recv_vs_send)

/* 7. poll_recv registering against the last sender's drop. */
static void mpsc_b_sender_drop(race *r) {
    achan_mpsc_sender_drop(r->mtx);
}
static void mpsc_finish_poll_recv_vs_sender_drop(race *r) {
    if (r->sa == ACHAN_PENDING) {
        TEST_CHECK(woken(r));
        TEST_CHECK(achan_mpsc_poll_recv(r->mrx, &r->cx, &r->va) == ACHAN_CLOSED);
    } else {
        TEST_CHECK(r->sa == ACHAN_CLOSED);
    }
    achan_mpsc_receiver_drop(r->mrx);
    round_done(r);
}
RACE(mpsc_poll_recv_vs_sender_drop, mpsc_setup, mpsc_a_poll_recv, mpsc_b_sender_drop,
     mpsc_finish_poll_recv_vs_sender_drop)

/* 8. poll_send registering for capacity against the receive that frees it. */
static void mpsc_a_poll_send(race *r) {
    r->va = 2;
    r->sa = achan_mpsc_poll_send(r->mtx, &r->cx, &r->va);
}
static void mpsc_b_recv(race *r) {
    r->sb = achan_mpsc_try_recv(r->mrx, &r->vb);
}
static void mpsc_finish_poll_send_vs_recv(race *r) {
    TEST_CHECK(r->sb == ACHAN_OK && r->vb == 1);
    if (r->sa == ACHAN_PENDING) {
        TEST_CHECK(woken(r));
        TEST_CHECK(achan_mpsc_poll_send(r->mtx, &r->cx, &r->va) == ACHAN_OK);
    } else {
        TEST_CHECK(r->sa == ACHAN_OK);
    }
    int v = 0;
    TEST_CHECK(achan_mpsc_try_recv(r->mrx, &v) == ACHAN_OK && v == 2);
    achan_mpsc_sender_drop(r->mtx);
    achan_mpsc_receiver_drop(r->mrx);
    round_done(r);
}
RACE(mpsc_poll_send_vs_recv, mpsc_setup_full, mpsc_a_poll_send, mpsc_b_recv,
     mpsc_finish_poll_send_vs_recv)

/* ------------------------------------------------------------------------ */
/* oneshot                                                                   */

static void oneshot_setup(race *r) {
    round_init(r, sizeof(int), 0);
    TEST_CHECK(achan_oneshot_new(&r->opts, &r->otx, &r->orx) == ACHAN_OK);
}
static void oneshot_setup_waiting(race *r) {
    oneshot_setup(r);
    int v;
    TEST_CHECK(achan_oneshot_poll_recv(r->orx, &r->cx, &v) == ACHAN_PENDING);
}

static void oneshot_a_sender_drop(race *r) {
    achan_oneshot_sender_drop(r->otx);
}
static void oneshot_b_receiver_drop(race *r) {
    achan_oneshot_receiver_drop(r->orx);
}
static void oneshot_a_receiver_drop(race *r) {
    achan_oneshot_receiver_drop(r->orx);
}

/* 1. Both handles go at once (the receiver waiting). */
static void oneshot_finish_both_dropped(race *r) {
    TEST_CHECK(atomic_load(&r->drops) == 0);
    round_done(r);
}
RACE(oneshot_sender_drop_vs_receiver_drop, oneshot_setup_waiting, oneshot_a_sender_drop,
     oneshot_b_receiver_drop, oneshot_finish_both_dropped)

/* 2. A send against the receiver's drop: a value sent is dropped once. */
static void oneshot_a_send(race *r) {
    r->va = 3;
    r->sa = achan_oneshot_send(r->otx, &r->va);
}
static void oneshot_finish_send_vs_drop(race *r) {
    TEST_CHECK(r->sa == ACHAN_OK || r->sa == ACHAN_CLOSED);
    TEST_CHECK(atomic_load(&r->drops) == (r->sa == ACHAN_OK));
    round_done(r);
}
RACE(oneshot_send_vs_receiver_drop, oneshot_setup_waiting, oneshot_a_send, oneshot_b_receiver_drop,
     oneshot_finish_send_vs_drop)

/* 3. receiver_close against a send: a value sent before the close is
 * received, one sent after is refused. */
static void oneshot_a_close(race *r) {
    achan_oneshot_receiver_close(r->orx);
}
static void oneshot_b_send(race *r) {
    r->vb = 4;
    r->sb = achan_oneshot_send(r->otx, &r->vb);
}
static void oneshot_finish_close_vs_send(race *r) {
    TEST_CHECK(r->sb == ACHAN_OK || r->sb == ACHAN_CLOSED);
    int v = 0;
    TEST_CHECK(achan_oneshot_try_recv(r->orx, &v) == (r->sb == ACHAN_OK ? ACHAN_OK : ACHAN_CLOSED));
    TEST_CHECK(r->sb != ACHAN_OK || v == 4);
    achan_oneshot_receiver_drop(r->orx);
    TEST_CHECK(atomic_load(&r->drops) == 0);
    round_done(r);
}
RACE(oneshot_close_vs_send, oneshot_setup, oneshot_a_close, oneshot_b_send,
     oneshot_finish_close_vs_send)

/* 4. The receiver's drop against the sender registering in poll_closed. */
static void oneshot_b_poll_closed(race *r) {
    r->sb = achan_oneshot_poll_closed(r->otx, &r->cx);
}
static void oneshot_finish_drop_vs_poll_closed(race *r) {
    if (r->sb == ACHAN_PENDING) {
        TEST_CHECK(woken(r));
        TEST_CHECK(achan_oneshot_poll_closed(r->otx, &r->cx) == ACHAN_OK);
    } else {
        TEST_CHECK(r->sb == ACHAN_OK);
    }
    TEST_CHECK(achan_oneshot_sender_is_closed(r->otx));
    achan_oneshot_sender_drop(r->otx);
    round_done(r);
}
RACE(oneshot_receiver_drop_vs_poll_closed, oneshot_setup, oneshot_a_receiver_drop,
     oneshot_b_poll_closed, oneshot_finish_drop_vs_poll_closed)

/* 5. poll_recv registering against a send. */
static void oneshot_a_poll_recv(race *r) {
    r->va = 0;
    r->sa = achan_oneshot_poll_recv(r->orx, &r->cx, &r->va);
}
static void oneshot_finish_poll_recv_vs_send(race *r) {
    TEST_CHECK(r->sb == ACHAN_OK);
    if (r->sa == ACHAN_PENDING) {
        TEST_CHECK(woken(r));
        TEST_CHECK(achan_oneshot_poll_recv(r->orx, &r->cx, &r->va) == ACHAN_OK);
    } else {
        TEST_CHECK(r->sa == ACHAN_OK);
    }
    TEST_CHECK(r->va == 4);
    achan_oneshot_receiver_drop(r->orx);
    TEST_CHECK(atomic_load(&r->drops) == 0);
    round_done(r);
}
RACE(oneshot_poll_recv_vs_send, oneshot_setup, oneshot_a_poll_recv, oneshot_b_send,
     oneshot_finish_poll_recv_vs_send)

/* 6. poll_recv registering against the sender's drop. */
static void oneshot_b_sender_drop(race *r) {
    achan_oneshot_sender_drop(r->otx);
}
static void oneshot_finish_poll_recv_vs_sender_drop(race *r) {
    if (r->sa == ACHAN_PENDING) {
        TEST_CHECK(woken(r));
        TEST_CHECK(achan_oneshot_poll_recv(r->orx, &r->cx, &r->va) == ACHAN_CLOSED);
    } else {
        TEST_CHECK(r->sa == ACHAN_CLOSED);
    }
    achan_oneshot_receiver_drop(r->orx);
    round_done(r);
}
RACE(oneshot_poll_recv_vs_sender_drop, oneshot_setup, oneshot_a_poll_recv, oneshot_b_sender_drop,
     oneshot_finish_poll_recv_vs_sender_drop)

/* 7. A blocking receive (the thread parker) against a send. */
static void oneshot_a_recv_blocking(race *r) {
    r->va = 0;
    r->sa = achan_oneshot_recv_blocking(r->orx, &r->va, WAIT_NS);
}
static void oneshot_finish_blocking_vs_send(race *r) {
    TEST_CHECK(r->sb == ACHAN_OK);
    TEST_CHECK(r->sa == ACHAN_OK); /* TIMEOUT: a lost wake-up. */
    TEST_CHECK(r->va == 4);
    achan_oneshot_receiver_drop(r->orx);
    round_done(r);
}
RACE(oneshot_recv_blocking_vs_send, oneshot_setup, oneshot_a_recv_blocking, oneshot_b_send,
     oneshot_finish_blocking_vs_send)

/* 8-10. The one-CAS life (no waker registered): the sender's quick
 * VALUE_SENT | TX_GONE against the receiver's drop, which frees at once once
 * it sees TX_GONE, or closes and releases. */
RACE(oneshot_sender_drop_vs_receiver_drop_quick, oneshot_setup, oneshot_a_sender_drop,
     oneshot_b_receiver_drop, oneshot_finish_both_dropped)
RACE(oneshot_send_vs_receiver_drop_quick, oneshot_setup, oneshot_a_send, oneshot_b_receiver_drop,
     oneshot_finish_send_vs_drop)
/* The receiver polls (maybe registering, maybe taking the value) and drops. */
static void oneshot_b_poll_then_drop(race *r) {
    r->vb = 0;
    r->sb = achan_oneshot_poll_recv(r->orx, &r->cx, &r->vb);
    achan_oneshot_receiver_drop(r->orx);
}
static void oneshot_finish_send_vs_poll_then_drop(race *r) {
    TEST_CHECK(r->sa == ACHAN_OK || r->sa == ACHAN_CLOSED);
    long received = r->sb == ACHAN_OK;
    TEST_CHECK(r->sb == ACHAN_OK || r->sb == ACHAN_PENDING);
    TEST_CHECK(!received || r->vb == 3);
    TEST_CHECK(atomic_load(&r->drops) + received == (r->sa == ACHAN_OK));
    round_done(r);
}
RACE(oneshot_send_vs_poll_then_drop, oneshot_setup, oneshot_a_send, oneshot_b_poll_then_drop,
     oneshot_finish_send_vs_poll_then_drop)
/* The sender registered in poll_closed, then sends, against the drop. */
static void oneshot_setup_tx_waiting(race *r) {
    oneshot_setup(r);
    TEST_CHECK(achan_oneshot_poll_closed(r->otx, &r->cx) == ACHAN_PENDING);
}
RACE(oneshot_send_with_tx_task_vs_receiver_drop, oneshot_setup_tx_waiting, oneshot_a_send,
     oneshot_b_receiver_drop, oneshot_finish_send_vs_drop)

/* ------------------------------------------------------------------------ */
/* watch                                                                     */

static void watch_setup(race *r) {
    round_init(r, sizeof(int), 0);
    int v = 0;
    TEST_CHECK(achan_watch_new(&r->opts, &v, &r->wtx, &r->wrx) == ACHAN_OK);
}
static void watch_setup_waiting(race *r) {
    watch_setup(r);
    TEST_CHECK(achan_watch_poll_changed(r->wrx, &r->cx) == ACHAN_PENDING);
}

static void watch_a_sender_drop(race *r) {
    achan_watch_sender_drop(r->wtx);
}
static void watch_b_sender_drop(race *r) {
    achan_watch_sender_drop(r->wtx);
}
static void watch_a_receiver_drop(race *r) {
    achan_watch_receiver_drop(r->wrx);
}
static void watch_b_receiver_drop(race *r) {
    achan_watch_receiver_drop(r->wrx);
}

/* 1. The sender and the last receiver (waiting) go at once. */
static void watch_finish_both_dropped(race *r) {
    round_done(r);
}
RACE(watch_sender_drop_vs_receiver_drop, watch_setup_waiting, watch_a_sender_drop,
     watch_b_receiver_drop, watch_finish_both_dropped)

/* 2. A send against the last receiver's drop (the receiver waiting, so the
 * send may be waking it while it goes). */
static void watch_b_send(race *r) {
    r->vb = 5;
    r->sb = achan_watch_send(r->wtx, &r->vb);
}
static void watch_finish_send_vs_drop(race *r) {
    TEST_CHECK(r->sb == ACHAN_OK || r->sb == ACHAN_CLOSED);
    TEST_CHECK(achan_watch_receiver_count(r->wtx) == 0);
    TEST_CHECK(achan_watch_send(r->wtx, &r->vb) == ACHAN_CLOSED);
    achan_watch_sender_drop(r->wtx);
    round_done(r);
}
RACE(watch_send_vs_last_receiver_drop, watch_setup_waiting, watch_a_receiver_drop, watch_b_send,
     watch_finish_send_vs_drop)

/* 3. subscribe reopening the channel against the last receiver's drop,
 * with the sender waiting in poll_closed. */
static void watch_setup_poll_closed(race *r) {
    watch_setup(r);
    TEST_CHECK(achan_watch_poll_closed(r->wtx, &r->cx) == ACHAN_PENDING);
}
static void watch_a_subscribe(race *r) {
    r->wrx2 = achan_watch_subscribe(r->wtx);
}
static void watch_finish_subscribe_vs_drop(race *r) {
    TEST_CHECK(r->wrx2 != NULL);
    TEST_CHECK(achan_watch_receiver_count(r->wtx) == 1);
    TEST_CHECK(achan_watch_send(r->wtx, &r->vb) == ACHAN_OK);
    long before = test_waker_wakes(&r->tw); /* The drop may have woken it already. */
    TEST_CHECK(achan_watch_poll_closed(r->wtx, &r->cx) == ACHAN_PENDING); /* rx2 lives. */
    achan_watch_receiver_drop(r->wrx2);
    TEST_CHECK(test_waker_wakes(&r->tw) > before);
    TEST_CHECK(achan_watch_poll_closed(r->wtx, &r->cx) == ACHAN_OK);
    achan_watch_sender_drop(r->wtx);
    round_done(r);
}
RACE(watch_subscribe_vs_last_receiver_drop, watch_setup_poll_closed, watch_a_subscribe,
     watch_b_receiver_drop, watch_finish_subscribe_vs_drop)

/* 4. receiver_clone (a new subscription) against the sender's drop: the new
 * receiver must see the end, never wait for it in vain. */
static void watch_a_clone(race *r) {
    r->wrx2 = achan_watch_receiver_clone(r->wrx);
}
static void watch_finish_clone_vs_sender_drop(race *r) {
    TEST_CHECK(r->wrx2 != NULL);
    TEST_CHECK(achan_watch_changed_blocking(r->wrx2, WAIT_NS) == ACHAN_CLOSED);
    TEST_CHECK(achan_watch_changed_blocking(r->wrx, WAIT_NS) == ACHAN_CLOSED);
    achan_watch_receiver_drop(r->wrx2);
    achan_watch_receiver_drop(r->wrx);
    round_done(r);
}
RACE(watch_receiver_clone_vs_sender_drop, watch_setup, watch_a_clone, watch_b_sender_drop,
     watch_finish_clone_vs_sender_drop)

/* 5. poll_changed registering against a send. */
static void watch_a_poll_changed(race *r) {
    r->sa = achan_watch_poll_changed(r->wrx, &r->cx);
}
static void watch_finish_poll_changed_vs_send(race *r) {
    TEST_CHECK(r->sb == ACHAN_OK);
    if (r->sa == ACHAN_PENDING) {
        TEST_CHECK(woken(r));
        TEST_CHECK(achan_watch_poll_changed(r->wrx, &r->cx) == ACHAN_OK);
    } else {
        TEST_CHECK(r->sa == ACHAN_OK);
    }
    int v = 0;
    achan_watch_borrow_and_update(r->wrx, &v);
    TEST_CHECK(v == 5);
    TEST_CHECK(achan_watch_has_changed(r->wrx) == ACHAN_EMPTY);
    achan_watch_sender_drop(r->wtx);
    achan_watch_receiver_drop(r->wrx);
    round_done(r);
}
RACE(watch_poll_changed_vs_send, watch_setup, watch_a_poll_changed, watch_b_send,
     watch_finish_poll_changed_vs_send)

/* 6. poll_changed registering against the sender's drop. */
static void watch_finish_poll_changed_vs_sender_drop(race *r) {
    if (r->sa == ACHAN_PENDING) {
        TEST_CHECK(woken(r));
        TEST_CHECK(achan_watch_poll_changed(r->wrx, &r->cx) == ACHAN_CLOSED);
    } else {
        TEST_CHECK(r->sa == ACHAN_CLOSED);
    }
    achan_watch_receiver_drop(r->wrx);
    round_done(r);
}
RACE(watch_poll_changed_vs_sender_drop, watch_setup, watch_a_poll_changed, watch_b_sender_drop,
     watch_finish_poll_changed_vs_sender_drop)

/* 7. The last receiver's drop against the sender registering in
 * poll_closed. */
static void watch_b_poll_closed(race *r) {
    r->sb = achan_watch_poll_closed(r->wtx, &r->cx);
}
static void watch_finish_drop_vs_poll_closed(race *r) {
    if (r->sb == ACHAN_PENDING) {
        TEST_CHECK(woken(r));
        TEST_CHECK(achan_watch_poll_closed(r->wtx, &r->cx) == ACHAN_OK);
    } else {
        TEST_CHECK(r->sb == ACHAN_OK);
    }
    achan_watch_sender_drop(r->wtx);
    round_done(r);
}
RACE(watch_receiver_drop_vs_poll_closed, watch_setup, watch_a_receiver_drop, watch_b_poll_closed,
     watch_finish_drop_vs_poll_closed)

/* ------------------------------------------------------------------------ */
/* broadcast                                                                 */

static void bcast_setup(race *r) {
    round_init(r, sizeof(int), 4);
    TEST_CHECK(achan_broadcast_new(&r->opts, &r->btx, &r->brx) == ACHAN_OK);
}
static void bcast_setup_waiting(race *r) {
    bcast_setup(r);
    int v;
    TEST_CHECK(achan_broadcast_poll_recv(r->brx, &r->cx, &v, NULL) == ACHAN_PENDING);
}

static void bcast_a_sender_drop(race *r) {
    achan_broadcast_sender_drop(r->btx);
}
static void bcast_b_sender_drop(race *r) {
    achan_broadcast_sender_drop(r->btx);
}
static void bcast_a_receiver_drop(race *r) {
    achan_broadcast_receiver_drop(r->brx);
}
static void bcast_b_receiver_drop(race *r) {
    achan_broadcast_receiver_drop(r->brx);
}

/* 1. The last sender and the last receiver (waiting) go at once. */
static void bcast_finish_both_dropped(race *r) {
    round_done(r);
}
RACE(broadcast_last_sender_drop_vs_receiver_drop, bcast_setup_waiting, bcast_a_sender_drop,
     bcast_b_receiver_drop, bcast_finish_both_dropped)

/* 2. A send against the last receiver's drop, the receiver waiting (so the
 * send may be waking it while it goes). */
static void bcast_b_send(race *r) {
    r->vb = 6;
    size_t n = 99;
    r->sb = achan_broadcast_send(r->btx, &r->vb, &n);
    TEST_CHECK(n == (r->sb == ACHAN_OK ? 1u : 0u));
}
static void bcast_finish_send_vs_drop(race *r) {
    TEST_CHECK(r->sb == ACHAN_OK || r->sb == ACHAN_CLOSED);
    TEST_CHECK(achan_broadcast_receiver_count(r->btx) == 0);
    TEST_CHECK(achan_broadcast_send(r->btx, &r->vb, NULL) == ACHAN_CLOSED);
    achan_broadcast_sender_drop(r->btx);
    round_done(r);
}
RACE(broadcast_send_vs_last_receiver_drop, bcast_setup_waiting, bcast_a_receiver_drop, bcast_b_send,
     bcast_finish_send_vs_drop)

/* 3. subscribe (then its sender's drop) against a send and the other
 * sender's drop: whichever drop is last, both receivers end with CLOSED;
 * the old one also gets the message, the new one gets it or not. */
static void bcast_setup_two_senders(race *r) {
    bcast_setup(r);
    r->btx2 = achan_broadcast_sender_clone(r->btx);
    TEST_CHECK(r->btx2 != NULL);
}
static void bcast_a_subscribe_then_drop(race *r) {
    r->brx2 = achan_broadcast_subscribe(r->btx);
    achan_broadcast_sender_drop(r->btx);
}
static void bcast_b_send_then_drop(race *r) {
    r->vb = 8;
    r->sb = achan_broadcast_send(r->btx2, &r->vb, NULL);
    achan_broadcast_sender_drop(r->btx2);
}
static void bcast_finish_subscribe_vs_sender_drop(race *r) {
    TEST_CHECK(r->brx2 != NULL);
    TEST_CHECK(r->sb == ACHAN_OK);
    int v = 0;
    TEST_CHECK(achan_broadcast_recv_blocking(r->brx, &v, NULL, WAIT_NS) == ACHAN_OK && v == 8);
    TEST_CHECK(achan_broadcast_recv_blocking(r->brx, &v, NULL, WAIT_NS) == ACHAN_CLOSED);
    achan_status st = achan_broadcast_recv_blocking(r->brx2, &v, NULL, WAIT_NS);
    if (st == ACHAN_OK) {
        TEST_CHECK(v == 8);
        st = achan_broadcast_recv_blocking(r->brx2, &v, NULL, WAIT_NS);
    }
    TEST_CHECK(st == ACHAN_CLOSED); /* TIMEOUT: a lost wake-up. */
    achan_broadcast_receiver_drop(r->brx2);
    achan_broadcast_receiver_drop(r->brx);
    round_done(r);
}
RACE(broadcast_subscribe_vs_last_sender_drop, bcast_setup_two_senders, bcast_a_subscribe_then_drop,
     bcast_b_send_then_drop, bcast_finish_subscribe_vs_sender_drop)

/* 4. resubscribe against the only sender's drop. */
static void bcast_a_resubscribe(race *r) {
    r->brx2 = achan_broadcast_resubscribe(r->brx);
}
static void bcast_finish_resubscribe_vs_sender_drop(race *r) {
    TEST_CHECK(r->brx2 != NULL);
    int v;
    TEST_CHECK(achan_broadcast_recv_blocking(r->brx2, &v, NULL, WAIT_NS) == ACHAN_CLOSED);
    TEST_CHECK(achan_broadcast_recv_blocking(r->brx, &v, NULL, WAIT_NS) == ACHAN_CLOSED);
    achan_broadcast_receiver_drop(r->brx2);
    achan_broadcast_receiver_drop(r->brx);
    round_done(r);
}
RACE(broadcast_resubscribe_vs_sender_drop, bcast_setup, bcast_a_resubscribe, bcast_b_sender_drop,
     bcast_finish_resubscribe_vs_sender_drop)

/* 5. poll_recv registering against a send. */
static void bcast_a_poll_recv(race *r) {
    r->va = 0;
    r->sa = achan_broadcast_poll_recv(r->brx, &r->cx, &r->va, NULL);
}
static void bcast_finish_poll_recv_vs_send(race *r) {
    TEST_CHECK(r->sb == ACHAN_OK);
    if (r->sa == ACHAN_PENDING) {
        TEST_CHECK(woken(r));
        TEST_CHECK(achan_broadcast_poll_recv(r->brx, &r->cx, &r->va, NULL) == ACHAN_OK);
    } else {
        TEST_CHECK(r->sa == ACHAN_OK);
    }
    TEST_CHECK(r->va == 6);
    TEST_CHECK(achan_broadcast_try_recv(r->brx, &r->va, NULL) == ACHAN_EMPTY);
    achan_broadcast_sender_drop(r->btx);
    achan_broadcast_receiver_drop(r->brx);
    round_done(r);
}
RACE(broadcast_poll_recv_vs_send, bcast_setup, bcast_a_poll_recv, bcast_b_send,
     bcast_finish_poll_recv_vs_send)

/* 6. poll_recv registering against the last sender's drop. */
static void bcast_finish_poll_recv_vs_sender_drop(race *r) {
    if (r->sa == ACHAN_PENDING) {
        TEST_CHECK(woken(r));
        TEST_CHECK(achan_broadcast_poll_recv(r->brx, &r->cx, &r->va, NULL) == ACHAN_CLOSED);
    } else {
        TEST_CHECK(r->sa == ACHAN_CLOSED);
    }
    achan_broadcast_receiver_drop(r->brx);
    round_done(r);
}
RACE(broadcast_poll_recv_vs_sender_drop, bcast_setup, bcast_a_poll_recv, bcast_b_sender_drop,
     bcast_finish_poll_recv_vs_sender_drop)

/* 7. One receiver registering while another, also waiting, is dropped: the
 * waiting list stays whole, and a send wakes the one left. */
static void bcast_setup_two_receivers(race *r) {
    bcast_setup(r);
    r->brx2 = achan_broadcast_subscribe(r->btx);
    TEST_CHECK(r->brx2 != NULL);
    /* brx2 waits with a no-op waker (the counting one is for brx). */
    achan_waker noop = achan_waker_noop();
    achan_context cx = {&noop};
    int v;
    TEST_CHECK(achan_broadcast_poll_recv(r->brx2, &cx, &v, NULL) == ACHAN_PENDING);
}
static void bcast_b_drop_other(race *r) {
    achan_broadcast_receiver_drop(r->brx2);
}
static void bcast_finish_registration_vs_other_drop(race *r) {
    TEST_CHECK(r->sa == ACHAN_PENDING);
    TEST_CHECK(!woken(r));
    size_t n = 0;
    r->vb = 6;
    TEST_CHECK(achan_broadcast_send(r->btx, &r->vb, &n) == ACHAN_OK && n == 1);
    TEST_CHECK(woken(r));
    TEST_CHECK(achan_broadcast_try_recv(r->brx, &r->va, NULL) == ACHAN_OK && r->va == 6);
    achan_broadcast_sender_drop(r->btx);
    achan_broadcast_receiver_drop(r->brx);
    round_done(r);
}
RACE(broadcast_poll_recv_vs_other_receiver_drop, bcast_setup_two_receivers, bcast_a_poll_recv,
     bcast_b_drop_other, bcast_finish_registration_vs_other_drop)

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(mpsc_last_sender_drop_vs_receiver_drop),
        cmocka_unit_test(mpsc_send_and_sender_drop_vs_receiver_drop),
        cmocka_unit_test(mpsc_close_vs_send),
        cmocka_unit_test(mpsc_close_vs_blocked_send),
        cmocka_unit_test(mpsc_receiver_drop_vs_poll_send),
        cmocka_unit_test(mpsc_poll_recv_vs_send),
        cmocka_unit_test(mpsc_poll_recv_vs_sender_drop),
        cmocka_unit_test(mpsc_poll_send_vs_recv),
        cmocka_unit_test(oneshot_sender_drop_vs_receiver_drop),
        cmocka_unit_test(oneshot_send_vs_receiver_drop),
        cmocka_unit_test(oneshot_close_vs_send),
        cmocka_unit_test(oneshot_receiver_drop_vs_poll_closed),
        cmocka_unit_test(oneshot_poll_recv_vs_send),
        cmocka_unit_test(oneshot_poll_recv_vs_sender_drop),
        cmocka_unit_test(oneshot_recv_blocking_vs_send),
        cmocka_unit_test(oneshot_sender_drop_vs_receiver_drop_quick),
        cmocka_unit_test(oneshot_send_vs_receiver_drop_quick),
        cmocka_unit_test(oneshot_send_vs_poll_then_drop),
        cmocka_unit_test(oneshot_send_with_tx_task_vs_receiver_drop),
        cmocka_unit_test(watch_sender_drop_vs_receiver_drop),
        cmocka_unit_test(watch_send_vs_last_receiver_drop),
        cmocka_unit_test(watch_subscribe_vs_last_receiver_drop),
        cmocka_unit_test(watch_receiver_clone_vs_sender_drop),
        cmocka_unit_test(watch_poll_changed_vs_send),
        cmocka_unit_test(watch_poll_changed_vs_sender_drop),
        cmocka_unit_test(watch_receiver_drop_vs_poll_closed),
        cmocka_unit_test(broadcast_last_sender_drop_vs_receiver_drop),
        cmocka_unit_test(broadcast_send_vs_last_receiver_drop),
        cmocka_unit_test(broadcast_subscribe_vs_last_sender_drop),
        cmocka_unit_test(broadcast_resubscribe_vs_sender_drop),
        cmocka_unit_test(broadcast_poll_recv_vs_send),
        cmocka_unit_test(broadcast_poll_recv_vs_sender_drop),
        cmocka_unit_test(broadcast_poll_recv_vs_other_receiver_drop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
