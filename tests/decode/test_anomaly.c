/* test_anomaly.c - anomaly names and classes: every enum value has both. */
#include "helpers.h"

#include <ctype.h>

static void every_anomaly_has_a_lower_snake_case_name(void **state)
{
    (void)state;

    for (int a = 0; a < PKT_AN_COUNT; a++) {
        const char *name = pkt_anomaly_name((enum pkt_anomaly)a);

        assert_non_null(name);
        assert_true(strlen(name) > 0);
        assert_string_not_equal(name, "unknown");
        for (const char *p = name; *p; p++)
            assert_true(islower((unsigned char)*p) || isdigit((unsigned char)*p) ||
                        *p == '_');
        assert_true(name[0] != '_');
        assert_null(strstr(name, "pkt_an"));
    }
}

static void anomaly_names_are_unique(void **state)
{
    (void)state;

    for (int a = 0; a < PKT_AN_COUNT; a++)
        for (int b = a + 1; b < PKT_AN_COUNT; b++)
            assert_string_not_equal(pkt_anomaly_name((enum pkt_anomaly)a),
                                    pkt_anomaly_name((enum pkt_anomaly)b));
}

static void anomaly_names_follow_the_enum(void **state)
{
    (void)state;

    assert_string_equal(pkt_anomaly_name(PKT_AN_LINK_TRUNCATED), "link_truncated");
    assert_string_equal(pkt_anomaly_name(PKT_AN_IPV4_LENGTH_EXCEEDS_FRAME),
                        "ipv4_length_exceeds_frame");
    assert_string_equal(pkt_anomaly_name(PKT_AN_IPV6_EXT_TOO_MANY),
                        "ipv6_ext_too_many");
    assert_string_equal(pkt_anomaly_name(PKT_AN_TCP_OPT_BAD_LENGTH),
                        "tcp_opt_bad_length");
    assert_string_equal(pkt_anomaly_name(PKT_AN_TCP_NO_FLAGS), "tcp_no_flags");
    assert_string_equal(pkt_anomaly_name(PKT_AN_CAPLEN_EXCEEDS_LEN),
                        "caplen_exceeds_len");
    assert_string_equal(pkt_anomaly_name(PKT_AN_ICMP_TRUNCATED), "icmp_truncated");
    assert_string_equal(pkt_anomaly_name(PKT_AN_ICMP_QUOTE_TRUNCATED),
                        "icmp_quote_truncated");
    assert_string_equal(pkt_anomaly_name(PKT_AN_ICMP_QUOTE_INVALID),
                        "icmp_quote_invalid");
}

static void anomaly_classes_say_truncated_invalid_unsupported_or_info(void **state)
{
    static const struct { enum pkt_anomaly a; enum pkt_anomaly_class c; } want[] = {
        { PKT_AN_LINK_TRUNCATED, PKT_ANC_TRUNCATED },
        { PKT_AN_VLAN_TOO_DEEP, PKT_ANC_UNSUPPORTED },
        { PKT_AN_IP_VERSION_MISMATCH, PKT_ANC_INVALID },
        { PKT_AN_IPV4_TRUNCATED, PKT_ANC_TRUNCATED },
        { PKT_AN_IPV4_BAD_IHL, PKT_ANC_INVALID },
        { PKT_AN_IPV6_EXT_TRUNCATED, PKT_ANC_TRUNCATED },
        { PKT_AN_IPV6_EXT_TOO_MANY, PKT_ANC_UNSUPPORTED },
        { PKT_AN_IPV6_JUMBO, PKT_ANC_UNSUPPORTED },
        { PKT_AN_TCP_TRUNCATED, PKT_ANC_TRUNCATED },
        { PKT_AN_TCP_OPTIONS_TRUNCATED, PKT_ANC_TRUNCATED },
        { PKT_AN_TCP_OPT_BAD_SACK, PKT_ANC_INVALID },
        { PKT_AN_TCP_SYN_FIN, PKT_ANC_INVALID },
        { PKT_AN_TCP_SYN_RST, PKT_ANC_INVALID },
        { PKT_AN_TCP_NO_FLAGS, PKT_ANC_INVALID },
        { PKT_AN_TCP_PORT_ZERO, PKT_ANC_INVALID },
        { PKT_AN_SNAPLEN_TRUNCATED, PKT_ANC_INFO },
        { PKT_AN_CAPLEN_EXCEEDS_LEN, PKT_ANC_INVALID },
        { PKT_AN_ICMP_TRUNCATED, PKT_ANC_TRUNCATED },
        { PKT_AN_ICMP_QUOTE_TRUNCATED, PKT_ANC_TRUNCATED },
        { PKT_AN_ICMP_QUOTE_INVALID, PKT_ANC_INVALID },
    };
    (void)state;

    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        if (pkt_anomaly_class(want[i].a) != want[i].c)
            print_error("class of %s\n", pkt_anomaly_name(want[i].a));
        assert_int_equal(pkt_anomaly_class(want[i].a), want[i].c);
    }
    for (int a = 0; a < PKT_AN_COUNT; a++)
        assert_in_range(pkt_anomaly_class((enum pkt_anomaly)a), PKT_ANC_TRUNCATED,
                        PKT_ANC_INFO);
}

static void class_names_are_words(void **state)
{
    (void)state;

    assert_string_equal(pkt_anomaly_class_name(PKT_ANC_TRUNCATED), "truncated");
    assert_string_equal(pkt_anomaly_class_name(PKT_ANC_INVALID), "invalid");
    assert_string_equal(pkt_anomaly_class_name(PKT_ANC_UNSUPPORTED), "unsupported");
    assert_string_equal(pkt_anomaly_class_name(PKT_ANC_INFO), "info");
}

static void out_of_range_values_get_safe_answers(void **state)
{
    (void)state;

    assert_string_equal(pkt_anomaly_name(PKT_AN_COUNT), "unknown");
    assert_string_equal(pkt_anomaly_name((enum pkt_anomaly)-1), "unknown");
    assert_int_equal(pkt_anomaly_class(PKT_AN_COUNT), PKT_ANC_INVALID);
    assert_string_equal(pkt_anomaly_class_name((enum pkt_anomaly_class)9), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_anomaly_has_a_lower_snake_case_name),
        cmocka_unit_test(anomaly_names_are_unique),
        cmocka_unit_test(anomaly_names_follow_the_enum),
        cmocka_unit_test(anomaly_classes_say_truncated_invalid_unsupported_or_info),
        cmocka_unit_test(class_names_are_words),
        cmocka_unit_test(out_of_range_values_get_safe_answers),
    };

    return cmocka_run_group_tests_name("decode_anomaly", tests, NULL, NULL);
}
