/* samples.h - the decoder's test frames: raw bytes with their layer boundaries. */
#ifndef TCPDOCTOR_TESTS_DECODE_SAMPLES_H
#define TCPDOCTOR_TESTS_DECODE_SAMPLES_H

#include <stddef.h>
#include <stdint.h>

/* DLT_ values as libpcap numbers them (pcap/dlt.h); the link test checks
 * them against <pcap/dlt.h> itself. */
enum {
    S_DLT_NULL = 0,
    S_DLT_EN10MB = 1,
    S_DLT_RAW = 12,
    S_DLT_RAW_BSD = 14,
    S_LINKTYPE_RAW = 101,
    S_DLT_LOOP = 108,
    S_DLT_LINUX_SLL = 113,
    S_DLT_IPV4 = 228,
    S_DLT_IPV6 = 229,
    S_DLT_LINUX_SLL2 = 276
};

/*
 * One frame and where its layers end, so that the truncation sweep
 * (test_decode.c) knows what a cut at n bytes must report:
 *   n < link_end               link_truncated
 *   link_end <= n < first of   a truncated-class anomaly, PKT_MALFORMED
 *     tcp_at / hdr_end         (IP or IPv6 extension header cut)
 *   tcp_at <= n < tcp_at + 20  tcp_truncated, no TCP, ports iff n >= tcp_at + 4
 *   tcp_at + 20 <= n < hdr_end tcp_options_truncated, has_tcp
 *   n >= hdr_end               the full decode, plus snaplen_truncated
 * tcp_at is 0 when the frame has no TCP header to decode.
 *
 * An ICMP or ICMPv6 sample has tcp_at 0 and icmp_at = hdr_end, the offset
 * of its ICMP header: cuts before it follow the table above, cuts from it
 * on are test_icmp.c's to judge (the status stays PKT_NOT_TCP).
 */
typedef struct dec_sample {
    const char *name;       /* also the seed file name in the fuzz corpus */
    int dlt;
    const uint8_t *bytes;
    uint32_t len;
    uint32_t link_end;      /* bytes of link-layer headers */
    uint32_t tcp_at;        /* offset of the TCP header, 0 when none */
    uint32_t hdr_end;       /* from here on a cut only removes payload */
    uint32_t icmp_at;       /* offset of an ICMP(v6) header, 0 when none */
} dec_sample;

extern const dec_sample dec_samples[];
extern const size_t dec_sample_count;

/* The sample called name; NULL when there is none. */
const dec_sample *dec_sample_find(const char *name);

#endif
