/* achan/combinators.h - stream adapters, sources and consumers (StreamExt in C).
 *
 * Build pipelines the way Rust users do with StreamExt:
 *
 *     achan_stream *s = achan_mpsc_receiver_stream(rx);
 *     achan_stream_filter(s, is_valid, NULL, NULL, &s);
 *     achan_stream_map(s, sizeof(struct result), parse, NULL, NULL, &s);
 *     achan_stream_ready_chunks(s, 64, &s);
 *     achan_stream_for_each_blocking(s, store_batch, db, -1);
 *     achan_stream_drop(s);
 *
 * Conventions shared by every function here:
 *
 *   Ownership. An adapter takes ownership of the stream(s) it is given and
 *   drops them in its own drop. The new stream is written to *out, which may
 *   be the same variable as the input: on failure (ACHAN_INVALID,
 *   ACHAN_NOMEM) nothing was consumed and *out is unchanged, so the input is
 *   still the caller's. Consumers in future form own their stream too; the
 *   `_blocking` consumers only borrow it.
 *
 *   Closures are a function, a `void *user` passed to it, and an optional
 *   `user_drop` called with user exactly once when the adapter is dropped.
 *   When construction fails, user_drop is not called: user stays the
 *   caller's.
 *
 *   Items are bytes: each adapter states its output item_size. Functions
 *   receive pointers to items (const for inputs) valid only during the call.
 *
 *   Statuses. Adapters return what stream.h allows: ACHAN_OK, ACHAN_PENDING,
 *   ACHAN_CLOSED (and forever after), ACHAN_LAGGED passed through unchanged
 *   from the input (broadcast-derived streams; nothing written), plus
 *   ACHAN_TIMEOUT from achan_stream_timeout. Pending inputs propagate: the
 *   adapter returns ACHAN_PENDING only after its input (or its own timer
 *   entry) registered the context's waker.
 *
 *   Cooperative budget: adapters that may loop over a ready input (filter,
 *   skip, skip_while, filter_map, consumers) consult achan_coop_proceed, so
 *   an always-ready stream cannot starve an executor's other tasks.
 *
 *   Time: timeout and throttle use achan_timer_current() (achan/timer.h), so
 *   they work under the executor, the blocking helpers and event loops.
 *
 *   Allocation goes through achan_default_allocator() (malloc unless set
 *   with achan_set_default_allocator).
 *
 * Thread-safety: a stream (and a future) is used by one thread at a time.
 */
#ifndef ACHAN_COMBINATORS_H
#define ACHAN_COMBINATORS_H

#include "achan/stream.h"
#include "achan/timer.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef void (*achan_user_drop_fn)(void *user);

/* The allocator used by objects created without achan_opts (adapters,
 * select, executors, sleep futures). NULL restores malloc/free. Set it
 * before creating such objects; each object keeps the one it was made with.
 * ACHAN_INVALID for an allocator with a NULL function. */
ACHAN_API achan_status achan_set_default_allocator(const achan_allocator *a);
ACHAN_API const achan_allocator *achan_default_allocator(void);

/* ------------------------------------------------------------------------ */
/* Adapters                                                                  */

/* out = fn(in). Output item_size out_size. */
typedef void (*achan_map_fn)(const void *in, void *out, void *user);
ACHAN_API achan_status achan_stream_map(achan_stream *in, size_t out_size, achan_map_fn fn,
                                        void *user, achan_user_drop_fn user_drop,
                                        achan_stream **out);

/* Items for which pred returns true. */
typedef bool (*achan_pred_fn)(const void *item, void *user);
ACHAN_API achan_status achan_stream_filter(achan_stream *in, achan_pred_fn pred, void *user,
                                           achan_user_drop_fn user_drop, achan_stream **out);

/* fn writes *out and returns true to yield it, false to skip the item. */
typedef bool (*achan_filter_map_fn)(const void *in, void *out, void *user);
ACHAN_API achan_status achan_stream_filter_map(achan_stream *in, size_t out_size,
                                               achan_filter_map_fn fn, void *user,
                                               achan_user_drop_fn user_drop, achan_stream **out);

/* Each item becomes a future (fn returns it, or NULL to skip the item); its
 * output (out_size bytes) is the next item. One future at a time, in order.
 * A future that completes with a status other than ACHAN_OK is dropped and
 * yields nothing. */
typedef achan_future *(*achan_then_fn)(const void *item, void *user);
ACHAN_API achan_status achan_stream_then(achan_stream *in, size_t out_size, achan_then_fn fn,
                                         void *user, achan_user_drop_fn user_drop,
                                         achan_stream **out);

/* The first n items, then CLOSED (without polling the input again). */
ACHAN_API achan_status achan_stream_take(achan_stream *in, uint64_t n, achan_stream **out);
/* Everything after the first n items. */
ACHAN_API achan_status achan_stream_skip(achan_stream *in, uint64_t n, achan_stream **out);
/* Items while pred holds; CLOSED at the first item for which it does not. */
ACHAN_API achan_status achan_stream_take_while(achan_stream *in, achan_pred_fn pred, void *user,
                                               achan_user_drop_fn user_drop, achan_stream **out);
/* Drops items while pred holds, then yields everything. */
ACHAN_API achan_status achan_stream_skip_while(achan_stream *in, achan_pred_fn pred, void *user,
                                               achan_user_drop_fn user_drop, achan_stream **out);

/* CLOSED forever once the input returned CLOSED, without polling it again,
 * even if the input would not stay closed. */
ACHAN_API achan_status achan_stream_fuse(achan_stream *in, achan_stream **out);

/* All of first, then all of second. Equal item sizes (else ACHAN_INVALID). */
ACHAN_API achan_status achan_stream_chain(achan_stream *first, achan_stream *second,
                                          achan_stream **out);

/* Pairs: item = a's item immediately followed by b's (a->item_size +
 * b->item_size bytes). CLOSED as soon as either ends. */
ACHAN_API achan_status achan_stream_zip(achan_stream *a, achan_stream *b, achan_stream **out);

/* Items of n streams (equal item sizes) as they arrive, fairly: each poll
 * starts after the stream that last yielded, so a busy input cannot starve
 * the others. CLOSED once every input ended. Takes ownership of every stream
 * in ins (the array itself is copied). */
ACHAN_API achan_status achan_stream_merge(achan_stream *const *ins, size_t n,
                                          achan_stream **out);

/* The largest fundamental alignment, in C and in C++. */
#ifdef __cplusplus
#define ACHAN_MAX_ALIGN alignof(max_align_t)
#else
#define ACHAN_MAX_ALIGN _Alignof(max_align_t)
#endif

/* Chunks. A chunk item (item_size = ACHAN_CHUNK_SIZE(max, in_size)) is an
 * achan_chunk header holding the count, then, from offset
 * ACHAN_CHUNK_OFFSET, room for `max` input items of which the first `count`
 * are filled. ACHAN_CHUNK_ITEM gives the i-th. Receive chunks into memory
 * aligned to ACHAN_MAX_ALIGN (malloc's, or an _Alignas(max_align_t) buffer). */
typedef struct achan_chunk {
    size_t count;
} achan_chunk;
#define ACHAN_CHUNK_OFFSET ((size_t)ACHAN_MAX_ALIGN > sizeof(achan_chunk) ? (size_t)ACHAN_MAX_ALIGN : sizeof(achan_chunk))
#define ACHAN_CHUNK_SIZE(max, in_size) (ACHAN_CHUNK_OFFSET + (size_t)(max) * (size_t)(in_size))
#define ACHAN_CHUNK_ITEM(chunk, i, in_size)                                                        \
    ((void *)((unsigned char *)(chunk) + ACHAN_CHUNK_OFFSET + (size_t)(i) * (size_t)(in_size)))

/* Whatever is ready now, up to max items, as one chunk (never waits to fill
 * it; PENDING only when nothing is ready). An mpsc receiver input is drained
 * with achan_mpsc_poll_recv_many. */
ACHAN_API achan_status achan_stream_ready_chunks(achan_stream *in, size_t max,
                                                 achan_stream **out);
/* Chunks of exactly max items; the last may be shorter, when the input ends. */
ACHAN_API achan_status achan_stream_chunks(achan_stream *in, size_t max, achan_stream **out);

/* Items as they come, plus ACHAN_TIMEOUT (nothing written) once whenever
 * more than duration_ns passes without an item; the stream then continues. */
ACHAN_API achan_status achan_stream_timeout(achan_stream *in, uint64_t duration_ns,
                                            achan_stream **out);
/* At most one item per period_ns: items are delayed, never dropped. */
ACHAN_API achan_status achan_stream_throttle(achan_stream *in, uint64_t period_ns,
                                             achan_stream **out);

/* The input's items are futures (item_size == sizeof(achan_future *)); the
 * adapter takes ownership of each and runs up to n at once. buffered yields
 * their outputs (out_size bytes) in input order, buffer_unordered as they
 * complete. Futures completing with a status other than ACHAN_OK yield
 * nothing. CLOSED when the input ended and every future completed. */
ACHAN_API achan_status achan_stream_buffered(achan_stream *futures, size_t n, size_t out_size,
                                             achan_stream **out);
ACHAN_API achan_status achan_stream_buffer_unordered(achan_stream *futures, size_t n,
                                                     size_t out_size, achan_stream **out);

/* A stream with a one-item look-ahead. achan_stream_peek works like poll_next
 * but keeps the item, so the next poll_next (or peek) returns it again. Only
 * for streams made by achan_stream_peekable (else ACHAN_INVALID). */
ACHAN_API achan_status achan_stream_peekable(achan_stream *in, achan_stream **out);
ACHAN_API achan_status achan_stream_peek(achan_stream *peekable, achan_context *cx, void *item);

/* Items numbered from 0: item = a uint64_t index, then the input item at
 * offset ACHAN_ENUMERATE_OFFSET. */
#define ACHAN_ENUMERATE_OFFSET ((size_t)ACHAN_MAX_ALIGN)
ACHAN_API achan_status achan_stream_enumerate(achan_stream *in, achan_stream **out);

/* A stateful map: state (state_size bytes, copied from init) is passed to fn
 * with each item; fn writes *out and returns true to yield it, false to end
 * the stream. */
typedef bool (*achan_scan_fn)(void *state, const void *in, void *out, void *user);
ACHAN_API achan_status achan_stream_scan(achan_stream *in, size_t state_size, const void *init,
                                         size_t out_size, achan_scan_fn fn, void *user,
                                         achan_user_drop_fn user_drop, achan_stream **out);

/* ------------------------------------------------------------------------ */
/* Sources                                                                   */

/* The n items of the array (copied at creation), then CLOSED. */
ACHAN_API achan_status achan_stream_iter(const void *items, size_t n, size_t item_size,
                                         achan_stream **out);
/* The future's output as one item (if it completes with ACHAN_OK), then
 * CLOSED. Takes ownership of the future. */
ACHAN_API achan_status achan_stream_once(achan_future *f, achan_stream **out);
/* CLOSED at once. */
ACHAN_API achan_status achan_stream_empty(size_t item_size, achan_stream **out);
/* PENDING forever (never wakes). */
ACHAN_API achan_status achan_stream_pending(size_t item_size, achan_stream **out);
/* fn(item, user) writes each item; never ends. */
typedef void (*achan_gen_fn)(void *item, void *user);
ACHAN_API achan_status achan_stream_repeat_with(size_t item_size, achan_gen_fn fn, void *user,
                                                achan_user_drop_fn user_drop,
                                                achan_stream **out);
/* A stream whose poll_next is fn: it follows the stream.h rules itself. */
typedef achan_status (*achan_poll_fn)(achan_context *cx, void *item, void *user);
ACHAN_API achan_status achan_stream_poll_fn(size_t item_size, achan_poll_fn fn, void *user,
                                            achan_user_drop_fn user_drop, achan_stream **out);
/* Items from a state machine: state (state_size bytes, copied from init) is
 * passed to fn, which writes the next item and returns true, or returns false
 * to end the stream. */
typedef bool (*achan_unfold_fn)(void *state, void *item, void *user);
ACHAN_API achan_status achan_stream_unfold(size_t state_size, const void *init, size_t item_size,
                                           achan_unfold_fn fn, void *user,
                                           achan_user_drop_fn user_drop, achan_stream **out);

/* ------------------------------------------------------------------------ */
/* Consumers                                                                 */
/*
 * As futures (they own the stream): complete with ACHAN_OK once the stream
 * ended. ACHAN_LAGGED from the stream is skipped (a consumer cannot report
 * it). As `_blocking` helpers (they borrow the stream): run on the calling
 * thread, return ACHAN_OK at the end of the stream or ACHAN_TIMEOUT (the
 * stream is left as it is; its remaining items can still be read).
 */

/* acc (acc_size bytes, copied from init) folded with fn over every item;
 * output: the final acc. */
typedef void (*achan_fold_fn)(void *acc, const void *item, void *user);
ACHAN_API achan_status achan_stream_fold(achan_stream *in, size_t acc_size, const void *init,
                                         achan_fold_fn fn, void *user,
                                         achan_user_drop_fn user_drop, achan_future **out);
/* fn on every item; no output. */
typedef void (*achan_each_fn)(const void *item, void *user);
ACHAN_API achan_status achan_stream_for_each(achan_stream *in, achan_each_fn fn, void *user,
                                             achan_user_drop_fn user_drop, achan_future **out);
/* Output: a size_t, the number of items. */
ACHAN_API achan_status achan_stream_count(achan_stream *in, achan_future **out);
/* Copies items into buf (room for max) until the stream ends or buf is full;
 * output: a size_t, the number copied. buf must outlive the future. */
ACHAN_API achan_status achan_stream_collect(achan_stream *in, void *buf, size_t max,
                                            achan_future **out);

/* fn folds every item into the caller's *acc, in place. */
ACHAN_API achan_status achan_stream_fold_blocking(achan_stream *s, void *acc, achan_fold_fn fn,
                                                  void *user, int64_t timeout_ns);
ACHAN_API achan_status achan_stream_for_each_blocking(achan_stream *s, achan_each_fn fn,
                                                      void *user, int64_t timeout_ns);
ACHAN_API achan_status achan_stream_count_blocking(achan_stream *s, size_t *count,
                                                   int64_t timeout_ns);
/* *n receives how many items were copied (also on ACHAN_TIMEOUT). */
ACHAN_API achan_status achan_stream_collect_blocking(achan_stream *s, void *buf, size_t max,
                                                     size_t *n, int64_t timeout_ns);

#ifdef __cplusplus
}
#endif
#endif /* ACHAN_COMBINATORS_H */
