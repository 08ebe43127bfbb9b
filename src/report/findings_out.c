/* findings_out.c - write the findings of `analyze` as a text report or as one JSON document. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tcpdoctor/report.h"
#include "report/findings_internal.h"

/* ---- text ---------------------------------------------------------------- */

#define WRAP 78

typedef struct palette {
    const char *bold, *dim, *red, *yellow, *cyan, *reset;
} palette;

static const palette colour = { "\033[1m", "\033[2m", "\033[1;31m", "\033[1;33m", "\033[1;36m", "\033[0m" };
static const palette plain = { "", "", "", "", "", "" };

/* Print text wrapped at WRAP columns: the first line indented by `indent`
 * spaces, the following ones by `hang`; blank lines in the text separate
 * paragraphs. */
static void wrapped_hang(FILE *out, const char *text, int indent, int hang)
{
    int first_line_indent = indent;
    const char *p = text;
    while (*p) {
        if (*p == '\n') {
            fputc('\n', out);
            p++;
            continue;
        }
        /* one line: as many words as fit */
        int col = first_line_indent;
        fprintf(out, "%*s", first_line_indent, "");
        first_line_indent = hang;
        bool first = true;
        while (*p && *p != '\n') {
            const char *w = p;
            while (*w == ' ')
                w++;
            const char *e = w;
            while (*e && *e != ' ' && *e != '\n')
                e++;
            int len = (int)(e - w);
            if (!first && col + 1 + len > WRAP)
                break;
            if (!first) {
                fputc(' ', out);
                col++;
            }
            fwrite(w, 1, (size_t)len, out);
            col += len;
            first = false;
            p = e;
        }
        while (*p == ' ')
            p++;
        fputc('\n', out);
        if (*p == '\n') {
            p++;
            first_line_indent = indent;     /* a new paragraph */
        }
    }
}

static void wrapped(FILE *out, const char *text, int indent)
{
    wrapped_hang(out, text, indent, indent);
}

/* A number the way people read it: integers as such, else 3 significant
 * digits. */
static void human_num(char *buf, size_t len, double v)
{
    if (v == (double)(long long)v && v < 1e15 && v > -1e15)
        snprintf(buf, len, "%lld", (long long)v);
    else
        snprintf(buf, len, "%.3g", v);
}

static const char *sev_colour(const palette *c, enum diag_severity s)
{
    return s == DIAG_ERROR ? c->red : s == DIAG_WARNING ? c->yellow : c->cyan;
}

static void param_text(FILE *out, const diag_param *p)
{
    char v[32], lo[32], hi[32];
    human_num(v, sizeof v, p->value);
    human_num(lo, sizeof lo, p->min);
    human_num(hi, sizeof hi, p->max);
    fprintf(out, "    %-24s %s%s%s", p->name, v, p->unit[0] ? " " : "", p->unit);
    if (p->has_min && p->has_max && p->min != p->max)
        fprintf(out, "  (between %s and %s)", lo, hi);
    else if (p->has_min && !p->has_max && p->min == p->value)
        fprintf(out, "  (at least)");
    else if (p->has_max && !p->has_min && p->max == p->value)
        fprintf(out, "  (at most)");
    fputc('\n', out);
    if (p->note != NULL)
        fprintf(out, "    %-24s %s\n", "", p->note);
}

/* Remedies already printed in this report, to say each once. */
typedef struct remedy_seen {
    const char *action[64];
    size_t finding[64];
    size_t n;
} remedy_seen;

static void remedies_text(FILE *out, const diag_finding *f, size_t num, const palette *c,
                          remedy_seen *seen)
{
    fprintf(out, "\n  %sRemedies%s, best first:\n", c->bold, c->reset);
    for (size_t k = 0; k < f->n_remedies; k++) {
        char line[1024];
        size_t dup = 0;
        for (size_t r = 0; seen != NULL && r < seen->n && dup == 0; r++)
            if (strcmp(seen->action[r], f->remedies[k].action) == 0)
                dup = seen->finding[r];
        if (dup != 0) {
            snprintf(line, sizeof line, "%zu. The same as in [%zu] above.", k + 1, dup);
            wrapped_hang(out, line, 4, 7);
            continue;
        }
        if (seen != NULL && seen->n < sizeof seen->action / sizeof seen->action[0]) {
            seen->action[seen->n] = f->remedies[k].action;
            seen->finding[seen->n++] = num;
        }
        snprintf(line, sizeof line, "%zu. %s", k + 1, f->remedies[k].action);
        wrapped_hang(out, line, 4, 7);
        if (f->remedies[k].tradeoff[0] != '\0') {
            snprintf(line, sizeof line, "Trade-off: %s", f->remedies[k].tradeoff);
            wrapped_hang(out, line, 7, 7);
        }
    }
}

static void finding_text_seen(FILE *out, const diag_finding *f, size_t i, const palette *c,
                              remedy_seen *seen)
{
    char sev[16], subj[160];
    snprintf(sev, sizeof sev, "%s", diag_severity_name(f->severity));
    for (char *s = sev; *s; s++)
        *s = (char)(*s - (*s >= 'a' && *s <= 'z' ? 32 : 0));
    diag_finding_subject(f, subj, sizeof subj);
    fprintf(out, "%s[%zu] %s%-7s%s %s%s%s%s%s  (confidence %.0f%%, %s)\n", c->bold, i + 1,
            sev_colour(c, f->severity), sev, c->reset, c->bold, f->id, c->reset,
            subj[0] ? "  " : "", subj, f->confidence * 100.0,
            diag_confidence_level(f->confidence)->name);
    if (f->summary != NULL)
        wrapped(out, f->summary, 4);
    if (f->n_claims > 0) {
        const diag_cat_entry *ce = diag_catalogue_find(f->id);
        if (ce != NULL && ce->residual)
            fprintf(out, "    %sLists %zu attempt%s left unexplained.%s\n", c->dim, f->n_claims,
                    f->n_claims == 1 ? "" : "s", c->reset);
        else
            fprintf(out, "    %sExplains %zu of the slow or failed attempts.%s\n", c->dim,
                    f->n_claims, c->reset);
    }
    if (f->explanation != NULL) {
        fputc('\n', out);
        wrapped(out, f->explanation, 4);
    }
    if (f->n_evidence > 0) {
        bool packets = false;
        for (size_t k = 0; k < f->n_evidence; k++)
            packets |= f->evidence[k].packet != 0;
        fprintf(out, "\n  %sEvidence%s%s:\n", c->bold, c->reset,
                packets ? " (packet numbers as in Wireshark; time from the first packet)" : "");
        for (size_t k = 0; k < f->n_evidence; k++) {
            if (f->evidence[k].packet != 0)
                fprintf(out, "    %s#%-7" PRIu64 "%s", c->dim, f->evidence[k].packet, c->reset);
            else
                fprintf(out, "    %-8s", "");
            fprintf(out, " %s\n", f->evidence[k].text);
        }
        if (f->evidence_omitted > 0)
            fprintf(out, "    %-8s ... and %" PRIu64 " more like these (not listed; counted in "
                    "\"evidence_omitted\" of --format json)\n", "", f->evidence_omitted);
    }
    if (f->n_params > 0) {
        fprintf(out, "\n  %sInferred%s:\n", c->bold, c->reset);
        for (size_t k = 0; k < f->n_params; k++)
            param_text(out, &f->params[k]);
    }
    if (f->n_remedies > 0)
        remedies_text(out, f, i + 1, c, seen);
    fputc('\n', out);
}

static void finding_text(FILE *out, const diag_finding *f, size_t i, const palette *c)
{
    finding_text_seen(out, f, i, c, NULL);
}

static bool same_server(const diag_finding *f, const diag_finding *root)
{
    if (!root->has_server)
        return true;
    return f->has_server && memcmp(&f->server, &root->server, sizeof f->server) == 0 &&
           (f->server_port == root->server_port || f->server_port == 0 || root->server_port == 0);
}

/* The finding that finding i is a consequence of in this report (the
 * catalogue's folds_under, about the same server), or -1. */
static long fold_target(const diag_findings *fs, size_t i)
{
    const diag_cat_entry *ce = diag_catalogue_find(fs->v[i].id);
    if (ce == NULL || ce->folds_under == NULL)
        return -1;
    for (size_t j = 0; j < fs->n; j++)
        if (j != i && strcmp(fs->v[j].id, ce->folds_under) == 0 && same_server(&fs->v[i], &fs->v[j]))
            return (long)j;
    return -1;
}

static void folded_line(FILE *out, const diag_finding *f, const palette *c)
{
    char line[1024], sev[16];
    snprintf(sev, sizeof sev, "%s", diag_severity_name(f->severity));
    snprintf(line, sizeof line, "Part of this cause: %s %s: %s (%" PRIu64 " event%s; --verbose "
             "for its evidence)", sev, f->id, f->summary != NULL ? f->summary : "", f->events,
             f->events == 1 ? "" : "s");
    fputs(sev_colour(c, f->severity), out);
    wrapped_hang(out, line, 4, 6);
    fputs(c->reset, out);
}

/* Most important first; a finding that is a consequence of another (the
 * catalogue's folds_under) is one line under its cause, which is printed
 * where the first of the group falls in the order.  verbose: every
 * finding in full. */
static void findings_body(FILE *out, const diag_findings *fs, const palette *c, bool verbose)
{
    bool printed_any[64] = { false };
    bool *printed = fs->n <= 64 ? printed_any : calloc(fs->n, sizeof *printed);
    if (printed == NULL) {
        verbose = true;                 /* no room to group: everything in full */
        printed = printed_any;
    }
    remedy_seen seen;
    seen.n = 0;
    size_t num = 0;
    for (size_t i = 0; i < fs->n; i++) {
        if (verbose) {
            finding_text_seen(out, &fs->v[i], num++, c, NULL);
            continue;
        }
        if (printed[i])
            continue;
        long r = fold_target(fs, i);
        size_t root = r >= 0 ? (size_t)r : i;
        finding_text_seen(out, &fs->v[root], num++, c, &seen);
        printed[root] = true;
        bool any = false;
        for (size_t j = 0; j < fs->n; j++) {
            if (printed[j] || fold_target(fs, j) != (long)root)
                continue;
            folded_line(out, &fs->v[j], c);
            printed[j] = any = true;
        }
        if (any)
            fputc('\n', out);
    }
    if (printed != printed_any)
        free(printed);
}

/* libpcap's counters for a live capture: drops are always printed. */
static void live_text(FILE *out, const rep_run_info *in, const palette *c)
{
    if (!in->live_stats_ok) {
        fprintf(out, "Capture: libpcap gave no drop counters for %s; drops are unknown.\n",
                in->live_iface);
        return;
    }
    fprintf(out, "Capture: libpcap received %" PRIu64 " frames on %s; dropped %" PRIu64
            " (capture buffer full), %" PRIu64 " by the interface.\n",
            in->live_recv, in->live_iface, in->live_drop, in->live_ifdrop);
    if (in->live_drop > 0 || in->live_ifdrop > 0)
        fprintf(out, "%sWarning%s: %" PRIu64 " frames were dropped before tcpdoctor saw them; "
                "findings may miss connections or misread them (a lost SYN-ACK looks like "
                "an unanswered SYN).\n",
                c->yellow, c->reset, in->live_drop + in->live_ifdrop);
}

static void stats_text(FILE *out, const rep_run_info *in, const palette *c)
{
    fprintf(out, "%sStatistics%s: %" PRIu64 " frames", c->bold, c->reset, in->frames);
    if (in->filtered)
        fprintf(out, " (+%" PRIu64 " rejected by the filter)", in->filtered);
    fprintf(out, ", %" PRIu64 " TCP segments, %" PRIu64 " TCP fragments, %" PRIu64
            " other IP, %" PRIu64 " not IP, %" PRIu64 " malformed; %" PRIu64
            " connection incarnations (peak %" PRIu64 " 4-tuples held, %" PRIu64 " evicted)",
            in->tcp, in->tcp_fragments, in->not_tcp + in->other_fragments, in->not_ip,
            in->malformed, in->incarnations, in->tuples_peak, in->evictions);
    if (in->last_ts > in->first_ts)
        fprintf(out, " over %.1f s", (double)(in->last_ts - in->first_ts) / 1e9);
    fputs(".\n", out);
    if (in->time_regressions > 0)
        fprintf(out, "%sTime goes backwards%s: %" PRIu64 " frame%s older than the frame before "
                "(files merged out of order, or a clock stepped back): durations, delays and "
                "the verdicts that depend on time near them are not reliable.\n",
                c->yellow, c->reset, in->time_regressions, in->time_regressions == 1 ? " is" : "s are");
    bool any = false;
    for (int a = 0; a < PKT_AN_COUNT; a++) {
        if (in->anomalies[a] == 0)
            continue;
        fprintf(out, "%s%s %" PRIu64, any ? ", " : "Anomalies: ", pkt_anomaly_name((enum pkt_anomaly)a),
                in->anomalies[a]);
        any = true;
    }
    if (any)
        fputs(".\n", out);
    if (in->input_errors || in->unsupported_dlt)
        fprintf(out, "Input errors: %" PRIu64 " file(s) damaged, %" PRIu64
                " frames of unsupported link types (see the messages above).\n",
                in->input_errors, in->unsupported_dlt);
    if (in->live_iface != NULL)
        live_text(out, in, c);
}

/* "No lifecycle problem found" only when nothing failed, with how many
 * attempts that covers; a capture without a TCP connection says so. */
static void headline(FILE *out, const rep_run_info *in, const palette *c, size_t alarms)
{
    const diag_accounting *acc = in->acc;
    if (acc != NULL && acc->lc.attempts == 0) {
        if (in->filter != NULL)
            fprintf(out, "%sNo TCP connection in the frames that match the filter%s (%" PRIu64
                    " frames read, %" PRIu64 " rejected by it): nothing to judge.\n",
                    c->bold, c->reset, in->frames, in->filtered);
        else
            fprintf(out, "%sNo TCP connection in this capture%s (%" PRIu64 " frames, %" PRIu64
                    " TCP segments): nothing to judge.\n", c->bold, c->reset, in->frames, in->tcp);
        return;
    }
    if (alarms > 0 || (acc != NULL && acc->lc.failed > 0))
        return;
    if (acc == NULL) {
        fprintf(out, "%sNo lifecycle problem found.%s\n", c->bold, c->reset);
        return;
    }
    uint64_t judged = acc->lc.attempts - acc->lc.by_outcome[LC_NO_VERDICT];
    fprintf(out, "%sNo lifecycle problem found%s: none of the %" PRIu64 " attempts with a "
            "verdict failed", c->bold, c->reset, judged);
    if (acc->lc.by_outcome[LC_NO_VERDICT] > 0)
        fprintf(out, " (%" PRIu64 " could not be judged from this capture)",
                acc->lc.by_outcome[LC_NO_VERDICT]);
    fputs(".\n", out);
}

void rep_findings_text(FILE *out, const diag_findings *fs, const rep_run_info *in, bool color)
{
    const palette *c = color ? &colour : &plain;
    size_t n_err = 0, n_warn = 0, n_info = 0;
    for (size_t i = 0; i < fs->n; i++) {
        n_err += fs->v[i].severity == DIAG_ERROR;
        n_warn += fs->v[i].severity == DIAG_WARNING;
        n_info += fs->v[i].severity == DIAG_INFO;
    }
    if (in->live_iface != NULL)
        fprintf(out, "%stcpdoctor watch%s: interface %s", c->bold, c->reset, in->live_iface);
    else
        fprintf(out, "%stcpdoctor analyze%s: ", c->bold, c->reset);
    for (size_t i = 0; i < in->nfiles; i++)
        fprintf(out, "%s%s", i ? ", " : "", in->files[i]);
    if (in->filter != NULL)
        fprintf(out, " [filter: %s]", in->filter);
    fprintf(out, "\ncapture point: %s (%s)\n", diag_vantage_name(in->vantage),
            in->vantage_given ? "given with --vantage" : "inferred from handshake timing and TTLs");
    fputc('\n', out);
    if (in->acc != NULL)
        rep_accounting_text(out, in->acc, c->bold, c->reset);
    headline(out, in, c, n_err + n_warn);
    if (fs->n > 0)
        fprintf(out, "\n%zu finding%s: %zu error%s, %zu warning%s, %zu informational\n\n", fs->n,
                fs->n == 1 ? "" : "s", n_err, n_err == 1 ? "" : "s", n_warn,
                n_warn == 1 ? "" : "s", n_info);
    else
        fputc('\n', out);
    findings_body(out, fs, c, in->verbose);
    stats_text(out, in, c);
}

/* ---- JSON ------------------------------------------------------------------- */

static void jnum(FILE *out, double v)
{
    if (!isfinite(v))
        fputs("null", out);
    else if (v == (double)(int64_t)v && fabs(v) < 9e15)
        fprintf(out, "%" PRId64, (int64_t)v);
    else
        fprintf(out, "%.6g", v);
}

static void jaddr(FILE *out, const pkt_addr *a)
{
    char b[PKT_ADDR_STRLEN];
    rep_json_string(out, pkt_addr_str(a, b, sizeof b));
}

static void finding_json(FILE *out, const diag_finding *f)
{
    fputs("{\"id\":", out);
    rep_json_string(out, f->id);
    fputs(",\"severity\":", out);
    rep_json_string(out, diag_severity_name(f->severity));
    fputs(",\"confidence\":", out);
    jnum(out, f->confidence);
    fputs(",\"confidence_level\":", out);
    rep_json_string(out, diag_confidence_level(f->confidence)->name);
    fprintf(out, ",\"events\":%" PRIu64 ",\"summary\":", f->events);
    rep_json_string(out, f->summary ? f->summary : "");
    fputs(",\"explanation\":", out);
    rep_json_string(out, f->explanation ? f->explanation : "");
    fputs(",\"subject\":{", out);
    bool any = false;
    if (f->has_client) {
        fputs("\"client\":", out);
        jaddr(out, &f->client);
        any = true;
    }
    if (f->has_server) {
        fputs(any ? ",\"server\":" : "\"server\":", out);
        jaddr(out, &f->server);
        fprintf(out, ",\"server_port\":%u", f->server_port);
    }
    fputs("},\"evidence\":[", out);
    for (size_t k = 0; k < f->n_evidence; k++) {
        const diag_evidence *e = &f->evidence[k];
        fputs(k ? ",{\"packet\":" : "{\"packet\":", out);
        if (e->packet)
            fprintf(out, "%" PRIu64, e->packet);
        else
            fputs("null", out);
        fputs(",\"time\":", out);
        if (e->ts_ns)
            rep_json_time(out, e->ts_ns);
        else
            fputs("null", out);
        fputs(",\"text\":", out);
        rep_json_string(out, e->text);
        fputc('}', out);
    }
    fprintf(out, "],\"evidence_omitted\":%" PRIu64 ",\"params\":{", f->evidence_omitted);
    for (size_t k = 0; k < f->n_params; k++) {
        const diag_param *p = &f->params[k];
        if (k)
            fputc(',', out);
        rep_json_string(out, p->name);
        fputs(":{\"value\":", out);
        jnum(out, p->value);
        if (p->has_min) {
            fputs(",\"min\":", out);
            jnum(out, p->min);
        }
        if (p->has_max) {
            fputs(",\"max\":", out);
            jnum(out, p->max);
        }
        fputs(",\"unit\":", out);
        rep_json_string(out, p->unit);
        if (p->note != NULL) {
            fputs(",\"note\":", out);
            rep_json_string(out, p->note);
        }
        fputc('}', out);
    }
    fputs("},\"remedies\":[", out);
    for (size_t k = 0; k < f->n_remedies; k++) {
        fprintf(out, "%s{\"rank\":%zu,", k ? "," : "", k + 1);
        if (f->remedies[k].id != NULL) {
            fputs("\"id\":", out);
            rep_json_string(out, f->remedies[k].id);
            fputc(',', out);
        }
        fputs("\"action\":", out);
        rep_json_string(out, f->remedies[k].action);
        fputs(",\"tradeoff\":", out);
        rep_json_string(out, f->remedies[k].tradeoff);
        fputc('}', out);
    }
    fputs("],\"claims\":[", out);
    for (size_t k = 0; k < f->n_claims; k++)
        fprintf(out, "%s%" PRIu64, k ? "," : "", f->claims[k]);
    fputs("]}", out);
}

void rep_findings_json(FILE *out, const diag_findings *fs, const rep_run_info *in)
{
    fputs("{\"version\":1,\"input\":{\"files\":[", out);
    for (size_t i = 0; i < in->nfiles; i++) {
        if (i)
            fputc(',', out);
        rep_json_string(out, in->files[i]);
    }
    fputs("]", out);
    if (in->live_iface != NULL) {
        fputs(",\"interface\":", out);
        rep_json_string(out, in->live_iface);
    }
    fputs(",\"filter\":", out);
    if (in->filter)
        rep_json_string(out, in->filter);
    else
        fputs("null", out);
    fputs(",\"vantage\":", out);
    rep_json_string(out, diag_vantage_name(in->vantage));
    fprintf(out, ",\"vantage_inferred\":%s},", in->vantage_given ? "false" : "true");
    if (in->acc != NULL) {
        rep_accounting_json(out, in->acc, fs);
        fputc(',', out);
    }
    fputs("\"findings\":[", out);
    for (size_t i = 0; i < fs->n; i++) {
        if (i)
            fputc(',', out);
        finding_json(out, &fs->v[i]);
    }
    fprintf(out, "],\"stats\":{\"frames\":%" PRIu64 ",\"filtered\":%" PRIu64 ",\"tcp\":%" PRIu64
            ",\"tcp_fragments\":%" PRIu64 ",\"other_fragments\":%" PRIu64 ",\"not_tcp\":%" PRIu64
            ",\"not_ip\":%" PRIu64 ",\"malformed\":%" PRIu64 ",\"unsupported_link_type\":%" PRIu64
            ",\"connections\":%" PRIu64 ",\"tuples_peak\":%" PRIu64 ",\"evictions\":%" PRIu64
            ",\"expirations\":%" PRIu64 ",\"input_errors\":%" PRIu64
            ",\"time_regressions\":%" PRIu64 ",\"duration\":",
            in->frames, in->filtered, in->tcp, in->tcp_fragments, in->other_fragments,
            in->not_tcp, in->not_ip, in->malformed, in->unsupported_dlt, in->incarnations,
            in->tuples_peak, in->evictions, in->expirations, in->input_errors,
            in->time_regressions);
    jnum(out, in->last_ts > in->first_ts ? (double)(in->last_ts - in->first_ts) / 1e9 : 0.0);
    fputs(",\"anomalies\":{", out);
    bool any = false;
    for (int a = 0; a < PKT_AN_COUNT; a++) {
        if (in->anomalies[a] == 0)
            continue;
        fprintf(out, "%s\"%s\":%" PRIu64, any ? "," : "", pkt_anomaly_name((enum pkt_anomaly)a),
                in->anomalies[a]);
        any = true;
    }
    fputc('}', out);
    if (in->live_iface != NULL) {
        fputs(",\"capture\":{\"counters\":", out);
        fputs(in->live_stats_ok ? "true" : "false", out);
        fprintf(out, ",\"received\":%" PRIu64 ",\"dropped\":%" PRIu64 ",\"if_dropped\":%"
                PRIu64 "}", in->live_recv, in->live_drop, in->live_ifdrop);
    }
    fputs("}}\n", out);
}

void rep_finding_json(FILE *out, const diag_finding *f)
{
    finding_json(out, f);
}

void rep_finding_line(FILE *out, const diag_finding *f, bool color)
{
    const palette *c = color ? &colour : &plain;
    char sev[16];
    snprintf(sev, sizeof sev, "%s", diag_severity_name(f->severity));
    for (char *s = sev; *s; s++)
        *s = (char)(*s - (*s >= 'a' && *s <= 'z' ? 32 : 0));
    fprintf(out, "%s%s%s %s%s%s: %s (%" PRIu64 " event%s)", sev_colour(c, f->severity), sev,
            c->reset, c->bold, f->id, c->reset, f->summary != NULL ? f->summary : "",
            f->events, f->events == 1 ? "" : "s");
}

/* ---- one finding, for the other reports of src/report (findings_internal.h) -- */

void rep_finding_text(FILE *out, const diag_finding *f, size_t i, bool color)
{
    finding_text(out, f, i, color ? &colour : &plain);
}


/* ---- the catalogue (analyze --list-findings) ---------------------------------- */

void rep_catalogue(FILE *out, bool json)
{
    size_t n;
    const diag_cat_entry *c = diag_catalogue(&n);
    if (json)
        fputs("[", out);
    for (size_t i = 0; i < n; i++) {
        const char *who = c[i].who == (DIAG_CAT_ANALYZE | DIAG_CAT_AUDIT) ? "analyze audit"
                        : c[i].who == DIAG_CAT_AUDIT ? "audit" : "analyze";
        if (!json) {
            fprintf(out, "%-22s %s (%s; field reports %s)\n    severity: %s\n    params: %s\n",
                    c[i].id, c[i].title, who, c[i].seeds, c[i].severity, c[i].params);
            continue;
        }
        fputs(i ? ",\n{\"id\":" : "\n{\"id\":", out);
        rep_json_string(out, c[i].id);
        fputs(",\"title\":", out);
        rep_json_string(out, c[i].title);
        fputs(",\"raised_by\":", out);
        rep_json_string(out, who);
        fputs(",\"severity\":", out);
        rep_json_string(out, c[i].severity);
        fputs(",\"seeds\":", out);
        rep_json_string(out, c[i].seeds);
        fprintf(out, ",\"residual\":%s,\"folds_under\":", c[i].residual ? "true" : "false");
        if (c[i].folds_under != NULL)
            rep_json_string(out, c[i].folds_under);
        else
            fputs("null", out);
        fputs(",\"params\":{", out);
        bool first = true;
        for (const char *p = c[i].params; *p != '\0';) {
            while (*p == ' ' || *p == ';')
                p++;
            const char *colon = strchr(p, ':'), *end = strchr(p, ';');
            if (colon == NULL)
                break;
            if (end == NULL)
                end = p + strlen(p);
            char name[64], unit[64];
            snprintf(name, sizeof name, "%.*s", (int)(colon - p), p);
            snprintf(unit, sizeof unit, "%.*s", (int)(end - colon - 1), colon + 1);
            fputs(first ? "" : ",", out);
            rep_json_string(out, name);
            fputc(':', out);
            rep_json_string(out, unit);
            first = false;
            p = end;
        }
        fputs("}}", out);
    }
    if (json) {
        fputs("\n]\n", out);
        return;
    }
    size_t nl;
    const diag_conf_level *lv = diag_confidence_levels(&nl);
    fputs("\nconfidence levels:\n", out);
    for (size_t i = 0; i < nl; i++)
        fprintf(out, "    %-9s from %3.0f%%: %s\n", lv[i].name, lv[i].min * 100.0, lv[i].meaning);
    fputs("\nremedies several findings give (their id in the JSON):\n", out);
    for (int r = 0; r < DIAG_REM_COUNT; r++)
        fprintf(out, "    %s\n", diag_remedy_name((enum diag_remedy_id)r));
}
