/**
 * @file
 * @brief achan/combinators.h - stream adapters, sources and consumers (StreamExt in C).
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
 *   Ownership (see the table below). The new stream is written to *out,
 *   which may be the same variable as the input: on failure (ACHAN_INVALID,
 *   ACHAN_NOMEM) nothing was consumed and *out is unchanged, so the input is
 *   still the caller's.
 *
 *   Closures are a function, a `void *user` passed to it, and an optional
 *   `user_drop` called with user exactly once when the adapter is dropped.
 *   When construction fails, user_drop is not called: user stays the
 *   caller's.
 *
 *   Items are bytes: each adapter states its output item_size. Functions
 *   receive pointers to items (const for inputs) valid only during the call.
 *
 *   Construction returns ACHAN_OK (*out written), ACHAN_INVALID (a NULL
 *   required argument, or a condition the function names; also sizes too
 *   large to allocate) or ACHAN_NOMEM.
 *
 *   Statuses. Adapters return what stream.h allows: ACHAN_OK, ACHAN_PENDING,
 *   ACHAN_CLOSED (and forever after), ACHAN_LAGGED passed through unchanged
 *   from the input (broadcast-derived streams; nothing written), plus
 *   ACHAN_TIMEOUT from achan_stream_timeout. Pending inputs propagate: the
 *   adapter returns ACHAN_PENDING only after its input (or its own timer
 *   entry) registered the context's waker.
 *
 *   Cooperative budget: adapters that may loop over a ready input (filter,
 *   filter_map, skip, skip_while, then, buffered, buffer_unordered) consult
 *   achan_coop_proceed after each item they discard, and the consumer
 *   futures before each poll of their stream, so an always-ready stream
 *   cannot starve an executor's other tasks.
 *
 *   Time: timeout and throttle use achan_timer_current() (achan/timer.h), so
 *   they work under the executor, the blocking helpers and event loops.
 *
 *   Allocation goes through achan_default_allocator() (malloc unless set
 *   with achan_set_default_allocator).
 *
 * Concurrency:
 *
 *     call                          | may run concurrently with
 *     ------------------------------+-------------------------------------------
 *     adapter, source and consumer  | anything on other streams (an input is
 *     constructors                  | handed over: nothing else may use it),
 *                                   | except achan_set_default_allocator
 *     polls and drops of what they  | anything on other streams and futures; one
 *     make, achan_stream_peek, the  | thread at a time per stream or future, and
 *     _blocking consumers           | nobody polls an adapter's inputs but it
 *     achan_default_allocator       | anything except achan_set_default_allocator
 *     achan_set_default_allocator   | nothing that creates an object without
 *                                   | achan_opts (it is not thread-safe)
 *
 * Closure functions (fn, pred, user_drop) run on the thread that polls or
 * drops the stream or future they belong to (or calls the _blocking
 * consumer), one call at a time; a user shared by streams driven from
 * different threads needs its own locking.
 *
 * Ownership:
 *
 *     what                          | owned and freed by
 *     ------------------------------+-------------------------------------------
 *     an adapter's input stream(s), | the adapter or consumer future, from a
 *     a consumer future's stream    | successful construction on: dropped in
 *                                   | its drop
 *     the stream or future made     | the caller, until handed on: released with
 *                                   | achan_stream_drop / achan_future_drop
 *     futures from then's fn, the   | the adapter: it drops each one when it has
 *     items of buffered's input,    | completed (or is skipped), and the rest in
 *     once's future                 | its own drop
 *     a closure's user              | the caller; with a user_drop, the adapter
 *                                   | from a successful construction on
 *     a _blocking consumer's        | the caller: borrowed for the call only
 *     stream, fold_blocking's acc   |
 *     collect's buf                 | the caller; it must outlive the future
 *     items passed to closures      | the adapter: valid during the call only
 */
#ifndef ACHAN_COMBINATORS_H
#define ACHAN_COMBINATORS_H

#include "achan/stream.h"
#include "achan/timer.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Releases a closure's user pointer; called once, when its owner is dropped. */
typedef void (*achan_user_drop_fn)(void *user);

/**
 * The allocator used by objects created without achan_opts (adapters,
 * select, executors, sleep futures). NULL restores malloc/free. Set it
 * before creating such objects; each object keeps the one it was made with.
 * ACHAN_OK, or ACHAN_INVALID for an allocator with a NULL function. Not
 * thread-safe: set it before other threads create such objects.
 */
ACHAN_API achan_status achan_set_default_allocator(const achan_allocator *a);
/** The allocator objects created without achan_opts use now (never NULL). */
ACHAN_API const achan_allocator *achan_default_allocator(void);

/* ------------------------------------------------------------------------ */
/* Adapters                                                                  */

/** achan_stream_map's function: writes *out from *in. */
typedef void (*achan_map_fn)(const void *in, void *out, void *user);
/** out = fn(in). Output item_size out_size. ACHAN_INVALID: in, fn or out NULL. */
ACHAN_API achan_status achan_stream_map(achan_stream *in, size_t out_size, achan_map_fn fn,
                                        void *user, achan_user_drop_fn user_drop,
                                        achan_stream **out);

/** A predicate on an item (filter, take_while, skip_while). */
typedef bool (*achan_pred_fn)(const void *item, void *user);
/** Items for which pred returns true. ACHAN_INVALID: in, pred or out NULL. */
ACHAN_API achan_status achan_stream_filter(achan_stream *in, achan_pred_fn pred, void *user,
                                           achan_user_drop_fn user_drop, achan_stream **out);

/** achan_stream_filter_map's function: writes *out and returns true, or returns false. */
typedef bool (*achan_filter_map_fn)(const void *in, void *out, void *user);
/**
 * fn writes *out and returns true to yield it, false to skip the item.
 * Output item_size out_size. ACHAN_INVALID: in, fn or out NULL.
 */
ACHAN_API achan_status achan_stream_filter_map(achan_stream *in, size_t out_size,
                                               achan_filter_map_fn fn, void *user,
                                               achan_user_drop_fn user_drop, achan_stream **out);

/** achan_stream_then's function: a new future for the item (ownership passes), or NULL. */
typedef achan_future *(*achan_then_fn)(const void *item, void *user);
/**
 * Each item becomes a future (fn returns it, or NULL to skip the item); its
 * output (out_size bytes) is the next item. One future at a time, in order.
 * A future that completes with a status other than ACHAN_OK is dropped and
 * yields nothing, and so is one whose output_size is not out_size.
 * ACHAN_INVALID: in, fn or out NULL.
 */
ACHAN_API achan_status achan_stream_then(achan_stream *in, size_t out_size, achan_then_fn fn,
                                         void *user, achan_user_drop_fn user_drop,
                                         achan_stream **out);

/** The first n items, then CLOSED (without polling the input again). */
ACHAN_API achan_status achan_stream_take(achan_stream *in, uint64_t n, achan_stream **out);
/** Everything after the first n items. */
ACHAN_API achan_status achan_stream_skip(achan_stream *in, uint64_t n, achan_stream **out);
/** Items while pred holds; CLOSED at the first item for which it does not. */
ACHAN_API achan_status achan_stream_take_while(achan_stream *in, achan_pred_fn pred, void *user,
                                               achan_user_drop_fn user_drop, achan_stream **out);
/** Drops items while pred holds, then yields everything. */
ACHAN_API achan_status achan_stream_skip_while(achan_stream *in, achan_pred_fn pred, void *user,
                                               achan_user_drop_fn user_drop, achan_stream **out);

/**
 * CLOSED forever once the input returned CLOSED, without polling it again,
 * even if the input would not stay closed.
 */
ACHAN_API achan_status achan_stream_fuse(achan_stream *in, achan_stream **out);

/**
 * All of first, then all of second. Equal item sizes and two different
 * streams (else ACHAN_INVALID).
 */
ACHAN_API achan_status achan_stream_chain(achan_stream *first, achan_stream *second,
                                          achan_stream **out);

/**
 * Pairs: item = a's item immediately followed by b's (a->item_size +
 * b->item_size bytes). CLOSED as soon as either ends. ACHAN_INVALID when a
 * and b are the same stream.
 */
ACHAN_API achan_status achan_stream_zip(achan_stream *a, achan_stream *b, achan_stream **out);

/**
 * Items of n streams (equal item sizes) as they arrive, fairly: each poll
 * starts after the stream that last yielded, so a busy input cannot starve
 * the others. CLOSED once every input ended. Takes ownership of every stream
 * in ins (the array itself is copied). ACHAN_INVALID: n 0, a NULL stream,
 * different item sizes, or a stream given twice.
 */
ACHAN_API achan_status achan_stream_merge(achan_stream *const *ins, size_t n,
                                          achan_stream **out);

/** The largest fundamental alignment, in C and in C++. */
#ifdef __cplusplus
#define ACHAN_MAX_ALIGN alignof(max_align_t)
#else
#define ACHAN_MAX_ALIGN _Alignof(max_align_t)
#endif

/**
 * Chunks. A chunk item (item_size = ACHAN_CHUNK_SIZE(max, in_size)) is an
 * achan_chunk header holding the count, then, from offset
 * ACHAN_CHUNK_OFFSET, room for `max` input items of which the first `count`
 * are filled. ACHAN_CHUNK_ITEM gives the i-th. Receive chunks into memory
 * aligned to ACHAN_MAX_ALIGN (malloc's, or an _Alignas(max_align_t) buffer).
 */
typedef struct achan_chunk {
    size_t count; /**< Input items in this chunk (1 to max). */
} achan_chunk;
/** Where a chunk's first input item starts. */
#define ACHAN_CHUNK_OFFSET ((size_t)ACHAN_MAX_ALIGN > sizeof(achan_chunk) ? (size_t)ACHAN_MAX_ALIGN : sizeof(achan_chunk))
/** The item_size of chunks of at most max items of in_size bytes. */
#define ACHAN_CHUNK_SIZE(max, in_size) (ACHAN_CHUNK_OFFSET + (size_t)(max) * (size_t)(in_size))
/** The i-th input item (of in_size bytes) of a chunk, as a void pointer. */
#define ACHAN_CHUNK_ITEM(chunk, i, in_size)                                                        \
    ((void *)((unsigned char *)(chunk) + ACHAN_CHUNK_OFFSET + (size_t)(i) * (size_t)(in_size)))

/**
 * Whatever is ready now, up to max items, as one chunk (never waits to fill
 * it; PENDING only when nothing is ready). An mpsc receiver input is drained
 * with achan_mpsc_poll_recv_many. A LAGGED or TIMEOUT (any status but OK,
 * PENDING and CLOSED) from the input is returned after the chunk of the items
 * before it. ACHAN_INVALID: max 0.
 */
ACHAN_API achan_status achan_stream_ready_chunks(achan_stream *in, size_t max,
                                                 achan_stream **out);
/**
 * Chunks of exactly max items; the last may be shorter, when the input ends.
 * A LAGGED from the input is returned at once; the partial chunk is kept.
 * ACHAN_INVALID: max 0.
 */
ACHAN_API achan_status achan_stream_chunks(achan_stream *in, size_t max, achan_stream **out);

/**
 * Items as they come, plus ACHAN_TIMEOUT (nothing written) once whenever
 * more than duration_ns passes without an item; the stream then continues.
 * The first gap starts at creation; a LAGGED counts as an item.
 */
ACHAN_API achan_status achan_stream_timeout(achan_stream *in, uint64_t duration_ns,
                                            achan_stream **out);
/**
 * At most one item per period_ns: items are delayed, never dropped. The first
 * item passes at once; 0 passes everything through.
 */
ACHAN_API achan_status achan_stream_throttle(achan_stream *in, uint64_t period_ns,
                                             achan_stream **out);

/**
 * The input's items are futures (item_size == sizeof(achan_future *)); the
 * adapter takes ownership of each and runs up to n at once. buffered yields
 * their outputs (out_size bytes) in input order, buffer_unordered as they
 * complete. Futures completing with a status other than ACHAN_OK yield
 * nothing, and so do NULL items and futures whose output_size is not
 * out_size. CLOSED when the input ended and every future completed.
 * ACHAN_INVALID: n 0, or the input's item_size is not that of a pointer.
 */
ACHAN_API achan_status achan_stream_buffered(achan_stream *futures, size_t n, size_t out_size,
                                             achan_stream **out);
/** As achan_stream_buffered, but yields the outputs as the futures complete. */
ACHAN_API achan_status achan_stream_buffer_unordered(achan_stream *futures, size_t n,
                                                     size_t out_size, achan_stream **out);

/**
 * A stream with a one-item look-ahead. achan_stream_peek works like poll_next
 * but keeps the item, so the next poll_next (or peek) returns it again. Only
 * for streams made by achan_stream_peekable (else ACHAN_INVALID).
 */
ACHAN_API achan_status achan_stream_peekable(achan_stream *in, achan_stream **out);
/**
 * Polls a stream made by achan_stream_peekable without consuming: ACHAN_OK
 * (the next item copied to *item, and kept), ACHAN_LAGGED (kept too),
 * ACHAN_PENDING, ACHAN_CLOSED; ACHAN_INVALID for another stream or a NULL
 * argument (cx, cx->waker, item).
 */
ACHAN_API achan_status achan_stream_peek(achan_stream *peekable, achan_context *cx, void *item);

/**
 * Items numbered from 0: item = a uint64_t index, then the input item at
 * offset ACHAN_ENUMERATE_OFFSET.
 */
#define ACHAN_ENUMERATE_OFFSET ((size_t)ACHAN_MAX_ALIGN)
/**
 * Items numbered from 0 (see ACHAN_ENUMERATE_OFFSET): item_size is
 * ACHAN_ENUMERATE_OFFSET + the input's. A LAGGED does not take a number.
 */
ACHAN_API achan_status achan_stream_enumerate(achan_stream *in, achan_stream **out);

/** achan_stream_scan's function: updates *state, writes *out, returns false to end. */
typedef bool (*achan_scan_fn)(void *state, const void *in, void *out, void *user);
/**
 * A stateful map: state (state_size bytes, copied from init) is passed to fn
 * with each item; fn writes *out and returns true to yield it, false to end
 * the stream. Output item_size out_size. ACHAN_INVALID: in, fn or out NULL,
 * or init NULL while state_size > 0.
 */
ACHAN_API achan_status achan_stream_scan(achan_stream *in, size_t state_size, const void *init,
                                         size_t out_size, achan_scan_fn fn, void *user,
                                         achan_user_drop_fn user_drop, achan_stream **out);

/* ------------------------------------------------------------------------ */
/* Sources                                                                   */

/**
 * The n items of the array (copied at creation), then CLOSED. ACHAN_INVALID:
 * out NULL, or items NULL while n * item_size > 0.
 */
ACHAN_API achan_status achan_stream_iter(const void *items, size_t n, size_t item_size,
                                         achan_stream **out);
/**
 * The future's output as one item (if it completes with ACHAN_OK), then
 * CLOSED. Takes ownership of the future; item_size is its output_size.
 */
ACHAN_API achan_status achan_stream_once(achan_future *f, achan_stream **out);
/** CLOSED at once. */
ACHAN_API achan_status achan_stream_empty(size_t item_size, achan_stream **out);
/** PENDING forever (never wakes). */
ACHAN_API achan_status achan_stream_pending(size_t item_size, achan_stream **out);
/** achan_stream_repeat_with's function: writes the next item. */
typedef void (*achan_gen_fn)(void *item, void *user);
/** fn(item, user) writes each item; never ends. ACHAN_INVALID: fn or out NULL. */
ACHAN_API achan_status achan_stream_repeat_with(size_t item_size, achan_gen_fn fn, void *user,
                                                achan_user_drop_fn user_drop,
                                                achan_stream **out);
/** achan_stream_poll_fn's function: a poll_next of your own (stream.h rules). */
typedef achan_status (*achan_poll_fn)(achan_context *cx, void *item, void *user);
/**
 * A stream whose poll_next is fn: it follows the stream.h rules itself. Once
 * fn returned ACHAN_CLOSED it is not called again. ACHAN_INVALID: fn or out
 * NULL.
 */
ACHAN_API achan_status achan_stream_poll_fn(size_t item_size, achan_poll_fn fn, void *user,
                                            achan_user_drop_fn user_drop, achan_stream **out);
/** achan_stream_unfold's function: writes the next item and returns true, or returns false. */
typedef bool (*achan_unfold_fn)(void *state, void *item, void *user);
/**
 * Items from a state machine: state (state_size bytes, copied from init) is
 * passed to fn, which writes the next item and returns true, or returns false
 * to end the stream. ACHAN_INVALID: fn or out NULL, or init NULL while
 * state_size > 0.
 */
ACHAN_API achan_status achan_stream_unfold(size_t state_size, const void *init, size_t item_size,
                                           achan_unfold_fn fn, void *user,
                                           achan_user_drop_fn user_drop, achan_stream **out);

/* ------------------------------------------------------------------------ */
/* Consumers                                                                 */
/*
 * As futures (they own the stream): complete with ACHAN_OK once the stream
 * ended. ACHAN_LAGGED from the stream is skipped (a consumer cannot report
 * it), and so is ACHAN_TIMEOUT from achan_stream_timeout. A consumer future
 * must not be polled after it completed (it then returns ACHAN_INVALID). As
 * `_blocking` helpers (they borrow the stream): run on the calling thread,
 * return ACHAN_OK at the end of the stream or ACHAN_TIMEOUT (the stream is
 * left as it is; its remaining items can still be read), ACHAN_INVALID for
 * a NULL required argument, ACHAN_NOMEM when the thread's parker (or a
 * scratch item above 256 bytes) could not be allocated.
 */

/** achan_stream_fold's function: folds *item into *acc. */
typedef void (*achan_fold_fn)(void *acc, const void *item, void *user);
/**
 * acc (acc_size bytes, copied from init) folded with fn over every item;
 * output: the final acc (output_size acc_size). ACHAN_INVALID: in, fn or out
 * NULL, or init NULL while acc_size > 0.
 */
ACHAN_API achan_status achan_stream_fold(achan_stream *in, size_t acc_size, const void *init,
                                         achan_fold_fn fn, void *user,
                                         achan_user_drop_fn user_drop, achan_future **out);
/** achan_stream_for_each's function: called with every item. */
typedef void (*achan_each_fn)(const void *item, void *user);
/** fn on every item; no output. ACHAN_INVALID: in, fn or out NULL. */
ACHAN_API achan_status achan_stream_for_each(achan_stream *in, achan_each_fn fn, void *user,
                                             achan_user_drop_fn user_drop, achan_future **out);
/** Output: a size_t, the number of items. */
ACHAN_API achan_status achan_stream_count(achan_stream *in, achan_future **out);
/**
 * Copies items into buf (room for max) until the stream ends or buf is full;
 * output: a size_t, the number copied. buf must outlive the future.
 */
ACHAN_API achan_status achan_stream_collect(achan_stream *in, void *buf, size_t max,
                                            achan_future **out);

/** fn folds every item into the caller's *acc, in place. */
ACHAN_API achan_status achan_stream_fold_blocking(achan_stream *s, void *acc, achan_fold_fn fn,
                                                  void *user, int64_t timeout_ns);
/** fn on every item, on the calling thread. */
ACHAN_API achan_status achan_stream_for_each_blocking(achan_stream *s, achan_each_fn fn,
                                                      void *user, int64_t timeout_ns);
/** *count receives the number of items read (also on ACHAN_TIMEOUT). */
ACHAN_API achan_status achan_stream_count_blocking(achan_stream *s, size_t *count,
                                                   int64_t timeout_ns);
/**
 * Copies items into buf (room for max) until the stream ends or buf is full.
 * *n receives how many items were copied (also on ACHAN_TIMEOUT).
 */
ACHAN_API achan_status achan_stream_collect_blocking(achan_stream *s, void *buf, size_t max,
                                                     size_t *n, int64_t timeout_ns);

#ifdef __cplusplus
}
#endif
#endif /* ACHAN_COMBINATORS_H */
