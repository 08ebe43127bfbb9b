/* test_ports.c - port-exhaustion and timewait-accumulation on records built without packets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "ports_builder.h"

static bool has_evidence_packet(const diag_finding *f, uint64_t packet)
{
    for (size_t i = 0; i < f->n_evidence; i++)
        if (f->evidence[i].packet == packet)
            return true;
    return false;
}

/* A NAT's 4 outside ports, 40000-40003, each used twice: 4 connections held
 * 5 s from t = 0, then (2 s after they closed, the source closing first) 4
 * more for 1 s.  With `failures`, 2 SYNs from the pool got no answer at
 * 1.0 s and 1.5 s. */
static size_t nat_pool(flow_conn *c, bool failures)
{
    pkt_addr nat = tb_v4(10, 0, 0, 1);
    size_t n = 0;
    for (uint16_t i = 0; i < 4; i++)
        c[n++] = ok_conn(nat, 40000 + i, 0.01 * i, 5, FLOW_SIDE_CLIENT, 1 + 20 * i, 1);
    if (failures) {
        c[n++] = failed_conn(nat, 40001, 1.0, 3, 101, 1);
        c[n++] = failed_conn(nat, 40002, 1.5, 3, 121, 1);
    }
    for (uint16_t i = 0; i < 4; i++)
        c[n++] = ok_conn(nat, 40000 + i, 7 + 0.01 * i, 1, FLOW_SIDE_CLIENT, 201 + 20 * i, 2);
    return n;
}

static void snat_pool_of_four_full_while_syns_fail_is_an_error(void **state)
{
    (void)state;
    flow_conn c[10];
    size_t n = nat_pool(c, true);
    diag_findings fs = tb_run(c, n, DIAG_VANTAGE_PATH);
    const diag_finding *f = tb_find(&fs, "port-exhaustion", 0);
    assert_non_null(f);
    assert_int_equal(count(&fs, "port-exhaustion"), 1);
    assert_int_equal(f->severity, DIAG_ERROR);
    assert_true(f->has_client && f->has_server);
    assert_int_equal(f->server_port, 80);
    assert_int_equal(tb_param(f, "pool_low"), 40000);
    assert_int_equal(tb_param(f, "pool_high"), 40003);
    assert_int_equal(tb_param(f, "pool_size"), 4);
    assert_int_equal(tb_param(f, "peak_in_use"), 4);
    assert_int_equal(tb_param(f, "failed_attempts"), 2);
    assert_int_equal(tb_param(f, "connections"), 8);
    assert_int_equal(tb_param(f, "reuses"), 4);
    /* life (4 x 5 s + 4 x 1 s) / 8 = 3 s, + the 2 s the source waited to reuse a port */
    const diag_param *h = diag_param_get(f, "hold_s");
    assert_non_null(h);
    assert_float_equal(h->value, 5.0, 1e-6);
    assert_true(h->has_min && h->has_max);
    assert_float_equal(h->min, 3.0, 1e-6);
    assert_float_equal(h->max, 5.0, 1e-6);
    assert_float_equal(tb_param(f, "max_rate"), 0.8, 1e-6);
    assert_true(has_evidence_packet(f, 101));
    assert_true(has_evidence_packet(f, 121));
    /* the first connections holding the pool, and a reuse */
    assert_true(has_evidence_packet(f, 1));
    assert_true(has_evidence_packet(f, 201));
    /* explained: not left to syn-unanswered */
    assert_null(tb_find(&fs, "syn-unanswered", 0));
    diag_findings_free(&fs);
}

/* Seen at the server the NAT's dropped SYNs never arrive: no failure, no
 * delay, and 4 ports prove no range (port_pool.c rule): headroom, info. */
static void nat_pool_cycled_at_the_server_without_failures_is_headroom_info(void **state)
{
    (void)state;
    flow_conn c[8];
    size_t n = nat_pool(c, false);
    diag_findings fs = tb_run(c, n, DIAG_VANTAGE_SERVER);
    const diag_finding *f = tb_find(&fs, "port-exhaustion", 0);
    assert_non_null(f);
    assert_int_equal(count(&fs, "port-exhaustion"), 1);
    assert_int_equal(f->severity, DIAG_INFO);
    assert_int_equal(tb_param(f, "pool_size"), 4);
    assert_int_equal(tb_param(f, "peak_in_use"), 4);
    assert_int_equal(tb_param(f, "failed_attempts"), 0);
    /* full from the 4th SYN (0.03 s) to the end of the capture (8.03 s) */
    assert_float_equal(tb_param(f, "full_s"), 8.0, 1e-6);
    assert_null(tb_find(&fs, "timewait-accumulation", 0));
    diag_findings_free(&fs);
}

/* Four connections on a Linux client whose ip_local_port_range is 4 ports:
 * even ports first, then odd (__inet_hash_connect), each closed first. */
static void narrow_range(flow_conn *c, bool linux_stack, const uint16_t *ports)
{
    pkt_addr cli = tb_v4(10, 0, 0, 5);
    for (unsigned i = 0; i < 4; i++) {
        c[i] = ok_conn(cli, ports[i], 0.05 * i, 0.001, FLOW_SIDE_CLIENT, 1 + 11 * i, 1);
        set_stack(&c[i], linux_stack);
    }
}

/* The same 4 ports seen without a failure or a reuse: a Linux range of 4
 * ports and a client that made 4 connections look alike (connect() calls
 * refused locally send nothing), so neither detector says anything. */
static void linux_client_narrow_block_without_failures_gives_no_finding(void **state)
{
    (void)state;
    static const uint16_t ports[] = { 40000, 40002, 40003, 40001 };
    flow_conn c[4];
    narrow_range(c, true, ports);
    diag_findings fs = tb_run(c, 4, DIAG_VANTAGE_CLIENT);
    assert_int_equal(fs.n, 0);
    diag_findings_free(&fs);
}

/* Windows hands out ports in sequence: a contiguous block is normal there. */
static void windows_client_sequential_ports_are_not_a_narrow_range(void **state)
{
    (void)state;
    static const uint16_t ports[] = { 50001, 50002, 50003, 50004 };
    flow_conn c[4];
    narrow_range(c, false, ports);
    diag_findings fs = tb_run(c, 4, DIAG_VANTAGE_CLIENT);
    assert_int_equal(fs.n, 0);
    diag_findings_free(&fs);
}

/* A Linux client with room in its range uses ports of one parity only. */
static void linux_client_even_ports_only_is_not_a_narrow_range(void **state)
{
    (void)state;
    static const uint16_t ports[] = { 40000, 40002, 40004, 40006 };
    flow_conn c[4];
    narrow_range(c, true, ports);
    diag_findings fs = tb_run(c, 4, DIAG_VANTAGE_CLIENT);
    assert_int_equal(fs.n, 0);
    diag_findings_free(&fs);
}

/* The engine may be fed records in any order: same finding, same numbers. */
static void records_in_reverse_order_give_the_same_pool(void **state)
{
    (void)state;
    flow_conn c[10], r[10];
    size_t n = nat_pool(c, true);
    for (size_t i = 0; i < n; i++)
        r[i] = c[n - 1 - i];
    diag_findings fs = tb_run(r, n, DIAG_VANTAGE_PATH);
    const diag_finding *f = tb_find(&fs, "port-exhaustion", 0);
    assert_non_null(f);
    assert_int_equal(f->severity, DIAG_ERROR);
    assert_int_equal(tb_param(f, "pool_size"), 4);
    assert_int_equal(tb_param(f, "peak_in_use"), 4);
    assert_int_equal(tb_param(f, "failed_attempts"), 2);
    assert_int_equal(tb_param(f, "reuses"), 4);
    assert_float_equal(tb_param(f, "hold_s"), 5.0, 1e-6);
    diag_findings_free(&fs);
}

/* Inside a NAT with 4 ports toward the server: 8 clients' connections start
 * together, 4 are held 3 s, the other 4 SYNs are retransmitted and never
 * answered; once the first 4 closed, 4 more get through. */
static size_t inside_nat(flow_conn *c, double fail_at)
{
    pkt_addr cli = tb_v4(10, 1, 1, 2);
    size_t n = 0;
    for (uint16_t i = 0; i < 4; i++)
        c[n++] = ok_conn(cli, 45000 + 2 * i, 0.02 * i, 3, FLOW_SIDE_CLIENT, 1 + 20 * i, 1);
    for (uint16_t i = 0; i < 4; i++)
        c[n++] = failed_conn(cli, 45010 + 2 * i, fail_at + 0.02 * i, 3, 81 + 5 * i, 1);
    for (uint16_t i = 0; i < 4; i++)
        c[n++] = ok_conn(cli, 45020 + 2 * i, 4.5 + 0.02 * i, 3, FLOW_SIDE_CLIENT, 201 + 20 * i, 1);
    return n;
}

static void inside_nat_unanswered_syns_at_the_ceiling_are_an_error(void **state)
{
    (void)state;
    flow_conn c[12];
    size_t n = inside_nat(c, 0.08);
    diag_findings fs = tb_run(c, n, DIAG_VANTAGE_CLIENT);
    const diag_finding *f = tb_find(&fs, "port-exhaustion", 0);
    assert_non_null(f);
    assert_int_equal(count(&fs, "port-exhaustion"), 1);
    assert_int_equal(f->severity, DIAG_ERROR);
    assert_int_equal(tb_param(f, "pool_size"), 4);
    assert_int_equal(tb_param(f, "peak_in_use"), 4);
    assert_int_equal(tb_param(f, "failed_attempts"), 4);
    assert_int_equal(tb_param(f, "connections"), 8);
    assert_float_equal(tb_param(f, "hold_s"), 3.0, 1e-6);
    assert_null(diag_param_get(f, "pool_low"));   /* the NAT's ports are not visible inside */
    for (uint64_t p = 81; p <= 96; p += 5)
        assert_true(has_evidence_packet(f, p));
    assert_true(has_evidence_packet(f, 201));     /* got through once there was room */
    assert_null(tb_find(&fs, "syn-unanswered", 0));
    diag_findings_free(&fs);
}

/* The same SYNs sent when nothing else was open: not a ceiling. */
static void unanswered_syns_below_the_ceiling_stay_syn_unanswered(void **state)
{
    (void)state;
    flow_conn c[12];
    size_t n = inside_nat(c, 3.5);
    diag_findings fs = tb_run(c, n, DIAG_VANTAGE_CLIENT);
    assert_null(tb_find(&fs, "port-exhaustion", 0));
    assert_non_null(tb_find(&fs, "syn-unanswered", 0));
    diag_findings_free(&fs);
}

/* At the server an unanswered SYN arrived: the ceiling signature is for
 * captures inside the NAT. */
static void ceiling_is_not_claimed_at_the_server(void **state)
{
    (void)state;
    flow_conn c[12];
    size_t n = inside_nat(c, 0.08);
    diag_findings fs = tb_run(c, n, DIAG_VANTAGE_SERVER);
    assert_null(tb_find(&fs, "port-exhaustion", 0));
    diag_findings_free(&fs);
}

/* One Linux client, 300 connections over 150 s from ports spread over its
 * range, a few open at once, half closed by each side: healthy. */
static void healthy_client_with_many_ports_and_few_concurrent_gives_no_finding(void **state)
{
    (void)state;
    tb_tuples e = engine(DIAG_VANTAGE_CLIENT);
    for (unsigned i = 0; i < 300; i++) {
        flow_conn c = ok_conn(tb_v4(10, 0, 0, 7), (uint16_t)(33000 + 6 * i), 0.5 * i, 1.2,
                              i % 2 ? FLOW_SIDE_SERVER : FLOW_SIDE_CLIENT, 1 + 12 * i, 1);
        set_stack(&c, true);
        tb_feed(&e, &c);
    }
    diag_findings fs = finish(&e);
    assert_int_equal(fs.n, 0);
    diag_findings_free(&fs);
}

/* 20 ports reused every 20 s, one short connection at a time (the bench's
 * pattern, scaled down): a pool, but never near full. */
static void small_pool_reused_while_mostly_idle_gives_no_finding(void **state)
{
    (void)state;
    tb_tuples e = engine(DIAG_VANTAGE_SERVER);
    for (unsigned i = 0; i < 200; i++) {
        flow_conn c = ok_conn(tb_v4(10, 0, 0, 8), (uint16_t)(40000 + i % 20), i, 0.05,
                              i % 3 ? FLOW_SIDE_SERVER : FLOW_SIDE_CLIENT, 1 + 12 * i,
                              1 + i / 20);
        tb_feed(&e, &c);
    }
    diag_findings fs = finish(&e);
    assert_null(tb_find(&fs, "port-exhaustion", 0));
    assert_null(tb_find(&fs, "timewait-accumulation", 0));
    diag_findings_free(&fs);
}

/* A client bound to one source port (e.g. bind-before-connect) reconnects. */
static void fixed_source_port_reused_is_not_a_pool(void **state)
{
    (void)state;
    flow_conn c[3];
    for (unsigned i = 0; i < 3; i++)
        c[i] = ok_conn(tb_v4(10, 0, 0, 3), 40000, 2.0 * i, 1.5, FLOW_SIDE_SERVER, 1 + 12 * i,
                       1 + i);
    diag_findings fs = tb_run(c, 3, DIAG_VANTAGE_SERVER);
    assert_null(tb_find(&fs, "port-exhaustion", 0));
    diag_findings_free(&fs);
}

/* Ports 40010 (twice), 40011, 40012: all in use only when the last new port
 * appears, and nothing came after: no sign of a limit. */
static void pool_full_only_when_its_last_port_appears_is_not_a_limit(void **state)
{
    (void)state;
    pkt_addr cli = tb_v4(10, 0, 0, 1);
    flow_conn c[4] = {
        ok_conn(cli, 40010, 0.0, 0.007, FLOW_SIDE_SERVER, 1, 1),
        ok_conn(cli, 40010, 0.507, 1.008, FLOW_SIDE_CLIENT, 9, 2),
        ok_conn(cli, 40011, 1.615, 2.0, FLOW_SIDE_NONE, 19, 1),
        ok_conn(cli, 40012, 2.719, 1.006, FLOW_SIDE_CLIENT, 25, 1),
    };
    diag_findings fs = tb_run(c, 4, DIAG_VANTAGE_PATH);
    assert_null(tb_find(&fs, "port-exhaustion", 0));
    diag_findings_free(&fs);
}

/* Three ports, each reused once 1-2 s after a short connection, the second
 * connections left open: at t = 200 s all three are held (two of them idle
 * since long), and one more reuse follows.  The pool never turned over. */
static void idle_connections_left_open_on_a_few_ports_are_not_a_limit(void **state)
{
    (void)state;
    pkt_addr cli = tb_v4(10, 1, 1, 1);
    flow_conn c[6];
    for (unsigned i = 0; i < 3; i++) {
        c[2 * i] = ok_conn(cli, (uint16_t)(3000 + i), 100.0 * i, 0.34, FLOW_SIDE_SERVER,
                           1 + 100 * i, 1);
        c[2 * i + 1] = ok_conn(cli, (uint16_t)(3000 + i), 100.0 * i + 1.34 + i, 30,
                               FLOW_SIDE_NONE, 51 + 100 * i, 2);
    }
    diag_findings fs = tb_run(c, 6, DIAG_VANTAGE_SERVER);
    assert_null(tb_find(&fs, "port-exhaustion", 0));
    diag_findings_free(&fs);
}

/* Two parallel connections of a browser (ports 41181-41182, both open at
 * the end): two ports are not a 2-port range. */
static void two_parallel_browser_connections_give_no_finding(void **state)
{
    (void)state;
    pkt_addr cli = tb_v4(192, 168, 0, 103);
    flow_conn c[2];
    for (unsigned i = 0; i < 2; i++) {
        c[i] = ok_conn(cli, (uint16_t)(41181 + i), 0.001 * i, 0.16, FLOW_SIDE_NONE, 1 + 10 * i, 1);
        set_stack(&c[i], true);
    }
    diag_findings fs = tb_run(c, 2, DIAG_VANTAGE_CLIENT);
    assert_int_equal(fs.n, 0);
    diag_findings_free(&fs);
}

/* A benchmark's 15 loopback connections within 6 ms, consecutive ports of
 * both parities (an older Linux hands them out in sequence), each closed
 * first by the client and held in TIME_WAIT: nothing failed, no range. */
static void fifteen_benchmark_connections_in_timewait_give_no_finding(void **state)
{
    (void)state;
    pkt_addr lo = tb_v4(127, 0, 0, 1);
    flow_conn c[15];
    for (unsigned i = 0; i < 15; i++) {
        c[i] = ok_conn(lo, (uint16_t)(35901 + i), 0.0004 * i, 0.003, FLOW_SIDE_CLIENT,
                       1 + 10 * i, 1);
        set_stack(&c[i], true);
    }
    diag_findings fs = tb_run(c, 15, DIAG_VANTAGE_CLIENT);
    assert_int_equal(fs.n, 0);
    diag_findings_free(&fs);
}

/* An SNAT address seen at the server: 300 ports 20000-20299, all held 10 s
 * from t = 0, then every one handed out again at t = 11: the ports prove
 * the range (256 or more, dense, reused) and all of it was in use. */
static void pool(tb_tuples *e, uint16_t nports, bool reuse)
{
    pkt_addr nat = tb_v4(10, 0, 0, 30);
    for (unsigned w = 0; w < (reuse ? 2u : 1u); w++)
        for (unsigned i = 0; i < nports; i++) {
            flow_conn c = ok_conn(nat, (uint16_t)(20000 + i), 11.0 * w + 0.001 * i, 10,
                                  FLOW_SIDE_SERVER, 1 + 12 * (uint64_t)(i + nports * w), 1 + w);
            tb_feed(e, &c);
        }
}

static void proven_range_of_300_ports_all_in_use_is_a_warning(void **state)
{
    (void)state;
    tb_tuples e = engine(DIAG_VANTAGE_SERVER);
    pool(&e, 300, true);
    diag_findings fs = finish(&e);
    const diag_finding *f = tb_find(&fs, "port-exhaustion", 0);
    assert_non_null(f);
    assert_int_equal(count(&fs, "port-exhaustion"), 1);
    assert_int_equal(f->severity, DIAG_WARNING);
    assert_int_equal(tb_param(f, "pool_low"), 20000);
    assert_int_equal(tb_param(f, "pool_high"), 20299);
    assert_int_equal(tb_param(f, "pool_size"), 300);
    assert_int_equal(tb_param(f, "peak_in_use"), 300);
    assert_int_equal(tb_param(f, "failed_attempts"), 0);
    assert_int_equal(tb_param(f, "connections"), 600);
    assert_int_equal(tb_param(f, "reuses"), 300);
    diag_findings_free(&fs);
}

/* Below the minimum: 255 ports behave the same, and prove nothing. */
static void pool_of_255_ports_without_failures_is_headroom_info(void **state)
{
    (void)state;
    tb_tuples e = engine(DIAG_VANTAGE_SERVER);
    pool(&e, 255, true);
    diag_findings fs = finish(&e);
    const diag_finding *f = tb_find(&fs, "port-exhaustion", 0);
    assert_non_null(f);
    assert_int_equal(f->severity, DIAG_INFO);
    assert_int_equal(tb_param(f, "pool_size"), 255);
    diag_findings_free(&fs);
}

/* 300 connections at once from a dense block, never reused: what any
 * sequential allocator gives on a wide range.  No finding. */
static void dense_block_never_reused_gives_no_finding(void **state)
{
    (void)state;
    tb_tuples e = engine(DIAG_VANTAGE_SERVER);
    pool(&e, 300, false);
    diag_findings fs = finish(&e);
    assert_null(tb_find(&fs, "port-exhaustion", 0));
    diag_findings_free(&fs);
}

/* Captures years apart merged into one: two connections still open when the
 * first file ends hold their ports to their own last packet, not across the
 * 10^8 s gap to the second file, where a ceiling of 2 turns SYNs away. */
static void open_connections_hold_no_port_across_a_gap_between_merged_captures(void **state)
{
    (void)state;
    pkt_addr cli = tb_v4(10, 1, 1, 3);
    const double t = 1e8;
    flow_conn c[8];
    size_t n = 0;
    for (uint16_t i = 0; i < 2; i++)
        c[n++] = ok_conn(cli, 45000 + 2 * i, 0.02 * i, 1, FLOW_SIDE_NONE, 1 + 10 * i, 1);
    for (uint16_t i = 0; i < 2; i++)
        c[n++] = ok_conn(cli, 45100 + 2 * i, t + 0.02 * i, 3, FLOW_SIDE_CLIENT, 101 + 20 * i, 1);
    for (uint16_t i = 0; i < 2; i++)
        c[n++] = failed_conn(cli, 45110 + 2 * i, t + 0.1 + 0.02 * i, 3, 181 + 5 * i, 1);
    for (uint16_t i = 0; i < 2; i++)
        c[n++] = ok_conn(cli, 45120 + 2 * i, t + 4 + 0.02 * i, 3, FLOW_SIDE_CLIENT, 301 + 20 * i, 1);
    diag_findings fs = tb_run(c, n, DIAG_VANTAGE_CLIENT);
    const diag_finding *f = tb_find(&fs, "port-exhaustion", 0);
    assert_non_null(f);
    assert_int_equal(f->severity, DIAG_ERROR);
    assert_int_equal(tb_param(f, "pool_size"), 2);
    assert_int_equal(tb_param(f, "peak_in_use"), 2);
    assert_int_equal(tb_param(f, "failed_attempts"), 2);
    assert_int_equal(tb_param(f, "connections"), 6);
    assert_true(has_evidence_packet(f, 181));
    assert_true(has_evidence_packet(f, 186));
    diag_findings_free(&fs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(snat_pool_of_four_full_while_syns_fail_is_an_error),
        cmocka_unit_test(nat_pool_cycled_at_the_server_without_failures_is_headroom_info),
        cmocka_unit_test(records_in_reverse_order_give_the_same_pool),
        cmocka_unit_test(linux_client_narrow_block_without_failures_gives_no_finding),
        cmocka_unit_test(windows_client_sequential_ports_are_not_a_narrow_range),
        cmocka_unit_test(linux_client_even_ports_only_is_not_a_narrow_range),
        cmocka_unit_test(inside_nat_unanswered_syns_at_the_ceiling_are_an_error),
        cmocka_unit_test(unanswered_syns_below_the_ceiling_stay_syn_unanswered),
        cmocka_unit_test(ceiling_is_not_claimed_at_the_server),
        cmocka_unit_test(healthy_client_with_many_ports_and_few_concurrent_gives_no_finding),
        cmocka_unit_test(small_pool_reused_while_mostly_idle_gives_no_finding),
        cmocka_unit_test(fixed_source_port_reused_is_not_a_pool),
        cmocka_unit_test(pool_full_only_when_its_last_port_appears_is_not_a_limit),
        cmocka_unit_test(idle_connections_left_open_on_a_few_ports_are_not_a_limit),
        cmocka_unit_test(two_parallel_browser_connections_give_no_finding),
        cmocka_unit_test(fifteen_benchmark_connections_in_timewait_give_no_finding),
        cmocka_unit_test(proven_range_of_300_ports_all_in_use_is_a_warning),
        cmocka_unit_test(pool_of_255_ports_without_failures_is_headroom_info),
        cmocka_unit_test(dense_block_never_reused_gives_no_finding),
        cmocka_unit_test(open_connections_hold_no_port_across_a_gap_between_merged_captures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
