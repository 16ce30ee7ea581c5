/* waitlist.h - an intrusive FIFO of waiting tasks, under a mutex.
 *
 * The slow path of a channel: senders waiting for capacity queue their
 * achan__waiter (embedded in their handle, so queueing allocates nothing).
 * Every list operation requires the lock. Wakers are collected into an
 * achan__wake_batch under the lock and woken after it is released, because a
 * waker may call back into the channel.
 */
#ifndef ACHAN_WAITLIST_H
#define ACHAN_WAITLIST_H

#include <pthread.h>

#include "achan/waker.h"

typedef struct achan__waiter {
    struct achan__waiter *prev, *next;
    achan_waker waker; /* Valid while has_waker. */
    bool has_waker;
    bool linked;  /* In the list. */
    /* Channel-specific (mpsc senders): */
    bool granted;     /* A slot was set aside for this waiter. */
    bool done;        /* The waiter's lent item was sent on its behalf. */
    const void *item; /* A lent item (blocked send_blocking), or NULL. */
} achan__waiter;

typedef struct achan__waitlist {
    pthread_mutex_t lock;
    achan__waiter *head, *tail;
} achan__waitlist;

/* Returns false when the mutex could not be created. */
bool achan__waitlist_init(achan__waitlist *wl);
void achan__waitlist_destroy(achan__waitlist *wl);
void achan__waitlist_lock(achan__waitlist *wl);
void achan__waitlist_unlock(achan__waitlist *wl);

void achan__waiter_init(achan__waiter *w);
void achan__waitlist_push_back(achan__waitlist *wl, achan__waiter *w);
void achan__waitlist_remove(achan__waitlist *wl, achan__waiter *w);
static inline achan__waiter *achan__waitlist_front(const achan__waitlist *wl) { return wl->head; }
static inline bool achan__waitlist_empty(const achan__waitlist *wl) { return wl->head == NULL; }

/* Wakers taken out under a lock, to be woken once it is released. */
#define ACHAN__WAKE_BATCH 16
typedef struct achan__wake_batch {
    achan_waker wakers[ACHAN__WAKE_BATCH];
    size_t n;
} achan__wake_batch;

static inline bool achan__wake_batch_full(const achan__wake_batch *b) {
    return b->n == ACHAN__WAKE_BATCH;
}

/* Moves w's waker (if any) into b; the caller checked that b is not full. */
void achan__wake_batch_take(achan__wake_batch *b, achan__waiter *w);

/* Wakes (and so releases) every waker in b and empties it. No lock held. */
void achan__wake_batch_run(achan__wake_batch *b);

/* Replaces w's waker with fresh (consumed), returning the one to drop after
 * the lock is released in *old (or leaving *has_old false). */
void achan__waiter_set_waker(achan__waiter *w, achan_waker fresh, achan_waker *old,
                             bool *has_old);

#endif /* ACHAN_WAITLIST_H */
