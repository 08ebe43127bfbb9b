/* nh_tuple.c - nat-multiple-hosts: timestamp clocks alternating on one reused 4-tuple. */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "diagnose/nh_internal.h"

/*
 * How it works.  One host sends one TCP timestamp clock on one 4-tuple:
 * Linux adds secure_tcp_ts_off() to its clock, a hash of the addresses
 * (4.11-6.x, commit 28ee1b746f49) or of the addresses and ports (4.10,
 * and 7.0+ with secure_tcp_seq_and_ts_off()), so the same 4-tuple gets the
 * same offset every time (tcp-behaviour.md 3.6); BSD, macOS and Linux with
 * tcp_timestamps=2 send a clock without a per-connection offset.  The
 * first SYNs of the incarnations of one 4-tuple therefore lie on one line
 * TSval = offset + rate * t when one host sends them all.
 *
 * Each SYN of a reused 4-tuple is put on a clock line of that tuple: it
 * joins a line when it lies where the line predicts at 1000, 300, 250 or
 * 100 Hz (RFC 7323 5.4: a tick of 1 ms to 1 s; tcp-behaviour.md 9.10),
 * within 50 ms plus 200 ppm of the elapsed time (nh_line_score()).  Two
 * lines are two hosts when
 *   - each holds at least two SYNs (three when the tuple also shows lines
 *     of one SYN, the pattern of per-connection random offsets: pf's
 *     timestamp modulation, or a NAT mapping other inner ports here);
 *   - their time spans overlap: the SYNs alternate (A B A B, or A B B A),
 *     so neither line is a rebooted host's new clock (a reboot never
 *     returns to its old line);
 *   - every step between consecutive SYNs of the two lines is impossible
 *     for one clock: backwards by more than NH_STEP_BACK ticks, or forward
 *     by more than NH_STEP_RATE ticks per second of elapsed time (1000 Hz,
 *     RFC 7323 5.4's fastest, plus 2 % drift) plus NH_STEP_SLACK (one
 *     second's ticks: a SYN delayed in a queue).  A delayed SYN of one host
 *     lands off its line but a step forward shorter than 1000 Hz allows,
 *     so this keeps one host's jittery SYNs from making a second line.
 * TSvals compare modulo 2^32 (RFC 7323 5.2), so a clock wrapping past 2^32
 * stays one line.  The clocks of a tuple are the largest set of lines that
 * are pairwise two hosts by these rules.
 *
 * Limits: a host with usec timestamps (Linux tcp_usec_ts, 1 MHz) gives a
 * line of one SYN per connection here and is never counted; a Linux 4.10
 * or 7.0+ host behind a NAT that maps two of its inner ports onto this
 * outside port in turn, again and again, would show two lines (the NAT's
 * port choice would have to repeat each time); steps more than 12 days
 * apart are not judged (2^31 ticks at 1000 Hz is 24.8 days).
 */

#define NH_STEP_BACK        2.0         /* ticks of rounding a step may go back */
#define NH_STEP_RATE        1020.0      /* ticks per second a clock may advance */
#define NH_STEP_SLACK       1000.0      /* plus these ticks */
#define NH_STEP_MAX_NS      (12LL * 86400 * 1000000000LL)

/* RFC 7323 5.4 rates only: 1 ms to 1 s per tick. */
static const uint32_t nh_tuple_rates[] = { 1000, 250, 100, 300 };
#define NH_N_TUPLE_RATES (sizeof nh_tuple_rates / sizeof nh_tuple_rates[0])

static nh_tline *tline_at(nh_tuple *u, uint32_t i)
{
    return i < NH_TUPLE_INLINE ? &u->line[i] : &u->more[i - NH_TUPLE_INLINE];
}

static nh_tuple *get_tuple(nh_state *st, const flow_conn *c)
{
    static const diag_table tab = { sizeof(nh_tuple), offsetof(nh_tuple, client),
                                    2 * sizeof(pkt_addr) + 2 * sizeof(uint16_t) };
    struct {
        pkt_addr client, server;
        uint16_t cport, sport;
    } key;
    _Static_assert(sizeof key == 2 * sizeof(pkt_addr) + 2 * sizeof(uint16_t), "key padding");
    _Static_assert(offsetof(nh_tuple, cport) == 2 * sizeof(pkt_addr), "tuple key layout");
    memset(&key, 0, sizeof key);
    key.client = c->client.addr;
    key.server = c->server.addr;
    key.cport = c->client.port;
    key.sport = c->server.port;
    bool created = false;
    void *v = st->tu;
    long i = diag_index_get(&st->tix, &tab, &v, &st->n_tu, &st->cap_tu, &key, &created);
    st->tu = v;
    if (i < 0)
        return NULL;
    nh_tuple *u = &st->tu[i];
    if (created)
        u->last_line = UINT8_MAX;
    return u;
}

/* Score of x on line l (<= 1: on it), with the rate that fits best. */
static double tline_score(const nh_tline *l, const nh_sample *x, uint32_t *rate)
{
    bool near0 = x->t <= l->t0 || (x->t < l->tl && x->t - l->t0 < l->tl - x->t);
    int64_t t1 = near0 ? l->t0 : l->tl;
    uint32_t ts1 = near0 ? l->ts0 : l->tsl;
    double best = 1e300;
    for (size_t i = 0; i < NH_N_TUPLE_RATES; i++) {
        if (l->rate != 0 && l->rate != nh_tuple_rates[i])
            continue;
        double s = nh_line_score(t1, ts1, nh_tuple_rates[i], x->t, x->tsval);
        if (s < best) {
            best = s;
            *rate = nh_tuple_rates[i];
        }
    }
    return best;
}

/* Could one clock step from (t1, ts1) to (t2, ts2)?  True when it cannot
 * be judged. */
static bool step_one_clock(int64_t t1, uint32_t ts1, int64_t t2, uint32_t ts2)
{
    int64_t dt = t2 - t1;
    if (dt < 0 || dt > NH_STEP_MAX_NS)
        return true;
    double d = (double)(int32_t)(ts2 - ts1);
    return d >= -NH_STEP_BACK && d <= NH_STEP_RATE * diag_secs(dt) + NH_STEP_SLACK;
}

static void forget_line(nh_tuple *u, uint32_t i)
{
    u->mixed[i] = 0;
    for (uint32_t j = 0; j < NH_TUPLE_LINES; j++)
        u->mixed[j] &= (uint8_t)~(1u << i);
}

/* A line for a SYN on none: a free one, else the one-SYN line heard from
 * longest ago; UINT8_MAX when there is none or no memory (*oom). */
static uint32_t new_line(nh_tuple *u, bool *oom)
{
    if (u->n_lines < NH_TUPLE_LINES) {
        if (u->n_lines == NH_TUPLE_INLINE && u->more == NULL) {
            u->more = calloc(NH_TUPLE_LINES - NH_TUPLE_INLINE, sizeof *u->more);
            if (u->more == NULL) {
                *oom = true;
                return UINT8_MAX;
            }
        }
        return u->n_lines++;
    }
    uint32_t old = UINT8_MAX;
    for (uint32_t i = 0; i < u->n_lines; i++)
        if (tline_at(u, i)->support == 1 &&
            (old == UINT8_MAX || tline_at(u, i)->tl < tline_at(u, old)->tl))
            old = i;
    if (old != UINT8_MAX) {
        u->singles++;
        forget_line(u, old);
    }
    return old;
}

static void join_line(nh_tline *l, const nh_sample *x, uint32_t rate)
{
    l->support++;
    if (x->t < l->t0) {
        l->t0 = x->t;
        l->ts0 = x->tsval;
    }
    if (x->t > l->tl) {
        l->tl = x->t;
        l->tsl = x->tsval;
    }
    if (l->rate == 0 && l->tl - l->t0 >= NH_RATE_FIX_NS)
        l->rate = rate;
}

int nh_tuple_add(nh_state *st, const flow_conn *c, const nh_sample *x, int sig)
{
    nh_tuple *u = get_tuple(st, c);
    if (u == NULL)
        return -ENOMEM;
    u->samples++;
    uint32_t best = UINT8_MAX, rate = 0;
    double best_s = 1.0;
    for (uint32_t i = 0; i < u->n_lines; i++) {
        uint32_t r = 0;
        double s = tline_score(tline_at(u, i), x, &r);
        if (s <= best_s) {
            best_s = s;
            best = i;
            rate = r;
        }
    }
    if (best != UINT8_MAX) {
        join_line(tline_at(u, best), x, rate);
    } else {
        bool oom = false;
        best = new_line(u, &oom);
        if (oom)
            return -ENOMEM;
        if (best == UINT8_MAX) {        /* no room: the next step is not judged */
            u->last_line = UINT8_MAX;
            return 0;
        }
        nh_tline *l = tline_at(u, best);
        memset(l, 0, sizeof *l);
        l->t0 = l->tl = x->t;
        l->ts0 = l->tsl = x->tsval;
        l->rate = x->rate_hint <= 1000 ? x->rate_hint : 0;
        l->support = 1;
        l->ex_packet = x->packet;
        l->sig = sig < 0 ? UINT8_MAX : (uint8_t)sig;
    }
    uint32_t prev = u->last_line;
    if (prev != UINT8_MAX && prev != best &&
        step_one_clock(u->last_t, u->last_ts, x->t, x->tsval)) {
        u->mixed[prev] |= (uint8_t)(1u << best);
        u->mixed[best] |= (uint8_t)(1u << prev);
    }
    u->last_line = (uint8_t)best;
    u->last_t = x->t;
    u->last_ts = x->tsval;
    return 0;
}

/* Lines i and j are two hosts (see above). */
static bool two_hosts(const nh_tuple *u, uint32_t i, uint32_t j)
{
    const nh_tline *a = nh_ctline_at(u, i), *b = nh_ctline_at(u, j);
    return a->t0 < b->tl && b->t0 < a->tl && !(u->mixed[i] & (1u << j));
}

/* The largest set of lines with enough SYNs that are pairwise two hosts
 * (at most 2^8 subsets). */
static void tuple_count(nh_tuple *u)
{
    uint32_t ones = 0, ok = 0;
    for (uint32_t i = 0; i < u->n_lines; i++) {
        ones += nh_ctline_at(u, i)->support == 1;
        if (nh_ctline_at(u, i)->support >= 2)
            ok |= 1u << i;
    }
    uint32_t need = u->singles + ones >= 2 ? 3 : 2;
    for (uint32_t i = 0; i < u->n_lines; i++)
        if (nh_ctline_at(u, i)->support < need)
            ok &= ~(1u << i);
    u->clocks = 0;
    u->clique = 0;
    for (uint32_t set = ok; set != 0; set = (set - 1) & ok) {
        uint32_t n = 0;
        for (uint32_t b = set; b != 0; b &= b - 1)
            n++;
        if (n <= u->clocks || n < 2)
            continue;
        bool all = true;
        for (uint32_t i = 0; i < u->n_lines && all; i++)
            for (uint32_t j = i + 1; j < u->n_lines && all; j++)
                if ((set & (1u << i)) && (set & (1u << j)))
                    all = two_hosts(u, i, j);
        if (all) {
            u->clocks = (uint8_t)n;
            u->clique = (uint8_t)set;
        }
    }
}

static nh_pair *find_pair(const nh_state *st, const nh_tuple *u)
{
    static const diag_table tab = { sizeof(nh_pair), offsetof(nh_pair, client),
                                    2 * sizeof(pkt_addr) };
    pkt_addr key[2] = { u->client, u->server };
    long i = diag_index_find(&st->ix, &tab, st->p, key);
    return i < 0 ? NULL : &st->p[i];
}

void nh_tuples_finish(nh_state *st)
{
    for (size_t i = 0; i < st->n_tu; i++) {
        nh_tuple *u = &st->tu[i];
        tuple_count(u);
        if (u->clocks < 2)
            continue;
        nh_pair *p = find_pair(st, u);
        if (p != NULL && u->clocks > p->tuple_clocks) {
            p->tuple_clocks = u->clocks;
            p->tuple_ix = i + 1;
        }
    }
    diag_index_reset(&st->tix);
}

void nh_tuples_free(nh_state *st)
{
    for (size_t i = 0; i < st->n_tu; i++)
        free(st->tu[i].more);
    free(st->tu);
    st->tu = NULL;
    st->n_tu = st->cap_tu = 0;
    diag_index_reset(&st->tix);
}

bool nh_one_clock(int64_t t1, uint32_t ts1, int64_t t2, uint32_t ts2)
{
    return step_one_clock(t1, ts1, t2, ts2);
}
