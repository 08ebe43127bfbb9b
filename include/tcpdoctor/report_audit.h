/* report_audit.h - output formats of `tcpdoctor audit`: the findings, then the host section. */
#ifndef TCPDOCTOR_REPORT_AUDIT_H
#define TCPDOCTOR_REPORT_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "tcpdoctor/audit.h"
#include "tcpdoctor/diagnose.h"

/* What the report says about the run besides the snapshot. */
typedef struct rep_audit_info {
    const char *netns;      /* --netns NAME, or NULL: the caller's namespace */
    size_t   top;           /* destinations listed (most TIME_WAIT first) */
} rep_audit_info;

/* Text for people: findings first (as analyze writes them), then the host:
 * sysctls with their meaning, non-zero counters explained, sockets per
 * state, the top destinations with headroom and TIME_WAIT timers. */
void rep_audit_text(FILE *out, const diag_findings *fs, const audit_snapshot *s,
                    const rep_audit_info *info, bool color);

/* {"version": 1, "input": {...}, "findings": [...], "host": {...}}
 * (docs/audit.md; findings as in docs/findings.md). */
void rep_audit_json(FILE *out, const diag_findings *fs, const audit_snapshot *s,
                    const rep_audit_info *info);

#endif
