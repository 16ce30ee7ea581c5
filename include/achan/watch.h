/**
 * @file
 * @brief achan/watch.h - a single value that changes over time, watched by many.
 *
 * Tokio's watch in C: the channel holds one value (opts.item_size bytes); the
 * sender replaces or modifies it, and every receiver can read the latest
 * value and wait for the next change. Receivers that fall behind skip
 * intermediate values: they always see the latest one.
 *
 *     struct config cfg = {...};
 *     achan_opts o = {.item_size = sizeof cfg};
 *     achan_watch_sender *tx; achan_watch_receiver *rx;
 *     if (achan_watch_new(&o, &cfg, &tx, &rx) != ACHAN_OK) abort();
 *     // reader thread:
 *     while (achan_watch_changed_blocking(rx, -1) == ACHAN_OK) {
 *         achan_watch_borrow_and_update(rx, &cfg);
 *         apply(&cfg);
 *     }
 *     // writer: achan_watch_send(tx, &new_cfg); ... achan_watch_sender_drop(tx);
 *
 * Values are plain bytes, copied out to each reader (several readers hold
 * the value at once), so opts.item_drop is not used; opts.capacity is
 * ignored. A reader never blocks the writer and never sees a torn value,
 * whatever the value's size: readers copy it lock-free and retry when a
 * write overlapped their copy.
 *
 * Versions (Tokio's rules). The channel counts changes; each receiver
 * remembers the version it has seen. The value current when a receiver is
 * created (achan_watch_new, subscribe) counts as seen; receiver_clone copies
 * the seen version.
 *   - has_changed: ACHAN_CLOSED whenever the sender is gone (even with an
 *     unseen value), else ACHAN_OK (unseen value) or ACHAN_EMPTY.
 *   - poll_changed / changed_blocking: ACHAN_OK and mark seen whenever an
 *     unseen value exists, even after the sender is gone; ACHAN_CLOSED only
 *     when the sender is gone and the current value was seen.
 *   - send: ACHAN_CLOSED when there is no receiver (the value is not stored).
 *     send_replace and send_modify always store and notify; send_if_modified
 *     always keeps the function's changes but notifies (and counts a new
 *     version) only when the function returns true.
 *   - subscribe on a channel whose receivers are all gone reopens it.
 *   - poll_closed is ACHAN_OK once no receiver is left.
 *
 * The receiver as a stream (achan_watch_receiver_stream): the first poll
 * yields the current value at once (seen or not), then each poll yields the
 * latest value after a change (intermediate values may be skipped), then
 * ACHAN_CLOSED forever once the sender is gone and the last value was
 * yielded. Each item is marked seen, as borrow_and_update does.
 * achan_watch_receiver_stream_from_changes skips the first, immediate item.
 *
 * Concurrency:
 *
 *     call                             | may run concurrently with
 *     ---------------------------------+---------------------------------------
 *     send, send_replace, send_modify, | anything, even on the same sender
 *     send_if_modified, subscribe,     | handle: writers are serialised among
 *     receiver_count                   | themselves, readers are never blocked
 *     poll_closed, sender_drop         | anything on receivers; one thread at a
 *                                      | time on the sender
 *     receiver functions, the stream   | anything on other handles; one thread
 *                                      | at a time per receiver
 *
 * The functions passed to send_modify and send_if_modified run while the
 * writers' lock is held: they must not call a send function of the same
 * channel (that would deadlock). Readers are not affected by them.
 *
 * Ownership: achan_watch_new creates the sender and one receiver; subscribe
 * and receiver_clone create more. The sender is released with
 * achan_watch_sender_drop, every receiver with achan_watch_receiver_drop (or
 * achan_stream_drop on its stream). The channel's memory goes with the last
 * handle.
 *
 * Preconditions no call can check: a handle is not used after its release
 * (its drop) nor released twice. Breaking them is undefined behaviour;
 * debug builds (without NDEBUG) abort on an assertion when the handle's
 * memory is still there to tell (docs/errors.md).
 */
#ifndef ACHAN_WATCH_H
#define ACHAN_WATCH_H

#include "achan/stream.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The sender (one per channel); released with achan_watch_sender_drop. */
typedef struct achan_watch_sender achan_watch_sender;
/** A receiver, which is also a stream; released with achan_watch_receiver_drop. */
typedef struct achan_watch_receiver achan_watch_receiver;

/**
 * Creates a channel holding a copy of *initial: the sender in *tx, a receiver
 * (which has seen the initial value) in *rx. ACHAN_INVALID: o, initial, tx or
 * rx NULL, o->item_size 0 or too large to allocate, or an allocator with a
 * NULL function. ACHAN_NOMEM: an allocation (or the writers' sleeping mutex or
 * condition variable) failed.
 * On failure *tx and *rx are left untouched.
 */
ACHAN_API achan_status achan_watch_new(const achan_opts *o, const void *initial,
                                       achan_watch_sender **tx, achan_watch_receiver **rx);

/**
 * Stores a copy of *value and wakes every waiting receiver: ACHAN_OK, or
 * ACHAN_CLOSED when no receiver exists (nothing stored), ACHAN_INVALID (tx or
 * value NULL).
 */
ACHAN_API achan_status achan_watch_send(achan_watch_sender *tx, const void *value);

/**
 * Stores a copy of *value even without receivers, and wakes every waiting
 * receiver. The previous value is copied to *old_out unless old_out is NULL.
 * Does nothing when tx or value is NULL.
 */
ACHAN_API void achan_watch_send_replace(achan_watch_sender *tx, const void *value, void *old_out);

/**
 * Calls fn(value, u) on the current value, stores the result and wakes every
 * waiting receiver, even without receivers. Does nothing when tx or fn is
 * NULL. fn runs with the writers' lock held (see above).
 */
ACHAN_API void achan_watch_send_modify(achan_watch_sender *tx, void (*fn)(void *value, void *u),
                                       void *u);

/**
 * Calls fn(value, u) on the current value and stores the result. Only when
 * fn returns true is a new version counted and are waiting receivers woken;
 * when it returns false its changes stay, silently (borrow sees them,
 * has_changed does not). Returns what fn returned; false when tx or fn is
 * NULL (nothing called).
 */
ACHAN_API bool achan_watch_send_if_modified(achan_watch_sender *tx,
                                            bool (*fn)(void *value, void *u), void *u);

/**
 * A new receiver that has seen the current value. Reopens a channel whose
 * receivers were all gone. NULL when tx is NULL or allocation failed.
 */
ACHAN_API achan_watch_receiver *achan_watch_subscribe(achan_watch_sender *tx);

/** Receivers alive now (a snapshot; 0 for NULL). */
ACHAN_API size_t achan_watch_receiver_count(const achan_watch_sender *tx);

/**
 * ACHAN_OK once no receiver is left, else ACHAN_PENDING with cx's waker
 * registered (replacing the one an earlier call registered): it is woken
 * when the last receiver goes. ACHAN_INVALID: tx, cx or cx->waker NULL.
 */
ACHAN_API achan_status achan_watch_poll_closed(achan_watch_sender *tx, achan_context *cx);

/**
 * Releases the sender: receivers are woken, see the last value, then
 * ACHAN_CLOSED. NULL is ignored.
 */
ACHAN_API void achan_watch_sender_drop(achan_watch_sender *tx);

/**
 * A new receiver for the same channel with the same seen version as rx.
 * NULL when rx is NULL or allocation failed.
 */
ACHAN_API achan_watch_receiver *achan_watch_receiver_clone(achan_watch_receiver *rx);

/**
 * Copies the current value to *out (item_size bytes); the seen version is
 * unchanged. Does nothing when rx or out is NULL.
 */
ACHAN_API void achan_watch_borrow(achan_watch_receiver *rx, void *out);

/**
 * Copies the current value to *out and marks exactly that value's version
 * seen. Does nothing when rx or out is NULL.
 */
ACHAN_API void achan_watch_borrow_and_update(achan_watch_receiver *rx, void *out);

/**
 * ACHAN_CLOSED when the sender is gone; else ACHAN_OK when a value rx has
 * not seen exists, ACHAN_EMPTY when not. Marks nothing. ACHAN_INVALID for
 * NULL.
 */
ACHAN_API achan_status achan_watch_has_changed(const achan_watch_receiver *rx);

/**
 * ACHAN_OK (and marks seen) when an unseen value exists, even after the
 * sender is gone; ACHAN_CLOSED when the sender is gone and the current value
 * was seen; else ACHAN_PENDING with cx's waker registered (replacing the one
 * an earlier poll registered), woken by the next change or the sender's
 * drop. ACHAN_INVALID: rx, cx or cx->waker NULL.
 */
ACHAN_API achan_status achan_watch_poll_changed(achan_watch_receiver *rx, achan_context *cx);

/**
 * As poll_changed, waiting at most timeout_ns: ACHAN_OK, ACHAN_CLOSED,
 * ACHAN_TIMEOUT (also with timeout 0 when nothing changed), ACHAN_INVALID,
 * ACHAN_NOMEM (the thread's parker could not be allocated).
 */
ACHAN_API achan_status achan_watch_changed_blocking(achan_watch_receiver *rx, int64_t timeout_ns);

/**
 * Makes the current value count as unseen (Tokio's mark_changed: the seen
 * version steps back one, wrapping). NULL is ignored.
 */
ACHAN_API void achan_watch_mark_changed(achan_watch_receiver *rx);

/**
 * Makes the current value count as seen without reading it. NULL is
 * ignored.
 */
ACHAN_API void achan_watch_mark_unchanged(achan_watch_receiver *rx);

/**
 * Releases rx (and stops any wait it registered). The last receiver's drop
 * wakes the sender's poll_closed. NULL is ignored.
 */
ACHAN_API void achan_watch_receiver_drop(achan_watch_receiver *rx);

/**
 * The receiver as a stream of values (see above; the same object: dropping
 * the stream drops the receiver). NULL for NULL.
 */
ACHAN_API achan_stream *achan_watch_receiver_stream(achan_watch_receiver *rx);

/**
 * The receiver as a stream that skips the current value: its first item is
 * the value after the next change (tokio-stream's WatchStream::from_changes).
 * Otherwise as achan_watch_receiver_stream, and the same object; call it
 * before the stream's first poll. NULL for NULL.
 */
ACHAN_API achan_stream *achan_watch_receiver_stream_from_changes(achan_watch_receiver *rx);

#ifdef __cplusplus
}
#endif
#endif /* ACHAN_WATCH_H */
