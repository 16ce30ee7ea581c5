/* core.c - status names, version, and the default allocator. */
#define _POSIX_C_SOURCE 200809L
#include "achan/core.h"

#include <stdlib.h>

#include "alloc.h"
#include "achan/combinators.h"

#define ACHAN__STR2(x) #x
#define ACHAN__STR(x) ACHAN__STR2(x)

unsigned achan_version(void) {
    return ACHAN_VERSION_HEX;
}

const char *achan_version_string(void) {
    return ACHAN__STR(ACHAN_VERSION_MAJOR) "." ACHAN__STR(ACHAN_VERSION_MINOR) "." ACHAN__STR(
        ACHAN_VERSION_PATCH);
}

const char *achan_status_str(achan_status s) {
    switch (s) {
    case ACHAN_OK:
        return "ACHAN_OK";
    case ACHAN_PENDING:
        return "ACHAN_PENDING";
    case ACHAN_EMPTY:
        return "ACHAN_EMPTY";
    case ACHAN_FULL:
        return "ACHAN_FULL";
    case ACHAN_CLOSED:
        return "ACHAN_CLOSED";
    case ACHAN_LAGGED:
        return "ACHAN_LAGGED";
    case ACHAN_TIMEOUT:
        return "ACHAN_TIMEOUT";
    case ACHAN_NOMEM:
        return "ACHAN_NOMEM";
    case ACHAN_INVALID:
        return "ACHAN_INVALID";
    }
    return "ACHAN_(unknown status)";
}

static void *default_alloc(void *ctx, size_t size, size_t align) {
    (void)ctx;
    /* malloc already aligns to max_align_t; only larger alignments (cache
     * lines) need posix_memalign, whose memory free() also releases. */
    if (align <= _Alignof(max_align_t))
        return malloc(size);
    void *p = NULL;
    if (posix_memalign(&p, align, size) != 0)
        return NULL;
    return p;
}

static void default_free(void *ctx, void *ptr, size_t size) {
    (void)ctx;
    (void)size;
    free(ptr);
}

static const achan_allocator default_allocator = {default_alloc, default_free, NULL};

bool achan__allocator_valid(const achan_allocator *a) {
    return a == NULL || (a->alloc != NULL && a->free != NULL);
}

void achan__allocator_copy(achan_allocator *dst, const achan_allocator *src) {
    *dst = src ? *src : default_allocator;
}

const achan_allocator *achan__builtin_allocator(void) {
    return &default_allocator;
}

/* The allocator for objects made without achan_opts (combinators.h). Written
 * by achan_set_default_allocator, which the header asks callers to use before
 * creating such objects; each object copies it at creation. */
static achan_allocator current_default = {default_alloc, default_free, NULL};

achan_status achan_set_default_allocator(const achan_allocator *a) {
    if (!achan__allocator_valid(a))
        return ACHAN_INVALID;
    current_default = a ? *a : default_allocator;
    return ACHAN_OK;
}

const achan_allocator *achan_default_allocator(void) {
    return &current_default;
}

void *achan__alloc(const achan_allocator *a, size_t size, size_t align) {
    if (size == SIZE_MAX)
        return NULL; /* An overflowed size computation (achan__mul_size). */
    return a->alloc(a->ctx, size, align);
}

void achan__free(const achan_allocator *a, void *p, size_t size) {
    if (p != NULL)
        a->free(a->ctx, p, size);
}
