/* isn_not_increasing.c - detector: a reused 4-tuple's new ISN is not above the old incarnation's last sequence number. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diagnose/diag_internal.h"

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
 * How it works.  timewait-reuse records every reuse in ctx->tw with the new
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
 */

#define ISN_TW_MAX_S 240.0          /* longest TIME_WAIT in use (Windows 2000/XP) */
#define ISN_EVIDENCE_EVENTS 4       /* reuses listed in full per finding */
#define ISN_LINUX_TICK_NS 64        /* Linux secure_tcp_seq(): ktime_ns >> 6 */
#define ISN_CLOCK_SLACK 312500u     /* 20 ms of Linux ISN clock: capture jitter */
#define ISN_TS_MAX_HZ 1000.0        /* fastest common TSval clock (RFC 7323 5.4) */

/* What a tw_event lacks for a reuse whose new ISN is not above: kept per
 * such reuse only (24 bytes). */
typedef struct isn_note {
    uint64_t syn_packet;            /* key: first SYN of the new incarnation */
    int64_t  prev_syn_ts;           /* first SYN of the old one */
    uint32_t prev_isn;
    bool     prev_isn_seen;
} isn_note;

typedef struct isn_state {
    isn_note *notes;
    size_t n, cap;
    bool oom;
} isn_state;

enum host_reading { HOST_SAME, HOST_OTHER, HOST_UNKNOWN };

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

static void isn_reuse(void *p, const flow_conn *prev, const flow_conn *cur, diag_ctx *ctx)
{
    (void)ctx;
    isn_state *st = p;
    if (cur->syn_count == 0 || !prev->client.seq_seen || !cur->client.isn_seen ||
        diag_seq_gt(cur->client.isn, prev->client.next_seq))
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
    n->prev_isn_seen = prev->client.isn_seen && prev->syn_count > 0;
    n->prev_isn = prev->client.isn;
    n->prev_syn_ts = prev->syn_count > 0 ? prev->syn_ts[0] : prev->first_ts;
}

static const isn_note *find_note(const isn_state *st, uint64_t syn_packet)
{
    for (size_t i = st->n; i-- > 0;)
        if (st->notes[i].syn_packet == syn_packet)
            return &st->notes[i];
    return NULL;
}

/* The reuse met the other side's TIME_WAIT (or may have): the server closed
 * the old connection first, with FINs, less than 240 s before; or the
 * server answered from an old connection the capture does not show. */
static bool met_timewait(const tw_event *e)
{
    if (e->unpaired)
        return e->outcome == TW_STALE_ACK;
    return e->prev_closer == FLOW_SIDE_SERVER && !e->prev_reset && e->gap_s >= 0 &&
           e->gap_s < ISN_TW_MAX_S;
}

/* The old connection's last client sequence number as the server knows it. */
static uint32_t old_final(const tw_event *e)
{
    return e->unpaired ? e->stale_ack : e->prev_client_final_seq;
}

static bool isn_not_above(const tw_event *e)
{
    if (e->unpaired)
        return !diag_seq_gt(e->cur_client_isn, e->stale_ack);
    return e->isn_not_above;
}

/* The new SYN's TSval is newer than the old connection's last one. */
static bool ts_newer(const tw_event *e)
{
    return e->prev_ts_seen && e->cur_ts_seen &&
           diag_seq_gt(e->cur_client_tsval_syn, e->prev_client_tsval_last);
}

/* Same host or another one behind the same address (tcp-behaviour.md 9.10:
 * TTL, timestamp clock).  A TSval that went back, or ran ahead faster than a
 * 1 kHz clock over the gap, is another clock. */
static enum host_reading read_host(const tw_event *e)
{
    if (e->unpaired)
        return HOST_UNKNOWN;
    if (e->prev_client_ttl != e->cur_client_ttl || e->prev_ts_seen != e->cur_ts_seen)
        return HOST_OTHER;
    if (e->prev_ts_seen && e->cur_ts_seen) {
        int32_t d = (int32_t)(e->cur_client_tsval_syn - e->prev_client_tsval_last);
        if (d < 0 || (double)d > e->gap_s * ISN_TS_MAX_HZ * 1.25 + 1000.0)
            return HOST_OTHER;
    }
    return HOST_SAME;
}

/* The new ISN is where a Linux host's ISN clock for this 4-tuple would be
 * (same hash, ns >> 6 since the old SYN): a compliant host whose old
 * connection outran its clock. */
static bool linux_isn_clock(const tw_event *e, const isn_note *n)
{
    if (n == NULL || !n->prev_isn_seen || e->syn_ts <= n->prev_syn_ts)
        return false;
    uint32_t expect = n->prev_isn + (uint32_t)((uint64_t)(e->syn_ts - n->prev_syn_ts) /
                                               ISN_LINUX_TICK_NS);
    uint32_t d = e->cur_client_isn - expect;
    return d <= ISN_CLOCK_SLACK || d >= 0u - ISN_CLOCK_SLACK;
}

/* ---- findings ----------------------------------------------------------- */

typedef struct isn_group {
    pkt_addr client, server;
    uint16_t server_port;
    uint64_t reuses, not_above, rejected, failed, accepted, accepted_ts;
    uint64_t same_host, other_host, unknown_host, same_isn, isn_back, clock_ok;
    uint64_t rejected_ts_newer;     /* refused although the TSval was newer */
    size_t   example;               /* first rejected not-above event, else first */
    bool     have_rejected_example;
} isn_group;

static bool same_group(const isn_group *g, const tw_event *e)
{
    return g->server_port == e->server_port && memcmp(g->server.b, e->server.b, 16) == 0 &&
           memcmp(g->client.b, e->client.b, 16) == 0;
}

static void count_event(isn_group *g, const isn_state *st, const tw_event *e, size_t i)
{
    g->reuses++;
    if (!isn_not_above(e))
        return;
    const isn_note *n = e->unpaired ? NULL : find_note(st, e->syn_packet);
    g->not_above++;
    bool rej = e->outcome != TW_ACCEPTED;
    if (rej) {
        g->rejected++;
        g->failed += !e->succeeded;
        if (ts_newer(e))
            g->rejected_ts_newer++;
        if (!g->have_rejected_example) {
            g->example = i;
            g->have_rejected_example = true;
        }
    } else {
        g->accepted++;
        g->accepted_ts += ts_newer(e);
        if (g->not_above == 1)
            g->example = i;
    }
    switch (read_host(e)) {
    case HOST_SAME: g->same_host++; break;
    case HOST_OTHER: g->other_host++; break;
    case HOST_UNKNOWN: g->unknown_host++; break;
    }
    if (n != NULL && n->prev_isn_seen) {
        if (e->cur_client_isn == n->prev_isn)
            g->same_isn++;
        else if (!diag_seq_gt(e->cur_client_isn, n->prev_isn))
            g->isn_back++;
        if (linux_isn_clock(e, n))
            g->clock_ok++;
    }
}

static const char *answer_text(const tw_event *e)
{
    switch (e->outcome) {
    case TW_STALE_ACK:
        return "the server answered with the old connection's ACK (Linux TW ACK: it compared "
               "the SYN with the old final sequence number and refused it); the client reset "
               "it and retried";
    case TW_RESET: return "the server refused it with an RST";
    case TW_IGNORED: return "the server ignored it (BSD and Windows drop such SYNs silently); "
                            "the client retried";
    case TW_ACCEPTED:
        return ts_newer(e) ? "the server accepted it anyway: its TSval was newer than the old "
                             "connection's (RFC 6191, Linux)"
                           : "the server accepted it anyway (its TIME_WAIT had ended, or it "
                             "does not apply the rule)";
    }
    return "";
}

static void event_evidence(diag_finding *f, const diag_ctx *ctx, const isn_state *st,
                           const tw_event *e)
{
    char c[64], s[64];
    diag_endpoint(&e->client, e->client_port, c, sizeof c);
    diag_endpoint(&e->server, e->server_port, s, sizeof s);
    uint32_t fin = old_final(e);
    if (!e->unpaired)
        diag_evidence_add(f, e->prev_close_packet, e->prev_close_ts,
                          "%8.3f  %s > %s  previous connection ends, closed first by the %s; "
                          "the client's last sequence number %u", diag_rel(ctx, e->prev_close_ts),
                          c, s, e->prev_closer == FLOW_SIDE_SERVER ? "server" : "client", fin);
    const isn_note *n = e->unpaired ? NULL : find_note(st, e->syn_packet);
    char old_isn[64] = "";
    if (n != NULL && n->prev_isn_seen)
        snprintf(old_isn, sizeof old_isn, "; the old ISN was %u", n->prev_isn);
    if (e->unpaired)
        diag_evidence_add(f, e->syn_packet, e->syn_ts,
                          "%8.3f  %s > %s  SYN with ISN %u, not above %u, the old connection's "
                          "final sequence number that the server's ACK names",
                          diag_rel(ctx, e->syn_ts), c, s, e->cur_client_isn, fin);
    else
        diag_evidence_add(f, e->syn_packet, e->syn_ts,
                          "%8.3f  %s > %s  SYN %.1f s later with ISN %u: %u below the old final "
                          "sequence number%s (TTL %u, was %u)", diag_rel(ctx, e->syn_ts), c, s,
                          e->gap_s, e->cur_client_isn, fin - e->cur_client_isn, old_isn,
                          e->cur_client_ttl, e->prev_client_ttl);
    if (e->answer_packet != 0) {
        if (e->outcome == TW_STALE_ACK && e->stale_ack == fin)
            diag_evidence_add(f, e->answer_packet, 0, "          %s > %s  ACK %u = the old final "
                              "sequence number: %s", s, c, e->stale_ack, answer_text(e));
        else
            diag_evidence_add(f, e->answer_packet, 0, "          %s", answer_text(e));
    } else if (e->outcome == TW_IGNORED) {
        diag_evidence_add(f, 0, 0, "          %s", answer_text(e));
    }
}

static void explain_readings(diag_finding *f, const isn_group *g, const char *cip)
{
    if (g->same_host > 0) {
        const char *how = g->same_isn > 0 ? "it sent the very same ISN again"
                          : g->isn_back > 0 ? "its new ISN was even below its old ISN"
                          : g->clock_ok > 0 ? "its ISNs follow a Linux ISN clock, but the old "
                                              "connection used more sequence space than that "
                                              "clock advanced in the meantime"
                                            : "its new ISN did not advance past the old data";
        diag_explain(f, "Reading (a), %llu reuse%s: the same host reused the port (same TTL%s): "
                     "%s. RFC 6528 makes ISNs a clock plus a keyed hash of the 4-tuple, so one "
                     "host's ISNs for one 4-tuple keep rising and pass this check; a stack or "
                     "proxy that repeats ISNs or draws them at random fails it every time or "
                     "about half the time. That is seed 001: a downstream proxy reusing sockets "
                     "with a sequence number that is not larger, and the upstream refusing them.",
                     (unsigned long long)g->same_host, g->same_host == 1 ? "" : "s",
                     g->other_host == 0 ? " and timestamp clock, where present" : "", how);
    }
    if (g->other_host > 0)
        diag_explain(f, "Reading (b), %llu reuse%s: the new SYN came from another host than the "
                     "old connection (different TTL or timestamp clock): a NAT in front of %s "
                     "gave the port to another inside host. The ISNs of two hosts are unrelated "
                     "(RFC 6528), so whether the new one lands above the old final sequence "
                     "number is a coin flip: about half of such reuses are refused.",
                     (unsigned long long)g->other_host, g->other_host == 1 ? "" : "s", cip);
    if (g->unknown_host > 0)
        diag_explain(f, "For %llu reuse%s the earlier connection is not in this capture; only "
                     "the server's stale ACK names its final sequence number, so which host "
                     "made it cannot be told from here (capture at the server to see both).",
                     (unsigned long long)g->unknown_host, g->unknown_host == 1 ? "" : "s");
}

static void add_remedies(diag_finding *f, const isn_group *g)
{
    bool nat = g->other_host > g->same_host;
    if (nat)
        diag_remedy_add(f, "Make the NAT hold a closed mapping at least as long as the server's "
                           "TIME_WAIT before it hands the port to another inside host (Linux "
                           "nf_conntrack_tcp_timeout_time_wait)",
                        "the NAT holds more entries and needs more ports under load");
    diag_remedy_add(f, "Fix the port reuse on the reusing proxy or host: keep its own 2MSL "
                       "(TIME_WAIT) long so it does not reopen a 4-tuple soon, and shorten the "
                       "server's (upstream's) TIME_WAIT so it forgets the tuple first (seed 001)",
                    "a longer TIME_WAIT on the reusing side ties up more of its ports; a "
                    "shorter one on the server gives late duplicates less time to die out "
                    "(RFC 1337)");
    diag_remedy_add(f, "Widen the reusing side's source port range (Linux "
                       "net.ipv4.ip_local_port_range, proxy port pool) so a port comes back less "
                       "often",
                    "only makes collisions rarer; firewalls may need the wider range opened");
    diag_remedy_add(f, "Enable TCP timestamps on both sides: a Linux server then accepts a SYN "
                       "in TIME_WAIT whose TSval is newer whatever its ISN (RFC 6191)",
                    "BSD and Windows servers still apply the ISN rule; through a NAT the "
                    "hosts' clocks differ, so it helps only when one host reuses its own port");
    diag_remedy_add(f, "Let the client side close first, so the server never holds the "
                       "4-tuple in TIME_WAIT",
                    "application change; TIME_WAIT and its port cost move to the client or "
                    "proxy");
    if (!nat && g->other_host > 0)
        diag_remedy_add(f, "For the NAT reuses: make the NAT hold closed mappings at least as "
                           "long as the server's TIME_WAIT",
                        "more NAT entries held");
}

static int report(const isn_group *g, const isn_state *st, diag_ctx *ctx, diag_findings *out)
{
    bool warn = g->rejected > 0;
    const tw_event *ex = &ctx->tw[g->example];
    double conf = !warn ? 0.6
                  : (ex->outcome == TW_STALE_ACK && ex->stale_ack == old_final(ex)) ? 0.9 : 0.75;
    diag_finding *f = diag_add(out, "isn-not-increasing", warn ? DIAG_WARNING : DIAG_INFO, conf);
    if (f == NULL)
        return -ENOMEM;
    f->events = g->not_above;
    f->client = g->client;
    f->server = g->server;
    f->server_port = g->server_port;
    f->has_client = f->has_server = true;
    char cip[PKT_ADDR_STRLEN], s[64];
    diag_addr(&g->client, cip, sizeof cip);
    diag_endpoint(&g->server, g->server_port, s, sizeof s);
    if (warn)
        diag_summary(f, "%s reused 4-tuples to %s while the server held them in TIME_WAIT with an "
                     "ISN not above the old connection's last sequence number: %llu of %llu "
                     "reuses, %llu refused%s", cip, s, (unsigned long long)g->not_above,
                     (unsigned long long)g->reuses, (unsigned long long)g->rejected,
                     g->failed ? ", some never connected" : "");
    else
        diag_summary(f, "%s reused 4-tuples to %s within the server's TIME_WAIT with an ISN not "
                     "above the old connection's last sequence number (%llu of %llu reuses); "
                     "the server accepted them anyway%s", cip, s, (unsigned long long)g->not_above,
                     (unsigned long long)g->reuses,
                     g->accepted_ts == g->accepted ? " by their newer timestamps" : "");

    diag_explain(f, "The server closed these connections first, so it keeps each 4-tuple in "
                 "TIME_WAIT (Linux 60 s, Windows 120-240 s). It may take a new SYN for the same "
                 "4-tuple only if the SYN's sequence number is above the last one it received "
                 "on the old connection, SEQ > RCV.NXT (RFC 1122 4.2.2.13, RFC 9293 3.6.1); "
                 "Linux also takes a SYN whose timestamp is newer (RFC 6191). Once the TIME_WAIT "
                 "is over the rule no longer applies.");
    char c[64];
    diag_endpoint(&ex->client, ex->client_port, c, sizeof c);
    diag_explain(f, "Here %llu of %llu reuses from %s came with an ISN that is not above: at "
                 "packet %llu %s opened with ISN %u while the old connection had ended at %u. "
                 "Of those, %llu %s refused%s and %llu accepted%s.",
                 (unsigned long long)g->not_above, (unsigned long long)g->reuses, cip,
                 (unsigned long long)ex->syn_packet, c, ex->cur_client_isn, old_final(ex),
                 (unsigned long long)g->rejected, g->rejected == 1 ? "was" : "were",
                 g->rejected ? " - the rule explains it" : "",
                 (unsigned long long)g->accepted,
                 g->accepted == 0 ? "" : g->accepted_ts == g->accepted
                                   ? " by a newer timestamp (RFC 6191)" : "");
    if (g->rejected_ts_newer > 0)
        diag_explain(f, "%llu of the refused SYNs carried a newer timestamp, which a Linux "
                     "server would have accepted: this server applies the sequence number rule "
                     "alone (BSD, Windows, or a proxy's own stack).",
                     (unsigned long long)g->rejected_ts_newer);
    explain_readings(f, g, cip);

    diag_param_add(f, "reuses", (double)g->reuses, "");
    diag_param *p = diag_param_add(f, "isn_not_above", (double)g->not_above, "");
    diag_param_note(p, "reuses within the server's TIME_WAIT whose ISN was not above the old "
                       "final sequence number");
    diag_param_add(f, "rejected", (double)g->rejected, "");
    p = diag_param_add(f, "prev_final_seq", (double)old_final(ex), "");
    diag_param_note(p, "example: the old connection's last client sequence number (packet %llu)",
                    (unsigned long long)(ex->unpaired ? ex->answer_packet : ex->prev_close_packet));
    p = diag_param_add(f, "new_isn", (double)ex->cur_client_isn, "");
    diag_param_note(p, "example: the reusing SYN's ISN (packet %llu)",
                    (unsigned long long)ex->syn_packet);
    diag_param_add(f, "other_host", (double)g->other_host, "");

    size_t listed = 0;
    for (size_t i = g->example; i < ctx->n_tw; i++) {
        const tw_event *e = &ctx->tw[i];
        if (!met_timewait(e) || !isn_not_above(e) || !same_group(g, e))
            continue;
        if (listed == ISN_EVIDENCE_EVENTS) {
            f->evidence_omitted++;
            continue;
        }
        event_evidence(f, ctx, st, e);
        listed++;
    }
    if (g->not_above > listed + f->evidence_omitted)
        f->evidence_omitted = g->not_above - listed;
    add_remedies(f, g);
    return 0;
}

static int isn_finish(void *p, diag_ctx *ctx, diag_findings *out)
{
    isn_state *st = p;
    if (st->oom)
        return -ENOMEM;
    isn_group *g = NULL;
    size_t ng = 0, cap = 0;
    int rc = 0;
    for (size_t i = 0; i < ctx->n_tw; i++) {
        const tw_event *e = &ctx->tw[i];
        if (!met_timewait(e))
            continue;
        size_t k;
        for (k = 0; k < ng && !same_group(&g[k], e); k++)
            ;
        if (k == ng) {
            if (ng == cap) {
                size_t nc = cap ? cap * 2 : 8;
                isn_group *v = realloc(g, nc * sizeof *v);
                if (v == NULL) {
                    rc = -ENOMEM;
                    goto out;
                }
                g = v;
                cap = nc;
            }
            memset(&g[ng], 0, sizeof g[ng]);
            g[ng].client = e->client;
            g[ng].server = e->server;
            g[ng].server_port = e->server_port;
            ng++;
        }
        count_event(&g[k], st, e, i);
    }
    for (size_t k = 0; k < ng && rc == 0; k++)
        if (g[k].not_above > 0)
            rc = report(&g[k], st, ctx, out);
out:
    free(g);
    return rc;
}

const diag_detector diag_det_isn_not_increasing = {
    .id = "isn-not-increasing",
    .create = isn_create,
    .reuse = isn_reuse,
    .finish = isn_finish,
    .destroy = isn_destroy,
};
