/* test_ip.c - IPv4 and IPv6 decoding: lengths, options, extension headers, fragments. */
#include "helpers.h"

/* ---- IPv4 ---- */

static void ipv4_options_are_walked_to_the_tcp_header(void **state)
{
    pkt_view v;
    (void)state;

    assert_int_equal(decode_sample("ipv4_options_syn", &v), PKT_TCP);
    assert_int_equal(v.ip_len, 72);
    assert_int_equal(v.sport, 51000);
    assert_int_equal(v.tcp_hlen, 40);
    assert_int_equal(v.opt.mss, 1460);
    assert_int_equal(v.payload_len, 0);
    assert_anomalies(&v, 0);
}

static void ipv4_option_length_one_is_bad_but_tcp_still_decodes(void **state)
{
    pkt_view v;
    (void)state;

    assert_int_equal(decode_sample("ipv4_option_length_one", &v), PKT_TCP);
    assert_true(v.has_tcp);
    assert_int_equal(v.ack, 0x0a0b0c0d);
    assert_anomalies(&v, an(PKT_AN_IPV4_BAD_OPTION));
}

static void ipv4_option_running_past_header_is_bad(void **state)
{
    pkt_view v;
    (void)state;

    assert_int_equal(decode_sample("ipv4_option_past_header", &v), PKT_TCP);
    assert_anomalies(&v, an(PKT_AN_IPV4_BAD_OPTION));
}

static void ipv4_ihl_below_five_is_bad_ihl(void **state)
{
    pkt_view v;
    (void)state;

    assert_int_equal(decode_sample("ipv4_ihl_below_five", &v), PKT_MALFORMED);
    assert_false(v.has_tcp);
    assert_int_equal(v.ip_version, 4);
    /* The fixed fields are still there to say whose packet it was. */
    assert_addr(&v.src, "192.0.2.10");
    assert_int_equal(v.ttl, 64);
    assert_anomalies(&v, an(PKT_AN_IPV4_BAD_IHL));
}

static void ipv4_total_length_below_header_is_bad(void **state)
{
    pkt_view v;
    (void)state;

    assert_int_equal(decode_sample("ipv4_total_below_header", &v), PKT_MALFORMED);
    assert_int_equal(v.ip_len, 16);
    assert_anomalies(&v, an(PKT_AN_IPV4_BAD_TOTAL_LENGTH));
}

static void ipv4_total_length_beyond_wire_is_clamped_to_the_frame(void **state)
{
    pkt_view v;
    (void)state;

    assert_int_equal(decode_sample("ipv4_total_exceeds_frame", &v), PKT_TCP);
    assert_int_equal(v.ip_len, 100);
    assert_int_equal(v.payload_len, 4);
    assert_int_equal(v.payload_captured, 4);
    assert_anomalies(&v, an(PKT_AN_IPV4_LENGTH_EXCEEDS_FRAME));
}

static void ipv4_snaplen_cut_is_not_length_exceeds_frame(void **state)
{
    const dec_sample *s = sample("eth_ipv4_data");
    pkt_view v;
    (void)state;

    /* 40 of 76 bytes kept, wire length 76: the IP total length (62) fits
     * the wire, so this is the capture's cut, not a lying header. */
    memset(&v, 0, sizeof v);
    assert_int_equal(decode_cut(s, 40, &v), PKT_MALFORMED);
    assert_int_equal(v.ip_len, 62);
    assert_int_equal(v.sport, 51000);
    assert_int_equal(v.dport, 80);
    assert_false(v.has_tcp);
    assert_anomalies(&v, an(PKT_AN_SNAPLEN_TRUNCATED) |
                         an(PKT_AN_TCP_TRUNCATED));
}

static void ethernet_padding_is_not_payload(void **state)
{
    pkt_view v;
    (void)state;

    assert_int_equal(decode_sample("eth_ipv4_ack_padded", &v), PKT_TCP);
    assert_int_equal(v.caplen, 60);
    assert_int_equal(v.ip_len, 40);
    assert_int_equal(v.payload_len, 0);
    assert_int_equal(v.payload_captured, 0);
    assert_int_equal(v.flags, PKT_TCP_ACK);
    assert_int_equal(v.window, 502);
    assert_anomalies(&v, 0);
}

static void ipv4_first_fragment_is_decoded_as_tcp(void **state)
{
    pkt_view v;
    (void)state;

    assert_int_equal(decode_sample("ipv4_first_fragment_syn", &v), PKT_TCP);
    assert_true(v.is_fragment);
    assert_true(v.frag_more);
    assert_int_equal(v.frag_offset, 0);
    assert_int_equal(v.frag_id, 0x2222);
    assert_false(v.ip_df);
    assert_true(v.has_tcp);
    assert_int_equal(v.opt.mss, 1460);
    assert_anomalies(&v, 0);
}

static void ipv4_later_fragment_is_tcp_fragment_without_tcp_fields(void **state)
{
    pkt_view v;
    (void)state;

    assert_int_equal(decode_sample("ipv4_later_fragment", &v), PKT_TCP_FRAGMENT);
    assert_true(v.is_fragment);
    assert_false(v.frag_more);
    assert_int_equal(v.frag_offset, 1480);
    assert_int_equal(v.frag_id, 0x2222);
    assert_int_equal(v.ip_proto, 6);
    assert_int_equal(v.ip_len, 36);
    assert_int_equal(v.ttl, 64);
    assert_addr(&v.src, "192.0.2.10");
    assert_addr(&v.dst, "198.51.100.20");
    assert_false(v.has_tcp);
    assert_int_equal(v.sport, 0);
    assert_int_equal(v.payload_len, 16);    /* the fragment's data bytes */
    assert_anomalies(&v, 0);
}

/* Raw IPv4 + TCP (no options), total length as given, 8 payload bytes. */
static void raw_v4_tcp(uint8_t *b, uint16_t total, uint16_t frag)
{
    static const uint8_t tmpl[48] = {
        0x45, 0, 0, 0, 0x12, 0x34, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        0x9c, 0x40, 0x00, 0x50, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0,
        1, 2, 3, 4, 5, 6, 7, 8,
    };
    memcpy(b, tmpl, sizeof tmpl);
    b[2] = (uint8_t)(total >> 8);
    b[3] = (uint8_t)total;
    b[6] = (uint8_t)(frag >> 8);
    b[7] = (uint8_t)frag;
}

/* Wireshark's ip.tso_support: total length 0 means the frame's length. */
static void ipv4_total_length_zero_uses_the_frame_length(void **state)
{
    uint8_t b[48];
    pkt_view v;
    (void)state;

    raw_v4_tcp(b, 0, 0x4000);
    memset(&v, 0, sizeof v);
    assert_int_equal(decode_bytes(12, b, sizeof b, sizeof b, &v), PKT_TCP);
    assert_true(v.has_tcp);
    assert_int_equal(v.ip_len, 48);
    assert_int_equal(v.payload_len, 8);
    assert_anomalies(&v, an(PKT_AN_IPV4_TSO_LENGTH_ZERO));
}

/* A first fragment of 8 data bytes carries only half a TCP header. */
static void first_fragment_ending_inside_the_tcp_header_is_named(void **state)
{
    uint8_t b[48];
    pkt_view v;
    (void)state;

    raw_v4_tcp(b, 28, 0x2000);                  /* MF, offset 0, 8 data bytes */
    memset(&v, 0, sizeof v);
    assert_int_equal(decode_bytes(12, b, 28, 28, &v), PKT_MALFORMED);
    assert_false(v.has_tcp);
    assert_int_equal(v.sport, 40000);
    assert_anomalies(&v, an(PKT_AN_TCP_HEADER_FRAGMENTED));
}

static void ipv4_later_fragment_of_udp_is_other_fragment(void **state)
{
    pkt_view v;
    (void)state;

    assert_int_equal(decode_sample("ipv4_later_fragment_udp", &v),
                     PKT_OTHER_FRAGMENT);
    assert_true(v.frag_more);
    assert_int_equal(v.frag_offset, 1480);
    assert_int_equal(v.frag_id, 0x3333);
    assert_int_equal(v.ip_proto, 17);
    assert_anomalies(&v, 0);
}

static void ipv4_more_fragments_with_dont_fragment_is_bad(void **state)
{
    pkt_view v;
    (void)state;

    assert_int_equal(decode_sample("ipv4_mf_with_df", &v), PKT_TCP);
    assert_true(v.ip_df);
    assert_true(v.frag_more);
    assert_anomalies(&v, an(PKT_AN_IPV4_BAD_FRAGMENT));
}

static void ipv4_fragment_ending_past_65535_is_bad(void **state)
{
    pkt_view v;
    (void)state;

    assert_int_equal(decode_sample("ipv4_fragment_past_65535", &v),
                     PKT_TCP_FRAGMENT);
    assert_int_equal(v.frag_offset, 65528);
    assert_anomalies(&v, an(PKT_AN_IPV4_BAD_FRAGMENT));
}

static void ipv4_udp_is_not_tcp(void **state)
{
    pkt_view v;
    (void)state;

    assert_int_equal(decode_sample("ipv4_udp", &v), PKT_NOT_TCP);
    assert_int_equal(v.ip_proto, 17);
    assert_false(v.ip_df);
    assert_false(v.is_fragment);
    assert_anomalies(&v, 0);
}

/* ---- IPv6 ---- */

static void ipv6_fixed_header_fields(void **state)
{
    pkt_view v;
    (void)state;

    assert_int_equal(decode_sample("raw_ipv6_syn", &v), PKT_TCP);
    assert_int_equal(v.ip_version, 6);
    assert_int_equal(v.ip_proto, 6);
    assert_int_equal(v.ttl, 64);
    assert_true(v.ip_df);
    assert_int_equal(v.ip_id, 0);
    assert_int_equal(v.ip_len, 80);
    assert_false(pkt_addr_is_v4(&v.src));
    assert_addr(&v.src, "2001:db8::10");
    assert_addr(&v.dst, "2001:db8:0:1::20");
    assert_false(v.is_fragment);
    assert_anomalies(&v, 0);
}

static void ipv6_hop_dest_fragment_chain_reaches_tcp_in_first_fragment(void **state)
{
    pkt_view v;
    (void)state;

    assert_int_equal(decode_sample("ipv6_ext_first_fragment_syn", &v), PKT_TCP);
    assert_int_equal(v.ip_proto, 6);
    assert_int_equal(v.ip_len, 104);
    assert_true(v.is_fragment);
    assert_true(v.frag_more);
    assert_int_equal(v.frag_offset, 0);
    assert_int_equal(v.frag_id, 0x12345678);
    assert_true(v.has_tcp);
    assert_int_equal(v.sport, 51000);
    assert_int_equal(v.opt.wscale, 7);
    assert_int_equal(v.payload_len, 0);
    assert_anomalies(&v, 0);
}

static void ipv6_non_first_fragment_is_tcp_fragment(void **state)
{
    pkt_view v;
    (void)state;

    assert_int_equal(decode_sample("ipv6_ext_later_fragment", &v),
                     PKT_TCP_FRAGMENT);
    assert_int_equal(v.ip_proto, 6);
    assert_true(v.is_fragment);
    assert_false(v.frag_more);
    assert_int_equal(v.frag_offset, 1448);
    assert_int_equal(v.frag_id, 0x12345678);
    assert_addr(&v.src, "2001:db8::10");
    assert_false(v.has_tcp);
    assert_anomalies(&v, 0);
}

static void ipv6_jumbogram_is_unsupported(void **state)
{
    pkt_view v;
    (void)state;

    assert_int_equal(decode_sample("ipv6_jumbo", &v), PKT_MALFORMED);
    assert_int_equal(v.ip_len, 40);
    assert_false(v.has_tcp);
    assert_anomalies(&v, an(PKT_AN_IPV6_JUMBO));
    assert_int_equal(pkt_anomaly_class(PKT_AN_IPV6_JUMBO), PKT_ANC_UNSUPPORTED);
}

static void ipv6_authentication_header_is_walked(void **state)
{
    pkt_view v;
    (void)state;

    assert_int_equal(decode_sample("ipv6_ah_ack", &v), PKT_TCP);
    assert_int_equal(v.ip_proto, 6);
    assert_int_equal(v.ack, 0x0a0b0c0d);
    assert_anomalies(&v, 0);
}

static void ipv6_routing_header_is_walked(void **state)
{
    pkt_view v;
    (void)state;

    assert_int_equal(decode_sample("ipv6_routing_ack", &v), PKT_TCP);
    assert_int_equal(v.ip_proto, 6);
    assert_int_equal(v.payload_len, 0);
    assert_anomalies(&v, 0);
}

static void ipv6_esp_is_not_tcp(void **state)
{
    pkt_view v;
    (void)state;

    assert_int_equal(decode_sample("ipv6_esp", &v), PKT_NOT_TCP);
    assert_int_equal(v.ip_proto, 50);
    assert_anomalies(&v, 0);
}

static void ipv6_no_next_header_is_not_tcp(void **state)
{
    pkt_view v;
    (void)state;

    assert_int_equal(decode_sample("ipv6_no_next_header", &v), PKT_NOT_TCP);
    assert_int_equal(v.ip_proto, 59);
    assert_anomalies(&v, 0);
}

static void ipv6_ninth_extension_header_is_too_many(void **state)
{
    pkt_view v;
    (void)state;

    assert_int_equal(decode_sample("ipv6_too_many_ext", &v), PKT_MALFORMED);
    assert_false(v.has_tcp);
    assert_anomalies(&v, an(PKT_AN_IPV6_EXT_TOO_MANY));
}

static void ipv6_payload_length_beyond_wire_is_clamped(void **state)
{
    pkt_view v;
    (void)state;

    assert_int_equal(decode_sample("ipv6_payload_exceeds_frame", &v), PKT_TCP);
    assert_int_equal(v.ip_len, 140);
    assert_int_equal(v.payload_len, 0);
    assert_anomalies(&v, an(PKT_AN_IPV6_LENGTH_EXCEEDS_FRAME));
}

static void ipv6_extension_header_past_payload_is_truncated(void **state)
{
    pkt_view v;
    (void)state;

    assert_int_equal(decode_sample("ipv6_ext_past_payload", &v), PKT_MALFORMED);
    assert_anomalies(&v, an(PKT_AN_IPV6_EXT_TRUNCATED));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ipv4_options_are_walked_to_the_tcp_header),
        cmocka_unit_test(ipv4_option_length_one_is_bad_but_tcp_still_decodes),
        cmocka_unit_test(ipv4_option_running_past_header_is_bad),
        cmocka_unit_test(ipv4_ihl_below_five_is_bad_ihl),
        cmocka_unit_test(ipv4_total_length_below_header_is_bad),
        cmocka_unit_test(ipv4_total_length_beyond_wire_is_clamped_to_the_frame),
        cmocka_unit_test(ipv4_snaplen_cut_is_not_length_exceeds_frame),
        cmocka_unit_test(ethernet_padding_is_not_payload),
        cmocka_unit_test(ipv4_first_fragment_is_decoded_as_tcp),
        cmocka_unit_test(ipv4_later_fragment_is_tcp_fragment_without_tcp_fields),
        cmocka_unit_test(ipv4_total_length_zero_uses_the_frame_length),
        cmocka_unit_test(first_fragment_ending_inside_the_tcp_header_is_named),
        cmocka_unit_test(ipv4_later_fragment_of_udp_is_other_fragment),
        cmocka_unit_test(ipv4_more_fragments_with_dont_fragment_is_bad),
        cmocka_unit_test(ipv4_fragment_ending_past_65535_is_bad),
        cmocka_unit_test(ipv4_udp_is_not_tcp),
        cmocka_unit_test(ipv6_fixed_header_fields),
        cmocka_unit_test(ipv6_hop_dest_fragment_chain_reaches_tcp_in_first_fragment),
        cmocka_unit_test(ipv6_non_first_fragment_is_tcp_fragment),
        cmocka_unit_test(ipv6_jumbogram_is_unsupported),
        cmocka_unit_test(ipv6_authentication_header_is_walked),
        cmocka_unit_test(ipv6_routing_header_is_walked),
        cmocka_unit_test(ipv6_esp_is_not_tcp),
        cmocka_unit_test(ipv6_no_next_header_is_not_tcp),
        cmocka_unit_test(ipv6_ninth_extension_header_is_too_many),
        cmocka_unit_test(ipv6_payload_length_beyond_wire_is_clamped),
        cmocka_unit_test(ipv6_extension_header_past_payload_is_truncated),
    };

    return cmocka_run_group_tests_name("decode_ip", tests, NULL, NULL);
}
