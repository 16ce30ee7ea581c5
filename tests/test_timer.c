/* test_timer.c - timers (achan/timer.h): deadline order on the executor heap
 * and on the shared timer thread, arm / re-arm / move / disarm, the current
 * timer under each driver, and the sleep futures.
 *
 * Timings are noisy: only lower bounds and orders are asserted.
 */
#define _POSIX_C_SOURCE 200809L
#include "test_support.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "achan/combinators.h"
#include "timer_internal.h"

#define MS 1000000ull

/* ---- a waker that records the order in which entries fire ---- */

typedef struct {
    atomic_int order[512];
    atomic_int n;
} fire_log;

typedef struct {
    fire_log *fl;
    int id;
} rec_waker_data;

static achan_waker rec_clone(const void *data);
static void rec_wake_by_ref(const void *data) {
    const rec_waker_data *d = data;
    int i = atomic_fetch_add(&d->fl->n, 1);
    atomic_store(&d->fl->order[i], d->id);
}
static void rec_wake(void *data) {
    rec_wake_by_ref(data);
}
static void rec_drop(void *data) {
    (void)data;
}
static const achan_waker_vtbl rec_vtbl = {rec_clone, rec_wake, rec_wake_by_ref, rec_drop};
static achan_waker rec_clone(const void *data) {
    achan_waker w = {&rec_vtbl, (void *)data};
    return w;
}

static void sleep_ms(unsigned ms) {
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* n distinct deadlines from base, 300 us apart, in a shuffled order. */
static void shuffled_deadlines(uint64_t *d, int n, uint64_t base) {
    for (int i = 0; i < n; i++)
        d[i] = base + (uint64_t)i * 300000u;
    srand(12345);
    for (int i = n - 1; i > 0; i--) {
        int j = rand() % (i + 1);
        uint64_t t = d[i];
        d[i] = d[j];
        d[j] = t;
    }
}

/* Every fired id's deadline is later than the one before. */
static void assert_fired_in_order(fire_log *fl, const uint64_t *d, int n) {
    assert_int_equal(atomic_load(&fl->n), n);
    for (int i = 1; i < n; i++)
        assert_true(d[atomic_load(&fl->order[i - 1])] < d[atomic_load(&fl->order[i])]);
}

#define ORDER_N 200

static void shared_timer_fires_in_deadline_order(void **state) {
    (void)state;
    static achan_timer_entry e[ORDER_N];
    static rec_waker_data data[ORDER_N];
    static fire_log flog;
    uint64_t d[ORDER_N];
    atomic_store(&flog.n, 0);
    achan_timer *t = achan_timer_shared();
    assert_non_null(t);
    uint64_t start = achan_timer_now(t);
    shuffled_deadlines(d, ORDER_N, start + 20 * MS);
    for (int i = 0; i < ORDER_N; i++) {
        achan_timer_entry_init(&e[i]);
        data[i] = (rec_waker_data){&flog, i};
        achan_waker w = {&rec_vtbl, &data[i]};
        assert_int_equal(achan_timer_entry_arm(t, &e[i], d[i], &w), ACHAN_OK);
        assert_ptr_equal(e[i].owner, t);
    }
    while (atomic_load(&flog.n) < ORDER_N)
        sleep_ms(5);
    /* Nothing fired before its deadline: the first fired after start+20ms. */
    assert_true(achan_timer_now(t) >= start + 20 * MS);
    assert_fired_in_order(&flog, d, ORDER_N);
    for (int i = 0; i < ORDER_N; i++)
        achan_timer_entry_disarm(&e[i]); /* Fired: cheap, and owner cleared. */
    for (int i = 0; i < ORDER_N; i++)
        assert_null(e[i].owner);
}

typedef struct {
    int done;
} done_count;

static void count_done(achan_status st, void *output, void *user) {
    (void)output;
    assert_int_equal(st, ACHAN_OK);
    ((done_count *)user)->done++;
}

static void executor_heap_fires_in_deadline_order(void **state) {
    (void)state;
    static achan_timer_entry e[ORDER_N];
    static rec_waker_data data[ORDER_N];
    static fire_log flog;
    uint64_t d[ORDER_N];
    atomic_store(&flog.n, 0);
    achan_executor *ex;
    assert_int_equal(achan_executor_new(&ex), ACHAN_OK);
    achan_timer *t = achan_executor_timer(ex);
    uint64_t start = achan_timer_now(t);
    shuffled_deadlines(d, ORDER_N, start + 10 * MS);
    for (int i = 0; i < ORDER_N; i++) {
        achan_timer_entry_init(&e[i]);
        data[i] = (rec_waker_data){&flog, i};
        achan_waker w = {&rec_vtbl, &data[i]};
        assert_int_equal(achan_timer_entry_arm(t, &e[i], d[i], &w), ACHAN_OK);
    }
    /* A task sleeping past the last deadline keeps run() going meanwhile. */
    achan_future *f;
    assert_int_equal(achan_sleep_until(start + 10 * MS + ORDER_N * 300000ull + MS, &f), ACHAN_OK);
    done_count dc = {0};
    assert_int_equal(achan_executor_spawn(ex, f, count_done, &dc), ACHAN_OK);
    assert_int_equal(achan_executor_run(ex, -1), ACHAN_OK);
    assert_int_equal(dc.done, 1);
    assert_fired_in_order(&flog, d, ORDER_N);
    for (int i = 0; i < ORDER_N; i++)
        achan_timer_entry_disarm(&e[i]);
    achan_executor_drop(ex);
}

static void disarm_cancels_and_releases_the_waker(void **state) {
    (void)state;
    test_waker tw = {0};
    achan_waker w = test_waker_get(&tw);
    achan_timer *t = achan_timer_shared();
    achan_timer_entry e = ACHAN_TIMER_ENTRY_INIT;
    uint64_t deadline = achan_timer_now(t) + 10 * MS;
    assert_int_equal(achan_timer_entry_arm(t, &e, deadline, &w), ACHAN_OK);
    assert_int_equal(test_waker_live(&tw), 1);
    /* Same deadline, same waker: nothing is cloned again. */
    assert_int_equal(achan_timer_entry_arm(t, &e, deadline, &w), ACHAN_OK);
    assert_int_equal(atomic_load(&tw.clones), 1);
    achan_timer_entry_disarm(&e);
    assert_null(e.owner);
    assert_int_equal(test_waker_live(&tw), 0);
    sleep_ms(30);
    assert_int_equal(test_waker_wakes(&tw), 0);
    achan_timer_entry_disarm(&e); /* Unarmed: nothing. */
    achan_timer_entry_disarm(NULL);
}

/* An entry may outlive the heap it was armed on: after the heap fired it,
 * or after the heap was dropped with it still armed, disarming it (as an
 * adapter's drop does) must not touch the freed heap (ASan would see it). */
static void entries_outlive_a_dropped_heap(void **state) {
    (void)state;
    test_waker tw = {0};
    achan_waker w = test_waker_get(&tw);
    achan_timer_heap *th;
    assert_int_equal(achan_timer_heap_new(NULL, NULL, &th), ACHAN_OK);
    achan_timer *t = achan_timer_heap_timer(th);
    achan_timer_entry fired = ACHAN_TIMER_ENTRY_INIT, armed = ACHAN_TIMER_ENTRY_INIT;
    assert_int_equal(achan_timer_entry_arm(t, &fired, 100, &w), ACHAN_OK);
    assert_int_equal(achan_timer_entry_arm(t, &armed, 200, &w), ACHAN_OK);
    assert_int_equal(achan_timer_heap_fire(th, 150), 1);
    assert_int_equal(test_waker_wakes(&tw), 1);
    assert_null(fired.owner); /* Fired: it no longer refers to the heap. */
    assert_ptr_equal(armed.owner, t);
    achan_timer_heap_drop(th);
    assert_null(armed.owner); /* Dropped with the heap: disarmed, waker released. */
    assert_int_equal(test_waker_live(&tw), 0);
    achan_timer_entry_disarm(&fired);
    achan_timer_entry_disarm(&armed);
    assert_int_equal(test_waker_wakes(&tw), 1);
}

static void rearm_replaces_waker_and_deadline(void **state) {
    (void)state;
    test_waker a = {0}, b = {0};
    achan_waker wa = test_waker_get(&a), wb = test_waker_get(&b);
    achan_timer *t = achan_timer_shared();
    achan_timer_entry e = ACHAN_TIMER_ENTRY_INIT;
    uint64_t now = achan_timer_now(t);
    assert_int_equal(achan_timer_entry_arm(t, &e, now + 5 * MS, &wa), ACHAN_OK);
    assert_int_equal(achan_timer_entry_arm(t, &e, now + 15 * MS, &wb), ACHAN_OK);
    assert_int_equal(test_waker_live(&a), 0); /* Replaced: released unwoken. */
    while (test_waker_wakes(&b) == 0)
        sleep_ms(1);
    assert_true(achan_timer_now(t) >= now + 15 * MS);
    assert_int_equal(test_waker_wakes(&a), 0);
    assert_int_equal(test_waker_wakes(&b), 1);
    assert_int_equal(test_waker_live(&b), 0);
    achan_timer_entry_disarm(&e);
}

static void arm_moves_an_entry_between_timers(void **state) {
    (void)state;
    test_waker tw = {0};
    achan_waker w = test_waker_get(&tw);
    achan_executor *ex;
    assert_int_equal(achan_executor_new(&ex), ACHAN_OK);
    achan_timer *shared = achan_timer_shared(), *heap = achan_executor_timer(ex);
    achan_timer_entry e = ACHAN_TIMER_ENTRY_INIT;
    uint64_t now = achan_timer_now(shared);
    assert_int_equal(achan_timer_entry_arm(shared, &e, now + 5 * MS, &w), ACHAN_OK);
    assert_int_equal(achan_timer_entry_arm(heap, &e, now + 5 * MS, &w), ACHAN_OK);
    assert_ptr_equal(e.owner, heap);
    assert_int_equal(test_waker_live(&tw), 1); /* The shared timer released its clone. */
    sleep_ms(20);
    assert_int_equal(test_waker_wakes(&tw), 0); /* The shared thread no longer has it. */
    assert_int_equal(achan_executor_run_until_idle(ex), 0);
    assert_int_equal(test_waker_wakes(&tw), 1); /* The heap fired it. */
    assert_int_equal(test_waker_live(&tw), 0);
    achan_timer_entry_disarm(&e);
    achan_executor_drop(ex);
}

static void arm_rejects_bad_arguments(void **state) {
    (void)state;
    achan_waker w = achan_waker_noop(), nul = {NULL, NULL};
    achan_timer_entry e = ACHAN_TIMER_ENTRY_INIT;
    achan_timer *t = achan_timer_shared();
    assert_int_equal(achan_timer_entry_arm(NULL, &e, 0, &w), ACHAN_INVALID);
    assert_int_equal(achan_timer_entry_arm(t, NULL, 0, &w), ACHAN_INVALID);
    assert_int_equal(achan_timer_entry_arm(t, &e, 0, NULL), ACHAN_INVALID);
    assert_int_equal(achan_timer_entry_arm(t, &e, 0, &nul), ACHAN_INVALID);
    assert_null(e.owner);
    assert_int_equal(achan_sleep(1, NULL), ACHAN_INVALID);
    assert_int_equal(achan_sleep_until(1, NULL), ACHAN_INVALID);
    assert_true(achan_timer_now(NULL) > 0);
}

/* ---- the current timer ---- */

static void current_timer_outside_any_driver_is_the_shared_thread(void **state) {
    (void)state;
    assert_non_null(achan_timer_current());
    assert_ptr_equal(achan_timer_current(), achan_timer_shared());
    achan_timer mine = {NULL};
    assert_null(achan_timer_set_current(&mine));
    assert_ptr_equal(achan_timer_current(), &mine);
    assert_ptr_equal(achan_timer_set_current(NULL), &mine);
    assert_ptr_equal(achan_timer_current(), achan_timer_shared());
}

/* A future that records the current timer when polled, then completes. */
typedef struct {
    achan_future base;
    achan_timer *seen;
} probe_future;

static achan_status probe_poll(achan_future *f, achan_context *cx, void *out) {
    (void)cx;
    (void)out;
    ((probe_future *)f)->seen = achan_timer_current();
    return ACHAN_OK;
}
static void probe_drop(achan_future *f) {
    (void)f;
}
static const achan_future_vtbl probe_vtbl = {probe_poll, probe_drop};

static void current_timer_under_each_driver(void **state) {
    (void)state;
    probe_future p = {{&probe_vtbl, 0}, NULL};
    assert_int_equal(achan_block_on(&p.base, NULL, -1), ACHAN_OK);
    assert_ptr_equal(p.seen, achan__timer_thread());

    achan_executor *ex;
    assert_int_equal(achan_executor_new(&ex), ACHAN_OK);
    probe_future q = {{&probe_vtbl, 0}, NULL};
    assert_int_equal(achan_executor_spawn(ex, &q.base, NULL, NULL), ACHAN_OK);
    assert_int_equal(achan_executor_run(ex, -1), ACHAN_OK);
    assert_ptr_equal(q.seen, achan_executor_timer(ex));
    /* Restored after the poll. */
    assert_ptr_equal(achan_timer_current(), achan_timer_shared());
    achan_executor_drop(ex);
}

/* A task that blocks (a misuse, but one that must not hang): the blocking
 * loop's timer drives the sleep, not the executor's heap, which cannot fire
 * while its thread is blocked. */
typedef struct {
    achan_future base;
    achan_status st;
    achan_timer *seen;
} blocking_task;

static achan_status blocking_task_poll(achan_future *f, achan_context *cx, void *out) {
    (void)cx;
    (void)out;
    blocking_task *b = (blocking_task *)f;
    probe_future p = {{&probe_vtbl, 0}, NULL};
    achan_block_on(&p.base, NULL, -1);
    b->seen = p.seen;
    achan_future *s;
    assert_int_equal(achan_sleep(5 * MS, &s), ACHAN_OK);
    b->st = achan_block_on(s, NULL, 2000 * (int64_t)MS);
    achan_future_drop(s);
    return ACHAN_OK;
}
static const achan_future_vtbl blocking_task_vtbl = {blocking_task_poll, probe_drop};

static void blocking_inside_a_task_uses_the_thread_timer(void **state) {
    (void)state;
    achan_executor *ex;
    assert_int_equal(achan_executor_new(&ex), ACHAN_OK);
    blocking_task b = {{&blocking_task_vtbl, 0}, ACHAN_INVALID, NULL};
    assert_int_equal(achan_executor_spawn(ex, &b.base, NULL, NULL), ACHAN_OK);
    assert_int_equal(achan_executor_run(ex, -1), ACHAN_OK);
    assert_ptr_equal(b.seen, achan__timer_thread());
    assert_int_equal(b.st, ACHAN_OK);
    achan_executor_drop(ex);
}

static void thread_timer_outside_a_blocking_loop_hands_over_to_the_shared_thread(void **state) {
    (void)state;
    test_waker tw = {0};
    achan_waker w = test_waker_get(&tw);
    achan_timer_entry e = ACHAN_TIMER_ENTRY_INIT;
    achan_timer *tt = achan__timer_thread();
    assert_int_equal(achan_timer_entry_arm(tt, &e, achan_timer_now(tt) + 2 * MS, &w), ACHAN_OK);
    assert_ptr_equal(e.owner, achan_timer_shared());
    while (test_waker_wakes(&tw) == 0)
        sleep_ms(1);
    assert_int_equal(test_waker_live(&tw), 0);
    achan_timer_entry_disarm(&e);
}

/* ---- sleep ---- */

static void sleep_under_block_on_uses_the_thread_timer(void **state) {
    (void)state;
    achan_future *f;
    uint64_t start = achan_monotonic_ns();
    assert_int_equal(achan_sleep(20 * MS, &f), ACHAN_OK);
    assert_int_equal(f->output_size, 0);
    assert_int_equal(achan_block_on(f, NULL, -1), ACHAN_OK);
    assert_true(achan_monotonic_ns() >= start + 20 * MS);
    achan_future_drop(f);

    /* A block_on that times out first leaves the sleep pending; polled
     * again, it completes. */
    assert_int_equal(achan_sleep(30 * MS, &f), ACHAN_OK);
    start = achan_monotonic_ns();
    assert_int_equal(achan_block_on(f, NULL, 5 * MS), ACHAN_TIMEOUT);
    assert_int_equal(achan_block_on(f, NULL, -1), ACHAN_OK);
    achan_future_drop(f);

    /* A past deadline completes at once. */
    assert_int_equal(achan_sleep_until(0, &f), ACHAN_OK);
    assert_int_equal(achan_block_on(f, NULL, 0), ACHAN_OK);
    achan_future_drop(f);
}

static int done_order[8];
static int done_n;

static void record_done(achan_status st, void *output, void *user) {
    assert_int_equal(st, ACHAN_OK);
    assert_null(output);
    done_order[done_n++] = (int)(intptr_t)user;
}

static void sleeps_under_the_executor_complete_in_deadline_order(void **state) {
    (void)state;
    static const unsigned ms[] = {40, 10, 30, 20};
    achan_executor *ex;
    assert_int_equal(achan_executor_new(&ex), ACHAN_OK);
    done_n = 0;
    uint64_t start = achan_monotonic_ns();
    for (int i = 0; i < 4; i++) {
        achan_future *f;
        assert_int_equal(achan_sleep(ms[i] * MS, &f), ACHAN_OK);
        assert_int_equal(achan_executor_spawn(ex, f, record_done, (void *)(intptr_t)i), ACHAN_OK);
    }
    assert_int_equal(achan_executor_run(ex, -1), ACHAN_OK);
    assert_true(achan_monotonic_ns() >= start + 40 * MS);
    assert_int_equal(done_n, 4);
    assert_int_equal(done_order[0], 1);
    assert_int_equal(done_order[1], 3);
    assert_int_equal(done_order[2], 2);
    assert_int_equal(done_order[3], 0);
    achan_executor_drop(ex);
}

static void sleep_polled_by_hand_uses_the_shared_thread(void **state) {
    (void)state;
    achan_waker w;
    assert_int_equal(achan_thread_waker(&w), ACHAN_OK);
    achan_context cx = {&w};
    achan_future *f;
    uint64_t start = achan_monotonic_ns();
    assert_int_equal(achan_sleep(20 * MS, &f), ACHAN_OK);
    int polls = 0;
    achan_status st;
    while ((st = achan_future_poll(f, &cx, NULL)) == ACHAN_PENDING) {
        polls++;
        achan_thread_park(-1); /* Only the shared thread can wake us. */
    }
    assert_int_equal(st, ACHAN_OK);
    assert_true(polls >= 1);
    assert_true(achan_monotonic_ns() >= start + 20 * MS);
    achan_future_drop(f);
    achan_waker_drop(w);
}

static void sleep_dropped_while_armed_releases_its_waker(void **state) {
    (void)state;
    test_waker tw = {0};
    achan_waker w = test_waker_get(&tw);
    achan_context cx = {&w};
    achan_future *f;
    assert_int_equal(achan_sleep(50 * MS, &f), ACHAN_OK);
    assert_int_equal(achan_future_poll(f, &cx, NULL), ACHAN_PENDING);
    assert_int_equal(test_waker_live(&tw), 1);
    /* Polled again with the same waker: not cloned again. */
    assert_int_equal(achan_future_poll(f, &cx, NULL), ACHAN_PENDING);
    assert_int_equal(atomic_load(&tw.clones), 1);
    achan_future_drop(f);
    assert_int_equal(test_waker_live(&tw), 0);
    assert_int_equal(test_waker_wakes(&tw), 0);
}

static void sleep_allocation_failure(void **state) {
    (void)state;
    test_alloc ta;
    test_alloc_init(&ta);
    assert_int_equal(achan_set_default_allocator(&ta.a), ACHAN_OK);
    achan_future *f = (achan_future *)0x1;
    test_alloc_fail_at(&ta, 0);
    assert_int_equal(achan_sleep(MS, &f), ACHAN_NOMEM);
    test_alloc_fail_at(&ta, 0);
    assert_int_equal(achan_sleep_until(0, &f), ACHAN_NOMEM);
    assert_ptr_equal(f, (achan_future *)0x1);
    test_alloc_fail_at(&ta, -1);
    assert_int_equal(achan_sleep(MS, &f), ACHAN_OK);
    assert_int_equal(achan_block_on(f, NULL, -1), ACHAN_OK);
    achan_future_drop(f);
    assert_int_equal(test_alloc_live_bytes(&ta), 0);
    assert_int_equal(achan_set_default_allocator(NULL), ACHAN_OK);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(shared_timer_fires_in_deadline_order),
        cmocka_unit_test(executor_heap_fires_in_deadline_order),
        cmocka_unit_test(disarm_cancels_and_releases_the_waker),
        cmocka_unit_test(entries_outlive_a_dropped_heap),
        cmocka_unit_test(rearm_replaces_waker_and_deadline),
        cmocka_unit_test(arm_moves_an_entry_between_timers),
        cmocka_unit_test(arm_rejects_bad_arguments),
        cmocka_unit_test(current_timer_outside_any_driver_is_the_shared_thread),
        cmocka_unit_test(current_timer_under_each_driver),
        cmocka_unit_test(blocking_inside_a_task_uses_the_thread_timer),
        cmocka_unit_test(thread_timer_outside_a_blocking_loop_hands_over_to_the_shared_thread),
        cmocka_unit_test(sleep_under_block_on_uses_the_thread_timer),
        cmocka_unit_test(sleeps_under_the_executor_complete_in_deadline_order),
        cmocka_unit_test(sleep_polled_by_hand_uses_the_shared_thread),
        cmocka_unit_test(sleep_dropped_while_armed_releases_its_waker),
        cmocka_unit_test(sleep_allocation_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
