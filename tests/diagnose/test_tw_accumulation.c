/* test_tw_accumulation.c - timewait-accumulation on records built without packets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "ports_builder.h"

/* A NAT address (10.0.1.<host>) with 4 ports toward DST, 40000-40003: 4
 * short connections it closes first at t = 0, two SYNs retransmitted and
 * never answered at 5 s and 10 s while all 4 ports are held in TIME_WAIT,
 * and the 4 ports handed out again 30 s after their close. */
static void tw_pool(tb_tuples *e, uint8_t host, uint64_t pkt)
{
    pkt_addr nat = tb_v4(10, 0, 1, host);
    flow_conn c;
    for (uint16_t i = 0; i < 4; i++) {
        c = ok_conn(nat, 40000 + i, 0.001 * i, 0.01, FLOW_SIDE_CLIENT, pkt + 10 * i, 1);
        tb_feed(e, &c);
    }
    c = failed_conn(nat, 40100, 5, 3, pkt + 50, 1);
    tb_feed(e, &c);
    c = failed_conn(nat, 40101, 10, 3, pkt + 60, 1);
    tb_feed(e, &c);
    for (uint16_t i = 0; i < 4; i++) {
        c = ok_conn(nat, 40000 + i, 30.01 + 0.001 * i, 0.01, FLOW_SIDE_CLIENT, pkt + 70 + 10 * i, 2);
        tb_feed(e, &c);
    }
}

static void failures_while_timewait_holds_the_pool_are_an_error(void **state)
{
    (void)state;
    tb_tuples e = engine(DIAG_VANTAGE_PATH);
    tw_pool(&e, 1, 1);
    diag_findings fs = finish(&e);
    const diag_finding *p = tb_find(&fs, "port-exhaustion", 0);
    assert_non_null(p);
    assert_int_equal(p->severity, DIAG_ERROR);
    assert_int_equal(tb_param(p, "pool_size"), 4);
    assert_int_equal(tb_param(p, "failed_attempts"), 2);
    const diag_finding *t = tb_find(&fs, "timewait-accumulation", 0);
    assert_non_null(t);
    assert_int_equal(t->severity, DIAG_ERROR);
    assert_int_equal(tb_param(t, "peak_timewait"), 4);
    assert_int_equal(tb_param(t, "failed_attempts"), 2);
    /* 4 ports inside Linux's default range prove no smaller range */
    assert_int_equal(tb_param(t, "port_budget"), 28232);
    /* reused 30 s after the close: TIME_WAIT is at most that */
    assert_float_equal(tb_param(t, "timewait_s"), 30.0, 1e-3);
    diag_findings_free(&fs);
}

/* Regression (fuzzing, heap-use-after-free): timewait-accumulation kept a
 * pointer to port-exhaustion's finding across diag_add(), which grows the
 * array by realloc (4 findings, then 8).  Three pools: three findings of
 * port-exhaustion first, then the second timewait-accumulation finding is
 * the fifth, and moves the array.  Under ASan the old code failed here. */
static void timewait_findings_after_the_array_grew_are_whole(void **state)
{
    (void)state;
    tb_tuples e = engine(DIAG_VANTAGE_PATH);
    for (uint8_t h = 1; h <= 3; h++)
        tw_pool(&e, h, 1000 * (uint64_t)h);
    diag_findings fs = finish(&e);
    assert_int_equal(count(&fs, "port-exhaustion"), 3);
    assert_int_equal(count(&fs, "timewait-accumulation"), 3);
    for (size_t i = 0; i < 3; i++) {
        const diag_finding *t = tb_find(&fs, "timewait-accumulation", i);
        assert_non_null(t);
        assert_int_equal(t->severity, DIAG_ERROR);
        assert_int_equal(tb_param(t, "port_budget"), 28232);
        assert_int_equal(tb_param(t, "peak_timewait"), 4);
        assert_non_null(strstr(t->explanation, "28232 per destination"));
    }
    diag_findings_free(&fs);
}

/* A Linux proxy (TTL 64) closing first 300 connections a second to one
 * backend for 50 s: 15 000 tuples in TIME_WAIT, over half of 28 232 but
 * below 90%, and nothing failed: headroom, info. */
static void proxy_closing_first_past_half_its_budget_is_headroom_info(void **state)
{
    (void)state;
    tb_tuples e = engine(DIAG_VANTAGE_CLIENT);
    for (unsigned i = 0; i < 15000; i++) {
        flow_conn c = ok_conn(tb_v4(10, 0, 0, 20), (uint16_t)(32768 + i), i / 300.0, 0.01,
                              FLOW_SIDE_CLIENT, 1 + 12 * (uint64_t)i, 1);
        set_stack(&c, true);
        tb_feed(&e, &c);
    }
    diag_findings fs = finish(&e);
    const diag_finding *t = tb_find(&fs, "timewait-accumulation", 0);
    assert_non_null(t);
    assert_int_equal(t->severity, DIAG_INFO);
    assert_int_equal(tb_param(t, "peak_timewait"), 15000);
    assert_int_equal(tb_param(t, "port_budget"), 28232);
    assert_float_equal(tb_param(t, "closer_share"), 1.0, 1e-9);
    assert_float_equal(tb_param(t, "timewait_s"), 60.0, 1e-9);
    /* 15 000 closes over the 50 s from the first SYN to the last close */
    assert_float_equal(tb_param(t, "close_rate"), 15000 / (14999 / 300.0 + 0.01), 1e-6);
    assert_null(tb_find(&fs, "port-exhaustion", 0));
    diag_findings_free(&fs);
}

/* A Windows client (TTL 128: 120 s, 16 384 ports) closing first 200 a
 * second for 12 s: 2 400 tuples now, 24 000 at a steady state: a
 * projection, not harm: info. */
static void close_rate_that_would_exhaust_the_budget_is_headroom_info(void **state)
{
    (void)state;
    tb_tuples e = engine(DIAG_VANTAGE_CLIENT);
    for (unsigned i = 0; i < 2400; i++) {
        flow_conn c = ok_conn(tb_v4(10, 0, 0, 21), (uint16_t)(49152 + i), i / 200.0, 0.02,
                              FLOW_SIDE_CLIENT, 1 + 12 * (uint64_t)i, 1);
        set_stack(&c, false);
        tb_feed(&e, &c);
    }
    diag_findings fs = finish(&e);
    const diag_finding *t = tb_find(&fs, "timewait-accumulation", 0);
    assert_non_null(t);
    assert_int_equal(t->severity, DIAG_INFO);
    assert_int_equal(tb_param(t, "peak_timewait"), 2400);
    assert_int_equal(tb_param(t, "port_budget"), 16384);
    assert_float_equal(tb_param(t, "timewait_s"), 120.0, 1e-9);
    double rate = 2400 / (2399 / 200.0 + 0.02);
    assert_float_equal(tb_param(t, "close_rate"), rate, 1e-6);
    assert_float_equal(tb_param(t, "projected_timewait"), rate * 120, 1e-3);
    diag_findings_free(&fs);
}

/* The same traffic closed by the server: its TIME_WAIT costs no port. */
static void server_closing_first_is_not_timewait_accumulation(void **state)
{
    (void)state;
    tb_tuples e = engine(DIAG_VANTAGE_CLIENT);
    for (unsigned i = 0; i < 15000; i++) {
        flow_conn c = ok_conn(tb_v4(10, 0, 0, 20), (uint16_t)(32768 + i), i / 300.0, 0.01,
                              FLOW_SIDE_SERVER, 1 + 12 * (uint64_t)i, 1);
        set_stack(&c, true);
        tb_feed(&e, &c);
    }
    diag_findings fs = finish(&e);
    assert_null(tb_find(&fs, "timewait-accumulation", 0));
    diag_findings_free(&fs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(failures_while_timewait_holds_the_pool_are_an_error),
        cmocka_unit_test(timewait_findings_after_the_array_grew_are_whole),
        cmocka_unit_test(proxy_closing_first_past_half_its_budget_is_headroom_info),
        cmocka_unit_test(close_rate_that_would_exhaust_the_budget_is_headroom_info),
        cmocka_unit_test(server_closing_first_is_not_timewait_accumulation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
