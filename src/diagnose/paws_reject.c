/* paws_reject.c - detector: SYNs dropped by a per-host timestamp check (tcp_tw_recycle) behind a NAT. */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem_internal.h"
#include "diagnose/paws_internal.h"

/*
 * The rule being checked (tcp-behaviour.md 3.10, 9.5; Linux 4.9
 * tcp_time_wait() -> tcp_remember_stamp(), tcp_conn_request() ->
 * tcp_peer_is_proven(paws_check=true)), on a server running Linux < 4.12
 * with net.ipv4.tcp_tw_recycle=1:
 *   - remember: when the server closes a connection first and its socket
 *     enters TIME_WAIT (FIN_WAIT2 first), it stores the peer's last TSval
 *     (ts_recent) and the second it arrived (ts_recent_stamp) in the metrics
 *     entry of the peer address (per (server, client) address pair in 4.x).
 *     The stored value is replaced when the new TSval is not older
 *     ((s32)(stored - new) <= 0) or the stored one is older than
 *     TCP_PAWS_MSL (60 s);
 *   - check: a SYN that hits no TIME_WAIT bucket is dropped silently
 *     (LINUX_MIB_PAWSPASSIVE) while the record is less than 60 s old and
 *     (s32)(stored - SYN.TSval) > TCP_PAWS_WINDOW (1).  Late 4.x trees also
 *     drop a SYN without timestamps then.
 *
 * How it works.  The packet hook keeps the TSval of every pure SYN with
 * timestamps (12 bytes each) so that retransmissions, whose TSvals a
 * flow_conn does not hold, are judged by their own TSval; without packets
 * (unit tests) a retransmission's TSval is estimated at 1000 Hz from the
 * first SYN's.  Every connection attempt (32 bytes) keeps which of its SYN
 * transmissions went unanswered (those before the first answer); every
 * connection the server closed first with timestamps on both sides becomes
 * a record (32 bytes: the client's last TSval and when it arrived).  In
 * finish, for each (client, server) address pair with an unanswered SYN, a
 * cheap pre-check asks whether any record of the 60 s before one of those
 * SYNs is ahead of it; only then are records and SYNs replayed in time order
 * through the rule above, and each SYN is classified:
 * unanswered and predicted (explained), answered although predicted
 * (contradiction: the rule is not in force), answered with a TSval above
 * the record (the discriminating case), or neither.  A pair is reported
 * when explained drops outnumber contradictions; attempts whose every SYN
 * was an explained drop are marked for syn-unanswered to leave out.
 *
 * The files: this one gathers (the packet and connection hooks) and runs
 * the finish; paws_judge.c holds the pre-check and the replay and returns a
 * verdict (pw_judge(): counts, lifetime bounds, claimed attempts, the
 * packets to show, confidence); paws_words.c turns a verdict into the
 * finding's text (pw_words()).  The tunables are in paws_internal.h.
 *
 * Limits: records made before the capture started, or by connections the
 * capture does not see (another server address behind the same metrics
 * entry), are unknown, so some drops stay unexplained; the kernel's record
 * age has one-second granularity, so ages between 59 and 60 s may go
 * either way and are never counted against the rule.
 */

static void *pw_create(diag_ctx *ctx)
{
    (void)ctx;
    pw_state *st = calloc(1, sizeof *st);
    if (st != NULL) {
        st->ix.seed = 0xc2b2ae3d27d4eb4fULL ^ (uint64_t)(uintptr_t)st;
        st->syn_sorted = true;
    }
    return st;
}

static void pw_destroy(void *p)
{
    pw_state *st = p;
    free(st->syn_pkt);
    free(st->syn_tsval);
    free(st->rtx);
    free(st->att);
    free(st->rec);
    free(st->pair);
    diag_index_reset(&st->ix);
    free(st);
}

/* Grow *v (element size sz) to hold one more; false on allocation failure. */
static bool reserve(void **v, size_t *cap, size_t n, size_t sz)
{
    if (n < *cap)
        return true;
    size_t nc = *cap ? *cap * 2 : 256;
    void *p = mem_grow(*v, *cap * sz, nc * sz);
    if (p == NULL)
        return false;
    *v = p;
    *cap = nc;
    return true;
}

/* ---- the (client, server) table ----------------------------------------- */

/* Index of the pair, added if new; -1 on allocation failure. */
static long pair_index(pw_state *st, const pkt_addr *c, const pkt_addr *s)
{
    static const diag_table tab = { sizeof(pw_pair), offsetof(pw_pair, client),
                                    2 * sizeof(pkt_addr) };
    pkt_addr key[2] = { *c, *s };
    void *v = st->pair;
    long i = diag_index_get(&st->ix, &tab, &v, &st->n_pair, &st->cap_pair, key, NULL);
    st->pair = v;
    return i;
}

/* ---- gathering ------------------------------------------------------------ */

static void pw_packet(void *vst, const pkt_view *v, enum pkt_status s, diag_ctx *ctx)
{
    (void)ctx;
    pw_state *st = vst;
    st->packets = true;
    if (s != PKT_TCP || !v->has_tcp || !v->opt.has_ts ||
        (v->flags & (PKT_TCP_SYN | PKT_TCP_ACK | PKT_TCP_RST)) != PKT_TCP_SYN)
        return;
    if (st->n_syn == st->cap_syn) {
        size_t nc = st->cap_syn ? st->cap_syn * 2 : 1024;
        uint64_t *p = mem_grow(st->syn_pkt, st->cap_syn * sizeof *p, nc * sizeof *p);
        if (p == NULL) {
            st->oom = true;
            return;
        }
        st->syn_pkt = p;
        uint32_t *t = mem_grow(st->syn_tsval, st->cap_syn * sizeof *t, nc * sizeof *t);
        if (t == NULL) {
            st->oom = true;
            return;
        }
        st->syn_tsval = t;
        st->cap_syn = nc;
    }
    if (st->n_syn > 0 && st->syn_pkt[st->n_syn - 1] >= v->num)
        st->syn_sorted = false;
    st->syn_pkt[st->n_syn] = v->num;
    st->syn_tsval[st->n_syn++] = v->opt.tsval;
}

/* TSval of the pure SYN that was packet number `packet`; false if not seen
 * with timestamps.  Packets come in frame-number order; a merged input that
 * breaks it only costs a linear search. */
static bool find_syn(const pw_state *st, uint64_t packet, uint32_t *tsval)
{
    if (!st->syn_sorted) {
        for (size_t i = st->n_syn; i-- > 0;)
            if (st->syn_pkt[i] == packet) {
                *tsval = st->syn_tsval[i];
                return true;
            }
        return false;
    }
    /* Interpolation search: SYNs are spread evenly enough over the frame
       numbers that a few guesses land next to the entry (each probe of a
       binary search would be a cache miss); then a binary search. */
    size_t lo = 0, hi = st->n_syn;
    for (int guess = 0; guess < 4 && hi - lo > 16; guess++) {
        uint64_t a = st->syn_pkt[lo], b = st->syn_pkt[hi - 1];
        if (packet <= a || packet > b)
            break;
        size_t at = lo + (size_t)((double)(packet - a) / (double)(b - a) * (double)(hi - 1 - lo));
        if (at <= lo || at >= hi - 1)
            break;
        if (st->syn_pkt[at] < packet)
            lo = at + 1;
        else
            hi = at + 1;
    }
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (st->syn_pkt[mid] < packet)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < st->n_syn && st->syn_pkt[lo] == packet) {
        *tsval = st->syn_tsval[lo];
        return true;
    }
    return false;
}

/* When the first answer came (INT64_MAX: none).  A record whose first answer
 * is unknown but which connected counts from its SYN-ACK. */
static int64_t answer_ts(const flow_conn *c)
{
    if (c->first_answer != FLOW_HS_NONE)
        return c->handshake_ts;
    return c->handshake == FLOW_HS_SYNACK ? c->synack_ts : INT64_MAX;
}

/* SYNs sent up to the first answer (all of them when none came). */
static unsigned syns_to_answer(const flow_conn *c, unsigned nsyn)
{
    int64_t ans = answer_ts(c);
    unsigned k = 0;
    for (unsigned i = 0; i < nsyn; i++)
        if (i == 0 || c->syn_ts[i] <= ans)
            k++;
    return k;
}

static void add_record(pw_state *st, const flow_conn *c, long pair)
{
    if (!reserve((void **)&st->rec, &st->cap_rec, st->n_rec, sizeof *st->rec)) {
        st->oom = true;
        return;
    }
    pw_rec *r = &st->rec[st->n_rec++];
    r->t = c->client.tsval_last_ts;
    r->tsval = c->client.tsval_last;
    r->packet = c->client.fin_seen && c->client.fin_ts == c->client.tsval_last_ts
                    ? c->client.fin_packet : c->last_packet;
    uint64_t back = r->packet - c->server.fin_packet;
    r->fin_back = c->server.fin_seen && c->server.fin_packet < r->packet && back <= UINT32_MAX
                      ? (uint32_t)back : 0;
    r->pair = (uint32_t)pair;
    r->cport = c->client.port;
    r->sport = c->server.port;
}

static void add_attempt(pw_state *st, const flow_conn *c, long pair)
{
    unsigned nsyn = c->syn_count < FLOW_MAX_SYN ? c->syn_count : FLOW_MAX_SYN;
    unsigned sent = syns_to_answer(c, nsyn);
    if (!reserve((void **)&st->att, &st->cap_att, st->n_att, sizeof *st->att)) {
        st->oom = true;
        return;
    }
    pw_att *a = &st->att[st->n_att];
    memset(a, 0, sizeof *a);
    a->t = c->syn_ts[0];
    a->packet = c->first_packet;
    a->pair = (uint32_t)pair;
    a->cport = c->client.port;
    a->sport = c->server.port;
    a->nsyn = (uint8_t)sent;
    bool answered = c->first_answer == FLOW_HS_SYNACK ||
                    (c->first_answer == FLOW_HS_NONE && c->handshake == FLOW_HS_SYNACK);
    /* answered after more SYNs than a record keeps: the kept ones all went
       unanswered, the answered one is not known */
    bool beyond = answered && sent == nsyn && c->syn_count > nsyn &&
                  answer_ts(c) > c->syn_ts[nsyn - 1];
    a->dropped = (uint8_t)(answered && !beyond ? sent - 1 : sent);
    a->flags = (uint8_t)((c->client.syn_opts.has_ts ? AT_TS : 0) | (answered ? AT_ANSWERED : 0));
    a->tsval = c->client.syn_opts.tsval;
    for (unsigned i = 1; i < sent; i++) {
        if (!reserve((void **)&st->rtx, &st->cap_rtx, st->n_rtx, sizeof *st->rtx)) {
            st->oom = true;
            return;
        }
        pw_tx *x = &st->rtx[st->n_rtx++];
        x->t = c->syn_ts[i];
        x->packet = c->syn_packet[i];
        x->att = (uint32_t)st->n_att;
        x->estimated = 0;
        if (find_syn(st, c->syn_packet[i], &x->tsval)) {
            x->has_ts = 1;
        } else if (st->packets) {
            x->tsval = 0;       /* seen, without timestamps */
            x->has_ts = 0;
        } else {
            /* no packets given: a retransmission's TSval is later by the time passed */
            x->tsval = a->tsval + (uint32_t)(int64_t)(PW_EST_RATE * diag_secs(x->t - a->t));
            x->has_ts = (a->flags & AT_TS) != 0;
            x->estimated = 1;
        }
    }
    st->n_att++;
    st->pair[pair].drops += a->dropped;
}

static void pw_conn(void *vst, const flow_conn *c, diag_ctx *ctx)
{
    (void)ctx;
    pw_state *st = vst;
    if (st->oom || c->roles_inferred || c->syn_count == 0)
        return;
    /* An RST or a bare ACK to the SYN is not a silent drop (timewait-reuse). */
    bool attempt = c->first_answer == FLOW_HS_NONE || c->first_answer == FLOW_HS_SYNACK;
    bool record = c->closed_by == FLOW_SIDE_SERVER && c->reset_by == FLOW_SIDE_NONE &&
                  c->handshake == FLOW_HS_SYNACK && c->client.ts_seen && c->server.ts_seen;
    if (!attempt && !record)
        return;
    long pair = pair_index(st, &c->client.addr, &c->server.addr);
    if (pair < 0) {
        st->oom = true;
        return;
    }
    if (attempt)
        add_attempt(st, c, pair);
    if (record)
        add_record(st, c, pair);
}

/* ---- finish ------------------------------------------------------------- */

/* Judge one pair (its records recs, sorted by the judge); when the rule
 * explains its drops, claim the attempts it explains and report it. */
static int finish_pair(const pw_state *st, uint32_t pair, const uint32_t *atts, size_t n_atts,
                       pw_rec *recs, size_t n_recs, diag_ctx *ctx, diag_findings *out)
{
    pw_verdict vd;
    int rc = pw_judge(st, pair, atts, n_atts, recs, n_recs, ctx, &vd);
    /* every unanswered SYN of a claimed attempt is this check's doing: the
       other detectors (timewait-reuse, syn-unanswered) leave it alone */
    for (size_t i = 0; rc == 0 && vd.found && i < vd.n_claims; i++)
        if (diag_ctx_explain(ctx, vd.claims[i]) != 0)
            rc = -ENOMEM;
    if (rc == 0 && vd.found)
        rc = pw_words(&vd, ctx, out);
    pw_verdict_free(&vd);
    return rc;
}

static int pw_finish(void *vst, diag_ctx *ctx, diag_findings *out)
{
    pw_state *st = vst;
    if (st->oom)
        return -ENOMEM;
    bool any = false;
    for (size_t i = 0; i < st->n_pair && !any; i++)
        any = st->pair[i].drops > 0 && st->n_rec > 0;
    if (!any)
        return 0;   /* the common case: nothing went unanswered */

    pw_buckets b = { 0 };
    int rc = pw_bucket_by_pair(st, &b);
    for (uint32_t k = 0; k < st->n_pair && rc == 0; k++) {
        size_t a0 = b.abeg[k], na = b.abeg[k + 1] - a0, r0 = b.rbeg[k], nr = b.rbeg[k + 1] - r0;
        if (st->pair[k].drops == 0 || nr == 0 || (b.precheck && !pw_may_explain(st, &b, k)))
            continue;
        pw_rec *recs = malloc(nr * sizeof *recs);
        if (recs == NULL) {
            rc = -ENOMEM;
            break;
        }
        for (size_t i = 0; i < nr; i++)
            recs[i] = st->rec[b.rix[r0 + i]];
        rc = finish_pair(st, k, &b.atts[a0], na, recs, nr, ctx, out);
        free(recs);
    }
    pw_buckets_free(&b);
    return rc;
}

const diag_detector diag_det_paws_reject = {
    .id = "paws-reject",
    .reads = DIAG_FACT_HOSTS,
    .provides = DIAG_FACT_PAWS_DROPS,
    .create = pw_create,
    .packet = pw_packet,
    .conn = pw_conn,
    .finish = pw_finish,
    .destroy = pw_destroy,
};
