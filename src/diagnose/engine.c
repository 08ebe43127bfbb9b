/* engine.c - run the detectors over packets and incarnations; pair reuses; infer the vantage point. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem_internal.h"
#include "diagnose/diag_internal.h"
#include "diagnose/ports_internal.h"

/* Every detector; the engine runs their final passes in the order their
 * declared facts require (diag_detectors_order), not in this one. */
static const diag_detector *const detectors[] = {
    &diag_det_nat_multiple_hosts,
    &diag_det_paws_reject,
    &diag_det_timewait_reuse,
    &diag_det_nat_timewait_mismatch,
    &diag_det_isn_not_increasing,
    &diag_det_port_exhaustion,
    &diag_det_timewait_accumulation,
    &diag_det_abortive_close,
    &diag_det_fragmented_tcp,
    &diag_det_connection_refused,
    &diag_det_scan,
};
#define N_DETECTORS (sizeof detectors / sizeof detectors[0])

/* Findings of one id kept apart before the rest are said as one
 * (diag_findings_cap): a screen's worth. */
#define DIAG_FINDINGS_PER_ID 10

/* A previous incarnation waiting for the next one of the same 4-tuple: the
 * flow table keeps the pointer in the 4-tuple's entry (flow_sink_fn's
 * tuple_data), so pairing costs no lookup.  Released records go on a free
 * list and are reused, still warm in cache. */
typedef struct pending {
    struct pending *next_free;
    diag_prev prev;
} pending;

/* Handshake timing votes for the vantage point (see infer_vantage). */
typedef struct vantage_votes {
    uint64_t server, client, path, samples;
    uint64_t ttl_server, ttl_client, ttl_samples;
} vantage_votes;

struct diag_engine {
    diag_config cfg;
    diag_ctx ctx;
    size_t order[N_DETECTORS];  /* final passes, by declared facts */
    void *state[N_DETECTORS];
    pending *free_pending;      /* released records, for reuse */
    struct {                    /* the detectors that look at packets, in */
        void (*fn)(void *st, const pkt_view *v, enum pkt_status s, diag_ctx *ctx);
        void *st;               /* order: the per-packet loop skips the rest */
    } packet_hook[N_DETECTORS];
    size_t n_packet_hooks;
    vantage_votes votes;
    lc_stage *lc;               /* the lifecycle stage, fed before the detectors */
    pp_table ports;             /* port use, shared (ctx->ports after finish) */
    diag_accounting acc;        /* filled by diag_engine_finish */
    bool oom;
};

/* ---- ctx helpers ----------------------------------------------------- */

int diag_ctx_explain(diag_ctx *ctx, uint64_t first_packet)
{
    if (ctx->n_explained == ctx->cap_explained) {
        size_t nc = ctx->cap_explained ? ctx->cap_explained * 2 : 64;
        struct diag_explained *p = realloc(ctx->explained, nc * sizeof *p);
        if (p == NULL)
            return -ENOMEM;
        ctx->explained = p;
        ctx->cap_explained = nc;
    }
    ctx->explained[ctx->n_explained].first_packet = first_packet;
    ctx->explained[ctx->n_explained++].detector = ctx->cur_detector;
    ctx->explained_sorted = false;
    return 0;
}

static int cmp_explained(const void *x, const void *y)
{
    const struct diag_explained *a = x, *b = y;
    if (a->first_packet != b->first_packet)
        return a->first_packet < b->first_packet ? -1 : 1;
    return a->detector < b->detector ? -1 : a->detector > b->detector;
}

static void sort_explained(diag_ctx *ctx)
{
    if (!ctx->explained_sorted) {
        qsort(ctx->explained, ctx->n_explained, sizeof *ctx->explained, cmp_explained);
        ctx->explained_sorted = true;
    }
}

/* Explained by the running detector itself, or by one that provides a fact
 * the running detector reads (its declaration): what others explain
 * without declaring it is not seen. */
bool diag_ctx_is_explained(diag_ctx *ctx, uint64_t first_packet)
{
    if (ctx->n_explained == 0)
        return false;
    sort_explained(ctx);
    size_t lo = 0, hi = ctx->n_explained;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ctx->explained[mid].first_packet < first_packet)
            lo = mid + 1;
        else
            hi = mid;
    }
    unsigned reads = ctx->cur_detector < N_DETECTORS ? detectors[ctx->cur_detector]->reads : 0;
    for (; lo < ctx->n_explained && ctx->explained[lo].first_packet == first_packet; lo++)
        if (ctx->explained[lo].detector == ctx->cur_detector ||
            (detectors[ctx->explained[lo].detector]->provides & reads))
            return true;
    return false;
}

/* The extra parts (few) are a plain growing array, indexed from events. */
static long add_extra(diag_ctx *ctx, const tw_extra *x)
{
    if (ctx->n_tw_extra >= UINT32_MAX - 1)
        return -1;
    if (ctx->n_tw_extra == ctx->cap_tw_extra) {
        size_t nc = ctx->cap_tw_extra ? ctx->cap_tw_extra * 2 : 16;
        tw_extra *v = mem_grow(ctx->tw_extra, ctx->cap_tw_extra * sizeof *v, nc * sizeof *v);
        if (v == NULL)
            return -1;
        ctx->tw_extra = v;
        ctx->cap_tw_extra = nc;
    }
    ctx->tw_extra[ctx->n_tw_extra] = *x;
    return (long)ctx->n_tw_extra++;
}

tw_extra *diag_ctx_tw_extra_of(diag_ctx *ctx, size_t i)
{
    tw_event *e = diag_tw(ctx, i);
    if (e->extra == 0) {
        tw_extra zero;
        memset(&zero, 0, sizeof zero);
        long k = add_extra(ctx, &zero);
        if (k < 0)
            return NULL;
        e->extra = (uint32_t)k + 1;
    }
    return &ctx->tw_extra[e->extra - 1];
}

/* Events are stored in blocks of one huge page each, never moved: a
 * growing array would copy them (and touch twice the memory) at every
 * doubling, and there is one event per reuse, 160 bytes each. */
int diag_ctx_add_tw(diag_ctx *ctx, const tw_event *ev, const tw_extra *x)
{
    size_t b = ctx->n_tw / DIAG_TW_BLOCK;
    if (b == ctx->n_tw_blocks) {
        if (b == ctx->cap_tw_blocks) {
            size_t nc = ctx->cap_tw_blocks ? ctx->cap_tw_blocks * 2 : 16;
            tw_event **v = realloc(ctx->tw_block, nc * sizeof *v);
            if (v == NULL)
                return -ENOMEM;
            ctx->tw_block = v;
            ctx->cap_tw_blocks = nc;
        }
        /* A whole huge page (the events fill all but its last few bytes).
           Not the first block: most captures have few reuses, and a huge
           page is made resident (and zeroed) whole at its first event;
           small pages fill as events arrive. */
        void *m = NULL;
        if (posix_memalign(&m, MEM_HUGE_PAGE, MEM_HUGE_PAGE) != 0)
            return -ENOMEM;
        if (b > 0)
            mem_hint_huge(m, MEM_HUGE_PAGE);
        ctx->tw_block[ctx->n_tw_blocks++] = m;
    }
    long k = 0;
    if (x != NULL && (k = add_extra(ctx, x)) < 0)
        return -ENOMEM;
    tw_event *e = diag_tw(ctx, ctx->n_tw++);
    *e = *ev;
    e->extra = x != NULL ? (uint32_t)k + 1 : 0;
    return 0;
}

const char *diag_addr(const pkt_addr *a, char *buf, size_t len)
{
    return pkt_addr_str(a, buf, len);
}

const char *diag_endpoint(const pkt_addr *a, uint16_t port, char *buf, size_t len)
{
    char t[PKT_ADDR_STRLEN];
    pkt_addr_str(a, t, sizeof t);
    snprintf(buf, len, pkt_addr_is_v4(a) ? "%s:%u" : "[%s]:%u", t, port);
    return buf;
}

double diag_rel(const diag_ctx *ctx, int64_t ts_ns)
{
    return ctx->have_ts ? diag_secs(ts_ns - ctx->first_ts) : 0.0;
}


/* ---- engine ------------------------------------------------------------ */

int diag_detectors_order(const diag_detector *const *list, size_t n, size_t *order)
{
    unsigned provided = 0, all = 0;
    bool done[64] = { false };
    if (n > sizeof done / sizeof done[0])
        return -1;
    for (size_t i = 0; i < n; i++)
        all |= list[i]->provides;
    for (size_t k = 0; k < n; k++) {
        size_t pick = n;
        for (size_t i = 0; i < n && pick == n; i++)
            if (!done[i] && (list[i]->reads & ~all) == 0 && (list[i]->reads & ~provided) == 0)
                pick = i;
        if (pick == n)
            return -1;      /* a fact nobody provides, or a cycle */
        done[pick] = true;
        order[k] = pick;
        /* a fact is there once every detector that provides it has run */
        provided = 0;
        for (size_t i = 0; i < n; i++)
            provided |= list[i]->provides;
        for (size_t i = 0; i < n; i++)
            if (!done[i])
                provided &= ~list[i]->provides;
    }
    return 0;
}

diag_engine *diag_engine_new(const diag_config *cfg, char *errbuf, size_t errlen)
{
    diag_engine *e = calloc(1, sizeof *e);
    if (e == NULL)
        goto out_nomem;
    e->cfg = *cfg;
    e->ctx.vantage = cfg->vantage;
    if (diag_detectors_order(detectors, N_DETECTORS, e->order) != 0) {
        /* a programming error in the detectors' declarations */
        if (errbuf != NULL && errlen > 0)
            snprintf(errbuf, errlen, "the detectors' declared facts cannot be ordered");
        free(e);
        return NULL;
    }
    if ((e->lc = lc_new()) == NULL)
        goto out_free;
    pp_table_init(&e->ports, (uint64_t)(uintptr_t)e * 0x9e3779b97f4a7c15ULL ^ 0x5bd1e9955bd1e995ULL);
    for (size_t i = 0; i < N_DETECTORS; i++) {
        if (detectors[i]->create == NULL)
            continue;
        e->state[i] = detectors[i]->create(&e->ctx);
        if (e->state[i] == NULL)
            goto out_free;
    }
    for (size_t i = 0; i < N_DETECTORS; i++) {
        if (detectors[i]->packet == NULL)
            continue;
        e->packet_hook[e->n_packet_hooks].fn = detectors[i]->packet;
        e->packet_hook[e->n_packet_hooks++].st = e->state[i];
    }
    return e;

out_free:
    diag_engine_free(e);
out_nomem:
    if (errbuf != NULL && errlen > 0)
        snprintf(errbuf, errlen, "out of memory for the diagnosis engine");
    return NULL;
}

void diag_engine_free(diag_engine *e)
{
    if (e == NULL)
        return;
    for (size_t i = 0; i < N_DETECTORS; i++)
        if (e->state[i] != NULL && detectors[i]->destroy != NULL)
            detectors[i]->destroy(e->state[i]);
    while (e->free_pending != NULL) {
        pending *n = e->free_pending->next_free;
        free(e->free_pending);
        e->free_pending = n;
    }
    for (size_t i = 0; i < e->ctx.n_tw_blocks; i++)
        free(e->ctx.tw_block[i]);
    free(e->ctx.tw_block);
    free(e->ctx.tw_extra);
    free(e->ctx.explained);
    lc_free(e->lc);
    pp_table_free(&e->ports);
    free(e);
}

void diag_engine_packet(diag_engine *e, const pkt_view *v, enum pkt_status st)
{
    if (!e->ctx.have_ts) {
        e->ctx.first_ts = e->ctx.last_ts = v->ts_ns;
        e->ctx.have_ts = true;
    }
    if (v->ts_ns > e->ctx.last_ts)
        e->ctx.last_ts = v->ts_ns;
    lc_packet(e->lc, v, st);
    for (size_t i = 0; i < e->n_packet_hooks; i++)
        e->packet_hook[i].fn(e->packet_hook[i].st, v, st, &e->ctx);
}

static pending *pending_get(diag_engine *e)
{
    pending *p = e->free_pending;
    if (p != NULL) {
        e->free_pending = p->next_free;
        return p;
    }
    p = malloc(sizeof *p);
    if (p == NULL)
        e->oom = true;
    return p;
}

static void pending_put(diag_engine *e, pending *p)
{
    p->next_free = e->free_pending;
    e->free_pending = p;
}

static void prev_fill(diag_prev *p, const flow_conn *c)
{
    memset(p, 0, sizeof *p);
    p->client = c->client.addr;
    p->client_port = c->client.port;
    p->last_ts = c->last_ts;
    p->last_packet = c->last_packet;
    p->closed_by = c->closed_by;
    p->reset = c->reset_by != FLOW_SIDE_NONE;
    if (c->closed_by != FLOW_SIDE_NONE) {
        const flow_endpoint *closer = c->closed_by == FLOW_SIDE_SERVER ? &c->server : &c->client;
        p->closer_fin_packet = closer->fin_packet;
        p->closer_fin_ts = closer->fin_ts;
    }
    p->had_syn = c->syn_count > 0;
    p->first_syn_ts = c->syn_count > 0 ? c->syn_ts[0] : c->first_ts;
    p->client_seq_seen = c->client.seq_seen;
    p->client_next_seq = c->client.next_seq;
    p->client_isn_seen = c->client.isn_seen;
    p->client_isn = c->client.isn;
    p->client_ts_seen = c->client.ts_seen;
    p->client_tsval_last = c->client.tsval_last;
    p->client_tsval_syn = c->client.syn_opts.has_ts ? c->client.syn_opts.tsval : 0;
    p->syn_packet = c->syn_count > 0 ? c->syn_packet[0] : 0;
    p->client_ttl = c->client.ttl_first;
    p->syn_opts_seen = c->client.syn_opts_seen;
    p->syn_window = c->client.syn_window;
    p->syn_mss = c->client.syn_opts.mss;
    p->layout_len = c->client.syn_opts.layout_len <= PKT_OPT_LAYOUT_MAX
                        ? c->client.syn_opts.layout_len : PKT_OPT_LAYOUT_MAX;
    memcpy(p->layout, c->client.syn_opts.layout, p->layout_len);
}

void diag_engine_tuple_free(void *engine, void *tuple_data)
{
    if (tuple_data != NULL)
        pending_put(engine, tuple_data);
}


/*
 * Vantage votes.  At the server, the SYN-ACK follows the SYN within the
 * server's processing time and the client's ACK comes a round trip later;
 * at the client it is the other way round; on the path both gaps are parts
 * of the round trip.  TTLs agree: at a host, its own packets carry the
 * initial TTL (64, 128, 255: tcp-behaviour.md 10) and the peer's are lower.
 */
static void vote_vantage(diag_engine *e, const flow_conn *c)
{
    vantage_votes *vv = &e->votes;
    if (c->synack_count > 0 && c->established && c->syn_count > 0 &&
        c->syn_count <= FLOW_MAX_SYN && c->synack_count == 1) {
        int64_t a = c->synack_ts - c->syn_ts[c->syn_count - 1];
        int64_t b = c->established_ts - c->synack_ts;
        if (a >= 0 && b >= 0 && (a > 0 || b > 0)) {
            vv->samples++;
            /* in double: capture times may be far apart (CAP_TS_MAX) */
            if ((double)a * 4 < (double)b)
                vv->server++;
            else if ((double)b * 4 < (double)a)
                vv->client++;
            else
                vv->path++;
        }
    }
    if (c->client.packets > 0 && c->server.packets > 0) {
        bool si = diag_is_initial_ttl(c->server.ttl_first);
        bool ci = diag_is_initial_ttl(c->client.ttl_first);
        if (si != ci) {
            vv->ttl_samples++;
            if (si)
                vv->ttl_server++;
            else
                vv->ttl_client++;
        }
    }
}

/* TTLs first: a host's own packets leave with the initial TTL and the
 * peer's arrive lower, which does not depend on how short the round trip
 * is.  Timing decides when TTLs cannot (no router between, or both sides
 * decremented: a capture on the path); on a LAN or veth round trip of
 * microseconds timing alone is weak, so it needs a clear majority. */
static enum diag_vantage infer_vantage(const vantage_votes *vv)
{
    if (vv->ttl_samples > 0) {
        if (vv->ttl_server * 10 >= vv->ttl_samples * 8)
            return DIAG_VANTAGE_SERVER;
        if (vv->ttl_client * 10 >= vv->ttl_samples * 8)
            return DIAG_VANTAGE_CLIENT;
    }
    if (vv->samples >= 3) {
        if (vv->server * 10 >= vv->samples * 7)
            return DIAG_VANTAGE_SERVER;
        if (vv->client * 10 >= vv->samples * 7)
            return DIAG_VANTAGE_CLIENT;
        if (vv->path * 10 >= vv->samples * 5)
            return DIAG_VANTAGE_PATH;
    }
    return vv->ttl_samples > 0 ? DIAG_VANTAGE_PATH : DIAG_VANTAGE_UNKNOWN;
}

void diag_engine_conn(void *engine, const flow_conn *c, void **tuple_data)
{
    diag_engine *e = engine;
    diag_ctx *ctx = &e->ctx;
    ctx->conns++;
    if (!ctx->have_ts || c->first_ts < ctx->first_ts) {
        ctx->first_ts = c->first_ts;
        if (!ctx->have_ts)
            ctx->last_ts = c->last_ts;
        ctx->have_ts = true;
    }
    if (c->last_ts > ctx->last_ts)
        ctx->last_ts = c->last_ts;
    vote_vantage(e, c);
    lc_conn(e->lc, c);
    pp_table_add(&e->ports, c);
    for (size_t i = 0; i < N_DETECTORS; i++)
        if (detectors[i]->conn != NULL)
            detectors[i]->conn(e->state[i], c, ctx);
    if (tuple_data == NULL)
        return;
    pending *p = *tuple_data;
    *tuple_data = NULL;
    if (p != NULL)
        for (size_t i = 0; i < N_DETECTORS; i++)
            if (detectors[i]->reuse != NULL)
                detectors[i]->reuse(e->state[i], &p->prev, c, ctx);
    if (c->end == FLOW_END_REUSED) {
        /* An attempt nothing answered left the other side as it was: a server
           that ignored it still holds the TIME_WAIT of the connection before
           (tcp-behaviour.md 9.2: Windows, FreeBSD, PAWS drops), so the next
           attempt on the tuple is judged against that one again, with its
           close time and final sequence numbers. */
        bool carry = p != NULL && c->handshake == FLOW_HS_NONE && !c->established &&
                     p->prev.closed_by != FLOW_SIDE_NONE;
        if (!carry) {
            if (p == NULL && (p = pending_get(e)) == NULL)
                return;
            prev_fill(&p->prev, c);
        }
        *tuple_data = p;
        return;
    }
    if (p != NULL)
        pending_put(e, p);
}

/*
 * Which finding an explained attempt goes to: the explaining detector's
 * finding about the attempt's server endpoint (or the whole server, port
 * 0), else the one about its client alone, else the detector's first
 * finding.  The findings are indexed once, sorted by (detector, address,
 * port): with 200,000 NAT clients there are as many findings and explained
 * attempts, and a scan of every finding per attempt would be quadratic.
 */
typedef struct claim_key {
    uint32_t det;               /* position in detectors[] */
    uint16_t port;              /* the server's port; 0 for kind 1 */
    pkt_addr addr;              /* the finding's server (kind 0) or client (kind 1) */
    uint8_t  kind;              /* 0: server endpoint, 1: client alone */
    size_t   idx;               /* in out->v */
} claim_key;

static int cmp_claim_key(const void *x, const void *y)
{
    const claim_key *a = x, *b = y;
    if (a->det != b->det)
        return a->det < b->det ? -1 : 1;
    if (a->kind != b->kind)
        return a->kind < b->kind ? -1 : 1;
    int c = memcmp(&a->addr, &b->addr, sizeof a->addr);
    if (c != 0)
        return c;
    if (a->port != b->port)
        return a->port < b->port ? -1 : 1;
    return a->idx < b->idx ? -1 : a->idx > b->idx;
}

static const claim_key *claim_find(const claim_key *k, size_t n, const claim_key *want)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        claim_key probe = *want;
        probe.idx = 0;
        if (cmp_claim_key(&k[mid], &probe) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < n && k[lo].det == want->det && k[lo].kind == want->kind &&
        k[lo].port == want->port && memcmp(&k[lo].addr, &want->addr, sizeof want->addr) == 0)
        return &k[lo];
    return NULL;
}

static long detector_of(const char *id)
{
    for (size_t i = 0; i < N_DETECTORS; i++)
        if (strcmp(detectors[i]->id, id) == 0)
            return (long)i;
    return -1;
}

/* Turn what the detectors explained (diag_ctx_explain) into their
 * findings' claims, for the attempts that were not ok.  0 or -ENOMEM. */
static int attach_claims(diag_engine *e, diag_findings *out)
{
    diag_ctx *ctx = &e->ctx;
    if (ctx->n_explained == 0 || out->n == 0)
        return 0;
    sort_explained(ctx);
    claim_key *k = malloc(out->n * sizeof *k);
    size_t first[N_DETECTORS];
    if (k == NULL)
        return -ENOMEM;
    for (size_t d = 0; d < N_DETECTORS; d++)
        first[d] = SIZE_MAX;
    size_t nk = 0;
    for (size_t i = 0; i < out->n; i++) {
        const diag_finding *f = &out->v[i];
        long d = detector_of(f->id);
        if (d < 0)
            continue;
        if (first[d] == SIZE_MAX)
            first[d] = i;
        if (!f->has_server && !f->has_client)
            continue;
        claim_key *c = &k[nk++];
        memset(c, 0, sizeof *c);
        c->det = (uint32_t)d;
        c->kind = f->has_server ? 0 : 1;
        c->addr = f->has_server ? f->server : f->client;
        c->port = f->has_server ? f->server_port : 0;
        c->idx = i;
    }
    qsort(k, nk, sizeof *k, cmp_claim_key);
    size_t n_att;
    const lc_attempt *att = lc_attempts(e->lc, &n_att);
    int rc = 0;
    for (size_t i = 0; i < ctx->n_explained && rc == 0; i++) {
        const struct diag_explained *x = &ctx->explained[i];
        long a = lc_attempt_find(e->lc, x->first_packet);
        if (a < 0)
            continue;
        claim_key want;
        memset(&want, 0, sizeof want);
        want.det = x->detector;
        want.addr = att[a].server;
        want.port = att[a].server_port;
        const claim_key *hit = claim_find(k, nk, &want);
        if (hit == NULL) {
            want.port = 0;
            hit = claim_find(k, nk, &want);
        }
        if (hit == NULL) {
            want.kind = 1;
            want.addr = att[a].client;
            hit = claim_find(k, nk, &want);
        }
        size_t idx = hit != NULL ? hit->idx : first[x->detector];
        if (idx != SIZE_MAX)
            rc = diag_claim(&out->v[idx], x->first_packet);
    }
    free(k);
    return rc;
}

/* A finding that claims attempts the flow table evicted before they ended
 * was judged on part of them: it says so and is trusted less (the table
 * was full: --max-flows). */
static void weigh_evictions(diag_engine *e, diag_findings *out)
{
    if (lc_account(e->lc)->evicted == 0)
        return;
    size_t n_att;
    const lc_attempt *att = lc_attempts(e->lc, &n_att);
    for (size_t i = 0; i < out->n; i++) {
        diag_finding *f = &out->v[i];
        size_t ev = 0;
        for (size_t j = 0; j < f->n_claims; j++) {
            long k = lc_attempt_find(e->lc, f->claims[j]);
            ev += k >= 0 && att[k].evicted;
        }
        if (ev == 0)
            continue;
        f->confidence *= 0.7;
        diag_explain(f, "Caution: %zu of the %zu attempts behind this finding were pushed out "
                     "of the full connection table before they ended (--max-flows), and were "
                     "judged on the part seen until then.", ev, f->n_claims);
    }
}

int diag_engine_finish(diag_engine *e, diag_findings *out)
{
    memset(out, 0, sizeof *out);
    if (lc_finish(e->lc) != 0 || pp_table_finish(&e->ports) != 0)
        return -ENOMEM;
    e->ctx.lc = e->lc;
    e->ctx.ports = &e->ports;
    if (e->cfg.vantage == DIAG_VANTAGE_UNKNOWN)
        e->ctx.vantage = infer_vantage(&e->votes);
    for (size_t k = 0; k < N_DETECTORS; k++) {
        size_t i = e->order[k];
        if (detectors[i]->finish == NULL)
            continue;
        e->ctx.cur_detector = (uint32_t)i;
        if (detectors[i]->finish(e->state[i], &e->ctx, out) != 0)
            goto out_nomem;
    }
    if (e->oom || e->ctx.oom || attach_claims(e, out) != 0 ||
        diag_account(&e->ctx, out, &e->acc) != 0)
        goto out_nomem;
    weigh_evictions(e, out);
    if (!diag_findings_complete(out) || diag_findings_cap(out, DIAG_FINDINGS_PER_ID) != 0)
        goto out_nomem;
    diag_findings_sort(out);
    return 0;

out_nomem:
    diag_findings_free(out);
    return -ENOMEM;
}

const diag_accounting *diag_engine_accounting(const diag_engine *e)
{
    return e->ctx.lc != NULL ? &e->acc : NULL;
}

enum diag_vantage diag_engine_vantage(const diag_engine *e)
{
    return e->ctx.vantage;
}
