/* decode.c - pkt_decode(): capture-record checks and the link layers, down to the IP header. */
#include "decode_internal.h"

/*
 * Link types by DLT_ value (libpcap pcap/dlt.h, pcap-linktype(7)).  They are
 * spelled out here so the decoder does not need libpcap headers; the tests
 * check them against <pcap/dlt.h>.
 * Limit: raw IP is DLT 12 almost everywhere and 14 on OpenBSD and BSD/OS;
 * OpenBSD uses 12 for DLT_LOOP, which we do not follow (12 is raw IP here).
 */
enum {
    LT_NULL = 0,            /* BSD loopback, AF_ value in host byte order */
    LT_EN10MB = 1,          /* Ethernet II / IEEE 802.3 */
    LT_RAW = 12,            /* raw IP, version nibble decides */
    LT_RAW_BSD = 14,        /* DLT_RAW on OpenBSD and BSD/OS */
    LT_RAW_LINKTYPE = 101,  /* LINKTYPE_RAW as stored in capture files */
    LT_LOOP = 108,          /* OpenBSD loopback, AF_ value in network order */
    LT_LINUX_SLL = 113,     /* Linux cooked capture v1 */
    LT_IPV4 = 228,          /* raw IPv4 only */
    LT_IPV6 = 229,          /* raw IPv6 only */
    LT_LINUX_SLL2 = 276     /* Linux cooked capture v2 */
};

/* EtherTypes (IEEE Registration Authority) and nearby values. */
enum {
    ET_MAX_LENGTH = 1500,   /* IEEE 802.3 3.2.6: up to 1500 it is a length */
    ET_IPV4 = 0x0800,
    ET_IPV6 = 0x86dd,
    ET_8021Q = 0x8100,      /* IEEE 802.1Q customer VLAN tag */
    ET_8021AD = 0x88a8,     /* IEEE 802.1ad service VLAN tag (QinQ) */
    ET_QINQ_OLD = 0x9100,   /* pre-802.1ad vendor QinQ tag */
    SLL_PROTO_LLC = 0x0004  /* Linux ETH_P_802_2: an 802.2 LLC frame follows */
};

/* BSD address families seen in DLT_NULL / DLT_LOOP headers (pcap-linktype(7)). */
enum {
    BSD_AF_INET = 2,
    BSD_AF_INET6_NETBSD = 24,   /* NetBSD, OpenBSD, BSD/OS */
    BSD_AF_INET6_FREEBSD = 28,  /* FreeBSD, DragonFly BSD */
    BSD_AF_INET6_DARWIN = 30    /* macOS, iOS */
};

bool pkt_linktype_supported(int dlt)
{
    switch (dlt) {
    case LT_NULL: case LT_EN10MB: case LT_RAW: case LT_RAW_BSD:
    case LT_RAW_LINKTYPE: case LT_LOOP: case LT_LINUX_SLL: case LT_IPV4:
    case LT_IPV6: case LT_LINUX_SLL2:
        return true;
    default:
        return false;
    }
}

static enum pkt_status link_truncated(pkt_view *v)
{
    pkt_dec_flag(v, PKT_AN_LINK_TRUNCATED);
    return PKT_MALFORMED;
}

/*
 * The IP header at c.  want is 4 or 6 when the link layer named the version
 * (EtherType, address family, DLT_IPV4/DLT_IPV6) and 0 for raw IP, where
 * the version nibble decides (RFC 791 3.1, RFC 8200 3).  An empty raw
 * frame names no version; it is counted as ipv4_truncated.
 */
static enum pkt_status link_ip(pkt_view *v, pkt_cursor c, uint32_t lost,
                               unsigned want)
{
    uint8_t first;
    unsigned version;

    if (!cur_peek_u8(&c, 0, &first)) {
        pkt_dec_flag(v, want == 6 ? PKT_AN_IPV6_TRUNCATED
                                  : PKT_AN_IPV4_TRUNCATED);
        return PKT_MALFORMED;
    }
    version = first >> 4;
    if (want == 0 && (version == 4 || version == 6))
        want = version;
    if (version != want) {
        pkt_dec_flag(v, PKT_AN_IP_VERSION_MISMATCH);
        return PKT_MALFORMED;
    }
    return version == 4 ? pkt_dec_ipv4(v, c, lost) : pkt_dec_ipv6(v, c, lost);
}

static enum pkt_status link_by_ethertype(pkt_view *v, pkt_cursor c,
                                         uint32_t lost, uint16_t type)
{
    switch (type) {
    case ET_IPV4:
        return link_ip(v, c, lost, 4);
    case ET_IPV6:
        return link_ip(v, c, lost, 6);
    default:
        return PKT_NOT_IP;
    }
}

/*
 * IEEE 802.2 LLC header (DSAP, SSAP, control) and, for DSAP = SSAP = 0xAA
 * with an unnumbered-information control byte (0x03), the SNAP header: a
 * 3-byte OUI and an EtherType.  Only OUI 00-00-00 (RFC 1042) and 00-00-F8
 * (IEEE 802.1H) carry EtherTypes; other OUIs and other LLC payloads
 * (spanning tree, NetBIOS, IPX) are not IP.
 */
static enum pkt_status link_llc(pkt_view *v, pkt_cursor c, uint32_t lost)
{
    uint8_t dsap, ssap, ctl, oui[3];
    uint16_t type;

    if (!cur_u8(&c, &dsap) || !cur_u8(&c, &ssap) || !cur_u8(&c, &ctl))
        return link_truncated(v);
    if (dsap != 0xaa || ssap != 0xaa || ctl != 0x03)
        return PKT_NOT_IP;
    if (!cur_bytes(&c, oui, sizeof oui) || !cur_be16(&c, &type))
        return link_truncated(v);
    if (oui[0] != 0 || oui[1] != 0 || (oui[2] != 0 && oui[2] != 0xf8))
        return PKT_NOT_IP;
    return link_by_ethertype(v, c, lost, type);
}

static bool is_vlan_tpid(uint16_t type)
{
    return type == ET_8021Q || type == ET_8021AD || type == ET_QINQ_OLD;
}

/*
 * An EtherType and what follows it: VLAN tags (IEEE 802.1Q 9.6: TPID, then
 * a 16-bit TCI whose low 12 bits are the VLAN id, then the next type),
 * at most PKT_MAX_VLAN of them; then a length (802.3 + LLC) or a type.
 */
static enum pkt_status link_ethertype(pkt_view *v, pkt_cursor c,
                                      uint32_t lost, uint16_t type)
{
    while (is_vlan_tpid(type)) {
        uint16_t tci;

        if (v->vlan_count == PKT_MAX_VLAN) {
            pkt_dec_flag(v, PKT_AN_VLAN_TOO_DEEP);
            return PKT_MALFORMED;
        }
        if (!cur_be16(&c, &tci) || !cur_be16(&c, &type))
            return link_truncated(v);
        v->vlan[v->vlan_count++] = tci & 0x0fff;
    }
    if (type <= ET_MAX_LENGTH)
        return link_llc(v, c, lost);
    return link_by_ethertype(v, c, lost, type);
}

/* Ethernet II / IEEE 802.3 MAC header: destination, source, type/length. */
static enum pkt_status link_en10mb(pkt_view *v, pkt_cursor c, uint32_t lost)
{
    uint16_t type;

    if (!cur_skip(&c, 12) || !cur_be16(&c, &type))
        return link_truncated(v);
    return link_ethertype(v, c, lost, type);
}

/*
 * The protocol field of a Linux cooked header (pcap-linktype(7)
 * LINKTYPE_LINUX_SLL): an EtherType, or for values up to 1500 a Linux
 * ETH_P_* pseudo-type, of which only 4 (802.2 LLC follows) can lead to IP.
 */
static enum pkt_status link_sll_protocol(pkt_view *v, pkt_cursor c,
                                         uint32_t lost, uint16_t proto)
{
    if (proto == SLL_PROTO_LLC)
        return link_llc(v, c, lost);
    if (proto <= ET_MAX_LENGTH)
        return PKT_NOT_IP;
    return link_ethertype(v, c, lost, proto);
}

/* LINKTYPE_LINUX_SLL: packet type, ARPHRD_ type, address length, 8 address
 * bytes, protocol (16 bytes, protocol at offset 14). */
static enum pkt_status link_sll(pkt_view *v, pkt_cursor c, uint32_t lost)
{
    uint16_t proto;

    if (!cur_skip(&c, 14) || !cur_be16(&c, &proto))
        return link_truncated(v);
    return link_sll_protocol(v, c, lost, proto);
}

/* LINKTYPE_LINUX_SLL2: protocol, reserved, interface index, ARPHRD_ type,
 * packet type, address length, 8 address bytes (20 bytes, protocol first). */
static enum pkt_status link_sll2(pkt_view *v, pkt_cursor c, uint32_t lost)
{
    uint16_t proto;

    if (!cur_be16(&c, &proto) || !cur_skip(&c, 18))
        return link_truncated(v);
    return link_sll_protocol(v, c, lost, proto);
}

static uint32_t bswap32(uint32_t x)
{
    return x >> 24 | (x >> 8 & 0xff00) | (x << 8 & 0xff0000) | x << 24;
}

/*
 * LINKTYPE_NULL and LINKTYPE_LOOP: a 4-byte BSD address family.  NULL
 * stores it in the byte order of the host that wrote the capture, so
 * (pcap-linktype(7)) a reader must accept both orders: every family value
 * is small, so one with bits in the upper half is the other order.  LOOP
 * stores it in network byte order.
 */
static enum pkt_status link_null(pkt_view *v, pkt_cursor c, uint32_t lost,
                                 bool network_order)
{
    uint32_t family;

    if (!cur_be32(&c, &family))
        return link_truncated(v);
    if (!network_order && (family & 0xffff0000u) != 0)
        family = bswap32(family);
    switch (family) {
    case BSD_AF_INET:
        return link_ip(v, c, lost, 4);
    case BSD_AF_INET6_NETBSD:
    case BSD_AF_INET6_FREEBSD:
    case BSD_AF_INET6_DARWIN:
        return link_ip(v, c, lost, 6);
    default:
        return PKT_NOT_IP;
    }
}

/*
 * Capture record first (caplen against wirelen), then the link layer.
 * Everything after the link header works on one cursor over the captured
 * bytes plus "lost", the bytes the capture dropped, so that every layer can
 * tell a snaplen cut (lost > 0) from a header that lies about its length.
 * An unsupported dlt yields PKT_NOT_IP with no anomaly: capture sources
 * refuse such link types before any frame reaches us.
 */
enum pkt_status pkt_decode(int dlt, const uint8_t *data, uint32_t caplen,
                           uint32_t wirelen, pkt_view *v)
{
    static const uint8_t no_bytes[1];
    static const pkt_view zero_view;
    uint64_t num = v->num;
    int64_t ts_ns = v->ts_ns;
    uint16_t source = v->source;
    pkt_cursor c;
    uint32_t lost;

    /* The one reset of the whole view.  A copy of a zero view, not
     * memset(): for this 216-byte struct GCC -O3 emits `rep stosq`, whose
     * start-up cost was 40% of a whole Ethernet/IPv4/TCP decode; the copy
     * is a few vector moves. */
    *v = zero_view;
    v->num = num;
    v->ts_ns = ts_ns;
    v->source = source;

    if (data == NULL) {
        data = no_bytes;
        caplen = 0;
    }
    /* A record cannot hold more than was on the wire: trust the bytes we
     * have and treat the wire length as caplen (stored so in v->wirelen). */
    if (caplen > wirelen) {
        pkt_dec_flag(v, PKT_AN_CAPLEN_EXCEEDS_LEN);
        wirelen = caplen;
    } else if (caplen < wirelen) {
        pkt_dec_flag(v, PKT_AN_SNAPLEN_TRUNCATED);
    }
    v->caplen = caplen;
    v->wirelen = wirelen;
    c = cur_make(data, caplen);
    lost = wirelen - caplen;

    switch (dlt) {
    case LT_EN10MB:
        return link_en10mb(v, c, lost);
    case LT_LINUX_SLL:
        return link_sll(v, c, lost);
    case LT_LINUX_SLL2:
        return link_sll2(v, c, lost);
    case LT_RAW: case LT_RAW_BSD: case LT_RAW_LINKTYPE:
        return link_ip(v, c, lost, 0);
    case LT_IPV4:
        return link_ip(v, c, lost, 4);
    case LT_IPV6:
        return link_ip(v, c, lost, 6);
    case LT_NULL:
        return link_null(v, c, lost, false);
    case LT_LOOP:
        return link_null(v, c, lost, true);
    default:
        return PKT_NOT_IP;
    }
}
