/* test_isn.c - isn-not-increasing on records built without packets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "conn_builder.h"
#include "diag_test.h"
#include "tcpdoctor/diagnose.h"

#define ID "isn-not-increasing"

/* What one reuse looks like: the old connection (closed by `closer`), then
 * the same 4-tuple `gap` s after its last packet. */
typedef struct reuse {
    uint16_t cport;
    double   t0, gap;
    uint64_t pkt0;
    enum flow_side closer;
    uint32_t old_isn, old_final, new_isn;
    enum flow_handshake answer;
    bool     succeeded;
    uint8_t  old_ttl, new_ttl;
    bool     ts;
    uint32_t old_tsval_last, new_tsval;
} reuse;

static void make_pair(flow_conn *out, const reuse *r)
{
    tb_spec a = {
        .client = tb_v4(10, 1, 1, 10), .server = tb_v4(10, 2, 2, 20), .cport = r->cport,
        .sport = 8080, .first_packet = r->pkt0, .start_s = r->t0, .dur_s = 0.05,
        .answer = FLOW_HS_SYNACK, .succeeded = true, .closed_by = r->closer,
        .client_isn = r->old_isn, .client_final_seq = r->old_final, .server_isn = 700000000,
        .client_ttl = r->old_ttl ? r->old_ttl : 63, .server_ttl = 64, .ts = r->ts,
        .client_tsval_syn = r->old_tsval_last - 50, .client_tsval_last = r->old_tsval_last,
        .end = FLOW_END_REUSED,
    };
    tb_spec b = a;
    b.incarnation = 2;
    b.first_packet = r->pkt0 + 20;
    b.start_s = r->t0 + 0.05 + r->gap;
    b.dur_s = 1.1;
    b.syns = r->answer == FLOW_HS_SYNACK ? 1 : 2;
    b.syn_gap_s = 1.0;
    b.answer = r->answer;
    b.succeeded = r->succeeded;
    b.closed_by = FLOW_SIDE_SERVER;
    b.client_isn = r->new_isn;
    b.client_final_seq = 0;
    b.client_ttl = r->new_ttl ? r->new_ttl : 63;
    b.client_tsval_syn = r->new_tsval;
    b.client_tsval_last = r->new_tsval + 10;
    b.end = FLOW_END_EOF;
    out[0] = tb_make(&a);
    out[1] = tb_make(&b);
    /* A Linux TIME_WAIT answers with ACK = the old RCV.NXT (tcp-behaviour.md 3.3). */
    if (r->answer == FLOW_HS_ACK_ONLY)
        out[1].handshake_ack = r->old_final;
}

static const reuse seed001_refused = {
    .cport = 40001, .t0 = 0, .gap = 3.2, .pkt0 = 1, .closer = FLOW_SIDE_SERVER,
    .old_isn = 3000000000u, .old_final = 3000000259u, .new_isn = 1200000000u,
    .answer = FLOW_HS_ACK_ONLY, .succeeded = true,
};

/* Seed 001: the downstream proxy reuses its port 3.2 s after the upstream
 * closed, with a lower ISN; the Linux upstream answers with the old ACK. */
static void proxy_reusing_with_lower_isn_is_refused_and_a_warning(void **state)
{
    (void)state;
    flow_conn c[2];
    make_pair(c, &seed001_refused);
    diag_findings fs = tb_run(c, 2, DIAG_VANTAGE_SERVER);
    const diag_finding *f = tb_find(&fs, ID, 0);
    assert_non_null(f);
    assert_int_equal(f->severity, DIAG_WARNING);
    assert_true(f->confidence > 0.89 && f->confidence < 0.91);
    assert_int_equal(f->events, 1);
    assert_int_equal((int)tb_param(f, "reuses"), 1);
    assert_int_equal((int)tb_param(f, "isn_not_above"), 1);
    assert_int_equal((int)tb_param(f, "rejected"), 1);
    assert_int_equal((uint32_t)tb_param(f, "prev_final_seq"), 3000000259u);
    assert_int_equal((uint32_t)tb_param(f, "new_isn"), 1200000000u);
    assert_int_equal((int)tb_param(f, "other_host"), 0);
    assert_int_equal(f->n_evidence, 3);
    assert_int_equal(f->evidence[0].packet, 11);    /* old connection's last packet */
    assert_int_equal(f->evidence[1].packet, 21);    /* the reusing SYN */
    assert_int_equal(f->evidence[2].packet, 22);    /* the stale ACK */
    /* no timestamps: same TTL and SYN options cannot rule out a NAT */
    assert_non_null(strstr(f->explanation, "Two readings fit"));
    assert_null(strstr(f->explanation, "Reading (b)"));
    assert_non_null(strstr(f->remedies[0].action, "seed 001"));
    assert_true(f->has_client && f->has_server && f->server_port == 8080);
    diag_findings_free(&fs);
}

/* Another host behind a NAT (TTL 127 after 63): the coin-flip reading and
 * the NAT remedy first. */
static void other_host_behind_nat_reads_as_a_coin_flip(void **state)
{
    (void)state;
    reuse r = seed001_refused;
    r.new_ttl = 127;
    flow_conn c[2];
    make_pair(c, &r);
    diag_findings fs = tb_run(c, 2, DIAG_VANTAGE_SERVER);
    const diag_finding *f = tb_find(&fs, ID, 0);
    assert_non_null(f);
    assert_int_equal(f->severity, DIAG_WARNING);
    assert_int_equal((int)tb_param(f, "other_host"), 1);
    assert_non_null(strstr(f->explanation, "Reading (b)"));
    assert_non_null(strstr(f->explanation, "coin flip"));
    assert_non_null(strstr(f->explanation, "TTL 127, the old connection's 63"));
    assert_non_null(strstr(f->remedies[0].action, "NAT"));
    diag_findings_free(&fs);
}

/* One timestamp clock across the reuse (3.2 s on a 1 kHz clock), and a
 * server that refused the SYN anyway: it applies the ISN rule alone. */
static void same_timestamp_clock_reads_as_the_same_host(void **state)
{
    (void)state;
    reuse r = seed001_refused;
    r.ts = true;
    r.old_tsval_last = 500000;
    r.new_tsval = 503250;
    flow_conn c[2];
    make_pair(c, &r);
    diag_findings fs = tb_run(c, 2, DIAG_VANTAGE_SERVER);
    const diag_finding *f = tb_find(&fs, ID, 0);
    assert_non_null(f);
    assert_int_equal(f->severity, DIAG_WARNING);
    assert_non_null(strstr(f->explanation, "Reading (a), 1 reuse: the same host"));
    assert_non_null(strstr(f->explanation, "applies the sequence number rule alone"));
    assert_int_equal((int)tb_param(f, "other_host"), 0);
    diag_findings_free(&fs);
}

/* Different SYN options (p0f-style shape) are another host. */
static void different_syn_options_are_another_host(void **state)
{
    (void)state;
    flow_conn c[2];
    make_pair(c, &seed001_refused);
    c[1].client.syn_opts.mss = 1380;
    diag_findings fs = tb_run(c, 2, DIAG_VANTAGE_SERVER);
    const diag_finding *f = tb_find(&fs, ID, 0);
    assert_non_null(f);
    assert_int_equal((int)tb_param(f, "other_host"), 1);
    assert_non_null(strstr(f->explanation, "SYN options, window or MSS differ"));
    diag_findings_free(&fs);
}

/* Windows is reported to ignore SYNs in TIME_WAIT whatever the ISN: a
 * silent drop is weaker evidence than a stale ACK. */
static void ignored_reuse_is_reported_with_less_confidence(void **state)
{
    (void)state;
    reuse r = seed001_refused;
    r.answer = FLOW_HS_NONE;
    r.succeeded = false;
    flow_conn c[2];
    make_pair(c, &r);
    diag_findings fs = tb_run(c, 2, DIAG_VANTAGE_SERVER);
    const diag_finding *f = tb_find(&fs, ID, 0);
    assert_non_null(f);
    assert_int_equal(f->severity, DIAG_WARNING);
    assert_true(f->confidence > 0.59 && f->confidence < 0.61);
    assert_non_null(strstr(f->explanation, "Windows is reported to"));
    diag_findings_free(&fs);
}

/* A timestamp clock that went back is another host even with equal TTLs. */
static void timestamp_going_back_is_another_host(void **state)
{
    (void)state;
    reuse r = seed001_refused;
    r.ts = true;
    r.old_tsval_last = 900000;
    r.new_tsval = 1000;
    flow_conn c[2];
    make_pair(c, &r);
    diag_findings fs = tb_run(c, 2, DIAG_VANTAGE_SERVER);
    const diag_finding *f = tb_find(&fs, ID, 0);
    assert_non_null(f);
    assert_int_equal((int)tb_param(f, "other_host"), 1);
    assert_non_null(strstr(f->explanation, "below the old connection's last"));
    diag_findings_free(&fs);
}

/* Linux takes a SYN in TIME_WAIT with a newer TSval whatever its ISN (RFC
 * 6191): reported, but only as info. */
static void lower_isn_accepted_by_newer_timestamp_is_info(void **state)
{
    (void)state;
    reuse r = seed001_refused;
    r.answer = FLOW_HS_SYNACK;
    r.ts = true;
    r.old_tsval_last = 100000;
    r.new_tsval = 103300;      /* 3.3 s later on a 1 kHz clock: the same host */
    flow_conn c[2];
    make_pair(c, &r);
    diag_findings fs = tb_run(c, 2, DIAG_VANTAGE_SERVER);
    const diag_finding *f = tb_find(&fs, ID, 0);
    assert_non_null(f);
    assert_int_equal(f->severity, DIAG_INFO);
    assert_int_equal((int)tb_param(f, "rejected"), 0);
    assert_int_equal((int)tb_param(f, "isn_not_above"), 1);
    assert_int_equal((int)tb_param(f, "other_host"), 0);
    assert_non_null(strstr(f->summary, "newer timestamps"));
    diag_findings_free(&fs);
}

/* Healthy reuse: a clock-driven ISN above the old final sequence number. */
static void higher_isn_reuse_gives_no_finding(void **state)
{
    (void)state;
    reuse r = seed001_refused;
    r.new_isn = 3000100000u;
    r.answer = FLOW_HS_SYNACK;
    flow_conn c[2];
    make_pair(c, &r);
    diag_findings fs = tb_run(c, 2, DIAG_VANTAGE_SERVER);
    assert_null(tb_find(&fs, ID, 0));
    diag_findings_free(&fs);
}

/* Sequence numbers compare modulo 2^32 (RFC 9293 3.4): 1,000,000 comes
 * after 4,000,000,000. */
static void isn_past_the_wrap_counts_as_above(void **state)
{
    (void)state;
    reuse r = seed001_refused;
    r.old_isn = 4000000000u;
    r.old_final = 4000000259u;
    r.new_isn = 1000000u;
    r.answer = FLOW_HS_SYNACK;
    flow_conn c[2];
    make_pair(c, &r);
    diag_findings fs = tb_run(c, 2, DIAG_VANTAGE_SERVER);
    assert_null(tb_find(&fs, ID, 0));
    diag_findings_free(&fs);
}

/* The rule only matters while the other side holds TIME_WAIT: not when
 * the client closed first, nor 300 s later. */
static void no_finding_when_the_server_holds_no_timewait(void **state)
{
    (void)state;
    reuse r = seed001_refused;
    r.closer = FLOW_SIDE_CLIENT;
    r.answer = FLOW_HS_SYNACK;
    flow_conn c[4];
    make_pair(c, &r);
    reuse late = seed001_refused;
    late.cport = 40002;
    late.t0 = 10;
    late.pkt0 = 101;
    late.gap = 300;
    late.answer = FLOW_HS_SYNACK;
    make_pair(&c[2], &late);
    diag_findings fs = tb_run(c, 4, DIAG_VANTAGE_SERVER);
    assert_null(tb_find(&fs, ID, 0));
    diag_findings_free(&fs);
}

/* Inside a NAT: no old connection in the capture, only the server's stale
 * ACK naming its final sequence number; the ISN is below it. */
static void stale_ack_without_old_connection_uses_its_ack(void **state)
{
    (void)state;
    tb_spec s = {
        .client = tb_v4(10, 1, 1, 10), .server = tb_v4(10, 2, 2, 20), .cport = 40005,
        .sport = 8080, .first_packet = 5, .start_s = 1, .dur_s = 1.1, .syns = 2,
        .syn_gap_s = 1, .answer = FLOW_HS_ACK_ONLY, .succeeded = true,
        .closed_by = FLOW_SIDE_SERVER, .client_isn = 7000, .server_isn = 1, .end = FLOW_END_EOF,
    };
    flow_conn c = tb_make(&s);
    c.handshake_ack = 654321;
    diag_findings fs = tb_run(&c, 1, DIAG_VANTAGE_CLIENT);
    const diag_finding *f = tb_find(&fs, ID, 0);
    assert_non_null(f);
    assert_int_equal(f->severity, DIAG_WARNING);
    assert_true(f->confidence > 0.69 && f->confidence < 0.71);
    assert_int_equal((uint32_t)tb_param(f, "prev_final_seq"), 654321);
    assert_int_equal((uint32_t)tb_param(f, "new_isn"), 7000);
    assert_int_equal(f->evidence[0].packet, 5);     /* the SYN */
    assert_int_equal(f->evidence[1].packet, 6);     /* the stale ACK */
    assert_non_null(strstr(f->explanation, "not in this capture"));
    diag_findings_free(&fs);
}

/* Inside a NAT both inside hosts are in the capture: the stale ACK names
 * where the other host's connection ended, so it is reading (b). */
static void stale_ack_naming_another_inside_host_is_reading_b(void **state)
{
    (void)state;
    tb_spec a = {
        .client = tb_v4(10, 1, 1, 11), .server = tb_v4(10, 2, 2, 20), .cport = 40005,
        .sport = 8080, .first_packet = 1, .start_s = 0, .dur_s = 0.05,
        .answer = FLOW_HS_SYNACK, .succeeded = true, .closed_by = FLOW_SIDE_SERVER,
        .client_isn = 654000, .client_final_seq = 654321, .server_isn = 1, .end = FLOW_END_EOF,
    };
    tb_spec b = {
        .client = tb_v4(10, 1, 1, 10), .server = tb_v4(10, 2, 2, 20), .cport = 40005,
        .sport = 8080, .first_packet = 15, .start_s = 2, .dur_s = 1.1, .syns = 2,
        .syn_gap_s = 1, .answer = FLOW_HS_ACK_ONLY, .succeeded = true,
        .closed_by = FLOW_SIDE_SERVER, .client_isn = 7000, .server_isn = 1, .end = FLOW_END_EOF,
    };
    flow_conn c[2] = { tb_make(&a), tb_make(&b) };
    c[1].handshake_ack = 654321;
    diag_findings fs = tb_run(c, 2, DIAG_VANTAGE_CLIENT);
    const diag_finding *f = tb_find(&fs, ID, 0);
    assert_non_null(f);
    assert_int_equal((int)tb_param(f, "other_host"), 1);
    assert_int_equal(f->evidence[0].packet, 11);    /* where 10.1.1.11's connection ended */
    assert_int_equal(f->evidence[1].packet, 15);
    assert_non_null(strstr(f->explanation, "acknowledges exactly where 10.1.1.11:40005"));
    diag_findings_free(&fs);
}

/* Several reuses: counts per class, the refused one is the example, and
 * the accepted higher ISN is named. */
static void mixed_reuses_are_counted_and_the_refused_one_is_the_example(void **state)
{
    (void)state;
    reuse up = seed001_refused;
    up.cport = 40010;
    up.pkt0 = 1;
    up.new_isn = 3000100000u;
    up.answer = FLOW_HS_SYNACK;
    reuse down1 = seed001_refused;
    down1.cport = 40011;
    down1.t0 = 10;
    down1.pkt0 = 101;
    reuse down2 = seed001_refused;
    down2.cport = 40012;
    down2.t0 = 20;
    down2.pkt0 = 201;
    down2.new_isn = 3000000000u;    /* the old ISN again */
    down2.succeeded = false;
    flow_conn c[6];
    make_pair(&c[0], &up);
    make_pair(&c[2], &down1);
    make_pair(&c[4], &down2);
    diag_findings fs = tb_run(c, 6, DIAG_VANTAGE_SERVER);
    const diag_finding *f = tb_find(&fs, ID, 0);
    assert_non_null(f);
    assert_null(tb_find(&fs, ID, 1));
    assert_int_equal(f->severity, DIAG_WARNING);
    assert_int_equal((int)tb_param(f, "reuses"), 3);
    assert_int_equal((int)tb_param(f, "isn_not_above"), 2);
    assert_int_equal((int)tb_param(f, "rejected"), 2);
    assert_int_equal(f->evidence[1].packet, 121);
    assert_non_null(strstr(f->summary, "some never connected"));
    assert_non_null(strstr(f->explanation, "very same ISN came again"));
    assert_non_null(strstr(f->explanation, "accepted at once (first at packet 21)"));
    diag_findings_free(&fs);
}

/* The server accepted a lower ISN without a newer timestamp 1 s after a
 * close and refused another 3.2 s after: it does not apply the rule, so the
 * rule explains nothing - info only. */
static void accepted_lower_isn_sooner_than_a_refusal_contradicts_the_rule(void **state)
{
    (void)state;
    reuse ok = seed001_refused;
    ok.cport = 40020;
    ok.gap = 1.0;
    ok.answer = FLOW_HS_SYNACK;
    reuse bad = seed001_refused;
    bad.cport = 40021;
    bad.t0 = 10;
    bad.pkt0 = 101;
    flow_conn c[4];
    make_pair(&c[0], &ok);
    make_pair(&c[2], &bad);
    diag_findings fs = tb_run(c, 4, DIAG_VANTAGE_SERVER);
    const diag_finding *f = tb_find(&fs, ID, 0);
    assert_non_null(f);
    assert_int_equal(f->severity, DIAG_INFO);
    assert_true(f->confidence > 0.39 && f->confidence < 0.41);
    assert_int_equal((int)tb_param(f, "rejected"), 1);
    assert_non_null(strstr(f->summary, "the ISN does not decide"));
    assert_non_null(strstr(f->explanation, "does not enforce this rule"));
    diag_findings_free(&fs);
}

/* Healthy traffic: connections on distinct ports, no reuse at all. */
static void healthy_connections_give_no_finding(void **state)
{
    (void)state;
    flow_conn c[20];
    for (int i = 0; i < 20; i++) {
        tb_spec s = {
            .client = tb_v4(10, 1, 1, 10), .server = tb_v4(10, 2, 2, 20),
            .cport = (uint16_t)(41000 + i), .sport = 8080, .first_packet = 1 + 11u * (unsigned)i,
            .start_s = i * 0.1, .dur_s = 0.05, .answer = FLOW_HS_SYNACK, .succeeded = true,
            .closed_by = FLOW_SIDE_SERVER, .client_isn = 1000u * (unsigned)i,
            .end = FLOW_END_EOF,
        };
        c[i] = tb_make(&s);
    }
    diag_findings fs = tb_run(c, 20, DIAG_VANTAGE_SERVER);
    assert_null(tb_find(&fs, ID, 0));
    diag_findings_free(&fs);
}

/* The stale ACK of one attempt to server 93.184.0.(1 + i), ISN 7000 below
 * its ack, answered with TTL `ttl`; the client resets it and retries. */
static flow_conn unpaired_stale(int i, uint8_t ttl)
{
    tb_spec s = {
        .client = tb_v4(10, 1, 1, 10), .server = tb_v4(93, 184, 0, (uint8_t)(1 + i)),
        .cport = (uint16_t)(40005 + i), .sport = 443, .first_packet = 5 + 20 * (uint64_t)i,
        .start_s = 1 + 10.0 * i, .dur_s = 1.1, .syns = 2, .syn_gap_s = 1,
        .answer = FLOW_HS_ACK_ONLY, .succeeded = true, .client_isn = 7000, .server_isn = 1,
        .server_ttl = ttl, .end = FLOW_END_EOF,
    };
    flow_conn c = tb_make(&s);
    c.handshake_ack = 654321;
    c.syn_packet[1] = c.first_packet + 3;   /* SYN again after the ACK */
    return c;
}

/* arkime no-syn-ack.pcap: the bare ACK acknowledges the client's own
 * request (the SYN-ACK was not captured): no reuse, no ISN to judge. */
static void ack_of_the_clients_own_request_gives_no_finding(void **state)
{
    (void)state;
    flow_conn c = unpaired_stale(0, 50);
    c.syn_count = 1;
    c.handshake_ack = 7414;                 /* ISN 7000 + 1 + 413 bytes */
    c.client.sent_seen = true;
    c.client.sent_end = 7414;
    c.client.bytes = 413;
    diag_findings fs = tb_run(&c, 1, DIAG_VANTAGE_UNKNOWN);
    assert_null(tb_find(&fs, ID, 0));
    diag_findings_free(&fs);
    c.handshake_ack = 654321;               /* the same ISN against a stale ACK */
    fs = tb_run(&c, 1, DIAG_VANTAGE_UNKNOWN);
    assert_int_equal((uint32_t)tb_param(tb_find(&fs, ID, 0), "prev_final_seq"), 654321);
    diag_findings_free(&fs);
}

/* Stale ACKs for three servers from one device one hop away (TTL 63 for
 * all): not the servers' TIME_WAIT, so the ISNs are not judged against it;
 * with the servers' own TTLs they are, one finding per server. */
static void stale_acks_from_one_nearby_device_are_not_judged(void **state)
{
    (void)state;
    flow_conn c[3];
    for (int i = 0; i < 3; i++)
        c[i] = unpaired_stale(i, 63);
    diag_findings fs = tb_run(c, 3, DIAG_VANTAGE_CLIENT);
    assert_null(tb_find(&fs, ID, 0));
    assert_int_equal((int)tb_param(tb_find(&fs, "timewait-reuse", 0), "servers"), 3);
    diag_findings_free(&fs);
    c[1].server.ttl_first = 52;
    c[2].server.ttl_first = 47;
    fs = tb_run(c, 3, DIAG_VANTAGE_CLIENT);
    for (size_t i = 0; i < 3; i++)
        assert_int_equal((int)tb_param(tb_find(&fs, ID, i), "isn_not_above"), 1);
    assert_null(tb_find(&fs, ID, 3));
    diag_findings_free(&fs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(proxy_reusing_with_lower_isn_is_refused_and_a_warning),
        cmocka_unit_test(other_host_behind_nat_reads_as_a_coin_flip),
        cmocka_unit_test(timestamp_going_back_is_another_host),
        cmocka_unit_test(same_timestamp_clock_reads_as_the_same_host),
        cmocka_unit_test(different_syn_options_are_another_host),
        cmocka_unit_test(ignored_reuse_is_reported_with_less_confidence),
        cmocka_unit_test(lower_isn_accepted_by_newer_timestamp_is_info),
        cmocka_unit_test(higher_isn_reuse_gives_no_finding),
        cmocka_unit_test(isn_past_the_wrap_counts_as_above),
        cmocka_unit_test(no_finding_when_the_server_holds_no_timewait),
        cmocka_unit_test(stale_ack_without_old_connection_uses_its_ack),
        cmocka_unit_test(stale_ack_naming_another_inside_host_is_reading_b),
        cmocka_unit_test(mixed_reuses_are_counted_and_the_refused_one_is_the_example),
        cmocka_unit_test(accepted_lower_isn_sooner_than_a_refusal_contradicts_the_rule),
        cmocka_unit_test(healthy_connections_give_no_finding),
        cmocka_unit_test(ack_of_the_clients_own_request_gives_no_finding),
        cmocka_unit_test(stale_acks_from_one_nearby_device_are_not_judged),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
