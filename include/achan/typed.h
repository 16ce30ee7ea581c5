/**
 * @file
 * @brief achan/typed.h - type-safe wrappers: a wrong item type is a compile error.
 *
 *     struct job { int id; double cost; };
 *     ACHAN_MPSC_TYPED(jobq, struct job)
 *
 *     jobq_sender *tx; jobq_receiver *rx;
 *     jobq_new(64, &tx, &rx);             // item_size is sizeof(struct job)
 *     struct job j = {1, 2.5};
 *     jobq_send(tx, &j);                  // const struct job *: &some_int will not compile
 *     jobq_recv_blocking(rx, &j, -1);     // struct job *
 *
 * Each macro, used once at file scope, declares opaque handle types
 * name_sender and name_receiver (distinct per name, so handles of two typed
 * channels cannot be mixed up either) and static inline functions that
 * forward to the untyped API with item_size = sizeof(T). Every wrapper has
 * the semantics of the achan_ function it names (see mpsc.h, oneshot.h,
 * watch.h, broadcast.h); name_send is the one that waits: send_blocking with
 * no timeout for mpsc, the plain send for the others. name_new_opts (mpsc,
 * oneshot, broadcast) takes full options (item_size is set for you);
 * name_raw_sender / name_raw_receiver give the untyped handles, for the
 * stream combinators and the like.
 *
 * Every kind also gets name_stream (the receiver as an achan_stream),
 * name_sender_drop and name_receiver_drop.
 *
 * Concurrency:
 *
 *     call                          | may run concurrently with
 *     ------------------------------+-------------------------------------------
 *     name_X (every wrapper that    | whatever achan_KIND_X may: see the table
 *     forwards to achan_KIND_X)     | in mpsc.h, oneshot.h, watch.h or
 *                                   | broadcast.h (name_send is send_blocking
 *                                   | for mpsc)
 *     name_raw_sender,              | anything: they only convert the pointer
 *     name_raw_receiver             |
 *
 * Ownership: that of the untyped channel. A typed handle is the untyped
 * handle under another type, not another reference: name_raw_sender and
 * name_raw_receiver return the same object, and name_stream its stream. So
 * release each handle exactly once, under any one of its names: the typed
 * drop (name_sender_drop, name_receiver_drop), the untyped drop on the raw
 * handle, achan_stream_drop on name_stream's stream, achan_future_drop on a
 * oneshot's name_future, or name_send for a oneshot sender (it consumes the
 * sender, as achan_oneshot_send does).
 *
 * These wrappers touch no atomics, so they may live in the header.
 */
#ifndef ACHAN_TYPED_H
#define ACHAN_TYPED_H

#include "achan/broadcast.h"
#include "achan/mpsc.h"
#include "achan/oneshot.h"
#include "achan/watch.h"

/* The wrappers are expanded into the user's file, where clang's
 * -Wunused-function would flag every one the file does not call. */
#if defined(__GNUC__)
#define ACHAN__TYPED_FN static inline __attribute__((unused))
#else
#define ACHAN__TYPED_FN static inline
#endif

/* NOLINTBEGIN(bugprone-macro-parentheses): T is a type in these macros, and a
 * parenthesised type cannot declare a parameter. */
/* Declarations shared by every kind: the opaque handles and their casts. */
#define ACHAN__TYPED_HANDLES(name, kind)                                                           \
    typedef struct name##_sender_s name##_sender;                                                  \
    typedef struct name##_receiver_s name##_receiver;                                              \
    ACHAN__TYPED_FN achan_##kind##_sender *name##_raw_sender(name##_sender *tx) {                    \
        return (achan_##kind##_sender *)(void *)tx;                                                \
    }                                                                                              \
    ACHAN__TYPED_FN achan_##kind##_receiver *name##_raw_receiver(name##_receiver *rx) {              \
        return (achan_##kind##_receiver *)(void *)rx;                                              \
    }                                                                                              \
    ACHAN__TYPED_FN achan_stream *name##_stream(name##_receiver *rx) {                               \
        return achan_##kind##_receiver_stream(name##_raw_receiver(rx));                            \
    }                                                                                              \
    ACHAN__TYPED_FN void name##_receiver_drop(name##_receiver *rx) {                                 \
        achan_##kind##_receiver_drop(name##_raw_receiver(rx));                                     \
    }                                                                                              \
    ACHAN__TYPED_FN void name##_sender_drop(name##_sender *tx) {                                     \
        achan_##kind##_sender_drop(name##_raw_sender(tx));                                         \
    }

#define ACHAN__TYPED_NEW(name, kind, T)                                                            \
    ACHAN__TYPED_FN achan_status name##_new_opts(achan_opts o, name##_sender **tx,                   \
                                               name##_receiver **rx) {                             \
        achan_##kind##_sender *t;                                                                  \
        achan_##kind##_receiver *r;                                                                \
        o.item_size = sizeof(T);                                                                   \
        if (!tx || !rx)                                                                            \
            return ACHAN_INVALID;                                                                  \
        achan_status st = achan_##kind##_new(&o, &t, &r);                                          \
        if (st == ACHAN_OK) {                                                                      \
            *tx = (name##_sender *)(void *)t;                                                      \
            *rx = (name##_receiver *)(void *)r;                                                    \
        }                                                                                          \
        return st;                                                                                 \
    }

/**
 * mpsc of T: name_new(capacity, &tx, &rx), name_new_opts, name_sender_clone,
 * name_try_send, name_poll_send, name_send_blocking, name_send (waits without
 * a timeout), name_try_recv, name_poll_recv, name_poll_recv_many,
 * name_recv_blocking, name_receiver_close, name_len, name_capacity.
 */
#define ACHAN_MPSC_TYPED(name, T)                                                                  \
    ACHAN__TYPED_HANDLES(name, mpsc)                                                               \
    ACHAN__TYPED_NEW(name, mpsc, T)                                                                \
    ACHAN__TYPED_FN achan_status name##_new(size_t capacity, name##_sender **tx,                     \
                                          name##_receiver **rx) {                                  \
        achan_opts o = {0};                                                                        \
        o.capacity = capacity;                                                                     \
        return name##_new_opts(o, tx, rx);                                                         \
    }                                                                                              \
    ACHAN__TYPED_FN name##_sender *name##_sender_clone(name##_sender *tx) {                          \
        return (name##_sender *)(void *)achan_mpsc_sender_clone(name##_raw_sender(tx));            \
    }                                                                                              \
    ACHAN__TYPED_FN achan_status name##_try_send(name##_sender *tx, const T *v) {                    \
        return achan_mpsc_try_send(name##_raw_sender(tx), v);                                      \
    }                                                                                              \
    ACHAN__TYPED_FN achan_status name##_poll_send(name##_sender *tx, achan_context *cx,              \
                                                const T *v) {                                      \
        return achan_mpsc_poll_send(name##_raw_sender(tx), cx, v);                                 \
    }                                                                                              \
    ACHAN__TYPED_FN achan_status name##_send_blocking(name##_sender *tx, const T *v,                 \
                                                    int64_t timeout_ns) {                          \
        return achan_mpsc_send_blocking(name##_raw_sender(tx), v, timeout_ns);                     \
    }                                                                                              \
    ACHAN__TYPED_FN achan_status name##_send(name##_sender *tx, const T *v) {                        \
        return achan_mpsc_send_blocking(name##_raw_sender(tx), v, -1);                             \
    }                                                                                              \
    ACHAN__TYPED_FN achan_status name##_try_recv(name##_receiver *rx, T *out) {                      \
        return achan_mpsc_try_recv(name##_raw_receiver(rx), out);                                  \
    }                                                                                              \
    ACHAN__TYPED_FN achan_status name##_poll_recv(name##_receiver *rx, achan_context *cx, T *out) {  \
        return achan_mpsc_poll_recv(name##_raw_receiver(rx), cx, out);                             \
    }                                                                                              \
    ACHAN__TYPED_FN size_t name##_poll_recv_many(name##_receiver *rx, achan_context *cx, T *out,     \
                                               size_t max, achan_status *st) {                     \
        return achan_mpsc_poll_recv_many(name##_raw_receiver(rx), cx, out, max, st);               \
    }                                                                                              \
    ACHAN__TYPED_FN achan_status name##_recv_blocking(name##_receiver *rx, T *out,                   \
                                                    int64_t timeout_ns) {                          \
        return achan_mpsc_recv_blocking(name##_raw_receiver(rx), out, timeout_ns);                 \
    }                                                                                              \
    ACHAN__TYPED_FN void name##_receiver_close(name##_receiver *rx) {                                \
        achan_mpsc_receiver_close(name##_raw_receiver(rx));                                        \
    }                                                                                              \
    ACHAN__TYPED_FN size_t name##_len(name##_receiver *rx) {                                         \
        return achan_mpsc_len(name##_raw_receiver(rx));                                            \
    }                                                                                              \
    ACHAN__TYPED_FN size_t name##_capacity(name##_sender *tx) {                                      \
        return achan_mpsc_capacity(name##_raw_sender(tx));                                         \
    }

/**
 * oneshot of T: name_new(&tx, &rx), name_new_opts, name_send (consumes tx),
 * name_sender_is_closed, name_poll_closed, name_try_recv, name_poll_recv,
 * name_recv_blocking, name_receiver_close, name_future.
 */
#define ACHAN_ONESHOT_TYPED(name, T)                                                               \
    ACHAN__TYPED_HANDLES(name, oneshot)                                                            \
    ACHAN__TYPED_NEW(name, oneshot, T)                                                             \
    ACHAN__TYPED_FN achan_status name##_new(name##_sender **tx, name##_receiver **rx) {              \
        achan_opts o = {0};                                                                        \
        return name##_new_opts(o, tx, rx);                                                         \
    }                                                                                              \
    ACHAN__TYPED_FN achan_status name##_send(name##_sender *tx, const T *v) {                        \
        return achan_oneshot_send(name##_raw_sender(tx), v);                                       \
    }                                                                                              \
    ACHAN__TYPED_FN bool name##_sender_is_closed(name##_sender *tx) {                                \
        return achan_oneshot_sender_is_closed(name##_raw_sender(tx));                              \
    }                                                                                              \
    ACHAN__TYPED_FN achan_status name##_poll_closed(name##_sender *tx, achan_context *cx) {          \
        return achan_oneshot_poll_closed(name##_raw_sender(tx), cx);                               \
    }                                                                                              \
    ACHAN__TYPED_FN achan_status name##_try_recv(name##_receiver *rx, T *out) {                      \
        return achan_oneshot_try_recv(name##_raw_receiver(rx), out);                               \
    }                                                                                              \
    ACHAN__TYPED_FN achan_status name##_poll_recv(name##_receiver *rx, achan_context *cx, T *out) {  \
        return achan_oneshot_poll_recv(name##_raw_receiver(rx), cx, out);                          \
    }                                                                                              \
    ACHAN__TYPED_FN achan_status name##_recv_blocking(name##_receiver *rx, T *out,                   \
                                                    int64_t timeout_ns) {                          \
        return achan_oneshot_recv_blocking(name##_raw_receiver(rx), out, timeout_ns);              \
    }                                                                                              \
    ACHAN__TYPED_FN void name##_receiver_close(name##_receiver *rx) {                                \
        achan_oneshot_receiver_close(name##_raw_receiver(rx));                                     \
    }                                                                                              \
    ACHAN__TYPED_FN achan_future *name##_future(name##_receiver *rx) {                               \
        return achan_oneshot_receiver_future(name##_raw_receiver(rx));                             \
    }

/**
 * watch of T: name_new(&initial, &tx, &rx), name_send, name_send_replace,
 * name_subscribe, name_receiver_count, name_receiver_clone, name_borrow,
 * name_borrow_and_update, name_has_changed, name_poll_changed,
 * name_changed_blocking.
 */
#define ACHAN_WATCH_TYPED(name, T)                                                                 \
    ACHAN__TYPED_HANDLES(name, watch)                                                              \
    ACHAN__TYPED_FN achan_status name##_new(const T *initial, name##_sender **tx,                    \
                                          name##_receiver **rx) {                                  \
        achan_watch_sender *t;                                                                     \
        achan_watch_receiver *r;                                                                   \
        achan_opts o = {0};                                                                        \
        o.item_size = sizeof(T);                                                                   \
        if (!tx || !rx)                                                                            \
            return ACHAN_INVALID;                                                                  \
        achan_status st = achan_watch_new(&o, initial, &t, &r);                                    \
        if (st == ACHAN_OK) {                                                                      \
            *tx = (name##_sender *)(void *)t;                                                      \
            *rx = (name##_receiver *)(void *)r;                                                    \
        }                                                                                          \
        return st;                                                                                 \
    }                                                                                              \
    ACHAN__TYPED_FN achan_status name##_send(name##_sender *tx, const T *v) {                        \
        return achan_watch_send(name##_raw_sender(tx), v);                                         \
    }                                                                                              \
    ACHAN__TYPED_FN void name##_send_replace(name##_sender *tx, const T *v, T *old) {                \
        achan_watch_send_replace(name##_raw_sender(tx), v, old);                                   \
    }                                                                                              \
    ACHAN__TYPED_FN name##_receiver *name##_subscribe(name##_sender *tx) {                           \
        return (name##_receiver *)(void *)achan_watch_subscribe(name##_raw_sender(tx));            \
    }                                                                                              \
    ACHAN__TYPED_FN size_t name##_receiver_count(name##_sender *tx) {                                \
        return achan_watch_receiver_count(name##_raw_sender(tx));                                  \
    }                                                                                              \
    ACHAN__TYPED_FN name##_receiver *name##_receiver_clone(name##_receiver *rx) {                    \
        return (name##_receiver *)(void *)achan_watch_receiver_clone(name##_raw_receiver(rx));     \
    }                                                                                              \
    ACHAN__TYPED_FN void name##_borrow(name##_receiver *rx, T *out) {                                \
        achan_watch_borrow(name##_raw_receiver(rx), out);                                          \
    }                                                                                              \
    ACHAN__TYPED_FN void name##_borrow_and_update(name##_receiver *rx, T *out) {                     \
        achan_watch_borrow_and_update(name##_raw_receiver(rx), out);                               \
    }                                                                                              \
    ACHAN__TYPED_FN achan_status name##_has_changed(name##_receiver *rx) {                           \
        return achan_watch_has_changed(name##_raw_receiver(rx));                                   \
    }                                                                                              \
    ACHAN__TYPED_FN achan_status name##_poll_changed(name##_receiver *rx, achan_context *cx) {       \
        return achan_watch_poll_changed(name##_raw_receiver(rx), cx);                              \
    }                                                                                              \
    ACHAN__TYPED_FN achan_status name##_changed_blocking(name##_receiver *rx, int64_t timeout_ns) {  \
        return achan_watch_changed_blocking(name##_raw_receiver(rx), timeout_ns);                  \
    }

/**
 * broadcast of T: name_new(capacity, &tx, &rx), name_new_opts,
 * name_sender_clone, name_send(tx, &v, &receivers), name_subscribe,
 * name_resubscribe, name_receiver_count, name_try_recv, name_poll_recv,
 * name_recv_blocking, name_len.
 */
#define ACHAN_BROADCAST_TYPED(name, T)                                                             \
    ACHAN__TYPED_HANDLES(name, broadcast)                                                          \
    ACHAN__TYPED_NEW(name, broadcast, T)                                                           \
    ACHAN__TYPED_FN achan_status name##_new(size_t capacity, name##_sender **tx,                     \
                                          name##_receiver **rx) {                                  \
        achan_opts o = {0};                                                                        \
        o.capacity = capacity;                                                                     \
        return name##_new_opts(o, tx, rx);                                                         \
    }                                                                                              \
    ACHAN__TYPED_FN name##_sender *name##_sender_clone(name##_sender *tx) {                          \
        return (name##_sender *)(void *)achan_broadcast_sender_clone(name##_raw_sender(tx));       \
    }                                                                                              \
    ACHAN__TYPED_FN achan_status name##_send(name##_sender *tx, const T *v, size_t *receivers) {     \
        return achan_broadcast_send(name##_raw_sender(tx), v, receivers);                          \
    }                                                                                              \
    ACHAN__TYPED_FN name##_receiver *name##_subscribe(name##_sender *tx) {                           \
        return (name##_receiver *)(void *)achan_broadcast_subscribe(name##_raw_sender(tx));        \
    }                                                                                              \
    ACHAN__TYPED_FN name##_receiver *name##_resubscribe(name##_receiver *rx) {                       \
        return (name##_receiver *)(void *)achan_broadcast_resubscribe(name##_raw_receiver(rx));    \
    }                                                                                              \
    ACHAN__TYPED_FN size_t name##_receiver_count(name##_sender *tx) {                                \
        return achan_broadcast_receiver_count(name##_raw_sender(tx));                              \
    }                                                                                              \
    ACHAN__TYPED_FN achan_status name##_try_recv(name##_receiver *rx, T *out, uint64_t *skipped) {   \
        return achan_broadcast_try_recv(name##_raw_receiver(rx), out, skipped);                    \
    }                                                                                              \
    ACHAN__TYPED_FN achan_status name##_poll_recv(name##_receiver *rx, achan_context *cx, T *out,    \
                                                uint64_t *skipped) {                               \
        return achan_broadcast_poll_recv(name##_raw_receiver(rx), cx, out, skipped);               \
    }                                                                                              \
    ACHAN__TYPED_FN achan_status name##_recv_blocking(name##_receiver *rx, T *out,                   \
                                                    uint64_t *skipped, int64_t timeout_ns) {       \
        return achan_broadcast_recv_blocking(name##_raw_receiver(rx), out, skipped, timeout_ns);   \
    }                                                                                              \
    ACHAN__TYPED_FN size_t name##_len(name##_receiver *rx) {                                         \
        return achan_broadcast_len(name##_raw_receiver(rx));                                       \
    }

/* NOLINTEND(bugprone-macro-parentheses) */

#endif /* ACHAN_TYPED_H */
