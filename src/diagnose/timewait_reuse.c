/* timewait_reuse.c - detector: a SYN reuses a 4-tuple whose previous incarnation may still be in TIME_WAIT. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diagnose/diag_internal.h"

/*
 * Every reuse of a 4-tuple becomes a tw_event in the shared context (other
 * detectors read them).  A reuse is a TIME_WAIT reuse when the previous
 * incarnation closed with FINs less than the longest TIME_WAIT a stack uses
 * (240 s, Windows 2000/XP/2003, tcp-behaviour.md 10) before the new SYN.
 * Only the side that sent the first FIN holds TIME_WAIT (RFC 9293 3.6); an
 * RST close leaves none (RFC 9293 3.10.7.1, tcp-behaviour.md 1.2).
 *
 * The answer to the new SYN says what the closer did (tcp-behaviour.md 9.2):
 *   accepted    SYN-ACK to the first SYN (Linux accepts a SYN in TIME_WAIT
 *               whose SEQ or TSval is newer, RFC 6191; BSD by SEQ);
 *   stale ACK   a bare ACK carrying the old connection's numbers, the
 *               client's RST, a SYN retransmission (Linux
 *               tcp_timewait_state_process(): the TW ACK);
 *   ignored     nothing: Windows servers, FreeBSD and macOS drop such SYNs
 *               silently; the client retries on its schedule;
 *   reset       an RST to the SYN.
 */

#define TW_MAX_S 240.0
#define GROUP_EVIDENCE_EVENTS 3     /* events listed in full per finding */

typedef struct tw_state {
    int unused;
} tw_state;

static void *tw_create(diag_ctx *ctx)
{
    (void)ctx;
    return calloc(1, sizeof(tw_state));
}

static void tw_destroy(void *st)
{
    free(st);
}

/* SYNs sent before the first answer (all of them when none came). */
static unsigned syns_before_answer(const flow_conn *c)
{
    unsigned n = 0;
    int64_t ans = c->first_answer == FLOW_HS_NONE ? INT64_MAX : c->handshake_ts;
    for (unsigned i = 0; i < c->syn_count && i < FLOW_MAX_SYN; i++)
        if (c->syn_ts[i] < ans || (i == 0 && c->syn_ts[i] == ans))
            n++;
    return n ? n : 1;
}

static bool same_endpoint(const flow_endpoint *x, const flow_endpoint *y)
{
    return x->port == y->port && memcmp(x->addr.b, y->addr.b, 16) == 0;
}

static void tw_reuse(void *st, const flow_conn *prev, const flow_conn *cur, diag_ctx *ctx)
{
    (void)st;
    /* Only a new client SYN on the same roles says anything about reuse. */
    if (cur->syn_count == 0 || cur->roles_inferred || !same_endpoint(&prev->client, &cur->client))
        return;
    tw_event ev;
    memset(&ev, 0, sizeof ev);
    ev.client = cur->client.addr;
    ev.server = cur->server.addr;
    ev.client_port = cur->client.port;
    ev.server_port = cur->server.port;
    ev.prev_closer = prev->closed_by;
    ev.prev_reset = prev->reset_by != FLOW_SIDE_NONE;
    ev.prev_close_ts = prev->last_ts;
    ev.prev_close_packet = prev->last_packet;
    ev.syn_ts = cur->syn_ts[0];
    ev.syn_packet = cur->syn_packet[0];
    ev.gap_s = diag_secs(cur->syn_ts[0] - prev->last_ts);
    ev.syn_count = cur->syn_count;
    ev.succeeded = cur->handshake == FLOW_HS_SYNACK;
    ev.answer_packet = cur->handshake_packet;
    switch (cur->first_answer) {
    case FLOW_HS_SYNACK:
        ev.outcome = syns_before_answer(cur) > 1 ? TW_IGNORED : TW_ACCEPTED;
        break;
    case FLOW_HS_ACK_ONLY: ev.outcome = TW_STALE_ACK; break;
    case FLOW_HS_RST: ev.outcome = TW_RESET; break;
    default: ev.outcome = TW_IGNORED; break;
    }
    if (ev.succeeded)
        ev.delay_s = diag_secs(cur->synack_ts - cur->syn_ts[0]);
    else
        ev.delay_s = diag_secs(cur->last_ts - cur->syn_ts[0]);
    ev.gave_up_rst = !ev.succeeded && cur->client.rst_count > 0;
    ev.prev_ts_seen = prev->client.ts_seen;
    ev.prev_client_tsval_last = prev->client.tsval_last;
    ev.cur_ts_seen = cur->client.syn_opts_seen && cur->client.syn_opts.has_ts;
    ev.cur_client_tsval_syn = cur->client.syn_opts.tsval;
    ev.prev_client_final_seq = prev->client.next_seq;
    ev.cur_client_isn = cur->client.isn;
    ev.isn_not_above = prev->client.seq_seen && cur->client.isn_seen &&
                       !diag_seq_gt(cur->client.isn, prev->client.next_seq);
    ev.prev_client_ttl = prev->client.ttl_first;
    ev.cur_client_ttl = cur->client.ttl_first;
    if (diag_ctx_add_tw(ctx, &ev) != 0)
        return;
    /* A failed SYN here is explained by this finding, not syn-unanswered. */
    if (ev.prev_closer != FLOW_SIDE_NONE && !ev.prev_reset && ev.gap_s < TW_MAX_S &&
        ev.outcome != TW_ACCEPTED)
        diag_ctx_explain(ctx, cur->first_packet);
}

/* ---- findings ---------------------------------------------------------- */

static bool is_tw_hit(const tw_event *e)
{
    return e->prev_closer != FLOW_SIDE_NONE && !e->prev_reset && e->gap_s >= 0 &&
           e->gap_s < TW_MAX_S;
}

static const char *outcome_name(enum tw_outcome o)
{
    switch (o) {
    case TW_ACCEPTED: return "accepted";
    case TW_STALE_ACK: return "stale-ack";
    case TW_IGNORED: return "ignored";
    case TW_RESET: return "reset";
    }
    return "?";
}

static const char *who_holds(enum flow_side closer)
{
    return closer == FLOW_SIDE_SERVER ? "server" : "client";
}

/* What the answer to the new SYN looked like, in the vantage's words. */
static const char *answer_words(enum tw_outcome o, enum diag_vantage v)
{
    switch (o) {
    case TW_ACCEPTED:
        return "answered the new SYN with a SYN-ACK: the reuse was accepted";
    case TW_STALE_ACK:
        return "answered the new SYN with an ACK of the old connection (a Linux "
               "TIME_WAIT answer); the client reset it and retried";
    case TW_RESET:
        return "answered the new SYN with an RST";
    case TW_IGNORED:
        return v == DIAG_VANTAGE_CLIENT
                   ? "never answered the new SYN as seen from the client: the SYNs were "
                     "ignored or dropped, and the client retried"
                   : "ignored the new SYN: no SYN-ACK, no ACK, no RST, and the client retried";
    }
    return "";
}

static void event_evidence(diag_finding *f, const diag_ctx *ctx, const tw_event *e,
                           const flow_conn *unused)
{
    (void)unused;
    char c[64], s[64];
    diag_endpoint(&e->client, e->client_port, c, sizeof c);
    diag_endpoint(&e->server, e->server_port, s, sizeof s);
    diag_evidence_add(f, e->prev_close_packet, e->prev_close_ts,
                      "%8.3f  %s > %s  last packet of the previous incarnation, closed first "
                      "by the %s (%s enters TIME_WAIT)",
                      diag_rel(ctx, e->prev_close_ts), c, s, who_holds(e->prev_closer),
                      who_holds(e->prev_closer));
    diag_evidence_add(f, e->syn_packet, e->syn_ts,
                      "%8.3f  %s > %s  SYN reusing the 4-tuple %.1f s after that close",
                      diag_rel(ctx, e->syn_ts), c, s, e->gap_s);
    if (e->answer_packet != 0 && e->outcome != TW_IGNORED)
        diag_evidence_add(f, e->answer_packet, 0, "          %s  %s",
                          outcome_name(e->outcome), answer_words(e->outcome, ctx->vantage));
    if (e->syn_count > 1)
        diag_evidence_add(f, 0, 0, "          %u SYN transmissions in all; %s after %.1f s",
                          e->syn_count,
                          e->succeeded ? "connected" : (e->gave_up_rst ? "the client gave up with RST"
                                                                       : "never connected"),
                          e->delay_s);
}

typedef struct group {
    pkt_addr server;
    uint16_t port;
    enum tw_outcome outcome;
    enum flow_side closer;
    size_t first;           /* index of the first event */
    uint64_t n, failed;
    double gap_min, gap_max, delay_max, delay_sum;
} group;

static int tw_finish(void *st, diag_ctx *ctx, diag_findings *out)
{
    (void)st;
    group *g = NULL;
    size_t ng = 0, capg = 0;
    for (size_t i = 0; i < ctx->n_tw; i++) {
        const tw_event *e = &ctx->tw[i];
        if (!is_tw_hit(e))
            continue;
        /* A clean accept of a SYN on a tuple the client closed is the normal
           way a client reuses its own port: not worth a finding. */
        if (e->outcome == TW_ACCEPTED && e->prev_closer == FLOW_SIDE_CLIENT)
            continue;
        size_t k;
        for (k = 0; k < ng; k++)
            if (g[k].port == e->server_port && g[k].outcome == e->outcome &&
                g[k].closer == e->prev_closer && memcmp(g[k].server.b, e->server.b, 16) == 0)
                break;
        if (k == ng) {
            if (ng == capg) {
                size_t nc = capg ? capg * 2 : 8;
                group *p = realloc(g, nc * sizeof *p);
                if (p == NULL) {
                    free(g);
                    return -ENOMEM;
                }
                g = p;
                capg = nc;
            }
            memset(&g[ng], 0, sizeof g[ng]);
            g[ng].server = e->server;
            g[ng].port = e->server_port;
            g[ng].outcome = e->outcome;
            g[ng].closer = e->prev_closer;
            g[ng].first = i;
            g[ng].gap_min = g[ng].gap_max = e->gap_s;
            ng++;
        }
        group *gr = &g[k];
        gr->n++;
        if (!e->succeeded)
            gr->failed++;
        if (e->gap_s < gr->gap_min) gr->gap_min = e->gap_s;
        if (e->gap_s > gr->gap_max) gr->gap_max = e->gap_s;
        if (e->delay_s > gr->delay_max) gr->delay_max = e->delay_s;
        gr->delay_sum += e->delay_s;
    }

    for (size_t k = 0; k < ng; k++) {
        group *gr = &g[k];
        enum diag_severity sev = gr->outcome == TW_ACCEPTED ? DIAG_INFO
                                 : gr->failed > 0 ? DIAG_ERROR : DIAG_WARNING;
        double conf = gr->outcome == TW_ACCEPTED ? 0.6 : gr->outcome == TW_STALE_ACK ? 0.95 : 0.8;
        diag_finding *f = diag_add(out, "timewait-reuse", sev, conf);
        if (f == NULL) {
            free(g);
            return -ENOMEM;
        }
        f->events = gr->n;
        f->server = gr->server;
        f->server_port = gr->port;
        f->has_server = true;
        char s[64];
        diag_endpoint(&gr->server, gr->port, s, sizeof s);
        const tw_event *e0 = &ctx->tw[gr->first];
        if (gr->outcome == TW_ACCEPTED) {
            diag_summary(f, "%llu SYN%s to %s reused a 4-tuple the server had closed %.0f-%.0f s "
                         "earlier (still within a possible TIME_WAIT); the server accepted them",
                         (unsigned long long)gr->n, gr->n == 1 ? "" : "s", s, gr->gap_min,
                         gr->gap_max);
        } else {
            diag_summary(f, "%llu connection attempt%s to %s reused a 4-tuple %.0f-%.0f s after "
                         "the %s closed it and met its TIME_WAIT: %s%s",
                         (unsigned long long)gr->n, gr->n == 1 ? "" : "s", s, gr->gap_min,
                         gr->gap_max, who_holds(gr->closer), outcome_name(gr->outcome),
                         gr->failed ? ", some never connected" : "");
        }
        char c[64];
        diag_endpoint(&e0->client, e0->client_port, c, sizeof c);
        diag_explain(f, "The client %s opened a connection at packet %llu, %.1f s after the "
                     "previous connection on the same 4-tuple ended (packet %llu). The %s had "
                     "closed that one first, so it keeps the 4-tuple in TIME_WAIT (Linux and "
                     "FreeBSD 60 s, macOS 30 s, Windows 120-240 s). The %s %s.",
                     c, (unsigned long long)e0->syn_packet, e0->gap_s,
                     (unsigned long long)e0->prev_close_packet, who_holds(gr->closer),
                     gr->closer == FLOW_SIDE_SERVER ? "server" : "peer",
                     answer_words(gr->outcome, ctx->vantage));
        if (gr->outcome != TW_ACCEPTED) {
            diag_explain(f, "In all, %llu attempt%s met this; %llu never connected. The longest "
                         "delay a client suffered was %.1f s (mean %.1f s). A client that picks "
                         "the same source port this soon is usually a NAT handing the port of a "
                         "closed mapping to another inside host, or a proxy with a small port "
                         "pool: see nat-timewait-mismatch.",
                         (unsigned long long)gr->n, gr->n == 1 ? "" : "s",
                         (unsigned long long)gr->failed, gr->delay_max, gr->delay_sum / (double)gr->n);
        } else {
            diag_explain(f, "This is harmless when the server accepts the new SYN (Linux accepts a "
                         "SYN in TIME_WAIT whose sequence number or timestamp is newer, RFC 6191); "
                         "it shows clients, or a NAT in front of them, reusing ports within the "
                         "server's TIME_WAIT, which fails with servers that do not accept them.");
        }
        diag_param_add(f, "gap_min_s", gr->gap_min, "s");
        diag_param_add(f, "gap_max_s", gr->gap_max, "s");
        diag_param_add(f, "delay_max_s", gr->delay_max, "s");
        diag_param_add(f, "failed", (double)gr->failed, "attempts");
        size_t listed = 0;
        for (size_t i = gr->first; i < ctx->n_tw && listed < GROUP_EVIDENCE_EVENTS; i++) {
            const tw_event *e = &ctx->tw[i];
            if (!is_tw_hit(e) || e->outcome != gr->outcome || e->prev_closer != gr->closer ||
                e->server_port != gr->port || memcmp(e->server.b, gr->server.b, 16) != 0)
                continue;
            event_evidence(f, ctx, e, NULL);
            listed++;
        }
        if (gr->n > listed)
            f->evidence_omitted += gr->n - listed;
        if (gr->outcome != TW_ACCEPTED) {
            diag_remedy_add(f, "Make the NAT (or proxy) in front of the clients hold a closed "
                               "mapping at least as long as the server's TIME_WAIT before it "
                               "reuses the port (e.g. Linux nf_conntrack_tcp_timeout_time_wait, "
                               "Cisco ip nat translation finrst-timeout)",
                            "the NAT keeps more entries; check its table size");
            diag_remedy_add(f, "Shorten the server's TIME_WAIT to below the NAT's reuse interval "
                               "(Windows TcpTimedWaitDelay; Linux's 60 s is fixed)",
                            "late duplicates of old connections have less time to die out (RFC 1337)");
            diag_remedy_add(f, "Let the clients close first (keep-alive, or Connection: close sent "
                               "by the client), so TIME_WAIT stays on their side",
                            "moves TIME_WAIT and its port cost to the clients or the NAT");
            diag_remedy_add(f, "Stop NATting these clients, or give the NAT more addresses so each "
                               "port is reused less often",
                            "needs address space; more addresses only lengthen the interval");
        }
    }
    free(g);
    return 0;
}

const diag_detector diag_det_timewait_reuse = {
    .id = "timewait-reuse",
    .create = tw_create,
    .reuse = tw_reuse,
    .finish = tw_finish,
    .destroy = tw_destroy,
};
