/* lifecycle.c - the lifecycle stage: outcomes of all attempts, ICMP errors matched, capture completeness. */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "common/hash_internal.h"
#include "common/mem_internal.h"
#include "lifecycle/lc_internal.h"

/*
 * How it works.  lc_conn() judges each incarnation as the flow table
 * writes it (outcome.c) and keeps the ones that are not ok; ok ones are
 * only counted, so memory follows failures, not the capture's length.
 * Per address it notes whether the capture ever showed a packet sent to
 * it; lc_packet() keeps the ICMP errors
 * that quote a TCP segment (TCP frames cost it nothing: the flow table
 * counts the copies of a frame captured twice).  lc_finish()
 * then settles what one incarnation could not:
 *   - an unanswered SYN quoted by an ICMP error from the server or a
 *     router on the way was refused (RFC 1122 4.2.3.9: an ICMP
 *     unreachable for a SYN aborts the connection attempt; RFC 5461);
 *   - an unanswered SYN from a client the capture never shows a packet
 *     sent to (a one-sided capture, or an asymmetric route) has no
 *     verdict: the answer may have gone by another way;
 *   - an unanswered SYN or a stall within a retransmission timeout of the
 *     capture's end, or of a gap in it (no packet for LC_GAP_NS: files
 *     merged, a capture restarted), has no verdict: the answer may not
 *     have come yet, or not into the capture.
 *
 * Limits.  ICMP errors are kept until the end (a few per failure; a flood
 * of them costs 96 bytes each).  The host table grows with the addresses
 * seen.  Which direction is missing is judged per client address: a
 * capture that shows any answer to the client is taken as complete for
 * all of its attempts (an asymmetric route for one server only is not
 * seen).
 */

typedef struct icmp_err {
    pkt_addr q_src, q_dst;      /* key: the quoted segment's addresses ... */
    uint16_t q_sport, q_dport;  /* ... and ports: 36 bytes */
    uint32_t q_seq;
    pkt_addr from;              /* who sent the error */
    uint64_t packet;
    int64_t  ts;
    uint8_t  type, code, ttl;
    bool     v6;
} icmp_err;

/* Per address (port 0) and per server endpoint (address and port). */
typedef struct host_dirs {
    pkt_addr addr;              /* key: address ... */
    uint16_t port;              /* ... and port (0: the address as a whole) */
    uint16_t pad;               /* zero: part of the key */
    bool     inbound_seen;      /* the capture shows a TCP packet sent to it */
    uint8_t  synack_ttl;        /* TTL of its first SYN-ACK as a server (0: none) */
    uint32_t attempts;          /* incarnations it opened (client) */
    uint64_t connected;         /* incarnations with it as server that connected */
} host_dirs;

#define HOST_KEY_LEN (offsetof(host_dirs, pad) + sizeof(uint16_t))

typedef struct host_table {
    host_dirs *v;
    size_t   n, cap;
    uint32_t *slot;             /* position + 1; 0 = empty */
    size_t   mask;
} host_table;

struct lc_stage {
    lc_attempt *att;
    size_t   n_att, cap_att;
    icmp_err *icmp;
    size_t   n_icmp, cap_icmp;
    host_table hosts;
    uint64_t *seen;             /* a bit per first packet's hash: most look-ups
                                   are of attempts that were ok (lc_finish) */
    size_t   seen_mask;
    uint64_t seed;
    int64_t  first_ts, last_ts;
    bool     have_ts;
    int64_t  gap_from[LC_MAX_GAPS];  /* the capture's gaps (LC_GAP_NS), in order */
    size_t   n_gaps;
    lc_accounting acc;
    bool     oom;
    bool     finished;
};

lc_stage *lc_new(void)
{
    lc_stage *s = calloc(1, sizeof *s);
    if (s != NULL)
        s->seed = 0x9e3779b97f4a7c15ULL ^ (uint64_t)(uintptr_t)s;
    return s;
}

void lc_free(lc_stage *s)
{
    if (s == NULL)
        return;
    free(s->att);
    free(s->icmp);
    free(s->hosts.v);
    free(s->hosts.slot);
    free(s->seen);
    free(s);
}

static bool grow(void **v, size_t *cap, size_t n, size_t elem)
{
    return mem_room(v, cap, n, elem, 64);
}

/* ---- hosts: which directions the capture shows -------------------------- */

static uint64_t host_hash(const lc_stage *s, const pkt_addr *a, uint16_t port)
{
    return fmix64(fmix64(s->seed ^ load64(a->b)) ^ load64(a->b + 8) ^ port);
}

static int host_rehash(lc_stage *s, size_t slots)
{
    uint32_t *sl = calloc(slots, sizeof *sl);
    if (sl == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < s->hosts.n; i++) {
        size_t j = host_hash(s, &s->hosts.v[i].addr, s->hosts.v[i].port) & (slots - 1);
        while (sl[j] != 0)
            j = (j + 1) & (slots - 1);
        sl[j] = (uint32_t)i + 1;
    }
    free(s->hosts.slot);
    s->hosts.slot = sl;
    s->hosts.mask = slots - 1;
    return 0;
}

static const host_dirs *host_find(const lc_stage *s, const pkt_addr *a, uint16_t port)
{
    const host_table *t = &s->hosts;
    if (t->slot == NULL)
        return NULL;
    for (size_t j = host_hash(s, a, port) & t->mask; t->slot[j] != 0; j = (j + 1) & t->mask) {
        const host_dirs *h = &t->v[t->slot[j] - 1];
        if (h->port == port && memcmp(&h->addr, a, sizeof *a) == 0)
            return h;
    }
    return NULL;
}

/* The entry of an address (port 0) or endpoint, added when missing; NULL
 * when out of memory (s->oom then set). */
static host_dirs *host_get(lc_stage *s, const pkt_addr *a, uint16_t port)
{
    host_table *t = &s->hosts;
    if (t->slot == NULL || (t->n + 1) * 2 > t->mask + 1) {
        if (t->n >= UINT32_MAX / 4 || host_rehash(s, t->slot == NULL ? 256 : (t->mask + 1) * 2) != 0) {
            s->oom = true;
            return NULL;
        }
    }
    size_t j = host_hash(s, a, port) & t->mask;
    for (; t->slot[j] != 0; j = (j + 1) & t->mask) {
        host_dirs *h = &t->v[t->slot[j] - 1];
        if (h->port == port && memcmp(&h->addr, a, sizeof *a) == 0)
            return h;
    }
    if (!grow((void **)&t->v, &t->cap, t->n, sizeof *t->v)) {
        s->oom = true;
        return NULL;
    }
    host_dirs *h = &t->v[t->n];
    memset(h, 0, sizeof *h);
    h->addr = *a;
    h->port = port;
    t->slot[j] = (uint32_t)++t->n;
    return h;
}

/* Per incarnation, not per packet: who received anything, who opened how
 * many, which servers and endpoints accepted connections. */
static void note_hosts(lc_stage *s, const flow_conn *c, enum lc_outcome o)
{
    host_dirs *h = host_get(s, &c->client.addr, 0);
    if (h != NULL && h->attempts < UINT32_MAX)
        h->attempts++;
    if (h != NULL && c->server.packets > 0)
        h->inbound_seen = true;
    if ((h = host_get(s, &c->server.addr, 0)) == NULL)
        return;
    if (c->client.packets > 0)
        h->inbound_seen = true;
    bool connected = o == LC_OK || o == LC_SLOW || o == LC_STALLED || o == LC_RESET;
    if (c->synack_count > 0 && h->synack_ttl == 0)
        h->synack_ttl = c->server.ttl_first;
    if (!connected || c->syn_count == 0)
        return;
    h->connected++;
    if ((h = host_get(s, &c->server.addr, c->server.port)) != NULL)
        h->connected++;
}

/* ---- packets ------------------------------------------------------------ */

void lc_packet(lc_stage *s, const pkt_view *v, enum pkt_status st)
{
    if (!s->have_ts) {
        s->first_ts = s->last_ts = v->ts_ns;
        s->have_ts = true;
    }
    if (v->ts_ns - s->last_ts > LC_GAP_NS) {
        if (s->n_gaps < LC_MAX_GAPS)
            s->gap_from[s->n_gaps++] = s->last_ts;
        s->acc.gaps++;
    }
    if (v->ts_ns > s->last_ts)
        s->last_ts = v->ts_ns;
    if (st != PKT_NOT_TCP || !v->has_icmp_err)
        return;
    s->acc.icmp_errors++;
    if (!grow((void **)&s->icmp, &s->cap_icmp, s->n_icmp, sizeof *s->icmp)) {
        s->oom = true;
        return;
    }
    icmp_err *e = &s->icmp[s->n_icmp++];
    memset(e, 0, sizeof *e);
    e->q_src = v->icmp_q_src;
    e->q_dst = v->icmp_q_dst;
    e->q_sport = v->icmp_q_sport;
    e->q_dport = v->icmp_q_dport;
    e->q_seq = v->icmp_q_seq;
    e->from = v->src;
    e->packet = v->num;
    e->ts = v->ts_ns;
    e->type = v->icmp_type;
    e->code = v->icmp_code;
    e->ttl = v->ttl;
    e->v6 = v->icmp_v6;
}

/* ---- incarnations ------------------------------------------------------- */

enum lc_outcome lc_conn(lc_stage *s, const flow_conn *c)
{
    lc_verdict vd;
    lc_judge(c, &vd);
    s->acc.attempts++;
    s->acc.duplicate_frames += c->client.copies + c->server.copies;
    s->acc.evicted += c->end == FLOW_END_EVICTED;
    /* the capture's end, also without lc_packet() (records fed alone) */
    if (!s->have_ts || c->last_ts > s->last_ts) {
        if (!s->have_ts)
            s->first_ts = c->first_ts;
        s->last_ts = c->last_ts;
        s->have_ts = true;
    }
    note_hosts(s, c, vd.outcome);
    if (vd.outcome == LC_OK) {
        s->acc.by_outcome[LC_OK]++;
        return LC_OK;
    }
    if (!grow((void **)&s->att, &s->cap_att, s->n_att, sizeof *s->att)) {
        s->oom = true;
        return vd.outcome;
    }
    lc_attempt *a = &s->att[s->n_att++];
    memset(a, 0, sizeof *a);
    a->first_packet = c->first_packet;
    a->last_packet = c->last_packet;
    a->first_ts = c->first_ts;
    a->last_ts = c->last_ts;
    a->decisive_packet = vd.decisive_packet;
    a->decisive_ts = vd.decisive_packet != 0 || vd.at_capture_end ? vd.decisive_ts : c->last_ts;
    a->client = c->client.addr;
    a->server = c->server.addr;
    a->client_port = c->client.port;
    a->server_port = c->server.port;
    a->syns = c->syn_count;
    a->synacks = c->synack_count;
    a->delay_s = vd.delay_s;
    a->unacked = vd.unacked;
    a->outcome = (uint8_t)vd.outcome;
    a->detail = (uint8_t)vd.detail;
    a->had_syn = c->syn_count > 0;
    a->client_reset = c->client.rst_count > 0;
    a->evicted = c->end == FLOW_END_EVICTED;
    a->bare_syn = c->syn_count > 0 && c->client.bytes == 0 && !c->client.ack_seen;
    a->server_ttl = c->server.packets > 0 ? c->server.ttl_first : 0;
    if (vd.outcome == LC_REFUSED) {
        a->answer_from = c->server.addr;
        a->answer_ttl = c->server.rst_ttl;
    }
    a->until_end = vd.at_capture_end;
    return vd.outcome;
}

/* ---- the end ------------------------------------------------------------ */

static int cmp_icmp(const void *x, const void *y)
{
    const icmp_err *a = x, *b = y;
    int c = memcmp(a, b, offsetof(icmp_err, q_seq));
    if (c != 0)
        return c;
    return a->ts < b->ts ? -1 : a->ts > b->ts;
}

/* An ICMP error that quotes this attempt's 4-tuple, sent while the attempt
 * lasted or within one RTO after it (its quoted sequence number is not
 * compared: the attempt keeps no ISN). */
static const icmp_err *icmp_for(const lc_stage *s, const lc_attempt *a)
{
    icmp_err key;
    memset(&key, 0, sizeof key);
    key.q_src = a->client;
    key.q_dst = a->server;
    key.q_sport = a->client_port;
    key.q_dport = a->server_port;
    size_t lo = 0, hi = s->n_icmp;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (memcmp(&s->icmp[mid], &key, offsetof(icmp_err, q_seq)) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t i = lo; i < s->n_icmp; i++) {
        const icmp_err *e = &s->icmp[i];
        if (memcmp(e, &key, offsetof(icmp_err, q_seq)) != 0)
            break;
        if (e->ts < a->first_ts || e->ts > a->last_ts + LC_RTO_NS)
            continue;
        return e;
    }
    return NULL;
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

/* Where the stretch of capture that holds time t ends: the next gap, or
 * the capture's end.  Past the gaps remembered, the capture's end. */
static int64_t stretch_end(const lc_stage *s, int64_t t)
{
    for (size_t i = 0; i < s->n_gaps; i++)
        if (s->gap_from[i] >= t)
            return s->gap_from[i];
    return s->last_ts;
}

static void settle(lc_stage *s, lc_attempt *a)
{
    if (a->outcome == LC_UNANSWERED && s->n_icmp > 0) {
        const icmp_err *e = icmp_for(s, a);
        if (e != NULL) {
            a->outcome = LC_REFUSED;
            a->detail = LC_D_ICMP;
            a->decisive_packet = e->packet;
            a->decisive_ts = e->ts;
            a->answer_from = e->from;
            a->answer_ttl = e->ttl;
            a->icmp_type = e->type;
            a->icmp_code = e->code;
            a->icmp_v6 = e->v6;
            s->acc.icmp_matched++;
            return;
        }
    }
    if (a->outcome == LC_UNANSWERED) {
        /* Nothing at all to this client in the whole capture: a one-sided
           capture would look the same as a silent server. */
        const host_dirs *h = host_find(s, &a->client, 0);
        if (h == NULL || !h->inbound_seen) {
            a->outcome = LC_NO_VERDICT;
            a->detail = LC_D_ONE_DIRECTION;
            return;
        }
    }
    if (!a->until_end)
        return;
    /* How long the capture must go on for the verdict to hold: a stall,
       two RTOs; one SYN, LC_SYN_EDGE_NS (older Windows stacks retransmit a
       SYN after 3 s); more SYNs, twice the last gap between them (the
       backoff doubles the timeout, RFC 6298 5.5).  Three SYNs or more are
       a failure whatever comes after: the client waited seconds. */
    int64_t room = LC_RTO_NS;
    if (a->outcome == LC_STALLED)
        room = LC_STALL_EDGE_NS;
    else if (a->outcome == LC_UNANSWERED && a->syns >= 3)
        return;
    else if (a->outcome == LC_UNANSWERED && a->syns == 2)
        room = (int64_t)(a->delay_s * 2e9) > LC_RTO_NS ? (int64_t)(a->delay_s * 2e9) : LC_RTO_NS;
    else if (a->outcome == LC_UNANSWERED)
        room = LC_SYN_EDGE_NS;
    if (stretch_end(s, a->decisive_ts) - a->decisive_ts < room) {
        a->outcome = LC_NO_VERDICT;
        a->detail = LC_D_ENDED_INSIDE;
    } else if (a->outcome == LC_UNANSWERED && a->syns == 1 && !a->client_reset) {
        /* Every stack retransmits an unanswered SYN (1 s, 3 s: RFC 6298
           2.1, RFC 1122 4.2.3.1); one that never came although the capture
           went on means the client dropped the attempt first (happy
           eyeballs racing another address, a short connect timeout). */
        a->detail = LC_D_ABANDONED;
    }
}

/* Attempts are stored as records are written; reports and look-ups want
 * them by first packet (unique per incarnation). */
static int cmp_first_packet(const void *x, const void *y)
{
    uint64_t a = ((const lc_attempt *)x)->first_packet, b = ((const lc_attempt *)y)->first_packet;
    return a < b ? -1 : a > b;
}

/* ---- scans ---------------------------------------------------------------- */

static bool probe_candidate(const lc_attempt *a)
{
    return a->bare_syn && (a->outcome == LC_REFUSED || a->outcome == LC_UNANSWERED ||
                           a->outcome == LC_HANDSHAKE_FAILED);
}

static int cmp_client_ep(const void *x, const void *y)
{
    const lc_attempt *a = *(const lc_attempt *const *)x, *b = *(const lc_attempt *const *)y;
    int c = memcmp(&a->client, &b->client, sizeof a->client);
    if (c == 0)
        c = memcmp(&a->server, &b->server, sizeof a->server);
    if (c == 0)
        c = (int)a->server_port - (int)b->server_port;
    return c;
}

/* Mark the probes of every source that scans (LC_SCAN_ENDPOINTS).  Runs
 * after the outcomes are settled.  0 or -ENOMEM. */
static int mark_scans(lc_stage *s)
{
    size_t n = 0;
    for (size_t i = 0; i < s->n_att; i++)
        n += probe_candidate(&s->att[i]);
    if (n < LC_SCAN_ENDPOINTS)
        return 0;
    lc_attempt **v = malloc(n * sizeof *v);
    if (v == NULL)
        return -ENOMEM;
    for (size_t i = 0, k = 0; i < s->n_att; i++)
        if (probe_candidate(&s->att[i]))
            v[k++] = &s->att[i];
    qsort(v, n, sizeof *v, cmp_client_ep);
    for (size_t i = 0, j; i < n; i = j) {
        size_t endpoints = 1;
        for (j = i + 1; j < n && memcmp(&v[j]->client, &v[i]->client, sizeof v[i]->client) == 0; j++)
            endpoints += v[j]->server_port != v[j - 1]->server_port ||
                         memcmp(&v[j]->server, &v[j - 1]->server, sizeof v[j]->server) != 0;
        const host_dirs *h = host_find(s, &v[i]->client, 0);
        if (endpoints < LC_SCAN_ENDPOINTS || h == NULL || (uint64_t)(j - i) * 2 < h->attempts)
            continue;
        s->acc.scanners++;
        for (size_t k = i; k < j; k++) {
            v[k]->probe = true;
            s->acc.probes++;
        }
    }
    free(v);
    return 0;
}

static size_t seen_bit(const lc_stage *s, uint64_t first_packet)
{
    return (size_t)fmix64(first_packet ^ s->seed) & s->seen_mask;
}

/* Detectors ask about every connection; few were not ok.  16 bits an
 * attempt: a look-up of an ok one rarely gets past the bitmap. */
static int build_seen(lc_stage *s)
{
    size_t bits = 1024;
    while (bits < s->n_att * 16 && bits < ((size_t)1 << 40))
        bits *= 2;
    s->seen = calloc(bits / 64, sizeof *s->seen);
    if (s->seen == NULL)
        return s->oom = true, -ENOMEM;
    s->seen_mask = bits - 1;
    for (size_t i = 0; i < s->n_att; i++) {
        size_t b = seen_bit(s, s->att[i].first_packet);
        s->seen[b / 64] |= 1ull << (b % 64);
    }
    return 0;
}

int lc_finish(lc_stage *s)
{
    if (s->finished)
        return s->oom ? -ENOMEM : 0;
    s->finished = true;
    if (s->oom)
        return -ENOMEM;
    if (s->n_icmp > 1)
        qsort(s->icmp, s->n_icmp, sizeof *s->icmp, cmp_icmp);
    size_t n_slow = 0;
    for (size_t i = 0; i < s->n_att; i++) {
        settle(s, &s->att[i]);
        n_slow += s->att[i].outcome == LC_SLOW;
    }
    if (mark_scans(s) != 0)
        return s->oom = true, -ENOMEM;
    double *d = n_slow ? malloc(n_slow * sizeof *d) : NULL;
    if (n_slow && d == NULL)
        return s->oom = true, -ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i < s->n_att; i++) {
        const lc_attempt *a = &s->att[i];
        s->acc.by_outcome[a->outcome]++;
        if (lc_is_failure(a->outcome))
            s->acc.failed++;
        if (a->outcome == LC_NO_VERDICT)
            s->acc.no_verdict_by[a->detail]++;
        if (a->outcome == LC_SLOW)
            d[k++] = a->delay_s;
    }
    if (k > 0) {
        qsort(d, k, sizeof *d, cmp_double);
        s->acc.slow_median_s = k % 2 ? d[k / 2] : (d[k / 2 - 1] + d[k / 2]) / 2;
        s->acc.slow_max_s = d[k - 1];
    }
    free(d);
    for (size_t i = 0; i < s->hosts.n; i++)
        s->acc.one_direction_hosts += !s->hosts.v[i].inbound_seen;
    if (s->n_att > 1)
        qsort(s->att, s->n_att, sizeof *s->att, cmp_first_packet);
    return build_seen(s);
}

const lc_attempt *lc_attempts(const lc_stage *s, size_t *n)
{
    *n = s->n_att;
    return s->att;
}

long lc_attempt_find(const lc_stage *s, uint64_t first_packet)
{
    if (s->seen == NULL)
        return -1;
    size_t b = seen_bit(s, first_packet);
    if (!((s->seen[b / 64] >> (b % 64)) & 1))
        return -1;
    size_t lo = 0, hi = s->n_att;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        uint64_t k = s->att[mid].first_packet;
        if (k == first_packet)
            return (long)mid;
        if (k < first_packet)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

bool lc_server(const lc_stage *s, const pkt_addr *addr, uint16_t port, lc_server_facts *out)
{
    memset(out, 0, sizeof *out);
    const host_dirs *h = host_find(s, addr, port);
    if (h == NULL)
        return false;
    out->connected = h->connected;
    out->synack_ttl = h->synack_ttl;
    return true;
}

const lc_accounting *lc_account(const lc_stage *s)
{
    return &s->acc;
}
