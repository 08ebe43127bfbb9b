/* report.h - output formats: the connection table (table, NDJSON, TSV). */
#ifndef TCPDOCTOR_REPORT_H
#define TCPDOCTOR_REPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "tcpdoctor/flow.h"

enum rep_conn_format {
    REP_CONN_TABLE,     /* aligned columns for people */
    REP_CONN_NDJSON,    /* one JSON object per incarnation */
    REP_CONN_TSV        /* header line, then tab-separated rows */
};

typedef struct rep_conn_writer rep_conn_writer;

/* Writer on out (borrowed).  t0_ns: time the table's "start" column is
 * relative to (the first frame).  NULL on allocation failure. */
rep_conn_writer *rep_conn_writer_new(FILE *out, enum rep_conn_format fmt);

/* Time origin for the table's relative times: set before the first row. */
void rep_conn_writer_set_origin(rep_conn_writer *w, int64_t t0_ns);

/* Write one incarnation. */
void rep_conn_write(rep_conn_writer *w, const flow_conn *c);

/* Rows written so far. */
uint64_t rep_conn_rows(const rep_conn_writer *w);

void rep_conn_writer_free(rep_conn_writer *w);

/* JSON string escaping into out (RFC 8259 7). */
void rep_json_string(FILE *out, const char *s);

/* Seconds since the epoch with 6 decimals (a JSON number). */
void rep_json_time(FILE *out, int64_t ts_ns);

/* ---- findings (analyze) ------------------------------------------------ */

#include "tcpdoctor/diagnose.h"

/* What the report says about the run besides the findings. */
typedef struct rep_run_info {
    const char *const *files;
    size_t   nfiles;
    const char *filter;             /* NULL: none */
    bool     verbose;               /* text: every finding in full, none folded
                                       under its cause, remedies repeated */
    const diag_accounting *acc;     /* every attempt accounted for; NULL: not
                                       available (the report then says nothing
                                       of attempts) */
    enum diag_vantage vantage;
    bool     vantage_given;         /* --vantage, not inferred */
    uint64_t frames, filtered, tcp, tcp_fragments, other_fragments, not_tcp, not_ip;
    uint64_t malformed, unsupported_dlt;
    uint64_t incarnations, tuples_peak, evictions, expirations;
    uint64_t time_regressions;      /* frames older than the one before them */
    uint64_t anomalies[PKT_AN_COUNT];
    uint64_t input_errors;
    int64_t  first_ts, last_ts;
    /* live capture (watch); live_iface NULL for capture files */
    const char *live_iface;
    bool     live_stats_ok;         /* libpcap gave its counters */
    uint64_t live_recv, live_drop, live_ifdrop;   /* ps_recv, ps_drop, ps_ifdrop */
} rep_run_info;

/* Text report for people: most important finding first, each with its
 * numbered evidence; statistics footer.  color: ANSI colours. */
void rep_findings_text(FILE *out, const diag_findings *fs, const rep_run_info *info, bool color);

/* {"version": 1, "findings": [...], "stats": {...}} (docs/findings.md). */
void rep_findings_json(FILE *out, const diag_findings *fs, const rep_run_info *info);

/* One finding as the JSON object the report's "findings" array holds (no
 * newline). */
void rep_finding_json(FILE *out, const diag_finding *f);

/* Every finding the tool can raise (the catalogue): a text list, or a
 * JSON array of {id, title, raised_by, severity, seeds, residual,
 * folds_under, params: {name: unit}}. */
void rep_catalogue(FILE *out, bool json);

/* One finding on one line: "WARNING timewait-reuse: summary (N events)",
 * no newline.  color: ANSI colours. */
void rep_finding_line(FILE *out, const diag_finding *f, bool color);

#endif
