/**
 * @file
 * @brief achan/broadcast.h - every message to every receiver, bounded history, lag detection.
 *
 * Tokio's broadcast channel in C. Any number of senders and receivers; each
 * receiver gets every message sent after it subscribed, in order. The
 * channel keeps the last `capacity` messages (capacity rounded up to a power
 * of two, as in Tokio). A send never waits: when the history is full it
 * overwrites the oldest message, and a receiver that had not read it yet
 * learns that it lagged.
 *
 *     achan_broadcast_sender *tx; achan_broadcast_receiver *rx;
 *     achan_opts o = {.item_size = sizeof(struct event), .capacity = 64};
 *     if (achan_broadcast_new(&o, &tx, &rx) != ACHAN_OK) abort();
 *     achan_broadcast_receiver *rx2 = achan_broadcast_subscribe(tx);
 *     achan_broadcast_send(tx, &ev, NULL);              // both receivers get ev
 *     uint64_t missed;
 *     switch (achan_broadcast_recv_blocking(rx, &ev, &missed, -1)) {
 *     case ACHAN_OK:     handle(&ev); break;
 *     case ACHAN_LAGGED: note(missed); break;           // next recv: oldest held
 *     case ACHAN_CLOSED: done(); break;                 // every sender gone
 *     default: break;
 *     }
 *
 * Semantics (Tokio's, lag arithmetic included). With P messages sent so far,
 * a receiver whose next message is number N, and the rounded capacity C:
 *   - If P - N > C the receiver lagged: its next receive returns ACHAN_LAGGED
 *     with *skipped = P - C - N, writes no item, and moves the receiver to
 *     P - C, the oldest message still held; the receive after that returns it
 *     (unless it was overwritten meanwhile: then another LAGGED). Lag is per
 *     receiver; the others are not affected.
 *   - achan_broadcast_len is P - N: it can exceed C while a lag is pending.
 *   - A send with no receiver returns ACHAN_CLOSED and stores nothing; a
 *     later subscribe makes sends succeed again.
 *   - A receiver sees ACHAN_CLOSED only after it has read (or lagged past)
 *     every message still held and every sender is gone; then on every later
 *     call too.
 *   - Streams and `_blocking` calls pass ACHAN_LAGGED through; the stream
 *     continues with the oldest message held.
 *   - Items are plain bytes (opts.item_size of them) copied to each receiver:
 *     several receivers hold a message at once, so opts.item_drop is ignored.
 *     Send values, or pointers to memory that outlives every receiver.
 *   - Optional out-parameters (receivers, skipped) may be NULL. *skipped is
 *     written on every call that does not return ACHAN_INVALID: the number
 *     of messages missed for ACHAN_LAGGED, 0 otherwise.
 *
 * Positions and counts are size_t: on a 32-bit system a receiver that falls
 * more than 2^31 messages behind misjudges how much it missed, and
 * achan_broadcast_receiver_skipped wraps after 2^32.
 *
 * Concurrency:
 *
 *     call                          | may run concurrently with
 *     ------------------------------+-------------------------------------------
 *     send, subscribe, sender_clone,| anything, even on the same handle (len
 *     receiver_count, resubscribe,  | and receiver_skipped are snapshots when
 *     len, receiver_skipped         | the receiver is in use elsewhere)
 *     sender_drop                   | anything on other handles
 *     try_recv, poll_recv,          | anything on other handles; one thread at a
 *     recv_blocking, receiver_drop, | time per receiver
 *     the receiver's stream         |
 *
 * No receiver ever holds up a send, and sends and receives take no lock:
 * only a receiver that has to wait, and a send that finds receivers
 * waiting, take the waiting list's lock. A send waits for another send only
 * when both landed on the same slot a lap apart and the earlier one is still
 * copying its item (with capacity 1 and several senders, say).
 *
 * Ownership: achan_broadcast_new creates one sender and one receiver. Every
 * sender (including clones) is released with achan_broadcast_sender_drop,
 * every receiver (including subscribed ones) with
 * achan_broadcast_receiver_drop (or achan_stream_drop on its stream). The
 * channel's memory goes with the last handle.
 *
 * Preconditions no call can check: a handle is not used after its release
 * (its drop) nor released twice. Breaking them is undefined behaviour;
 * debug builds (without NDEBUG) abort on an assertion when the handle's
 * memory is still there to tell (docs/errors.md).
 */
#ifndef ACHAN_BROADCAST_H
#define ACHAN_BROADCAST_H

#include "achan/stream.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A sender (clone it freely); released with achan_broadcast_sender_drop. */
typedef struct achan_broadcast_sender achan_broadcast_sender;
/** A receiver, which is also a stream; released with achan_broadcast_receiver_drop. */
typedef struct achan_broadcast_receiver achan_broadcast_receiver;

/**
 * Creates a channel holding the last o->capacity messages (rounded up to a
 * power of two): one sender in *tx, one receiver in *rx. ACHAN_INVALID: o,
 * tx or rx NULL, o->item_size 0, o->capacity 0 or above SIZE_MAX / 2, a
 * history too large to address, or an allocator with a NULL function.
 * ACHAN_NOMEM: allocation failed. On failure *tx and *rx are left untouched.
 * o->item_drop is ignored (see above).
 */
ACHAN_API achan_status achan_broadcast_new(const achan_opts *o, achan_broadcast_sender **tx,
                                           achan_broadcast_receiver **rx);

/** A new sender for the same channel, or NULL (tx NULL, or out of memory). */
ACHAN_API achan_broadcast_sender *achan_broadcast_sender_clone(achan_broadcast_sender *tx);

/**
 * Releases tx. Dropping the last sender wakes every waiting receiver; each
 * reads what is still held, then sees ACHAN_CLOSED. NULL is ignored.
 */
ACHAN_API void achan_broadcast_sender_drop(achan_broadcast_sender *tx);

/**
 * Sends item to every current receiver without waiting, overwriting the
 * oldest message when the history is full, and wakes the receivers waiting.
 * ACHAN_OK; ACHAN_CLOSED when there is no receiver (nothing stored);
 * ACHAN_INVALID for a NULL tx or item. *receivers (may be NULL) gets the
 * number of receivers at the time of the send (0 with ACHAN_CLOSED); a
 * subscribe racing with the send may or may not be counted.
 */
ACHAN_API achan_status achan_broadcast_send(achan_broadcast_sender *tx, const void *item,
                                            size_t *receivers);

/**
 * A new receiver that gets the messages sent after this call (not the ones
 * held now). Reopens a channel whose receivers were all dropped. NULL when tx
 * is NULL or out of memory.
 */
ACHAN_API achan_broadcast_receiver *achan_broadcast_subscribe(achan_broadcast_sender *tx);

/**
 * A new receiver of rx's channel, at the current end (not at rx's position:
 * the backlog is not copied). Works after every sender is gone (the new
 * receiver then sees ACHAN_CLOSED). NULL when rx is NULL or out of memory.
 */
ACHAN_API achan_broadcast_receiver *achan_broadcast_resubscribe(achan_broadcast_receiver *rx);

/** Receivers alive now (0 for NULL). */
ACHAN_API size_t achan_broadcast_receiver_count(const achan_broadcast_sender *tx);

/**
 * Receives without waiting: ACHAN_OK (item written), ACHAN_EMPTY (nothing
 * new, senders remain), ACHAN_LAGGED (*skipped messages missed, nothing
 * written; call again for the oldest held), ACHAN_CLOSED (everything read and
 * every sender gone), ACHAN_INVALID (rx or item NULL). Never spuriously EMPTY:
 * a message whose send has returned is seen.
 */
ACHAN_API achan_status achan_broadcast_try_recv(achan_broadcast_receiver *rx, void *item,
                                                uint64_t *skipped);

/**
 * As try_recv, but instead of ACHAN_EMPTY registers cx's waker (replacing
 * the one this receiver registered before) and returns ACHAN_PENDING; the
 * waker is woken by the next send or by the last sender's drop.
 */
ACHAN_API achan_status achan_broadcast_poll_recv(achan_broadcast_receiver *rx, achan_context *cx,
                                                 void *item, uint64_t *skipped);

/**
 * Receives, waiting at most timeout_ns: ACHAN_OK, ACHAN_LAGGED, ACHAN_CLOSED,
 * ACHAN_TIMEOUT (also with timeout 0 when nothing is there), ACHAN_INVALID,
 * ACHAN_NOMEM (the thread's parker could not be allocated).
 */
ACHAN_API achan_status achan_broadcast_recv_blocking(achan_broadcast_receiver *rx, void *item,
                                                     uint64_t *skipped, int64_t timeout_ns);

/**
 * Messages this receiver has yet to read: sent minus read, so more than the
 * capacity while a lag is pending (0 for NULL).
 */
ACHAN_API size_t achan_broadcast_len(const achan_broadcast_receiver *rx);

/**
 * Messages this receiver has missed so far, the sum of every LAGGED count
 * (0 for NULL).
 */
ACHAN_API uint64_t achan_broadcast_receiver_skipped(const achan_broadcast_receiver *rx);

/** Releases rx (and its registered waker). NULL is ignored. */
ACHAN_API void achan_broadcast_receiver_drop(achan_broadcast_receiver *rx);

/**
 * The receiver as a stream (the same object: dropping the stream drops the
 * receiver). poll_next behaves as achan_broadcast_poll_recv: ACHAN_LAGGED
 * writes nothing and the next poll continues with the oldest message held;
 * the count is added to achan_broadcast_receiver_skipped. NULL for NULL.
 */
ACHAN_API achan_stream *achan_broadcast_receiver_stream(achan_broadcast_receiver *rx);

#ifdef __cplusplus
}
#endif
#endif /* ACHAN_BROADCAST_H */
