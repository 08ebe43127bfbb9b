/* catalogue.c - the one table of finding ids: title, who raises them, severity rule, remedies. */
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
      "000, 001", false, "nat-timewait-mismatch" },
    { "nat-timewait-mismatch", "NAT reuses ports sooner than the server's TIME_WAIT",
      DIAG_CAT_ANALYZE, "warning; error if attempts failed", "000", false, NULL },
    { "isn-not-increasing", "reused 4-tuple with an ISN below the old connection's",
      DIAG_CAT_ANALYZE, "warning when the reuse was refused; info if accepted", "001", false,
      "nat-timewait-mismatch" },
    { "paws-reject", "SYNs dropped by a per-host timestamp check behind NAT",
      DIAG_CAT_ANALYZE, "warning; error if attempts never connected", "002, 004", false, NULL },
    { "nat-multiple-hosts", "several hosts behind one address", DIAG_CAT_ANALYZE, "info",
      "002", false, NULL },
    { "port-exhaustion", "a port pool at its ceiling", DIAG_CAT_ANALYZE | DIAG_CAT_AUDIT,
      "error when attempts failed at the ports' plateau; warning when they waited, or on a "
      "proven range (256 ports or more) in use; info on a few ports all in use",
      "001, 003", false, NULL },
    { "timewait-accumulation", "TIME_WAIT piling up near the port budget",
      DIAG_CAT_ANALYZE | DIAG_CAT_AUDIT,
      "error when attempts failed with TIME_WAIT holding the pool; warning near a proven budget",
      "001, 003", false, NULL },
    { "abortive-close", "connections ended with RST", DIAG_CAT_ANALYZE, "info", "003", false, NULL },
    { "fragmented-tcp", "TCP in IP fragments, and what became of them", DIAG_CAT_ANALYZE,
      "warning when fragments were lost; error if the connection failed; info when delivered",
      "004", false, NULL },
    { "connection-refused", "SYNs refused by RST or ICMP", DIAG_CAT_ANALYZE,
      "warning; error when the endpoint also accepted connections (intermittent refusals)",
      "all", false, NULL },
    { "syn-unanswered", "SYNs nothing answered, cause unknown", DIAG_CAT_ANALYZE, "warning",
      "all", true, NULL },
    { "unexplained-failures", "failed or slow attempts no finding explains", DIAG_CAT_ANALYZE,
      "warning; error when they are a tenth of the attempts or more; info when only slow",
      "all", true, NULL },
    { "scan", "one source probing many ports or hosts", DIAG_CAT_ANALYZE, "info", "-", false, NULL },
    { "tw-recycle-enabled", "net.ipv4.tcp_tw_recycle is on", DIAG_CAT_AUDIT,
      "error while timestamps are on; warning otherwise", "002", false, NULL },
    { "conntrack-pressure", "the conntrack table near full", DIAG_CAT_AUDIT,
      "warning near the limit; error at the limit, or near it with entries dropped", "003", false, NULL },
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
