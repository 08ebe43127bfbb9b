/* paws_judge.c - paws-reject: the replay of Linux 4.9's tcp_tw_recycle rule, and its verdict. */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "diagnose/paws_internal.h"

/*
 * The rule, the classes of SYN transmissions and the limits are described in
 * paws_reject.c's design comment (tcp-behaviour.md 3.10, 9.5).  Everything
 * that decides lives here: the pre-check, the replay, which attempts the
 * finding claims, its confidence and which packets it shows.  Nothing here
 * writes text (paws_words.c does, from the verdict).
 */

/* ---- replay ------------------------------------------------------------- */

static int cmp_tx(const void *x, const void *y)
{
    const pw_txv *a = x, *b = y;
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
static pw_txv *pair_txs(const pw_state *st, const uint32_t *atts, size_t n_atts, size_t *n_out)
{
    size_t n = 0;
    for (size_t i = 0; i < n_atts; i++)
        n += st->att[atts[i]].nsyn;
    pw_txv *v = calloc(n ? n : 1, sizeof *v);
    if (v == NULL)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n_atts; i++) {
        const pw_att *a = &st->att[atts[i]];
        size_t rx = a->nsyn > 1 ? first_rtx(st, atts[i]) : 0;
        for (unsigned j = 0; j < a->nsyn; j++, k++) {
            pw_txv *x = &v[k];
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

/* Classify one transmission x against the record in force cur (age: x->t -
 * cur->t), counting it in r.  Linux tcp_peer_is_proven(paws_check=true). */
static void classify(pw_txv *x, const pw_rec *cur, pw_counts *r)
{
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

/* Replay records recs[0..n_recs) (time order) and transmissions v[0..n)
 * (time order) through the rule; x->rec indexes recs. */
static void replay(const pw_rec *recs, size_t n_recs, pw_txv *v, size_t n, pw_counts *r)
{
    memset(r, 0, sizeof *r);
    r->life_lo = r->life_hi = -1;
    r->gap_min = INT32_MAX;
    size_t next = 0;
    const pw_rec *cur = NULL;
    for (size_t i = 0; i < n; i++) {
        pw_txv *x = &v[i];
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
        classify(x, cur, r);
    }
    r->variant = r->drop_nots > 0 && r->ans_nots == 0 && r->drop_ts > 0;
}

/* ---- the attempts ------------------------------------------------------- */

static int cmp_tx_att(const void *x, const void *y)
{
    const pw_txv *a = x, *b = y;
    if (a->att != b->att)
        return a->att < b->att ? -1 : 1;
    return cmp_tx(x, y);
}

static int cmp_att_sum(const void *x, const void *y)
{
    return cmp_tx(&((const pw_att_sum *)x)->first, &((const pw_att_sum *)y)->first);
}

/* One attempt's transmissions by[0..n): its explained and unanswered SYNs. */
static pw_att_sum sum_attempt(const pw_att *a, const pw_txv *by, size_t n, bool variant)
{
    pw_att_sum sum = { .expl = 0, .drops = 0, .delay_s = -1 };
    for (size_t j = 0; j < n; j++) {
        const pw_txv *x = &by[j];
        if (x->answered) {
            sum.delay_s = diag_secs(x->t - a->t);
            continue;
        }
        sum.drops++;
        if (x->cls == TX_DROP_TS || (x->cls == TX_DROP_NOTS && variant)) {
            if (sum.expl++ == 0)
                sum.first = *x;
        }
    }
    return sum;
}

/*
 * Sum up the attempts of one pair: which had explained drops, which of those
 * never connected (claimed, for syn-unanswered to leave out, when every SYN
 * they sent was an explained drop) and which connected late.
 */
static int settle(const pw_state *st, pw_verdict *vd)
{
    size_t n = vd->n;
    pw_txv *by = malloc((n ? n : 1) * sizeof *by);
    vd->as = malloc((n ? n : 1) * sizeof *vd->as);
    vd->claims = malloc((n ? n : 1) * sizeof *vd->claims);
    if (by == NULL || vd->as == NULL || vd->claims == NULL) {
        free(by);
        return -ENOMEM;
    }
    vd->one_port = true;
    memcpy(by, vd->v, n * sizeof *by);
    qsort(by, n, sizeof *by, cmp_tx_att);
    for (size_t i = 0; i < n;) {
        uint32_t cur = by[i].att;
        const pw_att *a = &st->att[cur];
        size_t j = i;
        while (j < n && by[j].att == cur)
            j++;
        pw_att_sum sum = sum_attempt(a, &by[i], j - i, vd->r.variant);
        i = j;
        if (sum.expl == 0)
            continue;
        vd->as[vd->n_as++] = sum;
        vd->attempts++;
        if (vd->attempts == 1)
            vd->sport = a->sport;
        else if (a->sport != vd->sport)
            vd->one_port = false;
        if (a->flags & AT_ANSWERED) {
            vd->delayed++;
            if (sum.delay_s > vd->delay_max)
                vd->delay_max = sum.delay_s;
        } else {
            vd->failed++;
        }
        /* every unanswered SYN of the attempt is this check's doing: the other
           detectors (timewait-reuse, syn-unanswered) leave it alone */
        if (sum.expl == sum.drops)
            vd->claims[vd->n_claims++] = a->packet;
    }
    if (!vd->one_port)
        vd->sport = 0;
    qsort(vd->as, vd->n_as, sizeof *vd->as, cmp_att_sum);
    free(by);
    return 0;
}

/* ---- the finding's figures ---------------------------------------------- */

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

/* Hosts behind the address, severity and confidence: answered SYNs above the
 * record and several hosts (nat-multiple-hosts) make it surer, answers
 * against the rule less sure. */
static void weigh(pw_verdict *vd, const diag_ctx *ctx)
{
    const pw_counts *r = &vd->r;
    const diag_host_est *he = host_est(ctx, &vd->p->client);
    vd->host_known = he != NULL;
    vd->hosts = he != NULL && he->hosts_min > 0 ? he->hosts_min : 1;
    vd->per_conn = he != NULL && he->ts_per_conn;
    vd->dropped = r->drop_ts + (r->variant ? r->drop_nots : 0);
    vd->severity = vd->failed ? DIAG_ERROR : DIAG_WARNING;

    double conf = r->ans_above > 0 ? 0.8 : 0.6;
    if (r->drop_ts >= 3 || vd->attempts >= 2)
        conf += 0.05;
    if (vd->hosts >= 2 || vd->per_conn)
        conf += 0.1;
    if (r->contra > 0)
        conf -= 0.3;
    if (conf > 0.95) conf = 0.95;
    if (conf < 0.3) conf = 0.3;
    vd->confidence = conf;
}

/* Take one more evidence line; false (counted as omitted) when full. */
static bool pick(pw_verdict *vd, enum pw_ev_kind kind, size_t ref)
{
    if (vd->n_ev == PW_EV_MAX) {
        vd->ev_omitted++;
        return false;
    }
    vd->ev[vd->n_ev].kind = (uint8_t)kind;
    vd->ev[vd->n_ev++].ref = (uint32_t)ref;
    return true;
}

/* The packets shown: the first PW_EV_ATTEMPTS attempts' first explained SYN
 * with (up to 3) the records they were behind, then up to 3 SYNs answered
 * above a record, 2 answered after it aged and 2 answered against it. */
static void choose_evidence(pw_verdict *vd)
{
    uint32_t shown[PW_EV_ATTEMPTS];
    size_t n_shown = 0;
    for (size_t i = 0; i < vd->n_as; i++) {
        if (i >= PW_EV_ATTEMPTS) {
            vd->ev_omitted++;
            continue;
        }
        pick(vd, PW_EV_DROP, i);
        uint32_t ri = vd->as[i].first.rec;
        bool known = false;
        for (size_t k = 0; k < n_shown; k++)
            known |= shown[k] == ri;
        if (!known && n_shown < 3) {
            shown[n_shown++] = ri;
            pick(vd, PW_EV_RECORD, ri);
        }
    }
    uint64_t above = 0, late = 0, contra = 0;
    for (size_t i = 0; i < vd->n; i++) {
        uint8_t cls = vd->v[i].cls;
        uint64_t *count = cls == TX_ANS_ABOVE && above < 3   ? &above
                          : cls == TX_ANS_LATE && late < 2   ? &late
                          : cls == TX_CONTRA && contra < 2   ? &contra
                                                             : NULL;
        if (count == NULL)
            continue;
        if (!pick(vd, cls == TX_ANS_ABOVE ? PW_EV_ABOVE : cls == TX_ANS_LATE ? PW_EV_LATE
                                                                              : PW_EV_CONTRA, i))
            return;
        (*count)++;
    }
}

static int cmp_rec_t(const void *x, const void *y)
{
    const pw_rec *a = x, *b = y;
    return a->t < b->t ? -1 : a->t > b->t ? 1 : a->packet < b->packet ? -1 : a->packet > b->packet;
}

int pw_judge(const pw_state *st, uint32_t pair, const uint32_t *atts, size_t n_atts,
             pw_rec *recs, size_t n_recs, const diag_ctx *ctx, pw_verdict *vd)
{
    memset(vd, 0, sizeof *vd);
    qsort(recs, n_recs, sizeof *recs, cmp_rec_t);
    vd->p = &st->pair[pair];
    vd->att = st->att;
    vd->recs = recs;
    vd->v = pair_txs(st, atts, n_atts, &vd->n);
    if (vd->v == NULL)
        return -ENOMEM;
    replay(recs, n_recs, vd->v, vd->n, &vd->r);
    /* reported when explained drops outnumber twice the contradictions */
    if (!(vd->r.drop_ts > 0 && vd->r.drop_ts > vd->r.contra * 2))
        return 0;
    int rc = settle(st, vd);
    if (rc != 0)
        return rc;
    weigh(vd, ctx);
    choose_evidence(vd);
    vd->found = true;
    return 0;
}

void pw_verdict_free(pw_verdict *vd)
{
    free(vd->v);
    free(vd->as);
    free(vd->claims);
    vd->v = NULL;
    vd->as = NULL;
    vd->claims = NULL;
}

/* ---- the pre-check ------------------------------------------------------ */

/*
 * Cheap test before the replay: can any unanswered SYN of the pair be
 * explained at all?  The record in force at a dropped SYN must be under 60 s
 * old, so some record of the last 60 s must be more than 1 tick ahead of the
 * SYN's TSval.  Healthy hosts (one increasing clock) fail it, and their
 * pairs are never sorted or replayed.
 */
bool pw_may_explain(const pw_state *st, const pw_buckets *b, uint32_t k)
{
    const uint32_t *atts = &b->atts[b->abeg[k]];
    size_t n_atts = b->abeg[k + 1] - b->abeg[k];
    const int32_t *rt = &b->rt[b->rbeg[k]];
    const uint32_t *rts = &b->rts[b->rbeg[k]];
    size_t n_recs = b->rbeg[k + 1] - b->rbeg[k];
    if (st->pair[k].drops > PW_PRECHECK_MAX / (n_recs ? n_recs : 1))
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
            int32_t tm = (int32_t)((t - b->base) / 1000000);
            unsigned hit = 0;
            for (size_t r = 0; r < n_recs; r++)
                hit |= (unsigned)((uint32_t)(tm - rt[r]) <= PW_MSL_MS) &
                       (unsigned)((int32_t)(rts[r] - ts) > PW_WINDOW);
            if (hit)
                return true;
        }
    }
    return false;
}

/* ---- grouping by pair --------------------------------------------------- */

void pw_buckets_free(pw_buckets *b)
{
    free(b->abeg);
    free(b->rbeg);
    free(b->atts);
    free(b->rix);
    free(b->rt);
    free(b->rts);
}

static void time_span(const pw_state *st, pw_buckets *b)
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

int pw_bucket_by_pair(const pw_state *st, pw_buckets *b)
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
