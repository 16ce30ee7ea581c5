/* fuzz_watch.c - libFuzzer harness: watch against a reference model.
 *
 * The input is a configuration byte (item size, and whether an allocation of
 * achan_watch_new fails) followed by operations, each an opcode byte and an
 * argument byte, applied from one thread to one channel with its sender and
 * up to four receivers: subscribe, receiver_clone and receiver drop (directly
 * or as the stream); send, send_replace (checking old_out), send_modify,
 * send_if_modified returning true or false, poll_closed, receiver_count and
 * the sender's drop; borrow, borrow_and_update, has_changed, poll_changed,
 * changed_blocking(0), mark_changed, mark_unchanged, and the receiver as a
 * stream (also from_changes); calls with bad arguments (ACHAN_INVALID or
 * nothing done, nothing changed). subscribe and receiver_clone can be made
 * to meet a failing allocation.
 *
 * The model is Tokio's watch: the value, a version counter, closed (the
 * sender is gone), and per receiver the version it has seen, whether its
 * stream started and ended, and which of its two counting wakers it
 * registered; plus the receiver count and the sender's poll_closed waker.
 * Every status, value, old value, count, wake count and live waker clone
 * must match after each operation; at the end every block the channel
 * allocated must have been freed once, with its size.
 */
#define FUZZ_NAME "fuzz_watch"
#include "fuzz_support.h"

#define MAX_RX 4
#define MAX_ITEM 40

typedef struct {
    achan_watch_receiver *h; /* NULL: free slot. */
    int64_t seen;            /* The version this receiver has seen. */
    bool started, ended;     /* Its stream yielded the first item / CLOSED. */
    int reg;                 /* The waker registered by poll_changed (0, 1), or -1. */
    fz_counter w[2];
    long wakes[2], live[2];
} rx_model;

typedef struct {
    size_t item_size;
    fz_heap heap;
    achan_allocator alloc;
    achan_watch_sender *tx; /* NULL once dropped. */
    uint8_t value[MAX_ITEM];
    int64_t version;
    bool closed;
    size_t rx_count;
    unsigned nsends;
    rx_model rx[MAX_RX];
    int tx_reg; /* poll_closed's waker, or -1. */
    fz_counter txw[2];
    long tx_wakes[2], tx_live[2];
} model;

static model m;

static void check_wakers(void) {
    for (int k = 0; k < 2; k++) {
        CHECK(m.txw[k].wakes == m.tx_wakes[k] && m.txw[k].live == m.tx_live[k]);
        for (int i = 0; i < MAX_RX; i++)
            CHECK(m.rx[i].w[k].wakes == m.rx[i].wakes[k] && m.rx[i].w[k].live == m.rx[i].live[k]);
    }
}

/* A change or the sender's drop: every registered receiver is woken once
 * and forgotten. */
static void notify_receivers(void) {
    for (int i = 0; i < MAX_RX; i++) {
        rx_model *r = &m.rx[i];
        if (r->h && r->reg >= 0) {
            r->wakes[r->reg]++;
            r->live[r->reg]--;
            r->reg = -1;
        }
    }
}

/* The receiver's registration is released (not woken). */
static void unregister(rx_model *r) {
    if (r->reg >= 0) {
        r->live[r->reg]--;
        r->reg = -1;
    }
}

static void check_value(const uint8_t *got) {
    CHECK(memcmp(got, m.value, m.item_size) == 0);
}

static void start(uint8_t cfg) {
    static const size_t sizes[] = {1, 3, 8, 13, MAX_ITEM};
    memset(&m, 0, sizeof m);
    m.item_size = sizes[cfg % 5];
    m.tx_reg = -1;
    for (int i = 0; i < MAX_RX; i++)
        m.rx[i].reg = -1;
    m.alloc = fz_allocator(&m.heap);
    for (size_t i = 0; i < m.item_size; i++)
        m.value[i] = (uint8_t)(cfg * 3 + i);
    achan_opts o = {.item_size = m.item_size, .allocator = &m.alloc};
    achan_watch_sender *tx = (void *)&m;
    achan_watch_receiver *rx = (void *)&m;
    int fail = (cfg >> 4) % 3; /* 1: the channel's allocation fails; 2: the receiver's. */
    if (fail) {
        m.heap.fail_at = fail;
        CHECK(achan_watch_new(&o, m.value, &tx, &rx) == ACHAN_NOMEM);
        CHECK(tx == (void *)&m && rx == (void *)&m && m.heap.n == 0);
        m.heap.fail_at = 0;
    }
    CHECK(achan_watch_new(&o, m.value, &tx, &rx) == ACHAN_OK);
    m.tx = tx;
    m.rx[0].h = rx;
    m.rx_count = 1;
}

/* ---- receivers: creation and drop ---- */

static void new_receiver(int to, int from, bool fault) {
    if (m.rx[to].h)
        return;
    if (from < 0 ? !m.tx : !m.rx[from].h)
        return;
    if (fault)
        m.heap.fail_at = m.heap.count + 1;
    achan_watch_receiver *h =
        from < 0 ? achan_watch_subscribe(m.tx) : achan_watch_receiver_clone(m.rx[from].h);
    m.heap.fail_at = 0;
    if (fault) {
        CHECK(h == NULL); /* Nothing changed: the count stays. */
        return;
    }
    CHECK(h != NULL);
    rx_model *r = &m.rx[to];
    r->h = h;
    r->seen = from < 0 ? m.version : m.rx[from].seen;
    r->started = r->ended = false;
    r->reg = -1;
    m.rx_count++;
}

static void op_receiver_drop(int i, bool as_stream) {
    rx_model *r = &m.rx[i];
    if (!r->h)
        return;
    if (as_stream)
        achan_stream_drop(achan_watch_receiver_stream(r->h));
    else
        achan_watch_receiver_drop(r->h);
    r->h = NULL;
    unregister(r);
    if (--m.rx_count == 0 && m.tx_reg >= 0) { /* The last one wakes poll_closed. */
        m.tx_wakes[m.tx_reg]++;
        m.tx_live[m.tx_reg]--;
        m.tx_reg = -1;
    }
}

/* ---- sender ---- */

static void make_value(uint8_t seed, uint8_t *v) {
    for (size_t i = 0; i < m.item_size; i++)
        v[i] = (uint8_t)(seed + i * 31 + m.nsends * 7);
    m.nsends++;
}

static void op_send(uint8_t seed) {
    if (!m.tx)
        return;
    uint8_t v[MAX_ITEM];
    make_value(seed, v);
    achan_status got = achan_watch_send(m.tx, v);
    if (m.rx_count == 0) {
        CHECK(got == ACHAN_CLOSED); /* Not stored. */
        return;
    }
    CHECK(got == ACHAN_OK);
    memcpy(m.value, v, m.item_size);
    m.version++;
    notify_receivers();
}

static void op_send_replace(uint8_t seed) {
    if (!m.tx)
        return;
    uint8_t v[MAX_ITEM], old[MAX_ITEM + 1];
    make_value(seed, v);
    old[m.item_size] = 0xEE;
    achan_watch_send_replace(m.tx, v, (seed & 1) ? NULL : old);
    if (!(seed & 1)) {
        check_value(old);
        CHECK(old[m.item_size] == 0xEE);
    }
    memcpy(m.value, v, m.item_size); /* Stored even without receivers. */
    m.version++;
    notify_receivers();
}

typedef struct {
    size_t size;
    uint8_t delta;
    bool ret;
    int calls;
} modify_arg;

static void modify(uint8_t *v, const modify_arg *a) {
    for (size_t i = 0; i < a->size; i++)
        v[i] = (uint8_t)(v[i] + a->delta + i);
}

static void modify_fn(void *value, void *u) {
    modify_arg *a = u;
    a->calls++;
    modify(value, a);
}

static bool modify_if_fn(void *value, void *u) {
    modify_fn(value, u);
    return ((modify_arg *)u)->ret;
}

static void op_send_modify(uint8_t arg, int how) {
    if (!m.tx)
        return;
    modify_arg a = {m.item_size, arg, (arg & 0x80) != 0, 0};
    if (how == 0) {
        achan_watch_send_modify(m.tx, modify_fn, &a);
    } else {
        CHECK(achan_watch_send_if_modified(m.tx, modify_if_fn, &a) == a.ret);
    }
    CHECK(a.calls == 1);
    modify(m.value, &a); /* The changes stay either way. */
    if (how == 0 || a.ret) {
        m.version++;
        notify_receivers();
    }
}

static void op_poll_closed(int k) {
    if (!m.tx)
        return;
    achan_waker w = fz_waker(&m.txw[k]);
    achan_context cx = {&w};
    achan_status got = achan_watch_poll_closed(m.tx, &cx);
    if (m.rx_count == 0) {
        CHECK(got == ACHAN_OK);
        return;
    }
    CHECK(got == ACHAN_PENDING);
    if (m.tx_reg != k) {
        if (m.tx_reg >= 0)
            m.tx_live[m.tx_reg]--;
        m.tx_live[k]++;
        m.tx_reg = k;
    }
}

static void op_sender_drop(void) {
    if (!m.tx)
        return;
    achan_watch_sender_drop(m.tx);
    m.tx = NULL;
    m.closed = true;
    notify_receivers();
    if (m.tx_reg >= 0) { /* Released, not woken. */
        m.tx_live[m.tx_reg]--;
        m.tx_reg = -1;
    }
}

/* ---- receivers: reading ---- */

static void op_borrow(int i, bool update) {
    rx_model *r = &m.rx[i];
    if (!r->h)
        return;
    uint8_t v[MAX_ITEM + 1];
    v[m.item_size] = 0xEE; /* Not written past the item. */
    if (update) {
        achan_watch_borrow_and_update(r->h, v);
        r->seen = m.version;
    } else {
        achan_watch_borrow(r->h, v);
    }
    check_value(v);
    CHECK(v[m.item_size] == 0xEE);
}

static void op_has_changed(int i) {
    rx_model *r = &m.rx[i];
    if (!r->h)
        return;
    achan_status got = achan_watch_has_changed(r->h);
    CHECK(got == (m.closed ? ACHAN_CLOSED : r->seen != m.version ? ACHAN_OK : ACHAN_EMPTY));
}

/* poll_changed's model; returns what it must return. */
static achan_status model_poll_changed(rx_model *r, int k) {
    if (r->seen != m.version) {
        r->seen = m.version;
        unregister(r);
        return ACHAN_OK;
    }
    if (m.closed) {
        unregister(r);
        return ACHAN_CLOSED;
    }
    /* Every poll registers a fresh clone, releasing the previous one. */
    if (r->reg >= 0)
        r->live[r->reg]--;
    r->live[k]++;
    r->reg = k;
    return ACHAN_PENDING;
}

static void op_poll_changed(int i, int k) {
    rx_model *r = &m.rx[i];
    if (!r->h)
        return;
    achan_waker w = fz_waker(&r->w[k]);
    achan_context cx = {&w};
    achan_status got = achan_watch_poll_changed(r->h, &cx);
    TRACE("poll_changed rx%d: %s\n", i, achan_status_str(got));
    CHECK(got == model_poll_changed(r, k));
}

static void op_changed_blocking(int i) {
    rx_model *r = &m.rx[i];
    if (!r->h)
        return;
    achan_status got = achan_watch_changed_blocking(r->h, 0), want;
    if (r->seen != m.version) {
        r->seen = m.version;
        unregister(r);
        want = ACHAN_OK;
    } else if (m.closed) {
        unregister(r);
        want = ACHAN_CLOSED;
    } else {
        want = ACHAN_TIMEOUT; /* An earlier registration stays. */
    }
    CHECK(got == want);
}

static void op_mark(int i, bool changed) {
    rx_model *r = &m.rx[i];
    if (!r->h)
        return;
    if (changed) {
        achan_watch_mark_changed(r->h);
        r->seen--; /* Tokio: the seen version steps back one. */
    } else {
        achan_watch_mark_unchanged(r->h);
        r->seen = m.version;
    }
}

static void op_stream_poll(int i, int k) {
    rx_model *r = &m.rx[i];
    if (!r->h)
        return;
    achan_waker w = fz_waker(&r->w[k]);
    achan_context cx = {&w};
    uint8_t item[MAX_ITEM], sentinel[MAX_ITEM];
    memset(sentinel, 0x5A, sizeof sentinel);
    memcpy(item, sentinel, sizeof item);
    achan_status got = achan_stream_poll_next(achan_watch_receiver_stream(r->h), &cx, item), want;
    if (r->ended) {
        want = ACHAN_CLOSED;
    } else if (!r->started) { /* The current value at once, seen or not. */
        r->started = true;
        r->seen = m.version;
        want = ACHAN_OK;
    } else {
        want = model_poll_changed(r, k);
        if (want == ACHAN_CLOSED)
            r->ended = true;
    }
    TRACE("stream rx%d: %s want %s\n", i, achan_status_str(got), achan_status_str(want));
    CHECK(got == want);
    if (got == ACHAN_OK) {
        check_value(item);
        CHECK(memcmp(item + m.item_size, sentinel, MAX_ITEM - m.item_size) == 0);
    } else
        CHECK(memcmp(item, sentinel, sizeof item) == 0);
}

static void op_from_changes(int i) {
    rx_model *r = &m.rx[i];
    if (!r->h)
        return;
    CHECK(achan_watch_receiver_stream_from_changes(r->h) == achan_watch_receiver_stream(r->h));
    r->started = true;
}

/* Bad arguments: ACHAN_INVALID (or nothing done) and nothing changed; the
 * model does not move, and the next operations check that. */
static int noop_calls;
static void noop_modify(void *value, void *u) {
    (void)value, (void)u;
    noop_calls++;
}

static void op_invalid(uint8_t arg) {
    rx_model *r = &m.rx[arg & 3];
    uint8_t v[MAX_ITEM];
    memset(v, 0x77, sizeof v);
    achan_waker w = fz_waker(&r->w[0]);
    achan_context cx = {&w}, nocx = {NULL};
    switch ((arg >> 2) % 5) {
    case 0: /* Nothing stored, nobody woken. */
        if (m.tx) {
            CHECK(achan_watch_send(m.tx, NULL) == ACHAN_INVALID);
            achan_watch_send_replace(m.tx, NULL, v);
            achan_watch_send_modify(m.tx, NULL, NULL);
            CHECK(!achan_watch_send_if_modified(m.tx, NULL, NULL));
            CHECK(v[0] == 0x77); /* old_out untouched. */
        }
        break;
    case 1:
        if (m.tx)
            CHECK(achan_watch_poll_closed(m.tx, &nocx) == ACHAN_INVALID);
        break;
    case 2:
        if (r->h) {
            CHECK(achan_watch_poll_changed(r->h, &nocx) == ACHAN_INVALID);
            achan_watch_borrow(r->h, NULL);
            achan_watch_borrow_and_update(r->h, NULL); /* Marks nothing seen. */
        }
        break;
    case 3:
        if (r->h)
            CHECK(achan_stream_poll_next(achan_watch_receiver_stream(r->h), &cx, NULL) ==
                  ACHAN_INVALID);
        break;
    default: /* NULL handles. */
        CHECK(achan_watch_send(NULL, v) == ACHAN_INVALID);
        achan_watch_send_replace(NULL, v, NULL);
        achan_watch_send_modify(NULL, noop_modify, NULL);
        CHECK(noop_calls == 0);
        CHECK(achan_watch_subscribe(NULL) == NULL);
        CHECK(achan_watch_receiver_clone(NULL) == NULL);
        CHECK(achan_watch_receiver_count(NULL) == 0);
        CHECK(achan_watch_poll_closed(NULL, &cx) == ACHAN_INVALID);
        CHECK(achan_watch_has_changed(NULL) == ACHAN_INVALID);
        CHECK(achan_watch_poll_changed(NULL, &cx) == ACHAN_INVALID);
        CHECK(achan_watch_changed_blocking(NULL, 0) == ACHAN_INVALID);
        CHECK(achan_watch_receiver_stream(NULL) == NULL);
        achan_watch_sender_drop(NULL);
        achan_watch_receiver_drop(NULL);
        achan_watch_mark_changed(NULL);
        achan_watch_mark_unchanged(NULL);
        break;
    }
}

static void finish(void) {
    for (int i = 0; i < MAX_RX; i++)
        op_receiver_drop(i, false);
    op_sender_drop();
    check_wakers();
    for (int k = 0; k < 2; k++) {
        CHECK(m.txw[k].live == 0);
        for (int i = 0; i < MAX_RX; i++)
            CHECK(m.rx[i].w[k].live == 0);
    }
    CHECK(m.heap.n == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1)
        return 0;
    start(data[0]);
    for (size_t p = 1; p + 1 < size; p += 2) {
        uint8_t op = data[p] % 20, arg = data[p + 1];
        int i = arg & 3, k = (arg >> 2) & 1, j = (arg >> 3) & 3;
        bool fault = (arg & 0xE0) == 0xE0;
        TRACE("op %d arg %d\n", op, arg);
        switch (op) {
        case 0:
            new_receiver(i, -1, fault);
            break;
        case 1:
            new_receiver(i, j, fault);
            break;
        case 2:
            op_receiver_drop(i, k);
            break;
        case 3:
            op_send(arg);
            break;
        case 4:
            op_send_replace(arg);
            break;
        case 5:
            op_send_modify(arg, 0);
            break;
        case 6:
            op_send_modify(arg, 1);
            break;
        case 7:
            op_borrow(i, false);
            break;
        case 8:
            op_borrow(i, true);
            break;
        case 9:
            op_has_changed(i);
            break;
        case 10:
            op_poll_changed(i, k);
            break;
        case 11:
            op_mark(i, true);
            break;
        case 12:
            op_mark(i, false);
            break;
        case 13:
            op_sender_drop();
            break;
        case 14:
            op_poll_closed(k);
            break;
        case 15:
            if (m.tx)
                CHECK(achan_watch_receiver_count(m.tx) == m.rx_count);
            break;
        case 16:
            op_stream_poll(i, k);
            break;
        case 17:
            op_changed_blocking(i);
            break;
        case 18:
            op_from_changes(i);
            break;
        default:
            op_invalid(arg);
            break;
        }
        check_wakers();
    }
    finish();
    return 0;
}
