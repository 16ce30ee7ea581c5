/* combinators.c - stream adapters (see achan/combinators.h). The time-based
 * ones (timeout, throttle) are in stream_time.c.
 *
 * Design notes.
 *
 * Every adapter is one allocation (toolkit.h): its struct, with the stream
 * as first member, followed by whatever scratch it needs (one input item, one
 * output item, a scan state, a chunk buffer, future slots). Construction
 * validates everything before allocating, so a failure consumes nothing and
 * calls no user_drop; after the allocation nothing can fail.
 *
 * Three rules every poll_next here keeps:
 *
 *   - The caller's item buffer is written only when ACHAN_OK is returned.
 *     Items that are looked at and then discarded (filter, skip, take_while's
 *     last, a declined filter_map or scan) go through the adapter's own
 *     scratch, so a LAGGED or PENDING that follows them leaves the caller's
 *     buffer untouched.
 *
 *   - ACHAN_PENDING is returned only when the last poll of an input (or of a
 *     future the adapter runs) returned PENDING with cx, so that input holds
 *     cx's waker; or when achan_coop_proceed said no, which woke cx itself.
 *
 *   - Once an adapter returned ACHAN_CLOSED (`done`), it returns CLOSED
 *     without polling anything again. An input that returned CLOSED is never
 *     polled again either (chain's first, merge's ended inputs, zip).
 *
 * LAGGED from an input is returned at once with nothing written and changes
 * no count (take, skip, enumerate); adapters that were part-way through a
 * batch keep it (chunks) or deliver it first (ready_chunks, see there). The
 * same holds for ACHAN_TIMEOUT from a timeout below them: it is never lost.
 *
 * Cooperative budget: achan_coop_proceed is consulted before every extra
 * round of a loop over a ready input, that is after an item was discarded
 * (filter, filter_map, skip, skip_while, then, buffered), never before the
 * first poll: an adapter that yields at once costs nothing, and a chain of
 * adapters spends one unit per item discarded.
 *
 * buffered / buffer_unordered poll every running future with the caller's
 * waker on every poll_next: each pending future then holds that waker, so a
 * wake from any of them reaches the task. It costs n future polls per
 * poll_next, which is fine for the small n these adapters are used with, and
 * needs no shared per-future waker state that could outlive the adapter.
 */
#include "achan/combinators.h"

#include <string.h>

#include "check.h"
#include "mpsc_internal.h"
#include "toolkit.h"

/* ------------------------------------------------------------------------ */
/* Single-input adapters share one struct and one drop.                      */

typedef struct unary {
    achan_stream stream; /* First: the adapter is its stream. */
    achan_stream *in;
    bool done; /* Returned CLOSED: stays so, in is not polled again. */
    achan__closure c;
    union {
        achan_map_fn map;
        achan_pred_fn pred;
        achan_filter_map_fn filter_map;
        achan_scan_fn scan;
    } fn;
    uint64_t n;              /* take: left to yield; skip: left to skip; enumerate: next index. */
    bool flag;               /* skip_while: still skipping; peekable: a result is kept. */
    achan_status kept;       /* peekable: the kept result (ACHAN_OK or ACHAN_LAGGED). */
    unsigned char *in_item;  /* Scratch for one input item. */
    unsigned char *out_item; /* Scratch for one output item. */
    unsigned char *state;    /* scan's state. */
} unary;

static void unary_drop(achan_stream *s) {
    unary *u = (unary *)s;
    achan_stream_drop(u->in);
    achan__closure_drop(&u->c);
    achan__obj_free(u);
}

/* A unary adapter over in (not yet owned: the caller commits by writing
 * *out) with the given scratch sizes. ACHAN_INVALID for sizes too large. */
static achan_status unary_new(achan_stream *in, const achan_stream_vtbl *vtbl, size_t out_size,
                              size_t in_scratch, size_t out_scratch, size_t state_size,
                              unary **out) {
    achan__layout l = {sizeof(unary)};
    size_t in_off = achan__layout_add(&l, in_scratch);
    size_t out_off = achan__layout_add(&l, out_scratch);
    size_t state_off = achan__layout_add(&l, state_size);
    if (!achan__layout_ok(&l) || out_size > ACHAN__OBJ_MAX)
        return ACHAN_INVALID;
    unary *u = achan__obj_new(l.size);
    if (!u)
        return ACHAN_NOMEM;
    u->stream.vtbl = vtbl;
    u->stream.item_size = out_size;
    u->in = in;
    u->in_item = achan__obj_at(u, in_off);
    u->out_item = achan__obj_at(u, out_off);
    u->state = achan__obj_at(u, state_off);
    *out = u;
    return ACHAN_OK;
}

/* Polls the input unless it ended; remembers CLOSED. */
static achan_status unary_pull(unary *u, achan_context *cx, void *item) {
    if (u->done)
        return ACHAN_CLOSED;
    achan_status st = achan__stream_next(u->in, cx, item);
    if (st == ACHAN_CLOSED)
        u->done = true;
    return st;
}

static achan_status unary_end(unary *u) {
    u->done = true;
    return ACHAN_CLOSED;
}

/* Commits a constructed adapter: the closure and the output. */
static achan_status unary_publish(unary *u, void *user, achan_user_drop_fn user_drop,
                                  achan_stream **out) {
    u->c.user = user;
    u->c.user_drop = user_drop;
    *out = &u->stream;
    return ACHAN_OK;
}

/* ---- map ---- */

static achan_status map_poll(achan_stream *s, achan_context *cx, void *item) {
    unary *u = (unary *)s;
    achan_status st = unary_pull(u, cx, u->in_item);
    if (st == ACHAN_OK)
        u->fn.map(u->in_item, item, u->c.user);
    return st;
}

static const achan_stream_vtbl map_vtbl = {map_poll, unary_drop};

achan_status achan_stream_map(achan_stream *in, size_t out_size, achan_map_fn fn, void *user,
                              achan_user_drop_fn user_drop, achan_stream **out) {
    if (!in || !fn || !out)
        return ACHAN_INVALID;
    unary *u;
    achan_status st = unary_new(in, &map_vtbl, out_size, in->item_size, 0, 0, &u);
    if (st != ACHAN_OK)
        return st;
    u->fn.map = fn;
    return unary_publish(u, user, user_drop, out);
}

/* ---- filter ---- */

/* An adapter of the same item size driven by a predicate (filter,
 * take_while, skip_while). */
static achan_status pred_adapter_new(achan_stream *in, const achan_stream_vtbl *vtbl,
                                     achan_pred_fn pred, void *user, achan_user_drop_fn user_drop,
                                     achan_stream **out) {
    if (!in || !pred || !out)
        return ACHAN_INVALID;
    unary *u;
    achan_status st = unary_new(in, vtbl, in->item_size, in->item_size, 0, 0, &u);
    if (st != ACHAN_OK)
        return st;
    u->fn.pred = pred;
    return unary_publish(u, user, user_drop, out);
}

static achan_status filter_poll(achan_stream *s, achan_context *cx, void *item) {
    unary *u = (unary *)s;
    for (bool first = true;; first = false) {
        if (!first && !achan_coop_proceed(cx))
            return ACHAN_PENDING; /* proceed woke cx: we are polled again. */
        achan_status st = unary_pull(u, cx, u->in_item);
        if (st != ACHAN_OK)
            return st;
        if (u->fn.pred(u->in_item, u->c.user)) {
            memcpy(item, u->in_item, u->stream.item_size);
            return ACHAN_OK;
        }
    }
}

static const achan_stream_vtbl filter_vtbl = {filter_poll, unary_drop};

achan_status achan_stream_filter(achan_stream *in, achan_pred_fn pred, void *user,
                                 achan_user_drop_fn user_drop, achan_stream **out) {
    return pred_adapter_new(in, &filter_vtbl, pred, user, user_drop, out);
}

/* ---- filter_map ---- */

static achan_status filter_map_poll(achan_stream *s, achan_context *cx, void *item) {
    unary *u = (unary *)s;
    for (bool first = true;; first = false) {
        if (!first && !achan_coop_proceed(cx))
            return ACHAN_PENDING;
        achan_status st = unary_pull(u, cx, u->in_item);
        if (st != ACHAN_OK)
            return st;
        if (u->fn.filter_map(u->in_item, u->out_item, u->c.user)) {
            memcpy(item, u->out_item, u->stream.item_size);
            return ACHAN_OK;
        }
    }
}

static const achan_stream_vtbl filter_map_vtbl = {filter_map_poll, unary_drop};

achan_status achan_stream_filter_map(achan_stream *in, size_t out_size, achan_filter_map_fn fn,
                                     void *user, achan_user_drop_fn user_drop, achan_stream **out) {
    if (!in || !fn || !out)
        return ACHAN_INVALID;
    unary *u;
    achan_status st = unary_new(in, &filter_map_vtbl, out_size, in->item_size, out_size, 0, &u);
    if (st != ACHAN_OK)
        return st;
    u->fn.filter_map = fn;
    return unary_publish(u, user, user_drop, out);
}

/* ---- take, skip ---- */

static achan_status take_poll(achan_stream *s, achan_context *cx, void *item) {
    unary *u = (unary *)s;
    if (u->n == 0)
        return unary_end(u); /* Without polling the input again. */
    achan_status st = unary_pull(u, cx, item);
    if (st == ACHAN_OK)
        u->n--;
    return st;
}

static const achan_stream_vtbl take_vtbl = {take_poll, unary_drop};

achan_status achan_stream_take(achan_stream *in, uint64_t n, achan_stream **out) {
    if (!in || !out)
        return ACHAN_INVALID;
    unary *u;
    achan_status st = unary_new(in, &take_vtbl, in->item_size, 0, 0, 0, &u);
    if (st != ACHAN_OK)
        return st;
    u->n = n;
    return unary_publish(u, NULL, NULL, out);
}

static achan_status skip_poll(achan_stream *s, achan_context *cx, void *item) {
    unary *u = (unary *)s;
    while (u->n > 0) {
        achan_status st = unary_pull(u, cx, u->in_item);
        if (st != ACHAN_OK)
            return st;
        u->n--;
        if (!achan_coop_proceed(cx))
            return ACHAN_PENDING;
    }
    return unary_pull(u, cx, item);
}

static const achan_stream_vtbl skip_vtbl = {skip_poll, unary_drop};

achan_status achan_stream_skip(achan_stream *in, uint64_t n, achan_stream **out) {
    if (!in || !out)
        return ACHAN_INVALID;
    unary *u;
    achan_status st = unary_new(in, &skip_vtbl, in->item_size, in->item_size, 0, 0, &u);
    if (st != ACHAN_OK)
        return st;
    u->n = n;
    return unary_publish(u, NULL, NULL, out);
}

/* ---- take_while, skip_while ---- */

static achan_status take_while_poll(achan_stream *s, achan_context *cx, void *item) {
    unary *u = (unary *)s;
    achan_status st = unary_pull(u, cx, u->in_item);
    if (st != ACHAN_OK)
        return st;
    if (!u->fn.pred(u->in_item, u->c.user))
        return unary_end(u);
    memcpy(item, u->in_item, u->stream.item_size);
    return ACHAN_OK;
}

static const achan_stream_vtbl take_while_vtbl = {take_while_poll, unary_drop};

achan_status achan_stream_take_while(achan_stream *in, achan_pred_fn pred, void *user,
                                     achan_user_drop_fn user_drop, achan_stream **out) {
    return pred_adapter_new(in, &take_while_vtbl, pred, user, user_drop, out);
}

static achan_status skip_while_poll(achan_stream *s, achan_context *cx, void *item) {
    unary *u = (unary *)s;
    if (!u->flag)
        return unary_pull(u, cx, item);
    for (bool first = true;; first = false) {
        if (!first && !achan_coop_proceed(cx))
            return ACHAN_PENDING;
        achan_status st = unary_pull(u, cx, u->in_item);
        if (st != ACHAN_OK)
            return st;
        if (!u->fn.pred(u->in_item, u->c.user)) {
            u->flag = false; /* From now on everything passes. */
            memcpy(item, u->in_item, u->stream.item_size);
            return ACHAN_OK;
        }
    }
}

static const achan_stream_vtbl skip_while_vtbl = {skip_while_poll, unary_drop};

achan_status achan_stream_skip_while(achan_stream *in, achan_pred_fn pred, void *user,
                                     achan_user_drop_fn user_drop, achan_stream **out) {
    if (!in || !pred || !out)
        return ACHAN_INVALID;
    unary *u;
    achan_status st = unary_new(in, &skip_while_vtbl, in->item_size, in->item_size, 0, 0, &u);
    if (st != ACHAN_OK)
        return st;
    u->fn.pred = pred;
    u->flag = true;
    return unary_publish(u, user, user_drop, out);
}

/* ---- fuse ---- */

static achan_status fuse_poll(achan_stream *s, achan_context *cx, void *item) {
    return unary_pull((unary *)s, cx, item);
}

static const achan_stream_vtbl fuse_vtbl = {fuse_poll, unary_drop};

achan_status achan_stream_fuse(achan_stream *in, achan_stream **out) {
    if (!in || !out)
        return ACHAN_INVALID;
    unary *u;
    achan_status st = unary_new(in, &fuse_vtbl, in->item_size, 0, 0, 0, &u);
    if (st != ACHAN_OK)
        return st;
    return unary_publish(u, NULL, NULL, out);
}

/* ---- enumerate ---- */

static achan_status enumerate_poll(achan_stream *s, achan_context *cx, void *item) {
    unary *u = (unary *)s;
    achan_status st = unary_pull(u, cx, (unsigned char *)item + ACHAN_ENUMERATE_OFFSET);
    if (st == ACHAN_OK) {
        memcpy(item, &u->n, sizeof u->n); /* memcpy: item may be unaligned. */
        u->n++;
    }
    return st;
}

static const achan_stream_vtbl enumerate_vtbl = {enumerate_poll, unary_drop};

achan_status achan_stream_enumerate(achan_stream *in, achan_stream **out) {
    if (!in || !out)
        return ACHAN_INVALID;
    size_t size = achan__size_add(ACHAN_ENUMERATE_OFFSET, in->item_size);
    unary *u;
    achan_status st = unary_new(in, &enumerate_vtbl, size, 0, 0, 0, &u);
    if (st != ACHAN_OK)
        return st;
    return unary_publish(u, NULL, NULL, out);
}

/* ---- scan ---- */

static achan_status scan_poll(achan_stream *s, achan_context *cx, void *item) {
    unary *u = (unary *)s;
    achan_status st = unary_pull(u, cx, u->in_item);
    if (st != ACHAN_OK)
        return st;
    if (!u->fn.scan(u->state, u->in_item, u->out_item, u->c.user))
        return unary_end(u);
    memcpy(item, u->out_item, u->stream.item_size);
    return ACHAN_OK;
}

static const achan_stream_vtbl scan_vtbl = {scan_poll, unary_drop};

achan_status achan_stream_scan(achan_stream *in, size_t state_size, const void *init,
                               size_t out_size, achan_scan_fn fn, void *user,
                               achan_user_drop_fn user_drop, achan_stream **out) {
    if (!in || !fn || !out || (!init && state_size > 0))
        return ACHAN_INVALID;
    unary *u;
    achan_status st = unary_new(in, &scan_vtbl, out_size, in->item_size, out_size, state_size, &u);
    if (st != ACHAN_OK)
        return st;
    u->fn.scan = fn;
    if (state_size > 0)
        memcpy(u->state, init, state_size);
    return unary_publish(u, user, user_drop, out);
}

/* ---- peekable ---- */

/* Makes sure a result is kept (the input's next item, or its lag report)
 * and returns it; CLOSED, PENDING and other statuses are not kept. */
static achan_status peek_fill(unary *u, achan_context *cx) {
    if (u->flag)
        return u->kept;
    achan_status st = unary_pull(u, cx, u->in_item);
    if (st == ACHAN_OK || st == ACHAN_LAGGED) {
        u->flag = true;
        u->kept = st;
    }
    return st;
}

static achan_status peekable_poll(achan_stream *s, achan_context *cx, void *item) {
    unary *u = (unary *)s;
    if (!u->flag)
        return unary_pull(u, cx, item);
    u->flag = false;
    if (u->kept == ACHAN_OK)
        memcpy(item, u->in_item, u->stream.item_size);
    return u->kept;
}

static const achan_stream_vtbl peekable_vtbl = {peekable_poll, unary_drop};

achan_status achan_stream_peekable(achan_stream *in, achan_stream **out) {
    if (!in || !out)
        return ACHAN_INVALID;
    unary *u;
    achan_status st = unary_new(in, &peekable_vtbl, in->item_size, in->item_size, 0, 0, &u);
    if (st != ACHAN_OK)
        return st;
    return unary_publish(u, NULL, NULL, out);
}

achan_status achan_stream_peek(achan_stream *peekable, achan_context *cx, void *item) {
    if (!peekable || peekable->vtbl != &peekable_vtbl || !achan__cx_valid(cx) || !item)
        return ACHAN_INVALID;
    unary *u = (unary *)peekable;
    achan_status st = peek_fill(u, cx);
    if (st == ACHAN_OK)
        memcpy(item, u->in_item, u->stream.item_size);
    return st;
}

/* ------------------------------------------------------------------------ */
/* then: one future at a time.                                               */

typedef struct then_stream {
    achan_stream stream;
    achan_stream *in;
    bool done;
    achan_then_fn fn;
    achan__closure c;
    achan_future *fut; /* The running future, or NULL. */
    unsigned char *in_item, *out_item;
} then_stream;

/* Runs the current future: ACHAN_OK (output in out_item), ACHAN_PENDING, or
 * ACHAN_CLOSED when it completed otherwise (it yields nothing). */
static achan_status then_run(then_stream *t, achan_context *cx) {
    achan_status st = t->fut->vtbl->poll(t->fut, cx, t->out_item);
    if (st == ACHAN_PENDING)
        return st;
    achan_future_drop(t->fut);
    t->fut = NULL;
    return st == ACHAN_OK ? ACHAN_OK : ACHAN_CLOSED;
}

static achan_status then_poll(achan_stream *s, achan_context *cx, void *item) {
    then_stream *t = (then_stream *)s;
    if (t->done)
        return ACHAN_CLOSED;
    for (bool first = true;; first = false) {
        if (!first && !achan_coop_proceed(cx))
            return ACHAN_PENDING;
        if (t->fut) {
            achan_status st = then_run(t, cx);
            if (st == ACHAN_PENDING)
                return st;
            if (st == ACHAN_OK) {
                memcpy(item, t->out_item, t->stream.item_size);
                return ACHAN_OK;
            }
            continue;
        }
        achan_status st = achan__stream_next(t->in, cx, t->in_item);
        if (st == ACHAN_CLOSED)
            t->done = true; /* No future runs: nothing is left to yield. */
        if (st != ACHAN_OK)
            return st;
        achan_future *f = t->fn(t->in_item, t->c.user);
        /* A future of another output size could not be polled into
         * out_item: it is dropped and yields nothing, like a failed one. */
        if (f && f->output_size != t->stream.item_size) {
            achan_future_drop(f);
            f = NULL;
        }
        t->fut = f;
    }
}

static void then_drop(achan_stream *s) {
    then_stream *t = (then_stream *)s;
    achan_future_drop(t->fut);
    achan_stream_drop(t->in);
    achan__closure_drop(&t->c);
    achan__obj_free(t);
}

static const achan_stream_vtbl then_vtbl = {then_poll, then_drop};

achan_status achan_stream_then(achan_stream *in, size_t out_size, achan_then_fn fn, void *user,
                               achan_user_drop_fn user_drop, achan_stream **out) {
    if (!in || !fn || !out)
        return ACHAN_INVALID;
    achan__layout l = {sizeof(then_stream)};
    size_t in_off = achan__layout_add(&l, in->item_size);
    size_t out_off = achan__layout_add(&l, out_size);
    if (!achan__layout_ok(&l))
        return ACHAN_INVALID;
    then_stream *t = achan__obj_new(l.size);
    if (!t)
        return ACHAN_NOMEM;
    t->stream.vtbl = &then_vtbl;
    t->stream.item_size = out_size;
    t->in = in;
    t->fn = fn;
    t->c.user = user;
    t->c.user_drop = user_drop;
    t->in_item = achan__obj_at(t, in_off);
    t->out_item = achan__obj_at(t, out_off);
    *out = &t->stream;
    return ACHAN_OK;
}

/* ------------------------------------------------------------------------ */
/* chain, zip, merge: several inputs.                                        */

typedef struct chain_stream {
    achan_stream stream;
    achan_stream *first, *second;
    unsigned phase; /* 0: first, 1: second, 2: both ended. */
} chain_stream;

static achan_status chain_poll(achan_stream *s, achan_context *cx, void *item) {
    chain_stream *c = (chain_stream *)s;
    if (c->phase == 0) {
        achan_status st = achan__stream_next(c->first, cx, item);
        if (st != ACHAN_CLOSED)
            return st;
        c->phase = 1;
    }
    if (c->phase == 1) {
        achan_status st = achan__stream_next(c->second, cx, item);
        if (st != ACHAN_CLOSED)
            return st;
        c->phase = 2;
    }
    return ACHAN_CLOSED;
}

static void chain_drop(achan_stream *s) {
    chain_stream *c = (chain_stream *)s;
    achan_stream_drop(c->first);
    achan_stream_drop(c->second);
    achan__obj_free(c);
}

static const achan_stream_vtbl chain_vtbl = {chain_poll, chain_drop};

achan_status achan_stream_chain(achan_stream *first, achan_stream *second, achan_stream **out) {
    if (!first || !second || !out || first == second || first->item_size != second->item_size)
        return ACHAN_INVALID;
    chain_stream *c = achan__obj_new(sizeof *c);
    if (!c)
        return ACHAN_NOMEM;
    c->stream.vtbl = &chain_vtbl;
    c->stream.item_size = first->item_size;
    c->first = first;
    c->second = second;
    *out = &c->stream;
    return ACHAN_OK;
}

typedef struct zip_stream {
    achan_stream stream;
    achan_stream *a, *b;
    bool have_a; /* a's next item waits in a_item for b's. */
    bool done;
    unsigned char *a_item;
} zip_stream;

static achan_status zip_poll(achan_stream *s, achan_context *cx, void *item) {
    zip_stream *z = (zip_stream *)s;
    if (z->done)
        return ACHAN_CLOSED;
    achan_status st;
    if (!z->have_a) {
        st = achan__stream_next(z->a, cx, z->a_item);
        if (st == ACHAN_CLOSED)
            z->done = true;
        if (st != ACHAN_OK)
            return st;
        z->have_a = true;
    }
    /* b writes straight into its half of the pair: only on ACHAN_OK. */
    st = achan__stream_next(z->b, cx, (unsigned char *)item + z->a->item_size);
    if (st == ACHAN_CLOSED)
        z->done = true;
    if (st != ACHAN_OK)
        return st;
    memcpy(item, z->a_item, z->a->item_size);
    z->have_a = false;
    return ACHAN_OK;
}

static void zip_drop(achan_stream *s) {
    zip_stream *z = (zip_stream *)s;
    achan_stream_drop(z->a);
    achan_stream_drop(z->b);
    achan__obj_free(z);
}

static const achan_stream_vtbl zip_vtbl = {zip_poll, zip_drop};

achan_status achan_stream_zip(achan_stream *a, achan_stream *b, achan_stream **out) {
    if (!a || !b || !out || a == b)
        return ACHAN_INVALID;
    size_t size = achan__size_add(a->item_size, b->item_size);
    achan__layout l = {sizeof(zip_stream)};
    size_t a_off = achan__layout_add(&l, a->item_size);
    if (size == SIZE_MAX || !achan__layout_ok(&l))
        return ACHAN_INVALID;
    zip_stream *z = achan__obj_new(l.size);
    if (!z)
        return ACHAN_NOMEM;
    z->stream.vtbl = &zip_vtbl;
    z->stream.item_size = size;
    z->a = a;
    z->b = b;
    z->a_item = achan__obj_at(z, a_off);
    *out = &z->stream;
    return ACHAN_OK;
}

typedef struct merge_stream {
    achan_stream stream;
    size_t n;
    size_t live;  /* Inputs that have not ended. */
    size_t start; /* The next poll starts here: after the last to yield. */
    achan_stream **ins;
    bool *ended;
} merge_stream;

static achan_status merge_poll(achan_stream *s, achan_context *cx, void *item) {
    merge_stream *m = (merge_stream *)s;
    for (size_t k = 0; k < m->n && m->live > 0; k++) {
        size_t i = m->start + k < m->n ? m->start + k : m->start + k - m->n;
        if (m->ended[i])
            continue;
        achan_status st = achan__stream_next(m->ins[i], cx, item);
        if (st == ACHAN_PENDING)
            continue; /* i holds cx's waker now. */
        if (st == ACHAN_CLOSED) {
            m->ended[i] = true;
            m->live--;
            continue;
        }
        m->start = i + 1 < m->n ? i + 1 : 0;
        return st;
    }
    /* Every live input returned PENDING in this round, so each holds cx. */
    return m->live == 0 ? ACHAN_CLOSED : ACHAN_PENDING;
}

static void merge_drop(achan_stream *s) {
    merge_stream *m = (merge_stream *)s;
    for (size_t i = 0; i < m->n; i++)
        achan_stream_drop(m->ins[i]);
    achan__obj_free(m);
}

static const achan_stream_vtbl merge_vtbl = {merge_poll, merge_drop};

/* True when ins holds n distinct streams of one item size. */
static bool merge_inputs_valid(achan_stream *const *ins, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (!ins[i] || ins[i]->item_size != ins[0]->item_size)
            return false;
        for (size_t j = 0; j < i; j++)
            if (ins[j] == ins[i])
                return false;
    }
    return true;
}

achan_status achan_stream_merge(achan_stream *const *ins, size_t n, achan_stream **out) {
    if (!ins || n == 0 || !out || n > ACHAN__OBJ_MAX / sizeof(achan_stream *) ||
        !merge_inputs_valid(ins, n))
        return ACHAN_INVALID;
    achan__layout l = {sizeof(merge_stream)};
    size_t ins_off = achan__layout_add(&l, n * sizeof(achan_stream *));
    size_t ended_off = achan__layout_add(&l, n * sizeof(bool));
    if (!achan__layout_ok(&l))
        return ACHAN_INVALID;
    merge_stream *m = achan__obj_new(l.size);
    if (!m)
        return ACHAN_NOMEM;
    m->stream.vtbl = &merge_vtbl;
    m->stream.item_size = ins[0]->item_size;
    m->n = n;
    m->live = n;
    m->ins = (achan_stream **)(void *)achan__obj_at(m, ins_off);
    m->ended = (bool *)achan__obj_at(m, ended_off);
    memcpy(m->ins, ins, n * sizeof(achan_stream *));
    *out = &m->stream;
    return ACHAN_OK;
}

/* ------------------------------------------------------------------------ */
/* ready_chunks, chunks.                                                     */

/* The chunk's fields are reached by offset and written with memcpy: the
 * caller's item need not be aligned (it may sit inside a zip pair). */
#define CHUNK_ITEMS(item) ((unsigned char *)(item) + ACHAN_CHUNK_OFFSET)

static void chunk_set_count(void *item, size_t count) {
    memcpy(item, &count, sizeof count);
}

/* The chunk item size for max items of in_size bytes, or SIZE_MAX. */
static size_t chunk_size(size_t max, size_t in_size) {
    size_t items = achan__mul_size(max, in_size);
    return achan__size_add(ACHAN_CHUNK_OFFSET, items);
}

typedef struct chunks_stream {
    achan_stream stream;
    achan_stream *in;
    achan_mpsc_receiver *rx; /* ready_chunks: in as an mpsc receiver, or NULL. */
    size_t max;
    size_t count; /* chunks: items buffered in buf. */
    bool in_done; /* The input returned CLOSED. */
    bool done;
    /* ready_chunks: a status other than OK, PENDING or CLOSED (LAGGED,
     * TIMEOUT) that ended a partial chunk, still to report; OK if none. */
    achan_status held;
    unsigned char *buf; /* chunks: max input items. */
} chunks_stream;

/* ready_chunks over any stream: polls into the caller's chunk until max
 * items, or the input stops being ready. */
static size_t ready_fill(chunks_stream *c, achan_context *cx, void *item, achan_status *st) {
    unsigned char *items = CHUNK_ITEMS(item);
    size_t in_size = c->in->item_size, k = 0;
    *st = ACHAN_PENDING; /* max >= 1 (checked at creation), so the loop sets it. */
    while (k < c->max) {
        *st = achan__stream_next(c->in, cx, items + k * in_size);
        if (*st != ACHAN_OK)
            break;
        k++;
    }
    if (*st == ACHAN_CLOSED)
        c->in_done = true;
    else if (*st != ACHAN_PENDING && k > 0)
        c->held = *st; /* Deliver the items before it first. */
    return k;
}

static achan_status ready_chunks_poll(achan_stream *s, achan_context *cx, void *item) {
    chunks_stream *c = (chunks_stream *)s;
    if (c->held != ACHAN_OK) {
        achan_status held = c->held;
        c->held = ACHAN_OK;
        return held;
    }
    if (c->done || c->in_done) {
        c->done = true;
        return ACHAN_CLOSED;
    }
    achan_status st;
    size_t k;
    if (c->rx)
        k = achan_mpsc_poll_recv_many(c->rx, cx, CHUNK_ITEMS(item), c->max, &st);
    else
        k = ready_fill(c, cx, item, &st);
    if (k == 0) {
        if (st == ACHAN_CLOSED)
            c->done = true;
        return st; /* PENDING (registered), CLOSED or LAGGED: nothing written. */
    }
    chunk_set_count(item, k);
    return ACHAN_OK;
}

static void chunks_drop(achan_stream *s) {
    chunks_stream *c = (chunks_stream *)s;
    achan_stream_drop(c->in);
    achan__obj_free(c);
}

static const achan_stream_vtbl ready_chunks_vtbl = {ready_chunks_poll, chunks_drop};

static achan_status chunks_new(achan_stream *in, size_t max, bool buffer,
                               const achan_stream_vtbl *vtbl, chunks_stream **out) {
    size_t size = chunk_size(max, in->item_size);
    achan__layout l = {sizeof(chunks_stream)};
    size_t buf_off = achan__layout_add(&l, buffer ? size : 0);
    if (size == SIZE_MAX || !achan__layout_ok(&l))
        return ACHAN_INVALID;
    chunks_stream *c = achan__obj_new(l.size);
    if (!c)
        return ACHAN_NOMEM;
    c->stream.vtbl = vtbl;
    c->stream.item_size = size;
    c->in = in;
    c->max = max;
    c->held = ACHAN_OK;
    c->buf = achan__obj_at(c, buf_off);
    *out = c;
    return ACHAN_OK;
}

achan_status achan_stream_ready_chunks(achan_stream *in, size_t max, achan_stream **out) {
    if (!in || max == 0 || !out)
        return ACHAN_INVALID;
    chunks_stream *c;
    achan_status st = chunks_new(in, max, false, &ready_chunks_vtbl, &c);
    if (st != ACHAN_OK)
        return st;
    c->rx = achan__mpsc_receiver_of(in);
    *out = &c->stream;
    return ACHAN_OK;
}

/* chunks: the partial chunk lives in buf across PENDING (the caller may poll
 * with another buffer next time). A LAGGED is passed on at once and the
 * partial chunk kept, so every chunk but the last stays full. */
static achan_status chunks_poll(achan_stream *s, achan_context *cx, void *item) {
    chunks_stream *c = (chunks_stream *)s;
    if (c->done)
        return ACHAN_CLOSED;
    size_t in_size = c->in->item_size;
    while (!c->in_done && c->count < c->max) {
        achan_status st = achan__stream_next(c->in, cx, c->buf + c->count * in_size);
        if (st == ACHAN_CLOSED)
            c->in_done = true;
        else if (st != ACHAN_OK)
            return st;
        else
            c->count++;
    }
    if (c->count == 0) {
        c->done = true;
        return ACHAN_CLOSED;
    }
    chunk_set_count(item, c->count);
    memcpy(CHUNK_ITEMS(item), c->buf, c->count * in_size);
    c->count = 0;
    return ACHAN_OK;
}

static const achan_stream_vtbl chunks_vtbl = {chunks_poll, chunks_drop};

achan_status achan_stream_chunks(achan_stream *in, size_t max, achan_stream **out) {
    if (!in || max == 0 || !out)
        return ACHAN_INVALID;
    chunks_stream *c;
    achan_status st = chunks_new(in, max, true, &chunks_vtbl, &c);
    if (st != ACHAN_OK)
        return st;
    *out = &c->stream;
    return ACHAN_OK;
}

/* ------------------------------------------------------------------------ */
/* buffered, buffer_unordered.                                               */

typedef struct buf_slot {
    achan_future *f;    /* Running, or NULL. */
    achan_status st;    /* buffered: the result of a completed future. */
    unsigned char *out; /* Its output (out_size bytes). */
} buf_slot;

typedef struct buffered_stream {
    achan_stream stream;
    achan_stream *in;
    size_t n;
    size_t count; /* Slots in use: running, or (buffered) completed but not yielded. */
    size_t head;  /* buffered: the oldest slot of the ring [head, head + count). */
    size_t start; /* buffer_unordered: the next round of polls starts here. */
    bool in_done;
    bool done;
    buf_slot *slots;
} buffered_stream;

static size_t ring_index(const buffered_stream *b, size_t k) {
    size_t i = b->head + k;
    return i < b->n ? i : i - b->n;
}

/* Stores a future from the input in a free slot (the ring's tail, or for
 * buffer_unordered any free one). */
static void buf_place(buffered_stream *b, achan_future *f, bool ordered) {
    size_t i = 0;
    if (ordered)
        i = ring_index(b, b->count);
    else
        while (b->slots[i].f)
            i++;
    b->slots[i].f = f;
    b->slots[i].st = ACHAN_PENDING;
    b->count++;
}

/* Takes futures from the input while slots are free. Returns ACHAN_OK, or
 * the input's LAGGED (to be passed on). *in_pending: the input returned
 * PENDING (it holds cx's waker). */
static achan_status buf_fill(buffered_stream *b, achan_context *cx, bool ordered,
                             bool *in_pending) {
    *in_pending = false;
    while (!b->in_done && b->count < b->n) {
        achan_future *f = NULL;
        achan_status st = achan__stream_next(b->in, cx, &f);
        if (st == ACHAN_PENDING) {
            *in_pending = true;
            return ACHAN_OK;
        }
        if (st == ACHAN_CLOSED) {
            b->in_done = true;
            return ACHAN_OK;
        }
        if (st != ACHAN_OK)
            return st;
        /* NULL, or an output size we cannot hold: nothing to run. */
        if (!f || f->output_size != b->stream.item_size)
            achan_future_drop(f);
        else
            buf_place(b, f, ordered);
    }
    return ACHAN_OK;
}

/* Polls slot s's future once; a completed one is dropped and its result
 * kept in s->st. Returns that result, or PENDING. */
static achan_status buf_run(buf_slot *s, achan_context *cx) {
    achan_status st = s->f->vtbl->poll(s->f, cx, s->out);
    if (st != ACHAN_PENDING) {
        achan_future_drop(s->f);
        s->f = NULL;
        s->st = st;
    }
    return st;
}

static achan_status buffered_poll(achan_stream *s, achan_context *cx, void *item) {
    buffered_stream *b = (buffered_stream *)s;
    if (b->done)
        return ACHAN_CLOSED;
    for (bool first = true;; first = false) {
        if (!first && !achan_coop_proceed(cx))
            return ACHAN_PENDING;
        bool in_pending;
        achan_status st = buf_fill(b, cx, true, &in_pending);
        if (st != ACHAN_OK)
            return st;
        for (size_t k = 0; k < b->count; k++) {
            buf_slot *sl = &b->slots[ring_index(b, k)];
            if (sl->f)
                buf_run(sl, cx);
        }
        if (b->count == 0) {
            if (b->in_done) {
                b->done = true;
                return ACHAN_CLOSED;
            }
            return ACHAN_PENDING; /* buf_fill stopped at the input's PENDING. */
        }
        buf_slot *h = &b->slots[b->head];
        if (h->f)
            return ACHAN_PENDING; /* The oldest is running: it was just polled. */
        b->head = ring_index(b, 1);
        b->count--;
        if (h->st == ACHAN_OK) {
            memcpy(item, h->out, b->stream.item_size);
            return ACHAN_OK;
        }
        /* A failed future yields nothing: refill and look at the next. */
    }
}

/* buffer_unordered: polls every running future once, starting after the
 * slot that yielded last. ACHAN_OK when one completed with an output (copied
 * to item); else ACHAN_PENDING, with *freed telling whether a future failed
 * (and so freed a slot without yielding). */
static achan_status unordered_collect(buffered_stream *b, achan_context *cx, void *item,
                                      bool *freed) {
    *freed = false;
    for (size_t k = 0; k < b->n; k++) {
        size_t i = b->start + k < b->n ? b->start + k : b->start + k - b->n;
        buf_slot *sl = &b->slots[i];
        if (!sl->f || buf_run(sl, cx) == ACHAN_PENDING)
            continue;
        b->count--;
        if (sl->st == ACHAN_OK) {
            b->start = i + 1 < b->n ? i + 1 : 0;
            memcpy(item, sl->out, b->stream.item_size);
            return ACHAN_OK;
        }
        *freed = true;
    }
    return ACHAN_PENDING;
}

static achan_status buffer_unordered_poll(achan_stream *s, achan_context *cx, void *item) {
    buffered_stream *b = (buffered_stream *)s;
    if (b->done)
        return ACHAN_CLOSED;
    for (bool first = true;; first = false) {
        if (!first && !achan_coop_proceed(cx))
            return ACHAN_PENDING;
        bool in_pending, freed;
        achan_status st = buf_fill(b, cx, false, &in_pending);
        if (st != ACHAN_OK)
            return st;
        if (unordered_collect(b, cx, item, &freed) == ACHAN_OK)
            return ACHAN_OK;
        if (b->count == 0 && b->in_done) {
            b->done = true;
            return ACHAN_CLOSED;
        }
        /* Every running future and (unless it ended or we were full) the
         * input returned PENDING. Only a slot freed by a failed future while
         * the input was not polled to PENDING calls for another round. */
        if (!freed || in_pending || b->in_done)
            return ACHAN_PENDING;
    }
}

static void buffered_drop(achan_stream *s) {
    buffered_stream *b = (buffered_stream *)s;
    for (size_t i = 0; i < b->n; i++)
        achan_future_drop(b->slots[i].f);
    achan_stream_drop(b->in);
    achan__obj_free(b);
}

static const achan_stream_vtbl buffered_vtbl = {buffered_poll, buffered_drop};
static const achan_stream_vtbl buffer_unordered_vtbl = {buffer_unordered_poll, buffered_drop};

static achan_status buffered_new(achan_stream *in, size_t n, size_t out_size,
                                 const achan_stream_vtbl *vtbl, achan_stream **out) {
    if (!in || n == 0 || !out || in->item_size != sizeof(achan_future *))
        return ACHAN_INVALID;
    if (out_size > ACHAN__OBJ_MAX || n > ACHAN__OBJ_MAX / sizeof(buf_slot))
        return ACHAN_INVALID;
    size_t slot_out = achan__round_up(out_size, ACHAN__ITEM_ALIGN);
    achan__layout l = {sizeof(buffered_stream)};
    size_t slots_off = achan__layout_add(&l, n * sizeof(buf_slot));
    size_t outs_off = achan__layout_add(&l, achan__mul_size(n, slot_out));
    if (!achan__layout_ok(&l))
        return ACHAN_INVALID;
    buffered_stream *b = achan__obj_new(l.size);
    if (!b)
        return ACHAN_NOMEM;
    b->stream.vtbl = vtbl;
    b->stream.item_size = out_size;
    b->in = in;
    b->n = n;
    b->slots = (buf_slot *)(void *)achan__obj_at(b, slots_off);
    for (size_t i = 0; i < n; i++)
        b->slots[i].out = achan__obj_at(b, outs_off + i * slot_out);
    *out = &b->stream;
    return ACHAN_OK;
}

achan_status achan_stream_buffered(achan_stream *futures, size_t n, size_t out_size,
                                   achan_stream **out) {
    return buffered_new(futures, n, out_size, &buffered_vtbl, out);
}

achan_status achan_stream_buffer_unordered(achan_stream *futures, size_t n, size_t out_size,
                                           achan_stream **out) {
    return buffered_new(futures, n, out_size, &buffer_unordered_vtbl, out);
}
