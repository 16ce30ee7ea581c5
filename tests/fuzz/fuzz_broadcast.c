/* fuzz_broadcast.c - libFuzzer harness: broadcast against a reference model.
 *
 * The input is a configuration byte (capacity 1..16, item size, and which
 * allocation of achan_broadcast_new fails, if any) followed by operations,
 * each an opcode byte and an argument byte, applied from one thread to one
 * channel with up to three senders and four receivers: sender_clone,
 * sender_drop, send (checking *receivers; also bursts of sends), subscribe,
 * resubscribe, receiver drop (directly or as the stream), try_recv,
 * poll_recv, the stream, recv_blocking(0), len, receiver_skipped and
 * receiver_count; calls with bad arguments (ACHAN_INVALID, or NULL / 0,
 * nothing changed). Handle creation can be made to meet a failing
 * allocation.
 *
 * The model is Tokio's broadcast: the history of every message sent (by
 * position), the global position P, the capacity rounded up to a power of
 * two C, and per receiver its cursor N, the messages it skipped, whether it
 * ended and which of its two counting wakers it registered. A receive
 * applies Tokio's lag rule exactly: if P - N > C it is LAGGED with
 * skipped = P - C - N and the cursor moves to P - C; else the message at N;
 * else CLOSED once every sender is gone; else EMPTY (PENDING, registering
 * the waker). Every status, message, skipped count, length, count, wake and
 * live waker clone must match after each operation; at the end every block
 * the channel allocated must have been freed once, with its size.
 */
#define FUZZ_NAME "fuzz_broadcast"
#include "fuzz_support.h"

#define MAX_TX 3
#define MAX_RX 4
#define MAX_ITEM 64
#define MAX_SENT 4096

typedef struct {
    achan_broadcast_receiver *h; /* NULL: free slot. */
    uint64_t next;               /* N: the position of its next message. */
    uint64_t skipped;            /* Messages missed so far. */
    bool ended;                  /* A receive returned CLOSED. */
    int reg;                     /* The waker it registered (0, 1), or -1. */
    fz_counter w[2];
    long wakes[2], live[2];
} rx_model;

typedef struct {
    size_t item_size;
    uint64_t cap; /* C: the requested capacity rounded up to a power of two. */
    fz_heap heap;
    achan_allocator alloc;
    achan_broadcast_sender *tx[MAX_TX];
    size_t tx_count, rx_count;
    uint64_t pos;           /* P: messages sent. */
    uint8_t seed[MAX_SENT]; /* The message at each position. */
    rx_model rx[MAX_RX];
} model;

static model m;

static void make_item(uint64_t pos, uint8_t *item) {
    uint32_t id = (uint32_t)pos;
    memcpy(item, &id, sizeof id);
    for (size_t i = sizeof id; i < m.item_size; i++)
        item[i] = (uint8_t)(m.seed[pos] + i * 7 + pos);
}

static void check_wakers(void) {
    for (int i = 0; i < MAX_RX; i++)
        for (int k = 0; k < 2; k++)
            CHECK(m.rx[i].w[k].wakes == m.rx[i].wakes[k] && m.rx[i].w[k].live == m.rx[i].live[k]);
}

/* After a send or the last sender's drop: every queued receiver is woken
 * once and dequeued. */
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

static void unregister(rx_model *r) {
    if (r->reg >= 0) {
        r->live[r->reg]--;
        r->reg = -1;
    }
}

static void start(uint8_t cfg) {
    static const size_t sizes[] = {4, 8, 24, MAX_ITEM};
    memset(&m, 0, sizeof m);
    size_t requested = 1 + cfg % 16;
    m.cap = 1;
    while (m.cap < requested)
        m.cap *= 2;
    m.item_size = sizes[(cfg >> 4) % 4];
    for (int i = 0; i < MAX_RX; i++)
        m.rx[i].reg = -1;
    m.alloc = fz_allocator(&m.heap);
    achan_opts o = {.item_size = m.item_size, .capacity = requested, .allocator = &m.alloc};
    achan_broadcast_sender *tx = (void *)&m;
    achan_broadcast_receiver *rx = (void *)&m;
    int fail = cfg >> 6; /* 1..3: that allocation (channel, sender, receiver) fails. */
    if (fail) {
        m.heap.fail_at = fail;
        CHECK(achan_broadcast_new(&o, &tx, &rx) == ACHAN_NOMEM);
        CHECK(tx == (void *)&m && rx == (void *)&m && m.heap.n == 0);
        m.heap.fail_at = 0;
    }
    CHECK(achan_broadcast_new(&o, &tx, &rx) == ACHAN_OK);
    m.tx[0] = tx;
    m.rx[0].h = rx;
    m.tx_count = m.rx_count = 1;
}

/* ---- senders ---- */

static void op_sender_clone(int to, int from, bool fault) {
    if (m.tx[to] || !m.tx[from])
        return;
    if (fault)
        m.heap.fail_at = m.heap.count + 1;
    achan_broadcast_sender *h = achan_broadcast_sender_clone(m.tx[from]);
    m.heap.fail_at = 0;
    if (fault) {
        CHECK(h == NULL);
        return;
    }
    CHECK(h != NULL);
    m.tx[to] = h;
    m.tx_count++;
}

static void op_sender_drop(int i) {
    if (!m.tx[i])
        return;
    achan_broadcast_sender_drop(m.tx[i]);
    m.tx[i] = NULL;
    if (--m.tx_count == 0)
        notify_receivers();
}

static void op_send(int s, uint8_t seed, bool with_count) {
    if (!m.tx[s] || m.pos >= MAX_SENT)
        return;
    m.seed[m.pos] = seed;
    uint8_t item[MAX_ITEM];
    make_item(m.pos, item);
    size_t receivers = 12345;
    achan_status got = achan_broadcast_send(m.tx[s], item, with_count ? &receivers : NULL);
    if (with_count)
        CHECK(receivers == m.rx_count);
    if (m.rx_count == 0) {
        CHECK(got == ACHAN_CLOSED); /* Nothing stored. */
        return;
    }
    CHECK(got == ACHAN_OK);
    m.pos++;
    notify_receivers();
}

/* ---- receivers: creation and drop ---- */

static void new_receiver(int to, achan_broadcast_receiver *(*make)(void *), void *from,
                         bool fault) {
    if (m.rx[to].h || !from)
        return;
    if (fault)
        m.heap.fail_at = m.heap.count + 1;
    achan_broadcast_receiver *h = make(from);
    m.heap.fail_at = 0;
    if (fault) {
        CHECK(h == NULL);
        return;
    }
    CHECK(h != NULL);
    rx_model *r = &m.rx[to];
    r->h = h;
    r->next = m.pos; /* Only messages sent from now on. */
    r->skipped = 0;
    r->ended = false;
    r->reg = -1;
    m.rx_count++;
}

static achan_broadcast_receiver *make_subscribe(void *tx) {
    return achan_broadcast_subscribe(tx);
}
static achan_broadcast_receiver *make_resubscribe(void *rx) {
    return achan_broadcast_resubscribe(rx);
}

static void op_receiver_drop(int i, bool as_stream) {
    rx_model *r = &m.rx[i];
    if (!r->h)
        return;
    if (as_stream)
        achan_stream_drop(achan_broadcast_receiver_stream(r->h));
    else
        achan_broadcast_receiver_drop(r->h);
    r->h = NULL;
    unregister(r);
    m.rx_count--;
}

/* ---- receiving ---- */

typedef enum { VIA_TRY, VIA_POLL, VIA_STREAM, VIA_BLOCKING } recv_via;

/* One receive in the model: OK (*pos_out = the position read), LAGGED
 * (*skipped), CLOSED or EMPTY. */
static achan_status model_recv(rx_model *r, uint64_t *pos_out, uint64_t *skipped) {
    *skipped = 0;
    if (r->ended)
        return ACHAN_CLOSED;
    if (m.pos - r->next > m.cap) {
        *skipped = m.pos - m.cap - r->next;
        r->next = m.pos - m.cap;
        r->skipped += *skipped;
        return ACHAN_LAGGED;
    }
    if (r->next < m.pos) {
        *pos_out = r->next++;
        return ACHAN_OK;
    }
    if (m.tx_count == 0) {
        r->ended = true;
        return ACHAN_CLOSED;
    }
    return ACHAN_EMPTY;
}

static void op_recv(int i, recv_via via, int k) {
    rx_model *r = &m.rx[i];
    if (!r->h)
        return;
    achan_waker w = fz_waker(&r->w[k]);
    achan_context cx = {&w};
    uint8_t item[MAX_ITEM], sentinel[MAX_ITEM];
    memset(sentinel, 0xC3, sizeof sentinel);
    memcpy(item, sentinel, sizeof item);
    uint64_t skipped = 777, want_skipped, at = 0;
    achan_status got = ACHAN_INVALID;
    switch (via) {
    case VIA_TRY:
        got = achan_broadcast_try_recv(r->h, item, &skipped);
        break;
    case VIA_POLL:
        got = achan_broadcast_poll_recv(r->h, &cx, item, &skipped);
        break;
    case VIA_STREAM:
        got = achan_stream_poll_next(achan_broadcast_receiver_stream(r->h), &cx, item);
        break;
    case VIA_BLOCKING:
        got = achan_broadcast_recv_blocking(r->h, item, &skipped, 0);
        break;
    }
    bool was_ended = r->ended;
    achan_status want = model_recv(r, &at, &want_skipped);
    if (want == ACHAN_EMPTY) {
        if (via == VIA_TRY) {
            want = ACHAN_EMPTY;
        } else if (via == VIA_BLOCKING) {
            want = ACHAN_TIMEOUT;
        } else {
            want = ACHAN_PENDING;
            if (r->reg != k) { /* The same task's waker is kept; another replaces it. */
                if (r->reg >= 0)
                    r->live[r->reg]--;
                r->live[k]++;
                r->reg = k;
            }
        }
    } else if ((via == VIA_POLL || via == VIA_STREAM) && !was_ended) {
        unregister(r); /* Done without waiting: the registration is released. */
    }
    TRACE("recv rx%d via %d: got %s want %s (P %llu N %llu C %llu)\n", i, (int)via,
          achan_status_str(got), achan_status_str(want), (unsigned long long)m.pos,
          (unsigned long long)r->next, (unsigned long long)m.cap);
    CHECK(got == want);
    if (via != VIA_STREAM)
        CHECK(skipped == want_skipped); /* Written on every call: the count, or 0. */
    if (got == ACHAN_OK) {
        uint8_t expect[MAX_ITEM];
        make_item(at, expect);
        CHECK(memcmp(item, expect, m.item_size) == 0);
        CHECK(memcmp(item + m.item_size, sentinel, MAX_ITEM - m.item_size) == 0);
    } else {
        CHECK(memcmp(item, sentinel, sizeof item) == 0);
    }
}

static void op_query(int i, int s) {
    if (m.rx[i].h) {
        CHECK(achan_broadcast_len(m.rx[i].h) == m.pos - m.rx[i].next);
        CHECK(achan_broadcast_receiver_skipped(m.rx[i].h) == m.rx[i].skipped);
    }
    if (m.tx[s])
        CHECK(achan_broadcast_receiver_count(m.tx[s]) == m.rx_count);
}

/* Bad arguments: ACHAN_INVALID (or NULL / 0) and nothing changed; the model
 * does not move, and the next operations check that. */
static void op_invalid(uint8_t arg) {
    rx_model *r = &m.rx[arg & 3];
    achan_broadcast_sender *tx = m.tx[(arg >> 2) % MAX_TX];
    uint8_t item[MAX_ITEM];
    uint64_t skipped;
    size_t n = 99;
    achan_waker w = fz_waker(&r->w[0]);
    achan_context cx = {&w}, nocx = {NULL};
    switch ((arg >> 4) % 4) {
    case 0: /* Nothing sent. */
        if (tx)
            CHECK(achan_broadcast_send(tx, NULL, &n) == ACHAN_INVALID);
        break;
    case 1:
        if (r->h) {
            CHECK(achan_broadcast_try_recv(r->h, NULL, &skipped) == ACHAN_INVALID);
            CHECK(achan_broadcast_recv_blocking(r->h, NULL, &skipped, 0) == ACHAN_INVALID);
        }
        break;
    case 2: /* Nothing read, nothing registered. */
        if (r->h) {
            CHECK(achan_broadcast_poll_recv(r->h, &nocx, item, &skipped) == ACHAN_INVALID);
            CHECK(achan_broadcast_poll_recv(r->h, &cx, NULL, &skipped) == ACHAN_INVALID);
            CHECK(achan_stream_poll_next(achan_broadcast_receiver_stream(r->h), &cx, NULL) ==
                  ACHAN_INVALID);
        }
        break;
    default: /* NULL handles. */
        CHECK(achan_broadcast_send(NULL, item, &n) == ACHAN_INVALID);
        CHECK(achan_broadcast_sender_clone(NULL) == NULL);
        CHECK(achan_broadcast_subscribe(NULL) == NULL);
        CHECK(achan_broadcast_resubscribe(NULL) == NULL);
        CHECK(achan_broadcast_receiver_count(NULL) == 0);
        CHECK(achan_broadcast_try_recv(NULL, item, &skipped) == ACHAN_INVALID);
        CHECK(achan_broadcast_poll_recv(NULL, &cx, item, &skipped) == ACHAN_INVALID);
        CHECK(achan_broadcast_len(NULL) == 0);
        CHECK(achan_broadcast_receiver_skipped(NULL) == 0);
        CHECK(achan_broadcast_receiver_stream(NULL) == NULL);
        achan_broadcast_sender_drop(NULL);
        achan_broadcast_receiver_drop(NULL);
        break;
    }
}

static void finish(void) {
    for (int i = 0; i < MAX_RX; i++)
        op_receiver_drop(i, false);
    for (int i = 0; i < MAX_TX; i++)
        op_sender_drop(i);
    check_wakers();
    for (int i = 0; i < MAX_RX; i++)
        CHECK(m.rx[i].w[0].live == 0 && m.rx[i].w[1].live == 0);
    CHECK(m.heap.n == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1)
        return 0;
    start(data[0]);
    for (size_t p = 1; p + 1 < size; p += 2) {
        uint8_t op = data[p] % 14, arg = data[p + 1];
        int i = arg & 3, k = (arg >> 2) & 1, j = (arg >> 3) & 3, s = i % MAX_TX, s2 = j % MAX_TX;
        bool fault = (arg & 0xE0) == 0xE0;
        TRACE("op %d arg %d\n", op, arg);
        switch (op) {
        case 0:
            op_sender_clone(s, s2, fault);
            break;
        case 1:
            op_sender_drop(s);
            break;
        case 2:
            op_send(s, arg, true);
            break;
        case 3:
            op_send(s, arg, false);
            break;
        case 4:
            for (int n = 0; n < (arg >> 4) + 1; n++)
                op_send(s, (uint8_t)(arg + n), n & 1);
            break;
        case 5:
            new_receiver(i, make_subscribe, m.tx[s2], fault);
            break;
        case 6:
            new_receiver(i, make_resubscribe, m.rx[j].h, fault);
            break;
        case 7:
            op_receiver_drop(i, k);
            break;
        case 8:
            op_recv(i, VIA_TRY, k);
            break;
        case 9:
            op_recv(i, VIA_POLL, k);
            break;
        case 10:
            op_recv(i, VIA_STREAM, k);
            break;
        case 11:
            op_recv(i, VIA_BLOCKING, k);
            break;
        case 12:
            op_query(i, s2);
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
