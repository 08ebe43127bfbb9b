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
 * Each finding is judged first into a verdict (counts, severity, the
 * attempts shown and claimed: su_judge(), ux_judge()), then worded from
 * the verdict alone (su_words(), ux_words()).
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

/* ---- syn-unanswered: the verdict ----------------------------------------- */

/* What one or several endpoints' unanswered SYNs say (su_judge());
 * su_words() writes the finding from it and from nothing else. */
typedef struct su_verdict {
    uint64_t n, syns;           /* attempts, SYNs sent */
    size_t   endpoints;         /* server endpoints gathered */
    pkt_addr server;            /* the first one's: named when endpoints == 1 */
    uint16_t server_port;
    bool     at_server;         /* the capture point is the server's */
    bool     all_abandoned;     /* every client gave up before any retry */
    enum diag_severity severity;
    double   confidence;
    const lc_attempt **shown;   /* EXAMPLES per endpoint, in order */
    size_t   n_shown;
    uint64_t *claims;           /* every attempt's first packet, rising */
    size_t   n_claims;
} su_verdict;

static bool is_su(const lc_attempt *a, const bool *cl, size_t i)
{
    return !cl[i] && a->outcome == LC_UNANSWERED;
}

static void su_verdict_free(su_verdict *vd)
{
    free(vd->shown);
    free(vd->claims);
    memset(vd, 0, sizeof *vd);
}

/* Judge the groups which[0..n_which) into *vd (su_verdict_free() in any
 * case); 0 or -ENOMEM. */
static int su_judge(const diag_ctx *ctx, const lc_attempt *att, const diag_ep_groups *eg,
                    const size_t *which, size_t n_which, su_verdict *vd)
{
    memset(vd, 0, sizeof *vd);
    /* SYNs the clients abandoned before any retry prove no failure of the
       server: said at severity info (lifecycle.h, LC_D_ABANDONED) */
    vd->all_abandoned = true;
    for (size_t w = 0; w < n_which; w++)
        vd->n += eg->v[which[w]].n;
    vd->shown = malloc((vd->n ? vd->n : 1) * sizeof *vd->shown);
    vd->claims = malloc((vd->n ? vd->n : 1) * sizeof *vd->claims);
    if (vd->shown == NULL || vd->claims == NULL)
        return -ENOMEM;
    for (size_t w = 0; w < n_which; w++) {
        const diag_ep_group *gr = &eg->v[which[w]];
        for (size_t j = gr->first, m = 0; m < gr->n; j = eg->next[j], m++) {
            vd->all_abandoned &= att[j].detail == LC_D_ABANDONED;
            vd->syns += att[j].syns;
            if (m < EXAMPLES)
                vd->shown[vd->n_shown++] = &att[j];
            vd->claims[vd->n_claims++] = att[j].first_packet;
        }
    }
    /* claims must rise: the groups' attempts are gathered and sorted */
    qsort(vd->claims, vd->n_claims, sizeof *vd->claims, cmp_u64);
    vd->severity = vd->all_abandoned ? DIAG_INFO : DIAG_WARNING;
    vd->confidence = 0.7;
    vd->endpoints = n_which;
    vd->server = eg->v[which[0]].addr;
    vd->server_port = eg->v[which[0]].port;
    vd->at_server = ctx->vantage == DIAG_VANTAGE_SERVER;
    return 0;
}

/* ---- syn-unanswered: the words -------------------------------------------- */

static void su_explain(diag_finding *f, const su_verdict *vd)
{
    if (vd->at_server)
        diag_explain(f, "The SYNs reached the capture point at the server, and the server sent "
                     "nothing back: no SYN-ACK, no RST. A listener whose accept queue is full "
                     "drops SYNs (ListenOverflows/ListenDrops), so does a host firewall, and so "
                     "does a per-host timestamp check (paws-reject, when timestamps show it).");
    else
        diag_explain(f, "The SYNs left the client and nothing came back: no SYN-ACK, no RST, no "
                     "ICMP error. They were dropped on the way (a firewall, a NAT without a free "
                     "port, a route) or by the server. A capture at the server side would tell "
                     "which: if the SYNs are not there, the path dropped them.");
    if (vd->all_abandoned)
        diag_explain(f, "Each attempt sent one SYN and the client never retried it, although "
                     "the capture went on: every stack retransmits an unanswered SYN after 1 "
                     "or 3 s, so the client gave up first (happy eyeballs racing another "
                     "address, a connect timeout under a second). Nothing here proves that "
                     "the server failed: informational.");
    diag_explain(f, "No cause tcpdoctor knows matched these attempts (TIME_WAIT or NAT port "
                 "reuse, per-host timestamp checks, a port pool at its ceiling): they are "
                 "counted as unexplained.");
}

/* The finding of a verdict; NULL when out of memory. */
static diag_finding *su_words(const su_verdict *vd, const diag_ctx *ctx, diag_findings *out)
{
    diag_finding *f = diag_add(out, "syn-unanswered", vd->severity, vd->confidence);
    if (f == NULL)
        return NULL;
    for (size_t i = 0; i < vd->n_shown; i++)
        attempt_line(f, ctx, vd->shown[i]);
    char s[64];
    diag_endpoint(&vd->server, vd->server_port, s, sizeof s);
    f->events = vd->n;
    if (vd->endpoints == 1) {
        f->server = vd->server;
        f->server_port = vd->server_port;
        f->has_server = true;
        diag_summary(f, "%llu connection attempt%s to %s got no answer at all (%llu SYNs)",
                     (unsigned long long)vd->n, vd->n == 1 ? "" : "s", s,
                     (unsigned long long)vd->syns);
    } else {
        diag_summary(f, "%llu connection attempts to %zu other server endpoints got no answer "
                     "at all (%llu SYNs)", (unsigned long long)vd->n, vd->endpoints,
                     (unsigned long long)vd->syns);
    }
    su_explain(f, vd);
    diag_param_add(f, "attempts", (double)vd->n, "attempts");
    diag_param_add(f, "syns", (double)vd->syns, "SYNs");
    diag_remedy_add(f, "Check the server's listen queue and counters (nstat -az "
                       "TcpExtListenOverflows TcpExtListenDrops) and its firewall",
                    "none: diagnosis");
    diag_remedy_add(f, "Capture on the other side of the path (at the server if this is the "
                       "client, and the reverse) to see where the SYNs disappear",
                    "none: diagnosis");
    return f;
}

/* ---- syn-unanswered: group, judge, word, claim ----------------------------- */

static int su_finding(diag_ctx *ctx, diag_findings *out, const lc_attempt *att,
                      const diag_ep_groups *eg, const size_t *which, size_t n_which)
{
    su_verdict vd;
    int rc = su_judge(ctx, att, eg, which, n_which, &vd);
    diag_finding *f = rc == 0 ? su_words(&vd, ctx, out) : NULL;
    if (f == NULL)
        rc = -ENOMEM;
    for (size_t i = 0; i < vd.n_claims && rc == 0; i++)
        rc = diag_claim(f, vd.claims[i]);
    su_verdict_free(&vd);
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

/* ---- unexplained-failures: the verdict ------------------------------------ */

/* One server endpoint's unexplained attempts, as the verdict shows them. */
typedef struct ux_group {
    pkt_addr addr;
    uint16_t port;
    uint64_t by[LC_N_OUTCOMES];     /* its attempts by outcome */
    const lc_attempt *ex[EXAMPLES]; /* the first ones */
    size_t   n_ex;
} ux_group;

/* What the unexplained failed or slow attempts say (ux_judge());
 * ux_words() writes the finding from it and from nothing else. */
typedef struct ux_verdict {
    uint64_t by[LC_N_OUTCOMES], failed, total;
    enum diag_severity severity;
    double   confidence;
    ux_group *groups;           /* by server endpoint, in order of appearance */
    size_t   n_groups;
    uint64_t *claims;           /* the attempts' first packets, in order */
    size_t   n_claims;
} ux_verdict;

static bool is_ux(const lc_attempt *a, const bool *cl, size_t i)
{
    return !cl[i] && counts(a) && a->outcome != LC_UNANSWERED;
}

static void ux_verdict_free(ux_verdict *vd)
{
    free(vd->groups);
    free(vd->claims);
    memset(vd, 0, sizeof *vd);
}

/* Gather the unexplained attempts by server endpoint into vd->groups. */
static int ux_judge_groups(const lc_attempt *att, size_t n, const bool *cl, ux_verdict *vd)
{
    diag_ep_groups eg;
    int rc = diag_ep_groups_init(&eg, n, (uint64_t)(uintptr_t)vd * 0x9e3779b97f4a7c15ULL);
    for (size_t i = 0; i < n && rc == 0; i++)
        if (is_ux(&att[i], cl, i) && diag_ep_groups_add(&eg, &att[i].server, att[i].server_port, i) < 0)
            rc = -ENOMEM;
    if (rc == 0 && eg.n > 0) {
        vd->groups = calloc(eg.n, sizeof *vd->groups);
        if (vd->groups == NULL)
            rc = -ENOMEM;
    }
    for (size_t k = 0; k < eg.n && rc == 0; k++) {
        const diag_ep_group *gr = &eg.v[k];
        ux_group *g = &vd->groups[vd->n_groups++];
        g->addr = gr->addr;
        g->port = gr->port;
        for (size_t j = gr->first, m = 0; m < gr->n; j = eg.next[j], m++) {
            g->by[att[j].outcome]++;
            if (m < EXAMPLES)
                g->ex[g->n_ex++] = &att[j];
        }
    }
    diag_ep_groups_free(&eg);
    return rc;
}

/* Judge the unexplained attempts other than unanswered SYNs into *vd
 * (ux_verdict_free() in any case; vd->total 0: none); 0 or -ENOMEM. */
static int ux_judge(const lc_attempt *att, size_t n, const bool *cl,
                    const diag_accounting *acc, ux_verdict *vd)
{
    memset(vd, 0, sizeof *vd);
    for (size_t i = 0; i < n; i++)
        if (is_ux(&att[i], cl, i)) {
            vd->by[att[i].outcome]++;
            vd->failed += att[i].outcome != LC_SLOW;
            vd->total++;
        }
    if (vd->total == 0)
        return 0;
    uint64_t judged = acc->lc.attempts - acc->lc.by_outcome[LC_NO_VERDICT];
    vd->severity = vd->failed == 0 ? DIAG_INFO
                 : vd->failed >= ERROR_MIN && vd->failed * 100 >= judged * ERROR_SHARE ? DIAG_ERROR
                 : DIAG_WARNING;
    vd->confidence = 0.5;
    vd->claims = malloc(vd->total * sizeof *vd->claims);
    if (vd->claims == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        if (is_ux(&att[i], cl, i))
            vd->claims[vd->n_claims++] = att[i].first_packet;
    return ux_judge_groups(att, n, cl, vd);
}

/* ---- unexplained-failures: the words ---------------------------------------- */

static void ux_group_line(diag_finding *f, const diag_ctx *ctx, const ux_group *g)
{
    char ep[64], parts[256];
    size_t len = 0;
    parts[0] = '\0';
    for (int o = 0; o < LC_N_OUTCOMES; o++) {
        if (g->by[o] == 0)
            continue;
        int w = snprintf(parts + len, sizeof parts - len, "%s%llu %s", len ? ", " : "",
                         (unsigned long long)g->by[o], lc_outcome_name((enum lc_outcome)o));
        if (w < 0 || (size_t)w >= sizeof parts - len)
            break;
        len += (size_t)w;
    }
    diag_endpoint(&g->addr, g->port, ep, sizeof ep);
    diag_evidence_add(f, 0, 0, "to %s: %s", ep, parts);
    for (size_t m = 0; m < g->n_ex; m++)
        attempt_line(f, ctx, g->ex[m]);
}

static void ux_outcome_words(diag_finding *f, const uint64_t *by)
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

/* The finding of a verdict; NULL when out of memory. */
static diag_finding *ux_words(const ux_verdict *vd, const diag_ctx *ctx, diag_findings *out)
{
    diag_finding *f = diag_add(out, "unexplained-failures", vd->severity, vd->confidence);
    if (f == NULL)
        return NULL;
    f->events = vd->total;
    diag_summary(f, "%llu failed and %llu slow connection attempt%s that no finding explains",
                 (unsigned long long)vd->failed, (unsigned long long)vd->by[LC_SLOW],
                 vd->total == 1 ? "" : "s");
    diag_explain(f, "These attempts failed or were slow, and no cause tcpdoctor knows matched "
                 "them (TIME_WAIT or NAT port reuse, non-increasing ISNs, per-host timestamp "
                 "checks behind a NAT, a port pool at its ceiling, fragments, refusals). The "
                 "evidence groups them by server endpoint and outcome:");
    ux_outcome_words(f, vd->by);
    diag_param_add(f, "failed", (double)vd->failed, "attempts");
    diag_param_add(f, "slow", (double)vd->by[LC_SLOW], "attempts");
    diag_remedy_add(f, "Capture at both ends of the path at once: where the packets disappear "
                       "tells which device drops them",
                    "none: diagnosis");
    diag_remedy_add(f, "Read the server's counters for the times in the evidence (nstat -az "
                       "TcpExtListenOverflows TcpExtTCPTimeouts TcpExtTCPAbortOnData)",
                    "none: diagnosis");
    for (size_t k = 0; k < vd->n_groups; k++)
        ux_group_line(f, ctx, &vd->groups[k]);
    if (vd->n_groups == 1) {
        f->server = vd->groups[0].addr;
        f->server_port = vd->groups[0].port;
        f->has_server = true;
    }
    return f;
}

/* ---- unexplained-failures: judge, word, claim ------------------------------- */

static int ux_finding(diag_ctx *ctx, diag_findings *out, const lc_attempt *att, size_t n,
                      const bool *cl, const diag_accounting *acc)
{
    ux_verdict vd;
    int rc = ux_judge(att, n, cl, acc, &vd);
    if (rc == 0 && vd.total > 0) {
        diag_finding *f = ux_words(&vd, ctx, out);
        if (f == NULL)
            rc = -ENOMEM;
        for (size_t i = 0; i < vd.n_claims && rc == 0; i++)
            rc = diag_claim(f, vd.claims[i]);
    }
    ux_verdict_free(&vd);
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
