/* stream_time.c - the time-based adapters achan_stream_timeout and
 * achan_stream_throttle (see achan/combinators.h).
 *
 * Design notes.
 *
 * Both follow tokio-stream (StreamExt::timeout, StreamExt::throttle) and wait
 * through an embedded achan_timer_entry on whatever timer is current when
 * they are polled (achan__timer_wait), so they work under the executor, the
 * blocking helpers and the shared timer thread alike. The entry is disarmed
 * when the adapter ends and when it is dropped.
 *
 * timeout: the input is polled first, so an item that is ready wins over an
 * expired deadline. Each item (and each ACHAN_LAGGED, an item for Tokio too)
 * restarts the gap: deadline = now + duration. While the input is PENDING and
 * a gap is being watched (`watching`), the adapter waits for the deadline;
 * when it passes it yields ACHAN_TIMEOUT once and stops watching until the
 * next item, so a silence of any length gives exactly one ACHAN_TIMEOUT. The
 * first gap starts at creation, as in Tokio.
 *
 * throttle: after yielding an item at time T the adapter does not poll its
 * input again before T + period (items wait in the input, none is dropped),
 * so successive items are at least a period apart. The first item passes at
 * once. A period of 0 passes everything through.
 */
#include "achan/combinators.h"

#include "alloc.h"
#include "parker.h"
#include "timer_internal.h"
#include "toolkit.h"

/* ------------------------------------------------------------------------ */
/* timeout                                                                   */

typedef struct {
    achan_stream base; /* First: the adapter is its own stream. */
    achan_stream *in;
    uint64_t duration;
    uint64_t deadline; /* End of the current gap. */
    bool watching;     /* A gap is being timed (no TIMEOUT reported for it yet). */
    bool ended;
    achan_timer_entry entry;
} timeout_stream;

static uint64_t add_sat(uint64_t a, uint64_t b) {
    uint64_t r = a + b;
    return r < a ? ACHAN__NO_DEADLINE : r;
}

static achan_status timeout_poll(achan_stream *s, achan_context *cx, void *item) {
    timeout_stream *t = (timeout_stream *)s;
    if (t->ended)
        return ACHAN_CLOSED;
    achan_status st = t->in->vtbl->poll_next(t->in, cx, item);
    switch (st) {
    case ACHAN_OK:
    case ACHAN_LAGGED:
        t->deadline = add_sat(achan__timer_now(), t->duration);
        t->watching = true;
        return st;
    case ACHAN_CLOSED:
        t->ended = true;
        achan_timer_entry_disarm(&t->entry);
        return st;
    case ACHAN_PENDING:
        break;
    default:
        return st; /* Another adapter's status (a nested timeout): passed on. */
    }
    if (!t->watching)
        return ACHAN_PENDING; /* The input registered the waker. */
    if (achan__timer_wait(&t->entry, t->deadline, cx) == ACHAN_PENDING)
        return ACHAN_PENDING;
    t->watching = false;
    return ACHAN_TIMEOUT;
}

static void timeout_drop(achan_stream *s) {
    timeout_stream *t = (timeout_stream *)s;
    achan_timer_entry_disarm(&t->entry);
    achan_stream_drop(t->in);
    achan__obj_free(t);
}

static const achan_stream_vtbl timeout_vtbl = {timeout_poll, timeout_drop};

achan_status achan_stream_timeout(achan_stream *in, uint64_t duration_ns, achan_stream **out) {
    if (!in || !out)
        return ACHAN_INVALID;
    timeout_stream *t = achan__obj_new(sizeof *t);
    if (!t)
        return ACHAN_NOMEM;
    t->base.vtbl = &timeout_vtbl;
    t->base.item_size = in->item_size;
    t->in = in;
    t->duration = duration_ns;
    t->deadline = add_sat(achan_monotonic_ns(), duration_ns);
    t->watching = true;
    t->ended = false;
    achan_timer_entry_init(&t->entry);
    *out = &t->base;
    return ACHAN_OK;
}

/* ------------------------------------------------------------------------ */
/* throttle                                                                  */

typedef struct {
    achan_stream base; /* First: the adapter is its own stream. */
    achan_stream *in;
    uint64_t period;
    uint64_t next_at; /* The input is not polled before this (while delaying). */
    bool delaying;
    bool ended;
    achan_timer_entry entry;
} throttle_stream;

static achan_status throttle_poll(achan_stream *s, achan_context *cx, void *item) {
    throttle_stream *t = (throttle_stream *)s;
    if (t->ended)
        return ACHAN_CLOSED;
    if (t->delaying) {
        if (achan__timer_wait(&t->entry, t->next_at, cx) == ACHAN_PENDING)
            return ACHAN_PENDING;
        t->delaying = false;
    }
    achan_status st = t->in->vtbl->poll_next(t->in, cx, item);
    if ((st == ACHAN_OK || st == ACHAN_LAGGED) && t->period > 0) {
        t->next_at = add_sat(achan__timer_now(), t->period);
        t->delaying = true;
    } else if (st == ACHAN_CLOSED) {
        t->ended = true;
    }
    return st;
}

static void throttle_drop(achan_stream *s) {
    throttle_stream *t = (throttle_stream *)s;
    achan_timer_entry_disarm(&t->entry);
    achan_stream_drop(t->in);
    achan__obj_free(t);
}

static const achan_stream_vtbl throttle_vtbl = {throttle_poll, throttle_drop};

achan_status achan_stream_throttle(achan_stream *in, uint64_t period_ns, achan_stream **out) {
    if (!in || !out)
        return ACHAN_INVALID;
    throttle_stream *t = achan__obj_new(sizeof *t);
    if (!t)
        return ACHAN_NOMEM;
    t->base.vtbl = &throttle_vtbl;
    t->base.item_size = in->item_size;
    t->in = in;
    t->period = period_ns;
    t->next_at = 0;
    t->delaying = false;
    t->ended = false;
    achan_timer_entry_init(&t->entry);
    *out = &t->base;
    return ACHAN_OK;
}
