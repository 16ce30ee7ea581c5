/* waker_cell.c - the single-waiter cell (see waker_cell.h).
 *
 * Design notes.
 *
 * The state word has three bits:
 *
 *   REGISTERING  the registrant owns the waker slot and is changing it;
 *   WAKING       a notifier owns the waker slot and is taking it;
 *   FULL         the slot holds a waker.
 *
 * Whoever sets REGISTERING or WAKING on a state that had neither owns the slot
 * until it clears them. The registrant takes ownership with a CAS from a
 * state without either bit; a notifier with fetch_or(WAKING). When both
 * collide, the registrant (finding WAKING when it tries to finish) wakes the
 * waker it just stored itself, and a notifier that finds REGISTERING leaves
 * the slot alone, so exactly one of them wakes. A registrant that finds
 * WAKING on entry wakes its new waker at once instead of registering: a wake
 * is in flight, so its condition has changed anyway.
 *
 * A notifier first issues a seq_cst fence and reads the state with a plain
 * (relaxed) load; if FULL is not set there is nobody to wake. That is safe
 * even while a registration is half done: the registrant's fence comes after
 * it sets FULL, so if the notifier's load missed FULL, the notifier's fence
 * came first in the fence order, and the registrant's re-check (after its own
 * fence) sees what the notifier published.
 *
 * The waker's fields are written while REGISTERING is held and published by
 * the acq_rel CAS that sets FULL; a notifier reads them after its acq_rel
 * fetch_or observed FULL.
 */
#include "waker_cell.h"

enum {
    CELL_REGISTERING = 1,
    CELL_WAKING = 2,
    CELL_FULL = 4,
};

void achan__waker_cell_init(achan__waker_cell *c) {
    achan__size_init(&c->state, 0);
    c->waker.vtbl = NULL;
    c->waker.data = NULL;
}

void achan__waker_cell_register(achan__waker_cell *c, const achan_waker *w) {
    size_t s = achan__size_load_acquire(&c->state);
    for (;;) {
        if (s & CELL_WAKING) {
            /* A notifier is taking the old waker right now, so whatever this
             * registration waits for may already have happened: wake the new
             * waker instead of storing it. */
            achan_waker_wake_by_ref(w);
            return;
        }
        if (s & CELL_REGISTERING)
            return; /* Concurrent registrants: a caller broke the one-registrant rule. */
        if (achan__size_cas_acq_rel(&c->state, &s, s | CELL_REGISTERING))
            break;
    }

    /* We own the slot. */
    bool drop_old = false;
    achan_waker old = c->waker;
    if (!(s & CELL_FULL)) {
        c->waker = achan_waker_clone(w);
    } else if (!achan_waker_will_wake(&c->waker, w)) {
        drop_old = true;
        c->waker = achan_waker_clone(w);
    }

    size_t expected = s | CELL_REGISTERING;
    if (!achan__size_cas_acq_rel(&c->state, &expected, CELL_FULL)) {
        /* A notifier set WAKING meanwhile and left the slot to us: wake the
         * waker we just stored ourselves. The acq_rel CAS failure loaded
         * with acquire, so the notifier's publication is visible. */
        achan_waker mine = c->waker;
        achan__size_store_release(&c->state, 0);
        if (drop_old)
            achan_waker_drop(old);
        achan_waker_wake(mine);
        return;
    }
    if (drop_old)
        achan_waker_drop(old);
    /* Pairs with the fence in achan__waker_cell_notify (see waker_cell.h). */
    achan__fence_seq_cst();
}

void achan__waker_cell_notify(achan__waker_cell *c) {
    /* Pairs with the fence at the end of achan__waker_cell_register. */
    achan__fence_seq_cst();
    /* Relaxed: the fence above orders this load after the caller's publish. */
    if (!(achan__size_load_relaxed(&c->state) & CELL_FULL))
        return;
    size_t prev = achan__size_fetch_or_acq_rel(&c->state, CELL_WAKING);
    if (prev & (CELL_REGISTERING | CELL_WAKING))
        return; /* The registrant or another notifier will do the wake. */
    achan_waker w = c->waker;
    /* Release: the registrant's next CAS must see that we copied the waker. */
    achan__size_store_release(&c->state, 0);
    if (prev & CELL_FULL)
        achan_waker_wake(w);
}

void achan__waker_cell_clear(achan__waker_cell *c) {
    size_t s = achan__size_load_acquire(&c->state);
    for (;;) {
        if (s & (CELL_WAKING | CELL_REGISTERING))
            return; /* A notifier owns the waker and will wake and release it. */
        if (!(s & CELL_FULL))
            return;
        if (achan__size_cas_acq_rel(&c->state, &s, CELL_REGISTERING))
            break;
    }
    achan_waker w = c->waker;
    /* A notifier may have set WAKING meanwhile; seeing REGISTERING it left
     * the slot to us, so the state goes back to empty either way. */
    achan__size_store_release(&c->state, 0);
    achan_waker_drop(w);
}

void achan__waker_cell_destroy(achan__waker_cell *c) {
    if (achan__size_load_relaxed(&c->state) & CELL_FULL)
        achan_waker_drop(c->waker);
    achan__size_store_relaxed(&c->state, 0);
}
