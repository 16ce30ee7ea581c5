/**
 * @file
 * @brief achan/mpsc.h - multi-producer, single-consumer channel, bounded or unbounded.
 *
 * Tokio's mpsc in C. Items are copied by value (opts.item_size bytes). A
 * bounded channel (opts.capacity > 0) holds exactly `capacity` items and
 * makes senders wait when full; an unbounded one (capacity 0) never does.
 *
 *     achan_mpsc_sender *tx; achan_mpsc_receiver *rx;
 *     achan_opts o = {.item_size = sizeof(int), .capacity = 16};
 *     if (achan_mpsc_new(&o, &tx, &rx) != ACHAN_OK) abort();
 *     int v = 42;
 *     achan_mpsc_send_blocking(tx, &v, -1);
 *     achan_mpsc_recv_blocking(rx, &v, -1);
 *
 * Semantics (Tokio's):
 *   - Items from one sender arrive in the order sent.
 *   - Senders waiting for capacity (poll_send returned PENDING, or inside
 *     send_blocking) are served first come, first served: a slot freed while
 *     senders wait belongs to the first of them. A try_send gets ACHAN_FULL
 *     meanwhile, even from a waiting sender's own handle; only that sender's
 *     next poll_send takes the slot.
 *   - When every sender has been dropped, or after achan_mpsc_receiver_close,
 *     the receiver still gets every buffered item, then ACHAN_CLOSED forever.
 *   - After the receiver closed or was dropped, sends return ACHAN_CLOSED and
 *     the caller keeps its item. A send already granted a slot before the
 *     close still completes (its item is received), as in Tokio.
 *   - Items never received (still buffered when the channel goes) are passed
 *     to opts.item_drop, each exactly once.
 *
 * Concurrency:
 *
 *     call                         | may run concurrently with
 *     -----------------------------+-------------------------------------------
 *     try_send, capacity,          | anything, even on the same sender handle
 *     sender_is_closed             |
 *     poll_send, send_blocking,    | anything on other handles; one thread at a
 *     poll_send_cancel,            | time per sender handle
 *     sender_clone, sender_drop    |
 *     receiver functions           | anything on sender handles; one thread at
 *                                  | a time on the receiver
 *
 * Ownership: achan_mpsc_new creates one sender and the receiver. Every
 * sender (including clones) is released with achan_mpsc_sender_drop, the
 * receiver with achan_mpsc_receiver_drop (or achan_stream_drop on its stream).
 * The channel's memory goes with the last handle.
 *
 * Preconditions no call can check: a handle is not used after its release
 * (its drop) nor released twice. Breaking them is undefined behaviour;
 * debug builds (without NDEBUG) abort on an assertion when the handle's
 * memory is still there to tell (docs/errors.md).
 */
#ifndef ACHAN_MPSC_H
#define ACHAN_MPSC_H

#include "achan/stream.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A sender: one per thread (clone it); released with achan_mpsc_sender_drop. */
typedef struct achan_mpsc_sender achan_mpsc_sender;
/** The receiver, which is also a stream; released with achan_mpsc_receiver_drop. */
typedef struct achan_mpsc_receiver achan_mpsc_receiver;

/**
 * Creates a channel: one sender in *tx, the receiver in *rx.
 * ACHAN_INVALID: o, tx or rx NULL, o->item_size 0, a capacity too large to
 * address, or an allocator with a NULL function. ACHAN_NOMEM: allocation
 * failed. On failure *tx and *rx are left untouched.
 */
ACHAN_API achan_status achan_mpsc_new(const achan_opts *o, achan_mpsc_sender **tx,
                                      achan_mpsc_receiver **rx);

/** A new sender for the same channel, or NULL (tx NULL, or out of memory). */
ACHAN_API achan_mpsc_sender *achan_mpsc_sender_clone(achan_mpsc_sender *tx);

/**
 * Releases tx. If tx was waiting in poll_send it leaves the queue, passing on
 * any slot it had been granted. Dropping the last sender lets the receiver
 * drain, then see ACHAN_CLOSED. NULL is ignored.
 */
ACHAN_API void achan_mpsc_sender_drop(achan_mpsc_sender *tx);

/**
 * Sends without waiting: ACHAN_OK (item copied), ACHAN_FULL (no free slot,
 * or senders are waiting for one), ACHAN_CLOSED (receiver closed or gone; the
 * item was not taken), ACHAN_INVALID (NULL argument), ACHAN_NOMEM (unbounded
 * only: a new segment could not be allocated; nothing was sent).
 */
ACHAN_API achan_status achan_mpsc_try_send(achan_mpsc_sender *tx, const void *item);

/**
 * Sends, or registers cx's waker and waits for a slot in FIFO order:
 * ACHAN_OK (item copied), ACHAN_PENDING (item not taken; poll again with the
 * same item after the wake), ACHAN_CLOSED (item not taken), ACHAN_INVALID,
 * ACHAN_NOMEM (unbounded only, as try_send). A sender whose poll_send returned
 * PENDING holds its place in the queue until it polls again, calls
 * achan_mpsc_poll_send_cancel, or is dropped.
 */
ACHAN_API achan_status achan_mpsc_poll_send(achan_mpsc_sender *tx, achan_context *cx,
                                            const void *item);

/**
 * Gives up a send that returned ACHAN_PENDING: leaves the queue, passing on
 * any slot already granted. Does nothing if tx is not waiting.
 */
ACHAN_API void achan_mpsc_poll_send_cancel(achan_mpsc_sender *tx);

/**
 * Sends, waiting at most timeout_ns for a slot: ACHAN_OK, ACHAN_TIMEOUT
 * (item not taken; also with timeout 0 when full), ACHAN_CLOSED, ACHAN_INVALID,
 * ACHAN_NOMEM (unbounded: as try_send; or the thread's parker could not be
 * allocated). Waits in the same FIFO queue as poll_send.
 */
ACHAN_API achan_status achan_mpsc_send_blocking(achan_mpsc_sender *tx, const void *item,
                                                int64_t timeout_ns);

/** True once the receiver closed or was dropped (sends will fail). True for NULL. */
ACHAN_API bool achan_mpsc_sender_is_closed(const achan_mpsc_sender *tx);

/**
 * Receives without waiting: ACHAN_OK (item written), ACHAN_EMPTY (nothing
 * buffered, still open), ACHAN_CLOSED (closed and drained), ACHAN_INVALID.
 * Never spuriously EMPTY: if a send has completed, try_recv sees its item.
 */
ACHAN_API achan_status achan_mpsc_try_recv(achan_mpsc_receiver *rx, void *item);

/**
 * Receives, or registers cx's waker: ACHAN_OK, ACHAN_PENDING, ACHAN_CLOSED
 * (closed and drained; again on every later call), ACHAN_INVALID. Inside a
 * budgeted task (achan_coop_proceed) each call that has not ended spends one
 * unit; once the budget is spent it wakes cx's waker and returns
 * ACHAN_PENDING, so a task draining an always-full channel yields.
 */
ACHAN_API achan_status achan_mpsc_poll_recv(achan_mpsc_receiver *rx, achan_context *cx,
                                            void *item);

/**
 * Receives up to max items into the array items (max * item_size bytes) and
 * returns how many were written. *st is ACHAN_OK when that is > 0, else
 * ACHAN_PENDING (waker registered) or ACHAN_CLOSED. max 0 or a NULL argument
 * (st may be NULL) is ACHAN_INVALID, and returns 0.
 */
ACHAN_API size_t achan_mpsc_poll_recv_many(achan_mpsc_receiver *rx, achan_context *cx,
                                           void *items, size_t max, achan_status *st);

/**
 * Receives, waiting at most timeout_ns: ACHAN_OK, ACHAN_CLOSED, ACHAN_TIMEOUT
 * (also with timeout 0 when empty), ACHAN_INVALID, ACHAN_NOMEM (no parker).
 */
ACHAN_API achan_status achan_mpsc_recv_blocking(achan_mpsc_receiver *rx, void *item,
                                                int64_t timeout_ns);

/**
 * Refuses every later send (senders see ACHAN_CLOSED and are woken) while
 * buffered items stay receivable. Idempotent. NULL is ignored.
 */
ACHAN_API void achan_mpsc_receiver_close(achan_mpsc_receiver *rx);

/**
 * Closes, passes every buffered item to item_drop, and releases rx. NULL is
 * ignored.
 */
ACHAN_API void achan_mpsc_receiver_drop(achan_mpsc_receiver *rx);

/** Items buffered now (a snapshot; 0 for NULL). */
ACHAN_API size_t achan_mpsc_len(const achan_mpsc_receiver *rx);

/**
 * Slots a try_send could take now: capacity minus buffered items minus slots
 * granted to waiting senders; SIZE_MAX if unbounded; 0 for NULL.
 */
ACHAN_API size_t achan_mpsc_capacity(const achan_mpsc_sender *tx);

/**
 * The receiver as a stream (the same object: dropping the stream drops the
 * receiver). poll_next behaves as achan_mpsc_poll_recv. NULL for NULL.
 */
ACHAN_API achan_stream *achan_mpsc_receiver_stream(achan_mpsc_receiver *rx);

#ifdef __cplusplus
}
#endif
#endif /* ACHAN_MPSC_H */
