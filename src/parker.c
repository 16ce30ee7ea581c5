/* parker.c - the thread parker (see parker.h).
 *
 * Design notes.
 *
 * state is EMPTY (no token), NOTIFIED (a token) or PARKED (the owner thread
 * sleeps or is about to). unpark exchanges in NOTIFIED and, only when it
 * replaced PARKED, wakes the sleeper: so an unpark of a running thread is one
 * atomic exchange. park first takes a token if there is one (CAS NOTIFIED ->
 * EMPTY), spins a while watching for one, then announces itself with CAS
 * EMPTY -> PARKED and sleeps until state is no longer PARKED or the deadline
 * passes. All transitions are acq_rel: whatever the unparking thread did
 * before unpark is visible to the parked thread when park returns true.
 *
 * Lifetime: the parker is reference counted. The thread holds one reference
 * through a thread-local pointer released by a pthread key destructor when
 * the thread exits; every waker holds one. So a waker may outlive its thread
 * (waking it is then harmless) and the memory goes with the last reference.
 */
#define _GNU_SOURCE
#include "parker.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <time.h>

#include "atomics.h"
#include "coop.h"

#if !defined(ACHAN_PARKER_CONDVAR) && !defined(ACHAN_PARKER_FUTEX)
#if defined(__linux__)
#define ACHAN_PARKER_FUTEX 1
#else
#define ACHAN_PARKER_CONDVAR 1
#endif
#endif

#if defined(ACHAN_PARKER_FUTEX)
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

enum { PARK_EMPTY = 0, PARK_NOTIFIED = 1, PARK_PARKED = 2 };

/* park() looks for a token this many times, one CPU relax hint apart (about
 * 25 ns each on current x86 cores), then yields PARK_YIELDS times, then
 * sleeps. */
#ifndef PARK_SPINS
#define PARK_SPINS 40
#endif
#ifndef PARK_YIELDS
#define PARK_YIELDS 4
#endif

/* achan__backoff_snooze (see parker.h): BACKOFF_SPINS tries one relax hint
 * apart (about a microsecond: a partner thread running on another core that
 * answers within that time is seen at once, at the cost of one cache line),
 * then BACKOFF_YIELDS sched_yield()s (when the partner shares our core, only
 * giving it the core lets it answer), then the caller registers and parks.
 * Measured with bench/achan_peer's W1, W2, W4, W5 and W6 on a 2-vCPU EPYC,
 * with and without a third thread keeping one core busy: longer spinning,
 * or spinning with doubling gaps, won nothing when the cores were free and
 * cost 2-3x when they were not. Override with -D to experiment. */
#ifndef BACKOFF_SPINS
#define BACKOFF_SPINS 40
#endif
#ifndef BACKOFF_YIELDS
#define BACKOFF_YIELDS 16
#endif

struct achan__parker {
    achan__atomic_u32 state;
    achan__atomic_size refs;
#if defined(ACHAN_PARKER_CONDVAR)
    pthread_mutex_t lock;
    pthread_cond_t cond;
#endif
};

/* ------------------------------------------------------------------------ */
/* Clock.                                                                    */

uint64_t achan_monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t achan__deadline_after(int64_t timeout_ns) {
    if (timeout_ns < 0)
        return ACHAN__NO_DEADLINE;
    uint64_t now = achan_monotonic_ns();
    uint64_t d = now + (uint64_t)timeout_ns;
    return d < now ? ACHAN__NO_DEADLINE : d;
}

static struct timespec to_timespec(uint64_t ns) {
    struct timespec ts;
    ts.tv_sec = (time_t)(ns / 1000000000u);
    ts.tv_nsec = (long)(ns % 1000000000u);
    return ts;
}

bool achan__backoff_snooze(achan__backoff *b) {
    if (b->step < BACKOFF_SPINS)
        achan__cpu_relax();
    else if (b->step < BACKOFF_SPINS + BACKOFF_YIELDS)
        sched_yield();
    else
        return false;
    b->step++;
    return true;
}

/* ------------------------------------------------------------------------ */
/* Sleeping and waking: the two backends.                                    */

#if defined(ACHAN_PARKER_FUTEX)
const char *achan_parker_backend(void) { return "futex"; }

static bool backend_init(achan__parker *p) {
    (void)p;
    return true;
}

static void backend_destroy(achan__parker *p) { (void)p; }

/* Sleeps while state is PARKED, at most until deadline. */
static void backend_sleep(achan__parker *p, uint64_t deadline) {
    struct timespec ts, *tsp = NULL;
    if (deadline != ACHAN__NO_DEADLINE) {
        ts = to_timespec(deadline);
        tsp = &ts;
    }
    /* FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC deadline. EINTR,
     * EAGAIN (state changed) and ETIMEDOUT all just return to the caller's
     * loop, which re-reads state and the clock. */
    syscall(SYS_futex, achan__u32_address(&p->state), FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG,
            PARK_PARKED, tsp, NULL, FUTEX_BITSET_MATCH_ANY);
}

static void backend_wake(achan__parker *p) {
    syscall(SYS_futex, achan__u32_address(&p->state), FUTEX_WAKE | FUTEX_PRIVATE_FLAG, 1, NULL,
            NULL, 0);
}
#else
const char *achan_parker_backend(void) { return "condvar"; }

static bool backend_init(achan__parker *p) {
    pthread_condattr_t attr;
    if (pthread_condattr_init(&attr) != 0)
        return false;
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    bool ok = pthread_cond_init(&p->cond, &attr) == 0;
    pthread_condattr_destroy(&attr);
    if (ok && pthread_mutex_init(&p->lock, NULL) != 0) {
        pthread_cond_destroy(&p->cond);
        ok = false;
    }
    return ok;
}

static void backend_destroy(achan__parker *p) {
    pthread_cond_destroy(&p->cond);
    pthread_mutex_destroy(&p->lock);
}

static void backend_sleep(achan__parker *p, uint64_t deadline) {
    pthread_mutex_lock(&p->lock);
    /* The re-check under the lock pairs with backend_wake taking the lock:
     * an unpark between our CAS to PARKED and this wait cannot be missed. */
    if (achan__u32_load_acquire(&p->state) == PARK_PARKED) {
        if (deadline == ACHAN__NO_DEADLINE) {
            pthread_cond_wait(&p->cond, &p->lock);
        } else {
            struct timespec ts = to_timespec(deadline);
            pthread_cond_timedwait(&p->cond, &p->lock, &ts);
        }
    }
    pthread_mutex_unlock(&p->lock);
}

static void backend_wake(achan__parker *p) {
    pthread_mutex_lock(&p->lock);
    pthread_mutex_unlock(&p->lock);
    pthread_cond_signal(&p->cond);
}
#endif

/* ------------------------------------------------------------------------ */
/* Park and unpark.                                                          */

static bool take_token(achan__parker *p) {
    uint32_t expected = PARK_NOTIFIED;
    return achan__u32_cas_acq_rel(&p->state, &expected, PARK_EMPTY);
}

bool achan__parker_park(achan__parker *p, uint64_t deadline) {
    if (take_token(p))
        return true;
    if (deadline != ACHAN__NO_DEADLINE && achan_monotonic_ns() >= deadline)
        return false;
    for (unsigned i = 0; i < PARK_SPINS + PARK_YIELDS; i++) {
        if (i < PARK_SPINS)
            achan__cpu_relax();
        else
            sched_yield();
        /* Relaxed peek; take_token's CAS does the acquiring. */
        if (achan__u32_load_relaxed(&p->state) == PARK_NOTIFIED && take_token(p))
            return true;
    }
    uint32_t expected = PARK_EMPTY;
    if (!achan__u32_cas_acq_rel(&p->state, &expected, PARK_PARKED)) {
        /* Only unpark changes state besides us: it is NOTIFIED. */
        achan__u32_exchange_acq_rel(&p->state, PARK_EMPTY);
        return true;
    }
    for (;;) {
        if (deadline != ACHAN__NO_DEADLINE && achan_monotonic_ns() >= deadline) {
            /* Leave PARKED; a token that raced in still counts. */
            return achan__u32_exchange_acq_rel(&p->state, PARK_EMPTY) == PARK_NOTIFIED;
        }
        backend_sleep(p, deadline);
        if (take_token(p))
            return true;
    }
}

void achan__parker_unpark(achan__parker *p) {
    if (achan__u32_exchange_acq_rel(&p->state, PARK_NOTIFIED) == PARK_PARKED)
        backend_wake(p);
}

/* ------------------------------------------------------------------------ */
/* Lifetime and the thread waker.                                            */

static void parker_release(achan__parker *p) {
    /* acq_rel: the last releaser sees every use of the parker. */
    if (achan__size_fetch_sub_acq_rel(&p->refs, 1) == 1) {
        backend_destroy(p);
        free(p);
    }
}

static void parker_retain(achan__parker *p) {
    /* Relaxed: the caller already holds a reference, so the count cannot
     * reach zero meanwhile, and nothing is published by the increment. */
    achan__size_fetch_add_relaxed(&p->refs, 1);
}

static achan_waker thread_waker_clone(const void *data);
static void thread_waker_wake(void *data);
static void thread_waker_wake_by_ref(const void *data);
static void thread_waker_drop(void *data);

static const achan_waker_vtbl thread_waker_vtbl = {
    thread_waker_clone,
    thread_waker_wake,
    thread_waker_wake_by_ref,
    thread_waker_drop,
};

static achan_waker thread_waker_clone(const void *data) {
    achan__parker *p = (achan__parker *)data;
    parker_retain(p);
    achan_waker w = {&thread_waker_vtbl, p};
    return w;
}

static void thread_waker_wake(void *data) {
    achan__parker *p = data;
    achan__parker_unpark(p);
    parker_release(p);
}

static void thread_waker_wake_by_ref(const void *data) {
    achan__parker_unpark((achan__parker *)data);
}

static void thread_waker_drop(void *data) { parker_release(data); }

achan_waker achan__parker_waker(achan__parker *p) { return thread_waker_clone(p); }

static pthread_key_t parker_key;
static pthread_once_t parker_key_once = PTHREAD_ONCE_INIT;
static bool parker_key_ok;
static _Thread_local achan__parker *thread_parker;

static void parker_key_destructor(void *p) { parker_release(p); }

static void parker_key_create(void) {
    parker_key_ok = pthread_key_create(&parker_key, parker_key_destructor) == 0;
}

achan__parker *achan__parker_current(void) {
    achan__parker *p = thread_parker;
    if (p)
        return p;
    pthread_once(&parker_key_once, parker_key_create);
    if (!parker_key_ok)
        return NULL;
    p = malloc(sizeof *p);
    if (!p)
        return NULL;
    achan__u32_init(&p->state, PARK_EMPTY);
    achan__size_init(&p->refs, 1);
    if (!backend_init(p)) {
        free(p);
        return NULL;
    }
    if (pthread_setspecific(parker_key, p) != 0) {
        backend_destroy(p);
        free(p);
        return NULL;
    }
    thread_parker = p;
    return p;
}

/* ------------------------------------------------------------------------ */
/* The blocking loop and the public block.h functions.                       */

/* The blocking loop's state on this thread: whether one runs, and when the
 * thread timer wants it to poll again. */
static _Thread_local struct block_state {
    // cppcheck-suppress unusedStructMember ; used (cppcheck misses uses of thread-local structs)
    bool active;
    // cppcheck-suppress unusedStructMember ; as above
    uint64_t wake_at;
} block_state = {false, ACHAN__NO_DEADLINE};

bool achan__block_wake_at(uint64_t deadline) {
    if (!block_state.active)
        return false;
    if (deadline < block_state.wake_at)
        block_state.wake_at = deadline;
    return true;
}

static uint64_t min_u64(uint64_t a, uint64_t b) { return a < b ? a : b; }

achan_status achan__block_poll(achan__poll_fn poll, achan__cancel_fn cancel, void *arg,
                               uint64_t deadline) {
    achan__parker *p = achan__parker_current();
    if (!p)
        return ACHAN_NOMEM;
    achan_waker w = achan__parker_waker(p);
    achan_context cx = {&w};
    achan_status st;
    /* A blocking call inside a budgeted task must not inherit the task's
     * budget: once spent, every poll would return PENDING and we would spin. */
    achan__coop_state budget = achan__coop_swap((achan__coop_state){false, 0});
    /* Save and restore: a waker or callback may block in turn. */
    bool was_active = block_state.active;
    uint64_t was_wake_at = block_state.wake_at;
    block_state.active = true;
    block_state.wake_at = ACHAN__NO_DEADLINE;
    for (;;) {
        st = poll(arg, &cx);
        if (st != ACHAN_PENDING)
            break;
        if (achan__parker_park(p, min_u64(deadline, block_state.wake_at)))
            continue;
        if (block_state.wake_at != ACHAN__NO_DEADLINE &&
            achan_monotonic_ns() >= block_state.wake_at) {
            block_state.wake_at = ACHAN__NO_DEADLINE; /* A timer fired: poll again. */
            continue;
        }
        /* One last look: the wake may have been just too late. */
        st = poll(arg, &cx);
        if (st == ACHAN_PENDING)
            st = cancel ? cancel(arg) : ACHAN_TIMEOUT;
        break;
    }
    block_state.active = was_active;
    block_state.wake_at = was_wake_at;
    achan__coop_swap(budget);
    achan_waker_drop(w);
    return st;
}

achan_status achan_thread_waker(achan_waker *out) {
    if (!out)
        return ACHAN_INVALID;
    achan__parker *p = achan__parker_current();
    if (!p)
        return ACHAN_NOMEM;
    *out = achan__parker_waker(p);
    return ACHAN_OK;
}

achan_status achan_thread_park(int64_t timeout_ns) {
    achan__parker *p = achan__parker_current();
    if (!p)
        return ACHAN_NOMEM;
    return achan__parker_park(p, achan__deadline_after(timeout_ns)) ? ACHAN_OK : ACHAN_TIMEOUT;
}

typedef struct {
    achan_future *f;
    void *out;
} block_on_args;

static achan_status block_on_poll(void *arg, achan_context *cx) {
    block_on_args *a = arg;
    return a->f->vtbl->poll(a->f, cx, a->out);
}

achan_status achan_block_on(achan_future *f, void *out, int64_t timeout_ns) {
    if (!f || (!out && f->output_size > 0))
        return ACHAN_INVALID;
    block_on_args a = {f, out};
    return achan__block_poll(block_on_poll, NULL, &a, achan__deadline_after(timeout_ns));
}
