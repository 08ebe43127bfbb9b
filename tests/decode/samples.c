/* samples.c - the decoder's test frames as raw byte arrays (also the fuzz seed corpus). */
#include <string.h>

#include "tcpdoctor/packet.h"
#include "samples.h"

/*
 * Byte-list builders.  Each expands to a comma-separated initializer list,
 * written out field by field as the RFC draws the header; they hide no
 * control flow.  Checksums are left 0: the decoder does not verify them.
 */
#define B16(x) (uint8_t)(((x) >> 8) & 0xff), (uint8_t)((x) & 0xff)
#define B32(x) B16(((uint32_t)(x) >> 16) & 0xffff), B16((uint32_t)(x) & 0xffff)

/* Ethernet II: destination, source, EtherType (or 802.3 length). */
#define ETH(type) 0x00, 0x1b, 0x21, 0x0a, 0x0b, 0x0c, \
                  0x52, 0x54, 0x00, 0x12, 0x34, 0x56, B16(type)

/* IPv4, 192.0.2.10 -> 198.51.100.20 (RFC 791 3.1). */
#define SRC4 192, 0, 2, 10
#define DST4 198, 51, 100, 20
#define IP4X(vihl, total, id, frag, ttl, proto) \
    (vihl), 0x00, B16(total), B16(id), B16(frag), (ttl), (proto), 0x00, 0x00, \
    SRC4, DST4
#define IP4(total, id, frag, ttl, proto) IP4X(0x45, total, id, frag, ttl, proto)

/* IPv6, 2001:db8::10 -> 2001:db8:0:1::20 (RFC 8200 3). */
#define SRC6 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10
#define DST6 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0x20
#define IP6(plen, nh, hops) 0x60, 0x00, 0x00, 0x00, B16(plen), (nh), (hops), \
    SRC6, DST6

/* TCP fixed header (RFC 9293 3.1): checksum and urgent pointer 0. */
#define TCP(sport, dport, seq, ack, doff, flags, win) \
    B16(sport), B16(dport), B32(seq), B32(ack), (uint8_t)((doff) << 4), \
    (flags), B16(win), 0x00, 0x00, 0x00, 0x00

#define FIN PKT_TCP_FIN
#define SYN PKT_TCP_SYN
#define RST PKT_TCP_RST
#define PSH PKT_TCP_PSH
#define ACK PKT_TCP_ACK

/* Linux's SYN options: MSS 1460, SACK-permitted, TS 11259375/0, NOP, WS 7. */
#define SYN_OPTS 0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, \
    0x08, 0x0a, B32(0x00abcdef), B32(0), 0x01, 0x03, 0x03, 0x07

#define TCP_SYN TCP(51000, 80, 0x01020304, 0, 10, SYN, 64240), SYN_OPTS
#define TCP_ACK TCP(51000, 80, 0x01020305, 0x0a0b0c0d, 5, ACK, 502)
#define IPV4_SYN IP4(60, 0x1c46, 0x4000, 64, 6), TCP_SYN
#define IPV6_SYN IP6(40, 6, 64), TCP_SYN

/* Ethernet + IPv4 around a TCP header with optlen option bytes. */
#define ETH_IP4_TCP(optlen) ETH(0x0800), IP4(40 + (optlen), 0x0100, 0x4000, 64, 6)
#define TCP_OPT(doff, flags) TCP(40000, 443, 1000, 2000, doff, flags, 65535)

/* IPv6 hop-by-hop / destination options with one PadN (RFC 8200 4.2). */
#define EXT_PADN(next) (next), 0, 0x01, 0x04, 0, 0, 0, 0

/* ---- link layers ---- */

static const uint8_t eth_ipv4_syn[] = { ETH(0x0800), IPV4_SYN };

/* An ACK padded to the 60-byte Ethernet minimum with non-zero bytes. */
static const uint8_t eth_ipv4_ack_padded[] = {
    ETH(0x0800), IP4(40, 0x1c47, 0x4000, 64, 6), TCP_ACK,
    0xee, 0xee, 0xee, 0xee, 0xee, 0xee
};

static const uint8_t eth_ipv4_data[] = {
    ETH(0x0800), IP4(62, 0x1c48, 0x4000, 64, 6),
    TCP(51000, 80, 0x01020305, 0x0a0b0c0d, 8, PSH | ACK, 502),
    0x01, 0x01, 0x08, 0x0a, B32(0x00abcdf0), B32(0x11223344),
    'h', 'e', 'l', 'l', 'o', ',', ' ', 't', 'c', 'p'
};

/* 802.1ad service tag (PCP 0, VID 100) then 802.1Q (PCP 5, VID 12). */
static const uint8_t eth_qinq_ipv4_syn[] = {
    ETH(0x88a8), B16(0x0064), B16(0x8100), B16(0xa00c), B16(0x0800), IPV4_SYN
};

static const uint8_t eth_vlan_ipv6_syn[] = {
    ETH(0x8100), B16(0x0005), B16(0x86dd), IPV6_SYN
};

/* Five tags: one more than PKT_MAX_VLAN. */
static const uint8_t eth_vlan_too_deep[] = {
    ETH(0x8100), B16(1), B16(0x88a8), B16(2), B16(0x9100), B16(3),
    B16(0x8100), B16(4), B16(0x8100), B16(5), B16(0x0800), IPV4_SYN
};

/* IEEE 802.3 length 68, LLC AA AA 03, SNAP OUI 00-00-00, type IPv4. */
static const uint8_t eth_llc_snap_ipv4_syn[] = {
    ETH(68), 0xaa, 0xaa, 0x03, 0x00, 0x00, 0x00, B16(0x0800), IPV4_SYN
};

/* Spanning tree: 802.3 length, LLC 42 42 03, a short BPDU. */
static const uint8_t eth_llc_stp[] = {
    ETH(13), 0x42, 0x42, 0x03, 0, 0, 0, 0x80, 0, 0, 0, 0, 0, 0
};

static const uint8_t eth_arp[] = {
    ETH(0x0806), B16(1), B16(0x0800), 6, 4, B16(1),
    0x52, 0x54, 0x00, 0x12, 0x34, 0x56, SRC4,
    0, 0, 0, 0, 0, 0, DST4
};

/* Linux cooked v1: to us (0), ARPHRD_ETHER, 6-byte address, IPv4. */
static const uint8_t sll_ipv4_syn[] = {
    B16(0), B16(1), B16(6), 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0, 0,
    B16(0x0800), IPV4_SYN
};

/* Linux cooked v2: IPv6, ifindex 2, ARPHRD_ETHER, outgoing (4). */
static const uint8_t sll2_ipv6_syn[] = {
    B16(0x86dd), B16(0), B32(2), B16(1), 4, 6,
    0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0, 0, IPV6_SYN
};

static const uint8_t raw_ipv4_syn[] = { IPV4_SYN };
static const uint8_t raw_ipv6_syn[] = { IPV6_SYN };
static const uint8_t raw_bad_version[] = { 0x55, 0, 0, 20, 0, 0, 0, 0, 64, 6 };

/* BSD loopback: AF_INET little-endian, AF_INET6 in both orders. */
static const uint8_t null_le_ipv4_syn[] = { 2, 0, 0, 0, IPV4_SYN };
static const uint8_t null_be_ipv4_syn[] = { 0, 0, 0, 2, IPV4_SYN };
static const uint8_t null_be_ipv6_freebsd[] = { 0, 0, 0, 28, IPV6_SYN };
static const uint8_t null_le_ipv6_darwin[] = { 30, 0, 0, 0, IPV6_SYN };
static const uint8_t null_le_ipv6_netbsd[] = { 24, 0, 0, 0, IPV6_SYN };
static const uint8_t null_unknown_family[] = { 7, 0, 0, 0, IPV4_SYN };
static const uint8_t loop_ipv4_syn[] = { 0, 0, 0, 2, IPV4_SYN };

/* ---- IPv4 ---- */

/* NOP, record route (length 7, pointer 4, one slot), EOL, padding. */
static const uint8_t ipv4_options_syn[] = {
    ETH(0x0800), IP4X(0x48, 72, 0x1c46, 0x4000, 64, 6),
    0x01, 0x07, 0x07, 0x04, 0, 0, 0, 0, 0x00, 0, 0, 0, TCP_SYN
};

static const uint8_t ipv4_option_length_one[] = {
    ETH(0x0800), IP4X(0x46, 44, 1, 0x4000, 64, 6), 0x07, 0x01, 0, 0, TCP_ACK
};

static const uint8_t ipv4_option_past_header[] = {
    ETH(0x0800), IP4X(0x46, 44, 1, 0x4000, 64, 6), 0x01, 0x44, 0x10, 0x05,
    TCP_ACK
};

static const uint8_t ipv4_ihl_below_five[] = {
    ETH(0x0800), IP4X(0x44, 40, 1, 0x4000, 64, 6), TCP_ACK
};

static const uint8_t ipv4_total_below_header[] = {
    ETH(0x0800), IP4(16, 1, 0x4000, 64, 6), TCP_ACK
};

/* Total length 100, but only 44 bytes of IP on the wire. */
static const uint8_t ipv4_total_exceeds_frame[] = {
    ETH(0x0800), IP4(100, 1, 0x4000, 64, 6), TCP_ACK, 'd', 'a', 't', 'a'
};

static const uint8_t ipv4_first_fragment_syn[] = {
    ETH(0x0800), IP4(60, 0x2222, 0x2000, 64, 6), TCP_SYN
};

/* Offset 185 * 8 = 1480, last fragment. */
static const uint8_t ipv4_later_fragment[] = {
    ETH(0x0800), IP4(36, 0x2222, 185, 64, 6),
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16
};

static const uint8_t ipv4_later_fragment_udp[] = {
    ETH(0x0800), IP4(36, 0x3333, 0x2000 | 185, 64, 17),
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16
};

static const uint8_t ipv4_mf_with_df[] = {
    ETH(0x0800), IP4(40, 0x4444, 0x6000, 64, 6), TCP_ACK
};

/* Offset 8191 * 8 = 65528 plus 16 bytes: past 65535. */
static const uint8_t ipv4_fragment_past_65535[] = {
    ETH(0x0800), IP4(36, 0x5555, 0x1fff, 64, 6),
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16
};

static const uint8_t ipv4_udp[] = {
    ETH(0x0800), IP4(28, 3, 0, 64, 17), B16(5353), B16(53), B16(8), B16(0)
};

/* ---- IPv6 ---- */

/* Hop-by-hop, destination options, fragment (offset 0, M), TCP SYN. */
static const uint8_t ipv6_ext_first_fragment_syn[] = {
    IP6(64, 0, 64), EXT_PADN(60), EXT_PADN(44),
    6, 0, B16(0x0001), B32(0x12345678), TCP_SYN
};

/* Same chain, offset 181 * 8 = 1448, last fragment: 16 bytes of data. */
static const uint8_t ipv6_ext_later_fragment[] = {
    IP6(40, 0, 64), EXT_PADN(60), EXT_PADN(44),
    6, 0, B16(181 << 3), B32(0x12345678),
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16
};

/* Payload length 0 and a Jumbo Payload option of 70000 (RFC 2675). */
static const uint8_t ipv6_jumbo[] = {
    IP6(0, 0, 64), 6, 0, 0xc2, 4, B32(70000), TCP_ACK
};

/* AH (RFC 4302): length 4 -> (4 + 2) * 4 = 24 bytes, 12-byte ICV. */
static const uint8_t ipv6_ah_ack[] = {
    IP6(44, 51, 64), 6, 4, 0, 0, B32(0x100), B32(1),
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, TCP_ACK
};

/* Routing header type 4 (segment routing), length 2 -> 24 bytes. */
static const uint8_t ipv6_routing_ack[] = {
    IP6(44, 43, 64), 6, 2, 4, 0, 0, 0, 0, 0, DST6, TCP_ACK
};

static const uint8_t ipv6_esp[] = {
    IP6(16, 50, 64), B32(0x100), B32(1), 0, 0, 0, 0, 0, 0, 0, 0
};

static const uint8_t ipv6_no_next_header[] = { IP6(0, 59, 64) };

/* Nine destination-options headers: one more than PKT_MAX_IPV6_EXT. */
static const uint8_t ipv6_too_many_ext[] = {
    IP6(92, 60, 64), EXT_PADN(60), EXT_PADN(60), EXT_PADN(60),
    EXT_PADN(60), EXT_PADN(60), EXT_PADN(60), EXT_PADN(60), EXT_PADN(60),
    EXT_PADN(6), TCP_ACK
};

static const uint8_t ipv6_payload_exceeds_frame[] = { IP6(100, 6, 64), TCP_ACK };

/* A 16-byte destination-options header in an 8-byte payload. */
static const uint8_t ipv6_ext_past_payload[] = {
    IP6(8, 60, 64), 6, 1, 0x01, 0x0c, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    TCP_ACK
};

/* ---- TCP ---- */

static const uint8_t tcp_opt_length_zero[] = {
    ETH_IP4_TCP(4), TCP_OPT(6, SYN), 0x02, 0x00, 0x05, 0xb4
};

static const uint8_t tcp_opt_length_one[] = {
    ETH_IP4_TCP(4), TCP_OPT(6, SYN), 0x08, 0x01, 0x01, 0x01
};

static const uint8_t tcp_opt_length_past_header[] = {
    ETH_IP4_TCP(8), TCP_OPT(7, SYN), 0x01, 0x01, 0x08, 0x0a, 0, 0, 0, 1
};

static const uint8_t tcp_opt_kind_in_last_byte[] = {
    ETH_IP4_TCP(4), TCP_OPT(6, SYN), 0x01, 0x01, 0x01, 0x02
};

static const uint8_t tcp_mss_bad_size[] = {
    ETH_IP4_TCP(8), TCP_OPT(7, SYN), 0x02, 0x03, 0x05, 0x03, 0x03, 0x07, 0x01,
    0x00
};

static const uint8_t tcp_wscale_bad_size[] = {
    ETH_IP4_TCP(8), TCP_OPT(7, SYN), 0x03, 0x04, 0x07, 0x00, 0x02, 0x04, 0x05,
    0xb4
};

static const uint8_t tcp_sackok_bad_size[] = {
    ETH_IP4_TCP(4), TCP_OPT(6, SYN), 0x04, 0x03, 0x00, 0x01
};

static const uint8_t tcp_ts_bad_size[] = {
    ETH_IP4_TCP(8), TCP_OPT(7, SYN), 0x08, 0x06, 0, 0, 0, 1, 0x01, 0x01
};

static const uint8_t tcp_sack_bad_length[] = {
    ETH_IP4_TCP(8), TCP_OPT(7, ACK), 0x05, 0x06, 0, 0, 0, 1, 0x01, 0x01
};

static const uint8_t tcp_sack_no_blocks[] = {
    ETH_IP4_TCP(4), TCP_OPT(6, ACK), 0x05, 0x02, 0x01, 0x01
};

static const uint8_t tcp_sack_two_blocks[] = {
    ETH_IP4_TCP(20), TCP_OPT(10, ACK), 0x01, 0x01, 0x05, 0x12,
    B32(3000), B32(4000), B32(5000), B32(6000)
};

static const uint8_t tcp_duplicate_mss[] = {
    ETH_IP4_TCP(8), TCP_OPT(7, SYN), 0x02, 0x04, 0x05, 0xb4, 0x02, 0x04, 0x02,
    0x18
};

static const uint8_t tcp_unknown_option[] = {
    ETH_IP4_TCP(12), TCP_OPT(8, SYN), 0xfd, 0x06, 1, 2, 3, 4, 0x01, 0x01,
    0x02, 0x04, 0x05, 0xb4
};

static const uint8_t tcp_eol_ends_options[] = {
    ETH_IP4_TCP(8), TCP_OPT(7, SYN), 0x02, 0x04, 0x05, 0xb4, 0x00, 0x03, 0x03,
    0x07
};

/* 36 NOPs then MSS: more kinds than PKT_OPT_LAYOUT_MAX. */
static const uint8_t tcp_many_nops[] = {
    ETH_IP4_TCP(40), TCP_OPT(15, SYN),
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    0x02, 0x04, 0x05, 0xb4
};

static const uint8_t tcp_data_offset_below_five[] = {
    ETH_IP4_TCP(0), TCP_OPT(3, ACK)
};

/* Data offset 8 (32 bytes) in a 20-byte segment; 12 trailer bytes follow. */
static const uint8_t tcp_data_offset_past_segment[] = {
    ETH_IP4_TCP(0), TCP_OPT(8, ACK), 0x02, 0x04, 0x05, 0xb4,
    0, 0, 0, 0, 0, 0, 0, 0
};

static const uint8_t tcp_syn_fin[] = { ETH_IP4_TCP(0), TCP_OPT(5, SYN | FIN) };
static const uint8_t tcp_syn_rst[] = { ETH_IP4_TCP(0), TCP_OPT(5, SYN | RST) };
static const uint8_t tcp_no_flags[] = { ETH_IP4_TCP(0), TCP_OPT(5, 0) };
static const uint8_t tcp_port_zero[] = {
    ETH_IP4_TCP(0), TCP(0, 443, 1, 0, 5, SYN, 1024)
};

/* ---- ICMP and ICMPv6 errors quoting TCP (RFC 792, RFC 4443) ---- */

/* IPv4 / IPv6 headers with the addresses given, and a router on the path:
 * 203.0.113.1 and 2001:db8:ffff::1. */
#define RTR4 203, 0, 113, 1
#define RTR6 0x20, 0x01, 0x0d, 0xb8, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01
#define IP4A(total, id, frag, ttl, proto, s, d) \
    0x45, 0x00, B16(total), B16(id), B16(frag), (ttl), (proto), 0x00, 0x00, s, d
#define IP6A(plen, nh, hops, s, d) 0x60, 0x00, 0x00, 0x00, B16(plen), (nh), (hops), \
    s, d

/* ICMP header: type, code, checksum 0, the second word. */
#define ICMP(type, code, word) (type), (code), 0x00, 0x00, B32(word)

/* The quoted SYN's first 8 bytes: what RFC 792 guarantees. */
#define SYN_8 B16(51000), B16(80), B32(0x01020304)

/* Port unreachable from the SYN's destination, quoting IP + 8 bytes. */
static const uint8_t icmp4_port_unreach_syn[] = {
    ETH(0x0800), IP4A(56, 0x7701, 0, 64, 1, DST4, SRC4), ICMP(3, 3, 0),
    IP4(60, 0x1c46, 0x4000, 64, 6), SYN_8
};

/* Administratively prohibited (RFC 1812 5.2.7.1) from a router, quoting
 * the whole SYN as it arrived there (TTL 63). */
static const uint8_t icmp4_admin_prohib_syn[] = {
    ETH(0x0800), IP4A(88, 0x0001, 0, 255, 1, RTR4, SRC4), ICMP(3, 13, 0),
    IP4(60, 0x1c46, 0x4000, 63, 6), TCP_SYN
};

/* Fragmentation needed, next-hop MTU 1400 (RFC 1191 4), for a 1500-byte
 * data segment of which 20 TCP header bytes are quoted. */
static const uint8_t icmp4_frag_needed[] = {
    ETH(0x0800), IP4A(68, 0x0002, 0, 255, 1, RTR4, SRC4), ICMP(3, 4, 1400),
    IP4(1500, 0x1c48, 0x4000, 63, 6),
    TCP(51000, 80, 0x01020305, 0x0a0b0c0d, 5, PSH | ACK, 502)
};

/* Time exceeded in transit, quoting a header with 4 option bytes (IHL 6). */
static const uint8_t icmp4_time_exceeded_options[] = {
    ETH(0x0800), IP4A(60, 0x0003, 0, 255, 1, RTR4, SRC4), ICMP(11, 0, 0),
    IP4X(0x46, 64, 0x1c46, 0x4000, 1, 6), 0x01, 0x01, 0x01, 0x00, SYN_8
};

static const uint8_t icmp4_echo_request[] = {
    ETH(0x0800), IP4(32, 0x0004, 0, 64, 1), ICMP(8, 0, 0x12340001),
    'p', 'i', 'n', 'g'
};

/* Port unreachable for a DNS query over UDP. */
static const uint8_t icmp4_port_unreach_udp[] = {
    ETH(0x0800), IP4A(56, 0x7702, 0, 64, 1, DST4, SRC4), ICMP(3, 3, 0),
    IP4(40, 0x1c49, 0, 64, 17), B16(5353), B16(53), B16(20), B16(0)
};

/* A whole frame whose quote stops 3 bytes into the TCP ports. */
static const uint8_t icmp4_quote_cut_in_ports[] = {
    ETH(0x0800), IP4A(51, 0x7703, 0, 64, 1, DST4, SRC4), ICMP(3, 3, 0),
    IP4(60, 0x1c46, 0x4000, 64, 6), B16(51000), 0x00
};

/* Quoting a non-first fragment (offset 1480): no TCP header in it. */
static const uint8_t icmp4_quote_later_fragment[] = {
    ETH(0x0800), IP4A(56, 0x7704, 0, 64, 1, DST4, SRC4), ICMP(3, 3, 0),
    IP4(548, 0x1c4a, 185, 64, 6), 'd', 'a', 't', 'a', 'd', 'a', 't', 'a'
};

/* An ICMPv4 error whose quote claims to be IPv6. */
static const uint8_t icmp4_quote_bad_version[] = {
    ETH(0x0800), IP4A(56, 0x7705, 0, 64, 1, DST4, SRC4), ICMP(3, 3, 0),
    IP4X(0x65, 60, 0x1c46, 0x4000, 64, 6), SYN_8
};

/* A non-first fragment of an ICMP datagram whose data looks like an error:
 * it is not decoded as ICMP. */
static const uint8_t icmp4_own_later_fragment[] = {
    ETH(0x0800), IP4A(56, 0x7706, 0x0003, 64, 1, DST4, SRC4), ICMP(3, 3, 0),
    IP4(60, 0x1c46, 0x4000, 64, 6), SYN_8
};

/* ICMPv6 port unreachable (RFC 4443 3.1 code 4) quoting the whole SYN. */
static const uint8_t icmp6_port_unreach_syn[] = {
    ETH(0x86dd), IP6A(88, 58, 64, DST6, SRC6), ICMP(1, 4, 0), IPV6_SYN
};

/* Packet too big, MTU 1280 (RFC 4443 3.2), quoting a 1500-byte segment's
 * headers. */
static const uint8_t icmp6_packet_too_big[] = {
    ETH(0x86dd), IP6A(68, 58, 255, RTR6, SRC6), ICMP(2, 0, 1280),
    IP6(1460, 6, 63), TCP(51000, 80, 0x01020305, 0x0a0b0c0d, 5, PSH | ACK, 502)
};

/* Hop limit exceeded, quoting a SYN behind hop-by-hop and destination
 * options headers. */
static const uint8_t icmp6_time_exceeded_ext[] = {
    IP6A(104, 58, 255, RTR6, SRC6), ICMP(3, 0, 0),
    IP6(56, 0, 1), EXT_PADN(60), EXT_PADN(6), TCP_SYN
};

/* Quoting a non-first fragment (offset 1232). */
static const uint8_t icmp6_quote_later_fragment[] = {
    IP6A(64, 58, 64, DST6, SRC6), ICMP(1, 4, 0),
    IP6(16, 44, 64), 6, 0, B16(1232), B32(0xdeadbeef), 'd', 'a', 't', 'a',
    'd', 'a', 't', 'a'
};

/* A quote with 9 extension headers: one more than PKT_MAX_IPV6_EXT. */
static const uint8_t icmp6_quote_too_many_ext[] = {
    IP6A(128, 58, 64, DST6, SRC6), ICMP(1, 4, 0), IP6(80, 0, 64),
    EXT_PADN(60), EXT_PADN(60), EXT_PADN(60), EXT_PADN(60), EXT_PADN(60),
    EXT_PADN(60), EXT_PADN(60), EXT_PADN(60), EXT_PADN(6), SYN_8
};

static const uint8_t icmp6_echo_request[] = {
    IP6A(12, 58, 64, SRC6, DST6), ICMP(128, 0, 0x12340001), 'p', 'i', 'n', 'g'
};

#define S(name, dlt, link_end, tcp_at, hdr_end) \
    { #name, dlt, name, sizeof name, link_end, tcp_at, hdr_end, 0 }
#define SI(name, dlt, link_end, icmp_at) \
    { #name, dlt, name, sizeof name, link_end, 0, icmp_at, icmp_at }

const dec_sample dec_samples[] = {
    S(eth_ipv4_syn, S_DLT_EN10MB, 14, 34, 74),
    S(eth_ipv4_ack_padded, S_DLT_EN10MB, 14, 34, 54),
    S(eth_ipv4_data, S_DLT_EN10MB, 14, 34, 66),
    S(eth_qinq_ipv4_syn, S_DLT_EN10MB, 22, 42, 82),
    S(eth_vlan_ipv6_syn, S_DLT_EN10MB, 18, 58, 98),
    S(eth_vlan_too_deep, S_DLT_EN10MB, 30, 0, 30),
    S(eth_llc_snap_ipv4_syn, S_DLT_EN10MB, 22, 42, 82),
    S(eth_llc_stp, S_DLT_EN10MB, 17, 0, 17),
    S(eth_arp, S_DLT_EN10MB, 14, 0, 14),
    S(sll_ipv4_syn, S_DLT_LINUX_SLL, 16, 36, 76),
    S(sll2_ipv6_syn, S_DLT_LINUX_SLL2, 20, 60, 100),
    S(raw_ipv4_syn, S_DLT_RAW, 0, 20, 60),
    S(raw_ipv6_syn, S_DLT_RAW_BSD, 0, 40, 80),
    S(raw_bad_version, S_LINKTYPE_RAW, 0, 0, 1),
    S(null_le_ipv4_syn, S_DLT_NULL, 4, 24, 64),
    S(null_be_ipv4_syn, S_DLT_NULL, 4, 24, 64),
    S(null_be_ipv6_freebsd, S_DLT_NULL, 4, 44, 84),
    S(null_le_ipv6_darwin, S_DLT_NULL, 4, 44, 84),
    S(null_le_ipv6_netbsd, S_DLT_NULL, 4, 44, 84),
    S(null_unknown_family, S_DLT_NULL, 4, 0, 4),
    S(loop_ipv4_syn, S_DLT_LOOP, 4, 24, 64),
    S(ipv4_options_syn, S_DLT_EN10MB, 14, 46, 86),
    S(ipv4_option_length_one, S_DLT_EN10MB, 14, 38, 58),
    S(ipv4_option_past_header, S_DLT_EN10MB, 14, 38, 58),
    S(ipv4_ihl_below_five, S_DLT_EN10MB, 14, 0, 34),
    S(ipv4_total_below_header, S_DLT_EN10MB, 14, 0, 34),
    S(ipv4_total_exceeds_frame, S_DLT_EN10MB, 14, 34, 54),
    S(ipv4_first_fragment_syn, S_DLT_EN10MB, 14, 34, 74),
    S(ipv4_later_fragment, S_DLT_EN10MB, 14, 0, 34),
    S(ipv4_later_fragment_udp, S_DLT_EN10MB, 14, 0, 34),
    S(ipv4_mf_with_df, S_DLT_EN10MB, 14, 34, 54),
    S(ipv4_fragment_past_65535, S_DLT_EN10MB, 14, 0, 34),
    S(ipv4_udp, S_DLT_EN10MB, 14, 0, 34),
    S(ipv6_ext_first_fragment_syn, S_LINKTYPE_RAW, 0, 64, 104),
    S(ipv6_ext_later_fragment, S_LINKTYPE_RAW, 0, 0, 64),
    S(ipv6_jumbo, S_DLT_IPV6, 0, 0, 48),
    S(ipv6_ah_ack, S_DLT_IPV6, 0, 64, 84),
    S(ipv6_routing_ack, S_DLT_IPV6, 0, 64, 84),
    S(ipv6_esp, S_DLT_IPV6, 0, 0, 40),
    S(ipv6_no_next_header, S_DLT_IPV6, 0, 0, 40),
    S(ipv6_too_many_ext, S_DLT_IPV6, 0, 0, 104),
    S(ipv6_payload_exceeds_frame, S_DLT_IPV6, 0, 40, 60),
    S(ipv6_ext_past_payload, S_DLT_IPV6, 0, 0, 40),
    S(tcp_opt_length_zero, S_DLT_EN10MB, 14, 34, 58),
    S(tcp_opt_length_one, S_DLT_EN10MB, 14, 34, 58),
    S(tcp_opt_length_past_header, S_DLT_EN10MB, 14, 34, 62),
    S(tcp_opt_kind_in_last_byte, S_DLT_EN10MB, 14, 34, 58),
    S(tcp_mss_bad_size, S_DLT_EN10MB, 14, 34, 62),
    S(tcp_wscale_bad_size, S_DLT_EN10MB, 14, 34, 62),
    S(tcp_sackok_bad_size, S_DLT_EN10MB, 14, 34, 58),
    S(tcp_ts_bad_size, S_DLT_EN10MB, 14, 34, 62),
    S(tcp_sack_bad_length, S_DLT_EN10MB, 14, 34, 62),
    S(tcp_sack_no_blocks, S_DLT_EN10MB, 14, 34, 58),
    S(tcp_sack_two_blocks, S_DLT_EN10MB, 14, 34, 74),
    S(tcp_duplicate_mss, S_DLT_EN10MB, 14, 34, 62),
    S(tcp_unknown_option, S_DLT_EN10MB, 14, 34, 66),
    S(tcp_eol_ends_options, S_DLT_EN10MB, 14, 34, 62),
    S(tcp_many_nops, S_DLT_EN10MB, 14, 34, 94),
    S(tcp_data_offset_below_five, S_DLT_EN10MB, 14, 34, 54),
    S(tcp_data_offset_past_segment, S_DLT_EN10MB, 14, 34, 54),
    S(tcp_syn_fin, S_DLT_EN10MB, 14, 34, 54),
    S(tcp_syn_rst, S_DLT_EN10MB, 14, 34, 54),
    S(tcp_no_flags, S_DLT_EN10MB, 14, 34, 54),
    S(tcp_port_zero, S_DLT_EN10MB, 14, 34, 54),
    SI(icmp4_port_unreach_syn, S_DLT_EN10MB, 14, 34),
    SI(icmp4_admin_prohib_syn, S_DLT_EN10MB, 14, 34),
    SI(icmp4_frag_needed, S_DLT_EN10MB, 14, 34),
    SI(icmp4_time_exceeded_options, S_DLT_EN10MB, 14, 34),
    SI(icmp4_echo_request, S_DLT_EN10MB, 14, 34),
    SI(icmp4_port_unreach_udp, S_DLT_EN10MB, 14, 34),
    SI(icmp4_quote_cut_in_ports, S_DLT_EN10MB, 14, 34),
    SI(icmp4_quote_later_fragment, S_DLT_EN10MB, 14, 34),
    SI(icmp4_quote_bad_version, S_DLT_EN10MB, 14, 34),
    S(icmp4_own_later_fragment, S_DLT_EN10MB, 14, 0, 34),
    SI(icmp6_port_unreach_syn, S_DLT_EN10MB, 14, 54),
    SI(icmp6_packet_too_big, S_DLT_EN10MB, 14, 54),
    SI(icmp6_time_exceeded_ext, S_DLT_IPV6, 0, 40),
    SI(icmp6_quote_later_fragment, S_LINKTYPE_RAW, 0, 40),
    SI(icmp6_echo_request, S_DLT_IPV6, 0, 40),
    SI(icmp6_quote_too_many_ext, S_DLT_IPV6, 0, 40),
};

const size_t dec_sample_count = sizeof dec_samples / sizeof dec_samples[0];

const dec_sample *dec_sample_find(const char *name)
{
    for (size_t i = 0; i < dec_sample_count; i++)
        if (strcmp(dec_samples[i].name, name) == 0)
            return &dec_samples[i];
    return NULL;
}
