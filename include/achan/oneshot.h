/**
 * @file
 * @brief achan/oneshot.h - a channel for exactly one value.
 *
 * Tokio's oneshot in C: one sender sends at most one value (opts.item_size
 * bytes, copied) to one receiver. The channel is a single allocation; the
 * sender and the receiver point into it.
 *
 *     achan_oneshot_sender *tx; achan_oneshot_receiver *rx;
 *     achan_opts o = {.item_size = sizeof(int)};
 *     if (achan_oneshot_new(&o, &tx, &rx) != ACHAN_OK) abort();
 *     int v = 42;
 *     achan_oneshot_send(tx, &v);              // consumes tx
 *     achan_oneshot_recv_blocking(rx, &v, -1); // v == 42
 *     achan_oneshot_receiver_drop(rx);
 *
 * Semantics (Tokio's):
 *   - achan_oneshot_send consumes the sender whatever it returns, except
 *     ACHAN_INVALID. If the receiver was dropped or closed it returns
 *     ACHAN_CLOSED and the caller keeps its item: it is neither stored nor
 *     passed to item_drop.
 *   - Dropping the sender without sending makes the receiver see ACHAN_CLOSED.
 *   - The receiver sees the value once (ACHAN_OK), then ACHAN_CLOSED on every
 *     later receive. ACHAN_EMPTY / ACHAN_PENDING mean nothing was sent yet
 *     and the sender still exists.
 *   - achan_oneshot_receiver_close refuses later sends (they return
 *     ACHAN_CLOSED, achan_oneshot_sender_is_closed says true, poll_closed is
 *     ready), but a value sent before the close is still received.
 *   - A value sent but never received goes to opts.item_drop exactly once,
 *     when the receiver is dropped.
 *   - The receiver is both a stream (at most one item, then ACHAN_CLOSED
 *     forever) and a future (output_size = item_size; poll returns ACHAN_OK
 *     with the value, ACHAN_PENDING or ACHAN_CLOSED). Both views are the same
 *     object: dropping either drops the receiver.
 *
 * Departure from Tokio: Tokio's Receiver panics when polled after it
 * completed; achan returns ACHAN_CLOSED instead (every receive function, the
 * stream and the future alike), so a receiver is safe to poll in a loop.
 *
 * Wakers: the receiver's latest waker (poll_recv, the stream, the future) and
 * the sender's latest waker (poll_closed) are each kept in one slot. Polling
 * again with a waker that does not wake the same task replaces (and drops)
 * the previous one, so only the latest is woken. A registered waker is kept
 * until the channel no longer needs it: at the latest, it is dropped with
 * the last handle.
 *
 * Concurrency:
 *
 *     call                           | may run concurrently with
 *     -------------------------------+-----------------------------------------
 *     sender_is_closed               | anything on the receiver, and poll_closed
 *                                    | or sender_is_closed on the same sender;
 *                                    | never send or sender_drop on it (they
 *                                    | consume the sender: it may be freed)
 *     send, sender_drop, poll_closed | anything on the receiver; one thread at a
 *                                    | time on the sender
 *     receiver functions, the stream | anything on the sender; one thread at a
 *     and the future                 | time on the receiver
 *
 * Ownership: achan_oneshot_new creates the sender and the receiver. The
 * sender is consumed by exactly one of achan_oneshot_send or
 * achan_oneshot_sender_drop; the receiver is released by exactly one of
 * achan_oneshot_receiver_drop, achan_stream_drop on its stream or
 * achan_future_drop on its future. The channel's memory goes with the last of
 * the two.
 *
 * Preconditions no call can check: a handle is not used after its release
 * (its drop, or achan_oneshot_send for the sender) nor released twice.
 * Breaking them is undefined behaviour; debug builds (without NDEBUG) abort
 * on an assertion when the handle's memory is still there to tell
 * (docs/errors.md).
 */
#ifndef ACHAN_ONESHOT_H
#define ACHAN_ONESHOT_H

#include "achan/stream.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The sender: consumed by achan_oneshot_send or achan_oneshot_sender_drop. */
typedef struct achan_oneshot_sender achan_oneshot_sender;
/** The receiver, which is also a stream and a future; released once (see above). */
typedef struct achan_oneshot_receiver achan_oneshot_receiver;

/**
 * Creates a channel: the sender in *tx, the receiver in *rx. o->capacity is
 * ignored; o->item_drop (may be NULL) receives a value sent but never
 * received. ACHAN_INVALID: o, tx or rx NULL, o->item_size 0 or too large to
 * allocate, or an allocator with a NULL function. ACHAN_NOMEM: the one
 * allocation failed. On failure *tx and *rx are left untouched.
 */
ACHAN_API achan_status achan_oneshot_new(const achan_opts *o, achan_oneshot_sender **tx,
                                         achan_oneshot_receiver **rx);

/**
 * Sends item and consumes tx: ACHAN_OK (item copied; the receiver is woken),
 * ACHAN_CLOSED (the receiver was dropped or closed; the item was not taken
 * and item_drop is not called on it), ACHAN_INVALID (tx or item NULL; tx is
 * not consumed).
 */
ACHAN_API achan_status achan_oneshot_send(achan_oneshot_sender *tx, const void *item);

/**
 * Releases tx without sending: the receiver sees ACHAN_CLOSED (and is
 * woken). NULL is ignored.
 */
ACHAN_API void achan_oneshot_sender_drop(achan_oneshot_sender *tx);

/**
 * True once the receiver was dropped or closed (a send would fail). True for
 * NULL.
 */
ACHAN_API bool achan_oneshot_sender_is_closed(const achan_oneshot_sender *tx);

/**
 * ACHAN_OK once the receiver was dropped or closed, else ACHAN_PENDING with
 * cx's waker registered (replacing the one registered by an earlier call);
 * it is woken when the receiver goes or closes. ACHAN_INVALID: tx, cx or
 * cx->waker NULL.
 */
ACHAN_API achan_status achan_oneshot_poll_closed(achan_oneshot_sender *tx, achan_context *cx);

/**
 * Receives without waiting: ACHAN_OK (value written to *item), ACHAN_EMPTY
 * (nothing sent yet, sender still there), ACHAN_CLOSED (the sender was
 * dropped without sending, the receiver closed before a send, or the value
 * was already received), ACHAN_INVALID (rx or item NULL). Never spuriously
 * EMPTY: a send that returned ACHAN_OK is seen.
 */
ACHAN_API achan_status achan_oneshot_try_recv(achan_oneshot_receiver *rx, void *item);

/**
 * As try_recv, but ACHAN_PENDING instead of ACHAN_EMPTY, with cx's waker
 * registered (replacing the one an earlier poll registered). ACHAN_INVALID:
 * rx, cx, cx->waker or item NULL.
 */
ACHAN_API achan_status achan_oneshot_poll_recv(achan_oneshot_receiver *rx, achan_context *cx,
                                               void *item);

/**
 * Receives, waiting at most timeout_ns: ACHAN_OK, ACHAN_CLOSED, ACHAN_TIMEOUT
 * (also with timeout 0 when nothing was sent yet), ACHAN_INVALID, ACHAN_NOMEM
 * (the thread's parker could not be allocated). After ACHAN_TIMEOUT the
 * receiver may be used again.
 */
ACHAN_API achan_status achan_oneshot_recv_blocking(achan_oneshot_receiver *rx, void *item,
                                                   int64_t timeout_ns);

/**
 * Refuses every later send and wakes the sender's poll_closed. A value sent
 * before stays receivable. Idempotent; no effect after the value was
 * received. NULL is ignored.
 */
ACHAN_API void achan_oneshot_receiver_close(achan_oneshot_receiver *rx);

/**
 * Closes, passes a value sent but not received to item_drop, and releases
 * rx. NULL is ignored.
 */
ACHAN_API void achan_oneshot_receiver_drop(achan_oneshot_receiver *rx);

/**
 * The receiver as a stream of at most one item, then ACHAN_CLOSED forever
 * (the same object: dropping the stream drops the receiver). NULL for NULL.
 */
ACHAN_API achan_stream *achan_oneshot_receiver_stream(achan_oneshot_receiver *rx);

/**
 * The receiver as a future with output_size = item_size: ACHAN_OK with the
 * value, ACHAN_PENDING, or ACHAN_CLOSED (also when polled again after it
 * completed). The same object: dropping the future drops the receiver.
 * NULL for NULL.
 */
ACHAN_API achan_future *achan_oneshot_receiver_future(achan_oneshot_receiver *rx);

#ifdef __cplusplus
}
#endif
#endif /* ACHAN_ONESHOT_H */
