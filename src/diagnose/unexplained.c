/* unexplained.c - the accounting of every attempt, and the honest residual: failures no finding explains. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diagnose/diag_internal.h"

/*
 * How it works.  After every detector's finish, each finding's claims
 * name the attempts it explains.  Every slow or failed attempt (lifecycle
 * outcomes) is explained when a finding claims it and unexplained
 * otherwise; attempts with no verdict are neither.  The unexplained ones
 * are then said, so that the tool never stays silent about a failure
 * because no detector recognised its cause:
 *   - unanswered SYNs as `syn-unanswered`, one finding per server endpoint
 *     (the MAX_SU_GROUPS with most attempts; the rest in one more);
 *   - every other unexplained outcome as one `unexplained-failures`,
 *     grouped in its evidence by server endpoint and outcome.
 * Both claim what they list (JSON claimed_by) but explain nothing: the
 * accounting counts those attempts as unexplained.
 * Severity of unexplained-failures: warning when any of its attempts
 * failed; error when those are at least ERROR_SHARE of the attempts with
 * a verdict (and at least ERROR_MIN); info when they were only slow (they
 * connected; the report says how slow).
 *
 * Limits.  "Checked and not found" names the causes the detectors look
 * for; it does not prove a cause absent where the capture lacks what a
 * detector needs (e.g. timestamps for PAWS, the other side of a NAT).
 */

#define ERROR_SHARE 10      /* percent */
#define ERROR_MIN 3
#define MAX_SU_GROUPS 8     /* syn-unanswered findings, one per endpoint */
#define EXAMPLES 3          /* attempts listed per group */

static int cmp_u64(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return a < b ? -1 : a > b;
}

static bool counts(const lc_attempt *a)
{
    return a->outcome == LC_SLOW || lc_is_failure(a->outcome);
}

/* Which attempts some finding claims (claimed[i] for attempt i). */
static bool *claimed_attempts(const diag_ctx *ctx, const diag_findings *out, size_t n)
{
    bool *cl = calloc(n ? n : 1, sizeof *cl);
    if (cl == NULL)
        return NULL;
    for (size_t i = 0; i < out->n; i++)
        for (size_t j = 0; j < out->v[i].n_claims; j++) {
            long k = lc_attempt_find(ctx->lc, out->v[i].claims[j]);
            if (k >= 0)
                cl[k] = true;
        }
    return cl;
}

static void attempt_line(diag_finding *f, const diag_ctx *ctx, const lc_attempt *a)
{
    char c[64], s[64];
    diag_endpoint(&a->client, a->client_port, c, sizeof c);
    diag_endpoint(&a->server, a->server_port, s, sizeof s);
    uint64_t pkt = a->decisive_packet ? a->decisive_packet : a->first_packet;
    const char *d = lc_detail_words((enum lc_detail)a->detail);
    switch (a->outcome) {
    case LC_SLOW:
        diag_evidence_add(f, pkt, a->decisive_ts, "%8.3f  %s > %s  slow: connected %.3f s after "
                          "the first SYN (%u SYNs)", diag_rel(ctx, a->decisive_ts), c, s,
                          a->delay_s, a->syns);
        break;
    case LC_UNANSWERED:
        diag_evidence_add(f, a->first_packet, a->first_ts, "%8.3f  %s > %s  SYN, %u transmission%s "
                          "over %.1f s, no answer", diag_rel(ctx, a->first_ts), c, s, a->syns,
                          a->syns == 1 ? "" : "s", a->delay_s);
        break;
    default:
        if (a->unacked > 0)
            diag_evidence_add(f, pkt, a->decisive_ts, "%8.3f  %s > %s  %s: %s (%u bytes "
                              "unacknowledged)", diag_rel(ctx, a->decisive_ts), c, s,
                              lc_outcome_name((enum lc_outcome)a->outcome), d, a->unacked);
        else
            diag_evidence_add(f, pkt, a->decisive_ts, "%8.3f  %s > %s  %s%s%s",
                              diag_rel(ctx, a->decisive_ts), c, s,
                              lc_outcome_name((enum lc_outcome)a->outcome), *d ? ": " : "", d);
        break;
    }
}

/* ---- syn-unanswered ---------------------------------------------------------- */

static bool is_su(const lc_attempt *a, const bool *cl, size_t i)
{
    return !cl[i] && a->outcome == LC_UNANSWERED;
}

static int su_finding(diag_ctx *ctx, diag_findings *out, const lc_attempt *att,
                      const diag_ep_groups *eg, const size_t *which, size_t n_which)
{
    /* SYNs the clients abandoned before any retry prove no failure of the
       server: said at severity info (lifecycle.h, LC_D_ABANDONED) */
    bool all_abandoned = true;
    for (size_t w = 0; w < n_which && all_abandoned; w++) {
        const diag_ep_group *gr = &eg->v[which[w]];
        for (size_t j = gr->first, m = 0; m < gr->n; j = eg->next[j], m++)
            all_abandoned &= att[j].detail == LC_D_ABANDONED;
    }
    diag_finding *f = diag_add(out, "syn-unanswered", all_abandoned ? DIAG_INFO : DIAG_WARNING,
                               0.7);
    if (f == NULL)
        return -ENOMEM;
    uint64_t n = 0, syns = 0;
    for (size_t w = 0; w < n_which; w++) {
        const diag_ep_group *gr = &eg->v[which[w]];
        for (size_t j = gr->first, m = 0; m < gr->n; j = eg->next[j], m++) {
            n++;
            syns += att[j].syns;
            if (m < EXAMPLES)
                attempt_line(f, ctx, &att[j]);
        }
    }
    const diag_ep_group *g0 = &eg->v[which[0]];
    char s[64];
    diag_endpoint(&g0->addr, g0->port, s, sizeof s);
    f->events = n;
    if (n_which == 1) {
        f->server = g0->addr;
        f->server_port = g0->port;
        f->has_server = true;
        diag_summary(f, "%llu connection attempt%s to %s got no answer at all (%llu SYNs)",
                     (unsigned long long)n, n == 1 ? "" : "s", s, (unsigned long long)syns);
    } else {
        diag_summary(f, "%llu connection attempts to %zu other server endpoints got no answer "
                     "at all (%llu SYNs)", (unsigned long long)n, n_which, (unsigned long long)syns);
    }
    if (ctx->vantage == DIAG_VANTAGE_SERVER)
        diag_explain(f, "The SYNs reached the capture point at the server, and the server sent "
                     "nothing back: no SYN-ACK, no RST. A listener whose accept queue is full "
                     "drops SYNs (ListenOverflows/ListenDrops), so does a host firewall, and so "
                     "does a per-host timestamp check (paws-reject, when timestamps show it).");
    else
        diag_explain(f, "The SYNs left the client and nothing came back: no SYN-ACK, no RST, no "
                     "ICMP error. They were dropped on the way (a firewall, a NAT without a free "
                     "port, a route) or by the server. A capture at the server side would tell "
                     "which: if the SYNs are not there, the path dropped them.");
    if (all_abandoned)
        diag_explain(f, "Each attempt sent one SYN and the client never retried it, although "
                     "the capture went on: every stack retransmits an unanswered SYN after 1 "
                     "or 3 s, so the client gave up first (happy eyeballs racing another "
                     "address, a connect timeout under a second). Nothing here proves that "
                     "the server failed: informational.");
    diag_explain(f, "No cause tcpdoctor knows matched these attempts (TIME_WAIT or NAT port "
                 "reuse, per-host timestamp checks, a port pool at its ceiling): they are "
                 "counted as unexplained.");
    diag_param_add(f, "attempts", (double)n, "attempts");
    diag_param_add(f, "syns", (double)syns, "SYNs");
    diag_remedy_add(f, "Check the server's listen queue and counters (nstat -az "
                       "TcpExtListenOverflows TcpExtListenDrops) and its firewall",
                    "none: diagnosis");
    diag_remedy_add(f, "Capture on the other side of the path (at the server if this is the "
                       "client, and the reverse) to see where the SYNs disappear",
                    "none: diagnosis");
    /* claims must rise: the groups' attempts are gathered and sorted */
    uint64_t *fp = malloc(n * sizeof *fp);
    if (fp == NULL)
        return -ENOMEM;
    size_t k = 0;
    for (size_t w = 0; w < n_which; w++) {
        const diag_ep_group *gr = &eg->v[which[w]];
        for (size_t j = gr->first, m = 0; m < gr->n; j = eg->next[j], m++)
            fp[k++] = att[j].first_packet;
    }
    qsort(fp, k, sizeof *fp, cmp_u64);
    int rc = 0;
    for (size_t i = 0; i < k && rc == 0; i++)
        rc = diag_claim(f, fp[i]);
    free(fp);
    return rc;
}

/* A group of unanswered attempts by size, for the order of the findings. */
typedef struct group_rank {
    size_t n, k;                /* attempts, position among the groups */
} group_rank;

static int cmp_rank(const void *x, const void *y)
{
    const group_rank *a = x, *b = y;
    if (a->n != b->n)
        return a->n > b->n ? -1 : 1;
    return a->k < b->k ? -1 : a->k > b->k;
}

static int su_findings(diag_ctx *ctx, diag_findings *out, const lc_attempt *att, size_t n,
                       const bool *cl)
{
    diag_ep_groups eg;
    int rc = diag_ep_groups_init(&eg, n, (uint64_t)(uintptr_t)out * 0x9e3779b97f4a7c15ULL);
    for (size_t i = 0; i < n && rc == 0; i++)
        if (is_su(&att[i], cl, i) && diag_ep_groups_add(&eg, &att[i].server, att[i].server_port, i) < 0)
            rc = -ENOMEM;
    group_rank *rank = rc == 0 && eg.n > 0 ? malloc(eg.n * sizeof *rank) : NULL;
    size_t *order = rank != NULL ? malloc(eg.n * sizeof *order) : NULL;
    if (rc == 0 && eg.n > 0 && order == NULL)
        rc = -ENOMEM;
    if (rc == 0 && eg.n > 0) {
        /* most attempts first, then in order of appearance */
        for (size_t k = 0; k < eg.n; k++)
            rank[k] = (group_rank){ eg.v[k].n, k };
        qsort(rank, eg.n, sizeof *rank, cmp_rank);
        for (size_t k = 0; k < eg.n; k++)
            order[k] = rank[k].k;
        size_t own = eg.n <= MAX_SU_GROUPS + 1 ? eg.n : MAX_SU_GROUPS;
        for (size_t k = 0; k < own && rc == 0; k++)
            rc = su_finding(ctx, out, att, &eg, &order[k], 1);
        if (rc == 0 && own < eg.n)
            rc = su_finding(ctx, out, att, &eg, order + own, eg.n - own);
    }
    free(rank);
    free(order);
    diag_ep_groups_free(&eg);
    return rc;
}

/* ---- unexplained-failures ----------------------------------------------------- */

static bool is_ux(const lc_attempt *a, const bool *cl, size_t i)
{
    return !cl[i] && counts(a) && a->outcome != LC_UNANSWERED;
}

static void ux_group_line(diag_finding *f, const diag_ctx *ctx, const lc_attempt *att,
                          const diag_ep_group *gr, const size_t *next)
{
    uint64_t by[LC_N_OUTCOMES] = { 0 };
    for (size_t j = gr->first, m = 0; m < gr->n; j = next[j], m++)
        by[att[j].outcome]++;
    char ep[64], parts[256];
    size_t len = 0;
    parts[0] = '\0';
    for (int o = 0; o < LC_N_OUTCOMES; o++) {
        if (by[o] == 0)
            continue;
        int w = snprintf(parts + len, sizeof parts - len, "%s%llu %s", len ? ", " : "",
                         (unsigned long long)by[o], lc_outcome_name((enum lc_outcome)o));
        if (w < 0 || (size_t)w >= sizeof parts - len)
            break;
        len += (size_t)w;
    }
    diag_endpoint(&gr->addr, gr->port, ep, sizeof ep);
    diag_evidence_add(f, 0, 0, "to %s: %s", ep, parts);
    for (size_t j = gr->first, m = 0; m < gr->n && m < EXAMPLES; j = next[j], m++)
        attempt_line(f, ctx, &att[j]);
}

static void ux_words(diag_finding *f, const uint64_t *by)
{
    static const char *const words[LC_N_OUTCOMES] = {
        [LC_SLOW] = "slow: connected only after retransmitted SYNs or SYN-ACKs (a lost "
                    "SYN or SYN-ACK, a listen queue that overflowed, a NAT that held the "
                    "SYN back)",
        [LC_HANDSHAKE_FAILED] = "handshake-failed: the server answered, but the handshake "
                                "never completed (the client's ACK lost, or a wrong one)",
        [LC_STALLED] = "stalled: data was retransmitted and never acknowledged (a path "
                       "that drops large segments or fragments, a peer that went away)",
        [LC_RESET] = "reset: the server reset the connection while the client's data "
                     "waited for its acknowledgment (a keep-alive connection closed as it "
                     "was reused, an idle timeout), or an RST came from a third party",
        [LC_REFUSED] = "refused: answered by RST or ICMP",
    };
    for (int o = 0; o < LC_N_OUTCOMES; o++)
        if (by[o] > 0 && words[o] != NULL)
            diag_explain(f, "%s.", words[o]);
}

static int ux_finding(diag_ctx *ctx, diag_findings *out, const lc_attempt *att, size_t n,
                      const bool *cl, const diag_accounting *acc)
{
    uint64_t by[LC_N_OUTCOMES] = { 0 }, failed = 0, total = 0;
    for (size_t i = 0; i < n; i++)
        if (is_ux(&att[i], cl, i)) {
            by[att[i].outcome]++;
            failed += att[i].outcome != LC_SLOW;
            total++;
        }
    if (total == 0)
        return 0;
    uint64_t judged = acc->lc.attempts - acc->lc.by_outcome[LC_NO_VERDICT];
    enum diag_severity sev = failed == 0 ? DIAG_INFO
                           : failed >= ERROR_MIN && failed * 100 >= judged * ERROR_SHARE ? DIAG_ERROR
                           : DIAG_WARNING;
    diag_finding *f = diag_add(out, "unexplained-failures", sev, 0.5);
    if (f == NULL)
        return -ENOMEM;
    f->events = total;
    diag_summary(f, "%llu failed and %llu slow connection attempt%s that no finding explains",
                 (unsigned long long)failed, (unsigned long long)by[LC_SLOW],
                 total == 1 ? "" : "s");
    diag_explain(f, "These attempts failed or were slow, and no cause tcpdoctor knows matched "
                 "them (TIME_WAIT or NAT port reuse, non-increasing ISNs, per-host timestamp "
                 "checks behind a NAT, a port pool at its ceiling, fragments, refusals). The "
                 "evidence groups them by server endpoint and outcome:");
    ux_words(f, by);
    diag_param_add(f, "failed", (double)failed, "attempts");
    diag_param_add(f, "slow", (double)by[LC_SLOW], "attempts");
    diag_remedy_add(f, "Capture at both ends of the path at once: where the packets disappear "
                       "tells which device drops them",
                    "none: diagnosis");
    diag_remedy_add(f, "Read the server's counters for the times in the evidence (nstat -az "
                       "TcpExtListenOverflows TcpExtTCPTimeouts TcpExtTCPAbortOnData)",
                    "none: diagnosis");

    diag_ep_groups eg;
    int rc = diag_ep_groups_init(&eg, n, (uint64_t)(uintptr_t)f * 0x9e3779b97f4a7c15ULL);
    for (size_t i = 0; i < n && rc == 0; i++)
        if (is_ux(&att[i], cl, i) && diag_ep_groups_add(&eg, &att[i].server, att[i].server_port, i) < 0)
            rc = -ENOMEM;
    for (size_t k = 0; k < eg.n && rc == 0; k++)
        ux_group_line(f, ctx, att, &eg.v[k], eg.next);
    if (rc == 0 && eg.n == 1) {
        f->server = eg.v[0].addr;
        f->server_port = eg.v[0].port;
        f->has_server = true;
    }
    diag_ep_groups_free(&eg);
    for (size_t i = 0; i < n && rc == 0; i++)
        if (is_ux(&att[i], cl, i))
            rc = diag_claim(f, att[i].first_packet);
    return rc;
}

int diag_account(diag_ctx *ctx, diag_findings *out, diag_accounting *acc)
{
    memset(acc, 0, sizeof *acc);
    acc->lc = *lc_account(ctx->lc);
    size_t n;
    const lc_attempt *att = lc_attempts(ctx->lc, &n);
    acc->attempts = att;
    acc->n_attempts = n;
    bool *cl = claimed_attempts(ctx, out, n);
    if (cl == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        if (!counts(&att[i]))
            continue;
        if (cl[i])
            acc->explained++;
        else
            acc->unexplained++;
    }
    int rc = 0;
    if (acc->unexplained > 0) {
        rc = su_findings(ctx, out, att, n, cl);
        if (rc == 0)
            rc = ux_finding(ctx, out, att, n, cl, acc);
    }
    free(cl);
    return rc;
}
