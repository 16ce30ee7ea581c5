/* test_fd.c - the fd waker: readable after a wake, cleared by clear, wakes
 * coalesce, no wake is lost under a million wakes from two threads, and no
 * descriptor leaks. Every case runs on both backends (eventfd and pipe). */
#define _GNU_SOURCE
#include "test_support.h"

#include <dirent.h>
#include <poll.h>
#include <stdio.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

typedef achan_status (*maker)(achan_fd_waker **);
static const maker makers[] = {achan_fd_waker_new, achan_fd_waker_new_pipe};
static const char *const backends[] = {"eventfd", "pipe"};

static int open_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    if (!d)
        return -1;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

static bool readable(const achan_fd_waker *fw, int timeout_ms) {
    struct pollfd p = {achan_fd_waker_fd(fw), POLLIN, 0};
    return poll(&p, 1, timeout_ms) == 1 && (p.revents & POLLIN);
}

static void bad_input_is_rejected(void **state) {
    (void)state;
    assert_int_equal(achan_fd_waker_new(NULL), ACHAN_INVALID);
    assert_int_equal(achan_fd_waker_new_pipe(NULL), ACHAN_INVALID);
    assert_int_equal(achan_fd_waker_fd(NULL), -1);
    achan_fd_waker_clear(NULL);
    achan_fd_waker_drop(NULL);
}

static void wake_makes_readable_and_clear_resets(void **state) {
    (void)state;
    for (int b = 0; b < 2; b++) {
        achan_fd_waker *fw;
        assert_int_equal(makers[b](&fw), ACHAN_OK);
        assert_string_equal(achan_fd_waker_backend(fw), backends[b]);
        assert_true(achan_fd_waker_fd(fw) >= 0);
        assert_false(readable(fw, 0));
        achan_waker w = achan_fd_waker_waker(fw);
        achan_waker_wake_by_ref(&w);
        assert_true(readable(fw, 0));
        achan_fd_waker_clear(fw);
        assert_false(readable(fw, 0));
        /* wake (by value) consumes the waker and still signals. */
        achan_waker w2 = achan_waker_clone(&w);
        achan_waker_wake(w2);
        assert_true(readable(fw, 0));
        achan_fd_waker_clear(fw);
        achan_waker_drop(w);
        achan_fd_waker_drop(fw);
    }
}

/* Many wakes before a clear leave one readable event: one write, and one
 * clear makes the fd quiet again. */
static void wakes_coalesce(void **state) {
    (void)state;
    for (int b = 0; b < 2; b++) {
        achan_fd_waker *fw;
        assert_int_equal(makers[b](&fw), ACHAN_OK);
        achan_waker w = achan_fd_waker_waker(fw);
        for (int i = 0; i < 1000; i++)
            achan_waker_wake_by_ref(&w);
        int fd = achan_fd_waker_fd(fw);
        if (b == 0) {
            uint64_t v = 0;
            assert_int_equal(read(fd, &v, sizeof v), (ssize_t)sizeof v);
            assert_int_equal(v, 1); /* One write for 1000 wakes. */
        } else {
            int pending = 0;
            assert_int_equal(ioctl(fd, FIONREAD, &pending), 0);
            assert_int_equal(pending, 1);
        }
        achan_fd_waker_clear(fw);
        assert_false(readable(fw, 0));
        achan_waker_wake_by_ref(&w); /* After a clear, the next wake signals again. */
        assert_true(readable(fw, 0));
        achan_waker_drop(w);
        achan_fd_waker_drop(fw);
    }
}

static void *wake_later(void *arg) {
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, NULL);
    achan_waker_wake(*(achan_waker *)arg);
    return NULL;
}

static void wake_from_another_thread_wakes_poll(void **state) {
    (void)state;
    for (int b = 0; b < 2; b++) {
        achan_fd_waker *fw;
        assert_int_equal(makers[b](&fw), ACHAN_OK);
        achan_waker w = achan_fd_waker_waker(fw);
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, wake_later, &w), 0);
        assert_true(readable(fw, 10000));
        pthread_join(t, NULL);
        achan_fd_waker_drop(fw);
    }
}

/* A waker may outlive the creator's handle; the fd closes with the last. */
static void waker_outlives_handle_and_nothing_leaks(void **state) {
    (void)state;
    int before = open_fds();
    for (int b = 0; b < 2; b++) {
        for (int i = 0; i < 100; i++) {
            achan_fd_waker *fw;
            assert_int_equal(makers[b](&fw), ACHAN_OK);
            achan_waker w = achan_fd_waker_waker(fw);
            achan_fd_waker_drop(fw);
            achan_waker_wake_by_ref(&w);
            achan_waker_drop(w);
        }
    }
    assert_int_equal(open_fds(), before);
}

#define WAKE_PRODUCERS 2

/* Two threads send a million messages; a poll() loop driven only by the fd
 * waker (clear, poll the receiver until PENDING, wait for readability) sees
 * every one, in per-producer order, and then the end. */
static void million_wakes_from_two_threads_lose_none(void **state) {
    (void)state;
    uint64_t total = test_stress_count(1000000);
    int before = open_fds();
    for (int b = 0; b < 2; b++) {
        achan_fd_waker *fw;
        assert_int_equal(makers[b](&fw), ACHAN_OK);
        achan_mpsc_sender *tx;
        achan_mpsc_receiver *rx;
        achan_opts o = {.item_size = sizeof(uint64_t), .capacity = 64};
        assert_int_equal(achan_mpsc_new(&o, &tx, &rx), ACHAN_OK);
        test_producer ps[WAKE_PRODUCERS];
        pthread_t ts[WAKE_PRODUCERS];
        for (uint64_t i = 0; i < WAKE_PRODUCERS; i++) {
            ps[i].tx = i == 0 ? tx : achan_mpsc_sender_clone(tx);
            ps[i].id = i;
            ps[i].n = total / WAKE_PRODUCERS;
        }
        for (int i = 0; i < WAKE_PRODUCERS; i++)
            assert_int_equal(pthread_create(&ts[i], NULL, test_produce, &ps[i]), 0);

        achan_waker w = achan_fd_waker_waker(fw);
        achan_context cx = {&w};
        uint64_t next[WAKE_PRODUCERS] = {0}, got = 0, m, sleeps = 0;
        achan_status st = ACHAN_PENDING;
        while (st != ACHAN_CLOSED) {
            achan_fd_waker_clear(fw);
            while ((st = achan_mpsc_poll_recv(rx, &cx, &m)) == ACHAN_OK) {
                uint64_t id = test_msg_producer(m);
                assert_true(id < WAKE_PRODUCERS);
                assert_int_equal(test_msg_seq(m), next[id]);
                next[id]++;
                got++;
            }
            if (st == ACHAN_PENDING) {
                /* A lost wake would hang here: the deadline turns it into a
                 * failure instead. */
                assert_true(readable(fw, 30000));
                sleeps++;
            }
        }
        for (int i = 0; i < WAKE_PRODUCERS; i++)
            pthread_join(ts[i], NULL);
        assert_int_equal(got, total / WAKE_PRODUCERS * WAKE_PRODUCERS);
        printf("    %s: %llu messages, %llu waits on the fd\n", backends[b],
               (unsigned long long)got, (unsigned long long)sleeps);
        achan_waker_drop(w);
        achan_mpsc_receiver_drop(rx);
        achan_fd_waker_drop(fw);
    }
    assert_int_equal(open_fds(), before);
}

/* The waker alone, without a channel: two threads each publish (a counter
 * increment) then wake, half a million times. The consumer clears, reads the
 * counter, and waits for readability only when nothing new was published
 * since its clear. Any wake after a clear must leave the fd readable, so the
 * consumer sees every increment; a lost wake would leave it waiting on a
 * quiet fd (turned into a failure by the deadline). */
typedef struct {
    achan_fd_waker *fw;
    atomic_ulong *published;
    unsigned long n;
} raw_waker_args;

static void *raw_wake(void *arg) {
    raw_waker_args *a = arg;
    achan_waker w = achan_fd_waker_waker(a->fw);
    for (unsigned long i = 0; i < a->n; i++) {
        atomic_fetch_add(a->published, 1);
        achan_waker_wake_by_ref(&w);
    }
    achan_waker_drop(w);
    return NULL;
}

static void raw_wakes_from_two_threads_lose_none(void **state) {
    (void)state;
    unsigned long per = test_stress_count(500000);
    int before = open_fds();
    for (int b = 0; b < 2; b++) {
        achan_fd_waker *fw;
        assert_int_equal(makers[b](&fw), ACHAN_OK);
        atomic_ulong published;
        atomic_init(&published, 0);
        raw_waker_args a = {fw, &published, per};
        pthread_t ts[2];
        for (int i = 0; i < 2; i++)
            assert_int_equal(pthread_create(&ts[i], NULL, raw_wake, &a), 0);
        unsigned long seen = 0, waits = 0;
        while (seen < 2 * per) {
            achan_fd_waker_clear(fw);
            unsigned long now = atomic_load(&published);
            if (now != seen) {
                seen = now;
                continue;
            }
            assert_true(readable(fw, 30000));
            waits++;
        }
        for (int i = 0; i < 2; i++)
            pthread_join(ts[i], NULL);
        assert_int_equal(seen, 2 * per);
        printf("    %s: %lu wakes, %lu waits on the fd\n", backends[b], 2 * per, waits);
        achan_fd_waker_drop(fw);
    }
    assert_int_equal(open_fds(), before);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bad_input_is_rejected),
        cmocka_unit_test(wake_makes_readable_and_clear_resets),
        cmocka_unit_test(wakes_coalesce),
        cmocka_unit_test(wake_from_another_thread_wakes_poll),
        cmocka_unit_test(waker_outlives_handle_and_nothing_leaks),
        cmocka_unit_test(million_wakes_from_two_threads_lose_none),
        cmocka_unit_test(raw_wakes_from_two_threads_lose_none),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
