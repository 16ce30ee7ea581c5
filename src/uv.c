/* uv.c - the libuv adapter (see achan/uv.h).
 *
 * Design notes.
 *
 * A uv task drives one stream or one future. It owns a uv_async_t (wake-ups
 * from any thread), a uv_timer_t and an achan_timer_heap (deadlines armed by
 * time-based adapters during its polls), and a separately allocated, reference
 * counted `target`: what the task's wakers point to. A waker wakes by taking
 * the target's mutex and, while the target is open, calling uv_async_send on
 * the task's async handle. Closing the target under the same mutex before
 * uv_close makes every later wake a no-op, so a waker that outlives its task
 * (it may sit in a channel's waker cell for a while) never touches a closed
 * handle.
 *
 * States of a task: running -> closing (stopped, or ended) -> freed once both
 * uv handles reported closed. Polls happen only in the async and timer
 * callbacks, on the loop thread; a stop requested from inside a callback
 * (on_item) only marks the task, and the poll loop finishes it on return.
 */
/* libuv's headers use POSIX types (pthread_rwlock_t) that a strict -std=c11
 * or c17 build declares only on request. */
#define _POSIX_C_SOURCE 200809L
#include "achan/uv.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* Polls per callback before yielding to the loop's other work. */
#define UV_POLL_BUDGET 128

typedef struct uv_target {
    pthread_mutex_t lock;
    uv_async_t *async; /* NULL once closed. */
    unsigned refs;     /* Under lock: the task, plus one per waker. */
} uv_target;

struct achan_uv_stream {
    uv_async_t async;
    uv_timer_t timer;
    achan_timer_heap *heap;
    uv_target *target;
    achan_waker waker;
    achan_stream *stream; /* A stream task, or ... */
    achan_future *future; /* ... a future task. */
    achan_uv_item_fn on_item;
    achan_uv_end_fn on_end;
    achan_uv_done_fn on_done;
    void *user;
    void *item; /* The stream's item, or the future's output. */
    bool polling, stop_requested, finished;
    int open_handles;
};

/* ---- wakers ---- */

static void target_release(uv_target *t) {
    pthread_mutex_lock(&t->lock);
    bool last = --t->refs == 0;
    pthread_mutex_unlock(&t->lock);
    if (last) {
        pthread_mutex_destroy(&t->lock);
        free(t);
    }
}

static void target_wake(uv_target *t) {
    pthread_mutex_lock(&t->lock);
    if (t->async)
        uv_async_send(t->async); /* Coalesces; safe from any thread. */
    pthread_mutex_unlock(&t->lock);
}

static achan_waker uvw_clone(const void *data);
static void uvw_wake(void *data) {
    target_wake(data);
    target_release(data);
}
static void uvw_wake_by_ref(const void *data) { target_wake((uv_target *)data); }
static void uvw_drop(void *data) { target_release(data); }
static const achan_waker_vtbl uv_waker_vtbl = {uvw_clone, uvw_wake, uvw_wake_by_ref, uvw_drop};

static achan_waker uvw_clone(const void *data) {
    uv_target *t = (uv_target *)data;
    pthread_mutex_lock(&t->lock);
    t->refs++;
    pthread_mutex_unlock(&t->lock);
    achan_waker w = {&uv_waker_vtbl, t};
    return w;
}

/* ---- teardown ---- */

static void on_handle_closed(uv_handle_t *handle) {
    achan_uv_stream *h = handle->data;
    if (--h->open_handles > 0)
        return;
    free(h->item);
    free(h);
}

/* Ends the task: no more wakes reach it, the stream or future and the timer
 * heap go, and the uv handles close (freeing the task when both did). */
static void finish(achan_uv_stream *h) {
    if (h->finished)
        return;
    h->finished = true;
    pthread_mutex_lock(&h->target->lock);
    h->target->async = NULL;
    pthread_mutex_unlock(&h->target->lock);
    uv_timer_stop(&h->timer);
    if (h->stream)
        achan_stream_drop(h->stream);
    if (h->future)
        achan_future_drop(h->future);
    achan_timer_heap_drop(h->heap); /* After the stream: its entries are disarmed. */
    target_release(h->target);
    uv_close((uv_handle_t *)&h->async, on_handle_closed);
    uv_close((uv_handle_t *)&h->timer, on_handle_closed);
}

/* ---- polling ---- */

static void plan_timer(achan_uv_stream *h);

/* One poll of the task. Returns true when the task may be polled again now. */
static bool poll_once(achan_uv_stream *h, achan_context *cx) {
    if (h->stream) {
        achan_status st = achan_stream_poll_next(h->stream, cx, h->item);
        if (st == ACHAN_PENDING)
            return false;
        if (st == ACHAN_CLOSED) {
            if (h->on_end)
                h->on_end(h, h->user);
            h->stop_requested = true;
            return false;
        }
        h->on_item(h, st, h->item, h->user);
        return true;
    }
    achan_status st = achan_future_poll(h->future, cx, h->item);
    if (st == ACHAN_PENDING)
        return false;
    if (h->on_done)
        h->on_done(st, h->future->output_size ? h->item : NULL, h->user);
    h->stop_requested = true;
    return false;
}

static void run_polls(achan_uv_stream *h) {
    if (h->finished)
        return;
    achan_context cx = {&h->waker};
    achan_timer *prev = achan_timer_set_current(achan_timer_heap_timer(h->heap));
    h->polling = true;
    int n = 0;
    while (!h->stop_requested && poll_once(h, &cx)) {
        if (++n == UV_POLL_BUDGET) { /* Let the loop breathe; come back soon. */
            uv_async_send(&h->async);
            break;
        }
    }
    h->polling = false;
    achan_timer_set_current(prev);
    if (h->stop_requested)
        finish(h);
    else
        plan_timer(h);
}

static void on_async(uv_async_t *a) { run_polls(a->data); }

static void on_timer(uv_timer_t *t) {
    achan_uv_stream *h = t->data;
    achan_timer_heap_fire(h->heap, achan_monotonic_ns()); /* Wakes -> async -> run_polls. */
    plan_timer(h);
}

/* Points the uv timer at the heap's earliest deadline (ms resolution, so
 * rounded up: firing early would only mean polling for nothing). */
static void plan_timer(achan_uv_stream *h) {
    if (h->finished)
        return;
    uint64_t next = achan_timer_heap_next(h->heap);
    if (next == UINT64_MAX) {
        uv_timer_stop(&h->timer);
        return;
    }
    uint64_t now = achan_monotonic_ns();
    uint64_t ms = next > now ? (next - now + 999999) / 1000000 : 0;
    uv_timer_start(&h->timer, on_timer, ms, 0);
}

static void on_earlier(achan_timer_heap *th, void *user) {
    (void)th;
    plan_timer(user);
}

/* ---- creation ---- */

static achan_status task_new(uv_loop_t *loop, size_t item_size, achan_uv_stream **out) {
    achan_uv_stream *h = calloc(1, sizeof *h);
    uv_target *t = calloc(1, sizeof *t);
    void *item = malloc(item_size ? item_size : 1);
    if (!h || !t || !item || pthread_mutex_init(&t->lock, NULL) != 0)
        goto fail;
    if (achan_timer_heap_new(on_earlier, h, &h->heap) != ACHAN_OK) {
        pthread_mutex_destroy(&t->lock);
        goto fail;
    }
    if (uv_async_init(loop, &h->async, on_async) != 0) {
        achan_timer_heap_drop(h->heap);
        pthread_mutex_destroy(&t->lock);
        goto fail;
    }
    uv_timer_init(loop, &h->timer);
    h->async.data = h->timer.data = h;
    h->open_handles = 2;
    t->async = &h->async;
    t->refs = 1;
    h->target = t;
    achan_waker w = {&uv_waker_vtbl, t};
    h->waker = w; /* Borrowed by the context; channels clone it. */
    h->item = item;
    *out = h;
    return ACHAN_OK;
fail:
    free(h);
    free(t);
    free(item);
    return ACHAN_NOMEM;
}

achan_status achan_uv_stream_start(uv_loop_t *loop, achan_stream *stream, achan_uv_item_fn on_item,
                                   achan_uv_end_fn on_end, void *user, achan_uv_stream **out) {
    if (!loop || !stream || !on_item || !out)
        return ACHAN_INVALID;
    achan_uv_stream *h;
    achan_status st = task_new(loop, stream->item_size, &h);
    if (st != ACHAN_OK)
        return st;
    h->stream = stream;
    h->on_item = on_item;
    h->on_end = on_end;
    h->user = user;
    uv_async_send(&h->async); /* First poll from the loop. */
    *out = h;
    return ACHAN_OK;
}

void achan_uv_stream_stop(achan_uv_stream *h) {
    if (!h || h->finished)
        return;
    h->stop_requested = true;
    if (!h->polling)
        finish(h);
}

achan_status achan_uv_spawn(uv_loop_t *loop, achan_future *f, achan_uv_done_fn done, void *user) {
    if (!loop || !f)
        return ACHAN_INVALID;
    achan_uv_stream *h;
    achan_status st = task_new(loop, f->output_size, &h);
    if (st != ACHAN_OK)
        return st;
    h->future = f;
    h->on_done = done;
    h->user = user;
    uv_async_send(&h->async);
    return ACHAN_OK;
}
