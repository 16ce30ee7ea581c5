/* test_misuse.c - every public function, given bad arguments, returns its
 * documented result (ACHAN_INVALID, NULL, 0, or nothing) and changes
 * nothing: no crash, no handle consumed, no out-parameter written, no waker
 * clone kept, the channel still usable afterwards.
 *
 * Every ACHAN_API function of the public headers (include/achan), and every
 * inline helper of waker.h and timer.h, appears below (uv.h's when
 * libuv is built); the ctest test misuse_coverage (misuse_coverage.cmake)
 * fails when a header gains a function this file does not call.
 * docs/errors.md tabulates the same results.
 *
 * Preconditions no function can check (a handle used after its drop) are
 * caught in debug builds by an assert on the handle's tag (src/check.h):
 * the death tests at the top check that, in a child process, for the cases
 * where the handle's memory is still allocated.
 */
#define _POSIX_C_SOURCE 200809L
#include "test_support.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#ifdef ACHAN_TEST_UV
#include "achan/uv.h"
#endif

/* A pointer no function may write through: outputs start as this and must
 * still be this after a rejected call. */
#define POISON ((void *)(uintptr_t)0x5a5a5a5a)

static achan_waker noop;
static achan_waker zeroed; /* {NULL, NULL}: a waker without a vtable. */
static achan_context cx_ok, cx_no_waker, cx_zero_waker;
/* Every malformed context: NULL, no waker, a waker with no vtable. */
static achan_context *bad_cx[3];

static int setup_contexts(void **state) {
    (void)state;
    noop = achan_waker_noop();
    memset(&zeroed, 0, sizeof zeroed);
    cx_ok.waker = &noop;
    cx_no_waker.waker = NULL;
    cx_zero_waker.waker = &zeroed;
    bad_cx[0] = NULL;
    bad_cx[1] = &cx_no_waker;
    bad_cx[2] = &cx_zero_waker;
    return 0;
}

static achan_opts int_opts(size_t capacity) {
    achan_opts o = {.item_size = sizeof(int), .capacity = capacity};
    return o;
}

/* Option sets every channel constructor must refuse (index 4 on is
 * kind-specific and added by each test). */
static const achan_allocator half_alloc = {NULL, NULL, NULL};

/* An iter stream of the ints 1..n, for the combinators. */
static achan_stream *ints(int n) {
    int v[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    achan_stream *s = NULL;
    assert_int_equal(achan_stream_iter(v, (size_t)n, sizeof(int), &s), ACHAN_OK);
    return s;
}

/* Checks that s (an ints() stream, or one made from it) still yields 1: a
 * rejected call did not consume or break it. Drops it. */
static void expect_intact(achan_stream *s) {
    int v = 0;
    assert_int_equal(achan_stream_poll_next(s, &cx_ok, &v), ACHAN_OK);
    assert_int_equal(v, 1);
    achan_stream_drop(s);
}

/* ------------------------------------------------------------------------ */
/* Death tests: preconditions caught by debug-build asserts.                 */

#ifndef NDEBUG
/* Runs fn in a child process; the child must die of SIGABRT. */
static void expect_abort(void (*fn)(void)) {
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0)
            dup2(devnull, STDERR_FILENO); /* The assert's message is expected. */
        fn();
        _exit(0); /* Not caught: the parent sees a normal exit. */
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGABRT);
}

static void mpsc_recv_after_receiver_drop(void) {
    achan_opts o = int_opts(4);
    achan_mpsc_sender *tx;
    achan_mpsc_receiver *rx;
    int v;
    if (achan_mpsc_new(&o, &tx, &rx) != ACHAN_OK)
        return;
    achan_mpsc_receiver_drop(rx); /* tx keeps the channel (and rx's memory). */
    achan_mpsc_try_recv(rx, &v);
}

static void mpsc_receiver_dropped_twice(void) {
    achan_opts o = int_opts(0);
    achan_mpsc_sender *tx;
    achan_mpsc_receiver *rx;
    if (achan_mpsc_new(&o, &tx, &rx) != ACHAN_OK)
        return;
    achan_mpsc_receiver_drop(rx);
    achan_mpsc_receiver_drop(rx);
}

static void oneshot_sender_used_after_send(void) {
    achan_opts o = int_opts(0);
    achan_oneshot_sender *tx;
    achan_oneshot_receiver *rx;
    int v = 1;
    if (achan_oneshot_new(&o, &tx, &rx) != ACHAN_OK)
        return;
    achan_oneshot_send(tx, &v); /* Consumes tx; rx keeps the channel. */
    achan_oneshot_sender_drop(tx);
}

static void oneshot_receiver_dropped_twice(void) {
    achan_opts o = int_opts(0);
    achan_oneshot_sender *tx;
    achan_oneshot_receiver *rx;
    if (achan_oneshot_new(&o, &tx, &rx) != ACHAN_OK)
        return;
    achan_oneshot_receiver_drop(rx);
    achan_oneshot_receiver_drop(rx);
}

static void watch_send_after_sender_drop(void) {
    achan_opts o = int_opts(0);
    achan_watch_sender *tx;
    achan_watch_receiver *rx;
    int v = 1;
    if (achan_watch_new(&o, &v, &tx, &rx) != ACHAN_OK)
        return;
    achan_watch_sender_drop(tx); /* rx keeps the channel (and tx's memory). */
    achan_watch_send(tx, &v);
}

static void broadcast_len_of_an_mpsc_receiver(void) {
    achan_opts o = int_opts(4);
    achan_mpsc_sender *tx;
    achan_mpsc_receiver *rx;
    if (achan_mpsc_new(&o, &tx, &rx) != ACHAN_OK)
        return;
    /* The wrong kind of handle (the cast a void * API would let through). */
    achan_broadcast_len((const achan_broadcast_receiver *)(const void *)rx);
}

/* The inline helpers of waker.h and timer.h check nothing (a wake is one
 * indirect call); their preconditions are debug-build asserts. */
static void waker_clone_of_null(void) {
    achan_waker w = achan_waker_clone(NULL);
    (void)w;
}

static void waker_wake_by_ref_of_null(void) {
    achan_waker_wake_by_ref(NULL);
}

static void waker_wake_without_vtbl(void) {
    achan_waker w = {NULL, NULL};
    achan_waker_wake(w);
}

static void waker_drop_without_vtbl(void) {
    achan_waker w = {NULL, NULL};
    achan_waker_drop(w);
}

static void waker_will_wake_with_null(void) {
    achan_waker w = achan_waker_noop();
    (void)achan_waker_will_wake(&w, NULL);
}

static void timer_entry_init_of_null(void) {
    achan_timer_entry_init(NULL);
}

/* Valgrind checks the forked children too, and reports the channels their
 * abort left allocated (as "possibly lost": the handles point inside them).
 * Harmless, but noise: the death tests are skipped there. */
static bool under_valgrind(void) {
    const char *p = getenv("LD_PRELOAD");
    return p && strstr(p, "vgpreload");
}

static void handles_used_after_release_abort_in_debug_builds(void **state) {
    (void)state;
    if (under_valgrind())
        skip();
    expect_abort(mpsc_recv_after_receiver_drop);
    expect_abort(mpsc_receiver_dropped_twice);
    expect_abort(oneshot_sender_used_after_send);
    expect_abort(oneshot_receiver_dropped_twice);
    expect_abort(watch_send_after_sender_drop);
    expect_abort(broadcast_len_of_an_mpsc_receiver);
}

static void inline_helpers_assert_their_preconditions(void **state) {
    (void)state;
    if (under_valgrind())
        skip();
    expect_abort(waker_clone_of_null);
    expect_abort(waker_wake_by_ref_of_null);
    expect_abort(waker_wake_without_vtbl);
    expect_abort(waker_drop_without_vtbl);
    expect_abort(waker_will_wake_with_null);
    expect_abort(timer_entry_init_of_null);
}
#endif

/* ------------------------------------------------------------------------ */
/* core.h, waker.h                                                            */

static void core_and_waker(void **state) {
    (void)state;
    assert_int_equal(achan_version(), ACHAN_VERSION_HEX);
    assert_non_null(achan_version_string());
    assert_string_equal(achan_status_str(ACHAN_INVALID), "ACHAN_INVALID");
    /* Out of range: a static name, never NULL. */
    assert_string_equal(achan_status_str((achan_status)-1), "ACHAN_(unknown status)");
    assert_string_equal(achan_status_str((achan_status)(ACHAN_INVALID + 1)),
                        "ACHAN_(unknown status)");
    assert_string_equal(achan_status_str((achan_status)1000000), "ACHAN_(unknown status)");
    achan_waker w = achan_waker_noop();
    assert_non_null(w.vtbl);
    achan_waker_drop(achan_waker_clone(&w));
}

/* ------------------------------------------------------------------------ */
/* stream.h                                                                   */

static achan_status forty_two(achan_context *cx, void *item, void *user) {
    (void)cx;
    (void)user;
    *(int *)item = 42;
    return ACHAN_OK;
}

static void stream_and_future(void **state) {
    (void)state;
    achan_stream *s = ints(3);
    int v = 0;
    assert_int_equal(achan_stream_poll_next(NULL, &cx_ok, &v), ACHAN_INVALID);
    for (int i = 0; i < 3; i++)
        assert_int_equal(achan_stream_poll_next(s, bad_cx[i], &v), ACHAN_INVALID);
    assert_int_equal(achan_stream_poll_next(s, &cx_ok, NULL), ACHAN_INVALID);
    assert_int_equal(achan_stream_next_blocking(NULL, &v, 0), ACHAN_INVALID);
    assert_int_equal(achan_stream_next_blocking(s, NULL, 0), ACHAN_INVALID);
    achan_stream_drop(NULL);
    expect_intact(s);

    /* A future with an output: a oneshot receiver's. */
    achan_opts o = int_opts(0);
    achan_oneshot_sender *tx;
    achan_oneshot_receiver *rx;
    assert_int_equal(achan_oneshot_new(&o, &tx, &rx), ACHAN_OK);
    achan_future *f = achan_oneshot_receiver_future(rx);
    assert_int_equal(achan_future_poll(NULL, &cx_ok, &v), ACHAN_INVALID);
    for (int i = 0; i < 3; i++)
        assert_int_equal(achan_future_poll(f, bad_cx[i], &v), ACHAN_INVALID);
    assert_int_equal(achan_future_poll(f, &cx_ok, NULL), ACHAN_INVALID); /* output_size > 0 */
    achan_future_drop(NULL);
    v = 7;
    assert_int_equal(achan_oneshot_send(tx, &v), ACHAN_OK);
    v = 0;
    assert_int_equal(achan_future_poll(f, &cx_ok, &v), ACHAN_OK);
    assert_int_equal(v, 7);
    achan_future_drop(f);

    /* A future without output takes a NULL out. */
    achan_future *sl;
    assert_int_equal(achan_sleep(0, &sl), ACHAN_OK);
    assert_int_equal(achan_block_on(sl, NULL, -1), ACHAN_OK);
    achan_future_drop(sl);

    /* coop: a NULL context is tolerated, even with the budget spent. */
    unsigned prev = achan_coop_set_budget(1);
    assert_true(achan_coop_proceed(NULL));
    assert_false(achan_coop_proceed(NULL));
    assert_false(achan_coop_proceed(&cx_no_waker));
    achan_coop_set_budget(UINT32_MAX);
    assert_true(achan_coop_proceed(&cx_zero_waker)); /* Budget left: the waker is not touched. */
    achan_coop_set_budget(1);
    assert_true(achan_coop_proceed(&cx_ok));
    assert_false(
        achan_coop_proceed(&cx_zero_waker)); /* Spent: a waker without vtable is skipped. */
    achan_coop_set_budget(prev);
    assert_true(achan_coop_proceed(NULL));
}

/* ------------------------------------------------------------------------ */
/* block.h                                                                    */

static void block(void **state) {
    (void)state;
    assert_int_equal(achan_thread_waker(NULL), ACHAN_INVALID);
    achan_status st = achan_thread_park(0); /* A leftover token, or none. */
    assert_true(st == ACHAN_OK || st == ACHAN_TIMEOUT);
    assert_int_equal(achan_thread_park(0), ACHAN_TIMEOUT);
    assert_int_equal(achan_thread_park(1000), ACHAN_TIMEOUT);
    uint64_t t = achan_monotonic_ns();
    assert_true(achan_monotonic_ns() >= t);
    int v;
    assert_int_equal(achan_block_on(NULL, &v, 0), ACHAN_INVALID);
    achan_opts o = int_opts(0);
    achan_oneshot_sender *tx;
    achan_oneshot_receiver *rx;
    assert_int_equal(achan_oneshot_new(&o, &tx, &rx), ACHAN_OK);
    assert_int_equal(achan_block_on(achan_oneshot_receiver_future(rx), NULL, 0), ACHAN_INVALID);
    assert_int_equal(achan_block_on(achan_oneshot_receiver_future(rx), &v, 0), ACHAN_TIMEOUT);
    achan_oneshot_sender_drop(tx);
    assert_int_equal(achan_block_on(achan_oneshot_receiver_future(rx), &v, 0), ACHAN_CLOSED);
    achan_oneshot_receiver_drop(rx);
    const char *b = achan_parker_backend();
    assert_true(strcmp(b, "futex") == 0 || strcmp(b, "condvar") == 0);
}

/* ------------------------------------------------------------------------ */
/* mpsc.h                                                                     */

static void mpsc(void **state) {
    (void)state;
    achan_mpsc_sender *tx = POISON;
    achan_mpsc_receiver *rx = POISON;
    achan_opts ok = int_opts(2), zero = {.item_size = 0, .capacity = 2},
               huge_cap = {.item_size = 4, .capacity = SIZE_MAX},
               huge_item = {.item_size = SIZE_MAX - 8, .capacity = 2},
               huge_item_unbounded = {.item_size = SIZE_MAX - 8},
               bad_alloc = {.item_size = 4, .allocator = &half_alloc};
    achan_allocator no_free = {achan_default_allocator()->alloc, NULL, NULL};
    achan_opts bad_free = {.item_size = 4, .allocator = &no_free};
    assert_int_equal(achan_mpsc_new(NULL, &tx, &rx), ACHAN_INVALID);
    assert_int_equal(achan_mpsc_new(&ok, NULL, &rx), ACHAN_INVALID);
    assert_int_equal(achan_mpsc_new(&ok, &tx, NULL), ACHAN_INVALID);
    assert_int_equal(achan_mpsc_new(&zero, &tx, &rx), ACHAN_INVALID);
    assert_int_equal(achan_mpsc_new(&huge_cap, &tx, &rx), ACHAN_INVALID);
    assert_int_equal(achan_mpsc_new(&huge_item, &tx, &rx), ACHAN_INVALID);
    assert_int_equal(achan_mpsc_new(&huge_item_unbounded, &tx, &rx), ACHAN_INVALID);
    assert_int_equal(achan_mpsc_new(&bad_alloc, &tx, &rx), ACHAN_INVALID);
    assert_int_equal(achan_mpsc_new(&bad_free, &tx, &rx), ACHAN_INVALID);
    assert_ptr_equal(tx, POISON);
    assert_ptr_equal(rx, POISON);
    assert_int_equal(achan_mpsc_new(&ok, &tx, &rx), ACHAN_OK);

    test_waker tw = {0};
    achan_waker w = test_waker_get(&tw);
    achan_context cx = {&w};
    int v = 5, items[2];
    achan_status st = ACHAN_OK;

    assert_null(achan_mpsc_sender_clone(NULL));
    achan_mpsc_sender_drop(NULL);
    assert_int_equal(achan_mpsc_try_send(NULL, &v), ACHAN_INVALID);
    assert_int_equal(achan_mpsc_try_send(tx, NULL), ACHAN_INVALID);
    assert_int_equal(achan_mpsc_poll_send(NULL, &cx, &v), ACHAN_INVALID);
    for (int i = 0; i < 3; i++)
        assert_int_equal(achan_mpsc_poll_send(tx, bad_cx[i], &v), ACHAN_INVALID);
    assert_int_equal(achan_mpsc_poll_send(tx, &cx, NULL), ACHAN_INVALID);
    achan_mpsc_poll_send_cancel(NULL);
    achan_mpsc_poll_send_cancel(tx); /* Not waiting: nothing to do. */
    assert_int_equal(achan_mpsc_send_blocking(NULL, &v, 0), ACHAN_INVALID);
    assert_int_equal(achan_mpsc_send_blocking(tx, NULL, -1), ACHAN_INVALID);
    assert_true(achan_mpsc_sender_is_closed(NULL));
    assert_int_equal(achan_mpsc_capacity(NULL), 0);
    assert_int_equal(achan_mpsc_capacity(tx), 2); /* Nothing was sent. */

    assert_int_equal(achan_mpsc_try_recv(NULL, &v), ACHAN_INVALID);
    assert_int_equal(achan_mpsc_try_recv(rx, NULL), ACHAN_INVALID);
    assert_int_equal(achan_mpsc_poll_recv(NULL, &cx, &v), ACHAN_INVALID);
    for (int i = 0; i < 3; i++)
        assert_int_equal(achan_mpsc_poll_recv(rx, bad_cx[i], &v), ACHAN_INVALID);
    assert_int_equal(achan_mpsc_poll_recv(rx, &cx, NULL), ACHAN_INVALID);
    assert_int_equal(achan_mpsc_poll_recv_many(NULL, &cx, items, 2, &st), 0);
    assert_int_equal(st, ACHAN_INVALID);
    for (int i = 0; i < 3; i++) {
        st = ACHAN_OK;
        assert_int_equal(achan_mpsc_poll_recv_many(rx, bad_cx[i], items, 2, &st), 0);
        assert_int_equal(st, ACHAN_INVALID);
    }
    st = ACHAN_OK;
    assert_int_equal(achan_mpsc_poll_recv_many(rx, &cx, NULL, 2, &st), 0);
    assert_int_equal(st, ACHAN_INVALID);
    st = ACHAN_OK;
    assert_int_equal(achan_mpsc_poll_recv_many(rx, &cx, items, 0, &st), 0);
    assert_int_equal(st, ACHAN_INVALID);
    assert_int_equal(achan_mpsc_poll_recv_many(rx, &cx, items, 0, NULL), 0); /* st optional */
    assert_int_equal(achan_mpsc_recv_blocking(NULL, &v, 0), ACHAN_INVALID);
    assert_int_equal(achan_mpsc_recv_blocking(rx, NULL, -1), ACHAN_INVALID);
    achan_mpsc_receiver_close(NULL);
    achan_mpsc_receiver_drop(NULL);
    assert_int_equal(achan_mpsc_len(NULL), 0);
    assert_null(achan_mpsc_receiver_stream(NULL));

    /* Nothing changed: no waker kept, the channel works. */
    assert_int_equal(test_waker_live(&tw), 0);
    assert_int_equal(test_waker_wakes(&tw), 0);
    assert_int_equal(achan_mpsc_len(rx), 0);
    assert_false(achan_mpsc_sender_is_closed(tx));
    assert_int_equal(achan_mpsc_try_send(tx, &v), ACHAN_OK);
    v = 0;
    assert_int_equal(achan_mpsc_try_recv(rx, &v), ACHAN_OK);
    assert_int_equal(v, 5);
    assert_int_equal(achan_stream_poll_next(achan_mpsc_receiver_stream(rx), &cx, &v),
                     ACHAN_PENDING);
    achan_mpsc_sender_drop(tx);
    assert_int_equal(test_waker_wakes(&tw), 1);
    achan_mpsc_receiver_drop(rx);
    assert_int_equal(test_waker_live(&tw), 0);
}

/* ------------------------------------------------------------------------ */
/* oneshot.h                                                                  */

static void oneshot(void **state) {
    (void)state;
    achan_oneshot_sender *tx = POISON;
    achan_oneshot_receiver *rx = POISON;
    achan_opts ok = int_opts(0), zero = {.item_size = 0}, huge_item = {.item_size = SIZE_MAX - 8},
               bad_alloc = {.item_size = 4, .allocator = &half_alloc};
    assert_int_equal(achan_oneshot_new(NULL, &tx, &rx), ACHAN_INVALID);
    assert_int_equal(achan_oneshot_new(&ok, NULL, &rx), ACHAN_INVALID);
    assert_int_equal(achan_oneshot_new(&ok, &tx, NULL), ACHAN_INVALID);
    assert_int_equal(achan_oneshot_new(&zero, &tx, &rx), ACHAN_INVALID);
    assert_int_equal(achan_oneshot_new(&huge_item, &tx, &rx), ACHAN_INVALID);
    assert_int_equal(achan_oneshot_new(&bad_alloc, &tx, &rx), ACHAN_INVALID);
    assert_ptr_equal(tx, POISON);
    assert_ptr_equal(rx, POISON);
    assert_int_equal(achan_oneshot_new(&ok, &tx, &rx), ACHAN_OK);

    test_waker tw = {0};
    achan_waker w = test_waker_get(&tw);
    achan_context cx = {&w};
    int v = 9;

    assert_int_equal(achan_oneshot_send(NULL, &v), ACHAN_INVALID);
    assert_int_equal(achan_oneshot_send(tx, NULL), ACHAN_INVALID); /* tx not consumed */
    achan_oneshot_sender_drop(NULL);
    assert_true(achan_oneshot_sender_is_closed(NULL));
    assert_int_equal(achan_oneshot_poll_closed(NULL, &cx), ACHAN_INVALID);
    for (int i = 0; i < 3; i++)
        assert_int_equal(achan_oneshot_poll_closed(tx, bad_cx[i]), ACHAN_INVALID);
    assert_int_equal(achan_oneshot_try_recv(NULL, &v), ACHAN_INVALID);
    assert_int_equal(achan_oneshot_try_recv(rx, NULL), ACHAN_INVALID);
    assert_int_equal(achan_oneshot_poll_recv(NULL, &cx, &v), ACHAN_INVALID);
    for (int i = 0; i < 3; i++)
        assert_int_equal(achan_oneshot_poll_recv(rx, bad_cx[i], &v), ACHAN_INVALID);
    assert_int_equal(achan_oneshot_poll_recv(rx, &cx, NULL), ACHAN_INVALID);
    assert_int_equal(achan_oneshot_recv_blocking(NULL, &v, 0), ACHAN_INVALID);
    assert_int_equal(achan_oneshot_recv_blocking(rx, NULL, -1), ACHAN_INVALID);
    achan_oneshot_receiver_close(NULL);
    achan_oneshot_receiver_drop(NULL);
    assert_null(achan_oneshot_receiver_stream(NULL));
    assert_null(achan_oneshot_receiver_future(NULL));

    assert_int_equal(test_waker_live(&tw), 0);
    assert_false(achan_oneshot_sender_is_closed(tx));
    assert_int_equal(achan_oneshot_try_recv(rx, &v), ACHAN_EMPTY);
    assert_int_equal(achan_oneshot_send(tx, &v), ACHAN_OK);
    v = 0;
    assert_int_equal(achan_oneshot_try_recv(rx, &v), ACHAN_OK);
    assert_int_equal(v, 9);
    achan_oneshot_receiver_drop(rx);
}

/* ------------------------------------------------------------------------ */
/* watch.h                                                                    */

static void add_one(void *value, void *u) {
    (void)u;
    ++*(int *)value;
}

static bool add_one_if(void *value, void *u) {
    (void)u;
    ++*(int *)value;
    return true;
}

static void watch(void **state) {
    (void)state;
    achan_watch_sender *tx = POISON;
    achan_watch_receiver *rx = POISON;
    int v = 1;
    achan_opts ok = int_opts(0), zero = {.item_size = 0}, huge_item = {.item_size = SIZE_MAX - 8},
               bad_alloc = {.item_size = 4, .allocator = &half_alloc};
    assert_int_equal(achan_watch_new(NULL, &v, &tx, &rx), ACHAN_INVALID);
    assert_int_equal(achan_watch_new(&ok, NULL, &tx, &rx), ACHAN_INVALID);
    assert_int_equal(achan_watch_new(&ok, &v, NULL, &rx), ACHAN_INVALID);
    assert_int_equal(achan_watch_new(&ok, &v, &tx, NULL), ACHAN_INVALID);
    assert_int_equal(achan_watch_new(&zero, &v, &tx, &rx), ACHAN_INVALID);
    assert_int_equal(achan_watch_new(&huge_item, &v, &tx, &rx), ACHAN_INVALID);
    assert_int_equal(achan_watch_new(&bad_alloc, &v, &tx, &rx), ACHAN_INVALID);
    assert_ptr_equal(tx, POISON);
    assert_ptr_equal(rx, POISON);
    assert_int_equal(achan_watch_new(&ok, &v, &tx, &rx), ACHAN_OK);

    test_waker tw = {0};
    achan_waker w = test_waker_get(&tw);
    achan_context cx = {&w};
    int old = -1, out = -1;

    assert_int_equal(achan_watch_send(NULL, &v), ACHAN_INVALID);
    assert_int_equal(achan_watch_send(tx, NULL), ACHAN_INVALID);
    achan_watch_send_replace(NULL, &v, &old);
    achan_watch_send_replace(tx, NULL, &old);
    assert_int_equal(old, -1);
    achan_watch_send_modify(NULL, add_one, NULL);
    achan_watch_send_modify(tx, NULL, NULL);
    assert_false(achan_watch_send_if_modified(NULL, add_one_if, NULL));
    assert_false(achan_watch_send_if_modified(tx, NULL, NULL));
    assert_null(achan_watch_subscribe(NULL));
    assert_int_equal(achan_watch_receiver_count(NULL), 0);
    assert_int_equal(achan_watch_poll_closed(NULL, &cx), ACHAN_INVALID);
    for (int i = 0; i < 3; i++)
        assert_int_equal(achan_watch_poll_closed(tx, bad_cx[i]), ACHAN_INVALID);
    achan_watch_sender_drop(NULL);

    assert_null(achan_watch_receiver_clone(NULL));
    achan_watch_borrow(NULL, &out);
    achan_watch_borrow(rx, NULL);
    achan_watch_borrow_and_update(NULL, &out);
    achan_watch_borrow_and_update(rx, NULL);
    assert_int_equal(out, -1);
    assert_int_equal(achan_watch_has_changed(NULL), ACHAN_INVALID);
    assert_int_equal(achan_watch_poll_changed(NULL, &cx), ACHAN_INVALID);
    for (int i = 0; i < 3; i++)
        assert_int_equal(achan_watch_poll_changed(rx, bad_cx[i]), ACHAN_INVALID);
    assert_int_equal(achan_watch_changed_blocking(NULL, 0), ACHAN_INVALID);
    achan_watch_mark_changed(NULL);
    achan_watch_mark_unchanged(NULL);
    achan_watch_receiver_drop(NULL);
    assert_null(achan_watch_receiver_stream(NULL));
    assert_null(achan_watch_receiver_stream_from_changes(NULL));

    /* Nothing changed: same value, nothing unseen, no waker kept. */
    assert_int_equal(test_waker_live(&tw), 0);
    assert_int_equal(achan_watch_receiver_count(tx), 1);
    assert_int_equal(achan_watch_has_changed(rx), ACHAN_EMPTY);
    achan_watch_borrow(rx, &out);
    assert_int_equal(out, 1);
    assert_int_equal(achan_watch_poll_changed(rx, &cx), ACHAN_PENDING);
    achan_watch_send_modify(tx, add_one, NULL);
    assert_int_equal(test_waker_wakes(&tw), 1);
    assert_int_equal(achan_watch_changed_blocking(rx, 0), ACHAN_OK);
    achan_watch_borrow_and_update(rx, &out);
    assert_int_equal(out, 2);
    achan_watch_sender_drop(tx);
    achan_watch_receiver_drop(rx);
    assert_int_equal(test_waker_live(&tw), 0);
}

/* ------------------------------------------------------------------------ */
/* broadcast.h                                                                */

static void broadcast(void **state) {
    (void)state;
    achan_broadcast_sender *tx = POISON;
    achan_broadcast_receiver *rx = POISON;
    achan_opts ok = int_opts(4), zero = {.item_size = 0, .capacity = 4},
               no_cap = {.item_size = 4, .capacity = 0},
               huge_cap = {.item_size = 4, .capacity = SIZE_MAX / 2 + 1},
               huge_history = {.item_size = SIZE_MAX / 4, .capacity = 1024},
               bad_alloc = {.item_size = 4, .capacity = 4, .allocator = &half_alloc};
    assert_int_equal(achan_broadcast_new(NULL, &tx, &rx), ACHAN_INVALID);
    assert_int_equal(achan_broadcast_new(&ok, NULL, &rx), ACHAN_INVALID);
    assert_int_equal(achan_broadcast_new(&ok, &tx, NULL), ACHAN_INVALID);
    assert_int_equal(achan_broadcast_new(&zero, &tx, &rx), ACHAN_INVALID);
    assert_int_equal(achan_broadcast_new(&no_cap, &tx, &rx), ACHAN_INVALID);
    assert_int_equal(achan_broadcast_new(&huge_cap, &tx, &rx), ACHAN_INVALID);
    assert_int_equal(achan_broadcast_new(&huge_history, &tx, &rx), ACHAN_INVALID);
    assert_int_equal(achan_broadcast_new(&bad_alloc, &tx, &rx), ACHAN_INVALID);
    assert_ptr_equal(tx, POISON);
    assert_ptr_equal(rx, POISON);
    assert_int_equal(achan_broadcast_new(&ok, &tx, &rx), ACHAN_OK);

    test_waker tw = {0};
    achan_waker w = test_waker_get(&tw);
    achan_context cx = {&w};
    int v = 3;
    size_t receivers = 77;
    uint64_t skipped = 77;

    assert_null(achan_broadcast_sender_clone(NULL));
    achan_broadcast_sender_drop(NULL);
    assert_int_equal(achan_broadcast_send(NULL, &v, &receivers), ACHAN_INVALID);
    assert_int_equal(achan_broadcast_send(tx, NULL, &receivers), ACHAN_INVALID);
    assert_int_equal(receivers, 77); /* Not written on ACHAN_INVALID. */
    assert_null(achan_broadcast_subscribe(NULL));
    assert_null(achan_broadcast_resubscribe(NULL));
    assert_int_equal(achan_broadcast_receiver_count(NULL), 0);
    assert_int_equal(achan_broadcast_try_recv(NULL, &v, &skipped), ACHAN_INVALID);
    assert_int_equal(achan_broadcast_try_recv(rx, NULL, &skipped), ACHAN_INVALID);
    assert_int_equal(achan_broadcast_poll_recv(NULL, &cx, &v, &skipped), ACHAN_INVALID);
    for (int i = 0; i < 3; i++)
        assert_int_equal(achan_broadcast_poll_recv(rx, bad_cx[i], &v, &skipped), ACHAN_INVALID);
    assert_int_equal(achan_broadcast_poll_recv(rx, &cx, NULL, &skipped), ACHAN_INVALID);
    assert_int_equal(achan_broadcast_recv_blocking(NULL, &v, &skipped, 0), ACHAN_INVALID);
    assert_int_equal(achan_broadcast_recv_blocking(rx, NULL, &skipped, -1), ACHAN_INVALID);
    assert_int_equal(skipped, 77); /* Not written on ACHAN_INVALID. */
    assert_int_equal(achan_broadcast_len(NULL), 0);
    assert_int_equal(achan_broadcast_receiver_skipped(NULL), 0);
    achan_broadcast_receiver_drop(NULL);
    assert_null(achan_broadcast_receiver_stream(NULL));

    assert_int_equal(test_waker_live(&tw), 0);
    assert_int_equal(achan_broadcast_receiver_count(tx), 1);
    assert_int_equal(achan_broadcast_len(rx), 0);
    assert_int_equal(achan_broadcast_poll_recv(rx, &cx, &v, NULL), ACHAN_PENDING);
    assert_int_equal(achan_broadcast_send(tx, &v, NULL), ACHAN_OK);
    assert_int_equal(test_waker_wakes(&tw), 1);
    v = 0;
    assert_int_equal(achan_broadcast_try_recv(rx, &v, NULL), ACHAN_OK);
    assert_int_equal(v, 3);
    achan_broadcast_sender_drop(tx);
    achan_broadcast_receiver_drop(rx);
    assert_int_equal(test_waker_live(&tw), 0);
}

/* ------------------------------------------------------------------------ */
/* combinators.h                                                              */

static void map_fn(const void *in, void *out, void *user) {
    (void)user;
    *(int *)out = *(const int *)in;
}
static bool pred_fn(const void *item, void *user) {
    (void)item;
    (void)user;
    return true;
}
static bool filter_map_fn(const void *in, void *out, void *user) {
    (void)user;
    *(int *)out = *(const int *)in;
    return true;
}
static achan_future *then_fn(const void *item, void *user) {
    (void)item;
    (void)user;
    return NULL;
}
static bool scan_fn(void *st, const void *in, void *out, void *user) {
    (void)st;
    (void)user;
    *(int *)out = *(const int *)in;
    return true;
}
static void gen_fn(void *item, void *user) {
    (void)user;
    *(int *)item = 1;
}
static bool unfold_fn(void *st, void *item, void *user) {
    (void)st;
    (void)user;
    *(int *)item = 1;
    return true;
}
static void fold_fn(void *acc, const void *item, void *user) {
    (void)user;
    *(int *)acc += *(const int *)item;
}
static void each_fn(const void *item, void *user) {
    (void)item;
    (void)user;
}

/* A user_drop that must not run: a rejected call leaves user the caller's. */
static int user_drops;
static void count_user_drop(void *user) {
    (void)user;
    user_drops++;
}

static void default_allocator(void **state) {
    (void)state;
    const achan_allocator *before = achan_default_allocator();
    assert_non_null(before);
    achan_allocator keep = *before;
    achan_allocator no_free = {keep.alloc, NULL, NULL};
    assert_int_equal(achan_set_default_allocator(&half_alloc), ACHAN_INVALID);
    assert_int_equal(achan_set_default_allocator(&no_free), ACHAN_INVALID);
    assert_ptr_equal(achan_default_allocator()->alloc, keep.alloc); /* Unchanged. */
    assert_ptr_equal(achan_default_allocator()->free, keep.free);
    assert_int_equal(achan_set_default_allocator(NULL), ACHAN_OK);
}

/* The adapters taking one input and a closure. */
static void unary_adapters(void **state) {
    (void)state;
    achan_stream *out = POISON, *s = ints(3);
    int init = 0;
    user_drops = 0;

    assert_int_equal(achan_stream_map(NULL, 4, map_fn, NULL, count_user_drop, &out), ACHAN_INVALID);
    assert_int_equal(achan_stream_map(s, 4, NULL, NULL, count_user_drop, &out), ACHAN_INVALID);
    assert_int_equal(achan_stream_map(s, 4, map_fn, NULL, count_user_drop, NULL), ACHAN_INVALID);
    assert_int_equal(achan_stream_map(s, SIZE_MAX, map_fn, NULL, count_user_drop, &out),
                     ACHAN_INVALID);
    assert_int_equal(achan_stream_filter(NULL, pred_fn, NULL, count_user_drop, &out),
                     ACHAN_INVALID);
    assert_int_equal(achan_stream_filter(s, NULL, NULL, count_user_drop, &out), ACHAN_INVALID);
    assert_int_equal(achan_stream_filter(s, pred_fn, NULL, count_user_drop, NULL), ACHAN_INVALID);
    assert_int_equal(achan_stream_filter_map(NULL, 4, filter_map_fn, NULL, NULL, &out),
                     ACHAN_INVALID);
    assert_int_equal(achan_stream_filter_map(s, 4, NULL, NULL, count_user_drop, &out),
                     ACHAN_INVALID);
    assert_int_equal(achan_stream_filter_map(s, 4, filter_map_fn, NULL, NULL, NULL), ACHAN_INVALID);
    assert_int_equal(achan_stream_filter_map(s, SIZE_MAX, filter_map_fn, NULL, NULL, &out),
                     ACHAN_INVALID);
    assert_int_equal(achan_stream_then(NULL, 4, then_fn, NULL, NULL, &out), ACHAN_INVALID);
    assert_int_equal(achan_stream_then(s, 4, NULL, NULL, count_user_drop, &out), ACHAN_INVALID);
    assert_int_equal(achan_stream_then(s, 4, then_fn, NULL, NULL, NULL), ACHAN_INVALID);
    assert_int_equal(achan_stream_then(s, SIZE_MAX, then_fn, NULL, NULL, &out), ACHAN_INVALID);
    assert_int_equal(achan_stream_take(NULL, 1, &out), ACHAN_INVALID);
    assert_int_equal(achan_stream_take(s, 1, NULL), ACHAN_INVALID);
    assert_int_equal(achan_stream_skip(NULL, 1, &out), ACHAN_INVALID);
    assert_int_equal(achan_stream_skip(s, 1, NULL), ACHAN_INVALID);
    assert_int_equal(achan_stream_take_while(NULL, pred_fn, NULL, NULL, &out), ACHAN_INVALID);
    assert_int_equal(achan_stream_take_while(s, NULL, NULL, count_user_drop, &out), ACHAN_INVALID);
    assert_int_equal(achan_stream_take_while(s, pred_fn, NULL, NULL, NULL), ACHAN_INVALID);
    assert_int_equal(achan_stream_skip_while(NULL, pred_fn, NULL, NULL, &out), ACHAN_INVALID);
    assert_int_equal(achan_stream_skip_while(s, NULL, NULL, count_user_drop, &out), ACHAN_INVALID);
    assert_int_equal(achan_stream_skip_while(s, pred_fn, NULL, NULL, NULL), ACHAN_INVALID);
    assert_int_equal(achan_stream_fuse(NULL, &out), ACHAN_INVALID);
    assert_int_equal(achan_stream_fuse(s, NULL), ACHAN_INVALID);
    assert_int_equal(achan_stream_enumerate(NULL, &out), ACHAN_INVALID);
    assert_int_equal(achan_stream_enumerate(s, NULL), ACHAN_INVALID);
    assert_int_equal(achan_stream_scan(NULL, 4, &init, 4, scan_fn, NULL, NULL, &out),
                     ACHAN_INVALID);
    assert_int_equal(achan_stream_scan(s, 4, NULL, 4, scan_fn, NULL, NULL, &out), ACHAN_INVALID);
    assert_int_equal(achan_stream_scan(s, 4, &init, 4, NULL, NULL, count_user_drop, &out),
                     ACHAN_INVALID);
    assert_int_equal(achan_stream_scan(s, 4, &init, 4, scan_fn, NULL, NULL, NULL), ACHAN_INVALID);
    assert_int_equal(achan_stream_scan(s, SIZE_MAX, &init, 4, scan_fn, NULL, NULL, &out),
                     ACHAN_INVALID);
    assert_int_equal(achan_stream_scan(s, 4, &init, SIZE_MAX, scan_fn, NULL, NULL, &out),
                     ACHAN_INVALID);
    assert_int_equal(achan_stream_peekable(NULL, &out), ACHAN_INVALID);
    assert_int_equal(achan_stream_peekable(s, NULL), ACHAN_INVALID);
    int v;
    assert_int_equal(achan_stream_peek(NULL, &cx_ok, &v), ACHAN_INVALID);
    assert_int_equal(achan_stream_peek(s, &cx_ok, &v), ACHAN_INVALID); /* Not a peekable. */
    assert_int_equal(achan_stream_timeout(NULL, 1000, &out), ACHAN_INVALID);
    assert_int_equal(achan_stream_timeout(s, 1000, NULL), ACHAN_INVALID);
    assert_int_equal(achan_stream_throttle(NULL, 1000, &out), ACHAN_INVALID);
    assert_int_equal(achan_stream_throttle(s, 1000, NULL), ACHAN_INVALID);
    assert_ptr_equal(out, POISON);
    assert_int_equal(user_drops, 0);

    achan_stream *p;
    assert_int_equal(achan_stream_peekable(s, &p), ACHAN_OK);
    for (int i = 0; i < 3; i++)
        assert_int_equal(achan_stream_peek(p, bad_cx[i], &v), ACHAN_INVALID);
    assert_int_equal(achan_stream_peek(p, &cx_ok, NULL), ACHAN_INVALID);
    expect_intact(p);
}

/* Adapters over several inputs, chunking and buffering. */
static void multi_adapters(void **state) {
    (void)state;
    achan_stream *out = POISON, *a = ints(3), *b = ints(3);
    achan_stream *wide;
    double d[1] = {1.0};
    assert_int_equal(achan_stream_iter(d, 1, sizeof d[0], &wide), ACHAN_OK);

    assert_int_equal(achan_stream_chain(NULL, b, &out), ACHAN_INVALID);
    assert_int_equal(achan_stream_chain(a, NULL, &out), ACHAN_INVALID);
    assert_int_equal(achan_stream_chain(a, b, NULL), ACHAN_INVALID);
    assert_int_equal(achan_stream_chain(a, a, &out), ACHAN_INVALID);    /* One stream twice. */
    assert_int_equal(achan_stream_chain(a, wide, &out), ACHAN_INVALID); /* Item sizes differ. */
    assert_int_equal(achan_stream_zip(NULL, b, &out), ACHAN_INVALID);
    assert_int_equal(achan_stream_zip(a, NULL, &out), ACHAN_INVALID);
    assert_int_equal(achan_stream_zip(a, b, NULL), ACHAN_INVALID);
    assert_int_equal(achan_stream_zip(a, a, &out), ACHAN_INVALID);

    achan_stream *ins[3] = {a, b, NULL};
    achan_stream *twice[2] = {a, a};
    achan_stream *mixed[2] = {a, wide};
    assert_int_equal(achan_stream_merge(NULL, 2, &out), ACHAN_INVALID);
    assert_int_equal(achan_stream_merge(ins, 0, &out), ACHAN_INVALID);
    assert_int_equal(achan_stream_merge(ins, 2, NULL), ACHAN_INVALID);
    assert_int_equal(achan_stream_merge(ins, 3, &out), ACHAN_INVALID); /* A NULL input. */
    assert_int_equal(achan_stream_merge(twice, 2, &out), ACHAN_INVALID);
    assert_int_equal(achan_stream_merge(mixed, 2, &out), ACHAN_INVALID);
    assert_int_equal(achan_stream_merge(ins, SIZE_MAX, &out), ACHAN_INVALID);

    assert_int_equal(achan_stream_ready_chunks(NULL, 2, &out), ACHAN_INVALID);
    assert_int_equal(achan_stream_ready_chunks(a, 0, &out), ACHAN_INVALID);
    assert_int_equal(achan_stream_ready_chunks(a, 2, NULL), ACHAN_INVALID);
    assert_int_equal(achan_stream_ready_chunks(a, SIZE_MAX, &out), ACHAN_INVALID);
    assert_int_equal(achan_stream_chunks(NULL, 2, &out), ACHAN_INVALID);
    assert_int_equal(achan_stream_chunks(a, 0, &out), ACHAN_INVALID);
    assert_int_equal(achan_stream_chunks(a, 2, NULL), ACHAN_INVALID);
    assert_int_equal(achan_stream_chunks(a, SIZE_MAX, &out), ACHAN_INVALID);

    /* buffered: the input's items must be future pointers. */
    achan_future *none[1] = {NULL};
    achan_stream *futs;
    assert_int_equal(achan_stream_iter(none, 0, sizeof none[0], &futs), ACHAN_OK);
    assert_int_equal(achan_stream_buffered(NULL, 2, 4, &out), ACHAN_INVALID);
    assert_int_equal(achan_stream_buffered(futs, 0, 4, &out), ACHAN_INVALID);
    assert_int_equal(achan_stream_buffered(futs, 2, 4, NULL), ACHAN_INVALID);
    assert_int_equal(achan_stream_buffered(a, 2, 4, &out), ACHAN_INVALID); /* ints, not futures */
    assert_int_equal(achan_stream_buffered(futs, SIZE_MAX, 4, &out), ACHAN_INVALID);
    assert_int_equal(achan_stream_buffered(futs, 2, SIZE_MAX, &out), ACHAN_INVALID);
    assert_int_equal(achan_stream_buffer_unordered(NULL, 2, 4, &out), ACHAN_INVALID);
    assert_int_equal(achan_stream_buffer_unordered(futs, 0, 4, &out), ACHAN_INVALID);
    assert_int_equal(achan_stream_buffer_unordered(futs, 2, 4, NULL), ACHAN_INVALID);
    assert_int_equal(achan_stream_buffer_unordered(a, 2, 4, &out), ACHAN_INVALID);
    assert_int_equal(achan_stream_buffer_unordered(futs, SIZE_MAX, 4, &out), ACHAN_INVALID);
    assert_ptr_equal(out, POISON);

    achan_stream_drop(futs);
    achan_stream_drop(wide);
    expect_intact(a);
    expect_intact(b);
}

static void sources(void **state) {
    (void)state;
    achan_stream *out = POISON;
    int items[2] = {1, 2}, init = 0;
    user_drops = 0;
    assert_int_equal(achan_stream_iter(NULL, 2, sizeof(int), &out), ACHAN_INVALID);
    assert_int_equal(achan_stream_iter(items, 2, sizeof(int), NULL), ACHAN_INVALID);
    assert_int_equal(achan_stream_iter(items, SIZE_MAX, sizeof(int), &out), ACHAN_INVALID);
    assert_int_equal(achan_stream_iter(items, 2, SIZE_MAX, &out), ACHAN_INVALID);
    assert_int_equal(achan_stream_once(NULL, &out), ACHAN_INVALID);
    achan_future *f;
    assert_int_equal(achan_sleep(0, &f), ACHAN_OK);
    assert_int_equal(achan_stream_once(f, NULL), ACHAN_INVALID); /* f not taken */
    achan_future_drop(f);
    assert_int_equal(achan_stream_empty(4, NULL), ACHAN_INVALID);
    assert_int_equal(achan_stream_pending(4, NULL), ACHAN_INVALID);
    assert_int_equal(achan_stream_repeat_with(4, NULL, NULL, count_user_drop, &out), ACHAN_INVALID);
    assert_int_equal(achan_stream_repeat_with(4, gen_fn, NULL, count_user_drop, NULL),
                     ACHAN_INVALID);
    assert_int_equal(achan_stream_poll_fn(4, NULL, NULL, count_user_drop, &out), ACHAN_INVALID);
    assert_int_equal(achan_stream_poll_fn(4, forty_two, NULL, count_user_drop, NULL),
                     ACHAN_INVALID);
    assert_int_equal(achan_stream_unfold(4, NULL, 4, unfold_fn, NULL, NULL, &out), ACHAN_INVALID);
    assert_int_equal(achan_stream_unfold(4, &init, 4, NULL, NULL, count_user_drop, &out),
                     ACHAN_INVALID);
    assert_int_equal(achan_stream_unfold(4, &init, 4, unfold_fn, NULL, NULL, NULL), ACHAN_INVALID);
    assert_int_equal(achan_stream_unfold(SIZE_MAX, &init, 4, unfold_fn, NULL, NULL, &out),
                     ACHAN_INVALID);
    assert_ptr_equal(out, POISON);
    assert_int_equal(user_drops, 0);

    /* Zero-sized items and states are allowed where they make sense. */
    assert_int_equal(achan_stream_iter(NULL, 0, sizeof(int), &out), ACHAN_OK);
    achan_stream_drop(out);
    assert_int_equal(achan_stream_unfold(0, NULL, 4, unfold_fn, NULL, NULL, &out), ACHAN_OK);
    achan_stream_drop(out);
    assert_int_equal(achan_stream_empty(0, &out), ACHAN_OK);
    achan_stream_drop(out);
    /* An item size no allocation could hold is refused, even by sources
     * that never yield an item. */
    out = POISON;
    assert_int_equal(achan_stream_empty(SIZE_MAX, &out), ACHAN_INVALID);
    assert_int_equal(achan_stream_pending(SIZE_MAX, &out), ACHAN_INVALID);
    assert_int_equal(achan_stream_repeat_with(SIZE_MAX, gen_fn, NULL, NULL, &out), ACHAN_INVALID);
    assert_int_equal(achan_stream_poll_fn(SIZE_MAX, forty_two, NULL, NULL, &out), ACHAN_INVALID);
    assert_int_equal(achan_stream_unfold(0, NULL, SIZE_MAX, unfold_fn, NULL, NULL, &out),
                     ACHAN_INVALID);
    assert_ptr_equal(out, POISON);
}

static void consumers(void **state) {
    (void)state;
    achan_future *out = POISON;
    achan_stream *s = ints(3);
    int acc = 0, buf[4];
    size_t n = 77;
    user_drops = 0;
    assert_int_equal(achan_stream_fold(NULL, 4, &acc, fold_fn, NULL, NULL, &out), ACHAN_INVALID);
    assert_int_equal(achan_stream_fold(s, 4, NULL, fold_fn, NULL, NULL, &out), ACHAN_INVALID);
    assert_int_equal(achan_stream_fold(s, 4, &acc, NULL, NULL, count_user_drop, &out),
                     ACHAN_INVALID);
    assert_int_equal(achan_stream_fold(s, 4, &acc, fold_fn, NULL, NULL, NULL), ACHAN_INVALID);
    assert_int_equal(achan_stream_fold(s, SIZE_MAX, &acc, fold_fn, NULL, NULL, &out),
                     ACHAN_INVALID);
    assert_int_equal(achan_stream_for_each(NULL, each_fn, NULL, NULL, &out), ACHAN_INVALID);
    assert_int_equal(achan_stream_for_each(s, NULL, NULL, count_user_drop, &out), ACHAN_INVALID);
    assert_int_equal(achan_stream_for_each(s, each_fn, NULL, NULL, NULL), ACHAN_INVALID);
    assert_int_equal(achan_stream_count(NULL, &out), ACHAN_INVALID);
    assert_int_equal(achan_stream_count(s, NULL), ACHAN_INVALID);
    assert_int_equal(achan_stream_collect(NULL, buf, 4, &out), ACHAN_INVALID);
    assert_int_equal(achan_stream_collect(s, NULL, 4, &out), ACHAN_INVALID);
    assert_int_equal(achan_stream_collect(s, buf, 4, NULL), ACHAN_INVALID);
    assert_ptr_equal(out, POISON);

    assert_int_equal(achan_stream_fold_blocking(NULL, &acc, fold_fn, NULL, 0), ACHAN_INVALID);
    assert_int_equal(achan_stream_fold_blocking(s, NULL, fold_fn, NULL, 0), ACHAN_INVALID);
    assert_int_equal(achan_stream_fold_blocking(s, &acc, NULL, NULL, 0), ACHAN_INVALID);
    assert_int_equal(achan_stream_for_each_blocking(NULL, each_fn, NULL, 0), ACHAN_INVALID);
    assert_int_equal(achan_stream_for_each_blocking(s, NULL, NULL, 0), ACHAN_INVALID);
    assert_int_equal(achan_stream_count_blocking(NULL, &n, 0), ACHAN_INVALID);
    assert_int_equal(achan_stream_count_blocking(s, NULL, 0), ACHAN_INVALID);
    assert_int_equal(achan_stream_collect_blocking(NULL, buf, 4, &n, 0), ACHAN_INVALID);
    assert_int_equal(achan_stream_collect_blocking(s, NULL, 4, &n, 0), ACHAN_INVALID);
    assert_int_equal(achan_stream_collect_blocking(s, buf, 4, NULL, 0), ACHAN_INVALID);
    assert_int_equal(n, 77);
    assert_int_equal(acc, 0);
    assert_int_equal(user_drops, 0);
    expect_intact(s);
}

/* ------------------------------------------------------------------------ */
/* select.h                                                                   */

static void select_(void **state) {
    (void)state;
    achan_stream *a = ints(2), *b = ints(2);
    achan_stream *ins[3] = {a, b, NULL};
    achan_select *sel = POISON;
    assert_int_equal(achan_select_new(NULL, 2, &sel), ACHAN_INVALID);
    assert_int_equal(achan_select_new(ins, 0, &sel), ACHAN_INVALID);
    assert_int_equal(achan_select_new(ins, 2, NULL), ACHAN_INVALID);
    assert_int_equal(achan_select_new(ins, 3, &sel), ACHAN_INVALID); /* A NULL stream. */
    assert_ptr_equal(sel, POISON);
    assert_int_equal(achan_select_new(ins, 2, &sel), ACHAN_OK);
    int v;
    size_t index = 77;
    assert_int_equal(achan_select_poll(NULL, &cx_ok, &v, &index), ACHAN_INVALID);
    for (int i = 0; i < 3; i++)
        assert_int_equal(achan_select_poll(sel, bad_cx[i], &v, &index), ACHAN_INVALID);
    assert_int_equal(achan_select_poll(sel, &cx_ok, NULL, &index), ACHAN_INVALID);
    assert_int_equal(achan_select_poll(sel, &cx_ok, &v, NULL), ACHAN_INVALID);
    assert_int_equal(achan_select_blocking(NULL, &v, &index, 0), ACHAN_INVALID);
    assert_int_equal(achan_select_blocking(sel, NULL, &index, 0), ACHAN_INVALID);
    assert_int_equal(achan_select_blocking(sel, &v, NULL, 0), ACHAN_INVALID);
    assert_int_equal(index, 77);
    achan_select_drop(NULL);
    assert_int_equal(achan_select_poll(sel, &cx_ok, &v, &index), ACHAN_OK);
    assert_int_equal(index, 0);
    assert_int_equal(v, 1);
    achan_select_drop(sel);
    achan_stream_drop(a);
    expect_intact(b);
}

/* ------------------------------------------------------------------------ */
/* executor.h                                                                 */

static void executor(void **state) {
    (void)state;
    assert_int_equal(achan_executor_new(NULL), ACHAN_INVALID);
    achan_executor *ex;
    assert_int_equal(achan_executor_new(&ex), ACHAN_OK);
    achan_executor_set_budget(NULL, 4);
    achan_future *f;
    assert_int_equal(achan_sleep(0, &f), ACHAN_OK);
    assert_int_equal(achan_executor_spawn(NULL, f, NULL, NULL), ACHAN_INVALID); /* f not taken */
    assert_int_equal(achan_executor_spawn(ex, NULL, NULL, NULL), ACHAN_INVALID);
    assert_int_equal(achan_executor_run(NULL, 0), ACHAN_INVALID);
    assert_int_equal(achan_executor_run_until_idle(NULL), 0);
    assert_null(achan_executor_timer(NULL));
    assert_int_equal(achan_executor_tasks(NULL), 0);
    achan_executor_drop(NULL);
    assert_int_equal(achan_executor_tasks(ex), 0);
    assert_int_equal(achan_executor_spawn(ex, f, NULL, NULL), ACHAN_OK);
    assert_int_equal(achan_executor_run(ex, -1), ACHAN_OK);
    achan_executor_drop(ex);
}

/* ------------------------------------------------------------------------ */
/* timer.h                                                                    */

static void timer(void **state) {
    (void)state;
    assert_non_null(achan_timer_current());
    achan_timer *prev = achan_timer_set_current(NULL);
    assert_ptr_equal(achan_timer_set_current(prev), NULL);
    uint64_t t = achan_monotonic_ns();
    assert_true(achan_timer_now(NULL) >= t); /* NULL: the monotonic clock. */

    achan_timer_heap *th = POISON;
    assert_int_equal(achan_timer_heap_new(NULL, NULL, NULL), ACHAN_INVALID);
    assert_null(achan_timer_heap_timer(NULL));
    assert_int_equal(achan_timer_heap_next(NULL), UINT64_MAX);
    assert_int_equal(achan_timer_heap_fire(NULL, UINT64_MAX), 0);
    achan_timer_heap_drop(NULL);
    assert_int_equal(achan_timer_heap_new(NULL, NULL, &th), ACHAN_OK);
    achan_timer *ht = achan_timer_heap_timer(th);

    test_waker tw = {0};
    achan_waker w = test_waker_get(&tw);
    achan_timer_entry e = ACHAN_TIMER_ENTRY_INIT;
    assert_int_equal(achan_timer_entry_arm(NULL, &e, 1, &w), ACHAN_INVALID);
    assert_int_equal(achan_timer_entry_arm(ht, NULL, 1, &w), ACHAN_INVALID);
    assert_int_equal(achan_timer_entry_arm(ht, &e, 1, NULL), ACHAN_INVALID);
    assert_int_equal(achan_timer_entry_arm(ht, &e, 1, &zeroed), ACHAN_INVALID);
    achan_timer_entry_disarm(NULL);
    achan_timer_entry_disarm(&e); /* Never armed. */
    assert_int_equal(achan_timer_heap_next(th), UINT64_MAX);
    assert_int_equal(test_waker_live(&tw), 0);
    /* Out of range deadlines are just deadlines. */
    assert_int_equal(achan_timer_entry_arm(ht, &e, UINT64_MAX, &w), ACHAN_OK);
    assert_int_equal(achan_timer_heap_fire(th, UINT64_MAX - 1), 0);
    assert_int_equal(achan_timer_entry_arm(ht, &e, 0, &w), ACHAN_OK);
    assert_int_equal(achan_timer_heap_fire(th, 0), 1);
    assert_int_equal(test_waker_wakes(&tw), 1);
    achan_timer_heap_drop(th);
    assert_int_equal(test_waker_live(&tw), 0);

    achan_future *f = POISON;
    assert_int_equal(achan_sleep_until(0, NULL), ACHAN_INVALID);
    assert_int_equal(achan_sleep(0, NULL), ACHAN_INVALID);
    assert_ptr_equal(f, POISON);
    /* The longest sleeps are valid (they never end). */
    assert_int_equal(achan_sleep(UINT64_MAX, &f), ACHAN_OK);
    assert_int_equal(achan_block_on(f, NULL, 0), ACHAN_TIMEOUT);
    achan_future_drop(f);
    assert_int_equal(achan_sleep_until(UINT64_MAX, &f), ACHAN_OK);
    achan_future_drop(f);

    assert_non_null(achan_timer_shared()); /* Starts the timer thread: last. */
}

/* ------------------------------------------------------------------------ */
/* fd.h                                                                       */

static void fd(void **state) {
    (void)state;
    assert_int_equal(achan_fd_waker_new(NULL), ACHAN_INVALID);
    assert_int_equal(achan_fd_waker_new_pipe(NULL), ACHAN_INVALID);
    assert_int_equal(achan_fd_waker_fd(NULL), -1);
    /* NULL: a no-op waker, still a waker to wake and drop. */
    achan_waker w = achan_fd_waker_waker(NULL);
    assert_non_null(w.vtbl);
    achan_waker_wake_by_ref(&w);
    achan_waker_drop(achan_waker_clone(&w));
    achan_waker_wake(w);
    achan_fd_waker_clear(NULL);
    assert_non_null(achan_fd_waker_backend(NULL));
    achan_fd_waker_drop(NULL);
}

/* ------------------------------------------------------------------------ */
/* uv.h (when libuv is built)                                                 */

#ifdef ACHAN_TEST_UV
static void item_fn(achan_uv_stream *h, achan_status st, void *item, void *user) {
    (void)h;
    (void)st;
    (void)item;
    (void)user;
}

static void uv(void **state) {
    (void)state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    achan_stream *s = ints(2);
    achan_uv_stream *h = POISON;
    assert_int_equal(achan_uv_stream_start(NULL, s, item_fn, NULL, NULL, &h), ACHAN_INVALID);
    assert_int_equal(achan_uv_stream_start(&loop, NULL, item_fn, NULL, NULL, &h), ACHAN_INVALID);
    assert_int_equal(achan_uv_stream_start(&loop, s, NULL, NULL, NULL, &h), ACHAN_INVALID);
    assert_int_equal(achan_uv_stream_start(&loop, s, item_fn, NULL, NULL, NULL), ACHAN_INVALID);
    assert_ptr_equal(h, POISON);
    achan_uv_stream_stop(NULL);
    achan_future *f;
    assert_int_equal(achan_sleep(0, &f), ACHAN_OK);
    assert_int_equal(achan_uv_spawn(NULL, f, NULL, NULL), ACHAN_INVALID); /* f not taken */
    assert_int_equal(achan_uv_spawn(&loop, NULL, NULL, NULL), ACHAN_INVALID);
    achan_future_drop(f);
    expect_intact(s);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&loop), 0);
}
#endif

int main(void) {
    const struct CMUnitTest tests[] = {
#ifndef NDEBUG
        /* First, while the process has one thread (the children fork). */
        cmocka_unit_test(handles_used_after_release_abort_in_debug_builds),
        cmocka_unit_test(inline_helpers_assert_their_preconditions),
#endif
        cmocka_unit_test(core_and_waker),
        cmocka_unit_test(stream_and_future),
        cmocka_unit_test(block),
        cmocka_unit_test(mpsc),
        cmocka_unit_test(oneshot),
        cmocka_unit_test(watch),
        cmocka_unit_test(broadcast),
        cmocka_unit_test(default_allocator),
        cmocka_unit_test(unary_adapters),
        cmocka_unit_test(multi_adapters),
        cmocka_unit_test(sources),
        cmocka_unit_test(consumers),
        cmocka_unit_test(select_),
        cmocka_unit_test(executor),
        cmocka_unit_test(fd),
#ifdef ACHAN_TEST_UV
        cmocka_unit_test(uv),
#endif
        cmocka_unit_test(timer),
    };
    return cmocka_run_group_tests(tests, setup_contexts, NULL);
}
