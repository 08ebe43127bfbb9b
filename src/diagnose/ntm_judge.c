/* ntm_judge.c - nat-timewait-mismatch judges: the servers' rules, the TIME_WAIT bounds, its verdicts. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "diagnose/ntm_internal.h"

/*
 * The bounds and the rules are described in nat_timewait_mismatch.c's
 * design comment (tcp-behaviour.md 5, 9.3, 10).  Everything that decides
 * lives here: which accepted reuses bound the server's TIME_WAIT (RFC 1122
 * 4.2.2.13, RFC 6191: tw_internal.h), the bounds, the severity, the
 * confidence and which packets are shown.  Nothing here writes text
 * (ntm_words.c does, from the verdict).
 */

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

int ntm_learn_rules(const diag_ctx *ctx, tw_rules **rules, size_t **of)
{
    diag_ep_groups eg;
    *rules = NULL;
    *of = malloc((ctx->n_tw ? ctx->n_tw : 1) * sizeof **of);
    int rc = *of == NULL ? -ENOMEM
             : diag_ep_groups_init(&eg, ctx->n_tw, (uint64_t)(uintptr_t)ctx * 0x27d4eb2f165667c5ULL);
    if (*of == NULL)
        return rc;
    for (size_t i = 0; i < ctx->n_tw && rc == 0; i++) {
        const tw_event *e = diag_tw(ctx, i);
        if (!ntm_counted(e))
            continue;
        long k = diag_ep_groups_add(&eg, &e->server, e->server_port, i);
        if (k < 0)
            rc = -ENOMEM;
        else
            (*of)[i] = (size_t)k;
    }
    if (rc == 0 && (*rules = calloc(eg.n ? eg.n : 1, sizeof **rules)) == NULL)
        rc = -ENOMEM;
    for (size_t i = 0; i < ctx->n_tw && rc == 0; i++) {
        const tw_event *e = diag_tw(ctx, i);
        if (ntm_counted(e) && ntm_rejected(e))
            tw_rules_learn(&(*rules)[(*of)[i]], e);
    }
    diag_ep_groups_free(&eg);
    return rc;
}

/* An accepted reuse: bounds the server's TIME_WAIT only when the server
 * would have refused it inside TIME_WAIT. */
void ntm_count_accepted(ntm_group *gr, const tw_event *e, const tw_rules *r)
{
    gr->accepted++;
    if (!tw_would_refuse(e, r)) {
        gr->accepted_anyway++;
        gr->anyway_seq |= tw_seq_newer(e) && !r->no_seq;
        gr->anyway_ts |= tw_ts_newer(e) && !r->no_ts;
        return;
    }
    if (gr->bounding++ == 0 || e->gap_s < gr->accepted_min)
        gr->accepted_min = e->gap_s;
}

/* The earliest NTM_EV_MAX rejected reuses in time (events are in the order
 * their pairs ended, not in SYN order). */
static void pick_evidence(const ntm_group *g, const size_t *next_rejected,
                          const diag_ctx *ctx, ntm_verdict *vd)
{
    size_t *pick = vd->shown, npick = 0;
    uint64_t seen = 0;
    for (size_t i = g->first_rejected; seen < g->rejected; i = next_rejected[i]) {
        const tw_event *e = diag_tw(ctx, i);
        seen++;
        /* keep the earliest: insertion into a short sorted array */
        size_t at = npick;
        while (at > 0 && diag_tw(ctx, pick[at - 1])->syn_packet > e->syn_packet)
            at--;
        if (at >= NTM_EV_MAX)
            continue;
        size_t keep = npick < NTM_EV_MAX ? npick : NTM_EV_MAX - 1;
        memmove(&pick[at + 1], &pick[at], (keep - at) * sizeof pick[0]);
        pick[at] = i;
        if (npick < NTM_EV_MAX)
            npick++;
    }
    vd->n_shown = npick;
    vd->ev_omitted = g->rejected > NTM_EV_MAX ? g->rejected - NTM_EV_MAX : 0;
}

void ntm_judge(ntm_group *g, const size_t *next_rejected, const diag_ctx *ctx,
               ntm_verdict *vd)
{
    memset(vd, 0, sizeof *vd);
    qsort(g->gaps, g->ngaps, sizeof *g->gaps, cmp_double);
    vd->client = g->client;
    vd->server = g->server;
    vd->server_port = g->server_port;
    vd->one_server = g->servers == 1;
    vd->n = g->n;
    vd->rejected = g->rejected;
    vd->failed = g->failed;
    vd->other_host = g->other_host;
    vd->accepted_anyway = g->accepted_anyway;
    vd->anyway_seq = g->anyway_seq;
    vd->anyway_ts = g->anyway_ts;
    vd->gap_min = g->gap_min;
    vd->gap_max = g->gap_max;
    vd->median = g->gaps[g->ngaps / 2];
    vd->rejected_max = g->rejected_max;
    vd->accepted_min = g->accepted_min;
    /* an upper bound only from a clean acceptance beyond every rejected gap */
    vd->upper = g->bounding > 0 && g->accepted_min > g->rejected_max;
    vd->severity = g->failed > 0 ? DIAG_ERROR : DIAG_WARNING;
    double conf = g->rejected >= 3 ? 0.9 : g->rejected == 2 ? 0.8 : 0.65;
    if (g->other_host > 0 && conf < 0.95)
        conf += 0.05;
    vd->confidence = conf;
    pick_evidence(g, next_rejected, ctx, vd);
}
