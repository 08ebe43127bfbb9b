/* helpers.h - decoding the samples and asserting on views, shared by the decode tests. */
#ifndef TCPDOCTOR_TESTS_DECODE_HELPERS_H
#define TCPDOCTOR_TESTS_DECODE_HELPERS_H

/* cmocka.h needs these first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tcpdoctor/packet.h"
#include "samples.h"

static inline uint64_t an(enum pkt_anomaly a)
{
    return UINT64_C(1) << a;
}

/* "name,name,..." for a set of anomaly bits, so failures print words. */
static inline const char *an_names(uint64_t bits, char *buf, size_t len)
{
    size_t used = 0;

    buf[0] = '\0';
    for (int a = 0; a < 64; a++) {
        if (!(bits & (UINT64_C(1) << a)))
            continue;
        int n = snprintf(buf + used, len - used, "%s%s", used ? "," : "",
                         a < PKT_AN_COUNT ? pkt_anomaly_name((enum pkt_anomaly)a)
                                          : "out_of_range");
        if (n < 0 || (size_t)n >= len - used)
            break;
        used += (size_t)n;
    }
    return buf;
}

/* Compare anomaly sets by name (cmocka prints both strings on failure). */
static inline void assert_anomalies(const pkt_view *v, uint64_t want)
{
    char got_s[1024], want_s[1024];

    assert_string_equal(an_names(v->anomalies, got_s, sizeof got_s),
                        an_names(want, want_s, sizeof want_s));
}

static inline const dec_sample *sample(const char *name)
{
    const dec_sample *s = dec_sample_find(name);

    if (s == NULL)
        fail_msg("no sample called %s", name);
    return s;
}

/*
 * Decode the first caplen bytes of bytes[] with wirelen as given.  The bytes
 * are copied to a heap block of exactly caplen bytes so that AddressSanitizer
 * catches any read past the capture.  v's num/ts_ns/source are preserved.
 */
static inline enum pkt_status decode_bytes(int dlt, const uint8_t *bytes,
                                           uint32_t caplen, uint32_t wirelen,
                                           pkt_view *v)
{
    uint8_t *copy = malloc(caplen);     /* malloc(0) may give NULL: fine */
    enum pkt_status st;

    if (caplen > 0) {
        assert_non_null(copy);
        memcpy(copy, bytes, caplen);
    }
    st = pkt_decode(dlt, copy, caplen, wirelen, v);
    free(copy);
    return st;
}

/* The sample cut to caplen bytes; the wire length stays the full length. */
static inline enum pkt_status decode_cut(const dec_sample *s, uint32_t caplen,
                                         pkt_view *v)
{
    return decode_bytes(s->dlt, s->bytes, caplen, s->len, v);
}

/* The whole sample, from a zeroed view. */
static inline enum pkt_status decode_sample(const char *name, pkt_view *v)
{
    const dec_sample *s = sample(name);

    memset(v, 0, sizeof *v);
    return decode_cut(s, s->len, v);
}

static inline void assert_addr(const pkt_addr *a, const char *want)
{
    char buf[PKT_ADDR_STRLEN];

    assert_string_equal(pkt_addr_str(a, buf, sizeof buf), want);
}

#endif
