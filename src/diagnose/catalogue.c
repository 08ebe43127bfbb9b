/* catalogue.c - the one table of finding ids: title, who raises them, severity rule, remedies. */
#include <stdio.h>
#include <string.h>

#include "tcpdoctor/diagnose.h"

/*
 * Every finding id the tool can print is here and nowhere else as a list:
 * analyze's detectors, audit, simulate's `expect:` (scenario.c) and the
 * test that holds docs/findings.md to it read this table.  A new detector
 * adds its row here (and its section in docs/findings.md: the test fails
 * otherwise).  The severity column says in words when the finding is a
 * warning or an error; the detector's judging code is the rule itself.
 * folds_under: field report 000's chain, the NAT's short hold (the cause)
 * making the server meet its own TIME_WAIT (timewait-reuse) with ISNs
 * below the old connection's (isn-not-increasing): one cause, said once.
 */
static const diag_cat_entry catalogue[] = {
    { "timewait-reuse", "4-tuple reused into the closer's TIME_WAIT", DIAG_CAT_ANALYZE,
      "warning; error if an attempt never connected; info when the reuse was accepted",
      "000, 001", false, "nat-timewait-mismatch",
      "gap_min_s:s; gap_max_s:s; delay_max_s:s; failed:attempts; stale_acks:; servers:; answer_ttl:; synack_options_compared:answers; linked_to_other_host:" },
    { "nat-timewait-mismatch", "NAT reuses ports sooner than the server's TIME_WAIT",
      DIAG_CAT_ANALYZE, "warning; error if attempts failed", "000", false, NULL,
      "nat_reuse_s:s; nat_reuse_median_s:s; server_timewait_min_s:s; server_timewait_max_s:s; reuses:; rejected:" },
    { "isn-not-increasing", "reused 4-tuple with an ISN below the old connection's",
      DIAG_CAT_ANALYZE, "warning when the reuse was refused; info if accepted", "001", false,
      "nat-timewait-mismatch",
      "reuses:; isn_not_above:; rejected:; prev_final_seq:; new_isn:; other_host:" },
    { "paws-reject", "SYNs dropped by a per-host timestamp check behind NAT",
      DIAG_CAT_ANALYZE, "warning; error if attempts never connected", "002, 004", false, NULL,
      "dropped_syns:SYNs; hosts_min:hosts; ts_gap_min:ticks; attempts:; never_connected:attempts; delay_max_s:s; record_lifetime_s:s; answered_above:SYNs; contradictions:SYNs" },
    { "nat-multiple-hosts", "several hosts behind one address", DIAG_CAT_ANALYZE, "info",
      "002", false, NULL,
      "hosts_min:hosts; ts_clocks:clocks; ttl_initials:; syn_layouts:; connections:" },
    { "port-exhaustion", "a port pool at its ceiling", DIAG_CAT_ANALYZE | DIAG_CAT_AUDIT,
      "error when attempts failed at the ports' plateau; warning when they waited, or on a "
      "proven range (256 ports or more) in use; info on a few ports all in use",
      "001, 003", false, NULL,
      "hold_s:s; max_rate:conn/s; pool_low:; pool_high:; pool_size:ports; peak_in_use:ports; failed_attempts:; delayed_attempts:; connections:; reuses:; full_s:s; usable_ports:ports; ports_in_use:ports; headroom:ports; timewait:sockets; next_free_s:s; all_timewait_free_s:s" },
    { "timewait-accumulation", "TIME_WAIT piling up near the port budget",
      DIAG_CAT_ANALYZE | DIAG_CAT_AUDIT,
      "error when attempts failed with TIME_WAIT holding the pool; warning near a proven budget",
      "001, 003", false, NULL,
      "peak_timewait:tuples; port_budget:ports; closer_share:; timewait_s:s; timewait_occupancy:; failed_attempts:; close_rate:conn/s; projected_timewait:tuples; timewait:sockets; timewait_share:; max_tw_buckets:sockets; timewait_overflow:connections" },
    { "abortive-close", "connections ended with RST", DIAG_CAT_ANALYZE, "info", "003", false, NULL,
      "connections:; share:of established" },
    { "fragmented-tcp", "TCP in IP fragments, and what became of them", DIAG_CAT_ANALYZE,
      "warning when fragments were lost; error if the connection failed; info when delivered",
      "004", false, NULL,
      "fragmented_segments:; unacknowledged:; retransmitted:; max_datagram:bytes; df_clear:; incomplete:; connections_failed:; connections:; missing_bytes:bytes; orphan_datagrams:" },
    { "connection-refused", "SYNs refused by RST or ICMP", DIAG_CAT_ANALYZE,
      "warning; error when the endpoint also accepted connections (intermittent refusals)",
      "all", false, NULL,
      "attempts:attempts; by_rst:attempts; by_icmp:attempts; by_device:attempts; connected:attempts" },
    { "syn-unanswered", "SYNs nothing answered, cause unknown", DIAG_CAT_ANALYZE, "warning",
      "all", true, NULL,
      "attempts:attempts; syns:SYNs" },
    { "unexplained-failures", "failed or slow attempts no finding explains", DIAG_CAT_ANALYZE,
      "warning; error when they are a tenth of the attempts or more; info when only slow",
      "all", true, NULL,
      "failed:attempts; slow:attempts" },
    { "scan", "one source probing many ports or hosts", DIAG_CAT_ANALYZE, "info", "-", false, NULL,
      "probes:attempts; refused:attempts; unanswered:attempts; duration_s:s" },
    { "tw-recycle-enabled", "net.ipv4.tcp_tw_recycle is on", DIAG_CAT_AUDIT,
      "error while timestamps are on; warning otherwise", "002", false, NULL,
      "tw_recycle:; paws_passive:SYNs; listen_drops:SYNs; record_lifetime_s:s" },
    { "conntrack-pressure", "the conntrack table near full", DIAG_CAT_AUDIT,
      "warning near the limit; error at the limit, or near it with entries dropped", "003", false, NULL,
      "conntrack_count:entries; conntrack_max:entries; usage:; drops:packets; timeout_time_wait_s:s; timeout_close_s:s; timeout_established_s:s" },
};

const diag_cat_entry *diag_catalogue(size_t *n)
{
    *n = sizeof catalogue / sizeof catalogue[0];
    return catalogue;
}

const diag_cat_entry *diag_catalogue_find(const char *id)
{
    for (size_t i = 0; i < sizeof catalogue / sizeof catalogue[0]; i++)
        if (strcmp(catalogue[i].id, id) == 0)
            return &catalogue[i];
    return NULL;
}

bool diag_catalogue_param(const char *id, const char *name, char *buf, size_t len)
{
    const diag_cat_entry *e = diag_catalogue_find(id);
    if (e == NULL || len == 0)
        return false;
    if (strcmp(name, "findings") == 0) {
        snprintf(buf, len, "findings");
        return true;
    }
    size_t nl = strlen(name);
    for (const char *p = e->params; p != NULL && *p != '\0';) {
        while (*p == ' ' || *p == ';')
            p++;
        const char *colon = strchr(p, ':');
        const char *end = strchr(p, ';');
        if (colon == NULL)
            return false;
        if (end == NULL)
            end = p + strlen(p);
        if ((size_t)(colon - p) == nl && strncmp(p, name, nl) == 0) {
            size_t ul = (size_t)(end - colon - 1);
            snprintf(buf, len, "%.*s", (int)ul, colon + 1);
            return true;
        }
        p = end;
    }
    return false;
}

/*
 * Confidence in words: how much of the cause the packets show.  A
 * detector computes a number from its evidence; these names are what the
 * report says of it, the same for every finding.
 */
static const diag_conf_level levels[] = {
    { "proven", 0.9, "the packets show the mechanism itself (e.g. a reused 4-tuple answered "
                     "by the old connection's ACK)" },
    { "strong", 0.75, "the packets fit this cause and rule out the usual others" },
    { "likely", 0.55, "the packets fit this cause; another one is not ruled out" },
    { "possible", 0.0, "a pattern worth checking, not a proof" },
};

const diag_conf_level *diag_confidence_level(double confidence)
{
    for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++)
        if (confidence >= levels[i].min)
            return &levels[i];
    return &levels[sizeof levels / sizeof levels[0] - 1];
}

const diag_conf_level *diag_confidence_levels(size_t *n)
{
    *n = sizeof levels / sizeof levels[0];
    return levels;
}

/* The remedies several findings give, analyze's and audit's alike: one
 * wording each (what to do; what it costs or risks). */
static const struct {
    const char *id;
    const char *action;
    const char *tradeoff;
} remedies[DIAG_REM_COUNT] = {
    [DIAG_REM_SERVER_CLOSES] = { "server-closes",
        "Let the server close first (HTTP: the server ends keep-alive connections, or the "
        "client keeps them open), so TIME_WAIT sits on the server, where it costs no port",
        "the server holds the TIME_WAIT tuples instead (memory only) and the application "
        "protocol must allow it; a NAT in front of the clients that reuses ports sooner than "
        "the server's TIME_WAIT then meets it (nat-timewait-mismatch)" },
    [DIAG_REM_REUSE_CONNECTIONS] = { "reuse-connections",
        "Reuse connections (keep-alive, a connection pool) instead of opening one per request",
        "application or proxy configuration; idle pooled connections hold ports and backend "
        "resources" },
    [DIAG_REM_TW_REUSE] = { "tw-reuse",
        "Set net.ipv4.tcp_tw_reuse = 1 on the Linux host that connects (with tcp_timestamps = "
        "1): connect() then takes over a TIME_WAIT tuple older than tcp_tw_reuse_delay (1 s; "
        "tcp-behaviour.md 3.7)",
        "relies on TCP timestamps on both sides (PAWS) to keep old duplicates out; a middlebox "
        "that strips them defeats it; outgoing connections only" },
    [DIAG_REM_WIDEN_PORT_RANGE] = { "widen-port-range",
        "Widen the ephemeral port range (Linux: net.ipv4.ip_local_port_range, default 32768 "
        "60999 = 28 232 ports per destination, e.g. 10000 65000, with the ports local services "
        "listen on in ip_local_reserved_ports; Windows: netsh int ipv4 set dynamicport tcp)",
        "ephemeral ports may collide with services started later on fixed ports in the range; "
        "more ports only postpone the limit if the connection rate keeps growing" },
    [DIAG_REM_MORE_SOURCES] = { "more-source-addresses",
        "Add source addresses: more SNAT/NAT pool addresses (seed 003's load balancer had too "
        "few), or several local addresses with IP_BIND_ADDRESS_NO_PORT and bind() to each; "
        "each one multiplies the pool (more destination addresses or ports do too)",
        "more addresses to configure and balance over" },
    [DIAG_REM_RST_CLOSE] = { "rst-close",
        "Close with RST (SO_LINGER 0) to free ports at once, as Outlook does (seed 003)",
        "data still in flight is lost and the peer sees ECONNRESET; use only when both sides "
        "are done" },
    [DIAG_REM_TW_RECYCLE_OFF] = { "tw-recycle-off",
        "Set net.ipv4.tcp_tw_recycle = 0 (sysctl -w, and remove it from /etc/sysctl.conf and "
        "/etc/sysctl.d/)",
        "closed connections hold TIME_WAIT for the full 60 s again; if it was turned on to save "
        "ports, let the clients close first or use tcp_tw_reuse = 1 on the host that connects" },
    [DIAG_REM_UPGRADE_LINUX] = { "upgrade-linux-4.12",
        "Upgrade to Linux 4.12 or later, where tcp_tw_recycle and its per-host timestamp check "
        "no longer exist",
        "a kernel upgrade and its testing; sysctl files that still set the option then fail to "
        "apply that line" },
};

void diag_remedy_shared(diag_finding *f, enum diag_remedy_id id)
{
    if ((unsigned)id >= DIAG_REM_COUNT)
        return;
    size_t before = f->n_remedies;
    diag_remedy_add(f, remedies[id].action, remedies[id].tradeoff);
    if (f->n_remedies > before)
        f->remedies[before].id = remedies[id].id;
}

const char *diag_remedy_name(enum diag_remedy_id id)
{
    return (unsigned)id < DIAG_REM_COUNT ? remedies[id].id : NULL;
}
