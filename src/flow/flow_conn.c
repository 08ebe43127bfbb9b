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

static void endpoint_init(flow_endpoint *e, const pkt_addr *a, uint16_t port)
{
    memset(e, 0, sizeof *e);
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
        if (from_client)
            return !(c->client.isn_seen && c->syn_count > 0 && v->seq == c->client.isn);
        /* from the server side */
        if (c->syn_count > 0 && c->synack_count == 0 && !l->trk[S].any)
            return false;   /* simultaneous open */
        if (c->server.isn_seen && v->seq == c->server.isn)
            return false;
        return true;
    }
    if ((f & (PKT_TCP_SYN | PKT_TCP_ACK)) == (PKT_TCP_SYN | PKT_TCP_ACK)) {
        const flow_endpoint *snd = from_client ? &c->client : &c->server;
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
static void note_seq(flow_live *l, flow_endpoint *e, ep_track *t, const pkt_view *v,
                     bool from_client)
{
    if (v->flags & PKT_TCP_RST)
        return;     /* an RST's seq says nothing about data sent */
    uint32_t len = v->payload_len + ((v->flags & PKT_TCP_SYN) ? 1u : 0u) +
                   ((v->flags & PKT_TCP_FIN) ? 1u : 0u);
    uint32_t end = v->seq + len;
    if (!e->seq_seen) {
        e->seq_seen = true;
        e->next_seq = end;
        return;
    }
    if (v->payload_len > 0 && seq_lt(v->seq, e->next_seq) && !(v->flags & PKT_TCP_SYN)) {
        e->retransmits++;
        hist_log10(l, 't', from_client, &t->retrans_n, &t->retrans_next);
    }
    if (seq_gt(end, e->next_seq))
        e->next_seq = end;
}

static void on_syn(flow_live *l, const pkt_view *v, bool from_client)
{
    flow_conn *c = &l->conn;
    flow_endpoint *e = from_client ? &c->client : &c->server;
    ep_track *t = &l->trk[from_client ? C : S];
    if (!e->isn_seen) {
        e->isn_seen = true;
        e->isn = v->seq;
    }
    if (!e->syn_opts_seen) {
        e->syn_opts_seen = true;
        e->syn_window = v->window;
        e->syn_opts = v->opt;
    }
    if (!t->syn_letter || t->last_syn_seq != v->seq)
        hist_add(l, (v->flags & PKT_TCP_ACK) ? 'h' : 's', from_client);
    t->syn_letter = true;
    t->last_syn_seq = v->seq;

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
        }
        /* A retried SYN after an RST: the RST did not end this
           incarnation (it answered a stale ACK, tcp-behaviour.md 9.2). */
        if (c->syn_count > 1 && !c->established && c->reset_by != FLOW_SIDE_NONE) {
            if (c->handshake_rsts < UINT16_MAX)
                c->handshake_rsts++;
            c->reset_by = FLOW_SIDE_NONE;
            l->closed = false;
            if (t->state == EP_RESET)
                t->state = EP_SYN_SENT;
            if (l->trk[S].state == EP_RESET)
                l->trk[S].state = l->trk[S].any ? EP_PARTIAL : EP_INACTIVE;
        }
        if (t->state == EP_INACTIVE || t->state == EP_RESET)
            t->state = EP_SYN_SENT;
        return;
    }
    if (!from_client && (v->flags & PKT_TCP_ACK)) {
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
        }
        if (c->handshake == FLOW_HS_NONE || c->handshake == FLOW_HS_ACK_ONLY ||
            c->handshake == FLOW_HS_RST || c->handshake == FLOW_HS_NOT_SEEN)
            c->handshake = FLOW_HS_SYNACK;
        if (t->state == EP_INACTIVE || t->state == EP_PARTIAL)
            t->state = EP_SYN_ACK_SENT;
        return;
    }
    /* simultaneous open (server's pure SYN) or a client SYN-ACK */
    if (t->state == EP_INACTIVE)
        t->state = EP_SYN_SENT;
}

/* An answer to the client's SYN that is not a SYN-ACK. */
static void on_handshake_answer(flow_conn *c, const pkt_view *v, enum flow_handshake h)
{
    if (c->first_answer == FLOW_HS_NONE) {
        c->first_answer = h;
        c->handshake_packet = v->num;
        c->handshake_ts = v->ts_ns;
    }
    if (c->handshake == FLOW_HS_NONE ||
        (c->handshake == FLOW_HS_ACK_ONLY && h == FLOW_HS_RST))
        c->handshake = h;
}

static void on_fin(flow_live *l, const pkt_view *v, bool from_client)
{
    flow_conn *c = &l->conn;
    flow_endpoint *e = from_client ? &c->client : &c->server;
    ep_track *t = &l->trk[from_client ? C : S];
    if (!e->fin_seen) {
        e->fin_seen = true;
        e->fin_packet = v->num;
        e->fin_ts = v->ts_ns;
        e->fin_seq = v->seq;
        if (c->closed_by == FLOW_SIDE_NONE)
            c->closed_by = from_client ? FLOW_SIDE_CLIENT : FLOW_SIDE_SERVER;
    }
    if (!t->fin_letter || t->last_fin_seq != v->seq)
        hist_add(l, 'f', from_client);
    t->fin_letter = true;
    t->last_fin_seq = v->seq;
    if (t->state != EP_RESET)
        t->state = EP_CLOSED;
    if (c->client.fin_seen && c->server.fin_seen)
        l->closed = true;
}

static void on_rst(flow_live *l, const pkt_view *v, bool from_client)
{
    flow_conn *c = &l->conn;
    flow_endpoint *e = from_client ? &c->client : &c->server;
    ep_track *t = &l->trk[from_client ? C : S];
    if (e->rst_count == 0) {
        e->rst_packet = v->num;
        e->rst_ts = v->ts_ns;
        e->rst_seq = v->seq;
        e->rst_has_ack = (v->flags & PKT_TCP_ACK) != 0;
    }
    if (e->rst_count < UINT32_MAX)
        e->rst_count++;
    if (c->reset_by == FLOW_SIDE_NONE)
        c->reset_by = from_client ? FLOW_SIDE_CLIENT : FLOW_SIDE_SERVER;
    if (!from_client && c->synack_count == 0 && c->syn_count > 0)
        on_handshake_answer(c, v, FLOW_HS_RST);
    if (!t->rst_letter || t->last_rst_seq != v->seq)
        hist_add(l, 'r', from_client);
    t->rst_letter = true;
    t->last_rst_seq = v->seq;
    t->state = EP_RESET;
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
    for (int i = 0; i < 2; i++)
        if (l->trk[i].state == EP_SYN_SENT || l->trk[i].state == EP_SYN_ACK_SENT ||
            l->trk[i].state == EP_PARTIAL)
            l->trk[i].state = EP_ESTABLISHED;
}

/* Data acknowledged that the capture never showed: a content gap (Zeek 'g'). */
static void note_gap(flow_live *l, const pkt_view *v, bool from_client)
{
    if (!(v->flags & PKT_TCP_ACK) || (v->flags & (PKT_TCP_SYN | PKT_TCP_RST)))
        return;
    flow_endpoint *peer = from_client ? &l->conn.server : &l->conn.client;
    ep_track *pt = &l->trk[from_client ? S : C];
    if (!peer->seq_seen || !l->conn.established)
        return;
    if (seq_gt(v->ack, peer->next_seq)) {
        hist_log10(l, 'g', !from_client, &pt->gap_n, &pt->gap_next);
        peer->next_seq = v->ack;
    }
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

    /* Zeek 'q': SYN with FIN or RST; 'i': other inconsistent combinations. */
    if ((f & PKT_TCP_SYN) && (f & (PKT_TCP_FIN | PKT_TCP_RST))) {
        if (!t->hist_q) {
            t->hist_q = true;
            hist_add(l, 'q', from_client);
        }
    } else if ((f & PKT_TCP_RST) && (f & PKT_TCP_FIN)) {
        if (!t->hist_i) {
            t->hist_i = true;
            hist_add(l, 'i', from_client);
        }
    }

    if (!t->any && t->state == EP_INACTIVE && !(f & (PKT_TCP_SYN | PKT_TCP_RST)))
        t->state = EP_PARTIAL;
    t->any = true;

    if (f & PKT_TCP_SYN)
        on_syn(l, v, from_client);
    else if (!from_client && !(f & PKT_TCP_RST) && (f & PKT_TCP_ACK) &&
             c->syn_count > 0 && c->synack_count == 0 && v->payload_len == 0 &&
             !c->established)
        on_handshake_answer(c, v, FLOW_HS_ACK_ONLY);

    note_gap(l, v, from_client);
    note_seq(l, e, t, v, from_client);
    note_established(l, v, from_client);

    if (!(f & (PKT_TCP_SYN | PKT_TCP_FIN | PKT_TCP_RST))) {
        if (v->payload_len > 0) {
            if (!t->hist_d) {
                t->hist_d = true;
                hist_add(l, 'd', from_client);
            }
        } else if ((f & PKT_TCP_ACK) && !t->hist_a) {
            t->hist_a = true;
            hist_add(l, 'a', from_client);
        }
    } else if (v->payload_len > 0 && !(f & PKT_TCP_RST) && !t->hist_d) {
        t->hist_d = true;
        hist_add(l, 'd', from_client);
    }
    if (v->window == 0 && !(f & (PKT_TCP_SYN | PKT_TCP_RST | PKT_TCP_FIN))) {
        e->zero_windows++;
        hist_log10(l, 'w', from_client, &t->zero_n, &t->zero_next);
    }
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
            (os == EP_RESET && c->client.bytes == 0 && c->server.bytes == 0))
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
