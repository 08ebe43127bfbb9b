/* test_timewait.c - timewait-reuse and nat-timewait-mismatch on records built without packets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "conn_builder.h"
#include "diag_test.h"
#include "tcpdoctor/diagnose.h"

/* One connection the server closes, then the same 4-tuple again `gap` s
 * after its last packet with the given answer to the first SYN. */
static void pair(flow_conn *out, double gap, enum flow_handshake answer, uint16_t syns,
                 bool succeeded, uint16_t cport, double t0, uint64_t pkt0)
{
    tb_spec a = {
        .client = tb_v4(10, 1, 1, 1), .server = tb_v4(10, 2, 2, 2), .cport = cport, .sport = 80,
        .first_packet = pkt0, .start_s = t0, .dur_s = 0.34, .answer = FLOW_HS_SYNACK,
        .succeeded = true, .closed_by = FLOW_SIDE_SERVER, .client_isn = 1000, .server_isn = 2000,
        .client_ttl = 125, .server_ttl = 128, .end = FLOW_END_REUSED,
    };
    tb_spec b = a;
    b.incarnation = 2;
    b.first_packet = pkt0 + 13;
    b.start_s = t0 + 0.34 + gap;
    b.dur_s = 30;
    b.syns = syns;
    b.syn_gap_s = 3;
    b.answer = answer;
    b.succeeded = succeeded;
    b.closed_by = FLOW_SIDE_NONE;
    b.reset_by = succeeded ? FLOW_SIDE_NONE : FLOW_SIDE_CLIENT;
    b.client_isn = 500;
    b.end = FLOW_END_EOF;
    out[0] = tb_make(&a);
    out[1] = tb_make(&b);
}

/* Field report 000: Windows server ignores SYNs in TIME_WAIT, 68 s after. */
static void ignored_reuse_68s_after_server_close_is_an_error_with_bounds(void **state)
{
    (void)state;
    flow_conn c[2];
    pair(c, 67.92, FLOW_HS_NONE, 3, false, 2268, 0, 1);
    diag_findings fs = tb_run(c, 2, DIAG_VANTAGE_SERVER);
    const diag_finding *tw = tb_find(&fs, "timewait-reuse", 0);
    const diag_finding *nm = tb_find(&fs, "nat-timewait-mismatch", 0);
    assert_non_null(tw);
    assert_non_null(nm);
    assert_int_equal(tw->severity, DIAG_ERROR);
    assert_int_equal(nm->severity, DIAG_ERROR);
    assert_true(tb_param(tw, "gap_min_s") > 67.91 && tb_param(tw, "gap_min_s") < 67.93);
    assert_int_equal((int)tb_param(tw, "failed"), 1);
    assert_true(tb_param(nm, "server_timewait_min_s") > 67.91);
    const diag_param *p = diag_param_get(nm, "server_timewait_min_s");
    assert_true(p->has_min && !p->has_max);
    assert_null(diag_param_get(nm, "server_timewait_max_s"));
    assert_int_equal(tw->evidence[0].packet, 9);    /* the server's FIN (builder: pkt0 + 8) */
    assert_int_equal(tw->evidence[2].packet, 14);   /* the reusing SYN */
    assert_null(tb_find(&fs, "syn-unanswered", 0));    /* explained, not repeated */
    diag_findings_free(&fs);
}

/* Linux: the stale ACK of the old connection, client RST, retry accepted. */
static void stale_ack_reuse_is_a_warning_even_when_retried_fast(void **state)
{
    (void)state;
    flow_conn c[2];
    pair(c, 2.0, FLOW_HS_ACK_ONLY, 2, true, 40000, 0, 1);
    diag_findings fs = tb_run(c, 2, DIAG_VANTAGE_SERVER);
    const diag_finding *tw = tb_find(&fs, "timewait-reuse", 0);
    assert_non_null(tw);
    assert_int_equal(tw->severity, DIAG_WARNING);
    assert_int_equal((int)tb_param(tw, "failed"), 0);
    assert_non_null(tb_find(&fs, "nat-timewait-mismatch", 0));
    diag_findings_free(&fs);
}

/* Rejections below 60 s and a clean accept at 61 s: TIME_WAIT is bounded
 * on both sides. */
static void bounds_come_from_rejected_and_accepted_gaps(void **state)
{
    (void)state;
    flow_conn c[6];
    pair(&c[0], 20, FLOW_HS_NONE, 3, false, 3000, 0, 1);
    pair(&c[2], 45, FLOW_HS_NONE, 3, false, 3001, 100, 101);
    pair(&c[4], 61, FLOW_HS_SYNACK, 1, true, 3002, 200, 201);
    diag_findings fs = tb_run(c, 6, DIAG_VANTAGE_SERVER);
    const diag_finding *nm = tb_find(&fs, "nat-timewait-mismatch", 0);
    assert_non_null(nm);
    assert_int_equal((int)tb_param(nm, "reuses"), 3);
    assert_int_equal((int)tb_param(nm, "rejected"), 2);
    assert_true(tb_param(nm, "server_timewait_min_s") > 44.99 && tb_param(nm, "server_timewait_min_s") < 45.01);
    assert_true(tb_param(nm, "server_timewait_max_s") > 60.99 && tb_param(nm, "server_timewait_max_s") < 61.01);
    assert_true(tb_param(nm, "nat_reuse_s") > 19.99 && tb_param(nm, "nat_reuse_s") < 20.01);
    diag_findings_free(&fs);
}

/* A lost SYN on a reused tuple, while shorter reuses were accepted at once:
 * not TIME_WAIT (no single threshold fits), so no such finding. */
static void ignored_syn_between_clean_accepts_is_not_blamed_on_timewait(void **state)
{
    (void)state;
    flow_conn c[6];
    pair(&c[0], 1.0, FLOW_HS_SYNACK, 1, true, 3000, 0, 1);
    pair(&c[2], 5.0, FLOW_HS_NONE, 2, true, 3001, 100, 101);   /* retry 3 s later works */
    pair(&c[4], 2.0, FLOW_HS_SYNACK, 1, true, 3002, 200, 201);
    diag_findings fs = tb_run(c, 6, DIAG_VANTAGE_SERVER);
    for (size_t i = 0; i < fs.n; i++)
        assert_true(fs.v[i].severity == DIAG_INFO);
    assert_null(tb_find(&fs, "nat-timewait-mismatch", 0));
    diag_findings_free(&fs);
}

/* The client closed first: the server holds no TIME_WAIT, so an ignored
 * reuse is not this finding's. */
static void client_closed_tuple_reuse_is_not_a_server_timewait_problem(void **state)
{
    (void)state;
    flow_conn c[2];
    pair(c, 10, FLOW_HS_NONE, 3, false, 4000, 0, 1);
    c[0].closed_by = FLOW_SIDE_CLIENT;
    diag_findings fs = tb_run(c, 2, DIAG_VANTAGE_SERVER);
    assert_null(tb_find(&fs, "timewait-reuse", 0));
    assert_null(tb_find(&fs, "nat-timewait-mismatch", 0));
    assert_non_null(tb_find(&fs, "syn-unanswered", 0));
    diag_findings_free(&fs);
}

/* Healthy: the same tuple reused 70 s after a client close, accepted. */
static void healthy_reuse_gives_no_finding(void **state)
{
    (void)state;
    flow_conn c[2];
    pair(c, 70, FLOW_HS_SYNACK, 1, true, 5000, 0, 1);
    c[0].closed_by = FLOW_SIDE_CLIENT;
    diag_findings fs = tb_run(c, 2, DIAG_VANTAGE_UNKNOWN);
    assert_int_equal(fs.n, 0);
    diag_findings_free(&fs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ignored_reuse_68s_after_server_close_is_an_error_with_bounds),
        cmocka_unit_test(stale_ack_reuse_is_a_warning_even_when_retried_fast),
        cmocka_unit_test(bounds_come_from_rejected_and_accepted_gaps),
        cmocka_unit_test(ignored_syn_between_clean_accepts_is_not_blamed_on_timewait),
        cmocka_unit_test(client_closed_tuple_reuse_is_not_a_server_timewait_problem),
        cmocka_unit_test(healthy_reuse_gives_no_finding),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
