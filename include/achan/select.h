/**
 * @file
 * @brief achan/select.h - wait on several streams at once, fairly.
 *
 *     achan_stream *ins[2] = {jobs, control};
 *     achan_select *sel;
 *     achan_select_new(ins, 2, &sel);
 *     size_t which;
 *     union { struct job j; struct cmd c; } item;
 *     while (achan_select_blocking(sel, &item, &which, -1) != ACHAN_CLOSED) ...
 *
 * A select polls its streams with one waker: each call starts after the
 * stream that produced last time, so a stream that is always ready cannot
 * starve the ones after it (every ready stream is served within n calls).
 *
 * Results, with *index the stream concerned:
 *
 *     ACHAN_OK       an item of that stream was written to *item (item must
 *                    hold the largest item_size of the streams);
 *     ACHAN_LAGGED   that stream reported a lag (nothing written);
 *     ACHAN_CLOSED   that stream ended (reported once per stream; it is not
 *                    polled again). When every stream has ended: ACHAN_CLOSED
 *                    with *index = SIZE_MAX, on every later call;
 *     ACHAN_PENDING  (poll) nothing ready, the waker is registered with every
 *                    open stream (*index untouched);
 *     ACHAN_TIMEOUT  (blocking) time ran out, with *index = SIZE_MAX. A stream
 *                    that yields ACHAN_TIMEOUT itself (achan_stream_timeout)
 *                    is reported like an item, with its index: any status
 *                    other than PENDING and CLOSED is passed on that way.
 *
 * item and index are required (ACHAN_INVALID when NULL).
 *
 * Concurrency:
 *
 *     call                          | may run concurrently with
 *     ------------------------------+-------------------------------------------
 *     achan_select_new              | anything except achan_set_default_allocator
 *                                   | (it copies the stream pointers, and polls
 *                                   | nothing)
 *     achan_select_poll,            | anything on other selects and streams; one
 *     achan_select_blocking,        | thread at a time per select, and nothing
 *     achan_select_drop             | else polls its streams meanwhile
 *
 * Ownership: achan_select_new creates the select, released with
 * achan_select_drop. The select borrows its streams: the caller still owns
 * them (ended ones too) and drops them after the select. The ins array is
 * copied and need not outlive achan_select_new. A poll that returns
 * ACHAN_PENDING leaves a clone of cx's waker with every open stream, which
 * each stream releases as usual (when it wakes it, replaces it or is
 * dropped).
 */
#ifndef ACHAN_SELECT_H
#define ACHAN_SELECT_H

#include "achan/stream.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A select over borrowed streams; released with achan_select_drop. */
typedef struct achan_select achan_select;

/**
 * A select over the n streams of ins (n >= 1; the array is copied, the
 * streams are borrowed). ACHAN_INVALID (NULL, n == 0, a NULL stream),
 * ACHAN_NOMEM.
 */
ACHAN_API achan_status achan_select_new(achan_stream *const *ins, size_t n, achan_select **out);

/**
 * Polls the open streams once each, starting after the one that produced
 * last, until one has something to report: ACHAN_OK, ACHAN_LAGGED, ACHAN_CLOSED
 * (see above) or ACHAN_PENDING with cx's waker registered with every open
 * stream. ACHAN_INVALID: sel, cx, cx->waker, item or index NULL.
 */
ACHAN_API achan_status achan_select_poll(achan_select *sel, achan_context *cx, void *item,
                                         size_t *index);

/**
 * As achan_select_poll on the calling thread, waiting at most timeout_ns:
 * ACHAN_OK, ACHAN_LAGGED, ACHAN_CLOSED, ACHAN_TIMEOUT (*index = SIZE_MAX;
 * also with timeout 0 when nothing is ready), ACHAN_INVALID, ACHAN_NOMEM (the
 * thread's parker could not be allocated).
 */
ACHAN_API achan_status achan_select_blocking(achan_select *sel, void *item, size_t *index,
                                             int64_t timeout_ns);

/** Releases the select (not its streams). NULL is ignored. */
ACHAN_API void achan_select_drop(achan_select *sel);

#ifdef __cplusplus
}
#endif
#endif /* ACHAN_SELECT_H */
