/* cursor.h - the bounds-checked reader every decode read goes through (private to src/decode). */
#ifndef TCPDOCTOR_DECODE_CURSOR_H
#define TCPDOCTOR_DECODE_CURSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/*
 * The bytes not yet read: p is the next byte, len how many follow.  The
 * cursor borrows the packet buffer and never owns it.
 *
 * Every reader checks len before touching memory and returns false when the
 * bytes are not there; on failure the cursor and *out are left unchanged, so
 * a caller can try something else or report exactly where the data ran out.
 * Only lengths are compared, never pointers (p + n can overflow).  All
 * multi-byte reads are big-endian (network order, RFC 1700 "Data Notations").
 */
typedef struct pkt_cursor {
    const uint8_t *p;       /* next unread byte; borrowed */
    size_t len;             /* bytes from p that may be read */
} pkt_cursor;

static inline pkt_cursor cur_make(const uint8_t *p, size_t len)
{
    pkt_cursor c = { p, len };
    return c;
}

static inline bool cur_has(const pkt_cursor *c, size_t n)
{
    return c->len >= n;
}

static inline bool cur_skip(pkt_cursor *c, size_t n)
{
    if (c->len < n)
        return false;
    c->p += n;
    c->len -= n;
    return true;
}

static inline bool cur_u8(pkt_cursor *c, uint8_t *out)
{
    if (c->len < 1)
        return false;
    *out = c->p[0];
    c->p += 1;
    c->len -= 1;
    return true;
}

static inline bool cur_be16(pkt_cursor *c, uint16_t *out)
{
    if (c->len < 2)
        return false;
    *out = (uint16_t)((unsigned)c->p[0] << 8 | c->p[1]);
    c->p += 2;
    c->len -= 2;
    return true;
}

static inline bool cur_be32(pkt_cursor *c, uint32_t *out)
{
    if (c->len < 4)
        return false;
    *out = (uint32_t)c->p[0] << 24 | (uint32_t)c->p[1] << 16 |
           (uint32_t)c->p[2] << 8 | c->p[3];
    c->p += 4;
    c->len -= 4;
    return true;
}

/* Copy n bytes out (addresses). */
static inline bool cur_bytes(pkt_cursor *c, void *out, size_t n)
{
    if (c->len < n)
        return false;
    memcpy(out, c->p, n);
    c->p += n;
    c->len -= n;
    return true;
}

/* Look at the byte off bytes ahead without consuming anything. */
static inline bool cur_peek_u8(const pkt_cursor *c, size_t off, uint8_t *out)
{
    if (c->len <= off)
        return false;
    *out = c->p[off];
    return true;
}

/* Split the next n bytes off into *sub (a cursor of exactly n bytes) and
 * advance past them. */
static inline bool cur_sub(pkt_cursor *c, size_t n, pkt_cursor *sub)
{
    if (c->len < n)
        return false;
    sub->p = c->p;
    sub->len = n;
    c->p += n;
    c->len -= n;
    return true;
}

/* Forget everything after the first n bytes (an IP length shorter than the
 * capture: the rest is link-layer trailer or padding). */
static inline void cur_limit(pkt_cursor *c, size_t n)
{
    if (c->len > n)
        c->len = n;
}

#endif
