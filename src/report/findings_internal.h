/* findings_internal.h - private to src/report: one finding in analyze's text or JSON form, for the other reports that list findings. */
#ifndef TCPDOCTOR_REPORT_FINDINGS_INTERNAL_H
#define TCPDOCTOR_REPORT_FINDINGS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "tcpdoctor/diagnose.h"

/* Finding number i (0-based) as rep_findings_text() writes it. */
void rep_finding_text(FILE *out, const diag_finding *f, size_t i, bool color);
/* rep_finding_json() (one element of the "findings" array) is public: report.h. */

/* "10.0.0.1:80" or "[fd00::1]:80" into buf (len >= PKT_ADDR_STRLEN + 8); returns buf. */
const char *rep_endpoint(char *buf, size_t len, const pkt_addr *a, uint16_t port);

/* The accounting paragraph that opens the text report (accounting_out.c). */
void rep_accounting_text(FILE *out, const diag_accounting *acc, const char *bold, const char *reset);
/* "accounting":{...},"attempts_not_ok":[...],"attempts_not_ok_omitted":N
 * (members of the report's object, no surrounding braces); claimed_by from
 * the findings' claims. */
void rep_accounting_json(FILE *out, const diag_accounting *acc, const diag_findings *fs);

#endif
