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
 * scan_judge() counts a source's probes into a verdict (with the attempts
 * it claims); scan_words() writes the finding from the verdict alone.
 *
 * Limits.  A client whose every connection fails toward twenty different
 * endpoints (a host whose route is down) looks the same; its attempts are
 * then said as a scan, not as failures: the summary says what was seen.
 */

/* What one scanning source's probes say (scan_judge()); scan_words()
 * writes the finding from it and from nothing else. */
typedef struct scan_verdict {
    pkt_addr source;            /* the scanning source */
    uint64_t probes, refused, unanswered, open;
    uint64_t hosts;             /* distinct servers (a lower bound) */
    uint64_t first_packet;      /* the first probe: the evidence */
    int64_t  first_ts, last_ts;
    enum diag_severity severity;
    double   confidence;
    const lc_attempt *att;      /* the probes claimed: the group's attempts */
    const diag_ep_group *gr;
    const size_t *next;
} scan_verdict;

/* ---- judge --------------------------------------------------------------- */

static void scan_judge(const lc_attempt *att, const diag_ep_group *gr, const size_t *next,
                       scan_verdict *vd)
{
    memset(vd, 0, sizeof *vd);
    vd->source = gr->addr;
    vd->severity = DIAG_INFO;
    vd->confidence = 0.8;
    vd->att = att;
    vd->gr = gr;
    vd->next = next;
    const pkt_addr *prev = NULL;
    for (size_t j = gr->first, m = 0; m < gr->n; j = next[j], m++) {
        const lc_attempt *a = &att[j];
        if (vd->probes++ == 0) {
            vd->first_packet = a->first_packet;
            vd->first_ts = a->first_ts;
        }
        vd->last_ts = a->last_ts > vd->last_ts ? a->last_ts : vd->last_ts;
        vd->refused += a->outcome == LC_REFUSED;
        vd->unanswered += a->outcome == LC_UNANSWERED;
        vd->open += a->outcome == LC_HANDSHAKE_FAILED;
        /* attempts are by first packet: count a server again only when it
           changes (a lower bound on distinct servers, exact for the usual
           host-by-host or port-by-port order) */
        if (prev == NULL || memcmp(prev, &a->server, sizeof *prev) != 0)
            vd->hosts++;
        prev = &a->server;
    }
}

/* ---- words --------------------------------------------------------------- */

/* The finding of a verdict; NULL when out of memory. */
static diag_finding *scan_words(const scan_verdict *vd, const diag_ctx *ctx, diag_findings *out)
{
    diag_finding *f = diag_add(out, "scan", vd->severity, vd->confidence);
    if (f == NULL)
        return NULL;
    char src[PKT_ADDR_STRLEN];
    diag_addr(&vd->source, src, sizeof src);
    f->events = vd->probes;
    f->client = vd->source;
    f->has_client = true;
    diag_summary(f, "%s scanned: %llu bare SYNs to %llu or more hosts' ports, "
                 "%llu refused, %llu unanswered, %llu open",
                 src, (unsigned long long)vd->probes, (unsigned long long)vd->hosts,
                 (unsigned long long)vd->refused, (unsigned long long)vd->unanswered,
                 (unsigned long long)vd->open);
    diag_explain(f, "One source sent single SYNs to many ports or hosts and completed no "
                 "connection with them: a port scan (or a client trying every address "
                 "it knows). Its refusals and unanswered SYNs are the scan's, not a "
                 "service failing, and are not counted as failures below.");
    diag_evidence_add(f, vd->first_packet, vd->first_ts, "%8.3f  first probe from %s",
                      diag_rel(ctx, vd->first_ts), src);
    diag_param_add(f, "probes", (double)vd->probes, "attempts");
    diag_param_add(f, "refused", (double)vd->refused, "attempts");
    diag_param_add(f, "unanswered", (double)vd->unanswered, "attempts");
    diag_param_add(f, "duration_s", diag_secs(vd->last_ts - vd->first_ts), "s");
    return f;
}

/* ---- finish: group, judge, word, claim ----------------------------------- */

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
        scan_verdict vd;
        scan_judge(att, &eg.v[k], eg.next, &vd);
        diag_finding *f = scan_words(&vd, ctx, out);
        if (f == NULL) {
            rc = -ENOMEM;
            break;
        }
        for (size_t j = vd.gr->first, m = 0; m < vd.gr->n && rc == 0; j = vd.next[j], m++)
            rc = diag_claim(f, vd.att[j].first_packet);
    }
    diag_ep_groups_free(&eg);
    return rc;
}

const diag_detector diag_det_scan = {
    .id = "scan",
    .finish = scan_finish,
};
