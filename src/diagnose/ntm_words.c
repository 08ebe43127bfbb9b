/* ntm_words.c - nat-timewait-mismatch: a verdict (ntm_judge.c) into the finding's words. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>

#include "diagnose/ntm_internal.h"

/*
 * Nothing here decides: the figures, the bounds, the severity, the
 * confidence and the packets shown all come from the verdict; this file
 * only says them (summary, explanation, evidence lines, parameters,
 * remedies), naming the bounds against the stacks' defaults (Linux/FreeBSD
 * 60 s, macOS 30 s, Windows 120/240 s: tcp-behaviour.md 10).  The rules
 * are described in nat_timewait_mismatch.c's design comment.
 */

/* The stacks (diag_stacks(), one row per family) whose TIME_WAIT lies in
 * (lo, hi], hi < 0 meaning no upper bound, as "Linux (60 s), ...". */
static void name_defaults(char *buf, size_t len, double lo, double hi)
{
    size_t off = 0, n_st;
    const diag_stack *st = diag_stacks(&n_st);
    buf[0] = '\0';
    for (size_t i = 0; i < n_st; i++) {
        double s = st[i].timewait_s;
        if (st[i].variant_of != NULL || s <= lo || (hi >= 0 && s > hi))
            continue;
        int n = snprintf(buf + off, len - off, "%s%s (%.0f s)", off ? ", " : "", st[i].name, s);
        if (n < 0 || (size_t)n >= len - off)
            break;
        off += (size_t)n;
    }
}

/* Those whose TIME_WAIT is at most lo. */
static void shorter_defaults(char *buf, size_t len, double lo)
{
    name_defaults(buf, len, -1.0, lo);
}

/* Why the accepted reuses that bound nothing would have been taken. */
static const char *anyway_words(const ntm_verdict *vd)
{
    if (vd->anyway_seq && vd->anyway_ts)
        return "ISN above the old final sequence number, RFC 1122 4.2.2.13, or newer TSval, "
               "RFC 6191";
    if (vd->anyway_ts)
        return "newer TSval, RFC 6191";
    return "ISN above the old final sequence number, RFC 1122 4.2.2.13";
}

static void summary_words(const ntm_verdict *vd, const char *ip, const char *srv,
                          diag_finding *f)
{
    char names[256], shorter[256];
    name_defaults(names, sizeof names, vd->rejected_max, vd->upper ? vd->accepted_min : -1);
    shorter_defaults(shorter, sizeof shorter, vd->rejected_max);

    if (vd->upper)
        diag_summary(f, "%s reuses source ports after ~%.0f s, but the server keeps TIME_WAIT "
                     "between %.0f and %.0f s: %llu of %llu reuses hit it",
                     ip, vd->gap_min, vd->rejected_max, vd->accepted_min,
                     (unsigned long long)vd->rejected, (unsigned long long)vd->n);
    else
        diag_summary(f, "%s reuses source ports after ~%.0f s, but the server keeps TIME_WAIT "
                     "longer than %.0f s: %llu of %llu reuses hit it",
                     ip, vd->gap_min, vd->rejected_max, (unsigned long long)vd->rejected,
                     (unsigned long long)vd->n);

    diag_explain(f, "The connections from %s to %s are closed by the server first, so the "
                 "server keeps each 4-tuple in TIME_WAIT. %s hands out the same source port "
                 "again %.1f s after a close (median %.1f s, longest %.1f s, over %llu reuse%s): "
                 "sooner than the server's TIME_WAIT ends, so the server takes the new SYN for "
                 "part of the old connection and %s.",
                 ip, vd->one_server ? srv : "its servers", ip, vd->gap_min, vd->median,
                 vd->gap_max, (unsigned long long)vd->n, vd->n == 1 ? "" : "s",
                 vd->failed ? "some attempts never connect" : "the client waits and retries");
    diag_explain(f, "From the evidence, the server's TIME_WAIT is longer than %.1f s (the longest "
                 "interval it still rejected)%s. That rules out %s; it fits %s.%s",
                 vd->rejected_max,
                 vd->upper ? " and at most the shortest interval it accepted cleanly although it "
                             "would have refused that SYN inside TIME_WAIT"
                 : vd->accepted_anyway > 0 ? "; the reuses it accepted had a newer ISN or "
                                             "timestamp, which a server takes inside TIME_WAIT "
                                             "too, so they set no upper bound" : "",
                 shorter[0] ? shorter : "no common default",
                 names[0] ? names : "no common default: the server's TIME_WAIT was tuned",
                 vd->other_host ? " The reusing SYNs come from another host than the previous "
                                  "connection (different TTL or timestamp clock): a NAT." : "");
    diag_explain(f, "This is a mismatch between two timers, not a fault of either device: the "
                 "NAT (or the clients behind one address) forgets a closed mapping sooner "
                 "than the server forgets the closed connection.");
}

static void param_words(const ntm_verdict *vd, const char *ip, diag_finding *f)
{
    diag_param *p = diag_param_add(f, "nat_reuse_s", vd->gap_min, "s");
    diag_param_min(p, vd->gap_min);
    diag_param_max(p, vd->gap_max);
    diag_param_note(p, "shortest interval between a close and the reuse of the same source port "
                       "from %s (median %.1f s)", ip, vd->median);
    diag_param_add(f, "nat_reuse_median_s", vd->median, "s");
    p = diag_param_add(f, "server_timewait_min_s", vd->rejected_max, "s");
    diag_param_min(p, vd->rejected_max);
    if (!vd->upper && vd->accepted_anyway > 0)
        diag_param_note(p, "longest reuse interval the server rejected; no upper bound: the %llu "
                           "reuse%s it accepted would have been accepted inside TIME_WAIT anyway "
                           "(%s)", (unsigned long long)vd->accepted_anyway,
                        vd->accepted_anyway == 1 ? "" : "s", anyway_words(vd));
    else
        diag_param_note(p, "longest reuse interval the server rejected");
    if (vd->upper) {
        p = diag_param_add(f, "server_timewait_max_s", vd->accepted_min, "s");
        diag_param_max(p, vd->accepted_min);
        diag_param_note(p, "shortest reuse interval the server accepted cleanly although it "
                           "would have refused that SYN inside TIME_WAIT (older ISN, no newer "
                           "TSval)%s", vd->accepted_anyway > 0
                        ? "; the reuses it took by a newer ISN or TSval bound nothing" : "");
    }
    diag_param_add(f, "reuses", (double)vd->n, "");
    diag_param_add(f, "rejected", (double)vd->rejected, "");
}

static void evidence_words(const ntm_verdict *vd, diag_ctx *ctx, diag_finding *f)
{
    for (size_t k = 0; k < vd->n_shown; k++) {
        const tw_event *e = diag_tw(ctx, vd->shown[k]);
        char c[64], s[64];
        diag_endpoint(&e->client, e->client_port, c, sizeof c);
        diag_endpoint(&e->server, e->server_port, s, sizeof s);
        diag_evidence_add(f, e->syn_packet, e->syn_ts,
                          "%8.3f  %s > %s  SYN %.1f s after the server closed the same 4-tuple "
                          "(packet %llu): %s%s",
                          diag_rel(ctx, e->syn_ts), c, s, e->gap_s,
                          (unsigned long long)e->prev_close_packet,
                          e->outcome == TW_IGNORED ? "ignored" :
                          e->outcome == TW_STALE_ACK ? "answered with the old connection's ACK" :
                          "reset", e->succeeded ? "" : ", never connected");
    }
    f->evidence_omitted += vd->ev_omitted;
}

static void remedy_words(diag_finding *f)
{
    diag_remedy_add(f, "Lengthen the NAT's hold of closed TCP mappings to more than the server's "
                       "TIME_WAIT (Linux: nf_conntrack_tcp_timeout_time_wait; Cisco: ip nat "
                       "translation finrst-timeout)",
                    "mappings stay longer: more table entries, and a busy NAT needs more ports");
    diag_remedy_add(f, "Lower the server's TIME_WAIT below the NAT's reuse interval (Windows: "
                       "TcpTimedWaitDelay, 30 s minimum)",
                    "less protection against late segments of old connections; Linux cannot "
                    "change its 60 s");
    diag_remedy_add(f, "Stop NATting these clients to one address, or spread them over more "
                       "NAT addresses",
                    "routing or address changes; more addresses only make collisions rarer");
    diag_remedy_add(f, "Have the clients close first, or keep connections alive, so the server "
                       "does not hold TIME_WAIT",
                    "application change; TIME_WAIT moves to the client side");
}

int ntm_words(const ntm_verdict *vd, diag_ctx *ctx, diag_findings *out)
{
    diag_finding *f = diag_add(out, "nat-timewait-mismatch", vd->severity, vd->confidence);
    if (f == NULL)
        return -ENOMEM;
    f->events = vd->n;
    f->client = vd->client;
    f->has_client = true;
    f->server = vd->server;
    f->server_port = vd->server_port;
    f->has_server = vd->one_server;
    char ip[PKT_ADDR_STRLEN], srv[64];
    diag_addr(&vd->client, ip, sizeof ip);
    diag_endpoint(&vd->server, vd->server_port, srv, sizeof srv);
    summary_words(vd, ip, srv, f);
    param_words(vd, ip, f);
    evidence_words(vd, ctx, f);
    remedy_words(f);
    return 0;
}
