/* check.h - argument checks shared by the public entry points.
 *
 *   contexts     achan__cx_valid: a poll context that can be used (cx, its
 *                waker and the waker's vtable all set). Every poll function
 *                returns ACHAN_INVALID for anything else, rather than crash
 *                cloning a zeroed waker.
 *
 *   handle tags  every channel handle carries a 32-bit tag naming its kind,
 *                written when the handle is made and cleared when it is
 *                released. Debug builds (no NDEBUG) assert the tag at every
 *                entry point, so a handle used after its drop (or after the
 *                call that consumed it), dropped twice, or passed to another
 *                kind's function aborts with a message, as long as its memory
 *                is still there (an embedded handle whose channel another
 *                handle keeps alive, or a freed one not yet reused). Release
 *                builds keep the field (4 bytes, so layouts do not depend on
 *                the build type) and check nothing.
 */
#ifndef ACHAN_CHECK_H
#define ACHAN_CHECK_H

#include <assert.h>
#include <stdint.h>

#include "achan/waker.h"

static inline bool achan__cx_valid(const achan_context *cx) {
    return cx != NULL && cx->waker != NULL && cx->waker->vtbl != NULL;
}

/* Tags: four ASCII letters each, easy to spot in a debugger. */
#define ACHAN__TAG_MPSC_TX 0x4d505458u    /* "MPTX" */
#define ACHAN__TAG_MPSC_RX 0x4d505258u    /* "MPRX" */
#define ACHAN__TAG_ONESHOT_TX 0x4f535458u /* "OSTX" */
#define ACHAN__TAG_ONESHOT_RX 0x4f535258u /* "OSRX" */
#define ACHAN__TAG_WATCH_TX 0x57415458u   /* "WATX" */
#define ACHAN__TAG_WATCH_RX 0x57415258u   /* "WARX" */
#define ACHAN__TAG_BCAST_TX 0x42435458u   /* "BCTX" */
#define ACHAN__TAG_BCAST_RX 0x42435258u   /* "BCRX" */
#define ACHAN__TAG_DEAD 0u

/* Asserts that h (non-NULL) is a live handle of the kind kind_tag names. */
#define ACHAN__CHECK_HANDLE(h, kind_tag)                                                           \
    assert((h)->tag == (kind_tag) &&                                                               \
           "achan: a handle used after it was dropped or consumed, or of another kind")

#endif /* ACHAN_CHECK_H */
