/**
 * @file
 * @brief achan/block.h - the thread parker: blocking waits with timeouts.
 *
 * Every `_blocking` function of achan waits through the calling thread's
 * parker: it polls with a waker that unparks the thread, spins briefly (so a
 * hand-off between two busy threads costs no system call), then parks on a
 * futex (Linux) or a condition variable (other systems, or when built with
 * -DACHAN_PARKER=condvar) until woken or until its deadline.
 *
 * The same parker is available for your own blocking helpers: get the thread
 * waker, poll with it, and park while the poll says ACHAN_PENDING.
 *
 *     achan_waker w;
 *     if (achan_thread_waker(&w) != ACHAN_OK) return ACHAN_NOMEM;
 *     achan_context cx = {&w};
 *     while ((st = achan_stream_poll_next(s, &cx, &item)) == ACHAN_PENDING)
 *         achan_thread_park(-1);
 *     achan_waker_drop(w);
 *
 * Timeouts everywhere are int64_t nanoseconds on the monotonic clock:
 * negative waits forever, 0 does not wait, positive waits at most that long.
 *
 * Concurrency and ownership:
 *
 *     call                          | may run concurrently with
 *     ------------------------------+-------------------------------------------
 *     achan_thread_waker,           | anything; each acts on the calling
 *     achan_thread_park, the        | thread's own parker only
 *     _blocking helpers             |
 *     the thread waker's clone,     | anything, from any thread; the waker may
 *     wake, wake_by_ref, drop       | outlive its thread (it then wakes nothing)
 *
 *     what                          | owned and freed by
 *     ------------------------------+-------------------------------------------
 *     the parker                    | the library: one per thread, freed when
 *                                   | the thread exits and its last waker goes
 *     a waker from                  | the caller: wake or drop it exactly once
 *     achan_thread_waker            |
 */
#ifndef ACHAN_BLOCK_H
#define ACHAN_BLOCK_H

#include "achan/stream.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Writes to *out a waker that unparks the calling thread; drop it when done.
 * ACHAN_OK; ACHAN_INVALID if out is NULL, ACHAN_NOMEM if the thread's parker
 * could not be allocated (the first call on each thread allocates it).
 */
ACHAN_API achan_status achan_thread_waker(achan_waker *out);

/**
 * Parks the calling thread until its waker is woken or timeout_ns passes.
 * A wake that arrived since the last park makes this return at once (the
 * wake is remembered, like Rust's thread::park token). Returns ACHAN_OK after
 * a wake, ACHAN_TIMEOUT when the time ran out, ACHAN_NOMEM as above. May
 * return ACHAN_OK spuriously; callers re-check their condition.
 */
ACHAN_API achan_status achan_thread_park(int64_t timeout_ns);

/** The monotonic clock, in nanoseconds, as used by every timeout. */
ACHAN_API uint64_t achan_monotonic_ns(void);

/**
 * Polls f on the calling thread until it completes or timeout_ns passes.
 * Returns the future's final status (its output written to *out), or
 * ACHAN_TIMEOUT (the future is left as it is, and may be polled again or
 * dropped), ACHAN_INVALID for a NULL f (or a NULL out while f's output_size
 * is not 0), ACHAN_NOMEM as above. f stays the caller's: drop it afterwards.
 */
ACHAN_API achan_status achan_block_on(achan_future *f, void *out, int64_t timeout_ns);

/** "futex" or "condvar": the parker this library was built with. */
ACHAN_API const char *achan_parker_backend(void);

#ifdef __cplusplus
}
#endif
#endif /* ACHAN_BLOCK_H */
