/* nh_clock.c - nat-multiple-hosts: SYN signatures and timestamp clock lines per (client, server). */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "diagnose/nh_internal.h"

/* TSval rates a stack uses (tcp-behaviour.md 3.6, 9.10): Linux 1000 Hz
 * (>= 4.13) or HZ (250, 100, 300, 1000), BSD and macOS 1000 Hz, Linux usec
 * timestamps (tcp_usec_ts, 6.7+) 1 MHz. */
static const uint32_t nh_rates[] = { 1000, 250, 100, 300, 1000000 };
#define NH_N_RATES (sizeof nh_rates / sizeof nh_rates[0])

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

int nh_add_sig(nh_pair *p, const nh_sample *x)
{
    uint8_t lay[PKT_OPT_LAYOUT_MAX];
    uint8_t lay_len = stack_layout(x->opts, lay);
    for (uint32_t i = 0; i < p->n_sigs; i++) {
        nh_sig *g = nh_sig_at(p, i);
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
    nh_sig *g = nh_sig_at(p, p->n_sigs);
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
double nh_line_score(int64_t t1, uint32_t ts1, uint32_t r, int64_t t, uint32_t ts)
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
        return nh_line_score(t1, ts1, c->rate, x->t, x->tsval);
    }
    double best = 1e300;
    for (size_t i = 0; i < NH_N_RATES; i++) {
        double s = nh_line_score(t1, ts1, nh_rates[i], x->t, x->tsval);
        if (s < best) {
            best = s;
            *rate = nh_rates[i];
        }
    }
    return best;
}

/* Snap a measured rate to a known one within 10 %; 0 when none fits. */
uint32_t nh_snap_rate(double r)
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

int nh_add_clock(nh_pair *p, const nh_sample *x, int sig)
{
    uint32_t rate = 0;
    size_t best = SIZE_MAX;
    double best_s = 1.0;
    for (uint32_t i = 0; i < p->n_clocks; i++) {
        uint32_t r = 0;
        double s = clock_score(nh_clock_at(p, i), x, &r);
        if (s <= best_s) {
            best_s = s;
            best = i;
            rate = r;
        }
    }
    if (best != SIZE_MAX) {
        join_clock(nh_clock_at(p, (uint32_t)best), x, rate);
        return 0;
    }
    nh_clock *c;
    if (p->n_clocks == NH_MAX_CLOCKS) {
        /* push out the one-connection clock heard from longest ago */
        size_t old = SIZE_MAX;
        for (uint32_t i = 0; i < p->n_clocks; i++)
            if (nh_clock_at(p, i)->support == 1 &&
                (old == SIZE_MAX || nh_clock_at(p, i)->tl < nh_clock_at(p, (uint32_t)old)->tl))
                old = i;
        if (old == SIZE_MAX) {
            p->unplaced++;
            return 0;
        }
        p->evicted++;
        c = nh_clock_at(p, (uint32_t)old);
    } else {
        if (p->n_clocks > 0 && p->n_clocks - 1 == p->cap_more_clocks) {
            uint32_t nc = p->cap_more_clocks ? p->cap_more_clocks * 2 : 2;
            nh_clock *ncl = realloc(p->more_clocks, nc * sizeof *ncl);
            if (ncl == NULL)
                return -ENOMEM;
            p->more_clocks = ncl;
            p->cap_more_clocks = nc;
        }
        c = nh_clock_at(p, p->n_clocks++);
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
