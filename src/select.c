/* select.c - wait on several borrowed streams at once (see achan/select.h).
 *
 * Design notes.
 *
 * One allocation: the select, then the copied stream pointers, then one
 * `ended` flag per stream. A poll visits the open streams once each, in
 * rotation from `next` (the stream after the one that produced last), and
 * passes the caller's context to every one it polls; when all of them are
 * PENDING each has registered that one waker, so a send into any of them
 * wakes the caller. A stream that ends is reported once (ACHAN_CLOSED with
 * its index) and never polled again; once none is open every call returns
 * ACHAN_CLOSED with index SIZE_MAX.
 *
 * Any other status a stream returns (ACHAN_LAGGED, or ACHAN_TIMEOUT from a
 * timeout adapter) is passed on with its index like an item.
 */
#include "achan/select.h"

#include "alloc.h"
#include "check.h"
#include "parker.h"
#include "achan/combinators.h"

struct achan_select {
    achan_allocator alloc;
    size_t alloc_size;
    size_t n;
    size_t next; /* Where the next poll starts. */
    size_t open; /* Streams not yet ended. */
    achan_stream **ins;
    bool *ended;
};

achan_status achan_select_new(achan_stream *const *ins, size_t n, achan_select **out) {
    if (!ins || n == 0 || !out)
        return ACHAN_INVALID;
    for (size_t i = 0; i < n; i++) {
        if (!ins[i])
            return ACHAN_INVALID;
    }
    size_t ins_off = achan__round_up(sizeof(achan_select), _Alignof(achan_stream *));
    size_t ptrs = achan__mul_size(n, sizeof(achan_stream *));
    if (ptrs == SIZE_MAX || ptrs > SIZE_MAX - ins_off - n)
        return ACHAN_NOMEM;
    size_t size = ins_off + ptrs + n;
    achan_allocator alloc;
    achan__allocator_copy(&alloc, achan_default_allocator());
    achan_select *sel = achan__alloc(&alloc, size, _Alignof(achan_select));
    if (!sel)
        return ACHAN_NOMEM;
    sel->alloc = alloc;
    sel->alloc_size = size;
    sel->n = n;
    sel->next = 0;
    sel->open = n;
    sel->ins = (achan_stream **)((char *)sel + ins_off);
    sel->ended = (bool *)((char *)sel->ins + ptrs);
    for (size_t i = 0; i < n; i++) {
        sel->ins[i] = ins[i];
        sel->ended[i] = false;
    }
    *out = sel;
    return ACHAN_OK;
}

achan_status achan_select_poll(achan_select *sel, achan_context *cx, void *item, size_t *index) {
    if (!sel || !achan__cx_valid(cx) || !item || !index)
        return ACHAN_INVALID;
    if (sel->open == 0) {
        *index = SIZE_MAX;
        return ACHAN_CLOSED;
    }
    for (size_t k = 0; k < sel->n; k++) {
        size_t i = (sel->next + k) % sel->n;
        if (sel->ended[i])
            continue;
        achan_status st = sel->ins[i]->vtbl->poll_next(sel->ins[i], cx, item);
        if (st == ACHAN_PENDING)
            continue;
        if (st == ACHAN_CLOSED) {
            sel->ended[i] = true;
            sel->open--;
        }
        sel->next = (i + 1) % sel->n;
        *index = i;
        return st;
    }
    return ACHAN_PENDING;
}

typedef struct {
    achan_select *sel;
    void *item;
    size_t *index;
} select_args;

static achan_status select_poll_fn(void *arg, achan_context *cx) {
    select_args *a = arg;
    return achan_select_poll(a->sel, cx, a->item, a->index);
}

achan_status achan_select_blocking(achan_select *sel, void *item, size_t *index,
                                   int64_t timeout_ns) {
    if (!sel || !item || !index)
        return ACHAN_INVALID;
    select_args a = {sel, item, index};
    /* Stays SIZE_MAX unless a stream produced: so ACHAN_TIMEOUT with SIZE_MAX
     * means time ran out, with an index a stream's own (timeout adapter). */
    *index = SIZE_MAX;
    return achan__block_poll(select_poll_fn, NULL, &a, achan__deadline_after(timeout_ns));
}

void achan_select_drop(achan_select *sel) {
    if (!sel)
        return;
    achan_allocator alloc = sel->alloc;
    achan__free(&alloc, sel, sel->alloc_size);
}
