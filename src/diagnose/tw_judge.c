/* tw_judge.c - timewait-reuse judges: which reuses are TIME_WAIT's doing, the attempts it explains, its verdicts. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "diagnose/tw_internal.h"

/*
 * A server that ignores SYNs on a tuple in TIME_WAIT (Windows, and FreeBSD
 * or macOS for old sequence numbers: tcp-behaviour.md 9.2) ignores every
 * reuse within its TIME_WAIT and accepts those after it: one threshold.  So
 * per server endpoint, every "ignored" reuse must have come sooner after
 * the close than every reuse accepted at once, and sooner than the moment a
 * retried SYN was finally accepted.  When that fails, the ignored SYNs were
 * lost on the way (a retry a second later succeeds while an earlier reuse
 * was accepted at once): they are not TIME_WAIT's doing.  A stale ACK is the
 * server's own word that it holds the old connection and needs no check.
 *
 * An acceptance sets that threshold only when the server would have refused
 * the SYN inside TIME_WAIT: an older ISN (RFC 1122 4.2.2.13) and no newer
 * TSval (RFC 6191), tw_internal.h.  One taken by a newer ISN (or TSval)
 * says instead that the server takes such SYNs, or that its TIME_WAIT was
 * over: either way a later ignored SYN that also had a newer ISN (TSval)
 * was lost.
 */
typedef struct ignored_check {
    double lower;           /* latest ignored reuse */
    double upper;           /* earliest acceptance the rules would have refused */
    double upper_seq;       /* earliest acceptance of a SYN with a newer ISN */
    double upper_ts;        /* ... with a newer TSval */
    bool   any_ignored;
} ignored_check;

static void ignored_check_add(ignored_check *k, const tw_event *e)
{
    static const tw_rules none;
    if (e->outcome == TW_IGNORED) {
        k->any_ignored = true;
        if (e->gap_s > k->lower)
            k->lower = e->gap_s;
        /* the retry that got through carries the same ISN: it bounds only
           when refusable (it may have come just after the TIME_WAIT) */
        if (e->succeeded && tw_would_refuse(e, &none) && e->gap_s + e->delay_s < k->upper)
            k->upper = e->gap_s + e->delay_s;
    } else if (e->outcome == TW_ACCEPTED) {
        if (tw_would_refuse(e, &none) && e->gap_s < k->upper)
            k->upper = e->gap_s;
        if (tw_seq_newer(e) && e->gap_s < k->upper_seq)
            k->upper_seq = e->gap_s;
        if (tw_ts_newer(e) && e->gap_s < k->upper_ts)
            k->upper_ts = e->gap_s;
    }
}

/* An ignored reuse that the group's acceptances show was lost. */
static bool ignored_lost(const ignored_check *k, const tw_event *e)
{
    return e->outcome == TW_IGNORED &&
           ((tw_seq_newer(e) && e->gap_s >= k->upper_seq) ||
            (tw_ts_newer(e) && e->gap_s >= k->upper_ts));
}

static int check_ignored_consistency(diag_ctx *ctx)
{
    diag_ep_groups eg;
    int rc = diag_ep_groups_init(&eg, ctx->n_tw, (uint64_t)(uintptr_t)ctx * 0xc2b2ae3d27d4eb4fULL);
    for (size_t i = 0; i < ctx->n_tw && rc == 0; i++) {
        const tw_event *e = diag_tw(ctx, i);
        if (tw_is_hit(e) && e->prev_closer == FLOW_SIDE_SERVER &&
            diag_ep_groups_add(&eg, &e->server, e->server_port, i) < 0)
            rc = -ENOMEM;
    }
    for (size_t g = 0; g < eg.n && rc == 0; g++) {
        const diag_ep_group *gr = &eg.v[g];
        ignored_check k = { .lower = -1, .upper = 1e300, .upper_seq = 1e300, .upper_ts = 1e300 };
        for (size_t i = gr->first, m = 0; m < gr->n; i = eg.next[i], m++)
            ignored_check_add(&k, diag_tw(ctx, i));
        if (!k.any_ignored)
            continue;
        bool lost = k.lower >= k.upper;
        for (size_t i = gr->first, m = 0; m < gr->n && !lost; i = eg.next[i], m++)
            lost = ignored_lost(&k, diag_tw(ctx, i));
        if (!lost)
            continue;
        for (size_t i = gr->first, m = 0; m < gr->n; i = eg.next[i], m++)
            if (diag_tw(ctx, i)->outcome == TW_IGNORED)
                diag_tw(ctx, i)->not_tw = true;
    }
    diag_ep_groups_free(&eg);
    return rc;
}

int tw_judge_causes(diag_ctx *ctx)
{
    /* SYNs a more specific cause already explains (paws-reject: a per-host
       timestamp check dropped them) are not TIME_WAIT's doing. */
    for (size_t i = 0; i < ctx->n_tw; i++)
        if (diag_tw(ctx, i)->outcome == TW_IGNORED && !diag_tw(ctx, i)->unpaired &&
            diag_ctx_is_explained(ctx, diag_tw(ctx, i)->first_packet))
            diag_tw(ctx, i)->not_tw = true;
    return check_ignored_consistency(ctx);
}

/* Failed SYNs explained here are not syn-unanswered's: the unpaired stale
 * ACKs and the refused TIME_WAIT hits, in event order.  0 or -ENOMEM. */
static int judge_claims(const diag_ctx *ctx, tw_judgement *j)
{
    j->claim = malloc((ctx->n_tw ? ctx->n_tw : 1) * sizeof *j->claim);
    if (j->claim == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < ctx->n_tw; i++) {
        const tw_event *e = diag_tw(ctx, i);
        if (!e->not_tw && (e->unpaired || (tw_is_hit(e) && e->outcome != TW_ACCEPTED)))
            j->claim[j->n_claim++] = e->first_packet;
    }
    return 0;
}

/* Add event i to its group's verdict, chaining the group's events along
 * next[] (n_tw entries).  0 or -ENOMEM. */
static int group_add(diag_index *ix, tw_judgement *j, size_t *capg, size_t *next,
                     const tw_event *e, size_t i)
{
    static const diag_table tab = { sizeof(tw_verdict), offsetof(tw_verdict, server),
                                    offsetof(tw_verdict, port) + sizeof(uint16_t) };
    tw_verdict key;
    memset(&key, 0, sizeof key);
    key.server = e->server;
    key.outcome = e->outcome;
    key.closer = e->prev_closer;
    key.port = e->server_port;
    bool created;
    void *v = j->v;
    long k = diag_index_get(ix, &tab, &v, &j->n, capg, &key, &created);
    j->v = v;
    if (k < 0)
        return -ENOMEM;
    tw_verdict *gr = &j->v[k];
    if (created) {
        gr->first = i;
        gr->gap_min = gr->gap_max = e->gap_s;
    } else {
        next[gr->last] = i;
    }
    gr->last = i;
    gr->n++;
    if (!e->succeeded)
        gr->failed++;
    if (e->gap_s < gr->gap_min) gr->gap_min = e->gap_s;
    if (e->gap_s > gr->gap_max) gr->gap_max = e->gap_s;
    if (e->delay_s > gr->delay_max) gr->delay_max = e->delay_s;
    gr->delay_sum += e->delay_s;
    return 0;
}

/* One group per (server endpoint, outcome, closer) of the TIME_WAIT hits,
 * its events chained along next[].  0 or -ENOMEM. */
static int build_groups(const diag_ctx *ctx, tw_judgement *j, size_t *next)
{
    diag_index ix = { .seed = (uint64_t)(uintptr_t)ctx * 0x165667b19e3779f9ULL };
    size_t capg = 0;
    int rc = 0;
    for (size_t i = 0; i < ctx->n_tw && rc == 0; i++) {
        const tw_event *e = diag_tw(ctx, i);
        if (!tw_is_hit(e) || e->not_tw)
            continue;
        /* A clean accept of a SYN on a tuple the client closed is the normal
           way a client reuses its own port: not worth a finding. */
        if (e->outcome == TW_ACCEPTED && e->prev_closer == FLOW_SIDE_CLIENT)
            continue;
        rc = group_add(&ix, j, &capg, next, e, i);
    }
    diag_index_reset(&ix);
    return rc;
}

/* A group's severity, confidence and the events it lists in full. */
static void judge_group(tw_verdict *v, const size_t *next)
{
    v->sev = v->outcome == TW_ACCEPTED ? DIAG_INFO
             : v->failed > 0 ? DIAG_ERROR : DIAG_WARNING;
    v->conf = v->outcome == TW_ACCEPTED ? 0.6 : v->outcome == TW_STALE_ACK ? 0.95 : 0.8;
    v->n_shown = 0;
    for (size_t i = v->first; v->n_shown < TW_EVIDENCE_EVENTS && v->n_shown < v->n; i = next[i])
        v->shown[v->n_shown++] = i;
}

int tw_judge(const diag_ctx *ctx, tw_judgement *j)
{
    memset(j, 0, sizeof *j);
    if (judge_claims(ctx, j) != 0)
        return -ENOMEM;
    size_t *next = malloc((ctx->n_tw ? ctx->n_tw : 1) * sizeof *next);
    int rc = next == NULL ? -ENOMEM : build_groups(ctx, j, next);
    for (size_t k = 0; k < j->n && rc == 0; k++)
        judge_group(&j->v[k], next);
    free(next);
    return rc;
}

void tw_judgement_free(tw_judgement *j)
{
    free(j->claim);
    free(j->v);
    memset(j, 0, sizeof *j);
}
