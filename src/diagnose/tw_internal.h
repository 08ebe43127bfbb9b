/* tw_internal.h - private to the TIME_WAIT detectors: what a stale ACK is, which reuses a server would take inside TIME_WAIT, and timewait-reuse's verdicts. */
#ifndef TCPDOCTOR_TW_INTERNAL_H
#define TCPDOCTOR_TW_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "diagnose/diag_internal.h"

/* Longest TIME_WAIT a stack uses: Windows 2000/XP/2003, tcp-behaviour.md 10. */
#define TW_MAX_S 240.0

/* ---- what a bare ACK answering a SYN shows (tw_stale.c) ------------------ */

enum tw_ack_kind {
    TW_ACK_STALE,       /* names a connection this client did not make in this
                           incarnation: an older one the answerer still holds */
    TW_ACK_OWN,         /* acknowledges this incarnation (its own bytes, or the
                           tuple was then used normally): the SYN-ACK is simply
                           missing from the capture */
    TW_ACK_OWN_ISN      /* ack = the SYN's own ISN: computed from this SYN (one
                           short of ISN + 1), it names no older connection */
};

/* What the bare ACK that answered c's first SYN (c->first_answer ==
 * FLOW_HS_ACK_ONLY) shows; see tw_stale.c for the rules. */
enum tw_ack_kind tw_ack_kind(const flow_conn *c);

/* The server's side of a stale-ACK event, kept by timewait-reuse for the
 * one-device test: the bare ACK's TTL and, when the retried SYN got one,
 * the SYN-ACK's options. */
typedef struct tw_answer {
    size_t   event;             /* index of the event in ctx (diag_tw()) */
    pkt_addr server;
    uint8_t  ttl;               /* IP TTL of the bare ACK */
    bool     opts_seen;         /* a SYN-ACK from the server was seen */
    uint16_t window;            /* its window, MSS and option layout */
    uint16_t mss;
    uint8_t  layout_len;
    uint8_t  layout[PKT_OPT_LAYOUT_MAX];
} tw_answer;

typedef struct tw_answers {
    tw_answer *v;
    size_t n, cap;
} tw_answers;

/* Keep the answer of event `event` (the reuse c); 0 or -ENOMEM. */
int tw_answers_add(tw_answers *a, size_t event, const flow_conn *c);
void tw_answers_free(tw_answers *a);

/* A stale-ACK event that says a TIME_WAIT (or a stale connection) held
 * the old 4-tuple: an unpaired one, or one after a close less than
 * TW_MAX_S before (timewait_reuse.c). */
bool tw_is_stale_hit(const tw_event *e);

/* When every stale ACK, for two or more servers, came from one device at
 * most one hop away: one finding naming it, its events marked not_tw (not
 * the servers' TIME_WAIT) and explained.  1 when it did, 0 when the test
 * fails, -ENOMEM. */
int tw_device_finding(const tw_answers *a, diag_ctx *ctx, diag_findings *out);

/* Stale ACKs with no earlier incarnation in the capture (and not marked
 * not_tw): one finding per server endpoint.  0 or -ENOMEM. */
int tw_unpaired_findings(diag_ctx *ctx, diag_findings *out);

/* ---- which reuses a server would accept inside TIME_WAIT ---------------- */

/*
 * A server that holds the old 4-tuple in TIME_WAIT still takes some new
 * SYNs for it (tcp-behaviour.md 2.1, 2.2, 3.3, 6, 10):
 *   sequence   SEG.SEQ > the old RCV.NXT: RFC 1122 4.2.2.13; Linux
 *              tcp_timewait_state_process(), FreeBSD tcp_twcheck(), and
 *              Windows as reported;
 *   timestamp  TSval newer than the old connection's (RFC 6191; Linux), or
 *              a TS-bearing SYN after a connection without timestamps (RFC
 *              6191 only; Linux still wants SEQ newer).
 * So a reuse accepted at once says the TIME_WAIT had ended only when the
 * server would have refused it inside TIME_WAIT.  A server shows that it
 * does not apply a rule by refusing, inside TIME_WAIT, a SYN that passed
 * it (Windows ignores such SYNs: tcp-behaviour.md 5).
 */

/* The new ISN is above the old final sequence number, or that is not known
 * (then the server may well have taken it by sequence number). */
static inline bool tw_seq_newer(const tw_event *e)
{
    return !e->isn_not_above;
}

/* The new SYN passes RFC 6191's timestamp test. */
static inline bool tw_ts_newer(const tw_event *e)
{
    if (!e->cur_ts_seen)
        return false;
    if (!e->prev_ts_seen)
        return true;
    return diag_seq_gt(e->cur_client_tsval_syn, e->prev_client_tsval_last);
}

/* What a server's own refusals show of its acceptance rules. */
typedef struct tw_rules {
    bool no_seq;        /* refused a SYN with a newer ISN and no timestamps
                           to compare (no PAWS): it does not accept by SEQ */
    bool no_ts;         /* refused a SYN with a newer TSval */
} tw_rules;

/* Learn from one refused reuse (inside TIME_WAIT) of the server. */
static inline void tw_rules_learn(tw_rules *r, const tw_event *e)
{
    /* a SYN with an older TSval is PAWS-rejected whatever its SEQ (Linux);
       limits: an ISN whose order is unknown (the old client's sequence
       numbers not captured) reads as newer here */
    if (tw_seq_newer(e) && !(e->prev_ts_seen && e->cur_ts_seen))
        r->no_seq = true;
    if (tw_ts_newer(e))
        r->no_ts = true;
}

/* A server with these rules would have refused this reuse inside its
 * TIME_WAIT: if it accepted it, the TIME_WAIT was over (an upper bound). */
static inline bool tw_would_refuse(const tw_event *e, const tw_rules *r)
{
    return (!tw_seq_newer(e) || r->no_seq) && (!tw_ts_newer(e) || r->no_ts);
}

/* ---- timewait-reuse's verdicts (tw_judge.c judges, tw_words.c words) ---- */

#define TW_EVIDENCE_EVENTS 3        /* events listed in full per finding */

/* A reuse that can have met the server's TIME_WAIT (timewait_reuse.c). */
bool tw_is_hit(const tw_event *e);

/* Mark the events that are not TIME_WAIT's doing (not_tw): ignored SYNs
 * another detector explains, and ignored SYNs the server's acceptances show
 * were lost (tw_judge.c).  0 or -ENOMEM. */
int tw_judge_causes(diag_ctx *ctx);

/* One finding: the TIME_WAIT hits of one (server endpoint, outcome,
 * closer).  The key is the first 26 bytes, server to port, with no padding
 * inside (the index compares bytes). */
typedef struct tw_verdict {
    pkt_addr server;
    enum tw_outcome outcome;
    enum flow_side closer;      /* who closed the old incarnation first */
    uint16_t port;
    size_t   first;             /* index (diag_tw()) of the first event */
    size_t   last;              /* and of the last */
    uint64_t n, failed;
    double   gap_min, gap_max, delay_max, delay_sum;
    enum diag_severity sev;
    double   conf;
    size_t   shown[TW_EVIDENCE_EVENTS];    /* events listed in full, in order */
    size_t   n_shown;
} tw_verdict;

_Static_assert(offsetof(tw_verdict, port) ==
                   sizeof(pkt_addr) + sizeof(enum tw_outcome) + sizeof(enum flow_side),
               "no padding inside a verdict's key");

/* What timewait-reuse concludes once the nearby device had its say. */
typedef struct tw_judgement {
    uint64_t   *claim;          /* first packets of the attempts it explains */
    size_t      n_claim;
    tw_verdict *v;              /* its findings, in order */
    size_t      n;
} tw_judgement;

/* Judge the events (after tw_judge_causes() and tw_device_finding()):
 * the attempts explained, and one verdict per group.  0 or -ENOMEM
 * (tw_judgement_free() in both cases). */
int tw_judge(const diag_ctx *ctx, tw_judgement *j);
void tw_judgement_free(tw_judgement *j);

/* The finding of one verdict (tw_words.c).  0 or -ENOMEM. */
int tw_words(const tw_verdict *v, const diag_ctx *ctx, diag_findings *out);

#endif
