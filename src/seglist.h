/* seglist.h - the unbounded queue: a linked list of recycled segments.
 *
 * Many producers, one consumer. Items go into fixed-size segments linked in
 * order. A consumed segment is recycled into a small cache of spares that the
 * producers link at the end again, so steady-state sending allocates nothing,
 * and segments beyond that cache are freed, so the memory a burst took is
 * given back once the burst has been received (Tokio keeps it forever).
 */
#ifndef ACHAN_SEGLIST_H
#define ACHAN_SEGLIST_H

#include <pthread.h>

#include "achan/core.h"
#include "atomics.h"
#include "ring.h" /* achan__pop_result */

typedef struct achan__segment achan__segment;

typedef struct achan__seglist {
    /* Producers: pos << 1 | CLOSED. */
    ACHAN__CACHE_ALIGNED achan__atomic_size tail;
    achan__atomic_ptr tail_seg;    /* A segment at or before the one holding tail. */
    achan__atomic_size linked_end; /* Every position below this has a linked segment. */
    /* Consumer. */
    ACHAN__CACHE_ALIGNED achan__atomic_size head; /* Written by the consumer only. */
    achan__segment *head_seg;                      /* Consumer-private from here on. */
    achan__segment *retired;                       /* Consumed, waiting to be recycled. */
    achan__segment *retired_last;
    /* Growth: producers linking segments, the consumer returning them. */
    ACHAN__CACHE_ALIGNED pthread_mutex_t grow_lock;
    achan__segment *last_seg; /* The end of the list. */
    achan__segment *spares;   /* Recycled segments, ready to link. */
    size_t nspares;
    /* Read-only after init. */
    size_t item_size, stride, seg_slots, seg_bytes, max_spares;
    const achan_allocator *alloc;
} achan__seglist;

/* Sets up l with its first segment. ACHAN_NOMEM or ACHAN_OK. alloc must
 * outlive l. Single-threaded. */
achan_status achan__seglist_init(achan__seglist *l, size_t item_size, const achan_allocator *alloc);

/* Producer: ACHAN_OK, ACHAN_CLOSED, or ACHAN_NOMEM (a new segment could not
 * be allocated; nothing was sent). */
achan_status achan__seglist_push(achan__seglist *l, const void *item);

/* Consumer: copies the oldest item out. */
achan__pop_result achan__seglist_pop(achan__seglist *l, void *item);

/* Consumer: whether the oldest item may be ready (false only when it is
 * surely not), reading no producer state: see achan__ring_head_ready. */
bool achan__seglist_head_ready(const achan__seglist *l);

/* Items buffered or being written (a snapshot). */
size_t achan__seglist_len(const achan__seglist *l);

/* Makes every later push fail with ACHAN_CLOSED. Any thread. */
void achan__seglist_close(achan__seglist *l);

/* Teardown, when no other thread can touch l: passes every item still held
 * to drop (when not NULL) and frees every segment. */
void achan__seglist_destroy(achan__seglist *l, void (*drop)(void *item, void *user), void *user,
                            void *scratch);

#endif /* ACHAN_SEGLIST_H */
