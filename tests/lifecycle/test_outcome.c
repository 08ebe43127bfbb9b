/* test_outcome.c - the lifecycle stage: each attempt's outcome, the capture's edges and directions, scans, ICMP. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../diagnose/conn_builder.h"
#include "tcpdoctor/lifecycle.h"

#define CLI tb_v4(10, 0, 0, 1)
#define SRV tb_v4(10, 0, 0, 2)

/* An attempt from CLI:cport to SRV:80 at t seconds. */
static flow_conn attempt(uint16_t cport, uint64_t pkt, double t, enum flow_handshake answer,
                         bool succeeded, uint16_t syns, double syn_gap)
{
    tb_spec s = {
        .client = CLI, .server = SRV, .cport = cport, .sport = 80, .first_packet = pkt,
        .start_s = t, .dur_s = syns > 1 ? (syns - 1) * syn_gap + 0.01 : 0.01, .syns = syns,
        .syn_gap_s = syn_gap, .answer = answer, .succeeded = succeeded,
        .client_isn = 1000u * cport, .server_isn = 7u * cport, .end = FLOW_END_EOF,
    };
    flow_conn c = tb_make(&s);
    if (answer == FLOW_HS_RST) {
        c.server.packets = 1;
        c.server.rst_count = 1;
        c.server.rst_packet = pkt + syns;
        c.server.rst_ts = c.syn_ts[syns - 1] + TB_S(0.001);
        c.server.rst_ttl = 64;
        c.handshake = FLOW_HS_RST;
    }
    return c;
}

/* A healthy connection at t that shows CLI answered (the capture sees both ways). */
static flow_conn healthy(uint16_t cport, uint64_t pkt, double t)
{
    return attempt(cport, pkt, t, FLOW_HS_SYNACK, true, 1, 0);
}

/* Feed, finish, and return the attempt that began at first_packet. */
static const lc_attempt *run(lc_stage *s, const flow_conn *c, size_t n, uint64_t first_packet)
{
    for (size_t i = 0; i < n; i++)
        lc_conn(s, &c[i]);
    assert_int_equal(lc_finish(s), 0);
    long k = lc_attempt_find(s, first_packet);
    if (k < 0)
        return NULL;
    size_t na;
    return &lc_attempts(s, &na)[k];
}

static void rst_to_the_syn_is_refused(void **state)
{
    (void)state;
    lc_stage *s = lc_new();
    flow_conn c[2] = { healthy(40000, 1, 0.0), attempt(40001, 20, 5.0, FLOW_HS_RST, false, 1, 0) };
    const lc_attempt *a = run(s, c, 2, 20);
    assert_non_null(a);
    assert_int_equal(a->outcome, LC_REFUSED);
    assert_int_equal(a->detail, LC_D_RST);
    assert_int_equal(a->decisive_packet, 21);
    const lc_accounting *acc = lc_account(s);
    assert_int_equal(acc->attempts, 2);
    assert_int_equal(acc->by_outcome[LC_OK], 1);
    assert_int_equal(acc->by_outcome[LC_REFUSED], 1);
    assert_int_equal(acc->failed, 1);
    lc_free(s);
}

static void connected_after_a_retried_syn_is_slow_with_its_delay(void **state)
{
    (void)state;
    lc_stage *s = lc_new();
    flow_conn c = attempt(40000, 1, 0.0, FLOW_HS_NONE, true, 2, 1.0);   /* SYNs at 0 and 1 s */
    const lc_attempt *a = run(s, &c, 1, 1);
    assert_non_null(a);
    assert_int_equal(a->outcome, LC_SLOW);
    assert_float_equal(a->delay_s, 1.001, 1e-6);
    assert_float_equal(lc_account(s)->slow_median_s, 1.001, 1e-6);
    assert_float_equal(lc_account(s)->slow_max_s, 1.001, 1e-6);
    lc_free(s);
}

/* Two copies of one SYN 50 us apart (two interfaces) are not a retry. */
static void a_syn_captured_twice_is_not_slow(void **state)
{
    (void)state;
    lc_stage *s = lc_new();
    flow_conn c = attempt(40000, 1, 0.0, FLOW_HS_NONE, true, 2, 0.00005);
    assert_null(run(s, &c, 1, 1));
    assert_int_equal(lc_account(s)->by_outcome[LC_OK], 1);
    lc_free(s);
}

/* Nothing answers, and the capture shows the client receiving elsewhere. */
static void three_unanswered_syns_are_unanswered_even_at_the_end(void **state)
{
    (void)state;
    lc_stage *s = lc_new();
    flow_conn c[2] = { healthy(40000, 1, 0.0), attempt(40001, 20, 5.0, FLOW_HS_NONE, false, 3, 1.0) };
    const lc_attempt *a = run(s, c, 2, 20);
    assert_non_null(a);
    assert_int_equal(a->outcome, LC_UNANSWERED);
    assert_int_equal(a->syns, 3);
    assert_float_equal(a->delay_s, 2.0, 1e-6);
    lc_free(s);
}

/* One SYN in the capture's last 3 s: its answer may come after. */
static void a_lone_syn_at_the_end_has_no_verdict(void **state)
{
    (void)state;
    lc_stage *s = lc_new();
    flow_conn c[3] = { healthy(40000, 1, 0.0), attempt(40001, 20, 10.0, FLOW_HS_NONE, false, 1, 0),
                       healthy(40002, 40, 11.5) };
    const lc_attempt *a = run(s, c, 3, 20);
    assert_non_null(a);
    assert_int_equal(a->outcome, LC_NO_VERDICT);
    assert_int_equal(a->detail, LC_D_ENDED_INSIDE);
    assert_int_equal(lc_account(s)->no_verdict_by[LC_D_ENDED_INSIDE], 1);
    lc_free(s);
}

/* One SYN never retried while the capture went on: the client gave up. */
static void a_lone_syn_never_retried_is_abandoned(void **state)
{
    (void)state;
    lc_stage *s = lc_new();
    flow_conn c[3] = { healthy(40000, 1, 0.0), attempt(40001, 20, 10.0, FLOW_HS_NONE, false, 1, 0),
                       healthy(40002, 40, 14.0) };
    const lc_attempt *a = run(s, c, 3, 20);
    assert_non_null(a);
    assert_int_equal(a->outcome, LC_UNANSWERED);
    assert_int_equal(a->detail, LC_D_ABANDONED);
    lc_free(s);
}

/* The same lone SYN just before a gap of 300 s or more without a packet
 * (files merged): judged as at the capture's end. */
static void a_lone_syn_before_a_gap_has_no_verdict(void **state)
{
    (void)state;
    lc_stage *s = lc_new();
    flow_conn c[3] = { healthy(40000, 1, 0.0), attempt(40001, 20, 10.0, FLOW_HS_NONE, false, 1, 0),
                       healthy(40002, 40, 1000.0) };
    pkt_view v;
    memset(&v, 0, sizeof v);
    double at[] = { 0.0, 10.0, 1000.0 };
    for (int i = 0; i < 3; i++) {
        v.num = 1 + (uint64_t)i;
        v.ts_ns = TB_T0 + TB_S(at[i]);
        lc_packet(s, &v, PKT_TCP);
    }
    const lc_attempt *a = run(s, c, 3, 20);
    assert_non_null(a);
    assert_int_equal(a->outcome, LC_NO_VERDICT);
    assert_int_equal(a->detail, LC_D_ENDED_INSIDE);
    assert_int_equal(lc_account(s)->gaps, 1);
    lc_free(s);
}

/* A one-sided capture: nothing sent to the client anywhere. */
static void unanswered_syns_of_a_client_never_seen_receiving_have_no_verdict(void **state)
{
    (void)state;
    lc_stage *s = lc_new();
    flow_conn c[2] = { attempt(40001, 1, 0.0, FLOW_HS_NONE, false, 3, 1.0),
                       attempt(40002, 10, 20.0, FLOW_HS_NONE, false, 1, 0) };
    const lc_attempt *a = run(s, c, 2, 1);
    assert_non_null(a);
    assert_int_equal(a->outcome, LC_NO_VERDICT);
    assert_int_equal(a->detail, LC_D_ONE_DIRECTION);
    assert_int_equal(lc_account(s)->failed, 0);
    lc_free(s);
}

/* The SYN-ACK alone is missing: the client acknowledges and data flows back. */
static void a_missing_synack_with_data_both_ways_is_ok(void **state)
{
    (void)state;
    lc_stage *s = lc_new();
    flow_conn c = attempt(40000, 1, 0.0, FLOW_HS_NONE, false, 1, 0);
    c.client.ack_seen = true;
    c.client.bytes = 100;
    c.server.packets = 3;
    c.server.bytes = 500;
    assert_null(run(s, &c, 1, 1));
    assert_int_equal(lc_account(s)->by_outcome[LC_OK], 1);
    lc_free(s);
}

static void a_missing_synack_and_no_server_packet_has_no_verdict(void **state)
{
    (void)state;
    lc_stage *s = lc_new();
    flow_conn c = attempt(40000, 1, 0.0, FLOW_HS_NONE, false, 1, 0);
    c.client.ack_seen = true;
    c.client.bytes = 100;
    const lc_attempt *a = run(s, &c, 1, 1);
    assert_non_null(a);
    assert_int_equal(a->outcome, LC_NO_VERDICT);
    assert_int_equal(a->detail, LC_D_ANSWER_NOT_CAPTURED);
    lc_free(s);
}

/* A bare ACK that acknowledges the client's own request: the SYN-ACK alone
 * was not captured.  The same ACK followed by the client's RST and a
 * retried SYN is the TIME_WAIT answer: handshake-failed. */
static void a_bare_ack_of_the_clients_own_bytes_is_no_stale_ack(void **state)
{
    (void)state;
    flow_conn c = attempt(40000, 1, 0.0, FLOW_HS_ACK_ONLY, false, 1, 0);
    c.handshake = FLOW_HS_ACK_ONLY;
    c.handshake_rsts = 0;
    c.client.sent_seen = true;
    c.client.sent_end = c.client.isn + 1 + 413;
    c.client.bytes = 413;
    c.handshake_ack = c.client.isn + 1 + 413;
    c.server.packets = 2;
    lc_stage *s = lc_new();
    assert_null(run(s, &c, 1, 1));
    assert_int_equal(lc_account(s)->by_outcome[LC_OK], 1);
    lc_free(s);

    c.handshake_ack = 12345;            /* another connection's number */
    c.client.bytes = 0;
    s = lc_new();
    const lc_attempt *a = run(s, &c, 1, 1);
    assert_non_null(a);
    assert_int_equal(a->outcome, LC_HANDSHAKE_FAILED);
    assert_int_equal(a->detail, LC_D_ACK_ONLY);
    lc_free(s);
}

/* A browser resetting the loser of two racing connections. */
static void a_client_resetting_a_correct_synack_is_ok(void **state)
{
    (void)state;
    lc_stage *s = lc_new();
    flow_conn c = attempt(40000, 1, 0.0, FLOW_HS_SYNACK, false, 1, 0);
    c.synack_count = 1;
    c.synack_ts = c.syn_ts[0] + TB_S(0.01);
    c.handshake_ack = c.client.isn + 1;
    c.client.rst_count = 1;
    assert_null(run(s, &c, 1, 1));
    assert_int_equal(lc_account(s)->by_outcome[LC_OK], 1);
    lc_free(s);
}

/* The server's 3 KB answer retransmitted and never acknowledged; the client
 * gives up with RST. */
static flow_conn stalled_answer(uint16_t cport, uint64_t pkt, double t)
{
    flow_conn c = healthy(cport, pkt, t);
    c.server.sent_seen = c.client.sent_seen = true;
    c.server.sent_end = c.server.isn + 1 + 3000;
    c.client.ack_seen = c.server.ack_seen = true;
    c.client.ack_max = c.server.isn + 1 + 1000;     /* only the first 1000 bytes */
    c.client.ack_max_ts = c.first_ts + TB_S(0.1);
    c.server.retrans_packet = pkt + 7;
    c.server.retrans_ts = c.first_ts + TB_S(1.2);
    c.server.retrans_seq = c.server.isn + 1 + 1000;
    c.client.sent_end = c.client.isn + 101;
    c.server.ack_max = c.client.isn + 101;
    c.client.rst_count = 1;
    c.client.rst_ttl = 64;          /* the client's own TTL: not a third party */
    c.reset_by = FLOW_SIDE_CLIENT;
    return c;
}

static void data_retransmitted_and_never_acknowledged_is_stalled(void **state)
{
    (void)state;
    lc_stage *s = lc_new();
    flow_conn c = stalled_answer(40000, 1, 0.0);
    const lc_attempt *a = run(s, &c, 1, 1);
    assert_non_null(a);
    assert_int_equal(a->outcome, LC_STALLED);
    assert_int_equal(a->detail, LC_D_GAVE_UP);
    assert_int_equal(a->unacked, 2000);
    assert_int_equal(a->decisive_packet, 8);
    lc_free(s);
}

/* The same, when the receiver closed its window: not a stall. */
static void a_closed_window_is_not_a_stall(void **state)
{
    (void)state;
    lc_stage *s = lc_new();
    flow_conn c = stalled_answer(40000, 1, 0.0);
    c.client.zero_windows = 2;
    assert_null(run(s, &c, 1, 1));
    lc_free(s);
}

/* The server resets with the client's request unacknowledged (a keep-alive
 * connection closed as it was reused); not when the client had closed. */
static void server_reset_with_the_request_unacknowledged_is_reset(void **state)
{
    (void)state;
    flow_conn c = healthy(40000, 1, 0.0);
    c.client.sent_seen = c.server.ack_seen = true;
    c.client.sent_end = c.client.isn + 1 + 300;
    c.server.ack_max = c.client.isn + 1;
    c.server.rst_count = 1;
    c.server.rst_ttl = 64;
    c.server.rst_packet = 9;
    c.server.rst_ts = c.first_ts + TB_S(0.2);
    lc_stage *s = lc_new();
    const lc_attempt *a = run(s, &c, 1, 1);
    assert_non_null(a);
    assert_int_equal(a->outcome, LC_RESET);
    assert_int_equal(a->detail, LC_D_SERVER_RST);
    assert_int_equal(a->unacked, 300);
    lc_free(s);

    c.client.fin_seen = true;       /* the client had closed too */
    s = lc_new();
    assert_null(run(s, &c, 1, 1));
    lc_free(s);
}

/* 25 endpoints probed with bare SYNs: a scan, not 25 failures of a service. */
static void bare_syns_to_many_endpoints_are_probes(void **state)
{
    (void)state;
    flow_conn c[26];
    c[0] = healthy(50000, 1, 0.0);
    for (int i = 0; i < 25; i++) {
        c[i + 1] = attempt(50001, 10 + 2 * (uint64_t)i, 1.0 + 0.01 * i, FLOW_HS_RST, false, 1, 0);
        c[i + 1].server.port = (uint16_t)(1 + i);
    }
    lc_stage *s = lc_new();
    const lc_attempt *a = run(s, c, 26, 10);
    assert_non_null(a);
    assert_int_equal(a->outcome, LC_REFUSED);
    assert_true(a->probe);
    assert_int_equal(lc_account(s)->probes, 25);
    assert_int_equal(lc_account(s)->scanners, 1);
    lc_free(s);
}

static void fewer_endpoints_are_not_a_scan(void **state)
{
    (void)state;
    flow_conn c[20];
    for (int i = 0; i < 20; i++) {
        c[i] = attempt(50001, 10 + 2 * (uint64_t)i, 1.0 + 0.01 * i, FLOW_HS_RST, false, 1, 0);
        c[i].server.port = (uint16_t)(1 + i % 19);      /* 19 endpoints */
    }
    lc_stage *s = lc_new();
    const lc_attempt *a = run(s, c, 20, 10);
    assert_non_null(a);
    assert_false(a->probe);
    assert_int_equal(lc_account(s)->probes, 0);
    lc_free(s);
}

/* An ICMP port unreachable from a router, quoting the SYN. */
static void an_icmp_error_quoting_the_syn_refuses_it(void **state)
{
    (void)state;
    lc_stage *s = lc_new();
    flow_conn c[2] = { healthy(40000, 1, 0.0), attempt(40001, 20, 5.0, FLOW_HS_NONE, false, 1, 0) };
    pkt_view v;
    memset(&v, 0, sizeof v);
    v.num = 21;
    v.ts_ns = c[1].syn_ts[0] + TB_S(0.002);
    v.src = tb_v4(10, 0, 0, 254);
    v.dst = CLI;
    v.ttl = 63;
    v.ip_version = 4;
    v.ip_proto = 1;
    v.has_icmp_err = true;
    v.icmp_type = 3;
    v.icmp_code = 3;
    v.icmp_q_src = CLI;
    v.icmp_q_dst = SRV;
    v.icmp_q_sport = 40001;
    v.icmp_q_dport = 80;
    v.icmp_q_seq = c[1].client.isn;
    lc_conn(s, &c[0]);
    lc_packet(s, &v, PKT_NOT_TCP);
    const lc_attempt *a = run(s, &c[1], 1, 20);
    assert_non_null(a);
    assert_int_equal(a->outcome, LC_REFUSED);
    assert_int_equal(a->detail, LC_D_ICMP);
    assert_int_equal(a->icmp_type, 3);
    assert_int_equal(a->icmp_code, 3);
    assert_int_equal(a->decisive_packet, 21);
    assert_int_equal(a->answer_ttl, 63);
    assert_memory_equal(&a->answer_from, &v.src, sizeof v.src);
    assert_int_equal(lc_account(s)->icmp_errors, 1);
    assert_int_equal(lc_account(s)->icmp_matched, 1);
    lc_free(s);
}

/* An RST whose TTL is not its sender's came from a middlebox. */
static void an_rst_with_a_foreign_ttl_is_a_third_party_reset(void **state)
{
    (void)state;
    flow_conn c = healthy(40000, 1, 0.0);
    c.server.rst_count = 1;
    c.server.rst_ttl = 50;          /* the server's packets arrive with 64 */
    c.reset_by = FLOW_SIDE_SERVER;
    c.server.rst_packet = 9;
    c.server.rst_ts = c.first_ts + TB_S(0.2);
    lc_stage *s = lc_new();
    const lc_attempt *a = run(s, &c, 1, 1);
    assert_non_null(a);
    assert_int_equal(a->outcome, LC_RESET);
    assert_int_equal(a->detail, LC_D_THIRD_PARTY);
    lc_free(s);

    /* the same RST after the server's FIN ends nothing: the connection was over */
    c.server.fin_seen = true;
    c.closed_by = FLOW_SIDE_SERVER;
    s = lc_new();
    assert_null(run(s, &c, 1, 1));
    lc_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rst_to_the_syn_is_refused),
        cmocka_unit_test(connected_after_a_retried_syn_is_slow_with_its_delay),
        cmocka_unit_test(a_syn_captured_twice_is_not_slow),
        cmocka_unit_test(three_unanswered_syns_are_unanswered_even_at_the_end),
        cmocka_unit_test(a_lone_syn_at_the_end_has_no_verdict),
        cmocka_unit_test(a_lone_syn_never_retried_is_abandoned),
        cmocka_unit_test(a_lone_syn_before_a_gap_has_no_verdict),
        cmocka_unit_test(unanswered_syns_of_a_client_never_seen_receiving_have_no_verdict),
        cmocka_unit_test(a_missing_synack_with_data_both_ways_is_ok),
        cmocka_unit_test(a_missing_synack_and_no_server_packet_has_no_verdict),
        cmocka_unit_test(a_client_resetting_a_correct_synack_is_ok),
        cmocka_unit_test(a_bare_ack_of_the_clients_own_bytes_is_no_stale_ack),
        cmocka_unit_test(data_retransmitted_and_never_acknowledged_is_stalled),
        cmocka_unit_test(a_closed_window_is_not_a_stall),
        cmocka_unit_test(server_reset_with_the_request_unacknowledged_is_reset),
        cmocka_unit_test(an_rst_with_a_foreign_ttl_is_a_third_party_reset),
        cmocka_unit_test(bare_syns_to_many_endpoints_are_probes),
        cmocka_unit_test(fewer_endpoints_are_not_a_scan),
        cmocka_unit_test(an_icmp_error_quoting_the_syn_refuses_it),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
