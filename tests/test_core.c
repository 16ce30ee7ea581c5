/* test_core.c - unit tests for core.h, waker.h and stream.h: status names,
 * version, the no-op waker, argument checking of the generic stream and
 * future entry points, and hand-written streams and futures driven through
 * achan_stream_poll_next, achan_stream_next_blocking and achan_block_on.
 */
#define _POSIX_C_SOURCE 200809L
#include "test_support.h"

#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define MS 1000000LL

/* ---- status names and version ---- */

static void status_str_names_every_status(void **state) {
    (void)state;
    static const struct {
        achan_status s;
        const char *name;
    } names[] = {
        {ACHAN_OK, "ACHAN_OK"},           {ACHAN_PENDING, "ACHAN_PENDING"},
        {ACHAN_EMPTY, "ACHAN_EMPTY"},     {ACHAN_FULL, "ACHAN_FULL"},
        {ACHAN_CLOSED, "ACHAN_CLOSED"},   {ACHAN_LAGGED, "ACHAN_LAGGED"},
        {ACHAN_TIMEOUT, "ACHAN_TIMEOUT"}, {ACHAN_NOMEM, "ACHAN_NOMEM"},
        {ACHAN_INVALID, "ACHAN_INVALID"},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *s = achan_status_str(names[i].s);
        assert_non_null(s);
        assert_string_equal(s, names[i].name);
    }
    /* The enum is dense from 0: the table covers every value. */
    assert_int_equal(ACHAN_OK, 0);
    assert_int_equal(ACHAN_INVALID, 8);
}

static void status_str_unknown_value_is_not_null(void **state) {
    (void)state;
    const achan_status unknown[] = {(achan_status)9, (achan_status)1000, (achan_status)-1};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        const char *s = achan_status_str(unknown[i]);
        assert_non_null(s);
        assert_true(strlen(s) > 0);
        /* It must not pass for a real status. */
        for (int k = ACHAN_OK; k <= ACHAN_INVALID; k++)
            assert_string_not_equal(s, achan_status_str((achan_status)k));
    }
}

static void version_matches_macros(void **state) {
    (void)state;
    assert_int_equal(achan_version(), ACHAN_VERSION_HEX);
    assert_int_equal(achan_version() >> 16, ACHAN_VERSION_MAJOR);
    assert_int_equal((achan_version() >> 8) & 0xff, ACHAN_VERSION_MINOR);
    assert_int_equal(achan_version() & 0xff, ACHAN_VERSION_PATCH);
    char want[32];
    snprintf(want, sizeof want, "%d.%d.%d", ACHAN_VERSION_MAJOR, ACHAN_VERSION_MINOR,
             ACHAN_VERSION_PATCH);
    assert_non_null(achan_version_string());
    assert_string_equal(achan_version_string(), want);
}

/* ---- the no-op waker ---- */

static void noop_waker_is_harmless(void **state) {
    (void)state;
    achan_waker w = achan_waker_noop();
    assert_non_null(w.vtbl);
    assert_non_null(w.vtbl->clone);
    assert_non_null(w.vtbl->wake);
    assert_non_null(w.vtbl->wake_by_ref);
    assert_non_null(w.vtbl->drop);
    assert_true(achan_waker_will_wake(&w, &w));
    achan_waker c = achan_waker_clone(&w);
    assert_true(achan_waker_will_wake(&w, &c));
    achan_waker noop2 = achan_waker_noop();
    assert_true(achan_waker_will_wake(&w, &noop2));
    achan_waker_wake_by_ref(&w);
    achan_waker_wake_by_ref(&c);
    achan_waker_wake(c);
    c = achan_waker_clone(&w);
    achan_waker_drop(c);
    achan_waker_drop(w);
    /* A different waker is not the no-op one. */
    test_waker t = {0};
    achan_waker tw = test_waker_get(&t);
    achan_waker n = achan_waker_noop();
    assert_false(achan_waker_will_wake(&n, &tw));
}

/* ---- hand-written streams and futures ---- */

/* counter stream: yields 0, 1, ... n-1, then CLOSED forever. With
 * pending_every_other it first answers PENDING on every second poll, waking
 * the waker by reference at once (a task that yields). */
typedef struct {
    achan_stream base; /* First: the stream is its own achan_stream. */
    int next, n;
    bool pending_every_other;
    int polls, drops;
} counter_stream;

static achan_status counter_poll(achan_stream *self, achan_context *cx, void *item) {
    counter_stream *s = (counter_stream *)self;
    s->polls++;
    if (s->next >= s->n)
        return ACHAN_CLOSED;
    if (s->pending_every_other && s->polls % 2 == 1) {
        achan_waker_wake_by_ref(cx->waker);
        return ACHAN_PENDING;
    }
    int v = s->next++;
    memcpy(item, &v, sizeof v);
    return ACHAN_OK;
}

static void counter_drop(achan_stream *self) {
    ((counter_stream *)self)->drops++;
}

static const achan_stream_vtbl counter_vtbl = {counter_poll, counter_drop};

static counter_stream counter_make(int n, bool pending_every_other) {
    counter_stream s = {{&counter_vtbl, sizeof(int)}, 0, n, pending_every_other, 0, 0};
    return s;
}

/* slot stream: a one-item mailbox under a mutex that another thread fills.
 * Pending registers a clone of the context's waker (replacing the previous
 * one, dropped after unlocking); the filler wakes it after unlocking. */
typedef struct {
    achan_stream base;
    pthread_mutex_t lock;
    bool has_item, closed, has_waker;
    int item;
    achan_waker waker;
    int registrations;
} slot_stream;

static achan_status slot_poll(achan_stream *self, achan_context *cx, void *item) {
    slot_stream *s = (slot_stream *)self;
    achan_waker old = {NULL, NULL};
    achan_status st;
    pthread_mutex_lock(&s->lock);
    if (s->has_item) {
        memcpy(item, &s->item, sizeof s->item);
        s->has_item = false;
        st = ACHAN_OK;
    } else if (s->closed) {
        st = ACHAN_CLOSED;
    } else {
        if (s->has_waker)
            old = s->waker;
        s->waker = achan_waker_clone(cx->waker);
        s->has_waker = true;
        s->registrations++;
        st = ACHAN_PENDING;
    }
    pthread_mutex_unlock(&s->lock);
    if (old.vtbl)
        achan_waker_drop(old);
    return st;
}

static void slot_drop(achan_stream *self) {
    slot_stream *s = (slot_stream *)self;
    if (s->has_waker)
        achan_waker_drop(s->waker);
    s->has_waker = false;
    pthread_mutex_destroy(&s->lock);
}

static const achan_stream_vtbl slot_vtbl = {slot_poll, slot_drop};

static void slot_init(slot_stream *s) {
    memset(s, 0, sizeof *s);
    s->base.vtbl = &slot_vtbl;
    s->base.item_size = sizeof(int);
    pthread_mutex_init(&s->lock, NULL);
}

/* Publishes an item (or the end) and wakes the registered waker, if any. */
static void slot_fill(slot_stream *s, bool close, int v) {
    achan_waker w = {NULL, NULL};
    pthread_mutex_lock(&s->lock);
    if (close) {
        s->closed = true;
    } else {
        s->item = v;
        s->has_item = true;
    }
    if (s->has_waker) {
        w = s->waker;
        s->has_waker = false;
    }
    pthread_mutex_unlock(&s->lock);
    if (w.vtbl)
        achan_waker_wake(w);
}

/* countdown future: PENDING (waking itself by reference) `left` times, then
 * OK with its output. output_size may be 0. */
typedef struct {
    achan_future base; /* First. */
    int left;
    int polls, drops;
    long output;
} countdown_future;

static achan_status countdown_poll(achan_future *self, achan_context *cx, void *out) {
    countdown_future *f = (countdown_future *)self;
    f->polls++;
    if (f->left > 0) {
        f->left--;
        achan_waker_wake_by_ref(cx->waker);
        return ACHAN_PENDING;
    }
    if (f->base.output_size)
        memcpy(out, &f->output, sizeof f->output);
    return ACHAN_OK;
}

static void countdown_drop(achan_future *self) {
    ((countdown_future *)self)->drops++;
}

static const achan_future_vtbl countdown_vtbl = {countdown_poll, countdown_drop};

static countdown_future countdown_make(int left, long output, size_t output_size) {
    countdown_future f = {{&countdown_vtbl, output_size}, left, 0, 0, output};
    return f;
}

/* never future: registers the context's waker and stays PENDING. */
typedef struct {
    achan_future base;
    achan_waker waker;
    bool has_waker;
    int polls, drops;
} never_future;

static achan_status never_poll(achan_future *self, achan_context *cx, void *out) {
    (void)out;
    never_future *f = (never_future *)self;
    f->polls++;
    if (f->has_waker)
        achan_waker_drop(f->waker);
    f->waker = achan_waker_clone(cx->waker);
    f->has_waker = true;
    return ACHAN_PENDING;
}

static void never_drop(achan_future *self) {
    never_future *f = (never_future *)self;
    if (f->has_waker)
        achan_waker_drop(f->waker);
    f->has_waker = false;
    f->drops++;
}

static const achan_future_vtbl never_vtbl = {never_poll, never_drop};

/* ---- argument checking ---- */

static void stream_functions_reject_null(void **state) {
    (void)state;
    counter_stream s = counter_make(3, false);
    achan_waker w = achan_waker_noop();
    achan_context cx = {&w}, nocx = {NULL};
    int v = -7;
    assert_int_equal(achan_stream_poll_next(NULL, &cx, &v), ACHAN_INVALID);
    assert_int_equal(achan_stream_poll_next(&s.base, NULL, &v), ACHAN_INVALID);
    assert_int_equal(achan_stream_poll_next(&s.base, &nocx, &v), ACHAN_INVALID);
    assert_int_equal(achan_stream_poll_next(&s.base, &cx, NULL), ACHAN_INVALID);
    assert_int_equal(achan_stream_next_blocking(NULL, &v, -1), ACHAN_INVALID);
    assert_int_equal(achan_stream_next_blocking(&s.base, NULL, -1), ACHAN_INVALID);
    assert_int_equal(achan_stream_next_blocking(NULL, &v, 0), ACHAN_INVALID);
    achan_stream_drop(NULL);
    /* Nothing reached the stream, and v is untouched. */
    assert_int_equal(s.polls, 0);
    assert_int_equal(s.drops, 0);
    assert_int_equal(v, -7);
    assert_int_equal(achan_stream_poll_next(&s.base, &cx, &v), ACHAN_OK);
    assert_int_equal(v, 0);
}

static void future_functions_reject_null(void **state) {
    (void)state;
    countdown_future f = countdown_make(0, 42, sizeof(long));
    countdown_future unit = countdown_make(0, 0, 0);
    achan_waker w = achan_waker_noop();
    achan_context cx = {&w}, nocx = {NULL};
    long out = -1;
    assert_int_equal(achan_future_poll(NULL, &cx, &out), ACHAN_INVALID);
    assert_int_equal(achan_future_poll(&f.base, NULL, &out), ACHAN_INVALID);
    assert_int_equal(achan_future_poll(&f.base, &nocx, &out), ACHAN_INVALID);
    assert_int_equal(achan_future_poll(&f.base, &cx, NULL), ACHAN_INVALID);
    assert_int_equal(achan_block_on(NULL, &out, -1), ACHAN_INVALID);
    assert_int_equal(achan_block_on(&f.base, NULL, -1), ACHAN_INVALID);
    achan_future_drop(NULL);
    assert_int_equal(f.polls, 0);
    assert_int_equal(f.drops, 0);
    assert_int_equal(out, -1);
    /* A future without output may be polled with out == NULL. */
    assert_int_equal(achan_future_poll(&unit.base, &cx, NULL), ACHAN_OK);
    assert_int_equal(unit.polls, 1);
    assert_int_equal(achan_future_poll(&f.base, &cx, &out), ACHAN_OK);
    assert_int_equal(out, 42);
}

/* ---- driving streams ---- */

static void stream_poll_next_yields_then_stays_closed(void **state) {
    (void)state;
    counter_stream s = counter_make(3, false);
    test_waker t = {0};
    achan_waker w = test_waker_get(&t);
    achan_context cx = {&w};
    int v = -1;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(achan_stream_poll_next(&s.base, &cx, &v), ACHAN_OK);
        assert_int_equal(v, i);
    }
    for (int i = 0; i < 4; i++) {
        v = -1;
        assert_int_equal(achan_stream_poll_next(&s.base, &cx, &v), ACHAN_CLOSED);
        assert_int_equal(v, -1);
    }
    assert_int_equal(achan_stream_next_blocking(&s.base, &v, -1), ACHAN_CLOSED);
    assert_int_equal(achan_stream_next_blocking(&s.base, &v, 0), ACHAN_CLOSED);
    achan_stream_drop(&s.base);
    assert_int_equal(s.drops, 1);
    assert_int_equal(test_waker_wakes(&t), 0);
    assert_int_equal(test_waker_live(&t), 0);
}

static void stream_poll_next_pending_registers_and_wakes(void **state) {
    (void)state;
    slot_stream s;
    slot_init(&s);
    test_waker a = {0}, b = {0};
    achan_waker wa = test_waker_get(&a), wb = test_waker_get(&b);
    achan_context cxa = {&wa}, cxb = {&wb};
    int v = -1;
    assert_int_equal(achan_stream_poll_next(&s.base, &cxa, &v), ACHAN_PENDING);
    assert_int_equal(test_waker_live(&a), 1);
    /* Polling again with another waker replaces the registration. */
    assert_int_equal(achan_stream_poll_next(&s.base, &cxb, &v), ACHAN_PENDING);
    assert_int_equal(test_waker_live(&a), 0);
    assert_int_equal(test_waker_live(&b), 1);
    slot_fill(&s, false, 5);
    assert_int_equal(test_waker_wakes(&a), 0);
    assert_int_equal(test_waker_wakes(&b), 1);
    assert_int_equal(test_waker_live(&b), 0);
    assert_int_equal(achan_stream_poll_next(&s.base, &cxb, &v), ACHAN_OK);
    assert_int_equal(v, 5);
    slot_fill(&s, true, 0);
    assert_int_equal(achan_stream_poll_next(&s.base, &cxb, &v), ACHAN_CLOSED);
    achan_stream_drop(&s.base);
    assert_int_equal(test_waker_live(&a), 0);
    assert_int_equal(test_waker_live(&b), 0);
}

static void next_blocking_drives_a_yielding_stream(void **state) {
    (void)state;
    counter_stream s = counter_make(5, true);
    int v = -1;
    for (int i = 0; i < 5; i++) {
        assert_int_equal(achan_stream_next_blocking(&s.base, &v, -1), ACHAN_OK);
        assert_int_equal(v, i);
    }
    assert_int_equal(achan_stream_next_blocking(&s.base, &v, -1), ACHAN_CLOSED);
    /* Each item took a PENDING poll (self-woken) and an OK poll. */
    assert_int_equal(s.polls, 11);
    /* Timeout 0 still polls: an item that is ready is returned. */
    counter_stream ready = counter_make(1, false);
    assert_int_equal(achan_stream_next_blocking(&ready.base, &v, 0), ACHAN_OK);
    assert_int_equal(v, 0);
    assert_int_equal(achan_stream_next_blocking(&ready.base, &v, 0), ACHAN_CLOSED);
}

static void next_blocking_times_out_on_a_pending_stream(void **state) {
    (void)state;
    slot_stream s;
    slot_init(&s);
    int v = -1;
    uint64_t t0 = achan_monotonic_ns();
    assert_int_equal(achan_stream_next_blocking(&s.base, &v, 0), ACHAN_TIMEOUT);
    assert_true(s.registrations >= 1);
    assert_int_equal(achan_stream_next_blocking(&s.base, &v, 5 * MS), ACHAN_TIMEOUT);
    assert_true(achan_monotonic_ns() - t0 >= (uint64_t)(5 * MS));
    assert_int_equal(v, -1);
    /* The stream is unharmed: an item filled now is returned at once. */
    slot_fill(&s, false, 9);
    assert_int_equal(achan_stream_next_blocking(&s.base, &v, 0), ACHAN_OK);
    assert_int_equal(v, 9);
    achan_stream_drop(&s.base);
}

typedef struct {
    slot_stream *s;
    int n;
} filler_args;

/* Fills n items one at a time, each after the consumer took the previous. */
static void *filler(void *arg) {
    filler_args *a = arg;
    for (int i = 0; i < a->n; i++) {
        for (;;) {
            pthread_mutex_lock(&a->s->lock);
            bool taken = !a->s->has_item;
            pthread_mutex_unlock(&a->s->lock);
            if (taken)
                break;
            sched_yield();
        }
        if (i % 64 == 0) {
            struct timespec ts = {0, 200000};
            nanosleep(&ts, NULL); /* Let the consumer park now and then. */
        }
        slot_fill(a->s, false, i);
    }
    for (;;) {
        pthread_mutex_lock(&a->s->lock);
        bool taken = !a->s->has_item;
        pthread_mutex_unlock(&a->s->lock);
        if (taken)
            break;
        sched_yield();
    }
    slot_fill(a->s, true, 0);
    return NULL;
}

static void next_blocking_is_woken_from_another_thread(void **state) {
    (void)state;
    slot_stream s;
    slot_init(&s);
    filler_args a = {&s, 2000};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, filler, &a), 0);
    int v = -1;
    for (int i = 0; i < a.n; i++) {
        /* A generous deadline: a lost wake-up fails instead of hanging. */
        assert_int_equal(achan_stream_next_blocking(&s.base, &v, 10000 * MS), ACHAN_OK);
        assert_int_equal(v, i);
    }
    assert_int_equal(achan_stream_next_blocking(&s.base, &v, 10000 * MS), ACHAN_CLOSED);
    pthread_join(t, NULL);
    achan_stream_drop(&s.base);
}

/* ---- driving futures ---- */

static void future_poll_and_block_on(void **state) {
    (void)state;
    countdown_future f = countdown_make(3, 77, sizeof(long));
    test_waker t = {0};
    achan_waker w = test_waker_get(&t);
    achan_context cx = {&w};
    long out = 0;
    assert_int_equal(achan_future_poll(&f.base, &cx, &out), ACHAN_PENDING);
    assert_int_equal(test_waker_wakes(&t), 1);
    assert_int_equal(test_waker_live(&t), 0);
    assert_int_equal(out, 0);
    /* block_on polls the rest: two more PENDING, then OK. */
    assert_int_equal(achan_block_on(&f.base, &out, -1), ACHAN_OK);
    assert_int_equal(out, 77);
    assert_int_equal(f.polls, 4);
    achan_future_drop(&f.base);
    assert_int_equal(f.drops, 1);

    countdown_future unit = countdown_make(2, 0, 0);
    assert_int_equal(achan_block_on(&unit.base, NULL, 0), ACHAN_OK);
    assert_int_equal(unit.polls, 3);
}

static void block_on_times_out_and_leaves_the_future(void **state) {
    (void)state;
    never_future f = {{&never_vtbl, sizeof(int)}, {NULL, NULL}, false, 0, 0};
    int out = -1;
    assert_int_equal(achan_block_on(&f.base, &out, 0), ACHAN_TIMEOUT);
    assert_true(f.polls >= 1);
    uint64_t t0 = achan_monotonic_ns();
    assert_int_equal(achan_block_on(&f.base, &out, 3 * MS), ACHAN_TIMEOUT);
    assert_true(achan_monotonic_ns() - t0 >= (uint64_t)(3 * MS));
    assert_int_equal(out, -1);
    /* Still pollable, then dropped once. */
    test_waker t = {0};
    achan_waker w = test_waker_get(&t);
    achan_context cx = {&w};
    assert_int_equal(achan_future_poll(&f.base, &cx, &out), ACHAN_PENDING);
    assert_int_equal(test_waker_live(&t), 1);
    achan_future_drop(&f.base);
    assert_int_equal(f.drops, 1);
    assert_int_equal(test_waker_live(&t), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(status_str_names_every_status),
        cmocka_unit_test(status_str_unknown_value_is_not_null),
        cmocka_unit_test(version_matches_macros),
        cmocka_unit_test(noop_waker_is_harmless),
        cmocka_unit_test(stream_functions_reject_null),
        cmocka_unit_test(future_functions_reject_null),
        cmocka_unit_test(stream_poll_next_yields_then_stays_closed),
        cmocka_unit_test(stream_poll_next_pending_registers_and_wakes),
        cmocka_unit_test(next_blocking_drives_a_yielding_stream),
        cmocka_unit_test(next_blocking_times_out_on_a_pending_stream),
        cmocka_unit_test(next_blocking_is_woken_from_another_thread),
        cmocka_unit_test(future_poll_and_block_on),
        cmocka_unit_test(block_on_times_out_and_leaves_the_future),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
