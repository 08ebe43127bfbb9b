/* icmp.c - ICMP and ICMPv6 errors: the TCP segment they quote, so a SYN's refusal can be matched. */
#include "decode_internal.h"

/*
 * How it works: an ICMP error carries, after its 8-byte header, the start
 * of the datagram that caused it: the IP header plus at least 64 bits of
 * its data (RFC 792 "Destination Unreachable Message"), and more where the
 * sender allows (RFC 1812 4.3.2.3: as much as fits in 576 bytes; RFC 4443
 * 2.4(c): as much as fits in the IPv6 minimum MTU).  Those 64 bits are a
 * TCP header's ports and sequence number, which is what a stack matches
 * the error to a connection with (Linux icmp_socket_deliver() pulls IHL * 4
 * + 8 bytes before tcp_v4_err() reads them; icmpv6_notify() skips the
 * quoted extension headers with ipv6_skip_exthdr() and pulls 8 more).  We
 * read the same bytes, into a local copy first: the view's icmp_* fields
 * are all set together, and only when the ports and sequence number are
 * all in the quote.
 *
 * Limits:
 * - The ICMP checksum is not verified (neither are IP or TCP checksums:
 *   offload leaves them wrong in captures taken on the sending host).
 * - The quoted IPv4 total length and IPv6 payload length are not used:
 *   the quote is a prefix of the datagram, and stacks disagree on what they
 *   write back into that field (Nmap's OS detection compares it, test RIPL),
 *   so it is no evidence of how much was quoted.
 * - RFC 4884 extensions (a length field and objects after a padded quote)
 *   do not move the quote's start, so they are ignored.
 * - An ICMP message whose own datagram is fragmented is read as far as the
 *   first fragment goes; a quote cut by that fragment's end is counted as
 *   icmp_quote_truncated.
 * - Redirect (v4 type 5) quotes a datagram too but refuses nothing: it is
 *   left alone, like every informational message.
 */

enum {
    ICMP_HLEN = 8,                  /* RFC 792, RFC 4443 2.1: type, code,
                                       checksum, 4 type-specific bytes */
    ICMP_UNREACH = 3,               /* RFC 792 */
    ICMP_SOURCE_QUENCH = 4,         /* RFC 792; deprecated by RFC 6633 */
    ICMP_TIME_EXCEEDED = 11,
    ICMP_PARAM_PROBLEM = 12,
    ICMP_UNREACH_NEEDFRAG = 4,      /* code: fragmentation needed and DF set */
    ICMP6_UNREACH = 1,              /* RFC 4443 3.1-3.4 */
    ICMP6_PACKET_TOO_BIG = 2,
    ICMP6_TIME_EXCEEDED = 3,
    ICMP6_PARAM_PROBLEM = 4,
    QIP4_MIN_HLEN = 20,             /* RFC 791 3.1 */
    QIP4_OFFSET_MASK = 0x1fff,
    QIP6_HLEN = 40,                 /* RFC 8200 3 */
    QTCP_FLAGS_AFTER_SEQ = 5        /* ack (4), data offset (1), then flags:
                                       TCP header byte 13 (RFC 9293 3.1) */
};

/* One error message, read before it is known to quote TCP. */
typedef struct icmp_err {
    bool     v6;
    uint8_t  type;
    uint8_t  code;
    uint32_t mtu;
    pkt_addr q_src;
    pkt_addr q_dst;
} icmp_err;

/*
 * The 8-byte header (RFC 792, RFC 4443 2.1) off the front of *c; the 4
 * type-specific bytes go to *rest.  The checksum is skipped (Limits).
 */
static bool icmp_header(pkt_view *v, pkt_cursor *c, icmp_err *e, pkt_cursor *rest)
{
    pkt_cursor h;

    if (!cur_sub(c, ICMP_HLEN, &h)) {
        pkt_dec_flag(v, PKT_AN_ICMP_TRUNCATED);
        return false;
    }
    cur_u8(&h, &e->type);
    cur_u8(&h, &e->code);
    cur_skip(&h, 2);                    /* checksum: not verified */
    *rest = h;
    return true;
}

/*
 * The quoted TCP header's first bytes at t (RFC 9293 3.1): ports and
 * sequence number need 8 bytes, the flags are byte 13.  Commits e and the
 * quote to v; a quote shorter than 8 bytes sets nothing.
 */
static void icmp_quote_tcp(pkt_view *v, const icmp_err *e, pkt_cursor t)
{
    uint16_t sport, dport;
    uint32_t seq;
    uint8_t flags = 0;
    bool has_flags;

    if (!cur_be16(&t, &sport) || !cur_be16(&t, &dport) || !cur_be32(&t, &seq)) {
        pkt_dec_flag(v, PKT_AN_ICMP_QUOTE_TRUNCATED);
        return;
    }
    has_flags = cur_peek_u8(&t, QTCP_FLAGS_AFTER_SEQ, &flags);
    v->has_icmp_err = true;
    v->icmp_v6 = e->v6;
    v->icmp_type = e->type;
    v->icmp_code = e->code;
    v->icmp_mtu = e->mtu;
    v->icmp_q_src = e->q_src;
    v->icmp_q_dst = e->q_dst;
    v->icmp_q_sport = sport;
    v->icmp_q_dport = dport;
    v->icmp_q_seq = seq;
    v->icmp_q_flags = flags;
    v->icmp_q_has_flags = has_flags;
}

/*
 * The quoted IPv4 header (RFC 791 3.1) at q, then TCP at IHL * 4.  A
 * quote of another protocol, or of a non-first fragment (its data holds no
 * TCP header; RFC 792 and RFC 1812 4.3.2.7 forbid such errors anyway),
 * sets nothing.  Options are skipped, not judged: they are the original
 * sender's, and their anomalies were its frame's.
 */
static void icmp_quote4(pkt_view *v, icmp_err *e, pkt_cursor q)
{
    pkt_cursor h;
    uint8_t vihl, proto, src[4], dst[4];
    uint16_t frag;
    uint32_t hlen;

    if (!cur_sub(&q, QIP4_MIN_HLEN, &h)) {
        pkt_dec_flag(v, PKT_AN_ICMP_QUOTE_TRUNCATED);
        return;
    }
    cur_u8(&h, &vihl);
    cur_skip(&h, 5);                    /* DSCP/ECN, total length, id */
    cur_be16(&h, &frag);
    cur_skip(&h, 1);                    /* TTL */
    cur_u8(&h, &proto);
    cur_skip(&h, 2);                    /* checksum */
    cur_bytes(&h, src, 4);
    cur_bytes(&h, dst, 4);
    hlen = (vihl & 0x0fu) * 4;
    if (vihl >> 4 != 4 || hlen < QIP4_MIN_HLEN) {
        pkt_dec_flag(v, PKT_AN_ICMP_QUOTE_INVALID);
        return;
    }
    if (proto != PKT_IPPROTO_TCP || (frag & QIP4_OFFSET_MASK) != 0)
        return;
    if (!cur_skip(&q, hlen - QIP4_MIN_HLEN)) {
        pkt_dec_flag(v, PKT_AN_ICMP_QUOTE_TRUNCATED);
        return;
    }
    pkt_dec_addr4(&e->q_src, src);
    pkt_dec_addr4(&e->q_dst, dst);
    icmp_quote_tcp(v, e, q);
}

/*
 * ICMP (RFC 792) at c.  Errors are types 3, 4, 11 and 12; for 3 code 4 the
 * next-hop MTU is the low 16 bits of the second word (RFC 1191 4; 0 from
 * a router older than RFC 1191).  Everything else is informational (echo,
 * timestamp, ...) or quotes nothing a connection waits for.
 */
void pkt_dec_icmp4(pkt_view *v, pkt_cursor c)
{
    icmp_err e = { .v6 = false };
    pkt_cursor rest;
    uint16_t mtu;

    if (!icmp_header(v, &c, &e, &rest))
        return;
    switch (e.type) {
    case ICMP_UNREACH:
        if (e.code == ICMP_UNREACH_NEEDFRAG && cur_skip(&rest, 2) &&
            cur_be16(&rest, &mtu))
            e.mtu = mtu;
        break;
    case ICMP_SOURCE_QUENCH:
    case ICMP_TIME_EXCEEDED:
    case ICMP_PARAM_PROBLEM:
        break;
    default:
        return;
    }
    icmp_quote4(v, &e, c);
}

/*
 * The quoted IPv6 header (RFC 8200 3) at q, its extension headers walked
 * by the datagram decoder's own walker (RFC 4443 2.4(d): the upper-layer
 * protocol is found in the quote), then TCP.  A quoted chain cut short is
 * icmp_quote_truncated; one too long is ipv6_ext_too_many, as in a frame.
 */
static void icmp_quote6(pkt_view *v, icmp_err *e, pkt_cursor q)
{
    pkt_ip6_walk w = { .nh = 0 };
    enum pkt_anomaly why;
    pkt_cursor h;
    uint8_t ver;

    if (!cur_sub(&q, QIP6_HLEN, &h)) {
        pkt_dec_flag(v, PKT_AN_ICMP_QUOTE_TRUNCATED);
        return;
    }
    cur_u8(&h, &ver);
    cur_skip(&h, 5);                    /* class, flow label, payload length */
    cur_u8(&h, &w.nh);
    cur_skip(&h, 1);                    /* hop limit */
    cur_bytes(&h, e->q_src.b, sizeof e->q_src.b);
    cur_bytes(&h, e->q_dst.b, sizeof e->q_dst.b);
    if (ver >> 4 != 6) {
        pkt_dec_flag(v, PKT_AN_ICMP_QUOTE_INVALID);
        return;
    }
    if (!pkt_dec_ip6_walk(&q, &w, &why)) {
        pkt_dec_flag(v, why == PKT_AN_IPV6_EXT_TRUNCATED
                            ? PKT_AN_ICMP_QUOTE_TRUNCATED : why);
        return;
    }
    if (w.nh != PKT_IPPROTO_TCP || w.frag_offset != 0)
        return;
    icmp_quote_tcp(v, e, q);
}

/*
 * ICMPv6 (RFC 4443) at c.  Errors are types 1-4 (RFC 4443 2.1: types
 * below 128; 100, 101 and 127 are experimental or reserved and quote
 * nothing we know); type 2's MTU is the whole second word (RFC 4443 3.2,
 * RFC 8201 4).
 */
void pkt_dec_icmp6(pkt_view *v, pkt_cursor c)
{
    icmp_err e = { .v6 = true };
    pkt_cursor rest;

    if (!icmp_header(v, &c, &e, &rest))
        return;
    switch (e.type) {
    case ICMP6_PACKET_TOO_BIG:
        cur_be32(&rest, &e.mtu);
        break;
    case ICMP6_UNREACH:
    case ICMP6_TIME_EXCEEDED:
    case ICMP6_PARAM_PROBLEM:
        break;
    default:
        return;
    }
    icmp_quote6(v, &e, c);
}
