/* nh_report.c - nat-multiple-hosts: the lower bound on hosts per address, and its verdict. */
#include <stddef.h>
#include <string.h>

#include "diagnose/nh_internal.h"

/* ---- counting ------------------------------------------------------------ */

/* Initial TTL a sender most likely used (tcp-behaviour.md 9.10): the
 * stack table's rule (stacks.c). */
static unsigned initial_ttl(unsigned ttl)
{
    return diag_initial_ttl((uint8_t)(ttl > 255 ? 255 : ttl));
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

/* ---- the verdict ---------------------------------------------------------- */

/* TSval a line through (t0, ts0) at rate would have shown at the capture start. */
static uint32_t clock_origin(int64_t t0, uint32_t ts0, uint32_t rate, const diag_ctx *ctx)
{
    if (rate == 0)
        return ts0;
    double back = (double)rate * diag_rel(ctx, t0);
    return ts0 - (uint32_t)(int64_t)back;
}

static void vsig_of(const nh_sig *s, nh_vsig *o)
{
    memset(o, 0, sizeof *o);
    o->kept = true;
    o->ttl = s->ttl;
    o->ttl_initial = (uint8_t)initial_ttl(s->ttl);
    o->has_ts = s->has_ts;
    o->layout_len = s->layout_len <= PKT_OPT_LAYOUT_MAX ? s->layout_len : PKT_OPT_LAYOUT_MAX;
    memcpy(o->layout, s->layout, o->layout_len);
}

/* A new host line of the verdict; NULL when the list is full. */
static nh_vhost *new_host(nh_verdict *vd, enum nh_host_kind kind)
{
    if (vd->n_host >= NH_VHOSTS_MAX)
        return NULL;
    nh_vhost *h = &vd->host[vd->n_host++];
    memset(h, 0, sizeof *h);
    h->kind = kind;
    return h;
}

/* The signature a clock's first connection had (sig: index in the pair),
 * and mark the merged signatures it stands for as shown. */
static void clock_sig(const nh_view *v, const nh_pair *cp, uint8_t sig, bool *clocked,
                      nh_vsig *o)
{
    const nh_sig *s = sig < cp->n_sigs ? nh_csig_at(cp, sig) : NULL;
    if (s == NULL) {
        memset(o, 0, sizeof *o);
        return;
    }
    for (size_t k = 0; k < v->n_sig; k++)
        if (initial_ttl(v->sig[k].s->ttl) == initial_ttl(s->ttl) && same_layout(v->sig[k].s, s) &&
            v->sig[k].s->has_ts)
            clocked[k] = true;
    vsig_of(s, o);
}

/* The clocks counted on the pair's best reused 4-tuple. */
static void tuple_hosts(nh_verdict *vd, const nh_view *v, const nh_state *st,
                        const diag_ctx *ctx, bool *clocked)
{
    const nh_pair *cp = &st->p[v->clock_pair];
    if (cp->tuple_ix == 0 || cp->tuple_ix > st->n_tu)
        return;
    const nh_tuple *u = &st->tu[cp->tuple_ix - 1];
    for (uint32_t i = 0; i < u->n_lines; i++) {
        if (!(u->clique & (1u << i)))
            continue;
        const nh_tline *l = nh_ctline_at(u, i);
        nh_vhost *h = new_host(vd, NH_HOST_TUPLE_CLOCK);
        if (h == NULL)
            return;
        clock_sig(v, cp, l->sig, clocked, &h->sig);
        h->packet = l->ex_packet;
        h->t0 = l->t0;
        h->tl = l->tl;
        h->client = u->client;
        h->cport = u->cport;
        h->server = u->server;
        h->sport = u->sport;
        h->rate = l->rate;
        h->ts0 = l->ts0;
        h->ts_origin = clock_origin(l->t0, l->ts0, l->rate, ctx);
        h->support = l->support;
    }
}

/* The confirmed clocks of the pair. */
static void clock_hosts(nh_verdict *vd, const nh_view *v, const nh_pair *cp,
                        const diag_ctx *ctx, bool *clocked)
{
    uint32_t need = clock_need(cp);
    for (uint32_t i = 0; i < cp->n_clocks && v->clocks >= 1; i++) {
        const nh_clock *c = nh_cclock_at(cp, i);
        if (!clock_confirmed(c, need))
            continue;
        nh_vhost *h = new_host(vd, NH_HOST_CLOCK);
        if (h == NULL)
            return;
        clock_sig(v, cp, c->sig, clocked, &h->sig);
        h->packet = c->ex_packet;
        h->t0 = c->t0;
        h->client = cp->client;
        h->cport = c->port0;
        h->server = cp->server;
        h->sport = c->ex_server_port;
        h->rate = c->rate;
        h->ts0 = c->ts0;
        h->ts_origin = clock_origin(c->t0, c->ts0, c->rate, ctx);
        h->support = c->support;
        h->ports2 = c->ports2;
    }
}

/* The hosts the evidence lists: the clocks, then one per TTL/layout pair
 * not already shown with a clock. */
static void judge_hosts(nh_verdict *vd, const nh_view *v, const nh_state *st,
                        const diag_ctx *ctx)
{
    bool clocked[2 * NH_MAX_SIGS] = { false };
    if (v->clocks_by_tuple)
        tuple_hosts(vd, v, st, ctx, clocked);
    else
        clock_hosts(vd, v, &st->p[v->clock_pair], ctx, clocked);
    for (size_t k = 0; k < v->n_sig; k++) {
        const nh_sig *s = v->sig[k].s;
        bool dup = clocked[k];
        for (size_t j = 0; j < k && !dup; j++)
            dup = initial_ttl(v->sig[j].s->ttl) == initial_ttl(s->ttl) &&
                  same_layout(v->sig[j].s, s) && v->sig[j].s->has_ts == s->has_ts;
        if (dup)
            continue;
        nh_vhost *h = new_host(vd, NH_HOST_SIG);
        if (h == NULL)
            return;
        vsig_of(s, &h->sig);
        h->packet = s->ex_packet;
        h->t0 = s->first_t;
        h->client = v->sig[k].p->client;
        h->cport = s->ex_port;
        h->server = v->sig[k].p->server;
        h->sport = s->ex_server_port;
        h->count = v->sig[k].count;
    }
}

/* Why the clocks counted are hosts. */
static void judge_basis(nh_verdict *vd, const nh_view *v, const nh_state *st)
{
    const nh_pair *cp = &st->p[v->clock_pair];
    vd->basis = NH_BASIS_NONE;
    if (v->clocks_by_tuple && cp->tuple_ix >= 1 && cp->tuple_ix <= st->n_tu) {
        const nh_tuple *u = &st->tu[cp->tuple_ix - 1];
        vd->basis = NH_BASIS_TUPLE;
        vd->tuple_client = u->client;
        vd->tuple_cport = u->cport;
        vd->tuple_server = u->server;
        vd->tuple_sport = u->sport;
    } else if (v->singles >= 3) {
        vd->basis = NH_BASIS_SINGLES;
    } else if (v->clocks >= 2) {
        vd->basis = NH_BASIS_PORTS;
    }
}

/* Confidence: the strongest sign, more when two kinds agree. */
static double judge_confidence(const nh_view *v)
{
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
    return conf;
}

void nh_judge(const nh_view *v, const nh_state *st, const diag_ctx *ctx, nh_verdict *vd)
{
    const nh_pair *p0 = &st->p[v->first];
    memset(vd, 0, sizeof *vd);
    vd->client = p0->client;
    vd->has_server = v->n == 1;
    if (vd->has_server)
        vd->server = p0->server;
    vd->clock_server = st->p[v->clock_pair].server;
    vd->conns = v->conns;
    vd->hosts_min = v->hosts_min;
    vd->clocks = v->clocks;
    vd->ts_combos = v->ts_combos;
    vd->nots_combos = v->nots_combos;
    vd->ttl_initials = v->ttl_initials;
    vd->layouts = v->layouts;
    vd->ttl_interleaved = v->ttl_interleaved;
    vd->singles = v->singles;
    vd->severity = DIAG_INFO;
    vd->confidence = judge_confidence(v);
    judge_basis(vd, v, st);
    judge_hosts(vd, v, st, ctx);
}
