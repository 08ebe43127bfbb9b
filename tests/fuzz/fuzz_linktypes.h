/* fuzz_linktypes.h - the link types fuzz_decode picks from with its first input byte. */
#ifndef TCPDOCTOR_TESTS_FUZZ_LINKTYPES_H
#define TCPDOCTOR_TESTS_FUZZ_LINKTYPES_H

/*
 * Input byte 0 selects fuzz_linktypes[byte % FUZZ_LINKTYPE_COUNT]; byte /
 * FUZZ_LINKTYPE_COUNT selects how the wire length relates to the capture
 * (fuzz_decode.c).  Append only: the seed corpus is written with these
 * indexes (make-corpus.c).
 */
static const int fuzz_linktypes[] = {
    1,      /* DLT_EN10MB */
    113,    /* DLT_LINUX_SLL */
    276,    /* DLT_LINUX_SLL2 */
    12,     /* DLT_RAW */
    14,     /* DLT_RAW (OpenBSD) */
    101,    /* LINKTYPE_RAW */
    228,    /* DLT_IPV4 */
    229,    /* DLT_IPV6 */
    0,      /* DLT_NULL */
    108,    /* DLT_LOOP */
};

#define FUZZ_LINKTYPE_COUNT (sizeof fuzz_linktypes / sizeof fuzz_linktypes[0])

#endif
