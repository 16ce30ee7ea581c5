/* parker.h - the thread parker and the blocking loop every `_blocking` call uses.
 *
 * Each thread has one parker (allocated on first use, freed when the thread
 * has exited and the last waker pointing to it is gone). A parker holds one
 * token: unpark sets it, park consumes it or sleeps until it is set. Parking
 * spins briefly before it sleeps, so a wake that comes within a microsecond
 * or so costs no system call on either side.
 *
 * Backends: futex (Linux, default there) or a pthread condition variable
 * (-DACHAN_PARKER=condvar, and the default elsewhere).
 */
#ifndef ACHAN_PARKER_H
#define ACHAN_PARKER_H

#include "achan/block.h"

typedef struct achan__parker achan__parker;

/* "Never": a deadline that does not expire. */
#define ACHAN__NO_DEADLINE UINT64_MAX

/* The monotonic deadline timeout_ns from now (negative: never). */
uint64_t achan__deadline_after(int64_t timeout_ns);

/* The calling thread's parker, or NULL when it could not be allocated. */
achan__parker *achan__parker_current(void);

/* A waker that unparks p (holds a reference to it). */
achan_waker achan__parker_waker(achan__parker *p);

/* Consumes p's token, waiting for it until deadline. True when a token was
 * consumed, false when the deadline passed first. */
bool achan__parker_park(achan__parker *p, uint64_t deadline);

/* Sets p's token, waking its thread if it sleeps. Any thread. */
void achan__parker_unpark(achan__parker *p);

/* Backoff for a thread retrying a non-blocking attempt before it parks:
 * first single CPU relax hints between tries (about a microsecond in all, so
 * a busy partner thread on another core is caught without a system call and
 * without adding latency), then sched_yield()s (which hand the CPU to the
 * thread we wait for when both share a core), then the caller should
 * register and park. parker.c says how the numbers were chosen.
 *
 *     achan__backoff b = ACHAN__BACKOFF_INIT;
 *     while (!try_once())
 *         if (!achan__backoff_snooze(&b)) break;   // now register and park
 */
typedef struct achan__backoff {
    unsigned step;
} achan__backoff;
#define ACHAN__BACKOFF_INIT {0}

/* Waits a little before the next try. Returns false when spinning is over. */
bool achan__backoff_snooze(achan__backoff *b);

/* The blocking loop: poll(arg, cx) with the thread's waker until it returns
 * something other than ACHAN_PENDING, parking in between, until deadline. On
 * timeout it calls cancel(arg) (when not NULL) and returns what cancel says:
 * ACHAN_TIMEOUT, or ACHAN_OK when the operation completed after all while
 * being cancelled. Without cancel it returns ACHAN_TIMEOUT. Returns
 * ACHAN_NOMEM when the thread has no parker. */
typedef achan_status (*achan__poll_fn)(void *arg, achan_context *cx);
typedef achan_status (*achan__cancel_fn)(void *arg);

/* For the thread timer (timer.c): while achan__block_poll runs on this
 * thread, makes it poll again at deadline even if nothing wakes it. Returns
 * false (doing nothing) when no blocking loop runs on this thread. */
bool achan__block_wake_at(uint64_t deadline);
achan_status achan__block_poll(achan__poll_fn poll, achan__cancel_fn cancel, void *arg,
                               uint64_t deadline);

#endif /* ACHAN_PARKER_H */
