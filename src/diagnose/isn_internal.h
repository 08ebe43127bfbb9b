/* isn_internal.h - private to the isn-not-increasing detector: its notes, its verdicts, its judge and its words. */
#ifndef TCPDOCTOR_ISN_INTERNAL_H
#define TCPDOCTOR_ISN_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "diagnose/diag_internal.h"

/* Tunables (isn_not_increasing.c's design comment says how they are used). */
#define ISN_TW_MAX_S 240.0          /* longest TIME_WAIT in use (Windows 2000/XP) */
#define ISN_EVIDENCE_EVENTS 4       /* reuses listed in full per finding */
#define ISN_LINUX_TICK_NS 64        /* Linux secure_tcp_seq(): ktime_ns >> 6 */
#define ISN_CLOCK_SLACK 312500u     /* 20 ms of Linux ISN clock: capture jitter */
#define ISN_TS_MAX_HZ 1000.0        /* fastest common TSval clock (RFC 7323 5.4) */

/* What a tw_event lacks for a reuse whose new ISN is not above: kept per
 * such reuse only (32 bytes). */
typedef struct isn_note {
    uint64_t syn_packet;            /* key: first SYN of the new incarnation */
    int64_t  prev_syn_ts;           /* first SYN of the old one */
    uint32_t prev_isn;
    bool     prev_isn_seen;
    bool     shape_known;           /* both SYNs' options were seen */
    bool     same_shape;            /* same options, window and MSS (p0f-style) */
} isn_note;

/* The detector's state: the notes, sorted by syn_packet before judging. */
typedef struct isn_state {
    isn_note *notes;
    size_t n, cap;
    bool oom;
} isn_state;

/* Orders notes by syn_packet (qsort, bsearch). */
int isn_note_cmp(const void *x, const void *y);

/* The old connection's last client sequence number as the server knows it. */
static inline uint32_t isn_old_final(const tw_event *e)
{
    return e->unpaired ? e->stale_ack : e->prev_client_final_seq;
}

/* The new SYN's TSval is newer than the old connection's last one. */
static inline bool isn_ts_newer(const tw_event *e)
{
    return e->prev_ts_seen && e->cur_ts_seen &&
           diag_seq_gt(e->cur_client_tsval_syn, e->prev_client_tsval_last);
}

/* Why the reusing SYN came from another host (read_host(), isn_judge.c),
 * the first test that told, in its order. */
enum isn_other_why {
    ISN_OTHER_ACKED,        /* the stale ACK names another client's connection */
    ISN_OTHER_TTL,          /* another TTL */
    ISN_OTHER_TS_PRESENCE,  /* timestamps on one SYN only */
    ISN_OTHER_SHAPE,        /* other SYN options, window or MSS */
    ISN_OTHER_TS_BACK,      /* a TSval below the old last one */
    ISN_OTHER_TS_FAST       /* a TSval ahead faster than a 1 kHz clock */
};

/* One finding: the reuses from one client address to one server endpoint,
 * when some met the server's TIME_WAIT with an ISN not above.  The key
 * (client, server, server_port) comes first, with no padding inside. */
typedef struct isn_verdict {
    pkt_addr client, server;
    uint16_t server_port;
    uint64_t reuses, not_above, rejected, ignored, failed, accepted, accepted_ts;
    uint64_t same_host, likely_same, other_host, unknown_host, same_isn, isn_back, clock_ok;
    uint64_t rejected_ts_newer;     /* refused although the TSval was newer */
    uint64_t above_accepted, above_rejected;    /* reuses whose ISN was above */
    uint64_t first_above_accepted;  /* its SYN packet, 0 if none */
    double   delay_max;             /* longest wait a refused reuse caused */
    double   rejected_gap_max;      /* longest close-to-SYN gap of a refused one */
    uint64_t accepted_plain;        /* not above, no newer TSval, accepted anyway */
    double   accepted_plain_gap_min;
    uint64_t accepted_plain_packet;
    size_t   example;               /* first rejected not-above event, else first */
    size_t   other_example;         /* first other-host event */
    size_t   first_na, last_na;     /* its not-above reuses: first_na, then
                                       along next_na[] (isn_judge()) to last_na */
    bool     have_rejected_example;
    /* the judgement, from the counts above */
    bool     contradicted;          /* the server took a SYN failing the rule as
                                       soon after a close as it refused another */
    bool     warn;                  /* refusals the rule explains */
    bool     nat;                   /* other hosts outnumber the same host */
    enum diag_severity sev;
    double   conf;
    enum isn_other_why other_why;   /* of other_example, when other_host > 0 */
    const isn_note *other_note;
    size_t   shown[ISN_EVIDENCE_EVENTS];    /* events listed in full: the
                                               example, then capture order */
    const isn_note *shown_note[ISN_EVIDENCE_EVENTS];
    size_t   n_shown;
} isn_verdict;

_Static_assert(offsetof(isn_verdict, server_port) == 2 * sizeof(pkt_addr),
               "no padding inside a verdict's key (client, server, server_port)");

typedef struct isn_verdicts {
    isn_verdict *v;
    size_t n;
} isn_verdicts;

/* Judge the reuses in ctx with the notes of st (sorted): one verdict per
 * group, in order.  0 or -ENOMEM (isn_verdicts_free() in both cases). */
int isn_judge(const isn_state *st, const diag_ctx *ctx, isn_verdicts *out);
void isn_verdicts_free(isn_verdicts *v);

/* The finding of one verdict (isn_words.c).  0 or -ENOMEM. */
int isn_words(const isn_verdict *v, const diag_ctx *ctx, diag_findings *out);

#endif
