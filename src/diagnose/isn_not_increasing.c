/* isn_not_increasing.c - detector: a reused 4-tuple's new ISN is not above the old one's last sequence number. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
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
 */

#define ISN_TW_MAX_S 240.0          /* longest TIME_WAIT in use (Windows 2000/XP) */
#define ISN_EVIDENCE_EVENTS 4       /* reuses listed in full per finding */
#define ISN_LINUX_TICK_NS 64        /* Linux secure_tcp_seq(): ktime_ns >> 6 */
#define ISN_CLOCK_SLACK 312500u     /* 20 ms of Linux ISN clock: capture jitter */
#define ISN_TS_MAX_HZ 1000.0        /* fastest common TSval clock (RFC 7323 5.4) */

/* What a tw_event lacks for a reuse whose new ISN is not above: kept per
 * such reuse only (32 bytes). */
typedef struct isn_note {
    uint64_t syn_packet;            /* key: first SYN of the new incarnation */
    int64_t  prev_syn_ts;           /* first SYN of the old one */
    uint32_t prev_isn;
    bool     prev_isn_seen;
    bool     shape_known;           /* both SYNs' options were seen */
    bool     same_shape;            /* same options, window and MSS (p0f-style) */
} isn_note;

typedef struct isn_state {
    isn_note *notes;
    size_t n, cap;
    bool oom;
} isn_state;

/* Who sent the reusing SYN, compared with the old connection's client. */
enum host_reading {
    HOST_SAME,          /* one timestamp clock, same TTL and SYN shape */
    HOST_LIKELY_SAME,   /* same TTL and SYN shape, no timestamps to compare */
    HOST_OTHER,         /* TTL, SYN shape or timestamp clock differ */
    HOST_UNKNOWN        /* the old connection is not in the capture */
};

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

static int cmp_note(const void *x, const void *y)
{
    uint64_t a = ((const isn_note *)x)->syn_packet, b = ((const isn_note *)y)->syn_packet;
    return a < b ? -1 : a > b;
}

/* The note of the reuse whose first SYN is syn_packet (notes sorted). */
static const isn_note *find_note(const isn_state *st, uint64_t syn_packet)
{
    if (st->n == 0)
        return NULL;
    isn_note key = { .syn_packet = syn_packet };
    return bsearch(&key, st->notes, st->n, sizeof *st->notes, cmp_note);
}

/* The reuse met the other side's TIME_WAIT (or may have): the server closed
 * the old connection first, with FINs, less than 240 s before; or the
 * server answered from an old connection the capture does not show.  Not
 * when timewait-reuse found the answers were not the server's (not_tw: a
 * device near the capture point answered for several servers), nor when
 * the bare ACK was the server's ACK of this incarnation's own bytes (no
 * event then: tw_stale.c). */
static bool met_timewait(const tw_event *e)
{
    if (e->unpaired)
        return e->outcome == TW_STALE_ACK && !e->not_tw;
    return !e->not_tw && e->prev_closer == FLOW_SIDE_SERVER && !e->prev_reset && e->gap_s >= 0 &&
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
 * TTL, SYN options, timestamp clock).  A TSval that went back, or ran ahead
 * faster than a 1 kHz clock over the gap, is another clock.  Without
 * timestamps two hosts of one kind behind a NAT look alike. */
static enum host_reading read_host(const diag_ctx *ctx, const tw_event *e, const isn_note *n)
{
    if (e->unpaired) {
        const tw_extra *ak = diag_tw_acked(ctx, e);
        if (ak != NULL && (ak->acked_client_port != e->client_port ||
                           memcmp(ak->acked_client.b, e->client.b, 16) != 0))
            return HOST_OTHER;
        return HOST_UNKNOWN;
    }
    if (e->prev_client_ttl != e->cur_client_ttl || e->prev_ts_seen != e->cur_ts_seen ||
        (n != NULL && n->shape_known && !n->same_shape))
        return HOST_OTHER;
    if (e->prev_ts_seen && e->cur_ts_seen) {
        int32_t d = (int32_t)(e->cur_client_tsval_syn - e->prev_client_tsval_last);
        if (d < 0 || (double)d > e->gap_s * ISN_TS_MAX_HZ * 1.25 + 1000.0)
            return HOST_OTHER;
        return HOST_SAME;
    }
    return HOST_LIKELY_SAME;
}

/* Why read_host() said HOST_OTHER, in words, into buf. */
static void other_host_reason(const diag_ctx *ctx, const tw_event *e, const isn_note *n,
                              char *buf, size_t len)
{
    const tw_extra *ak = e->unpaired ? diag_tw_acked(ctx, e) : NULL;
    if (ak != NULL) {
        char c[64];
        diag_endpoint(&ak->acked_client, ak->acked_client_port, c, sizeof c);
        snprintf(buf, len, "the server's stale ACK acknowledges exactly where %s's "
                 "connection ended, packet %llu", c, (unsigned long long)ak->acked_last_packet);
    } else if (e->prev_client_ttl != e->cur_client_ttl)
        snprintf(buf, len, "TTL %u, the old connection's %u", e->cur_client_ttl,
                 e->prev_client_ttl);
    else if (e->prev_ts_seen != e->cur_ts_seen)
        snprintf(buf, len, e->cur_ts_seen ? "the new SYN carries timestamps, the old "
                                            "connection had none"
                                          : "the new SYN carries no timestamps, the old "
                                            "connection had them");
    else if (n != NULL && n->shape_known && !n->same_shape)
        snprintf(buf, len, "its SYN options, window or MSS differ from the old SYN's");
    else if ((int32_t)(e->cur_client_tsval_syn - e->prev_client_tsval_last) < 0)
        snprintf(buf, len, "TSval %u, below the old connection's last %u: another clock",
                 e->cur_client_tsval_syn, e->prev_client_tsval_last);
    else
        snprintf(buf, len, "TSval %u, %u ahead of the old connection's last after %.1f s: "
                 "faster than a 1 kHz clock, another clock", e->cur_client_tsval_syn,
                 e->cur_client_tsval_syn - e->prev_client_tsval_last, e->gap_s);
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
    uint64_t reuses, not_above, rejected, ignored, failed, accepted, accepted_ts;
    uint64_t same_host, likely_same, other_host, unknown_host, same_isn, isn_back, clock_ok;
    uint64_t rejected_ts_newer;     /* refused although the TSval was newer */
    uint64_t above_accepted, above_rejected;    /* reuses whose ISN was above */
    uint64_t first_above_accepted;  /* its SYN packet, 0 if none */
    double   delay_max;             /* longest wait a refused reuse caused */
    double   rejected_gap_max;      /* longest close-to-SYN gap of a refused one */
    uint64_t accepted_plain;        /* not above, no newer TSval, accepted anyway */
    double   accepted_plain_gap_min;
    uint64_t accepted_plain_packet;
    size_t   example;               /* first rejected not-above event, else first */
    size_t   other_example;         /* first other-host event */
    size_t   first_na, last_na;     /* its not-above reuses: first_na, then
                                       along next_na[] (isn_finish) to last_na */
    bool     have_rejected_example;
} isn_group;

_Static_assert(offsetof(isn_group, server_port) == 2 * sizeof(pkt_addr),
               "no padding inside a group's key (client, server, server_port)");

/* A group with only its key set (the index compares the key's bytes). */
static isn_group group_key(const tw_event *e)
{
    isn_group key;
    memset(&key, 0, sizeof key);
    key.client = e->client;
    key.server = e->server;
    key.server_port = e->server_port;
    return key;
}

static void count_event(isn_group *g, const isn_state *st, const diag_ctx *ctx,
                        const tw_event *e, size_t i)
{
    g->reuses++;
    if (!isn_not_above(e)) {
        if (e->outcome == TW_ACCEPTED) {
            if (g->above_accepted++ == 0)
                g->first_above_accepted = e->syn_packet;
        } else {
            g->above_rejected++;
        }
        return;
    }
    const isn_note *n = e->unpaired ? NULL : find_note(st, e->syn_packet);
    g->not_above++;
    bool rej = e->outcome != TW_ACCEPTED;
    if (rej) {
        g->rejected++;
        g->ignored += e->outcome == TW_IGNORED;
        g->failed += !e->succeeded;
        if (e->delay_s > g->delay_max)
            g->delay_max = e->delay_s;
        if (!e->unpaired && e->gap_s > g->rejected_gap_max)
            g->rejected_gap_max = e->gap_s;
        if (ts_newer(e))
            g->rejected_ts_newer++;
        if (!g->have_rejected_example) {
            g->example = i;
            g->have_rejected_example = true;
        }
    } else {
        g->accepted++;
        g->accepted_ts += ts_newer(e);
        if (!ts_newer(e) && !e->unpaired &&
            (g->accepted_plain++ == 0 || e->gap_s < g->accepted_plain_gap_min)) {
            g->accepted_plain_gap_min = e->gap_s;
            g->accepted_plain_packet = e->syn_packet;
        }
        if (g->not_above == 1)
            g->example = i;
    }
    switch (read_host(ctx, e, n)) {
    case HOST_SAME: g->same_host++; break;
    case HOST_LIKELY_SAME: g->likely_same++; break;
    case HOST_OTHER:
        if (g->other_host++ == 0)
            g->other_example = i;
        break;
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
    const tw_extra *ak = e->unpaired ? diag_tw_acked(ctx, e) : NULL;
    if (ak != NULL) {
        char rc[64];
        diag_endpoint(&ak->acked_client, ak->acked_client_port, rc, sizeof rc);
        diag_evidence_add(f, ak->acked_last_packet, ak->acked_last_ts, "%8.3f  %s > %s  %s's "
                          "connection ends, closed first by the server; its last sequence "
                          "number %u", diag_rel(ctx, ak->acked_last_ts), rc, s, rc,
                          ak->acked_client_final_seq);
    }
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
                          "%8.3f  %s > %s  SYN %.1f s later with ISN %u, not above the old final "
                          "sequence number (%u below)%s; TTL %u, was %u", diag_rel(ctx, e->syn_ts),
                          c, s, e->gap_s, e->cur_client_isn, fin - e->cur_client_isn, old_isn,
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

static void explain_readings(diag_finding *f, const diag_ctx *ctx, const isn_state *st,
                             const isn_group *g, const char *cip)
{
    if (g->same_host + g->likely_same > 0) {
        char how[200];
        int k = 0;
        if (g->same_isn > 0)
            k = snprintf(how, sizeof how, "%llu time%s the very same ISN came again; ",
                         (unsigned long long)g->same_isn, g->same_isn == 1 ? "" : "s");
        if (g->isn_back > 0 && k >= 0 && (size_t)k < sizeof how)
            k += snprintf(how + k, sizeof how - (size_t)k, "%llu time%s the new ISN was even "
                          "below the old ISN; ", (unsigned long long)g->isn_back,
                          g->isn_back == 1 ? "" : "s");
        if (g->clock_ok > 0 && k >= 0 && (size_t)k < sizeof how)
            k += snprintf(how + k, sizeof how - (size_t)k, "%llu time%s the ISNs followed a "
                          "Linux ISN clock, but the old connection used more sequence space "
                          "than that clock advanced; ", (unsigned long long)g->clock_ok,
                          g->clock_ok == 1 ? "" : "s");
        if (k <= 2)
            snprintf(how, sizeof how, "the new ISN did not advance past the old data; ");
        else if ((size_t)k < sizeof how)
            how[k - 2] = '\0';     /* drop the last "; " */
        if (g->same_host > 0)
            diag_explain(f, "Reading (a), %llu reuse%s: the same host reused the port (same "
                         "TTL, SYN options and timestamp clock): %s. RFC 6528 makes ISNs a "
                         "clock plus a keyed hash of the 4-tuple, so one host's ISNs for one "
                         "4-tuple keep rising and pass this check; a stack or proxy that "
                         "repeats ISNs or draws them at random fails it every time or about "
                         "half the time. That is seed 001: a downstream proxy reusing sockets "
                         "with a sequence number that is not larger, and the upstream refusing "
                         "them.", (unsigned long long)g->same_host, g->same_host == 1 ? "" : "s",
                         how);
        if (g->likely_same > 0)
            diag_explain(f, "%llu reuse%s came with the same TTL and SYN options as the old "
                         "connection and no timestamps to tell clocks apart (%s). Two readings "
                         "fit: (a) the same host - often a proxy - reusing its port with ISNs "
                         "that do not follow RFC 6528's clock (which keeps one host's ISNs for "
                         "one 4-tuple rising), as in seed 001; or (b) another host of the same "
                         "kind behind a NAT, whose ISN is unrelated, so the check is a coin "
                         "flip (seed 000). Look for nat-multiple-hosts, or capture on the "
                         "client side, to tell them apart.", (unsigned long long)g->likely_same,
                         g->likely_same == 1 ? "" : "s", how);
    }
    if (g->other_host > 0) {
        const tw_event *e = diag_tw(ctx, g->other_example);
        char why[160];
        other_host_reason(ctx, e, find_note(st, e->syn_packet), why, sizeof why);
        diag_explain(f, "Reading (b), %llu reuse%s: the new SYN came from another host than the "
                     "old connection (at packet %llu: %s): a NAT in front of %s gave the same "
                     "outside port to two inside hosts in turn. The ISNs of two hosts are "
                     "unrelated (RFC 6528), "
                     "so whether the new one lands above the old final sequence number is a "
                     "coin flip: about half of such reuses are refused.",
                     (unsigned long long)g->other_host, g->other_host == 1 ? "" : "s",
                     (unsigned long long)e->syn_packet, why, cip);
    }
    if (g->unknown_host > 0)
        diag_explain(f, "For %llu reuse%s the earlier connection is not in this capture; only "
                     "the server's stale ACK names its final sequence number, so which host "
                     "made it cannot be told from here (capture at the server to see both).",
                     (unsigned long long)g->unknown_host, g->unknown_host == 1 ? "" : "s");
}

static void add_remedies(diag_finding *f, const isn_group *g)
{
    bool nat = g->other_host > g->same_host + g->likely_same;
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
    if (!nat && g->other_host + g->likely_same > 0)
        diag_remedy_add(f, "If a NAT is reusing the ports: make it hold closed mappings at "
                           "least as long as the server's TIME_WAIT",
                        "more NAT entries held");
}

/* The server took a SYN failing the rule (no newer timestamp either) as
 * soon after a close as it refused another: it does not enforce the rule,
 * so the ISN cannot explain the refusals. */
static bool contradicted(const isn_group *g)
{
    return g->rejected > 0 && g->accepted_plain > 0 &&
           g->accepted_plain_gap_min <= g->rejected_gap_max;
}

static int report(const isn_group *g, const size_t *next_na, const isn_state *st, diag_ctx *ctx,
                  diag_findings *out)
{
    bool warn = g->rejected > 0 && !contradicted(g);
    const tw_event *ex = diag_tw(ctx, g->example);
    /* A paired stale ACK naming the old final sequence number shows the
     * server's comparison itself; a stale ACK alone could also come from a
     * stale established connection (challenge ACK, tcp-behaviour.md 3.4). */
    double conf = contradicted(g) ? 0.4 : !warn ? 0.6
                  : ex->outcome == TW_IGNORED ? 0.6     /* Windows may ignore any such SYN */
                  : ex->outcome == TW_RESET ? 0.7
                  : ex->unpaired ? 0.7
                  : ex->stale_ack == old_final(ex) ? 0.9 : 0.8;
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
    if (contradicted(g))
        diag_summary(f, "%s reused 4-tuples to %s within the server's TIME_WAIT with an ISN not "
                     "above the old connection's last sequence number (%llu of %llu reuses); "
                     "the server accepted some and refused others, so the ISN does not decide",
                     cip, s, (unsigned long long)g->not_above, (unsigned long long)g->reuses);
    else if (warn)
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
    diag_explain(f, "Here (capture taken %s) %llu of %llu reuses from %s came with an ISN that "
                 "is not above: at packet %llu, %s opened with ISN %u while the old connection "
                 "had ended at %u. %llu of them %s refused%s%s; %llu %s accepted%s.",
                 ctx->vantage == DIAG_VANTAGE_SERVER ? "at the server"
                 : ctx->vantage == DIAG_VANTAGE_CLIENT ? "at the client"
                 : ctx->vantage == DIAG_VANTAGE_PATH ? "between the hosts" : "at an unknown point",
                 (unsigned long long)g->not_above, (unsigned long long)g->reuses, cip,
                 (unsigned long long)ex->syn_packet, c, ex->cur_client_isn, old_final(ex),
                 (unsigned long long)g->rejected, g->rejected == 1 ? "was" : "were",
                 warn ? ", which the rule explains" : "",
                 warn && g->ignored == g->rejected
                     ? (g->rejected == 1 ? " (though a server that ignores every SYN in "
                                           "TIME_WAIT, as Windows is reported to, would have "
                                           "refused it anyway)"
                                         : " (though a server that ignores every SYN in "
                                           "TIME_WAIT, as Windows is reported to, would have "
                                           "refused them anyway)") : "",
                 (unsigned long long)g->accepted, g->accepted == 1 ? "was" : "were",
                 g->accepted == 0 ? "" : g->accepted_ts == g->accepted
                                   ? " anyway, by a newer timestamp (RFC 6191)" : " anyway");
    if (contradicted(g))
        diag_explain(f, "But the server also accepted %llu reuse%s whose ISN was not above "
                     "either, with no newer timestamp, as soon as %.1f s after the close (packet "
                     "%llu), sooner than a refused one (%.1f s): it does not enforce this rule, so "
                     "the ISN does not explain the refusals; see timewait-reuse for what does.",
                     (unsigned long long)g->accepted_plain, g->accepted_plain == 1 ? "" : "s",
                     g->accepted_plain_gap_min, (unsigned long long)g->accepted_plain_packet,
                     g->rejected_gap_max);
    else if (g->rejected > 0)
        diag_explain(f, "Each refused reuse cost the client a retry: it waited up to %.3g s%s.",
                     g->delay_max, g->failed ? ", and some attempts never connected" : "");
    if (g->above_accepted > 0 && g->above_rejected == 0)
        diag_explain(f, "The %llu reuse%s whose ISN was above %s accepted at once (first at "
                     "packet %llu): the server does apply the sequence number rule.",
                     (unsigned long long)g->above_accepted, g->above_accepted == 1 ? "" : "s",
                     g->above_accepted == 1 ? "was" : "were",
                     (unsigned long long)g->first_above_accepted);
    else if (g->above_rejected > 0)
        diag_explain(f, "%llu reuse%s whose ISN was above %s refused too: this server does not "
                     "(always) accept a SYN in TIME_WAIT by its sequence number (Windows is "
                     "reported to ignore such SYNs), so higher ISNs alone would not cure it; "
                     "see timewait-reuse.", (unsigned long long)g->above_rejected,
                     g->above_rejected == 1 ? "" : "s", g->above_rejected == 1 ? "was" : "were");
    if (g->rejected_ts_newer > 0)
        diag_explain(f, "%llu of the refused SYNs carried a newer timestamp, which a Linux "
                     "server would have accepted: this server applies the sequence number rule "
                     "alone (BSD, Windows, or a proxy's own stack).",
                     (unsigned long long)g->rejected_ts_newer);
    explain_readings(f, ctx, st, g, cip);

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

    /* the example first, then the others in capture order */
    event_evidence(f, ctx, st, ex);
    size_t listed = 1;
    uint64_t walked = 0;
    for (size_t i = g->first_na; walked < g->not_above && listed < ISN_EVIDENCE_EVENTS;
         i = next_na[i], walked++) {
        if (i == g->example)
            continue;
        event_evidence(f, ctx, st, diag_tw(ctx, i));
        listed++;
    }
    f->evidence_omitted += g->not_above - listed;
    add_remedies(f, g);
    return 0;
}

static int isn_finish(void *p, diag_ctx *ctx, diag_findings *out)
{
    isn_state *st = p;
    if (st->oom)
        return -ENOMEM;
    if (st->n > 1)
        qsort(st->notes, st->n, sizeof *st->notes, cmp_note);
    /* Groups come from the reuses whose ISN was not above (rare: none in
     * healthy traffic); the second pass counts every reuse of those groups
     * and chains their not-above reuses for the evidence.  The index finds a
     * group in constant time however many clients a capture holds. */
    static const diag_table tab = { sizeof(isn_group), offsetof(isn_group, client),
                                    offsetof(isn_group, server_port) + sizeof(uint16_t) };
    diag_index ix = { .seed = (uint64_t)(uintptr_t)st * 0x9e3779b97f4a7c15ULL };
    isn_group *g = NULL;
    size_t ng = 0, cap = 0;
    int rc = 0;
    size_t *next_na = malloc((ctx->n_tw ? ctx->n_tw : 1) * sizeof *next_na);
    if (next_na == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < ctx->n_tw; i++) {
        const tw_event *e = diag_tw(ctx, i);
        if (!met_timewait(e) || !isn_not_above(e))
            continue;
        isn_group key = group_key(e);
        void *v = g;
        long k = diag_index_get(&ix, &tab, &v, &ng, &cap, &key, NULL);
        g = v;
        if (k < 0) {
            rc = -ENOMEM;
            goto out;
        }
    }
    for (size_t i = 0; i < ctx->n_tw && ng > 0; i++) {
        const tw_event *e = diag_tw(ctx, i);
        if (!met_timewait(e))
            continue;
        isn_group key = group_key(e);
        long k = diag_index_find(&ix, &tab, g, &key);
        if (k < 0)
            continue;
        isn_group *gr = &g[k];
        if (isn_not_above(e)) {
            if (gr->not_above == 0)
                gr->first_na = i;
            else
                next_na[gr->last_na] = i;
            gr->last_na = i;
        }
        count_event(gr, st, ctx, e, i);
    }
    for (size_t k = 0; k < ng && rc == 0; k++)
        if (g[k].not_above > 0)
            rc = report(&g[k], next_na, st, ctx, out);
out:
    free(g);
    free(next_na);
    diag_index_reset(&ix);
    return rc;
}

const diag_detector diag_det_isn_not_increasing = {
    .id = "isn-not-increasing",
    .create = isn_create,
    .reuse = isn_reuse,
    .finish = isn_finish,
    .destroy = isn_destroy,
};
