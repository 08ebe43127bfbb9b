/* port_pool.c - the source-port records and the one pool estimate that port-exhaustion and timewait-accumulation share. */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem_internal.h"
#include "diagnose/ports_internal.h"

/*
 * How it works.  Capacity is per (source IP, destination IP, destination
 * port): a port stays taken for the connection's life, plus TIME_WAIT when
 * the source closed first, plus a NAT's own hold (tcp-behaviour.md 3.8, 8).
 * Every incarnation whose client sent a SYN becomes a 48-byte record; at the
 * end the records are sorted by that triple, port and time, and each
 * group's pool is estimated once, by pp_pool_estimate(), for whichever
 * detector asks:
 *
 *   holds    a connected record holds its port from the SYN that got
 *            through to its last packet; + TIME_WAIT when the source closed
 *            first (its stack's length from the initial TTL, stacks.c,
 *            tcp-behaviour.md 10, unless the source reused such a port
 *            sooner: a hold the same for every port cannot exceed the
 *            shortest such interval); every hold ends at the port's next
 *            SYN (it was free then).  A port the destination closed first,
 *            or that ended with RST (RFC 9293 3.10.7: no TIME_WAIT), frees at
 *            the close.  A connection still open at the capture's end holds
 *            its port to the end of its stretch of the capture: the last
 *            packet before a silence of PP_GAP_S, never across a gap between
 *            merged captures (a file of 2009 followed by one of 2013 is not
 *            four years of an open connection).
 *   sweep    the count in use over time; its peak is the plateau.
 *
 * The rule: a warning or error only on evidence of a limit or of harm.
 *
 *   (a) harm at a plateau.  Attempts from the source that failed or waited
 *       (the lifecycle stage's verdict: SYNs retransmitted and never
 *       answered, refused, or answered only after a retransmission) while
 *       the ports in use were at the peak, at the first SYN and at the last
 *       unanswered one: the same count each time, never exceeded.  Minimum
 *       PP_HARM_MIN (2) such attempts, PP_HARM_SHARE (80%) of the group's
 *       failed or delayed attempts: one failure at a peak is chance; two at
 *       the same count, and none below it, are a ceiling.
 *   (b) a proven range.  At least PP_RANGE_MIN_PORTS (256) distinct ports,
 *       covering PP_RANGE_DENSITY (90%) of their span lo..hi, handed out
 *       again after the span first filled (each port reused at least once
 *       for 90% of them), and PP_FULL_SHARE (90%) of the span in use at
 *       once.  Why 256: a dense block alone is what any sequential
 *       allocator gives (Windows, Linux before 4.6: tcp-behaviour.md 3.8),
 *       and reuse alone is what a random allocator gives by chance (the
 *       birthday bound: 1 000 connections from 16 384 ports reuse about 30);
 *       both at once prove the allocator wrapped within lo..hi only when
 *       the block is large: at 256 ports a random choice over the smallest
 *       default range (Windows XP's 3 976) would fall outside the block
 *       almost every time, and a client's own concurrency (browsers: 6 per
 *       host, 256 per pool in Chromium) no longer explains all of them
 *       being in use.  Smaller pools (a cloud NAT's 64 ports per VM) are
 *       found by rule (a) when they hurt.
 *
 * Without (a) or (b), at most "headroom" (info): a few ports seen, all in
 * use at once, say nothing about the size of the range they came from; two
 * parallel browser connections are two ports, not a 2-port range.
 *
 * Limits: connect() calls that failed without a packet (EADDRNOTAVAIL) are
 * invisible; a NAT's hold after the destination closed first (conntrack
 * 120 s) is not guessed, so a NAT pool can be fuller than it looks (the
 * count errs low, never high); one port reused over and over is a fixed
 * bind, not a pool.
 */

/* ---- the records ------------------------------------------------------------ */

void pp_table_init(pp_table *t, uint64_t seed)
{
    memset(t, 0, sizeof *t);
    t->src.ix.seed = seed;
    t->dst.ix.seed = seed ^ 0xc2b2ae3d27d4eb4fULL;
}

void pp_table_free(pp_table *t)
{
    free(t->rec);
    free(t->src.v);
    diag_index_reset(&t->src.ix);
    free(t->dst.v);
    diag_index_reset(&t->dst.ix);
    free(t->stretch);
    memset(t, 0, sizeof *t);
}

/* The group of k (created if new); -1 when out of memory.  The key is
 * pp_key up to its port (src, dst, dport: no padding). */
static long group_of(pp_groups *g, const pp_key *k, bool *created)
{
    static const diag_table tab = { sizeof(pp_group), offsetof(pp_group, key),
                                    offsetof(pp_key, dport) + sizeof(uint16_t) };
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

static enum pp_kind classify(const flow_conn *c)
{
    if (c->handshake == FLOW_HS_SYNACK) {
        if (c->reset_by != FLOW_SIDE_NONE)
            return PP_RESET;
        if (c->closed_by == FLOW_SIDE_CLIENT)
            return PP_SRC_CLOSED;
        if (c->closed_by == FLOW_SIDE_SERVER)
            return PP_DST_CLOSED;
        return PP_OPEN;
    }
    return c->handshake == FLOW_HS_NONE ? PP_FAILED : PP_REFUSED;
}

static uint32_t offset_us(int64_t from, int64_t to)
{
    int64_t us = (to - from) / 1000;
    return us <= 0 ? 0 : us >= UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

/* Which SYN got through (the last one sent before the SYN-ACK), and the
 * last one left unanswered before it (or the last of all, when none got
 * through). */
static void syn_times(const flow_conn *c, pp_rec *r)
{
    size_t kept = c->syn_count < FLOW_MAX_SYN ? c->syn_count : FLOW_MAX_SYN;
    size_t got = kept;
    if (c->handshake == FLOW_HS_SYNACK) {
        while (got > 1 && c->syn_ts[got - 1] > c->synack_ts)
            got--;
        r->held_us = offset_us(c->syn_ts[0], c->syn_ts[got - 1]);
        got--;
    }
    r->tried_us = got > 0 ? offset_us(c->syn_ts[0], c->syn_ts[got - 1]) : 0;
}

/* Plain realloc(), not mem_grow(): the records are written in order and
 * read in order after the sort, never at random, so huge pages buy no TLB
 * hits here, while each doubling into fresh huge pages zeroed them whole
 * (clear_page was a tenth of analyze on the bench capture); glibc grows a
 * large block by mremap() without a copy. */
static bool grow_rec(pp_table *t)
{
    if (t->n_rec < t->cap_rec)
        return true;
    size_t nc = t->cap_rec ? t->cap_rec * 2 : 1024;
    pp_rec *v = t->n_rec < UINT32_MAX - 1
                    ? realloc(t->rec, nc * sizeof *v) : NULL;
    if (v == NULL)
        return false;
    t->rec = v;
    t->cap_rec = nc;
    return true;
}

void pp_table_add(pp_table *t, const flow_conn *c)
{
    if (t->oom || c->syn_count == 0 || c->roles_inferred)
        return;
    pp_key k;
    memset(&k, 0, sizeof k);
    k.src = c->client.addr;
    k.dst = c->server.addr;
    k.dport = c->server.port;
    bool fresh, dfresh;
    long g = grow_rec(t) ? group_of(&t->src, &k, &fresh) : -1;
    if (g < 0)
        goto oom;
    pp_group *gr = &t->src.v[g];
    bool lx = linux_layout(&c->client);
    if (fresh) {
        memset(&k.src, 0, sizeof k.src);
        long d = group_of(&t->dst, &k, &dfresh);
        if (d < 0)
            goto oom;
        gr = &t->src.v[g];
        gr->dgrp = (uint32_t)d;
        gr->ttl = c->client.ttl_first;
        gr->linux_syn = lx;
    } else if (!lx) {
        gr->linux_syn = false;
    }
    enum pp_kind kind = classify(c);
    gr->closed += kind == PP_SRC_CLOSED || kind == PP_DST_CLOSED || kind == PP_RESET;
    gr->src_fin += kind == PP_SRC_CLOSED;
    pp_rec *r = &t->rec[t->n_rec++];
    memset(r, 0, sizeof *r);
    r->start = c->syn_ts[0];
    r->end = c->last_ts;
    r->first_packet = c->first_packet;
    r->last_packet = c->last_packet;
    r->grp = (uint32_t)g;
    r->port = c->client.port;
    r->kind = (uint8_t)kind;
    r->at_eof = c->end == FLOW_END_EOF;
    syn_times(c, r);
    return;
oom:
    t->oom = true;
}

/* ---- order and stretches ------------------------------------------------------ */

static int cmp_by_src(const void *x, const void *y)
{
    const pp_rec *a = x, *b = y;
    if (a->grp != b->grp)
        return a->grp < b->grp ? -1 : 1;
    if (a->port != b->port)
        return a->port < b->port ? -1 : 1;
    if (a->start != b->start)
        return a->start < b->start ? -1 : 1;
    return (a->first_packet > b->first_packet) - (a->first_packet < b->first_packet);
}

/*
 * Records by group, port, then time.  Two stable counting passes (port, then
 * group) do it in linear time: records of one 4-tuple arrive in incarnation
 * order, so time order within a port comes for free.  A caller feeding
 * records in another order is caught by the check after, and that group is
 * sorted by qsort().
 */
static int sort_by_source(pp_table *t)
{
    size_t n = t->n_rec, ng = t->src.n;
    pp_rec *tmp = malloc((n ? n : 1) * sizeof *tmp);
    size_t *cnt = calloc((ng > 65536 ? ng : 65536) + 1, sizeof *cnt);
    if (tmp == NULL || cnt == NULL) {
        free(tmp);
        free(cnt);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        cnt[t->rec[i].port + 1]++;
    for (size_t p = 1; p <= 65536; p++)
        cnt[p] += cnt[p - 1];
    for (size_t i = 0; i < n; i++)
        tmp[cnt[t->rec[i].port]++] = t->rec[i];
    memset(cnt, 0, (ng + 1) * sizeof *cnt);
    for (size_t i = 0; i < n; i++)
        cnt[tmp[i].grp + 1]++;
    for (size_t g = 1; g <= ng; g++)
        cnt[g] += cnt[g - 1];
    for (size_t i = 0; i < n; i++)
        t->rec[cnt[tmp[i].grp]++] = tmp[i];
    free(tmp);
    free(cnt);
    for (size_t i = 0, j; i < n; i = j) {
        bool ordered = true;
        for (j = i + 1; j < n && t->rec[j].grp == t->rec[i].grp; j++)
            if (t->rec[j].port == t->rec[j - 1].port && cmp_by_src(&t->rec[j - 1], &t->rec[j]) > 0)
                ordered = false;
        if (!ordered)
            qsort(&t->rec[i], j - i, sizeof *t->rec, cmp_by_src);
    }
    return 0;
}

/* The capture's stretches: the records' [start, end] merged where fewer
 * than PP_GAP_S separate them.  The starts and ends are put in time order
 * by the shared radix sort (sweep.c, diag_interval_events): a stretch
 * closes where no record is open, and goes on when the next record starts
 * within the gap.  (A record whose end is not after its start counts to
 * start + 1 ns there: a stretch may end 1 ns late.) */
static int find_stretches(pp_table *t)
{
    size_t n = t->n_rec;
    pp_stretch *v = malloc((n ? n : 1) * sizeof *v);
    int64_t *se = malloc((n ? n : 1) * 2 * sizeof *se);
    diag_ev *ev = malloc((n ? n : 1) * 2 * sizeof *ev);
    if (v == NULL || se == NULL || ev == NULL)
        goto out_nomem;
    for (size_t i = 0; i < n; i++) {
        se[i] = t->rec[i].start;
        se[n + i] = t->rec[i].end > t->rec[i].start ? t->rec[i].end : t->rec[i].start;
    }
    if (diag_interval_events(se, se + n, n, ev) != 0)
        goto out_nomem;
    int64_t gap = (int64_t)(PP_GAP_S * 1e9);
    size_t m = 0;
    long depth = 0;
    for (size_t i = 0; i < 2 * n; i++) {
        if (ev[i].d > 0) {
            if (depth++ == 0 && !(m > 0 && ev[i].t - v[m - 1].e <= gap))
                v[m++] = (pp_stretch){ ev[i].t, ev[i].t };
        } else if (--depth == 0) {
            v[m - 1].e = ev[i].t;
        }
    }
    free(se);
    free(ev);
    t->stretch = v;
    t->n_stretch = m;
    return 0;

out_nomem:
    free(v);
    free(se);
    free(ev);
    return -ENOMEM;
}

int pp_table_finish(pp_table *t)
{
    if (t->oom)
        return -ENOMEM;
    if (sort_by_source(t) != 0 || find_stretches(t) != 0)
        return -ENOMEM;
    return 0;
}

int64_t pp_open_until(const pp_table *t, const pp_rec *r)
{
    if (r->kind != PP_OPEN || !r->at_eof)
        return r->end;
    size_t lo = 0, hi = t->n_stretch;
    while (lo < hi) {           /* the last stretch starting at or before r->end */
        size_t mid = lo + (hi - lo) / 2;
        if (t->stretch[mid].s <= r->end)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo > 0 && t->stretch[lo - 1].e > r->end ? t->stretch[lo - 1].e : r->end;
}

/* ---- sweeps -------------------------------------------------------------------- */

void pp_sweep_free(pp_sweep *sw)
{
    free(sw->t);
    free(sw->level);
    memset(sw, 0, sizeof *sw);
}

/* Count the time at or above `full` after the event at t. */
static void sweep_full(pp_sweep *sw, uint32_t cur, int64_t t, uint32_t full, int64_t horizon,
                       bool *in_full, int64_t *since)
{
    if (cur > sw->peak) {
        sw->peak = cur;
        sw->peak_ts = t;
    }
    if (full > 0 && !*in_full && cur >= full) {
        *in_full = true;
        *since = t;
        if (sw->episodes++ == 0)
            sw->full_ts = t;
    } else if (*in_full && cur < full) {
        *in_full = false;
        int64_t until = t < horizon ? t : horizon;
        sw->full_ns += until > *since ? until - *since : 0;
    }
}

int pp_sweep_build(pp_sweep *sw, const int64_t *s, const int64_t *e, size_t n, uint32_t full,
                   int64_t horizon)
{
    memset(sw, 0, sizeof *sw);
    diag_ev *ev = malloc((2 * n + 1) * sizeof *ev);
    sw->t = malloc((2 * n + 1) * sizeof *sw->t);
    sw->level = malloc((2 * n + 1) * sizeof *sw->level);
    if (ev == NULL || sw->t == NULL || sw->level == NULL ||
        diag_interval_events(s, e, n, ev) != 0) {
        free(ev);
        pp_sweep_free(sw);
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
        sweep_full(sw, cur, ev[k].t, full, horizon, &in_full, &since);
    }
    sw->n = 2 * n;
    free(ev);
    return 0;
}

uint32_t pp_sweep_at(const pp_sweep *sw, int64_t t)
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

/* ---- harm ---------------------------------------------------------------------- */

bool pp_harm(const diag_ctx *ctx, const pp_rec *r, bool *failed)
{
    *failed = false;
    if (ctx->lc == NULL)
        return false;
    long k = lc_attempt_find(ctx->lc, r->first_packet);
    if (k < 0)
        return false;           /* ok at once */
    size_t n;
    const lc_attempt *a = &lc_attempts(ctx->lc, &n)[k];
    if (a->probe)
        return false;
    switch ((enum lc_outcome)a->outcome) {
    case LC_UNANSWERED:
        *failed = true;
        return a->syns >= 2;    /* the client waited and tried again */
    case LC_REFUSED:
        *failed = true;
        return true;
    case LC_SLOW:
        return a->syns >= 2;    /* waited for a retransmitted SYN */
    default:
        return false;
    }
}

bool pp_at_plateau(const pp_sweep *sw, uint32_t k, const pp_rec *r)
{
    int64_t last = r->start + (int64_t)r->tried_us * 1000;
    return k > 0 && pp_sweep_at(sw, r->start) >= k && pp_sweep_at(sw, last) >= k;
}

/* ---- stacks -------------------------------------------------------------------- */

void pp_stack_of(uint8_t ttl, pp_stack *out)
{
    uint8_t ittl = diag_initial_ttl(ttl);
    const diag_stack *s = diag_stack_by_profile(ittl == 128 ? "windows" : "linux");
    out->ittl = ittl;
    out->tw_s = s != NULL ? s->timewait_s : 60.0;
    out->port_lo = s != NULL ? s->port_lo : 49152;
    out->port_hi = s != NULL ? s->port_hi : 65535;
    if (ittl == 128)
        out->words = "Windows Vista and later 120 s (Windows 2000/XP/2003 240 s)";
    else if (ittl == 64)
        out->words = "Linux 60 s (FreeBSD also 60 s, macOS 30 s)";
    else {
        out->words = "no common stack starts there: 60 s assumed";
        out->port_lo = 49152;   /* the IANA dynamic range (RFC 6335 6) */
        out->port_hi = 65535;
    }
}

/* ---- the pool estimate --------------------------------------------------------- */

/* Ports, reuses, the span and the shortest reuse after a source close. */
static void pool_count(pp_pool *pl)
{
    const pp_rec *prev = NULL;
    double life = 0;
    pl->lo = UINT16_MAX;
    pl->min_gap = INFINITY;
    pl->first_ts = INT64_MAX;
    for (size_t i = 0; i < pl->n; i++) {
        const pp_rec *r = &pl->r[i];
        if (!pp_ok_kind(r->kind))
            continue;
        pl->ok++;
        life += diag_secs(r->end - r->start);
        pl->src_closed += r->kind == PP_SRC_CLOSED;
        if (r->start < pl->first_ts)
            pl->first_ts = r->start;
        if (r->start > pl->last_syn_ts)
            pl->last_syn_ts = r->start;
        if (r->end > pl->last_close_ts)
            pl->last_close_ts = r->end;
        if (prev != NULL && prev->port == r->port) {
            pl->reuses++;
            if (prev->kind == PP_SRC_CLOSED && diag_secs(r->start - prev->end) < pl->min_gap)
                pl->min_gap = diag_secs(r->start - prev->end);
        } else {
            pl->ports++;
            pl->lo = r->port < pl->lo ? r->port : pl->lo;
            pl->hi = r->port > pl->hi ? r->port : pl->hi;
        }
        prev = r;
    }
    pl->span = pl->ports ? (uint32_t)(pl->hi - pl->lo) + 1 : 0;
    pl->life_mean = pl->ok ? life / pl->ok : 0;
    pl->tw_eff = pl->min_gap < pl->st.tw_s ? (pl->min_gap > 0 ? pl->min_gap : 0) : pl->st.tw_s;
}

/* Hold of every connected record (see "holds" above), then the sweep. */
static int pool_holds(pp_pool *pl, const pp_table *t, const diag_ctx *ctx)
{
    size_t m = pl->ok ? pl->ok : 1;
    pl->s = malloc(m * sizeof *pl->s);
    pl->e = malloc(m * sizeof *pl->e);
    pl->of = malloc(m * sizeof *pl->of);
    if (pl->s == NULL || pl->e == NULL || pl->of == NULL)
        return -ENOMEM;
    int64_t tw = (int64_t)(pl->tw_eff * 1e9);
    size_t k = 0;
    for (size_t i = 0; i < pl->n; i++) {
        const pp_rec *r = &pl->r[i];
        if (!pp_ok_kind(r->kind))
            continue;
        int64_t e = pp_open_until(t, r);
        if (r->kind == PP_SRC_CLOSED)
            e += tw;
        for (size_t j = i + 1; j < pl->n && pl->r[j].port == r->port; j++)
            if (pp_ok_kind(pl->r[j].kind)) {
                e = pl->r[j].start < e ? pl->r[j].start : e;
                break;
            }
        pl->s[k] = pp_held_from(r);
        pl->e[k] = e;
        pl->of[k++] = (uint32_t)i;
    }
    uint32_t full = (uint32_t)ceil(PP_FULL_SHARE * pl->ports);
    pl->full = full < 2 ? 2 : full;
    return pp_sweep_build(&pl->sw, pl->s, pl->e, pl->ok, pl->full, ctx->last_ts);
}

/* Ports handed out again after the pool first filled, each counted once. */
static void pool_cycled(pp_pool *pl)
{
    if (pl->sw.episodes == 0)
        return;
    for (size_t k = 1, last = SIZE_MAX; k < pl->ok; k++) {
        uint16_t port = pl->r[pl->of[k]].port;
        if (port != last && pl->s[k] > pl->sw.full_ts && pl->r[pl->of[k - 1]].port == port) {
            pl->cycled++;
            last = port;
        }
    }
}

/* Rule (a): failed or delayed attempts, and those at the plateau. */
static int pool_harm(pp_pool *pl, const diag_ctx *ctx)
{
    pl->harm = malloc((pl->n ? pl->n : 1) * sizeof *pl->harm);
    if (pl->harm == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < pl->n; i++) {
        bool failed;
        if (!pp_harm(ctx, &pl->r[i], &failed))
            continue;
        pl->tried++;
        if (!pp_at_plateau(&pl->sw, pl->sw.peak, &pl->r[i]))
            continue;
        pl->harm[pl->n_harm++] = (uint32_t)i;
        pl->n_harm_failed += failed;
    }
    return 0;
}

int pp_pool_estimate(const pp_table *t, const pp_rec *r, size_t n, const diag_ctx *ctx,
                     pp_pool *pl)
{
    memset(pl, 0, sizeof *pl);
    pl->g = &t->src.v[r[0].grp];
    pl->r = r;
    pl->n = n;
    pp_stack_of(pl->g->ttl, &pl->st);
    pool_count(pl);
    int rc = pool_holds(pl, t, ctx);
    if (rc != 0)
        return rc;
    pool_cycled(pl);
    pl->range_known = pl->ports >= PP_RANGE_MIN_PORTS &&
                      pl->ports >= PP_RANGE_DENSITY * pl->span && pl->cycled >= pl->full;
    pl->near_full = pl->sw.peak >= ceil(PP_FULL_SHARE * pl->span);
    return pool_harm(pl, ctx);
}

void pp_pool_free(pp_pool *pl)
{
    free(pl->s);
    free(pl->e);
    free(pl->of);
    free(pl->harm);
    pp_sweep_free(&pl->sw);
}
