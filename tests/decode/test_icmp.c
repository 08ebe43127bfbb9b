/* test_icmp.c - ICMP and ICMPv6 errors quoting TCP: what is read, what is left alone, every cut. */
#include "helpers.h"

/* The view's ICMP fields as decoded, to compare against expectations. */
typedef struct icmp_want {
    bool     v6;
    uint8_t  type;
    uint8_t  code;
    uint32_t mtu;
    const char *q_src;
    const char *q_dst;
    uint16_t sport;
    uint16_t dport;
    uint32_t seq;
    bool     has_flags;
    uint8_t  flags;
} icmp_want;

static void assert_icmp(const pkt_view *v, const icmp_want *w)
{
    assert_true(v->has_icmp_err);
    assert_int_equal(v->icmp_v6, w->v6);
    assert_int_equal(v->icmp_type, w->type);
    assert_int_equal(v->icmp_code, w->code);
    assert_int_equal(v->icmp_mtu, w->mtu);
    assert_addr(&v->icmp_q_src, w->q_src);
    assert_addr(&v->icmp_q_dst, w->q_dst);
    assert_int_equal(v->icmp_q_sport, w->sport);
    assert_int_equal(v->icmp_q_dport, w->dport);
    assert_int_equal(v->icmp_q_seq, w->seq);
    assert_int_equal(v->icmp_q_has_flags, w->has_flags);
    assert_int_equal(v->icmp_q_flags, w->flags);
    assert_false(v->has_tcp);
}

/* Every ICMP field still zero: nothing was set. */
static bool icmp_unset(const pkt_view *v)
{
    static const pkt_addr zero;

    return !v->has_icmp_err && !v->icmp_v6 && v->icmp_type == 0 &&
           v->icmp_code == 0 && v->icmp_mtu == 0 &&
           memcmp(&v->icmp_q_src, &zero, sizeof zero) == 0 &&
           memcmp(&v->icmp_q_dst, &zero, sizeof zero) == 0 &&
           v->icmp_q_sport == 0 && v->icmp_q_dport == 0 && v->icmp_q_seq == 0 &&
           v->icmp_q_flags == 0 && !v->icmp_q_has_flags;
}

/* ---- what an error says ---- */

static void v4_port_unreachable_quoting_syn_names_its_connection(void **state)
{
    const icmp_want w = { false, 3, 3, 0, "192.0.2.10", "198.51.100.20",
                          51000, 80, 0x01020304, false, 0 };
    pkt_view v;
    (void)state;

    assert_int_equal(decode_sample("icmp4_port_unreach_syn", &v), PKT_NOT_TCP);
    assert_icmp(&v, &w);
    assert_addr(&v.src, "198.51.100.20");
    assert_addr(&v.dst, "192.0.2.10");
    assert_int_equal(v.ip_proto, 1);
    assert_anomalies(&v, 0);
}

static void v4_admin_prohibited_with_whole_syn_quoted_reads_flags(void **state)
{
    const icmp_want w = { false, 3, 13, 0, "192.0.2.10", "198.51.100.20",
                          51000, 80, 0x01020304, true, PKT_TCP_SYN };
    pkt_view v;
    (void)state;

    assert_int_equal(decode_sample("icmp4_admin_prohib_syn", &v), PKT_NOT_TCP);
    assert_icmp(&v, &w);
    assert_addr(&v.src, "203.0.113.1");
    assert_anomalies(&v, 0);
}

static void v4_frag_needed_carries_next_hop_mtu(void **state)
{
    const icmp_want w = { false, 3, 4, 1400, "192.0.2.10", "198.51.100.20",
                          51000, 80, 0x01020305, true, PKT_TCP_PSH | PKT_TCP_ACK };
    pkt_view v;
    (void)state;

    assert_int_equal(decode_sample("icmp4_frag_needed", &v), PKT_NOT_TCP);
    assert_icmp(&v, &w);
    assert_anomalies(&v, 0);
}

/* The second word is an MTU only for type 3 code 4 (RFC 1191 4). */
static void v4_mtu_is_read_only_for_frag_needed(void **state)
{
    const dec_sample *s = sample("icmp4_admin_prohib_syn");
    uint8_t b[256];
    pkt_view v;
    (void)state;

    memcpy(b, s->bytes, s->len);
    b[40] = 0x05;                       /* second word 0x00000578 */
    b[41] = 0x78;
    memset(&v, 0, sizeof v);
    assert_int_equal(decode_bytes(s->dlt, b, s->len, s->len, &v), PKT_NOT_TCP);
    assert_true(v.has_icmp_err);
    assert_int_equal(v.icmp_code, 13);
    assert_int_equal(v.icmp_mtu, 0);
}

/* IHL 6: the ports are 4 bytes further on than in a 20-byte header. */
static void v4_quoted_ihl_is_honoured(void **state)
{
    const icmp_want w = { false, 11, 0, 0, "192.0.2.10", "198.51.100.20",
                          51000, 80, 0x01020304, false, 0 };
    pkt_view v;
    (void)state;

    assert_int_equal(decode_sample("icmp4_time_exceeded_options", &v), PKT_NOT_TCP);
    assert_icmp(&v, &w);
    assert_anomalies(&v, 0);
}

static void v6_port_unreachable_quoting_syn_names_its_connection(void **state)
{
    const icmp_want w = { true, 1, 4, 0, "2001:db8::10", "2001:db8:0:1::20",
                          51000, 80, 0x01020304, true, PKT_TCP_SYN };
    pkt_view v;
    (void)state;

    assert_int_equal(decode_sample("icmp6_port_unreach_syn", &v), PKT_NOT_TCP);
    assert_icmp(&v, &w);
    assert_addr(&v.src, "2001:db8:0:1::20");
    assert_addr(&v.dst, "2001:db8::10");
    assert_int_equal(v.ip_proto, 58);
    assert_anomalies(&v, 0);
}

static void v6_packet_too_big_carries_mtu(void **state)
{
    const icmp_want w = { true, 2, 0, 1280, "2001:db8::10", "2001:db8:0:1::20",
                          51000, 80, 0x01020305, true, PKT_TCP_PSH | PKT_TCP_ACK };
    pkt_view v;
    (void)state;

    assert_int_equal(decode_sample("icmp6_packet_too_big", &v), PKT_NOT_TCP);
    assert_icmp(&v, &w);
    assert_addr(&v.src, "2001:db8:ffff::1");
    assert_anomalies(&v, 0);
}

static void v6_quoted_extension_headers_are_walked(void **state)
{
    const icmp_want w = { true, 3, 0, 0, "2001:db8::10", "2001:db8:0:1::20",
                          51000, 80, 0x01020304, true, PKT_TCP_SYN };
    pkt_view v;
    (void)state;

    assert_int_equal(decode_sample("icmp6_time_exceeded_ext", &v), PKT_NOT_TCP);
    assert_icmp(&v, &w);
    assert_anomalies(&v, 0);
}

/* ---- what sets nothing ---- */

static void echo_requests_set_nothing(void **state)
{
    pkt_view v;
    (void)state;

    assert_int_equal(decode_sample("icmp4_echo_request", &v), PKT_NOT_TCP);
    assert_true(icmp_unset(&v));
    assert_anomalies(&v, 0);
    assert_int_equal(decode_sample("icmp6_echo_request", &v), PKT_NOT_TCP);
    assert_true(icmp_unset(&v));
    assert_anomalies(&v, 0);
}

static void quote_of_udp_sets_nothing(void **state)
{
    pkt_view v;
    (void)state;

    assert_int_equal(decode_sample("icmp4_port_unreach_udp", &v), PKT_NOT_TCP);
    assert_true(icmp_unset(&v));
    assert_anomalies(&v, 0);
}

static void quote_of_non_first_fragment_sets_nothing(void **state)
{
    pkt_view v;
    (void)state;

    assert_int_equal(decode_sample("icmp4_quote_later_fragment", &v), PKT_NOT_TCP);
    assert_true(icmp_unset(&v));
    assert_anomalies(&v, 0);
    assert_int_equal(decode_sample("icmp6_quote_later_fragment", &v), PKT_NOT_TCP);
    assert_true(icmp_unset(&v));
    assert_anomalies(&v, 0);
}

static void icmp_in_a_non_first_fragment_is_not_read(void **state)
{
    pkt_view v;
    (void)state;

    assert_int_equal(decode_sample("icmp4_own_later_fragment", &v),
                     PKT_OTHER_FRAGMENT);
    assert_true(icmp_unset(&v));
    assert_anomalies(&v, 0);
}

static void quote_cut_inside_tcp_ports_is_truncated(void **state)
{
    pkt_view v;
    (void)state;

    assert_int_equal(decode_sample("icmp4_quote_cut_in_ports", &v), PKT_NOT_TCP);
    assert_true(icmp_unset(&v));
    assert_anomalies(&v, an(PKT_AN_ICMP_QUOTE_TRUNCATED));
}

static void quote_with_wrong_ip_version_is_invalid(void **state)
{
    pkt_view v;
    (void)state;

    assert_int_equal(decode_sample("icmp4_quote_bad_version", &v), PKT_NOT_TCP);
    assert_true(icmp_unset(&v));
    assert_anomalies(&v, an(PKT_AN_ICMP_QUOTE_INVALID));
}

static void quote_with_too_many_extension_headers_is_unsupported(void **state)
{
    pkt_view v;
    (void)state;

    assert_int_equal(decode_sample("icmp6_quote_too_many_ext", &v), PKT_NOT_TCP);
    assert_true(icmp_unset(&v));
    assert_anomalies(&v, an(PKT_AN_IPV6_EXT_TOO_MANY));
}

/* IPv4 total length 24 leaves 4 ICMP bytes; the rest is link trailer. */
static void icmp_header_cut_by_ip_length_is_truncated(void **state)
{
    const dec_sample *s = sample("icmp4_echo_request");
    uint8_t b[64];
    pkt_view v;
    (void)state;

    memcpy(b, s->bytes, s->len);
    b[17] = 24;
    memset(&v, 0, sizeof v);
    assert_int_equal(decode_bytes(s->dlt, b, s->len, s->len, &v), PKT_NOT_TCP);
    assert_true(icmp_unset(&v));
    assert_anomalies(&v, an(PKT_AN_ICMP_TRUNCATED));
}

/* ---- every sample at every length ---- */

/*
 * Where each ICMP sample's layers end (frame offsets): quote_end where the
 * quoted IP header(s) end, 0 for a message that quotes nothing; tcp_at
 * the quoted TCP header, 0 when none is decoded.  The ICMP header is at
 * the sample's icmp_at, the quote 8 bytes later.
 */
typedef struct icmp_case {
    const char *name;
    uint32_t quote_end;
    uint32_t tcp_at;
} icmp_case;

static const icmp_case icmp_cases[] = {
    { "icmp4_port_unreach_syn", 62, 62 },
    { "icmp4_admin_prohib_syn", 62, 62 },
    { "icmp4_frag_needed", 62, 62 },
    { "icmp4_time_exceeded_options", 66, 66 },
    { "icmp4_echo_request", 0, 0 },
    { "icmp4_port_unreach_udp", 62, 0 },
    { "icmp4_quote_cut_in_ports", 62, 62 },
    { "icmp4_quote_later_fragment", 62, 0 },
    { "icmp4_quote_bad_version", 62, 0 },
    { "icmp6_port_unreach_syn", 102, 102 },
    { "icmp6_packet_too_big", 102, 102 },
    { "icmp6_time_exceeded_ext", 104, 104 },
    { "icmp6_quote_later_fragment", 96, 0 },
    { "icmp6_echo_request", 0, 0 },
    { "icmp6_quote_too_many_ext", 152, 0 },
};

static const icmp_case *icmp_case_find(const char *name)
{
    for (size_t i = 0; i < sizeof icmp_cases / sizeof icmp_cases[0]; i++)
        if (strcmp(icmp_cases[i].name, name) == 0)
            return &icmp_cases[i];
    return NULL;
}

static void expect_cut(const dec_sample *s, uint32_t n, const char *what, bool ok)
{
    if (!ok)
        fail_msg("%s cut to %u of %u bytes: %s", s->name, n, s->len, what);
}

static void expect_cut_anomalies(const dec_sample *s, uint32_t n,
                                 const pkt_view *v, uint64_t want)
{
    char got_s[1024], want_s[1024];

    if (v->anomalies != want)
        fail_msg("%s cut to %u of %u bytes: anomalies [%s], want [%s]",
                 s->name, n, s->len, an_names(v->anomalies, got_s, sizeof got_s),
                 an_names(want, want_s, sizeof want_s));
}

/* A cut at n >= icmp_at: what the layer it falls in must give. */
static void check_icmp_cut(const dec_sample *s, const icmp_case *k,
                           const pkt_view *full, uint32_t n)
{
    const uint64_t snap = an(PKT_AN_SNAPLEN_TRUNCATED);
    bool flags;
    pkt_view v;

    memset(&v, 0xa5, sizeof v);         /* garbage: the decoder must reset it */
    expect_cut(s, n, "status PKT_NOT_TCP", decode_cut(s, n, &v) == PKT_NOT_TCP);
    expect_cut(s, n, "no TCP", !v.has_tcp);
    if (n < s->icmp_at + 8) {
        expect_cut_anomalies(s, n, &v, snap | an(PKT_AN_ICMP_TRUNCATED));
        expect_cut(s, n, "nothing set", icmp_unset(&v));
    } else if ((k->quote_end != 0 && n < k->quote_end) ||
               (k->tcp_at != 0 && n < k->tcp_at + 8)) {
        expect_cut_anomalies(s, n, &v, snap | an(PKT_AN_ICMP_QUOTE_TRUNCATED));
        expect_cut(s, n, "nothing set", icmp_unset(&v));
    } else if (!full->has_icmp_err) {
        expect_cut_anomalies(s, n, &v, snap | full->anomalies);
        expect_cut(s, n, "nothing set", icmp_unset(&v));
    } else {
        flags = full->icmp_q_has_flags && n >= k->tcp_at + 14;
        expect_cut_anomalies(s, n, &v, snap | full->anomalies);
        expect_cut(s, n, "has_icmp_err", v.has_icmp_err);
        expect_cut(s, n, "type, code, mtu, v6",
                   v.icmp_type == full->icmp_type && v.icmp_code == full->icmp_code &&
                   v.icmp_mtu == full->icmp_mtu && v.icmp_v6 == full->icmp_v6);
        expect_cut(s, n, "quoted addresses",
                   memcmp(&v.icmp_q_src, &full->icmp_q_src, sizeof v.icmp_q_src) == 0 &&
                   memcmp(&v.icmp_q_dst, &full->icmp_q_dst, sizeof v.icmp_q_dst) == 0);
        expect_cut(s, n, "quoted ports and seq",
                   v.icmp_q_sport == full->icmp_q_sport &&
                   v.icmp_q_dport == full->icmp_q_dport &&
                   v.icmp_q_seq == full->icmp_q_seq);
        expect_cut(s, n, "quoted flags only when byte 13 is there",
                   v.icmp_q_has_flags == flags &&
                   v.icmp_q_flags == (flags ? full->icmp_q_flags : 0));
    }
}

/* Each ICMP sample has a case, and its full decode agrees with the case. */
static void every_icmp_sample_has_its_boundaries(void **state)
{
    size_t seen = 0;
    (void)state;

    for (size_t i = 0; i < dec_sample_count; i++) {
        const dec_sample *s = &dec_samples[i];
        const icmp_case *k;
        pkt_view v;

        if (s->icmp_at == 0)
            continue;
        k = icmp_case_find(s->name);
        if (k == NULL)
            fail_msg("%s: no entry in icmp_cases", s->name);
        seen++;
        decode_sample(s->name, &v);
        expect_cut(s, s->len, "has_icmp_err iff the quote holds 8 TCP bytes",
                   v.has_icmp_err == (k->tcp_at != 0 && s->len >= k->tcp_at + 8));
        expect_cut(s, s->len, "quote_end inside the frame", k->quote_end <= s->len);
    }
    assert_int_equal(seen, sizeof icmp_cases / sizeof icmp_cases[0]);
}

static void every_icmp_sample_survives_every_truncation(void **state)
{
    (void)state;

    for (size_t i = 0; i < dec_sample_count; i++) {
        const dec_sample *s = &dec_samples[i];
        const icmp_case *k = icmp_case_find(s->name);
        pkt_view full;

        if (s->icmp_at == 0 || k == NULL)
            continue;
        decode_sample(s->name, &full);
        for (uint32_t n = s->icmp_at; n < s->len; n++)
            check_icmp_cut(s, k, &full, n);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(v4_port_unreachable_quoting_syn_names_its_connection),
        cmocka_unit_test(v4_admin_prohibited_with_whole_syn_quoted_reads_flags),
        cmocka_unit_test(v4_frag_needed_carries_next_hop_mtu),
        cmocka_unit_test(v4_mtu_is_read_only_for_frag_needed),
        cmocka_unit_test(v4_quoted_ihl_is_honoured),
        cmocka_unit_test(v6_port_unreachable_quoting_syn_names_its_connection),
        cmocka_unit_test(v6_packet_too_big_carries_mtu),
        cmocka_unit_test(v6_quoted_extension_headers_are_walked),
        cmocka_unit_test(echo_requests_set_nothing),
        cmocka_unit_test(quote_of_udp_sets_nothing),
        cmocka_unit_test(quote_of_non_first_fragment_sets_nothing),
        cmocka_unit_test(icmp_in_a_non_first_fragment_is_not_read),
        cmocka_unit_test(quote_cut_inside_tcp_ports_is_truncated),
        cmocka_unit_test(quote_with_wrong_ip_version_is_invalid),
        cmocka_unit_test(quote_with_too_many_extension_headers_is_unsupported),
        cmocka_unit_test(icmp_header_cut_by_ip_length_is_truncated),
        cmocka_unit_test(every_icmp_sample_has_its_boundaries),
        cmocka_unit_test(every_icmp_sample_survives_every_truncation),
    };

    return cmocka_run_group_tests_name("decode_icmp", tests, NULL, NULL);
}
