/* paws_internal.h - private to the paws-reject detector: its records, its verdict, its words. */
#ifndef TCPDOCTOR_PAWS_INTERNAL_H
#define TCPDOCTOR_PAWS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "diagnose/diag_internal.h"

/* Tunables (paws_reject.c's design comment says how they are used). */
#define PW_MSL_NS        (60LL * 1000000000LL)  /* TCP_PAWS_MSL */
#define PW_MSL_SURE_NS   (59LL * 1000000000LL)  /* get_seconds() rounding */
#define PW_WINDOW        1                       /* TCP_PAWS_WINDOW, ticks */
#define PW_EST_RATE      1000.0                  /* Linux >= 4.13, BSD, macOS */
#define PW_EV_ATTEMPTS   6                       /* dropped attempts listed */
#define PW_EV_MAX        16
#define PW_PRECHECK_MAX  (1u << 24)              /* drop x record tests before a replay */
#define PW_MSL_MS        60000u                  /* TCP_PAWS_MSL for the pre-check */

/* ---- paws_reject.c: what the connection records show --------------------- */

enum { AT_TS = 1, AT_ANSWERED = 2 };

typedef struct pw_tx {          /* a retransmitted SYN of an attempt */
    int64_t  t;
    uint64_t packet;
    uint32_t att;               /* its attempt */
    uint32_t tsval;
    uint8_t  has_ts;
    uint8_t  estimated;         /* TSval estimated, not seen */
} pw_tx;

typedef struct pw_att {         /* one connection attempt (incarnation): 32 bytes */
    int64_t  t;                 /* first SYN */
    uint64_t packet;            /* first SYN = the incarnation's first packet */
    uint32_t pair;
    uint32_t tsval;             /* of the first SYN */
    uint16_t cport, sport;
    uint8_t  nsyn;              /* SYNs up to the answer (<= FLOW_MAX_SYN) */
    uint8_t  dropped;           /* of which, unanswered */
    uint8_t  flags;             /* AT_* */
} pw_att;

typedef struct pw_rec {         /* a connection the server closed first: 32 bytes */
    int64_t  t;                 /* when the client's last TSval arrived */
    uint64_t packet;            /* that packet (the client's FIN, or the last) */
    uint32_t pair;
    uint32_t tsval;
    uint16_t cport, sport;
    uint32_t fin_back;          /* packet - the server's FIN (0: unknown) */
} pw_rec;

typedef struct pw_pair {
    pkt_addr client, server;
    uint64_t drops;             /* unanswered SYNs from this client */
} pw_pair;

typedef struct pw_state {
    /* pure SYNs with timestamps seen by the packet hook: 12 bytes each */
    uint64_t *syn_pkt;
    uint32_t *syn_tsval;
    size_t n_syn, cap_syn;
    bool syn_sorted;
    bool packets;               /* the hook saw packets (else TSvals are estimated) */
    pw_tx *rtx;
    size_t n_rtx, cap_rtx;
    pw_att *att;
    size_t n_att, cap_att;
    pw_rec *rec;
    size_t n_rec, cap_rec;
    pw_pair *pair;
    size_t n_pair, cap_pair;
    diag_index ix;              /* (client, server) -> pair */
    bool oom;
} pw_state;

/* ---- paws_judge.c: the replay of the rule, and the verdict --------------- */

enum tx_class {
    TX_NONE,            /* no record applies */
    TX_DROP_TS,         /* unanswered, TSval behind a live record: explained */
    TX_DROP_NOTS,       /* unanswered, no timestamps, live record (late 4.x) */
    TX_DROP_OTHER,      /* unanswered, the rule does not predict it */
    TX_ANS_ABOVE,       /* answered, TSval not behind a live record */
    TX_ANS_NOTS,        /* answered, no timestamps, live record */
    TX_ANS_LATE,        /* answered, behind a record 59 s old or more */
    TX_CONTRA           /* answered although behind a live record */
};

typedef struct pw_txv {         /* a SYN transmission being replayed */
    int64_t  t;
    uint64_t packet;
    uint32_t att;
    uint32_t tsval;
    uint32_t rec;               /* record in force (UINT32_MAX: none) */
    int32_t  deficit;           /* (s32)(record - TSval) */
    uint8_t  has_ts, estimated, answered, cls;
} pw_txv;

typedef struct pw_counts {      /* the replay of one pair */
    uint64_t drop_ts, drop_nots, drop_other, ans_above, ans_nots, ans_late, contra;
    int32_t  gap_min;
    uint64_t gap_min_packet;
    double   life_lo, life_hi;  /* record lifetime bounds, -1 = none */
    bool     variant;           /* SYNs without timestamps dropped too */
} pw_counts;

typedef struct pw_att_sum {     /* an attempt with explained drops */
    pw_txv   first;             /* its first explained SYN */
    unsigned expl, drops;
    double   delay_s;           /* first SYN to the answered one (-1: not kept) */
} pw_att_sum;

enum pw_ev_kind {
    PW_EV_DROP,         /* ref: an attempt in as[] (its first explained SYN) */
    PW_EV_RECORD,       /* ref: a record in recs[] */
    PW_EV_ABOVE,        /* ref: a transmission in v[] (TX_ANS_ABOVE) */
    PW_EV_LATE,         /* ... (TX_ANS_LATE) */
    PW_EV_CONTRA        /* ... (TX_CONTRA) */
};

typedef struct pw_ev {          /* an evidence line the verdict stands on */
    uint8_t  kind;              /* enum pw_ev_kind */
    uint32_t ref;
} pw_ev;

typedef struct pw_verdict {     /* what the rule says about one (client, server) pair */
    bool found;                 /* the rule explains the pair's drops: report it */
    const pw_pair *p;
    const pw_att *att;          /* all attempts (txs' att index it) */
    const pw_rec *recs;         /* the pair's records, sorted */
    pw_txv *v;                  /* SYN transmissions in time order */
    size_t n;
    pw_counts r;
    pw_att_sum *as;             /* attempts with explained drops, in time order */
    size_t n_as;
    uint64_t attempts, failed, delayed;
    double delay_max;
    bool one_port;
    uint16_t sport;
    uint64_t *claims;           /* first packets of attempts whose every unanswered SYN
                                   was an explained drop, in attempt order */
    size_t n_claims;
    /* from the host estimates (nat-multiple-hosts) */
    bool host_known;
    unsigned hosts;
    bool per_conn;
    uint64_t dropped;           /* explained drops: the finding's events */
    enum diag_severity severity;    /* error when an attempt never connected */
    double confidence;
    pw_ev ev[PW_EV_MAX];        /* in the order chosen; words sort them by time */
    size_t n_ev;
    uint64_t ev_omitted;
} pw_verdict;

/* Attempts and records of the pairs with drops, grouped by pair (counting
 * sort, so attempts keep their order): pair k's are [abeg[k], abeg[k+1])
 * in atts and [rbeg[k], rbeg[k+1]) in rix (record indices), with the
 * records' times (ms from base) and TSvals beside them for the pre-check. */
typedef struct pw_buckets {
    size_t   *abeg, *rbeg;
    uint32_t *atts, *rix;
    int32_t  *rt;
    uint32_t *rts;
    int64_t   base;
    bool      precheck;     /* times fit 32-bit milliseconds */
} pw_buckets;

/* Fill b (zeroed by the caller; pw_buckets_free() in any case); 0 or -ENOMEM. */
int pw_bucket_by_pair(const pw_state *st, pw_buckets *b);
void pw_buckets_free(pw_buckets *b);
/* Cheap test before the replay of pair k: can any unanswered SYN be explained? */
bool pw_may_explain(const pw_state *st, const pw_buckets *b, uint32_t k);
/* Replay pair `pair` (its attempts atts, its records recs, sorted here) and
 * judge it into *vd (pw_verdict_free() in any case); 0 or -ENOMEM. */
int pw_judge(const pw_state *st, uint32_t pair, const uint32_t *atts, size_t n_atts,
             pw_rec *recs, size_t n_recs, const diag_ctx *ctx, pw_verdict *vd);
void pw_verdict_free(pw_verdict *vd);

/* ---- paws_words.c: a verdict into a finding ------------------------------ */

/* The finding of a verdict with found set; 0 or -ENOMEM. */
int pw_words(const pw_verdict *vd, diag_ctx *ctx, diag_findings *out);

#endif
