/* decode_internal.h - private to src/decode: the layer entry points shared between its files. */
#ifndef TCPDOCTOR_DECODE_INTERNAL_H
#define TCPDOCTOR_DECODE_INTERNAL_H

#include <stdint.h>

#include "tcpdoctor/packet.h"
#include "cursor.h"

/* Count one anomaly in the view (bit (1 << a), packet.h). */
static inline void pkt_dec_flag(pkt_view *v, enum pkt_anomaly a)
{
    v->anomalies |= UINT64_C(1) << a;
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

#endif
