/* ntm_internal.h - private to the nat-timewait-mismatch detector: its groups, its verdict, its words. */
#ifndef TCPDOCTOR_NTM_INTERNAL_H
#define TCPDOCTOR_NTM_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "diagnose/tw_internal.h"

#define NTM_EV_MAX 8            /* rejected reuses listed, the earliest */

/* ---- nat_timewait_mismatch.c: what the reuse events show ---------------- */

/* A rejected reuse: ignored, stale ACK or RST. */
static inline bool ntm_rejected(const tw_event *e)
{
    return e->outcome != TW_ACCEPTED;
}

/* The reuses this finding measures: a SYN after a connection the server
 * closed first with FINs, TIME_WAIT's doing, with a known interval. */
static inline bool ntm_counted(const tw_event *e)
{
    return !e->unpaired && !e->not_tw && e->prev_closer == FLOW_SIDE_SERVER &&
           !e->prev_reset && e->gap_s >= 0;
}

typedef struct ntm_group {      /* the counted reuses of one client address */
    pkt_addr client;
    uint64_t n, rejected, accepted, failed, other_host;
    uint64_t accepted_anyway;   /* accepted reuses the server would have taken
                                   inside TIME_WAIT too: no upper bound */
    uint64_t bounding;          /* accepted reuses that bound it (accepted_min) */
    bool     anyway_seq, anyway_ts; /* what made them acceptable */
    double gap_min, gap_max, rejected_max, accepted_min;
    double *gaps;
    size_t ngaps, capgaps;
    size_t first_rejected;      /* its rejected reuses: this event, then */
    size_t last_rejected;       /* along next_rejected[] up to this one */
    pkt_addr server;
    uint16_t server_port;
    uint16_t servers;           /* distinct server endpoints (1 or "several") */
} ntm_group;

/* ---- ntm_judge.c: the server's rules, the bounds, and the verdict ------- */

/* What each server endpoint's refusals show of its acceptance rules
 * (tw_internal.h), and the server group of each counted event (*of, n_tw
 * entries; caller frees both).  0 or -ENOMEM. */
int ntm_learn_rules(const diag_ctx *ctx, tw_rules **rules, size_t **of);

/* Count an accepted reuse e of group gr, r being its server's rules. */
void ntm_count_accepted(ntm_group *gr, const tw_event *e, const tw_rules *r);

/* What one client address's reuses show (a group with a rejected reuse).
 * It claims no attempts: the failed ones are timewait-reuse's. */
typedef struct ntm_verdict {
    pkt_addr client;
    pkt_addr server;            /* the server endpoint, when one_server */
    uint16_t server_port;
    bool     one_server;
    uint64_t n, rejected, failed, other_host;
    uint64_t accepted_anyway;   /* accepted reuses that bound nothing */
    bool     anyway_seq, anyway_ts; /* why they would have been taken */
    double   gap_min, gap_max, median;  /* the client's reuse intervals */
    double   rejected_max;      /* lower bound of the server's TIME_WAIT */
    bool     upper;             /* accepted_min is an upper bound */
    double   accepted_min;
    enum diag_severity severity;    /* error when an attempt never connected */
    double   confidence;
    size_t   shown[NTM_EV_MAX]; /* the earliest rejected reuses (diag_tw()), by SYN */
    size_t   n_shown;
    uint64_t ev_omitted;        /* rejected reuses not listed */
} ntm_verdict;

/* Judge group g (its gaps get sorted), its rejected reuses chained along
 * next_rejected[], into *vd. */
void ntm_judge(ntm_group *g, const size_t *next_rejected, const diag_ctx *ctx,
               ntm_verdict *vd);

/* ---- ntm_words.c: a verdict into a finding ------------------------------ */

/* The finding of a verdict; 0 or -ENOMEM. */
int ntm_words(const ntm_verdict *vd, diag_ctx *ctx, diag_findings *out);

#endif
