/**
 * @file
 * @brief achan/stream.h - the stream and future interfaces.
 *
 * A stream produces items of a fixed size through poll_next:
 *
 *     ACHAN_OK       an item was written to *item
 *     ACHAN_PENDING  nothing yet; the context's waker will be woken
 *     ACHAN_CLOSED   the stream has ended, and returns CLOSED on every later poll
 *     ACHAN_LAGGED   broadcast-derived streams only: items were missed, nothing
 *                    was written; polling again continues the stream
 *
 * Every channel receiver embeds an achan_stream as its first member, so the
 * receiver *is* a stream: achan_stream_drop on it drops the receiver.
 *
 * A future is a computation that completes once with an output of
 * output_size bytes: poll returns ACHAN_PENDING until it returns its final
 * status (usually ACHAN_OK with *out written, or ACHAN_CLOSED). A future
 * must not be polled again after it completed.
 *
 * Concurrency and ownership:
 *
 *     call                          | may run concurrently with
 *     ------------------------------+-------------------------------------------
 *     achan_stream_poll_next,       | anything on other streams and futures; one
 *     achan_stream_next_blocking,   | thread at a time per stream or future
 *     achan_stream_drop,            |
 *     achan_future_poll,            |
 *     achan_future_drop             |
 *
 *     what                          | owned and freed by
 *     ------------------------------+-------------------------------------------
 *     a stream or future            | whoever created it, until handed to an
 *                                   | adapter (which then drops it); released
 *                                   | with achan_stream_drop / achan_future_drop,
 *                                   | which free everything it owns
 *     a channel receiver's stream   | the receiver itself: dropping either
 *                                   | drops both
 *     the context's waker           | the caller; a poll clones what it keeps
 */
#ifndef ACHAN_STREAM_H
#define ACHAN_STREAM_H

#include "achan/waker.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A stream of items of item_size bytes (see above). */
typedef struct achan_stream achan_stream;

/** A stream's functions: implement both to write a stream of your own. */
typedef struct achan_stream_vtbl {
    /**
     * ACHAN_OK: item written; ACHAN_PENDING; ACHAN_CLOSED: ended (and stays
     * ended); ACHAN_LAGGED: broadcast-derived streams only, nothing written.
     */
    achan_status (*poll_next)(achan_stream *self, achan_context *cx, void *item);
    void (*drop)(achan_stream *self); /**< Releases the stream and everything it owns. */
} achan_stream_vtbl;

/**
 * The stream header: the first member of every stream object (receivers,
 * adapters, sources), so a pointer to it is a pointer to the object.
 */
struct achan_stream {
    const achan_stream_vtbl *vtbl; /**< The stream's functions. */
    size_t item_size;              /**< Bytes written to *item by poll_next. */
};

/**
 * Polls s once (s->vtbl->poll_next). ACHAN_INVALID if s, cx, cx->waker or
 * item is NULL; otherwise whatever the stream returns (see above).
 */
ACHAN_API achan_status achan_stream_poll_next(achan_stream *s, achan_context *cx, void *item);

/**
 * Blocks the calling thread until s yields an item (ACHAN_OK), ends
 * (ACHAN_CLOSED), reports a lag (ACHAN_LAGGED) or timeout_ns passes
 * (ACHAN_TIMEOUT). timeout_ns < 0 waits forever; 0 polls once. ACHAN_NOMEM if
 * the thread's parker could not be allocated; ACHAN_INVALID if s or item is
 * NULL. A status other than these that the stream reports (ACHAN_TIMEOUT from
 * achan_stream_timeout) is returned as it is. s stays the caller's.
 */
ACHAN_API achan_status achan_stream_next_blocking(achan_stream *s, void *item,
                                                  int64_t timeout_ns);

/** Releases s and everything it owns. NULL is ignored. */
ACHAN_API void achan_stream_drop(achan_stream *s);

/** A computation that completes once (see above). */
typedef struct achan_future achan_future;

/** A future's functions: implement both to write a future of your own. */
typedef struct achan_future_vtbl {
    /**
     * ACHAN_PENDING (the context's waker is registered), or the final status
     * with *out written when it is ACHAN_OK.
     */
    achan_status (*poll)(achan_future *self, achan_context *cx, void *out);
    void (*drop)(achan_future *self); /**< Releases the future and everything it owns. */
} achan_future_vtbl;

/** The future header: the first member of every future object. */
struct achan_future {
    const achan_future_vtbl *vtbl; /**< The future's functions. */
    size_t output_size;            /**< Bytes written to *out on completion (may be 0). */
};

/**
 * Polls f once (f->vtbl->poll). ACHAN_INVALID if f, cx or cx->waker is NULL,
 * or out is NULL while output_size > 0; otherwise whatever the future returns.
 */
ACHAN_API achan_status achan_future_poll(achan_future *f, achan_context *cx, void *out);

/** Releases f and everything it owns. NULL is ignored. */
ACHAN_API void achan_future_drop(achan_future *f);

/**
 * Cooperative budget (Tokio's coop). Code that may loop over an always-ready
 * source (a consumer, a filter skipping items) calls this before each unit of
 * work. While the running task has budget left it consumes one unit and
 * returns true; once it is spent, it wakes cx's waker (so the task is polled
 * again on its next turn) and returns false, and the caller returns
 * ACHAN_PENDING. Outside a budgeted task (an executor sets the budget per
 * task turn with achan_coop_set_budget) it always returns true. The budget
 * is per thread: cx (may be NULL) is only the waker to wake.
 */
ACHAN_API bool achan_coop_proceed(achan_context *cx);

/**
 * Sets this thread's budget for the task about to be polled (0 = unlimited)
 * and returns the polls the previous setting had left (0 when it was
 * unlimited, or used up). For executors, around each task poll. The blocking
 * helpers (achan_block_on, every _blocking call) run without a budget and
 * restore the caller's afterwards.
 */
ACHAN_API unsigned achan_coop_set_budget(unsigned polls);

#ifdef __cplusplus
}
#endif
#endif /* ACHAN_STREAM_H */
