/* nat.c - source NAT devices: per-5-tuple sessions with a small TCP state machine and
 * per-state hold times, external port allocation (preserve / sequential / random) from an
 * address pool, SYN drops when the table or the pool is full, optional timestamp
 * rewriting, and the fragment policies (forward / reassemble / drop). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sim_internal.h"

/* Session states, a reduction of Linux conntrack's (nf_conntrack_proto_tcp.c
 * tcp_conntracks) to the ones whose timers differ in sim_nat. */
enum sim_nat_state { NS_SYN, NS_EST, NS_FIN, NS_TIMEWAIT, NS_CLOSE };

static sim_ns hold_of(const sim_nat *c, int st)
{
    switch (st) {
    case NS_SYN:      return c->hold_syn;
    case NS_EST:      return c->hold_established;
    case NS_FIN:      return c->hold_fin;
    case NS_TIMEWAIT: return c->hold_timewait;
    default:          return c->hold_close;
    }
}

static inline size_t key_in(uint32_t a, uint16_t p, uint32_t d, uint16_t dp, size_t size)
{
    uint64_t k = ((uint64_t)a << 32 | d) * 0x9e3779b97f4a7c15ULL;
    k ^= ((uint64_t)p << 16 | dp) * 0xc2b2ae3d27d4eb4fULL;
    return (size_t)(k >> 40) & (size - 1);
}

int sim_nat_init(sim_world *w, sim_rnat *n)
{
    (void)w;
    n->tsize = 1024;
    n->tin = calloc(n->tsize, sizeof *n->tin);
    n->tout = calloc(n->tsize, sizeof *n->tout);
    return n->tin && n->tout ? 0 : -ENOMEM;
}

void sim_nat_free(sim_rnat *n)
{
    sim_cmap_free(&n->dest_ports);
    free(n->s);
    free(n->tin);
    free(n->tout);
    n->s = NULL;
    n->tin = n->tout = NULL;
}

static void link_session(sim_rnat *n, uint32_t i)
{
    sim_session *s = &n->s[i];
    size_t a = key_in(s->in_addr, s->in_port, s->dst_addr, s->dst_port, n->tsize);
    size_t b = key_in(s->ext_addr, s->ext_port, s->dst_addr, s->dst_port, n->tsize);
    s->hin = n->tin[a];
    n->tin[a] = i + 1;
    s->hout = n->tout[b];
    n->tout[b] = i + 1;
}

static int grow_tables(sim_rnat *n)
{
    size_t ns = n->tsize * 2;
    uint32_t *a = calloc(ns, sizeof *a), *b = calloc(ns, sizeof *b);
    if (!a || !b) {
        free(a);
        free(b);
        return -ENOMEM;
    }
    free(n->tin);
    free(n->tout);
    n->tin = a;
    n->tout = b;
    n->tsize = ns;
    for (uint32_t i = 0; i < n->n_s; i++)
        if (n->s[i].live)
            link_session(n, i);
    return 0;
}

static void unlink_chain(uint32_t *head, sim_session *base, uint32_t i, bool out)
{
    for (uint32_t *pp = head; *pp; pp = out ? &base[*pp - 1].hout : &base[*pp - 1].hin)
        if (*pp == i + 1) {
            *pp = out ? base[i].hout : base[i].hin;
            return;
        }
}

static void delete_session(sim_rnat *n, uint32_t i)
{
    sim_session *s = &n->s[i];
    unlink_chain(&n->tin[key_in(s->in_addr, s->in_port, s->dst_addr, s->dst_port, n->tsize)],
                 n->s, i, false);
    unlink_chain(&n->tout[key_in(s->ext_addr, s->ext_port, s->dst_addr, s->dst_port, n->tsize)],
                 n->s, i, true);
    /* the entry exists (added in new_session), so this cannot allocate */
    sim_cmap_add(&n->dest_ports, (uint64_t)s->ext_addr << 32 | s->dst_addr, s->dst_port, -1);
    s->live = 0;
    s->gen++;
    s->hin = n->free_s;
    n->free_s = i + 1;
    n->live--;
}

static int64_t find_in(sim_rnat *n, uint32_t a, uint16_t p, uint32_t d, uint16_t dp)
{
    for (uint32_t i = n->tin[key_in(a, p, d, dp, n->tsize)]; i; i = n->s[i - 1].hin) {
        const sim_session *s = &n->s[i - 1];
        if (s->in_addr == a && s->in_port == p && s->dst_addr == d && s->dst_port == dp)
            return i - 1;
    }
    return -1;
}

static int64_t find_out(sim_rnat *n, uint32_t e, uint16_t p, uint32_t d, uint16_t dp)
{
    for (uint32_t i = n->tout[key_in(e, p, d, dp, n->tsize)]; i; i = n->s[i - 1].hout) {
        const sim_session *s = &n->s[i - 1];
        if (s->ext_addr == e && s->ext_port == p && s->dst_addr == d && s->dst_port == dp)
            return i - 1;
    }
    return -1;
}

/* A session past its hold time is gone even if its expiry event has not run yet. */
static int64_t reap_if_expired(sim_world *w, sim_rnat *n, int64_t i)
{
    if (i >= 0 && n->s[i].expires <= w->now) {
        delete_session(n, (uint32_t)i);
        return -1;
    }
    return i;
}

static bool port_free(sim_world *w, sim_rnat *n, uint32_t ext, uint16_t port, uint32_t d,
                      uint16_t dp)
{
    return reap_if_expired(w, n, find_out(n, ext, port, d, dp)) < 0;
}

/* Linux NF_NAT_HARDER_THRESH: the last 32 probes may evict a closed session. */
#define NAT_HARDER_THRESH 32

static bool evict(sim_rnat *n, uint32_t ext, uint32_t port, uint32_t d, uint16_t dp)
{
    int64_t i = find_out(n, ext, (uint16_t)port, d, dp);
    if (i < 0 || (n->s[i].state != NS_TIMEWAIT && n->s[i].state != NS_CLOSE))
        return false;
    delete_session(n, (uint32_t)i);
    n->evicted++;
    return true;
}

/* External port choice, after Linux nf_nat_l4proto_unique_tuple() (tcp-behaviour.md 4.3):
 * uniqueness is per reply tuple (ext addr, ext port, dst addr, dst port); preserve keeps
 * the inside port when free, else (and for random) searches from random offsets with a
 * shrinking probe budget 128, 64, 32, 16; sequential continues after the last port given.
 * Returns the port or 0 (pool exhausted for this destination: the SYN is dropped). */
static uint16_t pick_port(sim_world *w, sim_rnat *n, uint32_t ext, uint16_t in_port,
                          uint32_t d, uint16_t dp)
{
    const sim_nat *c = n->cfg;
    uint32_t lo = c->port_lo, hi = c->port_hi, range = hi - lo + 1;
    /* every port toward this destination mapped: no search (sessions past their hold
     * time are reaped by their expiry events, at that very instant) */
    if (!c->evict_timewait && sim_cmap_get(&n->dest_ports, (uint64_t)ext << 32 | d, dp) >= range)
        return 0;
    if (c->ports == SIM_NAT_PRESERVE && in_port >= lo && in_port <= hi &&
        port_free(w, n, ext, in_port, d, dp))
        return in_port;
    if (c->ports == SIM_NAT_SEQUENTIAL) {
        for (uint32_t k = 0; k < range; k++) {
            uint32_t port = lo + (n->seq_cursor + k) % range;
            if (port_free(w, n, ext, (uint16_t)port, d, dp)) {
                n->seq_cursor = (port - lo + 1) % range;
                return (uint16_t)port;
            }
        }
        return 0;
    }
    uint32_t budget = range < 128 ? range : 128;
    uint32_t left = budget + (budget >= range ? 0 : budget / 2 + budget / 4 + budget / 8);
    for (;;) {
        uint32_t start = sim_rng_below(&w->rng, range);
        for (uint32_t k = 0; k < budget; k++, left--) {
            uint32_t port = lo + (start + k) % range;
            if (port_free(w, n, ext, (uint16_t)port, d, dp))
                return (uint16_t)port;
            if (c->evict_timewait && left <= NAT_HARDER_THRESH && evict(n, ext, port, d, dp))
                return (uint16_t)port;
        }
        if (budget >= range || budget <= 16)
            return 0;
        budget /= 2;
    }
}

static void arm_expiry(sim_world *w, sim_rnat *n, uint32_t nat, uint32_t i)
{
    sim_session *s = &n->s[i];
    if (s->ev_at && s->ev_at <= s->expires)
        return;
    s->ev_at = s->expires;
    sim_event e = { .at = s->expires, .type = EV_NAT_EXPIRE, .idx = nat, .aux = i, .gen = s->gen };
    sim_schedule(w, &e);
}

void sim_nat_expire(sim_world *w, uint32_t nat, uint32_t i, uint32_t gen)
{
    sim_rnat *n = &w->nats[nat];
    if (i >= n->n_s || n->s[i].gen != gen || !n->s[i].live)
        return;
    sim_session *s = &n->s[i];
    if (s->ev_at == w->now)
        s->ev_at = 0;
    if (s->expires <= w->now)
        delete_session(n, i);
    else
        arm_expiry(w, n, nat, i);
}

static int64_t new_session(sim_world *w, sim_rnat *n, uint32_t nat, const sim_pkt *p)
{
    const sim_nat *c = n->cfg;
    if (c->max_sessions && n->live >= c->max_sessions)
        return -1;
    /* the pool address: a keyed hash of (source, destination), as Linux
     * find_best_ips_proto() does without `persistent` */
    uint32_t ext = c->addrs[sim_mix(w->seed, p->src, p->dst) % c->n_addrs];
    uint16_t port = pick_port(w, n, ext, p->sport, p->dst, p->dport);
    if (!port)
        return -1;
    if (n->live + 1 > n->tsize && grow_tables(n) < 0) {
        w->oom = 1;
        return -1;
    }
    uint32_t i;
    if (n->free_s) {
        i = n->free_s - 1;
        n->free_s = n->s[i].hin;
    } else {
        if (n->n_s == n->cap_s) {
            size_t ncap = n->cap_s ? n->cap_s * 2 : 256;
            sim_session *ns = realloc(n->s, ncap * sizeof *ns);
            if (!ns) {
                w->oom = 1;
                return -1;
            }
            n->s = ns;
            n->cap_s = ncap;
        }
        i = (uint32_t)n->n_s++;
        n->s[i].gen = 0;
    }
    sim_session *s = &n->s[i];
    uint32_t gen = s->gen;
    memset(s, 0, sizeof *s);
    s->gen = gen;
    s->live = 1;
    s->in_addr = p->src;
    s->in_port = p->sport;
    s->dst_addr = p->dst;
    s->dst_port = p->dport;
    s->ext_addr = ext;
    s->ext_port = port;
    s->state = NS_SYN;
    s->ts_delta = c->rewrite_timestamps ? (uint32_t)sim_rng_next(&w->rng) : 0;
    s->expires = w->now + c->hold_syn;
    if (sim_cmap_add(&n->dest_ports, (uint64_t)ext << 32 | s->dst_addr, s->dst_port, 1) < 0) {
        w->oom = 1;
        return -1;
    }
    link_session(n, i);
    if (++n->live > n->peak)
        n->peak = n->live;
    arm_expiry(w, n, nat, i);
    return i;
}

/* State update, after Linux nf_conntrack_tcp_packet() reduced to the sim's states. */
static void track(sim_world *w, sim_rnat *n, uint32_t nat, uint32_t i, const sim_pkt *p,
                  bool outbound)
{
    sim_session *s = &n->s[i];
    int st = s->state;
    bool refresh = true;
    if (p->flags & TF_RST) {
        st = NS_CLOSE;
    } else if (p->flags & TF_SYN) {
        if (!outbound && (p->flags & TF_ACK) && st == NS_SYN)
            st = NS_EST;
        else if (outbound && st == NS_SYN)
            refresh = false; /* SYN_SENT is not refreshed by SYN retransmissions */
    } else {
        if (p->flags & TF_FIN) {
            if (outbound)
                s->fin_out = 1;
            else
                s->fin_in = 1;
        }
        if (s->fin_in && s->fin_out)
            st = NS_TIMEWAIT;
        else if (s->fin_in || s->fin_out)
            st = NS_FIN;
        else if (st == NS_SYN && !outbound)
            refresh = false; /* reply ACK to a SYN: conntrack ignores it (4.2) */
        else if (st == NS_SYN)
            st = NS_EST;
    }
    /* Only-RST reply to an entry that never saw a reply: deleted at once (4.2). */
    if ((p->flags & TF_RST) && !outbound && s->state == NS_SYN) {
        s->expires = w->now;
        s->state = NS_CLOSE;
        arm_expiry(w, n, nat, i);
        return;
    }
    s->state = (uint8_t)st;
    if (refresh) {
        s->expires = w->now + hold_of(n->cfg, st);
        arm_expiry(w, n, nat, i);
    }
}

static void forward(sim_world *w, sim_rnat *n, uint32_t net, sim_pkt *p)
{
    uint8_t dec = n->cfg->ttl_decrement;
    if (p->ttl <= dec) {
        sim_pkt_free(w, p);
        return;
    }
    p->ttl = (uint8_t)(p->ttl - dec);
    sim_net_send(w, net, p);
}

/* Fragment policy.  Returns the packet to translate, or NULL if consumed.  `forward`
 * passes non-first fragments untranslated (the NAT cannot map them without their ports,
 * tcp-behaviour.md 9.9 (a)); `drop` is the AWS NAT gateway's (7.2); `reassemble` is
 * Linux nf_defrag_ipv4 (4.4), the datagram being refragmented on the way out. */
static sim_pkt *frag_policy(sim_world *w, sim_rnat *n, uint32_t nat, sim_pkt *p,
                            uint32_t out_net)
{
    if (!p->is_frag)
        return p;
    switch (n->cfg->frag) {
    case SIM_FRAG_DROP:
        n->frag_dropped++;
        sim_pkt_free(w, p);
        return NULL;
    case SIM_FRAG_REASSEMBLE:
        return sim_net_reassemble(w, (SIM_OWN_NAT << 30) | nat, p);
    default:
        if (p->frag_off == 0)
            return p;
        forward(w, n, out_net, p);
        return NULL;
    }
}

/* The AWS NAT gateway's answer to a packet of a timed-out session: an RST toward the
 * inside host, shaped per RFC 9293 3.5.2 (seq = the packet's ack). */
static void reset_inside(sim_world *w, sim_rnat *n, sim_pkt *p)
{
    uint32_t src = p->src, dst = p->dst;
    uint16_t sport = p->sport, dport = p->dport;
    uint32_t seq = p->seq, ack = p->ack;
    uint8_t flags = p->flags;
    uint16_t len = p->len;
    memset(p, 0, sizeof *p);
    p->src = dst;
    p->dst = src;
    p->sport = dport;
    p->dport = sport;
    p->ttl = 64;
    p->df = 1;
    if (flags & TF_ACK) {
        p->seq = ack;
        p->flags = TF_RST;
    } else {
        p->flags = TF_RST | TF_ACK;
        p->ack = seq + len + !!(flags & TF_SYN) + !!(flags & TF_FIN);
    }
    sim_net_send(w, n->in_net, p);
}

static bool own_addr(const sim_nat *c, uint32_t a)
{
    for (uint32_t i = 0; i < c->n_addrs; i++)
        if (c->addrs[i] == a)
            return true;
    return false;
}

void sim_nat_from_inside(sim_world *w, uint32_t nat, sim_pkt *p)
{
    sim_rnat *n = &w->nats[nat];
    if (own_addr(n->cfg, p->dst)) {
        /* to the NAT's own outside address from inside (no hairpinning); this is also
         * where an untranslated non-first fragment passed inward ends */
        sim_pkt_free(w, p);
        return;
    }
    p = frag_policy(w, n, nat, p, n->out_net);
    if (!p)
        return;
    int64_t i = reap_if_expired(w, n, find_in(n, p->src, p->sport, p->dst, p->dport));
    bool syn = (p->flags & (TF_SYN | TF_ACK | TF_RST)) == TF_SYN;
    /* Linux conntrack (tcp-behaviour.md 4.2): a new SYN on an entry in TIME_WAIT or CLOSE
     * deletes it and is re-run, so the mapping is chosen anew. */
    if (i >= 0 && syn && (n->s[i].state == NS_TIMEWAIT || n->s[i].state == NS_CLOSE)) {
        delete_session(n, (uint32_t)i);
        i = -1;
    }
    if (i < 0) {
        if (!syn) {
            n->no_session++;
            if (n->cfg->rst_on_expired && !(p->flags & TF_RST))
                reset_inside(w, n, p);
            else
                sim_pkt_free(w, p);
            return;
        }
        i = new_session(w, n, nat, p);
        if (i < 0) {
            n->syn_dropped++;
            sim_pkt_free(w, p);
            return;
        }
    }
    track(w, n, nat, (uint32_t)i, p, true);
    const sim_session *s = &n->s[i];
    p->src = s->ext_addr;
    p->sport = s->ext_port;
    if (p->has_ts)
        p->tsval += s->ts_delta;
    forward(w, n, n->out_net, p);
}

void sim_nat_from_outside(sim_world *w, uint32_t nat, sim_pkt *p)
{
    sim_rnat *n = &w->nats[nat];
    p = frag_policy(w, n, nat, p, n->in_net);
    if (!p)
        return;
    int64_t i = reap_if_expired(w, n, find_out(n, p->dst, p->dport, p->src, p->sport));
    if (i < 0) {
        n->no_session++;
        sim_pkt_free(w, p);
        return;
    }
    track(w, n, nat, (uint32_t)i, p, false);
    const sim_session *s = &n->s[i];
    p->dst = s->in_addr;
    p->dport = s->in_port;
    if (p->has_ts && (p->flags & TF_ACK))
        p->tsecr -= s->ts_delta;
    forward(w, n, n->in_net, p);
}
