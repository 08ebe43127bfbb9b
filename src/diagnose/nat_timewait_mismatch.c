/* nat_timewait_mismatch.c - detector: one source IP reuses ports sooner than the server's TIME_WAIT lasts. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "diagnose/ntm_internal.h"

/*
 * How it works.  From the reuse events timewait-reuse collected, take those
 * where the server closed first (so the server held TIME_WAIT, RFC 9293 3.6)
 * and group them by client IP.  A group with at least one rejected reuse
 * (ignored, stale ACK or RST) is a NAT - or many clients behind one address -
 * handing out ports sooner than the server forgets them (tcp-behaviour.md
 * 9.3):
 *   - the reuse intervals (new SYN minus the old connection's last packet)
 *     show how soon that IP reuses a port: its effective hold time;
 *   - the server's TIME_WAIT is longer than the largest interval it rejected,
 *     and at most the smallest interval of a reuse it accepted cleanly
 *     (SYN-ACK to the first SYN, no stale ACK) that it would have refused
 *     inside TIME_WAIT, when that exceeds every rejected gap.  A server
 *     takes a SYN inside TIME_WAIT whose ISN is above the old final
 *     sequence number (RFC 1122 4.2.2.13; Linux
 *     tcp_timewait_state_process(), FreeBSD tcp_twcheck()) or whose TSval
 *     is newer (RFC 6191, Linux): such an acceptance says nothing of how
 *     long the TIME_WAIT lasts, unless the same server refused, inside
 *     TIME_WAIT, a SYN that passed that very test (then it does not apply
 *     it: Windows is reported to ignore them, tcp-behaviour.md 5, 10).
 *     tw_internal.h holds the rules.
 * Those bounds are then named against the stacks' defaults (Linux/FreeBSD
 * 60 s, macOS 30 s, Windows 120/240 s: tcp-behaviour.md 10).
 *
 * The files: this one groups the counted reuses by client address and runs
 * the finish; ntm_judge.c learns each server's rules, bounds its TIME_WAIT
 * and returns a verdict (ntm_judge(): intervals, bounds, the packets to
 * show, severity, confidence); ntm_words.c turns a verdict into the
 * finding's text (ntm_words()).  Its structures are in ntm_internal.h.
 *
 * Limits: one event gives a point, not a distribution, and the confidence
 * says so; a client reusing its own port (tcp_tw_reuse) looks the same
 * unless TTLs or timestamp clocks show another host.
 */

static void *m_create(diag_ctx *ctx)
{
    (void)ctx;
    return calloc(1, 1);
}

static void m_destroy(void *st)
{
    free(st);
}

static int add_gap(ntm_group *g, double gap)
{
    if (g->ngaps == g->capgaps) {
        size_t nc = g->capgaps ? g->capgaps * 2 : 16;
        double *p = realloc(g->gaps, nc * sizeof *p);
        if (p == NULL)
            return -ENOMEM;
        g->gaps = p;
        g->capgaps = nc;
    }
    g->gaps[g->ngaps++] = gap;
    return 0;
}

/*
 * Groups by client address through the shared index (a capture may hold
 * reuses from very many addresses), and each group's rejected reuses are
 * chained in event order, so that its evidence is found without walking
 * every event again.  group_event() counts event i (counted, e) into its
 * group gr (created: new); r is its server's rules.  0 or -ENOMEM.
 */
static int group_event(ntm_group *gr, bool created, size_t i, const tw_event *e,
                       const tw_rules *r, size_t *next_rejected)
{
    if (created) {
        gr->gap_min = gr->gap_max = e->gap_s;
        gr->rejected_max = -1;
        gr->server = e->server;
        gr->server_port = e->server_port;
        gr->servers = 1;
    }
    gr->n++;
    if (gr->servers == 1 && (gr->server_port != e->server_port ||
                             memcmp(gr->server.b, e->server.b, 16) != 0))
        gr->servers = 2;
    if (e->gap_s < gr->gap_min) gr->gap_min = e->gap_s;
    if (e->gap_s > gr->gap_max) gr->gap_max = e->gap_s;
    if (add_gap(gr, e->gap_s) != 0)
        return -ENOMEM;
    if (ntm_rejected(e)) {
        if (gr->rejected == 0)
            gr->first_rejected = i;
        else
            next_rejected[gr->last_rejected] = i;
        gr->last_rejected = i;
        gr->rejected++;
        if (e->gap_s > gr->rejected_max)
            gr->rejected_max = e->gap_s;
        if (!e->succeeded)
            gr->failed++;
    } else {
        ntm_count_accepted(gr, e, r);
    }
    if (e->prev_client_ttl != e->cur_client_ttl ||
        (e->prev_ts_seen != e->cur_ts_seen))
        gr->other_host++;
    return 0;
}

static int m_finish(void *st, diag_ctx *ctx, diag_findings *out)
{
    (void)st;
    tw_rules *rules;
    size_t *rules_of;
    if (ntm_learn_rules(ctx, &rules, &rules_of) != 0) {
        free(rules);
        free(rules_of);
        return -ENOMEM;
    }
    static const diag_table tab = { sizeof(ntm_group), offsetof(ntm_group, client),
                                    sizeof(pkt_addr) };
    diag_index ix = { .seed = (uint64_t)(uintptr_t)ctx * 0xc2b2ae3d27d4eb4fULL };
    ntm_group *g = NULL;
    size_t ng = 0, cap = 0;
    int rc = 0;
    size_t *next_rejected = malloc((ctx->n_tw ? ctx->n_tw : 1) * sizeof *next_rejected);
    if (next_rejected == NULL)
        rc = -ENOMEM;
    for (size_t i = 0; i < ctx->n_tw && rc == 0; i++) {
        const tw_event *e = diag_tw(ctx, i);
        if (!ntm_counted(e))
            continue;
        bool created;
        void *v = g;
        long k = diag_index_get(&ix, &tab, &v, &ng, &cap, &e->client, &created);
        g = v;
        rc = k < 0 ? -ENOMEM
             : group_event(&g[k], created, i, e, &rules[rules_of[i]], next_rejected);
    }
    for (size_t k = 0; k < ng && rc == 0; k++) {
        if (g[k].rejected == 0)
            continue;
        ntm_verdict vd;
        ntm_judge(&g[k], next_rejected, ctx, &vd);
        rc = ntm_words(&vd, ctx, out);
    }
    for (size_t k = 0; k < ng; k++)
        free(g[k].gaps);
    free(g);
    free(next_rejected);
    free(rules);
    free(rules_of);
    diag_index_reset(&ix);
    return rc;
}

const diag_detector diag_det_nat_timewait_mismatch = {
    .id = "nat-timewait-mismatch",
    .reads = DIAG_FACT_TW_JUDGED,
    .create = m_create,
    .finish = m_finish,
    .destroy = m_destroy,
};
