/* timewait_accumulation.c - detector: a host that closes first piles up TIME_WAIT tuples toward one destination near its port budget. */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diagnose/ports_internal.h"

/*
 * How it works.  The side that sends the first FIN keeps the 4-tuple in
 * TIME_WAIT (RFC 9293 3.6); on the client side every such tuple holds a
 * local port toward that destination (tcp-behaviour.md 3.8, 8).  The
 * detector keeps the same records as port-exhaustion (port_pool.c) and, for
 * each (client IP, server IP, server port) whose client closed most
 * connections first, asks pp_pool_estimate() for the same pool estimate
 * port-exhaustion judges: the holds (TIME_WAIT from the client's initial
 * TTL, stacks.c, tcp-behaviour.md 10, or the shortest interval after which
 * it reused a port it had closed first), their sweep, the proven range and
 * the failed or delayed attempts at the plateau.  From it:
 *   - the TIME_WAIT intervals (a close by the client to the end of its
 *     hold), their peak, and the port-time in TIME_WAIT against the
 *     port-time in open connections (the occupancy: a pool held by long
 *     open connections is port-exhaustion's business, not an accumulation
 *     of TIME_WAIT);
 *   - the budget: the range the ports prove (rule (b) of port_pool.c: 256
 *     distinct ports or more, dense, handed out again), else the stack's
 *     default range (stacks.c: Linux 28 232 ports 32768-60999, Windows
 *     16 384 49152-65535) when every port seen lies in it, else the span
 *     seen when it is wider;
 *   - the steady state: close rate x TIME_WAIT (Little's law), extrapolated
 *     only from at least PROJECT_MIN_S of closes.
 * The rule (port_pool.c), with the client closing at least half of its
 * connections first and TIME_WAIT taking at least half of the port-time:
 *   error    rule (a): attempts failed or waited while the client's ports
 *            (a reused pool) stood at their peak, at least 2 of them;
 *   warning  rule (b): the budget is proven (a range of 256 ports or more,
 *            or the stack's default with every port inside it) and 90% of
 *            it was in use at once;
 *   info     ("headroom") the TIME_WAIT peak reaches half the budget, or
 *            the steady state all of it, without harm or a proven range.
 * Below that, nothing: TIME_WAIT is normal, and a few tuples in TIME_WAIT
 * say nothing about the size of the range.
 *
 * Limits: the TIME_WAIT length is guessed; a NAT in front of the clients
 * holds closed mappings for its own time (conntrack 120 s), not a host's
 * TIME_WAIT; a server's own TIME_WAIT costs it no port and is not counted;
 * a widened range on a host is not visible unless its ports show it.
 */

#define TA_CLOSER_SHARE 0.5     /* closed first by the client, of its closed connections */
#define TA_OCCUPANCY    0.5     /* TIME_WAIT share of the port-time */
#define TA_BUDGET_SHARE 0.5     /* peak TIME_WAIT / port budget for headroom */
#define PROJECT_MIN_S   10.0    /* shortest span of closes a rate is extrapolated from */
#define TA_EVIDENCE     6       /* closes listed */

enum ta_budget {
    TA_BUDGET_RANGE,            /* the range the ports prove (rule b) */
    TA_BUDGET_DEFAULT,          /* the stack's default; every port seen is in it */
    TA_BUDGET_SEEN              /* ports seen outside the default: the span seen */
};

/* ---- the study of one group --------------------------------------------------- */

typedef struct ta_study {
    const pp_pool *pl;          /* the shared estimate (port_pool.c) */
    const pp_group *g;
    int64_t  *s, *e;            /* TIME_WAIT intervals */
    uint32_t *of;               /* their records (index in pl->r) */
    size_t   n_tw;
    uint32_t peak;
    int64_t  peak_ts;
    double   tw_ps, open_ps, occupancy;
    double   span, rate, projected;
    uint32_t budget;
    enum ta_budget basis;
    enum diag_severity sev;
} ta_study;

static bool ta_candidate(const pp_group *g)
{
    return g->src_fin >= 2 && g->src_fin >= TA_CLOSER_SHARE * g->closed;
}

static double clip_secs(int64_t from, int64_t to, int64_t horizon)
{
    if (to > horizon)
        to = horizon;
    return to > from ? diag_secs(to - from) : 0.0;
}

/* TIME_WAIT intervals from the pool's holds, their peak, and the port-time. */
static int ta_sweep(ta_study *s, const pp_table *t, const diag_ctx *ctx)
{
    const pp_pool *pl = s->pl;
    size_t m = pl->ok ? pl->ok : 1;
    s->s = malloc(m * sizeof *s->s);
    s->e = malloc(m * sizeof *s->e);
    s->of = malloc(m * sizeof *s->of);
    if (s->s == NULL || s->e == NULL || s->of == NULL)
        return -ENOMEM;
    int64_t horizon = ctx->last_ts;
    for (size_t k = 0; k < pl->ok; k++) {
        const pp_rec *r = &pl->r[pl->of[k]];
        s->open_ps += clip_secs(pl->s[k], pp_open_until(t, r), horizon);
        if (r->kind != PP_SRC_CLOSED)
            continue;
        int64_t e = pl->e[k] > r->end ? pl->e[k] : r->end + 1;
        s->tw_ps += clip_secs(r->end, e, horizon);
        s->s[s->n_tw] = r->end;
        s->e[s->n_tw] = e;
        s->of[s->n_tw++] = pl->of[k];
    }
    pp_sweep sw;
    if (pp_sweep_build(&sw, s->s, s->e, s->n_tw, 0, horizon) != 0)
        return -ENOMEM;
    s->peak = sw.peak;
    s->peak_ts = sw.peak_ts;
    pp_sweep_free(&sw);
    s->occupancy = s->tw_ps + s->open_ps > 0 ? s->tw_ps / (s->tw_ps + s->open_ps) : 0;
    return 0;
}

/* Span and close rate, the steady state, and the budget. */
static void ta_rates(ta_study *s)
{
    const pp_pool *pl = s->pl;
    int64_t first = INT64_MAX, last = INT64_MIN;
    for (size_t i = 0; i < pl->n; i++) {
        const pp_rec *r = &pl->r[i];
        first = r->start < first ? r->start : first;
        if (r->kind == PP_SRC_CLOSED && r->end > last)
            last = r->end;
    }
    s->span = last > first ? diag_secs(last - first) : 0;
    if (s->span >= PROJECT_MIN_S) {
        s->rate = s->g->src_fin / s->span;
        s->projected = s->rate * pl->tw_eff;
    }
    uint32_t def = (uint32_t)(pl->st.port_hi - pl->st.port_lo) + 1;
    if (pl->range_known) {
        s->basis = TA_BUDGET_RANGE;
        s->budget = pl->span;
    } else if (pl->lo >= pl->st.port_lo && pl->hi <= pl->st.port_hi) {
        s->basis = TA_BUDGET_DEFAULT;
        s->budget = def;
    } else {
        s->basis = TA_BUDGET_SEEN;
        s->budget = pl->span > def ? pl->span : def;
    }
}

/* The rule (see the top); false: no finding. */
static bool ta_judge(ta_study *s)
{
    const pp_pool *pl = s->pl;
    if (s->budget == 0 || s->occupancy < TA_OCCUPANCY)
        return false;
    if (pl->ok > pl->ports && pl->sw.peak >= 2 && pl->n_harm >= PP_HARM_MIN &&
        pl->n_harm >= PP_HARM_SHARE * pl->tried)
        s->sev = DIAG_ERROR;
    else if (s->basis != TA_BUDGET_SEEN && pl->sw.peak >= ceil(PP_FULL_SHARE * s->budget))
        s->sev = DIAG_WARNING;
    else if (s->peak >= TA_BUDGET_SHARE * s->budget || s->projected >= s->budget)
        s->sev = DIAG_INFO;
    else
        return false;
    return true;
}

/* ---- reporting --------------------------------------------------------------- */

static void ta_budget_words(const ta_study *s, char *buf, size_t len)
{
    const pp_pool *pl = s->pl;
    if (s->basis == TA_BUDGET_RANGE)
        snprintf(buf, len, "its %u distinct ports toward this destination, dense in %u-%u and "
                 "handed out again, show a range of %u", pl->ports, pl->lo, pl->hi, s->budget);
    else if (s->basis == TA_BUDGET_SEEN)
        snprintf(buf, len, "its ports (%u-%u) reach outside the default range of its stack: at "
                 "least %u are assumed", pl->lo, pl->hi, s->budget);
    else if (pl->st.ittl == 64)
        snprintf(buf, len, "a Linux host has %u per destination by default "
                 "(ip_local_port_range %u-%u)", s->budget, pl->st.port_lo, pl->st.port_hi);
    else if (pl->st.ittl == 128)
        snprintf(buf, len, "a Windows host has %u per destination by default (%u-%u; "
                 "Windows XP/2003 only 3 976, 1025-5000)", s->budget, pl->st.port_lo,
                 pl->st.port_hi);
    else
        snprintf(buf, len, "%u is assumed (the IANA dynamic range 49152-65535)", s->budget);
}

static const char *ta_rule_words(enum diag_severity sev)
{
    switch (sev) {
    case DIAG_ERROR:
        return "it is an error: connection attempts failed or waited while the client's ports "
               "toward this destination stood at their peak, the same count each time";
    case DIAG_WARNING:
        return "it is a warning: the budget is proven (a range of 256 ports or more, or the "
               "stack's default with every port inside it) and 90% of it was in use at once";
    default:
        return "it is headroom only (info): no attempt was seen failing or waiting, and the "
               "ports in use stayed below 90% of a proven budget";
    }
}

typedef struct ta_pick {
    int64_t  t;
    uint32_t i;
} ta_pick;

static int ta_cmp_pick(const void *x, const void *y)
{
    const ta_pick *a = x, *b = y;
    if (a->t != b->t)
        return a->t < b->t ? -1 : 1;
    return (a->i > b->i) - (a->i < b->i);
}

/* The TIME_WAIT tuples held at the peak, in the order they closed. */
static void ta_evidence(diag_finding *f, const ta_study *s, diag_ctx *ctx)
{
    char a[64], b[64];
    const pp_key *k = &s->g->key;
    size_t n = 0;
    ta_pick *v = malloc((s->n_tw ? s->n_tw : 1) * sizeof *v);
    diag_endpoint(&k->dst, k->dport, b, sizeof b);
    for (size_t i = 0; v != NULL && i < s->n_tw; i++)
        if (s->s[i] <= s->peak_ts && s->e[i] > s->peak_ts)
            v[n++] = (ta_pick){ s->s[i], (uint32_t)i };
    if (v != NULL)
        qsort(v, n, sizeof *v, ta_cmp_pick);
    for (size_t j = 0; j < n; j++) {
        size_t i = v[j].i;
        if (j >= TA_EVIDENCE) {
            f->evidence_omitted++;
            continue;
        }
        const pp_rec *r = &s->pl->r[s->of[i]];
        diag_endpoint(&k->src, r->port, a, sizeof a);
        diag_evidence_add(f, r->last_packet, r->end, "%8.3f  %s > %s  connection closed, the "
                          "client first: TIME_WAIT until %.3f s", diag_rel(ctx, r->end), a, b,
                          diag_rel(ctx, s->e[i]));
    }
    free(v);
    diag_evidence_add(f, 0, s->peak_ts, "%8.3f  %u tuples to %s in TIME_WAIT at once on the "
                      "client", diag_rel(ctx, s->peak_ts), s->peak, b);
}

static void ta_params(diag_finding *f, const ta_study *s)
{
    const pp_group *g = s->g;
    const pp_pool *pl = s->pl;
    diag_param *p = diag_param_add(f, "peak_timewait", s->peak, "tuples");
    diag_param_note(p, "most connections the client held in TIME_WAIT at once (sweep over the "
                    "close times)");
    p = diag_param_add(f, "port_budget", s->budget, "ports");
    diag_param_note(p, s->basis == TA_BUDGET_RANGE ? "the range its ports prove (256 distinct "
                    "ports or more, dense, handed out again)" : s->basis == TA_BUDGET_DEFAULT
                    ? "default ephemeral range of the stack the TTL suggests" : "the span of "
                    "ports seen, wider than the stack's default range");
    p = diag_param_add(f, "closer_share", (double)g->src_fin / g->closed, "");
    diag_param_note(p, "%u of %u closed connections: the client sent the first FIN", g->src_fin,
                    g->closed);
    p = diag_param_add(f, "timewait_s", pl->tw_eff, "s");
    if (pl->tw_eff < pl->st.tw_s)
        diag_param_note(p, "the client reused a port it had closed first after %.3g s: its "
                        "TIME_WAIT ends sooner than the %.0f s its initial TTL %u suggests (%s)",
                        pl->tw_eff, pl->st.tw_s, pl->st.ittl, pl->st.words);
    else
        diag_param_note(p, "assumed from the client's initial TTL %u: %s", pl->st.ittl,
                        pl->st.words);
    p = diag_param_add(f, "timewait_occupancy", s->occupancy, "");
    diag_param_note(p, "share of the port-time toward this destination spent in TIME_WAIT "
                    "rather than in open connections");
    if (s->sev == DIAG_ERROR) {
        p = diag_param_add(f, "failed_attempts", pl->n_harm, "");
        diag_param_note(p, "attempts that failed or waited while %u ports were in use, the "
                        "most ever", pl->sw.peak);
    }
    if (s->rate > 0) {
        p = diag_param_add(f, "close_rate", s->rate, "conn/s");
        diag_param_note(p, "connections closed first by the client per second, over %.1f s",
                        s->span);
        p = diag_param_add(f, "projected_timewait", s->projected, "tuples");
        diag_param_note(p, "close_rate x timewait_s: the TIME_WAIT count at a steady state");
    }
}

static void ta_remedies(diag_finding *f)
{
    diag_remedy_shared(f, DIAG_REM_SERVER_CLOSES);
    diag_remedy_shared(f, DIAG_REM_REUSE_CONNECTIONS);
    diag_remedy_shared(f, DIAG_REM_TW_REUSE);
    diag_remedy_shared(f, DIAG_REM_WIDEN_PORT_RANGE);
    diag_remedy_add(f, "Shorten TIME_WAIT on the client where it is tunable (Windows "
                       "TcpTimedWaitDelay, 30 s minimum; Linux keeps a fixed 60 s)",
                    "less protection against old duplicate segments reaching a new connection");
    diag_remedy_shared(f, DIAG_REM_RST_CLOSE);
}

static void ta_text(diag_finding *f, const ta_study *s, diag_ctx *ctx, const char *ip,
                    const char *dst)
{
    const pp_group *g = s->g;
    const pp_pool *pl = s->pl;
    char budget[200], why[160];
    ta_budget_words(s, budget, sizeof budget);
    if (pl->tw_eff < pl->st.tw_s)
        snprintf(why, sizeof why, "the shortest interval after which it reused such a port");
    else
        snprintf(why, sizeof why, "assumed from its initial TTL %u: %s", pl->st.ittl,
                 pl->st.words);
    diag_explain(f, "%s sent the first FIN on %u of its %u closed connections to %s (%.0f%%), so "
                 "it is the side that keeps each of them in TIME_WAIT (RFC 9293 3.6), for %.0f s "
                 "(%s). Counting each TIME_WAIT from its close, and ending it early where the "
                 "port was used again, up to %u were held at once, at %.3f s; TIME_WAIT took "
                 "%.0f%% of the port-time toward this destination, open connections the rest.", ip,
                 g->src_fin, g->closed, dst, 100.0 * g->src_fin / g->closed, pl->tw_eff, why,
                 s->peak, diag_rel(ctx, s->peak_ts), s->occupancy * 100);
    diag_explain(f, "Each of those tuples holds one local port toward this destination "
                 "(tcp-behaviour.md 3.8, 8), and %s: %u in TIME_WAIT is %.0f%% of that.%s", budget,
                 s->peak, 100.0 * s->peak / s->budget,
                 s->rate > 0 ? "" : " The capture is too short to extrapolate the close rate.");
    if (s->rate > 0)
        diag_explain(f, "At the rate seen, %.2f closes per second over %.1f s, a steady state "
                     "holds rate x TIME_WAIT = %.2f x %.0f s = %.0f tuples in TIME_WAIT, %s the "
                     "budget of %u.", s->rate, s->span, s->rate, pl->tw_eff, s->projected,
                     s->projected >= s->budget ? "more than" : "within", s->budget);
    diag_explain(f, "Threshold: tcpdoctor reports TIME_WAIT accumulation when the client closes "
                 "at least half of its connections first and TIME_WAIT takes at least half of "
                 "the port-time; %s.", ta_rule_words(s->sev));
    if (ctx->vantage == DIAG_VANTAGE_SERVER)
        diag_explain(f, "This capture was taken at the server: the TIME_WAIT tuples are on %s. "
                     "If %s is a NAT rather than a host, what holds its ports is the NAT's own "
                     "hold of closed mappings (Linux conntrack 120 s), not a TIME_WAIT.", ip, ip);
}

static int ta_report(const ta_study *s, diag_ctx *ctx, diag_findings *out)
{
    const pp_group *g = s->g;
    double conf = s->sev == DIAG_ERROR ? 0.8 : s->sev == DIAG_WARNING ? 0.75 : 0.5;
    diag_finding *f = diag_add(out, "timewait-accumulation", s->sev, conf);
    if (f == NULL)
        return -ENOMEM;
    char ip[PKT_ADDR_STRLEN], dst[64];
    diag_addr(&g->key.src, ip, sizeof ip);
    diag_endpoint(&g->key.dst, g->key.dport, dst, sizeof dst);
    f->events = g->src_fin;
    f->client = g->key.src;
    f->server = g->key.dst;
    f->server_port = g->key.dport;
    f->has_client = f->has_server = true;
    double share = (double)g->src_fin / g->closed;
    if (s->sev == DIAG_ERROR)
        diag_summary(f, "%s closes %.0f%% of its connections to %s first, and %u attempts failed "
                     "or waited while its ports stood at %u, mostly held in TIME_WAIT", ip,
                     share * 100, dst, s->pl->n_harm, s->pl->sw.peak);
    else if (s->peak >= TA_BUDGET_SHARE * s->budget)
        diag_summary(f, "%s closes %.0f%% of its connections to %s first and held up to %u in "
                     "TIME_WAIT at once: %.0f%% of its %u-port budget", ip, share * 100, dst,
                     s->peak, 100.0 * s->peak / s->budget, s->budget);
    else
        diag_summary(f, "%s closes %.1f connections per second to %s first: at %.0f s of "
                     "TIME_WAIT each that piles up %.0f tuples, more than its %u ports", ip,
                     s->rate, dst, s->pl->tw_eff, s->projected, s->budget);
    ta_text(f, s, ctx, ip, dst);
    ta_params(f, s);
    ta_evidence(f, s, ctx);
    ta_remedies(f);
    return 0;
}

static int ta_study_group(const pp_table *t, const pp_rec *r, size_t n, diag_ctx *ctx,
                          diag_findings *out)
{
    pp_pool pl;
    ta_study s;
    memset(&s, 0, sizeof s);
    int rc = pp_pool_estimate(t, r, n, ctx, &pl);
    if (rc != 0)
        goto out;
    s.pl = &pl;
    s.g = pl.g;
    ta_rates(&s);
    rc = ta_sweep(&s, t, ctx);
    if (rc == 0 && ta_judge(&s))
        rc = ta_report(&s, ctx, out);
out:
    free(s.s);
    free(s.e);
    free(s.of);
    pp_pool_free(&pl);
    return rc;
}

/* Only the groups whose client closed most connections first are studied. */
static int ta_finish(void *p, diag_ctx *ctx, diag_findings *out)
{
    (void)p;
    const pp_table *t = ctx->ports;     /* the engine's, finished (port_pool.c) */
    int rc = 0;
    if (t == NULL)
        return 0;
    const pp_rec *rec = t->rec;
    for (size_t i = 0, j; i < t->n_rec && rc == 0; i = j) {
        for (j = i + 1; j < t->n_rec && rec[j].grp == rec[i].grp; j++)
            ;
        if (ta_candidate(&t->src.v[rec[i].grp]))
            rc = ta_study_group(t, &rec[i], j - i, ctx, out);
    }
    return rc;
}

const diag_detector diag_det_timewait_accumulation = {
    .id = "timewait-accumulation",
    .finish = ta_finish,
};
