/* outcome.c - judge one incarnation from its own packets: ok, slow, refused, unanswered, ... */
#include <string.h>

#include "lifecycle/lc_internal.h"

/*
 * How it works.  An incarnation is judged in two phases, each from what
 * the flow table kept of it (flow.h):
 *
 *   handshake  the client's SYNs and what answered them.  A SYN-ACK the
 *              client acknowledged (or data both ways) connects it; an
 *              RST refuses it (RFC 9293 3.10.7.3: a closed port answers a
 *              SYN with RST); a bare ACK answers for another connection
 *              (tcp-behaviour.md 9.2, the TIME_WAIT answer); nothing at all
 *              leaves it unanswered.  Connected after a retransmitted SYN
 *              or SYN-ACK is slow, with the delay from the first SYN.
 *   data       once connected: a side whose data was retransmitted and
 *              never acknowledged stalled (RFC 9293 3.8.1: the sender
 *              retransmits until acknowledged or it gives up); the server
 *              resetting while the client's data is unacknowledged, or an
 *              RST whose TTL is not its sender's, is a reset.
 *
 * The stage (lifecycle.c) then weighs what this judge cannot see alone:
 * ICMP errors quoting the SYN, the capture's end, and whether the capture
 * shows the server's direction for this pair of addresses at all.
 *
 * Limits.  Sequence numbers are compared modulo 2^32 (RFC 9293 3.4); a
 * transfer of more than 2 GiB without an ACK in between is misread.  A
 * zero window advertised by the receiver makes the sender's probes look
 * like retransmissions: such a connection is not called stalled (the
 * receiver, not the path, stopped it).  Duplicate frames within
 * LC_DUP_SYN_NS are not retransmissions.
 */

static bool seq_after(uint32_t a, uint32_t b) { return (int32_t)(a - b) > 0; }

static double secs(int64_t ns) { return (double)ns / 1e9; }

/* The first SYN retransmitted (not merely captured twice) before the
 * answer at time t: the index of the first such SYN, or 0 when none. */
static int syn_retried_before(const flow_conn *c, int64_t t)
{
    int n = c->syn_count < FLOW_MAX_SYN ? c->syn_count : FLOW_MAX_SYN;
    for (int i = 1; i < n; i++)
        if (c->syn_ts[i] - c->syn_ts[0] >= LC_DUP_SYN_NS && c->syn_ts[i] <= t)
            return i;
    return 0;
}

/* Payload of side x outstanding: sent, never acknowledged by the peer (its
 * FIN, if any, not counted: a last ACK lost at the edge is no failure). */
static uint32_t outstanding(const flow_endpoint *x, const flow_endpoint *peer)
{
    if (!x->sent_seen || !peer->ack_seen || !seq_after(x->sent_end, peer->ack_max))
        return 0;
    uint32_t n = x->sent_end - peer->ack_max;
    if (x->fin_seen && n > 0)
        n--;
    return n;
}

/* Side x stalled: its data was retransmitted, and the retransmitted bytes
 * were never acknowledged (the peer's highest ACK is not past them). */
static bool stalled_side(const flow_endpoint *x, const flow_endpoint *peer)
{
    return x->retrans_packet != 0 && peer->zero_windows == 0 && outstanding(x, peer) > 0 &&
           !seq_after(peer->ack_max, x->retrans_seq);
}

/* x's first RST came from elsewhere: its TTL is not x's, and it ended a
 * connection that was still open (the first RST of it, before any FIN:
 * a late RST after a close ends nothing). */
static bool foreign_rst(const flow_conn *c, const flow_endpoint *x, enum flow_side side)
{
    if (x->rst_count == 0 || x->packets <= x->rst_count)
        return false;       /* only RSTs from it: nothing to compare with */
    if (c->reset_by != side || c->client.fin_seen || c->server.fin_seen)
        return false;
    int d = (int)x->rst_ttl - (int)x->ttl_first;
    return d > LC_TTL_FOREIGN || d < -LC_TTL_FOREIGN;
}

/* The data phase: stalled, reset, or nothing wrong (v left as it is). */
static void judge_data(const flow_conn *c, lc_verdict *v)
{
    const flow_endpoint *sides[2][2] = { { &c->server, &c->client }, { &c->client, &c->server } };
    for (int i = 0; i < 2; i++) {
        const flow_endpoint *x = sides[i][0], *peer = sides[i][1];
        if (!stalled_side(x, peer))
            continue;
        v->outcome = LC_STALLED;
        v->unacked = outstanding(x, peer);
        v->decisive_packet = x->retrans_packet;
        v->decisive_ts = x->retrans_ts;
        if (c->reset_by != FLOW_SIDE_NONE || c->closed_by != FLOW_SIDE_NONE) {
            v->detail = LC_D_GAVE_UP;
        } else {
            v->detail = LC_D_CAPTURE_END;
            v->at_capture_end = true;
            v->decisive_ts = peer->ack_max_ts;      /* no progress since */
        }
        return;
    }
    for (int i = 0; i < 2; i++) {
        const flow_endpoint *x = sides[i][0];
        if (foreign_rst(c, x, i == 0 ? FLOW_SIDE_SERVER : FLOW_SIDE_CLIENT)) {
            v->outcome = LC_RESET;
            v->detail = LC_D_THIRD_PARTY;
            v->decisive_packet = x->rst_packet;
            v->decisive_ts = x->rst_ts;
            return;
        }
    }
    /* The server resets while the client's data waits for its ACK: the
       request is lost (e.g. a keep-alive connection closed by the server
       as the client reused it; RFC 9293 3.6: data not yet acknowledged is
       lost on reset).  Not when the client wrote after it had
       acknowledged the server's FIN: the server had closed and said so,
       and a closed socket answers data with RST (RFC 1122 4.2.2.13);
       nor when the client had closed or reset too (it waited for
       nothing more); nor when the RST itself acknowledges all the
       client sent (received, then aborted by the server's application:
       abortive-close).  The client resetting is its own choice (abortive-close), not a
       failure of the connection. */
    uint32_t out = outstanding(&c->client, &c->server);
    bool rst_acks_all = c->server.rst_has_ack && !seq_after(c->client.sent_end, c->server.rst_ack);
    if (c->server.rst_count > 0 && out > 0 && !rst_acks_all && !c->client.data_after_peer_fin &&
        !c->client.fin_seen && c->client.rst_count == 0) {
        v->outcome = LC_RESET;
        v->detail = LC_D_SERVER_RST;
        v->unacked = out;
        v->decisive_packet = c->server.rst_packet;
        v->decisive_ts = c->server.rst_ts;
    }
}

/* Connected: ok or slow by the handshake, then the data phase. */
static void judge_connected(const flow_conn *c, lc_verdict *v)
{
    v->outcome = LC_OK;
    if (c->syn_count > 0) {
        int64_t answer = c->synack_count > 0 ? c->synack_ts : c->established_ts;
        int r = syn_retried_before(c, answer);
        if (r > 0 || c->handshake_rsts > 0) {
            v->outcome = LC_SLOW;
            v->delay_s = secs(answer - c->syn_ts[0]);
            v->decisive_packet = c->synack_count > 0 ? c->synack_packet : c->established_packet;
            v->decisive_ts = answer;
        } else if (c->synack_count > 1 && c->established &&
                   c->established_ts - c->synack_ts >= LC_DUP_SYN_NS) {
            /* The server retransmitted its SYN-ACK, and the client's ACK
               came only after that: the first SYN-ACK or the client's ACK
               was lost (RFC 6298 5).  A second SYN-ACK the client had
               already acknowledged is a copy, not a delay. */
            v->outcome = LC_SLOW;
            v->delay_s = secs(c->established_ts - c->syn_ts[0]);
            v->decisive_packet = c->established_packet;
            v->decisive_ts = c->established_ts;
        }
    }
    judge_data(c, v);
}

/* The client behaves as connected although no SYN-ACK was captured: it
 * acknowledged something after its SYN, or sent data. */
static bool client_saw_answer(const flow_conn *c)
{
    return c->client.ack_seen || c->client.bytes > 0;
}

static void judge_unanswered_syn(const flow_conn *c, lc_verdict *v)
{
    int n = c->syn_count < FLOW_MAX_SYN ? c->syn_count : FLOW_MAX_SYN;
    if (client_saw_answer(c)) {
        if (c->server.packets > 0) {
            judge_connected(c, v);      /* the SYN-ACK alone is missing */
            return;
        }
        v->outcome = LC_NO_VERDICT;
        v->detail = LC_D_ANSWER_NOT_CAPTURED;
        return;
    }
    v->outcome = LC_UNANSWERED;
    v->decisive_packet = c->syn_packet[n - 1];
    v->decisive_ts = c->syn_ts[n - 1];
    v->delay_s = secs(c->syn_ts[n - 1] - c->syn_ts[0]);
    v->at_capture_end = true;
}

/*
 * A SYN-ACK came and the client never acknowledged it.  A client stack
 * answers a SYN-ACK with ACK, or with RST when the socket is gone or the
 * SYN-ACK acknowledges the wrong sequence number (RFC 9293 3.10.7.3).
 *   - RST to a SYN-ACK that acknowledged its SYN: the application gave up
 *     the attempt (a browser racing connections, happy eyeballs, a scanner
 *     that only probes): the network did its part, ok.
 *   - RST to a SYN-ACK acknowledging something else: handshake failed.
 *   - SYN-ACKs retransmitted with no answer: the server waited for an ACK
 *     that never came (RFC 6298 5): handshake failed.
 *   - one SYN-ACK and nothing at all from the client after it: no stack
 *     does that, so the capture is missing packets (or was cut after the
 *     SYN-ACK): no verdict, or slow when the SYN-ACK itself came only after
 *     retransmitted SYNs.
 */
static void judge_synack_unacked(const flow_conn *c, lc_verdict *v)
{
    bool ack_right = c->client.isn_seen && c->first_answer == FLOW_HS_SYNACK &&
                     c->handshake_ack == c->client.isn + 1u;
    if (c->client.rst_count > 0) {
        if (ack_right) {
            v->outcome = LC_OK;
            return;
        }
        v->outcome = LC_HANDSHAKE_FAILED;
        v->detail = LC_D_CLIENT_RST;
        v->decisive_packet = c->client.rst_packet;
        v->decisive_ts = c->client.rst_ts;
        return;
    }
    if (c->synack_count > 1) {
        v->outcome = LC_HANDSHAKE_FAILED;
        v->detail = LC_D_NO_ACK;
        v->decisive_packet = c->synack_packet;
        v->decisive_ts = c->synack_ts;
        v->at_capture_end = c->closed_by == FLOW_SIDE_NONE && c->reset_by == FLOW_SIDE_NONE;
        return;
    }
    if (syn_retried_before(c, c->synack_ts) > 0) {
        v->outcome = LC_SLOW;
        v->delay_s = secs(c->synack_ts - c->syn_ts[0]);
        v->decisive_packet = c->synack_packet;
        v->decisive_ts = c->synack_ts;
        return;
    }
    v->outcome = LC_NO_VERDICT;
    v->detail = LC_D_NO_CLIENT_ANSWER;
}

/*
 * A bare ACK answered the SYN.  It is the TIME_WAIT answer (an ACK of the
 * old connection, tcp-behaviour.md 9.2) unless it is about this one: it
 * acknowledges bytes the client sent in this incarnation, or data then
 * flowed both ways; then only the SYN-ACK is missing from the capture.  A
 * client that reset and sent its SYN again took the ACK for an old
 * connection's (RFC 9293 3.10.7.3): that one stays a failed handshake
 * (timewait_reuse.c judges the same, tw_ack_kind()).
 */
static bool ack_answers_this_one(const flow_conn *c)
{
    if (c->handshake_rsts > 0 || !c->client.isn_seen)
        return false;
    uint32_t ack = c->handshake_ack;
    bool own = seq_after(ack, c->client.isn + 1u) && c->client.sent_seen &&
               !seq_after(ack, c->client.sent_end);
    return own || (c->client.bytes > 0 && c->server.bytes > 0);
}

void lc_judge(const flow_conn *c, lc_verdict *v)
{
    memset(v, 0, sizeof *v);
    if (c->syn_count == 0) {
        /* The capture began inside it (or missed the SYN): the data phase
           alone, and only when both directions were captured. */
        if (c->client.packets == 0 || c->server.packets == 0) {
            v->outcome = LC_NO_VERDICT;
            v->detail = LC_D_ONE_DIRECTION;
            return;
        }
        judge_connected(c, v);
        return;
    }
    if (c->established) {
        judge_connected(c, v);
        return;
    }
    if (c->synack_count > 0) {
        judge_synack_unacked(c, v);
        return;
    }
    switch (c->handshake) {
    case FLOW_HS_RST:
        v->outcome = LC_REFUSED;
        v->detail = LC_D_RST;
        v->decisive_packet = c->server.rst_packet;
        v->decisive_ts = c->server.rst_ts;
        return;
    case FLOW_HS_ACK_ONLY:
        if (ack_answers_this_one(c)) {
            judge_connected(c, v);      /* the SYN-ACK alone is missing */
            return;
        }
        v->outcome = LC_HANDSHAKE_FAILED;
        v->detail = LC_D_ACK_ONLY;
        v->decisive_packet = c->handshake_packet;
        v->decisive_ts = c->handshake_ts;
        return;
    default:
        judge_unanswered_syn(c, v);
        return;
    }
}
