/* fragmented_tcp.c - detector: TCP segments carried in IP fragments, and what became of them. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diagnose/diag_internal.h"

/*
 * Why.  TCP normally sets DF and relies on path MTU discovery, so a TCP
 * segment in IP fragments means a sender with DF clear (PMTUD off), or a
 * tunnel or middlebox that cleared DF and fragmented (tcp-behaviour.md 9.9).
 * Fragments are fragile: only the first one carries the ports, so a NAT or
 * firewall that does not reassemble cannot map the others, and AWS NAT
 * gateways drop fragmented TCP and ICMP altogether (tcp-behaviour.md 7.2,
 * seed 004).  The segment is then never acknowledged, the sender
 * retransmits it - fragmented again - and the connection stalls until the
 * application gives up.
 *
 * How it works.  From the packets:
 *   - a small direct-mapped table of datagrams keyed by (src, dst, IP id)
 *     follows each fragmented datagram until its fragments cover it (offsets
 *     up to the fragment with MF = 0) or it is 30 s old (Linux ipfrag_time,
 *     tcp-behaviour.md 4.4); a live datagram pushed out by a collision is
 *     counted, never silently lost;
 *   - the first fragment (offset 0, TCP header) makes a segment record: its
 *     4-tuple and sequence number; a later first fragment or whole segment
 *     with the same sequence number is a retransmission of it;
 *   - while records are open, every TCP packet is checked against them
 *     through a 4-tuple index: an ACK from the receiver at or past seq + len
 *     closes a record as acknowledged.
 * From the incarnations (conn hook): who the sender was (client or server)
 * and how the connection ended (FIN both ways, RST, nothing).  The check per
 * packet costs one branch while no fragmented segment is open, which is
 * all of a capture without fragments.
 *
 * Without fragments in the capture (at the client behind a NAT gateway
 * nothing of them arrives), the one trace left is an RST whose sequence
 * number lies beyond everything the capture saw from its sender and its
 * peer acknowledged: data that never arrived.  That is reported as a
 * suspicion only (low confidence), with the way to confirm it.
 *
 * Limits: at most FT_MAX_SEGS segments are followed (more are counted);
 * overlapping fragments count once per offset for the first FT_OFFS
 * fragments of a datagram only; IPv6 datagram sizes include the 8-byte
 * fragment header.  The RST suspicion also fires when the capture itself
 * dropped both the data and its acknowledgments; holes under FT_LOST_MIN
 * bytes are left to ordinary loss.
 */

#define FT_DGRAM_SLOTS 256          /* datagrams being reassembled at once */
#define FT_REASM_NS (30LL * 1000000000LL)   /* Linux ipfrag_time: 30 s */
#define FT_OFFS 8                   /* fragment offsets remembered per datagram */
#define FT_MAX_SEGS 4096            /* fragmented segments followed in detail */
#define FT_TUPLE_SLOTS 1024         /* 4-tuple index of segments (power of 2) */
#define FT_WALK 16                  /* records looked at per packet and tuple */
#define FT_LOST_MIN 1024u           /* bytes missing before an RST counts */
#define FT_LOST_MAX 64              /* such connections kept for evidence */

typedef struct ft_dgram {
    pkt_addr src, dst;
    uint32_t id;
    uint32_t seg;               /* 1 + its segment record; 0: no first fragment yet */
    int64_t  ts;                /* first fragment seen (any), for expiry */
    uint64_t packet;
    uint32_t have;              /* data bytes seen, distinct offsets */
    uint32_t total;             /* data bytes of the datagram; 0 until MF = 0 seen */
    uint16_t offs[FT_OFFS];     /* offsets seen, in 8-byte units */
    uint8_t  n_offs;
    uint8_t  frags;             /* fragments seen */
    bool     used;
} ft_dgram;

/* Outcome of the segment's connection, from its incarnation record. */
enum ft_end { FT_END_UNKNOWN, FT_END_CLOSED, FT_END_RESET, FT_END_OPEN };

typedef struct ft_seg {
    pkt_addr src, dst;          /* sender, receiver */
    uint16_t sport, dport;
    uint32_t seq;
    uint32_t len;               /* TCP payload; 0 until a whole datagram was seen */
    uint32_t first_len;         /* payload in the first fragment: a lower bound */
    uint32_t datagram;          /* largest IP datagram, bytes */
    uint32_t ip_id;             /* IP identification of the first sending */
    uint16_t ip_hdr;            /* IP header bytes before the fragmentable part */
    uint8_t  tcp_hlen;
    uint32_t chain;             /* 1 + older record in the same index slot */
    uint64_t packet, last_packet;   /* first fragment of the first / last sending */
    int64_t  ts, last_ts;
    uint64_t ack_packet;
    int64_t  ack_ts;
    uint64_t end_packet;        /* the RST that ended the connection */
    int64_t  end_ts;
    uint16_t sends;             /* transmissions seen, fragmented or whole */
    uint16_t frag_sends;        /* of which fragmented */
    uint16_t frags_max;         /* fragments in one transmission */
    uint8_t  complete;          /* transmissions whose fragments all arrived */
    uint8_t  incomplete;        /* transmissions with fragments missing here */
    uint8_t  sender;            /* enum flow_side, from the incarnation */
    uint8_t  end;               /* enum ft_end */
    uint8_t  end_by;            /* enum flow_side of the RST */
    bool     df_set;            /* a first fragment had DF (an anomaly) */
    bool     acked, open;
    bool     conn_lead;         /* first record of its incarnation */
    bool     conn_failed;       /* (lead only) unacknowledged data, then RST or no close */
} ft_seg;

/* A connection whose RST lies beyond all data seen from its sender. */
typedef struct ft_lost {
    pkt_addr client, server;
    uint16_t client_port, server_port;
    enum flow_side sender;
    uint32_t missing;           /* bytes: RST seq - sender's final seq seen */
    uint64_t rst_packet, established_packet;
    int64_t  rst_ts, first_ts, established_ts;
} ft_lost;

typedef struct ft_state {
    ft_dgram dg[FT_DGRAM_SLOTS];
    uint32_t tup[FT_TUPLE_SLOTS];   /* 1 + newest record in the slot */
    ft_seg  *seg;
    size_t   n_seg, cap_seg;
    size_t   n_open;
    uint64_t segs_untracked;        /* first fragments beyond FT_MAX_SEGS */
    uint64_t dgram_evicted;         /* live datagrams pushed out by a collision */
    uint64_t orphan_dgrams;         /* fragments whose first fragment never came */
    uint64_t orphan_packet;         /* an example */
    int64_t  orphan_ts;
    pkt_addr orphan_src, orphan_dst;
    uint64_t fragments_seen;        /* non-first TCP fragments */
    ft_lost  lost[FT_LOST_MAX];
    size_t   n_lost;
    uint64_t lost_total;
    bool     oom;
} ft_state;

/* ---- helpers ------------------------------------------------------------ */

static inline bool addr_eq(const pkt_addr *a, const pkt_addr *b)
{
    return memcmp(a->b, b->b, 16) == 0;
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
    return s->sport == sp && s->dport == dp && addr_eq(&s->src, src) && addr_eq(&s->dst, dst);
}

static void seg_close(ft_state *st, ft_seg *s)
{
    if (s->open) {
        s->open = false;
        st->n_open--;
    }
}

/* ---- datagrams ------------------------------------------------------------ */

/* A datagram leaves the table: complete, expired or pushed out. */
static void dgram_retire(ft_state *st, ft_dgram *d, bool evicted)
{
    if (!d->used)
        return;
    bool whole = d->seg != 0 && d->total != 0 && d->have >= d->total;
    if (d->seg == 0) {
        if (!evicted) {
            if (st->orphan_dgrams++ == 0) {
                st->orphan_packet = d->packet;
                st->orphan_ts = d->ts;
                st->orphan_src = d->src;
                st->orphan_dst = d->dst;
            }
        }
    } else if (!whole && !evicted) {
        ft_seg *s = &st->seg[d->seg - 1];
        if (s->incomplete < UINT8_MAX)
            s->incomplete++;
    }
    if (evicted)
        st->dgram_evicted++;
    d->used = false;
}

/* The datagram of this fragment: found, or a fresh entry (an older live one
 * in the slot is retired first). */
static ft_dgram *dgram_get(ft_state *st, const pkt_view *v)
{
    ft_dgram *d = dgram_slot(st, &v->src, &v->dst, v->frag_id);
    if (d->used && d->id == v->frag_id && addr_eq(&d->src, &v->src) && addr_eq(&d->dst, &v->dst) &&
        v->ts_ns - d->ts <= FT_REASM_NS)
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

/* When its fragments cover it, the datagram gives its size to its segment. */
static void dgram_check(ft_state *st, ft_dgram *d)
{
    if (d->seg == 0 || d->total == 0 || d->have < d->total)
        return;
    ft_seg *s = &st->seg[d->seg - 1];
    if (d->total > s->tcp_hlen && s->len == 0)
        s->len = d->total - s->tcp_hlen;
    if (s->ip_hdr + d->total > s->datagram)
        s->datagram = s->ip_hdr + d->total;
    if (d->frags > s->frags_max)
        s->frags_max = d->frags;
    if (s->complete < UINT8_MAX)
        s->complete++;
    d->used = false;
}

/* ---- segments ------------------------------------------------------------- */

static ft_seg *seg_find(ft_state *st, const pkt_view *v)
{
    uint32_t k = st->tup[tuple_slot(&v->src, v->sport, &v->dst, v->dport)];
    for (int n = 0; k != 0 && n < FT_WALK; n++) {
        ft_seg *s = &st->seg[k - 1];
        if (s->seq == v->seq && seg_is(s, &v->src, v->sport, &v->dst, v->dport))
            return s;
        k = s->chain;
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
    return s;
}

/* A first fragment: a new fragmented segment, or a retransmission of one. */
static void first_fragment(ft_state *st, const pkt_view *v)
{
    ft_seg *s = seg_find(st, v);
    if (s == NULL && (s = seg_new(st, v)) == NULL)
        return;
    if (s->sends < UINT16_MAX)
        s->sends++;
    if (s->frag_sends < UINT16_MAX)
        s->frag_sends++;
    s->last_packet = v->num;
    s->last_ts = v->ts_ns;
    if (v->payload_len > s->first_len)
        s->first_len = v->payload_len;
    if (v->ip_df)
        s->df_set = true;
    uint32_t data = (uint32_t)v->tcp_hlen + v->payload_len;
    if (s->sends == 1) {
        s->ip_id = v->frag_id;
        s->ip_hdr = (uint16_t)(v->ip_len > data ? v->ip_len - data : 0);
        s->tcp_hlen = v->tcp_hlen;
    }
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
    st->fragments_seen++;
    ft_dgram *d = dgram_get(st, v);
    dgram_add(d, v->frag_offset, v->payload_len, v->frag_more);
    dgram_check(st, d);
}

/* A TCP packet while records are open: an ACK from a receiver, or a sender
 * repeating a fragmented segment's data unfragmented.  An ACK is
 * cumulative: once it covers a record it covers the older ones of that
 * direction too, so the walk goes on (past FT_WALK) until it meets one
 * already acknowledged - each record is closed once, the cost amortized. */
static void follow(ft_state *st, const pkt_view *v)
{
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
        } else if (v->payload_len > 0 && !s->acked && v->num != s->last_packet &&
                   seg_is(s, &v->src, v->sport, &v->dst, v->dport) &&
                   !diag_seq_gt(s->seq, v->seq) &&
                   diag_seq_gt(s->seq + (s->len ? s->len : s->first_len), v->seq)) {
            if (s->sends < UINT16_MAX)
                s->sends++;
            s->last_packet = v->num;
            s->last_ts = v->ts_ns;
        }
    }
}

static void ft_packet(void *p, const pkt_view *v, enum pkt_status status, diag_ctx *ctx)
{
    (void)ctx;
    ft_state *st = p;
    /* the common case first: a whole segment while nothing is open */
    if (status == PKT_TCP && !v->is_fragment && st->n_open == 0)
        return;
    if (status == PKT_TCP_FRAGMENT) {
        later_fragment(st, v);
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

/* Give the incarnation's fragmented segments their roles and outcome. */
static void attach(ft_state *st, const flow_conn *c)
{
    enum ft_end end = conn_end(c);
    const flow_endpoint *r = c->reset_by == FLOW_SIDE_CLIENT ? &c->client : &c->server;
    ft_seg *lead = NULL;
    bool unacked = false;
    uint32_t k = st->tup[tuple_slot(&c->client.addr, c->client.port, &c->server.addr,
                                    c->server.port)];
    while (k != 0) {
        ft_seg *s = &st->seg[k - 1];
        k = s->chain;
        if (s->sender != FLOW_SIDE_NONE || s->ts < c->first_ts || s->ts > c->last_ts)
            continue;
        bool from_client = seg_is(s, &c->client.addr, c->client.port, &c->server.addr,
                                  c->server.port);
        if (!from_client && !seg_is(s, &c->server.addr, c->server.port, &c->client.addr,
                                    c->client.port))
            continue;
        s->sender = from_client ? FLOW_SIDE_CLIENT : FLOW_SIDE_SERVER;
        s->end = (uint8_t)end;
        if (end == FT_END_RESET) {
            s->end_by = (uint8_t)c->reset_by;
            s->end_packet = r->rst_packet;
            s->end_ts = r->rst_ts;
        }
        seg_close(st, s);
        unacked |= !s->acked;
        lead = s;       /* the chain runs newest first: the last one is the oldest */
    }
    if (lead != NULL) {
        lead->conn_lead = true;
        lead->conn_failed = unacked && end != FT_END_CLOSED;
    }
}

/* An RST whose sequence number lies beyond all data the capture saw from
 * its sender, and beyond what its peer acknowledged (flow raises a side's
 * final sequence number to the peer's highest ACK): that many bytes were
 * sent and never arrived here.  A reset answering a segment uses that
 * segment's ACK (RFC 9293 3.5.2) and an abortive close uses snd_nxt (Linux
 * tcp_send_active_reset()), so healthy traffic leaves no gap. */
static void lost_check(ft_state *st, const flow_conn *c)
{
    if (c->roles_inferred || !c->established || c->reset_by == FLOW_SIDE_NONE ||
        c->fragments > 0)
        return;
    const flow_endpoint *x = c->reset_by == FLOW_SIDE_CLIENT ? &c->client : &c->server;
    uint32_t gap = x->rst_seq - x->next_seq;
    if (!x->seq_seen || !diag_seq_gt(x->rst_seq, x->next_seq) || gap < FT_LOST_MIN ||
        gap > (1u << 30))
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
    l->rst_packet = x->rst_packet;
    l->rst_ts = x->rst_ts;
    l->established_packet = c->established_packet;
    l->established_ts = c->established_ts;
    l->first_ts = c->first_ts;
}

static void ft_conn(void *p, const flow_conn *c, diag_ctx *ctx)
{
    (void)ctx;
    ft_state *st = p;
    if (st->n_seg > 0)
        attach(st, c);
    if (c->reset_by != FLOW_SIDE_NONE)
        lost_check(st, c);
}

/* ---- findings ------------------------------------------------------------- */

typedef struct ft_group {
    pkt_addr server;
    uint16_t server_port;
    uint8_t  sender;            /* enum flow_side; NONE when no record matched */
    uint64_t segs, unacked, retransmitted, incomplete;
    uint64_t unacked_sends, unacked_whole;  /* transmissions of unacked segments */
    uint64_t conns, failed, reset, open_end;
    uint32_t max_datagram;
    uint16_t frags_max;
    bool     df_set;
    size_t   example;           /* first unacknowledged record, else the first */
    bool     example_unacked;
} ft_group;

static const char *side_word(uint8_t side)
{
    return side == FLOW_SIDE_CLIENT ? "client" : side == FLOW_SIDE_SERVER ? "server" : "sender";
}

static const char *peer_word(uint8_t side)
{
    return side == FLOW_SIDE_CLIENT ? "server" : side == FLOW_SIDE_SERVER ? "client" : "receiver";
}

/* Server endpoint of a record: from its incarnation, else the lower port. */
static void seg_server(const ft_seg *s, pkt_addr *a, uint16_t *port)
{
    bool dst_is_server = s->sender == FLOW_SIDE_CLIENT ||
                         (s->sender == FLOW_SIDE_NONE && s->dport <= s->sport);
    *a = dst_is_server ? s->dst : s->src;
    *port = dst_is_server ? s->dport : s->sport;
}

static int group_of(ft_group **g, size_t *ng, size_t *cap, const ft_seg *s, size_t i)
{
    pkt_addr sa;
    uint16_t sp;
    seg_server(s, &sa, &sp);
    for (size_t k = 0; k < *ng; k++)
        if ((*g)[k].server_port == sp && (*g)[k].sender == s->sender &&
            addr_eq(&(*g)[k].server, &sa))
            return (int)k;
    if (*ng == *cap) {
        size_t nc = *cap ? *cap * 2 : 4;
        ft_group *p = realloc(*g, nc * sizeof *p);
        if (p == NULL)
            return -ENOMEM;
        *g = p;
        *cap = nc;
    }
    ft_group *n = &(*g)[*ng];
    memset(n, 0, sizeof *n);
    n->server = sa;
    n->server_port = sp;
    n->sender = s->sender;
    n->example = i;
    return (int)(*ng)++;
}

static void group_add(ft_group *g, const ft_seg *s, size_t i)
{
    g->segs++;
    if (!s->acked) {
        g->unacked++;
        g->unacked_sends += s->sends;
        g->unacked_whole += (uint64_t)(s->sends - s->frag_sends);
        if (!g->example_unacked) {
            g->example = i;
            g->example_unacked = true;
        }
    }
    if (s->sends > 1)
        g->retransmitted++;
    if (s->incomplete > 0 && s->complete == 0)
        g->incomplete++;
    if (s->datagram > g->max_datagram)
        g->max_datagram = s->datagram;
    if (s->frags_max > g->frags_max)
        g->frags_max = s->frags_max;
    g->df_set |= s->df_set;
    if (s->conn_lead) {
        g->conns++;
        if (s->conn_failed) {
            g->failed++;
            g->reset += s->end == FT_END_RESET;
            g->open_end += s->end == FT_END_OPEN;
        }
    }
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
        snprintf(size, sizeof size, "at least %u bytes of data; the other fragments never "
                 "arrived here", s->first_len);
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
    if (s->end == FT_END_RESET)
        diag_evidence_add(f, s->end_packet, s->end_ts, "%8.3f  %s > %s  RST from the %s, %.3f s "
                          "after the first fragment: the connection failed",
                          diag_rel(ctx, s->end_ts), s->end_by == s->sender ? a : b,
                          s->end_by == s->sender ? b : a, side_word(s->end_by),
                          diag_secs(s->end_ts - s->ts));
}

static void explain_what_happened(diag_finding *f, const diag_ctx *ctx, const ft_group *g,
                                  const ft_seg *ex)
{
    const char *snd = side_word(g->sender), *rcv = peer_word(g->sender);
    char outcome[160] = "";
    if (g->failed > 0)
        snprintf(outcome, sizeof outcome, "; %llu of %llu connection%s then failed (%s)",
                 (unsigned long long)g->failed, (unsigned long long)g->conns,
                 g->conns == 1 ? "" : "s",
                 g->open_end == 0 ? "reset" : g->reset == 0 ? "never closed in the capture"
                                  : "reset, or never closed in the capture");
    char resent[160];
    snprintf(resent, sizeof resent, "the %s sent %s %llu time%s in all%s", snd,
             g->unacked == 1 ? "it" : "them", (unsigned long long)g->unacked_sends,
             g->unacked_sends == 1 ? "" : "s",
             g->unacked_whole == 0 ? ", fragmented each time" : "");
    switch (where(ctx, g->sender)) {
    case FT_AT_SENDER:
        diag_explain(f, "This capture was taken at the %s, where the fragments leave. The %s "
                     "never acknowledged %llu of them: %s%s. The handshake and the "
                     "unfragmented packets got through, so the path carries whole packets and "
                     "loses only the fragmented ones: something between here and the %s drops "
                     "IP fragments of TCP.", snd, rcv, (unsigned long long)g->unacked, resent,
                     outcome, rcv);
        break;
    case FT_AT_RECEIVER:
        if (g->incomplete > 0)
            diag_explain(f, "This capture was taken at the %s, where the fragments should "
                         "arrive. For %llu of the segments not every fragment arrived: the "
                         "first fragment, which carries the ports, came through and the rest "
                         "did not - a NAT or firewall on the way that forwards first fragments "
                         "but cannot map the later ones. %llu %s never acknowledged%s.",
                         rcv, (unsigned long long)g->incomplete, (unsigned long long)g->unacked,
                         g->unacked == 1 ? "was" : "were", outcome);
        else
            diag_explain(f, "This capture was taken at the %s, where the fragments arrive. All "
                         "fragments arrived, yet %llu segment%s never acknowledged: the %s's "
                         "stack or a filter on it discarded them%s.", rcv,
                         (unsigned long long)g->unacked, g->unacked == 1 ? " was" : "s were",
                         rcv, outcome);
        break;
    case FT_BETWEEN:
        diag_explain(f, "Seen here, between the hosts: %llu of the segments were never "
                     "acknowledged by the %s (%s)%s; they were lost after this point or "
                     "discarded by the %s.", (unsigned long long)g->unacked, rcv, resent,
                     outcome, rcv);
        break;
    }
    (void)ex;
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
            seg_server(s, &sa, &sp);
            if (s->sender != g->sender || sp != g->server_port || !addr_eq(&sa, &g->server))
                continue;
            bool known = false;
            for (size_t k = 0; k < n_lossy; k++)
                known |= addr_eq(&lossy[k], &s->dst);
            if (pass == 0 && !s->acked && !known) {
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

static int report_group(const ft_state *st, const ft_group *g, diag_ctx *ctx,
                        diag_findings *out)
{
    bool trouble = g->unacked > 0 || g->retransmitted > 0 || g->incomplete > 0;
    enum diag_severity sev = g->failed > 0 ? DIAG_ERROR : trouble ? DIAG_WARNING : DIAG_INFO;
    const ft_seg *ex = &st->seg[g->example];
    double conf = !trouble ? 0.9 : g->unacked > 0 && g->retransmitted > 0 ? 0.85 : 0.7;
    diag_finding *f = diag_add(out, "fragmented-tcp", sev, conf);
    if (f == NULL)
        return -ENOMEM;
    f->events = g->segs;
    f->server = g->server;
    f->server_port = g->server_port;
    f->has_server = true;
    char s[64];
    diag_endpoint(&g->server, g->server_port, s, sizeof s);
    const char *snd = side_word(g->sender);
    char frags[48] = " as far as seen";
    if (g->frags_max > 0)
        snprintf(frags, sizeof frags, ", split into %u fragments", g->frags_max);
    if (trouble)
        diag_summary(f, "%llu TCP segment%s from the %s%s%s came in IP fragments (datagrams up "
                     "to %u bytes, DF %s): %llu never acknowledged, %llu sent again%s",
                     (unsigned long long)g->segs, g->segs == 1 ? "" : "s", snd,
                     g->sender == FLOW_SIDE_SERVER ? " " : " of ",
                     s, g->max_datagram, g->df_set ? "set" : "clear",
                     (unsigned long long)g->unacked, (unsigned long long)g->retransmitted,
                     g->failed ? "; the connection failed" : "");
    else
        diag_summary(f, "%llu TCP segment%s from the %s%s%s came in IP fragments (datagrams up "
                     "to %u bytes); all were delivered and acknowledged",
                     (unsigned long long)g->segs, g->segs == 1 ? "" : "s", snd,
                     g->sender == FLOW_SIDE_SERVER ? " " : " of ", s, g->max_datagram);
    diag_explain(f, "The %s sent %llu TCP segment%s as IP fragments: the largest datagram was "
                 "%u bytes%s, with DF %s. TCP normally sets DF and lets path MTU discovery size "
                 "its segments, so fragments mean the sender turned PMTUD off, or a tunnel or "
                 "middlebox on the way cleared DF and split the packets (tcp-behaviour.md 9.9).",
                 snd, (unsigned long long)g->segs, g->segs == 1 ? "" : "s", g->max_datagram,
                 frags, g->df_set ? "set on some" : "clear");
    if (trouble) {
        explain_what_happened(f, ctx, g, ex);
        explain_receivers(f, st, g);
        diag_explain(f, "Fragments are fragile: only the first carries the port numbers, so a "
                     "NAT or firewall that does not reassemble cannot map the others, and AWS "
                     "NAT gateways drop fragmented TCP and ICMP altogether while forwarding "
                     "fragmented UDP. That is seed 004: some connections from a private subnet "
                     "through a NAT gateway to one destination fail because that destination "
                     "answers with fragmented TCP.");
    } else {
        diag_explain(f, "%s delivered and acknowledged. Fragmented TCP still "
                     "depends on every fragment arriving: one lost fragment loses the whole "
                     "segment, and a NAT gateway on the path would drop them all.",
                     g->segs == 1 ? "It was" : "All of them were");
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
        seg_server(o, &sa, &sp);
        if (o == ex || o->sender != g->sender || sp != g->server_port || !addr_eq(&sa, &g->server))
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

/* No fragments here, but data that never arrived before an RST. */
static int report_lost(const ft_state *st, diag_ctx *ctx, diag_findings *out)
{
    const ft_lost *l0 = NULL;
    uint64_t n = 0;
    uint32_t lo = UINT32_MAX, hi = 0;
    for (size_t i = 0; i < st->n_lost; i++) {
        const ft_lost *l = &st->lost[i];
        /* At the sender its own data cannot be missing from the capture. */
        if ((ctx->vantage == DIAG_VANTAGE_SERVER && l->sender == FLOW_SIDE_SERVER) ||
            (ctx->vantage == DIAG_VANTAGE_CLIENT && l->sender == FLOW_SIDE_CLIENT))
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
        if ((ctx->vantage == DIAG_VANTAGE_SERVER && l->sender == FLOW_SIDE_SERVER) ||
            (ctx->vantage == DIAG_VANTAGE_CLIENT && l->sender == FLOW_SIDE_CLIENT))
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

/* Non-first fragments whose first fragment (with the ports) never came. */
static int report_orphans(const ft_state *st, diag_ctx *ctx, diag_findings *out)
{
    diag_finding *f = diag_add(out, "fragmented-tcp", DIAG_WARNING, 0.6);
    if (f == NULL)
        return -ENOMEM;
    char a[PKT_ADDR_STRLEN], b[PKT_ADDR_STRLEN];
    diag_addr(&st->orphan_src, a, sizeof a);
    diag_addr(&st->orphan_dst, b, sizeof b);
    f->events = st->orphan_dgrams;
    diag_summary(f, "%llu fragmented TCP datagram%s arrived without the first fragment, which "
                 "carries the TCP header (first from %s to %s)",
                 (unsigned long long)st->orphan_dgrams, st->orphan_dgrams == 1 ? "" : "s", a, b);
    diag_explain(f, "Later fragments of TCP datagrams arrived here but their first fragments "
                 "did not (or came before the capture started): those segments cannot be "
                 "reassembled and are lost. A device on the way that drops or mishandles "
                 "first fragments, or fragments of any kind, does this.");
    diag_param_add(f, "fragmented_segments", 0, "");
    diag_param_add(f, "orphan_datagrams", (double)st->orphan_dgrams, "");
    diag_evidence_add(f, st->orphan_packet, st->orphan_ts, "%8.3f  %s > %s  a later fragment; "
                      "its first fragment never arrived", diag_rel(ctx, st->orphan_ts), a, b);
    add_remedies(f, true);
    return 0;
}

static int ft_finish(void *p, diag_ctx *ctx, diag_findings *out)
{
    ft_state *st = p;
    if (st->oom)
        return -ENOMEM;
    for (size_t i = 0; i < FT_DGRAM_SLOTS; i++)
        dgram_retire(st, &st->dg[i], false);
    if (st->n_seg == 0) {
        if (st->orphan_dgrams > 0)
            return report_orphans(st, ctx, out);
        return st->fragments_seen == 0 ? report_lost(st, ctx, out) : 0;
    }
    ft_group *g = NULL;
    size_t ng = 0, cap = 0;
    int rc = 0;
    for (size_t i = 0; i < st->n_seg; i++) {
        int k = group_of(&g, &ng, &cap, &st->seg[i], i);
        if (k < 0) {
            rc = -ENOMEM;
            goto out;
        }
        group_add(&g[k], &st->seg[i], i);
    }
    for (size_t k = 0; k < ng && rc == 0; k++)
        rc = report_group(st, &g[k], ctx, out);
out:
    free(g);
    return rc;
}

static void *ft_create(diag_ctx *ctx)
{
    (void)ctx;
    return calloc(1, sizeof(ft_state));
}

static void ft_destroy(void *p)
{
    ft_state *st = p;
    if (st == NULL)
        return;
    free(st->seg);
    free(st);
}

const diag_detector diag_det_fragmented_tcp = {
    .id = "fragmented-tcp",
    .create = ft_create,
    .packet = ft_packet,
    .conn = ft_conn,
    .finish = ft_finish,
    .destroy = ft_destroy,
};
