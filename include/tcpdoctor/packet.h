/* packet.h - the decoded view of one captured frame (decode stage output). */
#ifndef TCPDOCTOR_PACKET_H
#define TCPDOCTOR_PACKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * An IP address, IPv4 or IPv6, in 16 bytes.  IPv4 is stored IPv4-mapped
 * (::ffff:a.b.c.d, RFC 4291 2.5.5.2) so that one comparison serves both
 * families and a flow key has no padding to zero.
 */
typedef struct pkt_addr {
    uint8_t b[16];
} pkt_addr;

/* True when the address is IPv4-mapped, i.e. came from an IPv4 header. */
bool pkt_addr_is_v4(const pkt_addr *a);

/* Text form into buf (at least PKT_ADDR_STRLEN bytes); returns buf. */
#define PKT_ADDR_STRLEN 46
char *pkt_addr_str(const pkt_addr *a, char *buf, size_t len);

/*
 * Every way a frame can be wrong, by name.  A decoder counts each one it
 * meets; reports print the non-zero counts.  The class says whether the
 * bytes ran out (truncated), broke a rule (invalid), or are a form we do
 * not decode (unsupported).  Append only: names are part of the JSON output.
 */
enum pkt_anomaly {
    PKT_AN_LINK_TRUNCATED,          /* frame shorter than its link header */
    PKT_AN_VLAN_TOO_DEEP,           /* more than PKT_MAX_VLAN tags */
    PKT_AN_IP_VERSION_MISMATCH,     /* version nibble disagrees with link type */
    PKT_AN_IPV4_TRUNCATED,          /* fewer bytes than the IPv4 header needs */
    PKT_AN_IPV4_BAD_IHL,            /* header length < 20 bytes */
    PKT_AN_IPV4_BAD_TOTAL_LENGTH,   /* total length < header length */
    PKT_AN_IPV4_LENGTH_EXCEEDS_FRAME, /* total length > bytes on the wire */
    PKT_AN_IPV4_BAD_OPTION,         /* malformed IPv4 option */
    PKT_AN_IPV4_BAD_FRAGMENT,       /* fragment beyond 65535 or MF+DF */
    PKT_AN_IPV6_TRUNCATED,          /* fewer bytes than the IPv6 header */
    PKT_AN_IPV6_LENGTH_EXCEEDS_FRAME, /* payload length > bytes on the wire */
    PKT_AN_IPV6_EXT_TRUNCATED,      /* extension header runs past the data */
    PKT_AN_IPV6_EXT_TOO_MANY,       /* more than PKT_MAX_IPV6_EXT headers */
    PKT_AN_IPV6_JUMBO,              /* jumbogram (payload length 0): unsupported */
    PKT_AN_TCP_TRUNCATED,           /* TCP header cut before its fixed part */
    PKT_AN_TCP_BAD_DATA_OFFSET,     /* data offset < 5 or past segment end */
    PKT_AN_TCP_OPTIONS_TRUNCATED,   /* header fixed part present, options cut */
    PKT_AN_TCP_OPT_BAD_LENGTH,      /* option length < 2 or past header end */
    PKT_AN_TCP_OPT_BAD_SIZE,        /* MSS/WS/SACKOK/TS with the wrong length */
    PKT_AN_TCP_OPT_BAD_SACK,        /* SACK length not 2 + 8n */
    PKT_AN_TCP_OPT_DUPLICATE,       /* the same option twice */
    PKT_AN_TCP_PORT_ZERO,           /* source or destination port 0 */
    PKT_AN_TCP_SYN_FIN,             /* SYN and FIN together */
    PKT_AN_TCP_SYN_RST,             /* SYN and RST together */
    PKT_AN_TCP_NO_FLAGS,            /* no SYN, ACK, RST or FIN: null scan */
    PKT_AN_SNAPLEN_TRUNCATED,       /* capture cut the frame (caplen < len) */
    PKT_AN_CAPLEN_EXCEEDS_LEN,      /* caplen > wire length in the record */
    PKT_AN_IPV4_TSO_LENGTH_ZERO,    /* total length 0 from segmentation offload:
                                       the frame's length is used (Wireshark's
                                       ip.tso_support heuristic) */
    PKT_AN_TCP_HEADER_FRAGMENTED,   /* first fragment ends inside the TCP header */
    PKT_AN_ICMP_TRUNCATED,          /* ICMP(v6) message shorter than its 8-byte header */
    PKT_AN_ICMP_QUOTE_TRUNCATED,    /* ICMP(v6) error's quote ends inside the quoted
                                       IP header(s) or before TCP ports + seq */
    PKT_AN_ICMP_QUOTE_INVALID,      /* quoted header with the wrong IP version or
                                       IHL < 5 */
    PKT_AN_COUNT
};

enum pkt_anomaly_class {
    PKT_ANC_TRUNCATED,
    PKT_ANC_INVALID,
    PKT_ANC_UNSUPPORTED,
    PKT_ANC_INFO                    /* worth counting, not an error */
};

const char *pkt_anomaly_name(enum pkt_anomaly a);   /* e.g. "tcp_opt_bad_length" */
enum pkt_anomaly_class pkt_anomaly_class(enum pkt_anomaly a);
const char *pkt_anomaly_class_name(enum pkt_anomaly_class c);

/* TCP flag bits as in the header (RFC 9293 3.1, RFC 3168 for ECE/CWR). */
#define PKT_TCP_FIN 0x01
#define PKT_TCP_SYN 0x02
#define PKT_TCP_RST 0x04
#define PKT_TCP_PSH 0x08
#define PKT_TCP_ACK 0x10
#define PKT_TCP_URG 0x20
#define PKT_TCP_ECE 0x40
#define PKT_TCP_CWR 0x80

#define PKT_MAX_VLAN 4          /* 802.1Q tags decoded (QinQ and beyond) */
#define PKT_MAX_IPV6_EXT 8      /* extension headers walked before giving up */
#define PKT_OPT_LAYOUT_MAX 16   /* option kinds kept for SYN fingerprints */

/* The TCP options tcpdoctor uses (RFC 9293 3.2, RFC 7323, RFC 2018). */
typedef struct pkt_tcp_opts {
    bool     has_mss;
    bool     has_wscale;
    bool     sack_perm;
    bool     has_ts;
    uint16_t mss;
    uint8_t  wscale;        /* shift count as sent (may exceed 14) */
    uint8_t  sack_blocks;   /* number of SACK blocks */
    uint32_t tsval;
    uint32_t tsecr;
    uint8_t  layout_len;    /* option kinds in order, e.g. M,N,W,S,T */
    uint8_t  layout[PKT_OPT_LAYOUT_MAX]; /* raw kind bytes */
} pkt_tcp_opts;

/*
 * Result of decoding one frame.  Plain value: filled by pkt_decode(),
 * read by later stages.  Nothing in it points into the packet buffer.
 */
typedef struct pkt_view {
    /* Capture record */
    uint64_t num;           /* 1-based frame number in the merged input */
    int64_t  ts_ns;         /* capture time, ns since the Unix epoch */
    uint32_t caplen;        /* bytes captured */
    uint32_t wirelen;       /* bytes on the wire */
    uint16_t source;        /* index of the input file */

    /* Link */
    uint8_t  vlan_count;                 /* 802.1Q/802.1ad tags seen */
    uint16_t vlan[PKT_MAX_VLAN];         /* VLAN ids, outermost first */

    /* Network */
    uint8_t  ip_version;    /* 4 or 6; 0 when not IP */
    uint8_t  ip_proto;      /* upper-layer protocol after IPv6 ext headers */
    uint8_t  ttl;           /* IPv4 TTL or IPv6 hop limit */
    bool     ip_df;         /* IPv4 don't-fragment (always true for IPv6) */
    uint16_t ip_id;         /* IPv4 identification */
    uint32_t ip_len;        /* IP datagram length per header (v4 total length,
                               v6 40 + payload length) */
    pkt_addr src;
    pkt_addr dst;

    /* Fragments (IPv4 flags/offset, IPv6 fragment header) */
    bool     is_fragment;   /* MF set or offset non-zero */
    bool     frag_more;     /* MF */
    uint32_t frag_offset;   /* in bytes */
    uint32_t frag_id;       /* IPv4 id or IPv6 fragment identification */

    /* TCP: valid when has_tcp */
    bool     has_tcp;       /* ports, seq, ack, flags, window decoded */
    bool     tcp_opts_ok;   /* all options present and well formed */
    uint16_t sport;
    uint16_t dport;
    uint32_t seq;
    uint32_t ack;
    uint8_t  flags;         /* PKT_TCP_* */
    uint8_t  tcp_hlen;      /* header length in bytes (data offset * 4) */
    uint16_t window;        /* raw window field, unscaled */
    uint32_t payload_len;   /* TCP payload bytes per the IP length; for a
                               PKT_TCP_FRAGMENT, the fragment's data bytes */
    uint32_t payload_captured; /* of which present in the capture */
    pkt_tcp_opts opt;

    /* ICMP / ICMPv6 error quoting a TCP segment (RFC 792, RFC 4443 2.4(c), RFC 1812 4.3.2.3):
       valid when has_icmp_err.  The frame's status stays PKT_NOT_TCP; src/dst are the
       ICMP message's own IP addresses (the reporting router or host and the original sender). */
    bool     has_icmp_err;  /* an ICMP(v6) error whose quote holds at least TCP ports + seq */
    bool     icmp_v6;       /* ICMPv6 (type/code are ICMPv6's) */
    uint8_t  icmp_type;     /* v4: 3 unreachable, 11 time exceeded, 12 parameter problem, 4 source quench; v6: 1 unreachable, 2 packet too big, 3 time exceeded, 4 parameter problem */
    uint8_t  icmp_code;
    uint32_t icmp_mtu;      /* next-hop MTU: v4 type 3 code 4 (RFC 1191), v6 type 2 (RFC 8201); else 0 */
    pkt_addr icmp_q_src;    /* the quoted (original) datagram's source ... */
    pkt_addr icmp_q_dst;    /* ... and destination */
    uint16_t icmp_q_sport;  /* quoted TCP source port */
    uint16_t icmp_q_dport;  /* quoted TCP destination port */
    uint32_t icmp_q_seq;    /* quoted TCP sequence number */
    uint8_t  icmp_q_flags;  /* quoted TCP flags when the quote reaches byte 13 of the TCP header, else 0 (icmp_q_has_flags false) */
    bool     icmp_q_has_flags;

    uint64_t anomalies;     /* bit (1 << pkt_anomaly) for each one met */
} pkt_view;

/* What pkt_decode() found at the top level. */
enum pkt_status {
    PKT_TCP = 0,            /* TCP header decoded (maybe with anomalies) */
    PKT_TCP_FRAGMENT,       /* a non-first fragment of a TCP datagram */
    PKT_OTHER_FRAGMENT,     /* non-first fragment, protocol not TCP */
    PKT_NOT_TCP,            /* IP but another protocol */
    PKT_NOT_IP,             /* link payload is not IPv4/IPv6 (ARP, ...) */
    PKT_MALFORMED           /* stopped at an anomaly before any TCP header */
};

/* True when tcpdoctor can decode this DLT_ value (pcap-linktype(7)). */
bool pkt_linktype_supported(int dlt);

/*
 * Decode one frame of link type dlt.  data holds caplen bytes; wirelen is
 * the original length.  Fills *v (all fields reset first, except num,
 * ts_ns and source, which the caller sets before or after) and returns a
 * pkt_status.  Never reads past data + caplen; never fails otherwise.
 */
enum pkt_status pkt_decode(int dlt, const uint8_t *data, uint32_t caplen,
                           uint32_t wirelen, pkt_view *v);

#endif
