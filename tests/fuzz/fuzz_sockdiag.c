/* fuzz_sockdiag.c - libFuzzer target: bytes as a recorded sock_diag dump through audit_parse_dump() and the audit findings. */
#include <stddef.h>
#include <stdint.h>

#include "tcpdoctor/audit.h"
#include "tcpdoctor/diagnose.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    audit_snapshot *s = audit_snapshot_new();
    if (s == NULL)
        return 0;
    char err[256];
    /* Without procfs the summary uses no port range: the findings still run. */
    (void)audit_parse_dump(s, data, size, err, sizeof err);
    diag_findings fs = { 0 };
    if (audit_findings(s, &fs) == 0)
        diag_findings_free(&fs);
    audit_snapshot_free(s);
    return 0;
}
