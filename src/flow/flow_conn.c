/* flow_conn.c - follow one incarnation of a 4-tuple packet by packet: roles, handshake, close, history. */
#include <string.h>

#include "flow/flow_internal.h"

enum { C = 0, S = 1 };     /* index of client / server in flow_live.trk */

/* Ports below 1024 and these are taken as the server side when no SYN says
 * which side opened (a short list in the spirit of Zeek's likely_server_ports). */
static bool likely_server_port(uint16_t p)
{
    static const uint16_t known[] = {
        1080, 1194, 1433, 1521, 1723, 2049, 2181, 2375, 2376, 3128, 3268, 3306,
        3389, 5060, 5061, 5222, 5432, 5671, 5672, 5900, 5984, 6379, 6443, 6667,
        8000, 8008, 8080, 8081, 8088, 8443, 8888, 9000, 9042, 9090, 9092, 9200,
        9300, 11211, 27017,
    };
    if (p != 0 && p < 1024)
        return true;
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (known[i] == p)
            return true;
    return false;
}

/*
 * Roles without a SYN.  In order: a SYN-ACK is sent by the server; a likely
 * server port on exactly one side marks the server; otherwise a port in the
 * IANA dynamic range (49152-65535, RFC 6335) or Linux's default ephemeral
 * range (32768-60999, tcp-behaviour.md 3.8) against one outside it marks the
 * client; otherwise the sender of the first packet is taken as the client.
 */
bool flow_guess_sender_is_client(const pkt_view *v)
{
    if ((v->flags & (PKT_TCP_SYN | PKT_TCP_ACK)) == (PKT_TCP_SYN | PKT_TCP_ACK))
        return false;
    if (v->flags & PKT_TCP_SYN)
        return true;
    bool ls = likely_server_port(v->sport), ld = likely_server_port(v->dport);
    if (ls != ld)
        return ld;
    bool es = v->sport >= 32768, ed = v->dport >= 32768;
    if (es != ed)
        return es;
    return true;
}

static void hist_add(flow_live *l, char letter, bool from_client)
{
    if (l->hist_len >= FLOW_HISTORY_MAX) {
        l->hist_dropped++;
        return;
    }
    /* Zeek: upper case for the originator (client), lower for the responder. */
    if (from_client && letter >= 'a' && letter <= 'z')
        letter = (char)(letter - 'a' + 'A');
    l->conn.history[l->hist_len++] = letter;
    l->conn.history[l->hist_len] = '\0';
}

/* Zeek logs c/g/t/w on a log10 scale: at the 1st, 10th, 100th... event. */
static void hist_log10(flow_live *l, char letter, bool from_client, uint32_t *n,
                       uint32_t *next)
{
    (*n)++;
    if (*next == 0)
        *next = 1;
    if (*n == *next) {
        hist_add(l, letter, from_client);
        *next = *next >= UINT32_MAX / 10 ? UINT32_MAX : *next * 10;
    }
}

/* e is zeroed already (flow_live_begin). */
static void endpoint_init(flow_endpoint *e, const pkt_addr *a, uint16_t port)
{
    e->addr = *a;
    e->port = port;
}

void flow_live_begin(flow_live *l, const pkt_view *v, bool sender_is_client,
                     bool roles_inferred, uint32_t incarnation)
{
    memset(l, 0, sizeof *l);
    flow_conn *c = &l->conn;
    c->incarnation = incarnation;
    c->roles_inferred = roles_inferred;
    c->vlan = v->vlan_count ? v->vlan[0] : 0;
    c->first_packet = v->num;
    c->first_ts = v->ts_ns;
    c->handshake = FLOW_HS_NOT_SEEN;
    c->first_answer = FLOW_HS_NOT_SEEN;
    if (sender_is_client) {
        endpoint_init(&c->client, &v->src, v->sport);
        endpoint_init(&c->server, &v->dst, v->dport);
    } else {
        endpoint_init(&c->client, &v->dst, v->dport);
        endpoint_init(&c->server, &v->src, v->sport);
    }
    /* Zeek marks with '^' a connection whose first packet came from the side
       it decided is the responder (a SYN-ACK first, or a port guess). */
    if (!sender_is_client)
        hist_add(l, '^', false);
}

/*
 * Incarnation boundaries.  A pure SYN from the client with the ISN of the
 * SYN being retried is a retransmission (same socket), even after a bare ACK
 * and the client's RST: that is the TIME_WAIT answer and the retry of
 * tcp-behaviour.md 9.2.  Any other pure SYN begins a new incarnation: a new
 * ISN means a new connection attempt (RFC 9293 3.4.1: each attempt picks a
 * new ISN), whether the old one closed (FINs or RST), was abandoned, or is
 * still open at the other side (stale tuple, 9.7).  Exception: the other
 * side's SYN before any answer is a simultaneous open (RFC 9293 3.5, fig. 8).
 * A SYN-ACK begins a new incarnation only when the old one is closed and the
 * SYN-ACK's ISN is not the one already seen (its SYN was not captured).
 */
bool flow_live_is_new(const flow_live *l, const pkt_view *v, bool from_client)
{
    const flow_conn *c = &l->conn;
    uint8_t f = v->flags;
    if (f & PKT_TCP_RST)
        return false;
    if ((f & (PKT_TCP_SYN | PKT_TCP_ACK)) == PKT_TCP_SYN) {
        if (from_client) {
            /* The SYN-ACK was captured before its SYN (reordering at the
               capture point): the SYN it acknowledges belongs to it. */
            if (c->syn_count == 0 && l->synack_ack_seen && v->seq + 1u == l->synack_ack)
                return false;
            /* After a close - FINs both ways, or an RST once established -
               any SYN starts the next life, even with the old ISN (a stack
               or proxy that does not change it: field report 001). */
            if ((c->client.fin_seen && c->server.fin_seen) ||
                (c->established && c->reset_by != FLOW_SIDE_NONE))
                return true;
            return !(c->client.isn_seen && c->syn_count > 0 && v->seq == c->client.isn);
        }
        /* from the server side */
        if (c->syn_count > 0 && c->synack_count == 0 && !l->trk[S].any)
            return false;   /* simultaneous open */
        if (c->server.isn_seen && v->seq == c->server.isn)
            return false;
        return true;
    }
    if ((f & (PKT_TCP_SYN | PKT_TCP_ACK)) == (PKT_TCP_SYN | PKT_TCP_ACK)) {
        const flow_endpoint *snd = from_client ? &c->client : &c->server;
        const flow_endpoint *rcv = from_client ? &c->server : &c->client;
        /* A SYN-ACK acknowledging this incarnation's SYN answers it, even
           after an RST (an injected or stray RST, RFC 5961 3). */
        if (rcv->isn_seen && v->ack == rcv->isn + 1u)
            return false;
        return l->closed && !(snd->isn_seen && snd->isn == v->seq);
    }
    return false;
}

static void note_ts(flow_endpoint *e, const pkt_view *v)
{
    if (!v->opt.has_ts)
        return;
    if (!e->ts_seen) {
        e->ts_seen = true;
        e->tsval_first = v->opt.tsval;
        e->tsval_first_ts = v->ts_ns;
    }
    e->tsval_last = v->opt.tsval;
    e->tsval_last_ts = v->ts_ns;
}

static void note_ip(flow_endpoint *e, const pkt_view *v)
{
    if (e->packets == 0) {
        e->ttl_first = e->ttl_min = e->ttl_max = v->ttl;
    } else {
        if (v->ttl < e->ttl_min) e->ttl_min = v->ttl;
        if (v->ttl > e->ttl_max) e->ttl_max = v->ttl;
    }
    e->packets++;
    e->ip_bytes += v->ip_len;
    e->bytes += v->payload_len;
}

/* Sequence tracking: next_seq is the highest seq + length sent (SYN and FIN
 * count one, RFC 9293 3.4).  Payload below it was sent before. */
static void note_seq(flow_endpoint *e, const pkt_view *v)
{
    if (v->flags & PKT_TCP_RST)
        return;     /* an RST's seq says nothing about data sent */
    uint32_t len = v->payload_len + ((v->flags & PKT_TCP_SYN) ? 1u : 0u) +
                   ((v->flags & PKT_TCP_FIN) ? 1u : 0u);
    uint32_t end = v->seq + len;
    /* what this side was captured sending and acknowledging (see
       flow_endpoint: next_seq also follows the peer's ACKs) */
    if (!e->sent_seen || seq_gt(end, e->sent_end)) {
        e->sent_seen = true;
        e->sent_end = end;
    }
    if ((v->flags & PKT_TCP_ACK) && (!e->ack_seen || seq_gt(v->ack, e->ack_max))) {
        e->ack_seen = true;
        e->ack_max = v->ack;
        e->ack_max_ts = v->ts_ns;
    }
    if (!e->seq_seen) {
        e->seq_seen = true;
        e->next_seq = end;
        return;
    }
    if (v->payload_len > 0 && seq_lt(v->seq, e->next_seq) && !(v->flags & PKT_TCP_SYN))
        e->retransmits++;
    if (seq_gt(end, e->next_seq))
        e->next_seq = end;
}

/* The segment [lo, hi) falls in a hole of the data seen so far: it fills
 * it (captured out of order), and the hole shrinks. */
static bool fills_hole(ep_track *t, uint32_t lo, uint32_t hi)
{
    for (uint8_t i = 0; i < t->n_holes; i++) {
        if (seq_lt(lo, t->hole[i].lo) || seq_gt(hi, t->hole[i].hi))
            continue;
        if (lo == t->hole[i].lo)
            t->hole[i].lo = hi;
        else if (hi == t->hole[i].hi)
            t->hole[i].hi = lo;
        if (!seq_lt(t->hole[i].lo, t->hole[i].hi))
            t->hole[i] = t->hole[--t->n_holes];
        return true;
    }
    return false;
}

/*
 * A retransmission for the lifecycle stage's stall verdict: payload that
 * starts below the end of the data this side was captured sending.  Not
 * one: the same frame captured twice (same sequence, length and IP id
 * within 1 ms: two interfaces, a mirror port); data that fills a hole
 * (captured out of order: retransmits counts those, as Zeek and tshark
 * do); data below a FIN captured first.  Two holes are remembered; a
 * segment beyond more of them is taken as new data (never as a
 * retransmission).
 */
static void note_retransmission(ep_track *t, flow_endpoint *e, const pkt_view *v)
{
    if (v->payload_len == 0 || (v->flags & (PKT_TCP_SYN | PKT_TCP_RST)))
        return;
    uint32_t end = v->seq + v->payload_len;
    bool copy = t->data_seen && v->seq == t->seg_seq && v->payload_len == t->seg_len &&
                v->ip_id == t->seg_ipid && v->ts_ns - t->seg_ts < 1000000;
    if (t->data_seen && seq_gt(v->seq, t->data_end) && t->n_holes < 2) {
        t->hole[t->n_holes].lo = t->data_end;
        t->hole[t->n_holes++].hi = v->seq;
    }
    if (copy && e->copies < UINT32_MAX)
        e->copies++;
    if (t->data_seen && !copy && seq_lt(v->seq, t->data_end) && !fills_hole(t, v->seq, end)) {
        e->retrans_packet = v->num;
        e->retrans_ts = v->ts_ns;
        e->retrans_seq = v->seq;
    }
    if (!t->data_seen || seq_gt(end, t->data_end))
        t->data_end = end;
    t->data_seen = true;
    t->seg_seq = v->seq;
    t->seg_len = v->payload_len;
    t->seg_ipid = v->ip_id;
    t->seg_ts = v->ts_ns;
}

/* Zeek's analysis of this incarnation starts afresh (see on_syn). */
static void zeek_restart(flow_live *l)
{
    for (int i = 0; i < 2; i++) {
        l->trk[i].state = EP_INACTIVE;
        l->trk[i].prev_state = EP_INACTIVE;
        l->trk[i].zk_fin = false;
        l->trk[i].zk_trim_set = false;
    }
}

static void on_syn(flow_live *l, const pkt_view *v, bool from_client)
{
    flow_conn *c = &l->conn;
    flow_endpoint *e = from_client ? &c->client : &c->server;
    if (!e->isn_seen) {
        e->isn_seen = true;
        e->isn = v->seq;
    }
    if (!e->syn_opts_seen) {
        e->syn_opts_seen = true;
        e->syn_window = v->window;
        e->syn_opts = v->opt;
    }

    if (from_client && !(v->flags & PKT_TCP_ACK)) {
        if (c->syn_count < FLOW_MAX_SYN) {
            c->syn_packet[c->syn_count] = v->num;
            c->syn_ts[c->syn_count] = v->ts_ns;
        }
        if (c->syn_count < UINT16_MAX)
            c->syn_count++;
        if (c->handshake == FLOW_HS_NOT_SEEN) {
            c->handshake = FLOW_HS_NONE;
            c->first_answer = FLOW_HS_NONE;
        } else if (c->first_answer == FLOW_HS_NOT_SEEN && c->synack_count > 0) {
            c->first_answer = FLOW_HS_SYNACK;   /* its SYN-ACK came first */
        }
        /* A retried SYN after an RST: the RST did not end this
           incarnation (it answered a stale ACK, tcp-behaviour.md 9.2).
           Zeek makes the retry a new connection (IsReuse(): a SYN on a
           closed connection), so its endpoint states start again. */
        if (c->syn_count > 1 && !c->established && c->reset_by != FLOW_SIDE_NONE) {
            if (c->handshake_rsts < UINT16_MAX)
                c->handshake_rsts++;
            c->reset_by = FLOW_SIDE_NONE;
            l->closed = false;
            zeek_restart(l);
        }
        return;
    }
    if (!from_client && (v->flags & PKT_TCP_ACK)) {
        if (!l->synack_ack_seen) {
            l->synack_ack_seen = true;
            l->synack_ack = v->ack;
        }
        if (c->synack_count == 0) {
            c->synack_packet = v->num;
            c->synack_ts = v->ts_ns;
        }
        if (c->synack_count < UINT16_MAX)
            c->synack_count++;
        if (c->first_answer == FLOW_HS_NONE) {
            c->first_answer = FLOW_HS_SYNACK;
            c->handshake_packet = v->num;
            c->handshake_ts = v->ts_ns;
            c->handshake_ack = v->ack;
        }
        if (c->handshake == FLOW_HS_NONE || c->handshake == FLOW_HS_ACK_ONLY ||
            c->handshake == FLOW_HS_RST || c->handshake == FLOW_HS_NOT_SEEN)
            c->handshake = FLOW_HS_SYNACK;
    }
}

/* An answer to the client's SYN that is not a SYN-ACK. */
static void on_handshake_answer(flow_conn *c, const pkt_view *v, enum flow_handshake h)
{
    if (c->first_answer == FLOW_HS_NONE) {
        c->first_answer = h;
        c->handshake_packet = v->num;
        c->handshake_ts = v->ts_ns;
        c->handshake_ack = v->ack;
    }
    if (c->handshake == FLOW_HS_NONE ||
        (c->handshake == FLOW_HS_ACK_ONLY && h == FLOW_HS_RST))
        c->handshake = h;
}

static void on_fin(flow_live *l, const pkt_view *v, bool from_client)
{
    flow_conn *c = &l->conn;
    flow_endpoint *e = from_client ? &c->client : &c->server;
    if (!e->fin_seen) {
        e->fin_seen = true;
        e->fin_packet = v->num;
        e->fin_ts = v->ts_ns;
        e->fin_seq = v->seq;
        if (c->closed_by == FLOW_SIDE_NONE)
            c->closed_by = from_client ? FLOW_SIDE_CLIENT : FLOW_SIDE_SERVER;
    }
    if (c->client.fin_seen && c->server.fin_seen)
        l->closed = true;
}

static void on_rst(flow_live *l, const pkt_view *v, bool from_client)
{
    flow_conn *c = &l->conn;
    flow_endpoint *e = from_client ? &c->client : &c->server;
    if (e->rst_count == 0) {
        e->rst_ttl = v->ttl;
        e->rst_packet = v->num;
        e->rst_ts = v->ts_ns;
        e->rst_seq = v->seq;
        e->rst_has_ack = (v->flags & PKT_TCP_ACK) != 0;
        e->rst_ack = v->ack;
    }
    if (e->rst_count < UINT32_MAX)
        e->rst_count++;
    if (c->reset_by == FLOW_SIDE_NONE)
        c->reset_by = from_client ? FLOW_SIDE_CLIENT : FLOW_SIDE_SERVER;
    if (!from_client && c->synack_count == 0 && c->syn_count > 0)
        on_handshake_answer(c, v, FLOW_HS_RST);
    l->closed = true;
}

/* The client's ACK of the SYN-ACK, or traffic both ways after the handshake,
 * makes the incarnation established (RFC 9293 3.5). */
static void note_established(flow_live *l, const pkt_view *v, bool from_client)
{
    flow_conn *c = &l->conn;
    if (c->established || !(v->flags & PKT_TCP_ACK) || (v->flags & (PKT_TCP_SYN | PKT_TCP_RST)))
        return;
    bool ok;
    if (c->synack_count > 0)
        ok = from_client && c->server.isn_seen && v->ack == c->server.isn + 1u;
    else if (c->syn_count == 0)
        ok = l->trk[C].any && l->trk[S].any;   /* picked up mid-stream */
    else
        ok = false;
    if (!ok && c->synack_count > 0 && l->trk[C].any && l->trk[S].any && v->payload_len > 0)
        ok = true;
    if (!ok)
        return;
    c->established = true;
    c->established_packet = v->num;
    c->established_ts = v->ts_ns;
    /* An RST before establishment that did not stop it did not end it
       (an injected or stray RST, RFC 5961 3). */
    if (c->reset_by != FLOW_SIDE_NONE && !c->client.fin_seen && !c->server.fin_seen) {
        c->reset_by = FLOW_SIDE_NONE;
        l->closed = false;
    }
}

/* Data acknowledged that the capture never showed: the peer's final
 * sequence number moves up to the acknowledgement. */
static void note_acked(flow_live *l, const pkt_view *v, bool from_client)
{
    if (!(v->flags & PKT_TCP_ACK) || (v->flags & (PKT_TCP_SYN | PKT_TCP_RST)))
        return;
    flow_endpoint *peer = from_client ? &l->conn.server : &l->conn.client;
    if (!peer->seq_seen || !l->conn.established)
        return;
    if (seq_gt(v->ack, peer->next_seq))
        peer->next_seq = v->ack;
}

/*
 * ---- Zeek's view of the packet ---------------------------------------------
 *
 * State and history follow Zeek's TCP analyzer packet by packet, in the order
 * TCPSessionAdapter::Process() takes them (zeek/zeek,
 * src/packet_analysis/protocol/tcp/TCPSessionAdapter.cc): init_endpoint(),
 * update_history(), update_window(), update_last_seq(), UpdateStateMachine(),
 * then the peer's AckReceived() that finds content gaps.  Zeek's originator
 * is taken to be our client; where Zeek orients a connection otherwise (its
 * likely_server_ports guess, or a SYN-ACK seen before its SYN) the direction
 * differs from Zeek's and so do these (docs/conns.md, known differences).
 * Not modelled: checksums (Zeek's 'c'), analyzer limits ('x'), Zeek's timers.
 */

/* Sequence space a segment takes, as Zeek's get_segment_len(): an RST's
 * payload is not part of the stream. */
static uint32_t zk_seg_len(const pkt_view *v)
{
    uint32_t n = (v->flags & PKT_TCP_RST) ? 0 : v->payload_len;
    return n + ((v->flags & PKT_TCP_SYN) ? 1u : 0u) + ((v->flags & PKT_TCP_FIN) ? 1u : 0u);
}

/* TCP_Endpoint::SetState(): remember the state left. */
static void zk_set(ep_track *t, enum ep_state s)
{
    if (s != t->state) {
        t->prev_state = t->state;
        t->state = s;
    }
}

/* init_endpoint(): where the sender's sequence space starts.  Without a SYN
 * Zeek starts it one before the first packet, as if a SYN had been seen. */
static void zk_init_endpoint(ep_track *t, const pkt_view *v, uint32_t end)
{
    bool syn = (v->flags & PKT_TCP_SYN) != 0;
    bool reinit = false;
    switch (t->state) {
    case EP_INACTIVE:
        t->zk_start = syn ? v->seq : v->seq - 1u;
        t->zk_last = syn ? end : v->seq;  /* the first packet is not a rexmit */
        t->zk_rcv = t->zk_start + 1u;
        t->zk_nooo = 0;
        return;
    case EP_SYN_SENT:
    case EP_SYN_ACK_SENT:
        reinit = syn && v->seq != t->zk_start;      /* "SYN_seq_jump" */
        break;
    case EP_ESTABLISHED:
    case EP_PARTIAL:
        reinit = syn;       /* "guess ... this SYN will be the one that sets it up" */
        break;
    case EP_RESET:
        reinit = syn && t->prev_state == EP_INACTIVE;   /* the RST was injected */
        break;
    default:
        break;
    }
    if (reinit) {
        t->zk_start = v->seq;
        t->zk_last = end;
        t->zk_rcv = t->zk_start + 1u;
        t->zk_nooo = 0;
    }
}

/*
 * update_history(): one letter per kind and direction for a/d/i/q; s/h, f
 * and r again when their relative sequence number differs from the last of
 * their kind (the FIN's is taken after its payload).  A packet with two of
 * SYN/FIN/RST gives only 'i' (FIN+RST) or 'q' (SYN with FIN or RST); 'd' and
 * 'a' only come from packets with none of the three.
 */
static void zk_history(flow_live *l, ep_track *t, const pkt_view *v, bool from_client)
{
    uint8_t f = v->flags;
    uint32_t rel = v->seq - t->zk_start;
    int bits = ((f & PKT_TCP_SYN) != 0) + ((f & PKT_TCP_FIN) != 0) + ((f & PKT_TCP_RST) != 0);

    if (bits > 1) {
        bool fin_rst = (f & PKT_TCP_FIN) && (f & PKT_TCP_RST);
        bool *seen = fin_rst ? &t->hist_i : &t->hist_q;
        if (!*seen) {
            *seen = true;
            hist_add(l, fin_rst ? 'i' : 'q', from_client);
        }
    } else if (f & PKT_TCP_SYN) {
        if (!t->syn_letter || t->last_syn_seq != rel)
            hist_add(l, (f & PKT_TCP_ACK) ? 'h' : 's', from_client);
        t->syn_letter = true;
        t->last_syn_seq = rel;
    } else if (f & PKT_TCP_FIN) {
        rel += v->payload_len;
        if (!t->fin_letter || t->last_fin_seq != rel)
            hist_add(l, 'f', from_client);
        t->fin_letter = true;
        t->last_fin_seq = rel;
    } else if (f & PKT_TCP_RST) {
        if (!t->rst_letter || t->last_rst_seq != rel)
            hist_add(l, 'r', from_client);
        t->rst_letter = true;
        t->last_rst_seq = rel;
    } else if (v->payload_len > 0) {
        if (!t->hist_d) {
            t->hist_d = true;
            hist_add(l, 'd', from_client);
        }
    } else if ((f & PKT_TCP_ACK) && !t->hist_a) {
        t->hist_a = true;
        hist_add(l, 'a', from_client);
    }
}

/*
 * update_last_seq(): payload that does not take the sender past the highest
 * sequence number it had sent is a retransmission ('t').  Unlike Zeek, the
 * payload of a SYN (TCP Fast Open) or of an RST is not counted: Zeek counts
 * every SYN or RST carrying data, which is not a retransmission.
 */
static void zk_update_last_seq(flow_live *l, ep_track *t, const pkt_view *v, uint32_t end,
                               bool from_client)
{
    int32_t delta = (int32_t)(end - t->zk_last);
    uint8_t f = v->flags;
    if ((f & (PKT_TCP_SYN | PKT_TCP_RST)) && (delta > 1048576 || delta < -1048576))
        return;     /* TOO_LARGE_SEQ_DELTA: not trusted */
    if ((f & PKT_TCP_FIN) && t->zk_last == t->zk_start + 1u) {
        t->zk_last = end;
        return;
    }
    if (t->state == EP_RESET)
        return;     /* "don't trust any subsequent sequence numbers" */
    if (delta > 0)
        t->zk_last = end;
    else if (v->payload_len > 0 && !(f & (PKT_TCP_SYN | PKT_TCP_RST)))
        hist_log10(l, 't', from_client, &t->retrans_n, &t->retrans_next);
}

/*
 * UpdateStateMachine() and its UpdateInactiveState(), UpdateSYN_SentState(),
 * UpdateEstablishedState(), UpdateClosedState(): t sent the packet, p is its
 * peer.  Note that the originator is ESTABLISHED once the responder's SYN-ACK
 * is seen, and that an endpoint seen without a SYN stays PARTIAL (midstream
 * traffic is OTH until a FIN or RST).
 */
static void zk_state_machine(ep_track *t, ep_track *p, const pkt_view *v, bool is_orig)
{
    uint8_t f = v->flags;
    bool syn = f & PKT_TCP_SYN, fin = f & PKT_TCP_FIN, rst = f & PKT_TCP_RST,
         ack = f & PKT_TCP_ACK;

    switch (t->state) {
    case EP_INACTIVE:
        if (syn) {
            if (is_orig) {
                zk_set(t, ack ? EP_SYN_ACK_SENT : EP_SYN_SENT);
            } else {
                /* SYN-ACK, or a simultaneous open; a SYN answering the
                   originator's SYN-ACK makes Zeek flip the roles. */
                if (p->state == EP_SYN_SENT || (!ack && p->state == EP_SYN_ACK_SENT))
                    zk_set(p, EP_ESTABLISHED);
                zk_set(t, EP_ESTABLISHED);
            }
        }
        if (fin)
            zk_set(t, EP_CLOSED);
        if (rst)
            zk_set(t, EP_RESET);
        if (t->state == EP_INACTIVE) {
            if (!is_orig && v->payload_len == 0 && p->state == EP_SYN_SENT)
                ;   /* an ACK before the SYN-ACK ("hello, ftp.microsoft.com") */
            else if (ack && p->state == EP_ESTABLISHED)
                zk_set(t, EP_ESTABLISHED);  /* the SYN was missed */
            else
                zk_set(t, EP_PARTIAL);
        }
        break;
    case EP_SYN_SENT:
    case EP_SYN_ACK_SENT:
        if (fin)
            zk_set(t, EP_CLOSED);
        if (rst)
            zk_set(t, EP_RESET);
        break;
    case EP_ESTABLISHED:
    case EP_PARTIAL:
        if (syn && t->state == EP_PARTIAL && p->state == EP_INACTIVE && !ack)
            zk_set(t, EP_SYN_SENT);     /* "SYN_after_partial" */
        if (fin && !rst) {
            zk_set(t, EP_CLOSED);
            /* the peer sent a FIN then an RST: a normal close after all */
            if (p->state == EP_RESET && p->prev_state == EP_CLOSED)
                zk_set(p, EP_CLOSED);
        }
        if (rst)
            zk_set(t, EP_RESET);
        break;
    case EP_CLOSED:
        /* an RST after FINs both ways leaves the close as it was */
        if (rst && p->state != EP_CLOSED)
            zk_set(t, EP_RESET);
        break;
    case EP_RESET:
        break;
    }
}

/* Ranges beyond the contiguous point that now touch it are taken in. */
static void zk_absorb(ep_track *t)
{
    for (uint8_t i = 0; i < t->zk_nooo;) {
        if (seq_gt(t->zk_ooo[i].lo, t->zk_rcv)) {
            i++;
            continue;
        }
        if (seq_gt(t->zk_ooo[i].hi, t->zk_rcv))
            t->zk_rcv = t->zk_ooo[i].hi;
        t->zk_ooo[i] = t->zk_ooo[--t->zk_nooo];
        i = 0;
    }
}

/*
 * The sender's payload as Zeek's reassembler receives it (Process() ->
 * DataSent()): not an RST's, not before the start of the sequence space,
 * and only when the capture holds all of it (TCP_Endpoint::DataSent():
 * "truncated_tcp_payload" is not reassembled, so its ack is a gap).
 */
static void zk_data(ep_track *t, const pkt_view *v)
{
    if (v->payload_len == 0 || (v->flags & PKT_TCP_RST) ||
        v->payload_captured < v->payload_len || (int32_t)(v->seq - t->zk_start) < 0)
        return;
    uint32_t lo = v->seq + ((v->flags & PKT_TCP_SYN) ? 1u : 0u);
    uint32_t hi = lo + v->payload_len;
    if (!seq_gt(hi, t->zk_rcv))
        return;
    if (!seq_gt(lo, t->zk_rcv)) {
        t->zk_rcv = hi;
        zk_absorb(t);
        return;
    }
    for (uint8_t i = 0; i < t->zk_nooo; i++) {
        if (!seq_gt(lo, t->zk_ooo[i].hi) && !seq_lt(hi, t->zk_ooo[i].lo)) {
            if (seq_lt(lo, t->zk_ooo[i].lo))
                t->zk_ooo[i].lo = lo;
            if (seq_gt(hi, t->zk_ooo[i].hi))
                t->zk_ooo[i].hi = hi;
            return;
        }
    }
    if (t->zk_nooo < ZK_OOO_MAX) {
        t->zk_ooo[t->zk_nooo].lo = lo;
        t->zk_ooo[t->zk_nooo].hi = hi;
        t->zk_nooo++;
    }
}

/* TCP_Reassembler::Gap(): only between endpoints ESTABLISHED, or CLOSED
 * straight from ESTABLISHED. */
static bool zk_clean(const ep_track *t)
{
    return t->state == EP_ESTABLISHED ||
           (t->state == EP_CLOSED && t->prev_state == EP_ESTABLISHED);
}

/*
 * Content gaps ('g', for the side whose data is missing), as Zeek's
 * TCP_Reassembler::AckReceived() -> TrimToSeq() -> Undelivered() finds them:
 * the acknowledgement goes beyond the data seen, each hole below it counts
 * once, and the ack of a FIN is taken as the ack of the data before it.
 */
static void zk_ack(flow_live *l, const pkt_view *v, bool from_client)
{
    if (!(v->flags & PKT_TCP_ACK))
        return;
    const flow_conn *c = &l->conn;
    ep_track *t = &l->trk[from_client ? C : S];
    ep_track *pt = &l->trk[from_client ? S : C];
    if (pt->state == EP_INACTIVE)
        return;     /* the peer has sent nothing: Zeek's init_peer() */
    uint32_t up = v->ack;
    if (pt->zk_fin && !seq_lt(up, pt->zk_fin_end))
        up = pt->zk_fin_end - 1u;
    if (pt->zk_trim_set && !seq_gt(up, pt->zk_trim))
        return;
    pt->zk_trim_set = true;
    pt->zk_trim = up;
    if (!seq_gt(up, pt->zk_rcv))
        return;
    /* Undelivered(): in a partial connection, an ack of the first octet or
       two is the faked SYN, not missing data */
    if (c->syn_count == 0 && c->synack_count == 0 && up - pt->zk_start <= 2u)
        return;
    bool report = zk_clean(t) && zk_clean(pt);
    for (;;) {
        int first = -1;
        for (int i = 0; i < pt->zk_nooo; i++)
            if (seq_lt(pt->zk_ooo[i].lo, up) &&
                (first < 0 || seq_lt(pt->zk_ooo[i].lo, pt->zk_ooo[first].lo)))
                first = i;
        if (first < 0)
            break;
        if (report)     /* the hole before the first block seen */
            hist_log10(l, 'g', !from_client, &pt->gap_n, &pt->gap_next);
        pt->zk_rcv = pt->zk_ooo[first].lo;
        zk_absorb(pt);
    }
    if (seq_gt(up, pt->zk_rcv)) {
        if (report)
            hist_log10(l, 'g', !from_client, &pt->gap_n, &pt->gap_next);
        pt->zk_rcv = up;
        zk_absorb(pt);  /* DataBlockList::Trim(): a block at the ack goes on */
    }
}

static void zeek_packet(flow_live *l, const pkt_view *v, bool from_client)
{
    ep_track *t = &l->trk[from_client ? C : S];
    ep_track *p = &l->trk[from_client ? S : C];
    uint32_t end = v->seq + zk_seg_len(v);

    zk_init_endpoint(t, v, end);
    zk_history(l, t, v, from_client);
    /* update_window(): zero windows, except with or after an RST, or once
       the peer has closed */
    if (v->window == 0 && !(v->flags & PKT_TCP_RST) && p->state != EP_CLOSED &&
        t->state != EP_RESET)
        hist_log10(l, 'w', from_client, &t->zero_n, &t->zero_next);
    zk_update_last_seq(l, t, v, end, from_client);
    if (v->flags & PKT_TCP_FIN) {
        t->zk_fin = true;
        t->zk_fin_end = end;
    }
    zk_state_machine(t, p, v, from_client);
    /* then the peer's data this packet acknowledges, then its own data */
    zk_ack(l, v, from_client);
    zk_data(t, v);
}

void flow_live_packet(flow_live *l, const pkt_view *v, bool from_client)
{
    flow_conn *c = &l->conn;
    flow_endpoint *e = from_client ? &c->client : &c->server;
    ep_track *t = &l->trk[from_client ? C : S];
    uint8_t f = v->flags;

    c->last_packet = v->num;
    c->last_ts = v->ts_ns;
    note_ip(e, v);
    note_ts(e, v);
    t->any = true;

    if (f & PKT_TCP_SYN)
        on_syn(l, v, from_client);
    else if (!from_client && !(f & PKT_TCP_RST) && (f & PKT_TCP_ACK) &&
             c->syn_count > 0 && c->synack_count == 0 && v->payload_len == 0 &&
             !c->established)
        on_handshake_answer(c, v, FLOW_HS_ACK_ONLY);

    zeek_packet(l, v, from_client);
    note_acked(l, v, from_client);
    note_seq(e, v);
    note_retransmission(t, e, v);
    const flow_endpoint *peer = from_client ? &c->server : &c->client;
    if (v->payload_len > 0 && peer->fin_seen && (f & PKT_TCP_ACK) && !(f & PKT_TCP_RST) &&
        seq_gt(v->ack, peer->fin_seq))
        e->data_after_peer_fin = true;
    note_established(l, v, from_client);

    if (v->window == 0 && !(f & (PKT_TCP_SYN | PKT_TCP_RST | PKT_TCP_FIN)))
        e->zero_windows++;
    if (f & PKT_TCP_FIN)
        on_fin(l, v, from_client);
    if (f & PKT_TCP_RST)
        on_rst(l, v, from_client);
}

void flow_live_fragment(flow_live *l, const pkt_view *v, bool from_client)
{
    flow_conn *c = &l->conn;
    flow_endpoint *e = from_client ? &c->client : &c->server;
    c->fragments++;
    c->last_packet = v->num;
    c->last_ts = v->ts_ns;
    e->ip_bytes += v->ip_len;
    e->bytes += v->payload_len;
}

/* TCP_Endpoint::Size(): the sequence space a side used, less its SYN and
 * FIN, taken as Zeek does from the highest sequence number sent or acked. */
static uint32_t zk_size(const ep_track *t)
{
    if (t->state == EP_INACTIVE)
        return 0;
    uint32_t top = t->zk_last;
    if (t->zk_trim_set && seq_gt(t->zk_trim, top))
        top = t->zk_trim;
    uint32_t size = top - t->zk_start;
    if (size != 0)
        size--;     /* the SYN, real or assumed */
    if (t->zk_fin && size != 0)
        size--;
    return size;
}

/*
 * conn_state from the two endpoint states, as Zeek's conn_state() in
 * base/protocols/conn/main.zeek does (S0 ... OTH, see docs/conns.md).
 */
static const char *zeek_state(const flow_live *l)
{
    enum ep_state os = l->trk[C].state, rs = l->trk[S].state;
    bool o_inactive = os == EP_INACTIVE || os == EP_PARTIAL;
    bool r_inactive = rs == EP_INACTIVE || rs == EP_PARTIAL;
    const flow_conn *c = &l->conn;

    if (rs == EP_RESET) {
        if (os == EP_SYN_SENT || os == EP_SYN_ACK_SENT ||
            (os == EP_RESET && zk_size(&l->trk[C]) == 0 && zk_size(&l->trk[S]) == 0))
            return "REJ";
        return o_inactive ? "RSTRH" : "RSTR";
    }
    if (os == EP_RESET) {
        if (r_inactive) {
            /* Zeek: history matches /^?S[^HAFGIQ]*R.*\/ */
            const char *h = c->history;
            if (*h == '^')
                h++;
            if (*h == 'S') {
                for (h++; *h && !strchr("HAFGIQ", *h); h++)
                    if (*h == 'R')
                        return "RSTOS0";
            }
            return "OTH";
        }
        return "RSTO";
    }
    if (rs == EP_CLOSED && os == EP_CLOSED)
        return "SF";
    if (os == EP_CLOSED)
        return r_inactive ? "SH" : "S2";
    if (rs == EP_CLOSED)
        return o_inactive ? "SHR" : "S3";
    if (os == EP_SYN_SENT && rs == EP_INACTIVE)
        return "S0";
    if (os == EP_ESTABLISHED && rs == EP_ESTABLISHED)
        return "S1";
    return "OTH";
}

void flow_live_finish(flow_live *l, enum flow_end why)
{
    l->conn.end = why;
    const char *s = zeek_state(l);
    size_t n = strlen(s);
    memcpy(l->conn.state, s, n + 1);
}
