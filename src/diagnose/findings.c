/* findings.c - the finding model: building, sorting and freeing findings. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem_internal.h"
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
    return mem_room(v, cap, n, elem, 4);
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
    r->id = NULL;
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

const char *diag_finding_subject(const diag_finding *f, char *buf, size_t len)
{
    char a[PKT_ADDR_STRLEN], b[PKT_ADDR_STRLEN];
    buf[0] = '\0';
    if (f->has_server) {
        pkt_addr_str(&f->server, b, sizeof b);
        const char *pre = f->has_client ? pkt_addr_str(&f->client, a, sizeof a) : "";
        const char *arrow = f->has_client ? " -> " : "";
        if (f->server_port == 0)
            snprintf(buf, len, "%s%s%s", pre, arrow, b);
        else
            snprintf(buf, len, pkt_addr_is_v4(&f->server) ? "%s%s%s:%u" : "%s%s[%s]:%u", pre,
                     arrow, b, f->server_port);
    } else if (f->has_client) {
        snprintf(buf, len, "%s", pkt_addr_str(&f->client, a, sizeof a));
    }
    return buf;
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

static void finding_free(diag_finding *f)
{
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

void diag_findings_free(diag_findings *fs)
{
    for (size_t i = 0; i < fs->n; i++)
        finding_free(&fs->v[i]);
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

/* ---- one finding per cause ------------------------------------------------- */

typedef struct id_rank {
    const char *id;
    size_t pos;                 /* in the sorted findings: importance */
} id_rank;

static int cmp_id_rank(const void *x, const void *y)
{
    const id_rank *a = x, *b = y;
    int c = strcmp(a->id, b->id);
    if (c != 0)
        return c;
    return a->pos < b->pos ? -1 : a->pos > b->pos;
}

static int cmp_u64(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return a < b ? -1 : a > b;
}


/* Findings v[m[0]], v[m[1]], ... (n of them, most important first) become
 * one: the first's words and remedies, every one's subject and summary as
 * evidence, all claims.  The others are freed (their slots zeroed). */
static int merge_into_first(diag_findings *fs, const size_t *m, size_t n)
{
    diag_finding agg;
    memset(&agg, 0, sizeof agg);
    diag_finding *f0 = &fs->v[m[0]];
    agg.id = f0->id;
    agg.severity = f0->severity;
    agg.confidence = f0->confidence;
    size_t n_claims = 0;
    for (size_t k = 0; k < n; k++) {
        agg.events += fs->v[m[k]].events;
        n_claims += fs->v[m[k]].n_claims;
    }
    diag_summary(&agg, "%zu more %s findings, each about another subject (listed as "
                 "evidence); the first: %s", n, f0->id, f0->summary ? f0->summary : "");
    if (f0->explanation != NULL)
        diag_explain(&agg, "%s", f0->explanation);
    diag_explain(&agg, "Beyond the first of each finding, the same cause about more clients "
                 "or servers is said once: their subjects and summaries are its evidence.");
    for (size_t k = 0; k < n; k++) {
        const diag_finding *f = &fs->v[m[k]];
        char subj[160];
        diag_finding_subject(f, subj, sizeof subj);
        uint64_t pkt = f->n_evidence > 0 ? f->evidence[0].packet : 0;
        int64_t ts = f->n_evidence > 0 ? f->evidence[0].ts_ns : 0;
        diag_evidence_add(&agg, pkt, ts, "%s  %s: %s", diag_severity_name(f->severity),
                          subj[0] ? subj : "-",
                          f->summary ? f->summary : "");
    }
    diag_param_add(&agg, "findings", (double)n, "findings");
    for (size_t r = 0; r < f0->n_remedies; r++)
        diag_remedy_add(&agg, f0->remedies[r].action, f0->remedies[r].tradeoff);
    if (n_claims > 0) {
        agg.claims = malloc(n_claims * sizeof *agg.claims);
        if (agg.claims == NULL) {
            finding_free(&agg);
            return -ENOMEM;
        }
        for (size_t k = 0; k < n; k++) {
            const diag_finding *f = &fs->v[m[k]];
            memcpy(agg.claims + agg.n_claims, f->claims, f->n_claims * sizeof *f->claims);
            agg.n_claims += f->n_claims;
        }
        qsort(agg.claims, agg.n_claims, sizeof *agg.claims, cmp_u64);
        size_t u = 0;
        for (size_t k = 0; k < agg.n_claims; k++)
            if (u == 0 || agg.claims[u - 1] != agg.claims[k])
                agg.claims[u++] = agg.claims[k];
        agg.n_claims = u;
        agg.cap_claims = n_claims;
    }
    if (agg.oom) {
        finding_free(&agg);
        return -ENOMEM;
    }
    for (size_t k = 0; k < n; k++) {
        finding_free(&fs->v[m[k]]);
        memset(&fs->v[m[k]], 0, sizeof fs->v[m[k]]);
    }
    fs->v[m[0]] = agg;
    return 0;
}

int diag_findings_cap(diag_findings *fs, size_t keep)
{
    if (keep < 2 || fs->n <= keep)
        return 0;
    diag_findings_sort(fs);
    id_rank *r = malloc(fs->n * sizeof *r);
    size_t *m = malloc(fs->n * sizeof *m);
    if (r == NULL || m == NULL) {
        free(r);
        free(m);
        return -ENOMEM;
    }
    for (size_t i = 0; i < fs->n; i++)
        r[i] = (id_rank){ fs->v[i].id, i };
    qsort(r, fs->n, sizeof *r, cmp_id_rank);
    int rc = 0;
    bool merged = false;
    for (size_t i = 0, j; i < fs->n && rc == 0; i = j) {
        for (j = i + 1; j < fs->n && strcmp(r[j].id, r[i].id) == 0; j++)
            ;
        if (j - i <= keep)
            continue;
        size_t n = 0;
        for (size_t k = i + keep - 1; k < j; k++)
            m[n++] = r[k].pos;
        rc = merge_into_first(fs, m, n);
        merged = true;
    }
    free(r);
    free(m);
    if (rc == 0 && merged) {
        size_t w = 0;           /* drop the merged slots (id NULL) */
        for (size_t i = 0; i < fs->n; i++)
            if (fs->v[i].id != NULL)
                fs->v[w++] = fs->v[i];
        fs->n = w;
        diag_findings_sort(fs);
    }
    return rc;
}
