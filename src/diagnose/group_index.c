/* group_index.c - find-or-create records by key: the open-addressing index detectors share. */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem_internal.h"
#include "diagnose/diag_internal.h"

/*
 * How it works: the records live in the detector's own growing array (it
 * may be reallocated between calls; only positions are kept here).  The
 * index maps a seeded hash of the key bytes to position + 1 (0 = empty)
 * and a tag of the hash, with linear probing, and doubles to stay at most
 * half full.  Keys are compared byte for byte, so a key must have no
 * padding inside its key_len.
 * The seed comes from the caller (an address, so tables differ per run):
 * a capture cannot aim its groups at one probe run.
 */

static uint64_t key_hash(const diag_index *ix, const void *key, size_t len)
{
    const unsigned char *p = key;
    uint64_t h = ix->seed ^ (len * 0x9e3779b97f4a7c15ULL);
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdULL;
        h ^= h >> 32;
        p += 8;
        len -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, p, len);
    h = (h ^ w) * 0xc4ceb9fe1a85ec53ULL;
    return h ^ (h >> 29);
}

static const void *key_at(const diag_table *t, const void *v, size_t i)
{
    return (const char *)v + i * t->size + t->key_off;
}

/* Keys are short (an address pair and a port): compared 8 bytes at a time
 * inline rather than through memcmp(). */
static bool key_eq(const void *x, const void *y, size_t len)
{
    const unsigned char *a = x, *b = y;
    for (; len >= 8; a += 8, b += 8, len -= 8) {
        uint64_t u, w;
        memcpy(&u, a, 8);
        memcpy(&w, b, 8);
        if (u != w)
            return false;
    }
    return len == 0 || memcmp(a, b, len) == 0;
}

/* A slot holds position + 1 in its low half (0: empty) and the upper half
 * of the key's hash in its high half: probes past other keys rarely need
 * to touch their records. */
static inline uint32_t tag_of(uint64_t h)
{
    return (uint32_t)(h >> 32);
}

static int grow(diag_index *ix, const diag_table *t, const void *v, size_t n)
{
    size_t cap = ix->slot ? (ix->mask + 1) * 2 : 256;
    uint64_t *s = calloc(cap, sizeof *s);
    if (s == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        uint64_t kh = key_hash(ix, key_at(t, v, i), t->key_len);
        size_t h = (size_t)kh & (cap - 1);
        while (s[h] != 0)
            h = (h + 1) & (cap - 1);
        s[h] = (uint64_t)tag_of(kh) << 32 | ((uint64_t)i + 1);
    }
    free(ix->slot);
    ix->slot = s;
    ix->mask = cap - 1;
    return 0;
}

/* Probe for key: its position, or -1 with *h at the empty slot that ends
 * the probe.  The index has slots. */
static long probe(const diag_index *ix, const diag_table *t, const void *v, const void *key,
                  uint64_t kh, size_t *h)
{
    uint32_t tag = tag_of(kh);
    for (*h = (size_t)kh & ix->mask; ix->slot[*h] != 0; *h = (*h + 1) & ix->mask) {
        uint64_t sl = ix->slot[*h];
        size_t pos = (size_t)(uint32_t)sl - 1;
        if ((uint32_t)(sl >> 32) == tag && key_eq(key_at(t, v, pos), key, t->key_len))
            return (long)pos;
    }
    return -1;
}

long diag_index_find(const diag_index *ix, const diag_table *t, const void *v, const void *key)
{
    if (ix->slot == NULL)
        return -1;
    size_t h;
    return probe(ix, t, v, key, key_hash(ix, key, t->key_len), &h);
}

long diag_index_get(diag_index *ix, const diag_table *t, void **v, size_t *n, size_t *cap,
                    const void *key, bool *created)
{
    if (created != NULL)
        *created = false;
    if ((*n + 1) * 2 > (ix->slot ? ix->mask + 1 : 0) && grow(ix, t, *v, *n) != 0)
        return -1;
    uint64_t kh = key_hash(ix, key, t->key_len);
    size_t h;
    long found = probe(ix, t, *v, key, kh, &h);
    if (found >= 0)
        return found;
    if (*n >= UINT32_MAX - 1)
        return -1;
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 64;
        void *nv = mem_grow(*v, *cap * t->size, nc * t->size);
        if (nv == NULL)
            return -1;
        *v = nv;
        *cap = nc;
    }
    char *rec = (char *)*v + *n * t->size;
    memset(rec, 0, t->size);
    memcpy(rec + t->key_off, key, t->key_len);
    ix->slot[h] = (uint64_t)tag_of(kh) << 32 | ((uint64_t)*n + 1);
    if (created != NULL)
        *created = true;
    return (long)(*n)++;
}

void diag_index_reset(diag_index *ix)
{
    free(ix->slot);
    ix->slot = NULL;
    ix->mask = 0;
}

/*
 * Items grouped by a server endpoint, each group's items chained in item
 * order.  Findings go per server endpoint in several detectors; grouping
 * through the index keeps that linear however many endpoints a capture
 * holds (a scan of many hosts), where comparing every item with every
 * other was quadratic.
 */
int diag_ep_groups_init(diag_ep_groups *g, size_t items, uint64_t seed)
{
    memset(g, 0, sizeof *g);
    g->ix.seed = seed;
    g->next = malloc((items ? items : 1) * sizeof *g->next);
    return g->next == NULL ? -ENOMEM : 0;
}

long diag_ep_groups_add(diag_ep_groups *g, const pkt_addr *addr, uint16_t port, size_t item)
{
    static const diag_table tab = { sizeof(diag_ep_group), offsetof(diag_ep_group, addr),
                                    offsetof(diag_ep_group, port) + sizeof(uint16_t) };
    diag_ep_group key;
    memset(&key, 0, sizeof key);
    key.addr = *addr;
    key.port = port;
    bool created;
    void *v = g->v;
    long k = diag_index_get(&g->ix, &tab, &v, &g->n, &g->cap, &key, &created);
    g->v = v;
    if (k < 0)
        return -1;
    diag_ep_group *e = &g->v[k];
    if (created)
        e->first = item;
    else
        g->next[e->last] = item;
    e->last = item;
    e->n++;
    return k;
}

void diag_ep_groups_free(diag_ep_groups *g)
{
    diag_index_reset(&g->ix);
    free(g->v);
    free(g->next);
    memset(g, 0, sizeof *g);
}
