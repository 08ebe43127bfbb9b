/* sim.c - one simulation run: builds the world from a scenario, runs the event loop on
 * the virtual clock, and computes the summary.
 *
 * How it works
 *   Everything happens in events popped from one binary heap ordered by (virtual time,
 *   insertion sequence); all randomness comes from one xoshiro256** stream seeded with
 *   the run's seed and drawn in event order, so a scenario, seed and duration always give
 *   the same packets, byte for byte.  Packets are small structs (no payload bytes) from a
 *   pool; a host sends one onto its network (net.c), which captures it, fragments it if
 *   it exceeds the network's MTU and DF is clear, applies loss, and schedules its arrival
 *   after delay + jitter at the owner of the destination address: a host on that network,
 *   a NAT's pool address, or the network's NAT gateway.  NATs (nat.c) translate and send
 *   on their other network.  Hosts hand packets to the TCP model (tcp.c), which keeps one
 *   TCB per 4-tuple in one hash table (TIME_WAIT included) and follows the OS profile's
 *   rules; applications (app.c) open connections at a rate or a concurrency.
 *   Timers are lazy: a TCB keeps its due times and only pushes a heap event when a due
 *   time moves earlier than the one pending, so re-arming a timer costs nothing.
 *   At `duration` no new connection is opened; the run continues until every attempt
 *   has an outcome and every connection not in TIME_WAIT has closed (bounded by
 *   SIM_DRAIN_MAX), then the summary is computed.
 *
 * Limits
 *   IPv4 and TCP only; no congestion or flow control (everything written is sent at
 *   once, go-back-N on RTO), no SACK or reordering buffer (networks are FIFO: jitter
 *   delays but never reorders), no ICMP (so DF packets larger
 *   than a network's MTU vanish: a PMTU black hole), no delayed ACKs.  Linux's FIN_WAIT2
 *   timewait-substate rules and tw_recycle's active-side cache are not modelled.
 *   Non-first fragments that a `forward` NAT passes untranslated go nowhere.
 *   At most 64 captures per run.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim_internal.h"

const char *sim_fail_name(enum sim_fail f)
{
    switch (f) {
    case SIM_FAIL_TIMEOUT: return "timeout";
    case SIM_FAIL_RESET:   return "reset";
    case SIM_FAIL_NO_PORT: return "no-port";
    case SIM_FAIL_DATA:    return "data";
    default:               return "unknown";
    }
}

void sim_schedule(sim_world *w, const sim_event *e)
{
    if (sim_heap_push(&w->heap, e) < 0) {
        w->oom = 1;
        if (e->pkt)
            sim_pkt_free(w, e->pkt);
    }
}

/* ---- building the world ------------------------------------------------------------- */

static int64_t net_index(const sim_scenario *sc, const char *name)
{
    for (size_t i = 0; i < sc->n_nets; i++)
        if (strcmp(sc->nets[i].name, name) == 0)
            return (int64_t)i;
    return -1;
}

static int amap_put(sim_world *w, uint32_t addr, uint32_t code)
{
    for (size_t i = (size_t)((addr * 0x9e3779b1u) >> 7) & (w->amap_size - 1);;
         i = (i + 1) & (w->amap_size - 1)) {
        if (w->amap_val[i] == 0) {
            w->amap_key[i] = addr;
            w->amap_val[i] = code;
            return 0;
        }
        if (w->amap_key[i] == addr)
            return -1;
    }
}

static void fmt_addr(char *b, size_t n, uint32_t a)
{
    snprintf(b, n, "%u.%u.%u.%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255);
}

static int build_hosts(sim_world *w, char *errbuf, size_t errlen)
{
    const sim_scenario *sc = w->sc;
    size_t n = 0;
    for (size_t i = 0; i < sc->n_hosts; i++)
        n += sc->hosts[i].count ? sc->hosts[i].count : 1;
    if (n >= (1u << 30)) {
        snprintf(errbuf, errlen, "too many hosts (%zu)", n);
        return -1;
    }
    w->hosts = calloc(n ? n : 1, sizeof *w->hosts);
    if (!w->hosts)
        goto oom;
    w->n_hosts = n;
    size_t k = 0;
    for (size_t i = 0; i < sc->n_hosts; i++) {
        const sim_host *hc = &sc->hosts[i];
        uint32_t count = hc->count ? hc->count : 1;
        int64_t net = net_index(sc, hc->net);
        if (net < 0) {
            snprintf(errbuf, errlen, "host %s: net: no network named \"%s\"", hc->name, hc->net);
            return -1;
        }
        const sim_os *os = &hc->os;
        if (os->port_lo == 0 || os->port_hi < os->port_lo || os->ts_hz == 0 ||
            os->n_syn_retries < 0 || os->n_syn_retries > SIM_MAX_SYN_RETRIES ||
            os->n_synack_retries < 0 || os->n_synack_retries > SIM_MAX_SYN_RETRIES ||
            os->mss < 64 || os->mss > SIM_MSS_MAX) {
            snprintf(errbuf, errlen, "host %s: os: bad profile (ports, ts_hz, retries, or mss outside 64..%d)",
                     hc->name, SIM_MSS_MAX);
            return -1;
        }
        for (uint32_t c = 0; c < count; c++, k++) {
            sim_rhost *h = &w->hosts[k];
            h->cfg = hc;
            h->os = os;
            h->net = (uint32_t)net;
            h->addr = hc->addr + c;
            char nm[SIM_NAME_MAX + 16];
            snprintf(nm, sizeof nm, "%.*s", SIM_NAME_MAX - 1, hc->name);
            if (count > 1)
                snprintf(nm + strlen(nm), 12, "%u", c + 1);
            memcpy(h->name, nm, sizeof h->name - 1);
            /* uptime between 1 hour and 10 days: unrelated TS clocks per host, and a
             * clock_skew of 10-14 days still keeps one host's TSvals ahead of another's
             * (less than 2^31 ms apart) */
            h->ts_origin = (sim_ns)(3600 + sim_rng_below(&w->rng, 10u * 86400u)) * SIM_NS_PER_S +
                           hc->clock_skew;
            h->ipid = (uint16_t)sim_rng_next(&w->rng);
            h->seq_port = (uint16_t)(os->port_lo + sim_rng_below(&w->rng,
                                          (uint32_t)os->port_hi - os->port_lo + 1));
            if (amap_put(w, h->addr, (SIM_OWN_HOST << 30) | (uint32_t)k) < 0) {
                char a[16];
                fmt_addr(a, sizeof a, h->addr);
                snprintf(errbuf, errlen, "host %s: addr: %s is used twice", h->name, a);
                return -1;
            }
        }
    }
    return 0;
oom:
    snprintf(errbuf, errlen, "out of memory");
    return -1;
}

static int build_nats(sim_world *w, char *errbuf, size_t errlen)
{
    const sim_scenario *sc = w->sc;
    w->nats = calloc(sc->n_nats ? sc->n_nats : 1, sizeof *w->nats);
    if (!w->nats) {
        snprintf(errbuf, errlen, "out of memory");
        return -1;
    }
    w->n_nats = sc->n_nats;
    for (size_t i = 0; i < sc->n_nats; i++) {
        const sim_nat *c = &sc->nats[i];
        sim_rnat *n = &w->nats[i];
        n->cfg = c;
        int64_t in = net_index(sc, c->inside), out = net_index(sc, c->outside);
        if (in < 0 || out < 0) {
            snprintf(errbuf, errlen, "nat %s: %s: no network named \"%s\"", c->name,
                     in < 0 ? "inside" : "outside", in < 0 ? c->inside : c->outside);
            return -1;
        }
        if (c->n_addrs == 0 || c->n_addrs > SIM_MAX_NAT_ADDRS || c->port_lo == 0 ||
            c->port_hi < c->port_lo) {
            snprintf(errbuf, errlen, "nat %s: addrs/ports: empty pool", c->name);
            return -1;
        }
        n->in_net = (uint32_t)in;
        n->out_net = (uint32_t)out;
        if (sim_nat_init(w, n) < 0) {
            snprintf(errbuf, errlen, "out of memory");
            return -1;
        }
        for (uint32_t a = 0; a < c->n_addrs; a++)
            if (amap_put(w, c->addrs[a], (SIM_OWN_NAT << 30) | (uint32_t)i) < 0) {
                char s[16];
                fmt_addr(s, sizeof s, c->addrs[a]);
                snprintf(errbuf, errlen, "nat %s: addrs: %s is used twice", c->name, s);
                return -1;
            }
    }
    return 0;
}

static int64_t host_first(const sim_world *w, const char *name, uint32_t *count)
{
    for (size_t i = 0; i < w->n_hosts; i++)
        if (strcmp(w->hosts[i].cfg->name, name) == 0) {
            *count = w->hosts[i].cfg->count ? w->hosts[i].cfg->count : 1;
            return (int64_t)i;
        }
    return -1;
}

static int build_apps(sim_world *w, char *errbuf, size_t errlen)
{
    const sim_scenario *sc = w->sc;
    w->apps = calloc(sc->n_apps ? sc->n_apps : 1, sizeof *w->apps);
    if (!w->apps) {
        snprintf(errbuf, errlen, "out of memory");
        return -1;
    }
    w->n_apps = sc->n_apps;
    if (sc->n_apps > 65535) {
        snprintf(errbuf, errlen, "too many apps (%zu)", sc->n_apps);
        return -1;
    }
    for (size_t i = 0; i < sc->n_apps; i++) {
        const sim_app *a = &sc->apps[i];
        sim_rapp *ra = &w->apps[i];
        ra->cfg = a;
        uint32_t nc = 0, ns = 0;
        int64_t c = host_first(w, a->client, &nc), s = host_first(w, a->server, &ns);
        if (c < 0 || s < 0) {
            snprintf(errbuf, errlen, "app %s: %s: no host named \"%s\"", a->name,
                     c < 0 ? "client" : "server", c < 0 ? a->client : a->server);
            return -1;
        }
        if (a->rate <= 0 && a->concurrency == 0) {
            snprintf(errbuf, errlen, "app %s: rate or concurrency must be set", a->name);
            return -1;
        }
        if (a->port == 0 || (a->src_port_lo && a->src_port_hi < a->src_port_lo)) {
            snprintf(errbuf, errlen, "app %s: port: out of range", a->name);
            return -1;
        }
        ra->first_client = (uint32_t)c;
        ra->n_clients = nc;
        ra->server = (uint32_t)s;
    }
    return sim_app_init(w) < 0 ? (snprintf(errbuf, errlen, "out of memory"), -1) : 0;
}

/* Capture i feeds the networks and hosts its point names. */
static int bind_captures(sim_world *w, const sim_run_opts *o, char *errbuf, size_t errlen)
{
    const sim_scenario *sc = w->sc;
    if (o->n_captures > SIM_MAX_CAPTURES) {
        snprintf(errbuf, errlen, "too many captures (%zu, at most %d)", o->n_captures,
                 SIM_MAX_CAPTURES);
        return -1;
    }
    for (size_t i = 0; i < o->n_captures; i++) {
        uint64_t bit = 1ULL << i;
        const char *name = o->captures[i].point;
        if (!name) {
            size_t h = 0;
            while (h < w->n_hosts && !w->hosts[h].cfg->listen)
                h++;
            if (h == w->n_hosts) {
                snprintf(errbuf, errlen, "capture: no listening host for the default point");
                return -1;
            }
            w->hosts[h].capmask |= bit;
            continue;
        }
        const sim_point *pt = NULL;
        for (size_t k = 0; k < sc->n_points; k++)
            if (strcmp(sc->points[k].name, name) == 0)
                pt = &sc->points[k];
        if (!pt) {
            snprintf(errbuf, errlen, "capture: no capture point named \"%s\"", name);
            return -1;
        }
        bool found = false;
        if (pt->net[0]) {
            int64_t n = net_index(sc, pt->net);
            if (n >= 0) {
                w->nets[n].capmask |= bit;
                found = true;
            }
        } else {
            for (size_t h = 0; h < w->n_hosts; h++)
                if (strcmp(w->hosts[h].name, pt->host) == 0 ||
                    strcmp(w->hosts[h].cfg->name, pt->host) == 0) {
                    w->hosts[h].capmask |= bit;
                    found = true;
                }
        }
        if (!found) {
            snprintf(errbuf, errlen, "capture point %s: no %s named \"%s\"", pt->name,
                     pt->net[0] ? "network" : "host", pt->net[0] ? pt->net : pt->host);
            return -1;
        }
    }
    return 0;
}

static int build(sim_world *w, const sim_run_opts *o, char *errbuf, size_t errlen)
{
    const sim_scenario *sc = w->sc;
    w->nets = calloc(sc->n_nets ? sc->n_nets : 1, sizeof *w->nets);
    size_t naddr = sc->n_nats * SIM_MAX_NAT_ADDRS;
    for (size_t i = 0; i < sc->n_hosts; i++)
        naddr += sc->hosts[i].count ? sc->hosts[i].count : 1;
    w->amap_size = 64;
    while (w->amap_size < naddr * 2)
        w->amap_size *= 2;
    w->amap_key = calloc(w->amap_size, sizeof *w->amap_key);
    w->amap_val = calloc(w->amap_size, sizeof *w->amap_val);
    w->frags = calloc(SIM_FRAG_SLOTS, sizeof *w->frags);
    w->capbuf = o->n_captures ? calloc(1, sim_cap_bufsize()) : NULL;
    if (!w->nets || !w->amap_key || !w->amap_val || !w->frags || (o->n_captures && !w->capbuf)) {
        snprintf(errbuf, errlen, "out of memory");
        return -1;
    }
    w->n_nets = sc->n_nets;
    for (size_t i = 0; i < sc->n_nets; i++) {
        w->nets[i].cfg = &sc->nets[i];
        w->nets[i].mtu = sc->nets[i].mtu ? sc->nets[i].mtu : 1500;
        if (w->nets[i].mtu < 68) {
            snprintf(errbuf, errlen, "net %s: mtu: %u is below the IPv4 minimum 68",
                     sc->nets[i].name, (unsigned)w->nets[i].mtu);
            return -1;
        }
    }
    if (build_hosts(w, errbuf, errlen) < 0 || build_nats(w, errbuf, errlen) < 0 ||
        build_apps(w, errbuf, errlen) < 0 || bind_captures(w, o, errbuf, errlen) < 0)
        return -1;
    return sim_cap_open(w, o, errbuf, errlen);
}

static void destroy(sim_world *w)
{
    sim_cap_close(w, NULL, NULL, 0);
    sim_app_free(w);
    for (size_t i = 0; i < w->n_nats; i++)
        sim_nat_free(&w->nats[i]);
    sim_tcp_free_all(w);
    sim_heap_free(&w->heap);
    for (size_t i = 0; i < w->n_pkt_chunks; i++)
        free(w->pkt_chunks[i]);
    free(w->pkt_chunks);
    free(w->nets);
    free(w->hosts);
    free(w->nats);
    free(w->apps);
    free(w->amap_key);
    free(w->amap_val);
    free(w->frags);
    free(w->capbuf);
    free(w->lat);
}

/* ---- the loop ------------------------------------------------------------------------ */

static void dispatch(sim_world *w, const sim_event *e)
{
    switch (e->type) {
    case EV_ARRIVE_HOST: {
        sim_pkt *p = sim_net_host_input(w, e->idx, e->pkt);
        if (p)
            sim_tcp_input(w, e->idx, p);
        break;
    }
    case EV_ARRIVE_NAT_IN:
        sim_nat_from_inside(w, e->idx, e->pkt);
        break;
    case EV_ARRIVE_NAT_OUT:
        sim_nat_from_outside(w, e->idx, e->pkt);
        break;
    case EV_TCB_TIMER:
        sim_tcp_timer(w, e->idx, e->gen, e->which, e->at);
        break;
    case EV_APP_START:
        sim_app_start_event(w, e->idx);
        break;
    case EV_NAT_EXPIRE:
        sim_nat_expire(w, e->idx, e->aux, e->gen);
        break;
    default:
        break;
    }
}

static void run_loop(sim_world *w, const sim_run_opts *o)
{
    sim_event e;
    while (!w->oom && sim_heap_pop(&w->heap, &e)) {
        if (!w->stopping && e.at >= w->end)
            w->stopping = true;
        /* done when every attempt has an outcome and every connection but those in
         * TIME_WAIT has closed */
        bool quiet = w->pending == 0 && w->tcb_live == w->tw_total;
        if (w->stopping && (quiet || e.at > w->hard_end)) {
            if (e.pkt)
                sim_pkt_free(w, e.pkt);
            break;
        }
        w->now = e.at;
        w->events++;
        dispatch(w, &e);
        if (o->progress && (w->events & ((1u << 20) - 1)) == 0) {
            sim_progress pr = { .now = w->now, .end = w->end, .events = w->events,
                                .attempts = w->attempts };
            o->progress(o->progress_ctx, &pr);
        }
    }
}

/* ---- the summary ------------------------------------------------------------------- */

static int cmp_ns(const void *a, const void *b)
{
    sim_ns x = *(const sim_ns *)a, y = *(const sim_ns *)b;
    return (x > y) - (x < y);
}

/* nearest-rank percentile of a sorted array */
static sim_ns pct(const sim_ns *v, size_t n, unsigned p)
{
    if (!n)
        return 0;
    size_t r = (size_t)(((unsigned long long)n * p + 99) / 100);
    return v[r ? r - 1 : 0];
}

static int summarize(sim_world *w, sim_summary *out, char *errbuf, size_t errlen)
{
    memset(out, 0, sizeof *out);
    out->seed = w->seed;
    out->duration = w->now > w->end ? w->now : w->end;
    out->events = w->events;
    out->attempts = w->attempts;
    out->successes = w->successes;
    out->failures = w->failures;
    memcpy(out->fail_by, w->fail_by, sizeof out->fail_by);
    out->retried = w->retried;
    if (w->n_lat)
        qsort(w->lat, w->n_lat, sizeof *w->lat, cmp_ns);
    out->latency_p50 = pct(w->lat, w->n_lat, 50);
    out->latency_p90 = pct(w->lat, w->n_lat, 90);
    out->latency_p99 = pct(w->lat, w->n_lat, 99);
    out->latency_max = w->n_lat ? w->lat[w->n_lat - 1] : 0;
    out->packets = w->packets;
    out->packets_lost = w->lost;
    size_t nh = 0;
    for (size_t i = 0; i < w->n_hosts; i++)
        nh += w->hosts[i].tw_peak > 0;
    out->hosts = calloc(nh ? nh : 1, sizeof *out->hosts);
    out->nats = calloc(w->n_nats ? w->n_nats : 1, sizeof *out->nats);
    out->captured = calloc(w->n_caps ? w->n_caps : 1, sizeof *out->captured);
    if (!out->hosts || !out->nats || !out->captured) {
        sim_summary_free(out);
        snprintf(errbuf, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < w->n_hosts; i++) {
        const sim_rhost *h = &w->hosts[i];
        if (!h->tw_peak)
            continue;
        sim_host_peak *hp = &out->hosts[out->n_hosts++];
        snprintf(hp->name, sizeof hp->name, "%s", h->name);
        hp->timewait_peak = h->tw_peak;
        hp->timewait_peak_at = h->tw_peak_at;
    }
    for (size_t i = 0; i < w->n_nats; i++) {
        const sim_rnat *n = &w->nats[i];
        sim_nat_peak *np = &out->nats[out->n_nats++];
        snprintf(np->name, sizeof np->name, "%s", n->cfg->name);
        np->ports_peak = n->peak;
        np->ports_capacity = (uint64_t)n->cfg->n_addrs *
                             ((uint64_t)n->cfg->port_hi - n->cfg->port_lo + 1);
        np->syn_dropped = n->syn_dropped;
        np->frag_dropped = n->frag_dropped;
    }
    out->n_captured = w->n_caps;
    return 0;
}

int sim_run(const sim_scenario *sc, const sim_run_opts *opts, sim_summary *out,
            char *errbuf, size_t errlen)
{
    sim_run_opts none = { 0 };
    const sim_run_opts *o = opts ? opts : &none;
    if (errlen)
        errbuf[0] = '\0';
    if (!sc || !out) {
        snprintf(errbuf, errlen, "no scenario");
        return -EINVAL;
    }
    sim_world *w = calloc(1, sizeof *w);
    if (!w) {
        snprintf(errbuf, errlen, "out of memory");
        return -ENOMEM;
    }
    int rc = -EINVAL;
    w->sc = sc;
    w->seed = o->seed;
    w->end = o->duration ? o->duration : sc->duration;
    w->hard_end = w->end + SIM_DRAIN_MAX;
    sim_rng_seed(&w->rng, w->seed);
    if (build(w, o, errbuf, errlen) < 0)
        goto out_destroy;
    run_loop(w, o);
    if (w->oom) {
        snprintf(errbuf, errlen, "out of memory during the run at t=%.3f s",
                 (double)w->now / (double)SIM_NS_PER_S);
        rc = -ENOMEM;
        goto out_destroy;
    }
    if (summarize(w, out, errbuf, errlen) < 0) {
        rc = -ENOMEM;
        goto out_destroy;
    }
    if (sim_cap_close(w, out->captured, errbuf, errlen) < 0) {
        sim_summary_free(out);
        rc = -EIO;
        goto out_destroy;
    }
    rc = 0;
out_destroy:
    destroy(w);
    free(w);
    return rc;
}

void sim_summary_free(sim_summary *s)
{
    if (!s)
        return;
    free(s->hosts);
    free(s->nats);
    free(s->captured);
    s->hosts = NULL;
    s->nats = NULL;
    s->captured = NULL;
    s->n_hosts = s->n_nats = s->n_captured = 0;
}
