/* test_parker.c - unit tests for the thread parker: the public block.h
 * functions and the internal src/parker.h ones (backoff, block_poll with a
 * cancel callback, deadlines).
 *
 * Tests run on cmocka's thread one after another and share its parker, so
 * each starts by draining any token a previous test left behind. Threads
 * never call cmocka assertions: they count failures, which the test thread
 * asserts on after joining them.
 */
#define _POSIX_C_SOURCE 200809L
#include "test_support.h"

#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <time.h>

#include "parker.h"

#define MS 1000000LL
/* Long enough never to expire on a loaded machine or under a sanitizer; a
 * lost wake-up then fails the test instead of hanging it. */
#define GENEROUS (10000 * MS)

#ifndef ACHAN_TEST_PARKER
#define ACHAN_TEST_PARKER "auto"
#endif

static void drain_tokens(void) {
    while (achan_thread_park(0) == ACHAN_OK) {
    }
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- tokens ---- */

static void wake_before_park_returns_at_once(void **state) {
    (void)state;
    drain_tokens();
    achan_waker w;
    assert_int_equal(achan_thread_waker(&w), ACHAN_OK);
    achan_waker_wake_by_ref(&w);
    uint64_t t0 = achan_monotonic_ns();
    assert_int_equal(achan_thread_park(GENEROUS), ACHAN_OK);
    assert_true(achan_monotonic_ns() - t0 < (uint64_t)(1000 * MS));
    /* The token was consumed. */
    assert_int_equal(achan_thread_park(0), ACHAN_TIMEOUT);
    /* Waking a clone by value leaves a token too, even for a park(-1). */
    achan_waker c = achan_waker_clone(&w);
    assert_true(achan_waker_will_wake(&w, &c));
    achan_waker_wake(c);
    assert_int_equal(achan_thread_park(-1), ACHAN_OK);
    assert_int_equal(achan_thread_park(0), ACHAN_TIMEOUT);
    achan_waker_drop(w);
    assert_int_equal(achan_thread_waker(NULL), ACHAN_INVALID);
}

static void internal_park_and_unpark(void **state) {
    (void)state;
    drain_tokens();
    achan__parker *p = achan__parker_current();
    assert_non_null(p);
    assert_ptr_equal(achan__parker_current(), p);
    /* The thread waker wakes this very parker. */
    achan_waker tw, pw = achan__parker_waker(p);
    assert_int_equal(achan_thread_waker(&tw), ACHAN_OK);
    assert_true(achan_waker_will_wake(&tw, &pw));
    achan_waker_drop(tw);
    achan_waker_drop(pw);
    achan__parker_unpark(p);
    assert_true(achan__parker_park(p, ACHAN__NO_DEADLINE));
    assert_false(achan__parker_park(p, 0));
    assert_false(achan__parker_park(p, achan_monotonic_ns() + MS));
    achan__parker_unpark(p);
    /* A token beats an expired deadline. */
    assert_true(achan__parker_park(p, 0));
}

static void park_times_out(void **state) {
    (void)state;
    drain_tokens();
    uint64_t t0 = achan_monotonic_ns();
    assert_int_equal(achan_thread_park(0), ACHAN_TIMEOUT);
    assert_int_equal(achan_thread_park(3 * MS), ACHAN_TIMEOUT);
    assert_true(achan_monotonic_ns() - t0 >= (uint64_t)(3 * MS));
}

static void many_wakes_coalesce_into_one_token(void **state) {
    (void)state;
    drain_tokens();
    achan_waker w;
    assert_int_equal(achan_thread_waker(&w), ACHAN_OK);
    for (int i = 0; i < 1000; i++)
        achan_waker_wake_by_ref(&w);
    assert_int_equal(achan_thread_park(0), ACHAN_OK);
    assert_int_equal(achan_thread_park(0), ACHAN_TIMEOUT);
    assert_int_equal(achan_thread_park(MS), ACHAN_TIMEOUT);
    achan_waker_drop(w);
}

typedef struct {
    achan_waker w; /* A clone owned by the thread. */
    int n;
} waker_args;

static void *wake_many(void *arg) {
    waker_args *a = arg;
    for (int i = 0; i < a->n; i++)
        achan_waker_wake_by_ref(&a->w);
    achan_waker_wake(a->w);
    return NULL;
}

static void wakes_from_many_threads_coalesce(void **state) {
    (void)state;
    drain_tokens();
    achan_waker w;
    assert_int_equal(achan_thread_waker(&w), ACHAN_OK);
    pthread_t t[4];
    waker_args a[4];
    for (int i = 0; i < 4; i++) {
        a[i].w = achan_waker_clone(&w);
        a[i].n = 2000;
        assert_int_equal(pthread_create(&t[i], NULL, wake_many, &a[i]), 0);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(achan_thread_park(0), ACHAN_OK);
    assert_int_equal(achan_thread_park(0), ACHAN_TIMEOUT);
    achan_waker_drop(w);
}

/* ---- cross-thread wake-ups ---- */

typedef struct {
    achan_waker w;
    atomic_int flag;
} delayed_wake_args;

static void *wake_later(void *arg) {
    delayed_wake_args *a = arg;
    sleep_ms(20); /* Long enough for the test thread to be asleep in the kernel. */
    atomic_store(&a->flag, 1);
    achan_waker_wake(a->w);
    return NULL;
}

static void cross_thread_wake_unparks(void **state) {
    (void)state;
    for (int round = 0; round < 5; round++) {
        drain_tokens();
        achan_waker w;
        assert_int_equal(achan_thread_waker(&w), ACHAN_OK);
        delayed_wake_args a;
        a.w = achan_waker_clone(&w);
        atomic_init(&a.flag, 0);
        pthread_t t;
        uint64_t t0 = achan_monotonic_ns();
        assert_int_equal(pthread_create(&t, NULL, wake_later, &a), 0);
        while (!atomic_load(&a.flag))
            assert_int_equal(achan_thread_park(GENEROUS), ACHAN_OK);
        assert_true(achan_monotonic_ns() - t0 < (uint64_t)GENEROUS);
        pthread_join(t, NULL);
        achan_waker_drop(w);
    }
}

/* Ping-pong: two threads take turns, each parking until the other wakes it.
 * Every park has a deadline, so a lost wake-up counts as a failure. */
typedef struct {
    pthread_barrier_t start;
    achan_waker wakers[2];
    atomic_long turn;
    atomic_long failures;
    long rounds;
} pingpong;

typedef struct {
    pingpong *pp;
    int me;
} pingpong_args;

static void *pingpong_player(void *arg) {
    pingpong_args *a = arg;
    pingpong *pp = a->pp;
    if (achan_thread_waker(&pp->wakers[a->me]) != ACHAN_OK)
        atomic_fetch_add(&pp->failures, 1);
    pthread_barrier_wait(&pp->start);
    const achan_waker *other = &pp->wakers[1 - a->me];
    for (long i = 0; i < pp->rounds; i++) {
        long mine = 2 * i + a->me;
        while (atomic_load(&pp->turn) != mine) {
            if (achan_thread_park(GENEROUS) != ACHAN_OK && atomic_load(&pp->turn) != mine) {
                atomic_fetch_add(&pp->failures, 1);
                goto out;
            }
        }
        atomic_store(&pp->turn, mine + 1);
        achan_waker_wake_by_ref(other);
    }
out:
    /* Both are done with the other's waker before either drops its own. */
    pthread_barrier_wait(&pp->start);
    achan_waker_drop(pp->wakers[a->me]);
    return NULL;
}

static void pingpong_between_threads(void **state) {
    (void)state;
    pingpong pp;
    pthread_barrier_init(&pp.start, NULL, 2);
    atomic_init(&pp.turn, 0);
    atomic_init(&pp.failures, 0);
    pp.rounds = (long)test_stress_count(20000);
    pingpong_args a[2] = {{&pp, 0}, {&pp, 1}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, pingpong_player, &a[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&pp.start);
    assert_int_equal(atomic_load(&pp.failures), 0);
    assert_int_equal(atomic_load(&pp.turn), 2 * pp.rounds);
}

/* ---- lifetime: a waker outlives its thread ---- */

typedef struct {
    achan_waker out;
    achan_status st;
} outlive_args;

static void *make_waker_and_exit(void *arg) {
    outlive_args *a = arg;
    achan_waker w;
    a->st = achan_thread_waker(&w);
    if (a->st != ACHAN_OK)
        return NULL;
    /* Use the parker once so it holds a token and has slept. */
    achan_waker_wake_by_ref(&w);
    achan_thread_park(0);
    achan_thread_park(MS);
    a->out = achan_waker_clone(&w);
    achan_waker_drop(w);
    return NULL;
}

static void thread_waker_outlives_its_thread(void **state) {
    (void)state;
    outlive_args a;
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, make_waker_and_exit, &a), 0);
    pthread_join(t, NULL);
    assert_int_equal(a.st, ACHAN_OK);
    /* The thread is gone; its parker lives on through our waker. */
    achan_waker_wake_by_ref(&a.out);
    achan_waker c = achan_waker_clone(&a.out);
    achan_waker_wake(c);
    c = achan_waker_clone(&a.out);
    achan_waker_drop(c);
    achan_waker_wake(a.out); /* The last reference: frees the parker. */
}

/* The same while the thread exits: wakes race with its key destructor. */
static void *make_waker_and_exit_at_once(void *arg) {
    outlive_args *a = arg;
    achan_waker w;
    a->st = achan_thread_waker(&w);
    if (a->st == ACHAN_OK)
        a->out = w; /* Handed over: the test thread drops it. */
    return NULL;
}

static void waking_while_the_thread_exits(void **state) {
    (void)state;
    for (int round = 0; round < 50; round++) {
        outlive_args a;
        a.st = ACHAN_INVALID;
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, make_waker_and_exit_at_once, &a), 0);
        pthread_join(t, NULL);
        assert_int_equal(a.st, ACHAN_OK);
        achan_waker_wake_by_ref(&a.out);
        achan_waker_drop(a.out);
    }
    /* And woken from another thread during the exit itself. */
    for (int round = 0; round < 50; round++) {
        drain_tokens();
        achan_waker mine;
        assert_int_equal(achan_thread_waker(&mine), ACHAN_OK);
        waker_args wa = {achan_waker_clone(&mine), 500};
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, wake_many, &wa), 0);
        /* The waking thread holds the only clone and drops it as it exits. */
        pthread_join(t, NULL);
        assert_int_equal(achan_thread_park(0), ACHAN_OK);
        achan_waker_drop(mine);
    }
}

/* ---- backend, backoff, clock ---- */

static void parker_backend_matches_the_build(void **state) {
    (void)state;
    const char *b = achan_parker_backend();
    assert_non_null(b);
    const char *want = ACHAN_TEST_PARKER;
    if (strcmp(want, "auto") == 0) {
#if defined(__linux__)
        want = "futex";
#else
        want = "condvar";
#endif
    }
    assert_string_equal(b, want);
}

static void backoff_snooze_ends(void **state) {
    (void)state;
    achan__backoff b = ACHAN__BACKOFF_INIT;
    int steps = 0;
    while (achan__backoff_snooze(&b)) {
        steps++;
        assert_true(steps < 10000);
    }
    assert_true(steps >= 1);
    /* Once over, it stays over. */
    assert_false(achan__backoff_snooze(&b));
    assert_false(achan__backoff_snooze(&b));
    /* A fresh one starts again. */
    achan__backoff again = ACHAN__BACKOFF_INIT;
    assert_true(achan__backoff_snooze(&again));
}

static void monotonic_clock_is_monotonic(void **state) {
    (void)state;
    uint64_t prev = achan_monotonic_ns();
    assert_true(prev > 0);
    for (int i = 0; i < 100000; i++) {
        uint64_t now = achan_monotonic_ns();
        assert_true(now >= prev);
        prev = now;
    }
    uint64_t t0 = achan_monotonic_ns();
    sleep_ms(2);
    assert_true(achan_monotonic_ns() - t0 >= (uint64_t)(2 * MS));

    assert_true(achan__deadline_after(-1) == ACHAN__NO_DEADLINE);
    assert_true(achan__deadline_after(INT64_MIN) == ACHAN__NO_DEADLINE);
    uint64_t before = achan_monotonic_ns();
    uint64_t d = achan__deadline_after(5 * MS);
    uint64_t after = achan_monotonic_ns();
    assert_true(d >= before + (uint64_t)(5 * MS));
    assert_true(d <= after + (uint64_t)(5 * MS));
    d = achan__deadline_after(0);
    assert_true(d >= before && d <= achan_monotonic_ns());
}

/* ---- achan__block_poll ---- */

typedef struct {
    int polls, cancels;
    int ready_at_poll;        /* Poll number (1-based) that returns final; 0: never. */
    achan_status final;       /* What that poll returns. */
    achan_status cancel_says; /* What cancel returns. */
    bool self_wake;           /* PENDING polls wake the waker by reference. */
    bool waker_was_thread_waker;
} scripted;

static achan_status scripted_poll(void *arg, achan_context *cx) {
    scripted *s = arg;
    s->polls++;
    achan_waker tw;
    if (achan_thread_waker(&tw) == ACHAN_OK) {
        s->waker_was_thread_waker = achan_waker_will_wake(cx->waker, &tw);
        achan_waker_drop(tw);
    }
    if (s->ready_at_poll && s->polls >= s->ready_at_poll)
        return s->final;
    if (s->self_wake)
        achan_waker_wake_by_ref(cx->waker);
    return ACHAN_PENDING;
}

static achan_status scripted_cancel(void *arg) {
    scripted *s = arg;
    s->cancels++;
    return s->cancel_says;
}

static void block_poll_returns_what_poll_returns(void **state) {
    (void)state;
    drain_tokens();
    scripted s = {.ready_at_poll = 1, .final = ACHAN_OK, .cancel_says = ACHAN_TIMEOUT};
    assert_int_equal(achan__block_poll(scripted_poll, scripted_cancel, &s, ACHAN__NO_DEADLINE),
                     ACHAN_OK);
    assert_int_equal(s.polls, 1);
    assert_int_equal(s.cancels, 0);
    assert_true(s.waker_was_thread_waker);

    /* Self-woken PENDING polls, then CLOSED. */
    scripted c = {.ready_at_poll = 4, .final = ACHAN_CLOSED, .self_wake = true};
    assert_int_equal(achan__block_poll(scripted_poll, scripted_cancel, &c, GENEROUS), ACHAN_CLOSED);
    assert_int_equal(c.polls, 4);
    assert_int_equal(c.cancels, 0);
}

static void block_poll_timeout_calls_cancel(void **state) {
    (void)state;
    drain_tokens();
    scripted s = {.cancel_says = ACHAN_TIMEOUT};
    uint64_t t0 = achan_monotonic_ns();
    assert_int_equal(
        achan__block_poll(scripted_poll, scripted_cancel, &s, achan__deadline_after(3 * MS)),
        ACHAN_TIMEOUT);
    assert_true(achan_monotonic_ns() - t0 >= (uint64_t)(3 * MS));
    assert_int_equal(s.cancels, 1);
    /* The first poll, and one last look after the deadline. */
    assert_true(s.polls >= 2);

    /* Without cancel: TIMEOUT. */
    scripted n = {0};
    assert_int_equal(achan__block_poll(scripted_poll, NULL, &n, achan__deadline_after(MS)),
                     ACHAN_TIMEOUT);
    assert_true(n.polls >= 2);

    /* A deadline already passed still polls (twice: the try and the last look). */
    scripted z = {.cancel_says = ACHAN_TIMEOUT};
    assert_int_equal(achan__block_poll(scripted_poll, scripted_cancel, &z, 0), ACHAN_TIMEOUT);
    assert_int_equal(z.polls, 2);
    assert_int_equal(z.cancels, 1);
}

static void block_poll_ok_from_cancel(void **state) {
    (void)state;
    drain_tokens();
    /* The operation completed while being cancelled: cancel says OK. */
    scripted s = {.cancel_says = ACHAN_OK};
    assert_int_equal(
        achan__block_poll(scripted_poll, scripted_cancel, &s, achan__deadline_after(2 * MS)),
        ACHAN_OK);
    assert_int_equal(s.cancels, 1);
}

static void block_poll_last_look_wins_over_cancel(void **state) {
    (void)state;
    drain_tokens();
    /* Ready at the look after the deadline: no cancel. */
    scripted s = {.ready_at_poll = 2, .final = ACHAN_OK, .cancel_says = ACHAN_TIMEOUT};
    assert_int_equal(achan__block_poll(scripted_poll, scripted_cancel, &s, 0), ACHAN_OK);
    assert_int_equal(s.polls, 2);
    assert_int_equal(s.cancels, 0);
}

/* block_poll woken by another thread: the poll registers the waker and a
 * thread publishes, then wakes it. */
typedef struct {
    pthread_mutex_t lock;
    bool ready, has_waker;
    achan_waker waker;
    int cancels;
} remote;

static achan_status remote_poll(void *arg, achan_context *cx) {
    remote *r = arg;
    achan_waker old = {NULL, NULL};
    achan_status st = ACHAN_PENDING;
    pthread_mutex_lock(&r->lock);
    if (r->ready) {
        st = ACHAN_OK;
    } else {
        if (r->has_waker)
            old = r->waker;
        r->waker = achan_waker_clone(cx->waker);
        r->has_waker = true;
    }
    pthread_mutex_unlock(&r->lock);
    if (old.vtbl)
        achan_waker_drop(old);
    return st;
}

static achan_status remote_cancel(void *arg) {
    ((remote *)arg)->cancels++;
    return ACHAN_TIMEOUT;
}

static void *remote_complete(void *arg) {
    remote *r = arg;
    sleep_ms(10);
    achan_waker w = {NULL, NULL};
    pthread_mutex_lock(&r->lock);
    r->ready = true;
    if (r->has_waker) {
        w = r->waker;
        r->has_waker = false;
    }
    pthread_mutex_unlock(&r->lock);
    if (w.vtbl)
        achan_waker_wake(w);
    return NULL;
}

static void block_poll_woken_by_another_thread(void **state) {
    (void)state;
    drain_tokens();
    remote r;
    memset(&r, 0, sizeof r);
    pthread_mutex_init(&r.lock, NULL);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, remote_complete, &r), 0);
    assert_int_equal(
        achan__block_poll(remote_poll, remote_cancel, &r, achan__deadline_after(GENEROUS)),
        ACHAN_OK);
    pthread_join(t, NULL);
    assert_int_equal(r.cancels, 0);
    if (r.has_waker)
        achan_waker_drop(r.waker);
    pthread_mutex_destroy(&r.lock);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(wake_before_park_returns_at_once),
        cmocka_unit_test(internal_park_and_unpark),
        cmocka_unit_test(park_times_out),
        cmocka_unit_test(many_wakes_coalesce_into_one_token),
        cmocka_unit_test(wakes_from_many_threads_coalesce),
        cmocka_unit_test(cross_thread_wake_unparks),
        cmocka_unit_test(pingpong_between_threads),
        cmocka_unit_test(thread_waker_outlives_its_thread),
        cmocka_unit_test(waking_while_the_thread_exits),
        cmocka_unit_test(parker_backend_matches_the_build),
        cmocka_unit_test(backoff_snooze_ends),
        cmocka_unit_test(monotonic_clock_is_monotonic),
        cmocka_unit_test(block_poll_returns_what_poll_returns),
        cmocka_unit_test(block_poll_timeout_calls_cancel),
        cmocka_unit_test(block_poll_ok_from_cancel),
        cmocka_unit_test(block_poll_last_look_wins_over_cancel),
        cmocka_unit_test(block_poll_woken_by_another_thread),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
