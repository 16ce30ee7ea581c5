/* fd.c - the fd waker (see achan/fd.h).
 *
 * Design notes.
 *
 * `signaled` says whether a wake has been written to the fd since the last
 * clear. A wake exchanges it to 1 and writes to the fd only when it was 0, so
 * any number of wakes between two clears make one write and the fd stays
 * readable; a wake on a readable fd is one exchange.
 *
 * clear drains the fd first and resets `signaled` second, with an exchange:
 *   - a wake whose exchange comes before the reset saw 1 and did not write;
 *     the reset reads from it (acq_rel), so whatever that waker published
 *     before waking is visible to the polls that follow the clear;
 *   - a wake whose exchange comes after the reset sees 0 and writes, so the
 *     fd is readable again and the loop will poll again.
 * Either way no wake is lost.
 *
 * Lifetime: `refs` counts the creator's handle and every waker; the fd is
 * closed and the memory freed with the last one.
 */
#define _GNU_SOURCE
#include "achan/fd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/eventfd.h>
#endif

#include "atomics.h"

struct achan_fd_waker {
    achan__atomic_size signaled;
    achan__atomic_size refs;
    int read_fd, write_fd; /* The same eventfd twice, or a pipe's two ends. */
    bool is_eventfd;
};

static achan_waker fdw_clone(const void *data);
static void fdw_wake(void *data);
static void fdw_wake_by_ref(const void *data);
static void fdw_drop(void *data);
static const achan_waker_vtbl fd_waker_vtbl = {fdw_clone, fdw_wake, fdw_wake_by_ref, fdw_drop};

static void release(achan_fd_waker *fw) {
    /* acq_rel: the last releaser sees every other user's last access. */
    if (achan__size_fetch_sub_acq_rel(&fw->refs, 1) != 1)
        return;
    close(fw->read_fd);
    if (fw->write_fd != fw->read_fd)
        close(fw->write_fd);
    free(fw);
}

static void signal_fd(achan_fd_waker *fw) {
    /* acq_rel: publishes what the waking thread did before the wake to the
     * clear that resets the flag (see the design notes). */
    if (achan__size_exchange_acq_rel(&fw->signaled, 1) != 0)
        return;
    ssize_t r;
    if (fw->is_eventfd) {
        uint64_t one = 1;
        do {
            r = write(fw->write_fd, &one, sizeof one);
        } while (r < 0 && errno == EINTR);
    } else {
        char one = 1;
        do {
            r = write(fw->write_fd, &one, 1);
        } while (r < 0 && errno == EINTR);
    }
    /* EAGAIN: the counter or pipe is full, so the fd is readable anyway. */
    (void)r;
}

static achan_waker fdw_clone(const void *data) {
    achan_fd_waker *fw = (achan_fd_waker *)data;
    /* Relaxed: the caller holds a reference; nothing is published. */
    achan__size_fetch_add_relaxed(&fw->refs, 1);
    achan_waker w = {&fd_waker_vtbl, fw};
    return w;
}

static void fdw_wake(void *data) {
    signal_fd(data);
    release(data);
}

static void fdw_wake_by_ref(const void *data) { signal_fd((achan_fd_waker *)data); }

static void fdw_drop(void *data) { release(data); }

static achan_status make(achan_fd_waker **out, bool want_eventfd) {
    if (!out)
        return ACHAN_INVALID;
    achan_fd_waker *fw = malloc(sizeof *fw);
    if (!fw)
        return ACHAN_NOMEM;
    achan__size_init(&fw->signaled, 0);
    achan__size_init(&fw->refs, 1);
    fw->is_eventfd = false;
#if defined(__linux__)
    if (want_eventfd) {
        int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (fd < 0) {
            free(fw);
            return ACHAN_NOMEM;
        }
        fw->read_fd = fw->write_fd = fd;
        fw->is_eventfd = true;
        *out = fw;
        return ACHAN_OK;
    }
#else
    (void)want_eventfd;
#endif
    int p[2];
    if (pipe(p) != 0) {
        free(fw);
        return ACHAN_NOMEM;
    }
    for (int i = 0; i < 2; i++) {
        fcntl(p[i], F_SETFL, fcntl(p[i], F_GETFL) | O_NONBLOCK);
        fcntl(p[i], F_SETFD, FD_CLOEXEC);
    }
    fw->read_fd = p[0];
    fw->write_fd = p[1];
    *out = fw;
    return ACHAN_OK;
}

achan_status achan_fd_waker_new(achan_fd_waker **out) { return make(out, true); }

achan_status achan_fd_waker_new_pipe(achan_fd_waker **out) { return make(out, false); }

int achan_fd_waker_fd(const achan_fd_waker *fw) { return fw ? fw->read_fd : -1; }

achan_waker achan_fd_waker_waker(achan_fd_waker *fw) {
    /* NULL has no descriptor to signal: a no-op waker is still a waker the
     * caller may wake, clone and drop as usual. */
    return fw ? fdw_clone(fw) : achan_waker_noop();
}

const char *achan_fd_waker_backend(const achan_fd_waker *fw) {
    return fw && fw->is_eventfd ? "eventfd" : "pipe";
}

void achan_fd_waker_clear(achan_fd_waker *fw) {
    if (!fw)
        return;
    char buf[64];
    for (;;) { /* Drain: one read empties an eventfd; a pipe may hold more. */
        ssize_t r = read(fw->read_fd, buf, fw->is_eventfd ? sizeof(uint64_t) : sizeof buf);
        if (r > 0 && !fw->is_eventfd)
            continue;
        if (r < 0 && errno == EINTR)
            continue;
        break; /* Drained (EAGAIN), or the eventfd's counter was read. */
    }
    /* After draining: see the design notes for why this order loses nothing. */
    achan__size_exchange_acq_rel(&fw->signaled, 0);
}

void achan_fd_waker_drop(achan_fd_waker *fw) {
    if (fw)
        release(fw);
}
