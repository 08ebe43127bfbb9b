/* timewait_reuse.c - detector: a SYN reuses a 4-tuple whose previous incarnation may still be in TIME_WAIT. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diagnose/tw_internal.h"

/*
 * Every reuse of a 4-tuple becomes a tw_event in the shared context (other
 * detectors read them).  A reuse is a TIME_WAIT reuse when the previous
 * incarnation closed with FINs less than the longest TIME_WAIT a stack uses
 * (240 s, Windows 2000/XP/2003, tcp-behaviour.md 10) before the new SYN.
 * Only the side that sent the first FIN holds TIME_WAIT (RFC 9293 3.6); an
 * RST close leaves none (RFC 9293 3.10.7.1, tcp-behaviour.md 1.2).
 *
 * The answer to the new SYN says what the closer did (tcp-behaviour.md 9.2):
 *   accepted    SYN-ACK to the first SYN (Linux accepts a SYN in TIME_WAIT
 *               whose SEQ or TSval is newer, RFC 6191; BSD by SEQ);
 *   stale ACK   a bare ACK carrying the old connection's numbers, the
 *               client's RST, a SYN retransmission (Linux
 *               tcp_timewait_state_process(): the TW ACK);
 *   ignored     nothing: Windows servers, FreeBSD and macOS drop such SYNs
 *               silently; the client retries on its schedule;
 *   reset       an RST to the SYN.
 * A bare ACK is a stale ACK only when it names no byte of this incarnation
 * and the tuple is not then used normally (tw_stale.c: a capture that
 * missed the SYN-ACK shows the server's ACK of the request there); one
 * that does is an accepted reuse whose SYN-ACK was not captured.
 */

#define GROUP_EVIDENCE_EVENTS 3     /* events listed in full per finding */

/* Recent connections the server closed first, to find which one a stale
 * ACK acknowledges (its ack is that connection's client final sequence). */
#define CLOSED_RING 8192

typedef struct closed_conn {
    pkt_addr server, client;
    uint16_t server_port, client_port;
    uint32_t client_final_seq;
    uint64_t first_packet, last_packet;
    int64_t  last_ts;
    uint8_t  client_ttl;
} closed_conn;

typedef struct tw_state {
    closed_conn ring[CLOSED_RING];
    size_t next, n;
    tw_answers answers;         /* the server's side of each stale-ACK event */
} tw_state;

static void *tw_create(diag_ctx *ctx)
{
    (void)ctx;
    return calloc(1, sizeof(tw_state));
}

static void tw_destroy(void *p)
{
    tw_state *st = p;
    if (st != NULL)
        tw_answers_free(&st->answers);
    free(st);
}

static void remember_closed(tw_state *st, const flow_conn *c)
{
    if (c->closed_by != FLOW_SIDE_SERVER || c->reset_by != FLOW_SIDE_NONE || !c->client.seq_seen)
        return;
    closed_conn *r = &st->ring[st->next];
    st->next = (st->next + 1) % CLOSED_RING;
    if (st->n < CLOSED_RING)
        st->n++;
    r->server = c->server.addr;
    r->client = c->client.addr;
    r->server_port = c->server.port;
    r->client_port = c->client.port;
    r->client_final_seq = c->client.next_seq;
    r->first_packet = c->first_packet;
    r->last_packet = c->last_packet;
    r->last_ts = c->last_ts;
    r->client_ttl = c->client.ttl_first;
}

/* The server-closed connection whose client final sequence the stale ACK
 * acknowledges: the latest one to that server ended before the SYN; NULL
 * when none is remembered. */
static const closed_conn *find_acked(const tw_state *st, const tw_event *e)
{
    const closed_conn *best = NULL;
    for (size_t i = 0; i < st->n; i++) {
        const closed_conn *r = &st->ring[i];
        if (r->client_final_seq == e->stale_ack && r->server_port == e->server_port &&
            r->last_ts <= e->syn_ts && memcmp(r->server.b, e->server.b, 16) == 0 &&
            (best == NULL || r->last_ts > best->last_ts))
            best = r;
    }
    return best;
}

/* Resolve every unpaired stale ACK once, into the shared event, so other
 * detectors (isn-not-increasing) read the link instead of searching again. */
static int link_stale_acks(const tw_state *st, diag_ctx *ctx)
{
    for (size_t i = 0; i < ctx->n_tw; i++) {
        const tw_event *e = diag_tw(ctx, i);
        const closed_conn *r = e->unpaired ? find_acked(st, e) : NULL;
        if (r == NULL)
            continue;
        tw_extra *x = diag_ctx_tw_extra_of(ctx, i);
        if (x == NULL)
            return -ENOMEM;
        x->acked_found = true;
        x->acked_client = r->client;
        x->acked_client_port = r->client_port;
        x->acked_client_final_seq = r->client_final_seq;
        x->acked_first_packet = r->first_packet;
        x->acked_last_packet = r->last_packet;
        x->acked_last_ts = r->last_ts;
    }
    return 0;
}

/* SYNs sent before the first answer (all of them when none came). */
static unsigned syns_before_answer(const flow_conn *c)
{
    /* by frame order, not time: at the server the answer can carry the
       same time stamp as the SYN it answers */
    unsigned n = 0;
    uint64_t ans = c->first_answer == FLOW_HS_NONE ? UINT64_MAX : c->handshake_packet;
    for (unsigned i = 0; i < c->syn_count && i < FLOW_MAX_SYN; i++)
        if (c->syn_packet[i] < ans)
            n++;
    return n ? n : 1;
}

/* The new incarnation's side of an event: its SYNs and what answered them;
 * true when x, its extra part, holds something. */
static bool fill_current(tw_event *ev, tw_extra *x, const flow_conn *cur)
{
    ev->client = cur->client.addr;
    ev->server = cur->server.addr;
    ev->client_port = cur->client.port;
    ev->server_port = cur->server.port;
    ev->syn_ts = cur->syn_ts[0];
    ev->syn_packet = cur->syn_packet[0];
    ev->syn_count = cur->syn_count;
    ev->succeeded = cur->handshake == FLOW_HS_SYNACK;
    ev->answer_packet = cur->handshake_packet;
    ev->stale_ack = cur->handshake_ack;
    /* a bare ACK of this incarnation's own bytes: the SYN-ACK was not captured */
    bool own_ack = cur->first_answer == FLOW_HS_ACK_ONLY && tw_ack_kind(cur) == TW_ACK_OWN;
    switch (cur->first_answer) {
    case FLOW_HS_SYNACK:
        ev->outcome = syns_before_answer(cur) > 1 ? TW_IGNORED : TW_ACCEPTED;
        break;
    case FLOW_HS_ACK_ONLY:
        ev->outcome = !own_ack ? TW_STALE_ACK
                      : syns_before_answer(cur) > 1 ? TW_IGNORED : TW_ACCEPTED;
        break;
    case FLOW_HS_RST: ev->outcome = TW_RESET; break;
    default: ev->outcome = TW_IGNORED; break;
    }
    if (own_ack && !ev->succeeded) {
        ev->succeeded = true;
        ev->delay_s = diag_secs(cur->handshake_ts - cur->syn_ts[0]);
    } else if (ev->succeeded) {
        ev->delay_s = diag_secs(cur->synack_ts - cur->syn_ts[0]);
    } else {
        ev->delay_s = diag_secs(cur->last_ts - cur->syn_ts[0]);
    }
    ev->gave_up_rst = !ev->succeeded && cur->client.rst_count > 0;
    for (unsigned i = 1; i < cur->syn_count && i < FLOW_MAX_SYN && x->n_retry < 4; i++) {
        x->retry_packet[x->n_retry] = cur->syn_packet[i];
        x->retry_ts[x->n_retry++] = cur->syn_ts[i];
    }
    if (ev->gave_up_rst) {
        x->giveup_packet = cur->client.rst_packet;
        x->giveup_ts = cur->client.rst_ts;
    }
    ev->cur_ts_seen = cur->client.syn_opts_seen && cur->client.syn_opts.has_ts;
    ev->cur_client_tsval_syn = cur->client.syn_opts.tsval;
    ev->cur_client_isn = cur->client.isn;
    ev->cur_client_ttl = cur->client.ttl_first;
    ev->first_packet = cur->first_packet;
    return x->n_retry > 0 || ev->gave_up_rst;
}

/*
 * A first SYN answered by a stale ACK (tw_ack_kind(): it acknowledges
 * nothing this client sent in this incarnation, and the tuple was not then
 * used normally), with no earlier incarnation of the 4-tuple in the
 * capture: the answerer holds an older connection on this 4-tuple that the
 * capture does not show - its TIME_WAIT, or a stale connection.  Seen
 * inside a NAT, it is another inside host's connection that went out with
 * the same outside port (tcp-behaviour.md 9.2: "the ACK in step 2 appears
 * from nowhere").
 */
static void tw_conn(void *p, const flow_conn *c, diag_ctx *ctx)
{
    tw_state *st = p;
    remember_closed(st, c);
    if (c->first_answer != FLOW_HS_ACK_ONLY || c->syn_count == 0 || c->roles_inferred ||
        c->incarnation != 1 || tw_ack_kind(c) != TW_ACK_STALE)
        return;
    tw_event ev;
    tw_extra x;
    memset(&ev, 0, sizeof ev);
    memset(&x, 0, sizeof x);
    bool more = fill_current(&ev, &x, c);
    ev.unpaired = true;
    ev.prev_closer = FLOW_SIDE_SERVER;  /* whoever answers from TIME_WAIT closed first */
    ev.gap_s = -1;
    if (diag_ctx_add_tw(ctx, &ev, more ? &x : NULL) != 0 ||
        tw_answers_add(&st->answers, ctx->n_tw - 1, c) != 0)
        ctx->oom = true;
}

static void tw_reuse(void *p, const diag_prev *prev, const flow_conn *cur, diag_ctx *ctx)
{
    tw_state *st = p;
    /* Only a new client SYN on the same roles says anything about reuse. */
    if (cur->syn_count == 0 || cur->roles_inferred || prev->client_port != cur->client.port ||
        memcmp(prev->client.b, cur->client.addr.b, 16) != 0)
        return;
    tw_event ev;
    tw_extra x;
    memset(&ev, 0, sizeof ev);
    memset(&x, 0, sizeof x);
    bool more = fill_current(&ev, &x, cur);
    ev.prev_closer = prev->closed_by;
    ev.prev_reset = prev->reset;
    ev.prev_close_ts = prev->last_ts;
    ev.prev_close_packet = prev->last_packet;
    ev.prev_fin_packet = prev->closer_fin_packet;
    ev.prev_fin_ts = prev->closer_fin_ts;
    ev.gap_s = diag_secs(cur->syn_ts[0] - prev->last_ts);
    ev.prev_ts_seen = prev->client_ts_seen;
    ev.prev_client_tsval_last = prev->client_tsval_last;
    ev.prev_client_final_seq = prev->client_next_seq;
    ev.isn_not_above = prev->client_seq_seen && cur->client.isn_seen &&
                       !diag_seq_gt(cur->client.isn, prev->client_next_seq);
    ev.prev_client_ttl = prev->client_ttl;
    if (diag_ctx_add_tw(ctx, &ev, more ? &x : NULL) != 0 ||
        (ev.outcome == TW_STALE_ACK && tw_answers_add(&st->answers, ctx->n_tw - 1, cur) != 0))
        ctx->oom = true;
}

/* ---- findings ---------------------------------------------------------- */

/* A reuse that can have met the server's TIME_WAIT: the server closed
 * first (only the first closer holds TIME_WAIT, RFC 9293 3.6).  After a
 * client close the server is CLOSED once its FIN is acknowledged; only a
 * stale ACK (the server still in LAST_ACK, tcp-behaviour.md 3.7) says
 * otherwise. */
static bool is_tw_hit(const tw_event *e)
{
    if (e->unpaired || e->prev_reset || e->gap_s < 0 || e->gap_s >= TW_MAX_S)
        return false;
    return e->prev_closer == FLOW_SIDE_SERVER ||
           (e->prev_closer == FLOW_SIDE_CLIENT && e->outcome == TW_STALE_ACK);
}

bool tw_is_stale_hit(const tw_event *e)
{
    return e->outcome == TW_STALE_ACK && (e->unpaired || is_tw_hit(e));
}

static const char *outcome_name(enum tw_outcome o)
{
    switch (o) {
    case TW_ACCEPTED: return "accepted";
    case TW_STALE_ACK: return "stale-ack";
    case TW_IGNORED: return "ignored";
    case TW_RESET: return "reset";
    }
    return "?";
}

static const char *who_holds(enum flow_side closer)
{
    return closer == FLOW_SIDE_SERVER ? "server" : "client";
}

/* What the answer to the new SYN looked like, in the vantage's words. */
static const char *answer_words(enum tw_outcome o, enum diag_vantage v)
{
    switch (o) {
    case TW_ACCEPTED:
        return "answered the new SYN with a SYN-ACK: the reuse was accepted";
    case TW_STALE_ACK:
        return "answered the new SYN with an ACK of the old connection (a Linux "
               "TIME_WAIT answer); the client reset it and retried";
    case TW_RESET:
        return "answered the new SYN with an RST";
    case TW_IGNORED:
        return v == DIAG_VANTAGE_CLIENT
                   ? "never answered the new SYN as seen from the client: the SYNs were "
                     "ignored or dropped, and the client retried"
                   : "ignored the new SYN: no SYN-ACK, no ACK, no RST, and the client retried";
    }
    return "";
}

static void event_evidence(diag_finding *f, const diag_ctx *ctx, const tw_event *e,
                           const flow_conn *unused)
{
    (void)unused;
    char c[64], s[64];
    diag_endpoint(&e->client, e->client_port, c, sizeof c);
    diag_endpoint(&e->server, e->server_port, s, sizeof s);
    if (e->prev_fin_packet != 0)
        diag_evidence_add(f, e->prev_fin_packet, e->prev_fin_ts,
                          "%8.3f  %s %s %s  FIN: the %s closes first and will hold TIME_WAIT",
                          diag_rel(ctx, e->prev_fin_ts),
                          e->prev_closer == FLOW_SIDE_SERVER ? s : c,
                          ">", e->prev_closer == FLOW_SIDE_SERVER ? c : s,
                          who_holds(e->prev_closer));
    diag_evidence_add(f, e->prev_close_packet, e->prev_close_ts,
                      "%8.3f  %s ~ %s  last packet of the previous incarnation",
                      diag_rel(ctx, e->prev_close_ts), c, s);
    diag_evidence_add(f, e->syn_packet, e->syn_ts,
                      "%8.3f  %s > %s  SYN reusing the 4-tuple %.1f s after that close",
                      diag_rel(ctx, e->syn_ts), c, s, e->gap_s);
    if (e->answer_packet != 0 && e->outcome != TW_IGNORED)
        diag_evidence_add(f, e->answer_packet, 0, "          %s  %s",
                          outcome_name(e->outcome), answer_words(e->outcome, ctx->vantage));
    const tw_extra *x = diag_tw_extra(ctx, e);
    for (unsigned i = 0; x != NULL && i < x->n_retry; i++)
        diag_evidence_add(f, x->retry_packet[i], x->retry_ts[i],
                          "%8.3f  %s > %s  SYN retransmitted (+%.2f s)%s",
                          diag_rel(ctx, x->retry_ts[i]), c, s,
                          diag_secs(x->retry_ts[i] - e->syn_ts),
                          e->outcome == TW_IGNORED && !e->succeeded ? ", ignored" : "");
    if (e->gave_up_rst && x != NULL)
        diag_evidence_add(f, x->giveup_packet, x->giveup_ts,
                          "%8.3f  %s > %s  RST: the client gives up %.1f s after its first SYN",
                          diag_rel(ctx, x->giveup_ts), c, s, diag_secs(x->giveup_ts - e->syn_ts));
    if (e->syn_count > 1)
        diag_evidence_add(f, 0, 0, "          %u SYN transmissions in all; %s after %.3g s",
                          e->syn_count,
                          e->succeeded ? "connected" : (e->gave_up_rst ? "the client gave up"
                                                                       : "never connected"),
                          e->delay_s);
}

/* "68 s" or "30-68 s" (one decimal below 10 s). */
static void secs_span(char *buf, size_t len, double lo, double hi)
{
    char a[24], b[24];
    if (lo > 1e9 || hi > 1e9 || lo < 0 || hi < 0)
        lo = hi = -1;   /* cannot happen for reuse gaps; keeps the text short */
    snprintf(a, sizeof a, lo < 10 ? "%.1f" : "%.0f", lo);
    snprintf(b, sizeof b, hi < 10 ? "%.1f" : "%.0f", hi);
    int n = strcmp(a, b) == 0 ? snprintf(buf, len, "%s s", a)
                              : snprintf(buf, len, "%s-%s s", a, b);
    if (n < 0 && len > 0)
        buf[0] = '\0';
}

/* The outcome in a summary's words. */
static const char *outcome_words(enum tw_outcome o)
{
    switch (o) {
    case TW_ACCEPTED: return "accepted";
    case TW_STALE_ACK: return "answered with the old connection's ACK, reset and retried";
    case TW_IGNORED: return "the SYNs were ignored";
    case TW_RESET: return "refused with RST";
    }
    return "?";
}

/* One finding per (server endpoint, outcome, closer).  The key is the first
 * 26 bytes, server to port, with no padding inside (the index compares
 * bytes).  The group's events are chained in event order: first, then
 * along next[] (tw_finish) up to last. */
typedef struct group {
    pkt_addr server;
    enum tw_outcome outcome;
    enum flow_side closer;
    uint16_t port;
    size_t first;           /* index of the first event */
    size_t last;            /* and of the last */
    uint64_t n, failed;
    double gap_min, gap_max, delay_max, delay_sum;
} group;

_Static_assert(offsetof(group, port) ==
                   sizeof(pkt_addr) + sizeof(enum tw_outcome) + sizeof(enum flow_side),
               "no padding inside a group's key");

/*
 * A server that ignores SYNs on a tuple in TIME_WAIT (Windows, and FreeBSD
 * or macOS for old sequence numbers: tcp-behaviour.md 9.2) ignores every
 * reuse within its TIME_WAIT and accepts those after it: one threshold.  So
 * per server endpoint, every "ignored" reuse must have come sooner after
 * the close than every reuse accepted at once, and sooner than the moment a
 * retried SYN was finally accepted.  When that fails, the ignored SYNs were
 * lost on the way (a retry a second later succeeds while an earlier reuse
 * was accepted at once): they are not TIME_WAIT's doing.  A stale ACK is the
 * server's own word that it holds the old connection and needs no check.
 *
 * An acceptance sets that threshold only when the server would have refused
 * the SYN inside TIME_WAIT: an older ISN (RFC 1122 4.2.2.13) and no newer
 * TSval (RFC 6191), tw_internal.h.  One taken by a newer ISN (or TSval)
 * says instead that the server takes such SYNs, or that its TIME_WAIT was
 * over: either way a later ignored SYN that also had a newer ISN (TSval)
 * was lost.
 */
typedef struct ignored_check {
    double lower;           /* latest ignored reuse */
    double upper;           /* earliest acceptance the rules would have refused */
    double upper_seq;       /* earliest acceptance of a SYN with a newer ISN */
    double upper_ts;        /* ... with a newer TSval */
    bool   any_ignored;
} ignored_check;

static void ignored_check_add(ignored_check *k, const tw_event *e)
{
    static const tw_rules none;
    if (e->outcome == TW_IGNORED) {
        k->any_ignored = true;
        if (e->gap_s > k->lower)
            k->lower = e->gap_s;
        /* the retry that got through carries the same ISN: it bounds only
           when refusable (it may have come just after the TIME_WAIT) */
        if (e->succeeded && tw_would_refuse(e, &none) && e->gap_s + e->delay_s < k->upper)
            k->upper = e->gap_s + e->delay_s;
    } else if (e->outcome == TW_ACCEPTED) {
        if (tw_would_refuse(e, &none) && e->gap_s < k->upper)
            k->upper = e->gap_s;
        if (tw_seq_newer(e) && e->gap_s < k->upper_seq)
            k->upper_seq = e->gap_s;
        if (tw_ts_newer(e) && e->gap_s < k->upper_ts)
            k->upper_ts = e->gap_s;
    }
}

/* An ignored reuse that the group's acceptances show was lost. */
static bool ignored_lost(const ignored_check *k, const tw_event *e)
{
    return e->outcome == TW_IGNORED &&
           ((tw_seq_newer(e) && e->gap_s >= k->upper_seq) ||
            (tw_ts_newer(e) && e->gap_s >= k->upper_ts));
}

static int check_ignored_consistency(diag_ctx *ctx)
{
    diag_ep_groups eg;
    int rc = diag_ep_groups_init(&eg, ctx->n_tw, (uint64_t)(uintptr_t)ctx * 0xc2b2ae3d27d4eb4fULL);
    for (size_t i = 0; i < ctx->n_tw && rc == 0; i++) {
        const tw_event *e = diag_tw(ctx, i);
        if (is_tw_hit(e) && e->prev_closer == FLOW_SIDE_SERVER &&
            diag_ep_groups_add(&eg, &e->server, e->server_port, i) < 0)
            rc = -ENOMEM;
    }
    for (size_t g = 0; g < eg.n && rc == 0; g++) {
        const diag_ep_group *gr = &eg.v[g];
        ignored_check k = { .lower = -1, .upper = 1e300, .upper_seq = 1e300, .upper_ts = 1e300 };
        for (size_t i = gr->first, m = 0; m < gr->n; i = eg.next[i], m++)
            ignored_check_add(&k, diag_tw(ctx, i));
        if (!k.any_ignored)
            continue;
        bool lost = k.lower >= k.upper;
        for (size_t i = gr->first, m = 0; m < gr->n && !lost; i = eg.next[i], m++)
            lost = ignored_lost(&k, diag_tw(ctx, i));
        if (!lost)
            continue;
        for (size_t i = gr->first, m = 0; m < gr->n; i = eg.next[i], m++)
            if (diag_tw(ctx, i)->outcome == TW_IGNORED)
                diag_tw(ctx, i)->not_tw = true;
    }
    diag_ep_groups_free(&eg);
    return rc;
}

/* Which events are TIME_WAIT's, the findings that go before the groups'
 * (a nearby device's, then the unpaired stale ACKs'), and the claims. */
static int tw_prepare(tw_state *st, diag_ctx *ctx, diag_findings *out)
{
    /* SYNs a more specific cause already explains (paws-reject: a per-host
       timestamp check dropped them) are not TIME_WAIT's doing. */
    for (size_t i = 0; i < ctx->n_tw; i++)
        if (diag_tw(ctx, i)->outcome == TW_IGNORED && !diag_tw(ctx, i)->unpaired &&
            diag_ctx_is_explained(ctx, diag_tw(ctx, i)->first_packet))
            diag_tw(ctx, i)->not_tw = true;
    if (check_ignored_consistency(ctx) != 0)
        return -ENOMEM;
    /* Stale ACKs that one nearby device sent for several servers are its
       doing, not the servers' TIME_WAIT (tw_stale.c); it claims them first. */
    if (tw_device_finding(&st->answers, ctx, out) < 0)
        return -ENOMEM;
    /* Failed SYNs explained here are not syn-unanswered's. */
    for (size_t i = 0; i < ctx->n_tw; i++) {
        const tw_event *e = diag_tw(ctx, i);
        if (!e->not_tw && (e->unpaired || (is_tw_hit(e) && e->outcome != TW_ACCEPTED)))
            if (diag_ctx_explain(ctx, e->first_packet) != 0)
                return -ENOMEM;
    }
    if (link_stale_acks(st, ctx) != 0)
        return -ENOMEM;
    return tw_unpaired_findings(ctx, out);
}

/* One group per (server endpoint, outcome, closer) of the TIME_WAIT hits,
 * its events chained along next[] (n_tw entries).  0 or -ENOMEM (*gp is
 * the caller's to free either way). */
static int build_groups(const diag_ctx *ctx, group **gp, size_t *ngp, size_t *next)
{
    static const diag_table tab = { sizeof(group), offsetof(group, server),
                                    offsetof(group, port) + sizeof(uint16_t) };
    diag_index ix = { .seed = (uint64_t)(uintptr_t)ctx * 0x165667b19e3779f9ULL };
    group *g = NULL;
    size_t ng = 0, capg = 0;
    int rc = 0;
    for (size_t i = 0; i < ctx->n_tw; i++) {
        const tw_event *e = diag_tw(ctx, i);
        if (!is_tw_hit(e) || e->not_tw)
            continue;
        /* A clean accept of a SYN on a tuple the client closed is the normal
           way a client reuses its own port: not worth a finding. */
        if (e->outcome == TW_ACCEPTED && e->prev_closer == FLOW_SIDE_CLIENT)
            continue;
        group key;
        memset(&key, 0, sizeof key);
        key.server = e->server;
        key.outcome = e->outcome;
        key.closer = e->prev_closer;
        key.port = e->server_port;
        bool created;
        void *v = g;
        long k = diag_index_get(&ix, &tab, &v, &ng, &capg, &key, &created);
        g = v;
        if (k < 0) {
            rc = -ENOMEM;
            break;
        }
        group *gr = &g[k];
        if (created) {
            gr->first = i;
            gr->gap_min = gr->gap_max = e->gap_s;
        } else {
            next[gr->last] = i;
        }
        gr->last = i;
        gr->n++;
        if (!e->succeeded)
            gr->failed++;
        if (e->gap_s < gr->gap_min) gr->gap_min = e->gap_s;
        if (e->gap_s > gr->gap_max) gr->gap_max = e->gap_s;
        if (e->delay_s > gr->delay_max) gr->delay_max = e->delay_s;
        gr->delay_sum += e->delay_s;
    }
    diag_index_reset(&ix);
    *gp = g;
    *ngp = ng;
    return rc;
}

/* The finding of one group. 0 or -ENOMEM. */
static int group_finding(const group *gr, const size_t *next, const diag_ctx *ctx,
                         diag_findings *out)
{
    enum diag_severity sev = gr->outcome == TW_ACCEPTED ? DIAG_INFO
                             : gr->failed > 0 ? DIAG_ERROR : DIAG_WARNING;
    double conf = gr->outcome == TW_ACCEPTED ? 0.6 : gr->outcome == TW_STALE_ACK ? 0.95 : 0.8;
    diag_finding *f = diag_add(out, "timewait-reuse", sev, conf);
    if (f == NULL)
        return -ENOMEM;
    f->events = gr->n;
    f->server = gr->server;
    f->server_port = gr->port;
    f->has_server = true;
    char s[64];
    diag_endpoint(&gr->server, gr->port, s, sizeof s);
    const tw_event *e0 = diag_tw(ctx, gr->first);
    if (gr->outcome == TW_ACCEPTED) {
        char span[64];
        secs_span(span, sizeof span, gr->gap_min, gr->gap_max);
        diag_summary(f, "%llu SYN%s to %s reused a 4-tuple the server had closed %s "
                     "earlier (still within a possible TIME_WAIT); the server accepted %s",
                     (unsigned long long)gr->n, gr->n == 1 ? "" : "s", s, span,
                     gr->n == 1 ? "it" : "them");
    } else {
        char span[64];
        secs_span(span, sizeof span, gr->gap_min, gr->gap_max);
        diag_summary(f, "%llu connection attempt%s to %s reused a 4-tuple %s after the %s "
                     "closed it and met its TIME_WAIT: %s%s", (unsigned long long)gr->n,
                     gr->n == 1 ? "" : "s", s, span, who_holds(gr->closer),
                     outcome_words(gr->outcome),
                     gr->failed == gr->n ? "; never connected"
                     : gr->failed ? "; some never connected" : "");
    }
    char c[64];
    diag_endpoint(&e0->client, e0->client_port, c, sizeof c);
    diag_explain(f, "The client %s opened a connection at packet %llu, %.1f s after the "
                 "previous connection on the same 4-tuple ended (packet %llu). The %s had "
                 "closed that one first, so it keeps the 4-tuple in TIME_WAIT (Linux and "
                 "FreeBSD 60 s, macOS 30 s, Windows 120-240 s). The %s %s.",
                 c, (unsigned long long)e0->syn_packet, e0->gap_s,
                 (unsigned long long)e0->prev_close_packet, who_holds(gr->closer),
                 gr->closer == FLOW_SIDE_SERVER ? "server" : "peer",
                 answer_words(gr->outcome, ctx->vantage));
    if (gr->outcome != TW_ACCEPTED) {
        diag_explain(f, "In all, %llu attempt%s met this; %llu never connected. The longest "
                     "delay a client suffered was %.3g s (mean %.3g s). A client that picks "
                     "the same source port this soon is usually a NAT handing the port of a "
                     "closed mapping to another inside host, or a proxy with a small port "
                     "pool: see nat-timewait-mismatch.",
                     (unsigned long long)gr->n, gr->n == 1 ? "" : "s",
                     (unsigned long long)gr->failed, gr->delay_max, gr->delay_sum / (double)gr->n);
    } else {
        diag_explain(f, "This is harmless when the server accepts the new SYN (Linux accepts a "
                     "SYN in TIME_WAIT whose sequence number or timestamp is newer, RFC 6191); "
                     "it shows clients, or a NAT in front of them, reusing ports within the "
                     "server's TIME_WAIT, which fails with servers that do not accept them.");
    }
    diag_param_add(f, "gap_min_s", gr->gap_min, "s");
    diag_param_add(f, "gap_max_s", gr->gap_max, "s");
    diag_param_add(f, "delay_max_s", gr->delay_max, "s");
    diag_param_add(f, "failed", (double)gr->failed, "attempts");
    size_t listed = 0;
    for (size_t i = gr->first; listed < GROUP_EVIDENCE_EVENTS && listed < gr->n; i = next[i]) {
        event_evidence(f, ctx, diag_tw(ctx, i), NULL);
        listed++;
    }
    if (gr->n > listed)
        f->evidence_omitted += gr->n - listed;
    if (gr->outcome != TW_ACCEPTED) {
        diag_remedy_add(f, "Make the NAT (or proxy) in front of the clients hold a closed "
                           "mapping at least as long as the server's TIME_WAIT before it "
                           "reuses the port (e.g. Linux nf_conntrack_tcp_timeout_time_wait, "
                           "Cisco ip nat translation finrst-timeout)",
                        "the NAT keeps more entries; check its table size");
        diag_remedy_add(f, "Shorten the server's TIME_WAIT to below the NAT's reuse interval "
                           "(Windows TcpTimedWaitDelay; Linux's 60 s is fixed)",
                        "late duplicates of old connections have less time to die out (RFC 1337)");
        diag_remedy_add(f, "Let the clients close first (keep-alive, or Connection: close sent "
                           "by the client), so TIME_WAIT stays on their side",
                        "moves TIME_WAIT and its port cost to the clients or the NAT");
        diag_remedy_add(f, "Stop NATting these clients, or give the NAT more addresses so each "
                           "port is reused less often",
                        "needs address space; more addresses only lengthen the interval");
    }
    return 0;
}

static int tw_finish(void *p, diag_ctx *ctx, diag_findings *out)
{
    tw_state *st = p;
    if (tw_prepare(st, ctx, out) != 0)
        return -ENOMEM;
    group *g = NULL;
    size_t ng = 0;
    size_t *next = malloc((ctx->n_tw ? ctx->n_tw : 1) * sizeof *next);
    int rc = next == NULL ? -ENOMEM : build_groups(ctx, &g, &ng, next);
    for (size_t k = 0; k < ng && rc == 0; k++)
        rc = group_finding(&g[k], next, ctx, out);
    free(g);
    free(next);
    return rc;
}

const diag_detector diag_det_timewait_reuse = {
    .id = "timewait-reuse",
    .create = tw_create,
    .conn = tw_conn,
    .reuse = tw_reuse,
    .finish = tw_finish,
    .destroy = tw_destroy,
};
