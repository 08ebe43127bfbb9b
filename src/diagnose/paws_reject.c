/* paws_reject.c - detector: SYNs dropped by a per-host timestamp check (tcp_tw_recycle) behind a NAT. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem_internal.h"
#include "diagnose/diag_internal.h"

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
 * Limits: records made before the capture started, or by connections the
 * capture does not see (another server address behind the same metrics
 * entry), are unknown, so some drops stay unexplained; the kernel's record
 * age has one-second granularity, so ages between 59 and 60 s may go
 * either way and are never counted against the rule.
 */

#define PW_MSL_NS        (60LL * 1000000000LL)  /* TCP_PAWS_MSL */
#define PW_MSL_SURE_NS   (59LL * 1000000000LL)  /* get_seconds() rounding */
#define PW_WINDOW        1                       /* TCP_PAWS_WINDOW, ticks */
#define PW_EST_RATE      1000.0                  /* Linux >= 4.13, BSD, macOS */
#define PW_EV_ATTEMPTS   6                       /* dropped attempts listed */
#define PW_EV_MAX        16
#define PW_PRECHECK_MAX  (1u << 24)              /* drop x record tests before a replay */
#define PW_MSL_MS        60000u                  /* TCP_PAWS_MSL for the pre-check */

enum { AT_TS = 1, AT_ANSWERED = 2 };

typedef struct pw_tx {          /* a retransmitted SYN of an attempt */
    int64_t  t;
    uint64_t packet;
    uint32_t att;               /* its attempt */
    uint32_t tsval;
    uint8_t  has_ts;
    uint8_t  estimated;         /* TSval estimated, not seen */
} pw_tx;

typedef struct pw_att {         /* one connection attempt (incarnation): 32 bytes */
    int64_t  t;                 /* first SYN */
    uint64_t packet;            /* first SYN = the incarnation's first packet */
    uint32_t pair;
    uint32_t tsval;             /* of the first SYN */
    uint16_t cport, sport;
    uint8_t  nsyn;              /* SYNs up to the answer (<= FLOW_MAX_SYN) */
    uint8_t  dropped;           /* of which, unanswered */
    uint8_t  flags;             /* AT_* */
} pw_att;

typedef struct pw_rec {         /* a connection the server closed first: 32 bytes */
    int64_t  t;                 /* when the client's last TSval arrived */
    uint64_t packet;            /* that packet (the client's FIN, or the last) */
    uint32_t pair;
    uint32_t tsval;
    uint16_t cport, sport;
    uint32_t fin_back;          /* packet - the server's FIN (0: unknown) */
} pw_rec;

typedef struct pw_pair {
    pkt_addr client, server;
    uint64_t drops;             /* unanswered SYNs from this client */
} pw_pair;

typedef struct pw_state {
    /* pure SYNs with timestamps seen by the packet hook: 12 bytes each */
    uint64_t *syn_pkt;
    uint32_t *syn_tsval;
    size_t n_syn, cap_syn;
    bool syn_sorted;
    bool packets;               /* the hook saw packets (else TSvals are estimated) */
    pw_tx *rtx;
    size_t n_rtx, cap_rtx;
    pw_att *att;
    size_t n_att, cap_att;
    pw_rec *rec;
    size_t n_rec, cap_rec;
    pw_pair *pair;
    size_t n_pair, cap_pair;
    diag_index ix;              /* (client, server) -> pair */
    bool oom;
} pw_state;

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

/* ---- replay ------------------------------------------------------------- */

enum tx_class {
    TX_NONE,            /* no record applies */
    TX_DROP_TS,         /* unanswered, TSval behind a live record: explained */
    TX_DROP_NOTS,       /* unanswered, no timestamps, live record (late 4.x) */
    TX_DROP_OTHER,      /* unanswered, the rule does not predict it */
    TX_ANS_ABOVE,       /* answered, TSval not behind a live record */
    TX_ANS_NOTS,        /* answered, no timestamps, live record */
    TX_ANS_LATE,        /* answered, behind a record 59 s old or more */
    TX_CONTRA           /* answered although behind a live record */
};

typedef struct tx {             /* a SYN transmission being replayed */
    int64_t  t;
    uint64_t packet;
    uint32_t att;
    uint32_t tsval;
    uint32_t rec;               /* record in force (UINT32_MAX: none) */
    int32_t  deficit;           /* (s32)(record - TSval) */
    uint8_t  has_ts, estimated, answered, cls;
} tx;

typedef struct pair_res {
    uint64_t drop_ts, drop_nots, drop_other, ans_above, ans_nots, ans_late, contra;
    int32_t  gap_min;
    uint64_t gap_min_packet;
    double   life_lo, life_hi;  /* record lifetime bounds, -1 = none */
    bool     variant;           /* SYNs without timestamps dropped too */
} pair_res;

static int cmp_tx(const void *x, const void *y)
{
    const tx *a = x, *b = y;
    return a->t < b->t ? -1 : a->t > b->t ? 1 : a->packet < b->packet ? -1 : a->packet > b->packet;
}

/* Index of attempt att's first retransmission in rtx[] (they are stored
 * together, in the order attempts were added). */
static size_t first_rtx(const pw_state *st, uint32_t att)
{
    size_t lo = 0, hi = st->n_rtx;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (st->rtx[mid].att < att)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The SYN transmissions of the attempts of one pair, in time order. */
static tx *pair_txs(const pw_state *st, const uint32_t *atts, size_t n_atts, size_t *n_out)
{
    size_t n = 0;
    for (size_t i = 0; i < n_atts; i++)
        n += st->att[atts[i]].nsyn;
    tx *v = calloc(n ? n : 1, sizeof *v);
    if (v == NULL)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n_atts; i++) {
        const pw_att *a = &st->att[atts[i]];
        size_t rx = a->nsyn > 1 ? first_rtx(st, atts[i]) : 0;
        for (unsigned j = 0; j < a->nsyn; j++, k++) {
            tx *x = &v[k];
            x->att = atts[i];
            x->answered = j >= a->dropped;
            if (j == 0) {
                x->t = a->t;
                x->packet = a->packet;
                x->tsval = a->tsval;
                x->has_ts = (a->flags & AT_TS) != 0;
            } else {
                const pw_tx *r = &st->rtx[rx + j - 1];
                x->t = r->t;
                x->packet = r->packet;
                x->tsval = r->tsval;
                x->has_ts = r->has_ts;
                x->estimated = r->estimated;
            }
        }
    }
    qsort(v, n, sizeof *v, cmp_tx);
    *n_out = n;
    return v;
}

/* tcp_remember_stamp(): does a new record replace the one in force? */
static bool replaces(const pw_rec *cur, const pw_rec *nw)
{
    return (int32_t)(cur->tsval - nw->tsval) <= 0 || nw->t - cur->t > PW_MSL_NS;
}

/* Replay records recs[0..n_recs) (time order) and transmissions v[0..n)
 * (time order) through the rule; x->rec indexes recs. */
static void replay(const pw_rec *recs, size_t n_recs, tx *v, size_t n, pair_res *r)
{
    memset(r, 0, sizeof *r);
    r->life_lo = r->life_hi = -1;
    r->gap_min = INT32_MAX;
    size_t next = 0;
    const pw_rec *cur = NULL;
    for (size_t i = 0; i < n; i++) {
        tx *x = &v[i];
        while (next < n_recs && recs[next].t < x->t) {
            if (cur == NULL || replaces(cur, &recs[next]))
                cur = &recs[next];
            next++;
        }
        x->rec = UINT32_MAX;
        x->cls = TX_NONE;
        if (cur == NULL) {
            x->cls = x->answered ? TX_NONE : TX_DROP_OTHER;
            r->drop_other += !x->answered;
            continue;
        }
        x->rec = (uint32_t)(cur - recs);
        int64_t age = x->t - cur->t;
        x->deficit = (int32_t)(cur->tsval - x->tsval);
        bool behind = x->has_ts && x->deficit > PW_WINDOW;
        bool live = age < PW_MSL_NS, sure = age < PW_MSL_SURE_NS;
        if (!x->answered) {
            if (live && behind) {
                x->cls = TX_DROP_TS;
                r->drop_ts++;
                if (x->deficit < r->gap_min) {
                    r->gap_min = x->deficit;
                    r->gap_min_packet = x->packet;
                }
                if (diag_secs(age) > r->life_lo)
                    r->life_lo = diag_secs(age);
            } else if (live && !x->has_ts) {
                x->cls = TX_DROP_NOTS;
                r->drop_nots++;
            } else {
                x->cls = TX_DROP_OTHER;
                r->drop_other++;
            }
        } else if (behind && sure) {
            x->cls = TX_CONTRA;
            r->contra++;
        } else if (behind) {
            x->cls = TX_ANS_LATE;
            r->ans_late++;
            if (r->life_hi < 0 || diag_secs(age) < r->life_hi)
                r->life_hi = diag_secs(age);
        } else if (sure && x->has_ts) {
            x->cls = TX_ANS_ABOVE;
            r->ans_above++;
        } else if (sure) {
            x->cls = TX_ANS_NOTS;
            r->ans_nots++;
        }
    }
    r->variant = r->drop_nots > 0 && r->ans_nots == 0 && r->drop_ts > 0;
}

/* ---- the finding ---------------------------------------------------------- */

typedef struct ev_line {
    uint64_t packet;
    int64_t  t;
    char     text[400];
} ev_line;

typedef struct ev_list {
    ev_line v[PW_EV_MAX];
    size_t n;
    uint64_t omitted;
} ev_list;

static ev_line *ev_new(ev_list *e, uint64_t packet, int64_t t)
{
    if (e->n == PW_EV_MAX) {
        e->omitted++;
        return NULL;
    }
    ev_line *l = &e->v[e->n++];
    l->packet = packet;
    l->t = t;
    l->text[0] = '\0';
    return l;
}

static int cmp_ev(const void *x, const void *y)
{
    const ev_line *a = x, *b = y;
    return a->t < b->t ? -1 : a->t > b->t ? 1 : a->packet < b->packet ? -1 : a->packet > b->packet;
}

static const diag_host_est *host_est(const diag_ctx *ctx, const pkt_addr *ip)
{
    size_t lo = 0, hi = ctx->n_hosts;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int d = memcmp(ctx->hosts[mid].ip.b, ip->b, 16);
        if (d == 0)
            return &ctx->hosts[mid];
        if (d < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

typedef struct att_sum {        /* an attempt with explained drops */
    tx       first;             /* its first explained SYN */
    unsigned expl, drops;
    double   delay_s;           /* first SYN to the answered one (-1: not kept) */
} att_sum;

typedef struct pair_view {      /* what report() needs about one pair */
    const pw_pair *p;
    const pw_rec *recs;         /* sorted records, all pairs */
    const tx *v;                /* SYN transmissions in time order */
    size_t n;
    const pair_res *r;
    att_sum *as;                /* attempts with explained drops, in time order */
    size_t n_as;
    uint64_t attempts, failed, delayed;
    double delay_max;
    bool one_port;
    uint16_t sport;
} pair_view;

static void record_line(const pair_view *pv, uint32_t ri, diag_ctx *ctx, ev_list *e)
{
    const pw_rec *rc = &pv->recs[ri];
    ev_line *l = ev_new(e, rc->packet, rc->t);
    if (l == NULL)
        return;
    char c[64], s[64], ip[PKT_ADDR_STRLEN];
    diag_endpoint(&pv->p->client, rc->cport, c, sizeof c);
    diag_endpoint(&pv->p->server, rc->sport, s, sizeof s);
    char fin[48] = "";
    if (rc->fin_back != 0)
        snprintf(fin, sizeof fin, " (its FIN: packet %llu)",
                 (unsigned long long)(rc->packet - rc->fin_back));
    snprintf(l->text, sizeof l->text,
             "%8.3f  %s > %s  TSval %u, the last of a connection the server closed first%s: "
             "the server remembers %u for %s",
             diag_rel(ctx, rc->t), c, s, rc->tsval, fin, rc->tsval,
             diag_addr(&pv->p->client, ip, sizeof ip));
}

static void drop_line(const pw_state *st, const pair_view *pv, const att_sum *as, diag_ctx *ctx,
                      ev_list *e)
{
    const tx *x = &as->first;
    const pw_att *a = &st->att[x->att];
    const pw_rec *rc = &pv->recs[x->rec];
    ev_line *l = ev_new(e, x->packet, x->t);
    if (l == NULL)
        return;
    char c[64], s[64], outcome[96];
    diag_endpoint(&pv->p->client, a->cport, c, sizeof c);
    diag_endpoint(&pv->p->server, a->sport, s, sizeof s);
    if ((a->flags & AT_ANSWERED) && as->delay_s >= 0)
        snprintf(outcome, sizeof outcome, "connected only with the SYN sent %.1f s after the "
                 "first", as->delay_s);
    else if (a->flags & AT_ANSWERED)
        snprintf(outcome, sizeof outcome, "connected after more than %u SYNs", as->drops);
    else
        snprintf(outcome, sizeof outcome, "never connected");
    if (x->cls == TX_DROP_TS)
        snprintf(l->text, sizeof l->text,
                 "%8.3f  %s > %s  SYN TSval %s%u, %d behind the TSval %u the server remembered "
                 "for this address (packet %llu, %.1f s earlier): no answer; %u unanswered "
                 "transmission%s, %s",
                 diag_rel(ctx, x->t), c, s, x->estimated ? "~" : "", x->tsval, x->deficit,
                 rc->tsval, (unsigned long long)rc->packet, diag_secs(x->t - rc->t), as->drops,
                 as->drops == 1 ? "" : "s", outcome);
    else
        snprintf(l->text, sizeof l->text,
                 "%8.3f  %s > %s  SYN without timestamps while the server remembered TSval %u "
                 "for this address (packet %llu, %.1f s earlier): no answer; %s",
                 diag_rel(ctx, x->t), c, s, rc->tsval, (unsigned long long)rc->packet,
                 diag_secs(x->t - rc->t), outcome);
}

static void evidence(const pw_state *st, const pair_view *pv, diag_ctx *ctx, ev_list *e)
{
    uint32_t shown[PW_EV_ATTEMPTS];
    size_t n_shown = 0;
    for (size_t i = 0; i < pv->n_as; i++) {
        if (i >= PW_EV_ATTEMPTS) {
            e->omitted++;
            continue;
        }
        drop_line(st, pv, &pv->as[i], ctx, e);
        uint32_t ri = pv->as[i].first.rec;
        bool known = false;
        for (size_t k = 0; k < n_shown; k++)
            known |= shown[k] == ri;
        if (!known && n_shown < 3) {
            shown[n_shown++] = ri;
            record_line(pv, ri, ctx, e);
        }
    }
    uint64_t above = 0, late = 0, contra = 0;
    char c[64], s[64];
    for (size_t i = 0; i < pv->n; i++) {
        const tx *x = &pv->v[i];
        if ((x->cls == TX_ANS_ABOVE && above < 3) || (x->cls == TX_ANS_LATE && late < 2) ||
            (x->cls == TX_CONTRA && contra < 2)) {
            const pw_att *a = &st->att[x->att];
            const pw_rec *rc = &pv->recs[x->rec];
            ev_line *l = ev_new(e, x->packet, x->t);
            if (l == NULL)
                return;
            diag_endpoint(&pv->p->client, a->cport, c, sizeof c);
            diag_endpoint(&pv->p->server, a->sport, s, sizeof s);
            if (x->cls == TX_ANS_ABOVE) {
                above++;
                snprintf(l->text, sizeof l->text,
                         "%8.3f  %s > %s  SYN TSval %s%u, not behind the remembered %u (packet "
                         "%llu, %.1f s earlier): answered",
                         diag_rel(ctx, x->t), c, s, x->estimated ? "~" : "", x->tsval,
                         rc->tsval, (unsigned long long)rc->packet, diag_secs(x->t - rc->t));
            } else if (x->cls == TX_ANS_LATE) {
                late++;
                snprintf(l->text, sizeof l->text,
                         "%8.3f  %s > %s  SYN TSval %s%u, still %d behind the remembered %u but "
                         "%.1f s after it arrived (packet %llu): answered, the record had aged out",
                         diag_rel(ctx, x->t), c, s, x->estimated ? "~" : "", x->tsval,
                         x->deficit, rc->tsval, diag_secs(x->t - rc->t),
                         (unsigned long long)rc->packet);
            } else {
                contra++;
                snprintf(l->text, sizeof l->text,
                         "%8.3f  %s > %s  SYN TSval %s%u, %d behind the remembered %u (packet "
                         "%llu, %.1f s earlier), yet answered: against the rule",
                         diag_rel(ctx, x->t), c, s, x->estimated ? "~" : "", x->tsval,
                         x->deficit, rc->tsval, (unsigned long long)rc->packet,
                         diag_secs(x->t - rc->t));
            }
        }
    }
}

static int report(const pw_state *st, const pair_view *pv, diag_ctx *ctx, diag_findings *out)
{
    const pair_res *r = pv->r;
    const diag_host_est *he = host_est(ctx, &pv->p->client);
    unsigned hosts = he != NULL && he->hosts_min > 0 ? he->hosts_min : 1;
    bool per_conn = he != NULL && he->ts_per_conn;
    uint64_t dropped = r->drop_ts + (r->variant ? r->drop_nots : 0);

    double conf = r->ans_above > 0 ? 0.8 : 0.6;
    if (r->drop_ts >= 3 || pv->attempts >= 2)
        conf += 0.05;
    if (hosts >= 2 || per_conn)
        conf += 0.1;
    if (r->contra > 0)
        conf -= 0.3;
    if (conf > 0.95) conf = 0.95;
    if (conf < 0.3) conf = 0.3;
    diag_finding *f = diag_add(out, "paws-reject", pv->failed ? DIAG_ERROR : DIAG_WARNING, conf);
    if (f == NULL)
        return -ENOMEM;
    f->events = dropped;
    f->client = pv->p->client;
    f->has_client = true;
    f->server = pv->p->server;
    f->server_port = pv->sport;
    f->has_server = true;

    char ip[PKT_ADDR_STRLEN], srv[PKT_ADDR_STRLEN], who[96];
    diag_addr(&pv->p->client, ip, sizeof ip);
    diag_addr(&pv->p->server, srv, sizeof srv);
    if (hosts >= 2)
        snprintf(who, sizeof who, "%u hosts with their own clocks share it", hosts);
    else if (per_conn)
        snprintf(who, sizeof who, "its timestamps are randomised per connection");
    else
        snprintf(who, sizeof who, "its timestamps go backwards");
    bool at_server = ctx->vantage == DIAG_VANTAGE_SERVER;
    diag_summary(f, "%s %s %llu SYN%s from %s whose TCP timestamps were behind the one it "
                 "remembered for that address (tcp_tw_recycle; %s): %llu attempt%s %s",
                 srv, at_server ? "silently dropped" : "never answered",
                 (unsigned long long)dropped, dropped == 1 ? "" : "s", ip, who,
                 (unsigned long long)(pv->failed ? pv->failed : pv->attempts),
                 (pv->failed ? pv->failed : pv->attempts) == 1 ? "" : "s",
                 pv->failed ? "never connected" : "delayed");

    diag_explain(f, "%s %llu connection attempt%s from %s: %llu SYN%s got no SYN-ACK, no RST, "
                 "nothing. Each of them came less than 60 s after %s had closed a connection "
                 "from %s first, and each carried a TCP timestamp (TSval) more than 1 tick "
                 "behind that connection's last one (the smallest shortfall: %d ticks)%s.",
                 at_server ? "The capture was taken at the server. It received"
                           : ctx->vantage == DIAG_VANTAGE_CLIENT
                                 ? "The capture was taken at the client side. It shows"
                                 : "This capture shows",
                 (unsigned long long)pv->attempts, pv->attempts == 1 ? "" : "s", ip,
                 (unsigned long long)dropped, dropped == 1 ? "" : "s", srv, ip, r->gap_min,
                 r->ans_above ? ", while SYNs from the same address with higher TSvals were "
                                "answered at the same time" : "");
    diag_explain(f, "That is the per-host timestamp check of Linux before 4.12 with "
                 "net.ipv4.tcp_tw_recycle=1: when the server closes a connection first it "
                 "remembers the peer address's last TSval for 60 s (TCP_PAWS_MSL) and then "
                 "silently drops every SYN from that address whose TSval is more than 1 "
                 "(TCP_PAWS_WINDOW) behind it, counting it in netstat -s as \"passive "
                 "connections rejected because of time stamp\" (PAWSPassive). The check is "
                 "per address, not per connection, so it only works when one host with one "
                 "clock stands behind an address. %s",
                 hosts >= 2 ? "Here several hosts share the address (see nat-multiple-hosts): "
                              "whenever the one whose clock is ahead has just closed a "
                              "connection, the others cannot connect until the record is "
                              "60 s old."
                 : per_conn ? "Here the timestamps of the address are randomised per "
                              "connection (Linux 4.10, or 7.0 and later), which breaks the "
                              "check even without a NAT."
                            : "Here the timestamps of the address go backwards: several hosts "
                              "behind a NAT (only one clock was confirmed in this capture), "
                              "per-connection random offsets, or a rebooted client.");
    if (r->variant)
        diag_explain(f, "SYNs without timestamps were dropped as well while a record was "
                     "fresh, as late 4.x kernels do.");
    if (r->contra > 0)
        diag_explain(f, "%llu SYN%s behind a fresh record answered all the same, which the "
                     "rule does not allow: the server address may front several machines, not "
                     "all with tcp_tw_recycle on, or a record this capture shows was never made.",
                     (unsigned long long)r->contra, r->contra == 1 ? " was" : "s were");
    if (!at_server && r->ans_above > 0)
        diag_explain(f, "The SYNs with higher timestamps from the same address were answered, "
                     "so the path is not what drops them; a capture at the server would show "
                     "the same SYNs arriving unanswered.");

    diag_param *pm = diag_param_add(f, "dropped_syns", (double)dropped, "SYNs");
    diag_param_note(pm, "unanswered SYN transmissions whose TSval was behind a record under "
                        "60 s old%s", r->variant ? ", or which carried no timestamps" : "");
    pm = diag_param_add(f, "hosts_min", hosts, "hosts");
    diag_param_min(pm, hosts);
    diag_param_note(pm, "%s",
                    he == NULL ? "no host estimate for this address"
                    : hosts >= 2 ? "hosts behind the address by timestamp clocks, TTLs and SYN "
                                   "layouts (nat-multiple-hosts)"
                    : per_conn ? "timestamps randomised per connection: clocks do not count hosts"
                               : "only one clock confirmed in this capture");
    pm = diag_param_add(f, "ts_gap_min", r->gap_min, "ticks");
    diag_param_note(pm, "smallest TSval shortfall that was dropped (packet %llu); the kernel "
                        "drops above %d", (unsigned long long)r->gap_min_packet, PW_WINDOW);
    diag_param_add(f, "attempts", (double)pv->attempts, "");
    diag_param_add(f, "never_connected", (double)pv->failed, "attempts");
    if (pv->delayed > 0)
        diag_param_add(f, "delay_max_s", pv->delay_max, "s");
    pm = diag_param_add(f, "record_lifetime_s", 60.0, "s");
    diag_param_min(pm, r->life_lo);
    if (r->life_hi >= 0)
        diag_param_max(pm, r->life_hi);
    diag_param_note(pm, "TCP_PAWS_MSL; a SYN was still dropped %.1f s after the remembered "
                        "TSval arrived%s", r->life_lo,
                    r->life_hi >= 0 ? ", and one behind it was answered after the record aged"
                                    : "");
    diag_param_add(f, "answered_above", (double)r->ans_above, "SYNs");
    if (r->contra > 0)
        diag_param_add(f, "contradictions", (double)r->contra, "SYNs");

    ev_list *e = calloc(1, sizeof *e);
    if (e == NULL)
        return -ENOMEM;
    evidence(st, pv, ctx, e);
    qsort(e->v, e->n, sizeof e->v[0], cmp_ev);
    for (size_t i = 0; i < e->n; i++)
        diag_evidence_add(f, e->v[i].packet, e->v[i].t, "%s", e->v[i].text);
    f->evidence_omitted += e->omitted;
    free(e);

    diag_remedy_add(f, "Turn tcp_tw_recycle off on the server (sysctl -w "
                       "net.ipv4.tcp_tw_recycle=0, and in /etc/sysctl.conf)",
                    "closed connections hold TIME_WAIT for the full 60 s again; if ports or "
                    "memory were short, use net.ipv4.tcp_tw_reuse (outgoing connections only) "
                    "or let the clients close first");
    diag_remedy_add(f, "Upgrade the server to Linux 4.12 or later, where tcp_tw_recycle no "
                       "longer exists",
                    "a kernel upgrade and its testing");
    diag_remedy_add(f, "When the server cannot be changed: turn TCP timestamps off on every "
                       "client behind the address (net.ipv4.tcp_timestamps=0; Windows sends "
                       "none by default). Trying it on one client that then connects reliably "
                       "confirms the diagnosis",
                    "no PAWS protection and coarser RTT estimates on those clients; all of them "
                    "must do it, since late 4.x servers also drop SYNs without timestamps "
                    "while a record from another host is fresh");
    diag_remedy_add(f, "Give the clients their own outside addresses, or make them close "
                       "first (keep-alive, client-side close) so the server remembers nothing",
                    "more public addresses, or an application change");
    return 0;
}

/* ---- finish ------------------------------------------------------------- */

static int cmp_tx_att(const void *x, const void *y)
{
    const tx *a = x, *b = y;
    if (a->att != b->att)
        return a->att < b->att ? -1 : 1;
    return cmp_tx(x, y);
}

static int cmp_att_sum(const void *x, const void *y)
{
    return cmp_tx(&((const att_sum *)x)->first, &((const att_sum *)y)->first);
}

/*
 * Sum up the attempts of one pair: which had explained drops, which of those
 * never connected (marked explained for syn-unanswered when every SYN they
 * sent was an explained drop) and which connected late.
 */
static int settle(const pw_state *st, pair_view *pv, diag_ctx *ctx)
{
    pv->attempts = pv->failed = pv->delayed = 0;
    pv->delay_max = 0;
    pv->one_port = true;
    pv->sport = 0;
    pv->n_as = 0;
    tx *by = malloc((pv->n ? pv->n : 1) * sizeof *by);
    pv->as = malloc((pv->n ? pv->n : 1) * sizeof *pv->as);
    if (by == NULL || pv->as == NULL) {
        free(by);
        return -ENOMEM;
    }
    memcpy(by, pv->v, pv->n * sizeof *by);
    qsort(by, pv->n, sizeof *by, cmp_tx_att);
    for (size_t i = 0; i < pv->n;) {
        uint32_t cur = by[i].att;
        const pw_att *a = &st->att[cur];
        att_sum sum = { .expl = 0, .drops = 0, .delay_s = -1 };
        size_t j = i;
        for (; j < pv->n && by[j].att == cur; j++) {
            const tx *x = &by[j];
            if (x->answered) {
                sum.delay_s = diag_secs(x->t - a->t);
                continue;
            }
            sum.drops++;
            if (x->cls == TX_DROP_TS || (x->cls == TX_DROP_NOTS && pv->r->variant)) {
                if (sum.expl++ == 0)
                    sum.first = *x;
            }
        }
        i = j;
        if (sum.expl == 0)
            continue;
        pv->as[pv->n_as++] = sum;
        pv->attempts++;
        if (pv->attempts == 1)
            pv->sport = a->sport;
        else if (a->sport != pv->sport)
            pv->one_port = false;
        if (a->flags & AT_ANSWERED) {
            pv->delayed++;
            if (sum.delay_s > pv->delay_max)
                pv->delay_max = sum.delay_s;
        } else {
            pv->failed++;
        }
        /* every unanswered SYN of the attempt is this check's doing: the other
           detectors (timewait-reuse, syn-unanswered) leave it alone */
        if (sum.expl == sum.drops && diag_ctx_explain(ctx, a->packet) != 0) {
            free(by);
            return -ENOMEM;
        }
    }
    if (!pv->one_port)
        pv->sport = 0;
    qsort(pv->as, pv->n_as, sizeof *pv->as, cmp_att_sum);
    free(by);
    return 0;
}

static int cmp_rec_t(const void *x, const void *y)
{
    const pw_rec *a = x, *b = y;
    return a->t < b->t ? -1 : a->t > b->t ? 1 : a->packet < b->packet ? -1 : a->packet > b->packet;
}

/*
 * Cheap test before the replay: can any unanswered SYN of the pair be
 * explained at all?  The record in force at a dropped SYN must be under 60 s
 * old, so some record of the last 60 s must be more than 1 tick ahead of the
 * SYN's TSval.  Healthy hosts (one increasing clock) fail it, and their
 * pairs are never sorted or replayed.
 */
static bool may_explain(const pw_state *st, const uint32_t *atts, size_t n_atts,
                        const int32_t *rt, const uint32_t *rts, size_t n_recs, uint64_t drops,
                        int64_t base)
{
    if (drops > PW_PRECHECK_MAX / (n_recs ? n_recs : 1))
        return true;    /* too big to test pairwise: the replay decides */
    for (size_t i = 0; i < n_atts; i++) {
        const pw_att *a = &st->att[atts[i]];
        if (a->dropped == 0)
            continue;
        size_t rx = a->dropped > 1 ? first_rtx(st, atts[i]) : 0;
        for (unsigned j = 0; j < a->dropped; j++) {
            int64_t t = j == 0 ? a->t : st->rtx[rx + j - 1].t;
            uint32_t ts = j == 0 ? a->tsval : st->rtx[rx + j - 1].tsval;
            bool has_ts = j == 0 ? (a->flags & AT_TS) != 0 : st->rtx[rx + j - 1].has_ts;
            if (!has_ts)
                continue;
            /* in whole milliseconds (floored on both sides, so a record
               0..60 s before the SYN is 0..60000 ms before it: the test
               errs on the side of replaying), 32-bit and branch-free so
               that the compiler can vectorise it */
            int32_t tm = (int32_t)((t - base) / 1000000);
            unsigned hit = 0;
            for (size_t k = 0; k < n_recs; k++)
                hit |= (unsigned)((uint32_t)(tm - rt[k]) <= PW_MSL_MS) &
                       (unsigned)((int32_t)(rts[k] - ts) > PW_WINDOW);
            if (hit)
                return true;
        }
    }
    return false;
}

/* Replay one pair and report it if the rule explains its drops. */
/* Replay one pair and report it if the rule explains its drops.  recs: the
 * pair's records (sorted here). */
static int judge_pair(const pw_state *st, uint32_t pair, const uint32_t *atts, size_t n_atts,
                      pw_rec *recs, size_t n_recs, diag_ctx *ctx, diag_findings *out)
{
    qsort(recs, n_recs, sizeof *recs, cmp_rec_t);
    size_t n = 0;
    tx *v = pair_txs(st, atts, n_atts, &n);
    if (v == NULL)
        return -ENOMEM;
    int rc = 0;
    pair_res res;
    replay(recs, n_recs, v, n, &res);
    if (res.drop_ts > 0 && res.drop_ts > res.contra * 2) {
        pair_view pv = { .p = &st->pair[pair], .recs = recs, .v = v, .n = n, .r = &res };
        rc = settle(st, &pv, ctx);
        if (rc == 0)
            rc = report(st, &pv, ctx, out);
        free(pv.as);
    }
    free(v);
    return rc;
}

/* Attempts and records of the pairs with drops, grouped by pair (counting
 * sort, so attempts keep their order): pair k's are [abeg[k], abeg[k+1])
 * in atts and [rbeg[k], rbeg[k+1]) in rix (record indices), with the
 * records' times (ms from base) and TSvals beside them for the pre-check. */
typedef struct buckets {
    size_t   *abeg, *rbeg;
    uint32_t *atts, *rix;
    int32_t  *rt;
    uint32_t *rts;
    int64_t   base;
    bool      precheck;     /* times fit 32-bit milliseconds */
} buckets;

static void buckets_free(buckets *b)
{
    free(b->abeg);
    free(b->rbeg);
    free(b->atts);
    free(b->rix);
    free(b->rt);
    free(b->rts);
}

static void time_span(const pw_state *st, buckets *b)
{
    int64_t base = INT64_MAX, last = INT64_MIN;
    for (size_t i = 0; i < st->n_rec; i++) {
        if (st->rec[i].t < base) base = st->rec[i].t;
        if (st->rec[i].t > last) last = st->rec[i].t;
    }
    for (size_t i = 0; i < st->n_att; i++) {
        if (st->att[i].t < base) base = st->att[i].t;
        if (st->att[i].t > last) last = st->att[i].t;
    }
    for (size_t i = 0; i < st->n_rtx; i++)
        if (st->rtx[i].t > last) last = st->rtx[i].t;
    b->base = base;
    b->precheck = (last - base) / 1000000 < INT32_MAX / 2;
}

static int bucket_by_pair(const pw_state *st, buckets *b)
{
    size_t np = st->n_pair, na = st->n_att ? st->n_att : 1, nr = st->n_rec ? st->n_rec : 1;
    size_t *fill = calloc(np + 1, sizeof *fill);
    b->abeg = calloc(np + 1, sizeof *b->abeg);
    b->rbeg = calloc(np + 1, sizeof *b->rbeg);
    b->atts = malloc(na * sizeof *b->atts);
    b->rix = malloc(nr * sizeof *b->rix);
    b->rt = malloc(nr * sizeof *b->rt);
    b->rts = malloc(nr * sizeof *b->rts);
    if (fill == NULL || b->abeg == NULL || b->rbeg == NULL || b->atts == NULL || b->rix == NULL ||
        b->rt == NULL || b->rts == NULL) {
        free(fill);
        return -ENOMEM;
    }
    time_span(st, b);
    for (size_t i = 0; i < st->n_att; i++)
        if (st->pair[st->att[i].pair].drops > 0)
            b->abeg[st->att[i].pair + 1]++;
    for (size_t i = 0; i < st->n_rec; i++)
        if (st->pair[st->rec[i].pair].drops > 0)
            b->rbeg[st->rec[i].pair + 1]++;
    for (size_t k = 0; k < np; k++) {
        b->abeg[k + 1] += b->abeg[k];
        b->rbeg[k + 1] += b->rbeg[k];
    }
    memcpy(fill, b->abeg, (np + 1) * sizeof *fill);
    for (size_t i = 0; i < st->n_att; i++)
        if (st->pair[st->att[i].pair].drops > 0)
            b->atts[fill[st->att[i].pair]++] = (uint32_t)i;
    memcpy(fill, b->rbeg, (np + 1) * sizeof *fill);
    for (size_t i = 0; i < st->n_rec; i++)
        if (st->pair[st->rec[i].pair].drops > 0) {
            size_t at = fill[st->rec[i].pair]++;
            b->rix[at] = (uint32_t)i;
            b->rt[at] = (int32_t)((st->rec[i].t - b->base) / 1000000);
            b->rts[at] = st->rec[i].tsval;
        }
    free(fill);
    return 0;
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

    buckets b = { 0 };
    int rc = bucket_by_pair(st, &b);
    for (uint32_t k = 0; k < st->n_pair && rc == 0; k++) {
        size_t a0 = b.abeg[k], na = b.abeg[k + 1] - a0, r0 = b.rbeg[k], nr = b.rbeg[k + 1] - r0;
        if (st->pair[k].drops == 0 || nr == 0 ||
            (b.precheck && !may_explain(st, &b.atts[a0], na, &b.rt[r0], &b.rts[r0], nr,
                                        st->pair[k].drops, b.base)))
            continue;
        pw_rec *recs = malloc(nr * sizeof *recs);
        if (recs == NULL) {
            rc = -ENOMEM;
            break;
        }
        for (size_t i = 0; i < nr; i++)
            recs[i] = st->rec[b.rix[r0 + i]];
        rc = judge_pair(st, k, &b.atts[a0], na, recs, nr, ctx, out);
        free(recs);
    }
    buckets_free(&b);
    return rc;
}

const diag_detector diag_det_paws_reject = {
    .id = "paws-reject",
    .create = pw_create,
    .packet = pw_packet,
    .conn = pw_conn,
    .finish = pw_finish,
    .destroy = pw_destroy,
};
