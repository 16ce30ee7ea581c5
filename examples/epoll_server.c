/* epoll_server.c - an epoll loop that waits on a TCP socket and on achan
 * channels at once, with no thread per channel.
 *
 * Worker threads compute results and send them over a bounded mpsc. The main
 * thread runs one epoll loop over a listening socket on 127.0.0.1 and over an
 * achan fd waker: it accepts clients, and whenever the channel has results it
 * forwards them as text lines to every connected client. It starts draining
 * the channel only once a client is connected (until then the workers simply
 * wait: backpressure). When the workers are done the stream ends, the server
 * closes its clients and exits. A client thread in the same program connects,
 * reads every line and checks them, so the example ends by itself.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "achan/achan.h"

#define WORKERS 3
#define RESULTS_EACH 2000
#define MAX_CLIENTS 8

typedef struct result {
    uint32_t worker, index;
    uint64_t value;
} result;

typedef struct worker_args {
    achan_mpsc_sender *tx;
    uint32_t id;
} worker_args;

static void *worker(void *arg) {
    worker_args *w = arg;
    for (uint32_t i = 0; i < RESULTS_EACH; i++) {
        result r = {w->id, i, (uint64_t)i * i + w->id};
        if (achan_mpsc_send_blocking(w->tx, &r, -1) != ACHAN_OK)
            break;
    }
    achan_mpsc_sender_drop(w->tx);
    return NULL;
}

/* The client: reads lines until the server closes, counts and checks them. */
static void *client(void *arg) {
    uint16_t port = *(uint16_t *)arg;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        perror("client connect");
        return (void *)(intptr_t)-1;
    }
    FILE *in = fdopen(fd, "r");
    char line[128];
    intptr_t lines = 0;
    while (fgets(line, sizeof line, in)) {
        unsigned w, i;
        unsigned long long v;
        if (sscanf(line, "worker %u result %u = %llu", &w, &i, &v) == 3 &&
            v == (unsigned long long)i * i + w)
            lines++;
    }
    fclose(in);
    return (void *)lines;
}

static int listen_loopback(uint16_t *port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(fd, 16) != 0 ||
        getsockname(fd, (struct sockaddr *)&addr, &len) != 0) {
        perror("listen");
        exit(1);
    }
    *port = ntohs(addr.sin_port);
    return fd;
}

static void send_all(int fd, const char *buf, size_t len) {
    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return; /* Client gone: drop the rest. */
        buf += n;
        len -= (size_t)n;
    }
}

int main(void) {
    uint16_t port;
    int lfd = listen_loopback(&port);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    achan_fd_waker *fw;
    achan_mpsc_sender *tx;
    achan_mpsc_receiver *rx;
    achan_opts o = {.item_size = sizeof(result), .capacity = 128};
    if (ep < 0 || achan_fd_waker_new(&fw) != ACHAN_OK || achan_mpsc_new(&o, &tx, &rx) != ACHAN_OK)
        return 1;
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = lfd};
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
    ev.data.fd = achan_fd_waker_fd(fw);
    epoll_ctl(ep, EPOLL_CTL_ADD, achan_fd_waker_fd(fw), &ev);

    worker_args wa[WORKERS];
    pthread_t workers[WORKERS], client_thread;
    /* Every sender is cloned before any worker starts: a worker may drop
     * its sender as soon as it runs, and tx is worker 0's. */
    for (uint32_t i = 0; i < WORKERS; i++) {
        wa[i].tx = i == 0 ? tx : achan_mpsc_sender_clone(tx);
        wa[i].id = i;
    }
    for (uint32_t i = 0; i < WORKERS; i++)
        pthread_create(&workers[i], NULL, worker, &wa[i]);
    pthread_create(&client_thread, NULL, client, &port);

    achan_waker w = achan_fd_waker_waker(fw);
    achan_context cx = {&w};
    int clients[MAX_CLIENTS], nclients = 0;
    long forwarded = 0, wakeups = 0;
    bool ended = false;
    while (!ended) {
        struct epoll_event events[4];
        int n = epoll_wait(ep, events, 4, 10000);
        if (n == 0) {
            fprintf(stderr, "no progress for 10 s\n");
            return 1;
        }
        for (int e = 0; e < n; e++) {
            if (events[e].data.fd == lfd) {
                int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
                if (c >= 0 && nclients < MAX_CLIENTS)
                    clients[nclients++] = c;
            }
        }
        if (nclients == 0)
            continue; /* Leave the results in the channel until someone listens. */
        /* Clear first, then poll until PENDING: a wake after the clear keeps
         * the fd readable, so nothing is missed. */
        achan_fd_waker_clear(fw);
        wakeups++;
        result r;
        achan_status st;
        while ((st = achan_mpsc_poll_recv(rx, &cx, &r)) == ACHAN_OK) {
            char line[96];
            int len = snprintf(line, sizeof line, "worker %u result %u = %llu\n", r.worker, r.index,
                               (unsigned long long)r.value);
            for (int c = 0; c < nclients; c++)
                send_all(clients[c], line, (size_t)len);
            forwarded++;
        }
        ended = st == ACHAN_CLOSED;
    }
    for (int c = 0; c < nclients; c++)
        close(clients[c]);
    void *lines;
    pthread_join(client_thread, &lines);
    for (int i = 0; i < WORKERS; i++)
        pthread_join(workers[i], NULL);
    printf("epoll server on 127.0.0.1:%u (fd waker: %s)\n", port, achan_fd_waker_backend(fw));
    achan_waker_drop(w);
    achan_mpsc_receiver_drop(rx);
    achan_fd_waker_drop(fw);
    close(ep);
    close(lfd);
    printf("  forwarded %ld results from %d workers in %ld loop turns; client read %ld valid lines\n",
           forwarded, WORKERS, wakeups, (long)(intptr_t)lines);
    return forwarded == WORKERS * RESULTS_EACH && (intptr_t)lines == forwarded ? 0 : 1;
}
