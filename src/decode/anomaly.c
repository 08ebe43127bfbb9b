/* anomaly.c - names and classes of the decode anomalies, from one table. */
#include "tcpdoctor/packet.h"

typedef struct anomaly_info {
    const char *name;               /* enum name minus PKT_AN_, lower case */
    enum pkt_anomaly_class cls;
} anomaly_info;

/* Indexed by enum pkt_anomaly.  The names are part of the JSON output:
 * never rename one, only append. */
static const anomaly_info anomaly_table[] = {
    [PKT_AN_LINK_TRUNCATED]            = { "link_truncated",            PKT_ANC_TRUNCATED },
    [PKT_AN_VLAN_TOO_DEEP]             = { "vlan_too_deep",             PKT_ANC_UNSUPPORTED },
    [PKT_AN_IP_VERSION_MISMATCH]       = { "ip_version_mismatch",       PKT_ANC_INVALID },
    [PKT_AN_IPV4_TRUNCATED]            = { "ipv4_truncated",            PKT_ANC_TRUNCATED },
    [PKT_AN_IPV4_BAD_IHL]              = { "ipv4_bad_ihl",              PKT_ANC_INVALID },
    [PKT_AN_IPV4_BAD_TOTAL_LENGTH]     = { "ipv4_bad_total_length",     PKT_ANC_INVALID },
    [PKT_AN_IPV4_LENGTH_EXCEEDS_FRAME] = { "ipv4_length_exceeds_frame", PKT_ANC_INVALID },
    [PKT_AN_IPV4_BAD_OPTION]           = { "ipv4_bad_option",           PKT_ANC_INVALID },
    [PKT_AN_IPV4_BAD_FRAGMENT]         = { "ipv4_bad_fragment",         PKT_ANC_INVALID },
    [PKT_AN_IPV6_TRUNCATED]            = { "ipv6_truncated",            PKT_ANC_TRUNCATED },
    [PKT_AN_IPV6_LENGTH_EXCEEDS_FRAME] = { "ipv6_length_exceeds_frame", PKT_ANC_INVALID },
    [PKT_AN_IPV6_EXT_TRUNCATED]        = { "ipv6_ext_truncated",        PKT_ANC_TRUNCATED },
    [PKT_AN_IPV6_EXT_TOO_MANY]         = { "ipv6_ext_too_many",         PKT_ANC_UNSUPPORTED },
    [PKT_AN_IPV6_JUMBO]                = { "ipv6_jumbo",                PKT_ANC_UNSUPPORTED },
    [PKT_AN_TCP_TRUNCATED]             = { "tcp_truncated",             PKT_ANC_TRUNCATED },
    [PKT_AN_TCP_BAD_DATA_OFFSET]       = { "tcp_bad_data_offset",       PKT_ANC_INVALID },
    [PKT_AN_TCP_OPTIONS_TRUNCATED]     = { "tcp_options_truncated",     PKT_ANC_TRUNCATED },
    [PKT_AN_TCP_OPT_BAD_LENGTH]        = { "tcp_opt_bad_length",        PKT_ANC_INVALID },
    [PKT_AN_TCP_OPT_BAD_SIZE]          = { "tcp_opt_bad_size",          PKT_ANC_INVALID },
    [PKT_AN_TCP_OPT_BAD_SACK]          = { "tcp_opt_bad_sack",          PKT_ANC_INVALID },
    [PKT_AN_TCP_OPT_DUPLICATE]         = { "tcp_opt_duplicate",         PKT_ANC_INVALID },
    [PKT_AN_TCP_PORT_ZERO]             = { "tcp_port_zero",             PKT_ANC_INVALID },
    [PKT_AN_TCP_SYN_FIN]               = { "tcp_syn_fin",               PKT_ANC_INVALID },
    [PKT_AN_TCP_SYN_RST]               = { "tcp_syn_rst",               PKT_ANC_INVALID },
    [PKT_AN_TCP_NO_FLAGS]              = { "tcp_no_flags",              PKT_ANC_INVALID },
    [PKT_AN_SNAPLEN_TRUNCATED]         = { "snaplen_truncated",         PKT_ANC_INFO },
    [PKT_AN_CAPLEN_EXCEEDS_LEN]        = { "caplen_exceeds_len",        PKT_ANC_INVALID },
    [PKT_AN_IPV4_TSO_LENGTH_ZERO]      = { "ipv4_tso_length_zero",      PKT_ANC_INFO },
    [PKT_AN_TCP_HEADER_FRAGMENTED]     = { "tcp_header_fragmented",     PKT_ANC_UNSUPPORTED },
    [PKT_AN_ICMP_TRUNCATED]            = { "icmp_truncated",            PKT_ANC_TRUNCATED },
    [PKT_AN_ICMP_QUOTE_TRUNCATED]      = { "icmp_quote_truncated",      PKT_ANC_TRUNCATED },
    [PKT_AN_ICMP_QUOTE_INVALID]        = { "icmp_quote_invalid",        PKT_ANC_INVALID },
};

/* One entry per anomaly.  A gap in the middle would leave a NULL name, which
 * tests/decode/test_anomaly.c catches; this catches a missing last entry. */
_Static_assert(sizeof anomaly_table / sizeof anomaly_table[0] == PKT_AN_COUNT,
               "anomaly_table needs one entry per enum pkt_anomaly");
/* v->anomalies is a uint64_t bit set. */
_Static_assert(PKT_AN_COUNT <= 64, "too many anomalies for pkt_view.anomalies");

static bool anomaly_valid(enum pkt_anomaly a)
{
    return (unsigned)a < PKT_AN_COUNT;
}

const char *pkt_anomaly_name(enum pkt_anomaly a)
{
    return anomaly_valid(a) ? anomaly_table[a].name : "unknown";
}

/* Out-of-range values are called invalid: they can only come from a bug. */
enum pkt_anomaly_class pkt_anomaly_class(enum pkt_anomaly a)
{
    return anomaly_valid(a) ? anomaly_table[a].cls : PKT_ANC_INVALID;
}

const char *pkt_anomaly_class_name(enum pkt_anomaly_class c)
{
    switch (c) {
    case PKT_ANC_TRUNCATED:
        return "truncated";
    case PKT_ANC_INVALID:
        return "invalid";
    case PKT_ANC_UNSUPPORTED:
        return "unsupported";
    case PKT_ANC_INFO:
        return "info";
    }
    return "unknown";
}
