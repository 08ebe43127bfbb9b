/* timewait_accumulation.c - detector: a host that closes first piles up TIME_WAIT tuples toward one destination near its port budget. */
#include <errno.h>
#include <stddef.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem_internal.h"
#include "diagnose/diag_internal.h"

/*
 * How it works.  The side that sends the first FIN keeps the 4-tuple in
 * TIME_WAIT (RFC 9293 3.6); on the client side every such tuple holds a
 * local port toward that destination (tcp-behaviour.md 3.8, 8).  Per
 * (client IP, server IP, server port) the detector keeps one 32-byte record
 * per incarnation, and at the end, for the groups whose client closed most
 * connections first:
 *   - TIME_WAIT length: from the client's initial TTL (64: Linux 60 s,
 *     128: Windows 120 s; tcp-behaviour.md 10), an assumption the finding
 *     states; if the client reused a port it had closed first sooner than
 *     that (tcp_tw_reuse, or a NAT's shorter hold) the shortest such
 *     interval is used instead, and a TIME_WAIT also ends at the port's next
 *     SYN;
 *   - a sweep over the close times gives the peak TIME_WAIT count, and the
 *     port-time in TIME_WAIT against the port-time in open connections (the
 *     occupancy: a pool held by long open connections is port-exhaustion's
 *     business, not an accumulation of TIME_WAIT);
 *   - the budget: the stack's default range (Linux 28 232 ports 32768-60999,
 *     Windows 16 384 49152-65535; 3 976 for Windows XP/2003, which a TTL
 *     cannot tell apart), or the pool port-exhaustion found for this
 *     destination when it found one;
 *   - the steady state: close rate x TIME_WAIT (Little's law), extrapolated
 *     only from at least PROJECT_MIN_S of closes.
 * Thresholds (chosen, documented in the finding): a finding when the client
 * closed at least half of its connections first, TIME_WAIT is at least half
 * of the port-time, and the peak reaches half the budget or the steady state
 * reaches the whole budget; warning, error when port-exhaustion also fired
 * for this client.  Below that, nothing: TIME_WAIT is normal.
 *
 * Limits: the TIME_WAIT length is guessed; a NAT in front of the clients
 * holds closed mappings for its own time (conntrack 120 s), not a host's
 * TIME_WAIT; a server's own TIME_WAIT costs it no port and is not counted.
 */

#define TA_CLOSER_SHARE 0.5     /* closed first by the client, of its closed connections */
#define TA_OCCUPANCY    0.5     /* TIME_WAIT share of the port-time */
#define TA_BUDGET_SHARE 0.5     /* peak TIME_WAIT / port budget for a finding */
#define PROJECT_MIN_S   10.0    /* shortest span of closes a rate is extrapolated from */
#define TA_EVIDENCE     6       /* closes listed */

enum ta_kind {
    TA_SRC_FIN,         /* the client sent the first FIN: TIME_WAIT on its side */
    TA_DST_FIN,         /* the server sent the first FIN */
    TA_RESET,           /* ended by RST: no TIME_WAIT (RFC 9293 3.10.7) */
    TA_OPEN,            /* established, not closed in the capture */
    TA_NONE             /* never established */
};

typedef struct ta_rec {
    int64_t  start;             /* first SYN */
    int64_t  close;             /* last packet */
    uint64_t last_packet;
    uint32_t grp;
    uint16_t port;
    uint8_t  kind;              /* enum ta_kind */
    uint8_t  at_eof;
} ta_rec;

typedef struct ta_key {
    pkt_addr src, dst;
    uint16_t dport;
} ta_key;

typedef struct ta_group {
    ta_key   key;
    uint8_t  ttl;               /* client's TTL in its first connection */
    uint32_t src_fin, closed;   /* closed first by the client, closed at all */
} ta_group;

typedef struct ta_state {
    ta_rec   *rec;
    size_t   n_rec, cap_rec;
    ta_group *grp;
    size_t   n_grp, cap_grp;
    diag_index ix;              /* (client, server, port) -> group */
    bool     oom;
} ta_state;

/* ---- collecting ----------------------------------------------------------- */

static void *ta_create(diag_ctx *ctx)
{
    (void)ctx;
    ta_state *st = calloc(1, sizeof *st);
    if (st != NULL)
        st->ix.seed = (uint64_t)(uintptr_t)st * 0xc2b2ae3d27d4eb4fULL ^ 0x165667b19e3779f9ULL;
    return st;
}

static void ta_destroy(void *p)
{
    ta_state *st = p;
    if (st == NULL)
        return;
    free(st->rec);
    free(st->grp);
    diag_index_reset(&st->ix);
    free(st);
}

/* The group of c's (client, server, port), created if new; -1: no memory.
 * The key is the first 34 bytes of ta_key (src, dst, dport: no padding). */
static long ta_group_of(ta_state *st, const flow_conn *c)
{
    static const diag_table tab = { sizeof(ta_group), offsetof(ta_group, key),
                                    offsetof(ta_key, dport) + sizeof(uint16_t) };
    ta_key k;
    memset(&k, 0, sizeof k);
    k.src = c->client.addr;
    k.dst = c->server.addr;
    k.dport = c->server.port;
    bool created;
    void *v = st->grp;
    long i = diag_index_get(&st->ix, &tab, &v, &st->n_grp, &st->cap_grp, &k, &created);
    st->grp = v;
    if (i >= 0 && created)
        st->grp[i].ttl = c->client.ttl_first;
    return i;
}

static enum ta_kind ta_classify(const flow_conn *c)
{
    if (c->handshake != FLOW_HS_SYNACK)
        return TA_NONE;
    if (c->reset_by != FLOW_SIDE_NONE)
        return TA_RESET;
    if (c->closed_by == FLOW_SIDE_CLIENT)
        return TA_SRC_FIN;
    return c->closed_by == FLOW_SIDE_SERVER ? TA_DST_FIN : TA_OPEN;
}

static void ta_conn(void *p, const flow_conn *c, diag_ctx *ctx)
{
    (void)ctx;
    ta_state *st = p;
    if (st->oom || c->syn_count == 0 || c->roles_inferred)
        return;
    if (st->n_rec == st->cap_rec) {
        size_t nc = st->cap_rec ? st->cap_rec * 2 : 1024;
        ta_rec *v = mem_grow(st->rec, st->cap_rec * sizeof *v, nc * sizeof *v);
        if (v == NULL)
            goto oom;
        st->rec = v;
        st->cap_rec = nc;
    }
    long g = ta_group_of(st, c);
    if (g < 0)
        goto oom;
    enum ta_kind kind = ta_classify(c);
    ta_group *gr = &st->grp[g];
    gr->closed += kind == TA_SRC_FIN || kind == TA_DST_FIN || kind == TA_RESET;
    gr->src_fin += kind == TA_SRC_FIN;
    ta_rec *r = &st->rec[st->n_rec++];
    r->start = c->syn_ts[0];
    r->close = c->last_ts;
    r->last_packet = c->last_packet;
    r->grp = (uint32_t)g;
    r->port = c->client.port;
    r->kind = (uint8_t)kind;
    r->at_eof = c->end == FLOW_END_EOF;
    return;
oom:
    st->oom = true;
}

/* ---- the study of one group --------------------------------------------------- */

typedef struct ta_study {
    const ta_group *g;
    const ta_rec *r;            /* the group's records, by port then time */
    size_t   n;
    unsigned ittl;
    const char *stack;          /* the TIME_WAIT assumption in words */
    double   tw_default, tw_eff, min_gap;
    int64_t  *s, *e;            /* TIME_WAIT intervals */
    const ta_rec **of;          /* their records */
    size_t   n_tw;
    uint32_t peak;
    int64_t  peak_ts;
    double   tw_ps, open_ps, occupancy;
    double   span, rate, projected;
    uint32_t budget;
    const diag_finding *pool;   /* port-exhaustion's pool toward this destination */
    bool     pe_fired;          /* port-exhaustion fired for this client */
} ta_study;

static bool ta_candidate(const ta_group *g)
{
    return g->src_fin >= 2 && g->src_fin >= TA_CLOSER_SHARE * g->closed;
}

static unsigned ta_initial_ttl(uint8_t ttl)
{
    return ttl <= 64 ? 64 : ttl <= 128 ? 128 : 255;
}

/* TIME_WAIT and port budget of the stack an initial TTL suggests
 * (tcp-behaviour.md 3.1, 3.8, 5, 10). */
static void ta_stack(ta_study *s)
{
    if (s->ittl == 128) {
        s->stack = "Windows Vista and later 120 s (Windows 2000/XP/2003 240 s)";
        s->tw_default = 120.0;
        s->budget = 16384;
    } else if (s->ittl == 64) {
        s->stack = "Linux 60 s (FreeBSD also 60 s, macOS 30 s)";
        s->tw_default = 60.0;
        s->budget = 28232;
    } else {
        s->stack = "no common stack starts at 255: 60 s assumed";
        s->tw_default = 60.0;
        s->budget = 16384;
    }
}

static double clip_secs(int64_t from, int64_t to, int64_t horizon)
{
    if (to > horizon)
        to = horizon;
    return to > from ? diag_secs(to - from) : 0.0;
}

/* TIME_WAIT intervals, their peak, and the port-time shares. */
static int ta_sweep(ta_study *s, const diag_ctx *ctx)
{
    s->s = malloc(s->n * sizeof *s->s);
    s->e = malloc(s->n * sizeof *s->e);
    s->of = malloc(s->n * sizeof *s->of);
    diag_ev *ev = malloc((2 * s->n + 1) * sizeof *ev);
    if (s->s == NULL || s->e == NULL || s->of == NULL || ev == NULL) {
        free(ev);
        return -ENOMEM;
    }
    int64_t tw = (int64_t)(s->tw_eff * 1e9), horizon = ctx->last_ts;
    for (size_t i = 0; i < s->n; i++) {
        const ta_rec *r = &s->r[i];
        if (r->kind == TA_NONE)
            continue;
        int64_t end = r->kind == TA_OPEN && r->at_eof ? horizon : r->close;
        s->open_ps += clip_secs(r->start, end, horizon);
        if (r->kind != TA_SRC_FIN)
            continue;
        int64_t e = r->close + tw;
        if (i + 1 < s->n && s->r[i + 1].port == r->port && s->r[i + 1].start < e)
            e = s->r[i + 1].start;
        if (e <= r->close)
            e = r->close + 1;
        s->tw_ps += clip_secs(r->close, e, horizon);
        s->s[s->n_tw] = r->close;
        s->e[s->n_tw] = e;
        s->of[s->n_tw] = r;
        s->n_tw++;
    }
    if (diag_interval_events(s->s, s->e, s->n_tw, ev) != 0) {
        free(ev);
        return -ENOMEM;
    }
    uint32_t cur = 0;
    for (size_t k = 0; k < 2 * s->n_tw; k++) {
        cur = ev[k].d > 0 ? cur + 1 : cur - 1;
        if (cur > s->peak) {
            s->peak = cur;
            s->peak_ts = ev[k].t;
        }
    }
    free(ev);
    s->occupancy = s->tw_ps + s->open_ps > 0 ? s->tw_ps / (s->tw_ps + s->open_ps) : 0;
    return 0;
}

/* Span, close rate and steady state; the shortest reuse after a client close. */
static void ta_rates(ta_study *s)
{
    int64_t first = INT64_MAX, last = INT64_MIN;
    s->min_gap = INFINITY;
    for (size_t i = 0; i < s->n; i++) {
        const ta_rec *r = &s->r[i];
        if (r->start < first)
            first = r->start;
        if (r->kind == TA_SRC_FIN && r->close > last)
            last = r->close;
        if (r->kind == TA_SRC_FIN && i + 1 < s->n && s->r[i + 1].port == r->port &&
            diag_secs(s->r[i + 1].start - r->close) < s->min_gap)
            s->min_gap = diag_secs(s->r[i + 1].start - r->close);
    }
    s->tw_eff = s->min_gap < s->tw_default ? (s->min_gap > 0 ? s->min_gap : 0) : s->tw_default;
    s->span = last > first ? diag_secs(last - first) : 0;
    if (s->span >= PROJECT_MIN_S) {
        s->rate = s->g->src_fin / s->span;
        s->projected = s->rate * s->tw_eff;
    }
}

static bool same_addr(const pkt_addr *a, const pkt_addr *b)
{
    return memcmp(a->b, b->b, 16) == 0;
}

/* What port-exhaustion already found about this client. */
static void ta_pool(ta_study *s, const diag_findings *out)
{
    const ta_key *k = &s->g->key;
    for (size_t i = 0; i < out->n; i++) {
        const diag_finding *f = &out->v[i];
        if (strcmp(f->id, "port-exhaustion") != 0 || !f->has_client ||
            !same_addr(&f->client, &k->src))
            continue;
        s->pe_fired = true;
        if (f->has_server && same_addr(&f->server, &k->dst) && f->server_port == k->dport &&
            diag_param_get(f, "pool_low") != NULL && diag_param_get(f, "pool_size") != NULL)
            s->pool = f;
    }
    if (s->pool != NULL)
        s->budget = (uint32_t)diag_param_get(s->pool, "pool_size")->value;
}

/* ---- reporting --------------------------------------------------------------- */

static void ta_budget_words(const ta_study *s, char *buf, size_t len)
{
    if (s->pool != NULL)
        snprintf(buf, len, "port-exhaustion found its ports toward this destination to be a "
                 "pool of only %u (%.0f-%.0f)", s->budget,
                 diag_param_get(s->pool, "pool_low")->value,
                 diag_param_get(s->pool, "pool_high")->value);
    else if (s->ittl == 64)
        snprintf(buf, len, "a Linux host has %u per destination by default "
                 "(ip_local_port_range 32768-60999)", s->budget);
    else if (s->ittl == 128)
        snprintf(buf, len, "a Windows host has %u per destination by default (49152-65535; "
                 "Windows XP/2003 only 3 976, 1025-5000)", s->budget);
    else
        snprintf(buf, len, "%u is assumed (the IANA dynamic range 49152-65535)", s->budget);
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
    const ta_key *k = &s->g->key;
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
        const ta_rec *r = s->of[i];
        diag_endpoint(&k->src, r->port, a, sizeof a);
        diag_evidence_add(f, r->last_packet, r->close, "%8.3f  %s > %s  connection closed, the "
                          "client first: TIME_WAIT until %.3f s", diag_rel(ctx, r->close), a, b,
                          diag_rel(ctx, s->e[i]));
    }
    free(v);
    diag_evidence_add(f, 0, s->peak_ts, "%8.3f  %u tuples to %s in TIME_WAIT at once on the "
                      "client", diag_rel(ctx, s->peak_ts), s->peak, b);
}

static void ta_params(diag_finding *f, const ta_study *s)
{
    const ta_group *g = s->g;
    diag_param *p = diag_param_add(f, "peak_timewait", s->peak, "tuples");
    diag_param_note(p, "most connections the client held in TIME_WAIT at once (sweep over the "
                    "close times)");
    p = diag_param_add(f, "port_budget", s->budget, "ports");
    diag_param_note(p, s->pool != NULL ? "the pool port-exhaustion found toward this destination"
                                       : "default ephemeral range of the stack the TTL suggests");
    p = diag_param_add(f, "closer_share", (double)g->src_fin / g->closed, "");
    diag_param_note(p, "%u of %u closed connections: the client sent the first FIN", g->src_fin,
                    g->closed);
    p = diag_param_add(f, "timewait_s", s->tw_eff, "s");
    if (s->tw_eff < s->tw_default)
        diag_param_note(p, "the client reused a port it had closed first after %.3g s: its "
                        "TIME_WAIT ends sooner than the %.0f s its initial TTL %u suggests (%s)",
                        s->tw_eff, s->tw_default, s->ittl, s->stack);
    else
        diag_param_note(p, "assumed from the client's initial TTL %u: %s", s->ittl, s->stack);
    p = diag_param_add(f, "timewait_occupancy", s->occupancy, "");
    diag_param_note(p, "share of the port-time toward this destination spent in TIME_WAIT "
                    "rather than in open connections");
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
    diag_remedy_add(f, "Let the server close first (e.g. the server ends HTTP keep-alive "
                       "connections), so TIME_WAIT is kept where it costs no port",
                    "the server keeps TIME_WAIT (memory only); a NAT in front of the clients "
                    "that reuses ports sooner than that collides with it (nat-timewait-mismatch)");
    diag_remedy_add(f, "Reuse connections (pooling, keep-alive) instead of one connection per "
                       "request",
                    "application or proxy change; idle pooled connections hold ports and "
                    "server memory");
    diag_remedy_add(f, "On a Linux client, net.ipv4.tcp_tw_reuse=1 lets connect() take a port "
                       "in TIME_WAIT after 1 s (tcp-behaviour.md 3.7)",
                    "needs TCP timestamps on both sides; outgoing connections only");
    diag_remedy_add(f, "Widen the port range (Linux ip_local_port_range; Windows netsh int ipv4 "
                       "set dynamicport tcp) or add source addresses",
                    "more ports only postpone the limit if the close rate keeps growing; "
                    "services must not listen inside the range");
    diag_remedy_add(f, "Shorten TIME_WAIT on the client where it is tunable (Windows "
                       "TcpTimedWaitDelay, 30 s minimum; Linux keeps a fixed 60 s)",
                    "less protection against old duplicate segments reaching a new connection");
    diag_remedy_add(f, "Close with RST (SO_LINGER 0): no TIME_WAIT at all (seed 003)",
                    "data still in flight is lost and the peer sees ECONNRESET");
}

static int ta_report(const ta_study *s, diag_ctx *ctx, diag_findings *out)
{
    const ta_group *g = s->g;
    bool observed = s->peak >= TA_BUDGET_SHARE * s->budget;
    diag_finding *f = diag_add(out, "timewait-accumulation",
                               s->pe_fired ? DIAG_ERROR : DIAG_WARNING, observed ? 0.8 : 0.65);
    if (f == NULL)
        return -ENOMEM;
    char ip[PKT_ADDR_STRLEN], dst[64], budget[200];
    diag_addr(&g->key.src, ip, sizeof ip);
    diag_endpoint(&g->key.dst, g->key.dport, dst, sizeof dst);
    ta_budget_words(s, budget, sizeof budget);
    double share = (double)g->src_fin / g->closed;
    f->events = g->src_fin;
    f->client = g->key.src;
    f->server = g->key.dst;
    f->server_port = g->key.dport;
    f->has_client = f->has_server = true;
    if (observed)
        diag_summary(f, "%s closes %.0f%% of its connections to %s first and held up to %u in "
                     "TIME_WAIT at once: %.0f%% of its %u-port budget", ip, share * 100, dst,
                     s->peak, 100.0 * s->peak / s->budget, s->budget);
    else
        diag_summary(f, "%s closes %.1f connections per second to %s first: at %.0f s of "
                     "TIME_WAIT each that piles up %.0f tuples, more than its %u ports", ip,
                     s->rate, dst, s->tw_eff, s->projected, s->budget);
    char why[160];
    if (s->tw_eff < s->tw_default)
        snprintf(why, sizeof why, "the shortest interval after which it reused such a port");
    else
        snprintf(why, sizeof why, "assumed from its initial TTL %u: %s", s->ittl, s->stack);
    diag_explain(f, "%s sent the first FIN on %u of its %u closed connections to %s (%.0f%%), so "
                 "it is the side that keeps each of them in TIME_WAIT (RFC 9293 3.6), for %.0f s "
                 "(%s). Counting each TIME_WAIT from its close, and ending it early where the "
                 "port was used again, up to %u were held at once, at %.3f s; TIME_WAIT took "
                 "%.0f%% of the port-time toward this destination, open connections the rest.", ip,
                 g->src_fin, g->closed, dst, share * 100, s->tw_eff, why, s->peak,
                 diag_rel(ctx, s->peak_ts), s->occupancy * 100);
    diag_explain(f, "Each of those tuples holds one local port toward this destination "
                 "(tcp-behaviour.md 3.8, 8), and %s: %u in TIME_WAIT is %.0f%% of that.%s", budget,
                 s->peak, 100.0 * s->peak / s->budget,
                 s->rate > 0 ? "" : " The capture is too short to extrapolate the close rate.");
    if (s->rate > 0)
        diag_explain(f, "At the rate seen, %.2f closes per second over %.1f s, a steady state "
                     "holds rate x TIME_WAIT = %.2f x %.0f s = %.0f tuples in TIME_WAIT, %s the "
                     "budget of %u.", s->rate, s->span, s->rate, s->tw_eff, s->projected,
                     s->projected >= s->budget ? "more than" : "within", s->budget);
    diag_explain(f, "Threshold: tcpdoctor reports TIME_WAIT accumulation when the client closes "
                 "at least half of its connections first, TIME_WAIT takes at least half of the "
                 "port-time, and either the peak reaches half the budget or the steady state "
                 "reaches all of it; it is an error when port-exhaustion also found this "
                 "client's ports full.%s",
                 s->pe_fired ? " It did: TIME_WAIT is what holds them." : "");
    if (ctx->vantage == DIAG_VANTAGE_SERVER)
        diag_explain(f, "This capture was taken at the server: the TIME_WAIT tuples are on %s. "
                     "If %s is a NAT rather than a host, what holds its ports is the NAT's own "
                     "hold of closed mappings (Linux conntrack 120 s), not a TIME_WAIT.", ip, ip);
    ta_params(f, s);
    ta_evidence(f, s, ctx);
    ta_remedies(f);
    return 0;
}

static int ta_study_group(const ta_state *st, const ta_rec *r, size_t n, diag_ctx *ctx,
                          diag_findings *out)
{
    ta_study s;
    memset(&s, 0, sizeof s);
    s.g = &st->grp[r[0].grp];
    s.r = r;
    s.n = n;
    s.ittl = ta_initial_ttl(s.g->ttl);
    ta_stack(&s);
    ta_rates(&s);
    ta_pool(&s, out);
    int rc = ta_sweep(&s, ctx);
    if (rc == 0 && s.budget > 0 && s.occupancy >= TA_OCCUPANCY &&
        (s.peak >= TA_BUDGET_SHARE * s.budget || s.projected >= s.budget))
        rc = ta_report(&s, ctx, out);
    free(s.s);
    free(s.e);
    free(s.of);
    return rc;
}

static int ta_cmp(const void *x, const void *y)
{
    const ta_rec *a = x, *b = y;
    if (a->grp != b->grp)
        return a->grp < b->grp ? -1 : 1;
    if (a->port != b->port)
        return a->port < b->port ? -1 : 1;
    return (a->start > b->start) - (a->start < b->start);
}

/* Only the groups whose client closed most connections first are studied:
 * their records move to the front of the array, which is then sorted. */
static int ta_finish(void *p, diag_ctx *ctx, diag_findings *out)
{
    ta_state *st = p;
    if (st->oom)
        return -ENOMEM;
    size_t m = 0;
    for (size_t i = 0; i < st->n_rec; i++)
        if (ta_candidate(&st->grp[st->rec[i].grp]))
            st->rec[m++] = st->rec[i];
    if (m > 0)
        qsort(st->rec, m, sizeof *st->rec, ta_cmp);
    int rc = 0;
    for (size_t i = 0, j; i < m && rc == 0; i = j) {
        for (j = i + 1; j < m && st->rec[j].grp == st->rec[i].grp; j++)
            ;
        rc = ta_study_group(st, &st->rec[i], j - i, ctx, out);
    }
    return rc;
}

const diag_detector diag_det_timewait_accumulation = {
    .id = "timewait-accumulation",
    .create = ta_create,
    .conn = ta_conn,
    .finish = ta_finish,
    .destroy = ta_destroy,
};
