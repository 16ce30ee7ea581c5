/**
 * @file
 * @brief achan/timer.h - the timer abstraction behind time-based adapters.
 *
 * Adapters that need time (achan_stream_timeout, achan_stream_throttle,
 * achan_sleep) take their clock and wake-ups from achan_timer_current(): the
 * timer of whatever drives the poll on this thread (as Tokio finds its timer
 * in a thread-local runtime context), so the same stream works wherever it is
 * driven:
 *
 *     driven by                          achan_timer_current()
 *     ---------------------------------  ----------------------------------------
 *     achan_executor_run                 the executor's timer heap
 *     achan_stream_next_blocking,        the calling thread: its parker sleeps
 *     achan_block_on, other _blocking    until the earliest armed deadline
 *     achan_uv_* (uv.h)                  a uv_timer_t on the loop
 *     anything else                      achan's shared timer thread
 *
 * Code that drives polls itself (an executor, an event-loop adapter) makes
 * its timer current around them with achan_timer_set_current. A blocking
 * loop entered after that (a _blocking call inside an executor task) takes
 * over while it runs: the blocked executor could not fire its own timer.
 *
 * A timer entry is storage the adapter embeds (no allocation per arm). Arm it
 * with a deadline and a waker; the timer wakes (a clone of) the waker at or
 * after the deadline, once. Arming an armed entry moves it; arming it again
 * for the same deadline with a waker that will_wake the registered one
 * changes nothing and clones nothing, so an adapter may simply arm each time
 * it returns ACHAN_PENDING. Disarm before freeing the entry, or when the
 * deadline no longer matters; disarming an unarmed or already fired entry
 * does nothing. An entry belongs to one timer at a time
 * (achan_timer_entry_arm moves it between timers as needed).
 *
 * Concurrency:
 *
 *     call                          | may run concurrently with
 *     ------------------------------+-------------------------------------------
 *     achan_timer_current,          | anything: each reads or sets the calling
 *     achan_timer_set_current       | thread's own current timer
 *     achan_timer_shared,           | anything
 *     achan_timer_now on achan's    |
 *     own timers (or NULL)          |
 *     achan_sleep,                  | anything except achan_set_default_allocator
 *     achan_sleep_until,            | (combinators.h)
 *     achan_timer_heap_new          |
 *     achan_timer_entry_arm,        | anything on other entries; one thread at a
 *     achan_timer_entry_disarm      | time per entry. On the shared timer: from
 *                                   | any thread. On a heap timer (an
 *                                   | executor's, an achan_timer_heap): only on
 *                                   | the thread of the loop that owns it
 *     the other achan_timer_heap_   | anything on other heaps; one thread at a
 *     functions                     | time per heap: the loop's
 *     a vtbl's arm and disarm (a    | must accept calls from the thread that
 *     timer of your own)            | polls with the timer
 *
 * The shared timer wakes (clones of) the wakers armed on it from its own
 * thread, so those wakers must be thread-safe, as achan's are. A heap timer
 * wakes them inside achan_timer_heap_fire (or the executor's turn).
 *
 * Ownership:
 *
 *     what                          | owned and freed by
 *     ------------------------------+-------------------------------------------
 *     an entry                      | whoever embeds it; disarm it before
 *                                   | freeing it
 *     the waker an armed entry      | the timer: a clone, which it wakes (once)
 *     holds                         | at the deadline or drops at disarm; the
 *                                   | waker passed to arm stays the caller's
 *     the shared timer              | the library (never freed)
 *     an achan_timer_heap           | the caller: achan_timer_heap_drop (entries
 *                                   | still armed on it are disarmed; a later
 *                                   | disarm of any of its entries does nothing)
 *     the current timer             | whoever made it current: it must outlive
 *                                   | the polls it drives, and the previous one
 *                                   | is restored after them
 *     a sleep future                | the caller: achan_future_drop (which
 *                                   | disarms it)
 */
#ifndef ACHAN_TIMER_H
#define ACHAN_TIMER_H

#include "achan/stream.h"

#include <assert.h>

#ifdef __cplusplus
extern "C" {
#endif

/** A timer: a clock and a way to be woken at a deadline (see above). */
typedef struct achan_timer achan_timer;
/** Storage for one pending wake-up (see struct achan_timer_entry). */
typedef struct achan_timer_entry achan_timer_entry;

/** A timer's functions: implement them to drive time from your own loop. */
typedef struct achan_timer_vtbl {
    /** The timer's clock, in nanoseconds (monotonic). */
    uint64_t (*now)(achan_timer *t);
    /** Wake (a clone of) *w at or after deadline. ACHAN_OK or ACHAN_NOMEM. */
    achan_status (*arm)(achan_timer *t, achan_timer_entry *e, uint64_t deadline,
                        const achan_waker *w);
    /** Cancel e if armed, releasing its waker; nothing if it already fired. */
    void (*disarm)(achan_timer *t, achan_timer_entry *e);
} achan_timer_vtbl;

/** The timer header: the first member of every timer object. */
struct achan_timer {
    const achan_timer_vtbl *vtbl; /**< The timer's functions. */
};

/**
 * Storage for one pending wake-up, embedded by whoever arms it. The fields
 * belong to the timer the entry is armed on; initialise with
 * ACHAN_TIMER_ENTRY_INIT (or achan_timer_entry_init) and touch them only
 * through the functions below.
 */
struct achan_timer_entry {
    achan_timer *owner; /**< Armed on; NULL if disarmed, or a lockless heap fired/dropped it. */
    uint64_t deadline;  /**< Timer-private: when to wake. */
    achan_waker waker;  /**< Timer-private: the clone to wake. */
    size_t slot;        /**< Timer-private (e.g. a heap index). */
    void *link[2];      /**< Timer-private (e.g. list pointers). */
};
/** An unarmed entry, for initialisers: achan_timer_entry e = ACHAN_TIMER_ENTRY_INIT; */
#define ACHAN_TIMER_ENTRY_INIT                                                                     \
    {                                                                                              \
        NULL, 0, {NULL, NULL}, 0, {                                                                \
            NULL, NULL                                                                             \
        }                                                                                          \
    }

/**
 * Makes *e an unarmed entry (as ACHAN_TIMER_ENTRY_INIT). Precondition: e is
 * not NULL (an assert in debug builds).
 */
static inline void achan_timer_entry_init(achan_timer_entry *e) {
    assert(e);
    achan_timer_entry z = ACHAN_TIMER_ENTRY_INIT;
    *e = z;
}

/**
 * The timer for polls running on this thread now (see the table above).
 * Never NULL unless the shared timer thread could not be started.
 */
ACHAN_API achan_timer *achan_timer_current(void);

/**
 * Makes t the current timer of this thread (NULL: back to the default) and
 * returns the previous one, to be restored when the polls are done.
 */
ACHAN_API achan_timer *achan_timer_set_current(achan_timer *t);

/** t's clock (the monotonic clock for NULL). */
ACHAN_API uint64_t achan_timer_now(achan_timer *t);

/**
 * Arms e on t for deadline with waker *w (a clone of *w is kept; *w stays
 * the caller's), first disarming it from another timer it may be armed on.
 * ACHAN_OK, ACHAN_NOMEM, or ACHAN_INVALID (NULL).
 */
ACHAN_API achan_status achan_timer_entry_arm(achan_timer *t, achan_timer_entry *e,
                                             uint64_t deadline, const achan_waker *w);

/** Disarms e from whichever timer it is armed on. NULL is ignored. */
ACHAN_API void achan_timer_entry_disarm(achan_timer_entry *e);

/**
 * achan's shared timer thread (started on first use), usable from any thread.
 * NULL if the thread could not be started.
 */
ACHAN_API achan_timer *achan_timer_shared(void);

/**
 * A timer for your own event loop (what achan's libuv adapter uses): entries
 * armed on it go into a heap; your loop asks for the next deadline, sleeps at
 * most until then (an epoll_wait timeout, a timerfd, a uv_timer_t), and fires
 * what is due. Make it current (achan_timer_set_current) around the polls the
 * loop runs. Single-threaded: arm, disarm and every function below on the
 * loop's thread only.
 *
 *     achan_timer_heap *th;
 *     achan_timer_heap_new(NULL, NULL, &th);
 *     achan_timer *prev = achan_timer_set_current(achan_timer_heap_timer(th));
 *     ... poll streams ...
 *     achan_timer_set_current(prev);
 *     uint64_t next = achan_timer_heap_next(th);   // sleep until then at most
 *     ... after waking: achan_timer_heap_fire(th, achan_monotonic_ns());
 *
 */
typedef struct achan_timer_heap achan_timer_heap;

/**
 * Called during an arm that made the earliest deadline earlier (so a loop can
 * shorten its sleep, e.g. restart its uv_timer_t).
 */
typedef void (*achan_timer_heap_earlier_fn)(achan_timer_heap *th, void *user);

/**
 * Creates an empty heap timer in *out: ACHAN_OK, ACHAN_INVALID (NULL out),
 * ACHAN_NOMEM. earlier may be NULL; user is passed to it.
 */
ACHAN_API achan_status achan_timer_heap_new(achan_timer_heap_earlier_fn earlier, void *user,
                                            achan_timer_heap **out);
/** The heap as an achan_timer, to make current or arm entries on. */
ACHAN_API achan_timer *achan_timer_heap_timer(achan_timer_heap *th);
/** The earliest armed deadline (monotonic ns), or UINT64_MAX when none. */
ACHAN_API uint64_t achan_timer_heap_next(const achan_timer_heap *th);
/** Wakes (and disarms) every entry due at now; returns how many. */
ACHAN_API size_t achan_timer_heap_fire(achan_timer_heap *th, uint64_t now);
/**
 * Disarms what is still armed (dropping its wakers) and frees th. Entries
 * that were armed on it, fired or not, no longer refer to it: disarming them
 * later does nothing. NULL is ignored.
 */
ACHAN_API void achan_timer_heap_drop(achan_timer_heap *th);

/**
 * A future that completes (ACHAN_OK, no output) at the deadline (monotonic
 * ns), on the current timer of whatever polls it. *out receives it; drop it
 * when done. ACHAN_INVALID for a NULL out, ACHAN_NOMEM.
 */
ACHAN_API achan_status achan_sleep_until(uint64_t deadline_ns, achan_future **out);
/**
 * As achan_sleep_until, with the deadline duration_ns after this call (not
 * after the first poll).
 */
ACHAN_API achan_status achan_sleep(uint64_t duration_ns, achan_future **out);

#ifdef __cplusplus
}
#endif
#endif /* ACHAN_TIMER_H */
