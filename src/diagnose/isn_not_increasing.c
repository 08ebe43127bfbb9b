/* isn_not_increasing.c - detector: a reused 4-tuple's new ISN is not above the old one's last sequence number. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diagnose/isn_internal.h"

/*
 * The rule.  A host holding a 4-tuple in TIME_WAIT may take a new SYN for it
 * only if the SYN's sequence number is above the last one it received on the
 * old connection, SEG.SEQ > RCV.NXT (RFC 1122 4.2.2.13, RFC 9293 3.6.1,
 * tcp-behaviour.md 2.1).  BSD stacks apply exactly that and drop the SYN
 * otherwise; Linux also takes a SYN whose TSval is newer than the old
 * connection's (RFC 6191, tcp-behaviour.md 2.2, 3.3) and answers any other
 * with the old connection's ACK (tcp_timewait_state_process(): the TW ACK).
 * The rule only matters while the other side still holds the old tuple in
 * TIME_WAIT, i.e. when the server closed first and the new SYN comes within
 * its TIME_WAIT (at most 240 s, tcp-behaviour.md 10).
 *
 * How it works.  timewait-reuse records every reuse in ctx (diag_tw()) with the new
 * ISN, the old client final sequence number and the answer; a stale ACK with
 * no earlier incarnation in the capture carries that final sequence number
 * in its acknowledgment (TW ACK: ack = tw_rcv_nxt).  The reuse hook keeps,
 * for reuses whose ISN is not above, what the event lacks: the old ISN and
 * its time, to tell a host whose ISN clock runs (RFC 6528; Linux: 64 ns
 * ticks, tcp-behaviour.md 2.4) from one that repeats or draws ISNs.
 *
 * Two readings (tcp-behaviour.md 9.2-9.4):
 *   same host   same TTL and one timestamp clock: the host (often a proxy)
 *               reuses the port with an ISN that does not grow - it does
 *               not follow RFC 6528's clock-driven ISNs;
 *   other host  TTL or timestamp clock differ: a NAT gave another inside
 *               host the port; ISNs of different hosts are unrelated, so the
 *               check is a coin flip.
 *
 * Limits: with no timestamps and equal TTLs "same host" is a guess; a
 * clock-driven ISN can still fall short when the old connection sent more
 * bytes than the clock advanced, or after the 32-bit wrap (Linux: 275 s).
 *
 * This file keeps the notes (isn_reuse) and runs the stages (isn_finish);
 * isn_judge.c judges the reuses into verdicts (isn_internal.h), isn_words.c
 * words each verdict.
 */

static void *isn_create(diag_ctx *ctx)
{
    (void)ctx;
    return calloc(1, sizeof(isn_state));
}

static void isn_destroy(void *p)
{
    isn_state *st = p;
    free(st->notes);
    free(st);
}

static void isn_reuse(void *p, const diag_prev *prev, const flow_conn *cur, diag_ctx *ctx)
{
    (void)ctx;
    isn_state *st = p;
    if (cur->syn_count == 0 || !prev->client_seq_seen || !cur->client.isn_seen ||
        diag_seq_gt(cur->client.isn, prev->client_next_seq))
        return;
    if (st->n == st->cap) {
        size_t nc = st->cap ? st->cap * 2 : 16;
        isn_note *v = realloc(st->notes, nc * sizeof *v);
        if (v == NULL) {
            st->oom = true;
            return;
        }
        st->notes = v;
        st->cap = nc;
    }
    isn_note *n = &st->notes[st->n++];
    n->syn_packet = cur->syn_packet[0];
    n->prev_isn_seen = prev->client_isn_seen && prev->had_syn;
    n->prev_isn = prev->client_isn;
    n->prev_syn_ts = prev->first_syn_ts;
    const flow_endpoint *b = &cur->client;
    n->shape_known = prev->syn_opts_seen && b->syn_opts_seen;
    n->same_shape = n->shape_known && prev->syn_window == b->syn_window &&
                    prev->syn_mss == b->syn_opts.mss &&
                    prev->layout_len == b->syn_opts.layout_len &&
                    memcmp(prev->layout, b->syn_opts.layout, prev->layout_len) == 0;
}

static int isn_finish(void *p, diag_ctx *ctx, diag_findings *out)
{
    isn_state *st = p;
    if (st->oom)
        return -ENOMEM;
    if (st->n > 1)
        qsort(st->notes, st->n, sizeof *st->notes, isn_note_cmp);
    isn_verdicts v;
    int rc = isn_judge(st, ctx, &v);
    for (size_t k = 0; k < v.n && rc == 0; k++)
        if (v.v[k].not_above > 0)
            rc = isn_words(&v.v[k], ctx, out);
    isn_verdicts_free(&v);
    return rc;
}

const diag_detector diag_det_isn_not_increasing = {
    .id = "isn-not-increasing",
    .reads = DIAG_FACT_TW_JUDGED,
    .create = isn_create,
    .reuse = isn_reuse,
    .finish = isn_finish,
    .destroy = isn_destroy,
};
