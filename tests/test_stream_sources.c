/* test_stream_sources.c - the sources and consumers of combinators.h.
 *
 * Sources: exact items, then CLOSED forever without calling their function
 * again; closures dropped once; every allocation failure leaving nothing
 * consumed. Consumers: as futures driven by achan_block_on and by hand with
 * a counting waker (PENDING registers, a send wakes, LAGGED is skipped, the
 * cooperative budget is honoured), and the `_blocking` helpers, including
 * ACHAN_TIMEOUT on a pending stream and a producer on another thread.
 */
#define _POSIX_C_SOURCE 200809L
#include "test_support.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SENTINEL 0x5a5a5a5a

static achan_status poll_tw(achan_stream *s, test_waker *t, void *item) {
    achan_waker w = test_waker_get(t);
    achan_context cx = {&w};
    return achan_stream_poll_next(s, &cx, item);
}

static achan_status poll_noop(achan_stream *s, void *item) {
    achan_waker w = achan_waker_noop();
    achan_context cx = {&w};
    return achan_stream_poll_next(s, &cx, item);
}

static achan_status fpoll_tw(achan_future *f, test_waker *t, void *out) {
    achan_waker w = test_waker_get(t);
    achan_context cx = {&w};
    return achan_future_poll(f, &cx, out);
}

static void expect_closed_forever(achan_stream *s) {
    for (int i = 0; i < 3; i++) {
        int v = SENTINEL;
        assert_int_equal(poll_noop(s, &v), ACHAN_CLOSED);
        assert_int_equal(v, SENTINEL);
    }
}

static achan_stream *iter_ints(const int *v, size_t n) {
    achan_stream *s = NULL;
    assert_int_equal(achan_stream_iter(v, n, sizeof(int), &s), ACHAN_OK);
    return s;
}

static int user_drops;
static void count_user_drop(void *user) {
    (void)user;
    user_drops++;
}

static void count_item_drop(void *item, void *user) {
    (void)item;
    (*(int *)user)++;
}

static void int_chan(int *item_drops, achan_mpsc_sender **tx, achan_mpsc_receiver **rx) {
    achan_opts o = {.item_size = sizeof(int), .item_drop = count_item_drop, .user = item_drops};
    assert_int_equal(achan_mpsc_new(&o, tx, rx), ACHAN_OK);
}

static void send_int(achan_mpsc_sender *tx, int v) {
    assert_int_equal(achan_mpsc_try_send(tx, &v), ACHAN_OK);
}

/* A future completing when the test says so, with an int (or a failure). */
typedef struct tfut {
    achan_future f;
    bool ready;
    achan_status result;
    int value;
    bool has_waker;
    achan_waker waker;
    int *drops;
} tfut;

static achan_status tfut_poll(achan_future *f, achan_context *cx, void *out) {
    tfut *t = (tfut *)f;
    if (!t->ready) {
        if (t->has_waker)
            achan_waker_drop(t->waker);
        t->waker = achan_waker_clone(cx->waker);
        t->has_waker = true;
        return ACHAN_PENDING;
    }
    if (t->result == ACHAN_OK)
        memcpy(out, &t->value, sizeof t->value);
    return t->result;
}

static void tfut_drop(achan_future *f) {
    tfut *t = (tfut *)f;
    if (t->has_waker)
        achan_waker_drop(t->waker);
    if (t->drops)
        (*t->drops)++;
    free(t);
}

static const achan_future_vtbl tfut_vtbl = {tfut_poll, tfut_drop};

static tfut *tfut_new(bool ready, achan_status result, int value, int *drops) {
    tfut *t = calloc(1, sizeof *t);
    assert_non_null(t);
    t->f.vtbl = &tfut_vtbl;
    t->f.output_size = sizeof(int);
    t->ready = ready;
    t->result = result;
    t->value = value;
    t->drops = drops;
    return t;
}

static void tfut_complete(tfut *t) {
    t->ready = true;
    if (t->has_waker) {
        t->has_waker = false;
        achan_waker_wake(t->waker);
    }
}

/* ------------------------------------------------------------------------ */
/* Sources.                                                                  */

static void iter_yields_a_copy_then_closed(void **state) {
    (void)state;
    int vals[] = {4, 5, 6};
    achan_stream *s = iter_ints(vals, 3);
    vals[0] = 99; /* The array was copied at creation. */
    assert_int_equal(s->item_size, sizeof(int));
    for (int k = 0; k < 3; k++) {
        int v;
        assert_int_equal(poll_noop(s, &v), ACHAN_OK);
        assert_int_equal(v, 4 + k);
    }
    expect_closed_forever(s);
    achan_stream_drop(s);

    s = NULL;
    assert_int_equal(achan_stream_iter(NULL, 0, sizeof(int), &s), ACHAN_OK);
    expect_closed_forever(s);
    achan_stream_drop(s);

    achan_stream *out = (achan_stream *)0x1;
    assert_int_equal(achan_stream_iter(NULL, 2, sizeof(int), &out), ACHAN_INVALID);
    assert_int_equal(achan_stream_iter(vals, 2, sizeof(int), NULL), ACHAN_INVALID);
    assert_int_equal(achan_stream_iter(vals, SIZE_MAX / 2, 4, &out), ACHAN_INVALID);
    assert_ptr_equal(out, (achan_stream *)0x1);
}

static void once_yields_the_output_then_closed(void **state) {
    (void)state;
    int drops = 0;
    achan_stream *s;
    tfut *t = tfut_new(false, ACHAN_OK, 42, &drops);
    assert_int_equal(achan_stream_once(&t->f, &s), ACHAN_OK);
    assert_int_equal(s->item_size, sizeof(int));
    test_waker tw = {0};
    int v = SENTINEL;
    assert_int_equal(poll_tw(s, &tw, &v), ACHAN_PENDING);
    assert_int_equal(test_waker_live(&tw), 1);
    tfut_complete(t);
    assert_int_equal(test_waker_wakes(&tw), 1);
    assert_int_equal(poll_tw(s, &tw, &v), ACHAN_OK);
    assert_int_equal(v, 42);
    assert_int_equal(drops, 1); /* Completed: dropped at once, never polled again. */
    expect_closed_forever(s);
    achan_stream_drop(s);
    assert_int_equal(drops, 1);
    assert_int_equal(test_waker_live(&tw), 0);

    /* A failed future yields nothing. */
    t = tfut_new(true, ACHAN_CLOSED, 1, &drops);
    assert_int_equal(achan_stream_once(&t->f, &s), ACHAN_OK);
    expect_closed_forever(s);
    achan_stream_drop(s);
    assert_int_equal(drops, 2);

    /* Dropped unpolled: the future goes with it. */
    t = tfut_new(true, ACHAN_OK, 1, &drops);
    assert_int_equal(achan_stream_once(&t->f, &s), ACHAN_OK);
    achan_stream_drop(s);
    assert_int_equal(drops, 3);

    assert_int_equal(achan_stream_once(NULL, &s), ACHAN_INVALID);
}

static void empty_and_pending(void **state) {
    (void)state;
    achan_stream *s;
    assert_int_equal(achan_stream_empty(12, &s), ACHAN_OK);
    assert_int_equal(s->item_size, 12);
    expect_closed_forever(s);
    achan_stream_drop(s);

    assert_int_equal(achan_stream_pending(sizeof(int), &s), ACHAN_OK);
    test_waker tw = {0};
    for (int i = 0; i < 3; i++) {
        int v = SENTINEL;
        assert_int_equal(poll_tw(s, &tw, &v), ACHAN_PENDING);
        assert_int_equal(v, SENTINEL);
    }
    assert_int_equal(test_waker_wakes(&tw), 0);
    assert_int_equal(test_waker_live(&tw), 0); /* Never wakes: keeps no waker. */
    achan_stream_drop(s);
    assert_int_equal(achan_stream_empty(4, NULL), ACHAN_INVALID);
    assert_int_equal(achan_stream_pending(4, NULL), ACHAN_INVALID);
}

static void gen_next(void *item, void *user) {
    int *n = user;
    memcpy(item, n, sizeof *n);
    (*n)++;
}

static void repeat_with_never_ends(void **state) {
    (void)state;
    int n = 0;
    achan_stream *s;
    user_drops = 0;
    assert_int_equal(achan_stream_repeat_with(sizeof(int), gen_next, &n, count_user_drop, &s),
                     ACHAN_OK);
    for (int k = 0; k < 100; k++) {
        int v;
        assert_int_equal(poll_noop(s, &v), ACHAN_OK);
        assert_int_equal(v, k);
    }
    assert_int_equal(user_drops, 0);
    achan_stream_drop(s);
    assert_int_equal(user_drops, 1);
    assert_int_equal(achan_stream_repeat_with(4, NULL, &n, NULL, &s), ACHAN_INVALID);
}

/* poll_fn script: 1, LAGGED, PENDING (self-woken), 2, CLOSED, then would
 * yield 3 if called again. */
static achan_status scripted(achan_context *cx, void *item, void *user) {
    int *calls = user;
    int v;
    switch ((*calls)++) {
    case 0:
        v = 1;
        break;
    case 1:
        return ACHAN_LAGGED;
    case 2:
        achan_waker_wake_by_ref(cx->waker);
        return ACHAN_PENDING;
    case 3:
        v = 2;
        break;
    case 4:
        return ACHAN_CLOSED;
    default:
        v = 3;
        break;
    }
    memcpy(item, &v, sizeof v);
    return ACHAN_OK;
}

static void poll_fn_follows_its_function_and_stays_closed(void **state) {
    (void)state;
    int calls = 0;
    achan_stream *s;
    user_drops = 0;
    assert_int_equal(achan_stream_poll_fn(sizeof(int), scripted, &calls, count_user_drop, &s),
                     ACHAN_OK);
    test_waker tw = {0};
    int v = SENTINEL;
    assert_int_equal(poll_tw(s, &tw, &v), ACHAN_OK);
    assert_int_equal(v, 1);
    v = SENTINEL;
    assert_int_equal(poll_tw(s, &tw, &v), ACHAN_LAGGED);
    assert_int_equal(poll_tw(s, &tw, &v), ACHAN_PENDING);
    assert_int_equal(test_waker_wakes(&tw), 1);
    assert_int_equal(v, SENTINEL);
    assert_int_equal(poll_tw(s, &tw, &v), ACHAN_OK);
    assert_int_equal(v, 2);
    assert_int_equal(poll_tw(s, &tw, &v), ACHAN_CLOSED);
    expect_closed_forever(s);
    assert_int_equal(calls, 5);
    achan_stream_drop(s);
    assert_int_equal(user_drops, 1);
    assert_int_equal(achan_stream_poll_fn(4, NULL, NULL, NULL, &s), ACHAN_INVALID);
}

static bool count_to_five(void *state, void *item, void *user) {
    int *n = state;
    int *calls = user;
    (*calls)++;
    if (*n == 5)
        return false;
    int sq = *n * *n;
    memcpy(item, &sq, sizeof sq);
    (*n)++;
    return true;
}

static void unfold_runs_its_state_machine(void **state) {
    (void)state;
    int init = 1, calls = 0;
    achan_stream *s;
    user_drops = 0;
    assert_int_equal(achan_stream_unfold(sizeof init, &init, sizeof(int), count_to_five, &calls,
                                         count_user_drop, &s),
                     ACHAN_OK);
    init = 100; /* The state was copied. */
    static const int exp[] = {1, 4, 9, 16};
    for (size_t k = 0; k < 4; k++) {
        int v;
        assert_int_equal(poll_noop(s, &v), ACHAN_OK);
        assert_int_equal(v, exp[k]);
    }
    expect_closed_forever(s);
    assert_int_equal(calls, 5);
    achan_stream_drop(s);
    assert_int_equal(user_drops, 1);
    assert_int_equal(achan_stream_unfold(4, NULL, 4, count_to_five, NULL, NULL, &s), ACHAN_INVALID);
    assert_int_equal(achan_stream_unfold(4, &init, 4, NULL, NULL, NULL, &s), ACHAN_INVALID);
}

/* Builds source number which (0..6) under the current default allocator. */
static achan_status make_source(int which, achan_future *fut, int *n, achan_stream **out) {
    static const int vals[] = {1, 2, 3};
    int init = 0;
    switch (which) {
    case 0:
        return achan_stream_iter(vals, 3, sizeof(int), out);
    case 1:
        return achan_stream_once(fut, out);
    case 2:
        return achan_stream_empty(sizeof(int), out);
    case 3:
        return achan_stream_pending(sizeof(int), out);
    case 4:
        return achan_stream_repeat_with(sizeof(int), gen_next, n, count_user_drop, out);
    case 5:
        return achan_stream_poll_fn(sizeof(int), scripted, n, count_user_drop, out);
    default:
        return achan_stream_unfold(sizeof init, &init, sizeof(int), count_to_five, n,
                                   count_user_drop, out);
    }
}

static void sources_allocation_failure(void **state) {
    (void)state;
    test_alloc ta;
    for (int which = 0; which < 7; which++) {
        int fdrops = 0, n = 0;
        tfut *t = tfut_new(true, ACHAN_OK, 7, &fdrops); /* Made with malloc. */
        test_alloc_init(&ta);
        assert_int_equal(achan_set_default_allocator(&ta.a), ACHAN_OK);
        user_drops = 0;
        achan_stream *s = (achan_stream *)0x1;
        int failures = 0;
        for (long k = 0;; k++) {
            test_alloc_fail_at(&ta, k);
            achan_status st = make_source(which, &t->f, &n, &s);
            if (st == ACHAN_OK)
                break;
            failures++;
            assert_int_equal(st, ACHAN_NOMEM);
            assert_ptr_equal(s, (achan_stream *)0x1);
            assert_int_equal(user_drops, 0);
            assert_int_equal(fdrops, 0); /* once did not take the future. */
            assert_int_equal(test_alloc_live_bytes(&ta), 0);
        }
        assert_int_equal(failures, 1);
        if (which != 1)
            achan_future_drop(&t->f);
        achan_stream_drop(s);
        assert_int_equal(fdrops, 1);
        assert_int_equal(user_drops, which >= 4 ? 1 : 0);
        assert_int_equal(test_alloc_live_bytes(&ta), 0);
        assert_int_equal(achan_set_default_allocator(NULL), ACHAN_OK);
    }
}

/* ------------------------------------------------------------------------ */
/* Consumers as futures.                                                     */

static void add_int(void *acc, const void *item, void *user) {
    (void)user;
    *(long *)acc += *(const int *)item;
}

typedef struct seen {
    int v[64];
    int n;
} seen;

static void record(const void *item, void *user) {
    seen *s = user;
    s->v[s->n++] = *(const int *)item;
}

static const int ten[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};

static void consumers_with_block_on(void **state) {
    (void)state;
    achan_future *f;
    long zero = 0, sum = -1;
    assert_int_equal(
        achan_stream_fold(iter_ints(ten, 10), sizeof zero, &zero, add_int, NULL, NULL, &f),
        ACHAN_OK);
    assert_int_equal(f->output_size, sizeof(long));
    assert_int_equal(achan_block_on(f, &sum, -1), ACHAN_OK);
    assert_int_equal(sum, 55);
    achan_future_drop(f);

    seen got = {{0}, 0};
    user_drops = 0;
    assert_int_equal(achan_stream_for_each(iter_ints(ten, 10), record, &got, count_user_drop, &f),
                     ACHAN_OK);
    assert_int_equal(f->output_size, 0);
    assert_int_equal(achan_block_on(f, NULL, -1), ACHAN_OK);
    assert_int_equal(got.n, 10);
    for (int i = 0; i < 10; i++)
        assert_int_equal(got.v[i], i + 1);
    achan_future_drop(f);
    assert_int_equal(user_drops, 1);

    size_t n = 0;
    assert_int_equal(achan_stream_count(iter_ints(ten, 10), &f), ACHAN_OK);
    assert_int_equal(achan_block_on(f, &n, -1), ACHAN_OK);
    assert_int_equal(n, 10);
    achan_future_drop(f);

    int buf[16];
    memset(buf, 0, sizeof buf);
    assert_int_equal(achan_stream_collect(iter_ints(ten, 10), buf, 16, &f), ACHAN_OK);
    assert_int_equal(achan_block_on(f, &n, -1), ACHAN_OK);
    assert_int_equal(n, 10);
    for (int i = 0; i < 10; i++)
        assert_int_equal(buf[i], i + 1);
    assert_int_equal(buf[10], 0);
    achan_future_drop(f);
}

static void collect_stops_when_the_buffer_is_full(void **state) {
    (void)state;
    int drops = 0;
    achan_mpsc_sender *tx;
    achan_mpsc_receiver *rx;
    int_chan(&drops, &tx, &rx);
    for (int i = 1; i <= 6; i++)
        send_int(tx, i);
    int buf[4];
    achan_future *f;
    assert_int_equal(achan_stream_collect(achan_mpsc_receiver_stream(rx), buf, 4, &f), ACHAN_OK);
    test_waker tw = {0};
    size_t n = 0;
    assert_int_equal(fpoll_tw(f, &tw, &n), ACHAN_OK); /* Full: no need to wait for the end. */
    assert_int_equal(n, 4);
    for (int i = 0; i < 4; i++)
        assert_int_equal(buf[i], i + 1);
    achan_future_drop(f);
    assert_int_equal(drops, 2); /* 5 and 6 stayed in the stream, dropped with it. */
    achan_mpsc_sender_drop(tx);
}

static void consumer_polled_by_hand(void **state) {
    (void)state;
    int drops = 0;
    achan_mpsc_sender *tx;
    achan_mpsc_receiver *rx;
    int_chan(&drops, &tx, &rx);
    achan_future *f;
    long zero = 0, sum = -1;
    user_drops = 0;
    assert_int_equal(achan_stream_fold(achan_mpsc_receiver_stream(rx), sizeof zero, &zero, add_int,
                                       NULL, count_user_drop, &f),
                     ACHAN_OK);
    test_waker tw = {0};
    assert_int_equal(fpoll_tw(f, &tw, &sum), ACHAN_PENDING);
    assert_int_equal(sum, -1);
    assert_int_equal(test_waker_live(&tw), 1);
    send_int(tx, 5);
    assert_int_equal(test_waker_wakes(&tw), 1);
    send_int(tx, 6);
    assert_int_equal(fpoll_tw(f, &tw, &sum), ACHAN_PENDING);
    assert_int_equal(sum, -1);
    achan_mpsc_sender_drop(tx);
    assert_int_equal(test_waker_wakes(&tw), 2);
    assert_int_equal(fpoll_tw(f, &tw, &sum), ACHAN_OK);
    assert_int_equal(sum, 11);
    assert_int_equal(fpoll_tw(f, &tw, &sum), ACHAN_INVALID); /* Already completed. */
    achan_future_drop(f);
    assert_int_equal(user_drops, 1);
    assert_int_equal(test_waker_live(&tw), 0);

    /* count and for_each by hand, too. */
    int_chan(&drops, &tx, &rx);
    assert_int_equal(achan_stream_count(achan_mpsc_receiver_stream(rx), &f), ACHAN_OK);
    size_t n = 99;
    assert_int_equal(fpoll_tw(f, &tw, &n), ACHAN_PENDING);
    send_int(tx, 1);
    send_int(tx, 2);
    send_int(tx, 3);
    assert_int_equal(fpoll_tw(f, &tw, &n), ACHAN_PENDING);
    assert_int_equal(n, 99);
    achan_mpsc_sender_drop(tx);
    assert_int_equal(fpoll_tw(f, &tw, &n), ACHAN_OK);
    assert_int_equal(n, 3);
    achan_future_drop(f);
    assert_int_equal(test_waker_live(&tw), 0);
}

/* A stream yielding 1, LAGGED, 2, LAGGED, 3, then CLOSED. */
static achan_status lagging(achan_context *cx, void *item, void *user) {
    (void)cx;
    int *pos = user;
    int p = (*pos)++;
    if (p == 5)
        return ACHAN_CLOSED;
    if (p % 2)
        return ACHAN_LAGGED;
    int v = p / 2 + 1;
    memcpy(item, &v, sizeof v);
    return ACHAN_OK;
}

static void consumers_skip_lagged(void **state) {
    (void)state;
    int pos = 0;
    achan_stream *s;
    assert_int_equal(achan_stream_poll_fn(sizeof(int), lagging, &pos, NULL, &s), ACHAN_OK);
    achan_future *f;
    long zero = 0, sum = 0;
    assert_int_equal(achan_stream_fold(s, sizeof zero, &zero, add_int, NULL, NULL, &f), ACHAN_OK);
    assert_int_equal(achan_block_on(f, &sum, -1), ACHAN_OK);
    assert_int_equal(sum, 6);
    achan_future_drop(f);

    pos = 0;
    assert_int_equal(achan_stream_poll_fn(sizeof(int), lagging, &pos, NULL, &s), ACHAN_OK);
    size_t n = 0;
    assert_int_equal(achan_stream_count_blocking(s, &n, -1), ACHAN_OK);
    assert_int_equal(n, 3);
    achan_stream_drop(s);
}

static void consumers_respect_the_budget(void **state) {
    (void)state;
    int calls = 0;
    achan_stream *s;
    assert_int_equal(achan_stream_repeat_with(sizeof(int), gen_next, &calls, NULL, &s), ACHAN_OK);
    seen got = {{0}, 0};
    achan_future *f;
    assert_int_equal(achan_stream_for_each(s, record, &got, NULL, &f), ACHAN_OK);
    test_waker tw = {0};
    achan_coop_set_budget(3);
    achan_status st = fpoll_tw(f, &tw, NULL);
    achan_coop_set_budget(0);
    assert_int_equal(st, ACHAN_PENDING);
    assert_int_equal(calls, 3); /* At most the budget. */
    assert_int_equal(got.n, 3);
    assert_int_equal(test_waker_wakes(&tw), 1);
    assert_int_equal(test_waker_live(&tw), 0);
    achan_coop_set_budget(3); /* The next turn continues where it stopped. */
    st = fpoll_tw(f, &tw, NULL);
    achan_coop_set_budget(0);
    assert_int_equal(st, ACHAN_PENDING);
    assert_int_equal(got.n, 6);
    for (int i = 0; i < 6; i++)
        assert_int_equal(got.v[i], i);
    assert_int_equal(test_waker_wakes(&tw), 2);
    achan_future_drop(f);
}

static void consumer_drop_frees_everything(void **state) {
    (void)state;
    int drops = 0;
    achan_mpsc_sender *tx;
    achan_mpsc_receiver *rx;
    int_chan(&drops, &tx, &rx);
    send_int(tx, 1);
    send_int(tx, 2);
    achan_future *f;
    seen got = {{0}, 0};
    user_drops = 0;
    assert_int_equal(
        achan_stream_for_each(achan_mpsc_receiver_stream(rx), record, &got, count_user_drop, &f),
        ACHAN_OK);
    achan_future_drop(f); /* Never polled. */
    assert_int_equal(user_drops, 1);
    assert_int_equal(drops, 2);
    assert_true(achan_mpsc_sender_is_closed(tx));
    achan_mpsc_sender_drop(tx);
}

static void consumers_reject_bad_arguments(void **state) {
    (void)state;
    achan_stream *s = iter_ints(ten, 10);
    achan_future *f = (achan_future *)0x1;
    long zero = 0;
    int buf[2];
    assert_int_equal(achan_stream_fold(NULL, 8, &zero, add_int, NULL, NULL, &f), ACHAN_INVALID);
    assert_int_equal(achan_stream_fold(s, 8, NULL, add_int, NULL, NULL, &f), ACHAN_INVALID);
    assert_int_equal(achan_stream_fold(s, 8, &zero, NULL, NULL, NULL, &f), ACHAN_INVALID);
    assert_int_equal(achan_stream_fold(s, 8, &zero, add_int, NULL, NULL, NULL), ACHAN_INVALID);
    assert_int_equal(achan_stream_for_each(s, NULL, NULL, NULL, &f), ACHAN_INVALID);
    assert_int_equal(achan_stream_count(NULL, &f), ACHAN_INVALID);
    assert_int_equal(achan_stream_collect(s, NULL, 2, &f), ACHAN_INVALID);
    assert_ptr_equal(f, (achan_future *)0x1);
    size_t n = 7;
    assert_int_equal(achan_stream_fold_blocking(NULL, &zero, add_int, NULL, 0), ACHAN_INVALID);
    assert_int_equal(achan_stream_fold_blocking(s, NULL, add_int, NULL, 0), ACHAN_INVALID);
    assert_int_equal(achan_stream_fold_blocking(s, &zero, NULL, NULL, 0), ACHAN_INVALID);
    assert_int_equal(achan_stream_for_each_blocking(s, NULL, NULL, 0), ACHAN_INVALID);
    assert_int_equal(achan_stream_count_blocking(s, NULL, 0), ACHAN_INVALID);
    assert_int_equal(achan_stream_collect_blocking(s, NULL, 2, &n, 0), ACHAN_INVALID);
    assert_int_equal(achan_stream_collect_blocking(s, buf, 2, NULL, 0), ACHAN_INVALID);
    assert_int_equal(n, 7);
    int v;
    assert_int_equal(poll_noop(s, &v), ACHAN_OK); /* Nothing was consumed. */
    assert_int_equal(v, 1);
    achan_stream_drop(s);
}

/* Builds consumer number which (0..3) over in. */
static achan_status make_consumer(int which, achan_stream *in, void *buf, achan_future **out) {
    long zero = 0;
    switch (which) {
    case 0:
        return achan_stream_fold(in, sizeof zero, &zero, add_int, NULL, count_user_drop, out);
    case 1:
        return achan_stream_for_each(in, record, buf, count_user_drop, out);
    case 2:
        return achan_stream_count(in, out);
    default:
        return achan_stream_collect(in, buf, 8, out);
    }
}

static void consumers_allocation_failure(void **state) {
    (void)state;
    test_alloc ta;
    static seen buf;
    for (int which = 0; which < 4; which++) {
        achan_stream *in = iter_ints(ten, 10);
        test_alloc_init(&ta);
        assert_int_equal(achan_set_default_allocator(&ta.a), ACHAN_OK);
        user_drops = 0;
        achan_future *f = (achan_future *)0x1;
        test_alloc_fail_at(&ta, 0);
        assert_int_equal(make_consumer(which, in, &buf, &f), ACHAN_NOMEM);
        assert_ptr_equal(f, (achan_future *)0x1);
        assert_int_equal(user_drops, 0);
        assert_int_equal(test_alloc_live_bytes(&ta), 0);
        int v;
        assert_int_equal(poll_noop(in, &v), ACHAN_OK); /* Still the caller's. */
        assert_int_equal(v, 1);
        assert_int_equal(make_consumer(which, in, &buf, &f), ACHAN_OK);
        achan_future_drop(f);
        assert_int_equal(user_drops, which < 2 ? 1 : 0);
        assert_int_equal(test_alloc_live_bytes(&ta), 0);
        assert_int_equal(achan_set_default_allocator(NULL), ACHAN_OK);
    }
}

/* ------------------------------------------------------------------------ */
/* Blocking helpers.                                                         */

static void blocking_helpers_run_to_the_end(void **state) {
    (void)state;
    achan_stream *s = iter_ints(ten, 10);
    long sum = 0;
    assert_int_equal(achan_stream_fold_blocking(s, &sum, add_int, NULL, -1), ACHAN_OK);
    assert_int_equal(sum, 55);
    achan_stream_drop(s);

    s = iter_ints(ten, 10);
    seen got = {{0}, 0};
    assert_int_equal(achan_stream_for_each_blocking(s, record, &got, 0), ACHAN_OK);
    assert_int_equal(got.n, 10);
    assert_int_equal(got.v[9], 10);
    achan_stream_drop(s);

    s = iter_ints(ten, 10);
    size_t n = 0;
    assert_int_equal(achan_stream_count_blocking(s, &n, -1), ACHAN_OK);
    assert_int_equal(n, 10);
    assert_int_equal(achan_stream_count_blocking(s, &n, -1), ACHAN_OK); /* Already ended. */
    assert_int_equal(n, 0);
    achan_stream_drop(s);

    /* collect: stops when buf is full and leaves the rest in the stream. */
    s = iter_ints(ten, 10);
    int buf[4];
    assert_int_equal(achan_stream_collect_blocking(s, buf, 4, &n, -1), ACHAN_OK);
    assert_int_equal(n, 4);
    assert_true(buf[0] == 1 && buf[3] == 4);
    int v;
    assert_int_equal(poll_noop(s, &v), ACHAN_OK);
    assert_int_equal(v, 5);
    assert_int_equal(achan_stream_collect_blocking(s, buf, 4, &n, -1), ACHAN_OK);
    assert_true(n == 4 && buf[0] == 6 && buf[3] == 9);
    assert_int_equal(achan_stream_collect_blocking(s, buf, 4, &n, -1), ACHAN_OK);
    assert_true(n == 1 && buf[0] == 10);
    achan_stream_drop(s);
}

/* Items larger than the helpers' stack scratch. */
typedef struct big {
    int v;
    char pad[1000];
} big;

static void add_big(void *acc, const void *item, void *user) {
    (void)user;
    *(long *)acc += ((const big *)item)->v;
}

static void blocking_helpers_with_large_items(void **state) {
    (void)state;
    static big items[3];
    for (int i = 0; i < 3; i++)
        items[i].v = i + 1;
    achan_stream *s;
    assert_int_equal(achan_stream_iter(items, 3, sizeof(big), &s), ACHAN_OK);
    long sum = 0;
    assert_int_equal(achan_stream_fold_blocking(s, &sum, add_big, NULL, -1), ACHAN_OK);
    assert_int_equal(sum, 6);
    achan_stream_drop(s);
}

static void blocking_helpers_time_out(void **state) {
    (void)state;
    static const int64_t timeouts[] = {0, 5 * 1000 * 1000};
    for (size_t t = 0; t < 2; t++) {
        achan_stream *s;
        assert_int_equal(achan_stream_pending(sizeof(int), &s), ACHAN_OK);
        size_t n = 99;
        long sum = 0;
        seen got = {{0}, 0};
        int buf[4];
        assert_int_equal(achan_stream_count_blocking(s, &n, timeouts[t]), ACHAN_TIMEOUT);
        assert_int_equal(n, 0);
        assert_int_equal(achan_stream_fold_blocking(s, &sum, add_int, NULL, timeouts[t]),
                         ACHAN_TIMEOUT);
        assert_int_equal(achan_stream_for_each_blocking(s, record, &got, timeouts[t]),
                         ACHAN_TIMEOUT);
        n = 99;
        assert_int_equal(achan_stream_collect_blocking(s, buf, 4, &n, timeouts[t]), ACHAN_TIMEOUT);
        assert_int_equal(n, 0);
        achan_stream_drop(s);

        /* What was ready is consumed; the stream stays usable. */
        int drops = 0;
        achan_mpsc_sender *tx;
        achan_mpsc_receiver *rx;
        int_chan(&drops, &tx, &rx);
        s = achan_mpsc_receiver_stream(rx);
        for (int i = 1; i <= 3; i++)
            send_int(tx, i);
        assert_int_equal(achan_stream_count_blocking(s, &n, timeouts[t]), ACHAN_TIMEOUT);
        assert_int_equal(n, 3);
        send_int(tx, 4);
        send_int(tx, 5);
        assert_int_equal(achan_stream_collect_blocking(s, buf, 4, &n, timeouts[t]), ACHAN_TIMEOUT);
        assert_true(n == 2 && buf[0] == 4 && buf[1] == 5);
        send_int(tx, 6);
        achan_mpsc_sender_drop(tx);
        assert_int_equal(achan_stream_fold_blocking(s, &sum, add_int, NULL, timeouts[t]), ACHAN_OK);
        assert_int_equal(sum, 6);
        achan_stream_drop(s);
        assert_int_equal(drops, 0);
    }
}

typedef struct producer {
    achan_mpsc_sender *tx;
    int n;
} producer;

static void *produce(void *arg) {
    producer *p = arg;
    struct timespec pause = {0, 200 * 1000};
    for (int i = 1; i <= p->n; i++) {
        assert_int_equal(achan_mpsc_send_blocking(p->tx, &i, -1), ACHAN_OK);
        if (i % 16 == 0)
            nanosleep(&pause, NULL); /* Let the consumer park now and then. */
    }
    achan_mpsc_sender_drop(p->tx);
    return NULL;
}

static void blocking_helpers_park_until_woken(void **state) {
    (void)state;
    for (int which = 0; which < 2; which++) {
        achan_opts o = {.item_size = sizeof(int), .capacity = 8};
        achan_mpsc_sender *tx;
        achan_mpsc_receiver *rx;
        assert_int_equal(achan_mpsc_new(&o, &tx, &rx), ACHAN_OK);
        achan_stream *s = achan_mpsc_receiver_stream(rx);
        producer p = {tx, (int)test_stress_count(2000)};
        pthread_t th;
        assert_int_equal(pthread_create(&th, NULL, produce, &p), 0);
        if (which == 0) {
            size_t n = 0;
            assert_int_equal(achan_stream_count_blocking(s, &n, -1), ACHAN_OK);
            assert_int_equal(n, (size_t)p.n);
        } else {
            long sum = 0;
            assert_int_equal(achan_stream_fold_blocking(s, &sum, add_int, NULL, -1), ACHAN_OK);
            assert_int_equal(sum, (long)p.n * (p.n + 1) / 2);
        }
        pthread_join(th, NULL);
        achan_stream_drop(s);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(iter_yields_a_copy_then_closed),
        cmocka_unit_test(once_yields_the_output_then_closed),
        cmocka_unit_test(empty_and_pending),
        cmocka_unit_test(repeat_with_never_ends),
        cmocka_unit_test(poll_fn_follows_its_function_and_stays_closed),
        cmocka_unit_test(unfold_runs_its_state_machine),
        cmocka_unit_test(sources_allocation_failure),
        cmocka_unit_test(consumers_with_block_on),
        cmocka_unit_test(collect_stops_when_the_buffer_is_full),
        cmocka_unit_test(consumer_polled_by_hand),
        cmocka_unit_test(consumers_skip_lagged),
        cmocka_unit_test(consumers_respect_the_budget),
        cmocka_unit_test(consumer_drop_frees_everything),
        cmocka_unit_test(consumers_reject_bad_arguments),
        cmocka_unit_test(consumers_allocation_failure),
        cmocka_unit_test(blocking_helpers_run_to_the_end),
        cmocka_unit_test(blocking_helpers_with_large_items),
        cmocka_unit_test(blocking_helpers_time_out),
        cmocka_unit_test(blocking_helpers_park_until_woken),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
