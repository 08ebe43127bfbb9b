/* bench_sim.c - simulator throughput: one million short client/server connections
 * (Linux profiles, client closes), without a capture and with one, then a client that
 * exhausts its ports; prints connections/s of wall time.  Usage: bench_sim [connections] [pcap path] */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "sim_test.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int run(const sim_scenario *sc, const char *pcap, uint64_t want, uint64_t want_ok)
{
    sim_capture cap = { NULL, pcap };
    sim_run_opts o = { .seed = 1, .captures = pcap ? &cap : NULL, .n_captures = pcap ? 1 : 0 };
    sim_summary s;
    char err[256];
    double t0 = now_s();
    if (sim_run(sc, &o, &s, err, sizeof err) != 0) {
        fprintf(stderr, "bench_sim: %s\n", err);
        return 1;
    }
    double dt = now_s() - t0;
    printf("%-18s %llu connections (%llu ok, %llu failed), %llu events, %llu packets%s: "
           "%.2f s, %.0f connections/s\n", want_ok != want ? "exhausted ports" : pcap ? "one capture" : "no capture",
           (unsigned long long)s.attempts, (unsigned long long)s.successes,
           (unsigned long long)s.failures, (unsigned long long)s.events,
           (unsigned long long)s.packets, pcap ? " (server point)" : "", dt,
           (double)s.attempts / dt);
    int rc = s.attempts == want && s.successes == want_ok ? 0 : 1;
    sim_summary_free(&s);
    return rc;
}

int main(int argc, char **argv)
{
    uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000;
    const char *pcap = argc > 2 ? argv[2] : "/tmp/bench_sim.pcap";
    tscn t;
    tscn_init(&t, 0);
    tscn_net(&t, "lan", 100 * 1000, 0);
    sim_host *c = tscn_host(&t, "client", "lan", IP4(10, 0, 0, 1), "linux", false);
    c->count = 10;
    tscn_host(&t, "server", "lan", IP4(10, 0, 1, 1), "linux", true);
    sim_app *a = tscn_app(&t, "web", "client", "server", 80);
    a->rate = 2000;
    a->max_connections = n;
    t.sc.duration = (sim_ns)((double)n / a->rate * SIM_NS_PER_S) + SIM_NS_PER_S;
    int rc = run(&t.sc, NULL, n, n);
    rc |= run(&t.sc, pcap, n, n);
    remove(pcap);
    /* one client, 2000 connections/s closing first for 60 s: the 28 232 ports of the
     * Linux range are in TIME_WAIT after ~14 s and the rest fail with EADDRNOTAVAIL */
    c->count = 1;
    a->max_connections = 120000;
    t.sc.duration = 60 * SIM_NS_PER_S;
    rc |= run(&t.sc, NULL, 120000, 28232);
    return rc;
}
