/* ports_internal.h - private to port-exhaustion and timewait-accumulation: source-port records and the one pool estimate both read. */
#ifndef TCPDOCTOR_PORTS_INTERNAL_H
#define TCPDOCTOR_PORTS_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "diagnose/diag_internal.h"

/*
 * Both detectors judge the same thing: how many of a source's ports toward
 * one (destination, port) are held at each moment, and whether that count
 * is a limit.  So both keep the same records (a pp_table, fed the same
 * incarnations), and both call pp_pool_estimate() on a group's records:
 * the same code on the same data gives the same pool, and neither detector
 * reads the other's finding (style.md: no finding looked up by id or
 * parameter name).
 *
 * The rule both apply (port_pool.c states it with its minimums): a warning
 * or an error only on
 *   (a) harm at a plateau: attempts that failed or waited (SYNs
 *       retransmitted and never answered, refused, or answered late) while
 *       the ports in use were at the most ever in use, the same count each
 *       time; or
 *   (b) a proven range: at least PP_RANGE_MIN_PORTS distinct ports covering
 *       their span densely and handed out again, and nearly all of the span
 *       in use at once.
 * Anything less is at most "headroom" (info), or nothing: a few ports seen
 * is not a range.
 */

#define PP_RANGE_MIN_PORTS 256      /* distinct ports before a span is a range (rule b) */
#define PP_RANGE_DENSITY   0.9      /* distinct ports / span for a range */
#define PP_FULL_SHARE      0.9      /* ports in use / ports that counts as full */
#define PP_HARM_MIN        2        /* failed or delayed attempts at the plateau (rule a) */
#define PP_HARM_SHARE      0.8      /* of the group's failed or delayed attempts */
#define PP_GAP_S           300.0    /* a silence longer than this splits the capture */

enum pp_kind {
    PP_SRC_CLOSED,      /* the source sent the first FIN: TIME_WAIT on its side */
    PP_DST_CLOSED,      /* the destination sent the first FIN */
    PP_RESET,           /* ended by RST: no TIME_WAIT (RFC 9293 3.10.7) */
    PP_OPEN,            /* not closed within the capture */
    PP_FAILED,          /* SYNs and nothing at all came back */
    PP_REFUSED          /* answered by RST or a bare ACK: holds nothing */
};

/* One incarnation whose client sent a SYN (48 bytes). */
typedef struct pp_rec {
    int64_t  start;             /* first SYN */
    int64_t  end;               /* last packet */
    uint64_t first_packet;
    uint64_t last_packet;
    uint32_t grp;               /* (source, destination, port) group */
    uint32_t held_us;           /* first SYN -> the SYN that got through */
    uint32_t tried_us;          /* first SYN -> the last SYN left unanswered */
    uint16_t port;              /* source port */
    uint8_t  kind;              /* enum pp_kind */
    uint8_t  at_eof;            /* still open when the capture ended */
} pp_rec;

typedef struct pp_key {
    pkt_addr src;               /* zero for destination groups */
    pkt_addr dst;
    uint16_t dport;
} pp_key;

typedef struct pp_group {
    pp_key   key;
    uint32_t dgrp;              /* its (destination, port) group */
    uint32_t src_fin, closed;   /* closed first by the source; closed at all */
    uint8_t  ttl;               /* source's TTL in its first connection */
    bool     linux_syn;         /* every SYN had a Linux option layout */
} pp_group;

typedef struct pp_groups {
    pp_group *v;
    size_t   n, cap;
    diag_index ix;
} pp_groups;

/* A silence-free stretch of the capture (PP_GAP_S). */
typedef struct pp_stretch {
    int64_t s, e;
} pp_stretch;

typedef struct pp_table {
    pp_rec   *rec;              /* by source group, port, time after pp_table_finish() */
    size_t   n_rec, cap_rec;
    pp_groups src, dst;
    pp_stretch *stretch;
    size_t   n_stretch;
    bool     oom;
} pp_table;

/* Empty table; the seed keys its indexes. */
void pp_table_init(pp_table *t, uint64_t seed);
void pp_table_free(pp_table *t);
/* Keep an incarnation (ignored without a SYN or with guessed roles); sets
 * t->oom when out of memory. */
void pp_table_add(pp_table *t, const flow_conn *c);
/* Records by group, port, time, and the capture's stretches; 0 or -ENOMEM. */
int pp_table_finish(pp_table *t);
/* When a record's port frees at the latest, TIME_WAIT aside: its last
 * packet, or for one still open at the capture's end the end of its
 * stretch (never across a silence between merged captures). */
int64_t pp_open_until(const pp_table *t, const pp_rec *r);
/* Start of the port's hold: the SYN that got through. */
static inline int64_t pp_held_from(const pp_rec *r)
{
    return r->start + (int64_t)r->held_us * 1000;
}
static inline bool pp_ok_kind(uint8_t k)
{
    return k <= PP_OPEN;
}

/* How many intervals are in use over time. */
typedef struct pp_sweep {
    int64_t  *t;
    uint32_t *level;
    size_t   n;
    uint32_t peak;
    int64_t  peak_ts;           /* first time the peak was reached */
    int64_t  full_ns;           /* time at or above the "full" count */
    uint32_t episodes;          /* separate times it became full */
    int64_t  full_ts;           /* first time it became full */
} pp_sweep;

/* n intervals [s, e); `full` is the count that counts as full (0: none),
 * timed up to `horizon`.  0 or -ENOMEM (sw left empty). */
int pp_sweep_build(pp_sweep *sw, const int64_t *s, const int64_t *e, size_t n, uint32_t full,
                   int64_t horizon);
/* In use at t (after every event at or before t). */
uint32_t pp_sweep_at(const pp_sweep *sw, int64_t t);
void pp_sweep_free(pp_sweep *sw);

/* A failed or delayed attempt, from the lifecycle stage's verdict: SYNs
 * retransmitted and never answered, refused, or answered only after a
 * retransmission.  *failed tells the first two from the last. */
bool pp_harm(const diag_ctx *ctx, const pp_rec *r, bool *failed);
/* At the plateau: at least k in use at the attempt's first SYN and at its
 * last unanswered one. */
bool pp_at_plateau(const pp_sweep *sw, uint32_t k, const pp_rec *r);

/* The TIME_WAIT the source's stack keeps, from its initial TTL
 * (stacks.c, tcp-behaviour.md 10), its default range, and words. */
typedef struct pp_stack {
    unsigned ittl;
    double   tw_s;
    uint16_t port_lo, port_hi;
    const char *words;
} pp_stack;
void pp_stack_of(uint8_t ttl, pp_stack *out);

/* One (source, destination, port) group's pool. */
typedef struct pp_pool {
    const pp_group *g;
    const pp_rec *r;            /* the group's records, by port then time */
    size_t   n;
    pp_stack st;
    uint32_t ports, ok, reuses, src_closed;
    uint16_t lo, hi;
    uint32_t span;              /* hi - lo + 1 */
    double   tw_eff, min_gap, life_mean;
    int64_t  first_ts, last_syn_ts, last_close_ts;
    int64_t  *s, *e;            /* holds of the connected records */
    uint32_t *of;               /* record index of each hold */
    uint32_t full;              /* count that counts as full */
    pp_sweep sw;
    uint32_t cycled;            /* ports handed out again after it first filled */
    bool     range_known;       /* rule (b): the span is the source's range */
    bool     near_full;         /* rule (b): peak >= PP_FULL_SHARE of the span */
    uint32_t *harm;             /* rule (a): record indexes at the plateau */
    uint32_t n_harm, n_harm_failed;
    uint32_t tried;             /* failed or delayed attempts in the group */
} pp_pool;

/* Estimate the pool of one group (records of one group, by port then
 * time).  0 or -ENOMEM; pp_pool_free() in both cases. */
int pp_pool_estimate(const pp_table *t, const pp_rec *r, size_t n, const diag_ctx *ctx,
                     pp_pool *pl);
void pp_pool_free(pp_pool *pl);

/* ---- port-exhaustion's verdicts (port_exhaustion.c judges, port_words.c words) ---- */

enum pe_basis {
    PE_HARM,            /* rule (a): attempts failed or waited at the plateau */
    PE_RANGE,           /* rule (b): a proven range nearly all in use */
    PE_HEADROOM         /* a few ports all in use and handed out again: info */
};

/* A source's pool toward one destination. */
typedef struct pe_verdict {
    const pp_pool *pl;
    enum pe_basis basis;
    enum diag_severity sev;
    uint32_t *claim;            /* record indexes (in pl->r): unexplained harm at the plateau */
    uint32_t n_claim, n_failed; /* of which failed (the rest waited) */
} pe_verdict;

/* Inside a NAT: connections to one destination, all sources, by time. */
typedef struct pe_ceil {
    const pp_group *d;          /* destination group */
    const pp_group *src;        /* the source groups (for their addresses) */
    const pp_rec *r;            /* its records, by time */
    size_t   n;
    int64_t  *s, *e;            /* holds of the connected records */
    uint32_t *of;
    uint32_t ok;
    pp_sweep sw;
    uint32_t *hit;              /* harm at the ceiling (record indexes) */
    uint32_t n_hit, n_failed, fails;
    double   life_mean;
    bool     one_src;
    const pp_rec *recovered;    /* first connection that got through after a failure */
} pe_ceil;

int pe_pool_report(const pe_verdict *v, diag_ctx *ctx, diag_findings *out);
int pe_ceil_report(const pe_ceil *c, diag_ctx *ctx, diag_findings *out);

#endif
