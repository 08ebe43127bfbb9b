/* outbuf.h - private to src/report: append-only text buffer with fast number formatting. */
#ifndef TCPDOCTOR_REPORT_OUTBUF_H
#define TCPDOCTOR_REPORT_OUTBUF_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/*
 * Records are formatted into a fixed buffer and written with one fwrite:
 * printf-family calls per field cost more than the whole packet pipeline
 * on captures with many short connections.  A record that would not fit
 * sets `overflow` and is cut; callers size OB_CAP for their worst case.
 */
#define OB_CAP 8192

typedef struct outbuf {
    size_t len;
    bool overflow;
    char b[OB_CAP];
} outbuf;

/* Start an empty buffer.  Only the header is set: the 8 KiB of text are
 * written before they are read, and zeroing them per record would cost
 * more than formatting the record. */
static inline void ob_init(outbuf *o)
{
    o->len = 0;
    o->overflow = false;
}

static inline void ob_mem(outbuf *o, const char *s, size_t n)
{
    if (n > OB_CAP - o->len) {
        n = OB_CAP - o->len;
        o->overflow = true;
    }
    memcpy(o->b + o->len, s, n);
    o->len += n;
}

static inline void ob_str(outbuf *o, const char *s) { ob_mem(o, s, strlen(s)); }

static inline void ob_ch(outbuf *o, char c)
{
    if (o->len < OB_CAP)
        o->b[o->len++] = c;
    else
        o->overflow = true;
}

/* The decimal digits of v into t, last digit first; how many (1..20). */
static inline size_t ob_rdigits(uint64_t v, char t[20])
{
    size_t n = 0;
    do {
        t[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    return n;
}

static inline void ob_u64(outbuf *o, uint64_t v)
{
    char t[20];
    size_t n = ob_rdigits(v, t);
    if (n > OB_CAP - o->len) {
        o->overflow = true;
        return;
    }
    while (n > 0)
        o->b[o->len++] = t[--n];
}

/* Seconds since the epoch with 6 decimals (a JSON number). */
static inline void ob_time(outbuf *o, int64_t ts_ns)
{
    uint64_t v = (uint64_t)ts_ns;
    if (ts_ns < 0) {
        ob_ch(o, '-');
        v = 0 - v;
    }
    ob_u64(o, v / 1000000000u);
    uint64_t us = v % 1000000000u / 1000u;
    char t[7] = { '.' };
    for (int i = 6; i >= 1; i--) {
        t[i] = (char)('0' + us % 10);
        us /= 10;
    }
    ob_mem(o, t, 7);
}

/* JSON string (RFC 8259 7): quotes, backslashes and controls escaped. */
static inline void ob_json_str(outbuf *o, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    ob_ch(o, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            ob_ch(o, '\\');
            ob_ch(o, (char)*p);
        } else if (*p < 0x20) {
            char e[6] = { '\\', 'u', '0', '0', hex[*p >> 4], hex[*p & 15] };
            ob_mem(o, e, 6);
        } else {
            ob_ch(o, (char)*p);
        }
    }
    ob_ch(o, '"');
}

/* A string literal's bytes without strlen(). */
#define OB_LIT(o, lit) ob_mem((o), (lit), sizeof(lit) - 1)

static inline void ob_flush(outbuf *o, FILE *out)
{
    fwrite(o->b, 1, o->len, out);
    o->len = 0;
}

#endif
