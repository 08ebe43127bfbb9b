/* group_index.c - find-or-create records by key: the open-addressing index detectors share. */
#include <errno.h>
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

long diag_index_get(diag_index *ix, const diag_table *t, void **v, size_t *n, size_t *cap,
                    const void *key, bool *created)
{
    if (created != NULL)
        *created = false;
    if ((*n + 1) * 2 > (ix->slot ? ix->mask + 1 : 0) && grow(ix, t, *v, *n) != 0)
        return -1;
    uint64_t kh = key_hash(ix, key, t->key_len);
    uint32_t tag = tag_of(kh);
    size_t h = (size_t)kh & ix->mask;
    for (; ix->slot[h] != 0; h = (h + 1) & ix->mask) {
        uint64_t sl = ix->slot[h];
        size_t pos = (size_t)(uint32_t)sl - 1;
        if ((uint32_t)(sl >> 32) == tag && key_eq(key_at(t, *v, pos), key, t->key_len))
            return (long)pos;
    }
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
    ix->slot[h] = (uint64_t)tag << 32 | ((uint64_t)*n + 1);
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
