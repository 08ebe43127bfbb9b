/* test_scenario.c - unit tests of scenario files, --set overrides and the built-in OS profiles. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "tcpdoctor/sim.h"

#ifndef SCENARIO_DIR
#error "SCENARIO_DIR must name the scenarios/ folder"
#endif

#define S(x) ((sim_ns)(x) * SIM_NS_PER_S)
#define MS(x) ((sim_ns)(x) * SIM_NS_PER_MS)

/* ---- helpers -------------------------------------------------------------------- */

/* A small valid scenario; the error tests edit one line of it. */
static const char base_yaml[] =
    "description: test\n"                     /*  1 */
    "duration: 30s\n"                         /*  2 */
    "seed: 7\n"                               /*  3 */
    "networks:\n"                             /*  4 */
    "  - name: lan\n"                         /*  5 */
    "  - name: wan\n"                         /*  6 */
    "    delay: 5ms\n"                        /*  7 */
    "hosts:\n"                                /*  8 */
    "  - name: pc\n"                          /*  9 */
    "    count: 3\n"                          /* 10 */
    "    net: lan\n"                          /* 11 */
    "    addr: 10.0.0.11\n"                   /* 12 */
    "  - name: server\n"                      /* 13 */
    "    net: wan\n"                          /* 14 */
    "    addr: 192.0.2.10\n"                  /* 15 */
    "    os: windows-2003\n"                  /* 16 */
    "    listen: true\n"                      /* 17 */
    "nats:\n"                                 /* 18 */
    "  - name: gw\n"                          /* 19 */
    "    inside: lan\n"                       /* 20 */
    "    outside: wan\n"                      /* 21 */
    "    addrs: [203.0.113.5]\n"              /* 22 */
    "apps:\n"                                 /* 23 */
    "  - name: web\n"                         /* 24 */
    "    client: pc\n"                        /* 25 */
    "    server: server\n"                    /* 26 */
    "    port: 80\n"                          /* 27 */
    "    rate: 2/s\n"                         /* 28 */
    "captures:\n"                             /* 29 */
    "  - name: server\n"                      /* 30 */
    "    host: server\n"                      /* 31 */
    "expect: [timewait-reuse]\n";             /* 32 */

typedef struct tmpfile_ctx {
    char path[64];
} tmpfile_ctx;

static void write_tmp(tmpfile_ctx *t, const char *text)
{
    snprintf(t->path, sizeof t->path, "/tmp/tdscn-XXXXXX");
    int fd = mkstemp(t->path);
    assert_true(fd >= 0);
    size_t n = strlen(text);
    assert_int_equal(write(fd, text, n), (ssize_t)n);
    close(fd);
}

/* base_yaml with the first occurrence of `from` replaced by `to`. */
static char *edited(const char *from, const char *to)
{
    const char *at = strstr(base_yaml, from);
    if (at == NULL)
        fail_msg("test edit: \"%s\" is not in the base scenario", from);
    size_t n = strlen(base_yaml) - strlen(from) + strlen(to) + 1;
    char *s = malloc(n);
    assert_non_null(s);
    snprintf(s, n, "%.*s%s%s", (int)(at - base_yaml), base_yaml, to, at + strlen(from));
    return s;
}

/* Load text; it must fail with exactly "TMPFILE" + expected_after_path. */
static void expect_error(const char *text, const char *expected_after_path)
{
    tmpfile_ctx t;
    write_tmp(&t, text);
    char err[1024] = "";
    sim_scenario *sc = sim_scenario_load(t.path, err, sizeof err);
    char want[1024];
    snprintf(want, sizeof want, "%s%s", t.path, expected_after_path);
    unlink(t.path);
    if (sc != NULL) {
        sim_scenario_free(sc);
        fail_msg("loaded, expected the error: %s", want);
    }
    assert_string_equal(err, want);
}

static void expect_edit_error(const char *from, const char *to, const char *expected)
{
    char *text = edited(from, to);
    expect_error(text, expected);
    free(text);
}

static sim_scenario *load_text(const char *text)
{
    tmpfile_ctx t;
    write_tmp(&t, text);
    char err[1024] = "";
    sim_scenario *sc = sim_scenario_load(t.path, err, sizeof err);
    unlink(t.path);
    if (sc == NULL)
        fail_msg("load failed: %s", err);
    return sc;
}

static sim_scenario *load_shipped(const char *name)
{
    char path[512], err[1024] = "";
    snprintf(path, sizeof path, "%s/%s", SCENARIO_DIR, name);
    sim_scenario *sc = sim_scenario_load(path, err, sizeof err);
    if (sc == NULL)
        fail_msg("%s: %s", name, err);
    assert_int_equal(sim_scenario_check(sc, err, sizeof err), 0);
    return sc;
}

static const sim_host *host(const sim_scenario *sc, const char *name)
{
    for (size_t i = 0; i < sc->n_hosts; i++)
        if (strcmp(sc->hosts[i].name, name) == 0)
            return &sc->hosts[i];
    fail_msg("no host %s", name);
    return NULL;
}

static void assert_expect(const sim_scenario *sc, size_t n, const char *const *ids)
{
    assert_int_equal(sc->n_expect, n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(sc->expect[i], ids[i]);
}

/* ---- the shipped scenarios -------------------------------------------------------- */

static void every_shipped_scenario_loads_and_checks(void **state)
{
    (void)state;
    static const char *const names[] = {
        "baseline-healthy.yaml", "seed000-nat-msl-mismatch.yaml",
        "seed001-proxy-port-reuse.yaml", "seed002-tw-recycle-nat.yaml",
        "seed003-snat-pool-exhaustion.yaml", "seed004-natgw-fragments.yaml",
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        sim_scenario *sc = load_shipped(names[i]);
        assert_true(sc->n_points >= 2);
        assert_true(sc->description[0] != '\0');
        bool has_server = false;
        for (size_t p = 0; p < sc->n_points; p++)
            has_server |= strcmp(sc->points[p].name, "server") == 0;
        assert_true(has_server);
        sim_scenario_free(sc);
    }
}

static void seed000_models_the_report(void **state)
{
    (void)state;
    sim_scenario *sc = load_shipped("seed000-nat-msl-mismatch.yaml");
    const sim_host *srv = host(sc, "server");
    assert_string_equal(srv->os.name, "windows-2003");
    assert_int_equal(srv->os.timewait, S(240));
    assert_int_equal(srv->os.tw_syn, SIM_TW_SYN_IGNORE);
    assert_true(srv->listen);
    assert_int_equal(sc->n_nats, 1);
    assert_int_equal(sc->nats[0].hold_timewait, S(30));
    assert_int_equal(sc->nats[0].n_addrs, 1);
    assert_int_equal(sc->apps[0].closer, SIM_CLOSE_SERVER);
    static const char *const ids[] = { "timewait-reuse", "nat-timewait-mismatch",
                                       "isn-not-increasing" };
    assert_expect(sc, 3, ids);
    sim_scenario_free(sc);
}

static void shipped_expectations_match_the_seeds(void **state)
{
    (void)state;
    sim_scenario *sc = load_shipped("seed001-proxy-port-reuse.yaml");
    static const char *const e1[] = { "timewait-reuse", "isn-not-increasing",
                                      "nat-timewait-mismatch" };
    assert_expect(sc, 3, e1);
    assert_int_equal(host(sc, "downstream")->os.isn, SIM_ISN_RANDOM);
    assert_false(host(sc, "downstream")->os.timestamps);
    assert_int_equal(sc->apps[0].src_port_lo, 40000);
    sim_scenario_free(sc);

    sc = load_shipped("seed002-tw-recycle-nat.yaml");
    static const char *const e2[] = { "paws-reject", "nat-multiple-hosts" };
    assert_expect(sc, 2, e2);
    assert_true(host(sc, "server")->os.tw_recycle);
    assert_false(sc->nats[0].rewrite_timestamps);
    sim_scenario_free(sc);

    sc = load_shipped("seed003-snat-pool-exhaustion.yaml");
    static const char *const e3[] = { "port-exhaustion", "abortive-close" };
    assert_expect(sc, 2, e3);
    assert_true(sc->apps[0].rst_close);
    assert_int_equal(sc->nats[0].port_hi - sc->nats[0].port_lo + 1, 512);
    sim_scenario_free(sc);

    sc = load_shipped("seed004-natgw-fragments.yaml");
    static const char *const e4[] = { "fragmented-tcp" };
    assert_expect(sc, 1, e4);
    assert_int_equal(sc->nats[0].frag, SIM_FRAG_DROP);
    sim_scenario_free(sc);

    sc = load_shipped("baseline-healthy.yaml");
    assert_int_equal(sc->n_expect, 0);
    sim_scenario_free(sc);
}

/* ---- reading values ----------------------------------------------------------------- */

static void base_scenario_reads_every_section(void **state)
{
    (void)state;
    sim_scenario *sc = load_text(base_yaml);
    assert_int_equal(sc->duration, S(30));
    assert_int_equal(sc->seed, 7);
    assert_int_equal(sc->n_nets, 2);
    assert_int_equal(sc->nets[0].delay, MS(1)); /* default */
    assert_int_equal(sc->nets[1].delay, MS(5));
    assert_int_equal(sc->n_hosts, 2);
    assert_int_equal(sc->hosts[0].count, 3);
    assert_int_equal(sc->hosts[0].addr, 0x0a00000b);
    assert_string_equal(sc->hosts[0].os.name, "linux"); /* default profile */
    assert_int_equal(sc->nats[0].addrs[0], 0xcb007105);
    assert_int_equal(sc->nats[0].hold_timewait, S(120)); /* conntrack default */
    assert_true(sc->apps[0].rate == 2.0);
    assert_string_equal(sc->points[0].host, "server");
    sim_scenario_free(sc);
}

static void os_applies_before_overrides_wherever_it_stands(void **state)
{
    (void)state;
    char *text = edited("    os: windows-2003\n", "    timewait: 30s\n    os: windows-2003\n");
    sim_scenario *sc = load_text(text);
    free(text);
    const sim_host *srv = host(sc, "server");
    assert_int_equal(srv->os.timewait, S(30));
    assert_int_equal(srv->os.port_lo, 1025); /* the rest from the profile */
    sim_scenario_free(sc);
}

static void lists_take_sequences_or_one_value(void **state)
{
    (void)state;
    char *text = edited("    listen: true\n",
                        "    listen: true\n    syn_retries: [1s, 2500ms, 4s]\n");
    sim_scenario *sc = load_text(text);
    free(text);
    const sim_host *srv = host(sc, "server");
    assert_int_equal(srv->os.n_syn_retries, 3);
    assert_int_equal(srv->os.syn_retry_at[1], MS(2500));
    sim_scenario_free(sc);

    text = edited("    addrs: [203.0.113.5]\n", "    addrs: 203.0.113.9\n");
    sc = load_text(text);
    free(text);
    assert_int_equal(sc->nats[0].n_addrs, 1);
    assert_int_equal(sc->nats[0].addrs[0], 0xcb007109);
    sim_scenario_free(sc);
}

/* ---- errors: file, line, field, what was expected ------------------------------------- */

static void bad_duration_names_file_line_and_field(void **state)
{
    (void)state;
    expect_edit_error("    listen: true\n", "    listen: true\n    timewait: abc\n",
                      ":18: hosts[1].timewait: expected a duration like 60s, 500ms, 2m or "
                      "1.5s, got \"abc\"");
    expect_edit_error("duration: 30s", "duration: 0s",
                      ":2: duration: expected a duration from 0.001s to 31536000s, got \"0s\"");
}

static void unknown_fields_are_errors_listing_valid_ones(void **state)
{
    (void)state;
    expect_edit_error("    delay: 5ms", "    dealy: 5ms",
                      ":7: networks[1]: unknown field \"dealy\" (valid: name, delay, jitter, "
                      "loss, mtu; see docs/scenarios.md)");
    expect_edit_error("seed: 7", "sed: 7",
                      ":3: scenario: unknown field \"sed\" (valid: description, duration, seed, "
                      "networks, hosts, nats, apps, captures, expect; see docs/scenarios.md)");
}

static void missing_and_duplicate_are_errors(void **state)
{
    (void)state;
    expect_edit_error("    port: 80\n", "", ":24: apps[0]: missing required field \"port\"");
    expect_edit_error("  - name: server\n    net: wan", "  - name: pc\n    net: wan",
                      ":13: hosts[1].name: duplicate name \"pc\" (also hosts[0])");
    expect_edit_error("seed: 7\n", "seed: 7\nseed: 8\n", ":4: yaml: duplicate key");
}

static void dangling_references_are_errors(void **state)
{
    (void)state;
    expect_edit_error("    net: wan\n    addr: 192", "    net: dmz\n    addr: 192",
                      ":14: hosts[1].net: unknown network \"dmz\" (networks: lan, wan)");
    expect_edit_error("    client: pc", "    client: laptop",
                      ":25: apps[0].client: unknown host \"laptop\" (hosts: pc, server)");
    expect_edit_error("    host: server", "    host: router",
                      ":31: captures[0].host: unknown host \"router\" (hosts: pc, server)");
    expect_edit_error("    listen: true\n", "",
                      ":25: apps[0].server: host \"server\" does not listen (give it listen: "
                      "true)");
}

static void ranges_are_checked(void **state)
{
    (void)state;
    expect_edit_error("    count: 3", "    count: 0",
                      ":10: hosts[0].count: expected an integer from 1 to 65536, got \"0\"");
    expect_edit_error("    delay: 5ms", "    loss: 1.5",
                      ":7: networks[1].loss: expected a probability from 0 to 1 (or 0% to "
                      "100%), got \"1.5\"");
    expect_edit_error("    listen: true\n",
                      "    listen: true\n    port_lo: 6000\n    port_hi: 5000\n",
                      ":18: hosts[1].port_lo: port_lo 6000 is above port_hi 5000");
    expect_edit_error("    addr: 192.0.2.10", "    addr: 10.0.0.12",
                      ":15: hosts[1].addr: address 10.0.0.12 is already used by hosts[0] (pc)");
    expect_edit_error("    addrs: [203.0.113.5]", "    addrs: [203.0.113.5, 203.0.113]",
                      ":22: nats[0].addrs: expected an IPv4 address like 192.0.2.10, got "
                      "\"203.0.113\"");
    expect_edit_error("    os: windows-2003", "    os: windows-98",
                      ":16: hosts[1].os: expected an OS profile (linux, linux-4.9, "
                      "windows-2003, windows, freebsd, macos), got \"windows-98\"");
    expect_edit_error("[timewait-reuse]", "[timewait-reuse, tw-reuse]",
                      ":32: expect[1]: expected a finding id (see docs/findings.md), got "
                      "\"tw-reuse\"");
}

static void wrong_shapes_and_empty_values_are_errors(void **state)
{
    (void)state;
    expect_edit_error("    delay: 5ms", "    delay:",
                      ":7: networks[1].delay: expected a value, got nothing");
    expect_edit_error("    rate: 2/s", "    rate: [2]",
                      ":28: apps[0].rate: expected a value, got a list");
    expect_error("- a\n", ":1: scenario: expected a mapping (description:, duration:, "
                 "networks:, hosts:, ...) at the top");
    expect_error("a: [\n", ":2: yaml: flow sequence without a closing bracket");
    expect_error("", ": no YAML document (expected a scenario: description:, duration:, "
                 "networks:, hosts:, ...)");
    char *bad = edited("seed: 7", "seed: \xff" "7");
    expect_error(bad, ":3: text: byte 0xff is not UTF-8 text");
    free(bad);
    char *two = edited("seed: 7\n", "seed: 7\n---\nseed: 8\n");
    expect_error(two, ":5: yaml: a second document; a scenario file holds one (remove the "
                 "\"---\")");
    free(two);
}

static void missing_file_is_an_error(void **state)
{
    (void)state;
    char err[256];
    assert_null(sim_scenario_load("/nonexistent/x.yaml", err, sizeof err));
    assert_string_equal(err, "/nonexistent/x.yaml: No such file or directory");
}

/* ---- --set ------------------------------------------------------------------------ */

static void set_changes_exactly_one_field(void **state)
{
    (void)state;
    sim_scenario *sc = load_text(base_yaml);
    char err[512];
    sim_host before[2];
    memcpy(before, sc->hosts, sizeof before);
    assert_int_equal(sim_scenario_set(sc, "host.server.timewait=30s", err, sizeof err), 0);
    assert_int_equal(sc->hosts[1].os.timewait, S(30));
    before[1].os.timewait = S(30);
    assert_memory_equal(before, sc->hosts, sizeof before);

    sim_nat nat = sc->nats[0];
    assert_int_equal(sim_scenario_set(sc, "nat.gw.hold_timewait=2m", err, sizeof err), 0);
    nat.hold_timewait = 2 * 60 * SIM_NS_PER_S;
    assert_memory_equal(&nat, &sc->nats[0], sizeof nat);
    assert_int_equal(sim_scenario_set(sc, "nat.gw.evict_timewait=true", err, sizeof err), 0);
    assert_int_equal(sim_scenario_set(sc, "nat.gw.rst_on_expired=yes", err, sizeof err), 0);
    nat.evict_timewait = true;
    nat.rst_on_expired = true;
    assert_memory_equal(&nat, &sc->nats[0], sizeof nat);

    assert_int_equal(sim_scenario_set(sc, "nat.gw.addrs=203.0.113.5, 203.0.113.6", err,
                                      sizeof err), 0);
    assert_int_equal(sc->nats[0].n_addrs, 2);
    assert_int_equal(sc->nats[0].addrs[1], 0xcb007106);

    assert_int_equal(sim_scenario_set(sc, "duration=90", err, sizeof err), 0);
    assert_int_equal(sc->duration, S(90));
    assert_int_equal(sim_scenario_set(sc, "seed=12345", err, sizeof err), 0);
    assert_int_equal(sc->seed, 12345);
    assert_int_equal(sim_scenario_set(sc, "app.web.rst_close=true", err, sizeof err), 0);
    assert_true(sc->apps[0].rst_close);
    assert_int_equal(sim_scenario_set(sc, "net.wan.loss=1%", err, sizeof err), 0);
    assert_true(sc->nets[1].loss == 0.01);
    assert_int_equal(sim_scenario_check(sc, err, sizeof err), 0);
    sim_scenario_free(sc);
}

static void set_os_replaces_the_profile(void **state)
{
    (void)state;
    sim_scenario *sc = load_text(base_yaml);
    char err[512];
    assert_int_equal(sim_scenario_set(sc, "host.server.os=linux", err, sizeof err), 0);
    assert_memory_equal(&sc->hosts[1].os, sim_os_lookup("linux"), sizeof(sim_os));
    sim_scenario_free(sc);
}

static void set_rejects_and_leaves_the_scenario_unchanged(void **state)
{
    (void)state;
    sim_scenario *sc = load_text(base_yaml);
    char err[1024];
    sim_host hosts[2];
    sim_nat nat = sc->nats[0];
    memcpy(hosts, sc->hosts, sizeof hosts);
    sim_ns dur = sc->duration;

    assert_int_equal(sim_scenario_set(sc, "host.server.timewiat=30s", err, sizeof err), -1);
    assert_string_equal(err, "host.server.timewiat: unknown field (valid: net, addr, count, os, "
                        "listen, clock_skew, timewait, fin_timeout, tw_syn, rfc1337, "
                        "tw_ack_ratelimit, tw_reuse, tw_reuse_delay, tw_recycle, timestamps, "
                        "echo_timestamps, ts_offset, ts_hz, isn, syn_retries, connect_timeout, "
                        "fast_syn_resend, synack_retries, port_lo, port_hi, port_alloc, ttl, "
                        "mss, wscale, syn_window, syn_layout, ipid_global)");
    assert_int_equal(sim_scenario_set(sc, "host.srv.timewait=30s", err, sizeof err), -1);
    assert_string_equal(err, "host.srv.timewait: no host named \"srv\" (pc, server)");
    assert_int_equal(sim_scenario_set(sc, "host.server.timewait=soon", err, sizeof err), -1);
    assert_string_equal(err, "host.server.timewait: expected a duration like 60s, 500ms, 2m "
                        "or 1.5s, got \"soon\"");
    assert_int_equal(sim_scenario_set(sc, "router.gw.ports=random", err, sizeof err), -1);
    assert_string_equal(err, "router.gw.ports: expected duration, seed, or KIND.NAME.FIELD with KIND "
                        "one of host, nat, app, net, capture");
    assert_int_equal(sim_scenario_set(sc, "host.server.name=x", err, sizeof err), -1);
    assert_int_equal(sim_scenario_set(sc, "nat.gw.ports=randomly", err, sizeof err), -1);
    assert_string_equal(err, "nat.gw.ports: expected one of preserve, sequential, random, "
                        "got \"randomly\"");
    assert_int_equal(sim_scenario_set(sc, "nat.gw.addrs=203.0.113.5,bad", err, sizeof err), -1);
    assert_int_equal(sim_scenario_set(sc, "duration=-5s", err, sizeof err), -1);
    assert_int_equal(sim_scenario_set(sc, "timewait", err, sizeof err), -1);
    assert_string_equal(err, "timewait: expected KEY=VALUE like host.server.timewait=30s");

    assert_memory_equal(hosts, sc->hosts, sizeof hosts);
    assert_memory_equal(&nat, &sc->nats[0], sizeof nat);
    assert_int_equal(sc->duration, dur);
    sim_scenario_free(sc);
}

static void check_after_set_finds_dangling_references(void **state)
{
    (void)state;
    sim_scenario *sc = load_text(base_yaml);
    char err[512];
    assert_int_equal(sim_scenario_set(sc, "app.web.server=pc", err, sizeof err), 0);
    assert_int_equal(sim_scenario_check(sc, err, sizeof err), -1);
    assert_non_null(strstr(err, ": apps[0].server: host \"pc\" does not listen"));
    sim_scenario_free(sc);
}

/* ---- duration, rate and size syntax -------------------------------------------------- */

static void duration_syntax(void **state)
{
    (void)state;
    sim_scenario *sc = load_text(base_yaml);
    char err[512];
    static const struct {
        const char *text;
        sim_ns ns;
    } good[] = {
        { "30s", S(30) }, { "500ms", MS(500) }, { "2m", S(120) }, { "1.5s", MS(1500) },
        { "90", S(90) }, { "0.25", MS(250) }, { "250us", 250000 }, { "1h", S(3600) },
        { "3min", S(180) }, { "1000000ns", MS(1) }, { "+2s", S(2) },
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        char a[64];
        snprintf(a, sizeof a, "host.server.fin_timeout=%s", good[i].text);
        assert_int_equal(sim_scenario_set(sc, a, err, sizeof err), 0);
        assert_int_equal(sc->hosts[1].os.fin_timeout, good[i].ns);
    }
    static const char *const bad[] = { "", "s", "abc", "-1s", "1.5x", "1e3s", "1 s", "1.s",
                                       "5d", "0x10" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char a[64];
        snprintf(a, sizeof a, "host.server.fin_timeout=%s", bad[i]);
        if (sim_scenario_set(sc, a, err, sizeof err) != -1)
            fail_msg("accepted %s", a);
    }
    assert_int_equal(sim_scenario_set(sc, "host.server.clock_skew=-1.5s", err, sizeof err), 0);
    assert_int_equal(sc->hosts[1].clock_skew, -MS(1500));
    sim_scenario_free(sc);
}

static void rate_and_size_syntax(void **state)
{
    (void)state;
    sim_scenario *sc = load_text(base_yaml);
    char err[512];
    assert_int_equal(sim_scenario_set(sc, "app.web.rate=600/m", err, sizeof err), 0);
    assert_true(sc->apps[0].rate > 9.999999 && sc->apps[0].rate < 10.000001);
    assert_int_equal(sim_scenario_set(sc, "app.web.rate=0.5", err, sizeof err), 0);
    assert_true(sc->apps[0].rate == 0.5);
    assert_int_equal(sim_scenario_set(sc, "app.web.rate=fast", err, sizeof err), -1);
    assert_string_equal(err, "app.web.rate: expected a rate per second like 20, 20/s or 600/m, "
                        "got \"fast\"");
    assert_int_equal(sim_scenario_set(sc, "app.web.response_bytes=64k", err, sizeof err), 0);
    assert_int_equal(sc->apps[0].response_bytes, 64000);
    assert_int_equal(sim_scenario_set(sc, "app.web.response_bytes=4KiB", err, sizeof err), 0);
    assert_int_equal(sc->apps[0].response_bytes, 4096);
    assert_int_equal(sim_scenario_set(sc, "app.web.response_bytes=1.5", err, sizeof err), -1);
    sim_scenario_free(sc);
}

/* ---- OS profiles -------------------------------------------------------------------- */

static void assert_schedule(const sim_os *o, int n, const int *secs, int fail_s)
{
    assert_int_equal(o->n_syn_retries, n);
    for (int i = 0; i < n; i++)
        assert_int_equal(o->syn_retry_at[i], S(secs[i]));
    assert_int_equal(o->connect_timeout, S(fail_s));
}

static void profiles_have_the_documented_values(void **state)
{
    (void)state;
    size_t n = 0;
    const sim_os *all = sim_os_all(&n);
    assert_int_equal(n, 6);
    for (size_t i = 0; i < n; i++) {
        assert_ptr_equal(sim_os_lookup(all[i].name), &all[i]);
        assert_true(all[i].source[0] != '\0');
        assert_true(all[i].port_lo <= all[i].port_hi);
    }
    assert_null(sim_os_lookup("linux-2.0"));
    assert_null(sim_os_lookup(NULL));

    /* tcp-behaviour.md 3.1, 3.3, 3.7, 3.9 */
    const sim_os *l = sim_os_lookup("linux");
    static const int lin[] = { 1, 2, 3, 4, 5, 7, 11, 19, 35, 67 };
    assert_schedule(l, 10, lin, 131);
    assert_int_equal(l->timewait, S(60));
    assert_int_equal(l->tw_syn, SIM_TW_SYN_LINUX);
    assert_false(l->rfc1337);
    assert_int_equal(l->tw_ack_ratelimit, MS(500));
    assert_int_equal(l->tw_reuse, 2);
    assert_int_equal(l->tw_reuse_delay, S(1));
    assert_false(l->tw_recycle);
    assert_true(l->fast_syn_resend);
    assert_int_equal(l->ts_offset, SIM_TSOFF_PER_HOST);
    assert_int_equal(l->port_lo, 32768);
    assert_int_equal(l->port_hi, 60999);
    assert_int_equal(l->ttl, 64);

    /* 3.9, 3.10 */
    const sim_os *l49 = sim_os_lookup("linux-4.9");
    static const int old[] = { 1, 3, 7, 15, 31, 63 };
    assert_schedule(l49, 6, old, 127);
    assert_true(l49->tw_recycle);
    assert_int_equal(l49->ts_offset, SIM_TSOFF_NONE);
    assert_false(l49->fast_syn_resend);

    /* 5 */
    const sim_os *w3 = sim_os_lookup("windows-2003");
    static const int win[] = { 3, 9 };
    assert_schedule(w3, 2, win, 21);
    assert_int_equal(w3->timewait, S(240));
    assert_int_equal(w3->tw_syn, SIM_TW_SYN_IGNORE);
    assert_false(w3->timestamps);
    assert_int_equal(w3->port_lo, 1025);
    assert_int_equal(w3->port_hi, 5000);
    assert_int_equal(w3->ttl, 128);
    const sim_os *w = sim_os_lookup("windows");
    assert_int_equal(w->timewait, S(120));
    assert_int_equal(w->port_lo, 49152);
    assert_int_equal(w->port_hi, 65535);
    assert_true(w->echo_timestamps);

    /* 6.1, 6.2 */
    const sim_os *fb = sim_os_lookup("freebsd");
    assert_int_equal(fb->timewait, S(60));
    assert_int_equal(fb->tw_syn, SIM_TW_SYN_FREEBSD);
    assert_true(fb->rfc1337);
    assert_int_equal(fb->port_lo, 10000);
    assert_int_equal(fb->port_alloc, SIM_PORTS_RANDOM);
    assert_int_equal(fb->connect_timeout, S(75));
    const sim_os *mac = sim_os_lookup("macos");
    assert_int_equal(mac->timewait, S(30));
    assert_int_equal(mac->tw_syn, SIM_TW_SYN_MACOS);
    assert_int_equal(mac->port_alloc, SIM_PORTS_SEQUENTIAL);
    assert_int_equal(mac->syn_layout, SIM_SYN_MACOS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_shipped_scenario_loads_and_checks),
        cmocka_unit_test(seed000_models_the_report),
        cmocka_unit_test(shipped_expectations_match_the_seeds),
        cmocka_unit_test(base_scenario_reads_every_section),
        cmocka_unit_test(os_applies_before_overrides_wherever_it_stands),
        cmocka_unit_test(lists_take_sequences_or_one_value),
        cmocka_unit_test(bad_duration_names_file_line_and_field),
        cmocka_unit_test(unknown_fields_are_errors_listing_valid_ones),
        cmocka_unit_test(missing_and_duplicate_are_errors),
        cmocka_unit_test(dangling_references_are_errors),
        cmocka_unit_test(ranges_are_checked),
        cmocka_unit_test(wrong_shapes_and_empty_values_are_errors),
        cmocka_unit_test(missing_file_is_an_error),
        cmocka_unit_test(set_changes_exactly_one_field),
        cmocka_unit_test(set_os_replaces_the_profile),
        cmocka_unit_test(set_rejects_and_leaves_the_scenario_unchanged),
        cmocka_unit_test(check_after_set_finds_dangling_references),
        cmocka_unit_test(duration_syntax),
        cmocka_unit_test(rate_and_size_syntax),
        cmocka_unit_test(profiles_have_the_documented_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
