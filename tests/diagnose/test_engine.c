/* test_engine.c - the diagnosis engine: vantage inference, reuse pairing, ordering of findings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "conn_builder.h"
#include "diagnose/diag_internal.h"
#include "tcpdoctor/diagnose.h"

static diag_engine *engine(enum diag_vantage v)
{
    diag_config cfg = { .vantage = v };
    char err[64];
    diag_engine *e = diag_engine_new(&cfg, err, sizeof err);
    assert_non_null(e);
    return e;
}

/* n healthy connections; SYN-ACK `a` s after the SYN, ACK `b` s after that. */
static enum diag_vantage vantage_of(double a, double b, uint8_t cttl, uint8_t sttl)
{
    diag_engine *e = engine(DIAG_VANTAGE_UNKNOWN);
    for (int i = 0; i < 5; i++) {
        tb_spec s = {
            .client = tb_v4(10, 0, 0, 1), .server = tb_v4(10, 0, 0, 2), .cport = (uint16_t)(40000 + i),
            .sport = 443, .first_packet = (uint64_t)(1 + 20 * i), .start_s = i, .dur_s = 1,
            .answer = FLOW_HS_SYNACK, .succeeded = true, .closed_by = FLOW_SIDE_CLIENT,
            .client_ttl = cttl, .server_ttl = sttl, .end = FLOW_END_EOF,
        };
        flow_conn c = tb_make(&s);
        c.synack_ts = c.syn_ts[0] + TB_S(a);
        c.established_ts = c.synack_ts + TB_S(b);
        diag_engine_conn(e, &c, NULL);     /* all distinct 4-tuples */
    }
    diag_findings fs;
    assert_int_equal(diag_engine_finish(e, &fs), 0);
    enum diag_vantage v = diag_engine_vantage(e);
    diag_findings_free(&fs);
    diag_engine_free(e);
    return v;
}

static void fast_synack_slow_ack_is_the_server_side(void **state)
{
    (void)state;
    assert_int_equal(vantage_of(0.0001, 0.040, 64, 64), DIAG_VANTAGE_SERVER);
}

static void slow_synack_fast_ack_is_the_client_side(void **state)
{
    (void)state;
    assert_int_equal(vantage_of(0.040, 0.0001, 64, 64), DIAG_VANTAGE_CLIENT);
}

static void two_halves_of_the_round_trip_is_the_path(void **state)
{
    (void)state;
    assert_int_equal(vantage_of(0.020, 0.020, 64, 64), DIAG_VANTAGE_PATH);
}

/* TTLs decide before timing: the server's own packets at their initial TTL. */
static void initial_ttl_on_the_server_side_wins_over_timing(void **state)
{
    (void)state;
    assert_int_equal(vantage_of(0.020, 0.020, 61, 64), DIAG_VANTAGE_SERVER);
    assert_int_equal(vantage_of(0.020, 0.020, 128, 120), DIAG_VANTAGE_CLIENT);
}

static void given_vantage_is_kept(void **state)
{
    (void)state;
    diag_engine *e = engine(DIAG_VANTAGE_PATH);
    diag_findings fs;
    assert_int_equal(diag_engine_finish(e, &fs), 0);
    assert_int_equal(diag_engine_vantage(e), DIAG_VANTAGE_PATH);
    assert_int_equal(fs.n, 0);
    diag_findings_free(&fs);
    diag_engine_free(e);
}

/* Findings come out errors first, then warnings, then info. */
static void findings_are_sorted_by_severity_then_confidence(void **state)
{
    (void)state;
    diag_findings fs = { 0 };
    diag_add(&fs, "a", DIAG_INFO, 0.9);
    diag_add(&fs, "b", DIAG_WARNING, 0.5);
    diag_add(&fs, "c", DIAG_ERROR, 0.1);
    diag_add(&fs, "d", DIAG_WARNING, 0.8);
    diag_findings_sort(&fs);
    assert_string_equal(fs.v[0].id, "c");
    assert_string_equal(fs.v[1].id, "d");
    assert_string_equal(fs.v[2].id, "b");
    assert_string_equal(fs.v[3].id, "a");
    diag_findings_free(&fs);
}

/* Evidence past the cap is counted, not stored. */
static void evidence_beyond_the_cap_is_counted(void **state)
{
    (void)state;
    diag_findings fs = { 0 };
    diag_finding *f = diag_add(&fs, "x", DIAG_INFO, 1);
    for (int i = 0; i < DIAG_MAX_EVIDENCE + 7; i++)
        diag_evidence_add(f, (uint64_t)i + 1, 0, "line %d", i);
    assert_int_equal(f->n_evidence, DIAG_MAX_EVIDENCE);
    assert_int_equal(f->evidence_omitted, 7);
    assert_string_equal(f->evidence[3].text, "line 3");
    diag_findings_free(&fs);
}

/* 30 servers each refusing one client's SYN with RST (30 clients: no scan): one cause per
 * server, but the report says the 9 most important apart and the other 21
 * as one finding that lists them and claims all their attempts. */
static void many_findings_of_one_id_are_said_once_beyond_ten(void **state)
{
    (void)state;
    diag_engine *e = engine(DIAG_VANTAGE_CLIENT);
    for (int i = 0; i < 30; i++) {
        tb_spec s = {
            .client = tb_v4(10, 0, 0, (uint8_t)(i + 1)), .server = tb_v4(10, 0, 1, (uint8_t)(i + 1)),
            .cport = (uint16_t)(40000 + i), .sport = 80, .first_packet = 1 + 2 * (uint64_t)i,
            .start_s = 0.1 * i, .dur_s = 0.001, .answer = FLOW_HS_RST, .reset_by = FLOW_SIDE_SERVER,
            .client_isn = 100u * (uint32_t)i, .end = FLOW_END_EOF,
        };
        flow_conn c = tb_make(&s);
        c.server.packets = 1;
        diag_engine_conn(e, &c, NULL);
    }
    diag_findings fs;
    assert_int_equal(diag_engine_finish(e, &fs), 0);
    size_t n = 0, agg = 0, claims = 0;
    for (size_t i = 0; i < fs.n; i++) {
        if (strcmp(fs.v[i].id, "connection-refused") != 0)
            continue;
        n++;
        claims += fs.v[i].n_claims;
        if (fs.v[i].n_params > 0 && strcmp(fs.v[i].params[fs.v[i].n_params - 1].name, "findings") == 0) {
            agg++;
            assert_int_equal((int)fs.v[i].params[fs.v[i].n_params - 1].value, 21);
            assert_int_equal(fs.v[i].n_claims, 21);
            assert_int_equal(fs.v[i].n_evidence, 21);
            assert_int_equal(fs.v[i].events, 21);
        }
    }
    assert_int_equal(n, 10);
    assert_int_equal(agg, 1);
    assert_int_equal(claims, 30);
    const diag_accounting *acc = diag_engine_accounting(e);
    assert_int_equal(acc->lc.by_outcome[LC_REFUSED], 30);
    assert_int_equal(acc->explained, 30);
    diag_findings_free(&fs);
    diag_engine_free(e);
}

/* The final passes are ordered by the facts detectors declare, whatever
 * the list's order: a reader after every provider of what it reads. */
static const diag_detector fake_hosts = { .id = "hosts", .provides = DIAG_FACT_HOSTS };
static const diag_detector fake_paws = { .id = "paws", .reads = DIAG_FACT_HOSTS,
                                         .provides = DIAG_FACT_PAWS_DROPS };
static const diag_detector fake_tw = { .id = "tw", .reads = DIAG_FACT_PAWS_DROPS,
                                       .provides = DIAG_FACT_TW_JUDGED };
static const diag_detector fake_mismatch = { .id = "mismatch", .reads = DIAG_FACT_TW_JUDGED };
static const diag_detector fake_ports = { .id = "ports",
                                          .reads = DIAG_FACT_PAWS_DROPS | DIAG_FACT_TW_JUDGED };
static const diag_detector fake_plain = { .id = "plain" };

static size_t pos_of(const diag_detector *const *list, const size_t *order, size_t n,
                     const diag_detector *d)
{
    for (size_t k = 0; k < n; k++)
        if (list[order[k]] == d)
            return k;
    fail_msg("%s not ordered", d->id);
    return n;
}

static void final_passes_follow_the_declared_facts_not_the_list(void **state)
{
    (void)state;
    const diag_detector *const reversed[] = { &fake_plain, &fake_ports, &fake_mismatch,
                                              &fake_tw, &fake_paws, &fake_hosts };
    size_t order[6];
    assert_int_equal(diag_detectors_order(reversed, 6, order), 0);
    assert_true(pos_of(reversed, order, 6, &fake_hosts) < pos_of(reversed, order, 6, &fake_paws));
    assert_true(pos_of(reversed, order, 6, &fake_paws) < pos_of(reversed, order, 6, &fake_tw));
    assert_true(pos_of(reversed, order, 6, &fake_tw) < pos_of(reversed, order, 6, &fake_mismatch));
    assert_true(pos_of(reversed, order, 6, &fake_tw) < pos_of(reversed, order, 6, &fake_ports));
    assert_int_equal(pos_of(reversed, order, 6, &fake_plain), 0);   /* list order otherwise */

    /* a fact nobody provides, and a cycle, cannot be ordered */
    const diag_detector *const orphan[] = { &fake_plain, &fake_mismatch };
    assert_int_equal(diag_detectors_order(orphan, 2, order), -1);
    static const diag_detector a = { .id = "a", .reads = DIAG_FACT_HOSTS,
                                     .provides = DIAG_FACT_PAWS_DROPS };
    static const diag_detector b = { .id = "b", .reads = DIAG_FACT_PAWS_DROPS,
                                     .provides = DIAG_FACT_HOSTS };
    const diag_detector *const cycle[] = { &a, &b };
    assert_int_equal(diag_detectors_order(cycle, 2, order), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(many_findings_of_one_id_are_said_once_beyond_ten),
        cmocka_unit_test(final_passes_follow_the_declared_facts_not_the_list),
        cmocka_unit_test(fast_synack_slow_ack_is_the_server_side),
        cmocka_unit_test(slow_synack_fast_ack_is_the_client_side),
        cmocka_unit_test(two_halves_of_the_round_trip_is_the_path),
        cmocka_unit_test(initial_ttl_on_the_server_side_wins_over_timing),
        cmocka_unit_test(given_vantage_is_kept),
        cmocka_unit_test(findings_are_sorted_by_severity_then_confidence),
        cmocka_unit_test(evidence_beyond_the_cap_is_counted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
