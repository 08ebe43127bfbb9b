/* cmap.c - small counting maps keyed by (64-bit, 32-bit) words: how many ports a host or
 * a NAT has in use toward one destination, so that exhaustion is known without a scan. */
#include <errno.h>
#include <stdlib.h>

#include "sim_internal.h"

static inline size_t slot(uint64_t k1, uint32_t k2, size_t size)
{
    uint64_t h = (k1 ^ ((uint64_t)k2 << 17)) * 0x9e3779b97f4a7c15ULL;
    return (size_t)(h >> 40) & (size - 1);
}

static int grow(sim_cmap *m)
{
    size_t ns = m->size ? m->size * 2 : 256;
    sim_cmap_ent *ne = calloc(ns, sizeof *ne);
    if (!ne)
        return -ENOMEM;
    for (size_t i = 0; i < m->size; i++) {
        const sim_cmap_ent *e = &m->v[i];
        if (!e->used)
            continue;
        size_t j = slot(e->k1, e->k2, ns);
        while (ne[j].used)
            j = (j + 1) & (ns - 1);
        ne[j] = *e;
    }
    free(m->v);
    m->v = ne;
    m->size = ns;
    return 0;
}

uint32_t sim_cmap_get(const sim_cmap *m, uint64_t k1, uint32_t k2)
{
    if (!m->size)
        return 0;
    for (size_t j = slot(k1, k2, m->size);; j = (j + 1) & (m->size - 1)) {
        const sim_cmap_ent *e = &m->v[j];
        if (!e->used)
            return 0;
        if (e->k1 == k1 && e->k2 == k2)
            return e->n;
    }
}

int sim_cmap_add(sim_cmap *m, uint64_t k1, uint32_t k2, int32_t delta)
{
    if ((m->used + 1) * 2 > m->size && grow(m) < 0)
        return -ENOMEM;
    for (size_t j = slot(k1, k2, m->size);; j = (j + 1) & (m->size - 1)) {
        sim_cmap_ent *e = &m->v[j];
        if (!e->used) {
            e->used = 1;
            e->k1 = k1;
            e->k2 = k2;
            e->n = 0;
            m->used++;
        } else if (e->k1 != k1 || e->k2 != k2) {
            continue;
        }
        e->n = (uint32_t)((int64_t)e->n + delta);
        return 0;
    }
}

void sim_cmap_free(sim_cmap *m)
{
    free(m->v);
    m->v = NULL;
    m->size = m->used = 0;
}
