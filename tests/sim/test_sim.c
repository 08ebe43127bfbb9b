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
#include "tcpdoctor/diagnose.h"

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

/* Seed 000: windows-2003 server (240 s TIME_WAIT, SYN ignored) behind which a NAT with a
 * 30 s closing hold hands the port to another host after 60 s: the SYNs are ignored and
 * the Windows client gives up after its 3 s / 9 s retries (21 s). */
static void windows2003_server_ignores_reused_syn_client_times_out(void **state)
{
    (void)state;
    tscn t;
    two_hosts(&t, "windows-2003", "windows-2003", 60 * SIM_NS_PER_S, 30 * SIM_NS_PER_S);
    sim_capture caps[] = { { "server", tmp("w2003.pcap") } };
    sim_summary s;
    run_ok(&t.sc, caps, 1, 3, &s);
    assert_int_equal(s.attempts, 2);
    assert_int_equal(s.successes, 1);
    assert_int_equal(s.fail_by[SIM_FAIL_TIMEOUT], 1);
    assert_int_equal(s.n_hosts, 1);
    assert_string_equal(s.hosts[0].name, "srv");
    rows r;
    assert_int_equal(rows_read(caps[0].path, &r), 0);
    assert_int_equal(r.bad_checksums, 0);
    size_t k = first_syn_after(&r, 60 * SIM_NS_PER_S);
    char seq[256];
    seq_str(&r, IP4(192, 0, 2, 10), 40000, k, seq, sizeof seq);
    assert_string_equal(seq, ">S >S >S");
    assert_int_equal(r.v[k + 1].t - r.v[k].t, 3 * SIM_NS_PER_S);
    assert_int_equal(r.v[k + 2].t - r.v[k].t, 9 * SIM_NS_PER_S);
    assert_int_equal(r.v[k].ttl, 127);  /* Windows TTL 128, one NAT hop */
    free(r.v);
    sim_summary_free(&s);
}

/* Seed 002: linux-4.9 server with tcp_tw_recycle closes first; two hosts behind a NAT with
 * different TS clocks.  The lagging host's SYNs are dropped silently until the per-peer
 * record is 60 s old (tcp-behaviour.md 3.10, 9.5). */
static void tw_recycle_drops_syns_of_host_with_lower_clock(void **state)
{
    (void)state;
    tscn t;
    two_hosts(&t, "linux", "linux-4.9", 10 * SIM_NS_PER_S, 120 * SIM_NS_PER_S);
    t.apps[0].src_port_lo = t.apps[0].src_port_hi = 0;  /* ephemeral ports */
    t.apps[1].src_port_lo = t.apps[1].src_port_hi = 0;
    sim_capture caps[] = { { "server", tmp("recycle.pcap") } };
    sim_summary s;
    run_ok(&t.sc, caps, 1, 11, &s);
    assert_int_equal(s.attempts, 2);
    assert_int_equal(s.successes, 2);
    assert_int_equal(s.retried, 1);
    /* accepted at the 10th retransmission, 67 s after the first SYN */
    assert_true(s.latency_max >= 67 * SIM_NS_PER_S && s.latency_max < 68 * SIM_NS_PER_S);
    rows r;
    assert_int_equal(rows_read(caps[0].path, &r), 0);
    size_t k = first_syn_after(&r, 10 * SIM_NS_PER_S);
    assert_true(k < r.n);
    uint16_t port = r.v[k].sport;
    char seq[256];
    seq_str(&r, IP4(192, 0, 2, 10), port, k, seq, sizeof seq);
    assert_string_equal(seq, ">S >S >S >S >S >S >S >S >S >S >S <SA >A >PA <A <PA <FA >A >A >FA <A");
    /* the server's TIME_WAIT lasted 3.5 x RTO, not 60 s: the first tuple was free again */
    assert_int_equal(s.n_hosts, 1);
    assert_int_equal(s.hosts[0].timewait_peak, 1);
    free(r.v);
    sim_summary_free(&s);
}

/* A NAT with a 4-port pool: the 5th..10th clients' SYNs are dropped (and counted) until
 * they time out after 11 SYNs each (Linux 6.5+ schedule). */
static void nat_pool_of_four_ports_drops_syns_when_full(void **state)
{
    (void)state;
    tscn t;
    tscn_init(&t, SIM_NS_PER_S);
    tscn_net(&t, "lan", 100 * 1000, 0);
    tscn_net(&t, "wan", SIM_NS_PER_MS, 0);
    sim_host *pc = tscn_host(&t, "pc", "lan", IP4(10, 0, 0, 1), "linux", false);
    pc->count = 10;
    tscn_host(&t, "srv", "wan", IP4(192, 0, 2, 10), "linux", true);
    sim_nat *n = tscn_nat(&t, "nat", "lan", "wan", IP4(198, 51, 100, 1));
    n->port_lo = 2000;
    n->port_hi = 2003;
    n->ports = SIM_NAT_SEQUENTIAL;
    sim_app *a = tscn_app(&t, "a", "pc", "srv", 443);
    a->rate = 10;
    a->max_connections = 10;
    a->hold_open = 200 * SIM_NS_PER_S;
    sim_summary s;
    run_ok(&t.sc, NULL, 0, 5, &s);
    assert_int_equal(s.attempts, 10);
    assert_int_equal(s.successes, 4);
    assert_int_equal(s.fail_by[SIM_FAIL_TIMEOUT], 6);
    assert_int_equal(s.n_nats, 1);
    assert_int_equal(s.nats[0].ports_capacity, 4);
    assert_int_equal(s.nats[0].ports_peak, 4);
    assert_int_equal(s.nats[0].syn_dropped, 6 * 11);
    sim_summary_free(&s);
}

static void frag_scenario(tscn *t, enum sim_nat_frag policy)
{
    tscn_init(t, SIM_NS_PER_S);
    tscn_net(t, "lan", 100 * 1000, 0);
    tscn_net(t, "wan", SIM_NS_PER_MS, 576);
    tscn_host(t, "pc", "lan", IP4(10, 0, 0, 1), "linux", false);
    tscn_host(t, "srv", "wan", IP4(192, 0, 2, 10), "linux", true);
    sim_nat *n = tscn_nat(t, "natgw", "lan", "wan", IP4(198, 51, 100, 1));
    n->frag = policy;
    sim_app *a = tscn_app(t, "a", "pc", "srv", 443);
    a->max_connections = 1;
    a->response_bytes = 1400;
    a->dont_fragment = false;
    tscn_point(t, "client", "pc", NULL);
}

/* Seed 004: the server's DF-clear 1400-byte response crosses a 576-byte MTU network and
 * is fragmented; an AWS-like NAT gateway drops TCP fragments: every transmission (3
 * fragments) is dropped, the client never sees the data. */
static void nat_drops_fragments_client_never_gets_data(void **state)
{
    (void)state;
    tscn t;
    frag_scenario(&t, SIM_FRAG_DROP);
    sim_capture caps[] = { { "client", tmp("frag.pcap") } };
    sim_summary s;
    run_ok(&t.sc, caps, 1, 2, &s);
    assert_int_equal(s.attempts, 1);
    assert_int_equal(s.fail_by[SIM_FAIL_DATA], 1);
    assert_int_equal(s.nats[0].frag_dropped, 3 * (1 + 8)); /* 1 send + SIM_DATA_RETRIES */
    rows r;
    assert_int_equal(rows_read(caps[0].path, &r), 0);
    assert_int_equal(r.bad_checksums, 0);
    for (size_t i = 0; i < r.n; i++)
        if (r.v[i].src == IP4(192, 0, 2, 10))
            assert_int_equal(r.v[i].len, 0);
    free(r.v);
    sim_summary_free(&s);

    /* a reassembling NAT (Linux nf_defrag) delivers it whole */
    frag_scenario(&t, SIM_FRAG_REASSEMBLE);
    caps[0].path = tmp("frag-reasm.pcap");
    run_ok(&t.sc, caps, 1, 2, &s);
    assert_int_equal(s.successes, 1);
    assert_int_equal(s.nats[0].frag_dropped, 0);
    assert_int_equal(rows_read(caps[0].path, &r), 0);
    int frags = 0, whole = 0;
    for (size_t i = 0; i < r.n; i++) {
        frags += r.v[i].frag;
        whole += r.v[i].len == 1400;
    }
    assert_int_equal(frags, 0);  /* refragmented for the inside MTU (1500): one datagram */
    assert_int_equal(whole, 1);
    assert_int_equal(r.bad_checksums, 0);
    free(r.v);
    sim_summary_free(&s);
}

/* Seed 003: the client closes with RST (SO_LINGER 0): nobody enters TIME_WAIT. */
static void rst_close_leaves_no_timewait(void **state)
{
    (void)state;
    tscn t;
    tscn_init(&t, 3 * SIM_NS_PER_S);
    tscn_net(&t, "lan", 200 * 1000, 0);
    tscn_host(&t, "pc", "lan", IP4(10, 0, 0, 1), "windows", false);
    tscn_host(&t, "srv", "lan", IP4(10, 0, 0, 9), "linux", true);
    sim_app *a = tscn_app(&t, "outlook", "pc", "srv", 135);
    a->rst_close = true;
    tscn_point(&t, "server", "srv", NULL);
    sim_capture caps[] = { { NULL, tmp("rst.pcap") } }; /* default: the listening host */
    sim_summary s;
    run_ok(&t.sc, caps, 1, 9, &s);
    assert_int_equal(s.attempts, 3);
    assert_int_equal(s.successes, 3);
    assert_int_equal(s.n_hosts, 0);
    rows r;
    assert_int_equal(rows_read(caps[0].path, &r), 0);
    assert_int_equal(r.n, s.captured[0]);
    char seq[256];
    seq_str(&r, IP4(10, 0, 0, 9), r.v[0].sport, 0, seq, sizeof seq);
    assert_string_equal(seq, ">S <SA >A >PA <A <PA >A >RA");
    free(r.v);
    sim_summary_free(&s);
}

/* A Linux client with a 10-port range closing first: its TIME_WAITs use up the range, and
 * further connect()s fail with EADDRNOTAVAIL (nothing sent) for 60 s; with tcp_tw_reuse=1
 * the TIME_WAIT tuples are reused after 1 s, with ISN = old snd_nxt + 65537. */
static void client_timewait_exhausts_ports_unless_tw_reuse(void **state)
{
    (void)state;
    for (int reuse = 0; reuse <= 1; reuse++) {
        tscn t;
        tscn_init(&t, 20 * SIM_NS_PER_S);
        tscn_net(&t, "lan", 200 * 1000, 0);
        sim_host *pc = tscn_host(&t, "pc", "lan", IP4(10, 0, 0, 1), "linux", false);
        pc->os.port_lo = 50000;
        pc->os.port_hi = 50009;
        pc->os.tw_reuse = reuse;
        tscn_host(&t, "srv", "lan", IP4(10, 0, 0, 9), "linux", true);
        tscn_app(&t, "a", "pc", "srv", 80);
        tscn_point(&t, "client", "pc", NULL);
        sim_capture caps[] = { { "client", tmp("ports.pcap") } };
        sim_summary s;
        run_ok(&t.sc, caps, 1, 4, &s);
        assert_int_equal(s.attempts, 20);
        assert_int_equal(s.successes, reuse ? 20 : 10);
        assert_int_equal(s.fail_by[SIM_FAIL_NO_PORT], reuse ? 0 : 10);
        if (reuse)
            assert_true(s.hosts[0].timewait_peak < 10);
        else
            assert_int_equal(s.hosts[0].timewait_peak, 10);
        rows r;
        assert_int_equal(rows_read(caps[0].path, &r), 0);
        int syns = 0;
        for (size_t i = 0; i < r.n; i++)
            syns += r.v[i].flags == 0x02;
        assert_int_equal(syns, reuse ? 20 : 10);
        if (reuse) {
            /* the 11th SYN reuses a tuple: its ISN is that tuple's old FIN + 1 + 65537 */
            size_t k = first_syn_after(&r, 10 * SIM_NS_PER_S);
            uint32_t fin = 0;
            for (size_t i = 0; i < k; i++)
                if ((r.v[i].flags & 0x01) && r.v[i].sport == r.v[k].sport && r.v[i].src == r.v[k].src)
                    fin = r.v[i].seq;
            assert_int_equal(r.v[k].seq, fin + 1 + 65537);
        }
        free(r.v);
        sim_summary_free(&s);
    }
}

static int file_equal(const char *a, const char *b)
{
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    int eq = fa && fb;
    while (eq) {
        int ca = fgetc(fa), cb = fgetc(fb);
        if (ca != cb)
            eq = 0;
        if (ca == EOF || cb == EOF)
            break;
    }
    if (fa)
        fclose(fa);
    if (fb)
        fclose(fb);
    return eq;
}

/* Same scenario and seed: byte-identical captures; another seed: a different capture. */
static void same_seed_same_bytes_other_seed_other_bytes(void **state)
{
    (void)state;
    tscn t;
    two_hosts(&t, "linux", "linux", 10 * SIM_NS_PER_S, 5 * SIM_NS_PER_S);
    t.nets[0].jitter = 50 * 1000;
    t.nets[1].loss = 0.05;
    t.apps[0].max_connections = 0;
    t.apps[0].src_port_lo = t.apps[0].src_port_hi = 0;
    t.apps[0].rate = 50;
    t.apps[0].poisson = true;
    const char *paths[3] = { tmp("d1.pcap"), tmp("d2.pcap"), tmp("d3.pcap") };
    uint64_t seeds[3] = { 42, 42, 43 };
    sim_summary s[3];
    for (int i = 0; i < 3; i++) {
        sim_capture caps[] = { { "inside", paths[i] } };
        run_ok(&t.sc, caps, 1, seeds[i], &s[i]);
    }
    assert_true(s[0].attempts > 400);
    assert_int_equal(s[0].attempts, s[1].attempts);
    assert_int_equal(s[0].packets, s[1].packets);
    assert_int_equal(s[0].packets_lost, s[1].packets_lost);
    assert_true(s[0].packets_lost > 0);
    assert_true(file_equal(paths[0], paths[1]));
    assert_false(file_equal(paths[0], paths[2]));
    for (int i = 0; i < 3; i++) {
        rows r;
        assert_int_equal(rows_read(paths[i], &r), 0);
        assert_int_equal(r.linktype, DLT_EN10MB);
        assert_true(r.nano);
        assert_int_equal(r.n, s[i].captured[0]);
        assert_int_equal(r.bad_checksums, 0);
        free(r.v);
        sim_summary_free(&s[i]);
    }
}

/* Errors name what is wrong. */
static void unknown_capture_point_is_an_error(void **state)
{
    (void)state;
    tscn t;
    two_hosts(&t, "linux", "linux", SIM_NS_PER_S, SIM_NS_PER_S);
    sim_capture caps[] = { { "nowhere", tmp("x.pcap") } };
    sim_run_opts o = { .seed = 1, .captures = caps, .n_captures = 1 };
    sim_summary s;
    char err[256];
    assert_true(sim_run(&t.sc, &o, &s, err, sizeof err) < 0);
    assert_string_equal(err, "capture: no capture point named \"nowhere\"");
    caps[0].point = "server";
    caps[0].path = "/nonexistent-dir/x.pcap";
    assert_true(sim_run(&t.sc, &o, &s, err, sizeof err) < 0);
    assert_non_null(strstr(err, "/nonexistent-dir/x.pcap: "));
    snprintf(t.hosts[0].net, sizeof t.hosts[0].net, "moon");
    assert_true(sim_run(&t.sc, &o, &s, err, sizeof err) < 0);
    assert_string_equal(err, "host pca: net: no network named \"moon\"");
}

/* Fidelity: the real kernel's capture of the same situation (tests/netns: two inside hosts
 * behind a Linux NAT reuse port 40000 to a Linux server holding TIME_WAIT, captured on the
 * inside network) and the simulator's have the same flags and directions, packet for
 * packet, and the same numeric relations: the server's ACK carries the old connection's
 * numbers, the client's RST uses its ack as seq, the SYN is resent unchanged. */
static void linux_profile_matches_real_kernel_capture(void **state)
{
    (void)state;
    rows real;
    assert_int_equal(rows_read(SIM_TEST_DATA "/netns-nat-reuse-inside.pcap", &real), 0);
    tscn t;
    tscn_init(&t, 3 * SIM_NS_PER_S);
    tscn_net(&t, "inside", 10 * 1000, 0);
    tscn_net(&t, "outside", 10 * 1000, 0);
    sim_host *a = tscn_host(&t, "h1", "inside", IP4(10, 66, 1, 2), "linux", false);
    sim_host *b = tscn_host(&t, "h2", "inside", IP4(10, 66, 1, 3), "linux", false);
    tscn_host(&t, "srv", "outside", IP4(10, 66, 2, 2), "linux", true);
    a->os.ts_offset = b->os.ts_offset = SIM_TSOFF_NONE;
    a->clock_skew = 12LL * 86400 * SIM_NS_PER_S;  /* h2's SYN is PAWS-old for the server */
    sim_nat *n = tscn_nat(&t, "nat", "inside", "outside", IP4(10, 66, 2, 1));
    n->hold_timewait = SIM_NS_PER_S;               /* the test flushes conntrack */
    sim_app *x = tscn_app(&t, "a1", "h1", "srv", 8004);
    x->max_connections = 1;
    x->closer = SIM_CLOSE_SERVER;
    x->hold_open = 100 * 1000;                     /* the server closes after the client's ACK */
    x->src_port_lo = x->src_port_hi = 40000;
    sim_app *y = tscn_app(&t, "a2", "h2", "srv", 8004);
    *y = *x;
    snprintf(y->client, sizeof y->client, "h2");
    y->start = 2 * SIM_NS_PER_S;
    tscn_point(&t, "inside", NULL, "inside");
    sim_capture caps[] = { { "inside", tmp("fidelity.pcap") } };
    sim_summary s;
    run_ok(&t.sc, caps, 1, 1, &s);
    rows sim;
    assert_int_equal(rows_read(caps[0].path, &sim), 0);
    char rs[512], ss[512];
    seq_str(&real, IP4(10, 66, 2, 2), 40000, 0, rs, sizeof rs);
    seq_str(&sim, IP4(10, 66, 2, 2), 40000, 0, ss, sizeof ss);
    assert_string_equal(ss, rs);
    const rows *both[2] = { &real, &sim };
    for (int i = 0; i < 2; i++) {
        const rows *r = both[i];
        assert_true(r->n == 25);
        const row *sfin = &r->v[7], *cfin = &r->v[9], *syn = &r->v[11], *ack = &r->v[12],
                  *rst = &r->v[13], *syn2 = &r->v[14];
        assert_int_equal(sfin->flags, 0x11);
        assert_int_equal(cfin->flags, 0x11);
        assert_int_not_equal(syn->src, r->v[0].src);  /* another inside host */
        assert_int_equal(ack->ack, cfin->seq + 1);
        assert_int_equal(ack->seq, sfin->seq + 1);
        assert_int_equal(rst->seq, ack->ack);
        assert_int_equal(syn2->seq, syn->seq);
        assert_true(syn2->t - rst->t < 20 * SIM_NS_PER_MS); /* fast resend, not 1 s */
    }
    free(real.v);
    free(sim.v);
    sim_summary_free(&s);
}

/* tcp-behaviour.md 9.2, first case: the reusing SYN is newer (TSval above TS.Recent): the
 * Linux server accepts it from TIME_WAIT with ISN = old snd_nxt + 65535 + 2. */
static void linux_server_accepts_newer_syn_from_timewait_with_isn_plus_65537(void **state)
{
    (void)state;
    tscn t;
    two_hosts(&t, "linux", "linux", 10 * SIM_NS_PER_S, 5 * SIM_NS_PER_S);
    t.hosts[0].clock_skew = 0;
    t.hosts[1].clock_skew = 12LL * 86400 * SIM_NS_PER_S; /* now pcb is ahead */
    sim_capture caps[] = { { "server", tmp("tw-accept.pcap") } };
    sim_summary s;
    run_ok(&t.sc, caps, 1, 7, &s);
    assert_int_equal(s.successes, 2);
    assert_int_equal(s.retried, 0);
    rows r;
    assert_int_equal(rows_read(caps[0].path, &r), 0);
    size_t k = first_syn_after(&r, 10 * SIM_NS_PER_S);
    char seq[256];
    seq_str(&r, IP4(192, 0, 2, 10), 40000, k, seq, sizeof seq);
    assert_string_equal(seq, ">S <SA >A >PA <A <PA <FA >A >A >FA <A");
    uint32_t srv_fin = r.v[6].seq;
    assert_int_equal(r.v[6].flags, 0x11);
    assert_int_equal(r.v[k + 1].seq, srv_fin + 1 + 65537);
    free(r.v);
    sim_summary_free(&s);
}

/* FreeBSD tcp_twcheck(): SEQ > rcv_nxt recycles the TIME_WAIT, anything else is dropped
 * silently; macOS: PAWS-old SYNs dropped, in-window ones get a challenge ACK whose RST
 * is ignored (RFC 1337).  Which case applies depends on the new ISN, so each run checks
 * the rule for the SYN it got. */
static void bsd_and_macos_timewait_rules(void **state)
{
    (void)state;
    const char *oses[] = { "freebsd", "macos" };
    for (int o = 0; o < 2; o++)
        for (uint64_t seed = 1; seed <= 4; seed++) {
            tscn t;
            two_hosts(&t, "linux", oses[o], 10 * SIM_NS_PER_S, 5 * SIM_NS_PER_S);
            t.hosts[0].clock_skew = 0;  /* pcb's TS ahead: PAWS does not drop it */
            t.hosts[1].clock_skew = 12LL * 86400 * SIM_NS_PER_S;
            sim_capture caps[] = { { "server", tmp("bsd.pcap") } };
            sim_summary s;
            run_ok(&t.sc, caps, 1, seed, &s);
            rows r;
            assert_int_equal(rows_read(caps[0].path, &r), 0);
            uint32_t cli_fin = 0;
            for (size_t i = 0; i < r.n && !cli_fin; i++)
                if ((r.v[i].flags & 0x01) && r.v[i].dst == IP4(192, 0, 2, 10))
                    cli_fin = r.v[i].seq;
            size_t k = first_syn_after(&r, 10 * SIM_NS_PER_S);
            uint32_t rcv_nxt = cli_fin + 1;
            int32_t d = (int32_t)(r.v[k].seq - rcv_nxt);
            bool accept = o == 0 ? d > 0 : d > 65535;
            char seq[256];
            seq_str(&r, IP4(192, 0, 2, 10), 40000, k, seq, sizeof seq);
            if (accept)
                assert_string_equal(seq, ">S <SA >A >PA <A <PA <FA >A >A >FA <A");
            else if (o == 0)  /* silent until TIME_WAIT (60 s) ends: SYNs at 0,1,..,35,67 s */
                assert_string_equal(seq, ">S >S >S >S >S >S >S >S >S >S >S <SA >A >PA <A <PA <FA >A >A >FA <A");
            else              /* challenge ACK, RST ignored, retries until 30 s have passed */
                assert_int_equal(strncmp(seq, ">S <A >R >S ", 12), 0);
            assert_int_equal(s.successes, 2);
            free(r.v);
            sim_summary_free(&s);
        }
}

/* A concurrency workload keeps N connections open: with 3 at once, 1 s holds and a 10 s
 * run, the client opens 3 connections per second. */
static void concurrency_keeps_n_connections_open(void **state)
{
    (void)state;
    tscn t;
    tscn_init(&t, 10 * SIM_NS_PER_S);
    tscn_net(&t, "lan", 100 * 1000, 0);
    tscn_host(&t, "pc", "lan", IP4(10, 0, 0, 1), "linux", false);
    tscn_host(&t, "srv", "lan", IP4(10, 0, 0, 9), "linux", true);
    sim_app *a = tscn_app(&t, "pool", "pc", "srv", 5432);
    a->rate = 0;
    a->concurrency = 3;
    a->server_time = SIM_NS_PER_S - 400 * 1000; /* + 2 RTT = exactly 1 s per exchange */
    sim_summary s;
    run_ok(&t.sc, NULL, 0, 1, &s);
    assert_int_equal(s.attempts, 30);
    assert_int_equal(s.successes, 30);
    assert_int_equal(s.latency_p50, 200 * 1000);
    assert_int_equal(s.latency_max, 200 * 1000);
    sim_summary_free(&s);
}

/* No listener: the SYN is answered with RST|ACK (RFC 9293 3.10.7.1) and connect() fails
 * with a reset; progress is reported about every 2^20 events. */
static void progress_cb(void *ctx, const sim_progress *p)
{
    sim_progress *last = ctx;
    *last = *p;
}

static void closed_port_resets_and_progress_reports(void **state)
{
    (void)state;
    tscn t;
    tscn_init(&t, 400 * SIM_NS_PER_S);
    tscn_net(&t, "lan", 100 * 1000, 0);
    tscn_host(&t, "pc", "lan", IP4(10, 0, 0, 1), "linux", false);
    tscn_host(&t, "srv", "lan", IP4(10, 0, 0, 9), "linux", false);
    sim_app *a = tscn_app(&t, "a", "pc", "srv", 81);
    a->rate = 1000;
    sim_progress last = { 0 };
    sim_run_opts o = { .seed = 1, .progress = progress_cb, .progress_ctx = &last };
    sim_summary s;
    char err[256];
    assert_int_equal(sim_run(&t.sc, &o, &s, err, sizeof err), 0);
    assert_int_equal(s.attempts, 400000);
    assert_int_equal(s.fail_by[SIM_FAIL_RESET], 400000);
    assert_int_equal(s.packets, 800000);
    /* per attempt: start, SYN and RST arrivals, and the SYN timer (lazy: it fires stale),
     * except the last second's 1000 timers which fall after the end */
    assert_int_equal(s.events, 4 * 400000 - 1000);
    assert_int_equal(last.events, 1u << 20);
    assert_int_equal(last.end, 400 * SIM_NS_PER_S);
    /* at that point 4 events per attempt, minus the 1000 SYN timers not yet due */
    assert_int_equal(last.attempts * 4 - 1000, 1u << 20);
    sim_summary_free(&s);
}

/* A NAT that rewrites timestamps adds one offset per session to the inside TSvals and
 * takes it off the TSecrs coming back; the inside host never sees the change. */
static void nat_rewrites_timestamps_per_session(void **state)
{
    (void)state;
    tscn t;
    two_hosts(&t, "linux", "linux", 10 * SIM_NS_PER_S, 5 * SIM_NS_PER_S);
    t.nats[0].rewrite_timestamps = true;
    sim_capture caps[] = { { "server", tmp("tsr-out.pcap") }, { "inside", tmp("tsr-in.pcap") } };
    sim_summary s;
    run_ok(&t.sc, caps, 2, 5, &s);
    rows o, i;
    assert_int_equal(rows_read(caps[0].path, &o), 0);
    assert_int_equal(rows_read(caps[1].path, &i), 0);
    assert_int_equal(o.n, i.n);
    uint32_t delta = o.v[0].tsval - i.v[0].tsval;
    assert_int_not_equal(delta, 0);
    for (size_t k = 0; k < 11; k++) {  /* the first connection, packet for packet */
        if (i.v[k].src == IP4(10, 0, 0, 1)) {
            assert_int_equal(o.v[k].tsval - i.v[k].tsval, delta);
        } else if (i.v[k].flags & 0x10) {
            assert_int_equal(o.v[k].tsecr - i.v[k].tsecr, delta);
            assert_int_equal(o.v[k].tsval, i.v[k].tsval);
        }
    }
    free(o.v);
    free(i.v);
    sim_summary_free(&s);
}

static uint64_t tnext(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Random mixes of profiles, loss, jitter, MTUs, NAT policies and workloads: every run
 * accounts for every attempt, and its capture reads back whole with valid checksums. */
static void random_scenarios_keep_their_books(void **state)
{
    (void)state;
    size_t nos;
    const sim_os *all = sim_os_all(&nos);
    assert_int_equal(nos, 6);
    uint64_t x = 2026;
    for (int run = 0; run < 24; run++) {
        tscn t;
        tscn_init(&t, (sim_ns)(5 + tnext(&x) % 20) * SIM_NS_PER_S);
        sim_net *lan = tscn_net(&t, "lan", (sim_ns)(tnext(&x) % 2000) * 1000, 0);
        sim_net *wan = tscn_net(&t, "wan", (sim_ns)(tnext(&x) % 50000) * 1000,
                                tnext(&x) % 3 == 0 ? 576 : 1500);
        lan->loss = (double)(tnext(&x) % 5) / 100.0;
        wan->loss = (double)(tnext(&x) % 10) / 100.0;
        wan->jitter = (sim_ns)(tnext(&x) % 5000) * 1000;
        sim_host *pc = tscn_host(&t, "pc", "lan", IP4(10, 0, 0, 1), all[tnext(&x) % nos].name, false);
        pc->count = 1 + (uint32_t)(tnext(&x) % 5);
        pc->clock_skew = (sim_ns)(tnext(&x) % 1000) * SIM_NS_PER_S;
        tscn_host(&t, "srv", "wan", IP4(192, 0, 2, 10), all[tnext(&x) % nos].name, true);
        sim_nat *n = tscn_nat(&t, "nat", "lan", "wan", IP4(198, 51, 100, 1));
        n->ports = (enum sim_nat_ports)(tnext(&x) % 3);
        n->frag = (enum sim_nat_frag)(tnext(&x) % 3);
        n->port_lo = 20000;
        n->port_hi = (uint16_t)(20000 + tnext(&x) % 64);
        n->hold_timewait = (sim_ns)(1 + tnext(&x) % 120) * SIM_NS_PER_S;
        n->rewrite_timestamps = tnext(&x) % 2;
        n->max_sessions = (uint32_t)(tnext(&x) % 4 == 0 ? 8 : 0);
        n->evict_timewait = tnext(&x) % 2;
        n->rst_on_expired = tnext(&x) % 2;
        n->hold_established = (sim_ns)(1 + tnext(&x) % 30) * SIM_NS_PER_S;
        sim_app *a = tscn_app(&t, "a", "pc", "srv", 80);
        a->rate = (double)(1 + tnext(&x) % 40);
        a->poisson = tnext(&x) % 2;
        if (tnext(&x) % 3 == 0) {
            a->rate = 0;
            a->concurrency = 1 + (uint32_t)(tnext(&x) % 8);
        }
        a->request_bytes = (uint32_t)(tnext(&x) % 5000);
        a->response_bytes = (uint32_t)(tnext(&x) % 9000);
        a->closer = (enum sim_closer)(tnext(&x) % 2);
        a->rst_close = tnext(&x) % 4 == 0;
        a->dont_fragment = tnext(&x) % 2;
        a->hold_open = (sim_ns)(tnext(&x) % 3) * SIM_NS_PER_S;
        a->server_time = (sim_ns)(tnext(&x) % 100) * SIM_NS_PER_MS;
        if (tnext(&x) % 4 == 0) {
            a->src_port_lo = 40000;
            a->src_port_hi = (uint16_t)(40000 + tnext(&x) % 10);
        }
        tscn_point(&t, "server", "srv", NULL);
        tscn_point(&t, "inside", NULL, "lan");
        char p1[32], p2[32];
        snprintf(p1, sizeof p1, "r%d-server.pcap", run);
        snprintf(p2, sizeof p2, "r%d-inside.pcap", run);
        sim_capture caps[] = { { "server", tmp(p1) }, { "inside", tmp(p2) } };
        sim_summary s;
        run_ok(&t.sc, caps, 2, tnext(&x), &s);
        if (getenv("SIM_TEST_VERBOSE"))
            fprintf(stderr, "run %d: mtu %u df %d req %u resp %u loss %.2f/%.2f %s->%s att %llu ok %llu to %llu rst %llu np %llu data %llu synd %llu fragd %llu\n",
                    run, wan->mtu, a->dont_fragment, a->request_bytes, a->response_bytes, lan->loss, wan->loss, pc->os.name, t.hosts[1].os.name, (unsigned long long)s.attempts,
                    (unsigned long long)s.successes, (unsigned long long)s.fail_by[0],
                    (unsigned long long)s.fail_by[1], (unsigned long long)s.fail_by[2],
                    (unsigned long long)s.fail_by[3], (unsigned long long)s.nats[0].syn_dropped,
                    (unsigned long long)s.nats[0].frag_dropped);
        uint64_t f = 0;
        for (int k = 0; k < SIM_FAIL__COUNT; k++)
            f += s.fail_by[k];
        assert_int_equal(s.attempts, s.successes + s.failures);
        assert_int_equal(f, s.failures);
        assert_true(s.attempts > 0);
        assert_true(s.packets_lost <= s.packets);
        assert_true(s.nats[0].ports_peak <= s.nats[0].ports_capacity);
        assert_true(s.latency_p50 <= s.latency_p90 && s.latency_p90 <= s.latency_p99 &&
                    s.latency_p99 <= s.latency_max);
        for (int c = 0; c < 2; c++) {
            rows r;
            assert_int_equal(rows_read(caps[c].path, &r), 0);
            assert_int_equal(r.n, s.captured[c]);
            assert_int_equal(r.bad_checksums, 0);
            free(r.v);
        }
        sim_summary_free(&s);
    }
}

/* Linux >= 6.5 NAT under port pressure takes over sessions in TIME_WAIT (4.3 step 5):
 * eight hosts, one after another, through a 4-port pool whose closed sessions are held
 * 120 s; without eviction the last four are dropped. */
static void nat_evicts_timewait_sessions_under_pressure(void **state)
{
    (void)state;
    for (int evict = 0; evict <= 1; evict++) {
        tscn t;
        tscn_init(&t, 8 * SIM_NS_PER_S);
        tscn_net(&t, "lan", 100 * 1000, 0);
        tscn_net(&t, "wan", SIM_NS_PER_MS, 0);
        sim_host *pc = tscn_host(&t, "pc", "lan", IP4(10, 0, 0, 1), "linux", false);
        pc->count = 8;
        tscn_host(&t, "srv", "wan", IP4(192, 0, 2, 10), "linux", true);
        sim_nat *n = tscn_nat(&t, "nat", "lan", "wan", IP4(198, 51, 100, 1));
        n->port_lo = 2000;
        n->port_hi = 2003;
        n->evict_timewait = evict;
        sim_app *a = tscn_app(&t, "a", "pc", "srv", 443);
        a->max_connections = 8;
        sim_summary s;
        run_ok(&t.sc, NULL, 0, 5, &s);
        assert_int_equal(s.attempts, 8);
        assert_int_equal(s.successes, evict ? 8 : 4);
        assert_int_equal(s.nats[0].syn_dropped, evict ? 0 : 4 * 11);
        sim_summary_free(&s);
    }
}

/* AWS NAT gateway idle timeout: the session expired while the connection idled, and the
 * client's next segment (its FIN) is answered by an RST from the NAT (7.2, 9.8). */
static void nat_answers_expired_session_with_rst(void **state)
{
    (void)state;
    tscn t;
    tscn_init(&t, SIM_NS_PER_S);
    tscn_net(&t, "lan", 100 * 1000, 0);
    tscn_net(&t, "wan", SIM_NS_PER_MS, 0);
    tscn_host(&t, "pc", "lan", IP4(10, 0, 0, 1), "linux", false);
    tscn_host(&t, "srv", "wan", IP4(192, 0, 2, 10), "linux", true);
    sim_nat *n = tscn_nat(&t, "natgw", "lan", "wan", IP4(198, 51, 100, 1));
    n->hold_established = 350 * SIM_NS_PER_S;
    n->rst_on_expired = true;
    sim_app *a = tscn_app(&t, "a", "pc", "srv", 443);
    a->max_connections = 1;
    a->hold_open = 400 * SIM_NS_PER_S;
    tscn_point(&t, "client", "pc", NULL);
    sim_capture caps[] = { { "client", tmp("idle.pcap") } };
    sim_summary s;
    run_ok(&t.sc, caps, 1, 5, &s);
    assert_int_equal(s.successes, 1);
    rows r;
    assert_int_equal(rows_read(caps[0].path, &r), 0);
    char seq[256];
    seq_str(&r, IP4(192, 0, 2, 10), r.v[0].sport, 0, seq, sizeof seq);
    assert_string_equal(seq, ">S <SA >A >PA <A <PA >A >FA <R");
    const row *fin = &r.v[r.n - 2], *rst = &r.v[r.n - 1];
    assert_int_equal(rst->seq, fin->ack);
    assert_int_equal(rst->t - fin->t, 200 * 1000);
    free(r.v);
    sim_summary_free(&s);
}

/* Every OS profile the stack table names carries the table's values: one
 * set of facts about stacks, read by the detectors and the simulator. */
static void os_profiles_agree_with_the_stack_table(void **state)
{
    (void)state;
    size_t n, seen = 0;
    const diag_stack *st = diag_stacks(&n);
    assert_true(n >= 6);
    for (size_t i = 0; i < n; i++) {
        const sim_os *os = sim_os_lookup(st[i].sim_profile);
        if (os == NULL)
            fail_msg("stack %s names profile %s, which the simulator has not", st[i].name,
                     st[i].sim_profile);
        assert_int_equal(os->ttl, st[i].initial_ttl);
        assert_int_equal(os->timewait, (sim_ns)(st[i].timewait_s * SIM_NS_PER_S));
        assert_int_equal(os->port_lo, st[i].port_lo);
        assert_int_equal(os->port_hi, st[i].port_hi);
        assert_int_equal(os->ts_hz, st[i].ts_hz);
        seen++;
    }
    size_t np;
    sim_os_all(&np);
    assert_int_equal(seen, np);     /* and no profile is left out of the table */
}

int main(void)
{
    if (!mkdtemp(tmpdir))
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(os_profiles_agree_with_the_stack_table),
        cmocka_unit_test(linux_server_timewait_reuse_stale_ack_rst_retry),
        cmocka_unit_test(windows2003_server_ignores_reused_syn_client_times_out),
        cmocka_unit_test(tw_recycle_drops_syns_of_host_with_lower_clock),
        cmocka_unit_test(nat_pool_of_four_ports_drops_syns_when_full),
        cmocka_unit_test(nat_drops_fragments_client_never_gets_data),
        cmocka_unit_test(rst_close_leaves_no_timewait),
        cmocka_unit_test(client_timewait_exhausts_ports_unless_tw_reuse),
        cmocka_unit_test(same_seed_same_bytes_other_seed_other_bytes),
        cmocka_unit_test(unknown_capture_point_is_an_error),
        cmocka_unit_test(linux_profile_matches_real_kernel_capture),
        cmocka_unit_test(linux_server_accepts_newer_syn_from_timewait_with_isn_plus_65537),
        cmocka_unit_test(bsd_and_macos_timewait_rules),
        cmocka_unit_test(concurrency_keeps_n_connections_open),
        cmocka_unit_test(closed_port_resets_and_progress_reports),
        cmocka_unit_test(nat_rewrites_timestamps_per_session),
        cmocka_unit_test(random_scenarios_keep_their_books),
        cmocka_unit_test(nat_evicts_timewait_sessions_under_pressure),
        cmocka_unit_test(nat_answers_expired_session_with_rst),
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
