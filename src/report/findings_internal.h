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

#endif
