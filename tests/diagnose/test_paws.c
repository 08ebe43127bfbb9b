/* test_paws.c - paws-reject on records built without packets (and with a few SYN packets). */
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

#define ID "paws-reject"

/* The office NAT and the Linux 4.9 server of field report 002. */
#define NAT tb_v4(198, 51, 100, 7)
#define SRV tb_v4(203, 0, 113, 10)

/* Clock offsets of hosts behind the NAT (1000 Hz clocks). */
#define AHEAD  500000000u
#define BEHIND   1000000u

static diag_findings run_packets(const pkt_view *pk, size_t npk, const flow_conn *c, size_t n,
                                 enum diag_vantage v)
{
    diag_config cfg = { .vantage = v };
    char err[64];
    tb_tuples t = { .e = diag_engine_new(&cfg, err, sizeof err) };
    assert_non_null(t.e);
    for (size_t i = 0; i < npk; i++)
        diag_engine_packet(t.e, &pk[i], PKT_TCP);
    for (size_t i = 0; i < n; i++)
        tb_feed(&t, &c[i]);
    tb_tuples_done(&t);
    diag_findings fs;
    assert_int_equal(diag_engine_finish(t.e, &fs), 0);
    diag_engine_free(t.e);
    return fs;
}

/* TSval of a host with clock offset `off` at t seconds (1000 Hz). */
static uint32_t tsv(uint32_t off, double t)
{
    return off + (uint32_t)(t * 1000.0 + 0.5);
}

/* A connection from the NAT, answered at once; closed first by `closer`. */
static flow_conn served(uint16_t cport, uint64_t pkt, double t, uint32_t off, enum flow_side closer)
{
    tb_spec s = {
        .client = NAT, .server = SRV, .cport = cport, .sport = 443, .first_packet = pkt,
        .start_s = t, .dur_s = 0.05, .answer = FLOW_HS_SYNACK, .succeeded = true,
        .closed_by = closer, .client_ttl = 63, .ts = true, .client_tsval_syn = tsv(off, t),
        .client_tsval_last = tsv(off, t + 0.05), .client_isn = cport * 1000u,
        .server_isn = 77u * cport, .end = FLOW_END_EOF,
    };
    flow_conn c = tb_make(&s);
    c.server.ts_seen = true;            /* timestamps negotiated */
    return c;
}

/* An attempt whose SYNs (every `gap` s from t) get nothing back; with
 * `connects`, the last of them is answered. */
static flow_conn attempt_gap(uint16_t cport, uint64_t pkt, double t, uint32_t off, uint16_t syns,
                             double gap, bool connects)
{
    tb_spec s = {
        .client = NAT, .server = SRV, .cport = cport, .sport = 443, .first_packet = pkt,
        .start_s = t, .dur_s = (syns - 1) * gap + (connects ? 0.05 : 0.0), .syns = syns,
        .syn_gap_s = gap, .answer = FLOW_HS_NONE, .client_ttl = 63, .ts = true,
        .client_tsval_syn = tsv(off, t), .client_isn = cport * 1000u, .end = FLOW_END_EOF,
    };
    flow_conn c = tb_make(&s);
    if (connects) {
        /* the SYN-ACK answers the last transmission */
        int64_t last = c.syn_ts[syns - 1];
        c.first_answer = c.handshake = FLOW_HS_SYNACK;
        c.synack_count = 1;
        c.handshake_ts = c.synack_ts = last + TB_S(0.001);
        c.handshake_packet = c.synack_packet = pkt + syns;
        c.established = true;
        c.established_ts = last + TB_S(0.002);
        c.server.packets = 3;
        c.server.ts_seen = true;
        c.client.tsval_last = tsv(off, t + (syns - 1) * gap + 0.05);
        c.client.tsval_last_ts = c.last_ts;
        strcpy(c.state, "SF");
    }
    return c;
}

static flow_conn attempt(uint16_t cport, uint64_t pkt, double t, uint32_t off, uint16_t syns,
                         bool connects)
{
    return attempt_gap(cport, pkt, t, off, syns, 1.0, connects);
}

/*
 * Field report 002 in records: host 1 (clock ahead) connects at 0 s and the
 * server closes first; host 2 (clock 499 M ticks behind) sends 4 SYNs from
 * 2 s, all unanswered; host 1 connects again at 5 s (closed by the client,
 * no new record) and is answered; host 2 connects at 70 s, when the record
 * is 70 s old.
 */
static void nat_host_behind_a_remembered_timestamp_is_dropped(void **state)
{
    (void)state;
    flow_conn c[4] = {
        served(40001, 1, 0.0, AHEAD, FLOW_SIDE_SERVER),
        attempt(51000, 20, 2.0, BEHIND, 4, false),
        served(40003, 40, 5.0, AHEAD, FLOW_SIDE_CLIENT),
        served(51002, 60, 70.0, BEHIND, FLOW_SIDE_CLIENT),
    };
    diag_findings fs = tb_run(c, 4, DIAG_VANTAGE_SERVER);
    const diag_finding *f = tb_find(&fs, ID, 0);
    assert_non_null(f);
    assert_null(tb_find(&fs, ID, 1));
    assert_int_equal(f->severity, DIAG_ERROR);      /* the attempt never connected */
    assert_true(f->confidence >= 0.9);
    assert_int_equal(f->events, 4);
    assert_true(f->has_client && f->has_server);
    assert_int_equal(f->server_port, 443);
    assert_memory_equal(f->client.b, NAT.b, 16);
    assert_int_equal(tb_param(f, "dropped_syns"), 4);
    assert_int_equal(tb_param(f, "attempts"), 1);
    assert_int_equal(tb_param(f, "never_connected"), 1);
    assert_int_equal(tb_param(f, "answered_above"), 1);
    /* record: TSval 500000050; last SYN at 5 s: 1005000 -> 498995050 */
    assert_int_equal(tb_param(f, "ts_gap_min"), 498995050);
    const diag_param *p = diag_param_get(f, "hosts_min");
    assert_non_null(p);
    assert_int_equal(p->value, 2);                  /* two clocks: nat-multiple-hosts */
    assert_true(p->has_min);
    assert_int_equal(p->min, 2);
    p = diag_param_get(f, "record_lifetime_s");
    assert_non_null(p);
    assert_int_equal(p->value, 60);
    assert_true(p->has_min && p->has_max);
    assert_float_equal(p->min, 4.95, 1e-6);         /* SYN at 5 s still dropped */
    assert_float_equal(p->max, 69.95, 1e-6);        /* host 2 answered at 70 s */
    /* evidence in time order: the record, the dropped SYN, the answered one
       above the record, the late answer */
    assert_int_equal(f->n_evidence, 4);
    assert_int_equal(f->evidence[0].packet, 9);     /* host 1's FIN: the remembered TSval */
    assert_int_equal(f->evidence[1].packet, 20);    /* host 2's first SYN */
    assert_int_equal(f->evidence[2].packet, 40);    /* host 1 answered above it */
    assert_int_equal(f->evidence[3].packet, 60);    /* answered once the record aged */
    assert_non_null(strstr(f->evidence[1].text, "498998050 behind"));
    assert_true(f->n_remedies >= 3);
    assert_non_null(strstr(f->remedies[0].action, "tcp_tw_recycle"));
    assert_non_null(strstr(f->remedies[2].action, "tcp_timestamps=0"));
    /* the unanswered attempt is explained: nothing is left unexplained */
    assert_null(tb_find(&fs, "syn-unanswered", 0));
    /* and the NAT itself is reported, as information */
    const diag_finding *n = tb_find(&fs, "nat-multiple-hosts", 0);
    assert_non_null(n);
    assert_int_equal(n->severity, DIAG_INFO);
    diag_findings_free(&fs);
}

/* The dropped host gets in when the record has aged: a warning, with the delay. */
static void attempt_that_connects_after_the_record_ages_is_a_warning(void **state)
{
    (void)state;
    /* SYNs every 10 s from 10 s: the one at 60 s (record 59.95 s old) is still
       dropped, the one at 70 s (69.95 s) is answered */
    flow_conn c[3] = {
        served(40001, 1, 0.0, AHEAD, FLOW_SIDE_SERVER),
        attempt_gap(51000, 20, 10.0, BEHIND, 7, 10.0, true),
        served(40003, 100, 30.0, AHEAD, FLOW_SIDE_CLIENT),
    };
    diag_findings fs = tb_run(c, 3, DIAG_VANTAGE_SERVER);
    const diag_finding *f = tb_find(&fs, ID, 0);
    assert_non_null(f);
    assert_int_equal(f->severity, DIAG_WARNING);
    assert_int_equal(tb_param(f, "never_connected"), 0);
    assert_int_equal(tb_param(f, "dropped_syns"), 6);
    assert_float_equal(tb_param(f, "delay_max_s"), 60.0, 1e-6);
    const diag_param *p = diag_param_get(f, "record_lifetime_s");
    assert_float_equal(p->min, 59.95, 1e-6);
    assert_float_equal(p->max, 69.95, 1e-6);
    assert_null(tb_find(&fs, "syn-unanswered", 0));
    diag_findings_free(&fs);
}

/* The TSvals of retransmissions come from the packets when they are given. */
static void retransmission_tsvals_come_from_the_packets(void **state)
{
    (void)state;
    flow_conn c[3] = {
        served(40001, 1, 0.0, AHEAD, FLOW_SIDE_SERVER),
        attempt(51000, 20, 2.0, BEHIND, 3, false),
        served(40003, 40, 5.0, AHEAD, FLOW_SIDE_CLIENT),
    };
    /* the host's clock is 250 Hz: retransmissions at +1 s, +2 s add 250, 500 */
    pkt_view pk[3];
    memset(pk, 0, sizeof pk);
    for (int i = 0; i < 3; i++) {
        pk[i].num = 20 + (uint64_t)i;
        pk[i].ts_ns = c[1].syn_ts[i];
        pk[i].has_tcp = true;
        pk[i].flags = PKT_TCP_SYN;
        pk[i].opt.has_ts = true;
        pk[i].opt.tsval = BEHIND + 500u + 250u * (uint32_t)i;
    }
    c[1].client.syn_opts.tsval = BEHIND + 500u;
    diag_findings fs = run_packets(pk, 3, c, 3, DIAG_VANTAGE_SERVER);
    const diag_finding *f = tb_find(&fs, ID, 0);
    assert_non_null(f);
    assert_int_equal(tb_param(f, "dropped_syns"), 3);
    assert_int_equal(tb_param(f, "ts_gap_min"), 500000050u - (BEHIND + 1000u));
    diag_findings_free(&fs);
}

/* One host whose TSvals only increase: its unanswered SYN is not PAWS. */
static void single_host_with_increasing_timestamps_does_not_trigger(void **state)
{
    (void)state;
    flow_conn c[6];
    for (int i = 0; i < 5; i++)
        c[i] = served((uint16_t)(40001 + 2 * i), 1 + 20u * (unsigned)i, 3.0 * i, AHEAD,
                      FLOW_SIDE_SERVER);
    c[5] = attempt(40100, 200, 16.0, AHEAD, 3, false);
    diag_findings fs = tb_run(c, 6, DIAG_VANTAGE_SERVER);
    assert_null(tb_find(&fs, ID, 0));
    assert_null(tb_find(&fs, "nat-multiple-hosts", 0));
    /* still reported, unexplained: claimed by the residual finding */
    const diag_finding *u = tb_find(&fs, "syn-unanswered", 0);
    assert_non_null(u);
    assert_int_equal(u->n_claims, 1);
    assert_int_equal(u->claims[0], c[5].first_packet);
    diag_findings_free(&fs);
}

/* A NAT whose hosts are all answered, although some are behind the record:
 * the server does not run the check. */
static void nat_with_every_host_answered_does_not_trigger(void **state)
{
    (void)state;
    flow_conn c[6] = {
        served(40001, 1, 0.0, AHEAD, FLOW_SIDE_SERVER),
        served(51000, 20, 2.0, BEHIND, FLOW_SIDE_SERVER),
        served(40003, 40, 5.0, AHEAD, FLOW_SIDE_SERVER),
        served(51002, 60, 7.0, BEHIND, FLOW_SIDE_SERVER),
        served(40005, 80, 9.0, AHEAD, FLOW_SIDE_SERVER),
        served(51004, 100, 11.0, BEHIND, FLOW_SIDE_SERVER),
    };
    diag_findings fs = tb_run(c, 6, DIAG_VANTAGE_SERVER);
    assert_null(tb_find(&fs, ID, 0));
    assert_non_null(tb_find(&fs, "nat-multiple-hosts", 0));
    diag_findings_free(&fs);
}

/* Same, with one SYN lost behind the record: the answered ones outweigh it. */
static void answers_behind_the_record_outweigh_one_lost_syn(void **state)
{
    (void)state;
    flow_conn c[6] = {
        served(40001, 1, 0.0, AHEAD, FLOW_SIDE_SERVER),
        served(51000, 20, 2.0, BEHIND, FLOW_SIDE_CLIENT),
        served(51002, 40, 4.0, BEHIND, FLOW_SIDE_CLIENT),
        served(51004, 60, 6.0, BEHIND, FLOW_SIDE_CLIENT),
        attempt(51006, 80, 8.0, BEHIND, 1, false),
        served(40003, 100, 20.0, AHEAD, FLOW_SIDE_CLIENT),
    };
    diag_findings fs = tb_run(c, 6, DIAG_VANTAGE_SERVER);
    assert_null(tb_find(&fs, ID, 0));
    const diag_finding *u = tb_find(&fs, "syn-unanswered", 0);
    assert_non_null(u);
    assert_int_equal(u->n_claims, 1);
    assert_int_equal(u->claims[0], c[4].first_packet);
    diag_findings_free(&fs);
}

/* A record older than 60 s (TCP_PAWS_MSL) explains nothing. */
static void record_older_than_60_s_explains_nothing(void **state)
{
    (void)state;
    flow_conn c[3] = {
        served(40001, 1, 0.0, AHEAD, FLOW_SIDE_SERVER),
        attempt(51000, 20, 61.0, BEHIND, 3, false),
        served(40003, 40, 62.0, AHEAD, FLOW_SIDE_CLIENT),
    };
    diag_findings fs = tb_run(c, 3, DIAG_VANTAGE_SERVER);
    assert_null(tb_find(&fs, ID, 0));
    diag_findings_free(&fs);
}

/* Connections the client closed first leave no record on the server. */
static void client_closed_connections_leave_no_record(void **state)
{
    (void)state;
    flow_conn c[3] = {
        served(40001, 1, 0.0, AHEAD, FLOW_SIDE_CLIENT),
        attempt(51000, 20, 2.0, BEHIND, 3, false),
        served(40003, 40, 5.0, AHEAD, FLOW_SIDE_CLIENT),
    };
    diag_findings fs = tb_run(c, 3, DIAG_VANTAGE_SERVER);
    assert_null(tb_find(&fs, ID, 0));
    diag_findings_free(&fs);
}

/* A SYN 1 tick behind is inside TCP_PAWS_WINDOW and passes. */
static void one_tick_behind_is_inside_the_window(void **state)
{
    (void)state;
    flow_conn c[2] = {
        served(40001, 1, 0.0, AHEAD, FLOW_SIDE_SERVER),
        attempt(51000, 20, 2.0, BEHIND, 1, false),
    };
    c[1].client.syn_opts.tsval = c[0].client.tsval_last - 1;
    diag_findings fs = tb_run(c, 2, DIAG_VANTAGE_SERVER);
    assert_null(tb_find(&fs, ID, 0));
    diag_findings_free(&fs);
}

/* Seen from the client side, the same story is told as "never answered". */
static void client_side_capture_says_never_answered(void **state)
{
    (void)state;
    flow_conn c[3] = {
        served(40001, 1, 0.0, AHEAD, FLOW_SIDE_SERVER),
        attempt(51000, 20, 2.0, BEHIND, 4, false),
        served(40003, 40, 5.0, AHEAD, FLOW_SIDE_CLIENT),
    };
    diag_findings fs = tb_run(c, 3, DIAG_VANTAGE_CLIENT);
    const diag_finding *f = tb_find(&fs, ID, 0);
    assert_non_null(f);
    assert_non_null(strstr(f->summary, "never answered"));
    assert_non_null(strstr(f->explanation, "client side"));
    /* one clock seen per host: the hosts are not confirmed, the text says so */
    assert_int_equal(tb_param(f, "hosts_min"), 1);
    diag_findings_free(&fs);
}

/* One SYN from behind the record answered all the same: still reported (4
 * explained drops outnumber twice the 1 contradiction), with the
 * contradiction counted, shown and taken off the confidence. */
static void an_answer_against_the_rule_lowers_the_confidence(void **state)
{
    (void)state;
    flow_conn c[4] = {
        served(40001, 1, 0.0, AHEAD, FLOW_SIDE_SERVER),
        attempt(51000, 20, 2.0, BEHIND, 4, false),
        served(51002, 30, 3.0, BEHIND, FLOW_SIDE_CLIENT),
        served(40003, 40, 5.0, AHEAD, FLOW_SIDE_CLIENT),
    };
    diag_findings fs = tb_run(c, 4, DIAG_VANTAGE_SERVER);
    const diag_finding *f = tb_find(&fs, ID, 0);
    assert_non_null(f);
    assert_int_equal(f->severity, DIAG_ERROR);
    assert_int_equal(tb_param(f, "dropped_syns"), 4);
    assert_int_equal(tb_param(f, "contradictions"), 1);
    assert_int_equal(tb_param(f, "answered_above"), 1);
    assert_int_equal(tb_param(f, "hosts_min"), 2);
    /* 0.8 (answered above) + 0.05 (3 drops or more) + 0.1 (2 hosts) - 0.3 */
    assert_float_equal(f->confidence, 0.65, 1e-9);
    /* the record, the dropped SYN, the answer against the rule, the one above */
    assert_int_equal(f->n_evidence, 4);
    assert_int_equal(f->evidence[0].packet, 9);
    assert_int_equal(f->evidence[1].packet, 20);
    assert_int_equal(f->evidence[2].packet, 30);
    assert_int_equal(f->evidence[3].packet, 40);
    assert_non_null(strstr(f->evidence[2].text, "yet answered: against the rule"));
    assert_non_null(strstr(f->explanation, "1 SYN was behind a fresh record"));
    diag_findings_free(&fs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(nat_host_behind_a_remembered_timestamp_is_dropped),
        cmocka_unit_test(attempt_that_connects_after_the_record_ages_is_a_warning),
        cmocka_unit_test(retransmission_tsvals_come_from_the_packets),
        cmocka_unit_test(single_host_with_increasing_timestamps_does_not_trigger),
        cmocka_unit_test(nat_with_every_host_answered_does_not_trigger),
        cmocka_unit_test(answers_behind_the_record_outweigh_one_lost_syn),
        cmocka_unit_test(record_older_than_60_s_explains_nothing),
        cmocka_unit_test(client_closed_connections_leave_no_record),
        cmocka_unit_test(one_tick_behind_is_inside_the_window),
        cmocka_unit_test(client_side_capture_says_never_answered),
        cmocka_unit_test(an_answer_against_the_rule_lowers_the_confidence),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
