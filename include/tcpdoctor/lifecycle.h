/* lifecycle.h - the lifecycle stage: each attempt's outcome and the capture's completeness, judged once. */
#ifndef TCPDOCTOR_LIFECYCLE_H
#define TCPDOCTOR_LIFECYCLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tcpdoctor/flow.h"
#include "tcpdoctor/packet.h"

/*
 * Between the flow table and the detectors.  Every incarnation the table
 * writes is an attempt, and gets one outcome from its own packets (and the
 * ICMP errors that quote them), judged before any detector runs and
 * read-only afterwards.  docs/findings.md, "Accounting", states the rules;
 * outcome.c implements them with their sources.
 */
enum lc_outcome {
    LC_OK,                  /* connected at once; nothing went wrong after */
    LC_SLOW,                /* connected after retransmitted SYNs or SYN-ACKs */
    LC_REFUSED,             /* SYN answered by RST, or by an ICMP error quoting it */
    LC_UNANSWERED,          /* SYNs with no answer at all */
    LC_HANDSHAKE_FAILED,    /* answered, but the handshake never completed */
    LC_STALLED,             /* data retransmitted and never acknowledged */
    LC_RESET,               /* RST with the peer's data outstanding, or from a third party */
    LC_NO_VERDICT,          /* the capture cannot tell (lc_reason says why) */
    LC_N_OUTCOMES
};

/* Why an attempt got its outcome, beyond the outcome itself. */
enum lc_detail {
    LC_D_NONE,
    LC_D_RST,               /* refused: the SYN was answered by RST */
    LC_D_ICMP,              /* refused: ICMP error (type, code in the record) */
    LC_D_ABANDONED,         /* unanswered: one SYN, never retried although the capture
                               went on: the client gave up before its first timeout */
    LC_D_ACK_ONLY,          /* handshake-failed: a bare ACK answered (another connection) */
    LC_D_CLIENT_RST,        /* handshake-failed: the client reset a SYN-ACK that acknowledged something else */
    LC_D_NO_ACK,            /* handshake-failed: the SYN-ACK was never acknowledged */
    LC_D_GAVE_UP,           /* stalled: ended by RST or FIN after the retransmissions */
    LC_D_CAPTURE_END,       /* stalled: still retransmitting when the capture ended */
    LC_D_SERVER_RST,        /* reset: the server reset with the client's data unacknowledged */
    LC_D_THIRD_PARTY,       /* reset: the RST's TTL is not the sender's */
    /* no-verdict reasons */
    LC_D_ENDED_INSIDE,      /* the capture ended (or paused: a gap) within one
                               retransmission timeout of it */
    LC_D_ONE_DIRECTION,     /* the capture shows nothing sent to the client (one-sided) */
    LC_D_ANSWER_NOT_CAPTURED, /* SYN-ACK missing, but the client's ACKs show it came */
    LC_D_NO_CLIENT_ANSWER,  /* a SYN-ACK, then nothing from the client: packets missing */
    LC_N_DETAILS
};

/* One attempt that did not simply succeed: kept for the report, the
 * detectors and the accounting.  Attempts that are ok are only counted. */
typedef struct lc_attempt {
    uint64_t first_packet;      /* the incarnation's first packet: its id */
    uint64_t last_packet;
    uint64_t decisive_packet;   /* the RST, ICMP error, last retransmission... (0: none) */
    int64_t  first_ts, last_ts;
    int64_t  decisive_ts;
    pkt_addr client, server;
    pkt_addr answer_from;       /* LC_D_ICMP: the reporter; LC_D_RST: the server */
    uint16_t client_port, server_port;
    uint16_t syns;              /* SYN transmissions */
    uint16_t synacks;
    double   delay_s;           /* slow: first SYN to the SYN-ACK that got through;
                                   unanswered: first to last SYN */
    uint32_t unacked;           /* stalled/reset: bytes outstanding */
    uint8_t  outcome;           /* enum lc_outcome */
    uint8_t  detail;            /* enum lc_detail */
    uint8_t  icmp_type, icmp_code;
    bool     icmp_v6;
    uint8_t  answer_ttl;        /* TTL of the refusing RST or ICMP error */
    uint8_t  server_ttl;        /* TTL of the server's first packet (0: none) */
    bool     had_syn;
    bool     bare_syn;          /* SYNs only, nothing else from the client */
    bool     client_reset;      /* the client sent an RST */
    bool     evicted;           /* its record was pushed out of a full table
                                   before it ended: judged on part of it */
    bool     until_end;         /* the verdict assumes the capture went on
                                   long enough after decisive_ts to tell */
    bool     probe;             /* one of a scan's SYNs (LC_SCAN_ENDPOINTS) */
} lc_attempt;

/* A source whose refused or unanswered attempts without data went to at
 * least this many server endpoints, and make at least half of its
 * attempts, is scanning (nmap's SYN scan sends one or two SYNs per port)
 * or looking for peers (a peer-to-peer client trying addresses it was
 * given): its SYNs are probes, not connections of a service that fail. */
#define LC_SCAN_ENDPOINTS 20

/* The whole capture's accounting (docs/findings.md). */
typedef struct lc_accounting {
    uint64_t attempts;          /* incarnations judged */
    uint64_t by_outcome[LC_N_OUTCOMES];
    uint64_t failed;            /* refused + unanswered + handshake-failed + stalled + reset */
    uint64_t no_verdict_by[LC_N_DETAILS];
    double   slow_median_s, slow_max_s;
    uint64_t one_direction_hosts;   /* clients the capture never shows a packet to */
    uint64_t duplicate_frames;      /* data segments captured twice (flow_endpoint.copies) */
    uint64_t icmp_errors;           /* ICMP errors quoting TCP */
    uint64_t icmp_matched;          /* of those, matched to an attempt */
    uint64_t evicted;               /* attempts pushed out of a full table
                                       before they ended (flow.h FLOW_END_EVICTED) */
    uint64_t probes;                /* attempts that are a scan's probes */
    uint64_t gaps;                  /* stretches of 300 s or more without a packet */
    uint64_t scanners;              /* sources found scanning */
} lc_accounting;

typedef struct lc_stage lc_stage;

/* New stage; NULL on allocation failure. */
lc_stage *lc_new(void);
void lc_free(lc_stage *s);

/* Every decoded frame, in capture order (ICMP errors, capture edges,
 * duplicates, directions seen).  Never fails: what cannot be stored is
 * counted and makes lc_finish() fail. */
void lc_packet(lc_stage *s, const pkt_view *v, enum pkt_status st);
/* Every finished incarnation: its outcome (before the completeness pass of
 * lc_finish(), which may turn a failure into no-verdict). */
enum lc_outcome lc_conn(lc_stage *s, const flow_conn *c);

/* After the last incarnation: the completeness pass and the accounting.
 * 0, or -ENOMEM (something could not be stored: no accounting). */
int lc_finish(lc_stage *s);

/* The attempts that are not ok, by first packet (valid after
 * lc_finish, until lc_free). */
const lc_attempt *lc_attempts(const lc_stage *s, size_t *n);
/* Position of the attempt with this first packet, or -1. */
long lc_attempt_find(const lc_stage *s, uint64_t first_packet);
const lc_accounting *lc_account(const lc_stage *s);

/* What the capture shows of a server address (port 0) or endpoint. */
typedef struct lc_server_facts {
    uint64_t connected;         /* attempts to it that connected */
    uint8_t  synack_ttl;        /* TTL of its first SYN-ACK (0: none seen;
                                   address only, port 0) */
} lc_server_facts;

/* Facts about a server address or endpoint; false (and zeros) when the
 * capture has no attempt to it. */
bool lc_server(const lc_stage *s, const pkt_addr *addr, uint16_t port, lc_server_facts *out);

/* True for refused, unanswered, handshake-failed, stalled and reset. */
static inline bool lc_is_failure(enum lc_outcome o)
{
    return o == LC_REFUSED || o == LC_UNANSWERED || o == LC_HANDSHAKE_FAILED ||
           o == LC_STALLED || o == LC_RESET;
}

const char *lc_outcome_name(enum lc_outcome o);     /* "ok", "handshake-failed", ... */
const char *lc_detail_name(enum lc_detail d);       /* "rst", "one-direction", ... */
/* Plain words for a detail ("the capture never shows the server's packets
 * for this pair of addresses"). */
const char *lc_detail_words(enum lc_detail d);

#endif
