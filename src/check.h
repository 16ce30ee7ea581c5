/* check.h - argument checks shared by the public entry points.
 *
 *   contexts     achan__cx_valid: a poll context that can be used (cx, its
 *                waker and the waker's vtable all set). Every poll function
 *                returns ACHAN_INVALID for anything else, rather than crash
 *                cloning a zeroed waker.
 */
#ifndef ACHAN_CHECK_H
#define ACHAN_CHECK_H

#include "achan/waker.h"

static inline bool achan__cx_valid(const achan_context *cx) {
    return cx != NULL && cx->waker != NULL && cx->waker->vtbl != NULL;
}

#endif /* ACHAN_CHECK_H */
