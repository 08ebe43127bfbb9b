/* sweep.c - the start and end events of many intervals in time order, for the occupancy sweeps of port-exhaustion and timewait-accumulation. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "diagnose/diag_internal.h"

/*
 * How it works: the starts and the ends are sorted apart, then merged, an
 * end first when both fall on the same instant (a port freed and taken at
 * once is never counted twice).  The sort is a least-significant-digit
 * radix sort on the 64-bit times, a byte per pass, skipping the bytes all
 * times share (captures span seconds to hours, so the high bytes mostly
 * agree): linear in n, where qsort() with a comparison callback cost most
 * of port-exhaustion's final pass on a large capture.  Short runs use
 * insertion sort.
 */

enum { SWEEP_SMALL = 64 };

static void insertion_sort(int64_t *v, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        int64_t x = v[i];
        size_t j = i;
        for (; j > 0 && v[j - 1] > x; j--)
            v[j] = v[j - 1];
        v[j] = x;
    }
}

/* Sort v (n values) ascending; tmp has room for n. */
static void radix_sort(int64_t *v, size_t n, int64_t *tmp)
{
    if (n < SWEEP_SMALL) {
        insertion_sort(v, n);
        return;
    }
    static const uint64_t flip = 1ULL << 63;    /* signed order as unsigned */
    size_t cnt[8][256];
    memset(cnt, 0, sizeof cnt);
    for (size_t i = 0; i < n; i++) {
        uint64_t u = (uint64_t)v[i] ^ flip;
        for (int b = 0; b < 8; b++)
            cnt[b][(u >> (8 * b)) & 0xff]++;
    }
    int64_t *src = v, *dst = tmp;
    for (int b = 0; b < 8; b++) {
        unsigned first = (unsigned)((((uint64_t)src[0] ^ flip) >> (8 * b)) & 0xff);
        if (cnt[b][first] == n)
            continue;           /* every time has this byte: order unchanged */
        size_t pos = 0;
        for (int d = 0; d < 256; d++) {
            size_t c = cnt[b][d];
            cnt[b][d] = pos;
            pos += c;
        }
        for (size_t i = 0; i < n; i++) {
            unsigned d = (unsigned)((((uint64_t)src[i] ^ flip) >> (8 * b)) & 0xff);
            dst[cnt[b][d]++] = src[i];
        }
        int64_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != v)
        memcpy(v, src, n * sizeof *v);
}

int diag_interval_events(const int64_t *s, const int64_t *e, size_t n, diag_ev *out)
{
    int64_t *buf = malloc((3 * n + 1) * sizeof *buf);
    if (buf == NULL)
        return -ENOMEM;
    int64_t *st = buf, *en = buf + n, *tmp = buf + 2 * n;
    memcpy(st, s, n * sizeof *st);
    for (size_t k = 0; k < n; k++)      /* an interval lasts at least 1 ns */
        en[k] = e[k] > s[k] ? e[k] : s[k] < INT64_MAX ? s[k] + 1 : s[k];
    radix_sort(st, n, tmp);
    radix_sort(en, n, tmp);
    size_t i = 0, j = 0, k = 0;
    while (i < n || j < n) {
        if (j < n && (i == n || en[j] <= st[i]))
            out[k++] = (diag_ev){ en[j++], -1 };
        else
            out[k++] = (diag_ev){ st[i++], 1 };
    }
    free(buf);
    return 0;
}
