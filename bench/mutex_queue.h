/* mutex_queue.h - the baseline: the bounded queue people write by hand.
 *
 * One pthread mutex, two condition variables (not_empty, not_full), a signal
 * on every push and pop. This is the comparison point of achan_bench, built
 * the same way as ../shared/peers/c/mutex_peer.c.
 */
#ifndef ACHAN_BENCH_MUTEX_QUEUE_H
#define ACHAN_BENCH_MUTEX_QUEUE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

typedef struct mutex_queue {
    pthread_mutex_t m;
    pthread_cond_t not_empty, not_full;
    uint64_t *buf;
    size_t cap, head, count;
    bool closed;
} mutex_queue;

static inline mutex_queue *mutex_queue_new(size_t cap) {
    mutex_queue *q = calloc(1, sizeof *q);
    pthread_mutex_init(&q->m, NULL);
    pthread_cond_init(&q->not_empty, NULL);
    pthread_cond_init(&q->not_full, NULL);
    q->buf = malloc(cap * sizeof(uint64_t));
    q->cap = cap;
    return q;
}

static inline void mutex_queue_free(mutex_queue *q) {
    pthread_mutex_destroy(&q->m);
    pthread_cond_destroy(&q->not_empty);
    pthread_cond_destroy(&q->not_full);
    free(q->buf);
    free(q);
}

static inline void mutex_queue_push(mutex_queue *q, uint64_t v) {
    pthread_mutex_lock(&q->m);
    while (q->count == q->cap)
        pthread_cond_wait(&q->not_full, &q->m);
    q->buf[(q->head + q->count) % q->cap] = v;
    q->count++;
    pthread_cond_signal(&q->not_empty);
    pthread_mutex_unlock(&q->m);
}

/* Returns false once closed and drained. */
static inline bool mutex_queue_pop(mutex_queue *q, uint64_t *v) {
    pthread_mutex_lock(&q->m);
    while (q->count == 0 && !q->closed)
        pthread_cond_wait(&q->not_empty, &q->m);
    bool ok = q->count > 0;
    if (ok) {
        *v = q->buf[q->head];
        q->head = (q->head + 1) % q->cap;
        q->count--;
        pthread_cond_signal(&q->not_full);
    }
    pthread_mutex_unlock(&q->m);
    return ok;
}

static inline void mutex_queue_close(mutex_queue *q) {
    pthread_mutex_lock(&q->m);
    q->closed = true;
    pthread_cond_broadcast(&q->not_empty);
    pthread_mutex_unlock(&q->m);
}

#endif
