/* stream_sources.c - streams made from arrays, futures and functions (see
 * achan/combinators.h).
 *
 * Design notes.
 *
 * Each source is one allocation (toolkit.h) sharing one struct: the stream
 * first, then what the kind needs (the copied array, the future, the
 * closure, the unfold state and a scratch item). As with the adapters, the
 * caller's item is written only when ACHAN_OK is returned (unfold and once
 * produce into scratch first), and a source that returned ACHAN_CLOSED
 * returns it forever without calling its function again; poll_fn included,
 * so a callback that ends once cannot come back to life.
 *
 * achan_stream_pending returns PENDING without keeping the waker: it never
 * wakes, so it has nothing to wake, as Rust's futures::stream::pending.
 */
#include "achan/combinators.h"

#include <string.h>

#include "toolkit.h"

typedef struct source {
    achan_stream stream; /* First: the source is its stream. */
    bool done;           /* Returned CLOSED. */
    achan__closure c;
    union {
        achan_gen_fn gen;
        achan_poll_fn poll;
        achan_unfold_fn unfold;
    } fn;
    achan_future *fut;   /* once: the future, until it completed. */
    size_t pos, n;       /* iter: the next item and the count. */
    unsigned char *data; /* iter: the items; unfold: the state. */
    unsigned char *item; /* once, unfold: scratch for one item. */
} source;

static void source_drop(achan_stream *s) {
    source *src = (source *)s;
    achan_future_drop(src->fut);
    achan__closure_drop(&src->c);
    achan__obj_free(src);
}

/* A source with data_size bytes of data and an item scratch when wanted. */
static achan_status source_new(const achan_stream_vtbl *vtbl, size_t item_size, size_t data_size,
                               bool scratch, source **out) {
    achan__layout l = {sizeof(source)};
    size_t data_off = achan__layout_add(&l, data_size);
    size_t item_off = achan__layout_add(&l, scratch ? item_size : 0);
    if (!achan__layout_ok(&l) || item_size > ACHAN__OBJ_MAX)
        return ACHAN_INVALID;
    source *s = achan__obj_new(l.size);
    if (!s)
        return ACHAN_NOMEM;
    s->stream.vtbl = vtbl;
    s->stream.item_size = item_size;
    s->data = achan__obj_at(s, data_off);
    s->item = achan__obj_at(s, item_off);
    *out = s;
    return ACHAN_OK;
}

static achan_status source_end(source *s) {
    s->done = true;
    return ACHAN_CLOSED;
}

/* ---- iter ---- */

static achan_status iter_poll(achan_stream *s, achan_context *cx, void *item) {
    (void)cx;
    source *src = (source *)s;
    if (src->pos == src->n)
        return ACHAN_CLOSED;
    size_t size = src->stream.item_size;
    memcpy(item, src->data + src->pos * size, size);
    src->pos++;
    return ACHAN_OK;
}

static const achan_stream_vtbl iter_vtbl = {iter_poll, source_drop};

achan_status achan_stream_iter(const void *items, size_t n, size_t item_size, achan_stream **out) {
    size_t bytes = achan__mul_size(n, item_size);
    if (!out || (!items && bytes > 0) || bytes > ACHAN__OBJ_MAX)
        return ACHAN_INVALID;
    source *s;
    achan_status st = source_new(&iter_vtbl, item_size, bytes, false, &s);
    if (st != ACHAN_OK)
        return st;
    if (bytes > 0)
        memcpy(s->data, items, bytes);
    s->n = n;
    *out = &s->stream;
    return ACHAN_OK;
}

/* ---- once ---- */

static achan_status once_poll(achan_stream *s, achan_context *cx, void *item) {
    source *src = (source *)s;
    if (src->done)
        return ACHAN_CLOSED;
    achan_status st = src->fut->vtbl->poll(src->fut, cx, src->item);
    if (st == ACHAN_PENDING)
        return st;
    /* Completed: the future must not be polled again, so it goes now. */
    achan_future_drop(src->fut);
    src->fut = NULL;
    src->done = true;
    if (st != ACHAN_OK)
        return ACHAN_CLOSED;
    memcpy(item, src->item, src->stream.item_size);
    return ACHAN_OK;
}

static const achan_stream_vtbl once_vtbl = {once_poll, source_drop};

achan_status achan_stream_once(achan_future *f, achan_stream **out) {
    if (!f || !out)
        return ACHAN_INVALID;
    source *s;
    achan_status st = source_new(&once_vtbl, f->output_size, 0, true, &s);
    if (st != ACHAN_OK)
        return st;
    s->fut = f;
    *out = &s->stream;
    return ACHAN_OK;
}

/* ---- empty, pending ---- */

static achan_status empty_poll(achan_stream *s, achan_context *cx, void *item) {
    (void)s;
    (void)cx;
    (void)item;
    return ACHAN_CLOSED;
}

static const achan_stream_vtbl empty_vtbl = {empty_poll, source_drop};

achan_status achan_stream_empty(size_t item_size, achan_stream **out) {
    if (!out)
        return ACHAN_INVALID;
    source *s;
    achan_status st = source_new(&empty_vtbl, item_size, 0, false, &s);
    if (st != ACHAN_OK)
        return st;
    *out = &s->stream;
    return ACHAN_OK;
}

static achan_status pending_poll(achan_stream *s, achan_context *cx, void *item) {
    (void)s;
    (void)cx;
    (void)item;
    return ACHAN_PENDING; /* Never wakes, so no waker is kept. */
}

static const achan_stream_vtbl pending_vtbl = {pending_poll, source_drop};

achan_status achan_stream_pending(size_t item_size, achan_stream **out) {
    if (!out)
        return ACHAN_INVALID;
    source *s;
    achan_status st = source_new(&pending_vtbl, item_size, 0, false, &s);
    if (st != ACHAN_OK)
        return st;
    *out = &s->stream;
    return ACHAN_OK;
}

/* ---- repeat_with, poll_fn, unfold ---- */

/* Commits a closure source. */
static achan_status source_publish(source *s, void *user, achan_user_drop_fn user_drop,
                                   achan_stream **out) {
    s->c.user = user;
    s->c.user_drop = user_drop;
    *out = &s->stream;
    return ACHAN_OK;
}

static achan_status repeat_with_poll(achan_stream *s, achan_context *cx, void *item) {
    (void)cx;
    source *src = (source *)s;
    src->fn.gen(item, src->c.user);
    return ACHAN_OK;
}

static const achan_stream_vtbl repeat_with_vtbl = {repeat_with_poll, source_drop};

achan_status achan_stream_repeat_with(size_t item_size, achan_gen_fn fn, void *user,
                                      achan_user_drop_fn user_drop, achan_stream **out) {
    if (!fn || !out)
        return ACHAN_INVALID;
    source *s;
    achan_status st = source_new(&repeat_with_vtbl, item_size, 0, false, &s);
    if (st != ACHAN_OK)
        return st;
    s->fn.gen = fn;
    return source_publish(s, user, user_drop, out);
}

static achan_status poll_fn_poll(achan_stream *s, achan_context *cx, void *item) {
    source *src = (source *)s;
    if (src->done)
        return ACHAN_CLOSED;
    achan_status st = src->fn.poll(cx, item, src->c.user);
    if (st == ACHAN_CLOSED)
        src->done = true;
    return st;
}

static const achan_stream_vtbl poll_fn_vtbl = {poll_fn_poll, source_drop};

achan_status achan_stream_poll_fn(size_t item_size, achan_poll_fn fn, void *user,
                                  achan_user_drop_fn user_drop, achan_stream **out) {
    if (!fn || !out)
        return ACHAN_INVALID;
    source *s;
    achan_status st = source_new(&poll_fn_vtbl, item_size, 0, false, &s);
    if (st != ACHAN_OK)
        return st;
    s->fn.poll = fn;
    return source_publish(s, user, user_drop, out);
}

static achan_status unfold_poll(achan_stream *s, achan_context *cx, void *item) {
    (void)cx;
    source *src = (source *)s;
    if (src->done)
        return ACHAN_CLOSED;
    if (!src->fn.unfold(src->data, src->item, src->c.user))
        return source_end(src);
    memcpy(item, src->item, src->stream.item_size);
    return ACHAN_OK;
}

static const achan_stream_vtbl unfold_vtbl = {unfold_poll, source_drop};

achan_status achan_stream_unfold(size_t state_size, const void *init, size_t item_size,
                                 achan_unfold_fn fn, void *user, achan_user_drop_fn user_drop,
                                 achan_stream **out) {
    if (!fn || !out || (!init && state_size > 0))
        return ACHAN_INVALID;
    source *s;
    achan_status st = source_new(&unfold_vtbl, item_size, state_size, true, &s);
    if (st != ACHAN_OK)
        return st;
    if (state_size > 0)
        memcpy(s->data, init, state_size);
    s->fn.unfold = fn;
    return source_publish(s, user, user_drop, out);
}
