/* diag_test.h - run records through the engine and look at the findings (include after cmocka.h). */
#ifndef TCPDOCTOR_TEST_DIAG_TEST_H
#define TCPDOCTOR_TEST_DIAG_TEST_H

#include <string.h>

#include "tcpdoctor/diagnose.h"

/* Every record, in order, through a fresh engine; the findings (caller frees). */
static inline diag_findings tb_run(const flow_conn *c, size_t n, enum diag_vantage v)
{
    diag_config cfg = { .vantage = v };
    char err[64];
    diag_engine *e = diag_engine_new(&cfg, err, sizeof err);
    assert_non_null(e);
    for (size_t i = 0; i < n; i++)
        diag_engine_conn(e, &c[i]);
    diag_findings fs;
    assert_int_equal(diag_engine_finish(e, &fs), 0);
    diag_engine_free(e);
    return fs;
}

/* The nth finding (from 0) with this id, or NULL. */
static inline const diag_finding *tb_find(const diag_findings *fs, const char *id, size_t nth)
{
    for (size_t i = 0; i < fs->n; i++)
        if (strcmp(fs->v[i].id, id) == 0 && nth-- == 0)
            return &fs->v[i];
    return NULL;
}

/* A parameter's value; fails the test when the finding has no such param. */
static inline double tb_param(const diag_finding *f, const char *name)
{
    const diag_param *p = diag_param_get(f, name);
    if (p == NULL)
        fail_msg("finding %s has no param %s", f->id, name);
    return p->value;
}

#endif
