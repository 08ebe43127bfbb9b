/* nat_multiple_hosts.c - detector: one source address carries several hosts (timestamp clocks, TTLs, SYN shapes). */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diagnose/nh_internal.h"

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
 * 4-tuple repeats its offset, so one line on it proves nothing), and when
 * many connections start clocks of their own (the randomised pattern), a
 * clock needs three connections: random 32-bit offsets line up by chance
 * with a probability of about 2 * tolerance / 2^32 per pair.
 *
 * Clocks alternating on one reused 4-tuple (nh_tuple.c): since one host
 * repeats its offset on a 4-tuple, two clock lines interleaved in time on
 * the same 4-tuple (A B A B: two hosts behind a NAT that keeps their common
 * source port), each line consistent with its own elapsed time and every
 * step between them going backwards or faster than 1000 Hz (RFC 7323 5.4),
 * are two hosts even with two connections each.
 *
 * Limits: Linux 4.11-6.x offsets are per (source, destination) host pair, so
 * clocks are counted per server and the largest count is kept; a rebooted
 * host starts a new clock; hosts that each made a single connection, or
 * that all randomise offsets, cannot be told apart by clocks; TTLs within
 * one initial value (63 and 62) may be different path lengths and are only
 * mentioned, not counted.
 */

static void *nh_create(diag_ctx *ctx)
{
    (void)ctx;
    nh_state *st = calloc(1, sizeof *st);
    if (st != NULL) {
        st->ix.seed = 0x9e3779b97f4a7c15ULL ^ (uint64_t)(uintptr_t)st;
        st->tix.seed = st->ix.seed * 0xff51afd7ed558ccdULL + 1;
    }
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
    nh_tuples_free(st);
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

static void nh_conn(void *vst, const flow_conn *c, diag_ctx *ctx)
{
    (void)ctx;
    nh_state *st = vst;
    st->last_conn = NULL;
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
        x.rate_hint = nh_snap_rate((double)(uint32_t)(c->client.tsval_last - c->client.tsval_first) /
                                diag_secs(c->client.tsval_last_ts - c->client.tsval_first_ts));
    p->conns++;
    int sig = nh_add_sig(p, &x);
    if (sig == -2) {
        st->oom = true;
        return;
    }
    if (!x.has_ts)
        return;
    p->ts_conns++;
    if (nh_add_clock(p, &x, sig) != 0)
        st->oom = true;
    /* the reuse hook that follows puts it on its 4-tuple's lines, when
       that 4-tuple is followed */
    x.opts = NULL;
    st->last = x;
    st->last_sig = sig;
    st->last_conn = c;
}

static uint32_t tuple_bit(const flow_conn *c)
{
    uint64_t h = 0x9e3779b97f4a7c15ULL;
    for (int i = 0; i < 16; i += 8) {
        uint64_t a, b;
        memcpy(&a, c->client.addr.b + i, 8);
        memcpy(&b, c->server.addr.b + i, 8);
        h = (h ^ a) * 0xff51afd7ed558ccdULL;
        h = (h ^ b) * 0xc4ceb9fe1a85ec53ULL;
    }
    h ^= ((uint64_t)c->client.port << 16) | c->server.port;
    h *= 0xff51afd7ed558ccdULL;
    return (uint32_t)(h >> 32) % NH_TRACK_BITS;
}

/* cur reused its 4-tuple; the conn hook saw it just before. */
/*
 * cur reused its 4-tuple after prev; the conn hook saw cur just before.  A
 * 4-tuple is followed from the first step between its incarnations that
 * one clock cannot make (the old incarnation's SYN, then this one's): the
 * many tuples one host reuses on one clock never cost a look-up.  The old
 * incarnation's sample is rebuilt from what the engine kept of it
 * (diag_prev); its signature is not known then (sig -1).
 */
static void nh_reuse(void *vst, const diag_prev *prev, const flow_conn *cur, diag_ctx *ctx)
{
    (void)ctx;
    nh_state *st = vst;
    if (st->oom || st->last_conn != cur)
        return;
    st->last_conn = NULL;
    uint32_t bit = tuple_bit(cur);
    bool tracked = (st->tracked[bit / 64] >> (bit % 64)) & 1;
    if (!tracked) {
        if (!prev->had_syn || !prev->syn_opts_seen || !prev->client_ts_seen ||
            nh_one_clock(prev->first_syn_ts, prev->client_tsval_syn, st->last.t, st->last.tsval))
            return;
        st->tracked[bit / 64] |= 1ull << (bit % 64);
        nh_sample old;
        memset(&old, 0, sizeof old);
        old.t = prev->first_syn_ts;
        old.tsval = prev->client_tsval_syn;
        old.has_ts = true;
        old.packet = prev->syn_packet;
        old.port = prev->client_port;
        old.server_port = cur->server.port;
        old.ttl = prev->client_ttl;
        if (nh_tuple_add(st, cur, &old, -1) != 0) {
            st->oom = true;
            return;
        }
    }
    if (nh_tuple_add(st, cur, &st->last, st->last_sig) != 0)
        st->oom = true;
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
    nh_tuples_finish(st);
    /* sorted pairs make the output independent of the hash seed (each
       keeps the position of its best tuple, which do not move) */
    qsort(st->p, st->n, sizeof *st->p, cmp_pair);
    diag_index_reset(&st->ix);
    st->est = calloc(st->n, sizeof *st->est);
    nh_view *v = malloc(sizeof *v);
    nh_verdict *vd = malloc(sizeof *vd);
    if (st->est == NULL || v == NULL || vd == NULL) {
        free(v);
        free(vd);
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
        nh_count_hosts(v, st->p);
        diag_host_est *e = &st->est[n_est++];
        e->ip = st->p[i].client;
        e->hosts_min = v->hosts_min;
        e->ts_clocks = (uint16_t)(v->clocks > UINT16_MAX ? UINT16_MAX : v->clocks);
        e->ttl_initials = (uint16_t)v->ttl_initials;
        e->syn_layouts = (uint16_t)v->layouts;
        e->ts_per_conn = v->ts_per_conn;
        if (v->hosts_min >= 2) {
            nh_judge(v, st, ctx, vd);
            rc = nh_words(vd, ctx, out);
        }
        i = j;
    }
    free(v);
    free(vd);
    ctx->hosts = st->est;
    ctx->n_hosts = n_est;
    return rc;
}

const diag_detector diag_det_nat_multiple_hosts = {
    .id = "nat-multiple-hosts",
    .provides = DIAG_FACT_HOSTS,
    .create = nh_create,
    .conn = nh_conn,
    .reuse = nh_reuse,
    .finish = nh_finish,
    .destroy = nh_destroy,
};
