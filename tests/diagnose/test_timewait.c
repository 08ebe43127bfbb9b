/* test_timewait.c - timewait-reuse and nat-timewait-mismatch on records built without packets. */
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

/* ---- stale ACKs: what they are, and who sent them ------------------------ */

/* One attempt whose first SYN a bare ACK (ack `ack`) answered, the client's
 * RST and its retried SYN 1 s later after it, accepted (tcp-behaviour.md
 * 9.2); no earlier incarnation in the capture. */
static flow_conn stale_conn(pkt_addr server, uint16_t cport, uint32_t ack, uint8_t server_ttl,
                            uint64_t pkt0, double t0)
{
    tb_spec a = {
        .client = tb_v4(10, 1, 1, 1), .server = server, .cport = cport, .sport = 443,
        .first_packet = pkt0, .start_s = t0, .dur_s = 2, .syns = 2, .syn_gap_s = 1,
        .answer = FLOW_HS_ACK_ONLY, .succeeded = true, .client_isn = 1000,
        .server_isn = 9000, .server_ttl = server_ttl, .end = FLOW_END_EOF,
    };
    flow_conn c = tb_make(&a);
    c.handshake_ack = ack;
    c.syn_packet[1] = pkt0 + 3;             /* SYN, ACK, RST, SYN again */
    c.client.rst_count = 1;
    c.client.rst_packet = pkt0 + 2;
    c.client.rst_seq = ack;
    c.client.rst_ttl = 64;
    c.server.syn_opts_seen = true;          /* the SYN-ACK to the retry */
    c.server.syn_window = 65535;
    c.server.syn_opts.has_mss = true;
    c.server.syn_opts.mss = 1460;
    c.server.syn_opts.layout_len = 3;
    c.server.syn_opts.layout[0] = 2;
    c.server.syn_opts.layout[1] = 4;
    c.server.syn_opts.layout[2] = 3;
    return c;
}

/* arkime no-syn-ack.pcap: SYN (ISN 1000), the client's ACK and 413-byte
 * request, then the server's bare ACK 1414 = the end of that request and
 * its response: the SYN-ACK is missing from the capture, nothing is stale. */
static flow_conn missing_synack_conn(uint32_t ack)
{
    tb_spec a = {
        .client = tb_v4(10, 12, 12, 12), .server = tb_v4(10, 13, 13, 13), .cport = 61181,
        .sport = 80, .first_packet = 1, .dur_s = 0.02, .answer = FLOW_HS_ACK_ONLY,
        .client_isn = 1000, .client_final_seq = 1414, .end = FLOW_END_EOF,
    };
    flow_conn c = tb_make(&a);
    c.handshake_ack = ack;
    c.handshake_packet = 4;
    c.client.sent_seen = c.client.ack_seen = true;
    c.client.sent_end = 1414;
    c.client.bytes = 413;
    c.client.ack_max = 7001 + 1460;
    c.server.sent_seen = c.server.ack_seen = true;
    c.server.sent_end = 7001 + 1460;
    c.server.bytes = 1460;
    c.server.ack_max = 1414;
    return c;
}

static void ack_of_the_clients_own_request_is_not_a_stale_ack(void **state)
{
    (void)state;
    flow_conn c = missing_synack_conn(1414);
    diag_findings fs = tb_run(&c, 1, DIAG_VANTAGE_UNKNOWN);
    assert_null(tb_find(&fs, "timewait-reuse", 0));
    assert_null(tb_find(&fs, "isn-not-increasing", 0));
    diag_findings_free(&fs);
}

/* fuzz-2006-06-26-2594.pcap: the bare ACK's number is garbage (below the
 * ISN), but data went both ways, each side acknowledging the other's, with
 * no RST and no SYN again: the tuple was in use. */
static void bare_ack_followed_by_normal_use_is_not_a_stale_ack(void **state)
{
    (void)state;
    flow_conn c = missing_synack_conn(900);
    diag_findings fs = tb_run(&c, 1, DIAG_VANTAGE_UNKNOWN);
    assert_null(tb_find(&fs, "timewait-reuse", 0));
    diag_findings_free(&fs);
    /* the same without the server's data: nothing shows normal use */
    c.server.bytes = 0;
    c.server.sent_seen = false;
    fs = tb_run(&c, 1, DIAG_VANTAGE_UNKNOWN);
    const diag_finding *f = tb_find(&fs, "timewait-reuse", 0);
    assert_non_null(f);
    assert_int_equal((int)tb_param(f, "stale_acks"), 1);
    diag_findings_free(&fs);
}

/* The client refused the ACK (RST with SEQ = its ack, SYN again): stale,
 * even though the data it sent after the retry runs past that number. */
static void refused_ack_is_stale_even_when_later_data_covers_it(void **state)
{
    (void)state;
    flow_conn c = stale_conn(tb_v4(10, 9, 0, 1), 40000, 1200, 50, 1, 0);
    c.client.sent_seen = true;
    c.client.sent_end = 1601;               /* 600 bytes after the retry */
    c.client.bytes = 600;
    diag_findings fs = tb_run(&c, 1, DIAG_VANTAGE_CLIENT);
    const diag_finding *f = tb_find(&fs, "timewait-reuse", 0);
    assert_non_null(f);
    assert_int_equal(f->severity, DIAG_WARNING);
    assert_int_equal((int)tb_param(f, "stale_acks"), 1);
    assert_int_equal((int)tb_param(f, "failed"), 0);
    assert_true(f->has_server);
    diag_findings_free(&fs);
}

/* Zeek syn-then-ack-then-rst.pcap: ack = the SYN's own ISN (0), computed
 * from this SYN; it names no older connection. */
static void ack_equal_to_the_isn_names_no_old_connection(void **state)
{
    (void)state;
    flow_conn c = stale_conn(tb_v4(10, 9, 0, 1), 40000, 1000, 50, 1, 0);
    diag_findings fs = tb_run(&c, 1, DIAG_VANTAGE_UNKNOWN);
    assert_null(tb_find(&fs, "timewait-reuse", 0));
    assert_null(tb_find(&fs, "isn-not-increasing", 0));
    diag_findings_free(&fs);
}

/* A reuse whose "stale ACK" acknowledges the new request is an accepted
 * reuse with its SYN-ACK missing: no refusal for nat-timewait-mismatch. */
static void paired_reuse_answered_by_an_ack_of_its_own_bytes_is_accepted(void **state)
{
    (void)state;
    flow_conn c[2];
    pair(c, 2.0, FLOW_HS_ACK_ONLY, 1, false, 40000, 0, 1);
    c[1].reset_by = FLOW_SIDE_NONE;
    c[1].client.rst_count = 0;
    c[1].handshake_ack = 900;               /* ISN 500 + 400 bytes sent */
    c[1].client.sent_seen = true;
    c[1].client.sent_end = 900;
    c[1].client.bytes = 399;
    diag_findings fs = tb_run(c, 2, DIAG_VANTAGE_SERVER);
    assert_null(tb_find(&fs, "nat-timewait-mismatch", 0));
    const diag_finding *f = tb_find(&fs, "timewait-reuse", 0);
    assert_non_null(f);
    assert_int_equal(f->severity, DIAG_INFO);   /* accepted */
    diag_findings_free(&fs);
}

/* Stale ACKs for three servers, all TTL 63 and the same SYN-ACK options:
 * one device one hop away answered for them, one finding naming it. */
static void stale_acks_for_many_servers_from_one_nearby_device_name_the_device(void **state)
{
    (void)state;
    flow_conn c[3];
    for (int i = 0; i < 3; i++)
        c[i] = stale_conn(tb_v4(93, 184, 0, (uint8_t)(1 + i)), (uint16_t)(40000 + i),
                          77000u + (uint32_t)i * 1000u, 63, 1 + 20 * (uint64_t)i, 10.0 * i);
    diag_findings fs = tb_run(c, 3, DIAG_VANTAGE_CLIENT);
    const diag_finding *f = tb_find(&fs, "timewait-reuse", 0);
    assert_non_null(f);
    assert_null(tb_find(&fs, "timewait-reuse", 1));
    assert_false(f->has_server);
    assert_true(f->has_client);
    assert_int_equal(f->severity, DIAG_WARNING);
    assert_int_equal((int)tb_param(f, "servers"), 3);
    assert_int_equal((int)tb_param(f, "stale_acks"), 3);
    assert_int_equal((int)tb_param(f, "answer_ttl"), 63);
    assert_int_equal((int)tb_param(f, "synack_options_compared"), 3);
    assert_non_null(strstr(f->summary, "transparent proxy or firewall"));
    assert_int_equal(f->n_claims, 3);
    assert_null(tb_find(&fs, "isn-not-increasing", 0));
    assert_null(tb_find(&fs, "nat-timewait-mismatch", 0));
    diag_findings_free(&fs);
}

/* Different TTLs (or different SYN-ACK options): the servers' own answers,
 * one finding per server as before. */
static void stale_acks_with_different_ttls_or_options_stay_the_servers(void **state)
{
    (void)state;
    static const uint8_t ttls[3] = { 63, 52, 47 };
    flow_conn c[3];
    for (int i = 0; i < 3; i++)
        c[i] = stale_conn(tb_v4(93, 184, 0, (uint8_t)(1 + i)), (uint16_t)(40000 + i),
                          77000u + (uint32_t)i * 1000u, ttls[i], 1 + 20 * (uint64_t)i, 10.0 * i);
    diag_findings fs = tb_run(c, 3, DIAG_VANTAGE_CLIENT);
    for (int i = 0; i < 3; i++) {
        const diag_finding *f = tb_find(&fs, "timewait-reuse", (size_t)i);
        assert_non_null(f);
        assert_true(f->has_server);
        assert_null(diag_param_get(f, "servers"));
    }
    diag_findings_free(&fs);
    for (int i = 0; i < 3; i++)
        c[i].server.ttl_first = 63;
    c[2].server.syn_opts.mss = 1380;        /* another stack answered the retry */
    fs = tb_run(c, 3, DIAG_VANTAGE_CLIENT);
    assert_non_null(tb_find(&fs, "timewait-reuse", 2));
    assert_null(diag_param_get(tb_find(&fs, "timewait-reuse", 0), "servers"));
    diag_findings_free(&fs);
}

/* ---- TIME_WAIT bounds from accepted reuses ------------------------------- */

/* Linux: refused at 2.0 s (ISN below the old final 1101), accepted 2.5 s
 * after another close with ISN 5000, above it: a SYN Linux takes inside
 * TIME_WAIT (RFC 1122 4.2.2.13), so no upper bound ("between 2 and 2 s"
 * before). */
static void reuse_accepted_by_a_newer_isn_gives_no_upper_bound(void **state)
{
    (void)state;
    flow_conn c[4];
    pair(&c[0], 2.0, FLOW_HS_ACK_ONLY, 2, true, 3000, 0, 1);
    pair(&c[2], 2.5, FLOW_HS_SYNACK, 1, true, 3001, 100, 101);
    c[3].client.isn = 5000;
    diag_findings fs = tb_run(c, 4, DIAG_VANTAGE_SERVER);
    const diag_finding *nm = tb_find(&fs, "nat-timewait-mismatch", 0);
    assert_non_null(nm);
    assert_int_equal((int)tb_param(nm, "reuses"), 2);
    assert_int_equal((int)tb_param(nm, "rejected"), 1);
    assert_true(tb_param(nm, "server_timewait_min_s") > 1.99 &&
                tb_param(nm, "server_timewait_min_s") < 2.01);
    assert_null(diag_param_get(nm, "server_timewait_max_s"));
    const diag_param *p = diag_param_get(nm, "server_timewait_min_s");
    assert_non_null(strstr(p->note, "accepted inside TIME_WAIT anyway"));
    assert_non_null(strstr(p->note, "RFC 1122 4.2.2.13"));
    assert_null(strstr(nm->summary, "between"));
    diag_findings_free(&fs);
}

/* The same with timestamps: ISN below, TSval newer (RFC 6191). */
static void reuse_accepted_by_a_newer_tsval_gives_no_upper_bound(void **state)
{
    (void)state;
    flow_conn c[4];
    pair(&c[0], 2.0, FLOW_HS_ACK_ONLY, 2, true, 3000, 0, 1);
    pair(&c[2], 2.5, FLOW_HS_SYNACK, 1, true, 3001, 100, 101);
    for (int i = 2; i < 4; i++) {
        c[i].client.syn_opts_seen = c[i].client.syn_opts.has_ts = c[i].client.ts_seen = true;
        c[i].client.syn_opts.tsval = c[i].client.tsval_first = 1000u + 5000u * (uint32_t)(i - 2);
        c[i].client.tsval_last = c[i].client.tsval_first + 10;
    }
    diag_findings fs = tb_run(c, 4, DIAG_VANTAGE_SERVER);
    const diag_finding *nm = tb_find(&fs, "nat-timewait-mismatch", 0);
    assert_non_null(nm);
    assert_null(diag_param_get(nm, "server_timewait_max_s"));
    assert_non_null(strstr(diag_param_get(nm, "server_timewait_min_s")->note, "RFC 6191"));
    diag_findings_free(&fs);
}

/* A server that ignored SYNs with a newer ISN (Windows-like) does not
 * accept by ISN: its acceptance of a newer ISN at 61 s bounds it. */
static void server_that_refused_newer_isns_is_bounded_by_accepting_one(void **state)
{
    (void)state;
    flow_conn c[6];
    pair(&c[0], 20, FLOW_HS_NONE, 3, false, 3000, 0, 1);
    pair(&c[2], 45, FLOW_HS_NONE, 3, false, 3001, 100, 101);
    pair(&c[4], 61, FLOW_HS_SYNACK, 1, true, 3002, 200, 201);
    for (int i = 1; i < 6; i += 2)
        c[i].client.isn = 5000;
    diag_findings fs = tb_run(c, 6, DIAG_VANTAGE_SERVER);
    const diag_finding *nm = tb_find(&fs, "nat-timewait-mismatch", 0);
    assert_non_null(nm);
    assert_int_equal((int)tb_param(nm, "rejected"), 2);
    assert_true(tb_param(nm, "server_timewait_min_s") > 44.99 &&
                tb_param(nm, "server_timewait_min_s") < 45.01);
    assert_true(tb_param(nm, "server_timewait_max_s") > 60.99 &&
                tb_param(nm, "server_timewait_max_s") < 61.01);
    diag_findings_free(&fs);
}

/* FreeBSD: a SYN with an older ISN ignored 20 s after the close, one with
 * a newer ISN accepted 5 s after another: the accept says nothing of the
 * TIME_WAIT's end, so the ignored SYN is still TIME_WAIT's (it was called
 * lost before). */
static void early_accept_by_newer_isn_does_not_make_a_later_refusal_a_loss(void **state)
{
    (void)state;
    flow_conn c[4];
    pair(&c[0], 20, FLOW_HS_NONE, 3, false, 3000, 0, 1);
    pair(&c[2], 5, FLOW_HS_SYNACK, 1, true, 3001, 100, 101);
    c[3].client.isn = 5000;
    diag_findings fs = tb_run(c, 4, DIAG_VANTAGE_SERVER);
    const diag_finding *tw = tb_find(&fs, "timewait-reuse", 0);
    assert_non_null(tw);
    assert_int_equal(tw->severity, DIAG_ERROR);
    assert_int_equal((int)tb_param(tw, "failed"), 1);
    assert_null(tb_find(&fs, "syn-unanswered", 0));
    assert_null(diag_param_get(tb_find(&fs, "nat-timewait-mismatch", 0),
                               "server_timewait_max_s"));
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
        cmocka_unit_test(ack_of_the_clients_own_request_is_not_a_stale_ack),
        cmocka_unit_test(bare_ack_followed_by_normal_use_is_not_a_stale_ack),
        cmocka_unit_test(refused_ack_is_stale_even_when_later_data_covers_it),
        cmocka_unit_test(ack_equal_to_the_isn_names_no_old_connection),
        cmocka_unit_test(paired_reuse_answered_by_an_ack_of_its_own_bytes_is_accepted),
        cmocka_unit_test(stale_acks_for_many_servers_from_one_nearby_device_name_the_device),
        cmocka_unit_test(stale_acks_with_different_ttls_or_options_stay_the_servers),
        cmocka_unit_test(reuse_accepted_by_a_newer_isn_gives_no_upper_bound),
        cmocka_unit_test(reuse_accepted_by_a_newer_tsval_gives_no_upper_bound),
        cmocka_unit_test(server_that_refused_newer_isns_is_bounded_by_accepting_one),
        cmocka_unit_test(early_accept_by_newer_isn_does_not_make_a_later_refusal_a_loss),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
