/* findings.c - turn a host snapshot into findings: tw-recycle-enabled, port-exhaustion, timewait-accumulation, conntrack-pressure. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit_internal.h"

/*
 * Thresholds (chosen; docs/audit.md states them):
 *   port-exhaustion        error when a destination has no usable port left
 *                          (connect() fails with EADDRNOTAVAIL, tcp-behaviour.md
 *                          3.8); warning below PE_RISK of its usable ports.
 *   timewait-accumulation  warning when TIME_WAIT toward one destination
 *                          holds at least TA_SHARE of its usable ports (as
 *                          analyze's detector); error when port-exhaustion
 *                          fired for it.  Host-wide: warning at TA_BUCKETS of
 *                          tcp_max_tw_buckets, info when only the
 *                          TCPTimeWaitOverflow counter says it happened once.
 *   tw-recycle-enabled     error when tcp_tw_recycle is non-zero and
 *                          timestamps are on; warning when they are off (it
 *                          is then dormant).
 *   conntrack-pressure     warning from CT_WARN of nf_conntrack_max, error
 *                          from CT_ERROR, or from CT_WARN when the drop
 *                          counters show the table was full before; warning
 *                          when only those counters say so.
 * At most MAX_DEST_FINDINGS findings per id are about single destinations;
 * the others are counted in the last one.
 */

#define PE_RISK             0.10
#define TA_SHARE            0.50
#define TA_BUCKETS          0.80
#define CT_WARN             0.80
#define CT_ERROR            0.95
#define MAX_DEST_FINDINGS   8
#define TIMEWAIT_S          60      /* TCP_TIMEWAIT_LEN, tcp-behaviour.md 3.1 */

static const audit_sysctl *sc(const audit_snapshot *s, enum audit_sysctl_id id)
{
    return s->sysctls[id].present ? &s->sysctls[id] : NULL;
}

static int64_t counter(const audit_snapshot *s, enum audit_counter_id id)
{
    return s->counters[id].present ? s->counters[id].value : 0;
}

static void counter_evidence(diag_finding *f, const audit_snapshot *s, enum audit_counter_id id)
{
    const audit_counter *c = &s->counters[id];
    if (c->present && c->value != 0)
        diag_evidence_add(f, 0, 0, "%s %s = %" PRId64 " since boot: %s", c->group, c->name,
                          c->value, c->meaning);
}

static void dest_names(const audit_dest *d, char *l, char *r)
{
    pkt_addr_str(&d->local, l, PKT_ADDR_STRLEN);
    pkt_addr_str(&d->remote, r, PKT_ADDR_STRLEN);
}

/* "10.0.0.1:80" or "[2001:db8::1]:80" */
static void endpoint(char *buf, size_t len, const pkt_addr *a, uint16_t port)
{
    char t[PKT_ADDR_STRLEN];
    pkt_addr_str(a, t, sizeof t);
    snprintf(buf, len, pkt_addr_is_v4(a) ? "%s:%u" : "[%s]:%u", t, port);
}

static void subject(diag_finding *f, const audit_dest *d)
{
    f->client = d->local;
    f->server = d->remote;
    f->server_port = d->remote_port;
    f->has_client = f->has_server = true;
}

/* ---- tw-recycle-enabled ------------------------------------------------------ */

static int tw_recycle(const audit_snapshot *s, diag_findings *out)
{
    const audit_sysctl *r = sc(s, AS_TW_RECYCLE);
    if (r == NULL || r->value == 0)
        return 0;
    const audit_sysctl *ts = sc(s, AS_TIMESTAMPS);
    bool ts_on = ts == NULL || ts->value != 0;
    int64_t pp = counter(s, AC_PAWS_PASSIVE);
    diag_finding *f = diag_add(out, "tw-recycle-enabled", ts_on ? DIAG_ERROR : DIAG_WARNING,
                               pp > 0 ? 0.95 : 0.8);
    if (f == NULL)
        return -ENOMEM;
    f->events = pp > 0 ? (uint64_t)pp : 1;
    if (pp > 0)
        diag_summary(f, "tcp_tw_recycle is %" PRId64 ": this host has silently dropped %" PRId64
                     " SYNs with its per-host timestamp check (PAWSPassive); clients behind a NAT fail to connect at random",
                     r->value, pp);
    else
        diag_summary(f, "tcp_tw_recycle is %" PRId64 ": clients behind a NAT will fail to connect at random once this host closes connections first%s",
                     r->value, ts_on ? "" : " (dormant while tcp_timestamps is 0)");
    /* tcp-behaviour.md 3.10 and 9.5; seeds 002 and 004. */
    diag_explain(f, "With tcp_tw_recycle on (Linux before 4.12), when this host closes a connection first it remembers the peer address's last TCP timestamp for 60 s and shortens TIME_WAIT to 3.5 x RTO. A SYN from that address whose timestamp is more than 1 tick behind the remembered one is then dropped without an answer (counted in PAWSPassive and ListenDrops).");
    diag_explain(f, "Every host behind one NAT shares the NAT's address but has its own timestamp clock, so after any of them meets a connection this host closed, the others' SYNs are dropped for up to a minute: some users cannot connect, retrying sometimes helps, and which users are hit changes over time. Since Linux 4.10 timestamps carry a random offset per connection, which breaks the check even without a NAT; Linux 4.12 removed the option (commit 4396e46187ca).");
    if (!ts_on)
        diag_explain(f, "tcp_timestamps is 0 here, so no timestamp is remembered and nothing is dropped yet; turning timestamps on arms it.");
    diag_evidence_add(f, 0, 0, "%s/%s = %s", s->root ? s->root : "", r->path, r->text);
    if (ts != NULL)
        diag_evidence_add(f, 0, 0, "%s/%s = %s", s->root ? s->root : "", ts->path, ts->text);
    if (s->kernel != NULL)
        diag_evidence_add(f, 0, 0, "kernel %s", s->kernel);
    counter_evidence(f, s, AC_PAWS_PASSIVE);
    counter_evidence(f, s, AC_LISTEN_DROPS);
    counter_evidence(f, s, AC_TW_KILLED);
    diag_param_add(f, "tw_recycle", (double)r->value, "");
    diag_param_add(f, "paws_passive", (double)pp, "SYNs");
    diag_param_add(f, "listen_drops", (double)counter(s, AC_LISTEN_DROPS), "SYNs");
    diag_param_note(diag_param_add(f, "record_lifetime_s", 60, "s"),
                    "TCP_PAWS_MSL: how long a remembered timestamp blocks older clocks");
    diag_remedy_shared(f, DIAG_REM_TW_RECYCLE_OFF);
    diag_remedy_shared(f, DIAG_REM_UPGRADE_LINUX);
    diag_remedy_add(f, "As a stopgap, turn off tcp_timestamps on this host: the check needs them.",
                    "Loses PAWS protection and RTT measurement on fast links, and tcp_tw_reuse stops working.");
    return 0;
}

/* ---- port-exhaustion and timewait-accumulation --------------------------------- */

static void timer_evidence(diag_finding *f, const audit_dest *d)
{
    if (d->timewait > 0)
        diag_evidence_add(f, 0, 0, "TIME_WAIT timers: the first of the %" PRIu32
                          " frees its port in %.1f s, the last in %.1f s", d->timewait,
                          d->tw_min_ms / 1000.0, d->tw_max_ms / 1000.0);
}

static void port_remedies(diag_finding *f, const audit_snapshot *s, bool timewait_heavy)
{
    const audit_sysctl *reuse = sc(s, AS_TW_REUSE);
    if (timewait_heavy)
        diag_remedy_shared(f, DIAG_REM_SERVER_CLOSES);
    diag_remedy_shared(f, DIAG_REM_REUSE_CONNECTIONS);
    diag_remedy_shared(f, DIAG_REM_WIDEN_PORT_RANGE);
    if (timewait_heavy && reuse != NULL && reuse->value == 1)
        diag_remedy_add(f, "tcp_tw_reuse is already 1: check that both ends use TCP timestamps (it needs them) and that tcp_tw_reuse_delay is short.",
                        "Relies on timestamps (PAWS) to keep old duplicates out; a middlebox that strips timestamps defeats it.");
    else if (timewait_heavy)
        diag_remedy_shared(f, DIAG_REM_TW_REUSE);
    diag_remedy_shared(f, DIAG_REM_MORE_SOURCES);
}

/* The words, evidence and numbers of one port-exhaustion finding. */
static void port_finding(diag_finding *f, const audit_snapshot *s, const audit_dest *d, bool fact)
{
    char l[PKT_ADDR_STRLEN], r[PKT_ADDR_STRLEN], ep[PKT_ADDR_STRLEN + 10];
    dest_names(d, l, r);
    endpoint(ep, sizeof ep, &d->remote, d->remote_port);
    subject(f, d);
    f->events = d->ports_used;
    if (fact)
        diag_summary(f, "%s has no source port left toward %s: all %" PRIu32 " usable ports are in use, %" PRIu32
                     " of them held by TIME_WAIT; connect() fails with EADDRNOTAVAIL%s",
                     l, ep, d->usable, d->timewait,
                     d->timewait ? " until a TIME_WAIT ends" : "");
    else
        diag_summary(f, "%s has only %" PRIu32 " of %" PRIu32 " source ports left toward %s (%.1f %%), %" PRIu32
                     " held by TIME_WAIT", l, d->headroom, d->usable, ep,
                     100.0 * d->headroom / d->usable, d->timewait);
    /* tcp-behaviour.md 3.8 and 8. */
    diag_explain(f, "Linux picks a connection's source port from ip_local_port_range (%" PRIu32 "-%" PRIu32
                 ") minus the reserved ports, and needs only the whole 4-tuple to be unique: the budget is per (source address, destination address, destination port). A port stays taken while the connection is open and, when this host closed first, for the 60 s of TIME_WAIT.",
                 s->port_lo, s->port_hi);
    if (fact)
        diag_explain(f, "Toward %s every usable port is taken now, so a new connection from %s fails at once with \"Cannot assign requested address\" and no packet leaves the host: the server never sees the attempt.",
                     ep, l);
    else
        diag_explain(f, "Toward %s fewer than %.0f %% of the usable ports are free: a burst of new connections, or the TIME_WAIT of the ones closing now, will exhaust them and connect() will fail with EADDRNOTAVAIL.",
                     ep, PE_RISK * 100);
    diag_evidence_add(f, 0, 0, "%s -> %s: %" PRIu32 " sockets (%" PRIu32 " TIME_WAIT), %" PRIu32
                      " usable ports in use, %" PRIu32 " free of %" PRIu32, l, ep, d->sockets,
                      d->timewait, d->ports_used, d->headroom, d->usable);
    timer_evidence(f, d);
    const audit_sysctl *pr = sc(s, AS_PORT_RANGE);
    if (pr != NULL)
        diag_evidence_add(f, 0, 0, "ip_local_port_range = %s (%" PRIu32 " usable ports after ip_local_reserved_ports)",
                          pr->text, s->usable);
    if (d->usable < s->usable)
        diag_evidence_add(f, 0, 0, "%" PRIu32 " ports of the range are taken by listening sockets on %s",
                          s->usable - d->usable, l);
    counter_evidence(f, s, AC_TW_OVERFLOW);
    counter_evidence(f, s, AC_ATTEMPT_FAILS);
    diag_param_add(f, "pool_low", s->port_lo, "");
    diag_param_add(f, "pool_high", s->port_hi, "");
    diag_param_add(f, "usable_ports", d->usable, "ports");
    diag_param_add(f, "ports_in_use", d->ports_used, "ports");
    diag_param_add(f, "headroom", d->headroom, "ports");
    diag_param_add(f, "timewait", d->timewait, "sockets");
    if (d->timewait > 0) {
        diag_param_add(f, "next_free_s", d->tw_min_ms / 1000.0, "s");
        diag_param_add(f, "all_timewait_free_s", d->tw_max_ms / 1000.0, "s");
    }
    diag_param_note(diag_param_add(f, "max_rate", (double)d->usable / TIMEWAIT_S, "conn/s"),
                    "sustainable new connections per second toward it when this host closes first (usable ports / 60 s)");
    port_remedies(f, s, d->timewait * 2 >= d->ports_used);
}

static int port_exhaustion(const audit_snapshot *s, diag_findings *out, bool *exhausted)
{
    size_t shown = 0, more = 0;
    size_t first = out->n;
    for (size_t i = 0; i < s->n_dests; i++) {
        const audit_dest *d = &s->dests[i];
        if (d->usable == 0 || (double)d->headroom >= PE_RISK * d->usable)
            continue;
        bool fact = d->headroom == 0;
        exhausted[i] = fact;
        if (shown == MAX_DEST_FINDINGS) {
            more++;
            continue;
        }
        shown++;
        diag_finding *f = diag_add(out, "port-exhaustion", fact ? DIAG_ERROR : DIAG_WARNING,
                                   fact ? 0.95 : 0.7);
        if (f == NULL)
            return -ENOMEM;
        port_finding(f, s, d, fact);
    }
    if (more > 0) {
        diag_finding *f = &out->v[first + shown - 1];
        diag_explain(f, "%zu more destinations are below %.0f %% headroom (the host section lists the top ones).",
                     more, PE_RISK * 100);
    }
    return 0;
}

static int timewait_dest(const audit_snapshot *s, diag_findings *out, const bool *exhausted)
{
    size_t shown = 0, more = 0, first = out->n;
    for (size_t i = 0; i < s->n_dests; i++) {
        const audit_dest *d = &s->dests[i];
        if (d->usable == 0 || d->timewait < 2 || (double)d->timewait < TA_SHARE * d->usable)
            continue;
        if (shown == MAX_DEST_FINDINGS) {
            more++;
            continue;
        }
        shown++;
        diag_finding *f = diag_add(out, "timewait-accumulation",
                                   exhausted[i] ? DIAG_ERROR : DIAG_WARNING, 0.9);
        if (f == NULL)
            return -ENOMEM;
        char l[PKT_ADDR_STRLEN], r[PKT_ADDR_STRLEN], ep[PKT_ADDR_STRLEN + 10];
        dest_names(d, l, r);
        endpoint(ep, sizeof ep, &d->remote, d->remote_port);
        subject(f, d);
        f->events = d->timewait;
        diag_summary(f, "%s holds %" PRIu32 " TIME_WAIT tuples toward %s, %.0f %% of its %" PRIu32
                     " usable source ports: it closes these connections first",
                     l, d->timewait, ep, 100.0 * d->timewait / d->usable, d->usable);
        /* RFC 9293 3.6; tcp-behaviour.md 3.2, 8, 9.1. */
        diag_explain(f, "The side that sends the first FIN keeps the 4-tuple in TIME_WAIT for 60 s on Linux (not tunable; tcp_fin_timeout is another timer). On the connecting side each such tuple keeps a source port toward that destination, so closing first caps the rate at about %.3g new connections per second toward %s (%" PRIu32
                     " ports / 60 s).", (double)d->usable / TIMEWAIT_S, ep, d->usable);
        if (exhausted[i])
            diag_explain(f, "Here the TIME_WAIT tuples are what leaves no port free (see port-exhaustion).");
        diag_evidence_add(f, 0, 0, "%s -> %s: %" PRIu32 " TIME_WAIT of %" PRIu32 " sockets", l, ep,
                          d->timewait, d->sockets);
        timer_evidence(f, d);
        counter_evidence(f, s, AC_TW_RECYCLED);
        diag_param_add(f, "timewait", d->timewait, "sockets");
        diag_param_add(f, "port_budget", d->usable, "ports");
        diag_param_add(f, "timewait_share", (double)d->timewait / d->usable, "");
        diag_param_note(diag_param_add(f, "timewait_s", TIMEWAIT_S, "s"),
                        "Linux TCP_TIMEWAIT_LEN");
        port_remedies(f, s, true);
    }
    if (more > 0) {
        diag_finding *f = &out->v[first + shown - 1];
        diag_explain(f, "%zu more destinations hold TIME_WAIT on half their ports or more.", more);
    }
    return 0;
}

/* Host-wide: TIME_WAIT against tcp_max_tw_buckets (tcp-behaviour.md 3.2). */
static int timewait_buckets(const audit_snapshot *s, diag_findings *out)
{
    const audit_sysctl *mx = sc(s, AS_MAX_TW_BUCKETS);
    int64_t overflow = counter(s, AC_TW_OVERFLOW);
    uint64_t tw = s->st.by_state[6];
    bool near = s->st.dumped && mx != NULL && mx->value > 0 &&
                (double)tw >= TA_BUCKETS * (double)mx->value;
    if (!near && overflow <= 0)
        return 0;
    diag_finding *f = diag_add(out, "timewait-accumulation", near ? DIAG_WARNING : DIAG_INFO,
                               near ? 0.9 : 0.6);
    if (f == NULL)
        return -ENOMEM;
    f->events = overflow > 0 ? (uint64_t)overflow : tw;
    if (near)
        diag_summary(f, "%" PRIu64 " TIME_WAIT tuples, %.0f %% of tcp_max_tw_buckets (%" PRId64
                     "): past it, connections close without TIME_WAIT", tw,
                     100.0 * (double)tw / (double)mx->value, mx->value);
    else
        diag_summary(f, "%" PRId64 " connections closed without TIME_WAIT since boot because tcp_max_tw_buckets was reached (TCPTimeWaitOverflow)",
                     overflow);
    diag_explain(f, "When tcp_max_tw_buckets TIME_WAIT tuples exist, Linux closes the next connection outright instead of keeping TIME_WAIT (\"time wait bucket table overflow\"): its tuple can be reused at once, and a delayed segment of the old connection can then reach the new one, the hazard TIME_WAIT exists to prevent (RFC 9293 3.6, RFC 1337).");
    if (mx != NULL)
        diag_evidence_add(f, 0, 0, "tcp_max_tw_buckets = %s", mx->text);
    if (s->st.dumped)
        diag_evidence_add(f, 0, 0, "TIME_WAIT now: %" PRIu64 " of %" PRIu64 " TCP sockets", tw,
                          s->st.total);
    counter_evidence(f, s, AC_TW_OVERFLOW);
    diag_param_add(f, "timewait", (double)tw, "sockets");
    if (mx != NULL)
        diag_param_add(f, "max_tw_buckets", (double)mx->value, "sockets");
    diag_param_add(f, "timewait_overflow", (double)overflow, "connections");
    diag_remedy_add(f, "Find which side closes first (the top destinations below) and make the server close, or pool connections.",
                    "Application change.");
    diag_remedy_add(f, "Raise net.ipv4.tcp_max_tw_buckets.",
                    "A few hundred bytes of memory per TIME_WAIT tuple; it does not free ports.");
    return 0;
}

/* ---- conntrack-pressure ------------------------------------------------------ */

static int conntrack(const audit_snapshot *s, diag_findings *out)
{
    const audit_sysctl *mx = sc(s, AS_CT_MAX), *cnt = sc(s, AS_CT_COUNT);
    if (mx == NULL || cnt == NULL || mx->value <= 0)
        return 0;
    double share = (double)cnt->value / (double)mx->value;
    int64_t full = counter(s, AC_CT_DROP) + counter(s, AC_CT_EARLY_DROP);
    if (share < CT_WARN && full <= 0)
        return 0;
    /* Near the limit and already full once (drops counted): it fails now. */
    enum diag_severity sev = share >= CT_ERROR || (share >= CT_WARN && full > 0) ? DIAG_ERROR
                                                                               : DIAG_WARNING;
    diag_finding *f = diag_add(out, "conntrack-pressure", sev, share >= CT_WARN ? 0.9 : 0.7);
    if (f == NULL)
        return -ENOMEM;
    const audit_sysctl *tw = sc(s, AS_CT_TIME_WAIT), *cl = sc(s, AS_CT_CLOSE),
                       *est = sc(s, AS_CT_ESTABLISHED);
    f->events = (uint64_t)cnt->value;
    if (share >= CT_WARN)
        diag_summary(f, "The conntrack table holds %" PRId64 " of %" PRId64
                     " entries (%.0f %%): when it is full, new connections through or to this host are dropped%s",
                     cnt->value, mx->value, share * 100,
                     full > 0 ? ", and it has been full before (drop counters)" : "");
    else
        diag_summary(f, "The conntrack table has been full since boot (%" PRId64
                     " packets dropped or entries evicted); it holds %" PRId64 " of %" PRId64 " entries now",
                     full, cnt->value, mx->value);
    /* tcp-behaviour.md 4.1, 4.5, 8. */
    diag_explain(f, "Every connection this host tracks (its own, and all it forwards or NATs) holds a conntrack entry until its timeout: an idle established one for nf_conntrack_tcp_timeout_established, a closed one for nf_conntrack_tcp_timeout_time_wait. At nf_conntrack_max the kernel drops the first packet of new connections (\"nf_conntrack: table full, dropping packet\"): their SYNs vanish, clients retry after 1, 3, 7 s, and some give up.");
    if (tw != NULL && tw->value > 0)
        diag_explain(f, "Closed connections alone fill the table at %.0f closes per second (%" PRId64
                     " entries / %" PRId64 " s of nf_conntrack_tcp_timeout_time_wait).",
                     (double)mx->value / (double)tw->value, mx->value, tw->value);
    if (tw != NULL && tw->value < TIMEWAIT_S)
        diag_explain(f, "nf_conntrack_tcp_timeout_time_wait is %" PRId64
                     " s, shorter than the 60 s a Linux server (120-240 s a Windows one) holds TIME_WAIT: a NAT here can hand a closed connection's port to a new one while the server still holds the old tuple, and the new SYN meets TIME_WAIT (the 2MSL mismatch).",
                     tw->value);
    diag_evidence_add(f, 0, 0, "nf_conntrack_count = %s, nf_conntrack_max = %s", cnt->text, mx->text);
    counter_evidence(f, s, AC_CT_DROP);
    counter_evidence(f, s, AC_CT_EARLY_DROP);
    counter_evidence(f, s, AC_CT_INSERT_FAILED);
    if (est != NULL)
        diag_evidence_add(f, 0, 0, "nf_conntrack_tcp_timeout_established = %s s", est->text);
    if (tw != NULL)
        diag_evidence_add(f, 0, 0, "nf_conntrack_tcp_timeout_time_wait = %s s", tw->text);
    if (cl != NULL)
        diag_evidence_add(f, 0, 0, "nf_conntrack_tcp_timeout_close = %s s", cl->text);
    diag_param_add(f, "conntrack_count", (double)cnt->value, "entries");
    diag_param_add(f, "conntrack_max", (double)mx->value, "entries");
    diag_param_add(f, "usage", share, "");
    diag_param_add(f, "drops", (double)full, "packets");
    if (tw != NULL)
        diag_param_add(f, "timeout_time_wait_s", (double)tw->value, "s");
    if (cl != NULL)
        diag_param_add(f, "timeout_close_s", (double)cl->value, "s");
    if (est != NULL)
        diag_param_add(f, "timeout_established_s", (double)est->value, "s");
    diag_remedy_add(f, "Raise net.netfilter.nf_conntrack_max (and the hash size, nf_conntrack_buckets, to match).",
                    "About 300 bytes of kernel memory per entry.");
    diag_remedy_add(f, "Lower nf_conntrack_tcp_timeout_established (e.g. 3600 s) so that idle entries leave.",
                    "Connections idle longer than that lose their NAT mapping or are dropped by stateful rules: use TCP keepalives shorter than the timeout.");
    diag_remedy_add(f, "Lower nf_conntrack_tcp_timeout_time_wait, but not below the servers' TIME_WAIT (60 s Linux, 120-240 s Windows).",
                    "Below it, reused NAT ports meet the servers' TIME_WAIT and connections fail (2MSL mismatch).");
    diag_remedy_add(f, "Exempt traffic that needs no tracking (nftables `notrack` in a raw-priority chain).",
                    "No NAT and no stateful filtering for that traffic.");
    return 0;
}

int audit_findings(const audit_snapshot *s, diag_findings *out)
{
    memset(out, 0, sizeof *out);
    bool *exhausted = calloc(s->n_dests ? s->n_dests : 1, sizeof *exhausted);
    int rc = exhausted ? 0 : -ENOMEM;
    if (rc == 0)
        rc = tw_recycle(s, out);
    if (rc == 0)
        rc = port_exhaustion(s, out, exhausted);
    if (rc == 0)
        rc = timewait_dest(s, out, exhausted);
    if (rc == 0)
        rc = timewait_buckets(s, out);
    if (rc == 0)
        rc = conntrack(s, out);
    free(exhausted);
    if (rc == 0 && !diag_findings_complete(out))
        rc = -ENOMEM;
    if (rc != 0) {
        diag_findings_free(out);
        memset(out, 0, sizeof *out);
        return rc;
    }
    diag_findings_sort(out);
    return 0;
}
