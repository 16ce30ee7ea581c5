/**
 * @file
 * @brief achan/uv.h - drive achan streams and futures from a libuv loop.
 *
 * Built as a separate library, achan::uv (link it with -lachan_uv, or
 * `achan_uv` from pkg-config), only when libuv is found: the core achan
 * library never needs libuv.
 *
 *     static void on_item(achan_uv_stream *h, achan_status st, void *item, void *user) {
 *         if (st == ACHAN_OK) show(item);         // also LAGGED / TIMEOUT: nothing written
 *     }
 *     static void on_end(achan_uv_stream *h, void *user) { puts("done"); }
 *
 *     achan_uv_stream *h;
 *     achan_uv_stream_start(uv_default_loop(), achan_mpsc_receiver_stream(rx),
 *                           on_item, on_end, NULL, &h);
 *     uv_run(uv_default_loop(), UV_RUN_DEFAULT);  // returns once the stream ended
 *
 * How it works: each started stream or spawned future gets a uv_async_t; its
 * waker calls uv_async_send (safe from any thread, and coalescing), and the
 * loop thread polls in the async callback. Each also gets a uv_timer_t and an
 * achan_timer_heap made current around its polls, so achan_stream_timeout,
 * achan_stream_throttle and achan_sleep work on the loop. One callback polls
 * at most 128 times, then yields to the loop's other work.
 *
 * Lifetime: after on_end (or the future's done callback) the handle is
 * finished and freed by the loop: do not stop it. achan_uv_stream_stop ends
 * it early (also from inside on_item); on_end is then not called. The
 * handles close through uv_close, so uv_run must run again (or still) for
 * their memory to be freed; a loop with only finished handles returns.
 *
 * Concurrency:
 *
 *     call                          | may run concurrently with
 *     ------------------------------+-------------------------------------------
 *     achan_uv_stream_start,        | anything on other loops except
 *     achan_uv_stream_stop,         | achan_set_default_allocator; on the
 *     achan_uv_spawn                | loop's thread only (the one that runs, or
 *                                   | will run, uv_run), also from inside the
 *                                   | callbacks
 *     the wakers the polls register | anything, from any thread, even after the
 *     (clone, wake, wake_by_ref,    | handle finished (a wake then does nothing)
 *     drop)                         |
 *
 * Polls and callbacks (on_item, on_end, done) run on the loop's thread,
 * inside uv_run, one at a time.
 *
 * Ownership:
 *
 *     what                          | owned and freed by
 *     ------------------------------+-------------------------------------------
 *     the stream or future given    | the adapter, from a successful call on:
 *                                   | dropped when the stream ends or is
 *                                   | stopped, or when the future completes
 *     the handle (achan_uv_stream)  | the adapter: valid until on_end or stop,
 *                                   | then freed by the loop (see Lifetime)
 *     user                          | the caller; the adapter never frees it
 *     the item or output passed to  | the adapter: valid during the call only
 *     a callback                    |
 *
 * libuv's own header needs POSIX declarations: in a strict -std=c11 build,
 * define _POSIX_C_SOURCE 200809L (or _GNU_SOURCE) before including this one.
 */
#ifndef ACHAN_UV_H
#define ACHAN_UV_H

#include <uv.h>

#include "achan/achan.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A stream (or future) driven by a loop; see "Lifetime" above. */
typedef struct achan_uv_stream achan_uv_stream;

/**
 * Called on the loop thread for each result of the stream other than
 * ACHAN_PENDING and ACHAN_CLOSED. st is ACHAN_OK (item written), or
 * ACHAN_LAGGED / ACHAN_TIMEOUT (nothing written) passed through from the
 * stream. item is valid during the call.
 */
typedef void (*achan_uv_item_fn)(achan_uv_stream *h, achan_status st, void *item, void *user);
/** Called on the loop thread when the stream returned ACHAN_CLOSED. The handle is finished. */
typedef void (*achan_uv_end_fn)(achan_uv_stream *h, void *user);

/**
 * Polls stream on loop, calling on_item for each result and on_end at the
 * end (on_end may be NULL). Takes ownership of stream. ACHAN_OK (*out is the
 * handle), ACHAN_INVALID (NULL loop, stream, on_item or out), ACHAN_NOMEM
 * (stream not taken). The first poll happens from the loop, not in this call.
 */
ACHAN_API achan_status achan_uv_stream_start(uv_loop_t *loop, achan_stream *stream,
                                             achan_uv_item_fn on_item, achan_uv_end_fn on_end,
                                             void *user, achan_uv_stream **out);

/** Stops polling and drops the stream. NULL is ignored. */
ACHAN_API void achan_uv_stream_stop(achan_uv_stream *h);

/**
 * Called once on the loop thread with the future's final status and output
 * (output_size bytes; NULL when 0).
 */
typedef void (*achan_uv_done_fn)(achan_status st, void *output, void *user);

/**
 * Runs future f on loop (taking ownership) until it completes, then calls
 * done (may be NULL) and drops it. ACHAN_OK, ACHAN_INVALID (NULL loop or f),
 * ACHAN_NOMEM (f not taken).
 */
ACHAN_API achan_status achan_uv_spawn(uv_loop_t *loop, achan_future *f, achan_uv_done_fn done,
                                      void *user);

#ifdef __cplusplus
}
#endif
#endif /* ACHAN_UV_H */
