/* decode_internal.h - private to src/decode: the layer entry points shared between its files. */
#ifndef TCPDOCTOR_DECODE_INTERNAL_H
#define TCPDOCTOR_DECODE_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "tcpdoctor/packet.h"
#include "cursor.h"

/* Count one anomaly in the view (bit (1 << a), packet.h). */
static inline void pkt_dec_flag(pkt_view *v, enum pkt_anomaly a)
{
    v->anomalies |= UINT64_C(1) << a;
}

/* IP protocol numbers (IANA "Assigned Internet Protocol Numbers"). */
enum {
    PKT_IPPROTO_ICMP = 1,
    PKT_IPPROTO_TCP = 6,
    PKT_IPPROTO_ICMPV6 = 58
};

/* Store an IPv4 address IPv4-mapped (RFC 4291 2.5.5.2); a is all zeros. */
static inline void pkt_dec_addr4(pkt_addr *a, const uint8_t b[4])
{
    a->b[10] = 0xff;
    a->b[11] = 0xff;
    memcpy(&a->b[12], b, 4);
}

/*
 * The layers below the link header.  Each takes the view being filled, a
 * cursor over the captured bytes of its layer (borrowed from the frame), and
 * returns the pkt_status of the whole frame.  They never read outside c.
 *
 * lost is the number of bytes on the wire that the capture did not keep
 * (wirelen - caplen, after pkt_decode() has made caplen <= wirelen); the
 * bytes on the wire from the start of c are therefore c.len + lost, which
 * is what an IP length is checked against.
 */
enum pkt_status pkt_dec_ipv4(pkt_view *v, pkt_cursor c, uint32_t lost);
enum pkt_status pkt_dec_ipv6(pkt_view *v, pkt_cursor c, uint32_t lost);

/*
 * TCP header at c.  seg_len is the segment length the IP layer gives (header
 * plus payload, clamped to the wire); c holds the captured part of it, so
 * c.len <= seg_len.  Returns PKT_TCP when has_tcp was set, else PKT_MALFORMED.
 */
enum pkt_status pkt_dec_tcp(pkt_view *v, pkt_cursor c, uint32_t seg_len);

/*
 * An IPv6 extension header chain (ip.c), walked for the datagram itself and
 * for the one an ICMPv6 error quotes.  Set nh to the fixed header's next
 * header and the rest to zero before the walk.
 */
typedef struct pkt_ip6_walk {
    uint8_t  nh;            /* then: the upper-layer protocol, or for a
                               non-first fragment its header's next header */
    bool     frag_seen;     /* a fragment header was walked (frag_* valid) */
    bool     frag_more;     /* its M flag */
    uint32_t frag_offset;   /* in bytes; non-zero: no upper-layer header */
    uint32_t frag_id;       /* its identification */
} pkt_ip6_walk;

/*
 * Walk the chain at *c, advancing *c past every extension header.  Returns
 * true when *c is at the upper-layer header named by w->nh, or at a
 * non-first fragment's data (w->frag_offset != 0).  Returns false with *why
 * set to PKT_AN_IPV6_EXT_TRUNCATED or PKT_AN_IPV6_EXT_TOO_MANY when the
 * walk stopped; *c is then somewhere inside the chain.  Reads nothing
 * outside *c.
 */
bool pkt_dec_ip6_walk(pkt_cursor *c, pkt_ip6_walk *w, enum pkt_anomaly *why);

/*
 * The ICMP (IPv4 protocol 1) or ICMPv6 (next header 58) message at c, the
 * captured part of the datagram's payload (icmp.c).  Sets has_icmp_err and
 * the icmp_* fields of v only for an error quoting at least a TCP header's
 * ports and sequence number; counts ICMP anomalies; the frame's status is
 * the caller's (PKT_NOT_TCP).
 */
void pkt_dec_icmp4(pkt_view *v, pkt_cursor c);
void pkt_dec_icmp6(pkt_view *v, pkt_cursor c);

#endif
