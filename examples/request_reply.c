/* request_reply.c - requests over an mpsc, each answered through a oneshot.
 *
 * A worker thread serves requests from a bounded mpsc channel. Each request
 * carries the sender half of a fresh oneshot channel; the worker sends its
 * reply through it, and the client waits on the receiver half. This is the
 * usual way to get an answer back from an actor or a service thread.
 *
 * If the worker goes away with requests still queued, the mpsc's item_drop
 * drops their reply senders, so the waiting clients see ACHAN_CLOSED instead
 * of waiting forever.
 *
 *     cc request_reply.c $(pkg-config --cflags --libs achan) -o request_reply
 */
#include <achan/achan.h>

#include <pthread.h>
#include <stdio.h>

struct request {
    long a, b;
    achan_oneshot_sender *reply; /* Where the answer goes (consumed by the worker). */
};

/* item_drop for requests never served: release the reply channel. */
static void drop_request(void *item, void *user) {
    (void)user;
    achan_oneshot_sender_drop(((struct request *)item)->reply);
}

static void *worker_main(void *arg) {
    achan_mpsc_receiver *requests = arg;
    struct request req;
    long served = 0;
    while (achan_mpsc_recv_blocking(requests, &req, -1) == ACHAN_OK) {
        long sum = req.a + req.b;
        /* CLOSED would mean the client stopped waiting: nothing to do. */
        if (achan_oneshot_send(req.reply, &sum) == ACHAN_OK)
            served++;
    }
    printf("worker: request channel closed after %ld requests\n", served);
    achan_mpsc_receiver_drop(requests);
    return NULL;
}

/* Sends one request and waits (at most a second) for its answer. */
static achan_status ask(achan_mpsc_sender *requests, long a, long b, long *answer) {
    achan_opts o = {.item_size = sizeof *answer};
    achan_oneshot_sender *reply_tx;
    achan_oneshot_receiver *reply_rx;
    achan_status st = achan_oneshot_new(&o, &reply_tx, &reply_rx);
    if (st != ACHAN_OK)
        return st;
    struct request req = {a, b, reply_tx};
    st = achan_mpsc_send_blocking(requests, &req, 1000000000);
    if (st != ACHAN_OK) {
        achan_oneshot_sender_drop(reply_tx); /* Not sent: still ours. */
        achan_oneshot_receiver_drop(reply_rx);
        return st;
    }
    st = achan_oneshot_recv_blocking(reply_rx, answer, 1000000000);
    achan_oneshot_receiver_drop(reply_rx);
    return st;
}

int main(void) {
    achan_opts o = {.item_size = sizeof(struct request), .capacity = 8, .item_drop = drop_request};
    achan_mpsc_sender *requests;
    achan_mpsc_receiver *incoming;
    if (achan_mpsc_new(&o, &requests, &incoming) != ACHAN_OK) {
        fprintf(stderr, "cannot create the request channel\n");
        return 1;
    }
    pthread_t worker;
    if (pthread_create(&worker, NULL, worker_main, incoming) != 0) {
        fprintf(stderr, "cannot start the worker\n");
        return 1;
    }

    int failed = 0;
    for (long i = 1; i <= 10; i++) {
        long answer = 0;
        achan_status st = ask(requests, i, i * i, &answer);
        if (st != ACHAN_OK || answer != i + i * i) {
            fprintf(stderr, "request %ld failed: %s\n", i, achan_status_str(st));
            failed = 1;
            continue;
        }
        printf("client: %ld + %ld = %ld\n", i, i * i, answer);
    }

    achan_mpsc_sender_drop(requests); /* The worker drains, then sees CLOSED. */
    pthread_join(worker, NULL);
    printf("client: done\n");
    return failed;
}
