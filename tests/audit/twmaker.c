/* twmaker: fill the calling network namespace with TIME_WAIT sockets over loopback, for bench-sockets.
 *
 * usage: twmaker COUNT WORKERS
 * Each worker listens on 127.0.0.1:(20000 + worker) and loops: a client socket bound to a
 * source address 127.1.W.S (IP_BIND_ADDRESS_NO_PORT, port picked at connect()), connect(),
 * accept(), close the client first, then the accepted socket: the client's side keeps the
 * 4-tuple in TIME_WAIT for 60 s (tcp-behaviour.md 3.2).  The source address turns round
 * SOURCES addresses per connection: connect()'s port search (tcp-behaviour.md 3.8) slows
 * down as a source's range fills, so each range is kept under a third full.  Stops at
 * COUNT connections in all; prints "made N in S s" per worker.  Needs tcp_tw_reuse = 0 (with 2,
 * the default, loopback TIME_WAIT tuples are reused after 1 s and do not accumulate) and
 * tcp_max_tw_buckets above COUNT: bench-sockets sets both in its namespace.
 * Exit: 0 done, 1 a socket call failed, 2 usage. */

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SOURCES 64u     /* source addresses per worker: 127.1.W.1 .. 127.1.W.64 */

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int worker(int w, long count)
{
    struct sockaddr_in srv = { .sin_family = AF_INET, .sin_port = htons((uint16_t)(20000 + w)) };
    srv.sin_addr.s_addr = htonl(0x7f000001);
    int l = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (l < 0 || bind(l, (struct sockaddr *)&srv, sizeof srv) != 0 || listen(l, 128) != 0) {
        perror("twmaker: listen");
        return 1;
    }
    double t0 = now();
    long made = 0;
    unsigned src = 1;
    while (made < count) {
        int c = socket(AF_INET, SOCK_STREAM, 0);
        if (c < 0) {
            perror("twmaker: socket");
            return 1;
        }
        struct sockaddr_in me = { .sin_family = AF_INET };
        me.sin_addr.s_addr = htonl(0x7f010000u | (unsigned)w << 8 | src);
        setsockopt(c, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        if (bind(c, (struct sockaddr *)&me, sizeof me) != 0) {
            perror("twmaker: bind");
            return 1;
        }
        if (connect(c, (struct sockaddr *)&srv, sizeof srv) != 0) {
            fprintf(stderr, "twmaker: connect from 127.1.%d.%u: %s\n", w, src, strerror(errno));
            return 1;
        }
        int a = accept(l, NULL, NULL);
        if (a < 0) {
            perror("twmaker: accept");
            return 1;
        }
        close(c);       /* the client's FIN first: TIME_WAIT on its side */
        close(a);
        made++;
        src = 1 + (unsigned)(made % SOURCES);
    }
    printf("worker %d: made %ld in %.1f s (%u source addresses)\n", w, made, now() - t0,
           made < SOURCES ? (unsigned)made : SOURCES);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: twmaker COUNT WORKERS\n");
        return 2;
    }
    long count = atol(argv[1]);
    int workers = atoi(argv[2]);
    if (count <= 0 || workers <= 0 || workers > 64) {
        fprintf(stderr, "twmaker: COUNT > 0 and 1 <= WORKERS <= 64\n");
        return 2;
    }
    for (int w = 0; w < workers; w++) {
        pid_t p = fork();
        if (p < 0) {
            perror("twmaker: fork");
            return 1;
        }
        if (p == 0) {
            fflush(stdout);
            _exit(worker(w, count / workers + (w < count % workers)));
        }
    }
    int rc = 0, st;
    while (wait(&st) > 0)
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
            rc = 1;
    return rc;
}
