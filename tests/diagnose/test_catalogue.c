/* test_catalogue.c - the finding catalogue and docs/findings.md name the same findings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tcpdoctor/diagnose.h"

static const char *doc_path;    /* docs/findings.md (argv[1]) */
static const char *audit_path;  /* docs/audit.md (argv[2]) */

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 65536;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
        size_t n = fread(buf + len, 1, 4096, f);
        len += n;
        if (n == 0)
            break;
    }
    fclose(f);
    buf[len] = '\0';
    return buf;
}

/* Every capture finding has its row in the findings table: "| `id` |". */
static void every_capture_finding_has_a_row_in_findings_md(void **state)
{
    (void)state;
    char *doc = slurp(doc_path);
    size_t n;
    const diag_cat_entry *c = diag_catalogue(&n);
    assert_true(n >= 13);
    for (size_t i = 0; i < n; i++) {
        char row[96];
        snprintf(row, sizeof row, "| `%s` |", c[i].id);
        if ((c[i].who & DIAG_CAT_ANALYZE) && strstr(doc, row) == NULL)
            fail_msg("docs/findings.md has no row %s", row);
    }
    free(doc);
}

/* And no row names a finding the tool does not have. */
static void every_row_of_findings_md_is_in_the_catalogue(void **state)
{
    (void)state;
    char *doc = slurp(doc_path);
    const char *table = strstr(doc, "## The findings");
    assert_non_null(table);
    const char *end = strstr(table + 1, "\n## ");
    size_t rows = 0;
    for (const char *p = strstr(table, "\n| `"); p != NULL && (end == NULL || p < end);
         p = strstr(p + 1, "\n| `")) {
        const char *id = p + 4, *q = strchr(id, '`');
        assert_non_null(q);
        char buf[64];
        size_t len = (size_t)(q - id);
        assert_true(len < sizeof buf);
        memcpy(buf, id, len);
        buf[len] = '\0';
        const diag_cat_entry *e = diag_catalogue_find(buf);
        if (e == NULL || !(e->who & DIAG_CAT_ANALYZE))
            fail_msg("docs/findings.md documents `%s`, which the catalogue has not", buf);
        rows++;
    }
    size_t n, capture = 0;
    const diag_cat_entry *c = diag_catalogue(&n);
    for (size_t i = 0; i < n; i++)
        capture += (c[i].who & DIAG_CAT_ANALYZE) != 0;
    assert_int_equal(rows, capture);
    free(doc);
}

/* The audit's findings are documented in docs/audit.md. */
static void every_audit_finding_is_in_audit_md(void **state)
{
    (void)state;
    char *doc = slurp(audit_path);
    size_t n;
    const diag_cat_entry *c = diag_catalogue(&n);
    for (size_t i = 0; i < n; i++) {
        char id[96];
        snprintf(id, sizeof id, "`%s`", c[i].id);
        if ((c[i].who & DIAG_CAT_AUDIT) && strstr(doc, id) == NULL)
            fail_msg("docs/audit.md does not mention %s", id);
    }
    free(doc);
}

static void unknown_ids_are_not_found(void **state)
{
    (void)state;
    assert_null(diag_catalogue_find("syn-unanswerd"));
    assert_null(diag_catalogue_find(""));
    const diag_cat_entry *e = diag_catalogue_find("unexplained-failures");
    assert_non_null(e);
    assert_true(e->residual);
    e = diag_catalogue_find("connection-refused");
    assert_non_null(e);
    assert_false(e->residual);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: test_catalogue docs/findings.md docs/audit.md\n");
        return 2;
    }
    doc_path = argv[1];
    audit_path = argv[2];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_capture_finding_has_a_row_in_findings_md),
        cmocka_unit_test(every_row_of_findings_md_is_in_the_catalogue),
        cmocka_unit_test(every_audit_finding_is_in_audit_md),
        cmocka_unit_test(unknown_ids_are_not_found),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
