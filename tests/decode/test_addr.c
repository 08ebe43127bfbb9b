/* test_addr.c - pkt_addr: IPv4-mapped storage and text form. */
#include "helpers.h"

static pkt_addr addr(const uint8_t b[16])
{
    pkt_addr a;

    memcpy(a.b, b, sizeof a.b);
    return a;
}

static void ipv4_mapped_address_prints_dotted(void **state)
{
    static const uint8_t b[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff,
                                   10, 1, 2, 254 };
    pkt_addr a = addr(b);
    (void)state;

    assert_true(pkt_addr_is_v4(&a));
    assert_addr(&a, "10.1.2.254");
}

static void ipv6_address_prints_compressed(void **state)
{
    static const uint8_t b[16] = { 0xfe, 0x80, 0, 0, 0, 0, 0, 0,
                                   0x02, 0x11, 0x22, 0xff, 0xfe, 0x33, 0x44, 0x55 };
    pkt_addr a = addr(b);
    (void)state;

    assert_false(pkt_addr_is_v4(&a));
    assert_addr(&a, "fe80::211:22ff:fe33:4455");
}

static void ipv4_compatible_and_unspecified_are_not_v4(void **state)
{
    static const uint8_t zero[16] = { 0 };
    static const uint8_t compat[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                        192, 0, 2, 1 };
    pkt_addr z = addr(zero), c = addr(compat);
    (void)state;

    assert_false(pkt_addr_is_v4(&z));
    assert_addr(&z, "::");
    assert_false(pkt_addr_is_v4(&c));
}

static void longest_ipv6_text_fits_addr_strlen(void **state)
{
    static const uint8_t b[16] = { 0xffff >> 8, 0xff, 0x12, 0x34, 0xab, 0xcd,
                                   0x12, 0x34, 0xab, 0xcd, 0xff, 0xff,
                                   0x12, 0x34, 0xab, 0xcd };
    pkt_addr a = addr(b);
    char buf[PKT_ADDR_STRLEN];
    (void)state;

    assert_string_equal(pkt_addr_str(&a, buf, sizeof buf),
                        "ffff:1234:abcd:1234:abcd:ffff:1234:abcd");
}

static void too_small_buffer_gets_empty_string(void **state)
{
    static const uint8_t b[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff,
                                   192, 0, 2, 1 };
    pkt_addr a = addr(b);
    char buf[4] = "xyz";
    (void)state;

    assert_ptr_equal(pkt_addr_str(&a, buf, sizeof buf), buf);
    assert_string_equal(buf, "");
}

static void decoded_addresses_round_trip_to_text(void **state)
{
    pkt_view v;
    (void)state;

    assert_int_equal(decode_sample("null_le_ipv4_syn", &v), PKT_TCP);
    assert_addr(&v.src, "192.0.2.10");
    assert_addr(&v.dst, "198.51.100.20");
    assert_int_equal(decode_sample("null_be_ipv6_freebsd", &v), PKT_TCP);
    assert_addr(&v.src, "2001:db8::10");
    assert_addr(&v.dst, "2001:db8:0:1::20");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ipv4_mapped_address_prints_dotted),
        cmocka_unit_test(ipv6_address_prints_compressed),
        cmocka_unit_test(ipv4_compatible_and_unspecified_are_not_v4),
        cmocka_unit_test(longest_ipv6_text_fits_addr_strlen),
        cmocka_unit_test(too_small_buffer_gets_empty_string),
        cmocka_unit_test(decoded_addresses_round_trip_to_text),
    };

    return cmocka_run_group_tests_name("decode_addr", tests, NULL, NULL);
}
