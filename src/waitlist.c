/* waitlist.c - the intrusive FIFO of waiting tasks (see waitlist.h). */
#include "waitlist.h"

#include <assert.h>

bool achan__waitlist_init(achan__waitlist *wl) {
    wl->head = wl->tail = NULL;
    return pthread_mutex_init(&wl->lock, NULL) == 0;
}

void achan__waitlist_destroy(achan__waitlist *wl) {
    assert(wl->head == NULL);
    pthread_mutex_destroy(&wl->lock);
}

void achan__waitlist_lock(achan__waitlist *wl) { pthread_mutex_lock(&wl->lock); }

void achan__waitlist_unlock(achan__waitlist *wl) { pthread_mutex_unlock(&wl->lock); }

void achan__waiter_init(achan__waiter *w) {
    w->prev = w->next = NULL;
    w->waker.vtbl = NULL;
    w->waker.data = NULL;
    w->has_waker = false;
    w->linked = false;
    w->granted = false;
    w->done = false;
    w->item = NULL;
}

void achan__waitlist_push_back(achan__waitlist *wl, achan__waiter *w) {
    assert(!w->linked);
    w->next = NULL;
    w->prev = wl->tail;
    if (wl->tail)
        wl->tail->next = w;
    else
        wl->head = w;
    wl->tail = w;
    w->linked = true;
}

void achan__waitlist_remove(achan__waitlist *wl, achan__waiter *w) {
    assert(w->linked);
    if (w->prev)
        w->prev->next = w->next;
    else
        wl->head = w->next;
    if (w->next)
        w->next->prev = w->prev;
    else
        wl->tail = w->prev;
    w->prev = w->next = NULL;
    w->linked = false;
}

void achan__wake_batch_take(achan__wake_batch *b, achan__waiter *w) {
    assert(b->n < ACHAN__WAKE_BATCH);
    if (w->has_waker) {
        b->wakers[b->n++] = w->waker;
        w->has_waker = false;
    }
}

void achan__wake_batch_run(achan__wake_batch *b) {
    for (size_t i = 0; i < b->n; i++)
        achan_waker_wake(b->wakers[i]);
    b->n = 0;
}

void achan__waiter_set_waker(achan__waiter *w, achan_waker fresh, achan_waker *old,
                             bool *has_old) {
    *has_old = w->has_waker;
    *old = w->waker; /* Meaningless unless *has_old, but always written. */
    w->waker = fresh;
    w->has_waker = true;
}
