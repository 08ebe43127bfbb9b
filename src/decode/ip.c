/* ip.c - IPv4 and IPv6 headers, IPv6 extension headers and fragments, handing TCP on. */
#include "decode_internal.h"

enum {
    IP_PROTO_TCP = PKT_IPPROTO_TCP,
    IP4_MIN_HLEN = 20,              /* RFC 791 3.1: IHL >= 5 words */
    IP4_FLAG_DF = 0x4000,
    IP4_FLAG_MF = 0x2000,
    IP4_OFFSET_MASK = 0x1fff,       /* in 8-octet units */
    IP4_OPT_EOL = 0,
    IP4_OPT_NOP = 1,
    IP_MAX_DATAGRAM = 65535,        /* RFC 791 3.2 */
    IP6_HLEN = 40,
    IP6_HOP_BY_HOP = 0,
    IP6_ROUTING = 43,
    IP6_FRAGMENT = 44,
    IP6_AH = 51,
    IP6_DEST_OPTS = 60,
    IP6_OPT_PAD1 = 0,
    IP6_OPT_JUMBO = 0xc2,           /* RFC 2675 2 */
    IP6_FRAG_HLEN = 8
};

/*
 * RFC 791 3.1 "Options": type 0 (end of option list) ends the walk, type 1
 * (no operation) is one byte; every other option is type, length (counting
 * type and length, so >= 2), data, and must end inside the header.  The
 * loop consumes at least one byte per turn of a <= 40-byte cursor.
 * Options are only validated; none is used.
 */
static void ipv4_options(pkt_view *v, pkt_cursor o)
{
    uint8_t type, len;

    while (cur_u8(&o, &type)) {
        if (type == IP4_OPT_EOL)
            return;
        if (type == IP4_OPT_NOP)
            continue;
        if (!cur_u8(&o, &len) || len < 2 || !cur_skip(&o, len - 2u)) {
            pkt_dec_flag(v, PKT_AN_IPV4_BAD_OPTION);
            return;
        }
    }
}

/*
 * RFC 791 3.1 fixed header (h holds exactly its 20 bytes) into v: every
 * field is filled before any length is judged, so a report can still say
 * whose packet was broken.  Returns the header length from IHL.
 */
static uint32_t ipv4_fixed(pkt_view *v, pkt_cursor h)
{
    uint8_t vihl, src[4], dst[4];
    uint16_t total, frag;

    cur_u8(&h, &vihl);
    cur_skip(&h, 1);                    /* DSCP, ECN */
    cur_be16(&h, &total);
    cur_be16(&h, &v->ip_id);
    cur_be16(&h, &frag);
    cur_u8(&h, &v->ttl);
    cur_u8(&h, &v->ip_proto);
    cur_skip(&h, 2);                    /* checksum: not verified (offload) */
    cur_bytes(&h, src, 4);
    cur_bytes(&h, dst, 4);

    v->ip_len = total;
    v->ip_df = (frag & IP4_FLAG_DF) != 0;
    v->frag_more = (frag & IP4_FLAG_MF) != 0;
    v->frag_offset = (frag & IP4_OFFSET_MASK) * 8u;
    v->frag_id = v->ip_id;
    v->is_fragment = v->frag_more || v->frag_offset != 0;
    pkt_dec_addr4(&v->src, src);
    pkt_dec_addr4(&v->dst, dst);
    return (vihl & 0x0fu) * 4;
}

/*
 * RFC 791 3.1 header.  Lengths, in the order they are checked:
 *   IHL * 4 >= 20, total length >= IHL * 4 (else the header lies: stop);
 *   total length <= bytes on the wire (else flag it and use what the wire
 *   had); total length < captured bytes means a link trailer (Ethernet
 *   padding), which is dropped here so it never counts as TCP payload;
 *   a header that does not fit the captured bytes is IPV4_TRUNCATED.
 */
enum pkt_status pkt_dec_ipv4(pkt_view *v, pkt_cursor c, uint32_t lost)
{
    pkt_cursor h, opts;
    uint32_t hlen, wire, dlen;

    v->ip_version = 4;
    if (!cur_sub(&c, IP4_MIN_HLEN, &h)) {
        pkt_dec_flag(v, PKT_AN_IPV4_TRUNCATED);
        return PKT_MALFORMED;
    }
    hlen = ipv4_fixed(v, h);
    if (hlen < IP4_MIN_HLEN) {
        pkt_dec_flag(v, PKT_AN_IPV4_BAD_IHL);
        return PKT_MALFORMED;
    }
    /* A host capturing its own outgoing segments before TCP segmentation
     * offload sees total length 0 (the NIC fills it in).  Like Wireshark's
     * ip.tso_support (on by default), take the frame's length instead. */
    if (v->ip_len == 0) {
        uint64_t w = (uint64_t)c.len + IP4_MIN_HLEN + lost;
        v->ip_len = w > UINT16_MAX ? UINT16_MAX : (uint32_t)w;
        pkt_dec_flag(v, PKT_AN_IPV4_TSO_LENGTH_ZERO);
    }
    if (v->ip_len < hlen) {
        pkt_dec_flag(v, PKT_AN_IPV4_BAD_TOTAL_LENGTH);
        return PKT_MALFORMED;
    }
    /* RFC 791 3.2: fragment offset + data must fit a 65535-byte datagram;
     * DF with MF describes a fragment of a datagram that may not be
     * fragmented.  Both are counted and the packet is still decoded. */
    if ((v->ip_df && v->frag_more) ||
        v->frag_offset + (v->ip_len - hlen) > IP_MAX_DATAGRAM)
        pkt_dec_flag(v, PKT_AN_IPV4_BAD_FRAGMENT);

    /* c is past the fixed header: add it back to get the wire length. */
    wire = (uint32_t)c.len + IP4_MIN_HLEN + lost;
    dlen = v->ip_len;
    if (dlen > wire) {
        pkt_dec_flag(v, PKT_AN_IPV4_LENGTH_EXCEEDS_FRAME);
        dlen = wire;
    }
    /* dlen >= 20: total >= hlen >= 20, and 20 bytes were captured. */
    cur_limit(&c, dlen - IP4_MIN_HLEN);
    if (!cur_sub(&c, hlen - IP4_MIN_HLEN, &opts)) {
        pkt_dec_flag(v, PKT_AN_IPV4_TRUNCATED);
        return PKT_MALFORMED;
    }
    ipv4_options(v, opts);

    if (v->frag_offset != 0) {
        v->payload_len = dlen - hlen;   /* the fragment's data bytes */
        v->payload_captured = (uint32_t)c.len;
        return v->ip_proto == IP_PROTO_TCP ? PKT_TCP_FRAGMENT
                                           : PKT_OTHER_FRAGMENT;
    }
    /* Only here, past the non-first fragments: an ICMP header is in the
     * first fragment (RFC 791 3.2). */
    if (v->ip_proto == PKT_IPPROTO_ICMP)
        pkt_dec_icmp4(v, c);
    if (v->ip_proto != IP_PROTO_TCP)
        return PKT_NOT_TCP;
    /* cur_sub succeeded within the limit, so dlen >= hlen. */
    return pkt_dec_tcp(v, c, dlen - hlen);
}

/*
 * RFC 2675 2: a jumbogram has payload length 0 and a Jumbo Payload option
 * (type 0xC2) in a hop-by-hop header.  c is the captured bytes after the
 * fixed header (not limited by the payload length, which is 0).  Options
 * are TLVs except Pad1 (RFC 8200 4.2); only a complete option counts.
 */
static bool ipv6_is_jumbo(pkt_cursor c)
{
    pkt_cursor o;
    uint8_t len8, type, olen;

    if (!cur_skip(&c, 1) || !cur_u8(&c, &len8))
        return false;
    o = c;
    cur_limit(&o, (len8 + 1u) * 8 - 2);
    while (cur_u8(&o, &type)) {
        if (type == IP6_OPT_PAD1)
            continue;
        if (!cur_u8(&o, &olen) || !cur_skip(&o, olen))
            return false;
        if (type == IP6_OPT_JUMBO)
            return true;
    }
    return false;
}

/*
 * RFC 8200 4.5 fragment header: next header, reserved, 13-bit offset in
 * 8-octet units above 2 reserved bits and the M flag, 32-bit
 * identification.  An atomic fragment (offset 0, M 0, RFC 6946) is not a
 * fragment.
 * Limit: RFC 8200 4.5's 65535-octet reassembly bound is not checked, as
 * packet.h has no IPv6 fragment anomaly (IPV4_BAD_FRAGMENT is IPv4's).
 */
static void ipv6_fragment(pkt_ip6_walk *w, pkt_cursor e)
{
    uint16_t offm;

    cur_skip(&e, 2);
    cur_be16(&e, &offm);
    cur_be32(&e, &w->frag_id);
    w->frag_seen = true;
    w->frag_offset = offm & 0xfff8u;
    w->frag_more = (offm & 1) != 0;
}

static bool ipv6_is_ext(uint8_t nh)
{
    return nh == IP6_HOP_BY_HOP || nh == IP6_ROUTING || nh == IP6_FRAGMENT ||
           nh == IP6_AH || nh == IP6_DEST_OPTS;
}

/*
 * The extension header chain (RFC 8200 4): walk hop-by-hop, routing,
 * destination options (length in 8-octet units, not counting the first 8),
 * fragment (always 8) and AH (RFC 4302 2.2: length in 4-octet units minus
 * 2), at most PKT_MAX_IPV6_EXT of them; a fragment header with a non-zero
 * offset ends the walk (no upper-layer header follows it).  ESP (50) and
 * no next header (59) end it too, as upper layers.  Contract in
 * decode_internal.h.
 * Limits: the options inside hop-by-hop and destination headers are not
 * validated, and the next header of a non-first fragment is taken as the
 * upper-layer protocol although RFC 8200 allows an extension header there.
 */
bool pkt_dec_ip6_walk(pkt_cursor *c, pkt_ip6_walk *w, enum pkt_anomaly *why)
{
    for (unsigned n = 0; ipv6_is_ext(w->nh); n++) {
        pkt_cursor e;
        uint8_t next, len;
        size_t hlen;

        if (n == PKT_MAX_IPV6_EXT) {
            *why = PKT_AN_IPV6_EXT_TOO_MANY;
            return false;
        }
        if (!cur_peek_u8(c, 0, &next) || !cur_peek_u8(c, 1, &len)) {
            *why = PKT_AN_IPV6_EXT_TRUNCATED;
            return false;
        }
        if (w->nh == IP6_FRAGMENT)
            hlen = IP6_FRAG_HLEN;
        else if (w->nh == IP6_AH)
            hlen = (len + 2u) * 4;
        else
            hlen = (len + 1u) * 8;
        if (!cur_sub(c, hlen, &e)) {
            *why = PKT_AN_IPV6_EXT_TRUNCATED;
            return false;
        }
        if (w->nh == IP6_FRAGMENT)
            ipv6_fragment(w, e);
        w->nh = next;
        if (w->frag_offset != 0)
            return true;
    }
    return true;
}

/*
 * The datagram's own chain, then its upper layer.  c is the captured
 * payload and dlen the payload length per the header (c.len <= dlen).
 */
static enum pkt_status ipv6_chain(pkt_view *v, pkt_cursor c, uint32_t dlen,
                                  uint8_t nh)
{
    pkt_ip6_walk w = { .nh = nh };
    enum pkt_anomaly why;
    size_t before = c.len;
    bool ok = pkt_dec_ip6_walk(&c, &w, &why);

    if (w.frag_seen) {
        v->frag_offset = w.frag_offset;
        v->frag_more = w.frag_more;
        v->frag_id = w.frag_id;
        v->is_fragment = w.frag_more || w.frag_offset != 0;
    }
    if (!ok) {
        pkt_dec_flag(v, why);
        return PKT_MALFORMED;
    }
    dlen -= (uint32_t)(before - c.len);
    v->ip_proto = w.nh;
    if (w.frag_offset != 0) {
        v->payload_len = dlen;          /* the fragment's data bytes */
        v->payload_captured = (uint32_t)c.len;
        return w.nh == IP_PROTO_TCP ? PKT_TCP_FRAGMENT : PKT_OTHER_FRAGMENT;
    }
    if (w.nh == PKT_IPPROTO_ICMPV6)
        pkt_dec_icmp6(v, c);
    if (w.nh != IP_PROTO_TCP)
        return PKT_NOT_TCP;
    return pkt_dec_tcp(v, c, dlen);
}

/*
 * RFC 8200 3 fixed header.  ip_df is always true (RFC 8200 5: routers never
 * fragment IPv6).  A payload length beyond the wire is flagged and clamped,
 * one shorter than the capture drops the trailer, as for IPv4.
 */
enum pkt_status pkt_dec_ipv6(pkt_view *v, pkt_cursor c, uint32_t lost)
{
    pkt_cursor h;
    uint32_t wire, dlen;
    uint16_t plen;
    uint8_t nh, hops;

    v->ip_version = 6;
    v->ip_df = true;
    if (!cur_sub(&c, IP6_HLEN, &h)) {
        pkt_dec_flag(v, PKT_AN_IPV6_TRUNCATED);
        return PKT_MALFORMED;
    }
    cur_skip(&h, 4);                    /* version, traffic class, flow label */
    cur_be16(&h, &plen);
    cur_u8(&h, &nh);
    cur_u8(&h, &hops);
    cur_bytes(&h, v->src.b, sizeof v->src.b);
    cur_bytes(&h, v->dst.b, sizeof v->dst.b);
    v->ttl = hops;
    v->ip_len = IP6_HLEN + (uint32_t)plen;
    v->ip_proto = nh;

    if (plen == 0 && nh == IP6_HOP_BY_HOP && ipv6_is_jumbo(c)) {
        pkt_dec_flag(v, PKT_AN_IPV6_JUMBO);
        return PKT_MALFORMED;
    }
    wire = (uint32_t)c.len + lost;
    dlen = plen;
    if (dlen > wire) {
        pkt_dec_flag(v, PKT_AN_IPV6_LENGTH_EXCEEDS_FRAME);
        dlen = wire;
    }
    cur_limit(&c, dlen);
    return ipv6_chain(v, c, dlen, nh);
}
