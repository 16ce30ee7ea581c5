/* timer_internal.h - the heap timer behind the executor and the shared timer
 * thread, and the one helper time-based adapters wait with.
 *
 * A heap timer is a binary min-heap of caller-embedded achan_timer_entry
 * pointers ordered by deadline. An armed entry's `slot` is its heap index
 * plus one, so 0 (ACHAN_TIMER_ENTRY_INIT) means "not in the heap". A
 * disarmed entry has owner NULL. A fired entry has slot 0; a heap without a
 * lock also clears its `owner` when it fires or is destroyed (it runs on the
 * entry's thread), while the shared timer leaves owner alone (another
 * thread's field), so disarming a fired entry costs nothing and touches no
 * heap that may be gone. Arming never allocates except to grow the heap array.
 *
 * With a lock (the shared timer thread) every heap access takes it, so arm
 * and disarm work from any thread; without one (the executor) the heap is the
 * executor thread's. Wakers are cloned before and dropped or woken after the
 * lock, never under it.
 */
#ifndef ACHAN_TIMER_INTERNAL_H
#define ACHAN_TIMER_INTERNAL_H

#include <pthread.h>

#include "achan/timer.h"

typedef struct achan__heap_timer achan__heap_timer;

struct achan__heap_timer {
    achan_timer base; /* First: an achan_timer * is an achan__heap_timer *. */
    achan_timer_entry **v;
    size_t len, cap;
    achan_allocator alloc; /* For the heap array. */
    pthread_mutex_t *lock; /* NULL: used by one thread only. */
    /* Called under the lock when an arm made the earliest deadline earlier
     * (the shared thread then wakes up to re-plan its sleep). May be NULL. */
    void (*earlier)(achan__heap_timer *h);
};

/* Initialises h with room for `reserve` entries. False when that allocation
 * failed (h then needs no destroy). */
bool achan__heap_timer_init(achan__heap_timer *h, const achan_allocator *a, pthread_mutex_t *lock,
                            void (*earlier)(achan__heap_timer *h), size_t reserve);

/* Unlinks every entry still armed (their slot becomes 0), drops their wakers
 * and frees the array. No other thread may use h meanwhile. */
void achan__heap_timer_destroy(achan__heap_timer *h);

/* The earliest armed deadline, or ACHAN__NO_DEADLINE. Lock held if any. */
uint64_t achan__heap_timer_next(const achan__heap_timer *h);

/* Unlinks up to max entries due at now, earliest first, moving their wakers
 * to out (for the caller to wake once it released any lock). Lock held if
 * any. Returns how many. */
size_t achan__heap_timer_take_due(achan__heap_timer *h, uint64_t now, achan_waker *out, size_t max);

/* The timer that drives polls inside achan__block_poll on this thread (its
 * arm makes the blocking loop poll again at the deadline). For tests. */
achan_timer *achan__timer_thread(void);

/* For adapters: the current timer's clock (the monotonic clock when no timer
 * is available). */
uint64_t achan__timer_now(void);

/* For adapters waiting for deadline: ACHAN_OK (e disarmed) once the current
 * timer's clock reached it, else arms e on the current timer with cx's waker
 * and returns ACHAN_PENDING. When no timer can take the entry (the shared
 * thread could not start, the heap could not grow) it wakes cx's waker at
 * once instead, so the adapter is polled again: a busy wait, never a lost
 * wake-up. */
achan_status achan__timer_wait(achan_timer_entry *e, uint64_t deadline, achan_context *cx);

#endif /* ACHAN_TIMER_INTERNAL_H */
