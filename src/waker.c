/* waker.c - the no-op waker. */
#include "achan/waker.h"

static achan_waker noop_clone(const void *data);
static void noop_wake(void *data) { (void)data; }
static void noop_wake_by_ref(const void *data) { (void)data; }
static void noop_drop(void *data) { (void)data; }

static const achan_waker_vtbl noop_vtbl = {noop_clone, noop_wake, noop_wake_by_ref, noop_drop};

static achan_waker noop_clone(const void *data) {
    (void)data;
    return achan_waker_noop();
}

achan_waker achan_waker_noop(void) {
    achan_waker w = {&noop_vtbl, NULL};
    return w;
}
