/**
 * @file
 * @brief achan/waker.h - wakers and poll contexts (Rust's RawWaker contract in C).
 *
 * A waker is a (vtable, data) pair that says "poll me again". Whoever returns
 * ACHAN_PENDING first registers a clone of the context's waker, and wakes it
 * once progress becomes possible. The rules, which every achan poll function
 * obeys and every custom waker must tolerate:
 *
 *   - A poll that returns ACHAN_PENDING has registered (a clone of) the
 *     context's waker, replacing what the same handle registered before.
 *   - A registered waker is woken at least once after progress becomes
 *     possible (no lost wake-ups). Spurious wake-ups are allowed, but rare.
 *   - wake() and drop() consume the waker; clone() makes an independent copy
 *     that must itself be woken or dropped exactly once.
 *   - Any thread may wake, clone or drop a waker, at any time, so the vtable
 *     functions must be thread-safe. achan never calls them while holding one
 *     of its locks, so they may call back into achan.
 *
 * Concurrency and ownership:
 *
 *     call                          | may run concurrently with
 *     ------------------------------+-------------------------------------------
 *     achan_waker_noop,             | anything
 *     achan_waker_will_wake         |
 *     clone, wake_by_ref            | anything, on any thread, even on the same
 *                                   | waker (as thread-safe as its vtable)
 *     wake, drop                    | anything on other wakers; they end the
 *                                   | waker they are given
 *
 *     who              | owns                          | and releases it with
 *     -----------------+-------------------------------+----------------------
 *     whoever holds a  | one reference to what data    | exactly one wake or
 *     waker            | points to                     | drop
 *     achan_context    | nothing: borrows the waker    | -
 *     a poll function  | the clone it registered       | a wake, or a drop
 *                      |                               | when it is replaced
 *
 * Preconditions of the inline helpers (they check nothing, so that waking
 * costs one indirect call): every waker pointer is non-NULL and every waker
 * has a non-NULL vtbl. Debug builds (without NDEBUG) catch a NULL with an
 * assert (docs/errors.md).
 */
#ifndef ACHAN_WAKER_H
#define ACHAN_WAKER_H

#include "achan/core.h"

#include <assert.h>

#ifdef __cplusplus
extern "C" {
#endif

struct achan_waker;

/**
 * A waker's functions, called with its data pointer. All four must be
 * thread-safe (see above).
 */
typedef struct achan_waker_vtbl {
    struct achan_waker (*clone)(const void *data); /**< A new, independent waker. */
    void (*wake)(void *data);                      /**< Wake and release. */
    void (*wake_by_ref)(const void *data);         /**< Wake, keep the waker. */
    void (*drop)(void *data);                      /**< Release without waking. */
} achan_waker_vtbl;

/**
 * A waker: a (vtable, data) pair owning one reference to what data points
 * to, released by exactly one wake or drop. Copying the struct does not make
 * a second waker: achan_waker_clone does.
 */
typedef struct achan_waker {
    const achan_waker_vtbl *vtbl; /**< Its functions. */
    void *data;                   /**< Passed to them. */
} achan_waker;

/**
 * What a poll function receives: the waker to register when returning
 * ACHAN_PENDING. The context does not own the waker; poll functions clone it.
 * Every achan poll function returns ACHAN_INVALID for a NULL context, a NULL
 * waker, or a waker whose vtbl is NULL (a zero-initialised achan_waker).
 */
typedef struct achan_context {
    const achan_waker *waker; /**< Borrowed for the call; never NULL when polling. */
} achan_context;

/** A waker that does nothing. Useful to poll once without caring for a wake. */
ACHAN_API achan_waker achan_waker_noop(void);

/** A new, independent waker for the same task as *w (w->vtbl->clone). */
static inline achan_waker achan_waker_clone(const achan_waker *w) {
    assert(w && w->vtbl);
    return w->vtbl->clone(w->data);
}

/** Wakes and consumes w. */
static inline void achan_waker_wake(achan_waker w) {
    assert(w.vtbl);
    w.vtbl->wake(w.data);
}

/** Wakes *w and keeps it: *w must still be woken or dropped later. */
static inline void achan_waker_wake_by_ref(const achan_waker *w) {
    assert(w && w->vtbl);
    w->vtbl->wake_by_ref(w->data);
}

/** Releases w without waking it. */
static inline void achan_waker_drop(achan_waker w) {
    assert(w.vtbl);
    w.vtbl->drop(w.data);
}

/**
 * True when waking a wakes the same task as waking b, so a registration of b
 * may be kept instead of replaced by a clone of a. May say false for
 * equivalent wakers; never says true for different ones.
 */
static inline bool achan_waker_will_wake(const achan_waker *a, const achan_waker *b) {
    assert(a && b);
    return a->vtbl == b->vtbl && a->data == b->data;
}

#ifdef __cplusplus
}
#endif
#endif /* ACHAN_WAKER_H */
