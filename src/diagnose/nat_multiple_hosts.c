/* nat_multiple_hosts.c - detector: one source address carries several hosts (timestamp clocks, TTLs, SYN shapes). */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diagnose/diag_internal.h"

/*
 * How it works.  Every connection attempt (the client's first SYN) is a
 * sample of the host that sent it, keyed by (client address, server
 * address).  Three independent signs of a host are kept (tcp-behaviour.md
 * 9.10):
 *   - the TCP timestamp clock: a host's TSvals toward one server follow
 *     TSval = offset + rate * t.  Samples are put on clock lines: a sample
 *     joins a line when its TSval is where the line's rate (1000, 250, 100,
 *     300 Hz or 1 MHz: Linux by kernel and HZ, BSD, macOS, Linux usec TS)
 *     predicts it, within 50 ms plus 200 ppm of the elapsed time (path
 *     jitter, clock drift).  Several lines with the same rate and different
 *     offsets are several clocks;
 *   - the initial TTL (64 Linux/BSD/macOS, 128 Windows, 255 network gear),
 *     rounded up from the TTL seen;
 *   - the SYN option layout (p0f: Linux mss,sok,ts,nop,ws; Windows
 *     mss,nop,ws,nop,nop,sok; macOS ...,ts,sok,eol).
 *
 * Lower bound on hosts: every host sends one layout with one initial TTL, and
 * sends timestamps or not (a global setting), so hosts >= (timestamp hosts)
 * + (distinct TTL/layout pairs without timestamps), and timestamp hosts >=
 * the confirmed clocks and >= the distinct TTL/layout pairs with timestamps.
 *
 * The trap (tcp-behaviour.md 3.6): Linux 4.10 and Linux >= 7.0 (with 2026
 * stable backports) randomise the timestamp offset per 4-tuple, so one host
 * shows a new clock on every connection.  A clock therefore counts only when
 * at least two connections from different source ports lie on it (a reused
 * 4-tuple repeats its offset, so it proves nothing), and when many
 * connections start clocks of their own (the randomised pattern), a clock
 * needs three connections: random 32-bit offsets line up by chance with a
 * probability of about 2 * tolerance / 2^32 per pair.
 *
 * Limits: Linux 4.11-6.x offsets are per (source, destination) host pair, so
 * clocks are counted per server and the largest count is kept; a rebooted
 * host starts a new clock; hosts that each made a single connection, or
 * that all randomise offsets, cannot be told apart by clocks; TTLs within
 * one initial value (63 and 62) may be different path lengths and are only
 * mentioned, not counted.
 */

#define NH_MAX_CLOCKS    32     /* clock lines kept per (client, server) */
#define NH_MAX_SIGS      16     /* TTL/layout/timestamp signatures per pair */
#define NH_TOL_BASE_S    0.05   /* jitter allowed on a clock line, seconds */
#define NH_TOL_DRIFT     2e-4   /* plus this fraction of the elapsed time */
#define NH_RATE_FIX_NS   1000000000LL   /* points this far apart fix a rate */

static const uint32_t nh_rates[] = { 1000, 250, 100, 300, 1000000 };
#define NH_N_RATES (sizeof nh_rates / sizeof nh_rates[0])

typedef struct nh_clock {
    int64_t  t0, tl;            /* earliest and latest SYN on the line */
    uint32_t ts0, tsl;          /* their TSvals */
    uint32_t rate;              /* ticks per second; 0 = not fixed yet */
    uint32_t support;           /* connections on the line */
    uint64_t ex_packet;         /* first SYN of the first connection */
    uint16_t port0;             /* its client port */
    uint16_t ex_server_port;
    bool     ports2;            /* connections from two different source ports */
    uint8_t  sig;               /* signature index of the first connection */
} nh_clock;

typedef struct nh_sig {
    uint8_t  ttl;
    bool     has_ts;
    uint8_t  layout_len;
    uint8_t  layout[PKT_OPT_LAYOUT_MAX];
    uint32_t count;
    int64_t  first_t, last_t;
    uint64_t ex_packet;
    uint16_t ex_port, ex_server_port;
    uint32_t ex_tsval;
} nh_sig;

typedef struct nh_pair {
    pkt_addr client, server;
    uint64_t conns, ts_conns;
    uint64_t evicted;           /* one-connection clocks pushed out */
    uint64_t unplaced;          /* samples with no room for a clock */
    uint64_t sig_overflow;
    /* the first clock and signature live here (one cache miss less per
       connection for the common single-host address), the others in more_* */
    nh_clock clock0;
    nh_sig   sig0;
    nh_clock *more_clocks;
    uint32_t n_clocks, cap_more_clocks;
    nh_sig  *more_sigs;
    uint32_t n_sigs, cap_more_sigs;
} nh_pair;

static nh_clock *clock_at(nh_pair *p, uint32_t i)
{
    return i == 0 ? &p->clock0 : &p->more_clocks[i - 1];
}

static const nh_clock *cclock_at(const nh_pair *p, uint32_t i)
{
    return i == 0 ? &p->clock0 : &p->more_clocks[i - 1];
}

static nh_sig *sig_at(nh_pair *p, uint32_t i)
{
    return i == 0 ? &p->sig0 : &p->more_sigs[i - 1];
}

static const nh_sig *csig_at(const nh_pair *p, uint32_t i)
{
    return i == 0 ? &p->sig0 : &p->more_sigs[i - 1];
}

typedef struct nh_state {
    nh_pair *p;
    size_t n, cap;
    diag_index ix;              /* (client, server) -> pair */
    diag_host_est *est;         /* published in ctx->hosts */
    bool oom;
} nh_state;

/* One sample: what a connection's first SYN says about its sender. */
typedef struct nh_sample {
    int64_t  t;
    uint32_t tsval;
    bool     has_ts;
    uint32_t rate_hint;         /* from the connection's own TSvals, 0 = none */
    uint64_t packet;
    uint16_t port, server_port;
    uint8_t  ttl;
    const pkt_tcp_opts *opts;
} nh_sample;

static void *nh_create(diag_ctx *ctx)
{
    (void)ctx;
    nh_state *st = calloc(1, sizeof *st);
    if (st != NULL)
        st->ix.seed = 0x9e3779b97f4a7c15ULL ^ (uint64_t)(uintptr_t)st;
    return st;
}

static void nh_destroy(void *p)
{
    nh_state *st = p;
    for (size_t i = 0; i < st->n; i++) {
        free(st->p[i].more_clocks);
        free(st->p[i].more_sigs);
    }
    free(st->p);
    diag_index_reset(&st->ix);
    free(st->est);
    free(st);
}

/* ---- the (client, server) table ----------------------------------------- */

static nh_pair *get_pair(nh_state *st, const pkt_addr *c, const pkt_addr *s)
{
    static const diag_table tab = { sizeof(nh_pair), offsetof(nh_pair, client),
                                    2 * sizeof(pkt_addr) };
    pkt_addr key[2] = { *c, *s };
    void *v = st->p;
    long i = diag_index_get(&st->ix, &tab, &v, &st->n, &st->cap, key, NULL);
    st->p = v;
    return i < 0 ? NULL : &st->p[i];
}

/* ---- signatures and clocks ---------------------------------------------- */

/*
 * The stack's own option layout: options an application can add to one
 * connection's SYN (TCP Fast Open 34 and its experimental 254, MPTCP 30,
 * MD5 19, AccECN...) are left out, and so are trailing NOPs and EOLs (their
 * padding), so that one host using TFO for some connections is not taken for
 * two.
 */
static uint8_t stack_layout(const pkt_tcp_opts *o, uint8_t *out)
{
    uint8_t n = 0;
    unsigned len = o->layout_len < PKT_OPT_LAYOUT_MAX ? o->layout_len : PKT_OPT_LAYOUT_MAX;
    for (unsigned i = 0; i < len; i++) {
        uint8_t k = o->layout[i];
        if (k == 0 || k == 1 || k == 2 || k == 3 || k == 4 || k == 8)
            out[n++] = k;
    }
    while (n > 0 && (out[n - 1] == 1 || out[n - 1] == 0))
        n--;        /* padding, and macOS's final EOL: the same for every SYN */
    return n;
}

static int add_sig(nh_pair *p, const nh_sample *x)
{
    uint8_t lay[PKT_OPT_LAYOUT_MAX];
    uint8_t lay_len = stack_layout(x->opts, lay);
    for (uint32_t i = 0; i < p->n_sigs; i++) {
        nh_sig *g = sig_at(p, i);
        if (g->ttl == x->ttl && g->has_ts == x->has_ts && g->layout_len == lay_len &&
            memcmp(g->layout, lay, lay_len) == 0) {
            g->count++;
            if (x->t < g->first_t) g->first_t = x->t;
            if (x->t > g->last_t) g->last_t = x->t;
            return (int)i;
        }
    }
    if (p->n_sigs == NH_MAX_SIGS) {
        p->sig_overflow++;
        return -1;
    }
    if (p->n_sigs > 0 && p->n_sigs - 1 == p->cap_more_sigs) {
        uint32_t nc = p->cap_more_sigs ? p->cap_more_sigs * 2 : 2;
        nh_sig *ns = realloc(p->more_sigs, nc * sizeof *ns);
        if (ns == NULL)
            return -2;
        p->more_sigs = ns;
        p->cap_more_sigs = nc;
    }
    nh_sig *g = sig_at(p, p->n_sigs);
    memset(g, 0, sizeof *g);
    g->ttl = x->ttl;
    g->has_ts = x->has_ts;
    g->layout_len = lay_len;
    memcpy(g->layout, lay, lay_len);
    g->count = 1;
    g->first_t = g->last_t = x->t;
    g->ex_packet = x->packet;
    g->ex_port = x->port;
    g->ex_server_port = x->server_port;
    g->ex_tsval = x->tsval;
    return (int)p->n_sigs++;
}

/* Allowed distance from a clock line, in seconds, after dt_ns elapsed. */
static double tol_s(int64_t dt_ns)
{
    double dt = diag_secs(dt_ns < 0 ? -dt_ns : dt_ns);
    return NH_TOL_BASE_S + NH_TOL_DRIFT * dt;
}

/* How far (in tolerances) ts at t lies from the line through (t1, ts1) at
 * rate r; TSvals compare modulo 2^32 (RFC 7323 5.2). */
static double line_score(int64_t t1, uint32_t ts1, uint32_t r, int64_t t, uint32_t ts)
{
    double dt = diag_secs(t - t1);
    double d = (double)(int32_t)(ts - ts1) - (double)r * dt;
    double tol = (double)r * tol_s(t - t1);
    if (tol < 2.0)
        tol = 2.0;          /* a tick of rounding either way */
    return (d < 0 ? -d : d) / tol;
}

/* Best score of x on clock c (lower is better; > 1 = not on it). */
static double clock_score(const nh_clock *c, const nh_sample *x, uint32_t *rate)
{
    /* compare with the nearer end of the line: drift grows with distance */
    bool near0 = x->t <= c->t0 || (x->t < c->tl && x->t - c->t0 < c->tl - x->t);
    int64_t t1 = near0 ? c->t0 : c->tl;
    uint32_t ts1 = near0 ? c->ts0 : c->tsl;
    if (c->rate != 0) {
        *rate = c->rate;
        return line_score(t1, ts1, c->rate, x->t, x->tsval);
    }
    double best = 1e300;
    for (size_t i = 0; i < NH_N_RATES; i++) {
        double s = line_score(t1, ts1, nh_rates[i], x->t, x->tsval);
        if (s < best) {
            best = s;
            *rate = nh_rates[i];
        }
    }
    return best;
}

/* Snap a measured rate to a known one within 10 %; 0 when none fits. */
static uint32_t snap_rate(double r)
{
    for (size_t i = 0; i < NH_N_RATES; i++) {
        double k = (double)nh_rates[i];
        if (r > k * 0.9 && r < k * 1.1)
            return nh_rates[i];
    }
    return 0;
}

static void join_clock(nh_clock *c, const nh_sample *x, uint32_t rate)
{
    c->support++;
    if (x->port != c->port0)
        c->ports2 = true;
    if (x->t < c->t0) {
        c->t0 = x->t;
        c->ts0 = x->tsval;
    }
    if (x->t > c->tl) {
        c->tl = x->t;
        c->tsl = x->tsval;
    }
    if (c->rate == 0 && c->tl - c->t0 >= NH_RATE_FIX_NS)
        c->rate = rate;
}

static int add_clock(nh_pair *p, const nh_sample *x, int sig)
{
    uint32_t rate = 0;
    size_t best = SIZE_MAX;
    double best_s = 1.0;
    for (uint32_t i = 0; i < p->n_clocks; i++) {
        uint32_t r = 0;
        double s = clock_score(clock_at(p, i), x, &r);
        if (s <= best_s) {
            best_s = s;
            best = i;
            rate = r;
        }
    }
    if (best != SIZE_MAX) {
        join_clock(clock_at(p, (uint32_t)best), x, rate);
        return 0;
    }
    nh_clock *c;
    if (p->n_clocks == NH_MAX_CLOCKS) {
        /* push out the one-connection clock heard from longest ago */
        size_t old = SIZE_MAX;
        for (uint32_t i = 0; i < p->n_clocks; i++)
            if (clock_at(p, i)->support == 1 &&
                (old == SIZE_MAX || clock_at(p, i)->tl < clock_at(p, (uint32_t)old)->tl))
                old = i;
        if (old == SIZE_MAX) {
            p->unplaced++;
            return 0;
        }
        p->evicted++;
        c = clock_at(p, (uint32_t)old);
    } else {
        if (p->n_clocks > 0 && p->n_clocks - 1 == p->cap_more_clocks) {
            uint32_t nc = p->cap_more_clocks ? p->cap_more_clocks * 2 : 2;
            nh_clock *ncl = realloc(p->more_clocks, nc * sizeof *ncl);
            if (ncl == NULL)
                return -ENOMEM;
            p->more_clocks = ncl;
            p->cap_more_clocks = nc;
        }
        c = clock_at(p, p->n_clocks++);
    }
    memset(c, 0, sizeof *c);
    c->t0 = c->tl = x->t;
    c->ts0 = c->tsl = x->tsval;
    c->rate = x->rate_hint;
    c->support = 1;
    c->port0 = x->port;
    c->ex_packet = x->packet;
    c->ex_server_port = x->server_port;
    c->sig = sig < 0 ? UINT8_MAX : (uint8_t)sig;
    return 0;
}

static void nh_conn(void *vst, const flow_conn *c, diag_ctx *ctx)
{
    (void)ctx;
    nh_state *st = vst;
    if (st->oom || c->syn_count == 0 || c->roles_inferred || !c->client.syn_opts_seen)
        return;
    nh_pair *p = get_pair(st, &c->client.addr, &c->server.addr);
    if (p == NULL) {
        st->oom = true;
        return;
    }
    nh_sample x;
    memset(&x, 0, sizeof x);
    x.t = c->syn_ts[0];
    x.has_ts = c->client.syn_opts.has_ts;
    x.tsval = c->client.syn_opts.tsval;
    x.packet = c->syn_packet[0];
    x.port = c->client.port;
    x.server_port = c->server.port;
    x.ttl = c->client.ttl_first;
    x.opts = &c->client.syn_opts;
    /* the connection's own TSvals give its rate when they span a second */
    if (x.has_ts && c->client.tsval_last_ts - c->client.tsval_first_ts >= NH_RATE_FIX_NS)
        x.rate_hint = snap_rate((double)(uint32_t)(c->client.tsval_last - c->client.tsval_first) /
                                diag_secs(c->client.tsval_last_ts - c->client.tsval_first_ts));
    p->conns++;
    int sig = add_sig(p, &x);
    if (sig == -2) {
        st->oom = true;
        return;
    }
    if (!x.has_ts)
        return;
    p->ts_conns++;
    if (add_clock(p, &x, sig) != 0)
        st->oom = true;
}

/* ---- counting ------------------------------------------------------------ */

/* Initial TTL a sender most likely used (tcp-behaviour.md 9.10): the
 * stack table's rule (stacks.c). */
static unsigned initial_ttl(unsigned ttl)
{
    return diag_initial_ttl((uint8_t)(ttl > 255 ? 255 : ttl));
}

static void layout_str(const uint8_t *k, unsigned n, char *buf, size_t len)
{
    size_t off = 0;
    buf[0] = '\0';
    if (n == 0) {
        snprintf(buf, len, "no options");
        return;
    }
    for (unsigned i = 0; i < n && off < len; i++) {
        const char *name = k[i] == 0 ? "eol" : k[i] == 1 ? "nop" : k[i] == 2 ? "mss" :
                           k[i] == 3 ? "ws" : k[i] == 4 ? "sok" : k[i] == 5 ? "sack" :
                           k[i] == 8 ? "ts" : NULL;
        int w = name ? snprintf(buf + off, len - off, "%s%s", i ? "," : "", name)
                     : snprintf(buf + off, len - off, "%s?%u", i ? "," : "", k[i]);
        if (w < 0)
            break;
        off += (size_t)w;
    }
}

/* Clocks of one pair that count as hosts. */
static uint64_t pair_singles(const nh_pair *p);

static uint32_t clock_need(const nh_pair *p)
{
    return pair_singles(p) >= 2 ? 3 : 2;
}

static bool clock_confirmed(const nh_clock *c, uint32_t need)
{
    return c->support >= need && c->ports2;
}

/* Connections that started a clock no other connection joined. */
static uint64_t pair_singles(const nh_pair *p)
{
    uint64_t singles = p->evicted;
    for (uint32_t i = 0; i < p->n_clocks; i++)
        singles += cclock_at(p, i)->support == 1;
    return singles;
}

/* A TTL/layout/timestamp signature merged over one client's pairs. */
typedef struct msig {
    const nh_sig *s;            /* first seen (example) */
    const nh_pair *p;
    uint64_t count;
    int64_t first_t, last_t;
} msig;

typedef struct ip_view {
    size_t first, n;            /* pairs [first, first + n) of this client */
    msig sig[2 * NH_MAX_SIGS];
    size_t n_sig;
    uint64_t conns;
    uint32_t clocks;            /* confirmed clocks, most toward one server */
    size_t clock_pair;          /* that pair */
    uint32_t ts_combos, nots_combos, combos, ttl_initials, layouts;
    bool ttl_interleaved;       /* TTLs of one initial value used at the same time */
    uint64_t singles;           /* one-connection clocks, most toward one server */
    bool ts_per_conn;           /* most connections have clocks of their own */
    uint16_t hosts_min;
} ip_view;

static bool same_layout(const nh_sig *a, const nh_sig *b)
{
    return a->layout_len == b->layout_len && memcmp(a->layout, b->layout, a->layout_len) == 0;
}

static void merge_sigs(ip_view *v, const nh_pair *pairs)
{
    v->n_sig = 0;
    for (size_t i = v->first; i < v->first + v->n; i++) {
        const nh_pair *p = &pairs[i];
        for (uint32_t j = 0; j < p->n_sigs; j++) {
            const nh_sig *s = csig_at(p, j);
            size_t k;
            for (k = 0; k < v->n_sig; k++)
                if (v->sig[k].s->ttl == s->ttl && v->sig[k].s->has_ts == s->has_ts &&
                    same_layout(v->sig[k].s, s))
                    break;
            if (k == v->n_sig) {
                if (v->n_sig == sizeof v->sig / sizeof v->sig[0])
                    continue;
                v->sig[k].s = s;
                v->sig[k].p = p;
                v->sig[k].count = 0;
                v->sig[k].first_t = s->first_t;
                v->sig[k].last_t = s->last_t;
                v->n_sig++;
            }
            v->sig[k].count += s->count;
            if (s->first_t < v->sig[k].first_t) v->sig[k].first_t = s->first_t;
            if (s->last_t > v->sig[k].last_t) v->sig[k].last_t = s->last_t;
        }
    }
}

/* Distinct (initial TTL, layout) among signatures with has_ts == ts (ts < 0: all). */
static uint32_t count_combos(const ip_view *v, int ts)
{
    uint32_t n = 0;
    for (size_t i = 0; i < v->n_sig; i++) {
        const nh_sig *a = v->sig[i].s;
        if (ts >= 0 && a->has_ts != (ts != 0))
            continue;
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++) {
            const nh_sig *b = v->sig[j].s;
            if (ts >= 0 && b->has_ts != (ts != 0))
                continue;
            seen = initial_ttl(a->ttl) == initial_ttl(b->ttl) && same_layout(a, b);
        }
        n += !seen;
    }
    return n;
}

static void count_hosts(ip_view *v, const nh_pair *pairs)
{
    merge_sigs(v, pairs);
    v->conns = 0;
    v->clocks = 0;
    v->clock_pair = v->first;
    v->ts_per_conn = false;
    v->singles = 0;
    bool any_ts = false;
    for (size_t i = v->first; i < v->first + v->n; i++) {
        const nh_pair *p = &pairs[i];
        v->conns += p->conns;
        any_ts |= p->ts_conns > 0;
        uint64_t singles = pair_singles(p);
        if (singles > v->singles)
            v->singles = singles;
        v->ts_per_conn |= singles >= 3 && singles * 2 >= p->ts_conns;
        uint32_t need = clock_need(p), n = 0;
        for (uint32_t j = 0; j < p->n_clocks; j++)
            n += clock_confirmed(cclock_at(p, j), need);
        if (n > v->clocks) {
            v->clocks = n;
            v->clock_pair = i;
        }
    }
    v->combos = count_combos(v, -1);
    v->ts_combos = count_combos(v, 1);
    v->nots_combos = count_combos(v, 0);
    v->ttl_initials = 0;
    v->layouts = 0;
    v->ttl_interleaved = false;
    for (size_t i = 0; i < v->n_sig; i++) {
        bool ttl_seen = false, lay_seen = false;
        for (size_t j = 0; j < i; j++) {
            const nh_sig *a = v->sig[i].s, *b = v->sig[j].s;
            ttl_seen |= initial_ttl(a->ttl) == initial_ttl(b->ttl);
            lay_seen |= same_layout(a, b);
            /* two TTLs of one initial value in overlapping time spans */
            if (a->ttl != b->ttl && initial_ttl(a->ttl) == initial_ttl(b->ttl) &&
                v->sig[i].first_t <= v->sig[j].last_t && v->sig[j].first_t <= v->sig[i].last_t &&
                v->sig[i].count >= 2 && v->sig[j].count >= 2)
                v->ttl_interleaved = true;
        }
        v->ttl_initials += !ttl_seen;
        v->layouts += !lay_seen;
    }
    uint32_t ts_hosts = v->clocks > v->ts_combos ? v->clocks : v->ts_combos;
    if (ts_hosts == 0 && any_ts)
        ts_hosts = 1;
    uint32_t h = ts_hosts + v->nots_combos;
    if (h < v->combos)
        h = v->combos;
    if (h == 0)
        h = 1;
    v->hosts_min = h > UINT16_MAX ? UINT16_MAX : (uint16_t)h;
}

/* ---- the finding ---------------------------------------------------------- */

static void sig_words(const nh_sig *s, char *buf, size_t len)
{
    char lay[96];
    layout_str(s->layout, s->layout_len, lay, sizeof lay);
    snprintf(buf, len, "TTL %u (initial %u), SYN %s%s", s->ttl, initial_ttl(s->ttl), lay,
             s->has_ts ? "" : ", no timestamps");
}

/* TSval the clock would have shown at the capture start. */
static uint32_t clock_origin(const nh_clock *c, const diag_ctx *ctx)
{
    if (c->rate == 0)
        return c->ts0;
    double back = (double)c->rate * diag_rel(ctx, c->t0);
    return c->ts0 - (uint32_t)(int64_t)back;
}

static void host_evidence(diag_finding *f, const ip_view *v, const nh_pair *pairs, diag_ctx *ctx)
{
    char cl[64], sv[64], sig[160];
    unsigned host = 0;
    const nh_pair *cp = &pairs[v->clock_pair];
    uint32_t need = clock_need(cp);
    bool clocked[2 * NH_MAX_SIGS] = { false };
    /* one line per confirmed clock */
    for (uint32_t i = 0; i < cp->n_clocks && v->clocks >= 1; i++) {
        const nh_clock *c = cclock_at(cp, i);
        if (!clock_confirmed(c, need))
            continue;
        const nh_sig *s = c->sig < cp->n_sigs ? csig_at(cp, c->sig) : NULL;
        for (size_t k = 0; s != NULL && k < v->n_sig; k++)
            if (initial_ttl(v->sig[k].s->ttl) == initial_ttl(s->ttl) && same_layout(v->sig[k].s, s) &&
                v->sig[k].s->has_ts)
                clocked[k] = true;
        if (s != NULL)
            sig_words(s, sig, sizeof sig);
        else
            snprintf(sig, sizeof sig, "signature not kept");
        diag_endpoint(&cp->client, c->port0, cl, sizeof cl);
        diag_endpoint(&cp->server, c->ex_server_port, sv, sizeof sv);
        char rate[32];
        if (c->rate)
            snprintf(rate, sizeof rate, "%u Hz", c->rate);
        else
            snprintf(rate, sizeof rate, "rate not fixed");
        diag_evidence_add(f, c->ex_packet, c->t0,
                          "%8.3f  %s > %s  host %u: timestamp clock %s, TSval %u here (about %u "
                          "at the capture start), %s; %u connections from %s ports",
                          diag_rel(ctx, c->t0), cl, sv, ++host, rate, c->ts0,
                          clock_origin(c, ctx), sig, c->support,
                          c->ports2 ? "different" : "the same");
    }
    /* one line per TTL/layout pair not already shown with a clock */
    for (size_t k = 0; k < v->n_sig; k++) {
        const nh_sig *s = v->sig[k].s;
        bool dup = clocked[k];
        for (size_t j = 0; j < k && !dup; j++)
            dup = initial_ttl(v->sig[j].s->ttl) == initial_ttl(s->ttl) &&
                  same_layout(v->sig[j].s, s) && v->sig[j].s->has_ts == s->has_ts;
        if (dup)
            continue;
        sig_words(s, sig, sizeof sig);
        diag_endpoint(&v->sig[k].p->client, s->ex_port, cl, sizeof cl);
        diag_endpoint(&v->sig[k].p->server, s->ex_server_port, sv, sizeof sv);
        diag_evidence_add(f, s->ex_packet, s->first_t,
                          "%8.3f  %s > %s  host %u: %s; %llu connection%s",
                          diag_rel(ctx, s->first_t), cl, sv, ++host, sig,
                          (unsigned long long)v->sig[k].count, v->sig[k].count == 1 ? "" : "s");
    }
}

static int report(const ip_view *v, const nh_pair *pairs, diag_ctx *ctx, diag_findings *out)
{
    const nh_pair *p0 = &pairs[v->first];
    const nh_pair *cp = &pairs[v->clock_pair];
    double conf = 0;
    unsigned kinds = 0;
    if (v->ttl_initials >= 2) { conf = 0.9; kinds++; }
    if (v->layouts >= 2) { if (conf < 0.85) conf = 0.85; kinds++; }
    if (v->clocks >= 2) { if (conf < 0.8) conf = 0.8; kinds++; }
    if (conf == 0)
        conf = 0.7;     /* TTL/layout pairs differ only together with timestamps */
    if (kinds >= 2)
        conf += 0.05;
    if (conf > 0.95)
        conf = 0.95;
    diag_finding *f = diag_add(out, "nat-multiple-hosts", DIAG_INFO, conf);
    if (f == NULL)
        return -ENOMEM;
    f->events = v->conns;
    f->client = p0->client;
    f->has_client = true;
    if (v->n == 1) {
        f->server = p0->server;
        f->has_server = true;
    }
    char ip[PKT_ADDR_STRLEN], srv[PKT_ADDR_STRLEN], how[256];
    diag_addr(&p0->client, ip, sizeof ip);
    diag_addr(&cp->server, srv, sizeof srv);
    size_t off = 0;
    how[0] = '\0';
    if (v->clocks >= 2)
        off += (size_t)snprintf(how + off, sizeof how - off, "%u timestamp clocks toward %s",
                                v->clocks, srv);
    if (v->ttl_initials >= 2 && off < sizeof how)
        off += (size_t)snprintf(how + off, sizeof how - off, "%s%u initial TTLs",
                                off ? ", " : "", v->ttl_initials);
    if (v->layouts >= 2 && off < sizeof how)
        off += (size_t)snprintf(how + off, sizeof how - off, "%s%u SYN option layouts",
                                off ? ", " : "", v->layouts);
    if (v->nots_combos > 0 && v->ts_combos > 0 && off < sizeof how)
        snprintf(how + off, sizeof how - off, "%sSYNs with and without timestamps",
                 off ? ", " : "");

    diag_summary(f, "%s carries at least %u hosts (%s): a NAT or a shared address", ip,
                 v->hosts_min, how);
    diag_explain(f, "%llu connection attempts came from %s. Their first SYNs do not all come "
                 "from one TCP stack: %s. One host has one TCP timestamp clock toward a server "
                 "(Linux 4.11-6.x keeps one offset per pair of addresses), one initial TTL "
                 "(64 Linux, BSD and macOS; 128 Windows) and one SYN option layout, so %s is "
                 "shared by at least %u hosts: a NAT, a proxy or a load balancer in front of "
                 "them.",
                 (unsigned long long)v->conns, ip, how, ip, v->hosts_min);
    if (v->singles >= 3)
        diag_explain(f, "%llu connections from %s start timestamp clocks of their own, as "
                     "Linux 4.10 and Linux 7.0 and later do (a random offset per 4-tuple): "
                     "those are not counted as hosts, since one such host already shows a new "
                     "clock on every connection; a clock then needs three connections.",
                     (unsigned long long)v->singles, ip);
    else if (v->clocks >= 2)
        diag_explain(f, "A clock counts only when connections from at least two different "
                     "source ports lie on it, so that one Linux host randomising its offset "
                     "per connection (Linux 4.10, 7.0 and later) is not taken for many. A "
                     "rebooted host also starts a new clock.");
    if (v->ttl_interleaved)
        diag_explain(f, "TTLs one or more apart within the same initial value also alternate "
                     "in time: hosts at different distances behind the address (not counted: "
                     "a path change can do the same).");
    diag_explain(f, "A NAT is not a fault. It matters when a server keeps state per address "
                 "and assumes one host behind it: a per-host timestamp check (tcp_tw_recycle, "
                 "see paws-reject), TIME_WAIT reuse of the NAT's ports (nat-timewait-mismatch), "
                 "per-address rate limits.");

    diag_param *pm = diag_param_add(f, "hosts_min", v->hosts_min, "hosts");
    diag_param_min(pm, v->hosts_min);
    diag_param_note(pm, "lower bound: %u host%s with timestamps (%u confirmed clock%s, %u "
                        "TTL/layout pair%s) plus %u TTL/layout pair%s without timestamps",
                    v->hosts_min - v->nots_combos, v->hosts_min - v->nots_combos == 1 ? "" : "s",
                    v->clocks, v->clocks == 1 ? "" : "s", v->ts_combos,
                    v->ts_combos == 1 ? "" : "s", v->nots_combos, v->nots_combos == 1 ? "" : "s");
    pm = diag_param_add(f, "ts_clocks", v->clocks, "clocks");
    diag_param_note(pm, "timestamp clocks each confirmed by connections from two or more "
                        "source ports, toward %s", srv);
    diag_param_add(f, "ttl_initials", v->ttl_initials, "");
    diag_param_add(f, "syn_layouts", v->layouts, "");
    diag_param_add(f, "connections", (double)v->conns, "");
    host_evidence(f, v, pairs, ctx);

    diag_remedy_add(f, "Nothing to fix for the NAT itself; check that servers these hosts reach "
                       "keep no per-address state that assumes one host (Linux "
                       "net.ipv4.tcp_tw_recycle before 4.12, per-IP connection limits)",
                    "none: a check");
    diag_remedy_add(f, "Where such state cannot be changed, give the hosts more outside "
                       "addresses (a NAT pool) or their own",
                    "more public addresses; logs keyed by address become clearer as well");
    return 0;
}

static int cmp_pair(const void *x, const void *y)
{
    const nh_pair *a = x, *b = y;
    int d = memcmp(a->client.b, b->client.b, 16);
    return d ? d : memcmp(a->server.b, b->server.b, 16);
}

static int nh_finish(void *vst, diag_ctx *ctx, diag_findings *out)
{
    nh_state *st = vst;
    if (st->oom)
        return -ENOMEM;
    if (st->n == 0)
        return 0;
    /* sorted pairs make the output independent of the hash seed */
    qsort(st->p, st->n, sizeof *st->p, cmp_pair);
    diag_index_reset(&st->ix);
    st->est = calloc(st->n, sizeof *st->est);
    ip_view *v = malloc(sizeof *v);
    if (st->est == NULL || v == NULL) {
        free(v);
        return -ENOMEM;
    }
    size_t n_est = 0;
    int rc = 0;
    for (size_t i = 0; i < st->n && rc == 0;) {
        size_t j = i + 1;
        while (j < st->n && memcmp(st->p[j].client.b, st->p[i].client.b, 16) == 0)
            j++;
        v->first = i;
        v->n = j - i;
        count_hosts(v, st->p);
        diag_host_est *e = &st->est[n_est++];
        e->ip = st->p[i].client;
        e->hosts_min = v->hosts_min;
        e->ts_clocks = (uint16_t)(v->clocks > UINT16_MAX ? UINT16_MAX : v->clocks);
        e->ttl_initials = (uint16_t)v->ttl_initials;
        e->syn_layouts = (uint16_t)v->layouts;
        e->ts_per_conn = v->ts_per_conn;
        if (v->hosts_min >= 2)
            rc = report(v, st->p, ctx, out);
        i = j;
    }
    free(v);
    ctx->hosts = st->est;
    ctx->n_hosts = n_est;
    return rc;
}

const diag_detector diag_det_nat_multiple_hosts = {
    .id = "nat-multiple-hosts",
    .create = nh_create,
    .conn = nh_conn,
    .finish = nh_finish,
    .destroy = nh_destroy,
};
