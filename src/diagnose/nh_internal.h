/* nh_internal.h - private to nat-multiple-hosts: its records, its verdict and the helpers its files share. */
#ifndef TCPDOCTOR_NH_INTERNAL_H
#define TCPDOCTOR_NH_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "diagnose/diag_internal.h"

#define NH_MAX_CLOCKS    32     /* clock lines kept per (client, server) */
#define NH_MAX_SIGS      16     /* TTL/layout/timestamp signatures per pair */
#define NH_TOL_BASE_S    0.05   /* jitter allowed on a clock line, seconds */
#define NH_TOL_DRIFT     2e-4   /* plus this fraction of the elapsed time */
#define NH_RATE_FIX_NS   1000000000LL   /* points this far apart fix a rate */

typedef struct nh_clock {
    int64_t  t0, tl;            /* earliest and latest SYN on the line */
    uint32_t ts0, tsl;          /* their TSvals */
    uint32_t rate;              /* ticks per second; 0 = not fixed yet */
    uint32_t support;           /* connections on the line */
    uint64_t ex_packet;         /* first SYN of the first connection */
    uint16_t port0;             /* its client port */
    uint16_t ex_server_port;
    bool     ports2;            /* connections from two different source ports */
    uint8_t  sig;               /* signature index of the first connection */
} nh_clock;

typedef struct nh_sig {
    uint8_t  ttl;
    bool     has_ts;
    uint8_t  layout_len;
    uint8_t  layout[PKT_OPT_LAYOUT_MAX];
    uint32_t count;
    int64_t  first_t, last_t;
    uint64_t ex_packet;
    uint16_t ex_port, ex_server_port;
    uint32_t ex_tsval;
} nh_sig;

typedef struct nh_pair {
    pkt_addr client, server;
    uint64_t conns, ts_conns;
    uint64_t evicted;           /* one-connection clocks pushed out */
    uint64_t unplaced;          /* samples with no room for a clock */
    uint64_t sig_overflow;
    /* the first clock and signature live here (one cache miss less per
       connection for the common single-host address), the others in more_* */
    nh_clock clock0;
    nh_sig   sig0;
    nh_clock *more_clocks;
    uint32_t n_clocks, cap_more_clocks;
    nh_sig  *more_sigs;
    uint32_t n_sigs, cap_more_sigs;
    /* clocks alternating on one reused 4-tuple (nh_tuple.c): the most
       found on one of this pair's 4-tuples, and that tuple (1 + index) */
    uint32_t tuple_clocks;
    size_t   tuple_ix;
} nh_pair;

static inline nh_clock *nh_clock_at(nh_pair *p, uint32_t i)
{
    return i == 0 ? &p->clock0 : &p->more_clocks[i - 1];
}

static inline const nh_clock *nh_cclock_at(const nh_pair *p, uint32_t i)
{
    return i == 0 ? &p->clock0 : &p->more_clocks[i - 1];
}

static inline nh_sig *nh_sig_at(nh_pair *p, uint32_t i)
{
    return i == 0 ? &p->sig0 : &p->more_sigs[i - 1];
}

static inline const nh_sig *nh_csig_at(const nh_pair *p, uint32_t i)
{
    return i == 0 ? &p->sig0 : &p->more_sigs[i - 1];
}

/* One sample: what a connection's first SYN says about its sender. */
typedef struct nh_sample {
    int64_t  t;
    uint32_t tsval;
    bool     has_ts;
    uint32_t rate_hint;         /* from the connection's own TSvals, 0 = none */
    uint64_t packet;
    uint16_t port, server_port;
    uint8_t  ttl;
    const pkt_tcp_opts *opts;
} nh_sample;

/* 4-tuples are followed only from their first step that one clock cannot
 * make (nh_tuple.c): a bitmap of this many bits says which. */
#define NH_TRACK_BITS 65536

typedef struct nh_state {
    nh_pair *p;
    size_t n, cap;
    diag_index ix;              /* (client, server) -> pair */
    diag_host_est *est;         /* published in ctx->hosts */
    struct nh_tuple *tu;        /* reused 4-tuples (nh_tuple.c) */
    size_t n_tu, cap_tu;
    diag_index tix;             /* 4-tuple -> tu */
    nh_sample last;      /* the conn hook's latest sample ... */
    int last_sig;
    const flow_conn *last_conn; /* ... and its record (NULL: none) */
    uint64_t tracked[NH_TRACK_BITS / 64]; /* 4-tuples (by hash) whose lines are
                                       kept: one bit may stand for several */
    bool oom;
} nh_state;


/* Clocks alternating on one reused 4-tuple (nh_tuple.c). */
#define NH_TUPLE_LINES   8      /* clock lines kept per 4-tuple */
#define NH_TUPLE_INLINE  2      /* of which kept in the record itself */

typedef struct nh_tline {
    int64_t  t0, tl;            /* earliest and latest SYN on the line */
    uint32_t ts0, tsl;          /* their TSvals */
    uint32_t rate;              /* ticks per second; 0 = not fixed yet */
    uint32_t support;           /* connections on the line */
    uint64_t ex_packet;         /* first SYN of its first connection */
    uint8_t  sig;               /* pair signature of that connection, UINT8_MAX none */
} nh_tline;

typedef struct nh_tuple {
    pkt_addr client, server;    /* key (36 bytes, no padding) ... */
    uint16_t cport, sport;      /* ... */
    uint8_t  n_lines;
    uint8_t  last_line;         /* line of the latest sample; UINT8_MAX none */
    uint8_t  clique;            /* finish: lines counted as clocks (bits) */
    uint8_t  clocks;            /* finish: how many */
    uint8_t  mixed[NH_TUPLE_LINES];  /* bit j of [i]: a step between lines i
                                        and j fitted one clock */
    int64_t  last_t;            /* latest sample */
    uint32_t last_ts;
    uint32_t samples, singles;  /* singles: lines of one sample pushed out */
    nh_tline line[NH_TUPLE_INLINE];
    nh_tline *more;             /* NH_TUPLE_LINES - NH_TUPLE_INLINE, or NULL */
} nh_tuple;

static inline const nh_tline *nh_ctline_at(const nh_tuple *u, uint32_t i)
{
    return i < NH_TUPLE_INLINE ? &u->line[i] : &u->more[i - NH_TUPLE_INLINE];
}

/* ---- nh_clock.c: signatures and clock lines ---- */

/* Index of x's signature in p (added when new), -1 when p has no room
 * left, -2 when out of memory. */
int nh_add_sig(nh_pair *p, const nh_sample *x);
/* Put x on a clock line of p; 0 or -ENOMEM. */
int nh_add_clock(nh_pair *p, const nh_sample *x, int sig);
/* How far (in tolerances) ts at t lies from the line through (t1, ts1) at
 * rate r: <= 1 is on it. */
double nh_line_score(int64_t t1, uint32_t ts1, uint32_t r, int64_t t, uint32_t ts);
/* A measured rate snapped to a known one within 10 %; 0 when none fits. */
uint32_t nh_snap_rate(double r);

/* ---- nh_tuple.c: clocks alternating on one reused 4-tuple ---- */

/* Add x, the sample of an incarnation of a 4-tuple that was reused or is a
 * reuse, to that tuple; sig is its signature in the pair; 0 or -ENOMEM. */
int nh_tuple_add(nh_state *st, const flow_conn *c, const nh_sample *x, int sig);
/* True when one clock can step from (t1, ts1) to (t2, ts2), or it cannot
 * be judged. */
bool nh_one_clock(int64_t t1, uint32_t ts1, int64_t t2, uint32_t ts2);
/* Count each tuple's alternating clocks and give each pair the most found
 * on one of its tuples; before the pairs are sorted (it finds them by the
 * pairs' index). */
void nh_tuples_finish(nh_state *st);
void nh_tuples_free(nh_state *st);

/* ---- nh_report.c: counting hosts, and the verdict ---- */

/* A TTL/layout/timestamp signature merged over one client's pairs. */
typedef struct nh_msig {
    const nh_sig *s;            /* first seen (example) */
    const nh_pair *p;
    uint64_t count;
    int64_t first_t, last_t;
} nh_msig;

typedef struct nh_view {
    size_t first, n;            /* pairs [first, first + n) of this client */
    nh_msig sig[2 * NH_MAX_SIGS];
    size_t n_sig;
    uint64_t conns;
    uint32_t clocks;            /* confirmed clocks, most toward one server */
    size_t clock_pair;          /* that pair */
    bool clocks_by_tuple;       /* those alternate on one reused 4-tuple */
    uint32_t ts_combos, nots_combos, combos, ttl_initials, layouts;
    bool ttl_interleaved;       /* TTLs of one initial value used at the same time */
    uint64_t singles;           /* one-connection clocks, most toward one server */
    bool ts_per_conn;           /* most connections have clocks of their own */
    uint16_t hosts_min;
} nh_view;

void nh_count_hosts(nh_view *v, const nh_pair *pairs);

/* A SYN signature as the finding shows it. */
typedef struct nh_vsig {
    bool     kept;              /* false: a clock whose signature was not kept */
    uint8_t  ttl, ttl_initial;
    bool     has_ts;
    uint8_t  layout_len;
    uint8_t  layout[PKT_OPT_LAYOUT_MAX];
} nh_vsig;

enum nh_host_kind {
    NH_HOST_TUPLE_CLOCK,        /* a clock alternating on the reused 4-tuple */
    NH_HOST_CLOCK,              /* a confirmed clock of the pair */
    NH_HOST_SIG,                /* a TTL/layout pair not shown with a clock */
};

/* One host the finding lists, with its first packet. */
typedef struct nh_vhost {
    enum nh_host_kind kind;
    uint64_t packet;
    int64_t  t0, tl;            /* first (and, for a tuple clock, latest) SYN */
    pkt_addr client, server;
    uint16_t cport, sport;
    uint32_t rate;              /* clocks: ticks per second, 0 = not fixed */
    uint32_t ts0, ts_origin;    /* clocks: first TSval, about the capture start's */
    uint32_t support;           /* clocks: connections on the line */
    bool     ports2;            /* pair clocks: from different source ports */
    uint64_t count;             /* signatures: connections */
    nh_vsig  sig;
} nh_vhost;

#define NH_VHOSTS_MAX (NH_MAX_CLOCKS + 2 * NH_MAX_SIGS)

/* Why the clocks counted are hosts, for the explanation. */
enum nh_clock_basis {
    NH_BASIS_NONE,
    NH_BASIS_TUPLE,             /* they alternate on one reused 4-tuple */
    NH_BASIS_SINGLES,           /* many clocks of one connection: three needed */
    NH_BASIS_PORTS,             /* two source ports per clock */
};

/* What one client address's SYNs show (nh_judge()); nh_words() writes the
 * finding from it and from nothing else.  It claims no attempts: a NAT
 * explains no failure by itself. */
typedef struct nh_verdict {
    pkt_addr client;
    pkt_addr server;            /* the one server, when has_server */
    bool     has_server;
    pkt_addr clock_server;      /* the server the clocks were counted toward */
    uint64_t conns;
    uint16_t hosts_min;
    uint32_t clocks, ts_combos, nots_combos, ttl_initials, layouts;
    bool     ttl_interleaved;
    enum nh_clock_basis basis;
    pkt_addr tuple_client, tuple_server;    /* NH_BASIS_TUPLE: the 4-tuple */
    uint16_t tuple_cport, tuple_sport;
    uint64_t singles;           /* NH_BASIS_SINGLES: one-connection clocks */
    enum diag_severity severity;
    double   confidence;
    nh_vhost host[NH_VHOSTS_MAX];   /* the evidence, one line per host */
    size_t   n_host;
} nh_verdict;

/* Judge the counted client address v into *vd. */
void nh_judge(const nh_view *v, const nh_state *st, const diag_ctx *ctx, nh_verdict *vd);

/* ---- nh_words.c: a verdict into a finding ---- */

/* The finding of a verdict; 0 or -ENOMEM. */
int nh_words(const nh_verdict *vd, diag_ctx *ctx, diag_findings *out);

#endif
