/* nh_report.c - nat-multiple-hosts: the lower bound on hosts per address, and its finding. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "diagnose/nh_internal.h"

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
        singles += nh_cclock_at(p, i)->support == 1;
    return singles;
}

static bool same_layout(const nh_sig *a, const nh_sig *b)
{
    return a->layout_len == b->layout_len && memcmp(a->layout, b->layout, a->layout_len) == 0;
}

static void merge_sigs(nh_view *v, const nh_pair *pairs)
{
    v->n_sig = 0;
    for (size_t i = v->first; i < v->first + v->n; i++) {
        const nh_pair *p = &pairs[i];
        for (uint32_t j = 0; j < p->n_sigs; j++) {
            const nh_sig *s = nh_csig_at(p, j);
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
static uint32_t count_combos(const nh_view *v, int ts)
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

void nh_count_hosts(nh_view *v, const nh_pair *pairs)
{
    merge_sigs(v, pairs);
    v->conns = 0;
    v->clocks = 0;
    v->clock_pair = v->first;
    v->clocks_by_tuple = false;
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
            n += clock_confirmed(nh_cclock_at(p, j), need);
        if (n > v->clocks) {
            v->clocks = n;
            v->clock_pair = i;
            v->clocks_by_tuple = false;
        }
        /* clocks alternating on one reused 4-tuple: the same clocks may be
           among those above, so the larger count stands, not the sum */
        if (p->tuple_clocks > v->clocks) {
            v->clocks = p->tuple_clocks;
            v->clock_pair = i;
            v->clocks_by_tuple = true;
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

/* TSval a line through (t0, ts0) at rate would have shown at the capture start. */
static uint32_t clock_origin(int64_t t0, uint32_t ts0, uint32_t rate, const diag_ctx *ctx)
{
    if (rate == 0)
        return ts0;
    double back = (double)rate * diag_rel(ctx, t0);
    return ts0 - (uint32_t)(int64_t)back;
}

/* Words for the signature a clock's first connection had (sig: index in
 * the pair), and mark the merged signatures it stands for as shown. */
static void clock_sig(const nh_view *v, const nh_pair *cp, uint8_t sig, bool *clocked,
                      char *buf, size_t len)
{
    const nh_sig *s = sig < cp->n_sigs ? nh_csig_at(cp, sig) : NULL;
    if (s == NULL) {
        snprintf(buf, len, "signature not kept");
        return;
    }
    for (size_t k = 0; k < v->n_sig; k++)
        if (initial_ttl(v->sig[k].s->ttl) == initial_ttl(s->ttl) && same_layout(v->sig[k].s, s) &&
            v->sig[k].s->has_ts)
            clocked[k] = true;
    sig_words(s, buf, len);
}

static void rate_words(uint32_t rate, char *buf, size_t len)
{
    if (rate)
        snprintf(buf, len, "%u Hz", rate);
    else
        snprintf(buf, len, "rate not fixed");
}

/* One line per clock counted on the pair's best reused 4-tuple. */
static void tuple_evidence(diag_finding *f, const nh_view *v, const nh_state *st,
                           diag_ctx *ctx, bool *clocked, unsigned *host)
{
    const nh_pair *cp = &st->p[v->clock_pair];
    if (cp->tuple_ix == 0 || cp->tuple_ix > st->n_tu)
        return;
    const nh_tuple *u = &st->tu[cp->tuple_ix - 1];
    char cl[64], sv[64], sig[160], rate[32];
    diag_endpoint(&u->client, u->cport, cl, sizeof cl);
    diag_endpoint(&u->server, u->sport, sv, sizeof sv);
    for (uint32_t i = 0; i < u->n_lines; i++) {
        if (!(u->clique & (1u << i)))
            continue;
        const nh_tline *l = nh_ctline_at(u, i);
        clock_sig(v, cp, l->sig, clocked, sig, sizeof sig);
        rate_words(l->rate, rate, sizeof rate);
        diag_evidence_add(f, l->ex_packet, l->t0,
                          "%8.3f  %s > %s  host %u: timestamp clock %s, TSval %u here (about %u "
                          "at the capture start), %s; %u connections on this reused 4-tuple, "
                          "%.3f s to %.3f s, alternating with another clock",
                          diag_rel(ctx, l->t0), cl, sv, ++*host, rate, l->ts0,
                          clock_origin(l->t0, l->ts0, l->rate, ctx), sig, l->support,
                          diag_rel(ctx, l->t0), diag_rel(ctx, l->tl));
    }
}

/* One line per confirmed clock of the pair. */
static void clock_evidence(diag_finding *f, const nh_view *v, const nh_pair *cp,
                           diag_ctx *ctx, bool *clocked, unsigned *host)
{
    char cl[64], sv[64], sig[160], rate[32];
    uint32_t need = clock_need(cp);
    for (uint32_t i = 0; i < cp->n_clocks && v->clocks >= 1; i++) {
        const nh_clock *c = nh_cclock_at(cp, i);
        if (!clock_confirmed(c, need))
            continue;
        clock_sig(v, cp, c->sig, clocked, sig, sizeof sig);
        diag_endpoint(&cp->client, c->port0, cl, sizeof cl);
        diag_endpoint(&cp->server, c->ex_server_port, sv, sizeof sv);
        rate_words(c->rate, rate, sizeof rate);
        diag_evidence_add(f, c->ex_packet, c->t0,
                          "%8.3f  %s > %s  host %u: timestamp clock %s, TSval %u here (about %u "
                          "at the capture start), %s; %u connections from %s ports",
                          diag_rel(ctx, c->t0), cl, sv, ++*host, rate, c->ts0,
                          clock_origin(c->t0, c->ts0, c->rate, ctx), sig, c->support,
                          c->ports2 ? "different" : "the same");
    }
}

static void host_evidence(diag_finding *f, const nh_view *v, const nh_state *st, diag_ctx *ctx)
{
    char cl[64], sv[64], sig[160];
    unsigned host = 0;
    bool clocked[2 * NH_MAX_SIGS] = { false };
    if (v->clocks_by_tuple)
        tuple_evidence(f, v, st, ctx, clocked, &host);
    else
        clock_evidence(f, v, &st->p[v->clock_pair], ctx, clocked, &host);
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

/* Why the clocks counted are hosts. */
static void clock_explain(diag_finding *f, const nh_view *v, const nh_state *st, const char *ip)
{
    const nh_pair *cp = &st->p[v->clock_pair];
    if (v->clocks_by_tuple && cp->tuple_ix >= 1 && cp->tuple_ix <= st->n_tu) {
        const nh_tuple *u = &st->tu[cp->tuple_ix - 1];
        char cl[64], sv[64];
        diag_endpoint(&u->client, u->cport, cl, sizeof cl);
        diag_endpoint(&u->server, u->sport, sv, sizeof sv);
        diag_explain(f, "The 4-tuple %s > %s was used again and again, and the TSvals of its "
                     "SYNs alternate between %u clock lines, each advancing with the time "
                     "elapsed, while every step from one line to another goes backwards or "
                     "jumps further than a 1000 Hz clock could (RFC 7323 5.4: 1 ms to 1 s per "
                     "tick). One host sends one clock on one 4-tuple (Linux "
                     "secure_tcp_ts_off(): the same offset for the same addresses and ports), "
                     "and a rebooted one would not come back to its old line, so each line is "
                     "a host of its own.",
                     cl, sv, v->clocks);
        return;
    }
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
}

int nh_report(const nh_view *v, const nh_state *st, diag_ctx *ctx, diag_findings *out)
{
    const nh_pair *p0 = &st->p[v->first];
    const nh_pair *cp = &st->p[v->clock_pair];
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
    clock_explain(f, v, st, ip);
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
                        "source ports, or alternating on one reused 4-tuple, toward %s", srv);
    diag_param_add(f, "ttl_initials", v->ttl_initials, "");
    diag_param_add(f, "syn_layouts", v->layouts, "");
    diag_param_add(f, "connections", (double)v->conns, "");
    host_evidence(f, v, st, ctx);

    diag_remedy_add(f, "Nothing to fix for the NAT itself; check that servers these hosts reach "
                       "keep no per-address state that assumes one host (Linux "
                       "net.ipv4.tcp_tw_recycle before 4.12, per-IP connection limits)",
                    "none: a check");
    diag_remedy_add(f, "Where such state cannot be changed, give the hosts more outside "
                       "addresses (a NAT pool) or their own",
                    "more public addresses; logs keyed by address become clearer as well");
    return 0;
}
