/* sim_internal.h - the simulator's run-time world, private to src/sim: events, packets,
 * endpoints (TCBs), NAT sessions, capture points, and the helpers the files share. */
#ifndef TCPDOCTOR_SIM_INTERNAL_H
#define TCPDOCTOR_SIM_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tcpdoctor/sim.h"

/* ---- tunables (units and ranges in the comments) --------------------------------- */
#define SIM_DRAIN_MAX      (600 * SIM_NS_PER_S) /* after `duration`: let attempts finish */
#define SIM_READ_TIMEOUT   (120 * SIM_NS_PER_S) /* client gives up on a stalled exchange */
#define SIM_DATA_RETRIES   8                    /* data/FIN retransmissions before abort */
#define SIM_RTO_MIN        (200 * SIM_NS_PER_MS)/* Linux TCP_RTO_MIN */
#define SIM_RTO_INIT       (1 * SIM_NS_PER_S)   /* RFC 6298 initial RTO */
#define SIM_RTO_MAX        (120 * SIM_NS_PER_S) /* Linux TCP_RTO_MAX */
#define SIM_FAST_RESEND    (2 * SIM_NS_PER_MS)  /* Linux TCP_TIMEOUT_MIN at HZ=1000 */
#define SIM_PAWS_MSL       (60 * SIM_NS_PER_S)  /* Linux TCP_PAWS_MSL (tw_recycle cache) */
#define SIM_PAWS_WINDOW    1                    /* Linux TCP_PAWS_WINDOW, ticks */
#define SIM_FRAG_TIME      (30 * SIM_NS_PER_S)  /* Linux ipfrag_time */
#define SIM_FRAG_SLOTS     1024                 /* datagrams being reassembled at once */
#define SIM_NOPORT_RETRY   (10 * SIM_NS_PER_MS) /* concurrency apps: pause after EADDRNOTAVAIL */
#define SIM_MAX_CAPTURES   64
#define SIM_MSS_MAX        65000                /* keeps every datagram under 65535 bytes */
#define SIM_EPOCH_S        1767225600LL         /* capture timestamps: 2026-01-01 00:00 UTC */

/* TCP flags as on the wire. */
enum { TF_FIN = 0x01, TF_SYN = 0x02, TF_RST = 0x04, TF_PSH = 0x08, TF_ACK = 0x10 };

/* ---- deterministic random numbers (rng.c) ---------------------------------------- */
typedef struct sim_rng { uint64_t s[4]; } sim_rng;
void sim_rng_seed(sim_rng *r, uint64_t seed);
uint64_t sim_rng_next(sim_rng *r);
uint32_t sim_rng_below(sim_rng *r, uint32_t n);       /* uniform 0..n-1, n >= 1 */
double sim_rng_unit(sim_rng *r);                       /* uniform [0, 1) */
uint64_t sim_mix(uint64_t seed, uint64_t a, uint64_t b); /* keyed hash of two words */

/* ---- counting maps (cmap.c); entries are never removed, counts may drop to 0 ------ */
typedef struct sim_cmap_ent {
    uint64_t k1;
    uint32_t k2;
    uint32_t n;
    uint32_t used;
} sim_cmap_ent;
typedef struct sim_cmap {
    sim_cmap_ent *v;
    size_t size, used;
} sim_cmap;
uint32_t sim_cmap_get(const sim_cmap *m, uint64_t k1, uint32_t k2);
int sim_cmap_add(sim_cmap *m, uint64_t k1, uint32_t k2, int32_t delta); /* 0 or -ENOMEM */
void sim_cmap_free(sim_cmap *m);

/* ---- packets ------------------------------------------------------------------------
 * One IPv4 datagram (or fragment of one) carrying TCP.  Payload bytes are zeros and are
 * not stored; pcap.c writes them.  A fragment keeps the whole datagram's TCP fields so
 * that reassembly can rebuild it; only the bytes in [frag_off, frag_off+frag_len) of the
 * datagram's IP payload are "in" the fragment. */
typedef struct sim_pkt {
    struct sim_pkt *next;   /* free list */
    uint32_t src, dst;      /* IPv4, host order */
    uint16_t ipid;
    uint8_t ttl;
    uint8_t df;
    uint8_t is_frag;        /* 1: a fragment (see frag_off/frag_len/mf) */
    uint8_t mf;
    uint16_t frag_off;      /* bytes into the IP payload */
    uint16_t frag_len;      /* IP payload bytes in this fragment */
    uint16_t sport, dport;
    uint32_t seq, ack;
    uint8_t flags;
    uint8_t syn_opts;       /* 1: SYN/SYN-ACK option block in `layout` */
    uint8_t layout;         /* enum sim_syn_layout */
    uint8_t has_ts;
    uint8_t ws;
    uint16_t mss;
    uint16_t win;
    uint32_t tsval, tsecr;
    uint16_t len;           /* TCP payload bytes */
} sim_pkt;

unsigned sim_pkt_opt_len(const sim_pkt *p);            /* TCP option bytes (multiple of 4) */
static inline unsigned sim_pkt_l4_len(const sim_pkt *p)
{
    return 20u + sim_pkt_opt_len(p) + p->len;
}
/* IP total length of this datagram or fragment. */
static inline unsigned sim_pkt_ip_len(const sim_pkt *p)
{
    return 20u + (p->is_frag ? p->frag_len : sim_pkt_l4_len(p));
}

/* ---- events (event.c): a binary heap keyed by (time, sequence) ------------------- */
enum sim_ev_type {
    EV_ARRIVE_HOST,   /* pkt reaches host idx */
    EV_ARRIVE_NAT_IN, /* pkt reaches NAT idx from its inside network */
    EV_ARRIVE_NAT_OUT,/* pkt reaches NAT idx from its outside network */
    EV_TCB_TIMER,     /* tcb idx/gen, which = timer slot */
    EV_APP_START,     /* app idx opens its next connection */
    EV_NAT_EXPIRE     /* NAT idx, session `aux`/gen */
};

typedef struct sim_event {
    sim_ns at;
    uint64_t seq;
    sim_pkt *pkt;
    uint32_t idx;
    uint32_t gen;
    uint32_t aux;
    uint8_t type;
    uint8_t which;
} sim_event;

typedef struct sim_heap {
    sim_event *v;
    size_t n, cap;
    uint64_t next_seq;
} sim_heap;

int sim_heap_push(sim_heap *h, const sim_event *e);   /* 0 or -ENOMEM; e->seq is assigned */
bool sim_heap_pop(sim_heap *h, sim_event *out);
void sim_heap_free(sim_heap *h);

/* ---- endpoints ----------------------------------------------------------------------- */
enum sim_tcp_state {
    ST_FREE, ST_SYN_SENT, ST_SYN_RECV, ST_ESTABLISHED, ST_FIN_WAIT_1, ST_FIN_WAIT_2,
    ST_CLOSING, ST_TIME_WAIT, ST_CLOSE_WAIT, ST_LAST_ACK
};

enum { TMR_RTX = 0, TMR_APP = 1, TMR__N };

typedef struct sim_tcb {
    uint32_t laddr, raddr;
    uint16_t lport, rport;
    uint32_t hnext;         /* hash chain: index + 1, 0 ends */
    uint32_t gen;           /* slot generation (stale timers) */
    uint32_t host;          /* host instance */
    uint16_t app;
    uint8_t state;
    uint8_t client;         /* 1: the active opener */
    uint8_t ts_ok, ws_ok;
    uint8_t fin_rcvd;       /* peer's FIN consumed */
    uint8_t closing;        /* app called close (FIN queued after the data) */
    uint8_t fin_sent;
    uint8_t done;           /* attempt outcome recorded (client) */
    uint8_t n_syn;          /* SYNs (or SYN-ACKs) sent */
    uint8_t n_rtx;          /* consecutive data retransmissions */
    uint8_t app_step;       /* what TMR_APP does next */
    uint8_t bound;          /* client bound its port explicitly */
    uint8_t responded;      /* server queued its response */
    uint8_t tw_recycled;    /* TIME_WAIT shortened by tw_recycle */
    uint8_t fast;           /* a fast SYN resend is pending (Linux >= 5.6) */
    uint8_t chal_sent;      /* rate limit of challenge ACKs: see tw_last_ack */
    uint8_t counted;        /* in w->dest_ports (an ephemeral port of a connect()) */
    uint16_t mss;           /* effective send MSS */
    uint16_t ipid;
    uint32_t iss, irs;
    uint32_t snd_una, snd_nxt, snd_end; /* snd_end: iss + 1 + bytes the app wrote */
    uint32_t rcv_nxt;
    uint32_t rcv_got;       /* payload bytes received in order */
    uint32_t ts_recent, ts_off;
    sim_ns ts_recent_stamp;
    sim_ns t_first_syn;
    sim_ns rto;
    sim_ns due[TMR__N], ev_at[TMR__N];
    sim_ns tw_entry, tw_last_ack;
} sim_tcb;

/* ---- run-time objects ----------------------------------------------------------- */
typedef struct sim_rnet {
    const sim_net *cfg;
    uint16_t mtu;
    uint64_t capmask;       /* captures fed by this network */
    sim_ns last_at;         /* latest arrival scheduled: the network is FIFO */
} sim_rnet;

typedef struct sim_rhost {
    char name[SIM_NAME_MAX + 8];
    const sim_host *cfg;
    const sim_os *os;
    uint32_t net;
    uint32_t addr;
    sim_ns ts_origin;       /* uptime at t=0 plus clock_skew */
    uint16_t ipid;          /* global counter (os->ipid_global) */
    uint16_t seq_port;      /* SIM_PORTS_SEQUENTIAL cursor */
    uint16_t perturb[256];  /* SIM_PORTS_LINUX table_perturb */
    uint64_t capmask;
    uint64_t tw_now, tw_peak;
    sim_ns tw_peak_at;
} sim_rhost;

typedef struct sim_session {
    uint32_t in_addr, ext_addr, dst_addr;
    uint16_t in_port, ext_port, dst_port;
    uint8_t state;          /* enum sim_nat_state */
    uint8_t fin_in, fin_out, live;
    uint32_t hin, hout;     /* hash chains: index + 1 */
    uint32_t gen;
    uint32_t ts_delta;      /* added to inside TSvals when rewriting */
    sim_ns expires, ev_at;
} sim_session;

typedef struct sim_rnat {
    const sim_nat *cfg;
    uint32_t in_net, out_net;
    sim_session *s;
    size_t n_s, cap_s;
    uint32_t free_s;        /* free list through hin, index + 1 */
    uint32_t *tin, *tout;   /* hash heads */
    size_t tsize;           /* power of two */
    uint64_t live, peak, syn_dropped, frag_dropped, no_session, evicted;
    uint32_t seq_cursor;
    sim_cmap dest_ports;    /* (ext addr, dst addr, dst port) -> sessions */
} sim_rnat;

typedef struct sim_rapp {
    const sim_app *cfg;
    uint32_t first_client, n_clients; /* host instances */
    uint32_t server;                  /* host instance */
    uint32_t rr;                      /* next client copy */
    uint64_t started;
    uint64_t in_flight;
    uint16_t *bind_next;              /* per client copy, for src_port_lo..hi */
    bool stopped;
} sim_rapp;

typedef struct sim_frag_slot {
    uint32_t to;            /* destination code (see net.c) */
    uint32_t src, dst;
    uint16_t ipid;
    uint16_t have;          /* bytes received */
    uint16_t total;         /* IP payload length, 0 until the last fragment arrived */
    bool used, have_first;
    sim_ns expires;
    sim_pkt first;          /* TCP fields from the offset-0 fragment */
} sim_frag_slot;

typedef struct sim_cap sim_cap;  /* pcap.c */

typedef struct sim_recycle {    /* tw_recycle per-peer TS record */
    uint32_t laddr, raddr;
    uint32_t tsval;
    sim_ns stamp;
    bool used;
} sim_recycle;

typedef struct sim_world {
    const sim_scenario *sc;
    uint64_t seed;
    sim_ns now, end, hard_end;
    bool stopping;
    sim_rng rng;
    sim_heap heap;
    int oom;                /* set when an allocation failed mid-run */

    sim_rnet *nets;   size_t n_nets;
    sim_rhost *hosts; size_t n_hosts;
    sim_rnat *nats;   size_t n_nats;
    sim_rapp *apps;   size_t n_apps;

    /* address -> owner: code = kind << 30 | index (kind 1 host, 2 NAT) */
    uint32_t *amap_key, *amap_val;
    size_t amap_size;

    sim_tcb *tcbs;    size_t n_tcbs, cap_tcbs;
    uint32_t free_tcb;      /* index + 1 */
    uint32_t *thash;  size_t thash_size; size_t tcb_live;
    sim_cmap dest_ports;    /* (laddr, raddr, rport) -> connect() TCBs on ephemeral ports */

    sim_pkt *pkt_free;
    void **pkt_chunks; size_t n_pkt_chunks;

    sim_frag_slot *frags;   /* SIM_FRAG_SLOTS */
    sim_recycle *recycle; size_t recycle_size, recycle_n;

    sim_cap *caps;    size_t n_caps;
    void *capbuf;           /* sim_cap_bufsize() bytes of frame scratch */

    /* outcomes */
    uint64_t events, attempts, successes, failures, retried, packets, lost;
    uint64_t fail_by[SIM_FAIL__COUNT];
    sim_ns *lat;      size_t n_lat, cap_lat;
    uint64_t pending;       /* client attempts without an outcome */
    uint64_t tw_total;      /* TCBs in TIME_WAIT, all hosts */
} sim_world;

/* ---- cross-file helpers ------------------------------------------------------------ */
/* packets (net.c) */
sim_pkt *sim_pkt_new(sim_world *w);
void sim_pkt_free(sim_world *w, sim_pkt *p);
/* Put p on network `net`, sent by the host or NAT `from` (code as in the address map);
 * takes ownership of p.  Fragments, captures, applies loss and schedules the arrival. */
void sim_net_send(sim_world *w, uint32_t net, sim_pkt *p);
/* A packet arrived at a host: captures it and reassembles fragments; returns the packet to
 * hand to TCP (possibly a rebuilt datagram) or NULL when nothing is to be delivered yet. */
sim_pkt *sim_net_host_input(sim_world *w, uint32_t host, sim_pkt *p);
/* Reassemble at a NAT (SIM_FRAG_REASSEMBLE): same contract as sim_net_host_input. */
sim_pkt *sim_net_reassemble(sim_world *w, uint32_t to, sim_pkt *p);
uint32_t sim_addr_lookup(const sim_world *w, uint32_t addr); /* code or 0 */
#define SIM_OWN_HOST 1u
#define SIM_OWN_NAT  2u
static inline uint32_t sim_own_kind(uint32_t code) { return code >> 30; }
static inline uint32_t sim_own_idx(uint32_t code) { return code & 0x3fffffffu; }

/* NAT (nat.c) */
int sim_nat_init(sim_world *w, sim_rnat *n);
void sim_nat_free(sim_rnat *n);
void sim_nat_from_inside(sim_world *w, uint32_t nat, sim_pkt *p);
void sim_nat_from_outside(sim_world *w, uint32_t nat, sim_pkt *p);
void sim_nat_expire(sim_world *w, uint32_t nat, uint32_t sess, uint32_t gen);

/* TCP (tcp.c) */
void sim_tcp_input(sim_world *w, uint32_t host, sim_pkt *p);  /* takes ownership */
void sim_tcp_timer(sim_world *w, uint32_t tcb, uint32_t gen, int which, sim_ns at);
/* Open one client connection of app `app` from host instance `host` (copy `copy`). */
void sim_tcp_connect(sim_world *w, uint32_t app, uint32_t host, uint32_t copy);
void sim_tcp_free_all(sim_world *w);

/* applications (app.c) */
int sim_app_init(sim_world *w);
void sim_app_start_event(sim_world *w, uint32_t app);
/* an attempt ended (success or failure) */
void sim_app_outcome(sim_world *w, sim_tcb *t, int fail /* -1 success, else enum sim_fail */);
void sim_app_free(sim_world *w);

/* captures (pcap.c) */
int sim_cap_open(sim_world *w, const sim_run_opts *o, char *errbuf, size_t errlen);
void sim_cap_write(sim_world *w, uint64_t mask, const sim_pkt *p);
size_t sim_cap_bufsize(void);
int sim_cap_close(sim_world *w, uint64_t *counts, char *errbuf, size_t errlen);

/* scheduling */
void sim_schedule(sim_world *w, const sim_event *e);

#endif
