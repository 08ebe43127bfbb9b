/* port_words.c - port-exhaustion's verdicts in words: summary, explanation, parameters, evidence, remedies. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diagnose/ports_internal.h"

#define PE_EVIDENCE 8           /* evidence lines per kind */

/* Holds in use at time t, by start time (for evidence in time order). */
typedef struct pe_pick {
    int64_t  t;
    uint32_t i;
} pe_pick;

static int cmp_pick(const void *x, const void *y)
{
    const pe_pick *a = x, *b = y;
    if (a->t != b->t)
        return a->t < b->t ? -1 : 1;
    return (a->i > b->i) - (a->i < b->i);
}

/* NULL when out of memory (evidence is then left out); *count says how many. */
static pe_pick *holders_at(const int64_t *s, const int64_t *e, size_t n, int64_t t, size_t *count)
{
    pe_pick *v = malloc((n ? n : 1) * sizeof *v);
    *count = 0;
    if (v == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (s[i] <= t && e[i] > t)
            v[(*count)++] = (pe_pick){ s[i], (uint32_t)i };
    qsort(v, *count, sizeof *v, cmp_pick);
    return v;
}

/* The lifecycle's record of a failed or delayed attempt (NULL: none). */
static const lc_attempt *attempt_of(const diag_ctx *ctx, const pp_rec *r)
{
    size_t n;
    long k = ctx->lc != NULL ? lc_attempt_find(ctx->lc, r->first_packet) : -1;
    return k < 0 ? NULL : &lc_attempts(ctx->lc, &n)[k];
}

/* "SYN, 3 transmissions over 2.0 s, never answered" and the like. */
static void harm_words(const diag_ctx *ctx, const pp_rec *r, char *buf, size_t len)
{
    const lc_attempt *a = attempt_of(ctx, r);
    unsigned syns = a != NULL ? a->syns : 1;
    double d = a != NULL ? a->delay_s : 0;
    if (a != NULL && a->outcome == LC_REFUSED)
        snprintf(buf, len, "SYN refused");
    else if (a != NULL && a->outcome == LC_SLOW)
        snprintf(buf, len, "SYN, %u transmissions, answered only after %.1f s", syns, d);
    else
        snprintf(buf, len, "SYN, %u transmission%s over %.1f s, never answered", syns,
                 syns == 1 ? "" : "s", d);
}

/* ---- remedies ------------------------------------------------------------------- */

enum pe_who {
    WHO_NAT_OR_PROXY,           /* the source is a NAT pool or a proxy (seen outside) */
    WHO_HOST,                   /* the source is the client host itself */
    WHO_NAT_INSIDE              /* a NAT seen from the inside */
};

/* Ranked per who holds the ports (tcp-behaviour.md 8: mitigations). */
static void pe_remedies(diag_finding *f, enum pe_who who, bool src_closes)
{
    if (who == WHO_HOST)
        diag_remedy_shared(f, DIAG_REM_WIDEN_PORT_RANGE);
    else
        diag_remedy_add(f, "Give the NAT or proxy more source ports toward this destination: a "
                           "wider SNAT port range (nftables snat to ADDR:1024-65535), or a wider "
                           "ip_local_port_range on a proxy host",
                        "one address has at most 64 512 ports per destination; a wider range "
                        "on a shared NAT takes ports from other users of it");
    diag_remedy_shared(f, DIAG_REM_MORE_SOURCES);
    diag_remedy_shared(f, DIAG_REM_REUSE_CONNECTIONS);
    if (src_closes && who != WHO_NAT_INSIDE)
        diag_remedy_shared(f, DIAG_REM_TW_REUSE);
    if (src_closes)
        diag_remedy_shared(f, DIAG_REM_SERVER_CLOSES);
    diag_remedy_shared(f, DIAG_REM_RST_CLOSE);
}

/* ---- a source's pool ----------------------------------------------------------- */

static const char *hold_words(const pp_rec *r)
{
    switch (r->kind) {
    case PP_SRC_CLOSED: return "closed first by the source: held in TIME_WAIT";
    case PP_DST_CLOSED: return "closed first by the destination: free at the close";
    case PP_RESET: return "ended by RST: free at once";
    default: return r->at_eof ? "still open when the capture ended" : "open, never closed in the capture";
    }
}

/* The connections holding the pool when it first filled. */
static void pool_holders(diag_finding *f, const pp_pool *pl, diag_ctx *ctx, const char *dst)
{
    char src[64];
    const pp_key *k = &pl->g->key;
    unsigned shown = 0, open = 0;
    size_t nh;
    int64_t at = pl->sw.episodes > 0 ? pl->sw.full_ts : pl->sw.peak_ts;
    pe_pick *h = holders_at(pl->s, pl->e, pl->ok, at, &nh);
    for (size_t j = 0; h != NULL && j < nh; j++) {
        size_t i = h[j].i;
        const pp_rec *r = &pl->r[pl->of[i]];
        open += r->end > at;
        if (shown++ >= PE_EVIDENCE) {
            f->evidence_omitted++;
            continue;
        }
        diag_endpoint(&k->src, r->port, src, sizeof src);
        diag_evidence_add(f, r->first_packet, r->start,
                          "%8.3f  %s > %s  SYN: port %u taken until %.3f s (%s)",
                          diag_rel(ctx, r->start), src, dst, r->port, diag_rel(ctx, pl->e[i]),
                          hold_words(r));
    }
    free(h);
    diag_evidence_add(f, 0, at, "%8.3f  %u of %u ports in use (%u open, %u held after the "
                      "source closed first)", diag_rel(ctx, at), shown, pl->ports, open,
                      shown - open);
}

/* The failed or delayed attempts at the plateau, then the first reuses. */
static void pool_evidence(diag_finding *f, const pe_verdict *v, diag_ctx *ctx)
{
    const pp_pool *pl = v->pl;
    const pp_key *k = &pl->g->key;
    char src[64], dst[64], what[96];
    diag_endpoint(&k->dst, k->dport, dst, sizeof dst);
    pool_holders(f, pl, ctx, dst);
    for (uint32_t j = 0; j < v->n_claim; j++) {
        const pp_rec *r = &pl->r[v->claim[j]];
        if (j >= PE_EVIDENCE) {
            f->evidence_omitted++;
            continue;
        }
        diag_endpoint(&k->src, r->port, src, sizeof src);
        harm_words(ctx, r, what, sizeof what);
        diag_evidence_add(f, r->first_packet, r->start, "%8.3f  %s > %s  %s: %u ports of the "
                          "pool were in use", diag_rel(ctx, r->start), src, dst, what,
                          pl->sw.peak);
    }
    size_t nr = 0;
    pe_pick *ru = malloc((pl->ok ? pl->ok : 1) * sizeof *ru);
    for (size_t i = 1; ru != NULL && i < pl->ok; i++)
        if (pl->r[pl->of[i]].port == pl->r[pl->of[i - 1]].port)
            ru[nr++] = (pe_pick){ pl->s[i], (uint32_t)i };
    if (ru != NULL)
        qsort(ru, nr, sizeof *ru, cmp_pick);
    for (size_t j = 0; j < nr && j < 4; j++) {
        size_t i = ru[j].i;
        const pp_rec *r = &pl->r[pl->of[i]], *p = &pl->r[pl->of[i - 1]];
        diag_endpoint(&k->src, r->port, src, sizeof src);
        diag_evidence_add(f, r->first_packet, r->start, "%8.3f  %s > %s  SYN reusing port %u "
                          "%.3f s after its previous connection (packet %llu) ended",
                          diag_rel(ctx, r->start), src, dst, r->port,
                          diag_secs(r->start - p->end), (unsigned long long)p->first_packet);
    }
    if (nr > 4)
        f->evidence_omitted += nr - 4;
    free(ru);
}

/* hold_s and the new-connection rate the pool allows. */
static double hold_params(diag_finding *f, const pp_pool *pl)
{
    double share = pl->ok ? (double)pl->src_closed / pl->ok : 0;
    double hold = pl->life_mean + share * pl->tw_eff;
    diag_param *p = diag_param_add(f, "hold_s", hold, "s");
    diag_param_min(p, pl->life_mean);
    diag_param_max(p, pl->life_mean + (pl->src_closed ? pl->tw_eff : 0));
    if (pl->src_closed && isfinite(pl->min_gap) && pl->min_gap < pl->st.tw_s)
        diag_param_note(p, "connection life %.3g s on average, + %.3g s after the %.0f%% of "
                        "closes made by the source (the shortest interval after which it reused "
                        "such a port; TIME_WAIT alone would hold it %.0f s, %s)", pl->life_mean,
                        pl->tw_eff, share * 100, pl->st.tw_s, pl->st.words);
    else if (pl->src_closed)
        diag_param_note(p, "connection life %.3g s on average, + TIME_WAIT %.0f s after the "
                        "%.0f%% of closes made by the source (assumed from the initial TTL %u, "
                        "%s)", pl->life_mean, pl->tw_eff, share * 100, pl->st.ittl, pl->st.words);
    else
        diag_param_note(p, "connection life %.3g s on average; the destination closed first "
                        "or reset, so the source keeps no TIME_WAIT (a NAT's own hold after "
                        "the close is not visible)", pl->life_mean);
    if (hold > 0) {
        p = diag_param_add(f, "max_rate", pl->ports / hold, "conn/s");
        diag_param_note(p, "pool_size / hold_s: new connections per second the pool sustains "
                        "toward this destination (tcp-behaviour.md 8)");
    }
    return hold;
}

static double pool_params(diag_finding *f, const pe_verdict *v)
{
    const pp_pool *pl = v->pl;
    diag_param *p = diag_param_add(f, "pool_low", pl->lo, "");
    diag_param_note(p, "lowest source port seen toward this destination");
    diag_param_add(f, "pool_high", pl->hi, "");
    p = diag_param_add(f, "pool_size", pl->ports, "ports");
    if (v->basis == PE_RANGE)
        diag_param_note(p, "distinct source ports seen, %.0f%% of the span pool_low-pool_high: "
                        "the range itself", 100.0 * pl->ports / pl->span);
    else
        diag_param_note(p, "distinct source ports seen (the pool is at least this)");
    p = diag_param_add(f, "peak_in_use", pl->sw.peak, "ports");
    diag_param_note(p, "most ports taken at once: open, or within the hold after the source "
                    "closed first");
    p = diag_param_add(f, "failed_attempts", v->n_failed, "");
    diag_param_note(p, "attempts whose SYNs were retransmitted and never answered, or refused, "
                    "while %u ports were in use; connect() calls refused locally send no "
                    "packet and are not counted", pl->sw.peak);
    if (v->n_claim > v->n_failed) {
        p = diag_param_add(f, "delayed_attempts", v->n_claim - v->n_failed, "");
        diag_param_note(p, "attempts answered only after a retransmitted SYN while %u ports "
                        "were in use", pl->sw.peak);
    }
    double hold = hold_params(f, pl);
    diag_param_add(f, "connections", pl->ok, "");
    diag_param_add(f, "reuses", pl->reuses, "");
    p = diag_param_add(f, "full_s", diag_secs(pl->sw.full_ns), "s");
    diag_param_note(p, "time with at least %u ports in use", pl->full);
    return hold;
}

/* What the source is, and where the failures went, in the vantage's words. */
static void pool_vantage_text(diag_finding *f, enum diag_vantage v, const char *ip)
{
    if (v == DIAG_VANTAGE_CLIENT) {
        diag_explain(f, "This capture was taken at the client, so these are the client's own "
                     "ports (or, if it sits behind a proxy host, that host's). When every port "
                     "toward a destination is taken, connect() fails at once with EADDRNOTAVAIL "
                     "(Windows: WSAENOBUFS) and sends nothing: such failures are not in the "
                     "capture (tcp-behaviour.md 3.8, 9.1).");
        return;
    }
    diag_explain(f, "Seen %s, a source that keeps to a set of ports and reuses them is a NAT or "
                 "SNAT pool (a load balancer's source NAT, a cloud NAT's per-host port block) or "
                 "a proxy host with a narrow port range. A connection attempt that finds every "
                 "port taken never gets here: a NAT drops its SYN (Linux conntrack: "
                 "insert_failed) and the client retransmits it until it gives up; a proxy's "
                 "connect() fails with EADDRNOTAVAIL before any packet. A capture inside, next to "
                 "the clients of %s, would show those attempts as SYNs retransmitted and never "
                 "answered (tcp-behaviour.md 9.8).",
                 v == DIAG_VANTAGE_SERVER ? "from the server" : "at this capture point", ip);
}

static void pool_summary(diag_finding *f, const pe_verdict *v, const char *ip, const char *dst)
{
    const pp_pool *pl = v->pl;
    if (v->basis == PE_HARM)
        diag_summary(f, "%s's ports toward %s are a pool of %u (%u-%u), all in use at once: %u "
                     "connection attempt%s %s while %u were in use", ip, dst, pl->ports, pl->lo,
                     pl->hi, v->n_claim, v->n_claim == 1 ? "" : "s",
                     v->n_failed > 0 ? "failed or waited" : "waited", pl->sw.peak);
    else if (v->basis == PE_RANGE)
        diag_summary(f, "%s used %u source ports (%u-%u) toward %s, handed them out again, and "
                     "had %u in use at once for %.1f s: a port range at its limit", ip, pl->ports,
                     pl->lo, pl->hi, dst, pl->sw.peak, diag_secs(pl->sw.full_ns));
    else
        diag_summary(f, "%s uses only %u source ports (%u-%u) toward %s and had them all in use "
                     "at once; no attempt was seen failing or waiting for one (headroom)", ip,
                     pl->ports, pl->lo, pl->hi, dst);
}

static const char *basis_words(enum pe_basis b)
{
    switch (b) {
    case PE_HARM:
        return "attempts failed or waited while the pool stood at its peak, the same count "
               "each time (a plateau, 2 attempts at least)";
    case PE_RANGE:
        return "no attempt was seen failing, but at least 256 distinct ports, dense in their "
               "span and handed out again, prove the span is the whole range, and 90% of it "
               "was in use at once";
    default:
        return "this is headroom only: with fewer than 256 ports and no attempt seen failing "
               "or waiting, the ports seen do not prove the size of the range they came from";
    }
}

int pe_pool_report(const pe_verdict *v, diag_ctx *ctx, diag_findings *out)
{
    const pp_pool *pl = v->pl;
    double conf = v->basis == PE_HARM ? 0.85 : v->basis == PE_RANGE ? 0.75 : 0.5;
    diag_finding *f = diag_add(out, "port-exhaustion", v->sev, conf);
    if (f == NULL)
        return -ENOMEM;
    const pp_key *k = &pl->g->key;
    char ip[PKT_ADDR_STRLEN], dst[64];
    diag_addr(&k->src, ip, sizeof ip);
    diag_endpoint(&k->dst, k->dport, dst, sizeof dst);
    f->events = pl->ok;
    f->client = k->src;
    f->server = k->dst;
    f->server_port = k->dport;
    f->has_client = f->has_server = true;
    double span = diag_secs(pl->last_close_ts - pl->first_ts);
    pool_summary(f, v, ip, dst);
    diag_explain(f, "%s reached %s from %u source ports, %u-%u, over %u connections in %.1f s: "
                 "each port served %.1f connections on average. At most %u were in use at once "
                 "(open, or held after the source closed them first); %u or more were in use "
                 "for %.1f s, in %u period%s, and %u ports were freed and taken again after "
                 "that.", ip, dst, pl->ports, pl->lo, pl->hi, pl->ok, span,
                 (double)pl->ok / pl->ports, pl->sw.peak, pl->full, diag_secs(pl->sw.full_ns),
                 pl->sw.episodes, pl->sw.episodes == 1 ? "" : "s", pl->cycled);
    pool_vantage_text(f, ctx->vantage, ip);
    diag_explain(f, "Why this severity: %s.", basis_words(v->basis));
    double hold = pool_params(f, v);
    if (hold > 0)
        diag_explain(f, "Each port is held about %.2f s (connection life plus the hold after a "
                     "close, see hold_s), so %u ports sustain at most %.2f new connections per "
                     "second toward %s; the source opened %.2f per second over the capture.",
                     hold, pl->ports, pl->ports / hold, dst, span > 0 ? pl->ok / span : 0.0);
    pool_evidence(f, v, ctx);
    pe_remedies(f, ctx->vantage == DIAG_VANTAGE_CLIENT ? WHO_HOST : WHO_NAT_OR_PROXY,
                pl->src_closed > 0);
    return 0;
}

/* ---- the ceiling (inside a NAT) -------------------------------------------------- */

static void ceil_evidence(diag_finding *f, const pe_ceil *c, diag_ctx *ctx)
{
    char a[64], b[64], what[96];
    const pp_rec *first = &c->r[c->hit[0]];
    diag_endpoint(&c->d->key.dst, c->d->key.dport, b, sizeof b);
    size_t nh;
    pe_pick *h = holders_at(c->s, c->e, c->ok, first->start, &nh);
    for (size_t j = 0; h != NULL && j < nh; j++) {
        size_t i = h[j].i;
        const pp_rec *r = &c->r[c->of[i]];
        if (j >= PE_EVIDENCE) {
            f->evidence_omitted++;
            continue;
        }
        diag_endpoint(&c->src[r->grp].key.src, r->port, a, sizeof a);
        diag_evidence_add(f, r->first_packet, r->start, "%8.3f  %s > %s  SYN answered; open "
                          "until %.3f s", diag_rel(ctx, r->start), a, b, diag_rel(ctx, c->e[i]));
    }
    free(h);
    for (uint32_t i = 0; i < c->n_hit; i++) {
        const pp_rec *r = &c->r[c->hit[i]];
        if (i >= PE_EVIDENCE) {
            f->evidence_omitted++;
            continue;
        }
        diag_endpoint(&c->src[r->grp].key.src, r->port, a, sizeof a);
        harm_words(ctx, r, what, sizeof what);
        diag_evidence_add(f, r->first_packet, r->start, "%8.3f  %s > %s  %s; %u connections "
                          "were open each time", diag_rel(ctx, r->start), a, b, what, c->sw.peak);
    }
    if (c->recovered != NULL) {
        const pp_rec *r = c->recovered;
        diag_endpoint(&c->src[r->grp].key.src, r->port, a, sizeof a);
        diag_evidence_add(f, r->first_packet, r->start, "%8.3f  %s > %s  SYN answered at once, "
                          "%u open: the ceiling had room again", diag_rel(ctx, r->start), a, b,
                          pp_sweep_at(&c->sw, r->start - 1));
    }
}

static void ceil_params(diag_finding *f, const pe_ceil *c)
{
    uint32_t k = c->sw.peak;
    diag_param *p = diag_param_add(f, "pool_size", k, "ports");
    diag_param_note(p, "inferred: the most connections open at once; the NAT's own ports "
                    "(pool_low, pool_high) are not visible from inside");
    diag_param_add(f, "peak_in_use", k, "ports");
    p = diag_param_add(f, "failed_attempts", c->n_failed, "");
    diag_param_note(p, "attempts whose SYNs were retransmitted and never answered, or refused, "
                    "while %u connections were open", k);
    if (c->n_hit > c->n_failed) {
        p = diag_param_add(f, "delayed_attempts", c->n_hit - c->n_failed, "");
        diag_param_note(p, "attempts answered only after a retransmitted SYN while %u "
                        "connections were open", k);
    }
    p = diag_param_add(f, "hold_s", c->life_mean, "s");
    diag_param_min(p, c->life_mean);
    diag_param_note(p, "mean life of the connections; the NAT's hold after a close adds to it");
    if (c->life_mean > 0) {
        p = diag_param_add(f, "max_rate", k / c->life_mean, "conn/s");
        diag_param_max(p, k / c->life_mean);
        diag_param_note(p, "pool_size / hold_s: at most this many new connections per second");
    }
    diag_param_add(f, "connections", c->ok, "");
}

int pe_ceil_report(const pe_ceil *c, diag_ctx *ctx, diag_findings *out)
{
    bool inside = ctx->vantage == DIAG_VANTAGE_CLIENT;
    double conf = inside ? (c->recovered != NULL ? 0.8 : 0.7) : 0.6;
    diag_finding *f = diag_add(out, "port-exhaustion", c->n_failed > 0 ? DIAG_ERROR : DIAG_WARNING,
                               conf);
    if (f == NULL)
        return -ENOMEM;
    char dst[64], src[PKT_ADDR_STRLEN];
    const pkt_addr *s0 = &c->src[c->r[c->hit[0]].grp].key.src;
    diag_endpoint(&c->d->key.dst, c->d->key.dport, dst, sizeof dst);
    diag_addr(s0, src, sizeof src);
    uint32_t k = c->sw.peak;
    f->events = c->n_hit;
    f->server = c->d->key.dst;
    f->server_port = c->d->key.dport;
    f->has_server = true;
    if (c->one_src) {
        f->client = *s0;
        f->has_client = true;
    }
    diag_summary(f, "%u connection attempts to %s %s while %u connections were open, never "
                 "more: a ceiling of %u, as a NAT port pool of %u makes", c->n_hit, dst,
                 c->n_failed > 0 ? "failed or waited" : "waited", k, k, k);
    diag_explain(f, "Connections to %s never exceeded %u open at once (%u connections in all, "
                 "from %s). %u attempts were made while %u were open, and their SYNs were "
                 "retransmitted and %s, each time at that same count.%s", dst, k, c->ok,
                 c->one_src ? src : "several clients", c->n_hit, k,
                 c->n_failed > 0 ? "never answered (or refused)" : "answered only late",
                 c->recovered != NULL ? " Attempts made once fewer were open got through at once."
                                      : "");
    diag_explain(f, "%s, that is what a NAT or SNAT pool of %u ports toward this destination "
                 "does when every port is taken: it drops the SYN (Linux conntrack: "
                 "insert_failed, tcp-behaviour.md 4.3 step 6 and 9.8), the server never sees "
                 "it, and the client retries on its schedule until connect() times out. A "
                 "server or firewall admitting %u connections at once would look the same from "
                 "here; a capture at the server decides: if these SYNs are not there, the NAT "
                 "dropped them, and the server sees the NAT's address cycling through %u ports.",
                 inside ? "Seen from the client side" : "Seen at this capture point", k, k, k);
    diag_explain(f, "Each connection held its port %.2f s on average (its life); a NAT also "
                 "keeps a closed mapping for a while (Linux conntrack: 120 s in TIME_WAIT), which "
                 "cannot be seen from this side.", c->life_mean);
    ceil_params(f, c);
    ceil_evidence(f, c, ctx);
    pe_remedies(f, WHO_NAT_INSIDE, false);
    return 0;
}
