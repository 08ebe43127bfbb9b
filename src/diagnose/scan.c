/* scan.c - detector: one source probing many ports or hosts with bare SYNs, said once. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "diagnose/diag_internal.h"

/*
 * How it works.  The lifecycle stage marks as probes the refused and
 * unanswered bare SYNs of a source that sent them to at least
 * LC_SCAN_ENDPOINTS server endpoints (lifecycle.h).  Refusals and silence
 * are what a scan is made of (a closed port answers RST, a filtered one
 * nothing, an open one a SYN-ACK the scanner resets: nmap's SYN scan), so
 * they are not failed connections of a service: one informational finding
 * per scanning source claims them, and nothing else is raised for them.
 *
 * Limits.  A client whose every connection fails toward twenty different
 * endpoints (a host whose route is down) looks the same; its attempts are
 * then said as a scan, not as failures: the summary says what was seen.
 */

typedef struct scan_sum {
    uint64_t probes, refused, unanswered, open;
    uint64_t hosts;             /* distinct servers */
    uint64_t first_packet;
    int64_t  first_ts, last_ts;
} scan_sum;

static void sum_group(const lc_attempt *att, const diag_ep_group *gr, const size_t *next,
                      scan_sum *s)
{
    memset(s, 0, sizeof *s);
    const pkt_addr *prev = NULL;
    for (size_t j = gr->first, m = 0; m < gr->n; j = next[j], m++) {
        const lc_attempt *a = &att[j];
        if (s->probes++ == 0) {
            s->first_packet = a->first_packet;
            s->first_ts = a->first_ts;
        }
        s->last_ts = a->last_ts > s->last_ts ? a->last_ts : s->last_ts;
        s->refused += a->outcome == LC_REFUSED;
        s->unanswered += a->outcome == LC_UNANSWERED;
        s->open += a->outcome == LC_HANDSHAKE_FAILED;
        /* attempts are by first packet: count a server again only when it
           changes (a lower bound on distinct servers, exact for the usual
           host-by-host or port-by-port order) */
        if (prev == NULL || memcmp(prev, &a->server, sizeof *prev) != 0)
            s->hosts++;
        prev = &a->server;
    }
}

static int scan_finish(void *st, diag_ctx *ctx, diag_findings *out)
{
    (void)st;
    size_t n;
    const lc_attempt *att = lc_attempts(ctx->lc, &n);
    if (lc_account(ctx->lc)->probes == 0)
        return 0;
    diag_ep_groups eg;      /* keyed by the scanning source (port 0) */
    int rc = diag_ep_groups_init(&eg, n, (uint64_t)(uintptr_t)ctx * 0x2545f4914f6cdd1dULL);
    for (size_t i = 0; i < n && rc == 0; i++)
        if (att[i].probe && diag_ep_groups_add(&eg, &att[i].client, 0, i) < 0)
            rc = -ENOMEM;
    for (size_t k = 0; k < eg.n && rc == 0; k++) {
        const diag_ep_group *gr = &eg.v[k];
        scan_sum s;
        sum_group(att, gr, eg.next, &s);
        diag_finding *f = diag_add(out, "scan", DIAG_INFO, 0.8);
        if (f == NULL) {
            rc = -ENOMEM;
            break;
        }
        char src[PKT_ADDR_STRLEN];
        diag_addr(&gr->addr, src, sizeof src);
        f->events = s.probes;
        f->client = gr->addr;
        f->has_client = true;
        diag_summary(f, "%s scanned: %llu bare SYNs to %llu or more hosts' ports, "
                     "%llu refused, %llu unanswered, %llu open",
                     src, (unsigned long long)s.probes, (unsigned long long)s.hosts,
                     (unsigned long long)s.refused, (unsigned long long)s.unanswered,
                     (unsigned long long)s.open);
        diag_explain(f, "One source sent single SYNs to many ports or hosts and completed no "
                     "connection with them: a port scan (or a client trying every address "
                     "it knows). Its refusals and unanswered SYNs are the scan's, not a "
                     "service failing, and are not counted as failures below.");
        diag_evidence_add(f, s.first_packet, s.first_ts, "%8.3f  first probe from %s",
                          diag_rel(ctx, s.first_ts), src);
        diag_param_add(f, "probes", (double)s.probes, "attempts");
        diag_param_add(f, "refused", (double)s.refused, "attempts");
        diag_param_add(f, "unanswered", (double)s.unanswered, "attempts");
        diag_param_add(f, "duration_s", diag_secs(s.last_ts - s.first_ts), "s");
        for (size_t j = gr->first, m = 0; m < gr->n && rc == 0; j = eg.next[j], m++)
            rc = diag_claim(f, att[j].first_packet);
    }
    diag_ep_groups_free(&eg);
    return rc;
}

const diag_detector diag_det_scan = {
    .id = "scan",
    .finish = scan_finish,
};
