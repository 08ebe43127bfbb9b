/* flow_internal.h - private to src/flow: the table entry and the incarnation tracker. */
#ifndef TCPDOCTOR_FLOW_INTERNAL_H
#define TCPDOCTOR_FLOW_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "tcpdoctor/flow.h"

/* Sequence-space comparisons, RFC 9293 3.4 (modulo 2^32). */
static inline bool seq_lt(uint32_t a, uint32_t b) { return (int32_t)(a - b) < 0; }
static inline bool seq_gt(uint32_t a, uint32_t b) { return (int32_t)(a - b) > 0; }

/*
 * Endpoint states as Zeek's TCP analyzer names them (analyzer/protocol/tcp,
 * TCP_Endpoint.h), moved by the same transitions as Zeek's
 * TCPSessionAdapter::UpdateStateMachine() (see flow_conn.c): conn_state is
 * derived from the pair, the same way Zeek's base/protocols/conn/main.zeek
 * does, so our table can be checked against Zeek's conn.log.
 */
enum ep_state {
    EP_INACTIVE,
    EP_SYN_SENT,
    EP_SYN_ACK_SENT,
    EP_PARTIAL,
    EP_ESTABLISHED,
    EP_CLOSED,
    EP_RESET
};

/* Holes in a side's data that the content-gap test keeps track of; data
 * beyond more holes than this is forgotten (a later ack may then report a
 * gap for data that was in fact seen). */
#define ZK_OOO_MAX 4

/* Per-direction bookkeeping that is not part of the public record. */
typedef struct ep_track {
    enum ep_state state;        /* Zeek's endpoint state ... */
    enum ep_state prev_state;   /* ... and the one before the last change */
    bool     any;               /* sent at least one packet */
    uint32_t zk_start;          /* Zeek's StartSeq() and LastSeq(): the seq */
    uint32_t zk_last;           /* space Zeek's 't' and size are measured in */
    uint32_t zk_rcv;            /* this side's data seen contiguously up to here */
    uint8_t  zk_nooo;           /* data seen beyond a hole: [lo, hi) ranges */
    struct { uint32_t lo, hi; } zk_ooo[ZK_OOO_MAX];
    bool     zk_fin;            /* a FIN was sent; zk_fin_end is the seq after */
    uint32_t zk_fin_end;        /* the last one (Zeek's FIN_seq) */
    bool     zk_trim_set;       /* highest ack of this side's data acted on */
    uint32_t zk_trim;           /* (Zeek's trim_seq) */
    bool     hist_a;            /* history letters recorded once */
    bool     hist_d;
    bool     hist_i;
    bool     hist_q;
    uint32_t last_syn_seq;      /* for repeated s/h/f/r letters */
    uint32_t last_fin_seq;
    uint32_t last_rst_seq;
    bool     syn_letter, fin_letter, rst_letter;
    /* what note_sent_acked() needs to tell a retransmission from a copy
       of the same frame and from data captured out of order */
    bool     data_seen;
    uint32_t data_end;          /* highest seq + payload of its data segments */
    uint8_t  n_holes;           /* sequence ranges below data_end never seen */
    struct { uint32_t lo, hi; } hole[2];
    uint32_t seg_seq, seg_len;  /* its last data segment ... */
    uint16_t seg_ipid;
    int64_t  seg_ts;
    uint32_t retrans_n, gap_n, zero_n; /* log10-scaled letters: next threshold */
    uint32_t retrans_next, gap_next, zero_next;
} ep_track;

/* The live incarnation of a 4-tuple, with the tracker state. */
typedef struct flow_live {
    flow_conn conn;
    bool     client_is_a;       /* client is the key's first endpoint */
    bool     closed;            /* FIN both ways, or an RST that stood */
    bool     synack_ack_seen;   /* the first SYN-ACK's acknowledgment number */
    uint32_t synack_ack;
    ep_track trk[2];            /* [0] client, [1] server */
    uint8_t  hist_len;
    uint32_t hist_dropped;
} flow_live;

/* Start a new incarnation from packet v; sender_is_client tells the role. */
void flow_live_begin(flow_live *l, const pkt_view *v, bool sender_is_client,
                     bool roles_inferred, uint32_t incarnation);

/* Account packet v, sent by the client when from_client is true. */
void flow_live_packet(flow_live *l, const pkt_view *v, bool from_client);

/* Account a non-first IP fragment that belongs to this incarnation. */
void flow_live_fragment(flow_live *l, const pkt_view *v, bool from_client);

/* Fill conn.state and close the history string before the record is written. */
void flow_live_finish(flow_live *l, enum flow_end why);

/*
 * Decide whether a SYN or SYN-ACK on an existing 4-tuple begins a new
 * incarnation (see flow_conn.c for the rules and their sources).
 */
bool flow_live_is_new(const flow_live *l, const pkt_view *v, bool from_client);

/* Role of the sender of the first packet when no SYN says it. */
bool flow_guess_sender_is_client(const pkt_view *v);

#endif
