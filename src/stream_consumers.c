/* stream_consumers.c - fold, for_each, count and collect, as futures and as
 * blocking helpers (see achan/combinators.h).
 *
 * Design notes.
 *
 * Both forms share one loop, sink_run: poll the stream, hand each item to
 * the consumer's step (fold into acc, call fn, count, copy into buf), until
 * the stream ends (ACHAN_OK), returns PENDING, or (collect) buf is full.
 * Status reports that are not items are skipped: ACHAN_LAGGED (as the header
 * says) and likewise ACHAN_TIMEOUT from achan_stream_timeout, after which
 * that stream also continues. Anything else a stream should never return
 * (ACHAN_INVALID, ...) ends the consumer with that status.
 *
 * The future form owns its stream and one allocation (toolkit.h) holding
 * the accumulator and a scratch item. It spends one unit of cooperative
 * budget per stream poll, so a consumer of an always-ready stream yields to
 * its executor; a future polled after it completed returns ACHAN_INVALID.
 *
 * The blocking form borrows the stream and runs the same loop under
 * achan__block_poll (parker.h), so it parks between wakes and honours its
 * deadline; on ACHAN_TIMEOUT whatever was consumed stays consumed (folded,
 * counted, copied) and the rest stays in the stream. It does not consult the
 * budget: with no executor turn to end, giving up would only spin. Its
 * scratch item lives on the stack when small, else comes from the default
 * allocator.
 */
#include "achan/combinators.h"

#include <string.h>

#include "parker.h"
#include "toolkit.h"

typedef enum { SINK_FOLD, SINK_EACH, SINK_COUNT, SINK_COLLECT } sink_kind;

typedef struct sink {
    achan_stream *s;
    sink_kind kind;
    bool coop; /* Consult the cooperative budget (futures only). */
    union {
        achan_fold_fn fold;
        achan_each_fn each;
    } fn;
    void *user;
    void *acc;           /* fold: the accumulator. */
    unsigned char *buf;  /* collect: room for max items. */
    size_t max;          /* collect. */
    size_t count;        /* count, collect: items so far. */
    unsigned char *item; /* fold, for_each, count: scratch for one item. */
} sink;

/* Feeds the stream's items to the sink: ACHAN_OK once the stream ended (or
 * collect's buf is full), ACHAN_PENDING (the stream holds cx's waker, or the
 * budget is spent and cx was woken), or an unexpected stream status. */
static achan_status sink_run(sink *k, achan_context *cx) {
    size_t size = k->s->item_size;
    for (;;) {
        if (k->kind == SINK_COLLECT && k->count == k->max)
            return ACHAN_OK; /* Full: the rest stays in the stream. */
        if (k->coop && !achan_coop_proceed(cx))
            return ACHAN_PENDING;
        void *dst = k->kind == SINK_COLLECT ? k->buf + k->count * size : k->item;
        achan_status st = achan__stream_next(k->s, cx, dst);
        if (st == ACHAN_LAGGED || st == ACHAN_TIMEOUT)
            continue;
        if (st == ACHAN_CLOSED)
            return ACHAN_OK;
        if (st != ACHAN_OK)
            return st;
        switch (k->kind) {
        case SINK_FOLD:
            k->fn.fold(k->acc, k->item, k->user);
            break;
        case SINK_EACH:
            k->fn.each(k->item, k->user);
            break;
        case SINK_COUNT:
        case SINK_COLLECT:
            k->count++;
            break;
        }
    }
}

/* ------------------------------------------------------------------------ */
/* Futures.                                                                  */

typedef struct consumer {
    achan_future future; /* First: the consumer is its future. */
    bool finished;       /* Completed: must not be polled again. */
    achan__closure c;
    size_t acc_size;
    sink k;
} consumer;

static achan_status consumer_poll(achan_future *f, achan_context *cx, void *out) {
    consumer *c = (consumer *)f;
    if (c->finished)
        return ACHAN_INVALID;
    achan_status st = sink_run(&c->k, cx);
    if (st == ACHAN_PENDING)
        return st;
    c->finished = true;
    if (st != ACHAN_OK)
        return st;
    if (c->k.kind == SINK_FOLD)
        memcpy(out, c->k.acc, c->acc_size);
    else if (c->k.kind != SINK_EACH)
        memcpy(out, &c->k.count, sizeof c->k.count);
    return ACHAN_OK;
}

static void consumer_drop(achan_future *f) {
    consumer *c = (consumer *)f;
    achan_stream_drop(c->k.s);
    achan__closure_drop(&c->c);
    achan__obj_free(c);
}

static const achan_future_vtbl consumer_vtbl = {consumer_poll, consumer_drop};

/* A consumer future over in with room for an accumulator and, unless it
 * collects into the caller's buffer, a scratch item. */
static achan_status consumer_new(achan_stream *in, sink_kind kind, size_t acc_size,
                                 size_t output_size, consumer **out) {
    achan__layout l = {sizeof(consumer)};
    size_t acc_off = achan__layout_add(&l, acc_size);
    size_t item_off = achan__layout_add(&l, kind == SINK_COLLECT ? 0 : in->item_size);
    if (!achan__layout_ok(&l))
        return ACHAN_INVALID;
    consumer *c = achan__obj_new(l.size);
    if (!c)
        return ACHAN_NOMEM;
    c->future.vtbl = &consumer_vtbl;
    c->future.output_size = output_size;
    c->acc_size = acc_size;
    c->k.s = in;
    c->k.kind = kind;
    c->k.coop = true;
    c->k.acc = achan__obj_at(c, acc_off);
    c->k.item = achan__obj_at(c, item_off);
    *out = c;
    return ACHAN_OK;
}

static achan_status consumer_publish(consumer *c, void *user, achan_user_drop_fn user_drop,
                                     achan_future **out) {
    c->k.user = user;
    c->c.user = user;
    c->c.user_drop = user_drop;
    *out = &c->future;
    return ACHAN_OK;
}

achan_status achan_stream_fold(achan_stream *in, size_t acc_size, const void *init,
                               achan_fold_fn fn, void *user, achan_user_drop_fn user_drop,
                               achan_future **out) {
    if (!in || !fn || !out || (!init && acc_size > 0))
        return ACHAN_INVALID;
    consumer *c;
    achan_status st = consumer_new(in, SINK_FOLD, acc_size, acc_size, &c);
    if (st != ACHAN_OK)
        return st;
    if (acc_size > 0)
        memcpy(c->k.acc, init, acc_size);
    c->k.fn.fold = fn;
    return consumer_publish(c, user, user_drop, out);
}

achan_status achan_stream_for_each(achan_stream *in, achan_each_fn fn, void *user,
                                   achan_user_drop_fn user_drop, achan_future **out) {
    if (!in || !fn || !out)
        return ACHAN_INVALID;
    consumer *c;
    achan_status st = consumer_new(in, SINK_EACH, 0, 0, &c);
    if (st != ACHAN_OK)
        return st;
    c->k.fn.each = fn;
    return consumer_publish(c, user, user_drop, out);
}

achan_status achan_stream_count(achan_stream *in, achan_future **out) {
    if (!in || !out)
        return ACHAN_INVALID;
    consumer *c;
    achan_status st = consumer_new(in, SINK_COUNT, 0, sizeof(size_t), &c);
    if (st != ACHAN_OK)
        return st;
    return consumer_publish(c, NULL, NULL, out);
}

achan_status achan_stream_collect(achan_stream *in, void *buf, size_t max, achan_future **out) {
    if (!in || !out || (!buf && max > 0))
        return ACHAN_INVALID;
    consumer *c;
    achan_status st = consumer_new(in, SINK_COLLECT, 0, sizeof(size_t), &c);
    if (st != ACHAN_OK)
        return st;
    c->k.buf = buf;
    c->k.max = max;
    return consumer_publish(c, NULL, NULL, out);
}

/* ------------------------------------------------------------------------ */
/* Blocking helpers.                                                         */

/* Items up to this size use a scratch item on the stack. */
#define LOCAL_ITEM_BYTES 256

static achan_status sink_poll(void *arg, achan_context *cx) {
    return sink_run(arg, cx);
}

/* Runs k to the end of its stream or until timeout_ns passes, with a
 * scratch item when the kind needs one. */
static achan_status sink_block(sink *k, int64_t timeout_ns) {
    /* k->item points into it until achan__block_poll returns, so it must
     * live at this scope. */
    // cppcheck-suppress variableScope
    max_align_t local[LOCAL_ITEM_BYTES / sizeof(max_align_t)];
    void *heap = NULL;
    if (k->kind != SINK_COLLECT) {
        if (k->s->item_size <= sizeof local) {
            k->item = (unsigned char *)local;
        } else {
            if (k->s->item_size > ACHAN__OBJ_MAX)
                return ACHAN_INVALID;
            heap = achan__obj_new(k->s->item_size);
            if (!heap)
                return ACHAN_NOMEM;
            k->item = heap;
        }
    }
    achan_status st = achan__block_poll(sink_poll, NULL, k, achan__deadline_after(timeout_ns));
    if (heap)
        achan__obj_free(heap);
    return st;
}

achan_status achan_stream_fold_blocking(achan_stream *s, void *acc, achan_fold_fn fn, void *user,
                                        int64_t timeout_ns) {
    if (!s || !acc || !fn)
        return ACHAN_INVALID;
    sink k = {.s = s, .kind = SINK_FOLD, .fn.fold = fn, .user = user, .acc = acc};
    return sink_block(&k, timeout_ns);
}

achan_status achan_stream_for_each_blocking(achan_stream *s, achan_each_fn fn, void *user,
                                            int64_t timeout_ns) {
    if (!s || !fn)
        return ACHAN_INVALID;
    sink k = {.s = s, .kind = SINK_EACH, .fn.each = fn, .user = user};
    return sink_block(&k, timeout_ns);
}

achan_status achan_stream_count_blocking(achan_stream *s, size_t *count, int64_t timeout_ns) {
    if (!s || !count)
        return ACHAN_INVALID;
    sink k = {.s = s, .kind = SINK_COUNT};
    achan_status st = sink_block(&k, timeout_ns);
    if (st != ACHAN_NOMEM && st != ACHAN_INVALID)
        *count = k.count;
    return st;
}

achan_status achan_stream_collect_blocking(achan_stream *s, void *buf, size_t max, size_t *n,
                                           int64_t timeout_ns) {
    if (!s || !n || (!buf && max > 0))
        return ACHAN_INVALID;
    sink k = {.s = s, .kind = SINK_COLLECT, .buf = buf, .max = max};
    achan_status st = sink_block(&k, timeout_ns);
    if (st != ACHAN_NOMEM && st != ACHAN_INVALID)
        *n = k.count;
    return st;
}
