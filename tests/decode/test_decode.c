/* test_decode.c - pkt_decode(): record checks, link layers, and every sample cut at every length. */
#include "helpers.h"

#include <pcap/pcap.h>

/* ---- one frame, every field ---- */

static void ethernet_ipv4_syn_decodes_every_field(void **state)
{
    static const uint8_t layout[] = { 2, 4, 8, 1, 3 };
    pkt_view v;
    (void)state;

    memset(&v, 0, sizeof v);
    v.num = 7;
    v.ts_ns = 1700000000123456789;
    v.source = 2;
    const dec_sample *s = sample("eth_ipv4_syn");
    assert_int_equal(decode_cut(s, s->len, &v), PKT_TCP);

    assert_int_equal(v.num, 7);
    assert_int_equal(v.ts_ns, 1700000000123456789);
    assert_int_equal(v.source, 2);
    assert_int_equal(v.caplen, 74);
    assert_int_equal(v.wirelen, 74);
    assert_int_equal(v.vlan_count, 0);
    assert_int_equal(v.ip_version, 4);
    assert_int_equal(v.ip_proto, 6);
    assert_int_equal(v.ttl, 64);
    assert_true(v.ip_df);
    assert_int_equal(v.ip_id, 0x1c46);
    assert_int_equal(v.ip_len, 60);
    assert_addr(&v.src, "192.0.2.10");
    assert_addr(&v.dst, "198.51.100.20");
    assert_true(pkt_addr_is_v4(&v.src));
    assert_false(v.is_fragment);
    assert_false(v.frag_more);
    assert_int_equal(v.frag_offset, 0);
    assert_int_equal(v.frag_id, 0x1c46);

    assert_true(v.has_tcp);
    assert_true(v.tcp_opts_ok);
    assert_int_equal(v.sport, 51000);
    assert_int_equal(v.dport, 80);
    assert_int_equal(v.seq, 0x01020304);
    assert_int_equal(v.ack, 0);
    assert_int_equal(v.flags, PKT_TCP_SYN);
    assert_int_equal(v.tcp_hlen, 40);
    assert_int_equal(v.window, 64240);
    assert_int_equal(v.payload_len, 0);
    assert_int_equal(v.payload_captured, 0);

    assert_true(v.opt.has_mss);
    assert_int_equal(v.opt.mss, 1460);
    assert_true(v.opt.sack_perm);
    assert_true(v.opt.has_ts);
    assert_int_equal(v.opt.tsval, 0x00abcdef);
    assert_int_equal(v.opt.tsecr, 0);
    assert_true(v.opt.has_wscale);
    assert_int_equal(v.opt.wscale, 7);
    assert_int_equal(v.opt.sack_blocks, 0);
    assert_int_equal(v.opt.layout_len, sizeof layout);
    assert_memory_equal(v.opt.layout, layout, sizeof layout);
    assert_anomalies(&v, 0);
}

static void data_segment_counts_payload_from_ip_length(void **state)
{
    pkt_view v;
    (void)state;

    assert_int_equal(decode_sample("eth_ipv4_data", &v), PKT_TCP);
    assert_int_equal(v.flags, PKT_TCP_PSH | PKT_TCP_ACK);
    assert_int_equal(v.tcp_hlen, 32);
    assert_int_equal(v.payload_len, 10);
    assert_int_equal(v.payload_captured, 10);
    assert_true(v.opt.has_ts);
    assert_int_equal(v.opt.tsval, 0x00abcdf0);
    assert_int_equal(v.opt.tsecr, 0x11223344);
    assert_false(v.opt.has_mss);
    assert_anomalies(&v, 0);
}

static void view_is_reset_between_frames(void **state)
{
    pkt_view v;
    (void)state;

    assert_int_equal(decode_sample("eth_qinq_ipv4_syn", &v), PKT_TCP);
    v.num = 3;
    const dec_sample *s = sample("eth_arp");
    assert_int_equal(decode_cut(s, s->len, &v), PKT_NOT_IP);
    assert_int_equal(v.num, 3);
    assert_int_equal(v.vlan_count, 0);
    assert_int_equal(v.vlan[0], 0);
    assert_int_equal(v.ip_version, 0);
    assert_false(v.has_tcp);
    assert_int_equal(v.sport, 0);
    assert_false(v.opt.has_mss);
    assert_int_equal(v.opt.layout_len, 0);
    assert_anomalies(&v, 0);
}

/* ---- capture record ---- */

static void caplen_above_wirelen_is_flagged_and_wirelen_raised(void **state)
{
    const dec_sample *s = sample("eth_ipv4_syn");
    pkt_view v;
    (void)state;

    memset(&v, 0, sizeof v);
    assert_int_equal(decode_bytes(s->dlt, s->bytes, s->len, 60, &v), PKT_TCP);
    assert_int_equal(v.caplen, 74);
    assert_int_equal(v.wirelen, 74);
    assert_anomalies(&v, an(PKT_AN_CAPLEN_EXCEEDS_LEN));
}

static void snaplen_cut_in_payload_keeps_payload_len(void **state)
{
    const dec_sample *s = sample("eth_ipv4_data");
    pkt_view v;
    (void)state;

    memset(&v, 0, sizeof v);
    assert_int_equal(decode_cut(s, 70, &v), PKT_TCP);
    assert_int_equal(v.caplen, 70);
    assert_int_equal(v.wirelen, 76);
    assert_int_equal(v.payload_len, 10);
    assert_int_equal(v.payload_captured, 4);
    assert_true(v.tcp_opts_ok);
    assert_anomalies(&v, an(PKT_AN_SNAPLEN_TRUNCATED));
}

static void empty_frame_is_link_truncated(void **state)
{
    pkt_view v;
    (void)state;

    memset(&v, 0, sizeof v);
    assert_int_equal(pkt_decode(DLT_EN10MB, NULL, 0, 0, &v), PKT_MALFORMED);
    assert_anomalies(&v, an(PKT_AN_LINK_TRUNCATED));
    assert_int_equal(pkt_decode(DLT_RAW, NULL, 0, 0, &v), PKT_MALFORMED);
    assert_anomalies(&v, an(PKT_AN_IPV4_TRUNCATED));
    assert_int_equal(pkt_decode(DLT_IPV6, NULL, 0, 0, &v), PKT_MALFORMED);
    assert_anomalies(&v, an(PKT_AN_IPV6_TRUNCATED));
}

/* ---- link types ---- */

static void supported_linktypes_match_libpcap_numbers(void **state)
{
    (void)state;

    assert_int_equal(S_DLT_NULL, DLT_NULL);
    assert_int_equal(S_DLT_EN10MB, DLT_EN10MB);
    assert_int_equal(S_DLT_RAW, DLT_RAW);
    assert_int_equal(S_DLT_LOOP, DLT_LOOP);
    assert_int_equal(S_DLT_LINUX_SLL, DLT_LINUX_SLL);
    assert_int_equal(S_DLT_LINUX_SLL2, DLT_LINUX_SLL2);
    assert_int_equal(S_DLT_IPV4, DLT_IPV4);
    assert_int_equal(S_DLT_IPV6, DLT_IPV6);

    static const int yes[] = { DLT_NULL, DLT_EN10MB, DLT_RAW, 12, 14, 101,
                               DLT_LOOP, DLT_LINUX_SLL, DLT_LINUX_SLL2,
                               DLT_IPV4, DLT_IPV6 };
    static const int no[] = { -1, DLT_PPP, DLT_IEEE802_11,
                              DLT_IEEE802_11_RADIO, DLT_NFLOG, 100, 1000 };
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
        assert_true(pkt_linktype_supported(yes[i]));
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        assert_false(pkt_linktype_supported(no[i]));
}

static void unsupported_linktype_is_not_ip(void **state)
{
    const dec_sample *s = sample("eth_ipv4_syn");
    pkt_view v;
    (void)state;

    memset(&v, 0, sizeof v);
    assert_int_equal(decode_bytes(DLT_PPP, s->bytes, s->len, s->len, &v),
                     PKT_NOT_IP);
    assert_anomalies(&v, 0);
}

static void qinq_tags_are_recorded_outermost_first(void **state)
{
    pkt_view v;
    (void)state;

    assert_int_equal(decode_sample("eth_qinq_ipv4_syn", &v), PKT_TCP);
    assert_int_equal(v.vlan_count, 2);
    assert_int_equal(v.vlan[0], 100);
    assert_int_equal(v.vlan[1], 12);
    assert_int_equal(v.sport, 51000);
    assert_int_equal(v.opt.mss, 1460);
    assert_anomalies(&v, 0);
}

static void vlan_tag_carries_ipv6(void **state)
{
    pkt_view v;
    (void)state;

    assert_int_equal(decode_sample("eth_vlan_ipv6_syn", &v), PKT_TCP);
    assert_int_equal(v.vlan_count, 1);
    assert_int_equal(v.vlan[0], 5);
    assert_int_equal(v.ip_version, 6);
    assert_addr(&v.src, "2001:db8::10");
    assert_addr(&v.dst, "2001:db8:0:1::20");
    assert_anomalies(&v, 0);
}

static void fifth_vlan_tag_is_too_deep(void **state)
{
    pkt_view v;
    (void)state;

    assert_int_equal(decode_sample("eth_vlan_too_deep", &v), PKT_MALFORMED);
    assert_int_equal(v.vlan_count, PKT_MAX_VLAN);
    assert_int_equal(v.vlan[0], 1);
    assert_int_equal(v.vlan[3], 4);
    assert_int_equal(v.ip_version, 0);
    assert_anomalies(&v, an(PKT_AN_VLAN_TOO_DEEP));
}

static void llc_snap_frame_carries_ipv4(void **state)
{
    pkt_view v;
    (void)state;

    assert_int_equal(decode_sample("eth_llc_snap_ipv4_syn", &v), PKT_TCP);
    assert_int_equal(v.ip_version, 4);
    assert_int_equal(v.sport, 51000);
    assert_int_equal(v.payload_len, 0);
    assert_anomalies(&v, 0);
}

static void llc_without_snap_is_not_ip(void **state)
{
    pkt_view v;
    (void)state;

    assert_int_equal(decode_sample("eth_llc_stp", &v), PKT_NOT_IP);
    assert_int_equal(v.ip_version, 0);
    assert_anomalies(&v, 0);
}

static void arp_is_not_ip(void **state)
{
    pkt_view v;
    (void)state;

    assert_int_equal(decode_sample("eth_arp", &v), PKT_NOT_IP);
    assert_anomalies(&v, 0);
}

static void ethertype_ipv6_with_ipv4_inside_is_version_mismatch(void **state)
{
    const dec_sample *s = sample("eth_ipv4_syn");
    uint8_t f[128];
    pkt_view v;
    (void)state;

    memcpy(f, s->bytes, s->len);
    f[12] = 0x86;
    f[13] = 0xdd;
    memset(&v, 0, sizeof v);
    assert_int_equal(decode_bytes(DLT_EN10MB, f, s->len, s->len, &v),
                     PKT_MALFORMED);
    assert_int_equal(v.ip_version, 0);
    assert_anomalies(&v, an(PKT_AN_IP_VERSION_MISMATCH));
}

static void linux_sll_carries_ipv4(void **state)
{
    pkt_view v;
    (void)state;

    assert_int_equal(decode_sample("sll_ipv4_syn", &v), PKT_TCP);
    assert_int_equal(v.ip_version, 4);
    assert_addr(&v.src, "192.0.2.10");
    assert_int_equal(v.opt.wscale, 7);
    assert_anomalies(&v, 0);
}

static void linux_sll2_carries_ipv6(void **state)
{
    pkt_view v;
    (void)state;

    assert_int_equal(decode_sample("sll2_ipv6_syn", &v), PKT_TCP);
    assert_int_equal(v.ip_version, 6);
    assert_int_equal(v.ip_len, 80);
    assert_addr(&v.dst, "2001:db8:0:1::20");
    assert_int_equal(v.seq, 0x01020304);
    assert_anomalies(&v, 0);
}

static void raw_ip_version_nibble_decides(void **state)
{
    static const int raw[] = { 12, 14, 101 };
    const dec_sample *v4 = sample("raw_ipv4_syn");
    const dec_sample *v6 = sample("raw_ipv6_syn");
    pkt_view v;
    (void)state;

    for (size_t i = 0; i < sizeof raw / sizeof raw[0]; i++) {
        memset(&v, 0, sizeof v);
        assert_int_equal(decode_bytes(raw[i], v4->bytes, v4->len, v4->len, &v),
                         PKT_TCP);
        assert_int_equal(v.ip_version, 4);
        assert_int_equal(decode_bytes(raw[i], v6->bytes, v6->len, v6->len, &v),
                         PKT_TCP);
        assert_int_equal(v.ip_version, 6);
        assert_anomalies(&v, 0);
    }
}

static void raw_ip_with_version_five_is_mismatch(void **state)
{
    pkt_view v;
    (void)state;

    assert_int_equal(decode_sample("raw_bad_version", &v), PKT_MALFORMED);
    assert_int_equal(v.ip_version, 0);
    assert_anomalies(&v, an(PKT_AN_IP_VERSION_MISMATCH));
}

static void dlt_ipv4_and_ipv6_insist_on_their_version(void **state)
{
    const dec_sample *v4 = sample("raw_ipv4_syn");
    const dec_sample *v6 = sample("raw_ipv6_syn");
    pkt_view v;
    (void)state;

    memset(&v, 0, sizeof v);
    assert_int_equal(decode_bytes(DLT_IPV4, v4->bytes, v4->len, v4->len, &v),
                     PKT_TCP);
    assert_int_equal(decode_bytes(DLT_IPV6, v6->bytes, v6->len, v6->len, &v),
                     PKT_TCP);
    assert_int_equal(decode_bytes(DLT_IPV4, v6->bytes, v6->len, v6->len, &v),
                     PKT_MALFORMED);
    assert_anomalies(&v, an(PKT_AN_IP_VERSION_MISMATCH));
    assert_int_equal(decode_bytes(DLT_IPV6, v4->bytes, v4->len, v4->len, &v),
                     PKT_MALFORMED);
    assert_anomalies(&v, an(PKT_AN_IP_VERSION_MISMATCH));
}

static void null_family_is_read_in_either_byte_order(void **state)
{
    static const struct { const char *name; uint8_t version; } cases[] = {
        { "null_le_ipv4_syn", 4 },
        { "null_be_ipv4_syn", 4 },
        { "null_be_ipv6_freebsd", 6 },
        { "null_le_ipv6_darwin", 6 },
        { "null_le_ipv6_netbsd", 6 },
    };
    pkt_view v;
    (void)state;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(decode_sample(cases[i].name, &v), PKT_TCP);
        assert_int_equal(v.ip_version, cases[i].version);
        assert_int_equal(v.sport, 51000);
        assert_anomalies(&v, 0);
    }
}

static void null_with_unknown_family_is_not_ip(void **state)
{
    pkt_view v;
    (void)state;

    assert_int_equal(decode_sample("null_unknown_family", &v), PKT_NOT_IP);
    assert_anomalies(&v, 0);
}

static void loop_reads_family_in_network_order_only(void **state)
{
    const dec_sample *le = sample("null_le_ipv4_syn");
    pkt_view v;
    (void)state;

    assert_int_equal(decode_sample("loop_ipv4_syn", &v), PKT_TCP);
    assert_int_equal(v.ip_version, 4);
    assert_int_equal(decode_bytes(DLT_LOOP, le->bytes, le->len, le->len, &v),
                     PKT_NOT_IP);
}

/* ---- the truncation sweep ---- */

static bool any_truncated(uint64_t bits)
{
    for (int a = 0; a < PKT_AN_COUNT; a++)
        if ((bits & an((enum pkt_anomaly)a)) &&
            pkt_anomaly_class((enum pkt_anomaly)a) == PKT_ANC_TRUNCATED)
            return true;
    return false;
}

/* On failure, say which sample and cut before cmocka prints both sides. */
static void expect_u(const dec_sample *s, uint32_t n, const char *what,
                     uint64_t got, uint64_t want)
{
    if (got != want) {
        print_error("%s cut to %u of %u bytes: %s\n", s->name, n, s->len, what);
        assert_int_equal(got, want);
    }
}

static void expect_an(const dec_sample *s, uint32_t n, const pkt_view *v,
                      const char *what, bool ok)
{
    char names[1024];

    if (!ok)
        fail_msg("%s cut to %u of %u bytes: expected %s, anomalies are [%s]",
                 s->name, n, s->len, what,
                 an_names(v->anomalies, names, sizeof names));
}

/* Every field of got equals want (num, ts_ns and source aside). */
static void expect_view(const dec_sample *s, uint32_t n, const pkt_view *got,
                        const pkt_view *want)
{
    char a[1024], b[1024];

    expect_u(s, n, "caplen", got->caplen, want->caplen);
    expect_u(s, n, "wirelen", got->wirelen, want->wirelen);
    expect_u(s, n, "vlan_count", got->vlan_count, want->vlan_count);
    for (int i = 0; i < PKT_MAX_VLAN; i++)
        expect_u(s, n, "vlan[i]", got->vlan[i], want->vlan[i]);
    expect_u(s, n, "ip_version", got->ip_version, want->ip_version);
    expect_u(s, n, "ip_proto", got->ip_proto, want->ip_proto);
    expect_u(s, n, "ttl", got->ttl, want->ttl);
    expect_u(s, n, "ip_df", got->ip_df, want->ip_df);
    expect_u(s, n, "ip_id", got->ip_id, want->ip_id);
    expect_u(s, n, "ip_len", got->ip_len, want->ip_len);
    expect_u(s, n, "src", memcmp(&got->src, &want->src, sizeof got->src), 0);
    expect_u(s, n, "dst", memcmp(&got->dst, &want->dst, sizeof got->dst), 0);
    expect_u(s, n, "is_fragment", got->is_fragment, want->is_fragment);
    expect_u(s, n, "frag_more", got->frag_more, want->frag_more);
    expect_u(s, n, "frag_offset", got->frag_offset, want->frag_offset);
    expect_u(s, n, "frag_id", got->frag_id, want->frag_id);
    expect_u(s, n, "has_tcp", got->has_tcp, want->has_tcp);
    expect_u(s, n, "tcp_opts_ok", got->tcp_opts_ok, want->tcp_opts_ok);
    expect_u(s, n, "sport", got->sport, want->sport);
    expect_u(s, n, "dport", got->dport, want->dport);
    expect_u(s, n, "seq", got->seq, want->seq);
    expect_u(s, n, "ack", got->ack, want->ack);
    expect_u(s, n, "flags", got->flags, want->flags);
    expect_u(s, n, "tcp_hlen", got->tcp_hlen, want->tcp_hlen);
    expect_u(s, n, "window", got->window, want->window);
    expect_u(s, n, "payload_len", got->payload_len, want->payload_len);
    expect_u(s, n, "payload_captured", got->payload_captured,
             want->payload_captured);
    expect_u(s, n, "has_mss", got->opt.has_mss, want->opt.has_mss);
    expect_u(s, n, "mss", got->opt.mss, want->opt.mss);
    expect_u(s, n, "has_wscale", got->opt.has_wscale, want->opt.has_wscale);
    expect_u(s, n, "wscale", got->opt.wscale, want->opt.wscale);
    expect_u(s, n, "sack_perm", got->opt.sack_perm, want->opt.sack_perm);
    expect_u(s, n, "sack_blocks", got->opt.sack_blocks, want->opt.sack_blocks);
    expect_u(s, n, "has_ts", got->opt.has_ts, want->opt.has_ts);
    expect_u(s, n, "tsval", got->opt.tsval, want->opt.tsval);
    expect_u(s, n, "tsecr", got->opt.tsecr, want->opt.tsecr);
    expect_u(s, n, "layout_len", got->opt.layout_len, want->opt.layout_len);
    expect_u(s, n, "layout", memcmp(got->opt.layout, want->opt.layout,
                                    sizeof got->opt.layout), 0);
    if (got->anomalies != want->anomalies)
        fail_msg("%s cut to %u of %u bytes: anomalies [%s], want [%s]",
                 s->name, n, s->len, an_names(got->anomalies, a, sizeof a),
                 an_names(want->anomalies, b, sizeof b));
}

/*
 * What a cut at n bytes must report, by the layer it falls in (the table
 * is in samples.h).  The wire length stays the full length, so every cut
 * is also snaplen_truncated.
 */
static void check_cut(const dec_sample *s, const pkt_view *full,
                      enum pkt_status full_status, uint32_t n)
{
    uint32_t l4_at = s->tcp_at != 0 ? s->tcp_at : s->hdr_end;
    enum pkt_status st;
    pkt_view v;

    memset(&v, 0xa5, sizeof v);     /* garbage: the decoder must reset it */
    v.num = 11;
    v.ts_ns = 22;
    v.source = 3;
    st = decode_cut(s, n, &v);
    expect_u(s, n, "num kept", v.num, 11);
    expect_u(s, n, "ts_ns kept", (uint64_t)v.ts_ns, 22);
    expect_u(s, n, "source kept", v.source, 3);
    expect_u(s, n, "caplen", v.caplen, n);
    expect_u(s, n, "wirelen", v.wirelen, s->len);
    expect_an(s, n, &v, "snaplen_truncated",
              v.anomalies & an(PKT_AN_SNAPLEN_TRUNCATED));

    if (n < s->link_end) {
        expect_an(s, n, &v, "link_truncated",
                  v.anomalies & an(PKT_AN_LINK_TRUNCATED));
        expect_u(s, n, "status", st, PKT_MALFORMED);
    } else if (n < l4_at) {
        expect_an(s, n, &v, "an IP truncated anomaly",
                  any_truncated(v.anomalies & ~an(PKT_AN_LINK_TRUNCATED)));
        expect_u(s, n, "status", st, PKT_MALFORMED);
        expect_u(s, n, "has_tcp", v.has_tcp, false);
    } else if (s->tcp_at != 0 && n < s->tcp_at + 20) {
        bool ports = n >= s->tcp_at + 4;

        expect_an(s, n, &v, "tcp_truncated",
                  v.anomalies & an(PKT_AN_TCP_TRUNCATED));
        expect_u(s, n, "status", st, PKT_MALFORMED);
        expect_u(s, n, "has_tcp", v.has_tcp, false);
        expect_u(s, n, "sport", v.sport, ports ? full->sport : 0);
        expect_u(s, n, "dport", v.dport, ports ? full->dport : 0);
        expect_u(s, n, "seq", v.seq, 0);
        expect_u(s, n, "flags", v.flags, 0);
    } else if (s->icmp_at != 0) {
        /* the ICMP layer: test_icmp.c checks every field of these cuts */
        expect_u(s, n, "status", st, full_status);
        expect_u(s, n, "has_tcp", v.has_tcp, false);
    } else if (n < s->hdr_end) {
        expect_an(s, n, &v, "tcp_options_truncated",
                  v.anomalies & an(PKT_AN_TCP_OPTIONS_TRUNCATED));
        expect_u(s, n, "status", st, PKT_TCP);
        expect_u(s, n, "has_tcp", v.has_tcp, true);
        expect_u(s, n, "tcp_opts_ok", v.tcp_opts_ok, false);
        expect_u(s, n, "seq", v.seq, full->seq);
        expect_u(s, n, "ack", v.ack, full->ack);
        expect_u(s, n, "flags", v.flags, full->flags);
        expect_u(s, n, "window", v.window, full->window);
        expect_u(s, n, "tcp_hlen", v.tcp_hlen, full->tcp_hlen);
        expect_u(s, n, "payload_len", v.payload_len, full->payload_len);
        expect_u(s, n, "payload_captured", v.payload_captured, 0);
    } else {
        pkt_view want = *full;
        uint32_t beyond = n - s->hdr_end;

        want.caplen = n;
        want.anomalies |= an(PKT_AN_SNAPLEN_TRUNCATED);
        if (want.payload_captured > beyond)
            want.payload_captured = beyond;
        expect_u(s, n, "status", st, full_status);
        expect_view(s, n, &v, &want);
    }
}

/* The table's boundaries agree with the full decode of each sample. */
static void every_sample_matches_its_boundaries(void **state)
{
    (void)state;

    for (size_t i = 0; i < dec_sample_count; i++) {
        const dec_sample *s = &dec_samples[i];
        pkt_view v;
        enum pkt_status st = decode_sample(s->name, &v);

        expect_u(s, s->len, "sample longer than hdr_end", s->len >= s->hdr_end, 1);
        expect_u(s, s->len, "snaplen flag on a whole frame",
                 v.anomalies & an(PKT_AN_SNAPLEN_TRUNCATED), 0);
        if (v.has_tcp)
            expect_u(s, s->len, "hdr_end is the TCP header end", s->hdr_end,
                     s->tcp_at + v.tcp_hlen);
        if (st == PKT_TCP)
            expect_u(s, s->len, "tcp_at given", s->tcp_at != 0, 1);
    }
}

static void every_sample_survives_every_truncation(void **state)
{
    (void)state;

    for (size_t i = 0; i < dec_sample_count; i++) {
        const dec_sample *s = &dec_samples[i];
        pkt_view full;
        enum pkt_status st = decode_sample(s->name, &full);

        for (uint32_t n = 0; n < s->len; n++)
            check_cut(s, &full, st, n);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ethernet_ipv4_syn_decodes_every_field),
        cmocka_unit_test(data_segment_counts_payload_from_ip_length),
        cmocka_unit_test(view_is_reset_between_frames),
        cmocka_unit_test(caplen_above_wirelen_is_flagged_and_wirelen_raised),
        cmocka_unit_test(snaplen_cut_in_payload_keeps_payload_len),
        cmocka_unit_test(empty_frame_is_link_truncated),
        cmocka_unit_test(supported_linktypes_match_libpcap_numbers),
        cmocka_unit_test(unsupported_linktype_is_not_ip),
        cmocka_unit_test(qinq_tags_are_recorded_outermost_first),
        cmocka_unit_test(vlan_tag_carries_ipv6),
        cmocka_unit_test(fifth_vlan_tag_is_too_deep),
        cmocka_unit_test(llc_snap_frame_carries_ipv4),
        cmocka_unit_test(llc_without_snap_is_not_ip),
        cmocka_unit_test(arp_is_not_ip),
        cmocka_unit_test(ethertype_ipv6_with_ipv4_inside_is_version_mismatch),
        cmocka_unit_test(linux_sll_carries_ipv4),
        cmocka_unit_test(linux_sll2_carries_ipv6),
        cmocka_unit_test(raw_ip_version_nibble_decides),
        cmocka_unit_test(raw_ip_with_version_five_is_mismatch),
        cmocka_unit_test(dlt_ipv4_and_ipv6_insist_on_their_version),
        cmocka_unit_test(null_family_is_read_in_either_byte_order),
        cmocka_unit_test(null_with_unknown_family_is_not_ip),
        cmocka_unit_test(loop_reads_family_in_network_order_only),
        cmocka_unit_test(every_sample_matches_its_boundaries),
        cmocka_unit_test(every_sample_survives_every_truncation),
    };

    return cmocka_run_group_tests_name("decode", tests, NULL, NULL);
}
