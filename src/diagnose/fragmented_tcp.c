/* fragmented_tcp.c - detector: TCP segments carried in IP fragments, and what became of them. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "diagnose/frag_internal.h"

/*
 * Why.  TCP normally sets DF and relies on path MTU discovery, so a TCP
 * segment in IP fragments means a sender with DF clear (PMTUD off), or a
 * tunnel or middlebox that cleared DF and fragmented (tcp-behaviour.md 9.9).
 * Fragments are fragile: only the first one carries the ports, so a NAT or
 * firewall that does not reassemble cannot map the others, and AWS NAT
 * gateways drop fragmented TCP and ICMP altogether (tcp-behaviour.md 7.2,
 * seed 004).  The segment is then never acknowledged, the sender
 * retransmits it - fragmented again - and the connection stalls until the
 * application gives up.
 *
 * How it works (frag_track.c).  From the packets:
 *   - a small direct-mapped table of datagrams keyed by (src, dst, IP id)
 *     follows each fragmented datagram until its fragments cover it from
 *     offset 0 to the fragment with MF = 0 (RFC 791 3.2 reassembly) or it
 *     is 30 s old (Linux ipfrag_time, tcp-behaviour.md 4.4); a live datagram
 *     pushed out by a collision is counted, never silently lost;
 *   - the first fragment (offset 0, TCP header) makes a segment record: its
 *     4-tuple and sequence number; a later first fragment or whole segment
 *     with the same sequence number and a new IP id is a retransmission of
 *     it (the same id again is the capture's duplicate, RFC 6864 4.1).  The
 *     record is looked up exactly, by sender, receiver and sequence number:
 *     a retransmission starts at snd_una (RFC 6298 5.4), behind every
 *     newer segment of the window, however many there are;
 *   - while records are open, every TCP packet is checked against them
 *     through a 4-tuple index: an ACK from the receiver at or past seq + len
 *     closes a record as acknowledged.
 * From the incarnations (conn hook): who the sender was and which attempt
 * it belongs to; at the finish, the lifecycle stage's outcome of that
 * attempt.
 *
 * What is judged (fragmented_tcp.c).  A segment shows a loss when it was
 * sent again, or when its datagram never arrived whole here (fragments
 * missing, not near the end of the capture).  Severity follows what the
 * packets prove, not what they fail to show:
 *   - error: a lost segment was never acknowledged and its attempt failed
 *     (lifecycle outcome stalled or reset); those attempts are claimed;
 *   - warning: segments lost and sent again, the connection survived or the
 *     capture cannot tell;
 *   - info: fragments seen and nothing lost - a complete datagram is
 *     delivered (RFC 791), even when the capture ends before its ACK.
 * Fragments no stack sends (MF with DF, lengths past the frame, TCP flag
 * sets of fuzzers) are the decoder's anomalies and are left out; a first
 * fragment that ends inside the TCP header (PKT_AN_TCP_HEADER_FRAGMENTED)
 * is a first fragment, not a missing one.  Later fragments whose first
 * never came (orphans) are a finding only next to an attempt between the
 * same addresses that stalled or was reset at that time; otherwise the
 * flow table's unmatched-fragment count says it.
 *
 * Without fragments in the capture (at the client behind a NAT gateway
 * nothing of them arrives), the one trace left is an RST whose sequence
 * number lies beyond everything the capture saw from its sender and its
 * peer acknowledged, in a connection whose handshake anchors the sequence
 * space, by no more than a window: data that never arrived.  That is
 * reported as a suspicion only (low confidence), with the way to confirm it.
 *
 * Limits: at most FT_MAX_SEGS segments are followed (more are counted);
 * an ACK covering only records behind FT_WALK newer unacknowledged ones of
 * its tuple's slot closes them only when a later ACK covers the newest;
 * overlapping fragments count once per offset for the first FT_OFFS
 * fragments of a datagram only; IPv6 datagram sizes include the 8-byte
 * fragment header; a first fragment split inside the TCP header is not
 * reassembled, so its segment is not followed.  The RST suspicion also
 * fires when the capture itself dropped both the data and its
 * acknowledgments; holes under FT_LOST_MIN bytes are left to ordinary loss.
 */

/* ---- judging -------------------------------------------------------------- */

/* The lifecycle outcome of each record's attempt, and which attempts
 * failed for a lost fragmented segment (marked on their first record). */
static void judge_conns(ft_state *st, const diag_ctx *ctx)
{
    size_t n_att = 0;
    const lc_attempt *att = ctx->lc != NULL ? lc_attempts(ctx->lc, &n_att) : NULL;
    for (size_t i = 0; i < st->n_seg; i++) {
        ft_seg *s = &st->seg[i];
        s->outcome = LC_OK;
        if (s->conn_first == 0 || att == NULL)
            continue;
        long k = lc_attempt_find(ctx->lc, s->conn_first);
        if (k < 0 || (size_t)k >= n_att)
            continue;
        s->outcome = att[k].outcome;
        if (!s->acked && ft_seg_lossy(s) && s->lead != 0 &&
            (s->outcome == LC_STALLED || s->outcome == LC_RESET))
            st->seg[s->lead - 1].conn_failed = true;
    }
}

static int group_of(ft_group **g, size_t *ng, size_t *cap, const ft_seg *s, size_t i)
{
    pkt_addr sa;
    uint16_t sp;
    ft_seg_server(s, &sa, &sp);
    for (size_t k = 0; k < *ng; k++)
        if ((*g)[k].server_port == sp && (*g)[k].sender == s->sender &&
            ft_addr_eq(&(*g)[k].server, &sa))
            return (int)k;
    if (*ng == *cap) {
        size_t nc = *cap ? *cap * 2 : 4;
        ft_group *p = realloc(*g, nc * sizeof *p);
        if (p == NULL)
            return -ENOMEM;
        *g = p;
        *cap = nc;
    }
    ft_group *n = &(*g)[*ng];
    memset(n, 0, sizeof *n);
    n->server = sa;
    n->server_port = sp;
    n->sender = s->sender;
    n->example = i;
    return (int)(*ng)++;
}

/* The example: a lost segment never acknowledged, else a lost one, else
 * the first. */
static void pick_example(ft_group *g, const ft_seg *s, size_t i)
{
    uint8_t rank = ft_seg_lossy(s) ? (s->acked ? 1 : 2) : 0;
    if (rank > g->example_rank) {
        g->example = i;
        g->example_rank = rank;
    }
}

static void group_add(ft_group *g, const ft_seg *s, size_t i)
{
    bool lossy = ft_seg_lossy(s);
    g->segs++;
    if (!s->acked) {
        g->unacked++;
        g->unacked_sends += s->sends;
        g->unacked_whole += (uint64_t)(s->sends - s->frag_sends);
        g->unacked_lossy += lossy;
    }
    g->lossy += lossy;
    g->retransmitted += s->sends > 1;
    g->incomplete += s->incomplete > 0 && s->complete == 0;
    pick_example(g, s, i);
    if (s->datagram > g->max_datagram)
        g->max_datagram = s->datagram;
    if (s->frags_max > g->frags_max)
        g->frags_max = s->frags_max;
    g->df_set |= s->df_set;
    if (s->conn_lead) {
        g->conns++;
        if (s->conn_failed) {
            g->failed++;
            g->reset += s->outcome == LC_RESET;
            g->stalled += s->outcome == LC_STALLED;
        }
    }
}

/* The attempts the finding explains: each failed one, by its first packet. */
static int claim_failed(const ft_state *st, diag_ctx *ctx)
{
    for (size_t i = 0; i < st->n_seg; i++)
        if (st->seg[i].conn_lead && st->seg[i].conn_failed &&
            diag_ctx_explain(ctx, st->seg[i].conn_first) != 0)
            return -ENOMEM;
    return 0;
}

static int finish_segments(ft_state *st, diag_ctx *ctx, diag_findings *out)
{
    judge_conns(st, ctx);
    ft_group *g = NULL;
    size_t ng = 0, cap = 0;
    int rc = 0;
    for (size_t i = 0; i < st->n_seg; i++) {
        int k = group_of(&g, &ng, &cap, &st->seg[i], i);
        if (k < 0) {
            rc = -ENOMEM;
            goto out_free;
        }
        group_add(&g[k], &st->seg[i], i);
    }
    for (size_t k = 0; k < ng && rc == 0; k++)
        rc = ft_report_group(st, &g[k], ctx, out);
    if (rc == 0)
        rc = claim_failed(st, ctx);
out_free:
    free(g);
    return rc;
}

/* An attempt between the orphan's two addresses, in either direction. */
static bool same_pair(const lc_attempt *a, const ft_orphan *o)
{
    return (ft_addr_eq(&a->client, &o->src) && ft_addr_eq(&a->server, &o->dst)) ||
           (ft_addr_eq(&a->client, &o->dst) && ft_addr_eq(&a->server, &o->src));
}

/* Orphans count only next to an attempt between the same two addresses
 * that stalled or was reset while the orphan's datagram was on the way:
 * the lost first fragment then plausibly carried its data.  The failed
 * attempts found go first in the attempts' array copy, up to 4. */
static int finish_orphans(const ft_state *st, diag_ctx *ctx, diag_findings *out)
{
    size_t n_att = 0;
    const lc_attempt *att = ctx->lc != NULL ? lc_attempts(ctx->lc, &n_att) : NULL;
    lc_attempt near[4];
    size_t n_near = 0;
    const ft_orphan *ex = NULL;
    for (size_t i = 0; i < n_att && n_near < 4; i++) {
        const lc_attempt *a = &att[i];
        if (a->outcome != LC_STALLED && a->outcome != LC_RESET)
            continue;
        for (size_t k = 0; k < st->n_orphan; k++) {
            const ft_orphan *o = &st->orphan[k];
            if (same_pair(a, o) && o->ts >= a->first_ts && o->ts <= a->last_ts) {
                near[n_near++] = *a;
                if (ex == NULL)
                    ex = o;
                break;
            }
        }
    }
    if (ex == NULL)
        return 0;
    return ft_report_orphans(st, ex, near, n_near, ctx, out);
}

static int ft_finish(void *p, diag_ctx *ctx, diag_findings *out)
{
    ft_state *st = p;
    if (st->oom)
        return -ENOMEM;
    ft_retire_all(st, ctx->last_ts);
    int rc = 0;
    if (st->n_seg > 0)
        rc = finish_segments(st, ctx, out);
    if (rc == 0 && st->n_orphan > 0)
        rc = finish_orphans(st, ctx, out);
    if (rc == 0 && st->n_seg == 0 && st->fragments_seen == 0 && st->n_lost > 0)
        rc = ft_report_lost(st, ctx, out);
    return rc;
}

static void *ft_create(diag_ctx *ctx)
{
    (void)ctx;
    return calloc(1, sizeof(ft_state));
}

static void ft_destroy(void *p)
{
    ft_state *st = p;
    if (st == NULL)
        return;
    free(st->seg);
    free(st);
}

const diag_detector diag_det_fragmented_tcp = {
    .id = "fragmented-tcp",
    .create = ft_create,
    .packet = ft_packet,
    .conn = ft_conn,
    .finish = ft_finish,
    .destroy = ft_destroy,
};
