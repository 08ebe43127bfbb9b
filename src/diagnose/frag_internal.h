/* frag_internal.h - private to the fragmented-tcp detector: its records, its tracking and its words. */
#ifndef TCPDOCTOR_FRAG_INTERNAL_H
#define TCPDOCTOR_FRAG_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "diagnose/diag_internal.h"

/* Tunables (fragmented_tcp.c's design comment says how they are used). */
#define FT_DGRAM_SLOTS 256          /* datagrams being reassembled at once */
#define FT_REASM_NS (30LL * 1000000000LL)   /* Linux ipfrag_time: 30 s */
#define FT_EDGE_NS (1000000000LL)   /* 1 s: a datagram this near the capture's
                                       start or end may have fragments outside it */
#define FT_DUP_NS (1000000LL)       /* 1 ms: IPv6 whole segments closer than this
                                       with the same data are capture duplicates */
#define FT_OFFS 8                   /* fragment offsets remembered per datagram */
#define FT_MAX_SEGS 4096            /* fragmented segments followed in detail */
#define FT_TUPLE_SLOTS 1024         /* 4-tuple index of segments (power of 2) */
#define FT_SEQ_SLOTS 4096           /* (direction, sequence) index of segments (power of 2) */
#define FT_WALK 16                  /* records looked at per packet and tuple */
#define FT_LOST_MIN 1024u           /* bytes missing before an RST counts */
#define FT_LOST_MAX 64              /* such connections kept for evidence */
#define FT_ORPHANS 32               /* orphan datagrams kept for corroboration */

typedef struct ft_dgram {
    pkt_addr src, dst;
    uint32_t id;
    uint32_t seg;               /* 1 + its segment record; 0: none */
    int64_t  ts;                /* first fragment seen (any), for expiry */
    uint64_t packet;
    uint32_t have;              /* data bytes seen, distinct offsets */
    uint32_t total;             /* data bytes of the datagram; 0 until MF = 0 seen */
    uint16_t offs[FT_OFFS];     /* offsets seen, in 8-byte units */
    uint8_t  n_offs;
    uint8_t  frags;             /* fragments seen */
    bool     head_split;        /* its first fragment ends inside the TCP header */
    bool     used;
} ft_dgram;

/* How the segment's connection ended, from its incarnation record. */
enum ft_end { FT_END_UNKNOWN, FT_END_CLOSED, FT_END_RESET, FT_END_OPEN };

typedef struct ft_seg {
    pkt_addr src, dst;          /* sender, receiver */
    uint16_t sport, dport;
    uint32_t seq;
    uint32_t len;               /* TCP payload; 0 until a whole datagram was seen */
    uint32_t first_len;         /* payload in the first fragment: a lower bound */
    uint32_t datagram;          /* largest IP datagram, bytes */
    uint32_t ip_id;             /* IP identification of the first sending */
    uint32_t last_id;           /* ... and of the last one (duplicates keep it) */
    uint16_t ip_hdr;            /* IP header bytes before the fragmentable part */
    uint8_t  tcp_hlen;
    uint32_t chain;             /* 1 + older record in the same index slot */
    uint32_t seq_chain;         /* 1 + older record in the same seqx slot */
    uint32_t lead;              /* 1 + the first record of its incarnation; 0: none */
    uint64_t conn_first;        /* its incarnation's first packet; 0: none */
    uint64_t packet, last_packet;   /* first fragment of the first / last sending */
    int64_t  ts, last_ts;
    uint64_t ack_packet;
    int64_t  ack_ts;
    uint64_t end_packet;        /* the RST that ended the connection */
    int64_t  end_ts;
    uint16_t sends;             /* transmissions seen, fragmented or whole */
    uint16_t frag_sends;        /* of which fragmented */
    uint16_t frags_max;         /* fragments in one transmission */
    uint8_t  complete;          /* transmissions whose fragments all arrived */
    uint8_t  incomplete;        /* transmissions with fragments missing here */
    uint8_t  sender;            /* enum flow_side, from the incarnation */
    uint8_t  end;               /* enum ft_end */
    uint8_t  end_by;            /* enum flow_side of the RST */
    uint8_t  outcome;           /* enum lc_outcome of its incarnation (finish) */
    bool     df_set;            /* a first fragment had DF */
    bool     acked, open;
    bool     conn_lead;         /* first record of its incarnation */
    bool     conn_failed;       /* (lead) a lost segment, and the attempt failed */
} ft_seg;

/* A connection whose RST lies beyond all data seen from its sender. */
typedef struct ft_lost {
    pkt_addr client, server;
    uint16_t client_port, server_port;
    enum flow_side sender;
    uint32_t missing;           /* bytes: RST seq - sender's final seq seen */
    uint64_t first_packet, rst_packet, established_packet;
    int64_t  rst_ts, first_ts, established_ts;
} ft_lost;

/* A datagram whose later fragments came without its first one. */
typedef struct ft_orphan {
    pkt_addr src, dst;
    uint64_t packet;
    int64_t  ts;
} ft_orphan;

typedef struct ft_state {
    ft_dgram dg[FT_DGRAM_SLOTS];
    uint32_t tup[FT_TUPLE_SLOTS];   /* 1 + newest record in the slot */
    uint32_t seqx[FT_SEQ_SLOTS];    /* 1 + newest record with that sender and seq */
    ft_seg  *seg;
    size_t   n_seg, cap_seg;
    size_t   n_open;
    uint64_t segs_untracked;        /* first fragments beyond FT_MAX_SEGS */
    uint64_t dgram_evicted;         /* live datagrams pushed out by a collision */
    ft_orphan orphan[FT_ORPHANS];
    size_t   n_orphan;
    uint64_t orphan_dgrams;         /* fragments whose first fragment never came */
    uint64_t head_split;            /* datagrams whose first fragment ends in the TCP header */
    uint64_t malformed;             /* fragments with decode anomalies, left out */
    uint64_t fragments_seen;        /* fragments of TCP of any kind */
    int64_t  cap_first, cap_last;   /* capture span, packet times */
    bool     have_ts;
    ft_lost  lost[FT_LOST_MAX];
    size_t   n_lost;
    uint64_t lost_total;
    bool     oom;
} ft_state;

/* A group of segments: one server endpoint, one sending side. */
typedef struct ft_group {
    pkt_addr server;
    uint16_t server_port;
    uint8_t  sender;            /* enum flow_side; NONE when no record matched */
    uint64_t segs, unacked, retransmitted, incomplete;
    uint64_t lossy;             /* retransmitted or incomplete: loss shown */
    uint64_t unacked_lossy;     /* of those, never acknowledged */
    uint64_t unacked_sends, unacked_whole;  /* transmissions of unacked segments */
    uint64_t conns, failed, reset, stalled;
    uint32_t max_datagram;
    uint16_t frags_max;
    bool     df_set;
    size_t   example;           /* first lossy unacknowledged record, else lossy, else first */
    uint8_t  example_rank;
} ft_group;

/* ---- frag_track.c: what the packets and incarnations show ---------------- */

/* True when the record shows a loss: sent again, or fragments missing. */
static inline bool ft_seg_lossy(const ft_seg *s)
{
    return s->sends > 1 || (s->incomplete > 0 && s->complete == 0);
}

static inline bool ft_addr_eq(const pkt_addr *a, const pkt_addr *b)
{
    return memcmp(a->b, b->b, 16) == 0;
}

void ft_packet(void *p, const pkt_view *v, enum pkt_status status, diag_ctx *ctx);
void ft_conn(void *p, const flow_conn *c, diag_ctx *ctx);
/* At the finish: retire the datagrams still in the table; cap_last is the
 * capture's last packet time (the engine's, which also covers records). */
void ft_retire_all(ft_state *st, int64_t cap_last);

/* ---- frag_words.c: verdicts into findings -------------------------------- */

/* Server endpoint of a record: from its incarnation, else the lower port. */
void ft_seg_server(const ft_seg *s, pkt_addr *a, uint16_t *port);
/* The finding of one group; 0 or -ENOMEM. */
int ft_report_group(const ft_state *st, const ft_group *g, diag_ctx *ctx, diag_findings *out);
/* The RST-gap suspicion (no fragments in the capture); 0 or -ENOMEM. */
int ft_report_lost(const ft_state *st, diag_ctx *ctx, diag_findings *out);
/* Orphan datagrams next to n failed attempts (att, first n_att), 0 or -ENOMEM. */
int ft_report_orphans(const ft_state *st, const ft_orphan *ex, const lc_attempt *att,
                      size_t n_att, diag_ctx *ctx, diag_findings *out);

#endif
