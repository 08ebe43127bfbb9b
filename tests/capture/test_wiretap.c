/* test_wiretap.c - unit tests for src/capture/wiretap.c: pcapng files that
 * libpcap refuses, read through libwiretap (inputs: tests/capture/make-mixed.sh). */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <pcap/pcap.h>

#include "capture/capture_internal.h"

#ifndef TD_SRCDIR
#error "TD_SRCDIR must name the source tree (tests/capture/meson.build sets it)"
#endif
#define TD_DATA_DIR TD_SRCDIR "/tests/data"

/* 2024-03-01 12:00:00 UTC, the second in which every test frame lies. */
#define T0_NS INT64_C(1709294400000000000)

/* Frame A: Ethernet, 192.0.2.1:40000 -> 198.51.100.7:80 SYN. */
static const uint8_t frame_a[58] = {
    0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x08, 0x00,
    0x45, 0x00, 0x00, 0x2c, 0x12, 0x34, 0x40, 0x00, 0x40, 0x06, 0x3c, 0x5c,
    0xc0, 0x00, 0x02, 0x01, 0xc6, 0x33, 0x64, 0x07,
    0x9c, 0x40, 0x00, 0x50, 0x01, 0x02, 0x03, 0x04, 0x00, 0x00, 0x00, 0x00,
    0x60, 0x02, 0x72, 0x10, 0x99, 0x43, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4,
};

/* Frame B: raw IPv4, 192.0.2.1:40001 -> 198.51.100.7:443 SYN. */
static const uint8_t frame_b[44] = {
    0x45, 0x00, 0x00, 0x2c, 0x56, 0x78, 0x40, 0x00, 0x40, 0x06, 0xf8, 0x17,
    0xc0, 0x00, 0x02, 0x01, 0xc6, 0x33, 0x64, 0x07,
    0x9c, 0x41, 0x01, 0xbb, 0xa0, 0xb0, 0xc0, 0xd0, 0x00, 0x00, 0x00, 0x00,
    0x60, 0x02, 0x72, 0x10, 0x3a, 0x5c, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4,
};

/* Frame B': frame B behind the Ethernet header of frame A. */
static const uint8_t frame_b_eth_header[14] = {
    0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x08, 0x00,
};

/* Frame C: Ethernet, 198.51.100.7:80 -> 192.0.2.1:40000 SYN-ACK. */
static const uint8_t frame_c[58] = {
    0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x08, 0x00,
    0x45, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x40, 0x00, 0x40, 0x06, 0x4e, 0x90,
    0xc6, 0x33, 0x64, 0x07, 0xc0, 0x00, 0x02, 0x01,
    0x00, 0x50, 0x9c, 0x40, 0x0a, 0x0b, 0x0c, 0x0d, 0x01, 0x02, 0x03, 0x05,
    0x60, 0x12, 0xfe, 0x88, 0xf6, 0xa1, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4,
};

static cap_wtap *open_data(const char *name, char *errbuf)
{
    char path[1024];
    cap_wtap *w;

    snprintf(path, sizeof path, "%s/%s", TD_DATA_DIR, name);
    errbuf[0] = '\0';
    w = cap_wtap_open(path, errbuf, CAP_ERRBUF);
    if (w == NULL)
        fail_msg("%s: %s", path, errbuf);
    return w;
}

/* Reads one frame and checks every field the reader fills. */
static void expect_frame(cap_wtap *w, unsigned long *skipped, int dlt, uint32_t caplen,
                         uint32_t wirelen, int64_t ts_ns, const uint8_t *bytes)
{
    char errbuf[CAP_ERRBUF] = "";
    cap_frame f;

    memset(&f, 0, sizeof f);
    assert_int_equal(cap_wtap_next(w, &f, skipped, errbuf, sizeof errbuf), 1);
    assert_string_equal(errbuf, "");
    assert_int_equal(f.dlt, dlt);
    assert_int_equal(f.caplen, caplen);
    assert_int_equal(f.wirelen, wirelen);
    assert_int_equal(f.ts_ns, ts_ns);
    assert_non_null(f.data);
    assert_memory_equal(f.data, bytes, caplen);
}

static void expect_eof(cap_wtap *w, unsigned long *skipped)
{
    char errbuf[CAP_ERRBUF] = "";
    cap_frame f;

    assert_int_equal(cap_wtap_next(w, &f, skipped, errbuf, sizeof errbuf), 0);
    assert_string_equal(errbuf, "");
}

static void wiretap_is_available_in_this_build(void **state)
{
    (void)state;
    assert_true(cap_wtap_available());
}

static void ethernet_and_raw_interfaces_give_each_frame_its_own_dlt(void **state)
{
    char errbuf[CAP_ERRBUF];
    unsigned long skipped = 0;
    cap_wtap *w = open_data("mixed-linktypes.pcapng", errbuf);

    (void)state;
    /* LINKTYPE_RAW is 101 in the file but DLT_RAW (12 on Linux) in the API. */
#ifdef __linux__
    assert_int_equal(DLT_RAW, 12);
#endif
    expect_frame(w, &skipped, DLT_EN10MB, 58, 58, T0_NS + 100123, frame_a);
    expect_frame(w, &skipped, DLT_RAW, 44, 44, T0_NS + 200789, frame_b);
    expect_frame(w, &skipped, DLT_EN10MB, 58, 58, T0_NS + 300456, frame_c);
    expect_eof(w, &skipped);
    expect_eof(w, &skipped);
    assert_int_equal(skipped, 0);
    cap_wtap_close(w);
}

static void interfaces_with_different_snaplens_keep_caplen_and_wirelen(void **state)
{
    char errbuf[CAP_ERRBUF];
    uint8_t frame_b_eth[58];
    unsigned long skipped = 0;
    cap_wtap *w = open_data("mixed-snaplen.pcapng", errbuf);

    (void)state;
    memcpy(frame_b_eth, frame_b_eth_header, sizeof frame_b_eth_header);
    memcpy(frame_b_eth + sizeof frame_b_eth_header, frame_b, sizeof frame_b);
    /* Interface 0 has snaplen 40: A and C are cut, their wire length stays. */
    expect_frame(w, &skipped, DLT_EN10MB, 40, 58, T0_NS + 100123, frame_a);
    expect_frame(w, &skipped, DLT_EN10MB, 58, 58, T0_NS + 200789, frame_b_eth);
    expect_frame(w, &skipped, DLT_EN10MB, 40, 58, T0_NS + 300456, frame_c);
    expect_eof(w, &skipped);
    assert_int_equal(skipped, 0);
    cap_wtap_close(w);
}

/* Frame B behind header (hlen bytes) must come out with this dlt. */
static void expect_frame_b_behind(cap_wtap *w, int dlt, const uint8_t *header, size_t hlen,
                                  int64_t ts_ns)
{
    uint8_t want[64];

    assert_in_range(hlen, 0, sizeof want - sizeof frame_b);
    if (hlen > 0)
        memcpy(want, header, hlen);
    memcpy(want + hlen, frame_b, sizeof frame_b);
    expect_frame(w, NULL, dlt, (uint32_t)(hlen + sizeof frame_b),
                 (uint32_t)(hlen + sizeof frame_b), ts_ns, want);
}

static void each_link_type_maps_to_its_dlt_and_pseudo_header_types_to_none(void **state)
{
    static const uint8_t null_af[] = { 0x02, 0x00, 0x00, 0x00 };
    static const uint8_t loop_af[] = { 0x00, 0x00, 0x00, 0x02 };
    static const uint8_t sll[] = {
        0x00, 0x00, 0x00, 0x01, 0x00, 0x06,
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x08, 0x00,
    };
    static const uint8_t sll2[] = {
        0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x01, 0x00, 0x06,
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00,
    };
    static const uint8_t ppp_hdlc[] = { 0xff, 0x03, 0x00, 0x21 };
    const int64_t t1 = T0_NS + INT64_C(1000000000);
    char errbuf[CAP_ERRBUF];
    cap_wtap *w = open_data("mixed-linktypes-many.pcapng", errbuf);

    (void)state;
    expect_frame_b_behind(w, DLT_NULL, null_af, sizeof null_af, t1 + 1001);
    expect_frame_b_behind(w, DLT_LOOP, loop_af, sizeof loop_af, t1 + 2001);
    expect_frame_b_behind(w, DLT_LINUX_SLL, sll, sizeof sll, t1 + 3001);
    expect_frame_b_behind(w, DLT_LINUX_SLL2, sll2, sizeof sll2, t1 + 4001);
    /* LINKTYPE_PPP_WITH_DIR: libwiretap takes the direction byte out of the
     * data, so the bytes are no longer DLT_PPP_WITH_DIR's: no DLT (-1). */
    expect_frame_b_behind(w, -1, ppp_hdlc, sizeof ppp_hdlc, t1 + 5001);
    expect_frame_b_behind(w, DLT_IPV4, NULL, 0, t1 + 6001);
    expect_eof(w, NULL);
    cap_wtap_close(w);
}

static void journal_record_between_packets_is_skipped_and_counted(void **state)
{
    char errbuf[CAP_ERRBUF];
    unsigned long skipped = 0;
    cap_wtap *w = open_data("mixed-linktypes-journal.pcapng", errbuf);

    (void)state;
    expect_frame(w, &skipped, DLT_EN10MB, 58, 58, T0_NS + 100123, frame_a);
    assert_int_equal(skipped, 0);
    expect_frame(w, &skipped, DLT_RAW, 44, 44, T0_NS + 200789, frame_b);
    assert_int_equal(skipped, 1);
    expect_frame(w, &skipped, DLT_EN10MB, 58, 58, T0_NS + 300456, frame_c);
    expect_eof(w, &skipped);
    assert_int_equal(skipped, 1);
    cap_wtap_close(w);
}

static void skipped_counter_may_be_null(void **state)
{
    char errbuf[CAP_ERRBUF];
    cap_wtap *w = open_data("mixed-linktypes-journal.pcapng", errbuf);

    (void)state;
    expect_frame(w, NULL, DLT_EN10MB, 58, 58, T0_NS + 100123, frame_a);
    expect_frame(w, NULL, DLT_RAW, 44, 44, T0_NS + 200789, frame_b);
    cap_wtap_close(w);
}

static void file_cut_inside_a_block_gives_frames_before_then_error(void **state)
{
    char errbuf[CAP_ERRBUF];
    unsigned long skipped = 0;
    cap_frame f;
    int n = 0;
    int rc;
    cap_wtap *w = open_data("mixed-linktypes-truncated.pcapng", errbuf);

    (void)state;
    errbuf[0] = '\0';
    while ((rc = cap_wtap_next(w, &f, &skipped, errbuf, sizeof errbuf)) == 1)
        n++;
    assert_int_equal(rc, -1);
    assert_int_equal(n, 2);
    assert_true(strlen(errbuf) > 0);
    print_message("truncated file: %s\n", errbuf);
    cap_wtap_close(w);
}

static void frames_before_the_damage_are_intact(void **state)
{
    char errbuf[CAP_ERRBUF];
    cap_wtap *w = open_data("mixed-linktypes-truncated.pcapng", errbuf);

    (void)state;
    expect_frame(w, NULL, DLT_EN10MB, 58, 58, T0_NS + 100123, frame_a);
    expect_frame(w, NULL, DLT_RAW, 44, 44, T0_NS + 200789, frame_b);
    cap_wtap_close(w);
}

/* Whole file into a malloc'd buffer; *len its size. */
static uint8_t *slurp(const char *path, size_t *len)
{
    uint8_t *data = malloc(65536);
    FILE *fp = fopen(path, "rb");

    assert_non_null(data);
    if (fp == NULL)
        fail_msg("%s: %s", path, strerror(errno));
    *len = fread(data, 1, 65536, fp);
    assert_true(feof(fp));
    fclose(fp);
    return data;
}

/* Reads a prefix of mixed-linktypes.pcapng: what comes out must be the first
 * frames, intact, then EOF (cut on a block boundary) or an error. */
static void read_prefix(const char *path, size_t len, size_t full)
{
    static const struct {
        int dlt;
        const uint8_t *bytes;
        uint32_t len;
    } want[3] = {
        { DLT_EN10MB, frame_a, sizeof frame_a },
        { DLT_RAW, frame_b, sizeof frame_b },
        { DLT_EN10MB, frame_c, sizeof frame_c },
    };
    char errbuf[CAP_ERRBUF] = "";
    unsigned long skipped = 0;
    cap_frame f;
    size_t n = 0;
    int rc;
    cap_wtap *w = cap_wtap_open(path, errbuf, sizeof errbuf);

    if (w == NULL) {
        assert_true(strlen(errbuf) > 0);
        return;
    }
    while ((rc = cap_wtap_next(w, &f, &skipped, errbuf, sizeof errbuf)) == 1) {
        assert_in_range(n, 0, 2);
        assert_int_equal(f.dlt, want[n].dlt);
        assert_int_equal(f.caplen, want[n].len);
        assert_memory_equal(f.data, want[n].bytes, want[n].len);
        n++;
    }
    if (rc == -1)
        assert_true(strlen(errbuf) > 0);
    else
        assert_int_equal(rc, 0);
    if (len == full)
        assert_int_equal(n, 3);
    assert_int_equal(skipped, 0);
    cap_wtap_close(w);
}

/* Writes the first len bytes of data to a new temporary file, named in path. */
static void write_temp(char *path, const uint8_t *data, size_t len)
{
    int fd = mkstemp(path);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    close(fd);
}

static void every_prefix_of_the_file_reads_cleanly_or_fails_with_a_reason(void **state)
{
    size_t full;
    uint8_t *data = slurp(TD_DATA_DIR "/mixed-linktypes.pcapng", &full);

    (void)state;
    for (size_t len = 0; len <= full; len++) {
        char path[] = "/tmp/td-test-wiretap-XXXXXX";

        write_temp(path, data, len);
        read_prefix(path, len, full);
        unlink(path);
    }
    free(data);
}

/* libwiretap's automatic detection reads a pcapng cut inside its first
 * interface block as a "MIME File Format" file with one 100-byte packet. */
static void pcapng_with_damaged_header_is_refused_not_read_as_another_format(void **state)
{
    char path[] = "/tmp/td-test-wiretap-XXXXXX";
    char errbuf[CAP_ERRBUF] = "";
    size_t full;
    uint8_t *data = slurp(TD_DATA_DIR "/mixed-linktypes.pcapng", &full);

    (void)state;
    write_temp(path, data, 100);
    assert_null(cap_wtap_open(path, errbuf, sizeof errbuf));
    assert_true(strlen(errbuf) > 0);
    print_message("damaged header: %s\n", errbuf);
    unlink(path);
    free(data);
}

static void missing_file_gives_null_and_the_reason(void **state)
{
    char errbuf[CAP_ERRBUF] = "";
    cap_wtap *w = cap_wtap_open(TD_DATA_DIR "/no-such-file.pcapng", errbuf, sizeof errbuf);

    (void)state;
    assert_null(w);
    assert_non_null(strstr(errbuf, strerror(ENOENT)));
    print_message("missing file: %s\n", errbuf);
}

static void standard_input_is_refused(void **state)
{
    char errbuf[CAP_ERRBUF] = "";

    (void)state;
    assert_null(cap_wtap_open("-", errbuf, sizeof errbuf));
    assert_true(strlen(errbuf) > 0);
}

static void file_that_is_not_a_capture_is_refused(void **state)
{
    char errbuf[CAP_ERRBUF] = "";

    (void)state;
    assert_null(cap_wtap_open(TD_SRCDIR "/tests/capture/make-mixed.sh", errbuf, sizeof errbuf));
    assert_true(strlen(errbuf) > 0);
    print_message("not a capture: %s\n", errbuf);
}

static void close_null_is_a_no_op(void **state)
{
    (void)state;
    cap_wtap_close(NULL);
}

/* Builds without libwiretap (wiretap_none.c). */
static void build_without_wiretap_says_why(void **state)
{
    char errbuf[CAP_ERRBUF] = "";

    (void)state;
    assert_false(cap_wtap_available());
    assert_null(cap_wtap_open(TD_DATA_DIR "/mixed-linktypes.pcapng", errbuf, sizeof errbuf));
    assert_string_equal(errbuf,
        "this build cannot read pcapng files with several link types (libwiretap missing)");
}

int main(void)
{
    const struct CMUnitTest without_wiretap[] = {
        cmocka_unit_test(build_without_wiretap_says_why),
        cmocka_unit_test(close_null_is_a_no_op),
    };
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(wiretap_is_available_in_this_build),
        cmocka_unit_test(ethernet_and_raw_interfaces_give_each_frame_its_own_dlt),
        cmocka_unit_test(interfaces_with_different_snaplens_keep_caplen_and_wirelen),
        cmocka_unit_test(each_link_type_maps_to_its_dlt_and_pseudo_header_types_to_none),
        cmocka_unit_test(journal_record_between_packets_is_skipped_and_counted),
        cmocka_unit_test(skipped_counter_may_be_null),
        cmocka_unit_test(file_cut_inside_a_block_gives_frames_before_then_error),
        cmocka_unit_test(frames_before_the_damage_are_intact),
        cmocka_unit_test(every_prefix_of_the_file_reads_cleanly_or_fails_with_a_reason),
        cmocka_unit_test(pcapng_with_damaged_header_is_refused_not_read_as_another_format),
        cmocka_unit_test(missing_file_gives_null_and_the_reason),
        cmocka_unit_test(standard_input_is_refused),
        cmocka_unit_test(file_that_is_not_a_capture_is_refused),
        cmocka_unit_test(close_null_is_a_no_op),
    };

    if (!cap_wtap_available())
        return cmocka_run_group_tests(without_wiretap, NULL, NULL);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
