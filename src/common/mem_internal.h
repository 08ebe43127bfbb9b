/* mem_internal.h - private to src/: growable arrays for large tables read at random, backed by huge pages where the kernel allows. */
#ifndef TCPDOCTOR_COMMON_MEM_INTERNAL_H
#define TCPDOCTOR_COMMON_MEM_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/*
 * Why: the flow table's entries and the diagnosis engine's per-connection
 * records run to tens of MiB on a large capture and are reached at random.
 * With 4 KiB pages every such access also misses the TLB (a page walk),
 * and every page costs a fault when first written.  A 2 MiB page covers
 * 512 times as much: madvise(MADV_HUGEPAGE) asks for them on the whole
 * 2 MiB-aligned inside of a block.  With transparent huge pages in
 * "madvise" mode only blocks so marked get them; in "always" mode all do;
 * with THP off, or no huge page at hand, the memory stays ordinary and
 * nothing else changes (Documentation/admin-guide/mm/transhuge.rst).
 * Callers mark only large blocks: a huge page for a small one would make
 * 2 MiB resident for a few bytes.
 */
#define MEM_HUGE_PAGE ((size_t)2 << 20)

static inline void mem_hint_huge(void *p, size_t len)
{
#ifdef MADV_HUGEPAGE
    if (p == NULL)
        return;
    uintptr_t lo = ((uintptr_t)p + MEM_HUGE_PAGE - 1) & ~(uintptr_t)(MEM_HUGE_PAGE - 1);
    uintptr_t hi = ((uintptr_t)p + len) & ~(uintptr_t)(MEM_HUGE_PAGE - 1);
    if (hi > lo)
        (void)madvise((void *)lo, hi - lo, MADV_HUGEPAGE);  /* a hint: errors change nothing */
#else
    (void)p;
    (void)len;
#endif
}

/* malloc() for a large block: aligned to a huge page and hinted, its size
 * rounded up to whole huge pages (the rounding is address space only: pages
 * never written are never made resident).  Small blocks: plain malloc().
 * Free with free(). */
static inline void *mem_alloc_big(size_t bytes)
{
    if (bytes < 2 * MEM_HUGE_PAGE)
        return malloc(bytes ? bytes : 1);
    size_t whole = (bytes + MEM_HUGE_PAGE - 1) / MEM_HUGE_PAGE * MEM_HUGE_PAGE;
    void *q = NULL;
    if (whole < bytes || posix_memalign(&q, MEM_HUGE_PAGE, whole) != 0)
        return NULL;
    mem_hint_huge(q, whole);
    return q;
}

/*
 * realloc() for an array that grows by doubling from old_bytes (what p
 * holds) to bytes; same contract as realloc.  A large block is moved by
 * hand, so that the hint is given before the copy first writes the new
 * pages (realloc() would fault them in as small pages).
 */
static inline void *mem_grow(void *p, size_t old_bytes, size_t bytes)
{
    if (bytes < 2 * MEM_HUGE_PAGE || bytes <= old_bytes)
        return realloc(p, bytes);   /* small blocks: a huge page would waste memory */
    void *q = mem_alloc_big(bytes);     /* all of it can be huge pages */
    if (q == NULL)
        return NULL;
    if (p != NULL)
        memcpy(q, p, old_bytes);
    free(p);
    return q;
}

/*
 * Room for one more element in an array of n elements of elem bytes with
 * capacity *cap: doubles it (first: `first`) with plain realloc() when it
 * is full.  True when there is room; false (array and *cap untouched) when
 * out of memory or the size would overflow.
 */
static inline bool mem_room(void **v, size_t *cap, size_t n, size_t elem, size_t first)
{
    if (n < *cap)
        return true;
    size_t nc = *cap ? *cap * 2 : first;
    if (nc < *cap || nc > SIZE_MAX / elem)
        return false;
    void *p = realloc(*v, nc * elem);
    if (p == NULL)
        return false;
    *v = p;
    *cap = nc;
    return true;
}

#endif
