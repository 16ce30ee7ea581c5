/**
 * @file
 * @brief achan/core.h - status codes, channel options, allocator, version.
 *
 * Every achan call that can fail returns an achan_status. A call that returns
 * ACHAN_INVALID or ACHAN_NOMEM changed nothing: it consumed no handle and took
 * no item, so the caller may retry or clean up as if it had not been made.
 *
 * Concurrency and ownership:
 *
 *     call                          | may run concurrently with
 *     ------------------------------+-------------------------------------------
 *     achan_version,                | anything, on any thread
 *     achan_version_string,         |
 *     achan_status_str              |
 *     a user's allocator functions  | each other, from several threads at once:
 *                                   | they must be thread-safe
 *
 *     what                          | owned and freed by
 *     ------------------------------+-------------------------------------------
 *     strings returned here         | the library (static; never free them)
 *     an achan_opts passed to a     | the caller: the constructor copies it,
 *     constructor, its allocator    | and the allocator struct, before returning
 *     the allocator's ctx           | the caller; it must outlive every channel
 *                                   | created with it
 *
 * The allocator functions are called from whichever thread creates or
 * releases a handle or needs memory (an unbounded mpsc sender growing its
 * queue, a clone, a subscribe).
 */
#ifndef ACHAN_CORE_H
#define ACHAN_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * ACHAN_API marks the public symbols. A shared build compiles with hidden
 * visibility by default, so only what carries this macro is exported.
 */
#if defined(_WIN32) && defined(ACHAN_SHARED)
#if defined(ACHAN_BUILDING)
#define ACHAN_API __declspec(dllexport)
#else
#define ACHAN_API __declspec(dllimport)
#endif
#elif defined(__GNUC__)
#define ACHAN_API __attribute__((visibility("default")))
#else
#define ACHAN_API
#endif

/** The major version of these headers (incompatible API changes). */
#define ACHAN_VERSION_MAJOR 0
/** The minor version of these headers (compatible additions). */
#define ACHAN_VERSION_MINOR 1
/** The patch version of these headers (fixes). */
#define ACHAN_VERSION_PATCH 0
/** One number for compile-time comparisons: 0xMMmmpp. */
#define ACHAN_VERSION_HEX                                                                          \
    ((ACHAN_VERSION_MAJOR << 16) | (ACHAN_VERSION_MINOR << 8) | ACHAN_VERSION_PATCH)

/**
 * The version of the library linked in, as ACHAN_VERSION_HEX. Compare with
 * the macros to detect a header/library mismatch.
 */
ACHAN_API unsigned achan_version(void);
/**
 * The version of the library linked in, as "M.m.p" (a static string). Compare
 * with the macros to detect a header/library mismatch.
 */
ACHAN_API const char *achan_version_string(void);

/** What every call that can fail returns. */

typedef enum achan_status {
    ACHAN_OK = 0,  /**< Done; for a receive: an item was written to *item. */
    ACHAN_PENDING, /**< Not ready; the context's waker is registered and will be woken. */
    ACHAN_EMPTY,   /**< try_recv: nothing buffered, channel still open. */
    ACHAN_FULL,    /**< try_send: no capacity left. */
    ACHAN_CLOSED,  /**< The other side is gone; for a stream: end of stream. */
    ACHAN_LAGGED,  /**< broadcast: this receiver missed messages (count reported separately). */
    ACHAN_TIMEOUT, /**< A timed wait expired. */
    ACHAN_NOMEM,   /**< Allocation failed; nothing was changed. */
    ACHAN_INVALID  /**< Bad argument or misuse (NULL, zero item_size, ...); nothing was changed. */
} achan_status;

/** A static, human-readable name such as "ACHAN_FULL"; never NULL. */
ACHAN_API const char *achan_status_str(achan_status s);

/**
 * A user-supplied allocator. `alloc` returns memory of at least `size` bytes
 * aligned to `align` (a power of two, at most 128), or NULL. `free` receives
 * the same size that was allocated. The allocator is copied into each channel
 * at creation; `ctx` must stay valid until the last handle of every channel
 * created with it has been dropped. All three fields are required. Both
 * functions may be called from any thread, concurrently (see above).
 */
typedef struct achan_allocator {
    /** Returns size bytes aligned to align, or NULL. */
    void *(*alloc)(void *ctx, size_t size, size_t align);
    /** Releases ptr, which alloc returned for size bytes. */
    void (*free)(void *ctx, void *ptr, size_t size);
    void *ctx; /**< Passed to both functions. */
} achan_allocator;

/**
 * Options for creating a channel. Zero-initialise and set what you need:
 *
 *     achan_opts o = {.item_size = sizeof(struct job), .capacity = 64};
 *
 * The creating function copies what it needs: the options (and the
 * allocator struct) need not outlive the call.
 */
typedef struct achan_opts {
    size_t item_size; /**< Bytes copied per item; > 0. */
    size_t capacity;  /**< mpsc: 0 = unbounded; broadcast: > 0; others: ignored. */
    /**
     * mpsc, oneshot: called once for every item destroyed without being
     * received (still buffered when the channel goes). May be NULL. It runs on
     * whichever thread drops the last handle concerned, and must not call back
     * into the channel being destroyed.
     */
    void (*item_drop)(void *item, void *user);
    void *user;                        /**< Passed to item_drop. */
    const achan_allocator *allocator; /**< NULL means malloc/free. */
} achan_opts;

#ifdef __cplusplus
}
#endif
#endif /* ACHAN_CORE_H */
