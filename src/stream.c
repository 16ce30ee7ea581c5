/* stream.c - the generic stream and future entry points. */
#include "achan/stream.h"

#include "check.h"
#include "coop.h"
#include "parker.h"

achan_status achan_stream_poll_next(achan_stream *s, achan_context *cx, void *item) {
    if (!s || !achan__cx_valid(cx) || !item)
        return ACHAN_INVALID;
    return s->vtbl->poll_next(s, cx, item);
}

void achan_stream_drop(achan_stream *s) {
    if (s)
        s->vtbl->drop(s);
}

typedef struct {
    achan_stream *s;
    void *item;
} next_args;

static achan_status next_poll(void *arg, achan_context *cx) {
    next_args *a = arg;
    return a->s->vtbl->poll_next(a->s, cx, a->item);
}

achan_status achan_stream_next_blocking(achan_stream *s, void *item, int64_t timeout_ns) {
    if (!s || !item)
        return ACHAN_INVALID;
    next_args a = {s, item};
    return achan__block_poll(next_poll, NULL, &a, achan__deadline_after(timeout_ns));
}

achan_status achan_future_poll(achan_future *f, achan_context *cx, void *out) {
    if (!f || !achan__cx_valid(cx) || (!out && f->output_size > 0))
        return ACHAN_INVALID;
    return f->vtbl->poll(f, cx, out);
}

void achan_future_drop(achan_future *f) {
    if (f)
        f->vtbl->drop(f);
}

/* The running task's cooperative budget: polls left, or unlimited. */
static _Thread_local achan__coop_state coop = {false, 0};

achan__coop_state achan__coop_swap(achan__coop_state s) {
    achan__coop_state prev = coop;
    coop = s;
    return prev;
}

bool achan_coop_proceed(achan_context *cx) {
    if (!coop.limited)
        return true;
    if (coop.left > 0) {
        coop.left--;
        return true;
    }
    if (achan__cx_valid(cx))
        achan_waker_wake_by_ref(cx->waker);
    return false;
}

unsigned achan_coop_set_budget(unsigned polls) {
    unsigned prev = coop.limited ? coop.left : 0;
    coop.limited = polls != 0;
    coop.left = polls;
    return prev;
}
