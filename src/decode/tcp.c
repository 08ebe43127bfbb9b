/* tcp.c - TCP header, options (MSS, window scale, SACK, timestamps) and flag anomalies. */
#include "decode_internal.h"

enum {
    TCP_MIN_HLEN = 20,          /* RFC 9293 3.1: data offset >= 5 words */
    TCPOPT_EOL = 0,             /* RFC 9293 3.2 */
    TCPOPT_NOP = 1,
    TCPOPT_MSS = 2,
    TCPOPT_WSCALE = 3,          /* RFC 7323 2.2 */
    TCPOPT_SACK_PERM = 4,       /* RFC 2018 2 */
    TCPOPT_SACK = 5,            /* RFC 2018 3 */
    TCPOPT_TIMESTAMP = 8,       /* RFC 7323 3.2 */
    TCPOLEN_MSS = 4,
    TCPOLEN_WSCALE = 3,
    TCPOLEN_SACK_PERM = 2,
    TCPOLEN_TIMESTAMP = 10,
    TCPOLEN_SACK_BASE = 2,
    TCPOLEN_SACK_BLOCK = 8
};

static bool opt_flag(pkt_view *v, enum pkt_anomaly a)
{
    pkt_dec_flag(v, a);
    return false;
}

/*
 * One option whose kind and length byte were read and whose body (len - 2
 * bytes) is all present in b.  Fixed sizes: MSS 4 (RFC 9293 3.2), window
 * scale 3 (RFC 7323 2.2), SACK-permitted 2 (RFC 2018 2), timestamps 10
 * (RFC 7323 3.2); a wrong size is counted and the option ignored.  SACK is
 * 2 + 8n bytes (RFC 2018 3) with n >= 1, as Linux tcp_parse_options()
 * requires.  A repeated option is counted and the first value kept.
 * Unknown kinds are skipped by their length.  Returns false when the
 * option was malformed.
 */
static bool tcp_option(pkt_view *v, uint8_t kind, uint8_t len, pkt_cursor b)
{
    pkt_tcp_opts *o = &v->opt;

    switch (kind) {
    case TCPOPT_MSS:
        if (len != TCPOLEN_MSS)
            return opt_flag(v, PKT_AN_TCP_OPT_BAD_SIZE);
        if (o->has_mss)
            return opt_flag(v, PKT_AN_TCP_OPT_DUPLICATE);
        o->has_mss = cur_be16(&b, &o->mss);
        return true;
    case TCPOPT_WSCALE:
        if (len != TCPOLEN_WSCALE)
            return opt_flag(v, PKT_AN_TCP_OPT_BAD_SIZE);
        if (o->has_wscale)
            return opt_flag(v, PKT_AN_TCP_OPT_DUPLICATE);
        o->has_wscale = cur_u8(&b, &o->wscale);
        return true;
    case TCPOPT_SACK_PERM:
        if (len != TCPOLEN_SACK_PERM)
            return opt_flag(v, PKT_AN_TCP_OPT_BAD_SIZE);
        if (o->sack_perm)
            return opt_flag(v, PKT_AN_TCP_OPT_DUPLICATE);
        o->sack_perm = true;
        return true;
    case TCPOPT_TIMESTAMP:
        if (len != TCPOLEN_TIMESTAMP)
            return opt_flag(v, PKT_AN_TCP_OPT_BAD_SIZE);
        if (o->has_ts)
            return opt_flag(v, PKT_AN_TCP_OPT_DUPLICATE);
        o->has_ts = cur_be32(&b, &o->tsval) && cur_be32(&b, &o->tsecr);
        return true;
    case TCPOPT_SACK:
        if (len < TCPOLEN_SACK_BASE + TCPOLEN_SACK_BLOCK ||
            (len - TCPOLEN_SACK_BASE) % TCPOLEN_SACK_BLOCK != 0)
            return opt_flag(v, PKT_AN_TCP_OPT_BAD_SACK);
        if (o->sack_blocks != 0)
            return opt_flag(v, PKT_AN_TCP_OPT_DUPLICATE);
        o->sack_blocks = (uint8_t)((len - TCPOLEN_SACK_BASE) / TCPOLEN_SACK_BLOCK);
        return true;
    default:
        return true;
    }
}

/*
 * The option walk (RFC 9293 3.2).
 * How it works: o holds the captured option bytes and room the option bytes
 * the data offset declares (o.len <= room; they differ only when the
 * capture cut the header, which the caller has already flagged).  Each turn
 * reads a kind and records it in the layout; EOL stops, NOP is one byte;
 * any other kind needs a length byte with 2 <= length <= what is left of
 * the header, else the rest cannot be parsed (TCP_OPT_BAD_LENGTH, stop).
 * Running out of captured bytes stops quietly.
 * Limits: the loop consumes at least one byte per turn of at most 40.
 * Returns false when any option was malformed.
 */
static bool tcp_options(pkt_view *v, pkt_cursor o, size_t room)
{
    pkt_tcp_opts *opt = &v->opt;
    bool ok = true;
    uint8_t kind, len;
    pkt_cursor body;

    /* Fast path for the layout nearly every segment after the SYN carries:
       NOP, NOP, timestamps (RFC 7323 appendix A), all 12 bytes captured.
       Same result as the walk below, without it. */
    if (room == 12 && o.len == 12 && o.p[0] == TCPOPT_NOP && o.p[1] == TCPOPT_NOP &&
        o.p[2] == TCPOPT_TIMESTAMP && o.p[3] == TCPOLEN_TIMESTAMP) {
        opt->layout[0] = TCPOPT_NOP;
        opt->layout[1] = TCPOPT_NOP;
        opt->layout[2] = TCPOPT_TIMESTAMP;
        opt->layout_len = 3;
        cur_skip(&o, 4);
        opt->has_ts = cur_be32(&o, &opt->tsval) && cur_be32(&o, &opt->tsecr);
        return true;
    }

    while (cur_u8(&o, &kind)) {
        room--;
        if (opt->layout_len < PKT_OPT_LAYOUT_MAX)
            opt->layout[opt->layout_len++] = kind;
        if (kind == TCPOPT_EOL)
            break;
        if (kind == TCPOPT_NOP)
            continue;
        if (room == 0)
            return opt_flag(v, PKT_AN_TCP_OPT_BAD_LENGTH);
        if (!cur_u8(&o, &len))
            break;
        room--;
        if (len < 2 || len - 2u > room)
            return opt_flag(v, PKT_AN_TCP_OPT_BAD_LENGTH);
        if (!cur_sub(&o, len - 2u, &body))
            break;
        room -= len - 2u;
        ok &= tcp_option(v, kind, len, body);
    }
    return ok;
}

/* Flag combinations no conforming stack sends: scans and OS probes (the
 * same list as Suricata's decoder events and Snort's tcp flag rules).  A
 * segment with none of SYN, ACK, RST, FIN is dropped in every state: RFC
 * 9293 3.10.7.2-3 (LISTEN, SYN-SENT) want SYN, ACK or RST, and 3.10.7.4
 * drops a segment without ACK in the synchronized states. */
static void tcp_flag_anomalies(pkt_view *v)
{
    const uint8_t f = v->flags;

    if ((f & (PKT_TCP_SYN | PKT_TCP_FIN)) == (PKT_TCP_SYN | PKT_TCP_FIN))
        pkt_dec_flag(v, PKT_AN_TCP_SYN_FIN);
    if ((f & (PKT_TCP_SYN | PKT_TCP_RST)) == (PKT_TCP_SYN | PKT_TCP_RST))
        pkt_dec_flag(v, PKT_AN_TCP_SYN_RST);
    if ((f & (PKT_TCP_SYN | PKT_TCP_ACK | PKT_TCP_RST | PKT_TCP_FIN)) == 0)
        pkt_dec_flag(v, PKT_AN_TCP_NO_FLAGS);
}

static void tcp_port_anomaly(pkt_view *v)
{
    /* RFC 6335 6: port 0 is reserved and never used on the wire. */
    if (v->sport == 0 || v->dport == 0)
        pkt_dec_flag(v, PKT_AN_TCP_PORT_ZERO);
}

/*
 * RFC 9293 3.1 header.  The rules, in order:
 * - Fewer than 20 bytes (captured, or in the segment per the IP length):
 *   TCP_TRUNCATED, has_tcp false.  The ports are still filled when their
 *   first 4 bytes are there, so a report can name the connection a cut
 *   segment belonged to; everything else stays 0.
 * - Data offset < 5, or a header longer than the segment per the IP
 *   length: TCP_BAD_DATA_OFFSET, has_tcp false (Linux tcp_v4_rcv() drops
 *   such segments, so a flow must not see them), fixed fields filled.
 * - Options cut by the capture: has_tcp true, tcp_opts_ok false,
 *   TCP_OPTIONS_TRUNCATED; the options present are still recorded.
 * payload_len = segment length - header length; payload_captured is the
 * part of it the capture holds.
 */
enum pkt_status pkt_dec_tcp(pkt_view *v, pkt_cursor c, uint32_t seg_len)
{
    pkt_cursor h, opts;
    uint8_t off;
    size_t room;

    if (!cur_sub(&c, TCP_MIN_HLEN, &h)) {
        /* the datagram's first fragment is shorter than a TCP header (its
           bytes are all here: the IP layer, not the capture, cut it) */
        bool by_fragment = v->frag_more && seg_len < TCP_MIN_HLEN && c.len >= seg_len;
        if (cur_has(&c, 4)) {
            cur_be16(&c, &v->sport);
            cur_be16(&c, &v->dport);
            tcp_port_anomaly(v);
        }
        pkt_dec_flag(v, by_fragment ? PKT_AN_TCP_HEADER_FRAGMENTED : PKT_AN_TCP_TRUNCATED);
        return PKT_MALFORMED;
    }
    cur_be16(&h, &v->sport);
    cur_be16(&h, &v->dport);
    cur_be32(&h, &v->seq);
    cur_be32(&h, &v->ack);
    cur_u8(&h, &off);
    cur_u8(&h, &v->flags);
    cur_be16(&h, &v->window);
    v->tcp_hlen = (uint8_t)((off >> 4) * 4);
    tcp_port_anomaly(v);
    tcp_flag_anomalies(v);

    if (v->tcp_hlen < TCP_MIN_HLEN || v->tcp_hlen > seg_len) {
        /* A first fragment that ends inside the header (options continue
           in the next fragment, RFC 791 allows 8-byte fragments) is not a
           lying header: it is a form we do not reassemble. */
        pkt_dec_flag(v, v->tcp_hlen >= TCP_MIN_HLEN && v->frag_more
                            ? PKT_AN_TCP_HEADER_FRAGMENTED : PKT_AN_TCP_BAD_DATA_OFFSET);
        return PKT_MALFORMED;
    }
    v->has_tcp = true;
    v->payload_len = seg_len - v->tcp_hlen;
    room = v->tcp_hlen - (size_t)TCP_MIN_HLEN;
    opts = c;
    cur_limit(&opts, room);
    v->tcp_opts_ok = tcp_options(v, opts, room);
    if (!cur_skip(&c, room)) {
        pkt_dec_flag(v, PKT_AN_TCP_OPTIONS_TRUNCATED);
        v->tcp_opts_ok = false;
        return PKT_TCP;
    }
    v->payload_captured = (uint32_t)c.len;
    return PKT_TCP;
}
