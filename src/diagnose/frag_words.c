/* frag_words.c - fragmented-tcp: its verdicts in words, evidence and remedies. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "diagnose/frag_internal.h"

static const char *side_word(uint8_t side)
{
    return side == FLOW_SIDE_CLIENT ? "client" : side == FLOW_SIDE_SERVER ? "server" : "sender";
}

static const char *peer_word(uint8_t side)
{
    return side == FLOW_SIDE_CLIENT ? "server" : side == FLOW_SIDE_SERVER ? "client" : "receiver";
}

/* Server endpoint of a record: from its incarnation, else the lower port. */
void ft_seg_server(const ft_seg *s, pkt_addr *a, uint16_t *port)
{
    bool dst_is_server = s->sender == FLOW_SIDE_CLIENT ||
                         (s->sender == FLOW_SIDE_NONE && s->dport <= s->sport);
    *a = dst_is_server ? s->dst : s->src;
    *port = dst_is_server ? s->dport : s->sport;
}

/* Where the capture sits relative to the fragments' sender. */
enum ft_where { FT_AT_SENDER, FT_AT_RECEIVER, FT_BETWEEN };

static enum ft_where where(const diag_ctx *ctx, uint8_t sender)
{
    if ((ctx->vantage == DIAG_VANTAGE_SERVER && sender == FLOW_SIDE_SERVER) ||
        (ctx->vantage == DIAG_VANTAGE_CLIENT && sender == FLOW_SIDE_CLIENT))
        return FT_AT_SENDER;
    if ((ctx->vantage == DIAG_VANTAGE_SERVER && sender == FLOW_SIDE_CLIENT) ||
        (ctx->vantage == DIAG_VANTAGE_CLIENT && sender == FLOW_SIDE_SERVER))
        return FT_AT_RECEIVER;
    return FT_BETWEEN;
}

static void seg_evidence(diag_finding *f, const diag_ctx *ctx, const ft_seg *s, bool full)
{
    char a[64], b[64];
    diag_endpoint(&s->src, s->sport, a, sizeof a);
    diag_endpoint(&s->dst, s->dport, b, sizeof b);
    char size[96];
    if (s->len > 0)
        snprintf(size, sizeof size, "%u bytes of data in a %u-byte datagram, %u fragments",
                 s->len, s->datagram, s->frags_max);
    else
        snprintf(size, sizeof size, "at least %u bytes of data; the other fragments %s",
                 s->first_len, s->incomplete > 0 ? "never arrived here"
                                                 : "are not in the capture");
    diag_evidence_add(f, s->packet, s->ts, "%8.3f  %s > %s  first fragment (IP id %u, DF %s): "
                      "TCP seq %u, %s", diag_rel(ctx, s->ts), a, b, s->ip_id,
                      s->df_set ? "set" : "clear", s->seq, size);
    if (!full)
        return;
    if (s->sends > 1)
        diag_evidence_add(f, s->last_packet, s->last_ts, "%8.3f  %s > %s  the last of %u "
                          "transmissions of the same data (%u fragmented), %.3f s after the "
                          "first", diag_rel(ctx, s->last_ts), a, b, s->sends, s->frag_sends,
                          diag_secs(s->last_ts - s->ts));
    if (s->acked)
        diag_evidence_add(f, s->ack_packet, s->ack_ts, "%8.3f  %s > %s  ACK covering it, "
                          "%.3f s after the first fragment", diag_rel(ctx, s->ack_ts), b, a,
                          diag_secs(s->ack_ts - s->ts));
    else
        diag_evidence_add(f, 0, 0, "          no ACK from %s reached seq %u", b,
                          s->seq + (s->len ? s->len : s->first_len));
    bool failed = !s->acked && ft_seg_lossy(s) &&
                  (s->outcome == LC_STALLED || s->outcome == LC_RESET);
    if (s->end == FT_END_RESET)
        diag_evidence_add(f, s->end_packet, s->end_ts, "%8.3f  %s > %s  RST from the %s, %.3f s "
                          "after the first fragment%s", diag_rel(ctx, s->end_ts),
                          s->end_by == s->sender ? a : b, s->end_by == s->sender ? b : a,
                          side_word(s->end_by), diag_secs(s->end_ts - s->ts),
                          failed ? ": the connection failed" : "");
}

/* "; 1 of 2 connections then failed (stalled)", or "" */
static void outcome_words(char *buf, size_t len, const ft_group *g)
{
    buf[0] = '\0';
    if (g->failed > 0)
        snprintf(buf, len, "; %llu of %llu connection%s then failed (%s)",
                 (unsigned long long)g->failed, (unsigned long long)g->conns,
                 g->conns == 1 ? "" : "s",
                 g->stalled == 0 ? "reset" : g->reset == 0 ? "stalled, never acknowledged"
                                 : "stalled or reset");
}

/* What the sender and receiver did with the lost segments, by vantage. */
static void explain_what_happened(diag_finding *f, const diag_ctx *ctx, const ft_group *g)
{
    const char *snd = side_word(g->sender), *rcv = peer_word(g->sender);
    char outcome[160], lost[256];
    outcome_words(outcome, sizeof outcome, g);
    if (g->unacked_lossy > 0)
        snprintf(lost, sizeof lost, "the %s never acknowledged %llu of them and the %s sent "
                 "%s %llu time%s in all%s%s", rcv, (unsigned long long)g->unacked_lossy, snd,
                 g->unacked_lossy == 1 ? "it" : "them", (unsigned long long)g->unacked_sends,
                 g->unacked_sends == 1 ? "" : "s",
                 g->unacked_whole == 0 ? ", fragmented each time" : "", outcome);
    else
        snprintf(lost, sizeof lost, "%llu of them had to be sent again before the %s "
                 "acknowledged them; the connections recovered", (unsigned long long)g->lossy,
                 rcv);
    switch (where(ctx, g->sender)) {
    case FT_AT_SENDER:
        diag_explain(f, "This capture was taken at the %s, where the fragments leave: %s. "
                     "The handshake and the unfragmented packets got through, so the path "
                     "carries whole packets and loses fragmented ones: something between here "
                     "and the %s drops IP fragments of TCP.", snd, lost, rcv);
        break;
    case FT_AT_RECEIVER:
        if (g->incomplete > 0)
            diag_explain(f, "This capture was taken at the %s, where the fragments should "
                         "arrive. For %llu of the segments not every fragment arrived: the "
                         "first fragment, which carries the ports, came through and the rest "
                         "did not - a NAT or firewall on the way that forwards first fragments "
                         "but cannot map the later ones; %s.", rcv,
                         (unsigned long long)g->incomplete, lost);
        else
            diag_explain(f, "This capture was taken at the %s, where the fragments arrive. "
                         "Every fragment arrived, yet %s: the %s's stack or a filter on it "
                         "discarded them.", rcv, lost, rcv);
        break;
    case FT_BETWEEN:
        diag_explain(f, "Seen here, between the hosts: %s; they were lost after this point or "
                     "discarded by the %s.", lost, rcv);
        break;
    }
}

/* Which receivers lost fragmented segments and whether others got theirs:
 * a loss toward some addresses only points at their path (their NAT). */
static void explain_receivers(diag_finding *f, const ft_state *st, const ft_group *g)
{
    pkt_addr lossy[3];
    size_t n_lossy = 0;
    uint64_t more_lossy = 0, ok_elsewhere = 0;
    for (size_t pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < st->n_seg; i++) {
            const ft_seg *s = &st->seg[i];
            pkt_addr sa;
            uint16_t sp;
            ft_seg_server(s, &sa, &sp);
            if (s->sender != g->sender || sp != g->server_port || !ft_addr_eq(&sa, &g->server))
                continue;
            bool known = false;
            for (size_t k = 0; k < n_lossy; k++)
                known |= ft_addr_eq(&lossy[k], &s->dst);
            if (pass == 0 && !s->acked && ft_seg_lossy(s) && !known) {
                if (n_lossy < 3)
                    lossy[n_lossy++] = s->dst;
                else
                    more_lossy++;
            } else if (pass == 1 && s->acked && !known) {
                ok_elsewhere++;
            }
        }
    }
    if (n_lossy == 0 || ok_elsewhere == 0)
        return;
    char list[3 * PKT_ADDR_STRLEN + 16] = "";
    for (size_t k = 0; k < n_lossy; k++) {
        char a[PKT_ADDR_STRLEN];
        diag_addr(&lossy[k], a, sizeof a);
        size_t l = strlen(list);
        snprintf(list + l, sizeof list - l, "%s%s", k ? ", " : "", a);
    }
    diag_explain(f, "The unacknowledged segments went to %s%s, while %llu fragmented segment%s "
                 "to other addresses %s acknowledged: fragments get through in general, and "
                 "are lost on the way to %s - look there for a NAT or firewall.", list,
                 more_lossy ? " and others" : "", (unsigned long long)ok_elsewhere,
                 ok_elsewhere == 1 ? "" : "s", ok_elsewhere == 1 ? "was" : "were",
                 n_lossy == 1 ? "that address" : "those addresses");
}

static void add_remedies(diag_finding *f, bool trouble)
{
    if (!trouble) {
        diag_remedy_add(f, "Nothing is failing; to make the traffic robust, let the sender set "
                           "DF and use path MTU discovery, or clamp the MSS, so segments fit the "
                           "path without fragments",
                        "PMTUD needs ICMP fragmentation-needed to pass on the path");
        return;
    }
    diag_remedy_add(f, "Send this traffic through a NAT that reassembles fragments - a NAT "
                       "instance (Linux NAT reassembles in nf_defrag_ipv4) instead of an AWS NAT "
                       "gateway, which drops fragmented TCP (seed 004) - or give the host a "
                       "public address",
                    "a NAT instance is a machine to size, patch and make highly available");
    diag_remedy_add(f, "Fix the sender so it does not fragment: turn path MTU discovery back on "
                       "so DF is set (Linux net.ipv4.ip_no_pmtu_disc = 0, Windows "
                       "EnablePMTUDiscovery = 1), and let ICMP fragmentation-needed (type 3 "
                       "code 4) through",
                    "where ICMP is filtered, large DF packets black-hole instead (the "
                    "connection hangs after the handshake)");
    diag_remedy_add(f, "Clamp the MSS on a router that sees the SYNs (iptables TCPMSS "
                       "--clamp-mss-to-pmtu) or lower the tunnel or interface MTU, so segments "
                       "fit the smallest link whole",
                    "slightly more packets for the same data; it must cover every path");
}

/* Severity from what the packets prove: a failed attempt for a lost
 * segment, a loss the connection survived, or nothing lost. */
static enum diag_severity group_severity(const ft_group *g, double *conf)
{
    if (g->lossy == 0) {
        *conf = 0.9;
        return DIAG_INFO;
    }
    *conf = g->unacked_lossy > 0 && g->retransmitted > 0 ? 0.85 : 0.7;
    return g->failed > 0 ? DIAG_ERROR : DIAG_WARNING;
}

static void group_summary(diag_finding *f, const ft_group *g)
{
    char s[64], head[192];
    diag_endpoint(&g->server, g->server_port, s, sizeof s);
    snprintf(head, sizeof head, "%llu TCP segment%s from the %s%s%s came in IP fragments",
             (unsigned long long)g->segs, g->segs == 1 ? "" : "s", side_word(g->sender),
             g->sender == FLOW_SIDE_SERVER ? " " : " of ", s);
    char incomplete[48] = "";
    if (g->incomplete > 0)
        snprintf(incomplete, sizeof incomplete, ", %llu arrived incomplete",
                 (unsigned long long)g->incomplete);
    if (g->lossy > 0)
        diag_summary(f, "%s (datagrams up to %u bytes, DF %s): %llu never acknowledged, %llu "
                     "sent again%s%s", head, g->max_datagram, g->df_set ? "set" : "clear",
                     (unsigned long long)g->unacked, (unsigned long long)g->retransmitted,
                     incomplete, g->failed == 0 ? "" : g->failed == 1 ? "; the connection failed"
                                                                      : "; connections failed");
    else if (g->unacked == 0)
        diag_summary(f, "%s (datagrams up to %u bytes); all were delivered and acknowledged",
                     head, g->max_datagram);
    else
        diag_summary(f, "%s (datagrams up to %u bytes); none was lost or sent again (%llu "
                     "with no acknowledgment in the capture)", head, g->max_datagram,
                     (unsigned long long)g->unacked);
}

static void explain_nothing_lost(diag_finding *f, const ft_group *g)
{
    if (g->unacked == 0) {
        diag_explain(f, "%s delivered and acknowledged. Fragmented TCP still depends on every "
                     "fragment arriving: one lost fragment loses the whole segment, and a NAT "
                     "gateway on the path would drop them all.",
                     g->segs == 1 ? "It was" : "All of them were");
        return;
    }
    diag_explain(f, "%llu of them %s no acknowledgment in this capture, but nothing shows a "
                 "loss: none was sent again, and a datagram whose fragments all arrive is "
                 "delivered whole (RFC 791 3.2 reassembly); the capture may hold only one "
                 "direction or end before the answer. Fragmented TCP still depends on every "
                 "fragment arriving, and a NAT gateway on the path would drop them all.",
                 (unsigned long long)g->unacked, g->unacked == 1 ? "has" : "have");
}

int ft_report_group(const ft_state *st, const ft_group *g, diag_ctx *ctx, diag_findings *out)
{
    double conf;
    enum diag_severity sev = group_severity(g, &conf);
    bool trouble = g->lossy > 0;
    const ft_seg *ex = &st->seg[g->example];
    diag_finding *f = diag_add(out, "fragmented-tcp", sev, conf);
    if (f == NULL)
        return -ENOMEM;
    f->events = g->segs;
    f->server = g->server;
    f->server_port = g->server_port;
    f->has_server = true;
    char frags[48] = " as far as seen";
    if (g->frags_max > 0)
        snprintf(frags, sizeof frags, ", split into %u fragments", g->frags_max);
    group_summary(f, g);
    diag_explain(f, "The %s sent %llu TCP segment%s as IP fragments: the largest datagram was "
                 "%u bytes%s, with DF %s. TCP normally sets DF and lets path MTU discovery size "
                 "its segments, so fragments mean the sender turned PMTUD off, or a tunnel or "
                 "middlebox on the way cleared DF and split the packets (tcp-behaviour.md 9.9).",
                 side_word(g->sender), (unsigned long long)g->segs, g->segs == 1 ? "" : "s",
                 g->max_datagram, frags, g->df_set ? "set on some" : "clear");
    if (trouble) {
        explain_what_happened(f, ctx, g);
        explain_receivers(f, st, g);
        diag_explain(f, "Fragments are fragile: only the first carries the port numbers, so a "
                     "NAT or firewall that does not reassemble cannot map the others, and AWS "
                     "NAT gateways drop fragmented TCP and ICMP altogether while forwarding "
                     "fragmented UDP. That is seed 004: some connections from a private subnet "
                     "through a NAT gateway to one destination fail because that destination "
                     "answers with fragmented TCP.");
    } else {
        explain_nothing_lost(f, g);
    }
    if (st->segs_untracked || st->dgram_evicted)
        diag_explain(f, "Not followed in detail: %llu more fragmented segments (over %d) and "
                     "%llu datagrams pushed out of the reassembly table.",
                     (unsigned long long)st->segs_untracked, FT_MAX_SEGS,
                     (unsigned long long)st->dgram_evicted);
    diag_param_add(f, "fragmented_segments", (double)g->segs, "");
    diag_param_add(f, "unacknowledged", (double)g->unacked, "");
    diag_param_add(f, "retransmitted", (double)g->retransmitted, "");
    diag_param *p = diag_param_add(f, "max_datagram", (double)g->max_datagram, "bytes");
    if (g->incomplete > 0) {
        diag_param_min(p, (double)g->max_datagram);
        diag_param_note(p, "at least: some datagrams never arrived whole here");
    }
    p = diag_param_add(f, "df_clear", g->df_set ? 0.0 : 1.0, "");
    diag_param_note(p, "1: the fragmented datagrams had DF clear, so routers were allowed to "
                       "fragment them");
    diag_param_add(f, "incomplete", (double)g->incomplete, "");
    diag_param_add(f, "connections_failed", (double)g->failed, "");

    seg_evidence(f, ctx, ex, true);
    size_t listed = 1;
    for (size_t i = 0; i < st->n_seg; i++) {
        const ft_seg *o = &st->seg[i];
        pkt_addr sa;
        uint16_t sp;
        ft_seg_server(o, &sa, &sp);
        if (o == ex || o->sender != g->sender || sp != g->server_port ||
            !ft_addr_eq(&sa, &g->server))
            continue;
        if (listed < 4)
            seg_evidence(f, ctx, o, false);
        else
            f->evidence_omitted++;
        listed++;
    }
    add_remedies(f, trouble);
    return 0;
}

/* At the sender its own data cannot be missing from the capture. */
static bool lost_at_sender(const diag_ctx *ctx, const ft_lost *l)
{
    return (ctx->vantage == DIAG_VANTAGE_SERVER && l->sender == FLOW_SIDE_SERVER) ||
           (ctx->vantage == DIAG_VANTAGE_CLIENT && l->sender == FLOW_SIDE_CLIENT);
}

/* The suspicion explains the connections it names (kept ones only). */
static int claim_lost(const ft_state *st, diag_ctx *ctx)
{
    for (size_t i = 0; i < st->n_lost; i++)
        if (!lost_at_sender(ctx, &st->lost[i]) &&
            diag_ctx_explain(ctx, st->lost[i].first_packet) != 0)
            return -ENOMEM;
    return 0;
}

/* No fragments here, but data that never arrived before an RST. */
int ft_report_lost(const ft_state *st, diag_ctx *ctx, diag_findings *out)
{
    const ft_lost *l0 = NULL;
    uint64_t n = 0;
    uint32_t lo = UINT32_MAX, hi = 0;
    for (size_t i = 0; i < st->n_lost; i++) {
        const ft_lost *l = &st->lost[i];
        if (lost_at_sender(ctx, l))
            continue;
        if (l0 == NULL)
            l0 = l;
        n++;
        if (l->missing < lo) lo = l->missing;
        if (l->missing > hi) hi = l->missing;
    }
    if (l0 == NULL)
        return 0;
    diag_finding *f = diag_add(out, "fragmented-tcp", DIAG_WARNING, 0.35);
    if (f == NULL)
        return -ENOMEM;
    const char *snd = side_word((uint8_t)l0->sender), *rcv = peer_word((uint8_t)l0->sender);
    f->events = n;
    f->server = l0->server;
    f->server_port = l0->server_port;
    f->has_server = true;
    char s[64], c[64];
    diag_endpoint(&l0->server, l0->server_port, s, sizeof s);
    diag_endpoint(&l0->client, l0->client_port, c, sizeof c);
    diag_summary(f, "%llu connection%s to %s ended with an RST from the %s %u bytes beyond "
                 "anything the %s received: that data never arrived (suspected: fragmented "
                 "TCP dropped on the way, as behind an AWS NAT gateway)", (unsigned long long)n,
                 n == 1 ? "" : "s", s, snd, l0->missing, rcv);
    diag_explain(f, "This capture was taken %s. The handshake passed, but at packet %llu the "
                 "%s reset the connection with a sequence number %u bytes beyond the last data "
                 "from it that reached this point, and the %s never acknowledged more: the %s "
                 "sent that much and none of it arrived.",
                 ctx->vantage == DIAG_VANTAGE_CLIENT ? "at the client"
                 : ctx->vantage == DIAG_VANTAGE_SERVER ? "at the server"
                 : "between the hosts", (unsigned long long)l0->rst_packet, snd, l0->missing,
                 rcv, snd);
    diag_explain(f, "No IP fragments are in this capture, so the cause cannot be seen from "
                 "here; this is a suspicion, not a finding. Seed 004 looks exactly like this "
                 "from the inside: the destination answers with fragmented TCP and the AWS NAT "
                 "gateway drops every fragment of it, so the client sees its request "
                 "acknowledged and then nothing until the reset. A path MTU black hole (large "
                 "packets with DF dropped, the ICMP that would say so filtered) looks the same.");
    diag_param_add(f, "fragmented_segments", 0, "");
    diag_param_add(f, "connections", (double)n, "");
    diag_param *p = diag_param_add(f, "missing_bytes", (double)l0->missing, "bytes");
    diag_param_min(p, lo);
    diag_param_max(p, hi);
    diag_param_note(p, "RST sequence number minus the end of the data that arrived");
    for (size_t i = 0, k = 0; i < st->n_lost; i++) {
        const ft_lost *l = &st->lost[i];
        if (lost_at_sender(ctx, l))
            continue;
        if (k++ == 4) {
            f->evidence_omitted += n - 4;
            break;
        }
        diag_endpoint(&l->server, l->server_port, s, sizeof s);
        diag_endpoint(&l->client, l->client_port, c, sizeof c);
        bool from_server = l->sender == FLOW_SIDE_SERVER;
        if (l->established_packet != 0)
            diag_evidence_add(f, l->established_packet, l->established_ts, "%8.3f  %s > %s  "
                              "handshake complete", diag_rel(ctx, l->established_ts), c, s);
        diag_evidence_add(f, l->rst_packet, l->rst_ts, "%8.3f  %s > %s  RST %.3f s after the "
                          "SYN, %u bytes beyond the last data that arrived",
                          diag_rel(ctx, l->rst_ts), from_server ? s : c, from_server ? c : s,
                          diag_secs(l->rst_ts - l->first_ts), l->missing);
    }
    if (st->lost_total > st->n_lost)
        f->evidence_omitted += st->lost_total - st->n_lost;
    if (claim_lost(st, ctx) != 0)
        return -ENOMEM;
    diag_remedy_add(f, "Confirm it: make the same request from a host with a public address "
                       "(outside the NAT gateway), or capture at the server, and look for IP "
                       "fragments (tcpdump 'ip[6:2] & 0x3fff != 0') (seed 004)",
                    "needs a second vantage point");
    diag_remedy_add(f, "If the destination sends fragmented TCP: route through a NAT instance "
                       "(it reassembles) instead of the NAT gateway",
                    "a NAT instance is a machine to size, patch and make highly available");
    diag_remedy_add(f, "If large packets with DF are lost instead (PMTU black hole): let ICMP "
                       "fragmentation-needed through, or clamp the MSS on the path",
                    "clamping costs slightly more packets; ICMP filtering is often someone "
                    "else's firewall");
    return 0;
}

/* Later fragments whose first fragment (with the ports) never came, next
 * to attempts between the same addresses that failed meanwhile. */
int ft_report_orphans(const ft_state *st, const ft_orphan *ex, const lc_attempt *att,
                      size_t n_att, diag_ctx *ctx, diag_findings *out)
{
    diag_finding *f = diag_add(out, "fragmented-tcp", DIAG_WARNING, 0.5);
    if (f == NULL)
        return -ENOMEM;
    char a[PKT_ADDR_STRLEN], b[PKT_ADDR_STRLEN];
    diag_addr(&ex->src, a, sizeof a);
    diag_addr(&ex->dst, b, sizeof b);
    f->events = st->orphan_dgrams;
    diag_summary(f, "%llu fragmented TCP datagram%s arrived without the first fragment, which "
                 "carries the TCP header (first from %s to %s), while a connection between "
                 "them failed", (unsigned long long)st->orphan_dgrams,
                 st->orphan_dgrams == 1 ? "" : "s", a, b);
    diag_explain(f, "Later fragments of TCP datagrams arrived here, in the middle of the "
                 "capture, but their first fragments did not: those segments cannot be "
                 "reassembled and are lost. Meanwhile %zu connection%s between the same two "
                 "addresses stalled or %s reset. Which connection each datagram belonged to "
                 "cannot be told without its first fragment (it carries the ports): a device "
                 "on the way that drops first fragments, or fragments of any kind, does this.",
                 n_att, n_att == 1 ? "" : "s", n_att == 1 ? "was" : "were");
    diag_param_add(f, "fragmented_segments", 0, "");
    diag_param_add(f, "orphan_datagrams", (double)st->orphan_dgrams, "");
    diag_evidence_add(f, ex->packet, ex->ts, "%8.3f  %s > %s  a later fragment; its first "
                      "fragment never arrived", diag_rel(ctx, ex->ts), a, b);
    for (size_t i = 0; i < n_att; i++) {
        char c[64], sv[64];
        diag_endpoint(&att[i].client, att[i].client_port, c, sizeof c);
        diag_endpoint(&att[i].server, att[i].server_port, sv, sizeof sv);
        diag_evidence_add(f, att[i].first_packet, att[i].first_ts, "%8.3f  %s > %s  a "
                          "connection that then %s", diag_rel(ctx, att[i].first_ts), c, sv,
                          lc_outcome_name((enum lc_outcome)att[i].outcome));
    }
    add_remedies(f, true);
    return 0;
}
