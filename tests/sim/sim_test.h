/* sim_test.h - helpers for the simulator tests: scenarios built in C, and a reader that
 * turns a written pcap back into rows (checking every checksum on the way). */
#ifndef TCPDOCTOR_SIM_TEST_H
#define TCPDOCTOR_SIM_TEST_H

#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tcpdoctor/sim.h"

#define IP4(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (uint32_t)(d))

typedef struct tscn {
    sim_scenario sc;
    sim_net nets[4];
    sim_host hosts[8];
    sim_nat nats[2];
    sim_app apps[4];
    sim_point points[4];
} tscn;

static inline void tscn_init(tscn *t, sim_ns duration)
{
    memset(t, 0, sizeof *t);
    t->sc.duration = duration;
    t->sc.seed = 1;
    t->sc.nets = t->nets;
    t->sc.hosts = t->hosts;
    t->sc.nats = t->nats;
    t->sc.apps = t->apps;
    t->sc.points = t->points;
}

static inline sim_net *tscn_net(tscn *t, const char *name, sim_ns delay, uint16_t mtu)
{
    sim_net *n = &t->nets[t->sc.n_nets++];
    snprintf(n->name, sizeof n->name, "%s", name);
    n->delay = delay;
    n->mtu = mtu;
    return n;
}

static inline sim_host *tscn_host(tscn *t, const char *name, const char *net, uint32_t addr,
                                  const char *os, bool listen)
{
    sim_host *h = &t->hosts[t->sc.n_hosts++];
    snprintf(h->name, sizeof h->name, "%s", name);
    snprintf(h->net, sizeof h->net, "%s", net);
    h->addr = addr;
    h->count = 1;
    const sim_os *p = sim_os_lookup(os);
    if (p)
        h->os = *p;
    h->listen = listen;
    return h;
}

static inline sim_nat *tscn_nat(tscn *t, const char *name, const char *in, const char *out,
                                uint32_t ext)
{
    sim_nat *n = &t->nats[t->sc.n_nats++];
    snprintf(n->name, sizeof n->name, "%s", name);
    snprintf(n->inside, sizeof n->inside, "%s", in);
    snprintf(n->outside, sizeof n->outside, "%s", out);
    n->addrs[0] = ext;
    n->n_addrs = 1;
    n->port_lo = 1024;
    n->port_hi = 65535;
    n->ports = SIM_NAT_PRESERVE;
    /* Linux conntrack defaults (tcp-behaviour.md 4.1) */
    n->hold_syn = 120 * SIM_NS_PER_S;
    n->hold_established = 432000 * SIM_NS_PER_S;
    n->hold_fin = 120 * SIM_NS_PER_S;
    n->hold_timewait = 120 * SIM_NS_PER_S;
    n->hold_close = 10 * SIM_NS_PER_S;
    n->ttl_decrement = 1;
    return n;
}

static inline sim_app *tscn_app(tscn *t, const char *name, const char *client,
                                const char *server, uint16_t port)
{
    sim_app *a = &t->apps[t->sc.n_apps++];
    snprintf(a->name, sizeof a->name, "%s", name);
    snprintf(a->client, sizeof a->client, "%s", client);
    snprintf(a->server, sizeof a->server, "%s", server);
    a->port = port;
    a->rate = 1;
    a->request_bytes = 64;
    a->response_bytes = 512;
    a->dont_fragment = true;
    return a;
}

static inline sim_point *tscn_point(tscn *t, const char *name, const char *host, const char *net)
{
    sim_point *p = &t->points[t->sc.n_points++];
    snprintf(p->name, sizeof p->name, "%s", name);
    if (host)
        snprintf(p->host, sizeof p->host, "%s", host);
    if (net)
        snprintf(p->net, sizeof p->net, "%s", net);
    return p;
}

/* ---- reading a capture back ------------------------------------------------------ */

typedef struct row {
    int64_t t;                  /* ns since the first packet's epoch second */
    uint32_t src, dst;
    uint16_t sport, dport;
    uint32_t seq, ack;
    uint8_t flags;
    uint16_t len;               /* TCP payload (0 for non-first fragments) */
    uint8_t ttl, df, mf;
    uint16_t frag_off, ipid;
    int has_ts;
    uint32_t tsval, tsecr;
    int frag;                   /* 1: a fragment */
} row;

typedef struct rows {
    row *v;
    size_t n;
    int bad_checksums;
    int linktype, nano;
} rows;

static inline uint32_t rd16(const u_char *b) { return (uint32_t)b[0] << 8 | b[1]; }
static inline uint32_t rd32(const u_char *b) { return rd16(b) << 16 | rd16(b + 2); }

static inline uint16_t csum(const u_char *b, size_t n, uint32_t s)
{
    for (size_t i = 0; i + 1 < n; i += 2)
        s += rd16(b + i);
    if (n & 1)
        s += (uint32_t)b[n - 1] << 8;
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return (uint16_t)s;
}

/* Read every frame; returns 0 or -1 (cannot open). */
static inline int rows_read(const char *path, rows *r)
{
    char eb[PCAP_ERRBUF_SIZE];
    memset(r, 0, sizeof *r);
    pcap_t *p = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_NANO, eb);
    if (!p)
        return -1;
    r->linktype = pcap_datalink(p);
    r->nano = pcap_get_tstamp_precision(p) == PCAP_TSTAMP_PRECISION_NANO;
    struct pcap_pkthdr *h;
    const u_char *d;
    size_t cap = 0;
    while (pcap_next_ex(p, &h, &d) == 1) {
        if (r->n == cap) {
            cap = cap ? cap * 2 : 64;
            r->v = realloc(r->v, cap * sizeof *r->v);
        }
        row *x = &r->v[r->n++];
        memset(x, 0, sizeof *x);
        x->t = (int64_t)(h->ts.tv_sec - 1767225600LL) * 1000000000LL + h->ts.tv_usec;
        if (h->caplen < 34) {
            r->bad_checksums++;
            continue;
        }
        const u_char *ip = d + 14;
        unsigned tot = rd16(ip + 2);
        if (csum(ip, 20, 0) != 0xffff)
            r->bad_checksums++;
        x->ipid = (uint16_t)rd16(ip + 4);
        uint32_t ff = rd16(ip + 6);
        x->df = !!(ff & 0x4000);
        x->mf = !!(ff & 0x2000);
        x->frag_off = (uint16_t)((ff & 0x1fff) * 8);
        x->frag = x->mf || x->frag_off;
        x->ttl = ip[8];
        x->src = rd32(ip + 12);
        x->dst = rd32(ip + 16);
        if (x->frag_off)
            continue;
        const u_char *tcp = ip + 20;
        x->sport = (uint16_t)rd16(tcp);
        x->dport = (uint16_t)rd16(tcp + 2);
        x->seq = rd32(tcp + 4);
        x->ack = rd32(tcp + 8);
        unsigned hl = (tcp[12] >> 4) * 4u;
        x->flags = tcp[13];
        x->len = (uint16_t)(tot - 20 - hl);
        if (!x->frag) {
            u_char ph[12];
            memcpy(ph, ip + 12, 8);
            ph[8] = 0;
            ph[9] = 6;
            ph[10] = (u_char)((tot - 20) >> 8);
            ph[11] = (u_char)(tot - 20);
            if (csum(tcp, tot - 20, csum(ph, 12, 0)) != 0xffff)
                r->bad_checksums++;
        }
        for (unsigned o = 20; o < hl;) {
            u_char k = tcp[o];
            if (k == 0)
                break;
            if (k == 1) {
                o++;
                continue;
            }
            if (k == 8) {
                x->has_ts = 1;
                x->tsval = rd32(tcp + o + 2);
                x->tsecr = rd32(tcp + o + 6);
            }
            o += tcp[o + 1] ? tcp[o + 1] : 1;
        }
    }
    pcap_close(p);
    return 0;
}

/* "S" SYN, "SA" SYN-ACK, "A" ACK, "PA", "FA", "R", "RA"; '>' toward dst_addr, '<' from it. */
static inline void flag_str(uint8_t f, char *b)
{
    size_t n = 0;
    if (f & 0x02) b[n++] = 'S';
    if (f & 0x01) b[n++] = 'F';
    if (f & 0x04) b[n++] = 'R';
    if (f & 0x08) b[n++] = 'P';
    if (f & 0x10) b[n++] = 'A';
    b[n] = 0;
}

/* Sequence "dir flags" of the rows on one port pair, e.g. ">S <A >R >S <SA >A". */
static inline void seq_str(const rows *r, uint32_t server, uint16_t cport, size_t from, char *out,
                           size_t outlen)
{
    size_t n = 0;
    out[0] = 0;
    for (size_t i = from; i < r->n; i++) {
        const row *x = &r->v[i];
        bool to = x->dst == server;
        if ((to ? x->sport : x->dport) != cport)
            continue;
        char f[8];
        flag_str(x->flags, f);
        n += (size_t)snprintf(out + n, outlen - n, "%s%c%s", n ? " " : "", to ? '>' : '<', f);
        if (n >= outlen)
            break;
    }
}

#endif
