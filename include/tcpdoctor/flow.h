/* flow.h - the connection table: 4-tuples, their incarnations, and their records. */
#ifndef TCPDOCTOR_FLOW_H
#define TCPDOCTOR_FLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tcpdoctor/packet.h"

/* SYN transmissions kept per incarnation (later ones are only counted). */
#define FLOW_MAX_SYN 16
/* Zeek-style history string, letters beyond this are dropped and counted. */
#define FLOW_HISTORY_MAX 48

enum flow_handshake {
    FLOW_HS_NONE,       /* SYN seen, nothing came back */
    FLOW_HS_SYNACK,     /* answered with SYN-ACK */
    FLOW_HS_RST,        /* answered with RST */
    FLOW_HS_ACK_ONLY,   /* answered with a bare ACK (e.g. from TIME_WAIT) */
    FLOW_HS_NOT_SEEN    /* capture started after the handshake */
};

enum flow_side {
    FLOW_SIDE_NONE,
    FLOW_SIDE_CLIENT,
    FLOW_SIDE_SERVER
};

/* Why a record was written. */
enum flow_end {
    FLOW_END_REUSED,    /* a new incarnation of the 4-tuple began */
    FLOW_END_EXPIRED,   /* closed, then idle past the linger horizon */
    FLOW_END_EVICTED,   /* table full: oldest entry pushed out */
    FLOW_END_EOF        /* end of input */
};

/* One side of an incarnation. */
typedef struct flow_endpoint {
    pkt_addr addr;
    uint16_t port;
    uint8_t  ttl_first;         /* IP TTL of the first packet from this side */
    uint8_t  ttl_min;
    uint8_t  ttl_max;
    bool     isn_seen;          /* a SYN (or SYN-ACK) from this side was seen */
    uint32_t isn;               /* its sequence number */
    uint64_t packets;           /* TCP segments from this side */
    uint64_t bytes;             /* TCP payload bytes (per IP length) */
    uint64_t ip_bytes;          /* IP datagram bytes */
    bool     seq_seen;          /* next_seq is meaningful */
    /* What the capture shows of this side's sending and acknowledging, for
       the lifecycle stage's stall and reset verdicts (lifecycle.h):
       sent_end is moved by this side's own segments only (next_seq also
       follows the peer's ACKs of data the capture missed).  Beside next_seq:
       every packet updates them together. */
    bool     sent_seen;
    bool     ack_seen;          /* it sent a segment with ACK (RSTs aside) */
    uint32_t next_seq;          /* highest seq + len (+SYN/FIN) sent: final seq */
    uint32_t sent_end;          /* highest seq + len of its captured segments */
    uint32_t ack_max;           /* the highest acknowledgment number it sent */
    int64_t  ack_max_ts;        /* when that acknowledgment first came */
    uint64_t retransmits;       /* segments whose payload was already sent */
    bool     fin_seen;
    uint64_t fin_packet;        /* first FIN */
    int64_t  fin_ts;
    uint32_t fin_seq;
    uint32_t rst_count;
    uint64_t rst_packet;        /* first RST */
    int64_t  rst_ts;
    uint32_t rst_seq;
    bool     rst_has_ack;
    uint32_t rst_ack;           /* its acknowledgment number (rst_has_ack) */
    bool     ts_seen;           /* TCP timestamps seen from this side */
    uint32_t tsval_first;
    uint32_t tsval_last;
    int64_t  tsval_first_ts;    /* capture times of those two TSvals */
    int64_t  tsval_last_ts;
    uint32_t zero_windows;
    uint64_t retrans_packet;    /* its last payload retransmission (0: none) */
    int64_t  retrans_ts;
    uint32_t retrans_seq;       /* that segment's sequence number */
    uint8_t  rst_ttl;           /* IP TTL of its first RST */
    uint32_t copies;            /* data segments captured twice within 1 ms
                                   (same seq, length, IP id): two interfaces */
    bool     data_after_peer_fin; /* it sent data after acknowledging the
                                     peer's FIN (a half-closed peer may reset
                                     it: RFC 1122 4.2.2.13) */
    /* Options of this side's SYN or SYN-ACK */
    bool     syn_opts_seen;
    uint16_t syn_window;
    pkt_tcp_opts syn_opts;
} flow_endpoint;

/*
 * One incarnation of a 4-tuple: from a SYN (or from the first packet when
 * the capture starts mid-connection) to the next SYN that starts a new
 * life, or to the end of the capture.  Plain value handed to the sink;
 * the sink must copy what it keeps.
 */
typedef struct flow_conn {
    uint32_t incarnation;       /* 1 for the first life of this 4-tuple */
    flow_endpoint client;       /* who sent the SYN */
    flow_endpoint server;
    bool     roles_inferred;    /* no SYN seen: roles guessed (docs/conns.md) */
    uint16_t vlan;              /* outer VLAN id of the first packet, 0 if none */
    uint64_t first_packet;
    uint64_t last_packet;
    int64_t  first_ts;
    int64_t  last_ts;
    uint16_t syn_count;         /* client SYN transmissions, same ISN */
    uint64_t syn_packet[FLOW_MAX_SYN];
    int64_t  syn_ts[FLOW_MAX_SYN];
    uint16_t synack_count;
    uint64_t synack_packet;     /* first SYN-ACK */
    int64_t  synack_ts;
    enum flow_handshake handshake;    /* how the handshake ended: syn-ack if
                                         any SYN-ACK came, else rst, else
                                         ack-only, else none */
    enum flow_handshake first_answer; /* what answered the first SYN */
    uint64_t handshake_packet;  /* the first answer (SYN-ACK, RST or ACK) */
    int64_t  handshake_ts;
    uint32_t handshake_ack;     /* its acknowledgment number (for a bare ACK:
                                   which connection the answerer has in mind) */
    uint16_t handshake_rsts;    /* client RSTs before a SYN retransmission
                                   (the TIME_WAIT signature, tcp-behaviour 9.2) */
    bool     established;       /* client ACKed the SYN-ACK, or data both ways */
    uint64_t established_packet; /* the packet that established it */
    int64_t  established_ts;
    enum flow_side closed_by;   /* who sent the first FIN */
    enum flow_side reset_by;    /* who sent the first RST */
    uint64_t fragments;         /* IP fragments attributed to this incarnation */
    enum flow_end end;
    char     state[8];          /* Zeek-style conn_state: SF, S0, REJ, ... */
    char     history[FLOW_HISTORY_MAX + 1];
} flow_conn;

/*
 * Called once per finished incarnation.  *tuple_data is the sink's own
 * pointer for this 4-tuple, kept in the table's entry: NULL with the first
 * record of a 4-tuple, then whatever the sink left there when the record
 * before ended FLOW_END_REUSED (the next one of the same 4-tuple always
 * follows such a record).  After a record with any other end the table
 * drops the 4-tuple and clears the pointer, so the sink must release what
 * it kept there.  This pairs consecutive incarnations without a lookup.
 */
typedef void (*flow_sink_fn)(void *ctx, const flow_conn *c, void **tuple_data);
/* Releases tuple data the sink left when the table is freed unflushed. */
typedef void (*flow_tuple_free_fn)(void *ctx, void *tuple_data);

typedef struct flow_config {
    uint32_t capacity;          /* max 4-tuples held; 0 = FLOW_DEFAULT_CAPACITY */
    int64_t  linger_ns;         /* keep a closed 4-tuple this long after its
                                   last packet (0 = FLOW_DEFAULT_LINGER_NS) */
    uint64_t hash_seed;         /* 0 = random per table */
    flow_sink_fn sink;
    void    *sink_ctx;
    flow_tuple_free_fn tuple_free;  /* NULL when the sink keeps nothing per
                                       4-tuple (nor is anything prefetched) */
} flow_config;

/* 1 M entries: about 1.1 GiB at most (1.2 KB each); see docs/conns.md. */
#define FLOW_DEFAULT_CAPACITY (1u << 20)
/* 300 s: longer than any TIME_WAIT a stack uses (Windows 240 s, tcp-behaviour.md 10). */
#define FLOW_DEFAULT_LINGER_NS (300LL * 1000000000LL)

typedef struct flow_stats {
    uint64_t packets;           /* TCP packets given to the table */
    uint64_t fragments;         /* non-first TCP fragments given */
    uint64_t fragments_unmatched; /* of those, with no first fragment seen */
    uint64_t incarnations;      /* records written */
    uint64_t tuples_peak;       /* most 4-tuples held at once */
    uint64_t evictions;         /* entries pushed out by capacity */
    uint64_t expirations;       /* closed entries aged out */
    uint64_t time_regressions;  /* packets older than the previous one */
    uint64_t dropped_nomem;     /* packets not accounted: no memory for an
                                   entry and none to evict.  Non-zero means
                                   the records are incomplete: a report from
                                   them would leave connections out */
} flow_stats;

typedef struct flow_table flow_table;

/* New table; NULL on allocation failure (errbuf says why). */
flow_table *flow_table_new(const flow_config *cfg, char *errbuf, size_t errlen);
/* Free the table without writing what it holds (flush first for that); tuple
 * data the sink left is handed to cfg.tuple_free. */
void flow_table_free(flow_table *t);

/* Account one decoded packet (status PKT_TCP or PKT_TCP_FRAGMENT). */
void flow_table_packet(flow_table *t, const pkt_view *v);

/* Optional hint: start loading the entry that packet v will need, before
 * the packets ahead of it are accounted.  No effect on results. */
void flow_table_prefetch(flow_table *t, const pkt_view *v);
/* Second hint, a few packets later for the same v (once its entry has
 * arrived): for a SYN, which may end the incarnation before it, start
 * loading the first two cache lines of the sink's tuple data.  No effect
 * on results. */
void flow_table_prefetch_data(flow_table *t, const pkt_view *v);

/* Write every incarnation still held (end of input), oldest first. */
void flow_table_flush(flow_table *t);

void flow_table_stats(const flow_table *t, flow_stats *out);

const char *flow_handshake_name(enum flow_handshake h);  /* "syn-ack", ... */
const char *flow_side_name(enum flow_side s);            /* "client", ... */
const char *flow_end_name(enum flow_end e);

#endif
