/* test_live.c - diag_live: which findings of successive snapshots of a running capture are said, and when. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "conn_builder.h"
#include "diag_test.h"
#include "tcpdoctor/diagnose.h"

static diag_finding *add(diag_findings *fs, const char *id, enum diag_severity sev,
                         uint64_t events, uint8_t server_last, uint16_t port)
{
    diag_finding *f = diag_add(fs, id, sev, 0.9);
    assert_non_null(f);
    f->events = events;
    if (server_last != 0) {
        f->server = tb_v4(10, 2, 2, server_last);
        f->server_port = port;
        f->has_server = true;
    }
    return f;
}

/* Marks of one update, with the count it returned. */
static int update(diag_live *l, const diag_findings *fs, enum diag_live_mark *m)
{
    int n = diag_live_update(l, fs, m);
    assert_true(n >= 0);
    return n;
}

static void new_finding_is_said_once(void **state)
{
    (void)state;
    diag_live *l = diag_live_new(1);
    assert_non_null(l);
    diag_findings fs = { 0 };
    add(&fs, "timewait-reuse", DIAG_WARNING, 1, 2, 8004);
    enum diag_live_mark m[4];
    assert_int_equal(update(l, &fs, m), 1);
    assert_int_equal(m[0], DIAG_LIVE_NEW);
    for (int k = 0; k < 3; k++) {
        assert_int_equal(update(l, &fs, m), 0);
        assert_int_equal(m[0], DIAG_LIVE_SAME);
    }
    diag_findings_free(&fs);
    diag_live_free(l);
}

static void more_events_or_other_severity_is_said_again(void **state)
{
    (void)state;
    diag_live *l = diag_live_new(1);
    diag_findings fs = { 0 };
    diag_finding *f = add(&fs, "timewait-reuse", DIAG_WARNING, 1, 2, 8004);
    enum diag_live_mark m[4];
    update(l, &fs, m);
    f->events = 2;
    assert_int_equal(update(l, &fs, m), 1);
    assert_int_equal(m[0], DIAG_LIVE_CHANGED);
    f->severity = DIAG_ERROR;
    assert_int_equal(update(l, &fs, m), 1);
    assert_int_equal(m[0], DIAG_LIVE_CHANGED);
    /* other text, same count and severity: not material */
    diag_summary(f, "reworded");
    assert_int_equal(update(l, &fs, m), 0);
    assert_int_equal(m[0], DIAG_LIVE_SAME);
    diag_findings_free(&fs);
    diag_live_free(l);
}

/* id and subject make the key, whatever the snapshot's order. */
static void other_subject_or_id_is_another_finding(void **state)
{
    (void)state;
    diag_live *l = diag_live_new(1);
    diag_findings a = { 0 }, b = { 0 };
    add(&a, "timewait-reuse", DIAG_WARNING, 1, 2, 8004);
    add(&a, "timewait-reuse", DIAG_WARNING, 1, 3, 8004);
    add(&a, "timewait-reuse", DIAG_WARNING, 1, 2, 8005);
    add(&a, "syn-unanswered", DIAG_WARNING, 1, 2, 8004);
    enum diag_live_mark m[4];
    assert_int_equal(update(l, &a, m), 4);
    for (int i = 0; i < 4; i++)
        assert_int_equal(m[i], DIAG_LIVE_NEW);
    /* the same four, in reverse order */
    add(&b, "syn-unanswered", DIAG_WARNING, 1, 2, 8004);
    add(&b, "timewait-reuse", DIAG_WARNING, 1, 2, 8005);
    add(&b, "timewait-reuse", DIAG_WARNING, 1, 3, 8004);
    add(&b, "timewait-reuse", DIAG_WARNING, 1, 2, 8004);
    assert_int_equal(update(l, &b, m), 0);
    for (int i = 0; i < 4; i++)
        assert_int_equal(m[i], DIAG_LIVE_SAME);
    diag_findings_free(&a);
    diag_findings_free(&b);
    diag_live_free(l);
}

/* Two findings with one id and subject (e.g. two outcomes toward one
 * server) are told apart by their rank in the snapshot. */
static void equal_keys_are_ranked(void **state)
{
    (void)state;
    diag_live *l = diag_live_new(1);
    diag_findings fs = { 0 };
    add(&fs, "timewait-reuse", DIAG_ERROR, 3, 2, 8004);
    diag_finding *second = add(&fs, "timewait-reuse", DIAG_WARNING, 1, 2, 8004);
    enum diag_live_mark m[4];
    assert_int_equal(update(l, &fs, m), 2);
    assert_int_equal(m[0], DIAG_LIVE_NEW);
    assert_int_equal(m[1], DIAG_LIVE_NEW);
    second->events = 5;
    assert_int_equal(update(l, &fs, m), 1);
    assert_int_equal(m[0], DIAG_LIVE_SAME);
    assert_int_equal(m[1], DIAG_LIVE_CHANGED);
    diag_findings_free(&fs);
    diag_live_free(l);
}

static void finding_that_went_away_and_came_back_is_new(void **state)
{
    (void)state;
    diag_live *l = diag_live_new(1);
    diag_findings one = { 0 }, none = { 0 };
    add(&one, "abortive-close", DIAG_INFO, 4, 2, 443);
    enum diag_live_mark m[2];
    assert_int_equal(update(l, &one, m), 1);
    assert_int_equal(update(l, &none, m), 0);
    assert_int_equal(update(l, &one, m), 1);
    assert_int_equal(m[0], DIAG_LIVE_NEW);
    assert_string_equal(diag_live_mark_name(DIAG_LIVE_NEW), "new");
    assert_string_equal(diag_live_mark_name(DIAG_LIVE_CHANGED), "changed");
    diag_findings_free(&one);
    diag_live_free(l);
}

/* confirm 2: a severity is said only once two snapshots in a row agree; a
 * snapshot taken mid-handshake (error: never connected) is not said when
 * the next one has the settled answer (warning). */
static void severity_is_said_once_confirmed(void **state)
{
    (void)state;
    diag_live *l = diag_live_new(2);
    assert_non_null(l);
    diag_findings fs = { 0 };
    diag_finding *f = add(&fs, "timewait-reuse", DIAG_ERROR, 1, 2, 8004);
    enum diag_live_mark m[2];
    assert_int_equal(update(l, &fs, m), 0);         /* error, first time: wait */
    f->severity = DIAG_WARNING;
    assert_int_equal(update(l, &fs, m), 0);         /* warning, first time: wait */
    assert_int_equal(update(l, &fs, m), 1);         /* warning again: said */
    assert_int_equal(m[0], DIAG_LIVE_NEW);
    assert_int_equal(update(l, &fs, m), 0);
    f->events = 2;
    assert_int_equal(update(l, &fs, m), 1);         /* more events, same severity: at once */
    assert_int_equal(m[0], DIAG_LIVE_CHANGED);
    f->severity = DIAG_ERROR;
    assert_int_equal(update(l, &fs, m), 0);
    assert_int_equal(update(l, &fs, m), 1);
    assert_int_equal(m[0], DIAG_LIVE_CHANGED);
    diag_findings_free(&fs);
    diag_live_free(l);
}

/* Connection k: the server closes one connection from port 40000 + k, and
 * 2 s later the same 4-tuple is reused, meets TIME_WAIT (stale ACK), the
 * client resets and retries with success (tcp-behaviour.md 9.2). */
static void reuse_pair(flow_conn *out, int k)
{
    tb_spec a = {
        .client = tb_v4(10, 1, 1, 1), .server = tb_v4(10, 2, 2, 2), .cport = (uint16_t)(40000 + k),
        .sport = 8004, .first_packet = 1 + 100 * (uint64_t)k, .start_s = 10.0 * k, .dur_s = 0.3,
        .answer = FLOW_HS_SYNACK, .succeeded = true, .closed_by = FLOW_SIDE_SERVER,
        .client_isn = 1000000000, .server_isn = 2000, .end = FLOW_END_REUSED,
    };
    tb_spec b = a;
    b.incarnation = 2;
    b.first_packet = a.first_packet + 13;
    b.start_s = a.start_s + 0.3 + 2.0;
    b.syns = 2;
    b.syn_gap_s = 0.01;
    b.answer = FLOW_HS_ACK_ONLY;
    b.client_isn = 500000000;
    b.end = FLOW_END_EOF;
    out[0] = tb_make(&a);
    out[1] = tb_make(&b);
}

/* Snapshots as watch takes them (the run so far as if it ended then: a
 * fresh engine over the records up to that point gives the same answer).
 * timewait-reuse is said once, then again each time its count grows. */
static void growing_run_says_timewait_reuse_new_then_changed(void **state)
{
    (void)state;
    flow_conn c[6];
    for (int k = 0; k < 3; k++)
        reuse_pair(&c[2 * k], k);
    diag_live *l = diag_live_new(1);
    enum diag_live_mark m[16];
    enum diag_live_mark want[3] = { DIAG_LIVE_NEW, DIAG_LIVE_CHANGED, DIAG_LIVE_CHANGED };
    for (int k = 0; k < 3; k++) {
        diag_findings fs = tb_run(c, 2 * (size_t)(k + 1), DIAG_VANTAGE_SERVER);
        assert_true(fs.n <= 16);
        update(l, &fs, m);
        int seen = 0;
        for (size_t i = 0; i < fs.n; i++) {
            if (strcmp(fs.v[i].id, "timewait-reuse") != 0)
                continue;
            seen++;
            assert_int_equal(fs.v[i].events, k + 1);
            assert_int_equal(m[i], want[k]);
        }
        assert_int_equal(seen, 1);
        diag_findings fs2 = tb_run(c, 2 * (size_t)(k + 1), DIAG_VANTAGE_SERVER);
        assert_int_equal(update(l, &fs2, m), 0);        /* the same snapshot again: nothing */
        diag_findings_free(&fs);
        diag_findings_free(&fs2);
    }
    diag_live_free(l);
}

/* watch's snapshot: a child process finishes a copy of the engine; the
 * parent's engine goes on and its final findings are those of a run that
 * never took a snapshot (what analyze prints for the same records). */
static void snapshot_in_a_child_leaves_the_run_unchanged(void **state)
{
    (void)state;
    flow_conn c[6];
    for (int k = 0; k < 3; k++)
        reuse_pair(&c[2 * k], k);
    diag_config cfg = { .vantage = DIAG_VANTAGE_SERVER };
    char err[64];
    diag_engine *e = diag_engine_new(&cfg, err, sizeof err);
    assert_non_null(e);
    tb_tuples t = { .e = e };
    for (int i = 0; i < 2; i++)
        tb_feed(&t, &c[i]);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        diag_findings fs;
        int ok = diag_engine_finish(e, &fs) == 0 && tb_find(&fs, "timewait-reuse", 0) != NULL &&
                 tb_find(&fs, "timewait-reuse", 0)->events == 1;
        _exit(ok ? 0 : 1);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    for (int i = 2; i < 6; i++)
        tb_feed(&t, &c[i]);
    tb_tuples_done(&t);
    diag_findings got, want = tb_run(c, 6, DIAG_VANTAGE_SERVER);
    assert_int_equal(diag_engine_finish(e, &got), 0);
    assert_int_equal(got.n, want.n);
    for (size_t i = 0; i < got.n; i++) {
        assert_string_equal(got.v[i].id, want.v[i].id);
        assert_int_equal(got.v[i].severity, want.v[i].severity);
        assert_int_equal(got.v[i].events, want.v[i].events);
        assert_string_equal(got.v[i].summary, want.v[i].summary);
        assert_string_equal(got.v[i].explanation, want.v[i].explanation);
    }
    assert_int_equal(tb_find(&got, "timewait-reuse", 0)->events, 3);
    diag_findings_free(&got);
    diag_findings_free(&want);
    diag_engine_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(new_finding_is_said_once),
        cmocka_unit_test(more_events_or_other_severity_is_said_again),
        cmocka_unit_test(other_subject_or_id_is_another_finding),
        cmocka_unit_test(equal_keys_are_ranked),
        cmocka_unit_test(finding_that_went_away_and_came_back_is_new),
        cmocka_unit_test(severity_is_said_once_confirmed),
        cmocka_unit_test(growing_run_says_timewait_reuse_new_then_changed),
        cmocka_unit_test(snapshot_in_a_child_leaves_the_run_unchanged),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
