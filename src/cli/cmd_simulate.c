/* cmd_simulate.c - `tcpdoctor simulate`: run a scenario, write captures, summarise the outcome. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "tcpdoctor/report.h"
#include "tcpdoctor/sim.h"

static void simulate_usage(FILE *out)
{
    fputs("usage: tcpdoctor simulate SCENARIO [options]\n"
          "\n"
          "Run a scenario (a YAML file: hosts, NATs, networks, applications) in a\n"
          "deterministic discrete-event simulation and summarise what happened:\n"
          "attempts, successes, failures by cause, connect latency, TIME_WAIT and NAT\n"
          "peaks.  Captures can be written at any named capture point.\n"
          "\n"
          "options:\n"
          "  --seed N              random seed (default: the scenario's)\n"
          "  --duration T          simulated time, like 300s or 10m (default: the scenario's)\n"
          "  -w FILE               write a pcap of the run; repeatable\n"
          "  --at POINT            where the -w before it captures (a capture point of\n"
          "                        the scenario); without --at, the server's interface\n"
          "  --set KEY=VALUE       override one field, like host.server.timewait=30s;\n"
          "                        repeatable (same names and syntax as the file)\n"
          "  --compare             run as written and with the --set overrides, and show\n"
          "                        both side by side with the differences\n"
          "  --format text|json    summary format (default: text)\n"
          "  --list-profiles       the built-in OS profiles and their values\n"
          "  -q, --quiet           no progress line\n"
          "  -h, --help\n"
          "\n"
          "Exit status: 0 the run completed, 2 scenario or usage error.\n"
          "Scenario format, fields and JSON summary: docs/scenarios.md.\n", out);
}

/* ---- progress line ------------------------------------------------------------------ */

typedef struct progress {
    struct timespec start;
    double last;                    /* wall seconds at the last refresh */
    bool shown;
    const char *label;
} progress;

static double since(const struct timespec *t0)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - t0->tv_sec) + (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

/* Shown on a terminal once a run has taken more than a second; refreshed in place. */
static void on_progress(void *ctx, const sim_progress *p)
{
    progress *pr = ctx;
    double now = since(&pr->start);
    if (now < 1.0 || (pr->shown && now - pr->last < 0.1))
        return;
    pr->shown = true;
    pr->last = now;
    double pct = p->end > 0 ? 100.0 * (double)p->now / (double)p->end : 0;
    fprintf(stderr, "\rtcpdoctor: simulate%s: %5.1f%%  t=%.1fs of %.0fs  %llu events  "
            "%llu attempts\033[K", pr->label, pct, (double)p->now / SIM_NS_PER_S,
            (double)p->end / SIM_NS_PER_S, (unsigned long long)p->events,
            (unsigned long long)p->attempts);
    fflush(stderr);
}

static void progress_end(progress *pr)
{
    if (pr->shown) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
    }
    pr->shown = false;
}

/* ---- one run ------------------------------------------------------------------------ */

typedef struct run_result {
    sim_summary sum;
    double wall_s;
    bool ok;
} run_result;

static int run_once(const sim_scenario *sc, const sim_capture *caps, size_t ncaps, bool show,
                    const char *label, run_result *r)
{
    char err[512];
    progress pr = { .label = label };
    clock_gettime(CLOCK_MONOTONIC, &pr.start);
    sim_run_opts o = {
        .seed = sc->seed,
        .duration = sc->duration,
        .captures = caps,
        .n_captures = ncaps,
        .progress = show ? on_progress : NULL,
        .progress_ctx = &pr,
    };
    memset(&r->sum, 0, sizeof r->sum);
    int rc = sim_run(sc, &o, &r->sum, err, sizeof err);
    progress_end(&pr);
    r->wall_s = since(&pr.start);
    if (rc != 0) {
        fprintf(stderr, "tcpdoctor: simulate: %s\n", err);
        return -1;
    }
    r->ok = true;
    return 0;
}

/* ---- text output -------------------------------------------------------------------- */

static double pct(uint64_t part, uint64_t whole)
{
    return whole ? 100.0 * (double)part / (double)whole : 0.0;
}

/* "812 us", "20.4 ms", "3.02 s" */
static void fmt_dur(char *b, size_t n, sim_ns t)
{
    if (t < 1000 * 1000)
        snprintf(b, n, "%.0f us", (double)t / 1e3);
    else if (t < SIM_NS_PER_S)
        snprintf(b, n, "%.1f ms", (double)t / 1e6);
    else
        snprintf(b, n, "%.2f s", (double)t / 1e9);
}

static void print_text(FILE *out, const sim_scenario *sc, const run_result *r,
                       const sim_capture *caps, size_t ncaps)
{
    const sim_summary *s = &r->sum;
    char a[32], b[32], c[32], d[32];
    fprintf(out, "scenario    %s\n", sc->path);
    fprintf(out, "run         seed %llu, %.0f s simulated, %llu events, %.2f s wall time\n",
            (unsigned long long)s->seed, (double)s->duration / SIM_NS_PER_S,
            (unsigned long long)s->events, r->wall_s);
    fprintf(out, "attempts    %llu\n", (unsigned long long)s->attempts);
    fprintf(out, "successes   %llu (%.1f%%)\n", (unsigned long long)s->successes,
            pct(s->successes, s->attempts));
    fprintf(out, "failures    %llu (%.1f%%)", (unsigned long long)s->failures,
            pct(s->failures, s->attempts));
    for (int f = 0; f < SIM_FAIL__COUNT; f++)
        fprintf(out, "%s %s %llu", f ? "," : ":", sim_fail_name((enum sim_fail)f),
                (unsigned long long)s->fail_by[f]);
    fputc('\n', out);
    fprintf(out, "retried     %llu successes needed more than one SYN\n",
            (unsigned long long)s->retried);
    fmt_dur(a, sizeof a, s->latency_p50);
    fmt_dur(b, sizeof b, s->latency_p90);
    fmt_dur(c, sizeof c, s->latency_p99);
    fmt_dur(d, sizeof d, s->latency_max);
    fprintf(out, "connect     p50 %s, p90 %s, p99 %s, max %s\n", a, b, c, d);
    for (size_t i = 0; i < s->n_hosts; i++)
        fprintf(out, "%-11s %s: peak %llu at %.1f s\n", i == 0 ? "TIME_WAIT" : "",
                s->hosts[i].name, (unsigned long long)s->hosts[i].timewait_peak,
                (double)s->hosts[i].timewait_peak_at / SIM_NS_PER_S);
    for (size_t i = 0; i < s->n_nats; i++) {
        const sim_nat_peak *n = &s->nats[i];
        fprintf(out, "%-11s %s: peak %llu of %llu ports (%.1f%%), %llu SYNs dropped (no "
                "free port), %llu fragments dropped\n", i == 0 ? "NAT" : "", n->name,
                (unsigned long long)n->ports_peak, (unsigned long long)n->ports_capacity,
                pct(n->ports_peak, n->ports_capacity), (unsigned long long)n->syn_dropped,
                (unsigned long long)n->frag_dropped);
    }
    fprintf(out, "packets     %llu sent, %llu lost on links\n", (unsigned long long)s->packets,
            (unsigned long long)s->packets_lost);
    for (size_t i = 0; i < ncaps && i < s->n_captured; i++)
        fprintf(out, "%-11s %s (at %s): %llu packets\n", i == 0 ? "captures" : "",
                caps[i].path, caps[i].point ? caps[i].point : "the server",
                (unsigned long long)s->captured[i]);
}

/* One row of the side-by-side table; the change column only when they differ. */
static void cmp_row(FILE *out, int w, const char *what, uint64_t x, uint64_t y)
{
    fprintf(out, "%-*s %14llu %16llu", w, what, (unsigned long long)x, (unsigned long long)y);
    if (x != y)
        fprintf(out, "   %+lld", (long long)y - (long long)x);
    fputc('\n', out);
}

static void cmp_dur_row(FILE *out, int w, const char *what, sim_ns x, sim_ns y)
{
    char a[32], b[32], d[32];
    fmt_dur(a, sizeof a, x);
    fmt_dur(b, sizeof b, y);
    fmt_dur(d, sizeof d, y > x ? y - x : x - y);
    if (x != y)
        fprintf(out, "%-*s %14s %16s   %c%s\n", w, what, a, b, y > x ? '+' : '-', d);
    else
        fprintf(out, "%-*s %14s %16s\n", w, what, a, b);
}

static const sim_host_peak *find_host_peak(const sim_summary *s, const char *name)
{
    for (size_t i = 0; i < s->n_hosts; i++)
        if (strcmp(s->hosts[i].name, name) == 0)
            return &s->hosts[i];
    return NULL;
}

static void print_compare_text(FILE *out, const sim_scenario *sc, const cli_args *args,
                               int o_set, const run_result *ra, const run_result *rb)
{
    const sim_summary *x = &ra->sum, *y = &rb->sum;
    char label[64];
    fprintf(out, "scenario    %s (seed %llu, %.0f s simulated)\n", sc->path,
            (unsigned long long)x->seed, (double)x->duration / SIM_NS_PER_S);
    fputs("overrides  ", out);
    for (int i = 0; i < args->nocc; i++)
        if (args->occ[i].opt == o_set)
            fprintf(out, " %s", args->occ[i].value);
    fputs("\n\n", out);
    /* the label column fits the longest host and NAT names */
    int w = 26;
    for (int pass = 0; pass < 2; pass++) {
        const sim_summary *s = pass == 0 ? x : y;
        for (size_t i = 0; i < s->n_hosts; i++)
            if ((int)strlen(s->hosts[i].name) + 15 > w)
                w = (int)strlen(s->hosts[i].name) + 15;
        for (size_t i = 0; i < s->n_nats; i++)
            if ((int)strlen(s->nats[i].name) + 18 > w)
                w = (int)strlen(s->nats[i].name) + 18;
    }
    fprintf(out, "%-*s %14s %16s   %s\n", w, "", "as written", "with overrides", "change");
    cmp_row(out, w, "attempts", x->attempts, y->attempts);
    cmp_row(out, w, "successes", x->successes, y->successes);
    cmp_row(out, w, "failures", x->failures, y->failures);
    for (int f = 0; f < SIM_FAIL__COUNT; f++) {
        snprintf(label, sizeof label, "  %s", sim_fail_name((enum sim_fail)f));
        cmp_row(out, w, label, x->fail_by[f], y->fail_by[f]);
    }
    cmp_row(out, w, "retried", x->retried, y->retried);
    cmp_dur_row(out, w, "connect p50", x->latency_p50, y->latency_p50);
    cmp_dur_row(out, w, "connect p90", x->latency_p90, y->latency_p90);
    cmp_dur_row(out, w, "connect p99", x->latency_p99, y->latency_p99);
    cmp_dur_row(out, w, "connect max", x->latency_max, y->latency_max);
    /* hosts of either run, in the first run's order then any new ones */
    for (int pass = 0; pass < 2; pass++) {
        const sim_summary *s = pass == 0 ? x : y;
        for (size_t i = 0; i < s->n_hosts; i++) {
            if (pass == 1 && find_host_peak(x, s->hosts[i].name) != NULL)
                continue;
            const sim_host_peak *hx = find_host_peak(x, s->hosts[i].name);
            const sim_host_peak *hy = find_host_peak(y, s->hosts[i].name);
            snprintf(label, sizeof label, "TIME_WAIT peak %s", s->hosts[i].name);
            cmp_row(out, w, label, hx ? hx->timewait_peak : 0, hy ? hy->timewait_peak : 0);
        }
    }
    for (size_t i = 0; i < x->n_nats && i < y->n_nats; i++) {
        snprintf(label, sizeof label, "NAT %s peak ports", x->nats[i].name);
        cmp_row(out, w, label, x->nats[i].ports_peak, y->nats[i].ports_peak);
        snprintf(label, sizeof label, "NAT %s SYNs dropped", x->nats[i].name);
        cmp_row(out, w, label, x->nats[i].syn_dropped, y->nats[i].syn_dropped);
        snprintf(label, sizeof label, "NAT %s frags dropped", x->nats[i].name);
        cmp_row(out, w, label, x->nats[i].frag_dropped, y->nats[i].frag_dropped);
    }
    cmp_row(out, w, "packets", x->packets, y->packets);
}

/* ---- JSON output (schema: docs/scenarios.md) ------------------------------------------ */

static void json_secs(FILE *out, sim_ns t)
{
    fprintf(out, "%.9g", (double)t / SIM_NS_PER_S);
}

static void print_json_run(FILE *out, const sim_scenario *sc, const run_result *r,
                           const sim_capture *caps, size_t ncaps)
{
    const sim_summary *s = &r->sum;
    fputs("{\"scenario\":", out);
    rep_json_string(out, sc->path);
    fprintf(out, ",\"seed\":%llu,\"duration_s\":", (unsigned long long)s->seed);
    json_secs(out, s->duration);
    fprintf(out, ",\"events\":%llu,\"attempts\":%llu,\"successes\":%llu,\"failures\":%llu,"
            "\"failures_by\":{", (unsigned long long)s->events,
            (unsigned long long)s->attempts, (unsigned long long)s->successes,
            (unsigned long long)s->failures);
    for (int f = 0; f < SIM_FAIL__COUNT; f++)
        fprintf(out, "%s\"%s\":%llu", f ? "," : "", sim_fail_name((enum sim_fail)f),
                (unsigned long long)s->fail_by[f]);
    fprintf(out, "},\"retried\":%llu,\"connect_latency_s\":{\"p50\":",
            (unsigned long long)s->retried);
    json_secs(out, s->latency_p50);
    fputs(",\"p90\":", out);
    json_secs(out, s->latency_p90);
    fputs(",\"p99\":", out);
    json_secs(out, s->latency_p99);
    fputs(",\"max\":", out);
    json_secs(out, s->latency_max);
    fputs("},\"timewait_peak\":[", out);
    for (size_t i = 0; i < s->n_hosts; i++) {
        fputs(i ? ",{\"host\":" : "{\"host\":", out);
        rep_json_string(out, s->hosts[i].name);
        fprintf(out, ",\"peak\":%llu,\"at_s\":", (unsigned long long)s->hosts[i].timewait_peak);
        json_secs(out, s->hosts[i].timewait_peak_at);
        fputc('}', out);
    }
    fputs("],\"nats\":[", out);
    for (size_t i = 0; i < s->n_nats; i++) {
        const sim_nat_peak *n = &s->nats[i];
        fputs(i ? ",{\"name\":" : "{\"name\":", out);
        rep_json_string(out, n->name);
        fprintf(out, ",\"ports_peak\":%llu,\"ports_capacity\":%llu,\"syn_dropped\":%llu,"
                "\"frag_dropped\":%llu}", (unsigned long long)n->ports_peak,
                (unsigned long long)n->ports_capacity, (unsigned long long)n->syn_dropped,
                (unsigned long long)n->frag_dropped);
    }
    fprintf(out, "],\"packets\":%llu,\"packets_lost\":%llu,\"captures\":[",
            (unsigned long long)s->packets, (unsigned long long)s->packets_lost);
    for (size_t i = 0; i < ncaps && i < s->n_captured; i++) {
        fputs(i ? ",{\"path\":" : "{\"path\":", out);
        rep_json_string(out, caps[i].path);
        fputs(",\"point\":", out);
        if (caps[i].point)
            rep_json_string(out, caps[i].point);
        else
            fputs("null", out);
        fprintf(out, ",\"packets\":%llu}", (unsigned long long)s->captured[i]);
    }
    fputs("]}", out);
}

static void print_compare_json(FILE *out, const sim_scenario *sc, const cli_args *args,
                               int o_set, const run_result *ra, const run_result *rb)
{
    const sim_summary *x = &ra->sum, *y = &rb->sum;
    fputs("{\"overrides\":[", out);
    bool first = true;
    for (int i = 0; i < args->nocc; i++) {
        if (args->occ[i].opt != o_set)
            continue;
        fputs(first ? "" : ",", out);
        rep_json_string(out, args->occ[i].value);
        first = false;
    }
    fputs("],\"as_written\":", out);
    print_json_run(out, sc, ra, NULL, 0);
    fputs(",\"with_overrides\":", out);
    print_json_run(out, sc, rb, NULL, 0);
    fprintf(out, ",\"difference\":{\"attempts\":%lld,\"successes\":%lld,\"failures\":%lld,"
            "\"failures_by\":{", (long long)y->attempts - (long long)x->attempts,
            (long long)y->successes - (long long)x->successes,
            (long long)y->failures - (long long)x->failures);
    for (int f = 0; f < SIM_FAIL__COUNT; f++)
        fprintf(out, "%s\"%s\":%lld", f ? "," : "", sim_fail_name((enum sim_fail)f),
                (long long)y->fail_by[f] - (long long)x->fail_by[f]);
    fprintf(out, "},\"retried\":%lld}}\n", (long long)y->retried - (long long)x->retried);
}

/* ---- profiles ------------------------------------------------------------------------ */

static void print_profiles(FILE *out)
{
    static const char *const tw_syn[] = { "linux", "ignore", "freebsd", "macos" };
    static const char *const tsoff[] = { "none", "per-host", "per-tuple" };
    static const char *const alloc[] = { "sequential", "random", "linux" };
    size_t n;
    const sim_os *all = sim_os_all(&n);
    fprintf(out, "%-13s %9s %-8s %-8s %-10s %-13s %-11s %-4s %s\n", "profile", "TIME_WAIT",
            "tw_syn", "rfc1337", "timestamps", "ports", "alloc", "ttl", "SYN retries (s), fail");
    for (size_t i = 0; i < n; i++) {
        const sim_os *o = &all[i];
        char ports[16], ts[16];
        snprintf(ports, sizeof ports, "%u-%u", o->port_lo, o->port_hi);
        snprintf(ts, sizeof ts, "%s", o->timestamps ? tsoff[o->ts_offset] : "no");
        fprintf(out, "%-13s %8.0fs %-8s %-8s %-10s %-13s %-11s %-4u ", o->name,
                (double)o->timewait / SIM_NS_PER_S, tw_syn[o->tw_syn],
                o->rfc1337 ? "yes" : "no", ts, ports, alloc[o->port_alloc], o->ttl);
        for (int r = 0; r < o->n_syn_retries; r++)
            fprintf(out, "%s%g", r ? "," : "", (double)o->syn_retry_at[r] / SIM_NS_PER_S);
        fprintf(out, "; %gs\n", (double)o->connect_timeout / SIM_NS_PER_S);
    }
    fputs("\nsources:\n", out);
    for (size_t i = 0; i < n; i++)
        fprintf(out, "  %-13s %s\n", all[i].name, all[i].source);
    fputs("\nEvery value can be overridden per host; see docs/scenarios.md.\n", out);
}

/* ---- the command ------------------------------------------------------------------------ */

enum { O_HELP, O_QUIET, O_SEED, O_DURATION, O_WRITE, O_AT, O_SET, O_COMPARE, O_FORMAT,
       O_PROFILES };

/* -w FILE [--at POINT] pairs: an --at belongs to the -w just before it, or to
 * the next -w when it comes first.  0, or 2 after a message. */
static int collect_captures(const cli_args *a, const sim_scenario *sc, sim_capture **out,
                            size_t *n)
{
    sim_capture *c = calloc((size_t)a->nocc + 1, sizeof *c);
    const char *pending = NULL;
    bool open_w = false; /* the last -w has no --at yet */
    size_t k = 0;
    if (c == NULL) {
        fprintf(stderr, "tcpdoctor: out of memory\n");
        return 2;
    }
    for (int i = 0; i < a->nocc; i++) {
        if (a->occ[i].opt == O_WRITE) {
            c[k].path = a->occ[i].value;
            c[k].point = pending;
            open_w = pending == NULL;
            pending = NULL;
            k++;
        } else if (a->occ[i].opt == O_AT) {
            if (open_w) {
                c[k - 1].point = a->occ[i].value;
                open_w = false;
            } else if (pending == NULL) {
                pending = a->occ[i].value;
            } else {
                fprintf(stderr, "tcpdoctor: simulate: --at %s: two --at without a -w between "
                        "them\n", a->occ[i].value);
                goto out_usage;
            }
        }
    }
    if (pending != NULL) {
        fprintf(stderr, "tcpdoctor: simulate: --at %s: no -w FILE for it\n", pending);
        goto out_usage;
    }
    for (size_t i = 0; i < k; i++) {
        if (c[i].point == NULL)
            continue;
        size_t p;
        for (p = 0; p < sc->n_points; p++)
            if (strcmp(sc->points[p].name, c[i].point) == 0)
                break;
        if (p == sc->n_points) {
            fprintf(stderr, "tcpdoctor: simulate: --at %s: no such capture point in %s (",
                    c[i].point, sc->path);
            for (p = 0; p < sc->n_points; p++)
                fprintf(stderr, "%s%s", p ? ", " : "", sc->points[p].name);
            fputs(sc->n_points ? ")\n" : "none defined)\n", stderr);
            goto out_usage;
        }
    }
    *out = c;
    *n = k;
    return 0;
out_usage:
    free(c);
    return 2;
}

static int apply_sets(sim_scenario *sc, const cli_args *a)
{
    char err[1024];
    for (int i = 0; i < a->nocc; i++) {
        if (a->occ[i].opt != O_SET)
            continue;
        if (sim_scenario_set(sc, a->occ[i].value, err, sizeof err) != 0) {
            fprintf(stderr, "tcpdoctor: simulate: --set %s\n", err);
            return 2;
        }
    }
    if (sim_scenario_check(sc, err, sizeof err) != 0) {
        fprintf(stderr, "tcpdoctor: simulate: with the --set overrides: %s\n", err);
        return 2;
    }
    return 0;
}

/* --seed and --duration go through the scenario's own parser (same syntax). */
static int apply_run_options(sim_scenario *sc, const cli_args *a)
{
    char set[160], err[512];
    if (a->seen[O_SEED]) {
        snprintf(set, sizeof set, "seed=%s", a->value[O_SEED]);
        if (sim_scenario_set(sc, set, err, sizeof err) != 0) {
            fprintf(stderr, "tcpdoctor: simulate: --%s\n", err);
            return 2;
        }
    }
    if (a->seen[O_DURATION]) {
        snprintf(set, sizeof set, "duration=%s", a->value[O_DURATION]);
        if (sim_scenario_set(sc, set, err, sizeof err) != 0) {
            fprintf(stderr, "tcpdoctor: simulate: --%s\n", err);
            return 2;
        }
    }
    return 0;
}

static int simulate(const cli_args *a, bool json)
{
    char err[1024];
    int status = 2;
    sim_capture *caps = NULL;
    size_t ncaps = 0;
    run_result ra = { 0 }, rb = { 0 };
    sim_scenario *sc = sim_scenario_load(a->pos[0], err, sizeof err);
    sim_scenario *sc2 = NULL;
    if (sc == NULL) {
        fprintf(stderr, "tcpdoctor: %s\n", err);
        return 2;
    }
    if (apply_run_options(sc, a) != 0 || collect_captures(a, sc, &caps, &ncaps) != 0)
        goto out;
    bool show = !a->seen[O_QUIET] && isatty(STDERR_FILENO);
    if (!a->seen[O_COMPARE]) {
        if (apply_sets(sc, a) != 0 || run_once(sc, caps, ncaps, show, "", &ra) != 0)
            goto out;
        if (json) {
            print_json_run(stdout, sc, &ra, caps, ncaps);
            fputc('\n', stdout);
        } else {
            print_text(stdout, sc, &ra, caps, ncaps);
        }
        status = 0;
        goto out;
    }
    /* --compare: the same scenario twice, as written and with the overrides. */
    sc2 = sim_scenario_load(a->pos[0], err, sizeof err);
    if (sc2 == NULL) {
        fprintf(stderr, "tcpdoctor: %s\n", err);
        goto out;
    }
    if (apply_run_options(sc2, a) != 0 || apply_sets(sc2, a) != 0)
        goto out;
    if (run_once(sc, NULL, 0, show, " (as written)", &ra) != 0 ||
        run_once(sc2, NULL, 0, show, " (with overrides)", &rb) != 0)
        goto out;
    if (json)
        print_compare_json(stdout, sc, a, O_SET, &ra, &rb);
    else
        print_compare_text(stdout, sc, a, O_SET, &ra, &rb);
    status = 0;
out:
    if (ra.ok)
        sim_summary_free(&ra.sum);
    if (rb.ok)
        sim_summary_free(&rb.sum);
    if (fflush(stdout) != 0 && status == 0) {
        fprintf(stderr, "tcpdoctor: simulate: standard output: write failed\n");
        status = 2;
    }
    free(caps);
    sim_scenario_free(sc2);
    sim_scenario_free(sc);
    return status;
}

int cmd_simulate(int argc, char **argv)
{
    static const cli_opt opts[] = {
        [O_HELP] = { "--help", "-h", false },
        [O_QUIET] = { "--quiet", "-q", false },
        [O_SEED] = { "--seed", NULL, true },
        [O_DURATION] = { "--duration", NULL, true },
        [O_WRITE] = { "-w", NULL, true },
        [O_AT] = { "--at", NULL, true },
        [O_SET] = { "--set", NULL, true },
        [O_COMPARE] = { "--compare", NULL, false },
        [O_FORMAT] = { "--format", NULL, true },
        [O_PROFILES] = { "--list-profiles", NULL, false },
    };
    static const char *const formats[] = { "text", "json" };
    cli_args a;
    if (cli_parse(argc, argv, "simulate", opts, sizeof opts / sizeof opts[0], &a) != 0)
        return 2;
    int status = 2;
    if (a.seen[O_HELP]) {
        simulate_usage(stdout);
        status = 0;
        goto out;
    }
    if (a.seen[O_PROFILES]) {
        print_profiles(stdout);
        status = 0;
        goto out;
    }
    int fmt = 0;
    if (a.seen[O_FORMAT] &&
        (fmt = cli_choice("simulate", "--format", a.value[O_FORMAT], formats, 2)) < 0)
        goto out;
    if (a.npos != 1) {
        fprintf(stderr, "tcpdoctor: simulate: %s (try tcpdoctor simulate --help)\n",
                a.npos == 0 ? "which scenario? give one SCENARIO file" :
                "one SCENARIO file only");
        goto out;
    }
    if (a.seen[O_COMPARE] && !a.seen[O_SET]) {
        fprintf(stderr, "tcpdoctor: simulate: --compare needs at least one --set KEY=VALUE "
                "to compare against\n");
        goto out;
    }
    if (a.seen[O_COMPARE] && (a.seen[O_WRITE] || a.seen[O_AT])) {
        fprintf(stderr, "tcpdoctor: simulate: -w/--at cannot be combined with --compare (run "
                "once with the overrides to capture)\n");
        goto out;
    }
    status = simulate(&a, fmt == 1);
out:
    cli_args_free(&a);
    return status;
}
