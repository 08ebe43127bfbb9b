/* tw_stale.c - timewait-reuse's stale ACKs: telling one from a missing SYN-ACK, and from a nearby device answering for many servers. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diagnose/tw_internal.h"

/*
 * A bare ACK answering a SYN is the TIME_WAIT signature (tcp-behaviour.md
 * 9.2: Linux tcp_timewait_state_process() sends the old connection's ACK,
 * ack = its RCV.NXT) only when it names a connection this client did not
 * make.  A capture that missed the SYN-ACK shows the server's first ACK of
 * the client's own request in the same place.  So (tw_ack_kind()):
 *
 *   own ISN     ack = the SYN's ISN: derived from this very SYN, one short
 *               of ISN + 1; a TW ACK would carry the old RCV.NXT, equal to
 *               the new ISN by a 1 in 2^32 chance.  It names no older
 *               connection.
 *   refused     the client sent its SYN again after the ACK, or answered it
 *               with an RST carrying SEQ = the ACK's number before sending
 *               any byte: it was still in SYN-SENT and found the ACK
 *               unacceptable (RFC 9293 3.10.7.3; Linux
 *               tcp_rcv_synsent_state_process(), tcp-behaviour.md 3.5), so
 *               the ACK cannot acknowledge anything of this incarnation
 *               however far its later data goes.  Stale.
 *   own bytes   ack within (ISN, the client's highest sequence sent in this
 *               incarnation]: it acknowledges the client's SYN or data.
 *   normal use  data both ways, the server acknowledging the client's
 *               bytes and the client acknowledging no more than the server
 *               sent: the tuple was in use, the SYN-ACK was not captured.
 *   otherwise   stale: the ACK names an older connection.
 *
 * One device (tw_device_finding()).  A server's TIME_WAIT answers with the
 * server's own TTL; when the stale ACKs for several servers all carry one
 * TTL within one hop of an initial TTL (64, 128, 255), and the SYN-ACKs
 * that came after the retries (where any came) carry the same options, one
 * box near the capture point answered for all of them: a transparent
 * proxy or a firewall holding the old 4-tuples, not the servers.
 *
 * Limits: servers of one stack all on one subnet one router away look the
 * same (the explanation says so); the ACK's own options are not kept, only
 * the SYN-ACK's.
 */

#define EVIDENCE_EVENTS 3           /* events listed in full per finding */
#define DEVICE_MAX_HOPS 1           /* "nearby": at most one router away */

enum tw_ack_kind tw_ack_kind(const flow_conn *c)
{
    const flow_endpoint *cl = &c->client, *sv = &c->server;
    uint32_t ack = c->handshake_ack;
    if (cl->isn_seen && ack == cl->isn)
        return TW_ACK_OWN_ISN;
    if (cl->isn_seen && ack == cl->isn + 1u)
        return TW_ACK_OWN;
    for (unsigned i = 1; i < c->syn_count && i < FLOW_MAX_SYN; i++)
        if (c->syn_packet[i] > c->handshake_packet)
            return TW_ACK_STALE;            /* still in SYN-SENT after it */
    if (cl->rst_count > 0 && cl->rst_packet > c->handshake_packet && cl->rst_seq == ack &&
        cl->bytes == 0)
        return TW_ACK_STALE;                /* SYN-SENT's RST: SEQ = SEG.ACK */
    if (!cl->isn_seen)
        return TW_ACK_STALE;
    if (cl->sent_seen && diag_seq_gt(ack, cl->isn) && !diag_seq_gt(ack, cl->sent_end))
        return TW_ACK_OWN;
    if (cl->bytes > 0 && sv->bytes > 0 && cl->ack_seen && sv->ack_seen && cl->sent_seen &&
        sv->sent_seen && diag_seq_gt(sv->ack_max, cl->isn) &&
        !diag_seq_gt(sv->ack_max, cl->sent_end) && !diag_seq_gt(cl->ack_max, sv->sent_end))
        return TW_ACK_OWN;
    return TW_ACK_STALE;
}

int tw_answers_add(tw_answers *a, size_t event, const flow_conn *c)
{
    if (a->n == a->cap) {
        size_t nc = a->cap ? a->cap * 2 : 16;
        tw_answer *v = realloc(a->v, nc * sizeof *v);
        if (v == NULL)
            return -ENOMEM;
        a->v = v;
        a->cap = nc;
    }
    tw_answer *x = &a->v[a->n++];
    memset(x, 0, sizeof *x);
    x->event = event;
    x->server = c->server.addr;
    x->ttl = c->server.ttl_first;          /* the first server packet: the ACK */
    x->opts_seen = c->synack_count > 0 && c->server.syn_opts_seen;
    if (x->opts_seen) {
        x->window = c->server.syn_window;
        x->mss = c->server.syn_opts.has_mss ? c->server.syn_opts.mss : 0;
        x->layout_len = c->server.syn_opts.layout_len <= PKT_OPT_LAYOUT_MAX
                            ? c->server.syn_opts.layout_len : PKT_OPT_LAYOUT_MAX;
        memcpy(x->layout, c->server.syn_opts.layout, x->layout_len);
    }
    return 0;
}

void tw_answers_free(tw_answers *a)
{
    free(a->v);
    a->v = NULL;
    a->n = a->cap = 0;
}

/* Hops from the nearest initial TTL at or above ttl (32, 64, 128, 255). */
static unsigned ttl_hops(uint8_t ttl)
{
    static const unsigned init[] = { 32, 64, 128, 255 };
    for (size_t i = 0; i < sizeof init / sizeof init[0]; i++)
        if (ttl <= init[i])
            return init[i] - ttl;
    return 0;
}

static bool same_opts(const tw_answer *a, const tw_answer *b)
{
    return a->window == b->window && a->mss == b->mss && a->layout_len == b->layout_len &&
           memcmp(a->layout, b->layout, a->layout_len) == 0;
}

/* What the device test found over the stale-ACK events. */
typedef struct device_view {
    const tw_answer *first;     /* first stale answer; every one has its TTL */
    const tw_answer *opts;      /* first with SYN-ACK options (NULL: none) */
    size_t   answers, with_opts, servers;
    uint64_t failed;
    double   delay_max;
    bool     one_client;
} device_view;

/* Fill v; false when the answers differ (TTL or options), or are not
 * stale hits at all. */
static bool device_scan(const tw_answers *a, const diag_ctx *ctx, device_view *v)
{
    memset(v, 0, sizeof *v);
    v->one_client = true;
    const tw_event *e0 = NULL;
    for (size_t i = 0; i < a->n; i++) {
        const tw_answer *x = &a->v[i];
        const tw_event *e = diag_tw(ctx, x->event);
        if (!tw_is_stale_hit(e))
            continue;
        if (v->first == NULL) {
            v->first = x;
            e0 = e;
        } else if (x->ttl != v->first->ttl) {
            return false;
        }
        if (x->opts_seen) {
            if (v->opts == NULL)
                v->opts = x;
            else if (!same_opts(x, v->opts))
                return false;
            v->with_opts++;
        }
        if (memcmp(e->client.b, e0->client.b, 16) != 0)
            v->one_client = false;
        v->answers++;
        v->failed += !e->succeeded;
        if (e->delay_s > v->delay_max)
            v->delay_max = e->delay_s;
    }
    return v->first != NULL && ttl_hops(v->first->ttl) <= DEVICE_MAX_HOPS;
}

/* Distinct server addresses among the stale answers; -1 out of memory. */
static long device_servers(const tw_answers *a, const diag_ctx *ctx, diag_ep_groups *eg)
{
    if (diag_ep_groups_init(eg, a->n, (uint64_t)(uintptr_t)a * 0x9e3779b97f4a7c15ULL) != 0)
        return -1;
    for (size_t i = 0; i < a->n; i++)
        if (tw_is_stale_hit(diag_tw(ctx, a->v[i].event)) &&
            diag_ep_groups_add(eg, &a->v[i].server, 0, i) < 0)
            return -1;
    return (long)eg->n;
}

static void device_evidence(diag_finding *f, const diag_ctx *ctx, const tw_answers *a,
                            const diag_ep_groups *eg)
{
    /* the first stale ACK of each server, up to EVIDENCE_EVENTS servers */
    size_t listed = 0;
    for (size_t k = 0; k < eg->n; k++) {
        const tw_answer *x = &a->v[eg->v[k].first];
        const tw_event *e = diag_tw(ctx, x->event);
        if (listed++ >= EVIDENCE_EVENTS) {
            f->evidence_omitted += eg->v[k].n;
            continue;
        }
        f->evidence_omitted += eg->v[k].n - 1;
        char c[64], s[64];
        diag_endpoint(&e->client, e->client_port, c, sizeof c);
        diag_endpoint(&e->server, e->server_port, s, sizeof s);
        diag_evidence_add(f, e->syn_packet, e->syn_ts, "%8.3f  %s > %s  SYN, ISN %u",
                          diag_rel(ctx, e->syn_ts), c, s, e->cur_client_isn);
        diag_evidence_add(f, e->answer_packet, 0, "          %s > %s  bare ACK, ack %u, TTL %u",
                          s, c, e->stale_ack, x->ttl);
        if (x->opts_seen)
            diag_evidence_add(f, 0, 0, "          the SYN-ACK after the retry: window %u, MSS "
                              "%u, %u options", x->window, x->mss, x->layout_len);
    }
}

static void device_words(diag_finding *f, const device_view *v, size_t servers)
{
    unsigned hops = ttl_hops(v->first->ttl);
    diag_summary(f, "%zu SYNs to %zu servers were answered with bare ACKs of older connections, "
                 "all from one device %u hop%s from the capture point (TTL %u%s): a transparent "
                 "proxy or firewall answered for the servers, not their TIME_WAIT",
                 v->answers, servers, hops, hops == 1 ? "" : "s", v->first->ttl,
                 v->with_opts > 0 ? ", same SYN-ACK options" : "");
    diag_explain(f, "Each of these SYNs got, instead of a SYN-ACK, a bare ACK naming an older "
                 "connection on its 4-tuple: the answer a host gives when it still holds that "
                 "4-tuple (a Linux TIME_WAIT, tcp_timewait_state_process()). But the answers for "
                 "%zu different servers all carry TTL %u, %u hop%s below a common initial TTL%s. "
                 "Servers at different places answer with different TTLs; one TTL for all, this "
                 "near, is one box in the path answering in their name: a transparent proxy or "
                 "a stateful firewall that keeps the old connections and answers for them.",
                 servers, v->first->ttl, ttl_hops(v->first->ttl),
                 ttl_hops(v->first->ttl) == 1 ? "" : "s",
                 v->with_opts > 1 ? ", and the SYN-ACKs that followed the retries carry the "
                                    "same window and options too"
                 : v->with_opts == 1 ? " (one SYN-ACK came after a retry, nothing to compare "
                                       "its options with)"
                                     : " (no SYN-ACK came after the retries, so no options to "
                                       "compare)");
    diag_explain(f, "So the servers' TIME_WAIT is not what this shows, and neither their stacks "
                 "nor their timers are measured here. Unless these servers all sit on one "
                 "subnet one router away and run the same stack, look at that device: how long "
                 "it keeps a closed connection, against how soon the clients (or a NAT in front "
                 "of them) reuse a source port.");
}

int tw_device_finding(const tw_answers *a, diag_ctx *ctx, diag_findings *out)
{
    device_view v;
    if (a->n < 2 || !device_scan(a, ctx, &v))
        return 0;
    diag_ep_groups eg;
    long servers = device_servers(a, ctx, &eg);
    int rc = 0;
    if (servers < 0) {
        rc = -ENOMEM;
        goto out;
    }
    if (servers < 2)
        goto out;
    diag_finding *f = diag_add(out, "timewait-reuse", v.failed ? DIAG_ERROR : DIAG_WARNING, 0.7);
    if (f == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    f->events = v.answers;
    if (v.one_client) {
        f->client = diag_tw(ctx, v.first->event)->client;
        f->has_client = true;
    }
    device_words(f, &v, (size_t)servers);
    device_evidence(f, ctx, a, &eg);
    diag_param_add(f, "stale_acks", (double)v.answers, "");
    diag_param_add(f, "servers", (double)servers, "");
    diag_param *p = diag_param_add(f, "answer_ttl", v.first->ttl, "");
    diag_param_note(p, "TTL of every stale ACK, %u hop%s from its initial value",
                    ttl_hops(v.first->ttl), ttl_hops(v.first->ttl) == 1 ? "" : "s");
    diag_param_add(f, "synack_options_compared", (double)v.with_opts, "answers");
    diag_param_add(f, "delay_max_s", v.delay_max, "s");
    diag_param_add(f, "failed", (double)v.failed, "attempts");
    diag_remedy_add(f, "Find the proxy or firewall one hop from the capture point (the TTL of "
                       "its answers; a traceroute toward the servers) and compare how long it "
                       "keeps a closed connection with how soon the clients reuse a port",
                    "needs access to the device's configuration");
    diag_remedy_add(f, "Capture on the far side of that device to see what the servers "
                       "themselves answer", "a second capture point");
    diag_remedy_add(f, "Give the clients (or the NAT in front of them) a wider source port range "
                       "so a 4-tuple comes back less often", "only makes collisions rarer");
    for (size_t i = 0; i < a->n && rc == 0; i++) {
        tw_event *e = diag_tw(ctx, a->v[i].event);
        if (!tw_is_stale_hit(e))
            continue;
        e->not_tw = true;
        rc = diag_ctx_explain(ctx, e->first_packet);
    }
    if (rc == 0)
        rc = 1;
out:
    diag_ep_groups_free(&eg);
    return rc;
}

/* ---- stale ACKs with no earlier incarnation in the capture --------------- */

/* One unpaired event's evidence; true when its ACK names the end of
 * another host's connection that the capture shows. */
static bool unpaired_evidence(diag_finding *f, const diag_ctx *ctx, const tw_event *e)
{
    char c[64], s[64];
    bool other = false;
    diag_endpoint(&e->client, e->client_port, c, sizeof c);
    diag_endpoint(&e->server, e->server_port, s, sizeof s);
    diag_evidence_add(f, e->syn_packet, e->syn_ts, "%8.3f  %s > %s  SYN, ISN %u",
                      diag_rel(ctx, e->syn_ts), c, s, e->cur_client_isn);
    const tw_extra *ak = diag_tw_acked(ctx, e);
    if (ak != NULL) {
        char ac[64];
        diag_endpoint(&ak->acked_client, ak->acked_client_port, ac, sizeof ac);
        diag_evidence_add(f, e->answer_packet, 0, "          %s > %s  bare ACK, ack %u: the end "
                          "of %s's connection (packets %llu-%llu), which the server closed "
                          "%.3f s before this SYN", s, c, e->stale_ack, ac,
                          (unsigned long long)ak->acked_first_packet,
                          (unsigned long long)ak->acked_last_packet,
                          diag_secs(e->syn_ts - ak->acked_last_ts));
        other = memcmp(ak->acked_client.b, e->client.b, 16) != 0;
    } else {
        diag_evidence_add(f, e->answer_packet, 0, "          %s > %s  bare ACK, ack %u: neither "
                          "this SYN's ISN + 1 nor any byte the client sent on this 4-tuple: it "
                          "acknowledges a connection this capture does not show", s, c,
                          e->stale_ack);
    }
    diag_evidence_add(f, 0, 0, "          %u SYN transmissions; %s after %.3f s", e->syn_count,
                      e->succeeded ? "connected" : "never connected", e->delay_s);
    return other;
}

static void unpaired_words(diag_finding *f, const diag_ctx *ctx, const tw_event *e0,
                           uint64_t n, uint64_t other_host)
{
    char s[64];
    diag_endpoint(&e0->server, e0->server_port, s, sizeof s);
    if (other_host > 0)
        diag_summary(f, "%llu SYN%s to %s %s answered with the ACK of another host's connection "
                     "that used the same outside port: the server still held it in TIME_WAIT (a "
                     "NAT reused the port too soon)", (unsigned long long)n, n == 1 ? "" : "s",
                     s, n == 1 ? "was" : "were");
    else
        diag_summary(f, "%llu SYN%s to %s %s answered with an ACK of an older connection on the "
                     "same 4-tuple that this capture does not show: the server still held it "
                     "(TIME_WAIT)", (unsigned long long)n, n == 1 ? "" : "s", s,
                     n == 1 ? "was" : "were");
    diag_explain(f, "The server answered the client's SYN not with a SYN-ACK but with a bare ACK "
                 "whose acknowledgment number has nothing to do with this connection: not the "
                 "SYN's ISN + 1, no byte the client sent, and the client refused it (its RST, "
                 "or its SYN again) instead of using the connection. It belongs to an earlier "
                 "connection on the same 4-tuple that the server still keeps, normally in "
                 "TIME_WAIT after closing it first (Linux answers a SYN it will not accept in "
                 "TIME_WAIT this way, tcp_timewait_state_process()).");
    if (other_host > 0)
        diag_explain(f, "The stale ACK acknowledges exactly where another inside host's "
                     "connection to the same server ended (see the evidence): both went out "
                     "through the same NAT with the same outside port, and the server still held "
                     "the first one in TIME_WAIT when the second arrived. That is a NAT whose "
                     "hold of closed mappings is shorter than the server's TIME_WAIT.");
    else
        diag_explain(f, "%s", ctx->vantage == DIAG_VANTAGE_CLIENT
                     ? "No such earlier connection is in this capture taken at the client: "
                       "another host behind the same NAT made it with the same outside source "
                       "port, and the NAT gave this client's connection that port again while "
                       "the server still held the old 4-tuple. Capture outside the NAT or at the "
                       "server to see both (nat-timewait-mismatch)."
                     : "The earlier connection is not in this capture: it ended before the "
                       "capture started, or it went through a NAT under another inside address.");
    diag_remedy_add(f, "Make the NAT hold a closed mapping at least as long as the server's "
                       "TIME_WAIT before it gives the outside port to another inside host (Linux "
                       "nf_conntrack_tcp_timeout_time_wait)", "more NAT entries held");
    diag_remedy_add(f, "Give the NAT more outside addresses or ports so a port comes back less "
                       "often", "only makes collisions rarer");
    diag_remedy_add(f, "Let the clients close first, so the server does not hold TIME_WAIT",
                    "application change; TIME_WAIT moves to the clients");
}

static int unpaired_group(const diag_ep_group *gr, const size_t *next, diag_ctx *ctx,
                          diag_findings *out)
{
    uint64_t n = 0, failed = 0, other_host = 0;
    double delay_max = 0;
    diag_finding *f = diag_add(out, "timewait-reuse", DIAG_WARNING, 0.85);
    if (f == NULL)
        return -ENOMEM;
    const tw_event *e0 = diag_tw(ctx, gr->first);
    for (size_t j = gr->first, m = 0; m < gr->n; j = next[j], m++) {
        const tw_event *e = diag_tw(ctx, j);
        n++;
        failed += !e->succeeded;
        if (e->delay_s > delay_max)
            delay_max = e->delay_s;
        if (n > EVIDENCE_EVENTS)
            f->evidence_omitted++;
        else if (unpaired_evidence(f, ctx, e))
            other_host++;
    }
    if (failed)
        f->severity = DIAG_ERROR;
    f->events = n;
    f->server = e0->server;
    f->server_port = e0->server_port;
    f->has_server = true;
    unpaired_words(f, ctx, e0, n, other_host);
    diag_param_add(f, "stale_acks", (double)n, "");
    diag_param_add(f, "linked_to_other_host", (double)other_host, "");
    diag_param_add(f, "delay_max_s", delay_max, "s");
    diag_param_add(f, "failed", (double)failed, "attempts");
    return 0;
}

int tw_unpaired_findings(diag_ctx *ctx, diag_findings *out)
{
    diag_ep_groups eg;
    int rc = diag_ep_groups_init(&eg, ctx->n_tw, (uint64_t)(uintptr_t)ctx * 0x9e3779b97f4a7c15ULL);
    for (size_t i = 0; i < ctx->n_tw && rc == 0; i++) {
        const tw_event *e = diag_tw(ctx, i);
        if (e->unpaired && !e->not_tw && diag_ep_groups_add(&eg, &e->server, e->server_port, i) < 0)
            rc = -ENOMEM;
    }
    for (size_t k = 0; k < eg.n && rc == 0; k++)
        rc = unpaired_group(&eg.v[k], eg.next, ctx, out);
    diag_ep_groups_free(&eg);
    return rc;
}
