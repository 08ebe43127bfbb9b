/* accounting_out.c - the accounting that opens analyze's report: every attempt, by outcome, explained or not. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "report/findings_internal.h"
#include "tcpdoctor/report.h"

/* The failures, by outcome, in the order lifecycle.h lists them. */
static const enum lc_outcome failures[] = {
    LC_REFUSED, LC_UNANSWERED, LC_HANDSHAKE_FAILED, LC_STALLED, LC_RESET,
};
#define N_FAILURES (sizeof failures / sizeof failures[0])

/* attempts_not_ok lists the first this many (by first packet); a SYN flood
 * of millions would otherwise make a JSON report of gigabytes.  The rest
 * are counted (attempts_not_ok_omitted) and are in the accounting. */
#define REP_MAX_ATTEMPTS 10000

static const char *plural(uint64_t n, const char *one, const char *many)
{
    return n == 1 ? one : many;
}

void rep_accounting_text(FILE *out, const diag_accounting *acc, const char *bold, const char *reset)
{
    const lc_accounting *a = &acc->lc;
    uint64_t slow = a->by_outcome[LC_SLOW], nv = a->by_outcome[LC_NO_VERDICT];
    fprintf(out, "%sAccounting%s: %" PRIu64 " connection attempt%s: %" PRIu64 " ok, %" PRIu64
            " slow", bold, reset, a->attempts, plural(a->attempts, "", "s"),
            a->by_outcome[LC_OK], slow);
    if (slow > 0)
        fprintf(out, " (median %.1f s, longest %.1f s)", a->slow_median_s, a->slow_max_s);
    fprintf(out, ", %" PRIu64 " failed", a->failed);
    if (a->failed > 0) {
        const char *sep = " (";
        for (size_t i = 0; i < N_FAILURES; i++) {
            uint64_t n = a->by_outcome[failures[i]];
            if (n == 0)
                continue;
            fprintf(out, "%s%" PRIu64 " %s", sep, n, lc_outcome_name(failures[i]));
            sep = ", ";
        }
        fputc(')', out);
    }
    if (slow + a->failed > 0)
        fprintf(out, "; %" PRIu64 " explained by the findings below, %" PRIu64 " unexplained",
                acc->explained, acc->unexplained);
    fprintf(out, "; %" PRIu64 " no verdict.\n", nv);
    if (a->probes > 0)
        fprintf(out, "Of the failed, %" PRIu64 " are the probes of %" PRIu64 " scanning source%s "
                "(finding `scan`).\n", a->probes, a->scanners, plural(a->scanners, "", "s"));
    for (int d = 0; d < LC_N_DETAILS; d++) {
        uint64_t n = a->no_verdict_by[d];
        if (n == 0)
            continue;
        fprintf(out, "No verdict on %" PRIu64 " attempt%s: %s.\n", n, plural(n, "", "s"),
                lc_detail_words((enum lc_detail)d));
    }
    if (a->gaps > 0)
        fprintf(out, "The capture has %" PRIu64 " gap%s of 300 s or more without a packet (files "
                "merged, a capture restarted): attempts just before %s are judged as at the "
                "capture's end.\n", a->gaps, plural(a->gaps, "", "s"), plural(a->gaps, "it", "one"));
    if (a->evicted > 0)
        fprintf(out, "The connection table was full: %" PRIu64 " connection%s pushed out of it "
                "early (raise --max-flows): a later attempt on the same 4-tuple is not paired "
                "with %s, and one still open was judged on the part seen until then.\n",
                a->evicted, plural(a->evicted, " was", "s were"), plural(a->evicted, "it", "them"));
    if (a->duplicate_frames > 0)
        fprintf(out, "The capture holds %" PRIu64 " data segment%s twice within 1 ms (captured on "
                "two interfaces or by a mirror port): not taken for retransmissions.\n",
                a->duplicate_frames, plural(a->duplicate_frames, "", "s"));
    if (a->icmp_errors > 0)
        fprintf(out, "ICMP errors quoting TCP: %" PRIu64 ", of which %" PRIu64
                " answered a SYN of an attempt here.\n", a->icmp_errors, a->icmp_matched);
}

/* The ids of the findings that claim the attempt (claims are rising). */
static void claimed_by_json(FILE *out, const diag_findings *fs, uint64_t first_packet)
{
    fputc('[', out);
    bool any = false;
    for (size_t i = 0; i < fs->n; i++) {
        const diag_finding *f = &fs->v[i];
        size_t lo = 0, hi = f->n_claims;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (f->claims[mid] < first_packet)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo < f->n_claims && f->claims[lo] == first_packet) {
            if (any)
                fputc(',', out);
            rep_json_string(out, f->id);
            any = true;
        }
    }
    fputc(']', out);
}

static void endpoint_json(FILE *out, const pkt_addr *a, uint16_t port)
{
    char b[PKT_ADDR_STRLEN + 16];
    rep_json_string(out, rep_endpoint(b, sizeof b, a, port));
}

const char *rep_endpoint(char *buf, size_t len, const pkt_addr *a, uint16_t port)
{
    char t[PKT_ADDR_STRLEN];
    pkt_addr_str(a, t, sizeof t);
    snprintf(buf, len, pkt_addr_is_v4(a) ? "%s:%u" : "[%s]:%u", t, port);
    return buf;
}

static void jdouble(FILE *out, double v)
{
    if (!isfinite(v))
        fputs("null", out);
    else
        fprintf(out, "%.6g", v);
}

void rep_accounting_json(FILE *out, const diag_accounting *acc, const diag_findings *fs)
{
    const lc_accounting *a = &acc->lc;
    fprintf(out, "\"accounting\":{\"attempts\":%" PRIu64 ",\"ok\":%" PRIu64 ",\"slow\":%" PRIu64
            ",\"failed\":%" PRIu64 ",\"no_verdict\":%" PRIu64 ",\"by_outcome\":{",
            a->attempts, a->by_outcome[LC_OK], a->by_outcome[LC_SLOW], a->failed,
            a->by_outcome[LC_NO_VERDICT]);
    for (int o = 0; o < LC_N_OUTCOMES; o++)
        fprintf(out, "%s\"%s\":%" PRIu64, o ? "," : "", lc_outcome_name((enum lc_outcome)o),
                a->by_outcome[o]);
    fputs("},\"no_verdict_by\":{", out);
    bool any = false;
    for (int d = 0; d < LC_N_DETAILS; d++) {
        if (a->no_verdict_by[d] == 0)
            continue;
        fprintf(out, "%s\"%s\":%" PRIu64, any ? "," : "", lc_detail_name((enum lc_detail)d),
                a->no_verdict_by[d]);
        any = true;
    }
    fprintf(out, "},\"explained\":%" PRIu64 ",\"unexplained\":%" PRIu64
            ",\"probes\":%" PRIu64 ",\"slow_delay_median_s\":",
            acc->explained, acc->unexplained, a->probes);
    jdouble(out, a->slow_median_s);
    fputs(",\"slow_delay_max_s\":", out);
    jdouble(out, a->slow_max_s);
    fprintf(out, ",\"duplicate_frames\":%" PRIu64 ",\"icmp_errors\":%" PRIu64
            ",\"icmp_matched\":%" PRIu64 ",\"evicted\":%" PRIu64 ",\"gaps\":%" PRIu64
            "},\"attempts_not_ok\":[",
            a->duplicate_frames, a->icmp_errors, a->icmp_matched, a->evicted, a->gaps);
    size_t listed = acc->n_attempts < REP_MAX_ATTEMPTS ? acc->n_attempts : REP_MAX_ATTEMPTS;
    for (size_t i = 0; i < listed; i++) {
        const lc_attempt *t = &acc->attempts[i];
        fprintf(out, "%s{\"first_packet\":%" PRIu64 ",\"time\":", i ? "," : "", t->first_packet);
        rep_json_time(out, t->first_ts);
        fputs(",\"client\":", out);
        endpoint_json(out, &t->client, t->client_port);
        fputs(",\"server\":", out);
        endpoint_json(out, &t->server, t->server_port);
        fputs(",\"outcome\":", out);
        rep_json_string(out, lc_outcome_name((enum lc_outcome)t->outcome));
        fputs(",\"detail\":", out);
        if (t->detail == LC_D_ICMP) {
            char d[32];
            snprintf(d, sizeof d, "icmp%s %u/%u", t->icmp_v6 ? "v6" : "", t->icmp_type, t->icmp_code);
            rep_json_string(out, d);
        } else {
            rep_json_string(out, lc_detail_name((enum lc_detail)t->detail));
        }
        fprintf(out, ",\"decisive_packet\":");
        if (t->decisive_packet)
            fprintf(out, "%" PRIu64, t->decisive_packet);
        else
            fputs("null", out);
        fprintf(out, ",\"syns\":%u,\"delay_s\":", t->syns);
        jdouble(out, t->delay_s);
        fprintf(out, ",\"probe\":%s,\"claimed_by\":", t->probe ? "true" : "false");
        claimed_by_json(out, fs, t->first_packet);
        fputc('}', out);
    }
    fprintf(out, "],\"attempts_not_ok_omitted\":%zu", acc->n_attempts - listed);
}
