/* test_nathosts.c - nat-multiple-hosts on records built without packets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "conn_builder.h"
#include "diag_test.h"
#include "tcpdoctor/diagnose.h"

#define ID "nat-multiple-hosts"

#define NAT tb_v4(198, 51, 100, 7)
#define SRV tb_v4(203, 0, 113, 10)

/* SYN shapes (p0f, tcp-behaviour.md 9.10). */
enum os { LINUX, WINDOWS };

static void set_layout(flow_conn *c, enum os os)
{
    static const uint8_t linux_l[] = { 2, 4, 8, 1, 3 };            /* mss,sok,ts,nop,ws */
    static const uint8_t win_l[] = { 2, 1, 3, 1, 1, 4 };           /* mss,nop,ws,nop,nop,sok */
    const uint8_t *l = os == LINUX ? linux_l : win_l;
    size_t n = os == LINUX ? sizeof linux_l : sizeof win_l;
    memcpy(c->client.syn_opts.layout, l, n);
    c->client.syn_opts.layout_len = (uint8_t)n;
    c->client.syn_opts.sack_perm = true;
    c->client.syn_opts.has_wscale = true;
    c->client.syn_opts.wscale = os == LINUX ? 7 : 8;
}

/* One short connection from the NAT at t seconds. */
static flow_conn conn(const pkt_addr *client, const pkt_addr *server, uint16_t cport, uint64_t pkt,
                      double t, enum os os, uint8_t ttl, bool ts, uint32_t tsval)
{
    tb_spec s = {
        .client = *client, .server = *server, .cport = cport, .sport = 443, .first_packet = pkt,
        .start_s = t, .dur_s = 0.05, .answer = FLOW_HS_SYNACK, .succeeded = true,
        .closed_by = FLOW_SIDE_CLIENT, .client_ttl = ttl, .ts = ts && os == LINUX,
        .client_tsval_syn = tsval, .client_tsval_last = tsval + 50, .client_isn = cport * 99u,
        .end = FLOW_END_EOF,
    };
    flow_conn c = tb_make(&s);
    set_layout(&c, os);
    return c;
}

static uint32_t clock1000(uint32_t off, double t)
{
    return off + (uint32_t)(t * 1000.0 + 0.5);
}

/* Linux (TTL 64) and Windows (TTL 128) behind one address, no timestamps. */
static void ttl_64_and_128_behind_one_address_are_two_hosts(void **state)
{
    (void)state;
    pkt_addr n = NAT, s = SRV;
    flow_conn c[4] = {
        conn(&n, &s, 40001, 1, 0.0, LINUX, 63, false, 0),
        conn(&n, &s, 50001, 20, 1.0, WINDOWS, 127, false, 0),
        conn(&n, &s, 40003, 40, 2.0, LINUX, 63, false, 0),
        conn(&n, &s, 50002, 60, 3.0, WINDOWS, 127, false, 0),
    };
    diag_findings fs = tb_run(c, 4, DIAG_VANTAGE_SERVER);
    const diag_finding *f = tb_find(&fs, ID, 0);
    assert_non_null(f);
    assert_null(tb_find(&fs, ID, 1));
    assert_int_equal(f->severity, DIAG_INFO);
    assert_true(f->confidence >= 0.9);
    assert_int_equal(f->events, 4);
    assert_memory_equal(f->client.b, n.b, 16);
    const diag_param *p = diag_param_get(f, "hosts_min");
    assert_non_null(p);
    assert_int_equal(p->value, 2);
    assert_true(p->has_min);
    assert_int_equal(p->min, 2);
    assert_int_equal(tb_param(f, "ttl_initials"), 2);
    assert_int_equal(tb_param(f, "syn_layouts"), 2);
    assert_int_equal(tb_param(f, "ts_clocks"), 0);
    /* one line per host signature, with the first SYN as example */
    assert_int_equal(f->n_evidence, 2);
    assert_int_equal(f->evidence[0].packet, 1);
    assert_int_equal(f->evidence[1].packet, 20);
    assert_non_null(strstr(f->evidence[1].text, "TTL 127 (initial 128)"));
    assert_non_null(strstr(f->evidence[1].text, "mss,nop,ws,nop,nop,sok"));
    diag_findings_free(&fs);
}

/* Same TTL, different SYN option layouts: Linux with timestamps, Windows without. */
static void linux_and_windows_syn_layouts_are_two_hosts(void **state)
{
    (void)state;
    pkt_addr n = NAT, s = SRV;
    flow_conn c[3] = {
        conn(&n, &s, 40001, 1, 0.0, LINUX, 63, true, 1000000),
        conn(&n, &s, 50001, 20, 1.0, WINDOWS, 63, false, 0),
        conn(&n, &s, 40003, 40, 5.0, LINUX, 63, true, 1005000),
    };
    diag_findings fs = tb_run(c, 3, DIAG_VANTAGE_SERVER);
    const diag_finding *f = tb_find(&fs, ID, 0);
    assert_non_null(f);
    assert_int_equal(tb_param(f, "hosts_min"), 2);
    assert_int_equal(tb_param(f, "syn_layouts"), 2);
    assert_int_equal(tb_param(f, "ttl_initials"), 1);
    assert_int_equal(tb_param(f, "ts_clocks"), 1);
    assert_int_equal(f->n_evidence, 2);
    assert_int_equal(f->evidence[0].packet, 1);     /* the Linux host, by its clock */
    assert_non_null(strstr(f->evidence[0].text, "timestamp clock 1000 Hz"));
    assert_int_equal(f->evidence[1].packet, 20);    /* the Windows host */
    assert_non_null(strstr(f->evidence[1].text, "no timestamps"));
    diag_findings_free(&fs);
}

/* Two Linux hosts, same rate, offsets 1e6 and 9e8, three connections each. */
static void two_timestamp_clocks_with_different_offsets_are_two_hosts(void **state)
{
    (void)state;
    pkt_addr n = NAT, s = SRV;
    flow_conn c[6];
    for (int i = 0; i < 3; i++) {
        double ta = 10.0 * i, tb = 10.0 * i + 4.0;
        c[2 * i] = conn(&n, &s, (uint16_t)(40001 + 2 * i), 1 + 40u * (unsigned)i, ta, LINUX, 63,
                        true, clock1000(1000000, ta));
        c[2 * i + 1] = conn(&n, &s, (uint16_t)(41001 + 2 * i), 21 + 40u * (unsigned)i, tb, LINUX,
                            63, true, clock1000(900000000, tb));
    }
    diag_findings fs = tb_run(c, 6, DIAG_VANTAGE_SERVER);
    const diag_finding *f = tb_find(&fs, ID, 0);
    assert_non_null(f);
    assert_int_equal(tb_param(f, "hosts_min"), 2);
    assert_int_equal(tb_param(f, "ts_clocks"), 2);
    assert_int_equal(tb_param(f, "syn_layouts"), 1);
    assert_int_equal(tb_param(f, "connections"), 6);
    assert_int_equal(f->n_evidence, 2);
    assert_int_equal(f->evidence[0].packet, 1);
    assert_int_equal(f->evidence[1].packet, 21);
    assert_non_null(strstr(f->evidence[1].text, "3 connections"));
    diag_findings_free(&fs);
}

/* Clocks that wrap past 2^32 between connections stay one clock. */
static void a_clock_wrapping_past_2_32_is_still_one_clock(void **state)
{
    (void)state;
    pkt_addr n = NAT, s = SRV;
    flow_conn c[4];
    for (int i = 0; i < 4; i++)
        c[i] = conn(&n, &s, (uint16_t)(40001 + 2 * i), 1 + 20u * (unsigned)i, 5.0 * i, LINUX, 63,
                    true, clock1000(4294960000u, 5.0 * i));
    diag_findings fs = tb_run(c, 4, DIAG_VANTAGE_SERVER);
    assert_null(tb_find(&fs, ID, 0));
    diag_findings_free(&fs);
}

/*
 * One Linux host with a random timestamp offset on every connection (Linux
 * 4.10, 7.0 and later): every connection looks like a clock of its own.
 * That must not be read as many hosts.
 */
static void per_connection_offsets_of_one_host_are_not_many_hosts(void **state)
{
    (void)state;
    static const uint32_t offs[12] = {
        0x1c3a5e71u, 0x9b02f4c3u, 0x5577aa10u, 0xe0e1d2c3u, 0x0badf00du, 0x7fffff00u,
        0x31415926u, 0xc0ffee00u, 0x27182818u, 0xdeadbeefu, 0x600dcafeu, 0x8badf00du,
    };
    pkt_addr n = NAT, s = SRV;
    flow_conn c[12];
    for (int i = 0; i < 12; i++)
        c[i] = conn(&n, &s, (uint16_t)(40001 + 2 * i), 1 + 20u * (unsigned)i, 3.0 * i, LINUX, 63,
                    true, clock1000(offs[i], 3.0 * i));
    diag_findings fs = tb_run(c, 12, DIAG_VANTAGE_SERVER);
    assert_null(tb_find(&fs, ID, 0));
    diag_findings_free(&fs);
}

/* Per-connection offsets beside two real clocks: only the real clocks count. */
static void per_connection_offsets_beside_real_clocks_count_only_the_real_ones(void **state)
{
    (void)state;
    static const uint32_t offs[6] = {
        0x1c3a5e71u, 0x9b02f4c3u, 0x5577aa10u, 0xe0e1d2c3u, 0x0badf00du, 0x7fffff00u,
    };
    pkt_addr n = NAT, s = SRV;
    flow_conn c[18];
    size_t k = 0;
    for (int i = 0; i < 6; i++) {
        double t = 5.0 * i;
        c[k++] = conn(&n, &s, (uint16_t)(30001 + i), 1 + 60u * (unsigned)i, t, LINUX, 63, true,
                      clock1000(offs[i], t));
        c[k++] = conn(&n, &s, (uint16_t)(40001 + i), 21 + 60u * (unsigned)i, t + 1, LINUX, 63,
                      true, clock1000(2000000, t + 1));
        c[k++] = conn(&n, &s, (uint16_t)(50001 + i), 41 + 60u * (unsigned)i, t + 2, LINUX, 63,
                      true, clock1000(3000000000u, t + 2));
    }
    diag_findings fs = tb_run(c, k, DIAG_VANTAGE_SERVER);
    const diag_finding *f = tb_find(&fs, ID, 0);
    assert_non_null(f);
    assert_int_equal(tb_param(f, "ts_clocks"), 2);
    assert_int_equal(tb_param(f, "hosts_min"), 2);
    assert_non_null(strstr(f->explanation, "per 4-tuple"));
    diag_findings_free(&fs);
}

/* Linux 4.11-6.x: one host, one offset per server: three servers, three
 * clocks, still one host. */
static void one_host_with_a_clock_per_server_is_one_host(void **state)
{
    (void)state;
    pkt_addr n = NAT;
    pkt_addr srv[3] = { tb_v4(203, 0, 113, 10), tb_v4(203, 0, 113, 11), tb_v4(203, 0, 113, 12) };
    static const uint32_t offs[3] = { 1000000u, 700000000u, 3500000000u };
    flow_conn c[9];
    for (int i = 0; i < 9; i++) {
        double t = 2.0 * i;
        c[i] = conn(&n, &srv[i % 3], (uint16_t)(40001 + i), 1 + 20u * (unsigned)i, t, LINUX, 63,
                    true, clock1000(offs[i % 3], t));
    }
    diag_findings fs = tb_run(c, 9, DIAG_VANTAGE_SERVER);
    assert_null(tb_find(&fs, ID, 0));
    diag_findings_free(&fs);
}

/* Healthy traffic: one host, one clock, one shape. */
static void one_host_gives_no_finding(void **state)
{
    (void)state;
    pkt_addr n = NAT, s = SRV;
    flow_conn c[20];
    for (int i = 0; i < 20; i++)
        c[i] = conn(&n, &s, (uint16_t)(40001 + i), 1 + 20u * (unsigned)i, 0.5 * i, LINUX, 63,
                    true, clock1000(123456789, 0.5 * i));
    diag_findings fs = tb_run(c, 20, DIAG_VANTAGE_SERVER);
    assert_null(tb_find(&fs, ID, 0));
    diag_findings_free(&fs);
}

/* TCP Fast Open adds an option to some SYNs of one host: still one host. */
static void fast_open_on_some_connections_is_still_one_host(void **state)
{
    (void)state;
    static const uint8_t tfo_l[] = { 2, 4, 8, 1, 3, 34, 1, 1 };    /* ...,ws,tfo,nop,nop */
    pkt_addr n = NAT, s = SRV;
    flow_conn c[6];
    for (int i = 0; i < 6; i++) {
        c[i] = conn(&n, &s, (uint16_t)(40001 + i), 1 + 20u * (unsigned)i, 2.0 * i, LINUX, 63,
                    true, clock1000(123456789, 2.0 * i));
        if (i % 2) {
            memcpy(c[i].client.syn_opts.layout, tfo_l, sizeof tfo_l);
            c[i].client.syn_opts.layout_len = sizeof tfo_l;
        }
    }
    diag_findings fs = tb_run(c, 6, DIAG_VANTAGE_SERVER);
    assert_null(tb_find(&fs, ID, 0));
    diag_findings_free(&fs);
}

/* Two hosts seen once each, same shape, different clocks: not provable. */
static void two_clocks_with_one_connection_each_are_not_counted(void **state)
{
    (void)state;
    pkt_addr n = NAT, s = SRV;
    flow_conn c[2] = {
        conn(&n, &s, 40001, 1, 0.0, LINUX, 63, true, 1000000),
        conn(&n, &s, 40003, 20, 1.0, LINUX, 63, true, 900000000),
    };
    diag_findings fs = tb_run(c, 2, DIAG_VANTAGE_SERVER);
    assert_null(tb_find(&fs, ID, 0));
    diag_findings_free(&fs);
}

/* ---- clocks alternating on one reused 4-tuple ---------------------------- */

/* Connections on one 4-tuple (client port 40000), the SYN of connection i
 * at t[i] with TSval ts[i]; all but the last ended in a reuse. */
static diag_findings run_reused(size_t n, const double *t, const uint32_t *ts)
{
    pkt_addr a = NAT, s = SRV;
    flow_conn c[8];
    assert_true(n <= 8);
    for (size_t i = 0; i < n; i++) {
        c[i] = conn(&a, &s, 40000, 1 + 20u * (unsigned)i, t[i], LINUX, 63, true, ts[i]);
        c[i].end = i + 1 < n ? FLOW_END_REUSED : FLOW_END_EOF;
    }
    return tb_run(c, n, DIAG_VANTAGE_SERVER);
}

/* Two Linux hosts behind a NAT that keeps their common source port take
 * turns on one outside 4-tuple, 2 s apart: two clock lines, A B A B. */
static void two_clocks_alternating_on_one_reused_tuple_are_two_hosts(void **state)
{
    (void)state;
    const double t[4] = { 0.0, 2.0, 4.0, 6.0 };
    const uint32_t ts[4] = { clock1000(4232044510u, 0.0), clock1000(1287460000u, 2.0),
                             clock1000(4232044510u, 4.0), clock1000(1287460000u, 6.0) };
    diag_findings fs = run_reused(4, t, ts);
    const diag_finding *f = tb_find(&fs, ID, 0);
    assert_non_null(f);
    assert_null(tb_find(&fs, ID, 1));
    assert_int_equal(f->severity, DIAG_INFO);
    assert_int_equal(tb_param(f, "hosts_min"), 2);
    assert_int_equal(tb_param(f, "ts_clocks"), 2);
    assert_int_equal(tb_param(f, "ttl_initials"), 1);
    assert_int_equal(tb_param(f, "syn_layouts"), 1);
    assert_int_equal(tb_param(f, "connections"), 4);
    assert_int_equal(f->n_evidence, 2);
    assert_int_equal(f->evidence[0].packet, 1);
    assert_int_equal(f->evidence[1].packet, 21);
    assert_non_null(strstr(f->evidence[0].text, "2 connections on this reused 4-tuple"));
    assert_non_null(strstr(f->evidence[1].text, "TSval 1287462000 here"));
    assert_int_equal(f->n_claims, 0);
    diag_findings_free(&fs);
}

/* One host reusing its 4-tuple repeats its offset: one line, with 1-tick
 * noise, is one host. */
static void one_host_reusing_its_tuple_is_one_host(void **state)
{
    (void)state;
    const double t[6] = { 0.0, 2.0, 4.0, 6.0, 8.0, 10.0 };
    uint32_t ts[6];
    for (int i = 0; i < 6; i++)
        ts[i] = clock1000(77000000u, t[i]) + (uint32_t)(i % 2);
    diag_findings fs = run_reused(6, t, ts);
    assert_null(tb_find(&fs, ID, 0));
    diag_findings_free(&fs);
}

/* One host whose clock wraps past 2^32 between two reuses is one line. */
static void a_clock_wrapping_on_a_reused_tuple_is_one_host(void **state)
{
    (void)state;
    const double t[4] = { 0.0, 2.0, 4.0, 6.0 };
    uint32_t ts[4];
    for (int i = 0; i < 4; i++)
        ts[i] = clock1000(4294964296u, t[i]);       /* 2^32 - 3000: wraps at 3 s */
    assert_true(ts[3] < ts[0]);
    diag_findings fs = run_reused(4, t, ts);
    assert_null(tb_find(&fs, ID, 0));
    diag_findings_free(&fs);
}

/* A host that rebooted between its second and third connection: one jump
 * to a new line, never back (A A B B), is not two hosts. */
static void a_reboot_on_a_reused_tuple_is_one_host(void **state)
{
    (void)state;
    const double t[4] = { 0.0, 2.0, 60.0, 62.0 };
    const uint32_t ts[4] = { clock1000(500000000u, 0.0), clock1000(500000000u, 2.0),
                             clock1000(12345u, 60.0), clock1000(12345u, 62.0) };
    diag_findings fs = run_reused(4, t, ts);
    assert_null(tb_find(&fs, ID, 0));
    diag_findings_free(&fs);
}

/* One host whose every other SYN waits 300 ms in a queue: those SYNs make a
 * second line that alternates with the first, but each step from one to the
 * other is forward and no faster than 1000 Hz, which one clock can do. */
static void one_host_with_every_other_syn_delayed_is_one_host(void **state)
{
    (void)state;
    const double t[4] = { 0.0, 2.3, 4.0, 6.3 };
    const uint32_t ts[4] = { clock1000(300000u, 0.0), clock1000(300000u, 2.0),
                             clock1000(300000u, 4.0), clock1000(300000u, 6.0) };
    diag_findings fs = run_reused(4, t, ts);
    assert_null(tb_find(&fs, ID, 0));
    diag_findings_free(&fs);
}

/* Two hosts with one connection each on the tuple prove nothing. */
static void two_clocks_one_connection_each_on_a_reused_tuple_are_not_counted(void **state)
{
    (void)state;
    const double t[3] = { 0.0, 2.0, 4.0 };
    const uint32_t ts[3] = { clock1000(4000000u, 0.0), clock1000(900000000u, 2.0),
                             clock1000(4000000u, 4.0) };
    diag_findings fs = run_reused(3, t, ts);
    assert_null(tb_find(&fs, ID, 0));
    diag_findings_free(&fs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ttl_64_and_128_behind_one_address_are_two_hosts),
        cmocka_unit_test(linux_and_windows_syn_layouts_are_two_hosts),
        cmocka_unit_test(two_timestamp_clocks_with_different_offsets_are_two_hosts),
        cmocka_unit_test(a_clock_wrapping_past_2_32_is_still_one_clock),
        cmocka_unit_test(per_connection_offsets_of_one_host_are_not_many_hosts),
        cmocka_unit_test(per_connection_offsets_beside_real_clocks_count_only_the_real_ones),
        cmocka_unit_test(one_host_with_a_clock_per_server_is_one_host),
        cmocka_unit_test(one_host_gives_no_finding),
        cmocka_unit_test(fast_open_on_some_connections_is_still_one_host),
        cmocka_unit_test(two_clocks_with_one_connection_each_are_not_counted),
        cmocka_unit_test(two_clocks_alternating_on_one_reused_tuple_are_two_hosts),
        cmocka_unit_test(one_host_reusing_its_tuple_is_one_host),
        cmocka_unit_test(a_clock_wrapping_on_a_reused_tuple_is_one_host),
        cmocka_unit_test(a_reboot_on_a_reused_tuple_is_one_host),
        cmocka_unit_test(one_host_with_every_other_syn_delayed_is_one_host),
        cmocka_unit_test(two_clocks_one_connection_each_on_a_reused_tuple_are_not_counted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
