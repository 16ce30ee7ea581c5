/**
 * @file
 * @brief achan/fd.h - a waker that makes a file descriptor readable.
 *
 * Lets any readiness loop (poll, epoll, kqueue, io_uring, select) drive achan
 * streams without a thread per channel: poll your streams with this waker,
 * and when they say ACHAN_PENDING, wait for the fd to become readable
 * alongside your sockets.
 *
 *     achan_fd_waker *fw;
 *     achan_fd_waker_new(&fw);
 *     achan_waker w = achan_fd_waker_waker(fw);
 *     achan_context cx = {&w};
 *     // add achan_fd_waker_fd(fw) to your epoll set (EPOLLIN)
 *     for (;;) {
 *         achan_fd_waker_clear(fw);                 // 1. clear ...
 *         while (achan_stream_poll_next(s, &cx, &item) == ACHAN_OK)
 *             handle(&item);                         // 2. ... then poll
 *         epoll_wait(...);                           // 3. sleep until readable
 *     }
 *
 * Clear first, then poll: a wake that happens after the clear keeps the fd
 * readable, so it is never lost. Wakes coalesce (any number of wakes before a
 * clear leave one readable event), are safe from any thread, and cost one
 * atomic exchange when the fd is already readable.
 *
 * Backends: eventfd on Linux (default), a non-blocking pipe elsewhere or when
 * asked for with achan_fd_waker_new_pipe.
 *
 * Concurrency:
 *
 *     call                          | may run concurrently with
 *     ------------------------------+-------------------------------------------
 *     achan_fd_waker_new,           | anything
 *     achan_fd_waker_new_pipe       |
 *     the waker's clone, wake,      | anything, from any thread, even after
 *     wake_by_ref and drop          | achan_fd_waker_drop
 *     achan_fd_waker_waker          | anything but achan_fd_waker_drop, from any
 *                                   | thread: it needs the creator's reference
 *     achan_fd_waker_fd,            | the wakers' functions, and
 *     achan_fd_waker_clear,         | achan_fd_waker_waker (but not the drop);
 *     achan_fd_waker_backend,       | one thread at a time for these four: the
 *     achan_fd_waker_drop           | loop's
 *
 * Ownership: achan_fd_waker_new creates the fd waker holding the creator's
 * reference, which achan_fd_waker_drop releases; each waker from
 * achan_fd_waker_waker (and each clone of it) holds another, released by its
 * wake or drop. The descriptor achan_fd_waker_fd returns belongs to the fd
 * waker: wait on it, but never read or close it yourself. It is closed (with
 * the pipe's other end), and the memory (from malloc, not
 * achan_default_allocator) freed, with the last reference, so a late wake
 * never writes to a reused descriptor.
 */
#ifndef ACHAN_FD_H
#define ACHAN_FD_H

#include "achan/waker.h"

#ifdef __cplusplus
extern "C" {
#endif

/** An fd waker; created with achan_fd_waker_new, released with achan_fd_waker_drop. */
typedef struct achan_fd_waker achan_fd_waker;

/**
 * Creates an fd waker in *out (an eventfd on Linux, a pipe elsewhere):
 * ACHAN_OK, ACHAN_INVALID (NULL out), ACHAN_NOMEM (no memory or no
 * descriptor left). The descriptors are non-blocking and close-on-exec.
 */
ACHAN_API achan_status achan_fd_waker_new(achan_fd_waker **out);
/** As achan_fd_waker_new, but always with a pipe. */
ACHAN_API achan_status achan_fd_waker_new_pipe(achan_fd_waker **out);

/** The descriptor to wait on for readability (-1 for NULL). */
ACHAN_API int achan_fd_waker_fd(const achan_fd_waker *fw);

/**
 * A new waker (drop it when done) that makes the fd readable; for a NULL fw,
 * a waker that does nothing.
 */
ACHAN_API achan_waker achan_fd_waker_waker(achan_fd_waker *fw);

/**
 * Consumes every pending wake: the fd is not readable afterwards until the
 * next wake. Call before polling the streams.
 */
ACHAN_API void achan_fd_waker_clear(achan_fd_waker *fw);

/** "eventfd" or "pipe" ("pipe" for NULL). */
ACHAN_API const char *achan_fd_waker_backend(const achan_fd_waker *fw);

/** Releases the creator's reference. NULL is ignored. */
ACHAN_API void achan_fd_waker_drop(achan_fd_waker *fw);

#ifdef __cplusplus
}
#endif
#endif /* ACHAN_FD_H */
