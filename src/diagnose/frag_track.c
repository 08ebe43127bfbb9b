/* frag_track.c - fragmented-tcp: follow fragmented datagrams and their segments through packets and incarnations. */
#include <stdlib.h>
#include <string.h>

#include "diagnose/frag_internal.h"

/* Fragments that no stack sends are decode anomalies, counted by the
 * decoder, not traffic to judge: MF with DF or data past 65535 bytes (RFC
 * 791 3.2), a total length longer than the frame, and TCP flag sets no
 * stack sends (tcp-behaviour.md 9.9: fuzzed captures carry these). */
static bool frag_malformed(const pkt_view *v)
{
    const uint64_t bad = (1ULL << PKT_AN_IPV4_BAD_FRAGMENT) |
                         (1ULL << PKT_AN_IPV4_LENGTH_EXCEEDS_FRAME) |
                         (1ULL << PKT_AN_IPV6_LENGTH_EXCEEDS_FRAME) |
                         (1ULL << PKT_AN_TCP_NO_FLAGS) | (1ULL << PKT_AN_TCP_SYN_FIN) |
                         (1ULL << PKT_AN_TCP_SYN_RST) | (1ULL << PKT_AN_TCP_PORT_ZERO);
    return (v->anomalies & bad) != 0;
}

static inline uint64_t mix64(uint64_t h, uint64_t x)
{
    h ^= x;
    h *= 0x9E3779B97F4A7C15ULL;
    return h ^ (h >> 29);
}

static inline uint64_t load64(const uint8_t *p)
{
    uint64_t x;
    memcpy(&x, p, sizeof x);
    return x;
}

static ft_dgram *dgram_slot(ft_state *st, const pkt_addr *src, const pkt_addr *dst, uint32_t id)
{
    uint64_t h = mix64(mix64(mix64(load64(src->b + 8), load64(dst->b + 8)), load64(src->b)),
                       (uint64_t)id ^ load64(dst->b));
    return &st->dg[h & (FT_DGRAM_SLOTS - 1)];
}

/* Index slot of a 4-tuple, the same for both directions. */
static uint32_t tuple_slot(const pkt_addr *a, uint16_t pa, const pkt_addr *b, uint16_t pb)
{
    uint64_t x = mix64(load64(a->b + 8), load64(a->b)) ^ pa;
    uint64_t y = mix64(load64(b->b + 8), load64(b->b)) ^ pb;
    return (uint32_t)(mix64(x + y, x ^ y) & (FT_TUPLE_SLOTS - 1));
}

static bool seg_is(const ft_seg *s, const pkt_addr *src, uint16_t sp, const pkt_addr *dst,
                   uint16_t dp)
{
    return s->sport == sp && s->dport == dp && ft_addr_eq(&s->src, src) &&
           ft_addr_eq(&s->dst, dst);
}

static void seg_close(ft_state *st, ft_seg *s)
{
    if (s->open) {
        s->open = false;
        st->n_open--;
    }
}

/* ---- datagrams ------------------------------------------------------------ */

/* Near an edge of the capture, a datagram's other fragments may simply lie
 * outside it: a first fragment sent before the capture started (senders
 * send them in order, within microseconds), later ones after it ended.
 * Neither is then a loss. */
static bool near_edge(const ft_state *st, const ft_dgram *d)
{
    bool start = d->seg == 0 && d->ts - st->cap_first < FT_EDGE_NS;
    return start || st->cap_last - d->ts < FT_EDGE_NS;
}

static void orphan_note(ft_state *st, const ft_dgram *d)
{
    st->orphan_dgrams++;
    if (st->n_orphan == FT_ORPHANS)
        return;
    ft_orphan *o = &st->orphan[st->n_orphan++];
    o->src = d->src;
    o->dst = d->dst;
    o->packet = d->packet;
    o->ts = d->ts;
}

/* A datagram leaves the table: complete, expired, pushed out, or at the
 * end of the capture. */
static void dgram_retire(ft_state *st, ft_dgram *d, bool evicted)
{
    if (!d->used)
        return;
    d->used = false;
    if (evicted) {
        st->dgram_evicted++;
        return;
    }
    bool whole = d->total != 0 && d->have >= d->total;
    if (whole || near_edge(st, d) || d->head_split)
        return;
    if (d->seg == 0) {
        orphan_note(st, d);
    } else {
        ft_seg *s = &st->seg[d->seg - 1];
        if (s->incomplete < UINT8_MAX)
            s->incomplete++;
    }
}

/* The datagram of this fragment: found, or a fresh entry (an older live one
 * in the slot is retired first). */
static ft_dgram *dgram_get(ft_state *st, const pkt_view *v)
{
    ft_dgram *d = dgram_slot(st, &v->src, &v->dst, v->frag_id);
    if (d->used && d->id == v->frag_id && ft_addr_eq(&d->src, &v->src) &&
        ft_addr_eq(&d->dst, &v->dst) && v->ts_ns - d->ts <= FT_REASM_NS)
        return d;
    if (d->used)
        dgram_retire(st, d, v->ts_ns - d->ts <= FT_REASM_NS);
    memset(d, 0, sizeof *d);
    d->used = true;
    d->src = v->src;
    d->dst = v->dst;
    d->id = v->frag_id;
    d->ts = v->ts_ns;
    d->packet = v->num;
    return d;
}

/* Count a fragment's data once per offset; note the end at MF = 0. */
static void dgram_add(ft_dgram *d, uint32_t offset, uint32_t data, bool more)
{
    uint16_t o8 = (uint16_t)(offset / 8);
    for (uint8_t i = 0; i < d->n_offs; i++)
        if (d->offs[i] == o8)
            return;             /* a duplicate fragment */
    if (d->n_offs < FT_OFFS)
        d->offs[d->n_offs++] = o8;
    d->have += data;
    if (d->frags < UINT8_MAX)
        d->frags++;
    if (!more)
        d->total = offset + data;
}

/* RFC 791 3.2 (reassembly): the datagram is whole when its fragments cover
 * every byte from offset 0 to the end of the one with MF clear.  A whole
 * datagram gives its size to its segment and leaves the table. */
static void dgram_check(ft_state *st, ft_dgram *d)
{
    if (d->total == 0 || d->have < d->total)
        return;
    if (d->seg != 0) {
        ft_seg *s = &st->seg[d->seg - 1];
        if (d->total > s->tcp_hlen && s->len == 0)
            s->len = d->total - s->tcp_hlen;
        if (s->ip_hdr + d->total > s->datagram)
            s->datagram = s->ip_hdr + d->total;
        if (d->frags > s->frags_max)
            s->frags_max = d->frags;
        if (s->complete < UINT8_MAX)
            s->complete++;
    }
    d->used = false;
}

void ft_retire_all(ft_state *st, int64_t cap_last)
{
    if (cap_last > st->cap_last)
        st->cap_last = cap_last;
    for (size_t i = 0; i < FT_DGRAM_SLOTS; i++)
        dgram_retire(st, &st->dg[i], false);
}

/* ---- segments ------------------------------------------------------------- */

/* Index slot of one direction of a 4-tuple and a sequence number. */
static uint32_t seq_slot(const pkt_view *v)
{
    uint64_t h = mix64(mix64(load64(v->src.b + 8), load64(v->src.b)), load64(v->dst.b + 8));
    h = mix64(h, load64(v->dst.b) ^ ((uint64_t)v->sport << 16 | v->dport));
    return (uint32_t)(mix64(h, v->seq) & (FT_SEQ_SLOTS - 1));
}

/* The record of the segment a packet starts: same sender, receiver and
 * sequence number.  This is an exact look-up, not a walk of the tuple's
 * newest records: a sender retransmits from snd_una (RFC 6298 5.4), the
 * oldest segment in flight, which lies behind every other segment of its
 * window and of the tuples sharing its slot.  A bounded walk missed it
 * once more than FT_WALK records were newer, and each sending then became
 * a new record sent once - the loss unseen.  Its chain holds only
 * (direction, seq) collisions, one record per segment. */
static ft_seg *seg_find(ft_state *st, const pkt_view *v)
{
    for (uint32_t k = st->seqx[seq_slot(v)]; k != 0; k = st->seg[k - 1].seq_chain) {
        ft_seg *s = &st->seg[k - 1];
        if (s->seq == v->seq && seg_is(s, &v->src, v->sport, &v->dst, v->dport))
            return s;
    }
    return NULL;
}

static ft_seg *seg_new(ft_state *st, const pkt_view *v)
{
    if (st->n_seg >= FT_MAX_SEGS) {
        st->segs_untracked++;
        return NULL;
    }
    if (st->n_seg == st->cap_seg) {
        size_t nc = st->cap_seg ? st->cap_seg * 2 : 16;
        ft_seg *p = realloc(st->seg, nc * sizeof *p);
        if (p == NULL) {
            st->oom = true;
            return NULL;
        }
        st->seg = p;
        st->cap_seg = nc;
    }
    ft_seg *s = &st->seg[st->n_seg++];
    memset(s, 0, sizeof *s);
    s->src = v->src;
    s->dst = v->dst;
    s->sport = v->sport;
    s->dport = v->dport;
    s->seq = v->seq;
    s->packet = v->num;
    s->ts = v->ts_ns;
    s->open = true;
    st->n_open++;
    uint32_t *slot = &st->tup[tuple_slot(&v->src, v->sport, &v->dst, v->dport)];
    s->chain = *slot;
    *slot = (uint32_t)st->n_seg;
    uint32_t *sx = &st->seqx[seq_slot(v)];
    s->seq_chain = *sx;
    *sx = (uint32_t)st->n_seg;
    return s;
}

/* A sending of the record's data: a new transmission, or the capture
 * showing the same datagram twice.  RFC 6864 4.1: the IPv4 ID of a
 * datagram that may be fragmented (DF clear) is unique per datagram, and a
 * retransmitted segment is a new datagram, so a repeated ID is a duplicate
 * in the capture.  IPv6 whole segments carry no ID: their duplicates come
 * within FT_DUP_NS. */
static bool new_sending(const ft_seg *s, const pkt_view *v, uint32_t id, bool has_id)
{
    if (s->sends == 0)
        return true;
    return has_id ? id != s->last_id : v->ts_ns - s->last_ts > FT_DUP_NS;
}

static void count_sending(ft_seg *s, const pkt_view *v, uint32_t id, bool fragmented)
{
    if (s->sends < UINT16_MAX)
        s->sends++;
    if (fragmented && s->frag_sends < UINT16_MAX)
        s->frag_sends++;
    s->last_id = id;
    s->last_packet = v->num;
    s->last_ts = v->ts_ns;
}

/* A first fragment: a new fragmented segment, or a retransmission of one. */
static void first_fragment(ft_state *st, const pkt_view *v)
{
    ft_seg *s = seg_find(st, v);
    if (s == NULL && (s = seg_new(st, v)) == NULL)
        return;
    uint32_t data = (uint32_t)v->tcp_hlen + v->payload_len;
    if (s->sends == 0) {
        s->ip_id = v->frag_id;
        s->ip_hdr = (uint16_t)(v->ip_len > data ? v->ip_len - data : 0);
        s->tcp_hlen = v->tcp_hlen;
    }
    if (new_sending(s, v, v->frag_id, true))
        count_sending(s, v, v->frag_id, true);
    if (v->payload_len > s->first_len)
        s->first_len = v->payload_len;
    if (v->ip_df)
        s->df_set = true;
    if (v->ip_len > s->datagram)
        s->datagram = v->ip_len;
    ft_dgram *d = dgram_get(st, v);
    d->seg = (uint32_t)(s - st->seg) + 1;
    dgram_add(d, 0, data, v->frag_more);
    dgram_check(st, d);
}

/* A non-first fragment (no TCP header): its datagram's coverage. */
static void later_fragment(ft_state *st, const pkt_view *v)
{
    ft_dgram *d = dgram_get(st, v);
    dgram_add(d, v->frag_offset, v->payload_len, v->frag_more);
    dgram_check(st, d);
}

/* A first fragment that ends inside the TCP header (RFC 791 allows 8-byte
 * fragments; RFC 1858 2 calls it the tiny-fragment form): the datagram's
 * first fragment is here, so its later ones are not orphans, but without
 * the header there is no segment to follow. */
static void head_split_fragment(ft_state *st, const pkt_view *v)
{
    ft_dgram *d = dgram_get(st, v);
    if (!d->head_split)
        st->head_split++;
    d->head_split = true;
}

/* A TCP packet while records are open: an ACK from a receiver, or a sender
 * repeating a fragmented segment's data unfragmented - from the record's
 * start (found exactly), or from inside it (repacketized; among the
 * FT_WALK newest records of the tuple's slot).  An ACK is
 * cumulative: once it covers a record it covers the older ones of that
 * direction too, so the walk goes on (past FT_WALK) until it meets one
 * already acknowledged - each record is closed once, the cost amortized. */
static void follow(ft_state *st, const pkt_view *v)
{
    /* a whole segment starting where a record starts: found exactly, as
     * in first_fragment() (a smaller MSS still retransmits from snd_una) */
    if (v->payload_len > 0 && !v->is_fragment) {
        ft_seg *r = seg_find(st, v);
        if (r != NULL && !r->acked && new_sending(r, v, v->ip_id, v->ip_version == 4))
            count_sending(r, v, v->ip_id, false);
    }
    uint32_t k = st->tup[tuple_slot(&v->src, v->sport, &v->dst, v->dport)];
    bool is_ack = (v->flags & PKT_TCP_ACK) && !(v->flags & PKT_TCP_SYN);
    bool covering = false;
    for (int n = 0; k != 0 && (n < FT_WALK || covering); n++) {
        ft_seg *s = &st->seg[k - 1];
        k = s->chain;
        if (is_ack && seg_is(s, &v->dst, v->dport, &v->src, v->sport)) {
            if (s->acked) {
                if (covering)
                    break;
                continue;
            }
            uint32_t end = s->seq + (s->len ? s->len : 1u);
            if (!diag_seq_gt(end, v->ack)) {
                s->acked = true;
                s->ack_packet = v->num;
                s->ack_ts = v->ts_ns;
                seg_close(st, s);
                covering = true;
            }
        } else if (v->payload_len > 0 && !v->is_fragment && !s->acked &&
                   seg_is(s, &v->src, v->sport, &v->dst, v->dport) &&
                   !diag_seq_gt(s->seq, v->seq) &&
                   diag_seq_gt(s->seq + (s->len ? s->len : s->first_len), v->seq) &&
                   new_sending(s, v, v->ip_id, v->ip_version == 4)) {
            count_sending(s, v, v->ip_id, false);
        }
    }
}

void ft_packet(void *p, const pkt_view *v, enum pkt_status status, diag_ctx *ctx)
{
    (void)ctx;
    ft_state *st = p;
    if (!st->have_ts) {
        st->cap_first = v->ts_ns;
        st->have_ts = true;
    }
    if (v->ts_ns > st->cap_last)
        st->cap_last = v->ts_ns;
    /* the common case first: a whole segment while nothing is open */
    if (status == PKT_TCP && !v->is_fragment && st->n_open == 0)
        return;
    bool tcp_frag = v->is_fragment && v->ip_proto == 6;
    if (tcp_frag && (status == PKT_TCP || status == PKT_TCP_FRAGMENT ||
                     status == PKT_MALFORMED)) {
        st->fragments_seen++;
        if (frag_malformed(v)) {
            st->malformed++;
            return;
        }
    }
    if (status == PKT_TCP_FRAGMENT) {
        later_fragment(st, v);
        return;
    }
    if (status == PKT_MALFORMED && tcp_frag && v->frag_offset == 0 &&
        (v->anomalies & (1ULL << PKT_AN_TCP_HEADER_FRAGMENTED))) {
        head_split_fragment(st, v);
        return;
    }
    if (status != PKT_TCP || !v->has_tcp)
        return;
    if (v->is_fragment)
        first_fragment(st, v);
    if (st->n_open > 0)
        follow(st, v);
}

/* ---- incarnations --------------------------------------------------------- */

/* How the incarnation ended: FINs both ways, an RST before that, or
 * neither within the capture. */
static enum ft_end conn_end(const flow_conn *c)
{
    if (c->reset_by != FLOW_SIDE_NONE) {
        const flow_endpoint *r = c->reset_by == FLOW_SIDE_CLIENT ? &c->client : &c->server;
        if (!(c->client.fin_seen && c->server.fin_seen && r->rst_ts > c->client.fin_ts &&
              r->rst_ts > c->server.fin_ts))
            return FT_END_RESET;
    }
    return c->client.fin_seen && c->server.fin_seen ? FT_END_CLOSED : FT_END_OPEN;
}

/* The incarnation's record for s, or false when s is not of it. */
static bool seg_of_conn(const ft_seg *s, const flow_conn *c, bool *from_client)
{
    if (s->sender != FLOW_SIDE_NONE || s->ts < c->first_ts || s->ts > c->last_ts)
        return false;
    *from_client = seg_is(s, &c->client.addr, c->client.port, &c->server.addr, c->server.port);
    return *from_client ||
           seg_is(s, &c->server.addr, c->server.port, &c->client.addr, c->client.port);
}

/* Give the incarnation's fragmented segments their roles, their end and
 * their incarnation (first packet, first record). */
static void attach(ft_state *st, const flow_conn *c)
{
    enum ft_end end = conn_end(c);
    const flow_endpoint *r = c->reset_by == FLOW_SIDE_CLIENT ? &c->client : &c->server;
    uint32_t slot = tuple_slot(&c->client.addr, c->client.port, &c->server.addr,
                               c->server.port);
    uint32_t lead = 0;
    for (uint32_t k = st->tup[slot]; k != 0; k = st->seg[k - 1].chain) {
        ft_seg *s = &st->seg[k - 1];
        bool from_client;
        if (!seg_of_conn(s, c, &from_client))
            continue;
        s->sender = from_client ? FLOW_SIDE_CLIENT : FLOW_SIDE_SERVER;
        s->end = (uint8_t)end;
        s->conn_first = c->first_packet;
        if (end == FT_END_RESET) {
            s->end_by = (uint8_t)c->reset_by;
            s->end_packet = r->rst_packet;
            s->end_ts = r->rst_ts;
        }
        seg_close(st, s);
        lead = k;       /* the chain runs newest first: the last one is the oldest */
    }
    if (lead == 0)
        return;
    st->seg[lead - 1].conn_lead = true;
    for (uint32_t k = st->tup[slot]; k != 0; k = st->seg[k - 1].chain)
        if (st->seg[k - 1].conn_first == c->first_packet && st->seg[k - 1].lead == 0)
            st->seg[k - 1].lead = lead;
}

/* The largest window the peer could ever offer: 65535 scaled by its shift
 * (RFC 7323 2.2, shift at most 14 per 2.3), or 65535 without scaling. */
static uint32_t max_window(const flow_endpoint *peer)
{
    unsigned shift = 0;
    if (peer->syn_opts_seen && peer->syn_opts.has_wscale)
        shift = peer->syn_opts.wscale > 14 ? 14 : peer->syn_opts.wscale;
    return 65535u << shift;
}

/* An RST whose sequence number lies beyond all data the capture saw from
 * its sender, and beyond what its peer acknowledged (flow raises a side's
 * final sequence number to the peer's highest ACK): that many bytes were
 * sent and never arrived here.  A reset answering a segment uses that
 * segment's ACK (RFC 9293 3.5.2) and an abortive close uses snd_nxt (Linux
 * tcp_send_active_reset()), so healthy traffic leaves no gap.  It counts
 * only where the sequence space is anchored - both SYNs seen, so both
 * ISNs are known - and the gap fits in the peer's largest window, since a
 * sender never has more than a window outstanding (RFC 9293 3.8.6.2.1);
 * an RST whose sequence number is arbitrary (seq 0 of a refusal, a
 * capture that started mid-connection, a middlebox's forged reset) fails
 * one or the other. */
static void lost_check(ft_state *st, const flow_conn *c)
{
    if (c->roles_inferred || !c->established || c->reset_by == FLOW_SIDE_NONE ||
        c->fragments > 0 || !c->client.isn_seen || !c->server.isn_seen)
        return;
    bool by_client = c->reset_by == FLOW_SIDE_CLIENT;
    const flow_endpoint *x = by_client ? &c->client : &c->server;
    const flow_endpoint *peer = by_client ? &c->server : &c->client;
    uint32_t gap = x->rst_seq - x->next_seq;
    if (!x->seq_seen || !diag_seq_gt(x->rst_seq, x->next_seq) || gap < FT_LOST_MIN ||
        gap > max_window(peer))
        return;
    st->lost_total++;
    if (st->n_lost == FT_LOST_MAX)
        return;
    ft_lost *l = &st->lost[st->n_lost++];
    l->client = c->client.addr;
    l->server = c->server.addr;
    l->client_port = c->client.port;
    l->server_port = c->server.port;
    l->sender = c->reset_by;
    l->missing = gap;
    l->first_packet = c->first_packet;
    l->rst_packet = x->rst_packet;
    l->rst_ts = x->rst_ts;
    l->established_packet = c->established_packet;
    l->established_ts = c->established_ts;
    l->first_ts = c->first_ts;
}

void ft_conn(void *p, const flow_conn *c, diag_ctx *ctx)
{
    (void)ctx;
    ft_state *st = p;
    if (st->n_seg > 0)
        attach(st, c);
    if (c->reset_by != FLOW_SIDE_NONE)
        lost_check(st, c);
}
