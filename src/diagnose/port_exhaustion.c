/* port_exhaustion.c - detector: a source's ports toward one destination are all in use when new connections need one. */
#include <errno.h>
#include <stddef.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem_internal.h"
#include "diagnose/diag_internal.h"

/*
 * How it works.  Capacity is per (source IP, destination IP, destination
 * port): a port stays taken for the connection's life, plus TIME_WAIT when
 * the source closed first, plus a NAT's own hold (tcp-behaviour.md 3.8, 8).
 * Every incarnation whose client sent a SYN becomes a 32-byte record; at the
 * end the records are grouped by that triple and three signatures of a full
 * pool are looked for (tcp-behaviour.md 9.1, 9.8):
 *
 *   pool     (any vantage) the source cycles through a small set of ports:
 *            it reuses them, and at some moment (nearly) all of them are in
 *            use.  A NAT/SNAT pool or a proxy's port range at its limit.
 *            SYNs from that source nothing answered while the pool was full
 *            make it an error; at the server those never arrive (the NAT
 *            drops them), so there the finding is a warning.
 *   range    (the client host) a Linux client used a contiguous block of
 *            ports of both parities, all held at once, and nothing else.
 *            Since Linux 4.6 connect() takes ports of the range's low parity
 *            first and the other parity only when those are all taken
 *            (__inet_hash_connect, tcp-behaviour.md 3.8): both parities in a
 *            small block mean the whole range is that block.  Further
 *            connect() calls fail with EADDRNOTAVAIL and send nothing, so the
 *            failures cannot be seen: a warning.
 *   ceiling  (inside a NAT: client, path or unknown vantage) connections to
 *            one destination never exceed K open at once, and retransmitted
 *            SYNs nothing answered were sent while K were open: a NAT pool of
 *            K ports toward that destination dropping them (conntrack
 *            insert_failed, tcp-behaviour.md 4.3 step 6, 9.8); an error.
 *
 * The hold after a close.  A source that closed first keeps the port in
 * TIME_WAIT for its stack's length, guessed from its initial TTL (64: Linux
 * 60 s; 128: Windows 120 s; tcp-behaviour.md 10), unless the capture shows
 * it reusing such a port sooner (tcp_tw_reuse, or a NAT with a short hold):
 * a hold the same for every port cannot exceed the shortest such interval,
 * so that interval is used.  Every hold also ends at the port's next SYN:
 * the port was free then.  A port the destination closed first, or that
 * ended with RST (RFC 9293 3.10.7: no TIME_WAIT), is free at the close.
 *
 * Limits: connect() calls that failed without a packet are invisible; a
 * NAT's hold after the destination closed first (conntrack 120 s) is not
 * guessed, so a NAT pool can be fuller than it looks here (the count errs
 * low, never high); one port reused over and over is a fixed bind, not a
 * pool.
 */

#define PE_FULL_SHARE    0.9    /* ports in use / pool size that counts as full */
#define PE_MIN_POOL      2      /* fewer distinct ports: a fixed bind, not a pool */
#define PE_RANGE_MAX     1024   /* a larger block is not read as a whole local range */
#define PE_CEILING_MIN   2      /* open connections below which no ceiling is claimed */
#define PE_CEILING_FAILS 2      /* failed attempts at the ceiling needed */
#define PE_CEILING_SHARE 0.8    /* of a destination's retried unanswered attempts */
#define PE_EVIDENCE      8      /* evidence lines per kind */

enum pe_kind {
    PE_SRC_CLOSED,      /* the source sent the first FIN: TIME_WAIT on its side */
    PE_DST_CLOSED,      /* the destination sent the first FIN */
    PE_RESET,           /* ended by RST: no TIME_WAIT */
    PE_OPEN,            /* not closed within the capture */
    PE_FAILED,          /* SYNs and nothing at all came back */
    PE_REFUSED          /* answered by RST or a bare ACK: holds nothing */
};

/* One incarnation, what the detector keeps of it (32 bytes). */
typedef struct pe_rec {
    int64_t  start;             /* first SYN */
    int64_t  end;               /* last packet */
    uint64_t first_packet;
    uint32_t grp;               /* (source, destination, port) group */
    uint16_t port;              /* source port */
    uint8_t  kind;              /* enum pe_kind */
    uint8_t  at_eof;            /* still open when the capture ended */
} pe_rec;

/* SYN times of a failed attempt (failures are few: kept apart). */
typedef struct pe_fail {
    uint64_t first_packet;      /* the record's */
    uint16_t syns;              /* transmissions in all */
    uint16_t kept;              /* of which times kept */
    int64_t  syn_ts[FLOW_MAX_SYN];
} pe_fail;

typedef struct pe_key {
    pkt_addr src;               /* zero for destination groups */
    pkt_addr dst;
    uint16_t dport;
} pe_key;

typedef struct pe_group {
    pe_key   key;
    uint32_t dgrp;              /* its (destination, port) group */
    uint8_t  ttl;               /* source's TTL in its first connection */
    bool     linux_syn;         /* every SYN had a Linux option layout */
} pe_group;

typedef struct pe_groups {
    pe_group *v;
    size_t   n, cap;
    diag_index ix;              /* key -> group */
} pe_groups;

typedef struct pe_state {
    pe_rec   *rec;
    size_t   n_rec, cap_rec;
    pe_fail  *fail;
    size_t   n_fail, cap_fail;
    pe_groups src, dst;
    bool     oom;
} pe_state;

/* A sweep over intervals: event times and the count in use after each. */
typedef struct pe_sweep {
    int64_t  *t;
    uint32_t *level;
    size_t   n;
    uint32_t peak;
    int64_t  peak_ts;           /* first time the peak was reached */
    int64_t  full_ns;           /* time at or above the "full" count */
    uint32_t episodes;          /* separate times it became full */
    int64_t  full_ts;           /* first time it became full */
} pe_sweep;

/* ---- collecting ----------------------------------------------------------- */

static void *pe_create(diag_ctx *ctx)
{
    (void)ctx;
    pe_state *st = calloc(1, sizeof *st);
    if (st != NULL) {
        uint64_t seed = (uint64_t)(uintptr_t)st * 0x9e3779b97f4a7c15ULL ^ 0x5bd1e9955bd1e995ULL;
        st->src.ix.seed = seed;
        st->dst.ix.seed = seed ^ 0xc2b2ae3d27d4eb4fULL;
    }
    return st;
}

static void pe_destroy(void *p)
{
    pe_state *st = p;
    if (st == NULL)
        return;
    free(st->rec);
    free(st->fail);
    free(st->src.v);
    diag_index_reset(&st->src.ix);
    free(st->dst.v);
    diag_index_reset(&st->dst.ix);
    free(st);
}

/* The group of k (created if new, *created says so); -1 when out of memory.
 * The key is pe_key up to its port (src, dst, dport: no padding). */
static long group_of(pe_groups *g, const pe_key *k, bool *created)
{
    static const diag_table tab = { sizeof(pe_group), offsetof(pe_group, key),
                                    offsetof(pe_key, dport) + sizeof(uint16_t) };
    void *v = g->v;
    long i = diag_index_get(&g->ix, &tab, &v, &g->n, &g->cap, k, created);
    g->v = v;
    return i;
}

/* Linux SYN option layouts (tcp_options_write()): MSS, SACK_PERM+TS or NOP
 * NOP SACK_PERM or NOP NOP TS, then NOP WS. */
static bool linux_layout(const flow_endpoint *e)
{
    static const uint8_t a[] = { 2, 4, 8, 1, 3 }, b[] = { 2, 1, 1, 4, 1, 3 },
                         c[] = { 2, 1, 1, 8, 1, 3 };
    const pkt_tcp_opts *o = &e->syn_opts;
    if (!e->syn_opts_seen)
        return false;
    return (o->layout_len == sizeof a && memcmp(o->layout, a, sizeof a) == 0) ||
           (o->layout_len == sizeof b && memcmp(o->layout, b, sizeof b) == 0) ||
           (o->layout_len == sizeof c && memcmp(o->layout, c, sizeof c) == 0);
}

static enum pe_kind classify(const flow_conn *c)
{
    if (c->handshake == FLOW_HS_SYNACK) {
        if (c->reset_by != FLOW_SIDE_NONE)
            return PE_RESET;
        if (c->closed_by == FLOW_SIDE_CLIENT)
            return PE_SRC_CLOSED;
        if (c->closed_by == FLOW_SIDE_SERVER)
            return PE_DST_CLOSED;
        return PE_OPEN;
    }
    return c->handshake == FLOW_HS_NONE ? PE_FAILED : PE_REFUSED;
}

static bool push_fail(pe_state *st, const flow_conn *c)
{
    if (st->n_fail == st->cap_fail) {
        size_t nc = st->cap_fail ? st->cap_fail * 2 : 16;
        pe_fail *v = realloc(st->fail, nc * sizeof *v);
        if (v == NULL)
            return false;
        st->fail = v;
        st->cap_fail = nc;
    }
    pe_fail *f = &st->fail[st->n_fail++];
    f->first_packet = c->first_packet;
    f->syns = c->syn_count;
    f->kept = c->syn_count < FLOW_MAX_SYN ? c->syn_count : FLOW_MAX_SYN;
    memcpy(f->syn_ts, c->syn_ts, f->kept * sizeof f->syn_ts[0]);
    return true;
}

static void pe_conn(void *p, const flow_conn *c, diag_ctx *ctx)
{
    (void)ctx;
    pe_state *st = p;
    if (st->oom || c->syn_count == 0 || c->roles_inferred)
        return;
    if (st->n_rec == st->cap_rec) {
        size_t nc = st->cap_rec ? st->cap_rec * 2 : 1024;
        pe_rec *v = st->n_rec < UINT32_MAX - 1 ? mem_grow(st->rec, st->cap_rec * sizeof *v, nc * sizeof *v) : NULL;
        if (v == NULL)
            goto oom;
        st->rec = v;
        st->cap_rec = nc;
    }
    pe_key k;
    memset(&k, 0, sizeof k);
    k.src = c->client.addr;
    k.dst = c->server.addr;
    k.dport = c->server.port;
    bool fresh, dfresh;
    long g = group_of(&st->src, &k, &fresh);
    if (g < 0)
        goto oom;
    bool lx = linux_layout(&c->client);
    if (fresh) {
        memset(&k.src, 0, sizeof k.src);
        long d = group_of(&st->dst, &k, &dfresh);
        if (d < 0)
            goto oom;
        st->src.v[g].dgrp = (uint32_t)d;
        st->src.v[g].ttl = c->client.ttl_first;
        st->src.v[g].linux_syn = lx;
    } else if (!lx) {
        st->src.v[g].linux_syn = false;
    }
    enum pe_kind kind = classify(c);
    if (kind == PE_FAILED && !push_fail(st, c))
        goto oom;
    pe_rec *r = &st->rec[st->n_rec++];
    r->start = c->syn_ts[0];
    r->end = c->last_ts;
    r->first_packet = c->first_packet;
    r->grp = (uint32_t)g;
    r->port = c->client.port;
    r->kind = (uint8_t)kind;
    r->at_eof = c->end == FLOW_END_EOF;
    return;
oom:
    st->oom = true;
}

/* ---- sweeps ------------------------------------------------------------------ */

static void sweep_free(pe_sweep *sw)
{
    free(sw->t);
    free(sw->level);
    memset(sw, 0, sizeof *sw);
}

/* How many of n intervals [s, e) are in use over time; `full` is the count
 * that counts as full (0: no full accounting), timed up to `horizon` (the
 * end of the capture: holds run past it).  0 or -ENOMEM. */
static int sweep_build(pe_sweep *sw, const int64_t *s, const int64_t *e, size_t n, uint32_t full,
                       int64_t horizon)
{
    memset(sw, 0, sizeof *sw);
    diag_ev *ev = malloc((2 * n + 1) * sizeof *ev);
    sw->t = malloc((2 * n + 1) * sizeof *sw->t);
    sw->level = malloc((2 * n + 1) * sizeof *sw->level);
    if (ev == NULL || sw->t == NULL || sw->level == NULL) {
        free(ev);
        sweep_free(sw);
        return -ENOMEM;
    }
    if (diag_interval_events(s, e, n, ev) != 0) {
        free(ev);
        sweep_free(sw);
        return -ENOMEM;
    }
    uint32_t cur = 0;
    int64_t since = 0;
    bool in_full = false;
    for (size_t k = 0; k < 2 * n; k++) {
        cur = ev[k].d > 0 ? cur + 1 : cur - 1;
        sw->t[k] = ev[k].t;
        sw->level[k] = cur;
        /* A port handed on at the very instant it frees is no dip: judge
         * the count after every event of the same instant. */
        if (k + 1 < 2 * n && ev[k + 1].t == ev[k].t)
            continue;
        if (cur > sw->peak) {
            sw->peak = cur;
            sw->peak_ts = ev[k].t;
        }
        if (full > 0 && !in_full && cur >= full) {
            in_full = true;
            since = ev[k].t;
            if (sw->episodes++ == 0)
                sw->full_ts = ev[k].t;
        } else if (in_full && cur < full) {
            in_full = false;
            int64_t until = ev[k].t < horizon ? ev[k].t : horizon;
            sw->full_ns += until > since ? until - since : 0;
        }
    }
    sw->n = 2 * n;
    free(ev);
    return 0;
}

/* In use at time t (after every event at or before t). */
static uint32_t sweep_at(const pe_sweep *sw, int64_t t)
{
    size_t lo = 0, hi = sw->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (sw->t[mid] <= t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo ? sw->level[lo - 1] : 0;
}

/* ---- stacks ------------------------------------------------------------------ */

/* Initial TTL a seen TTL most likely started from (tcp-behaviour.md 9.10). */
static unsigned initial_ttl(uint8_t ttl)
{
    return ttl <= 64 ? 64 : ttl <= 128 ? 128 : 255;
}

/* TIME_WAIT of the stack an initial TTL suggests, and its description
 * (tcp-behaviour.md 10). */
static double stack_tw(unsigned ittl, const char **desc)
{
    if (ittl == 128) {
        *desc = "Windows 120 s (240 s before Vista)";
        return 120.0;
    }
    *desc = ittl == 64 ? "Linux 60 s (FreeBSD also 60 s, macOS 30 s)"
                       : "no common stack starts at 255: 60 s assumed";
    return 60.0;
}

/* ---- the source-pool signatures ---------------------------------------------- */

enum pe_sig { SIG_POOL, SIG_RANGE };

/* One (source, destination, port) group under study. */
typedef struct pe_pool {
    const pe_group *g;
    const pe_rec *r;            /* the group's records, by port then time */
    size_t   n;
    enum pe_sig sig;
    uint32_t ports, ok, reuses, src_closed;
    uint16_t lo, hi;
    unsigned ittl;
    const char *stack;
    double   tw_default, tw_eff, min_gap;
    double   life_mean;
    int64_t  first_ts, last_syn_ts, last_close_ts;
    int64_t  *s, *e;            /* holds of the ok records, in record order */
    uint32_t *of;               /* record index of each hold */
    uint32_t full;              /* count that counts as full */
    pe_sweep sw;
    uint32_t failed_full;       /* failed attempts while full */
    uint32_t cycled;            /* ports reused after the pool first filled */
} pe_pool;

static bool ok_kind(uint8_t k)
{
    return k <= PE_OPEN;
}

/* Ports, reuses and the shortest reuse after a source close. */
static void pool_count(pe_pool *pl)
{
    const pe_rec *prev = NULL;
    double life = 0;
    pl->lo = UINT16_MAX;
    pl->min_gap = INFINITY;
    pl->first_ts = INT64_MAX;
    for (size_t i = 0; i < pl->n; i++) {
        const pe_rec *r = &pl->r[i];
        if (!ok_kind(r->kind))
            continue;
        pl->ok++;
        life += diag_secs(r->end - r->start);
        pl->src_closed += r->kind == PE_SRC_CLOSED;
        if (r->start < pl->first_ts)
            pl->first_ts = r->start;
        if (r->start > pl->last_syn_ts)
            pl->last_syn_ts = r->start;
        if (r->end > pl->last_close_ts)
            pl->last_close_ts = r->end;
        if (prev != NULL && prev->port == r->port) {
            pl->reuses++;
            if (prev->kind == PE_SRC_CLOSED && diag_secs(r->start - prev->end) < pl->min_gap)
                pl->min_gap = diag_secs(r->start - prev->end);
        } else {
            pl->ports++;
            if (r->port < pl->lo)
                pl->lo = r->port;
            if (r->port > pl->hi)
                pl->hi = r->port;
        }
        prev = r;
    }
    pl->life_mean = pl->ok ? life / pl->ok : 0;
}

/* Which signature the group could show, before any sweep (cheap test). */
static bool pool_candidate(pe_pool *pl)
{
    if (pl->ports < PE_MIN_POOL)
        return false;
    if (pl->ok > pl->ports) {
        pl->sig = SIG_POOL;
        return true;
    }
    pl->sig = SIG_RANGE;
    return (unsigned)(pl->hi - pl->lo) + 1 == pl->ports && pl->ports <= PE_RANGE_MAX &&
           pl->g->linux_syn && pl->ittl == 64;
}

/* Hold of every ok record: life, + TIME_WAIT if the source closed first,
 * never past the port's next SYN; then the sweep. */
static int pool_holds(pe_pool *pl, const diag_ctx *ctx)
{
    pl->s = malloc(pl->ok * sizeof *pl->s);
    pl->e = malloc(pl->ok * sizeof *pl->e);
    pl->of = malloc(pl->ok * sizeof *pl->of);
    if (pl->s == NULL || pl->e == NULL || pl->of == NULL)
        return -ENOMEM;
    int64_t tw = (int64_t)(pl->tw_eff * 1e9);
    size_t k = 0;
    for (size_t i = 0; i < pl->n; i++) {
        const pe_rec *r = &pl->r[i];
        if (!ok_kind(r->kind))
            continue;
        int64_t e = r->end;
        if (r->kind == PE_SRC_CLOSED)
            e += tw;
        else if (r->kind == PE_OPEN && r->at_eof && ctx->last_ts > e)
            e = ctx->last_ts;
        for (size_t j = i + 1; j < pl->n && pl->r[j].port == r->port; j++)
            if (ok_kind(pl->r[j].kind)) {
                if (pl->r[j].start < e)
                    e = pl->r[j].start;
                break;
            }
        pl->s[k] = r->start;
        pl->e[k] = e;
        pl->of[k] = (uint32_t)i;
        k++;
    }
    uint32_t full = (uint32_t)ceil(PE_FULL_SHARE * pl->ports);
    pl->full = pl->sig == SIG_RANGE ? pl->ports : full < PE_MIN_POOL ? PE_MIN_POOL : full;
    return sweep_build(&pl->sw, pl->s, pl->e, pl->ok, pl->full, ctx->last_ts);
}

static const pe_fail *find_fail(const pe_state *st, uint64_t first_packet)
{
    size_t lo = 0, hi = st->n_fail;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (st->fail[mid].first_packet < first_packet)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < st->n_fail && st->fail[lo].first_packet == first_packet ? &st->fail[lo] : NULL;
}

/* Holds in use at time t, by start time (for evidence in time order). */
typedef struct pe_pick {
    int64_t  t;
    uint32_t i;
} pe_pick;

static int cmp_pick(const void *x, const void *y)
{
    const pe_pick *a = x, *b = y;
    if (a->t != b->t)
        return a->t < b->t ? -1 : 1;
    return (a->i > b->i) - (a->i < b->i);
}

/* NULL when out of memory (evidence is then left out); *n says how many. */
static pe_pick *holders_at(const int64_t *s, const int64_t *e, size_t n, int64_t t, size_t *count)
{
    pe_pick *v = malloc((n ? n : 1) * sizeof *v);
    *count = 0;
    if (v == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (s[i] <= t && e[i] > t)
            v[(*count)++] = (pe_pick){ s[i], (uint32_t)i };
    qsort(v, *count, sizeof *v, cmp_pick);
    return v;
}

static void pool_free(pe_pool *pl)
{
    free(pl->s);
    free(pl->e);
    free(pl->of);
    sweep_free(&pl->sw);
}

/* ---- remedies ----------------------------------------------------------------- */

enum pe_who {
    WHO_NAT_OR_PROXY,           /* the source is a NAT pool or a proxy (seen outside) */
    WHO_HOST,                   /* the source is the client host itself */
    WHO_NAT_INSIDE              /* a NAT seen from the inside */
};

/* Ranked per who holds the ports (tcp-behaviour.md 8: mitigations). */
static void pe_remedies(diag_finding *f, enum pe_who who, bool src_closes)
{
    if (who == WHO_HOST)
        diag_remedy_add(f, "Widen the client's ephemeral port range (Linux: sysctl "
                           "net.ipv4.ip_local_port_range, default 32768 60999 = 28 232 ports per "
                           "destination; Windows: netsh int ipv4 set dynamicport tcp)",
                        "ports in the range can be taken by outgoing connections before a "
                        "service listening on them starts: reserve those with "
                        "ip_local_reserved_ports");
    else
        diag_remedy_add(f, "Give the NAT or proxy more source ports toward this destination: a "
                           "wider SNAT port range (nftables snat to ADDR:1024-65535), or a wider "
                           "ip_local_port_range on a proxy host",
                        "one address has at most 64 512 ports per destination; a wider range "
                        "on a shared NAT takes ports from other users of it");
    diag_remedy_add(f, "Add source addresses: more SNAT/NAT pool addresses (seed 003's load "
                       "balancer had too few), or several local addresses with "
                       "IP_BIND_ADDRESS_NO_PORT on a proxy; each one multiplies the pool",
                    "addresses to obtain, route and allow-list at the server; the NAT's state "
                    "table grows with them");
    diag_remedy_add(f, "Reuse connections (pooling, HTTP keep-alive) instead of one connection "
                       "per request",
                    "application or proxy change; idle pooled connections hold ports and "
                    "server memory, and need their own timeouts");
    if (src_closes && who != WHO_NAT_INSIDE)
        diag_remedy_add(f, "On Linux clients or proxies that close first, set "
                           "net.ipv4.tcp_tw_reuse=1 so connect() may take a port whose "
                           "connection is in TIME_WAIT (after 1 s; needs TCP timestamps on both "
                           "sides)",
                        "outgoing connections only; does nothing for ports held by open "
                        "connections or by a NAT's own mapping");
    if (src_closes)
        diag_remedy_add(f, "Let the server close first, so TIME_WAIT is kept at the server "
                           "rather than on the client's (or the NAT's) ports",
                        "the server then holds TIME_WAIT, and a NAT that reuses a port sooner "
                        "than that collides with it (see nat-timewait-mismatch)");
    diag_remedy_add(f, "Close with RST (SO_LINGER 0) to free ports at once, as Outlook does "
                       "(seed 003)",
                    "data still in flight is lost and the peer sees ECONNRESET; use only when "
                    "both sides are done");
}

/* ---- reporting a full source pool ---------------------------------------- */

static const char *hold_words(const pe_rec *r, bool eof)
{
    switch (r->kind) {
    case PE_SRC_CLOSED: return "closed first by the source: held in TIME_WAIT";
    case PE_DST_CLOSED: return "closed first by the destination: free at the close";
    case PE_RESET: return "ended by RST: free at once";
    default: return eof ? "still open when the capture ended" : "open, never closed in the capture";
    }
}

/* The connections holding the pool when it first filled, the failed
 * attempts, the first reuses. */
static void pool_evidence(diag_finding *f, const pe_pool *pl, const pe_state *st, diag_ctx *ctx)
{
    char src[64], dst[64];
    const pe_key *k = &pl->g->key;
    diag_endpoint(&k->dst, k->dport, dst, sizeof dst);
    unsigned shown = 0, open = 0;
    size_t nh;
    pe_pick *h = holders_at(pl->s, pl->e, pl->ok, pl->sw.full_ts, &nh);
    for (size_t j = 0; j < nh; j++) {
        size_t i = h[j].i;
        const pe_rec *r = &pl->r[pl->of[i]];
        open += r->end > pl->sw.full_ts;
        if (shown++ >= PE_EVIDENCE) {
            f->evidence_omitted++;
            continue;
        }
        diag_endpoint(&k->src, r->port, src, sizeof src);
        diag_evidence_add(f, r->first_packet, r->start,
                          "%8.3f  %s > %s  SYN: port %u taken until %.3f s (%s)",
                          diag_rel(ctx, r->start), src, dst, r->port, diag_rel(ctx, pl->e[i]),
                          hold_words(r, r->at_eof));
    }
    free(h);
    diag_evidence_add(f, 0, pl->sw.full_ts, "%8.3f  pool full: %u of %u ports in use (%u open, "
                      "%u held after the source closed first)", diag_rel(ctx, pl->sw.full_ts),
                      shown, pl->ports, open, shown - open);
    shown = 0;
    for (size_t i = 0; i < pl->n; i++) {
        const pe_rec *r = &pl->r[i];
        if (r->kind != PE_FAILED || sweep_at(&pl->sw, r->start) < pl->full ||
            diag_ctx_is_explained(ctx, r->first_packet))
            continue;
        const pe_fail *fl = find_fail(st, r->first_packet);
        if (shown++ >= PE_EVIDENCE || fl == NULL) {
            f->evidence_omitted++;
            continue;
        }
        diag_endpoint(&k->src, r->port, src, sizeof src);
        diag_evidence_add(f, r->first_packet, r->start, "%8.3f  %s > %s  SYN, %u transmission%s "
                          "over %.1f s, no answer: every port of the pool was in use",
                          diag_rel(ctx, r->start), src, dst, fl->syns, fl->syns == 1 ? "" : "s",
                          diag_secs(fl->syn_ts[fl->kept - 1] - fl->syn_ts[0]));
    }
    /* the first reuses, in time order */
    size_t nr = 0;
    pe_pick *ru = malloc((pl->ok ? pl->ok : 1) * sizeof *ru);
    for (size_t i = 1; ru != NULL && i < pl->ok; i++)
        if (pl->r[pl->of[i]].port == pl->r[pl->of[i - 1]].port)
            ru[nr++] = (pe_pick){ pl->s[i], (uint32_t)i };
    if (ru != NULL)
        qsort(ru, nr, sizeof *ru, cmp_pick);
    for (size_t j = 0; j < nr && j < 4; j++) {
        size_t i = ru[j].i;
        const pe_rec *r = &pl->r[pl->of[i]], *p = &pl->r[pl->of[i - 1]];
        diag_endpoint(&k->src, r->port, src, sizeof src);
        diag_evidence_add(f, r->first_packet, r->start, "%8.3f  %s > %s  SYN reusing port %u "
                          "%.3f s after its previous connection (packet %llu) ended",
                          diag_rel(ctx, r->start), src, dst, r->port,
                          diag_secs(r->start - p->end), (unsigned long long)p->first_packet);
    }
    if (nr > 4)
        f->evidence_omitted += nr - 4;
    free(ru);
}

/* hold_s and the new-connection rate the pool allows. */
static void hold_params(diag_finding *f, const pe_pool *pl, double *hold)
{
    double share = pl->ok ? (double)pl->src_closed / pl->ok : 0;
    *hold = pl->life_mean + share * pl->tw_eff;
    diag_param *p = diag_param_add(f, "hold_s", *hold, "s");
    diag_param_min(p, pl->life_mean);
    diag_param_max(p, pl->life_mean + (pl->src_closed ? pl->tw_eff : 0));
    if (pl->src_closed && isfinite(pl->min_gap) && pl->min_gap < pl->tw_default)
        diag_param_note(p, "connection life %.3g s on average, + %.3g s after the %.0f%% of "
                        "closes made by the source (the shortest interval after which it reused "
                        "such a port; TIME_WAIT alone would hold it %.0f s, %s)", pl->life_mean,
                        pl->tw_eff, share * 100, pl->tw_default, pl->stack);
    else if (pl->src_closed)
        diag_param_note(p, "connection life %.3g s on average, + TIME_WAIT %.0f s after the "
                        "%.0f%% of closes made by the source (assumed from the initial TTL %u, "
                        "%s)", pl->life_mean, pl->tw_eff, share * 100, pl->ittl, pl->stack);
    else
        diag_param_note(p, "connection life %.3g s on average; the destination closed first "
                        "or reset, so the source keeps no TIME_WAIT (a NAT's own hold after "
                        "the close is not visible)", pl->life_mean);
    if (*hold > 0) {
        p = diag_param_add(f, "max_rate", pl->ports / *hold, "conn/s");
        diag_param_note(p, "pool_size / hold_s: new connections per second the pool sustains "
                        "toward this destination (tcp-behaviour.md 8)");
    }
}

static void pool_params(diag_finding *f, const pe_pool *pl, double *hold)
{
    diag_param *p = diag_param_add(f, "pool_low", pl->lo, "");
    diag_param_note(p, "lowest source port seen toward this destination");
    diag_param_add(f, "pool_high", pl->hi, "");
    p = diag_param_add(f, "pool_size", pl->ports, "ports");
    diag_param_note(p, "distinct source ports seen (the pool is at least this)");
    p = diag_param_add(f, "peak_in_use", pl->sw.peak, "ports");
    diag_param_note(p, "most ports taken at once: open, or within the hold after the source "
                    "closed first");
    p = diag_param_add(f, "failed_attempts", pl->failed_full, "");
    diag_param_note(p, pl->sig == SIG_RANGE || pl->failed_full == 0
                       ? "attempts that sent a SYN and got nothing while the pool was full; "
                         "connect() calls refused locally send no packet and are not counted"
                       : "attempts that sent a SYN and got nothing while the pool was full");
    hold_params(f, pl, hold);
    diag_param_add(f, "connections", pl->ok, "");
    diag_param_add(f, "reuses", pl->reuses, "");
    if (pl->sig == SIG_POOL) {
        p = diag_param_add(f, "full_s", diag_secs(pl->sw.full_ns), "s");
        diag_param_note(p, "time with at least %u ports in use", pl->full);
    }
}

/* What the source is, and where the failures went, in the vantage's words. */
static void pool_vantage_text(diag_finding *f, const pe_pool *pl, enum diag_vantage v,
                              const char *ip)
{
    if (v == DIAG_VANTAGE_CLIENT) {
        diag_explain(f, "This capture was taken at the client, so these are the client's own "
                     "ports (or, if it sits behind a proxy host, that host's). When every port "
                     "toward a destination is taken, connect() fails at once with EADDRNOTAVAIL "
                     "(Windows: WSAENOBUFS) and sends nothing: such failures are not in the "
                     "capture (tcp-behaviour.md 3.8, 9.1).");
        return;
    }
    diag_explain(f, "Seen %s, a source that keeps to so few ports and reuses them is a NAT or "
                 "SNAT pool (a load balancer's source NAT, a cloud NAT's per-host port block) or "
                 "a proxy host with a narrow port range. A connection attempt that finds every "
                 "port taken never gets here: a NAT drops its SYN (Linux conntrack: "
                 "insert_failed) and the client retransmits it until it gives up; a proxy's "
                 "connect() fails with EADDRNOTAVAIL before any packet. A capture inside, next to "
                 "the clients of %s, would show those attempts as SYNs retransmitted and never "
                 "answered (tcp-behaviour.md 9.8).",
                 v == DIAG_VANTAGE_SERVER ? "from the server" : "at this capture point", ip);
    (void)pl;
}

static int pool_report(const pe_pool *pl, const pe_state *st, diag_ctx *ctx, diag_findings *out)
{
    bool failed = pl->failed_full > 0;
    bool lasting = pl->sw.episodes > 1 || pl->sw.full_ns >= 1000000000LL;
    double conf = failed ? 0.85 : lasting ? 0.75 : 0.6;
    diag_finding *f = diag_add(out, "port-exhaustion", failed ? DIAG_ERROR : DIAG_WARNING, conf);
    if (f == NULL)
        return -ENOMEM;
    const pe_key *k = &pl->g->key;
    char ip[PKT_ADDR_STRLEN], dst[64];
    diag_addr(&k->src, ip, sizeof ip);
    diag_endpoint(&k->dst, k->dport, dst, sizeof dst);
    f->events = pl->ok;
    f->client = k->src;
    f->server = k->dst;
    f->server_port = k->dport;
    f->has_client = f->has_server = true;
    double span = diag_secs(pl->last_close_ts - pl->first_ts);
    if (failed)
        diag_summary(f, "%s's ports toward %s are a pool of %u (%u-%u), all in use at once: %u "
                     "connection attempt%s failed while it was full", ip, dst, pl->ports, pl->lo,
                     pl->hi, pl->failed_full, pl->failed_full == 1 ? "" : "s");
    else
        diag_summary(f, "%s uses only %u source ports (%u-%u) toward %s, reuses them, and had "
                     "%u in use at once for %.1f s: a port pool at its limit", ip, pl->ports,
                     pl->lo, pl->hi, dst, pl->sw.peak, diag_secs(pl->sw.full_ns));
    diag_explain(f, "%s reached %s from %u source ports only, %u-%u, over %u connections in "
                 "%.1f s: each port served %.1f connections on average. At %.3f s %u of the %u "
                 "ports were in use at once (open, or held after the source closed them first), "
                 "and the pool stayed that full (%u or more in use) for %.1f s, in %u "
                 "period%s; after it first filled, %u of its ports were freed and taken "
                 "again.", ip, dst, pl->ports, pl->lo, pl->hi, pl->ok, span,
                 (double)pl->ok / pl->ports, diag_rel(ctx, pl->sw.full_ts),
                 sweep_at(&pl->sw, pl->sw.full_ts), pl->ports, pl->full,
                 diag_secs(pl->sw.full_ns), pl->sw.episodes, pl->sw.episodes == 1 ? "" : "s",
                 pl->cycled);
    pool_vantage_text(f, pl, ctx->vantage, ip);
    if (failed)
        diag_explain(f, "%u attempt%s from %s did send a SYN while every port was taken, and "
                     "nothing answered: no SYN-ACK, no RST. The pool being full is the likeliest "
                     "reason; see the evidence for each.", pl->failed_full,
                     pl->failed_full == 1 ? "" : "s", ip);
    double hold = 0;
    pool_params(f, pl, &hold);
    if (hold > 0)
        diag_explain(f, "Each port is held about %.2f s (connection life plus the hold after a "
                     "close, see hold_s), so %u ports sustain at most %.2f new connections per "
                     "second toward %s; the source opened %.2f per second over the capture.",
                     hold, pl->ports, pl->ports / hold, dst, span > 0 ? pl->ok / span : 0.0);
    pool_evidence(f, pl, st, ctx);
    pe_remedies(f, ctx->vantage == DIAG_VANTAGE_CLIENT ? WHO_HOST : WHO_NAT_OR_PROXY,
                pl->src_closed > 0);
    return 0;
}

/* A Linux client's whole local port range used up (the range signature). */
static int range_report(const pe_pool *pl, diag_ctx *ctx, diag_findings *out)
{
    diag_finding *f = diag_add(out, "port-exhaustion", DIAG_WARNING, 0.6);
    if (f == NULL)
        return -ENOMEM;
    const pe_key *k = &pl->g->key;
    char ip[PKT_ADDR_STRLEN], dst[64];
    diag_addr(&k->src, ip, sizeof ip);
    diag_endpoint(&k->dst, k->dport, dst, sizeof dst);
    f->events = pl->ok;
    f->client = k->src;
    f->server = k->dst;
    f->server_port = k->dport;
    f->has_client = f->has_server = true;
    /* The range stays full until the first hold ends. */
    int64_t free_at = INT64_MAX;
    for (size_t i = 0; i < pl->ok; i++)
        if (pl->e[i] < free_at)
            free_at = pl->e[i];
    double opened = diag_secs(pl->last_syn_ts - pl->first_ts);
    bool all_tw = pl->src_closed == pl->ok;
    diag_summary(f, "%s used every port of a %u-port range (%u-%u) toward %s within %.3f s and "
                 "holds them all%s: further connect() calls fail without a packet until %.1f s",
                 ip, pl->ports, pl->lo, pl->hi, dst, opened, all_tw ? " in TIME_WAIT" : "",
                 diag_rel(ctx, free_at));
    diag_explain(f, "%u connections opened in %.3f s on a %u-port range (%u-%u); %s. From %.3f s "
                 "to %.3f s no port is left for %s, so further connect() calls fail with "
                 "EADDRNOTAVAIL without sending a packet (tcp-behaviour.md 3.8, 9.1): this "
                 "capture cannot show them, only that no SYN followed.", pl->ok, opened,
                 pl->ports, pl->lo, pl->hi,
                 all_tw ? "the client closed each one first, so all its ports are held in "
                          "TIME_WAIT" : "the ports are held open or in TIME_WAIT",
                 diag_rel(ctx, pl->sw.full_ts), diag_rel(ctx, free_at), dst);
    diag_explain(f, "Why the range is this narrow and the block is not a coincidence: %s is "
                 "Linux (initial TTL 64, Linux SYN options), and since Linux 4.6 connect() "
                 "takes the ports with the parity of the range's low end first, and the other "
                 "parity only when all of those are taken (__inet_hash_connect). Ports of both "
                 "parities in a block of %u mean the block is the whole range: "
                 "net.ipv4.ip_local_port_range, or IP_LOCAL_PORT_RANGE on the socket. Linux "
                 "keeps TIME_WAIT 60 s (TCP_TIMEWAIT_LEN, not tunable).", ip, pl->ports);
    double hold = 0;
    pool_params(f, pl, &hold);
    diag_param *p = diag_param_add(f, "blocked_s", diag_secs(free_at - pl->sw.full_ts), "s");
    diag_param_note(p, "from the moment the range was full until its first port frees");
    char src[64];
    size_t nh;
    pe_pick *h = holders_at(pl->s, pl->e, pl->ok, pl->sw.full_ts, &nh);
    for (size_t j = 0; j < nh && j < PE_EVIDENCE; j++) {
        size_t i = h[j].i;
        const pe_rec *r = &pl->r[pl->of[i]];
        diag_endpoint(&k->src, r->port, src, sizeof src);
        diag_evidence_add(f, r->first_packet, r->start, "%8.3f  %s > %s  SYN from port %u "
                          "(%s until %.3f s)", diag_rel(ctx, r->start), src, dst, r->port,
                          hold_words(r, r->at_eof), diag_rel(ctx, pl->e[i]));
    }
    free(h);
    diag_evidence_add(f, 0, pl->sw.full_ts, "%8.3f  all %u ports of the range in use; no "
                      "further SYN from %s to %s in the capture", diag_rel(ctx, pl->sw.full_ts),
                      pl->ports, ip, dst);
    pe_remedies(f, WHO_HOST, pl->src_closed > 0);
    return 0;
}

/* ---- the ceiling signature (inside a NAT) --------------------------------- */

typedef struct pe_ceil {
    const pe_group *d;          /* destination group */
    const pe_rec *r;            /* its records, by time */
    size_t   n;
    int64_t  *s, *e;            /* open intervals of the ok records */
    uint32_t *of;
    uint32_t ok;
    pe_sweep sw;
    uint32_t *hit;              /* failures at the ceiling (record indexes) */
    uint32_t n_hit, fails;
    double   life_mean;
    bool     one_src;
    const pe_rec *recovered;    /* first connection that got through after a failure */
} pe_ceil;

static void ceil_free(pe_ceil *c)
{
    free(c->s);
    free(c->e);
    free(c->of);
    free(c->hit);
    sweep_free(&c->sw);
}

/* A failure is at the ceiling when at least half of its SYN transmissions
 * went out while the most connections ever open were open. */
static bool at_ceiling(const pe_ceil *c, const pe_fail *fl)
{
    unsigned at = 0;
    for (unsigned i = 0; i < fl->kept; i++)
        at += sweep_at(&c->sw, fl->syn_ts[i]) >= c->sw.peak;
    return at > 0 && 2 * at >= fl->kept;
}

static void ceil_evidence(diag_finding *f, const pe_ceil *c, const pe_state *st, diag_ctx *ctx)
{
    char a[64], b[64];
    const pe_rec *first = &c->r[c->hit[0]];
    unsigned shown = 0;
    size_t nh;
    pe_pick *h = holders_at(c->s, c->e, c->ok, first->start, &nh);
    for (size_t j = 0; j < nh; j++) {
        size_t i = h[j].i;
        const pe_rec *r = &c->r[c->of[i]];
        if (shown++ >= PE_EVIDENCE) {
            f->evidence_omitted++;
            continue;
        }
        diag_endpoint(&st->src.v[r->grp].key.src, r->port, a, sizeof a);
        diag_endpoint(&c->d->key.dst, c->d->key.dport, b, sizeof b);
        diag_evidence_add(f, r->first_packet, r->start, "%8.3f  %s > %s  SYN answered; open "
                          "until %.3f s", diag_rel(ctx, r->start), a, b, diag_rel(ctx, c->e[i]));
    }
    free(h);
    for (uint32_t i = 0; i < c->n_hit; i++) {
        const pe_rec *r = &c->r[c->hit[i]];
        const pe_fail *fl = find_fail(st, r->first_packet);
        if (i >= PE_EVIDENCE || fl == NULL) {
            f->evidence_omitted++;
            continue;
        }
        diag_endpoint(&st->src.v[r->grp].key.src, r->port, a, sizeof a);
        diag_endpoint(&c->d->key.dst, c->d->key.dport, b, sizeof b);
        diag_evidence_add(f, r->first_packet, r->start, "%8.3f  %s > %s  SYN, %u transmissions "
                          "over %.1f s, never answered; %u connections were open each time",
                          diag_rel(ctx, r->start), a, b, fl->syns,
                          diag_secs(fl->syn_ts[fl->kept - 1] - fl->syn_ts[0]), c->sw.peak);
    }
    if (c->recovered != NULL) {
        const pe_rec *r = c->recovered;
        diag_endpoint(&st->src.v[r->grp].key.src, r->port, a, sizeof a);
        diag_endpoint(&c->d->key.dst, c->d->key.dport, b, sizeof b);
        diag_evidence_add(f, r->first_packet, r->start, "%8.3f  %s > %s  SYN answered at once, "
                          "%u open: the ceiling had room again", diag_rel(ctx, r->start), a, b,
                          sweep_at(&c->sw, r->start - 1));
    }
}

static int ceil_report(const pe_ceil *c, const pe_state *st, diag_ctx *ctx, diag_findings *out)
{
    bool inside = ctx->vantage == DIAG_VANTAGE_CLIENT;
    double conf = inside ? (c->recovered != NULL ? 0.8 : 0.7) : 0.6;
    diag_finding *f = diag_add(out, "port-exhaustion", DIAG_ERROR, conf);
    if (f == NULL)
        return -ENOMEM;
    char dst[64], src[PKT_ADDR_STRLEN];
    const pe_rec *r0 = &c->r[c->hit[0]];
    const pkt_addr *s0 = &st->src.v[r0->grp].key.src;
    diag_endpoint(&c->d->key.dst, c->d->key.dport, dst, sizeof dst);
    diag_addr(s0, src, sizeof src);
    uint32_t k = c->sw.peak;
    f->events = c->n_hit;
    f->server = c->d->key.dst;
    f->server_port = c->d->key.dport;
    f->has_server = true;
    if (c->one_src) {
        f->client = *s0;
        f->has_client = true;
    }
    diag_summary(f, "%u connection attempts to %s were never answered while %u connections "
                 "were open, never more: a ceiling of %u, as a NAT port pool of %u makes",
                 c->n_hit, dst, k, k, k);
    diag_explain(f, "Connections to %s never exceeded %u open at once (%u connections in all, "
                 "from %s). %u attempts were made while %u were open, and their SYNs were "
                 "retransmitted and never answered: no SYN-ACK, no RST.%s", dst, k, c->ok,
                 c->one_src ? src : "several clients", c->n_hit, k,
                 c->recovered != NULL ? " Attempts made once fewer were open got through at once."
                                      : "");
    diag_explain(f, "%s, that is what a NAT or SNAT pool of %u ports toward this destination "
                 "does when every port is taken: it drops the SYN (Linux conntrack: "
                 "insert_failed, tcp-behaviour.md 4.3 step 6 and 9.8), the server never sees "
                 "it, and the client retries on its schedule until connect() times out. A "
                 "server or firewall admitting %u connections at once would look the same from "
                 "here; a capture at the server decides: if these SYNs are not there, the NAT "
                 "dropped them, and the server sees the NAT's address cycling through %u ports.",
                 inside ? "Seen from the client side" : "Seen at this capture point", k, k, k);
    diag_explain(f, "Each connection held its port %.2f s on average (its life); a NAT also "
                 "keeps a closed mapping for a while (Linux conntrack: 120 s in TIME_WAIT), which "
                 "cannot be seen from this side.", c->life_mean);
    diag_param *p = diag_param_add(f, "pool_size", k, "ports");
    diag_param_note(p, "inferred: the most connections open at once; the NAT's own ports "
                    "(pool_low, pool_high) are not visible from inside");
    diag_param_add(f, "peak_in_use", k, "ports");
    p = diag_param_add(f, "failed_attempts", c->n_hit, "");
    diag_param_note(p, "attempts whose SYNs were retransmitted and never answered while %u "
                    "connections were open", k);
    p = diag_param_add(f, "hold_s", c->life_mean, "s");
    diag_param_min(p, c->life_mean);
    diag_param_note(p, "mean life of the connections; the NAT's hold after a close adds to it");
    if (c->life_mean > 0) {
        p = diag_param_add(f, "max_rate", k / c->life_mean, "conn/s");
        diag_param_max(p, k / c->life_mean);
        diag_param_note(p, "pool_size / hold_s: at most this many new connections per second");
    }
    diag_param_add(f, "connections", c->ok, "");
    ceil_evidence(f, c, st, ctx);
    pe_remedies(f, WHO_NAT_INSIDE, false);
    return 0;
}

/* One destination group, records by time. */
static int analyse_ceiling(pe_state *st, const pe_rec *r, size_t n, diag_ctx *ctx,
                           diag_findings *out)
{
    pe_ceil c;
    memset(&c, 0, sizeof c);
    c.d = &st->dst.v[st->src.v[r[0].grp].dgrp];
    c.r = r;
    c.n = n;
    uint32_t srcs = 0;
    for (size_t i = 0; i < n; i++) {
        const pe_fail *fl = r[i].kind == PE_FAILED ? find_fail(st, r[i].first_packet) : NULL;
        c.ok += ok_kind(r[i].kind);
        c.fails += fl != NULL && fl->syns >= 2 && !diag_ctx_is_explained(ctx, r[i].first_packet);
        srcs += i == 0 || r[i].grp != r[0].grp;
    }
    c.one_src = srcs == 1;
    if (c.fails < PE_CEILING_FAILS || c.ok < PE_CEILING_MIN)
        return 0;
    int rc = -ENOMEM;
    c.s = malloc(c.ok * sizeof *c.s);
    c.e = malloc(c.ok * sizeof *c.e);
    c.of = malloc(c.ok * sizeof *c.of);
    c.hit = malloc(c.fails * sizeof *c.hit);
    if (c.s == NULL || c.e == NULL || c.of == NULL || c.hit == NULL)
        goto out;
    double life = 0;
    for (size_t i = 0, k = 0; i < n; i++) {
        if (!ok_kind(r[i].kind))
            continue;
        c.s[k] = r[i].start;
        c.e[k] = r[i].kind == PE_OPEN && r[i].at_eof && ctx->last_ts > r[i].end ? ctx->last_ts
                                                                                : r[i].end;
        c.of[k++] = (uint32_t)i;
        life += diag_secs(r[i].end - r[i].start);
    }
    c.life_mean = life / c.ok;
    rc = sweep_build(&c.sw, c.s, c.e, c.ok, 0, ctx->last_ts);
    if (rc != 0 || c.sw.peak < PE_CEILING_MIN)
        goto out;
    for (size_t i = 0; i < n; i++) {
        const pe_fail *fl = r[i].kind == PE_FAILED ? find_fail(st, r[i].first_packet) : NULL;
        if (fl != NULL && fl->syns >= 2 && !diag_ctx_is_explained(ctx, r[i].first_packet) &&
            at_ceiling(&c, fl))
            c.hit[c.n_hit++] = (uint32_t)i;
    }
    if (c.n_hit < PE_CEILING_FAILS || c.n_hit < PE_CEILING_SHARE * c.fails)
        goto out;
    for (size_t i = c.hit[0] + 1; i < n && c.recovered == NULL; i++)
        if (ok_kind(r[i].kind))
            c.recovered = &r[i];
    if ((rc = ceil_report(&c, st, ctx, out)) != 0)
        goto out;
    for (uint32_t i = 0; i < c.n_hit && rc == 0; i++)
        rc = diag_ctx_explain(ctx, r[c.hit[i]].first_packet);
out:
    ceil_free(&c);
    return rc;
}

/* One source group, records by port then time. */
static int analyse_source(pe_state *st, const pe_rec *r, size_t n, diag_ctx *ctx,
                          diag_findings *out)
{
    pe_pool pl;
    memset(&pl, 0, sizeof pl);
    pl.g = &st->src.v[r[0].grp];
    pl.r = r;
    pl.n = n;
    pl.ittl = initial_ttl(pl.g->ttl);
    pool_count(&pl);
    if (!pool_candidate(&pl))
        return 0;
    pl.tw_default = stack_tw(pl.ittl, &pl.stack);
    pl.tw_eff = pl.min_gap < pl.tw_default ? (pl.min_gap > 0 ? pl.min_gap : 0) : pl.tw_default;
    int rc = pool_holds(&pl, ctx);
    if (rc != 0 || pl.sw.peak < pl.full)
        goto out;
    for (size_t i = 0; i < n; i++)
        pl.failed_full += r[i].kind == PE_FAILED && sweep_at(&pl.sw, r[i].start) >= pl.full &&
                          !diag_ctx_is_explained(ctx, r[i].first_packet);
    for (size_t k = 1, last = SIZE_MAX; k < pl.ok; k++) {
        uint16_t port = r[pl.of[k]].port;
        if (port != last && pl.s[k] > pl.sw.full_ts && r[pl.of[k - 1]].port == port) {
            pl.cycled++;        /* each port once */
            last = port;
        }
    }
    /* A pool is at its limit when it turned attempts away while full, or
     * when, once full, the whole pool was handed out again (a port freed
     * and taken, for nearly every port).  A few ports that all happen to be
     * in use at one moment (idle connections left open, the last new port
     * appearing) say nothing about a limit. */
    if (pl.sig == SIG_POOL && pl.failed_full == 0 && pl.cycled < pl.full)
        goto out;
    rc = pl.sig == SIG_RANGE ? range_report(&pl, ctx, out) : pool_report(&pl, st, ctx, out);
    for (size_t i = 0; i < n && rc == 0; i++)
        if (r[i].kind == PE_FAILED && sweep_at(&pl.sw, r[i].start) >= pl.full)
            rc = diag_ctx_explain(ctx, r[i].first_packet);
out:
    pool_free(&pl);
    return rc;
}

static int cmp_by_src(const void *x, const void *y)
{
    const pe_rec *a = x, *b = y;
    if (a->grp != b->grp)
        return a->grp < b->grp ? -1 : 1;
    if (a->port != b->port)
        return a->port < b->port ? -1 : 1;
    if (a->start != b->start)
        return a->start < b->start ? -1 : 1;
    return (a->first_packet > b->first_packet) - (a->first_packet < b->first_packet);
}

static int cmp_by_start(const void *x, const void *y)
{
    const pe_rec *a = x, *b = y;
    if (a->start != b->start)
        return a->start < b->start ? -1 : 1;
    return (a->first_packet > b->first_packet) - (a->first_packet < b->first_packet);
}

static int cmp_fail(const void *x, const void *y)
{
    const pe_fail *a = x, *b = y;
    return (a->first_packet > b->first_packet) - (a->first_packet < b->first_packet);
}

/*
 * Records by group, port, then time.  Two stable counting passes (port, then
 * group) do it in linear time: records of one 4-tuple arrive in incarnation
 * order (a record is written when the next incarnation starts), so time
 * order within a port comes for free.  A caller feeding records in another
 * order is caught by the check after, and that group is sorted by qsort().
 */
static int sort_by_source(pe_state *st)
{
    size_t n = st->n_rec, ng = st->src.n;
    pe_rec *tmp = mem_alloc_big(n * sizeof *tmp);
    size_t *cnt = calloc((ng > 65536 ? ng : 65536) + 1, sizeof *cnt);
    if (tmp == NULL || cnt == NULL) {
        free(tmp);
        free(cnt);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        cnt[st->rec[i].port + 1]++;
    for (size_t p = 1; p <= 65536; p++)
        cnt[p] += cnt[p - 1];
    for (size_t i = 0; i < n; i++)
        tmp[cnt[st->rec[i].port]++] = st->rec[i];
    memset(cnt, 0, (ng + 1) * sizeof *cnt);
    for (size_t i = 0; i < n; i++)
        cnt[tmp[i].grp + 1]++;
    for (size_t g = 1; g <= ng; g++)
        cnt[g] += cnt[g - 1];
    for (size_t i = 0; i < n; i++)
        st->rec[cnt[tmp[i].grp]++] = tmp[i];
    free(tmp);
    free(cnt);
    for (size_t i = 0, j; i < n; i = j) {
        bool ordered = true;
        for (j = i + 1; j < n && st->rec[j].grp == st->rec[i].grp; j++)
            if (st->rec[j].port == st->rec[j - 1].port &&
                cmp_by_src(&st->rec[j - 1], &st->rec[j]) > 0)
                ordered = false;
        if (!ordered)
            qsort(&st->rec[i], j - i, sizeof *st->rec, cmp_by_src);
    }
    return 0;
}

/* Retried, unexplained failures that a ceiling could explain. */
static size_t ceiling_candidates(const pe_state *st, diag_ctx *ctx)
{
    size_t n = 0;
    for (size_t i = 0; i < st->n_fail; i++)
        n += st->fail[i].syns >= 2 && !diag_ctx_is_explained(ctx, st->fail[i].first_packet);
    return n;
}

/* Source groups ordered by their destination group (no record carries it). */
static uint32_t *groups_by_destination(const pe_state *st)
{
    size_t ng = st->src.n, nd = st->dst.n;
    uint32_t *order = malloc((ng ? ng : 1) * sizeof *order);
    size_t *cnt = calloc(nd + 1, sizeof *cnt);
    if (order == NULL || cnt == NULL) {
        free(order);
        free(cnt);
        return NULL;
    }
    for (size_t g = 0; g < ng; g++)
        cnt[st->src.v[g].dgrp + 1]++;
    for (size_t d = 1; d <= nd; d++)
        cnt[d] += cnt[d - 1];
    for (size_t g = 0; g < ng; g++)
        order[cnt[st->src.v[g].dgrp]++] = (uint32_t)g;
    free(cnt);
    return order;
}

/* Inside a NAT: per destination, the records of all its sources by time.
 * st->rec is sorted by source group: each group's records are a slice. */
static int find_ceilings(pe_state *st, diag_ctx *ctx, diag_findings *out)
{
    size_t ng = st->src.n;
    size_t *first = malloc((ng + 1) * sizeof *first);
    uint32_t *order = groups_by_destination(st);
    pe_rec *scratch = malloc(st->n_rec * sizeof *scratch);
    int rc = -ENOMEM;
    if (first == NULL || order == NULL || scratch == NULL)
        goto out;
    for (size_t g = 0, i = 0; g <= ng; g++) {
        while (i < st->n_rec && st->rec[i].grp < g)
            i++;
        first[g] = i;
    }
    rc = 0;
    for (size_t k = 0, l; k < ng && rc == 0; k = l) {
        uint32_t d = st->src.v[order[k]].dgrp;
        size_t m = 0;
        for (l = k; l < ng && st->src.v[order[l]].dgrp == d; l++) {
            size_t a = first[order[l]], b = first[order[l] + 1];
            memcpy(&scratch[m], &st->rec[a], (b - a) * sizeof *scratch);
            m += b - a;
        }
        qsort(scratch, m, sizeof *scratch, cmp_by_start);
        rc = analyse_ceiling(st, scratch, m, ctx, out);
    }
out:
    free(first);
    free(order);
    free(scratch);
    return rc;
}

static int pe_finish(void *p, diag_ctx *ctx, diag_findings *out)
{
    pe_state *st = p;
    int rc = 0;
    if (st->oom)
        return -ENOMEM;
    if (st->n_rec == 0)
        return 0;
    if (st->n_fail > 0)
        qsort(st->fail, st->n_fail, sizeof *st->fail, cmp_fail);
    if (sort_by_source(st) != 0)
        return -ENOMEM;
    for (size_t i = 0, j; i < st->n_rec && rc == 0; i = j) {
        for (j = i + 1; j < st->n_rec && st->rec[j].grp == st->rec[i].grp; j++)
            ;
        rc = analyse_source(st, &st->rec[i], j - i, ctx, out);
    }
    /* At the server the SYNs arrived: unanswered ones are not a NAT's doing. */
    if (rc != 0 || ctx->vantage == DIAG_VANTAGE_SERVER ||
        ceiling_candidates(st, ctx) < PE_CEILING_FAILS)
        return rc;
    return find_ceilings(st, ctx, out);
}

const diag_detector diag_det_port_exhaustion = {
    .id = "port-exhaustion",
    .create = pe_create,
    .conn = pe_conn,
    .finish = pe_finish,
    .destroy = pe_destroy,
};
