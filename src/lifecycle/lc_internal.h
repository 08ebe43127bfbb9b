/* lc_internal.h - private to src/lifecycle: the per-incarnation judge and its tunables. */
#ifndef TCPDOCTOR_LC_INTERNAL_H
#define TCPDOCTOR_LC_INTERNAL_H

#include "tcpdoctor/lifecycle.h"

/* RFC 6298 2.1: the initial retransmission timeout is 1 s; an answer that
 * has not come within it may still come (ns). */
#define LC_RTO_NS 1000000000LL
/* A single SYN needs this much capture after it to be called unanswered:
 * RFC 6298 2.1 says 1 s, but RFC 1122 4.2.3.1's 3 s is still the initial
 * SYN timeout of older Windows stacks (tcp-behaviour.md 3) (ns). */
#define LC_SYN_EDGE_NS 3000000000LL
/* Two SYNs closer than this are one frame captured twice (two interfaces,
 * a mirror port), not a retransmission: no stack retransmits a SYN sooner
 * (Linux TCP_TIMEOUT_MIN is 200 ms, tcp-behaviour.md 3) (ns). */
#define LC_DUP_SYN_NS 100000000LL
/* Data outstanding this long at the capture's end, with no progress, is a
 * stall; less is "the capture ended inside it" (two RTOs) (ns). */
#define LC_STALL_EDGE_NS 3000000000LL
/* No packet for this long is a gap in the capture (files merged, a
 * capture stopped and restarted): attempts just before it are judged as at
 * the capture's end.  Longer than any TIME_WAIT (Windows 2003: 240 s) (ns). */
#define LC_GAP_NS (300LL * 1000000000LL)
/* Gaps remembered; more are counted. */
#define LC_MAX_GAPS 64

/* An RST whose TTL differs from the sender's other packets by more than
 * this many hops came from somewhere else (a middlebox injecting it). */
#define LC_TTL_FOREIGN 5

/* The verdict on one incarnation from its own packets (outcome.c).  The
 * stage's completeness pass may still turn a failure into no-verdict. */
typedef struct lc_verdict {
    enum lc_outcome outcome;
    enum lc_detail detail;
    uint64_t decisive_packet;
    int64_t  decisive_ts;
    double   delay_s;
    uint32_t unacked;
    bool     at_capture_end;    /* the verdict depends on nothing more coming:
                                   re-judged against the capture's end */
} lc_verdict;

void lc_judge(const flow_conn *c, lc_verdict *v);

#endif
