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
 *
 * This file gathers the events and runs the stages (tw_finish); tw_judge.c
 * judges them into verdicts (tw_internal.h), tw_words.c words each verdict,
 * tw_stale.c judges and words stale ACKs.
 */

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

/* ---- which reuses met a TIME_WAIT ---------------------------------------- */

/* A reuse that can have met the server's TIME_WAIT: the server closed
 * first (only the first closer holds TIME_WAIT, RFC 9293 3.6).  After a
 * client close the server is CLOSED once its FIN is acknowledged; only a
 * stale ACK (the server still in LAST_ACK, tcp-behaviour.md 3.7) says
 * otherwise. */
bool tw_is_hit(const tw_event *e)
{
    if (e->unpaired || e->prev_reset || e->gap_s < 0 || e->gap_s >= TW_MAX_S)
        return false;
    return e->prev_closer == FLOW_SIDE_SERVER ||
           (e->prev_closer == FLOW_SIDE_CLIENT && e->outcome == TW_STALE_ACK);
}

bool tw_is_stale_hit(const tw_event *e)
{
    return e->outcome == TW_STALE_ACK && (e->unpaired || tw_is_hit(e));
}

/* The detector's stages in order: which events are TIME_WAIT's (tw_judge.c),
 * the findings that go before the groups' (a nearby device's, then the
 * unpaired stale ACKs'), the claims, and the verdicts of the groups (*j,
 * tw_judgement_free() in every case).  0 or -ENOMEM. */
static int tw_prepare(tw_state *st, diag_ctx *ctx, diag_findings *out, tw_judgement *j)
{
    memset(j, 0, sizeof *j);
    if (tw_judge_causes(ctx) != 0)
        return -ENOMEM;
    /* Stale ACKs that one nearby device sent for several servers are its
       doing, not the servers' TIME_WAIT (tw_stale.c); it claims them first. */
    if (tw_device_finding(&st->answers, ctx, out) < 0)
        return -ENOMEM;
    if (tw_judge(ctx, j) != 0)
        return -ENOMEM;
    /* Failed SYNs explained here are not syn-unanswered's. */
    for (size_t i = 0; i < j->n_claim; i++)
        if (diag_ctx_explain(ctx, j->claim[i]) != 0)
            return -ENOMEM;
    if (link_stale_acks(st, ctx) != 0)
        return -ENOMEM;
    return tw_unpaired_findings(ctx, out);
}

static int tw_finish(void *p, diag_ctx *ctx, diag_findings *out)
{
    tw_state *st = p;
    tw_judgement j;
    int rc = tw_prepare(st, ctx, out, &j);
    for (size_t k = 0; k < j.n && rc == 0; k++)
        rc = tw_words(&j.v[k], ctx, out);
    tw_judgement_free(&j);
    return rc;
}

const diag_detector diag_det_timewait_reuse = {
    .id = "timewait-reuse",
    .reads = DIAG_FACT_PAWS_DROPS,
    .provides = DIAG_FACT_TW_JUDGED,
    .create = tw_create,
    .conn = tw_conn,
    .reuse = tw_reuse,
    .finish = tw_finish,
    .destroy = tw_destroy,
};
