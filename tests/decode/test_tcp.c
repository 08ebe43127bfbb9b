/* test_tcp.c - TCP header, option walk and flag anomalies. */
#include "helpers.h"

static void assert_layout(const pkt_view *v, const uint8_t *want, size_t n)
{
    assert_int_equal(v->opt.layout_len, n);
    assert_memory_equal(v->opt.layout, want, n);
}

/* ---- option lengths ---- */

static void tcp_option_length_zero_is_invalid(void **state)
{
    static const uint8_t layout[] = { 2 };
    pkt_view v;
    (void)state;

    assert_int_equal(decode_sample("tcp_opt_length_zero", &v), PKT_TCP);
    assert_true(v.has_tcp);
    assert_false(v.tcp_opts_ok);
    assert_false(v.opt.has_mss);
    assert_layout(&v, layout, sizeof layout);
    assert_anomalies(&v, an(PKT_AN_TCP_OPT_BAD_LENGTH));
}

static void tcp_option_length_one_is_invalid(void **state)
{
    pkt_view v;
    (void)state;

    assert_int_equal(decode_sample("tcp_opt_length_one", &v), PKT_TCP);
    assert_false(v.tcp_opts_ok);
    assert_false(v.opt.has_ts);
    assert_anomalies(&v, an(PKT_AN_TCP_OPT_BAD_LENGTH));
}

static void tcp_option_length_past_header_is_invalid(void **state)
{
    static const uint8_t layout[] = { 1, 1, 8 };
    pkt_view v;
    (void)state;

    assert_int_equal(decode_sample("tcp_opt_length_past_header", &v), PKT_TCP);
    assert_false(v.tcp_opts_ok);
    assert_false(v.opt.has_ts);
    assert_layout(&v, layout, sizeof layout);
    assert_anomalies(&v, an(PKT_AN_TCP_OPT_BAD_LENGTH));
}

static void tcp_option_kind_in_last_header_byte_has_no_length(void **state)
{
    static const uint8_t layout[] = { 1, 1, 1, 2 };
    pkt_view v;
    (void)state;

    assert_int_equal(decode_sample("tcp_opt_kind_in_last_byte", &v), PKT_TCP);
    assert_false(v.tcp_opts_ok);
    assert_layout(&v, layout, sizeof layout);
    assert_anomalies(&v, an(PKT_AN_TCP_OPT_BAD_LENGTH));
}

/* ---- option sizes ---- */

static void tcp_mss_of_wrong_size_is_ignored_and_walk_continues(void **state)
{
    static const uint8_t layout[] = { 2, 3, 1, 0 };
    pkt_view v;
    (void)state;

    assert_int_equal(decode_sample("tcp_mss_bad_size", &v), PKT_TCP);
    assert_false(v.tcp_opts_ok);
    assert_false(v.opt.has_mss);
    assert_int_equal(v.opt.mss, 0);
    assert_true(v.opt.has_wscale);
    assert_int_equal(v.opt.wscale, 7);
    assert_layout(&v, layout, sizeof layout);
    assert_anomalies(&v, an(PKT_AN_TCP_OPT_BAD_SIZE));
}

static void tcp_window_scale_of_wrong_size_is_ignored(void **state)
{
    pkt_view v;
    (void)state;

    assert_int_equal(decode_sample("tcp_wscale_bad_size", &v), PKT_TCP);
    assert_false(v.opt.has_wscale);
    assert_int_equal(v.opt.wscale, 0);
    assert_true(v.opt.has_mss);
    assert_int_equal(v.opt.mss, 1460);
    assert_anomalies(&v, an(PKT_AN_TCP_OPT_BAD_SIZE));
}

static void tcp_sack_permitted_of_wrong_size_is_ignored(void **state)
{
    static const uint8_t layout[] = { 4, 1 };
    pkt_view v;
    (void)state;

    assert_int_equal(decode_sample("tcp_sackok_bad_size", &v), PKT_TCP);
    assert_false(v.opt.sack_perm);
    assert_layout(&v, layout, sizeof layout);
    assert_anomalies(&v, an(PKT_AN_TCP_OPT_BAD_SIZE));
}

static void tcp_timestamps_of_wrong_size_are_ignored(void **state)
{
    static const uint8_t layout[] = { 8, 1, 1 };
    pkt_view v;
    (void)state;

    assert_int_equal(decode_sample("tcp_ts_bad_size", &v), PKT_TCP);
    assert_false(v.opt.has_ts);
    assert_int_equal(v.opt.tsval, 0);
    assert_layout(&v, layout, sizeof layout);
    assert_anomalies(&v, an(PKT_AN_TCP_OPT_BAD_SIZE));
}

static void tcp_sack_length_not_two_plus_eight_n_is_bad_sack(void **state)
{
    pkt_view v;
    (void)state;

    assert_int_equal(decode_sample("tcp_sack_bad_length", &v), PKT_TCP);
    assert_int_equal(v.opt.sack_blocks, 0);
    assert_false(v.tcp_opts_ok);
    assert_anomalies(&v, an(PKT_AN_TCP_OPT_BAD_SACK));
}

static void tcp_sack_without_blocks_is_bad_sack(void **state)
{
    pkt_view v;
    (void)state;

    assert_int_equal(decode_sample("tcp_sack_no_blocks", &v), PKT_TCP);
    assert_int_equal(v.opt.sack_blocks, 0);
    assert_anomalies(&v, an(PKT_AN_TCP_OPT_BAD_SACK));
}

static void tcp_sack_blocks_are_counted(void **state)
{
    static const uint8_t layout[] = { 1, 1, 5 };
    pkt_view v;
    (void)state;

    assert_int_equal(decode_sample("tcp_sack_two_blocks", &v), PKT_TCP);
    assert_true(v.tcp_opts_ok);
    assert_int_equal(v.opt.sack_blocks, 2);
    assert_int_equal(v.flags, PKT_TCP_ACK);
    assert_layout(&v, layout, sizeof layout);
    assert_anomalies(&v, 0);
}

static void tcp_duplicate_mss_keeps_the_first(void **state)
{
    static const uint8_t layout[] = { 2, 2 };
    pkt_view v;
    (void)state;

    assert_int_equal(decode_sample("tcp_duplicate_mss", &v), PKT_TCP);
    assert_false(v.tcp_opts_ok);
    assert_true(v.opt.has_mss);
    assert_int_equal(v.opt.mss, 1460);
    assert_layout(&v, layout, sizeof layout);
    assert_anomalies(&v, an(PKT_AN_TCP_OPT_DUPLICATE));
}

static void tcp_unknown_option_is_skipped_by_length(void **state)
{
    static const uint8_t layout[] = { 0xfd, 1, 1, 2 };
    pkt_view v;
    (void)state;

    assert_int_equal(decode_sample("tcp_unknown_option", &v), PKT_TCP);
    assert_true(v.tcp_opts_ok);
    assert_int_equal(v.opt.mss, 1460);
    assert_layout(&v, layout, sizeof layout);
    assert_anomalies(&v, 0);
}

static void tcp_end_of_option_list_stops_the_walk(void **state)
{
    static const uint8_t layout[] = { 2, 0 };
    pkt_view v;
    (void)state;

    assert_int_equal(decode_sample("tcp_eol_ends_options", &v), PKT_TCP);
    assert_true(v.tcp_opts_ok);
    assert_int_equal(v.opt.mss, 1460);
    assert_false(v.opt.has_wscale);
    assert_layout(&v, layout, sizeof layout);
    assert_anomalies(&v, 0);
}

static void tcp_option_layout_is_capped_but_walk_goes_on(void **state)
{
    pkt_view v;
    (void)state;

    assert_int_equal(decode_sample("tcp_many_nops", &v), PKT_TCP);
    assert_int_equal(v.tcp_hlen, 60);
    assert_int_equal(v.opt.layout_len, PKT_OPT_LAYOUT_MAX);
    for (int i = 0; i < PKT_OPT_LAYOUT_MAX; i++)
        assert_int_equal(v.opt.layout[i], 1);
    assert_true(v.opt.has_mss);
    assert_int_equal(v.opt.mss, 1460);
    assert_true(v.tcp_opts_ok);
    assert_anomalies(&v, 0);
}

/* ---- header length ---- */

static void tcp_data_offset_below_five_is_bad(void **state)
{
    pkt_view v;
    (void)state;

    assert_int_equal(decode_sample("tcp_data_offset_below_five", &v),
                     PKT_MALFORMED);
    assert_false(v.has_tcp);
    assert_int_equal(v.tcp_hlen, 12);
    assert_int_equal(v.sport, 40000);
    assert_anomalies(&v, an(PKT_AN_TCP_BAD_DATA_OFFSET));
}

static void tcp_header_longer_than_segment_is_bad_data_offset(void **state)
{
    pkt_view v;
    (void)state;

    assert_int_equal(decode_sample("tcp_data_offset_past_segment", &v),
                     PKT_MALFORMED);
    assert_false(v.has_tcp);
    assert_int_equal(v.tcp_hlen, 32);
    assert_anomalies(&v, an(PKT_AN_TCP_BAD_DATA_OFFSET));
}

static void tcp_cut_inside_ports_keeps_no_ports(void **state)
{
    const dec_sample *s = sample("eth_ipv4_syn");
    pkt_view v;
    (void)state;

    memset(&v, 0, sizeof v);
    assert_int_equal(decode_cut(s, 37, &v), PKT_MALFORMED);
    assert_false(v.has_tcp);
    assert_int_equal(v.sport, 0);
    assert_int_equal(v.dport, 0);
    assert_anomalies(&v, an(PKT_AN_SNAPLEN_TRUNCATED) | an(PKT_AN_TCP_TRUNCATED));
}

static void tcp_cut_after_ports_keeps_the_ports(void **state)
{
    const dec_sample *s = sample("eth_ipv4_syn");
    pkt_view v;
    (void)state;

    memset(&v, 0, sizeof v);
    assert_int_equal(decode_cut(s, 38, &v), PKT_MALFORMED);
    assert_false(v.has_tcp);
    assert_int_equal(v.sport, 51000);
    assert_int_equal(v.dport, 80);
    assert_int_equal(v.seq, 0);
    assert_anomalies(&v, an(PKT_AN_SNAPLEN_TRUNCATED) | an(PKT_AN_TCP_TRUNCATED));
}

static void tcp_options_cut_by_snaplen_keep_what_is_whole(void **state)
{
    static const uint8_t layout[] = { 2, 4 };
    const dec_sample *s = sample("eth_ipv4_syn");
    pkt_view v;
    (void)state;

    /* 6 option bytes kept: MSS and SACK-permitted whole, timestamps cut. */
    memset(&v, 0, sizeof v);
    assert_int_equal(decode_cut(s, 60, &v), PKT_TCP);
    assert_true(v.has_tcp);
    assert_false(v.tcp_opts_ok);
    assert_int_equal(v.tcp_hlen, 40);
    assert_int_equal(v.seq, 0x01020304);
    assert_true(v.opt.has_mss);
    assert_int_equal(v.opt.mss, 1460);
    assert_true(v.opt.sack_perm);
    assert_false(v.opt.has_ts);
    assert_layout(&v, layout, sizeof layout);
    assert_int_equal(v.payload_captured, 0);
    assert_anomalies(&v, an(PKT_AN_SNAPLEN_TRUNCATED) |
                         an(PKT_AN_TCP_OPTIONS_TRUNCATED));
}

/* ---- flags and ports ---- */

static void tcp_syn_with_fin_is_invalid(void **state)
{
    pkt_view v;
    (void)state;

    assert_int_equal(decode_sample("tcp_syn_fin", &v), PKT_TCP);
    assert_int_equal(v.flags, PKT_TCP_SYN | PKT_TCP_FIN);
    assert_anomalies(&v, an(PKT_AN_TCP_SYN_FIN));
}

static void tcp_syn_with_rst_is_invalid(void **state)
{
    pkt_view v;
    (void)state;

    assert_int_equal(decode_sample("tcp_syn_rst", &v), PKT_TCP);
    assert_anomalies(&v, an(PKT_AN_TCP_SYN_RST));
}

static void tcp_without_syn_ack_rst_fin_is_no_flags(void **state)
{
    pkt_view v;
    (void)state;

    assert_int_equal(decode_sample("tcp_no_flags", &v), PKT_TCP);
    assert_int_equal(v.flags, 0);
    assert_anomalies(&v, an(PKT_AN_TCP_NO_FLAGS));
}

static void tcp_port_zero_is_invalid(void **state)
{
    pkt_view v;
    (void)state;

    assert_int_equal(decode_sample("tcp_port_zero", &v), PKT_TCP);
    assert_int_equal(v.sport, 0);
    assert_int_equal(v.dport, 443);
    assert_anomalies(&v, an(PKT_AN_TCP_PORT_ZERO));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tcp_option_length_zero_is_invalid),
        cmocka_unit_test(tcp_option_length_one_is_invalid),
        cmocka_unit_test(tcp_option_length_past_header_is_invalid),
        cmocka_unit_test(tcp_option_kind_in_last_header_byte_has_no_length),
        cmocka_unit_test(tcp_mss_of_wrong_size_is_ignored_and_walk_continues),
        cmocka_unit_test(tcp_window_scale_of_wrong_size_is_ignored),
        cmocka_unit_test(tcp_sack_permitted_of_wrong_size_is_ignored),
        cmocka_unit_test(tcp_timestamps_of_wrong_size_are_ignored),
        cmocka_unit_test(tcp_sack_length_not_two_plus_eight_n_is_bad_sack),
        cmocka_unit_test(tcp_sack_without_blocks_is_bad_sack),
        cmocka_unit_test(tcp_sack_blocks_are_counted),
        cmocka_unit_test(tcp_duplicate_mss_keeps_the_first),
        cmocka_unit_test(tcp_unknown_option_is_skipped_by_length),
        cmocka_unit_test(tcp_end_of_option_list_stops_the_walk),
        cmocka_unit_test(tcp_option_layout_is_capped_but_walk_goes_on),
        cmocka_unit_test(tcp_data_offset_below_five_is_bad),
        cmocka_unit_test(tcp_header_longer_than_segment_is_bad_data_offset),
        cmocka_unit_test(tcp_cut_inside_ports_keeps_no_ports),
        cmocka_unit_test(tcp_cut_after_ports_keeps_the_ports),
        cmocka_unit_test(tcp_options_cut_by_snaplen_keep_what_is_whole),
        cmocka_unit_test(tcp_syn_with_fin_is_invalid),
        cmocka_unit_test(tcp_syn_with_rst_is_invalid),
        cmocka_unit_test(tcp_without_syn_ack_rst_fin_is_no_flags),
        cmocka_unit_test(tcp_port_zero_is_invalid),
    };

    return cmocka_run_group_tests_name("decode_tcp", tests, NULL, NULL);
}
