/* hash_internal.h - private to src/: the mixing steps the seeded hash tables share (flow table, diagnosis engine). */
#ifndef TCPDOCTOR_COMMON_HASH_INTERNAL_H
#define TCPDOCTOR_COMMON_HASH_INTERNAL_H

#include <stdint.h>
#include <string.h>

/* 64-bit finaliser of MurmurHash3 (fmix64): every input bit affects every
 * output bit.  Portable C11, no 128-bit arithmetic. */
static inline uint64_t fmix64(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ULL;
    k ^= k >> 33;
    return k;
}

/* 8 bytes at p (any alignment), in host order. */
static inline uint64_t load64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

#endif
