/* pcap.c - capture points: serialises simulated packets as Ethernet + IPv4 + TCP with
 * correct checksums and the profiles' option layouts, and writes them with libpcap
 * (nanosecond timestamps from the virtual clock). */
#include <errno.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim_internal.h"

#define FRAME_MAX (14 + 65535)
#define CAP_IOBUF (1 << 20)

struct sim_cap {
    FILE *fp;               /* owned by the dumper once it exists */
    char *iobuf;            /* stdio buffer: fewer write(2) calls */
    pcap_t *pd;
    pcap_dumper_t *d;
    const char *path;
    uint64_t count;
};

typedef struct capbufs {
    uint8_t frame[FRAME_MAX];
    uint8_t seg[65536];
} capbufs;

static inline void put16(uint8_t *b, uint16_t v)
{
    b[0] = (uint8_t)(v >> 8);
    b[1] = (uint8_t)v;
}

static inline void put32(uint8_t *b, uint32_t v)
{
    b[0] = (uint8_t)(v >> 24);
    b[1] = (uint8_t)(v >> 16);
    b[2] = (uint8_t)(v >> 8);
    b[3] = (uint8_t)v;
}

static uint32_t sum16(const uint8_t *b, size_t n, uint32_t s)
{
    for (size_t i = 0; i + 1 < n; i += 2)
        s += (uint32_t)b[i] << 8 | b[i + 1];
    if (n & 1)
        s += (uint32_t)b[n - 1] << 8;
    return s;
}

static uint16_t fold(uint32_t s)
{
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return (uint16_t)~s;
}

/* Option bytes, written by kind in the order of a layout; the lengths agree with
 * sim_pkt_opt_len(). */
enum { O_EOL, O_NOP, O_MSS, O_WS, O_SOK, O_TS };

static unsigned put_opt(const sim_pkt *p, int kind, uint8_t *o)
{
    switch (kind) {
    case O_MSS:
        o[0] = 2; o[1] = 4;
        put16(o + 2, p->mss);
        return 4;
    case O_WS:
        o[0] = 3; o[1] = 3; o[2] = p->ws;
        return 3;
    case O_SOK:
        o[0] = 4; o[1] = 2;
        return 2;
    case O_TS:
        o[0] = 8; o[1] = 10;
        put32(o + 2, p->tsval);
        put32(o + 6, p->tsecr);
        return 10;
    case O_NOP:
        o[0] = 1;
        return 1;
    default:
        o[0] = 0;
        return 1;
    }
}

static unsigned put_opts(const sim_pkt *p, uint8_t *o)
{
    /* p0f layouts (tcp-behaviour.md 9.10); without TS the stacks drop it and its padding */
    static const int8_t layouts[4][2][9] = {
        [SIM_SYN_LINUX] = { { O_MSS, O_NOP, O_NOP, O_SOK, O_NOP, O_WS, -1 },
                            { O_MSS, O_SOK, O_TS, O_NOP, O_WS, -1 } },
        [SIM_SYN_WINDOWS] = { { O_MSS, O_NOP, O_WS, O_NOP, O_NOP, O_SOK, -1 },
                              { O_MSS, O_NOP, O_WS, O_SOK, O_TS, -1 } },
        [SIM_SYN_FREEBSD] = { { O_MSS, O_NOP, O_WS, O_SOK, O_EOL, O_EOL, -1 },
                              { O_MSS, O_NOP, O_WS, O_SOK, O_TS, -1 } },
        [SIM_SYN_MACOS] = { { O_MSS, O_NOP, O_WS, O_SOK, O_EOL, O_EOL, -1 },
                            { O_MSS, O_NOP, O_WS, O_NOP, O_NOP, O_TS, O_SOK, O_EOL, O_EOL } },
    };
    static const int8_t ts_only[] = { O_NOP, O_NOP, O_TS, -1 };
    const int8_t *l;
    size_t max = 9;
    if (!p->syn_opts) {
        if (!p->has_ts)
            return 0;
        l = ts_only;
    } else {
        l = layouts[p->layout < 4 ? p->layout : SIM_SYN_MACOS][p->has_ts ? 1 : 0];
    }
    unsigned n = 0;
    for (size_t i = 0; i < max && l[i] >= 0; i++)
        n += put_opt(p, l[i], o + n);
    return n;
}

/* The TCP segment (header + zero payload) into seg; returns its length. */
static unsigned build_segment(const sim_pkt *p, uint8_t *seg)
{
    unsigned optlen = sim_pkt_opt_len(p);
    unsigned hl = 20 + optlen;
    memset(seg, 0, 64);
    put16(seg, p->sport);
    put16(seg + 2, p->dport);
    put32(seg + 4, p->seq);
    put32(seg + 8, p->ack);
    seg[12] = (uint8_t)((hl / 4) << 4);
    seg[13] = p->flags;
    put16(seg + 14, p->win);
    unsigned got = put_opts(p, seg + 20);
    (void)got; /* equal to optlen by construction */
    unsigned l4 = hl + p->len;
    uint8_t ph[12];
    put32(ph, p->src);
    put32(ph + 4, p->dst);
    ph[8] = 0;
    ph[9] = 6;
    put16(ph + 10, (uint16_t)l4);
    uint32_t s = sum16(ph, sizeof ph, 0);
    s = sum16(seg, hl, s); /* the payload is zeros: it adds nothing */
    put16(seg + 16, fold(s));
    return l4;
}

static unsigned build_frame(const sim_pkt *p, capbufs *b)
{
    uint8_t *f = b->frame;
    unsigned l4 = build_segment(p, b->seg);
    unsigned off = p->is_frag ? p->frag_off : 0;
    unsigned len = p->is_frag ? p->frag_len : l4;
    if (off + len > l4)
        len = off < l4 ? l4 - off : 0;
    /* Ethernet: locally administered MACs derived from the IPs */
    f[0] = 0x02; f[1] = 0;
    put32(f + 2, p->dst);
    f[6] = 0x02; f[7] = 0;
    put32(f + 8, p->src);
    put16(f + 12, 0x0800);
    uint8_t *ip = f + 14;
    ip[0] = 0x45;
    ip[1] = 0;
    put16(ip + 2, (uint16_t)(20 + len));
    put16(ip + 4, p->ipid);
    put16(ip + 6, (uint16_t)((p->df ? 0x4000 : 0) | (p->mf ? 0x2000 : 0) | (off / 8)));
    ip[8] = p->ttl;
    ip[9] = 6;
    put16(ip + 10, 0);
    put32(ip + 12, p->src);
    put32(ip + 16, p->dst);
    put16(ip + 10, fold(sum16(ip, 20, 0)));
    memcpy(ip + 20, b->seg + off, len);
    return 14 + 20 + len;
}

int sim_cap_open(sim_world *w, const sim_run_opts *o, char *errbuf, size_t errlen)
{
    if (!o->n_captures)
        return 0;
    w->caps = calloc(o->n_captures, sizeof *w->caps);
    if (!w->caps) {
        snprintf(errbuf, errlen, "out of memory");
        return -1;
    }
    w->n_caps = o->n_captures;
    for (size_t i = 0; i < o->n_captures; i++) {
        sim_cap *c = &w->caps[i];
        c->path = o->captures[i].path;
        c->pd = pcap_open_dead_with_tstamp_precision(DLT_EN10MB, 65535,
                                                     PCAP_TSTAMP_PRECISION_NANO);
        if (!c->pd) {
            snprintf(errbuf, errlen, "%s: cannot create a pcap handle", c->path);
            return -1;
        }
        c->fp = fopen(c->path, "wb");
        if (!c->fp) {
            snprintf(errbuf, errlen, "%s: %s", c->path, strerror(errno));
            return -1;
        }
        c->iobuf = malloc(CAP_IOBUF);
        if (c->iobuf)
            setvbuf(c->fp, c->iobuf, _IOFBF, CAP_IOBUF);
        c->d = pcap_dump_fopen(c->pd, c->fp);
        if (!c->d) {
            snprintf(errbuf, errlen, "%s: %s", c->path, pcap_geterr(c->pd));
            fclose(c->fp);
            c->fp = NULL;
            return -1;
        }
    }
    return 0;
}

void sim_cap_write(sim_world *w, uint64_t mask, const sim_pkt *p)
{
    capbufs *b = (capbufs *)w->capbuf;
    unsigned n = build_frame(p, b);
    struct pcap_pkthdr h;
    sim_ns t = w->now;
    h.ts.tv_sec = (time_t)(SIM_EPOCH_S + t / SIM_NS_PER_S);
    h.ts.tv_usec = (suseconds_t)(t % SIM_NS_PER_S); /* nanoseconds: NANO precision */
    h.caplen = h.len = n;
    for (size_t i = 0; i < w->n_caps; i++)
        if (mask & (1ULL << i)) {
            pcap_dump((u_char *)w->caps[i].d, &h, b->frame);
            w->caps[i].count++;
        }
}

int sim_cap_close(sim_world *w, uint64_t *counts, char *errbuf, size_t errlen)
{
    int rc = 0;
    for (size_t i = 0; i < w->n_caps; i++) {
        sim_cap *c = &w->caps[i];
        if (counts)
            counts[i] = c->count;
        if (c->d) {
            if ((pcap_dump_flush(c->d) != 0 || ferror(c->fp)) && rc == 0) {
                snprintf(errbuf, errlen, "%s: write failed", c->path);
                rc = -1;
            }
            pcap_dump_close(c->d); /* closes fp */
        }
        free(c->iobuf);
        if (c->pd)
            pcap_close(c->pd);
    }
    free(w->caps);
    w->caps = NULL;
    w->n_caps = 0;
    return rc;
}

size_t sim_cap_bufsize(void)
{
    return sizeof(capbufs);
}
