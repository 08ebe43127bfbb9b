/* diag_internal.h - private to src/diagnose: the detector interface and the context detectors share. */
#ifndef TCPDOCTOR_DIAG_INTERNAL_H
#define TCPDOCTOR_DIAG_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "tcpdoctor/diagnose.h"
#include "tcpdoctor/lifecycle.h"

/*
 * How the engine works.  Detectors never see packets' bytes: they see the
 * decoded packets (optional), every finished incarnation (flow_conn), and,
 * when a 4-tuple was reused, the pair (previous incarnation, as a
 * diag_prev; next one).  At
 * the end each detector's finish() turns what it gathered into findings, in
 * a fixed order so that general detectors (syn-unanswered, port-exhaustion)
 * can leave out what a more specific one has explained.
 */

/* A reuse of a 4-tuple that met (or may have met) the previous
 * incarnation's TIME_WAIT: filled by timewait-reuse, read by
 * nat-timewait-mismatch, isn-not-increasing and others. */
enum tw_outcome {
    TW_ACCEPTED,        /* SYN-ACK to the first SYN */
    TW_STALE_ACK,       /* bare ACK of the old connection, client RST, retry */
    TW_IGNORED,         /* no answer to the first SYN(s) */
    TW_RESET            /* RST to the SYN */
};

typedef struct tw_event {
    pkt_addr client, server;
    uint64_t prev_fin_packet;       /* the closer's first FIN (0: none) */
    int64_t  prev_fin_ts;
    int64_t  prev_close_ts;         /* last packet of the old incarnation */
    uint64_t prev_close_packet;
    int64_t  syn_ts;                /* first SYN of the new one */
    uint64_t syn_packet;
    uint64_t answer_packet;
    uint64_t first_packet;          /* the new incarnation's first packet */
    double   gap_s;                 /* syn_ts - prev_close_ts */
    double   delay_s;               /* first SYN to SYN-ACK (or to giving up) */
    enum flow_side prev_closer;     /* who sent the first FIN of the old one */
    enum tw_outcome outcome;
    uint32_t prev_client_tsval_last, cur_client_tsval_syn;
    uint32_t prev_client_final_seq, cur_client_isn;
    uint32_t stale_ack;             /* an unpaired stale ACK's acknowledgment number */
    uint32_t extra;                 /* 1 + index of its tw_extra, 0: none */
    uint16_t client_port, server_port;
    uint16_t syn_count;
    uint8_t  prev_client_ttl, cur_client_ttl;
    bool     prev_reset;            /* the old one ended with RST */
    bool     succeeded;             /* a SYN-ACK came eventually */
    bool     gave_up_rst;           /* client RST after its SYNs, no SYN-ACK */
    bool     prev_ts_seen, cur_ts_seen;
    bool     isn_not_above;         /* new ISN <= old client final seq (RFC 1122 4.2.2.13) */
    bool     not_tw;                /* an "ignored" SYN that the server's other
                                       answers show was lost, not refused by
                                       TIME_WAIT (timewait_reuse.c) */
    bool     unpaired;              /* no previous incarnation in the capture:
                                       only the stale ACK shows one existed */
} tw_event;

/* What few events need besides (kept apart so that the many plain
 * reuses stay small): the SYN retransmissions and the client's giving up
 * of a reuse that was not accepted at once, and, for an unpaired stale
 * ACK, the server-closed connection whose client final sequence number it
 * acknowledges (the latest one to that server ended before the SYN),
 * found once by timewait-reuse's finish. */
typedef struct tw_extra {
    uint8_t  n_retry;               /* SYN retransmissions listed below */
    uint64_t retry_packet[4];
    int64_t  retry_ts[4];
    uint64_t giveup_packet;         /* the client's RST when it gave up */
    int64_t  giveup_ts;
    bool     acked_found;
    pkt_addr acked_client;
    uint16_t acked_client_port;
    uint32_t acked_client_final_seq;
    uint64_t acked_first_packet, acked_last_packet;
    int64_t  acked_last_ts;
} tw_extra;

/* Hosts behind one source address (the SYN sender), estimated by
 * nat-multiple-hosts in its finish; read by later detectors (paws-reject). */
typedef struct diag_host_est {
    pkt_addr ip;
    uint16_t hosts_min;             /* lower bound on hosts behind ip (1 = no sign of more) */
    uint16_t ts_clocks;             /* confirmed TCP timestamp clocks toward one server (max) */
    uint16_t ttl_initials;          /* distinct initial TTLs (64, 128, 255...) */
    uint16_t syn_layouts;           /* distinct SYN option layouts */
    bool     ts_per_conn;           /* TSvals look randomised per connection */
} diag_host_est;

/* What the engine keeps of an incarnation that ended in a reuse of its
 * 4-tuple, for the reuse hooks of the next one: the fields they read, in
 * two cache lines.  (A copy of the whole record is 824 bytes, and it is
 * read cold, seconds later, when the 4-tuple comes back.)  A detector that
 * needs more of the old incarnation adds it here and in diag_prev_fill(). */
typedef struct diag_prev {
    pkt_addr client;            /* the old incarnation's client */
    int64_t  last_ts;           /* its last packet */
    uint64_t last_packet;
    uint64_t closer_fin_packet; /* the first closer's first FIN (closed_by set) */
    int64_t  closer_fin_ts;
    int64_t  first_syn_ts;      /* its first SYN, or first packet when no SYN */
    uint32_t client_next_seq;   /* the client's final sequence number */
    uint32_t client_isn;
    uint32_t client_tsval_last;
    uint32_t client_tsval_syn;  /* TSval of its first SYN (syn_opts_seen) */
    uint64_t syn_packet;        /* its first SYN (had_syn) */
    uint16_t client_port;
    uint16_t syn_window;        /* the client's SYN: window, MSS, option layout */
    uint16_t syn_mss;
    enum flow_side closed_by;   /* who sent the first FIN */
    bool     reset;             /* an RST ended it (reset_by set) */
    bool     had_syn;           /* syn_count > 0 */
    bool     client_seq_seen;
    bool     client_isn_seen;
    bool     client_ts_seen;
    bool     syn_opts_seen;
    uint8_t  client_ttl;        /* TTL of the client's first packet */
    uint8_t  layout_len;
    uint8_t  layout[PKT_OPT_LAYOUT_MAX];
} diag_prev;

typedef struct diag_ctx {
    /* per source address, sorted by ip (memcmp); owned by nat-multiple-hosts,
       NULL until its finish ran */
    const diag_host_est *hosts;
    size_t   n_hosts;
    enum diag_vantage vantage;
    uint64_t conns;                 /* incarnations seen */
    int64_t  first_ts, last_ts;     /* capture span (packet times) */
    bool     have_ts;
    /* reuse events (all reuses of a 4-tuple, TIME_WAIT or not), in blocks
       that never move: diag_tw(ctx, i) for i < n_tw */
    tw_event **tw_block;
    size_t   n_tw, n_tw_blocks, cap_tw_blocks;
    tw_extra *tw_extra;             /* see tw_event.extra */
    size_t   n_tw_extra, cap_tw_extra;
    /* The lifecycle stage's facts: every attempt that was not ok, with its
       outcome, and the accounting (lifecycle.h).  NULL until the engine's
       finish; read-only for detectors. */
    const lc_stage *lc;
    /* Source-port use per (source, destination), one record per connection,
       built once by the engine for every detector that weighs port pools
       (port_pool.c); NULL until the engine's finish, read-only after. */
    const struct pp_table *ports;
    /* first packets of incarnations whose failure a finding explains, with
       the detector that explains it (diag_ctx_explain); the engine turns
       them into the findings' claims after every finish ran */
    struct diag_explained {
        uint64_t first_packet;
        uint32_t detector;          /* position in the engine's list */
    } *explained;
    size_t   n_explained, cap_explained;
    bool     explained_sorted;
    uint32_t cur_detector;          /* whose finish is running (engine) */
    bool     oom;                   /* something could not be stored: the
                                       engine's finish fails with -ENOMEM */
} diag_ctx;

/* Reuse events per block: one 2 MiB huge page's worth (engine.c). */
#define DIAG_TW_BLOCK ((size_t)(2u << 20) / sizeof(tw_event))

/* The i-th reuse event (i < ctx->n_tw); stays put while events are added. */
static inline tw_event *diag_tw(const diag_ctx *ctx, size_t i)
{
    return &ctx->tw_block[i / DIAG_TW_BLOCK][i % DIAG_TW_BLOCK];
}

/* Mark an incarnation (by its first packet) as explained by the detector
 * whose finish is running: the engine adds it to the claims of that
 * detector's finding about the attempt's server (or its first finding);
 * 0 or -ENOMEM. */
int diag_ctx_explain(diag_ctx *ctx, uint64_t first_packet);
bool diag_ctx_is_explained(diag_ctx *ctx, uint64_t first_packet);
/* Store a reuse event, with its extra part when x is not NULL; 0 or -ENOMEM. */
int diag_ctx_add_tw(diag_ctx *ctx, const tw_event *ev, const tw_extra *x);
/* After every detector's finish and the claims: count the attempts the
 * findings explain, and add the finding `unexplained-failures` for the
 * failed or slow ones none explains (unexplained.c).  0 or -ENOMEM. */
int diag_account(diag_ctx *ctx, diag_findings *out, diag_accounting *acc);

/* The extra part of event i, added (zeroed) if it has none; NULL when out
 * of memory.  Valid until the next extra part is added. */
tw_extra *diag_ctx_tw_extra_of(diag_ctx *ctx, size_t i);

/* The extra part of an event, NULL when it has none. */
static inline const tw_extra *diag_tw_extra(const diag_ctx *ctx, const tw_event *e)
{
    return e->extra != 0 ? &ctx->tw_extra[e->extra - 1] : NULL;
}

/* The connection an unpaired stale ACK acknowledges, NULL when not found. */
static inline const tw_extra *diag_tw_acked(const diag_ctx *ctx, const tw_event *e)
{
    const tw_extra *x = diag_tw_extra(ctx, e);
    return x != NULL && x->acked_found ? x : NULL;
}

/*
 * The facts a detector's finish leaves for others (typed tables in ctx, or
 * attempts it marks explained with diag_ctx_explain), and the ones it reads.
 * Each detector declares both; the engine orders the final passes from
 * them (diag_detectors_order), so the list's order carries no meaning and
 * a detector never depends on another it does not name by fact.
 */
enum diag_fact {
    DIAG_FACT_HOSTS = 1u << 0,      /* ctx->hosts: hosts behind each address */
    DIAG_FACT_PAWS_DROPS = 1u << 1, /* attempts explained as SYNs a per-host
                                       timestamp check dropped */
    DIAG_FACT_TW_JUDGED = 1u << 2   /* reuse events judged (not_tw, stale-ACK
                                       links) and attempts explained as
                                       TIME_WAIT's doing */
};

typedef struct diag_detector {
    const char *id;
    unsigned reads;                 /* enum diag_fact bits it needs */
    unsigned provides;              /* enum diag_fact bits its finish leaves */
    void *(*create)(diag_ctx *ctx);                         /* NULL: -ENOMEM */
    void (*packet)(void *st, const pkt_view *v, enum pkt_status s, diag_ctx *ctx);
    void (*conn)(void *st, const flow_conn *c, diag_ctx *ctx);
    void (*reuse)(void *st, const diag_prev *prev, const flow_conn *cur, diag_ctx *ctx);
    int  (*finish)(void *st, diag_ctx *ctx, diag_findings *out);   /* 0 / -ENOMEM */
    void (*destroy)(void *st);
} diag_detector;

/* The order in which to run the final passes of list[0..n-1]: every
 * detector after the providers of what it reads, otherwise in list order.
 * Fills order[] with n positions; -1 when a fact has no provider or the
 * facts form a cycle. */
int diag_detectors_order(const diag_detector *const *list, size_t n, size_t *order);

/* The detectors (engine.c lists them; their order carries no meaning). */
extern const diag_detector diag_det_timewait_reuse;
extern const diag_detector diag_det_nat_timewait_mismatch;
extern const diag_detector diag_det_isn_not_increasing;
extern const diag_detector diag_det_nat_multiple_hosts;
extern const diag_detector diag_det_paws_reject;
extern const diag_detector diag_det_port_exhaustion;
extern const diag_detector diag_det_timewait_accumulation;
extern const diag_detector diag_det_abortive_close;
extern const diag_detector diag_det_fragmented_tcp;
extern const diag_detector diag_det_connection_refused;
extern const diag_detector diag_det_scan;

/* ---- helpers for detectors ---------------------------------------------- */

/* Records found by key (group_index.c): the detector keeps the records in
 * its own array; a diag_index finds them.  key_len bytes at key_off in each
 * record form the key (no padding inside). */
typedef struct diag_table {
    size_t size;                /* bytes per record */
    size_t key_off;
    size_t key_len;
} diag_table;

typedef struct diag_index {
    uint64_t *slot;             /* hash tag << 32 | position + 1; 0 = empty */
    size_t   mask;              /* slots - 1 */
    uint64_t seed;              /* set once by the owner */
} diag_index;

/* Position of the record with this key in *v (n records, capacity cap);
 * a new zeroed record with the key set is appended when there is none
 * (*created true; created may be NULL).  -1 when out of memory. */
long diag_index_get(diag_index *ix, const diag_table *t, void **v, size_t *n, size_t *cap,
                    const void *key, bool *created);
/* Position of the record with this key in v, or -1 when there is none
 * (nothing is added). */
long diag_index_find(const diag_index *ix, const diag_table *t, const void *v, const void *key);
/* Free the index (the records are the owner's). */
void diag_index_reset(diag_index *ix);

/* Items (numbered 0..n-1 by the caller) grouped by server endpoint, in the
 * order each endpoint first appears; a group's items are chained in the
 * order added: first, then next[first], ..., n of them (group_index.c). */
typedef struct diag_ep_group {
    pkt_addr addr;              /* key: address and port, 18 bytes */
    uint16_t port;
    size_t   first, last, n;
} diag_ep_group;

typedef struct diag_ep_groups {
    diag_ep_group *v;
    size_t   n, cap;
    size_t  *next;              /* one per item */
    diag_index ix;
} diag_ep_groups;

/* Room for items numbered below `items`; 0 or -ENOMEM. */
int diag_ep_groups_init(diag_ep_groups *g, size_t items, uint64_t seed);
/* Add item (numbers rising) to its endpoint's group: the group's position,
 * or -1 when out of memory. */
long diag_ep_groups_add(diag_ep_groups *g, const pkt_addr *addr, uint16_t port, size_t item);
void diag_ep_groups_free(diag_ep_groups *g);

/* An interval's start (d = +1) or end (d = -1) at time t (sweep.c). */
typedef struct diag_ev {
    int64_t t;
    int32_t d;
} diag_ev;

/* The 2n events of intervals [s[i], e[i]) in time order, an end before a
 * start at the same instant, into out (room for 2n); an end not after its
 * start counts at start + 1 ns.  0 or -ENOMEM. */
int diag_interval_events(const int64_t *s, const int64_t *e, size_t n, diag_ev *out);

static inline double diag_secs(int64_t ns) { return (double)ns / 1e9; }

/* a after b in sequence space (RFC 9293 3.4, modulo 2^32). */
static inline bool diag_seq_gt(uint32_t a, uint32_t b) { return (int32_t)(a - b) > 0; }

/* "10.0.0.1:40000" or "[fd00::1]:40000" into buf (at least 64 bytes). */
const char *diag_endpoint(const pkt_addr *a, uint16_t port, char *buf, size_t len);
/* "10.0.0.1" */
const char *diag_addr(const pkt_addr *a, char *buf, size_t len);
/* Seconds since the first packet of the capture, for evidence lines. */
double diag_rel(const diag_ctx *ctx, int64_t ts_ns);


#endif
