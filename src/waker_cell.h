/* waker_cell.h - a single-waiter cell: one registrant, any number of wakers.
 *
 * The receiver side of a channel keeps its waker here (Tokio's AtomicWaker,
 * with a FULL bit so that a producer with nobody to wake pays one plain load).
 *
 * Protocol, which makes lost wake-ups impossible:
 *
 *   registrant (one thread at a time)     notifier (any thread)
 *   ---------------------------------     --------------------------------
 *   achan__waker_cell_register(c, w);     publish the change (release store)
 *     (ends with a seq_cst fence)         achan__waker_cell_notify(c);
 *   re-check the condition;                 (starts with a seq_cst fence)
 *   if still not ready: PENDING
 *
 * The two fences are ordered one way or the other: either the re-check sees
 * the published change, or the notifier sees the registered waker.
 */
#ifndef ACHAN_WAKER_CELL_H
#define ACHAN_WAKER_CELL_H

#include "achan/waker.h"
#include "atomics.h"

typedef struct achan__waker_cell {
    achan__atomic_size state; /* REGISTERING | WAKING | FULL bits (waker_cell.c). */
    achan_waker waker;        /* Valid while FULL; owned as waker_cell.c explains. */
} achan__waker_cell;

void achan__waker_cell_init(achan__waker_cell *c);

/* Registers a clone of *w, replacing (and dropping) the previous waker unless
 * it wakes the same task. Ends with a seq_cst fence: re-check after it. */
void achan__waker_cell_register(achan__waker_cell *c, const achan_waker *w);

/* Call after publishing a change the registrant may wait for: wakes and
 * unregisters the waker, if one is registered. */
void achan__waker_cell_notify(achan__waker_cell *c);

/* Registrant only: removes and drops the registered waker, if any. */
void achan__waker_cell_clear(achan__waker_cell *c);

/* Teardown, when no other thread can touch the cell: drops any waker. */
void achan__waker_cell_destroy(achan__waker_cell *c);

#endif /* ACHAN_WAKER_CELL_H */
