/* isn_judge.c - isn-not-increasing judges: which reuses met TIME_WAIT with an ISN not above, who sent them, its verdicts. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "diagnose/isn_internal.h"

/* Who sent the reusing SYN, compared with the old connection's client. */
enum host_reading {
    HOST_SAME,          /* one timestamp clock, same TTL and SYN shape */
    HOST_LIKELY_SAME,   /* same TTL and SYN shape, no timestamps to compare */
    HOST_OTHER,         /* TTL, SYN shape or timestamp clock differ */
    HOST_UNKNOWN        /* the old connection is not in the capture */
};

int isn_note_cmp(const void *x, const void *y)
{
    uint64_t a = ((const isn_note *)x)->syn_packet, b = ((const isn_note *)y)->syn_packet;
    return a < b ? -1 : a > b;
}

/* The note of the reuse whose first SYN is syn_packet (notes sorted). */
static const isn_note *note_of(const isn_state *st, uint64_t syn_packet)
{
    if (st->n == 0)
        return NULL;
    isn_note key = { .syn_packet = syn_packet };
    return bsearch(&key, st->notes, st->n, sizeof *st->notes, isn_note_cmp);
}

/* The reuse met the other side's TIME_WAIT (or may have): the server closed
 * the old connection first, with FINs, less than 240 s before; or the
 * server answered from an old connection the capture does not show.  Not
 * when timewait-reuse found the answers were not the server's (not_tw: a
 * device near the capture point answered for several servers), nor when
 * the bare ACK was the server's ACK of this incarnation's own bytes (no
 * event then: tw_stale.c). */
static bool met_timewait(const tw_event *e)
{
    if (e->unpaired)
        return e->outcome == TW_STALE_ACK && !e->not_tw;
    return !e->not_tw && e->prev_closer == FLOW_SIDE_SERVER && !e->prev_reset && e->gap_s >= 0 &&
           e->gap_s < ISN_TW_MAX_S;
}

static bool isn_not_above(const tw_event *e)
{
    if (e->unpaired)
        return !diag_seq_gt(e->cur_client_isn, e->stale_ack);
    return e->isn_not_above;
}

/* Same host or another one behind the same address (tcp-behaviour.md 9.10:
 * TTL, SYN options, timestamp clock).  A TSval that went back, or ran ahead
 * faster than a 1 kHz clock over the gap, is another clock.  Without
 * timestamps two hosts of one kind behind a NAT look alike. */
static enum host_reading read_host(const diag_ctx *ctx, const tw_event *e, const isn_note *n)
{
    if (e->unpaired) {
        const tw_extra *ak = diag_tw_acked(ctx, e);
        if (ak != NULL && (ak->acked_client_port != e->client_port ||
                           memcmp(ak->acked_client.b, e->client.b, 16) != 0))
            return HOST_OTHER;
        return HOST_UNKNOWN;
    }
    if (e->prev_client_ttl != e->cur_client_ttl || e->prev_ts_seen != e->cur_ts_seen ||
        (n != NULL && n->shape_known && !n->same_shape))
        return HOST_OTHER;
    if (e->prev_ts_seen && e->cur_ts_seen) {
        int32_t d = (int32_t)(e->cur_client_tsval_syn - e->prev_client_tsval_last);
        if (d < 0 || (double)d > e->gap_s * ISN_TS_MAX_HZ * 1.25 + 1000.0)
            return HOST_OTHER;
        return HOST_SAME;
    }
    return HOST_LIKELY_SAME;
}

/* The new ISN is where a Linux host's ISN clock for this 4-tuple would be
 * (same hash, ns >> 6 since the old SYN): a compliant host whose old
 * connection outran its clock. */
static bool linux_isn_clock(const tw_event *e, const isn_note *n)
{
    if (n == NULL || !n->prev_isn_seen || e->syn_ts <= n->prev_syn_ts)
        return false;
    uint32_t expect = n->prev_isn + (uint32_t)((uint64_t)(e->syn_ts - n->prev_syn_ts) /
                                               ISN_LINUX_TICK_NS);
    uint32_t d = e->cur_client_isn - expect;
    return d <= ISN_CLOCK_SLACK || d >= 0u - ISN_CLOCK_SLACK;
}

/* A group with only its key set (the index compares the key's bytes). */
static isn_verdict group_key(const tw_event *e)
{
    isn_verdict key;
    memset(&key, 0, sizeof key);
    key.client = e->client;
    key.server = e->server;
    key.server_port = e->server_port;
    return key;
}

static void count_event(isn_verdict *g, const isn_state *st, const diag_ctx *ctx,
                        const tw_event *e, size_t i)
{
    g->reuses++;
    if (!isn_not_above(e)) {
        if (e->outcome == TW_ACCEPTED) {
            if (g->above_accepted++ == 0)
                g->first_above_accepted = e->syn_packet;
        } else {
            g->above_rejected++;
        }
        return;
    }
    const isn_note *n = e->unpaired ? NULL : note_of(st, e->syn_packet);
    g->not_above++;
    bool rej = e->outcome != TW_ACCEPTED;
    if (rej) {
        g->rejected++;
        g->ignored += e->outcome == TW_IGNORED;
        g->failed += !e->succeeded;
        if (e->delay_s > g->delay_max)
            g->delay_max = e->delay_s;
        if (!e->unpaired && e->gap_s > g->rejected_gap_max)
            g->rejected_gap_max = e->gap_s;
        if (isn_ts_newer(e))
            g->rejected_ts_newer++;
        if (!g->have_rejected_example) {
            g->example = i;
            g->have_rejected_example = true;
        }
    } else {
        g->accepted++;
        g->accepted_ts += isn_ts_newer(e);
        if (!isn_ts_newer(e) && !e->unpaired &&
            (g->accepted_plain++ == 0 || e->gap_s < g->accepted_plain_gap_min)) {
            g->accepted_plain_gap_min = e->gap_s;
            g->accepted_plain_packet = e->syn_packet;
        }
        if (g->not_above == 1)
            g->example = i;
    }
    switch (read_host(ctx, e, n)) {
    case HOST_SAME: g->same_host++; break;
    case HOST_LIKELY_SAME: g->likely_same++; break;
    case HOST_OTHER:
        if (g->other_host++ == 0)
            g->other_example = i;
        break;
    case HOST_UNKNOWN: g->unknown_host++; break;
    }
    if (n != NULL && n->prev_isn_seen) {
        if (e->cur_client_isn == n->prev_isn)
            g->same_isn++;
        else if (!diag_seq_gt(e->cur_client_isn, n->prev_isn))
            g->isn_back++;
        if (linux_isn_clock(e, n))
            g->clock_ok++;
    }
}

/* The server took a SYN failing the rule (no newer timestamp either) as
 * soon after a close as it refused another: it does not enforce the rule,
 * so the ISN cannot explain the refusals. */
static bool contradicted(const isn_verdict *g)
{
    return g->rejected > 0 && g->accepted_plain > 0 &&
           g->accepted_plain_gap_min <= g->rejected_gap_max;
}


/* Which of read_host()'s tests said HOST_OTHER, in its order (n: the
 * event's note, if any). */
static enum isn_other_why other_why(const diag_ctx *ctx, const tw_event *e, const isn_note *n)
{
    if (e->unpaired && diag_tw_acked(ctx, e) != NULL)
        return ISN_OTHER_ACKED;
    if (e->prev_client_ttl != e->cur_client_ttl)
        return ISN_OTHER_TTL;
    if (e->prev_ts_seen != e->cur_ts_seen)
        return ISN_OTHER_TS_PRESENCE;
    if (n != NULL && n->shape_known && !n->same_shape)
        return ISN_OTHER_SHAPE;
    if ((int32_t)(e->cur_client_tsval_syn - e->prev_client_tsval_last) < 0)
        return ISN_OTHER_TS_BACK;
    return ISN_OTHER_TS_FAST;
}

/* A group's severity and confidence, and the reuses it lists in full: the
 * example first, then the others in capture order. */
static void judge_group(isn_verdict *g, const size_t *next_na, const isn_state *st,
                        const diag_ctx *ctx)
{
    g->contradicted = contradicted(g);
    g->warn = g->rejected > 0 && !g->contradicted;
    g->nat = g->other_host > g->same_host + g->likely_same;
    g->sev = g->warn ? DIAG_WARNING : DIAG_INFO;
    const tw_event *ex = diag_tw(ctx, g->example);
    /* A paired stale ACK naming the old final sequence number shows the
     * server's comparison itself; a stale ACK alone could also come from a
     * stale established connection (challenge ACK, tcp-behaviour.md 3.4). */
    g->conf = g->contradicted ? 0.4 : !g->warn ? 0.6
              : ex->outcome == TW_IGNORED ? 0.6     /* Windows may ignore any such SYN */
              : ex->outcome == TW_RESET ? 0.7
              : ex->unpaired ? 0.7
              : ex->stale_ack == isn_old_final(ex) ? 0.9 : 0.8;
    if (g->other_host > 0) {
        const tw_event *o = diag_tw(ctx, g->other_example);
        g->other_note = note_of(st, o->syn_packet);
        g->other_why = other_why(ctx, o, g->other_note);
    }
    g->shown[0] = g->example;
    g->n_shown = 1;
    uint64_t walked = 0;
    for (size_t i = g->first_na; walked < g->not_above && g->n_shown < ISN_EVIDENCE_EVENTS;
         i = next_na[i], walked++)
        if (i != g->example)
            g->shown[g->n_shown++] = i;
    for (size_t k = 0; k < g->n_shown; k++) {
        const tw_event *e = diag_tw(ctx, g->shown[k]);
        g->shown_note[k] = e->unpaired ? NULL : note_of(st, e->syn_packet);
    }
}

/* Count every reuse that met the TIME_WAIT into its group, chaining the
 * not-above ones along next_na[]. */
static void count_groups(const isn_state *st, const diag_ctx *ctx, diag_index *ix,
                         const diag_table *tab, isn_verdicts *out, size_t *next_na)
{
    for (size_t i = 0; i < ctx->n_tw && out->n > 0; i++) {
        const tw_event *e = diag_tw(ctx, i);
        if (!met_timewait(e))
            continue;
        isn_verdict key = group_key(e);
        long k = diag_index_find(ix, tab, out->v, &key);
        if (k < 0)
            continue;
        isn_verdict *gr = &out->v[k];
        if (isn_not_above(e)) {
            if (gr->not_above == 0)
                gr->first_na = i;
            else
                next_na[gr->last_na] = i;
            gr->last_na = i;
        }
        count_event(gr, st, ctx, e, i);
    }
}

int isn_judge(const isn_state *st, const diag_ctx *ctx, isn_verdicts *out)
{
    /* Groups come from the reuses whose ISN was not above (rare: none in
     * healthy traffic); the second pass counts every reuse of those groups
     * and chains their not-above reuses for the evidence.  The index finds a
     * group in constant time however many clients a capture holds. */
    static const diag_table tab = { sizeof(isn_verdict), offsetof(isn_verdict, client),
                                    offsetof(isn_verdict, server_port) + sizeof(uint16_t) };
    diag_index ix = { .seed = (uint64_t)(uintptr_t)st * 0x9e3779b97f4a7c15ULL };
    size_t cap = 0;
    int rc = 0;
    memset(out, 0, sizeof *out);
    size_t *next_na = malloc((ctx->n_tw ? ctx->n_tw : 1) * sizeof *next_na);
    if (next_na == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < ctx->n_tw; i++) {
        const tw_event *e = diag_tw(ctx, i);
        if (!met_timewait(e) || !isn_not_above(e))
            continue;
        isn_verdict key = group_key(e);
        void *v = out->v;
        long k = diag_index_get(&ix, &tab, &v, &out->n, &cap, &key, NULL);
        out->v = v;
        if (k < 0) {
            rc = -ENOMEM;
            goto out;
        }
    }
    count_groups(st, ctx, &ix, &tab, out, next_na);
    for (size_t k = 0; k < out->n; k++)
        if (out->v[k].not_above > 0)
            judge_group(&out->v[k], next_na, st, ctx);
out:
    free(next_na);
    diag_index_reset(&ix);
    return rc;
}

void isn_verdicts_free(isn_verdicts *v)
{
    free(v->v);
    memset(v, 0, sizeof *v);
}
