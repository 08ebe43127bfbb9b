/* findings.c - the finding model: building, sorting and freeing findings. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tcpdoctor/diagnose.h"

/*
 * Allocation failures while building a finding's text leave the field as it
 * was (NULL or the previous text) and mark the finding incomplete: memory
 * safety is kept, and diag_findings_complete() tells the caller not to
 * report (diagnose.h).  diag_add() is the only call whose failure the
 * caller must check at once.
 */

static char *vfmt(const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return NULL;
    char *s = malloc((size_t)n + 1);
    if (s != NULL)
        vsnprintf(s, (size_t)n + 1, fmt, ap);
    return s;
}

static bool grow(void **v, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap)
        return true;
    size_t nc = *cap ? *cap * 2 : 4;
    void *p = realloc(*v, nc * elem);
    if (p == NULL)
        return false;
    *v = p;
    *cap = nc;
    return true;
}

diag_finding *diag_add(diag_findings *fs, const char *id, enum diag_severity sev,
                       double confidence)
{
    if (!grow((void **)&fs->v, &fs->cap, fs->n, sizeof *fs->v)) {
        fs->oom = true;
        return NULL;
    }
    diag_finding *f = &fs->v[fs->n++];
    memset(f, 0, sizeof *f);
    f->id = id;
    f->severity = sev;
    f->confidence = confidence;
    return f;
}

void diag_summary(diag_finding *f, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = vfmt(fmt, ap);
    va_end(ap);
    if (s == NULL) {
        f->oom = true;
        return;
    }
    free(f->summary);
    f->summary = s;
}

void diag_explain(diag_finding *f, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = vfmt(fmt, ap);
    va_end(ap);
    if (s == NULL) {
        f->oom = true;
        return;
    }
    if (f->explanation == NULL) {
        f->explanation = s;
        return;
    }
    size_t a = strlen(f->explanation), b = strlen(s);
    char *j = realloc(f->explanation, a + 2 + b + 1);
    if (j != NULL) {
        memcpy(j + a, "\n\n", 2);
        memcpy(j + a + 2, s, b + 1);
        f->explanation = j;
    } else {
        f->oom = true;
    }
    free(s);
}

void diag_evidence_add(diag_finding *f, uint64_t packet, int64_t ts_ns, const char *fmt, ...)
{
    if (f->n_evidence >= DIAG_MAX_EVIDENCE) {
        f->evidence_omitted++;
        return;
    }
    if (!grow((void **)&f->evidence, &f->cap_evidence, f->n_evidence, sizeof *f->evidence)) {
        f->oom = true;
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    char *s = vfmt(fmt, ap);
    va_end(ap);
    if (s == NULL) {
        f->oom = true;
        return;
    }
    diag_evidence *e = &f->evidence[f->n_evidence++];
    e->packet = packet;
    e->ts_ns = ts_ns;
    e->text = s;
}

diag_param *diag_param_add(diag_finding *f, const char *name, double value, const char *unit)
{
    if (!grow((void **)&f->params, &f->cap_params, f->n_params, sizeof *f->params)) {
        f->oom = true;
        return NULL;
    }
    diag_param *p = &f->params[f->n_params];
    memset(p, 0, sizeof *p);
    p->name = strdup(name);
    p->unit = strdup(unit ? unit : "");
    if (p->name == NULL || p->unit == NULL) {
        free(p->name);
        free(p->unit);
        f->oom = true;
        return NULL;
    }
    p->value = value;
    f->n_params++;
    return p;
}

void diag_param_min(diag_param *p, double min)
{
    if (p == NULL)
        return;
    p->has_min = true;
    p->min = min;
}

void diag_param_max(diag_param *p, double max)
{
    if (p == NULL)
        return;
    p->has_max = true;
    p->max = max;
}

void diag_param_note(diag_param *p, const char *fmt, ...)
{
    if (p == NULL)
        return;
    va_list ap;
    va_start(ap, fmt);
    char *s = vfmt(fmt, ap);
    va_end(ap);
    if (s == NULL) {
        p->oom = true;
        return;
    }
    free(p->note);
    p->note = s;
}

const diag_param *diag_param_get(const diag_finding *f, const char *name)
{
    for (size_t i = 0; i < f->n_params; i++)
        if (strcmp(f->params[i].name, name) == 0)
            return &f->params[i];
    return NULL;
}

void diag_remedy_add(diag_finding *f, const char *action, const char *tradeoff)
{
    if (!grow((void **)&f->remedies, &f->cap_remedies, f->n_remedies, sizeof *f->remedies)) {
        f->oom = true;
        return;
    }
    diag_remedy *r = &f->remedies[f->n_remedies];
    r->action = strdup(action);
    r->tradeoff = strdup(tradeoff ? tradeoff : "");
    if (r->action == NULL || r->tradeoff == NULL) {
        free(r->action);
        free(r->tradeoff);
        f->oom = true;
        return;
    }
    f->n_remedies++;
}

int diag_claim(diag_finding *f, uint64_t first_packet)
{
    if (f->n_claims > 0 && f->claims[f->n_claims - 1] >= first_packet)
        return 0;
    if (!grow((void **)&f->claims, &f->cap_claims, f->n_claims, sizeof *f->claims))
        return -ENOMEM;
    f->claims[f->n_claims++] = first_packet;
    return 0;
}

static int cmp_findings(const void *x, const void *y)
{
    const diag_finding *a = x, *b = y;
    if (a->severity != b->severity)
        return a->severity > b->severity ? -1 : 1;
    if (a->confidence != b->confidence)
        return a->confidence > b->confidence ? -1 : 1;
    if (a->events != b->events)
        return a->events > b->events ? -1 : 1;
    int c = strcmp(a->id, b->id);
    if (c != 0)
        return c;
    /* qsort is not stable: tie-break on the text so the order is fixed */
    return strcmp(a->summary ? a->summary : "", b->summary ? b->summary : "");
}

bool diag_findings_complete(const diag_findings *fs)
{
    if (fs->oom)
        return false;
    for (size_t i = 0; i < fs->n; i++) {
        if (fs->v[i].oom)
            return false;
        for (size_t j = 0; j < fs->v[i].n_params; j++)
            if (fs->v[i].params[j].oom)
                return false;
    }
    return true;
}

void diag_findings_sort(diag_findings *fs)
{
    if (fs->n > 1)
        qsort(fs->v, fs->n, sizeof *fs->v, cmp_findings);
}

void diag_findings_free(diag_findings *fs)
{
    for (size_t i = 0; i < fs->n; i++) {
        diag_finding *f = &fs->v[i];
        free(f->summary);
        free(f->explanation);
        for (size_t j = 0; j < f->n_evidence; j++)
            free(f->evidence[j].text);
        free(f->evidence);
        for (size_t j = 0; j < f->n_params; j++) {
            free(f->params[j].name);
            free(f->params[j].unit);
            free(f->params[j].note);
        }
        free(f->params);
        for (size_t j = 0; j < f->n_remedies; j++) {
            free(f->remedies[j].action);
            free(f->remedies[j].tradeoff);
        }
        free(f->remedies);
        free(f->claims);
    }
    free(fs->v);
    memset(fs, 0, sizeof *fs);
}

const char *diag_severity_name(enum diag_severity s)
{
    switch (s) {
    case DIAG_INFO: return "info";
    case DIAG_WARNING: return "warning";
    case DIAG_ERROR: return "error";
    }
    return "?";
}

const char *diag_vantage_name(enum diag_vantage v)
{
    switch (v) {
    case DIAG_VANTAGE_UNKNOWN: return "unknown";
    case DIAG_VANTAGE_SERVER: return "server";
    case DIAG_VANTAGE_CLIENT: return "client";
    case DIAG_VANTAGE_PATH: return "path";
    }
    return "?";
}
