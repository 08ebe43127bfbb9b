/* nat_timewait_mismatch.c - detector: one source IP reuses ports sooner than the server's TIME_WAIT lasts. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diagnose/tw_internal.h"

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
 * Limits: one event gives a point, not a distribution, and the confidence
 * says so; a client reusing its own port (tcp_tw_reuse) looks the same
 * unless TTLs or timestamp clocks show another host.
 */

typedef struct ip_group {
    pkt_addr client;
    uint64_t n, rejected, accepted, failed, other_host;
    uint64_t accepted_anyway;   /* accepted reuses the server would have taken
                                   inside TIME_WAIT too: no upper bound */
    uint64_t bounding;          /* accepted reuses that bound it (accepted_min) */
    bool     anyway_seq, anyway_ts; /* what made them acceptable */
    double gap_min, gap_max, rejected_max, accepted_min;
    double *gaps;
    size_t ngaps, capgaps;
    size_t first_rejected;      /* its rejected reuses: this event, then */
    size_t last_rejected;       /* along next_rejected[] up to this one */
    pkt_addr server;
    uint16_t server_port;
    uint16_t servers;           /* distinct server endpoints (1 or "several") */
} ip_group;

static void *m_create(diag_ctx *ctx)
{
    (void)ctx;
    return calloc(1, 1);
}

static void m_destroy(void *st)
{
    free(st);
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

static bool rejected(const tw_event *e)
{
    return e->outcome != TW_ACCEPTED;
}

/* The reuses this finding measures: a SYN after a connection the server
 * closed first with FINs, TIME_WAIT's doing, with a known interval. */
static bool counted(const tw_event *e)
{
    return !e->unpaired && !e->not_tw && e->prev_closer == FLOW_SIDE_SERVER &&
           !e->prev_reset && e->gap_s >= 0;
}

/* The stacks (diag_stacks(), one row per family) whose TIME_WAIT lies in
 * (lo, hi], hi < 0 meaning no upper bound, as "Linux (60 s), ...". */
static void name_defaults(char *buf, size_t len, double lo, double hi)
{
    size_t off = 0, n_st;
    const diag_stack *st = diag_stacks(&n_st);
    buf[0] = '\0';
    for (size_t i = 0; i < n_st; i++) {
        double s = st[i].timewait_s;
        if (st[i].variant_of != NULL || s <= lo || (hi >= 0 && s > hi))
            continue;
        int n = snprintf(buf + off, len - off, "%s%s (%.0f s)", off ? ", " : "", st[i].name, s);
        if (n < 0 || (size_t)n >= len - off)
            break;
        off += (size_t)n;
    }
}

/* Those whose TIME_WAIT is at most lo. */
static void shorter_defaults(char *buf, size_t len, double lo)
{
    name_defaults(buf, len, -1.0, lo);
}

static int add_gap(ip_group *g, double gap)
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

/* Why the accepted reuses that bound nothing would have been taken. */
static const char *anyway_words(const ip_group *g)
{
    if (g->anyway_seq && g->anyway_ts)
        return "ISN above the old final sequence number, RFC 1122 4.2.2.13, or newer TSval, "
               "RFC 6191";
    if (g->anyway_ts)
        return "newer TSval, RFC 6191";
    return "ISN above the old final sequence number, RFC 1122 4.2.2.13";
}

static int report(const ip_group *g, const size_t *next_rejected, diag_ctx *ctx,
                  diag_findings *out)
{
    qsort(g->gaps, g->ngaps, sizeof *g->gaps, cmp_double);
    double median = g->gaps[g->ngaps / 2];
    bool upper = g->bounding > 0 && g->accepted_min > g->rejected_max;
    enum diag_severity sev = g->failed > 0 ? DIAG_ERROR : DIAG_WARNING;
    double conf = g->rejected >= 3 ? 0.9 : g->rejected == 2 ? 0.8 : 0.65;
    if (g->other_host > 0 && conf < 0.95)
        conf += 0.05;
    diag_finding *f = diag_add(out, "nat-timewait-mismatch", sev, conf);
    if (f == NULL)
        return -ENOMEM;
    f->events = g->n;
    f->client = g->client;
    f->has_client = true;
    f->server = g->server;
    f->server_port = g->server_port;
    f->has_server = g->servers == 1;
    char ip[PKT_ADDR_STRLEN], srv[64], names[256], shorter[256];
    diag_addr(&g->client, ip, sizeof ip);
    diag_endpoint(&g->server, g->server_port, srv, sizeof srv);
    name_defaults(names, sizeof names, g->rejected_max, upper ? g->accepted_min : -1);
    shorter_defaults(shorter, sizeof shorter, g->rejected_max);

    if (upper)
        diag_summary(f, "%s reuses source ports after ~%.0f s, but the server keeps TIME_WAIT "
                     "between %.0f and %.0f s: %llu of %llu reuses hit it",
                     ip, g->gap_min, g->rejected_max, g->accepted_min,
                     (unsigned long long)g->rejected, (unsigned long long)g->n);
    else
        diag_summary(f, "%s reuses source ports after ~%.0f s, but the server keeps TIME_WAIT "
                     "longer than %.0f s: %llu of %llu reuses hit it",
                     ip, g->gap_min, g->rejected_max, (unsigned long long)g->rejected,
                     (unsigned long long)g->n);

    diag_explain(f, "The connections from %s to %s are closed by the server first, so the "
                 "server keeps each 4-tuple in TIME_WAIT. %s hands out the same source port "
                 "again %.1f s after a close (median %.1f s, longest %.1f s, over %llu reuse%s): "
                 "sooner than the server's TIME_WAIT ends, so the server takes the new SYN for "
                 "part of the old connection and %s.",
                 ip, g->servers == 1 ? srv : "its servers", ip, g->gap_min, median, g->gap_max,
                 (unsigned long long)g->n, g->n == 1 ? "" : "s",
                 g->failed ? "some attempts never connect" : "the client waits and retries");
    diag_explain(f, "From the evidence, the server's TIME_WAIT is longer than %.1f s (the longest "
                 "interval it still rejected)%s. That rules out %s; it fits %s.%s",
                 g->rejected_max,
                 upper ? " and at most the shortest interval it accepted cleanly although it would "
                         "have refused that SYN inside TIME_WAIT"
                 : g->accepted_anyway > 0 ? "; the reuses it accepted had a newer ISN or "
                                            "timestamp, which a server takes inside TIME_WAIT "
                                            "too, so they set no upper bound" : "",
                 shorter[0] ? shorter : "no common default",
                 names[0] ? names : "no common default: the server's TIME_WAIT was tuned",
                 g->other_host ? " The reusing SYNs come from another host than the previous "
                                 "connection (different TTL or timestamp clock): a NAT." : "");
    diag_explain(f, "This is a mismatch between two timers, not a fault of either device: the "
                 "NAT (or the clients behind one address) forgets a closed mapping sooner "
                 "than the server forgets the closed connection.");

    diag_param *p = diag_param_add(f, "nat_reuse_s", g->gap_min, "s");
    diag_param_min(p, g->gap_min);
    diag_param_max(p, g->gap_max);
    diag_param_note(p, "shortest interval between a close and the reuse of the same source port "
                       "from %s (median %.1f s)", ip, median);
    diag_param_add(f, "nat_reuse_median_s", median, "s");
    p = diag_param_add(f, "server_timewait_min_s", g->rejected_max, "s");
    diag_param_min(p, g->rejected_max);
    if (!upper && g->accepted_anyway > 0)
        diag_param_note(p, "longest reuse interval the server rejected; no upper bound: the %llu "
                           "reuse%s it accepted would have been accepted inside TIME_WAIT anyway "
                           "(%s)", (unsigned long long)g->accepted_anyway,
                        g->accepted_anyway == 1 ? "" : "s", anyway_words(g));
    else
        diag_param_note(p, "longest reuse interval the server rejected");
    if (upper) {
        p = diag_param_add(f, "server_timewait_max_s", g->accepted_min, "s");
        diag_param_max(p, g->accepted_min);
        diag_param_note(p, "shortest reuse interval the server accepted cleanly although it "
                           "would have refused that SYN inside TIME_WAIT (older ISN, no newer "
                           "TSval)%s", g->accepted_anyway > 0
                        ? "; the reuses it took by a newer ISN or TSval bound nothing" : "");
    }
    diag_param_add(f, "reuses", (double)g->n, "");
    diag_param_add(f, "rejected", (double)g->rejected, "");

    /* the first rejected reuses in time, with their intervals (events are in
       the order their pairs ended, not in SYN order) */
    const tw_event *pick[8];
    size_t npick = 0;
    uint64_t seen = 0;
    for (size_t i = g->first_rejected; seen < g->rejected; i = next_rejected[i]) {
        const tw_event *e = diag_tw(ctx, i);
        seen++;
        /* keep the 8 earliest: insertion into a short sorted array */
        size_t at = npick;
        while (at > 0 && pick[at - 1]->syn_packet > e->syn_packet)
            at--;
        if (at >= 8)
            continue;
        size_t keep = npick < 8 ? npick : 7;
        memmove(&pick[at + 1], &pick[at], (keep - at) * sizeof pick[0]);
        pick[at] = e;
        if (npick < 8)
            npick++;
    }
    for (size_t k = 0; k < npick; k++) {
        const tw_event *e = pick[k];
        char c[64], s[64];
        diag_endpoint(&e->client, e->client_port, c, sizeof c);
        diag_endpoint(&e->server, e->server_port, s, sizeof s);
        diag_evidence_add(f, e->syn_packet, e->syn_ts,
                          "%8.3f  %s > %s  SYN %.1f s after the server closed the same 4-tuple "
                          "(packet %llu): %s%s",
                          diag_rel(ctx, e->syn_ts), c, s, e->gap_s,
                          (unsigned long long)e->prev_close_packet,
                          e->outcome == TW_IGNORED ? "ignored" :
                          e->outcome == TW_STALE_ACK ? "answered with the old connection's ACK" :
                          "reset", e->succeeded ? "" : ", never connected");
    }
    if (g->rejected > 8)
        f->evidence_omitted += g->rejected - 8;

    diag_remedy_add(f, "Lengthen the NAT's hold of closed TCP mappings to more than the server's "
                       "TIME_WAIT (Linux: nf_conntrack_tcp_timeout_time_wait; Cisco: ip nat "
                       "translation finrst-timeout)",
                    "mappings stay longer: more table entries, and a busy NAT needs more ports");
    diag_remedy_add(f, "Lower the server's TIME_WAIT below the NAT's reuse interval (Windows: "
                       "TcpTimedWaitDelay, 30 s minimum)",
                    "less protection against late segments of old connections; Linux cannot "
                    "change its 60 s");
    diag_remedy_add(f, "Stop NATting these clients to one address, or spread them over more "
                       "NAT addresses",
                    "routing or address changes; more addresses only make collisions rarer");
    diag_remedy_add(f, "Have the clients close first, or keep connections alive, so the server "
                       "does not hold TIME_WAIT",
                    "application change; TIME_WAIT moves to the client side");
    return 0;
}

/*
 * Groups by client address through the shared index (a capture may hold
 * reuses from very many addresses), and each group's rejected reuses are
 * chained in event order, so that its evidence is found without walking
 * every event again.
 */
/* What each server endpoint's refusals show of its acceptance rules
 * (tw_internal.h), and the server group of each counted event (*of, n_tw
 * entries; caller frees both).  0 or -ENOMEM. */
static int learn_rules(diag_ctx *ctx, tw_rules **rules, size_t **of)
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
        if (!counted(e))
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
        if (counted(e) && rejected(e))
            tw_rules_learn(&(*rules)[(*of)[i]], e);
    }
    diag_ep_groups_free(&eg);
    return rc;
}

/* An accepted reuse: bounds the server's TIME_WAIT only when the server
 * would have refused it inside TIME_WAIT. */
static void count_accepted(ip_group *gr, const tw_event *e, const tw_rules *r)
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

static int m_finish(void *st, diag_ctx *ctx, diag_findings *out)
{
    (void)st;
    tw_rules *rules;
    size_t *rules_of;
    if (learn_rules(ctx, &rules, &rules_of) != 0) {
        free(rules);
        free(rules_of);
        return -ENOMEM;
    }
    static const diag_table tab = { sizeof(ip_group), offsetof(ip_group, client),
                                    sizeof(pkt_addr) };
    diag_index ix = { .seed = (uint64_t)(uintptr_t)ctx * 0xc2b2ae3d27d4eb4fULL };
    ip_group *g = NULL;
    size_t ng = 0, cap = 0;
    int rc = 0;
    size_t *next_rejected = malloc((ctx->n_tw ? ctx->n_tw : 1) * sizeof *next_rejected);
    if (next_rejected == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < ctx->n_tw; i++) {
        const tw_event *e = diag_tw(ctx, i);
        if (!counted(e))
            continue;
        bool created;
        void *v = g;
        long k = diag_index_get(&ix, &tab, &v, &ng, &cap, &e->client, &created);
        g = v;
        if (k < 0) {
            rc = -ENOMEM;
            goto out;
        }
        ip_group *gr = &g[k];
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
        if (add_gap(gr, e->gap_s) != 0) {
            rc = -ENOMEM;
            goto out;
        }
        if (rejected(e)) {
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
            count_accepted(gr, e, &rules[rules_of[i]]);
        }
        if (e->prev_client_ttl != e->cur_client_ttl ||
            (e->prev_ts_seen != e->cur_ts_seen))
            gr->other_host++;
    }
    for (size_t k = 0; k < ng && rc == 0; k++)
        if (g[k].rejected > 0)
            rc = report(&g[k], next_rejected, ctx, out);
out:
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
