/* tw_words.c - timewait-reuse: its verdicts in words, evidence, parameters and remedies. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "diagnose/tw_internal.h"

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

/* One reuse in full: the close, the new SYN, the answer, the retries. */
static void event_evidence(diag_finding *f, const diag_ctx *ctx, const tw_event *e)
{
    char c[64], s[64];
    diag_endpoint(&e->client, e->client_port, c, sizeof c);
    diag_endpoint(&e->server, e->server_port, s, sizeof s);
    if (e->prev_fin_packet != 0)
        diag_evidence_add(f, e->prev_fin_packet, e->prev_fin_ts,
                          "%8.3f  %s %s %s  FIN: the %s closes first and will hold TIME_WAIT",
                          diag_rel(ctx, e->prev_fin_ts),
                          e->prev_closer == FLOW_SIDE_SERVER ? s : c,
                          ">", e->prev_closer == FLOW_SIDE_SERVER ? c : s,
                          who_holds(e->prev_closer));
    diag_evidence_add(f, e->prev_close_packet, e->prev_close_ts,
                      "%8.3f  %s ~ %s  last packet of the previous incarnation",
                      diag_rel(ctx, e->prev_close_ts), c, s);
    diag_evidence_add(f, e->syn_packet, e->syn_ts,
                      "%8.3f  %s > %s  SYN reusing the 4-tuple %.1f s after that close",
                      diag_rel(ctx, e->syn_ts), c, s, e->gap_s);
    if (e->answer_packet != 0 && e->outcome != TW_IGNORED)
        diag_evidence_add(f, e->answer_packet, 0, "          %s  %s",
                          outcome_name(e->outcome), answer_words(e->outcome, ctx->vantage));
    const tw_extra *x = diag_tw_extra(ctx, e);
    for (unsigned i = 0; x != NULL && i < x->n_retry; i++)
        diag_evidence_add(f, x->retry_packet[i], x->retry_ts[i],
                          "%8.3f  %s > %s  SYN retransmitted (+%.2f s)%s",
                          diag_rel(ctx, x->retry_ts[i]), c, s,
                          diag_secs(x->retry_ts[i] - e->syn_ts),
                          e->outcome == TW_IGNORED && !e->succeeded ? ", ignored" : "");
    if (e->gave_up_rst && x != NULL)
        diag_evidence_add(f, x->giveup_packet, x->giveup_ts,
                          "%8.3f  %s > %s  RST: the client gives up %.1f s after its first SYN",
                          diag_rel(ctx, x->giveup_ts), c, s, diag_secs(x->giveup_ts - e->syn_ts));
    if (e->syn_count > 1)
        diag_evidence_add(f, 0, 0, "          %u SYN transmissions in all; %s after %.3g s",
                          e->syn_count,
                          e->succeeded ? "connected" : (e->gave_up_rst ? "the client gave up"
                                                                       : "never connected"),
                          e->delay_s);
}

/* "68 s" or "30-68 s" (one decimal below 10 s). */
static void secs_span(char *buf, size_t len, double lo, double hi)
{
    char a[24], b[24];
    if (lo > 1e9 || hi > 1e9 || lo < 0 || hi < 0)
        lo = hi = -1;   /* cannot happen for reuse gaps; keeps the text short */
    snprintf(a, sizeof a, lo < 10 ? "%.1f" : "%.0f", lo);
    snprintf(b, sizeof b, hi < 10 ? "%.1f" : "%.0f", hi);
    int n = strcmp(a, b) == 0 ? snprintf(buf, len, "%s s", a)
                              : snprintf(buf, len, "%s-%s s", a, b);
    if (n < 0 && len > 0)
        buf[0] = '\0';
}

/* The outcome in a summary's words. */
static const char *outcome_words(enum tw_outcome o)
{
    switch (o) {
    case TW_ACCEPTED: return "accepted";
    case TW_STALE_ACK: return "answered with the old connection's ACK, reset and retried";
    case TW_IGNORED: return "the SYNs were ignored";
    case TW_RESET: return "refused with RST";
    }
    return "?";
}

/* The summary: how many reuses, how soon after the close, what they met. */
static void summary_words(diag_finding *f, const tw_verdict *v)
{
    char s[64];
    diag_endpoint(&v->server, v->port, s, sizeof s);
    if (v->outcome == TW_ACCEPTED) {
        char span[64];
        secs_span(span, sizeof span, v->gap_min, v->gap_max);
        diag_summary(f, "%llu SYN%s to %s reused a 4-tuple the server had closed %s "
                     "earlier (still within a possible TIME_WAIT); the server accepted %s",
                     (unsigned long long)v->n, v->n == 1 ? "" : "s", s, span,
                     v->n == 1 ? "it" : "them");
    } else {
        char span[64];
        secs_span(span, sizeof span, v->gap_min, v->gap_max);
        diag_summary(f, "%llu connection attempt%s to %s reused a 4-tuple %s after the %s "
                     "closed it and met its TIME_WAIT: %s%s", (unsigned long long)v->n,
                     v->n == 1 ? "" : "s", s, span, who_holds(v->closer),
                     outcome_words(v->outcome),
                     v->failed == v->n ? "; never connected"
                     : v->failed ? "; some never connected" : "");
    }
}

/* The explanation, from the group's first event. */
static void explain_words(diag_finding *f, const tw_verdict *v, const diag_ctx *ctx)
{
    const tw_event *e0 = diag_tw(ctx, v->first);
    char c[64];
    diag_endpoint(&e0->client, e0->client_port, c, sizeof c);
    diag_explain(f, "The client %s opened a connection at packet %llu, %.1f s after the "
                 "previous connection on the same 4-tuple ended (packet %llu). The %s had "
                 "closed that one first, so it keeps the 4-tuple in TIME_WAIT (Linux and "
                 "FreeBSD 60 s, macOS 30 s, Windows 120-240 s). The %s %s.",
                 c, (unsigned long long)e0->syn_packet, e0->gap_s,
                 (unsigned long long)e0->prev_close_packet, who_holds(v->closer),
                 v->closer == FLOW_SIDE_SERVER ? "server" : "peer",
                 answer_words(v->outcome, ctx->vantage));
    if (v->outcome != TW_ACCEPTED) {
        diag_explain(f, "In all, %llu attempt%s met this; %llu never connected. The longest "
                     "delay a client suffered was %.3g s (mean %.3g s). A client that picks "
                     "the same source port this soon is usually a NAT handing the port of a "
                     "closed mapping to another inside host, or a proxy with a small port "
                     "pool: see nat-timewait-mismatch.",
                     (unsigned long long)v->n, v->n == 1 ? "" : "s",
                     (unsigned long long)v->failed, v->delay_max, v->delay_sum / (double)v->n);
    } else {
        diag_explain(f, "This is harmless when the server accepts the new SYN (Linux accepts a "
                     "SYN in TIME_WAIT whose sequence number or timestamp is newer, RFC 6191); "
                     "it shows clients, or a NAT in front of them, reusing ports within the "
                     "server's TIME_WAIT, which fails with servers that do not accept them.");
    }
}

/* What to change when the reuses failed, best first. */
static void remedy_words(diag_finding *f)
{
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

int tw_words(const tw_verdict *v, const diag_ctx *ctx, diag_findings *out)
{
    diag_finding *f = diag_add(out, "timewait-reuse", v->sev, v->conf);
    if (f == NULL)
        return -ENOMEM;
    f->events = v->n;
    f->server = v->server;
    f->server_port = v->port;
    f->has_server = true;
    summary_words(f, v);
    explain_words(f, v, ctx);
    diag_param_add(f, "gap_min_s", v->gap_min, "s");
    diag_param_add(f, "gap_max_s", v->gap_max, "s");
    diag_param_add(f, "delay_max_s", v->delay_max, "s");
    diag_param_add(f, "failed", (double)v->failed, "attempts");
    for (size_t k = 0; k < v->n_shown; k++)
        event_evidence(f, ctx, diag_tw(ctx, v->shown[k]));
    if (v->n > v->n_shown)
        f->evidence_omitted += v->n - v->n_shown;
    if (v->outcome != TW_ACCEPTED)
        remedy_words(f);
    return 0;
}
