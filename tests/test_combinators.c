/* test_combinators.c - the stream adapters of combinators.h.
 *
 * Most adapters run through one table of cases over the same scripted input
 * (1, 2, LAGGED, 3, 4, end), each with its exact expected output: the items
 * and end, LAGGED passed through with nothing written, CLOSED forever
 * without polling an input that would come back to life, PENDING from an
 * mpsc input that wakes the outer waker, drop releasing everything, and
 * every allocation failure leaving the input with the caller. Adapters with
 * their own item layouts or behaviour (zip, merge, chunks, buffered, peek,
 * enumerate, then with pending futures, the budget) have tests of their own.
 */
#include "test_support.h"

#include <stdlib.h>
#include <string.h>

#define SENTINEL 0x5a5a5a5a

/* ------------------------------------------------------------------------ */
/* Polling helpers.                                                          */

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

static void expect_closed_forever(achan_stream *s) {
    for (int i = 0; i < 3; i++) {
        int v = SENTINEL;
        assert_int_equal(poll_noop(s, &v), ACHAN_CLOSED);
    }
}

/* ------------------------------------------------------------------------ */
/* Inputs.                                                                   */

typedef struct step {
    achan_status st;
    int v;
} step;
#define OKV(x)                                                                                     \
    { ACHAN_OK, (x) }
#define LAG                                                                                        \
    { ACHAN_LAGGED, 0 }
#define END                                                                                        \
    { ACHAN_CLOSED, 0 }

/* A scripted stream made with achan_stream_poll_fn: the steps, then CLOSED.
 * A PENDING step wakes the waker at once (a legal, immediate wake). */
typedef struct script {
    const step *steps;
    size_t n, pos;
    int polls; /* Calls of the poll function. */
    int drops; /* user_drop calls. */
} script;

static achan_status script_fn(achan_context *cx, void *item, void *user) {
    script *s = user;
    s->polls++;
    if (s->pos == s->n)
        return ACHAN_CLOSED;
    step st = s->steps[s->pos++];
    if (st.st == ACHAN_OK)
        memcpy(item, &st.v, sizeof st.v);
    if (st.st == ACHAN_PENDING)
        achan_waker_wake_by_ref(cx->waker);
    return st.st;
}

static void script_drop(void *user) {
    ((script *)user)->drops++;
}

static achan_stream *script_stream(script *sc, const step *steps, size_t n) {
    *sc = (script){steps, n, 0, 0, 0};
    achan_stream *s = NULL;
    assert_int_equal(achan_stream_poll_fn(sizeof(int), script_fn, sc, script_drop, &s), ACHAN_OK);
    return s;
}

/* A stream that does not stay ended: after its steps it returns CLOSED
 * once, then starts over. Counts its polls, so a test can prove an adapter
 * never polls an input again once it ended. */
typedef struct zombie {
    achan_stream stream;
    const step *steps;
    size_t n, pos;
    int *polls;
} zombie;

static achan_status zombie_poll(achan_stream *s, achan_context *cx, void *item) {
    (void)cx;
    zombie *z = (zombie *)s;
    (*z->polls)++;
    if (z->pos == z->n) {
        z->pos = 0;
        return ACHAN_CLOSED;
    }
    step st = z->steps[z->pos++];
    if (st.st == ACHAN_OK)
        memcpy(item, &st.v, sizeof st.v);
    return st.st;
}

static void zombie_drop(achan_stream *s) {
    free(s);
}

static const achan_stream_vtbl zombie_vtbl = {zombie_poll, zombie_drop};

static achan_stream *zombie_stream(const step *steps, size_t n, int *polls) {
    zombie *z = calloc(1, sizeof *z);
    assert_non_null(z);
    z->stream.vtbl = &zombie_vtbl;
    z->stream.item_size = sizeof(int);
    z->steps = steps;
    z->n = n;
    z->polls = polls;
    return &z->stream;
}

static achan_stream *iter_ints(const int *v, size_t n) {
    achan_stream *s = NULL;
    assert_int_equal(achan_stream_iter(v, n, sizeof(int), &s), ACHAN_OK);
    return s;
}

/* An unbounded int channel whose undelivered items are counted. */
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

/* A future that is ready at once with an int. */
typedef struct ready_fut {
    achan_future f;
    int v;
    achan_status result;
} ready_fut;

static achan_status ready_poll(achan_future *f, achan_context *cx, void *out) {
    (void)cx;
    ready_fut *r = (ready_fut *)f;
    if (r->result == ACHAN_OK)
        memcpy(out, &r->v, sizeof r->v);
    return r->result;
}

static void ready_drop(achan_future *f) {
    free(f);
}

static const achan_future_vtbl ready_vtbl = {ready_poll, ready_drop};

static achan_future *ready_int(int v, achan_status result) {
    ready_fut *r = calloc(1, sizeof *r);
    assert_non_null(r);
    r->f.vtbl = &ready_vtbl;
    r->f.output_size = sizeof(int);
    r->v = v;
    r->result = result;
    return &r->f;
}

/* A controllable future: ready only once the test completes it. */
#define MAX_FUTS 64
typedef struct fctl {
    int limit; /* How many the generator makes. */
    int in_flight, max_in_flight;
    int drops;
    struct {
        bool ready, done;
        achan_status result;
        bool has_waker;
        achan_waker waker;
    } f[MAX_FUTS];
} fctl;

typedef struct ctl_fut {
    achan_future f;
    fctl *ctl;
    int id;
} ctl_fut;

static achan_status ctl_poll(achan_future *f, achan_context *cx, void *out) {
    ctl_fut *c = (ctl_fut *)f;
    fctl *ctl = c->ctl;
    if (!ctl->f[c->id].ready) {
        if (ctl->f[c->id].has_waker)
            achan_waker_drop(ctl->f[c->id].waker);
        ctl->f[c->id].waker = achan_waker_clone(cx->waker);
        ctl->f[c->id].has_waker = true;
        return ACHAN_PENDING;
    }
    ctl->f[c->id].done = true;
    ctl->in_flight--;
    int v = c->id * 10;
    if (ctl->f[c->id].result == ACHAN_OK)
        memcpy(out, &v, sizeof v);
    return ctl->f[c->id].result;
}

static void ctl_drop(achan_future *f) {
    ctl_fut *c = (ctl_fut *)f;
    fctl *ctl = c->ctl;
    if (ctl->f[c->id].has_waker) {
        achan_waker_drop(ctl->f[c->id].waker);
        ctl->f[c->id].has_waker = false;
    }
    if (!ctl->f[c->id].done)
        ctl->in_flight--;
    ctl->drops++;
    free(c);
}

static const achan_future_vtbl ctl_vtbl = {ctl_poll, ctl_drop};

static achan_future *ctl_new(fctl *ctl, int id) {
    ctl_fut *c = calloc(1, sizeof *c);
    assert_non_null(c);
    c->f.vtbl = &ctl_vtbl;
    c->f.output_size = sizeof(int);
    c->ctl = ctl;
    c->id = id;
    ctl->f[id].result = ACHAN_OK;
    ctl->in_flight++;
    if (ctl->in_flight > ctl->max_in_flight)
        ctl->max_in_flight = ctl->in_flight;
    return &c->f;
}

/* Completes future id with result, waking whoever it registered. */
static void ctl_complete(fctl *ctl, int id, achan_status result) {
    ctl->f[id].ready = true;
    ctl->f[id].result = result;
    if (ctl->f[id].has_waker) {
        ctl->f[id].has_waker = false;
        achan_waker_wake(ctl->f[id].waker);
    }
}

/* unfold: state counts the futures made so far; user is the fctl. */
static bool ctl_gen(void *state, void *item, void *user) {
    int *next = state;
    fctl *ctl = user;
    if (*next == ctl->limit)
        return false;
    achan_future *f = ctl_new(ctl, (*next)++);
    memcpy(item, &f, sizeof f);
    return true;
}

static achan_stream *ctl_stream(fctl *ctl, int limit) {
    memset(ctl, 0, sizeof *ctl);
    ctl->limit = limit;
    int zero = 0;
    achan_stream *s = NULL;
    assert_int_equal(
        achan_stream_unfold(sizeof zero, &zero, sizeof(achan_future *), ctl_gen, ctl, NULL, &s),
        ACHAN_OK);
    return s;
}

/* ------------------------------------------------------------------------ */
/* Closures used by the table.                                               */

static int user_drops;
static void count_user_drop(void *user) {
    (void)user;
    user_drops++;
}

static void times10(const void *in, void *out, void *user) {
    (void)user;
    int v = *(const int *)in * 10;
    memcpy(out, &v, sizeof v);
}

static bool is_odd(const void *item, void *user) {
    (void)user;
    return *(const int *)item % 2 != 0;
}

static bool odd_times10(const void *in, void *out, void *user) {
    (void)user;
    int v = *(const int *)in;
    if (v % 2 == 0)
        return false;
    v *= 10;
    memcpy(out, &v, sizeof v);
    return true;
}

static bool below4(const void *item, void *user) {
    (void)user;
    return *(const int *)item < 4;
}

static bool below2(const void *item, void *user) {
    (void)user;
    return *(const int *)item < 2;
}

static bool below3(const void *item, void *user) {
    (void)user;
    return *(const int *)item < 3;
}

static bool running_sum(void *state, const void *in, void *out, void *user) {
    (void)user;
    int *sum = state;
    *sum += *(const int *)in;
    memcpy(out, sum, sizeof *sum);
    return true;
}

static bool sum_until_over5(void *state, const void *in, void *out, void *user) {
    (void)user;
    int *sum = state;
    *sum += *(const int *)in;
    if (*sum > 5)
        return false;
    memcpy(out, sum, sizeof *sum);
    return true;
}

static achan_future *then_times10(const void *item, void *user) {
    (void)user;
    return ready_int(*(const int *)item * 10, ACHAN_OK);
}

static achan_future *then_odd_times10(const void *item, void *user) {
    (void)user;
    int v = *(const int *)item;
    return v % 2 ? ready_int(v * 10, ACHAN_OK) : NULL;
}

/* ------------------------------------------------------------------------ */
/* The table.                                                                */

typedef achan_status (*wrap_fn)(achan_stream *in, void *user, achan_user_drop_fn ud,
                                achan_stream **out);

static achan_status w_map(achan_stream *in, void *u, achan_user_drop_fn d, achan_stream **out) {
    return achan_stream_map(in, sizeof(int), times10, u, d, out);
}
static achan_status w_filter(achan_stream *in, void *u, achan_user_drop_fn d, achan_stream **out) {
    return achan_stream_filter(in, is_odd, u, d, out);
}
static achan_status w_filter_map(achan_stream *in, void *u, achan_user_drop_fn d,
                                 achan_stream **out) {
    return achan_stream_filter_map(in, sizeof(int), odd_times10, u, d, out);
}
static achan_status w_then(achan_stream *in, void *u, achan_user_drop_fn d, achan_stream **out) {
    return achan_stream_then(in, sizeof(int), then_times10, u, d, out);
}
static achan_status w_then_skip(achan_stream *in, void *u, achan_user_drop_fn d,
                                achan_stream **out) {
    return achan_stream_then(in, sizeof(int), then_odd_times10, u, d, out);
}
static achan_status w_take3(achan_stream *in, void *u, achan_user_drop_fn d, achan_stream **out) {
    (void)u;
    (void)d;
    return achan_stream_take(in, 3, out);
}
static achan_status w_skip1(achan_stream *in, void *u, achan_user_drop_fn d, achan_stream **out) {
    (void)u;
    (void)d;
    return achan_stream_skip(in, 1, out);
}
static achan_status w_skip2(achan_stream *in, void *u, achan_user_drop_fn d, achan_stream **out) {
    (void)u;
    (void)d;
    return achan_stream_skip(in, 2, out);
}
static achan_status w_take_while(achan_stream *in, void *u, achan_user_drop_fn d,
                                 achan_stream **out) {
    return achan_stream_take_while(in, below4, u, d, out);
}
static achan_status w_skip_while2(achan_stream *in, void *u, achan_user_drop_fn d,
                                  achan_stream **out) {
    return achan_stream_skip_while(in, below2, u, d, out);
}
static achan_status w_skip_while3(achan_stream *in, void *u, achan_user_drop_fn d,
                                  achan_stream **out) {
    return achan_stream_skip_while(in, below3, u, d, out);
}
static achan_status w_fuse(achan_stream *in, void *u, achan_user_drop_fn d, achan_stream **out) {
    (void)u;
    (void)d;
    return achan_stream_fuse(in, out);
}
static achan_status w_scan(achan_stream *in, void *u, achan_user_drop_fn d, achan_stream **out) {
    int zero = 0;
    return achan_stream_scan(in, sizeof zero, &zero, sizeof(int), running_sum, u, d, out);
}
static achan_status w_scan_stop(achan_stream *in, void *u, achan_user_drop_fn d,
                                achan_stream **out) {
    int zero = 0;
    return achan_stream_scan(in, sizeof zero, &zero, sizeof(int), sum_until_over5, u, d, out);
}
static achan_status w_peekable(achan_stream *in, void *u, achan_user_drop_fn d,
                               achan_stream **out) {
    (void)u;
    (void)d;
    return achan_stream_peekable(in, out);
}
static achan_status w_merge_empty(achan_stream *in, void *u, achan_user_drop_fn d,
                                  achan_stream **out) {
    (void)u;
    (void)d;
    achan_stream *e = NULL;
    achan_status st = achan_stream_empty(sizeof(int), &e);
    if (st != ACHAN_OK)
        return st;
    achan_stream *ins[2] = {in, e};
    st = achan_stream_merge(ins, 2, out);
    if (st != ACHAN_OK)
        achan_stream_drop(e);
    return st;
}
static achan_status w_chain_iter(achan_stream *in, void *u, achan_user_drop_fn d,
                                 achan_stream **out) {
    (void)u;
    (void)d;
    static const int tail[] = {7, 8};
    achan_stream *t = NULL;
    achan_status st = achan_stream_iter(tail, 2, sizeof(int), &t);
    if (st != ACHAN_OK)
        return st;
    st = achan_stream_chain(in, t, out);
    if (st != ACHAN_OK)
        achan_stream_drop(t);
    return st;
}
static achan_status w_chain_after_empty(achan_stream *in, void *u, achan_user_drop_fn d,
                                        achan_stream **out) {
    (void)u;
    (void)d;
    achan_stream *e = NULL;
    achan_status st = achan_stream_empty(sizeof(int), &e);
    if (st != ACHAN_OK)
        return st;
    st = achan_stream_chain(e, in, out);
    if (st != ACHAN_OK)
        achan_stream_drop(e);
    return st;
}

/* The common input: 1, 2, LAGGED, 3, 4, then CLOSED (6 polls in all). */
static const step input_steps[] = {OKV(1), OKV(2), LAG, OKV(3), OKV(4)};
#define INPUT_STEPS (sizeof input_steps / sizeof input_steps[0])

typedef struct wcase {
    const char *name;
    wrap_fn wrap;
    bool closure;     /* user_drop is the adapter's. */
    step exp[8];      /* Outputs over the common input, ending with END. */
    int input_polls;  /* Input polls until the adapter returned CLOSED. */
    int first_pulled; /* Input items consumed to produce the first item. */
} wcase;

static const wcase cases[] = {
    {"map", w_map, true, {OKV(10), OKV(20), LAG, OKV(30), OKV(40), END}, 6, 1},
    {"filter", w_filter, true, {OKV(1), LAG, OKV(3), END}, 6, 1},
    {"filter_map", w_filter_map, true, {OKV(10), LAG, OKV(30), END}, 6, 1},
    {"then", w_then, true, {OKV(10), OKV(20), LAG, OKV(30), OKV(40), END}, 6, 1},
    {"then_skip_null", w_then_skip, true, {OKV(10), LAG, OKV(30), END}, 6, 1},
    {"take3", w_take3, false, {OKV(1), OKV(2), LAG, OKV(3), END}, 4, 1},
    {"skip1", w_skip1, false, {OKV(2), LAG, OKV(3), OKV(4), END}, 6, 2},
    {"skip2", w_skip2, false, {LAG, OKV(3), OKV(4), END}, 6, 3},
    {"take_while", w_take_while, true, {OKV(1), OKV(2), LAG, OKV(3), END}, 5, 1},
    {"skip_while2", w_skip_while2, true, {OKV(2), LAG, OKV(3), OKV(4), END}, 6, 2},
    {"skip_while3", w_skip_while3, true, {LAG, OKV(3), OKV(4), END}, 6, 3},
    {"fuse", w_fuse, false, {OKV(1), OKV(2), LAG, OKV(3), OKV(4), END}, 6, 1},
    {"scan", w_scan, true, {OKV(1), OKV(3), LAG, OKV(6), OKV(10), END}, 6, 1},
    {"scan_stop", w_scan_stop, true, {OKV(1), OKV(3), LAG, END}, 4, 1},
    {"peekable", w_peekable, false, {OKV(1), OKV(2), LAG, OKV(3), OKV(4), END}, 6, 1},
    {"merge", w_merge_empty, false, {OKV(1), OKV(2), LAG, OKV(3), OKV(4), END}, 6, 1},
    {"chain",
     w_chain_iter,
     false,
     {OKV(1), OKV(2), LAG, OKV(3), OKV(4), OKV(7), OKV(8), END},
     6,
     1},
    {"chain_second", w_chain_after_empty, false, {OKV(1), OKV(2), LAG, OKV(3), OKV(4), END}, 6, 1},
};
#define NCASES (sizeof cases / sizeof cases[0])

static size_t exp_len(const wcase *c) {
    size_t n = 0;
    while (c->exp[n].st != ACHAN_CLOSED)
        n++;
    return n + 1;
}

/* Items and end, LAGGED with nothing written, CLOSED forever. */
static void table_items_lagged_and_end(void **state) {
    (void)state;
    for (size_t i = 0; i < NCASES; i++) {
        const wcase *c = &cases[i];
        print_message("case %s\n", c->name);
        script sc;
        achan_stream *s = script_stream(&sc, input_steps, INPUT_STEPS);
        user_drops = 0;
        assert_int_equal(c->wrap(s, NULL, count_user_drop, &s), ACHAN_OK);
        for (size_t k = 0; k < exp_len(c); k++) {
            int v = SENTINEL;
            assert_int_equal(poll_noop(s, &v), c->exp[k].st);
            assert_int_equal(v, c->exp[k].st == ACHAN_OK ? c->exp[k].v : SENTINEL);
        }
        expect_closed_forever(s);
        assert_int_equal(sc.drops, 0);
        achan_stream_drop(s);
        assert_int_equal(sc.drops, 1); /* The adapter dropped its input. */
        assert_int_equal(user_drops, c->closure ? 1 : 0);
    }
}

/* After CLOSED no input is polled again, even one that would revive; the
 * input was polled exactly as often as needed. */
static void table_input_not_polled_after_end(void **state) {
    (void)state;
    for (size_t i = 0; i < NCASES; i++) {
        const wcase *c = &cases[i];
        print_message("case %s\n", c->name);
        int polls = 0;
        achan_stream *s = zombie_stream(input_steps, INPUT_STEPS, &polls);
        assert_int_equal(c->wrap(s, NULL, NULL, &s), ACHAN_OK);
        int v;
        while (poll_noop(s, &v) != ACHAN_CLOSED) {
        }
        assert_int_equal(polls, c->input_polls);
        expect_closed_forever(s);
        assert_int_equal(polls, c->input_polls);
        achan_stream_drop(s);
    }
}

/* Over an mpsc receiver: PENDING while the channel is empty, the send wakes
 * the outer waker, then the items; dropping the sender ends the stream. */
static void table_pending_propagates(void **state) {
    (void)state;
    for (size_t i = 0; i < NCASES; i++) {
        const wcase *c = &cases[i];
        print_message("case %s\n", c->name);
        int drops = 0;
        achan_mpsc_sender *tx;
        achan_mpsc_receiver *rx;
        int_chan(&drops, &tx, &rx);
        achan_stream *s = achan_mpsc_receiver_stream(rx);
        assert_int_equal(c->wrap(s, NULL, NULL, &s), ACHAN_OK);
        test_waker tw = {0};
        int v = SENTINEL;
        assert_int_equal(poll_tw(s, &tw, &v), ACHAN_PENDING);
        assert_int_equal(v, SENTINEL);
        assert_int_equal(test_waker_wakes(&tw), 0);
        assert_int_equal(test_waker_live(&tw), 1);
        for (int k = 1; k <= 4; k++)
            send_int(tx, k);
        assert_int_equal(test_waker_wakes(&tw), 1);
        size_t k = 0;
        achan_status st;
        bool sender_dropped = false;
        for (;;) {
            if (c->exp[k].st == ACHAN_LAGGED)
                k++; /* The channel has no lag. */
            v = SENTINEL;
            st = poll_tw(s, &tw, &v);
            if (st == ACHAN_PENDING && !sender_dropped) {
                achan_mpsc_sender_drop(tx);
                sender_dropped = true;
                continue;
            }
            assert_int_equal(st, c->exp[k].st);
            if (st == ACHAN_CLOSED)
                break;
            assert_int_equal(v, c->exp[k].v);
            k++;
        }
        if (!sender_dropped)
            achan_mpsc_sender_drop(tx);
        expect_closed_forever(s);
        achan_stream_drop(s);
        assert_int_equal(test_waker_live(&tw), 0);
    }
}

/* Dropping the adapter drops its input: unreceived items go to item_drop,
 * the channel closes, and user_drop runs once. */
static void table_drop_frees_everything(void **state) {
    (void)state;
    for (size_t i = 0; i < NCASES; i++) {
        const wcase *c = &cases[i];
        print_message("case %s\n", c->name);
        int drops = 0;
        achan_mpsc_sender *tx;
        achan_mpsc_receiver *rx;
        int_chan(&drops, &tx, &rx);
        for (int k = 1; k <= 4; k++)
            send_int(tx, k);
        achan_stream *s = achan_mpsc_receiver_stream(rx);
        user_drops = 0;
        assert_int_equal(c->wrap(s, NULL, count_user_drop, &s), ACHAN_OK);
        int v;
        assert_int_equal(poll_noop(s, &v), ACHAN_OK);
        assert_false(achan_mpsc_sender_is_closed(tx));
        achan_stream_drop(s);
        assert_true(achan_mpsc_sender_is_closed(tx));
        assert_int_equal(drops, 4 - c->first_pulled);
        assert_int_equal(user_drops, c->closure ? 1 : 0);
        achan_mpsc_sender_drop(tx);
    }
}

/* Every allocation of every constructor fails in turn: ACHAN_NOMEM, the
 * input stays the caller's and usable, user_drop is not called, nothing
 * leaks; then construction succeeds. */
static void table_allocation_failure(void **state) {
    (void)state;
    static const int vals[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    test_alloc ta;
    for (size_t i = 0; i < NCASES; i++) {
        const wcase *c = &cases[i];
        print_message("case %s\n", c->name);
        achan_stream *in = iter_ints(vals, 10); /* Made with malloc. */
        test_alloc_init(&ta);
        assert_int_equal(achan_set_default_allocator(&ta.a), ACHAN_OK);
        user_drops = 0;
        int expect_next = 1, failures = 0;
        for (long k = 0;; k++) {
            test_alloc_fail_at(&ta, k);
            achan_stream *out = in;
            achan_status st = c->wrap(in, NULL, count_user_drop, &out);
            if (st == ACHAN_OK) {
                assert_ptr_not_equal(out, in);
                achan_stream_drop(out);
                break;
            }
            failures++;
            assert_int_equal(st, ACHAN_NOMEM);
            assert_ptr_equal(out, in);
            assert_int_equal(user_drops, 0);
            assert_int_equal(test_alloc_live_bytes(&ta), 0);
            int v;
            assert_int_equal(poll_noop(in, &v), ACHAN_OK); /* Still the caller's. */
            assert_int_equal(v, expect_next++);
        }
        assert_true(failures >= 1);
        assert_int_equal(user_drops, c->closure ? 1 : 0);
        assert_int_equal(test_alloc_live_bytes(&ta), 0);
        assert_int_equal(achan_set_default_allocator(NULL), ACHAN_OK);
    }
}

/* ------------------------------------------------------------------------ */
/* Argument checks.                                                          */

static void constructors_reject_bad_arguments(void **state) {
    (void)state;
    static const int vals[] = {1, 2};
    achan_stream *in = iter_ints(vals, 2);
    achan_stream *out = (achan_stream *)0x1;
    int zero = 0;
    assert_int_equal(achan_stream_map(NULL, 4, times10, NULL, NULL, &out), ACHAN_INVALID);
    assert_int_equal(achan_stream_map(in, 4, NULL, NULL, NULL, &out), ACHAN_INVALID);
    assert_int_equal(achan_stream_map(in, 4, times10, NULL, NULL, NULL), ACHAN_INVALID);
    assert_int_equal(achan_stream_map(in, SIZE_MAX, times10, NULL, NULL, &out), ACHAN_INVALID);
    assert_int_equal(achan_stream_filter(in, NULL, NULL, NULL, &out), ACHAN_INVALID);
    assert_int_equal(achan_stream_filter_map(in, 4, NULL, NULL, NULL, &out), ACHAN_INVALID);
    assert_int_equal(achan_stream_then(in, 4, NULL, NULL, NULL, &out), ACHAN_INVALID);
    assert_int_equal(achan_stream_take(NULL, 1, &out), ACHAN_INVALID);
    assert_int_equal(achan_stream_skip(in, 1, NULL), ACHAN_INVALID);
    assert_int_equal(achan_stream_take_while(in, NULL, NULL, NULL, &out), ACHAN_INVALID);
    assert_int_equal(achan_stream_skip_while(in, NULL, NULL, NULL, &out), ACHAN_INVALID);
    assert_int_equal(achan_stream_fuse(NULL, &out), ACHAN_INVALID);
    assert_int_equal(achan_stream_chain(in, in, &out), ACHAN_INVALID);
    assert_int_equal(achan_stream_chain(in, NULL, &out), ACHAN_INVALID);
    assert_int_equal(achan_stream_zip(in, in, &out), ACHAN_INVALID);
    assert_int_equal(achan_stream_zip(NULL, in, &out), ACHAN_INVALID);
    assert_int_equal(achan_stream_merge(NULL, 1, &out), ACHAN_INVALID);
    assert_int_equal(achan_stream_merge(&in, 0, &out), ACHAN_INVALID);
    achan_stream *dup[2] = {in, in}, *withnull[2] = {in, NULL};
    assert_int_equal(achan_stream_merge(dup, 2, &out), ACHAN_INVALID);
    assert_int_equal(achan_stream_merge(withnull, 2, &out), ACHAN_INVALID);
    assert_int_equal(achan_stream_ready_chunks(in, 0, &out), ACHAN_INVALID);
    assert_int_equal(achan_stream_chunks(in, 0, &out), ACHAN_INVALID);
    assert_int_equal(achan_stream_chunks(in, SIZE_MAX / 2, &out), ACHAN_INVALID);
    assert_int_equal(achan_stream_buffered(in, 2, 4, &out), ACHAN_INVALID); /* Not futures. */
    assert_int_equal(achan_stream_peekable(NULL, &out), ACHAN_INVALID);
    assert_int_equal(achan_stream_enumerate(in, NULL), ACHAN_INVALID);
    assert_int_equal(achan_stream_scan(in, 4, NULL, 4, running_sum, NULL, NULL, &out),
                     ACHAN_INVALID);
    assert_int_equal(achan_stream_scan(in, 4, &zero, 4, NULL, NULL, NULL, &out), ACHAN_INVALID);
    achan_stream *wide = NULL;
    assert_int_equal(achan_stream_empty(8, &wide), ACHAN_OK);
    assert_int_equal(achan_stream_chain(in, wide, &out), ACHAN_INVALID);
    achan_stream *mixed[2] = {in, wide};
    assert_int_equal(achan_stream_merge(mixed, 2, &out), ACHAN_INVALID);
    assert_ptr_equal(out, (achan_stream *)0x1);
    /* Both are still the caller's. */
    int v;
    assert_int_equal(poll_noop(in, &v), ACHAN_OK);
    assert_int_equal(v, 1);
    achan_stream_drop(wide);
    achan_stream_drop(in);
}

/* ------------------------------------------------------------------------ */
/* Single adapters.                                                          */

typedef struct triple {
    double a, b, c;
} triple;

static void int_to_triple(const void *in, void *out, void *user) {
    (void)user;
    double v = *(const int *)in;
    triple t = {v, v * 2, v * 3};
    memcpy(out, &t, sizeof t);
}

static void map_changes_the_item_size(void **state) {
    (void)state;
    static const int vals[] = {1, 2};
    achan_stream *s = iter_ints(vals, 2);
    assert_int_equal(achan_stream_map(s, sizeof(triple), int_to_triple, NULL, NULL, &s), ACHAN_OK);
    assert_int_equal(s->item_size, sizeof(triple));
    triple t;
    assert_int_equal(poll_noop(s, &t), ACHAN_OK);
    assert_true(t.a == 1.0 && t.b == 2.0 && t.c == 3.0);
    assert_int_equal(poll_noop(s, &t), ACHAN_OK);
    assert_true(t.a == 2.0 && t.b == 4.0 && t.c == 6.0);
    assert_int_equal(poll_noop(s, &t), ACHAN_CLOSED);
    achan_stream_drop(s);
}

static void take_zero_never_polls_the_input(void **state) {
    (void)state;
    int polls = 0;
    achan_stream *s = zombie_stream(input_steps, INPUT_STEPS, &polls);
    assert_int_equal(achan_stream_take(s, 0, &s), ACHAN_OK);
    expect_closed_forever(s);
    assert_int_equal(polls, 0);
    achan_stream_drop(s);
}

static void fuse_stays_closed_over_a_reviving_input(void **state) {
    (void)state;
    int polls = 0;
    achan_stream *z = zombie_stream(input_steps, 1, &polls);
    int v;
    /* Unfused, the input comes back after its CLOSED. */
    assert_int_equal(poll_noop(z, &v), ACHAN_OK);
    assert_int_equal(poll_noop(z, &v), ACHAN_CLOSED);
    assert_int_equal(poll_noop(z, &v), ACHAN_OK);
    assert_int_equal(achan_stream_fuse(z, &z), ACHAN_OK);
    assert_int_equal(poll_noop(z, &v), ACHAN_CLOSED);
    assert_int_equal(polls, 4);
    expect_closed_forever(z);
    assert_int_equal(polls, 4);
    achan_stream_drop(z);
}

static void enumerate_numbers_items_and_passes_lag(void **state) {
    (void)state;
    script sc;
    achan_stream *s = script_stream(&sc, input_steps, INPUT_STEPS);
    assert_int_equal(achan_stream_enumerate(s, &s), ACHAN_OK);
    assert_int_equal(s->item_size, ACHAN_ENUMERATE_OFFSET + sizeof(int));
    struct {
        _Alignas(max_align_t) unsigned char b[ACHAN_ENUMERATE_OFFSET + sizeof(int)];
    } item;
    static const struct {
        achan_status st;
        uint64_t idx;
        int v;
    } exp[] = {{ACHAN_OK, 0, 1}, {ACHAN_OK, 1, 2}, {ACHAN_LAGGED, 0, 0},
               {ACHAN_OK, 2, 3}, {ACHAN_OK, 3, 4}, {ACHAN_CLOSED, 0, 0}};
    for (size_t k = 0; k < sizeof exp / sizeof exp[0]; k++) {
        memset(item.b, 0x5a, sizeof item.b);
        assert_int_equal(poll_noop(s, item.b), exp[k].st);
        uint64_t idx;
        int v;
        memcpy(&idx, item.b, sizeof idx);
        memcpy(&v, item.b + ACHAN_ENUMERATE_OFFSET, sizeof v);
        if (exp[k].st == ACHAN_OK) {
            assert_int_equal(idx, exp[k].idx);
            assert_int_equal(v, exp[k].v);
        } else {
            assert_int_equal(v, SENTINEL); /* Nothing written. */
        }
    }
    expect_closed_forever(s);
    achan_stream_drop(s);
    assert_int_equal(sc.drops, 1);
}

static void enumerate_pending_and_alloc_failure(void **state) {
    (void)state;
    int drops = 0;
    achan_mpsc_sender *tx;
    achan_mpsc_receiver *rx;
    int_chan(&drops, &tx, &rx);
    achan_stream *in = achan_mpsc_receiver_stream(rx), *s = in;
    test_alloc ta;
    test_alloc_init(&ta);
    achan_set_default_allocator(&ta.a);
    test_alloc_fail_at(&ta, 0);
    assert_int_equal(achan_stream_enumerate(s, &s), ACHAN_NOMEM);
    assert_ptr_equal(s, in);
    assert_int_equal(achan_stream_enumerate(s, &s), ACHAN_OK);
    test_waker tw = {0};
    unsigned char item[ACHAN_ENUMERATE_OFFSET + sizeof(int)];
    assert_int_equal(poll_tw(s, &tw, item), ACHAN_PENDING);
    send_int(tx, 42);
    send_int(tx, 43);
    assert_int_equal(test_waker_wakes(&tw), 1);
    assert_int_equal(poll_tw(s, &tw, item), ACHAN_OK);
    int v;
    memcpy(&v, item + ACHAN_ENUMERATE_OFFSET, sizeof v);
    assert_int_equal(v, 42);
    achan_stream_drop(s);
    assert_int_equal(drops, 1);
    assert_int_equal(test_waker_live(&tw), 0);
    assert_int_equal(test_alloc_live_bytes(&ta), 0);
    achan_set_default_allocator(NULL);
    achan_mpsc_sender_drop(tx);
}

/* An input that would come back to life after its CLOSED is never polled
 * again once enumerate returned CLOSED. */
static void enumerate_never_polls_an_ended_input(void **state) {
    (void)state;
    int polls = 0;
    achan_stream *s = zombie_stream(input_steps, INPUT_STEPS, &polls);
    assert_int_equal(achan_stream_enumerate(s, &s), ACHAN_OK);
    unsigned char item[ACHAN_ENUMERATE_OFFSET + sizeof(int)];
    int got = 0;
    achan_status st;
    while ((st = poll_noop(s, item)) != ACHAN_CLOSED)
        got += st == ACHAN_OK;
    assert_int_equal(got, 4);
    assert_int_equal(polls, 6); /* 1, 2, LAGGED, 3, 4, CLOSED. */
    for (int i = 0; i < 3; i++)
        assert_int_equal(poll_noop(s, item), ACHAN_CLOSED);
    assert_int_equal(polls, 6);
    achan_stream_drop(s);
}

/* ---- then ---- */

static achan_future *then_ctl(const void *item, void *user) {
    return ctl_new(user, *(const int *)item);
}

static achan_future *then_wrong_size(const void *item, void *user) {
    (void)user;
    achan_future *f = ready_int(*(const int *)item, ACHAN_OK);
    f->output_size = sizeof(int) * 2; /* Not the adapter's out_size. */
    return f;
}

static void then_runs_one_future_at_a_time_in_order(void **state) {
    (void)state;
    static fctl ctl;
    memset(&ctl, 0, sizeof ctl);
    static const int ids[] = {0, 1, 2};
    achan_stream *s = iter_ints(ids, 3);
    assert_int_equal(achan_stream_then(s, sizeof(int), then_ctl, &ctl, NULL, &s), ACHAN_OK);
    test_waker tw = {0};
    int v = SENTINEL;
    assert_int_equal(poll_tw(s, &tw, &v), ACHAN_PENDING);
    assert_int_equal(ctl.in_flight, 1);
    assert_int_equal(test_waker_live(&tw), 1); /* Future 0 holds the waker. */
    ctl_complete(&ctl, 0, ACHAN_OK);
    assert_int_equal(test_waker_wakes(&tw), 1);
    assert_int_equal(poll_tw(s, &tw, &v), ACHAN_OK);
    assert_int_equal(v, 0);
    assert_int_equal(poll_tw(s, &tw, &v), ACHAN_PENDING); /* Future 1 runs now. */
    ctl_complete(&ctl, 1, ACHAN_CLOSED);                  /* Fails: yields nothing. */
    assert_int_equal(test_waker_wakes(&tw), 2);
    v = SENTINEL;
    assert_int_equal(poll_tw(s, &tw, &v), ACHAN_PENDING); /* Straight on to future 2. */
    assert_int_equal(v, SENTINEL);
    ctl_complete(&ctl, 2, ACHAN_OK);
    assert_int_equal(poll_tw(s, &tw, &v), ACHAN_OK);
    assert_int_equal(v, 20);
    assert_int_equal(poll_tw(s, &tw, &v), ACHAN_CLOSED);
    expect_closed_forever(s);
    assert_int_equal(ctl.max_in_flight, 1);
    assert_int_equal(ctl.drops, 3);
    achan_stream_drop(s);
    assert_int_equal(test_waker_live(&tw), 0);
}

static void then_drop_releases_the_running_future(void **state) {
    (void)state;
    static fctl ctl;
    memset(&ctl, 0, sizeof ctl);
    static const int ids[] = {0, 1};
    achan_stream *s = iter_ints(ids, 2);
    user_drops = 0;
    assert_int_equal(achan_stream_then(s, sizeof(int), then_ctl, &ctl, count_user_drop, &s),
                     ACHAN_OK);
    test_waker tw = {0};
    int v;
    assert_int_equal(poll_tw(s, &tw, &v), ACHAN_PENDING);
    achan_stream_drop(s);
    assert_int_equal(ctl.drops, 1);
    assert_int_equal(ctl.in_flight, 0);
    assert_int_equal(user_drops, 1);
    assert_int_equal(test_waker_live(&tw), 0);
}

static void then_skips_futures_of_another_size(void **state) {
    (void)state;
    static const int vals[] = {1, 2};
    achan_stream *s = iter_ints(vals, 2);
    assert_int_equal(achan_stream_then(s, sizeof(int), then_wrong_size, NULL, NULL, &s), ACHAN_OK);
    int v = SENTINEL;
    assert_int_equal(poll_noop(s, &v), ACHAN_CLOSED);
    assert_int_equal(v, SENTINEL);
    achan_stream_drop(s);
}

/* ---- zip ---- */

typedef struct pair {
    int a, b;
} pair;

static void zip_pairs_until_either_ends(void **state) {
    (void)state;
    static const int as[] = {1, 2, 3}, bs[] = {10, 20};
    achan_stream *a = iter_ints(as, 3), *b = iter_ints(bs, 2), *s;
    assert_int_equal(achan_stream_zip(a, b, &s), ACHAN_OK);
    assert_int_equal(s->item_size, 2 * sizeof(int));
    pair p;
    assert_int_equal(poll_noop(s, &p), ACHAN_OK);
    assert_true(p.a == 1 && p.b == 10);
    assert_int_equal(poll_noop(s, &p), ACHAN_OK);
    assert_true(p.a == 2 && p.b == 20);
    assert_int_equal(poll_noop(s, &p), ACHAN_CLOSED); /* b ended. */
    expect_closed_forever(s);
    achan_stream_drop(s);

    a = iter_ints(as, 1);
    b = iter_ints(bs, 2);
    assert_int_equal(achan_stream_zip(a, b, &s), ACHAN_OK);
    assert_int_equal(poll_noop(s, &p), ACHAN_OK);
    assert_int_equal(poll_noop(s, &p), ACHAN_CLOSED); /* a ended. */
    expect_closed_forever(s);
    achan_stream_drop(s);
}

static void zip_passes_lag_and_never_polls_ended_inputs(void **state) {
    (void)state;
    static const int bs[] = {10, 20, 30, 40, 50};
    int polls = 0;
    achan_stream *a = zombie_stream(input_steps, INPUT_STEPS, &polls);
    achan_stream *s;
    assert_int_equal(achan_stream_zip(a, iter_ints(bs, 5), &s), ACHAN_OK);
    static const struct {
        achan_status st;
        int a, b;
    } exp[] = {{ACHAN_OK, 1, 10}, {ACHAN_OK, 2, 20}, {ACHAN_LAGGED, 0, 0},
               {ACHAN_OK, 3, 30}, {ACHAN_OK, 4, 40}, {ACHAN_CLOSED, 0, 0}};
    for (size_t k = 0; k < sizeof exp / sizeof exp[0]; k++) {
        pair p = {SENTINEL, SENTINEL};
        assert_int_equal(poll_noop(s, &p), exp[k].st);
        if (exp[k].st == ACHAN_OK)
            assert_true(p.a == exp[k].a && p.b == exp[k].b);
        else
            assert_true(p.a == SENTINEL && p.b == SENTINEL);
    }
    assert_int_equal(polls, 6);
    expect_closed_forever(s);
    assert_int_equal(polls, 6);
    achan_stream_drop(s);
}

static void zip_waits_for_the_pending_side(void **state) {
    (void)state;
    int drops_a = 0, drops_b = 0;
    achan_mpsc_sender *ta, *tb;
    achan_mpsc_receiver *ra, *rb;
    int_chan(&drops_a, &ta, &ra);
    int_chan(&drops_b, &tb, &rb);
    achan_stream *s;
    assert_int_equal(
        achan_stream_zip(achan_mpsc_receiver_stream(ra), achan_mpsc_receiver_stream(rb), &s),
        ACHAN_OK);
    test_waker tw = {0};
    pair p = {SENTINEL, SENTINEL};
    assert_int_equal(poll_tw(s, &tw, &p), ACHAN_PENDING); /* a empty. */
    send_int(ta, 1);
    assert_int_equal(test_waker_wakes(&tw), 1);
    assert_int_equal(poll_tw(s, &tw, &p), ACHAN_PENDING); /* a's 1 kept, b empty. */
    assert_true(p.a == SENTINEL && p.b == SENTINEL);
    send_int(tb, 10);
    assert_int_equal(test_waker_wakes(&tw), 2);
    assert_int_equal(poll_tw(s, &tw, &p), ACHAN_OK);
    assert_true(p.a == 1 && p.b == 10);
    /* Drop frees both inputs with their items. */
    send_int(ta, 2);
    send_int(ta, 3);
    send_int(tb, 20);
    user_drops = 0;
    achan_stream_drop(s);
    assert_int_equal(drops_a, 2);
    assert_int_equal(drops_b, 1);
    assert_true(achan_mpsc_sender_is_closed(ta) && achan_mpsc_sender_is_closed(tb));
    assert_int_equal(test_waker_live(&tw), 0);
    achan_mpsc_sender_drop(ta);
    achan_mpsc_sender_drop(tb);
}

static void zip_allocation_failure_keeps_both_inputs(void **state) {
    (void)state;
    static const int as[] = {1}, bs[] = {2};
    achan_stream *a = iter_ints(as, 1), *b = iter_ints(bs, 1), *s = a;
    test_alloc ta;
    test_alloc_init(&ta);
    achan_set_default_allocator(&ta.a);
    test_alloc_fail_at(&ta, 0);
    assert_int_equal(achan_stream_zip(a, b, &s), ACHAN_NOMEM);
    assert_ptr_equal(s, a);
    assert_int_equal(test_alloc_live_bytes(&ta), 0);
    assert_int_equal(achan_stream_zip(a, b, &s), ACHAN_OK);
    pair p;
    assert_int_equal(poll_noop(s, &p), ACHAN_OK);
    assert_true(p.a == 1 && p.b == 2);
    achan_stream_drop(s);
    assert_int_equal(test_alloc_live_bytes(&ta), 0);
    achan_set_default_allocator(NULL);
}

/* ---- merge ---- */

static void merge_round_robins_and_ends_when_all_end(void **state) {
    (void)state;
    static const int x[] = {1, 2}, y[] = {10, 20, 30}, z[] = {100};
    achan_stream *ins[3] = {iter_ints(x, 2), iter_ints(y, 3), iter_ints(z, 1)}, *s;
    assert_int_equal(achan_stream_merge(ins, 3, &s), ACHAN_OK);
    static const int exp[] = {1, 10, 100, 2, 20, 30};
    for (size_t k = 0; k < 6; k++) {
        int v;
        assert_int_equal(poll_noop(s, &v), ACHAN_OK);
        assert_int_equal(v, exp[k]);
    }
    expect_closed_forever(s);
    achan_stream_drop(s);
}

static void gen_const(void *item, void *user) {
    int *u = user;
    memcpy(item, &u[0], sizeof(int));
    u[1]++; /* Calls. */
}

static void merge_is_fair_to_always_ready_inputs(void **state) {
    (void)state;
    int a[2] = {1, 0}, b[2] = {2, 0};
    achan_stream *ins[2], *s;
    assert_int_equal(achan_stream_repeat_with(sizeof(int), gen_const, a, NULL, &ins[0]), ACHAN_OK);
    assert_int_equal(achan_stream_repeat_with(sizeof(int), gen_const, b, NULL, &ins[1]), ACHAN_OK);
    assert_int_equal(achan_stream_merge(ins, 2, &s), ACHAN_OK);
    int last = 0;
    for (int k = 0; k < 100; k++) {
        int v;
        assert_int_equal(poll_noop(s, &v), ACHAN_OK);
        assert_int_not_equal(v, last); /* Strict alternation: each served every 2 polls. */
        last = v;
    }
    assert_int_equal(a[1], 50);
    assert_int_equal(b[1], 50);
    achan_stream_drop(s);
}

static void merge_pending_wakes_from_any_input(void **state) {
    (void)state;
    int d1 = 0, d2 = 0;
    achan_mpsc_sender *t1, *t2;
    achan_mpsc_receiver *r1, *r2;
    int_chan(&d1, &t1, &r1);
    int_chan(&d2, &t2, &r2);
    achan_stream *ins[2] = {achan_mpsc_receiver_stream(r1), achan_mpsc_receiver_stream(r2)}, *s;
    assert_int_equal(achan_stream_merge(ins, 2, &s), ACHAN_OK);
    test_waker tw = {0};
    int v = SENTINEL;
    assert_int_equal(poll_tw(s, &tw, &v), ACHAN_PENDING);
    assert_int_equal(test_waker_live(&tw), 2); /* Both inputs registered. */
    send_int(t2, 7);
    assert_int_equal(test_waker_wakes(&tw), 1);
    assert_int_equal(poll_tw(s, &tw, &v), ACHAN_OK);
    assert_int_equal(v, 7);
    assert_int_equal(poll_tw(s, &tw, &v), ACHAN_PENDING);
    achan_mpsc_sender_drop(t1); /* One input ends: still PENDING on the other. */
    assert_int_equal(poll_tw(s, &tw, &v), ACHAN_PENDING);
    send_int(t2, 8);
    assert_int_equal(poll_tw(s, &tw, &v), ACHAN_OK);
    assert_int_equal(v, 8);
    achan_mpsc_sender_drop(t2);
    assert_int_equal(poll_tw(s, &tw, &v), ACHAN_CLOSED);
    expect_closed_forever(s);
    achan_stream_drop(s);
    assert_int_equal(test_waker_live(&tw), 0);
}

static void merge_never_polls_an_ended_input(void **state) {
    (void)state;
    int p1 = 0, p2 = 0;
    static const step one[] = {OKV(1)}, three[] = {OKV(2), OKV(3), OKV(4)};
    achan_stream *ins[2] = {zombie_stream(one, 1, &p1), zombie_stream(three, 3, &p2)}, *s;
    assert_int_equal(achan_stream_merge(ins, 2, &s), ACHAN_OK);
    static const int exp[] = {1, 2, 3, 4};
    for (size_t k = 0; k < 4; k++) {
        int v;
        assert_int_equal(poll_noop(s, &v), ACHAN_OK);
        assert_int_equal(v, exp[k]);
    }
    int v;
    assert_int_equal(poll_noop(s, &v), ACHAN_CLOSED);
    assert_int_equal(p1, 2); /* 1, CLOSED. */
    assert_int_equal(p2, 4); /* 2, 3, 4, CLOSED. */
    expect_closed_forever(s);
    assert_true(p1 == 2 && p2 == 4);
    achan_stream_drop(s);
}

static void merge_allocation_failure_keeps_every_input(void **state) {
    (void)state;
    static const int x[] = {1}, y[] = {2};
    achan_stream *ins[2] = {iter_ints(x, 1), iter_ints(y, 1)}, *s = NULL;
    test_alloc ta;
    test_alloc_init(&ta);
    achan_set_default_allocator(&ta.a);
    test_alloc_fail_at(&ta, 0);
    assert_int_equal(achan_stream_merge(ins, 2, &s), ACHAN_NOMEM);
    assert_null(s);
    assert_int_equal(test_alloc_live_bytes(&ta), 0);
    assert_int_equal(achan_stream_merge(ins, 2, &s), ACHAN_OK);
    int v;
    assert_int_equal(poll_noop(s, &v), ACHAN_OK);
    assert_int_equal(v, 1);
    assert_int_equal(poll_noop(s, &v), ACHAN_OK);
    assert_int_equal(v, 2);
    achan_stream_drop(s);
    assert_int_equal(test_alloc_live_bytes(&ta), 0);
    achan_set_default_allocator(NULL);
}

/* ---- ready_chunks, chunks ---- */

#define CHUNK_BUF(name, max)                                                                       \
    struct {                                                                                       \
        _Alignas(max_align_t) unsigned char b[ACHAN_CHUNK_SIZE(max, sizeof(int))];                 \
    } name

static int chunk_int(const achan_chunk *c, size_t i) {
    int v;
    memcpy(&v, ACHAN_CHUNK_ITEM(c, i, sizeof(int)), sizeof v);
    return v;
}

/* The chunk holds exactly first, first + 1, ... (count of them). */
static void expect_chunk(const void *buf, size_t count, int first) {
    const achan_chunk *c = buf;
    assert_int_equal(c->count, count);
    for (size_t i = 0; i < count; i++)
        assert_int_equal(chunk_int(c, i), first + (int)i);
}

static void ready_chunks_batches_an_mpsc_receiver(void **state) {
    (void)state;
    int drops = 0;
    achan_mpsc_sender *tx;
    achan_mpsc_receiver *rx;
    int_chan(&drops, &tx, &rx);
    achan_stream *s;
    assert_int_equal(achan_stream_ready_chunks(achan_mpsc_receiver_stream(rx), 16, &s), ACHAN_OK);
    assert_int_equal(s->item_size, ACHAN_CHUNK_SIZE(16, sizeof(int)));
    CHUNK_BUF(buf, 16);
    test_waker tw = {0};
    assert_int_equal(poll_tw(s, &tw, buf.b), ACHAN_PENDING);
    for (int i = 0; i < 10; i++)
        send_int(tx, i);
    assert_int_equal(test_waker_wakes(&tw), 1);
    assert_int_equal(poll_tw(s, &tw, buf.b), ACHAN_OK);
    expect_chunk(buf.b, 10, 0);
    assert_int_equal(poll_tw(s, &tw, buf.b), ACHAN_PENDING);
    achan_mpsc_sender_drop(tx);
    assert_int_equal(test_waker_wakes(&tw), 2);
    assert_int_equal(poll_tw(s, &tw, buf.b), ACHAN_CLOSED);
    expect_closed_forever(s);
    achan_stream_drop(s);
    assert_int_equal(test_waker_live(&tw), 0);
}

/* Over an mpsc receiver the whole batch comes from one
 * achan_mpsc_poll_recv_many, which spends one unit of the cooperative budget
 * (one poll_recv); the generic path spends one per item. With a budget of 2
 * and 10 items waiting, the receiver gives one chunk of 10, while the same
 * receiver behind fuse (not an mpsc receiver any more) gives a chunk of 2. */
static void ready_chunks_uses_poll_recv_many_on_an_mpsc_receiver(void **state) {
    (void)state;
    for (int fused = 0; fused < 2; fused++) {
        int drops = 0;
        achan_mpsc_sender *tx;
        achan_mpsc_receiver *rx;
        int_chan(&drops, &tx, &rx);
        for (int i = 0; i < 10; i++)
            send_int(tx, i);
        achan_stream *s = achan_mpsc_receiver_stream(rx);
        if (fused)
            assert_int_equal(achan_stream_fuse(s, &s), ACHAN_OK);
        assert_int_equal(achan_stream_ready_chunks(s, 16, &s), ACHAN_OK);
        CHUNK_BUF(buf, 16);
        test_waker tw = {0};
        achan_coop_set_budget(2);
        achan_status st = poll_tw(s, &tw, buf.b);
        achan_coop_set_budget(0);
        assert_int_equal(st, ACHAN_OK);
        expect_chunk(buf.b, fused ? 2 : 10, 0);
        /* The generic path ran out of budget on its third poll_recv, which
         * woke the task to run again next turn. */
        assert_int_equal(test_waker_wakes(&tw), fused ? 1 : 0);
        achan_stream_drop(s);
        assert_int_equal(drops, fused ? 8 : 0);
        assert_int_equal(test_waker_live(&tw), 0);
        achan_mpsc_sender_drop(tx);
    }
}

static void ready_chunks_respects_max(void **state) {
    (void)state;
    int drops = 0;
    achan_mpsc_sender *tx;
    achan_mpsc_receiver *rx;
    int_chan(&drops, &tx, &rx);
    achan_stream *s;
    assert_int_equal(achan_stream_ready_chunks(achan_mpsc_receiver_stream(rx), 4, &s), ACHAN_OK);
    for (int i = 0; i < 10; i++)
        send_int(tx, i);
    CHUNK_BUF(buf, 4);
    assert_int_equal(poll_noop(s, buf.b), ACHAN_OK);
    expect_chunk(buf.b, 4, 0);
    assert_int_equal(poll_noop(s, buf.b), ACHAN_OK);
    expect_chunk(buf.b, 4, 4);
    assert_int_equal(poll_noop(s, buf.b), ACHAN_OK);
    expect_chunk(buf.b, 2, 8);
    assert_int_equal(poll_noop(s, buf.b), ACHAN_PENDING);
    send_int(tx, 10);
    send_int(tx, 11);
    achan_stream_drop(s); /* Two undelivered items. */
    assert_int_equal(drops, 2);
    achan_mpsc_sender_drop(tx);
}

static void ready_chunks_over_other_streams(void **state) {
    (void)state;
    static const int vals[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
    achan_stream *s = iter_ints(vals, 10);
    assert_int_equal(achan_stream_ready_chunks(s, 4, &s), ACHAN_OK);
    CHUNK_BUF(buf, 4);
    assert_int_equal(poll_noop(s, buf.b), ACHAN_OK);
    expect_chunk(buf.b, 4, 0);
    assert_int_equal(poll_noop(s, buf.b), ACHAN_OK);
    expect_chunk(buf.b, 4, 4);
    assert_int_equal(poll_noop(s, buf.b), ACHAN_OK);
    expect_chunk(buf.b, 2, 8);
    expect_closed_forever(s);
    achan_stream_drop(s);

    /* A fused receiver is not an mpsc receiver: the generic path. */
    int drops = 0;
    achan_mpsc_sender *tx;
    achan_mpsc_receiver *rx;
    int_chan(&drops, &tx, &rx);
    s = achan_mpsc_receiver_stream(rx);
    assert_int_equal(achan_stream_fuse(s, &s), ACHAN_OK);
    assert_int_equal(achan_stream_ready_chunks(s, 8, &s), ACHAN_OK);
    CHUNK_BUF(big, 8);
    test_waker tw = {0};
    assert_int_equal(poll_tw(s, &tw, big.b), ACHAN_PENDING);
    send_int(tx, 5);
    send_int(tx, 6);
    send_int(tx, 7);
    assert_int_equal(test_waker_wakes(&tw), 1);
    assert_int_equal(poll_tw(s, &tw, big.b), ACHAN_OK);
    expect_chunk(big.b, 3, 5);
    send_int(tx, 8);
    achan_mpsc_sender_drop(tx);
    assert_int_equal(poll_tw(s, &tw, big.b), ACHAN_OK); /* Partial chunk, then the end. */
    expect_chunk(big.b, 1, 8);
    assert_int_equal(poll_tw(s, &tw, big.b), ACHAN_CLOSED);
    expect_closed_forever(s);
    achan_stream_drop(s);
    assert_int_equal(test_waker_live(&tw), 0);
}

/* A timeout below ready_chunks that fires after a partial chunk: the chunk
 * comes first, then the TIMEOUT, then the rest (nothing is lost). */
static void ready_chunks_delivers_items_before_a_timeout(void **state) {
    (void)state;
    static const step steps[] = {OKV(1), OKV(2), {ACHAN_TIMEOUT, 0}, OKV(3)};
    script sc;
    achan_stream *s = script_stream(&sc, steps, sizeof steps / sizeof steps[0]);
    assert_int_equal(achan_stream_ready_chunks(s, 8, &s), ACHAN_OK);
    CHUNK_BUF(buf, 8);
    assert_int_equal(poll_noop(s, buf.b), ACHAN_OK);
    expect_chunk(buf.b, 2, 1);
    assert_int_equal(poll_noop(s, buf.b), ACHAN_TIMEOUT);
    assert_int_equal(poll_noop(s, buf.b), ACHAN_OK);
    expect_chunk(buf.b, 1, 3);
    expect_closed_forever(s);
    achan_stream_drop(s);
}

static void ready_chunks_delivers_items_before_a_lag(void **state) {
    (void)state;
    script sc;
    achan_stream *s = script_stream(&sc, input_steps, INPUT_STEPS);
    assert_int_equal(achan_stream_ready_chunks(s, 8, &s), ACHAN_OK);
    CHUNK_BUF(buf, 8);
    assert_int_equal(poll_noop(s, buf.b), ACHAN_OK);
    expect_chunk(buf.b, 2, 1);
    memset(buf.b, 0x5a, sizeof buf.b);
    assert_int_equal(poll_noop(s, buf.b), ACHAN_LAGGED);
    assert_int_equal(chunk_int((achan_chunk *)buf.b, 0), SENTINEL);
    assert_int_equal(poll_noop(s, buf.b), ACHAN_OK);
    expect_chunk(buf.b, 2, 3);
    int polls = sc.polls;
    expect_closed_forever(s);
    assert_int_equal(sc.polls, polls); /* Ended with the last chunk: not polled again. */
    achan_stream_drop(s);
}

static void chunks_are_full_but_the_last(void **state) {
    (void)state;
    static const int vals[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
    achan_stream *s = iter_ints(vals, 10);
    assert_int_equal(achan_stream_chunks(s, 4, &s), ACHAN_OK);
    CHUNK_BUF(buf, 4);
    assert_int_equal(poll_noop(s, buf.b), ACHAN_OK);
    expect_chunk(buf.b, 4, 0);
    assert_int_equal(poll_noop(s, buf.b), ACHAN_OK);
    expect_chunk(buf.b, 4, 4);
    assert_int_equal(poll_noop(s, buf.b), ACHAN_OK);
    expect_chunk(buf.b, 2, 8);
    expect_closed_forever(s);
    achan_stream_drop(s);
}

static void chunks_wait_to_fill_across_pending(void **state) {
    (void)state;
    int drops = 0;
    achan_mpsc_sender *tx;
    achan_mpsc_receiver *rx;
    int_chan(&drops, &tx, &rx);
    achan_stream *s;
    assert_int_equal(achan_stream_chunks(achan_mpsc_receiver_stream(rx), 4, &s), ACHAN_OK);
    CHUNK_BUF(buf, 4);
    test_waker tw = {0};
    send_int(tx, 1);
    send_int(tx, 2);
    memset(buf.b, 0x5a, sizeof buf.b);
    assert_int_equal(poll_tw(s, &tw, buf.b), ACHAN_PENDING); /* Two kept inside. */
    assert_int_equal(chunk_int((achan_chunk *)buf.b, 0), SENTINEL);
    send_int(tx, 3);
    assert_int_equal(test_waker_wakes(&tw), 1);
    CHUNK_BUF(other, 4); /* The caller may poll with another buffer. */
    assert_int_equal(poll_tw(s, &tw, other.b), ACHAN_PENDING);
    send_int(tx, 4);
    send_int(tx, 5);
    assert_int_equal(poll_tw(s, &tw, other.b), ACHAN_OK);
    expect_chunk(other.b, 4, 1);
    assert_int_equal(poll_tw(s, &tw, other.b), ACHAN_PENDING);
    achan_mpsc_sender_drop(tx);
    assert_int_equal(poll_tw(s, &tw, other.b), ACHAN_OK);
    expect_chunk(other.b, 1, 5);
    assert_int_equal(poll_tw(s, &tw, other.b), ACHAN_CLOSED);
    expect_closed_forever(s);
    achan_stream_drop(s);
    assert_int_equal(test_waker_live(&tw), 0);
    assert_int_equal(drops, 0);
}

static void chunks_pass_lag_and_keep_the_partial_chunk(void **state) {
    (void)state;
    script sc;
    achan_stream *s = script_stream(&sc, input_steps, INPUT_STEPS);
    assert_int_equal(achan_stream_chunks(s, 3, &s), ACHAN_OK);
    CHUNK_BUF(buf, 3);
    memset(buf.b, 0x5a, sizeof buf.b);
    assert_int_equal(poll_noop(s, buf.b), ACHAN_LAGGED);
    assert_int_equal(chunk_int((achan_chunk *)buf.b, 0), SENTINEL);
    assert_int_equal(poll_noop(s, buf.b), ACHAN_OK);
    expect_chunk(buf.b, 3, 1);
    assert_int_equal(poll_noop(s, buf.b), ACHAN_OK);
    expect_chunk(buf.b, 1, 4);
    assert_int_equal(sc.polls, 6);
    expect_closed_forever(s);
    assert_int_equal(sc.polls, 6);
    achan_stream_drop(s);
}

static void chunks_drop_and_allocation_failure(void **state) {
    (void)state;
    int drops = 0;
    achan_mpsc_sender *tx;
    achan_mpsc_receiver *rx;
    int_chan(&drops, &tx, &rx);
    for (int i = 0; i < 6; i++)
        send_int(tx, i);
    achan_stream *in = achan_mpsc_receiver_stream(rx), *s = in;
    test_alloc ta;
    test_alloc_init(&ta);
    achan_set_default_allocator(&ta.a);
    for (int which = 0; which < 2; which++) {
        test_alloc_fail_at(&ta, 0);
        achan_status st =
            which ? achan_stream_chunks(in, 4, &s) : achan_stream_ready_chunks(in, 4, &s);
        assert_int_equal(st, ACHAN_NOMEM);
        assert_ptr_equal(s, in);
        assert_int_equal(test_alloc_live_bytes(&ta), 0);
    }
    assert_int_equal(achan_stream_chunks(in, 4, &s), ACHAN_OK);
    CHUNK_BUF(buf, 4);
    assert_int_equal(poll_noop(s, buf.b), ACHAN_OK);
    expect_chunk(buf.b, 4, 0);
    achan_stream_drop(s);
    assert_int_equal(drops, 2);
    assert_int_equal(test_alloc_live_bytes(&ta), 0);
    achan_set_default_allocator(NULL);
    achan_mpsc_sender_drop(tx);
}

/* ---- buffered, buffer_unordered ---- */

static void buffer_unordered_yields_in_completion_order(void **state) {
    (void)state;
    static fctl ctl;
    achan_stream *s = ctl_stream(&ctl, 6);
    assert_int_equal(achan_stream_buffer_unordered(s, 3, sizeof(int), &s), ACHAN_OK);
    test_waker tw = {0};
    int v = SENTINEL;
    assert_int_equal(poll_tw(s, &tw, &v), ACHAN_PENDING);
    assert_int_equal(ctl.in_flight, 3);
    assert_int_equal(test_waker_live(&tw), 3);
    static const int order[] = {2, 0, 3, 1, 5, 4};
    for (size_t k = 0; k < 6; k++) {
        long wakes = test_waker_wakes(&tw);
        ctl_complete(&ctl, order[k], ACHAN_OK);
        assert_int_equal(test_waker_wakes(&tw), wakes + 1);
        assert_int_equal(poll_tw(s, &tw, &v), ACHAN_OK);
        assert_int_equal(v, order[k] * 10);
        assert_true(ctl.max_in_flight <= 3);
        if (k < 5)
            assert_int_equal(poll_tw(s, &tw, &v), ACHAN_PENDING);
    }
    assert_int_equal(ctl.max_in_flight, 3);
    assert_int_equal(poll_tw(s, &tw, &v), ACHAN_CLOSED);
    expect_closed_forever(s);
    achan_stream_drop(s);
    assert_int_equal(ctl.drops, 6);
    assert_int_equal(test_waker_live(&tw), 0);
}

static void buffer_unordered_never_runs_more_than_n(void **state) {
    (void)state;
    static fctl ctl;
    for (size_t n = 1; n <= 5; n++) {
        achan_stream *s = ctl_stream(&ctl, 40);
        assert_int_equal(achan_stream_buffer_unordered(s, n, sizeof(int), &s), ACHAN_OK);
        test_waker tw = {0};
        int v, got = 0, next_done = 0;
        long sum = 0;
        for (;;) {
            achan_status st = poll_tw(s, &tw, &v);
            assert_true((size_t)ctl.in_flight <= n);
            if (st == ACHAN_CLOSED)
                break;
            if (st == ACHAN_OK) {
                got++;
                sum += v;
                continue;
            }
            assert_int_equal(st, ACHAN_PENDING);
            /* Complete the newest running one first, then older ones. */
            int id = -1;
            for (int i = 39; i >= next_done; i--)
                if (ctl.f[i].has_waker && !ctl.f[i].ready) {
                    id = i;
                    break;
                }
            assert_true(id >= 0);
            ctl_complete(&ctl, id, id % 7 == 3 ? ACHAN_CLOSED : ACHAN_OK);
        }
        assert_int_equal(ctl.max_in_flight, (int)n);
        int failed = 0;
        long want = 0;
        for (int i = 0; i < 40; i++) {
            if (i % 7 == 3)
                failed++;
            else
                want += i * 10;
        }
        assert_int_equal(got, 40 - failed);
        assert_int_equal(sum, want);
        achan_stream_drop(s);
        assert_int_equal(ctl.in_flight, 0);
        assert_int_equal(test_waker_live(&tw), 0);
    }
}

static void buffered_yields_in_input_order(void **state) {
    (void)state;
    static fctl ctl;
    achan_stream *s = ctl_stream(&ctl, 5);
    assert_int_equal(achan_stream_buffered(s, 3, sizeof(int), &s), ACHAN_OK);
    test_waker tw = {0};
    int v = SENTINEL;
    assert_int_equal(poll_tw(s, &tw, &v), ACHAN_PENDING);
    assert_int_equal(ctl.in_flight, 3);
    ctl_complete(&ctl, 2, ACHAN_OK);
    ctl_complete(&ctl, 1, ACHAN_OK);
    assert_int_equal(test_waker_wakes(&tw), 2);
    assert_int_equal(poll_tw(s, &tw, &v), ACHAN_PENDING); /* 0 still runs. */
    assert_int_equal(v, SENTINEL);
    ctl_complete(&ctl, 0, ACHAN_OK);
    assert_int_equal(poll_tw(s, &tw, &v), ACHAN_OK);
    assert_int_equal(v, 0);
    assert_int_equal(poll_tw(s, &tw, &v), ACHAN_OK);
    assert_int_equal(v, 10);
    assert_int_equal(poll_tw(s, &tw, &v), ACHAN_OK);
    assert_int_equal(v, 20);
    assert_int_equal(poll_tw(s, &tw, &v), ACHAN_PENDING); /* 3 and 4 run now. */
    assert_true(ctl.max_in_flight <= 3);
    ctl_complete(&ctl, 3, ACHAN_CLOSED); /* Fails: yields nothing. */
    ctl_complete(&ctl, 4, ACHAN_OK);
    assert_int_equal(poll_tw(s, &tw, &v), ACHAN_OK);
    assert_int_equal(v, 40);
    assert_int_equal(poll_tw(s, &tw, &v), ACHAN_CLOSED);
    expect_closed_forever(s);
    achan_stream_drop(s);
    assert_int_equal(ctl.drops, 5);
    assert_int_equal(ctl.max_in_flight, 3);
    assert_int_equal(test_waker_live(&tw), 0);
}

static void buffered_drop_releases_running_futures(void **state) {
    (void)state;
    static fctl ctl;
    for (int ordered = 0; ordered < 2; ordered++) {
        achan_stream *s = ctl_stream(&ctl, 10);
        assert_int_equal(ordered ? achan_stream_buffered(s, 4, sizeof(int), &s)
                                 : achan_stream_buffer_unordered(s, 4, sizeof(int), &s),
                         ACHAN_OK);
        test_waker tw = {0};
        int v;
        assert_int_equal(poll_tw(s, &tw, &v), ACHAN_PENDING);
        ctl_complete(&ctl, 1, ACHAN_OK); /* Completed, not yet yielded (buffered). */
        assert_int_equal(poll_tw(s, &tw, &v), ordered ? ACHAN_PENDING : ACHAN_OK);
        assert_int_equal(test_waker_live(&tw), 3);
        achan_stream_drop(s);
        assert_int_equal(ctl.in_flight, 0);
        assert_int_equal(ctl.drops, 4); /* 1 completed, 3 dropped while running. */
        assert_int_equal(test_waker_live(&tw), 0);
    }
}

static void drop_future_item(void *item, void *user) {
    (void)user;
    achan_future *f;
    memcpy(&f, item, sizeof f);
    achan_future_drop(f);
}

static void buffered_waits_for_its_input(void **state) {
    (void)state;
    for (int ordered = 0; ordered < 2; ordered++) {
        achan_opts o = {.item_size = sizeof(achan_future *), .item_drop = drop_future_item};
        achan_mpsc_sender *tx;
        achan_mpsc_receiver *rx;
        assert_int_equal(achan_mpsc_new(&o, &tx, &rx), ACHAN_OK);
        achan_stream *s = achan_mpsc_receiver_stream(rx);
        assert_int_equal(ordered ? achan_stream_buffered(s, 2, sizeof(int), &s)
                                 : achan_stream_buffer_unordered(s, 2, sizeof(int), &s),
                         ACHAN_OK);
        test_waker tw = {0};
        int v = SENTINEL;
        assert_int_equal(poll_tw(s, &tw, &v), ACHAN_PENDING);
        achan_future *f = ready_int(5, ACHAN_OK);
        assert_int_equal(achan_mpsc_try_send(tx, &f), ACHAN_OK);
        assert_int_equal(test_waker_wakes(&tw), 1);
        assert_int_equal(poll_tw(s, &tw, &v), ACHAN_OK);
        assert_int_equal(v, 5);
        assert_int_equal(poll_tw(s, &tw, &v), ACHAN_PENDING);
        f = ready_int(6, ACHAN_OK);
        assert_int_equal(achan_mpsc_try_send(tx, &f), ACHAN_OK); /* Dropped with the input. */
        achan_stream_drop(s);
        assert_int_equal(test_waker_live(&tw), 0);
        achan_mpsc_sender_drop(tx);
    }
}

/* A stream of futures: ready(1), LAGGED, ready(2), end. */
static achan_status lagging_futures(achan_context *cx, void *item, void *user) {
    (void)cx;
    int *pos = user;
    achan_future *f;
    switch ((*pos)++) {
    case 0:
        f = ready_int(1, ACHAN_OK);
        break;
    case 1:
        return ACHAN_LAGGED;
    case 2:
        f = ready_int(2, ACHAN_OK);
        break;
    default:
        return ACHAN_CLOSED;
    }
    memcpy(item, &f, sizeof f);
    return ACHAN_OK;
}

static void buffered_passes_lag_through(void **state) {
    (void)state;
    for (int ordered = 0; ordered < 2; ordered++) {
        int pos = 0;
        achan_stream *s;
        assert_int_equal(
            achan_stream_poll_fn(sizeof(achan_future *), lagging_futures, &pos, NULL, &s),
            ACHAN_OK);
        assert_int_equal(ordered ? achan_stream_buffered(s, 2, sizeof(int), &s)
                                 : achan_stream_buffer_unordered(s, 2, sizeof(int), &s),
                         ACHAN_OK);
        int v = SENTINEL;
        assert_int_equal(poll_noop(s, &v), ACHAN_LAGGED);
        assert_int_equal(v, SENTINEL);
        assert_int_equal(poll_noop(s, &v), ACHAN_OK);
        assert_int_equal(v, 1);
        assert_int_equal(poll_noop(s, &v), ACHAN_OK);
        assert_int_equal(v, 2);
        assert_int_equal(poll_noop(s, &v), ACHAN_CLOSED);
        assert_int_equal(pos, 4);
        expect_closed_forever(s);
        assert_int_equal(pos, 4);
        achan_stream_drop(s);
    }
}

static void buffered_allocation_failure_keeps_the_input(void **state) {
    (void)state;
    static fctl ctl;
    achan_stream *futs = ctl_stream(&ctl, 2);
    test_alloc ta;
    test_alloc_init(&ta);
    achan_set_default_allocator(&ta.a);
    for (int ordered = 0; ordered < 2; ordered++) {
        achan_stream *out = futs;
        test_alloc_fail_at(&ta, 0);
        assert_int_equal(ordered ? achan_stream_buffered(futs, 2, sizeof(int), &out)
                                 : achan_stream_buffer_unordered(futs, 2, sizeof(int), &out),
                         ACHAN_NOMEM);
        assert_ptr_equal(out, futs);
        assert_int_equal(test_alloc_live_bytes(&ta), 0);
    }
    achan_stream *s;
    assert_int_equal(achan_stream_buffered(futs, 2, sizeof(int), &s), ACHAN_OK);
    int v;
    assert_int_equal(poll_noop(s, &v), ACHAN_PENDING);
    ctl_complete(&ctl, 0, ACHAN_OK);
    assert_int_equal(poll_noop(s, &v), ACHAN_OK);
    assert_int_equal(v, 0);
    achan_stream_drop(s);
    assert_int_equal(ctl.in_flight, 0);
    assert_int_equal(test_alloc_live_bytes(&ta), 0);
    achan_set_default_allocator(NULL);
}

/* ---- peekable ---- */

static achan_status peek_tw(achan_stream *s, test_waker *t, void *item) {
    achan_waker w = test_waker_get(t);
    achan_context cx = {&w};
    return achan_stream_peek(s, &cx, item);
}

static void peek_keeps_the_item_for_the_next_poll(void **state) {
    (void)state;
    script sc;
    achan_stream *s = script_stream(&sc, input_steps, INPUT_STEPS);
    assert_int_equal(achan_stream_peekable(s, &s), ACHAN_OK);
    test_waker tw = {0};
    int v = SENTINEL;
    assert_int_equal(peek_tw(s, &tw, &v), ACHAN_OK);
    assert_int_equal(v, 1);
    assert_int_equal(peek_tw(s, &tw, &v), ACHAN_OK);
    assert_int_equal(v, 1);
    assert_int_equal(sc.polls, 1);
    v = SENTINEL;
    assert_int_equal(poll_noop(s, &v), ACHAN_OK);
    assert_int_equal(v, 1);
    assert_int_equal(poll_noop(s, &v), ACHAN_OK);
    assert_int_equal(v, 2);
    v = SENTINEL;
    assert_int_equal(peek_tw(s, &tw, &v), ACHAN_LAGGED); /* A lag is kept like an item. */
    assert_int_equal(peek_tw(s, &tw, &v), ACHAN_LAGGED);
    assert_int_equal(poll_noop(s, &v), ACHAN_LAGGED);
    assert_int_equal(v, SENTINEL);
    assert_int_equal(peek_tw(s, &tw, &v), ACHAN_OK);
    assert_int_equal(v, 3);
    assert_int_equal(poll_noop(s, &v), ACHAN_OK);
    assert_int_equal(v, 3);
    assert_int_equal(poll_noop(s, &v), ACHAN_OK);
    assert_int_equal(v, 4);
    assert_int_equal(peek_tw(s, &tw, &v), ACHAN_CLOSED);
    assert_int_equal(peek_tw(s, &tw, &v), ACHAN_CLOSED);
    expect_closed_forever(s);
    assert_int_equal(sc.polls, 6);
    achan_stream_drop(s);
    assert_int_equal(test_waker_live(&tw), 0);
}

static void peek_pending_and_bad_arguments(void **state) {
    (void)state;
    int drops = 0;
    achan_mpsc_sender *tx;
    achan_mpsc_receiver *rx;
    int_chan(&drops, &tx, &rx);
    achan_stream *in = achan_mpsc_receiver_stream(rx), *s;
    test_waker tw = {0};
    int v;
    assert_int_equal(peek_tw(in, &tw, &v), ACHAN_INVALID); /* Not a peekable. */
    assert_int_equal(achan_stream_peekable(in, &s), ACHAN_OK);
    achan_waker w = achan_waker_noop();
    achan_context cx = {&w}, nocx = {NULL};
    assert_int_equal(achan_stream_peek(NULL, &cx, &v), ACHAN_INVALID);
    assert_int_equal(achan_stream_peek(s, NULL, &v), ACHAN_INVALID);
    assert_int_equal(achan_stream_peek(s, &nocx, &v), ACHAN_INVALID);
    assert_int_equal(achan_stream_peek(s, &cx, NULL), ACHAN_INVALID);
    assert_int_equal(peek_tw(s, &tw, &v), ACHAN_PENDING);
    send_int(tx, 9);
    send_int(tx, 10);
    assert_int_equal(test_waker_wakes(&tw), 1);
    assert_int_equal(peek_tw(s, &tw, &v), ACHAN_OK);
    assert_int_equal(v, 9);
    achan_stream_drop(s); /* 10 undelivered; 9 was only peeked: it is plain bytes now. */
    assert_int_equal(drops, 1);
    assert_int_equal(test_waker_live(&tw), 0);
    achan_mpsc_sender_drop(tx);
}

/* ---- cooperative budget ---- */

static void gen_count(void *item, void *user) {
    int *calls = user;
    int v = ++*calls * 2; /* Even: every filter here rejects it. */
    memcpy(item, &v, sizeof v);
}

static bool always(const void *item, void *user) {
    (void)item;
    (void)user;
    return true;
}

static achan_future *then_null(const void *item, void *user) {
    (void)item;
    (void)user;
    return NULL;
}

static void looping_adapters_respect_the_budget(void **state) {
    (void)state;
    for (int which = 0; which < 5; which++) {
        int calls = 0;
        achan_stream *s;
        assert_int_equal(achan_stream_repeat_with(sizeof(int), gen_count, &calls, NULL, &s),
                         ACHAN_OK);
        achan_status st;
        switch (which) {
        case 0:
            st = achan_stream_filter(s, is_odd, NULL, NULL, &s);
            break;
        case 1:
            st = achan_stream_filter_map(s, sizeof(int), odd_times10, NULL, NULL, &s);
            break;
        case 2:
            st = achan_stream_skip(s, 1000, &s);
            break;
        case 3:
            st = achan_stream_skip_while(s, always, NULL, NULL, &s);
            break;
        default:
            st = achan_stream_then(s, sizeof(int), then_null, NULL, NULL, &s);
            break;
        }
        assert_int_equal(st, ACHAN_OK);
        test_waker tw = {0};
        int v = SENTINEL;
        achan_coop_set_budget(3);
        st = poll_tw(s, &tw, &v);
        achan_coop_set_budget(0);
        assert_int_equal(st, ACHAN_PENDING);
        assert_int_equal(v, SENTINEL);
        assert_int_equal(calls, 4); /* The first poll, then one per unit of budget. */
        assert_int_equal(test_waker_wakes(&tw), 1); /* Woken to run again next turn. */
        assert_int_equal(test_waker_live(&tw), 0);
        achan_stream_drop(s);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(table_items_lagged_and_end),
        cmocka_unit_test(table_input_not_polled_after_end),
        cmocka_unit_test(table_pending_propagates),
        cmocka_unit_test(table_drop_frees_everything),
        cmocka_unit_test(table_allocation_failure),
        cmocka_unit_test(constructors_reject_bad_arguments),
        cmocka_unit_test(map_changes_the_item_size),
        cmocka_unit_test(take_zero_never_polls_the_input),
        cmocka_unit_test(fuse_stays_closed_over_a_reviving_input),
        cmocka_unit_test(enumerate_numbers_items_and_passes_lag),
        cmocka_unit_test(enumerate_pending_and_alloc_failure),
        cmocka_unit_test(enumerate_never_polls_an_ended_input),
        cmocka_unit_test(then_runs_one_future_at_a_time_in_order),
        cmocka_unit_test(then_drop_releases_the_running_future),
        cmocka_unit_test(then_skips_futures_of_another_size),
        cmocka_unit_test(zip_pairs_until_either_ends),
        cmocka_unit_test(zip_passes_lag_and_never_polls_ended_inputs),
        cmocka_unit_test(zip_waits_for_the_pending_side),
        cmocka_unit_test(zip_allocation_failure_keeps_both_inputs),
        cmocka_unit_test(merge_round_robins_and_ends_when_all_end),
        cmocka_unit_test(merge_is_fair_to_always_ready_inputs),
        cmocka_unit_test(merge_pending_wakes_from_any_input),
        cmocka_unit_test(merge_never_polls_an_ended_input),
        cmocka_unit_test(merge_allocation_failure_keeps_every_input),
        cmocka_unit_test(ready_chunks_batches_an_mpsc_receiver),
        cmocka_unit_test(ready_chunks_uses_poll_recv_many_on_an_mpsc_receiver),
        cmocka_unit_test(ready_chunks_respects_max),
        cmocka_unit_test(ready_chunks_over_other_streams),
        cmocka_unit_test(ready_chunks_delivers_items_before_a_lag),
        cmocka_unit_test(ready_chunks_delivers_items_before_a_timeout),
        cmocka_unit_test(chunks_are_full_but_the_last),
        cmocka_unit_test(chunks_wait_to_fill_across_pending),
        cmocka_unit_test(chunks_pass_lag_and_keep_the_partial_chunk),
        cmocka_unit_test(chunks_drop_and_allocation_failure),
        cmocka_unit_test(buffer_unordered_yields_in_completion_order),
        cmocka_unit_test(buffer_unordered_never_runs_more_than_n),
        cmocka_unit_test(buffered_yields_in_input_order),
        cmocka_unit_test(buffered_drop_releases_running_futures),
        cmocka_unit_test(buffered_waits_for_its_input),
        cmocka_unit_test(buffered_passes_lag_through),
        cmocka_unit_test(buffered_allocation_failure_keeps_the_input),
        cmocka_unit_test(peek_keeps_the_item_for_the_next_poll),
        cmocka_unit_test(peek_pending_and_bad_arguments),
        cmocka_unit_test(looping_adapters_respect_the_budget),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
