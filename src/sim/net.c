/* net.c - networks: packet pool, address ownership, delay/jitter/loss, MTU and IPv4
 * fragmentation of DF-clear datagrams, routing host -> net -> NAT -> net -> host, and
 * reassembly at the receiving host (or at a reassembling NAT). */
#include <stdlib.h>
#include <string.h>

#include "sim_internal.h"

#define PKT_CHUNK 4096

sim_pkt *sim_pkt_new(sim_world *w)
{
    if (!w->pkt_free) {
        sim_pkt *chunk = calloc(PKT_CHUNK, sizeof *chunk);
        void **nc = realloc(w->pkt_chunks, (w->n_pkt_chunks + 1) * sizeof *nc);
        if (!chunk || !nc) {
            free(chunk);
            if (nc)
                w->pkt_chunks = nc;
            w->oom = 1;
            return NULL;
        }
        w->pkt_chunks = nc;
        w->pkt_chunks[w->n_pkt_chunks++] = chunk;
        for (size_t i = 0; i < PKT_CHUNK; i++) {
            chunk[i].next = w->pkt_free;
            w->pkt_free = &chunk[i];
        }
    }
    sim_pkt *p = w->pkt_free;
    w->pkt_free = p->next;
    memset(p, 0, sizeof *p);
    return p;
}

void sim_pkt_free(sim_world *w, sim_pkt *p)
{
    p->next = w->pkt_free;
    w->pkt_free = p;
}

/* TCP option bytes of a segment: the SYN layouts of tcp-behaviour.md 9.10 (p0f), and
 * NOP,NOP,TS (12 bytes) on other segments when timestamps were negotiated (RFC 7323 3.2,
 * Appendix A layout). Without TS the SYN layout drops the TS option and its padding. */
unsigned sim_pkt_opt_len(const sim_pkt *p)
{
    if (!p->syn_opts)
        return p->has_ts ? 12u : 0u;
    switch (p->layout) {
    case SIM_SYN_LINUX:   return p->has_ts ? 20u : 12u; /* mss,sok,ts,nop,ws | mss,nop,nop,sok,nop,ws */
    case SIM_SYN_WINDOWS: return p->has_ts ? 20u : 12u; /* mss,nop,ws,sok,ts | mss,nop,ws,nop,nop,sok */
    case SIM_SYN_FREEBSD: return p->has_ts ? 20u : 12u; /* mss,nop,ws,sok,ts | mss,nop,ws,sok,eol,eol */
    default:              return p->has_ts ? 24u : 12u; /* mss,nop,ws,nop,nop,ts,sok,eol | mss,nop,ws,sok,eol,eol */
    }
}

/* ---- address ownership ------------------------------------------------------------- */

static inline size_t amap_slot(uint32_t addr, size_t size)
{
    return (size_t)((addr * 0x9e3779b1u) >> 7) & (size - 1);
}

uint32_t sim_addr_lookup(const sim_world *w, uint32_t addr)
{
    if (!w->amap_size)
        return 0;
    for (size_t i = amap_slot(addr, w->amap_size);; i = (i + 1) & (w->amap_size - 1)) {
        if (w->amap_val[i] == 0)
            return 0;
        if (w->amap_key[i] == addr)
            return w->amap_val[i];
    }
}

/* ---- sending ----------------------------------------------------------------------- */

/* Where a datagram for `dst` goes from network `net`: the host owning dst (routed even
 * when it sits on another network), the NAT owning dst as a pool address, else the
 * network's NAT gateway (the NAT whose inside is this network); 0 = nowhere. */
static uint32_t route(const sim_world *w, uint32_t net, uint32_t dst, uint8_t *type)
{
    uint32_t code = sim_addr_lookup(w, dst);
    if (sim_own_kind(code) == SIM_OWN_HOST) {
        uint32_t h = sim_own_idx(code);
        if (w->hosts[h].net == net || w->n_nats == 0) {
            *type = EV_ARRIVE_HOST;
            return code;
        }
        /* the host is elsewhere: through the gateway if there is one, else routed */
    } else if (sim_own_kind(code) == SIM_OWN_NAT) {
        uint32_t n = sim_own_idx(code);
        if (w->nats[n].out_net == net) {
            *type = EV_ARRIVE_NAT_OUT;
            return code;
        }
    }
    for (size_t i = 0; i < w->n_nats; i++)
        if (w->nats[i].in_net == net) {
            *type = EV_ARRIVE_NAT_IN;
            return (SIM_OWN_NAT << 30) | (uint32_t)i;
        }
    if (sim_own_kind(code) == SIM_OWN_HOST) {
        *type = EV_ARRIVE_HOST;
        return code;
    }
    return 0;
}

static void transmit_one(sim_world *w, uint32_t net, sim_pkt *p)
{
    sim_rnet *n = &w->nets[net];
    if (n->capmask)
        sim_cap_write(w, n->capmask, p);
    uint8_t type = 0;
    uint32_t to = route(w, net, p->dst, &type);
    if (!to) {
        sim_pkt_free(w, p);
        return;
    }
    if (n->cfg->loss > 0 && sim_rng_unit(&w->rng) < n->cfg->loss) {
        w->lost++;
        sim_pkt_free(w, p);
        return;
    }
    /* jitter delays packets but never reorders them: a network is one FIFO path, so a
     * packet arrives no earlier than the one sent before it */
    sim_ns d = n->cfg->delay;
    if (n->cfg->jitter > 0)
        d += (sim_ns)(sim_rng_unit(&w->rng) * (double)n->cfg->jitter);
    sim_ns at = w->now + d;
    if (at < n->last_at)
        at = n->last_at;
    n->last_at = at;
    sim_event e = { .at = at, .type = type, .idx = sim_own_idx(to), .pkt = p };
    sim_schedule(w, &e);
}

/* RFC 791 3.2 fragmentation: pieces of (MTU - 20) rounded down to 8 bytes, MF on all but
 * the last; fragmenting a fragment keeps its offset base and its MF on the last piece. */
void sim_net_send(sim_world *w, uint32_t net, sim_pkt *p)
{
    unsigned mtu = w->nets[net].mtu;
    unsigned total = sim_pkt_ip_len(p);
    if (total <= mtu) {
        transmit_one(w, net, p);
        return;
    }
    if (p->df) {
        /* RFC 1191: dropped; the ICMP "fragmentation needed" is not modelled (a PMTU
         * black hole, tcp-behaviour.md 9.9 (d)). */
        sim_pkt_free(w, p);
        return;
    }
    unsigned chunk = (mtu - 20u) & ~7u;
    unsigned base = p->is_frag ? p->frag_off : 0;
    unsigned plen = p->is_frag ? p->frag_len : sim_pkt_l4_len(p);
    bool last_mf = p->is_frag ? p->mf : false;
    for (unsigned off = 0; off < plen; off += chunk) {
        sim_pkt *f = off + chunk >= plen ? p : sim_pkt_new(w);
        if (!f) {
            sim_pkt_free(w, p);
            return;
        }
        if (f != p)
            *f = *p;
        unsigned len = plen - off < chunk ? plen - off : chunk;
        f->is_frag = 1;
        f->frag_off = (uint16_t)(base + off);
        f->frag_len = (uint16_t)len;
        f->mf = off + len < plen ? 1 : last_mf;
        transmit_one(w, net, f);
    }
}

/* ---- reassembly (RFC 815 style, fragments assumed not to overlap) ------------------ */

sim_pkt *sim_net_reassemble(sim_world *w, uint32_t to, sim_pkt *p)
{
    if (!p->is_frag)
        return p;
    sim_frag_slot *free_slot = NULL, *oldest = NULL, *s = NULL;
    for (size_t i = 0; i < SIM_FRAG_SLOTS; i++) {
        sim_frag_slot *c = &w->frags[i];
        if (c->used && c->expires <= w->now)
            c->used = false;    /* Linux ip_expire(): dropped after ipfrag_time */
        if (!c->used) {
            if (!free_slot)
                free_slot = c;
            continue;
        }
        if (c->to == to && c->src == p->src && c->dst == p->dst && c->ipid == p->ipid) {
            s = c;
            break;
        }
        if (!oldest || c->expires < oldest->expires)
            oldest = c;
    }
    if (!s) {
        s = free_slot ? free_slot : oldest;
        memset(s, 0, sizeof *s);
        s->used = true;
        s->to = to;
        s->src = p->src;
        s->dst = p->dst;
        s->ipid = p->ipid;
        s->expires = w->now + SIM_FRAG_TIME;
    }
    s->have = (uint16_t)(s->have + p->frag_len);
    if (!p->mf)
        s->total = (uint16_t)(p->frag_off + p->frag_len);
    if (p->frag_off == 0) {
        s->first = *p;
        s->have_first = true;
    }
    if (!(s->total && s->have >= s->total && s->have_first)) {
        sim_pkt_free(w, p);
        return NULL;
    }
    *p = s->first;
    p->next = NULL;
    p->is_frag = 0;
    p->mf = 0;
    p->frag_off = p->frag_len = 0;
    s->used = false;
    return p;
}

sim_pkt *sim_net_host_input(sim_world *w, uint32_t host, sim_pkt *p)
{
    const sim_rhost *h = &w->hosts[host];
    if (h->capmask)
        sim_cap_write(w, h->capmask, p);
    return sim_net_reassemble(w, (SIM_OWN_HOST << 30) | host, p);
}
