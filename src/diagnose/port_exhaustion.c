/* port_exhaustion.c - detector: a source's ports toward one destination are all in use when new connections need one. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "diagnose/ports_internal.h"

/*
 * How it works.  The records and each (source, destination, port) group's
 * pool come from port_pool.c (holds, sweep, the rule and its minimums).
 * Two signatures of a full pool are judged here (tcp-behaviour.md 9.1,
 * 9.8), each under that rule:
 *
 *   pool     (any vantage) one source cycles through a set of ports toward
 *            one destination: it reuses them.
 *              error   rule (a): attempts from it failed (SYNs retransmitted
 *                      and never answered, or refused) while its ports in
 *                      use stood at their peak; warning when they only
 *                      waited (answered after a retransmission).
 *              warning rule (b): at least 256 distinct ports, dense in their
 *                      span and handed out again, and 90% of the span in use
 *                      at once: an SNAT pool seen at the server, whose
 *                      dropped SYNs never arrive (tcp-behaviour.md 9.8).
 *              info    ("headroom") fewer ports, all in use at once and
 *                      handed out again, and nothing failed or waited: a
 *                      NAT's or proxy's small pool, not shown to hurt.
 *   ceiling  (inside a NAT: client, path or unknown vantage) connections to
 *            one destination, from every source, never exceed K open at
 *            once, and retried SYNs were left unanswered (or refused, or
 *            answered late) while K were open, the same K each time: a NAT
 *            pool of K ports toward that destination dropping them
 *            (conntrack insert_failed, tcp-behaviour.md 4.3 step 6, 9.8);
 *            rule (a), error (warning when they only waited).
 *
 * A client's own narrow ephemeral range is not inferred from the few ports
 * it used: the connect() calls it refuses send no packet (EADDRNOTAVAIL,
 * tcp-behaviour.md 3.8), and a handful of consecutive ports of both
 * parities is what two parallel connections of a browser, or an older
 * Linux (sequential ports before 4.6), give on any range.
 *
 * Limits: see port_pool.c; a server admitting K connections at once looks
 * like a ceiling of K from inside (the finding says so).
 */

/* ---- the pool signature ------------------------------------------------------- */

/* Unexplained harm at the plateau (claims) and in all (*tried). */
static void pool_claims(pe_verdict *v, const pp_pool *pl, diag_ctx *ctx, uint32_t *tried)
{
    *tried = 0;
    for (size_t i = 0; i < pl->n; i++) {
        bool failed;
        *tried += pp_harm(ctx, &pl->r[i], &failed) &&
                  !diag_ctx_is_explained(ctx, pl->r[i].first_packet);
    }
    for (uint32_t j = 0; j < pl->n_harm; j++) {
        const pp_rec *r = &pl->r[pl->harm[j]];
        bool failed;
        if (diag_ctx_is_explained(ctx, r->first_packet))
            continue;
        pp_harm(ctx, r, &failed);
        v->claim[v->n_claim++] = pl->harm[j];
        v->n_failed += failed;
    }
}

/* Which of the rule's cases the pool meets; false: none. */
static bool pool_judge(pe_verdict *v, const pp_pool *pl, uint32_t tried)
{
    bool reused = pl->ok > pl->ports;
    if (reused && pl->sw.peak >= 2 && v->n_claim >= PP_HARM_MIN &&
        v->n_claim >= PP_HARM_SHARE * tried) {
        v->basis = PE_HARM;
        v->sev = v->n_failed > 0 ? DIAG_ERROR : DIAG_WARNING;
        return true;
    }
    if (pl->range_known && pl->near_full) {
        v->basis = PE_RANGE;
        v->sev = DIAG_WARNING;
        return true;
    }
    /* A few ports, all in use at once and each handed out again: as much
     * as a small pool can show without harm.  Ports that merely all happen
     * to be in use once (idle connections left open, the last new port
     * appearing) are not even that. */
    if (reused && pl->sw.peak >= pl->full && pl->cycled >= pl->full) {
        v->basis = PE_HEADROOM;
        v->sev = DIAG_INFO;
        return true;
    }
    return false;
}

/* One source group, records by port then time. */
static int analyse_source(const pp_table *t, const pp_rec *r, size_t n, diag_ctx *ctx,
                          diag_findings *out)
{
    pp_pool pl;
    pe_verdict v;
    memset(&v, 0, sizeof v);
    int rc = pp_pool_estimate(t, r, n, ctx, &pl);
    if (rc != 0 || pl.ports < 2)
        goto out;
    rc = -ENOMEM;
    v.pl = &pl;
    v.claim = malloc((pl.n_harm ? pl.n_harm : 1) * sizeof *v.claim);
    if (v.claim == NULL)
        goto out;
    uint32_t tried;
    pool_claims(&v, &pl, ctx, &tried);
    rc = 0;
    if (!pool_judge(&v, &pl, tried))
        goto out;
    rc = pe_pool_report(&v, ctx, out);
    for (uint32_t i = 0; i < v.n_claim && rc == 0; i++)
        rc = diag_ctx_explain(ctx, r[v.claim[i]].first_packet);
out:
    free(v.claim);
    pp_pool_free(&pl);
    return rc;
}

/* ---- the ceiling signature (inside a NAT) --------------------------------------- */

static void ceil_free(pe_ceil *c)
{
    free(c->s);
    free(c->e);
    free(c->of);
    free(c->hit);
    pp_sweep_free(&c->sw);
}

/* The open intervals of the connected records, and their sweep. */
static int ceil_holds(pe_ceil *c, const pp_table *t, const diag_ctx *ctx)
{
    c->s = malloc(c->ok * sizeof *c->s);
    c->e = malloc(c->ok * sizeof *c->e);
    c->of = malloc(c->ok * sizeof *c->of);
    c->hit = malloc(c->fails * sizeof *c->hit);
    if (c->s == NULL || c->e == NULL || c->of == NULL || c->hit == NULL)
        return -ENOMEM;
    double life = 0;
    for (size_t i = 0, k = 0; i < c->n; i++) {
        if (!pp_ok_kind(c->r[i].kind))
            continue;
        c->s[k] = pp_held_from(&c->r[i]);
        c->e[k] = pp_open_until(t, &c->r[i]);
        c->of[k++] = (uint32_t)i;
        life += diag_secs(c->r[i].end - c->r[i].start);
    }
    c->life_mean = life / c->ok;
    return pp_sweep_build(&c->sw, c->s, c->e, c->ok, 0, ctx->last_ts);
}

/* One destination group, records by time. */
static int analyse_ceiling(const pp_table *t, const pp_rec *r, size_t n, diag_ctx *ctx,
                           diag_findings *out)
{
    pe_ceil c;
    memset(&c, 0, sizeof c);
    c.d = &t->dst.v[t->src.v[r[0].grp].dgrp];
    c.src = t->src.v;
    c.r = r;
    c.n = n;
    uint32_t srcs = 0;
    for (size_t i = 0; i < n; i++) {
        bool failed;
        c.ok += pp_ok_kind(r[i].kind);
        c.fails += pp_harm(ctx, &r[i], &failed) && !diag_ctx_is_explained(ctx, r[i].first_packet);
        srcs += i == 0 || r[i].grp != r[0].grp;
    }
    c.one_src = srcs == 1;
    if (c.fails < PP_HARM_MIN || c.ok < 2)
        return 0;
    int rc = ceil_holds(&c, t, ctx);
    if (rc != 0 || c.sw.peak < 2)
        goto out;
    for (size_t i = 0; i < n; i++) {
        bool failed;
        if (pp_harm(ctx, &r[i], &failed) && !diag_ctx_is_explained(ctx, r[i].first_packet) &&
            pp_at_plateau(&c.sw, c.sw.peak, &r[i])) {
            c.hit[c.n_hit++] = (uint32_t)i;
            c.n_failed += failed;
        }
    }
    if (c.n_hit < PP_HARM_MIN || c.n_hit < PP_HARM_SHARE * c.fails)
        goto out;
    for (size_t i = c.hit[0] + 1; i < n && c.recovered == NULL; i++)
        if (pp_ok_kind(r[i].kind) && r[i].held_us == 0)
            c.recovered = &r[i];
    if ((rc = pe_ceil_report(&c, ctx, out)) != 0)
        goto out;
    for (uint32_t i = 0; i < c.n_hit && rc == 0; i++)
        rc = diag_ctx_explain(ctx, r[c.hit[i]].first_packet);
out:
    ceil_free(&c);
    return rc;
}

static int cmp_by_start(const void *x, const void *y)
{
    const pp_rec *a = x, *b = y;
    if (a->start != b->start)
        return a->start < b->start ? -1 : 1;
    return (a->first_packet > b->first_packet) - (a->first_packet < b->first_packet);
}

/* Source groups ordered by their destination group (no record carries it). */
static uint32_t *groups_by_destination(const pp_table *t)
{
    size_t ng = t->src.n, nd = t->dst.n;
    uint32_t *order = malloc((ng ? ng : 1) * sizeof *order);
    size_t *cnt = calloc(nd + 1, sizeof *cnt);
    if (order == NULL || cnt == NULL) {
        free(order);
        free(cnt);
        return NULL;
    }
    for (size_t g = 0; g < ng; g++)
        cnt[t->src.v[g].dgrp + 1]++;
    for (size_t d = 1; d <= nd; d++)
        cnt[d] += cnt[d - 1];
    for (size_t g = 0; g < ng; g++)
        order[cnt[t->src.v[g].dgrp]++] = (uint32_t)g;
    free(cnt);
    return order;
}

/* Per destination, the records of all its sources by time (t->rec is
 * sorted by source group: each group's records are a slice). */
static int find_ceilings(const pp_table *t, diag_ctx *ctx, diag_findings *out)
{
    size_t ng = t->src.n;
    size_t *first = malloc((ng + 1) * sizeof *first);
    uint32_t *order = groups_by_destination(t);
    pp_rec *scratch = malloc((t->n_rec ? t->n_rec : 1) * sizeof *scratch);
    int rc = -ENOMEM;
    if (first == NULL || order == NULL || scratch == NULL)
        goto out;
    for (size_t g = 0, i = 0; g <= ng; g++) {
        while (i < t->n_rec && t->rec[i].grp < g)
            i++;
        first[g] = i;
    }
    rc = 0;
    for (size_t k = 0, l; k < ng && rc == 0; k = l) {
        uint32_t d = t->src.v[order[k]].dgrp;
        size_t m = 0;
        for (l = k; l < ng && t->src.v[order[l]].dgrp == d; l++) {
            size_t a = first[order[l]], b = first[order[l] + 1];
            memcpy(&scratch[m], &t->rec[a], (b - a) * sizeof *scratch);
            m += b - a;
        }
        qsort(scratch, m, sizeof *scratch, cmp_by_start);
        rc = analyse_ceiling(t, scratch, m, ctx, out);
    }
out:
    free(first);
    free(order);
    free(scratch);
    return rc;
}

/* Failed or delayed attempts no detector explains yet. */
static size_t ceiling_candidates(const pp_table *t, diag_ctx *ctx)
{
    size_t n = 0;
    for (size_t i = 0; i < t->n_rec; i++) {
        bool failed;
        n += pp_harm(ctx, &t->rec[i], &failed) && !diag_ctx_is_explained(ctx, t->rec[i].first_packet);
    }
    return n;
}

/* The records are the engine's (ctx->ports, one table for every detector
 * that weighs port pools), finished and grouped by source. */
static int pe_finish(void *p, diag_ctx *ctx, diag_findings *out)
{
    (void)p;
    const pp_table *t = ctx->ports;
    int rc = 0;
    if (t == NULL || t->n_rec == 0)
        return 0;
    const pp_rec *rec = t->rec;
    for (size_t i = 0, j; i < t->n_rec && rc == 0; i = j) {
        for (j = i + 1; j < t->n_rec && rec[j].grp == rec[i].grp; j++)
            ;
        rc = analyse_source(t, &rec[i], j - i, ctx, out);
    }
    /* At the server the SYNs arrived: unanswered ones are not a NAT's doing. */
    if (rc != 0 || ctx->vantage == DIAG_VANTAGE_SERVER || ceiling_candidates(t, ctx) < PP_HARM_MIN)
        return rc;
    return find_ceilings(t, ctx, out);
}

const diag_detector diag_det_port_exhaustion = {
    .id = "port-exhaustion",
    .reads = DIAG_FACT_PAWS_DROPS | DIAG_FACT_TW_JUDGED,
    .finish = pe_finish,
};
