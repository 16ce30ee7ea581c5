/* test_waker_cell.c - unit tests for src/waker_cell.h (the single-waiter
 * cell): what each operation does with the registered waker's clones, and a
 * threaded register-then-recheck / publish-then-notify race that must never
 * lose a wake-up.
 */
#define _POSIX_C_SOURCE 200809L
#include "test_support.h"

#include <pthread.h>
#include <sched.h>

#include "waker_cell.h"

#define MS 1000000LL

static void register_with(achan__waker_cell *c, test_waker *t) {
    achan_waker w = test_waker_get(t);
    achan__waker_cell_register(c, &w);
}

/* ---- single-threaded behaviour ---- */

static void notify_without_registration_wakes_nothing(void **state) {
    (void)state;
    achan__waker_cell c;
    achan__waker_cell_init(&c);
    achan__waker_cell_notify(&c);
    achan__waker_cell_notify(&c);
    /* Registering afterwards is not woken by those earlier notifies. */
    test_waker t = {0};
    register_with(&c, &t);
    assert_int_equal(test_waker_wakes(&t), 0);
    assert_int_equal(test_waker_live(&t), 1);
    achan__waker_cell_destroy(&c);
    assert_int_equal(test_waker_live(&t), 0);
    assert_int_equal(test_waker_wakes(&t), 0);
}

static void register_then_notify_wakes_once(void **state) {
    (void)state;
    achan__waker_cell c;
    achan__waker_cell_init(&c);
    test_waker t = {0};
    register_with(&c, &t);
    assert_int_equal(atomic_load(&t.clones), 1);
    assert_int_equal(test_waker_live(&t), 1);
    achan__waker_cell_notify(&c);
    assert_int_equal(test_waker_wakes(&t), 1);
    assert_int_equal(test_waker_live(&t), 0);
    /* The waker was taken out: later notifies wake nothing. */
    achan__waker_cell_notify(&c);
    assert_int_equal(test_waker_wakes(&t), 1);
    /* The cell is reusable. */
    register_with(&c, &t);
    assert_int_equal(test_waker_live(&t), 1);
    achan__waker_cell_notify(&c);
    assert_int_equal(test_waker_wakes(&t), 2);
    assert_int_equal(test_waker_live(&t), 0);
    achan__waker_cell_destroy(&c);
    assert_int_equal(test_waker_live(&t), 0);
}

static void reregister_same_waker_keeps_it(void **state) {
    (void)state;
    achan__waker_cell c;
    achan__waker_cell_init(&c);
    test_waker t = {0};
    for (int i = 0; i < 5; i++)
        register_with(&c, &t);
    assert_int_equal(atomic_load(&t.clones), 1);
    assert_int_equal(test_waker_live(&t), 1);
    assert_int_equal(test_waker_wakes(&t), 0);
    achan__waker_cell_notify(&c);
    assert_int_equal(test_waker_wakes(&t), 1);
    assert_int_equal(test_waker_live(&t), 0);
    achan__waker_cell_destroy(&c);
}

static void register_different_waker_replaces_and_drops_old(void **state) {
    (void)state;
    achan__waker_cell c;
    achan__waker_cell_init(&c);
    test_waker a = {0}, b = {0};
    register_with(&c, &a);
    register_with(&c, &b);
    assert_int_equal(test_waker_live(&a), 0);
    assert_int_equal(test_waker_wakes(&a), 0);
    assert_int_equal(test_waker_live(&b), 1);
    /* And back again. */
    register_with(&c, &a);
    assert_int_equal(test_waker_live(&b), 0);
    assert_int_equal(test_waker_live(&a), 1);
    achan__waker_cell_notify(&c);
    assert_int_equal(test_waker_wakes(&a), 1);
    assert_int_equal(test_waker_wakes(&b), 0);
    assert_int_equal(test_waker_live(&a), 0);
    assert_int_equal(atomic_load(&a.clones), 2);
    assert_int_equal(atomic_load(&b.clones), 1);
    achan__waker_cell_destroy(&c);
}

static void clear_drops_without_waking(void **state) {
    (void)state;
    achan__waker_cell c;
    achan__waker_cell_init(&c);
    test_waker t = {0};
    achan__waker_cell_clear(&c); /* Empty: harmless. */
    register_with(&c, &t);
    achan__waker_cell_clear(&c);
    assert_int_equal(test_waker_live(&t), 0);
    assert_int_equal(test_waker_wakes(&t), 0);
    achan__waker_cell_clear(&c);
    achan__waker_cell_notify(&c);
    assert_int_equal(test_waker_wakes(&t), 0);
    /* Registering after a clear clones again. */
    register_with(&c, &t);
    assert_int_equal(atomic_load(&t.clones), 2);
    achan__waker_cell_notify(&c);
    assert_int_equal(test_waker_wakes(&t), 1);
    assert_int_equal(test_waker_live(&t), 0);
    achan__waker_cell_destroy(&c);
}

static void destroy_drops_without_waking(void **state) {
    (void)state;
    achan__waker_cell c;
    achan__waker_cell_init(&c);
    test_waker t = {0};
    register_with(&c, &t);
    achan__waker_cell_destroy(&c);
    assert_int_equal(test_waker_live(&t), 0);
    assert_int_equal(test_waker_wakes(&t), 0);
    /* Destroying an empty cell is harmless too. */
    achan__waker_cell d;
    achan__waker_cell_init(&d);
    achan__waker_cell_destroy(&d);
}

/* ---- the lost wake-up race ---- */

/* A waker that forwards to the registrant's thread waker and counts its own
 * clones. Two of them with different data let the registrant alternate, so
 * the race also covers replacing (and dropping) a registered waker. */
typedef struct {
    achan_waker thread; /* Borrowed: the registrant's thread waker. */
    atomic_long live;
} proxy;

static achan_waker proxy_clone(const void *data);
static void proxy_wake(void *data) {
    proxy *p = data;
    achan_waker_wake_by_ref(&p->thread);
    atomic_fetch_sub(&p->live, 1);
}
static void proxy_wake_by_ref(const void *data) {
    achan_waker_wake_by_ref(&((const proxy *)data)->thread);
}
static void proxy_drop(void *data) {
    atomic_fetch_sub(&((proxy *)data)->live, 1);
}
static const achan_waker_vtbl proxy_vtbl = {proxy_clone, proxy_wake, proxy_wake_by_ref, proxy_drop};
static achan_waker proxy_clone(const void *data) {
    proxy *p = (proxy *)data;
    atomic_fetch_add(&p->live, 1);
    achan_waker w = {&proxy_vtbl, p};
    return w;
}

typedef struct {
    achan__waker_cell cell;
    atomic_long published; /* The notifier's last published round. */
    atomic_long ready;     /* The round the registrant waits for. */
    atomic_long notified;  /* The round whose notify has returned. */
    atomic_long lost;      /* Rounds where a park ran out: a lost wake-up. */
    atomic_long parks;     /* Parks that actually waited for a wake. */
    atomic_int stop;       /* Set on the first lost wake-up: both threads give up. */
    long rounds;
    proxy proxies[2];
    achan_waker tw; /* The registrant's thread waker, handed back at its end. */
} race;

/* Waits until *v >= want, busily at first so the other thread is caught
 * within nanoseconds. False when the other thread gave up. */
static bool spin_until_at_least(race *r, atomic_long *v, long want) {
    for (unsigned spins = 0; atomic_load_explicit(v, memory_order_acquire) < want; spins++) {
        if (atomic_load(&r->stop))
            return false;
        if (spins < 1024)
            achan__cpu_relax();
        else
            sched_yield();
    }
    return true;
}

static void *registrant(void *arg) {
    race *r = arg;
    achan_waker tw;
    r->tw.vtbl = NULL;
    if (achan_thread_waker(&tw) != ACHAN_OK) {
        atomic_fetch_add(&r->lost, 1);
        atomic_store(&r->stop, 1);
        return NULL;
    }
    for (int i = 0; i < 2; i++) {
        r->proxies[i].thread = tw;
        atomic_init(&r->proxies[i].live, 0);
    }
    for (long round = 1; round <= r->rounds; round++) {
        /* Every notify of the previous round has returned: drop the token it
         * may have left, so each park below needs this round's wake. */
        if (!spin_until_at_least(r, &r->notified, round - 1))
            break;
        while (achan_thread_park(0) == ACHAN_OK) {
        }
        atomic_store_explicit(&r->ready, round, memory_order_release);
        achan_waker w = {&proxy_vtbl, &r->proxies[round & 1]};
        for (;;) {
            achan__waker_cell_register(&r->cell, &w);
            /* Acquire, as a channel's re-check would be: the fences in the
             * cell, not this load, must order it after the registration. */
            if (atomic_load_explicit(&r->published, memory_order_acquire) >= round)
                break;
            atomic_fetch_add(&r->parks, 1);
            if (achan_thread_park(10000 * MS) == ACHAN_TIMEOUT) {
                atomic_fetch_add(&r->lost, 1);
                atomic_store(&r->stop, 1);
                break;
            }
        }
        if (atomic_load(&r->stop))
            break;
    }
    /* The test thread clears the cell and drops tw once the notifier has
     * finished too: the thread waker outlives this thread. */
    r->tw = tw;
    return NULL;
}

static void *notifier(void *arg) {
    race *r = arg;
    uint32_t x = 2463534242u; /* xorshift32: where in the registrant's steps we publish. */
    for (long round = 1; round <= r->rounds; round++) {
        if (!spin_until_at_least(r, &r->ready, round))
            break;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        /* A short, variable delay, mostly within the few nanoseconds the
         * registrant spends registering and re-checking. */
        uint32_t delay = (x & 3) == 0 ? (x >> 2) % 64 : (x >> 2) % 4;
        for (uint32_t i = delay; i > 0; i--)
            achan__cpu_relax();
        /* Release, as a channel publishes: a plain store on x86, so only the
         * cell's fences keep it ordered before notify's look at the state. */
        atomic_store_explicit(&r->published, round, memory_order_release);
        achan__waker_cell_notify(&r->cell);
        atomic_store_explicit(&r->notified, round, memory_order_release);
    }
    return NULL;
}

static void no_lost_wakeup_between_register_and_notify(void **state) {
    (void)state;
    race r;
    achan__waker_cell_init(&r.cell);
    atomic_init(&r.published, 0);
    atomic_init(&r.ready, 0);
    atomic_init(&r.notified, 0);
    atomic_init(&r.lost, 0);
    atomic_init(&r.parks, 0);
    atomic_init(&r.stop, 0);
    r.rounds = (long)test_stress_count(100000);
    pthread_t a, b;
    assert_int_equal(pthread_create(&a, NULL, registrant, &r), 0);
    assert_int_equal(pthread_create(&b, NULL, notifier, &r), 0);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    achan__waker_cell_clear(&r.cell);
    if (r.tw.vtbl)
        achan_waker_drop(r.tw);
    assert_int_equal(atomic_load(&r.lost), 0);
    assert_int_equal(atomic_load(&r.published), r.rounds);
    /* Every clone the cell made was woken or dropped. */
    assert_int_equal(atomic_load(&r.proxies[0].live), 0);
    assert_int_equal(atomic_load(&r.proxies[1].live), 0);
    achan__waker_cell_destroy(&r.cell);
    print_message("%ld rounds, %ld parks\n", r.rounds, atomic_load(&r.parks));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(notify_without_registration_wakes_nothing),
        cmocka_unit_test(register_then_notify_wakes_once),
        cmocka_unit_test(reregister_same_waker_keeps_it),
        cmocka_unit_test(register_different_waker_replaces_and_drops_old),
        cmocka_unit_test(clear_drops_without_waking),
        cmocka_unit_test(destroy_drops_without_waking),
        cmocka_unit_test(no_lost_wakeup_between_register_and_notify),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
