/* gen.c - bench: writes a deterministic synthetic pcap of many short, overlapping TCP connections that reuse 4-tuples. */

/*
 * How it works
 *   Each connection is planned in full when it starts: a script of up to
 *   GEN_MAX_STEPS packets (direction, flags, seq, ack, payload length, and the
 *   delay since the previous packet of the same connection).  A binary heap
 *   orders the next packet of every open connection plus one "arrival" event
 *   by virtual time, so packets come out interleaved and in time order.
 *   Arrivals are paced by the packets they bring: a connection of n packets
 *   delays the next arrival by n / GEN_PKT_RATE seconds on average, so the
 *   capture runs at GEN_PKT_RATE packets per second of virtual time whatever
 *   the mix, and the number of open connections is stationary (Little's law:
 *   arrival rate x mean lifetime), the same for a short and a long capture.
 *
 *   The capture point is taken next to the servers: a server answers a client
 *   segment after its processing time, a client answers a server segment one
 *   round trip later.
 *
 *   Tuples: clients 10.1.x.y draw source ports from a small pool
 *   (GEN_CLIENT_PORT0 + 0..ports-1) per server, mostly in sequence like
 *   Linux's connect() port search, sometimes at random, and never reuse a
 *   tuple that is still open.  With the defaults (50 clients x 200 ports x 2
 *   servers = 20,000 tuples) each tuple is reused every few seconds.
 *   Initial sequence numbers follow a per-tuple offset plus a 16 MHz clock
 *   (Linux secure_tcp_seq(): hash + ns >> 6), so a reused tuple's ISN is
 *   above the previous incarnation's (RFC 1122 4.2.2.13); TCP timestamps run
 *   at 1 kHz from a per-host offset (RFC 7323 5.4), one clock per IP.
 *
 * Limits
 *   IPv4 only, no IP options, no fragments, no VLAN, no SACK blocks, no
 *   window updates.  Every connection is completed (no capture cut-off), so
 *   the file holds at least the requested number of packets and at most one
 *   script more.  Checksums are valid (cheap: payload sums are precomputed).
 */

#include <errno.h>
#include <stddef.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <pcap/pcap.h>

/* ---- tunables ---------------------------------------------------------- */
#define GEN_DEFAULT_PACKETS 2000000u   /* -n: packets at least, 1..2^32-1 */
#define GEN_DEFAULT_CLIENTS 50u        /* --clients: client IPs, 1..65000 */
#define GEN_DEFAULT_PORTS   200u       /* --ports: source ports per client, 1..20000 */
#define GEN_SERVERS         2u         /* server IP:ports, 192.0.2.10:8000 and .11:8001 */
#define GEN_CLIENT_PORT0    40000u     /* first client port (no Wireshark dissector) */
#define GEN_SERVER_PORT0    8000u      /* first server port (no Wireshark dissector) */
#define GEN_PKT_RATE        50000u     /* packets per second of virtual time */
#define GEN_EPOCH_S         1700000000 /* first timestamp, s since the Unix epoch */
#define GEN_MSS             1460u      /* bytes, advertised and largest segment */
#define GEN_MAX_STEPS       24         /* packets per connection script, upper bound */
#define GEN_REQ_MIN         100u       /* request bytes, uniform min..max */
#define GEN_REQ_MAX         400u
#define GEN_RESP_MIN        200u       /* response bytes, uniform min..max */
#define GEN_RESP_MAX        1400u
#define GEN_RTT_MIN_US      2000u      /* client round trip, uniform min..max, us */
#define GEN_RTT_MAX_US      40000u
#define GEN_RTO_MIN_US      200000u    /* Linux TCP_RTO_MIN: 200 ms */
#define GEN_SYN_RTO_US      1000000u   /* RFC 6298 2.1: initial RTO 1 s, doubling */
#define GEN_REUSE_WINDOW_US 60000000u  /* "reused soon": Linux TCP_TIMEWAIT_LEN, 60 s */
/* Per-mille probabilities, per connection unless said otherwise. */
#define GEN_PM_SYN_DEAD     5          /* SYN never answered: 3 tries, then given up */
#define GEN_PM_SYN_RETRY    25         /* first SYN unanswered, the retry is answered */
#define GEN_PM_RETX         30         /* per data segment: retransmitted after an RTO */
#define GEN_PM_RST          100        /* closed by RST instead of FIN */
#define GEN_PM_SERVER_CLOSE 500        /* of FIN closes: the server sends the first FIN */
#define GEN_PM_IDLE         20         /* idles 0.5-3 s before the close (keep-alive) */
#define GEN_PM_SERVER_ACK   300        /* server acks the request before answering */

enum { TH_FIN = 0x01, TH_SYN = 0x02, TH_RST = 0x04, TH_PSH = 0x08, TH_ACK = 0x10 };
enum { ETH_HLEN = 14, IP_HLEN = 20, TCP_HLEN = 20, OPT_SYN_LEN = 20, OPT_TS_LEN = 12 };
enum { DIR_C2S = 0, DIR_S2C = 1 };
#define EVENT_ARRIVAL UINT32_MAX

/* One packet of a connection's plan. */
typedef struct step {
    uint32_t gap_us;           /* delay after the previous packet of this connection */
    uint32_t seq;              /* TCP sequence number */
    uint32_t ack;              /* TCP acknowledgment number (0 on a bare SYN) */
    uint16_t len;              /* payload bytes */
    uint8_t  flags;            /* TH_* */
    uint8_t  dir;              /* DIR_C2S or DIR_S2C */
} step;

/* An open connection. */
typedef struct conn {
    uint32_t tuple;            /* index into the tuple table */
    uint16_t nsteps;           /* packets planned */
    uint16_t next;             /* next packet to send */
    uint16_t ip_id[2];         /* next IP ID, per direction */
    uint32_t ts_last[2];       /* last TSval sent, per direction (echoed by the peer) */
    uint64_t opened_us;        /* virtual time of the first packet */
    step     steps[GEN_MAX_STEPS];
} conn;

typedef struct event {
    uint64_t t_us;             /* virtual time since the start */
    uint32_t id;               /* connection index, or EVENT_ARRIVAL */
} event;

typedef struct gen_config {
    const char *out;           /* output path, "-" for stdout */
    uint64_t packets;          /* at least this many packets */
    uint64_t seed;             /* PRNG seed */
    uint32_t clients;          /* client IPs */
    uint32_t ports;            /* source ports per client */
    int      dlt;              /* DLT_EN10MB or DLT_RAW */
} gen_config;

typedef struct gen_stats {
    uint64_t packets;          /* written */
    uint64_t bytes;            /* captured bytes written, headers included */
    uint64_t conns;            /* connection attempts (incarnations) */
    uint64_t dead;             /* of those, SYNs never answered */
    uint64_t tuples;           /* distinct 4-tuples used */
    uint64_t reuses;           /* attempts on a tuple used before */
    uint64_t reuses_soon;      /* of those, within GEN_REUSE_WINDOW_US of its close */
    uint64_t open_peak;        /* most connections open at once */
    double   open_area;        /* integral of open connections over time, conn*us */
    uint64_t end_us;           /* virtual time of the last packet */
} gen_stats;

/* The whole generator state; nothing lives at file scope. */
typedef struct gen {
    gen_config cfg;
    uint64_t   rng;            /* splitmix64 state */
    uint64_t   scheduled;      /* packets planned so far */
    uint64_t   open;           /* connections open now */
    uint64_t   last_t_us;      /* time of the previous event, for open_area */
    event     *heap;           /* min-heap on t_us */
    size_t     heap_len, heap_cap;
    conn      *conns;          /* pool, indexed by event id */
    uint32_t  *free_ids;       /* free pool slots */
    size_t     conns_cap, free_len;
    uint8_t   *busy;           /* per tuple: 1 while a connection uses it */
    uint32_t  *uses;           /* per tuple: incarnations so far */
    uint64_t  *closed_us;      /* per tuple: time of the last close */
    uint32_t  *cursor;         /* per client x server: next port to try */
    uint32_t  *ts_base;        /* per host: TSval offset (clients, then servers) */
    uint8_t    payload[GEN_MSS];
    uint32_t   payload_sum[GEN_MSS + 1]; /* one's complement prefix sums of payload */
    uint8_t    pkt[ETH_HLEN + IP_HLEN + TCP_HLEN + OPT_SYN_LEN + GEN_MSS];
    gen_stats  st;
} gen;

/* ---- randomness -------------------------------------------------------- */

/* splitmix64 (Steele, Lea, Flood 2014): fast, passes BigCrush, one word of state. */
static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static uint64_t mix(uint64_t seed, uint64_t x)
{
    uint64_t s = seed ^ (x * 0xd1342543de82ef95u);
    return splitmix64(&s);
}

/* Uniform in [lo, hi]; the modulo bias is irrelevant here. */
static uint32_t rnd_range(gen *g, uint32_t lo, uint32_t hi)
{
    return lo + (uint32_t)(splitmix64(&g->rng) % ((uint64_t)hi - lo + 1));
}

static bool rnd_pm(gen *g, uint32_t per_mille)
{
    return splitmix64(&g->rng) % 1000 < per_mille;
}

/* ---- event heap -------------------------------------------------------- */

static bool event_before(const event *a, const event *b)
{
    return a->t_us < b->t_us || (a->t_us == b->t_us && a->id < b->id);
}

static int heap_push(gen *g, uint64_t t_us, uint32_t id)
{
    if (g->heap_len == g->heap_cap) {
        size_t cap = g->heap_cap ? g->heap_cap * 2 : 1024;
        event *h = realloc(g->heap, cap * sizeof *h);
        if (!h)
            return -ENOMEM;
        g->heap = h;
        g->heap_cap = cap;
    }
    size_t i = g->heap_len++;
    event e = { t_us, id };
    while (i > 0 && event_before(&e, &g->heap[(i - 1) / 2])) {
        g->heap[i] = g->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    g->heap[i] = e;
    return 0;
}

/* Removes the earliest event into *out; the heap must not be empty. */
static void heap_pop(gen *g, event *out)
{
    *out = g->heap[0];
    event last = g->heap[--g->heap_len];
    size_t i = 0, n = g->heap_len;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && event_before(&g->heap[c + 1], &g->heap[c]))
            c++;
        if (!event_before(&g->heap[c], &last))
            break;
        g->heap[i] = g->heap[c];
        i = c;
    }
    if (n > 0)
        g->heap[i] = last;
}

/* ---- tuples and addresses ---------------------------------------------- */

/* Tuple index = (client * ports + port) * GEN_SERVERS + server. */
static uint32_t tuple_client(const gen *g, uint32_t t)
{
    return t / GEN_SERVERS / g->cfg.ports;
}

static uint32_t tuple_port(const gen *g, uint32_t t)
{
    return GEN_CLIENT_PORT0 + t / GEN_SERVERS % g->cfg.ports;
}

static uint32_t tuple_server(uint32_t t)
{
    return t % GEN_SERVERS;
}

static uint32_t client_ip(uint32_t client)
{
    return 0x0a010000u + (client / 250) * 256 + client % 250 + 1; /* 10.1.x.1-250 */
}

static uint32_t server_ip(uint32_t server)
{
    return 0xc000020au + server; /* 192.0.2.10 (RFC 5737 TEST-NET-1) */
}

/*
 * A free tuple from a random client to a random server: the client's next
 * port in sequence (4 times out of 5) or a random one, skipping open tuples.
 * Returns UINT32_MAX when every tuple tried is open.
 */
static uint32_t tuple_pick(gen *g)
{
    uint32_t ports = g->cfg.ports;
    for (uint32_t tries = 0; tries < g->cfg.clients; tries++) {
        uint32_t c = rnd_range(g, 0, g->cfg.clients - 1);
        uint32_t s = rnd_range(g, 0, GEN_SERVERS - 1);
        uint32_t *cur = &g->cursor[c * GEN_SERVERS + s];
        if (rnd_pm(g, 200))
            *cur = rnd_range(g, 0, ports - 1);
        for (uint32_t k = 0; k < ports; k++) {
            uint32_t p = (*cur + k) % ports;
            uint32_t t = (c * ports + p) * GEN_SERVERS + s;
            if (!g->busy[t]) {
                *cur = (p + 1) % ports;
                return t;
            }
        }
    }
    return UINT32_MAX;
}

/* ---- connection scripts ------------------------------------------------ */

static void push(conn *c, uint32_t gap_us, int dir, uint8_t flags,
                 uint32_t seq, uint32_t ack, uint16_t len)
{
    if (c->nsteps >= GEN_MAX_STEPS)
        abort(); /* a planning bug, not an input problem */
    c->steps[c->nsteps++] = (step){ gap_us, seq, ack, len, flags, (uint8_t)dir };
}

typedef struct plan {
    uint32_t rtt;              /* client round trip, us */
    uint32_t cseq, sseq;       /* next sequence number to send, per side */
} plan;

static uint32_t server_delay(gen *g)
{
    return rnd_range(g, 20, 300);
}

/* SYN (maybe lost and retried), SYN-ACK, ACK.  Returns false if never answered. */
static bool plan_handshake(gen *g, conn *c, plan *p)
{
    uint32_t isn = p->cseq;
    push(c, 0, DIR_C2S, TH_SYN, isn, 0, 0);
    if (rnd_pm(g, GEN_PM_SYN_DEAD)) {
        push(c, GEN_SYN_RTO_US, DIR_C2S, TH_SYN, isn, 0, 0);
        push(c, 2 * GEN_SYN_RTO_US, DIR_C2S, TH_SYN, isn, 0, 0);
        return false;
    }
    if (rnd_pm(g, GEN_PM_SYN_RETRY))
        push(c, GEN_SYN_RTO_US, DIR_C2S, TH_SYN, isn, 0, 0);
    p->cseq++; /* RFC 9293 3.4: SYN occupies one sequence number */
    push(c, server_delay(g), DIR_S2C, TH_SYN | TH_ACK, p->sseq, p->cseq, 0);
    p->sseq++;
    push(c, p->rtt, DIR_C2S, TH_ACK, p->cseq, p->sseq, 0);
    return true;
}

/* Request, optional server ACK, response in 1-3 segments with retransmissions, client ACK. */
static void plan_exchange(gen *g, conn *c, plan *p)
{
    uint16_t req = (uint16_t)rnd_range(g, GEN_REQ_MIN, GEN_REQ_MAX);
    push(c, rnd_range(g, 10, 2000), DIR_C2S, TH_PSH | TH_ACK, p->cseq, p->sseq, req);
    if (rnd_pm(g, GEN_PM_RETX))
        push(c, GEN_RTO_MIN_US + p->rtt, DIR_C2S, TH_PSH | TH_ACK, p->cseq, p->sseq, req);
    p->cseq += req;
    if (rnd_pm(g, GEN_PM_SERVER_ACK))
        push(c, server_delay(g), DIR_S2C, TH_ACK, p->sseq, p->cseq, 0);

    uint32_t resp = rnd_range(g, GEN_RESP_MIN, GEN_RESP_MAX);
    uint32_t nseg = rnd_range(g, 1, 3), first = p->sseq;
    uint16_t len[3];
    bool lost[3];
    for (uint32_t i = 0, left = resp; i < nseg; i++) {
        len[i] = (uint16_t)(i + 1 == nseg ? left : left / (nseg - i));
        left -= len[i];
        lost[i] = rnd_pm(g, GEN_PM_RETX);
        uint32_t gap = i == 0 ? rnd_range(g, 200, 10000) : rnd_range(g, 10, 50);
        push(c, gap, DIR_S2C, (uint8_t)(TH_ACK | (i + 1 == nseg ? TH_PSH : 0)),
             p->sseq, p->cseq, len[i]);
        p->sseq += len[i];
    }
    /* Lost downstream of the capture point: resent after the RTO, in order. */
    uint32_t gap = GEN_RTO_MIN_US + p->rtt, seq = first;
    for (uint32_t i = 0; i < nseg; i++) {
        if (lost[i]) {
            push(c, gap, DIR_S2C, (uint8_t)(TH_ACK | (i + 1 == nseg ? TH_PSH : 0)),
                 seq, p->cseq, len[i]);
            gap = rnd_range(g, 10, 50);
        }
        seq += len[i];
    }
    push(c, p->rtt, DIR_C2S, TH_ACK, p->cseq, p->sseq, 0);
}

/*
 * FIN handshake started by dir: FIN, then the peer's FIN (with its ACK, or
 * after a separate ACK), then the last ACK.  RFC 9293 3.6: FIN counts one.
 */
static void plan_fin_close(gen *g, conn *c, plan *p, int dir, uint32_t first_gap)
{
    uint32_t *mine = dir == DIR_C2S ? &p->cseq : &p->sseq;
    uint32_t *peer = dir == DIR_C2S ? &p->sseq : &p->cseq;
    uint32_t to_peer = dir == DIR_C2S ? server_delay(g) : p->rtt;
    uint32_t to_me = dir == DIR_C2S ? p->rtt : server_delay(g);
    push(c, first_gap, dir, TH_FIN | TH_ACK, *mine, *peer, 0);
    (*mine)++;
    if (rnd_pm(g, 500)) {
        push(c, to_peer, !dir, TH_ACK, *peer, *mine, 0);
        to_peer = rnd_range(g, 50, 2000);
    }
    push(c, to_peer, !dir, TH_FIN | TH_ACK, *peer, *mine, 0);
    (*peer)++;
    push(c, to_me, dir, TH_ACK, *mine, *peer, 0);
}

/* Abortive close (SO_LINGER 0): RST with SEQ = the sender's next sequence number. */
static void plan_close(gen *g, conn *c, plan *p)
{
    uint32_t idle = rnd_pm(g, GEN_PM_IDLE) ? rnd_range(g, 500000, 3000000) : 0;
    if (rnd_pm(g, GEN_PM_RST)) {
        if (rnd_pm(g, 600))
            push(c, idle + rnd_range(g, 10, 3000), DIR_C2S, TH_RST | TH_ACK, p->cseq, p->sseq, 0);
        else
            push(c, idle + server_delay(g), DIR_S2C, TH_RST | TH_ACK, p->sseq, p->cseq, 0);
    } else if (rnd_pm(g, GEN_PM_SERVER_CLOSE)) {
        plan_fin_close(g, c, p, DIR_S2C, idle + server_delay(g));
    } else {
        plan_fin_close(g, c, p, DIR_C2S, idle + rnd_range(g, 10, 5000));
    }
}

/* Plans the whole connection on tuple t, starting at now_us. */
static void plan_conn(gen *g, conn *c, uint32_t t, uint64_t now_us)
{
    uint32_t clock = (uint32_t)(now_us * 16); /* 16 MHz ISN clock, wraps */
    plan p = {
        .rtt = rnd_range(g, GEN_RTT_MIN_US, GEN_RTT_MAX_US),
        .cseq = (uint32_t)mix(g->cfg.seed, 2 * (uint64_t)t) + clock,
        .sseq = (uint32_t)mix(g->cfg.seed, 2 * (uint64_t)t + 1) + clock,
    };
    memset(c, 0, offsetof(conn, steps));
    c->tuple = t;
    c->opened_us = now_us;
    c->ip_id[0] = (uint16_t)splitmix64(&g->rng);
    c->ip_id[1] = (uint16_t)splitmix64(&g->rng);
    if (!plan_handshake(g, c, &p)) {
        g->st.dead++;
        return;
    }
    plan_exchange(g, c, &p);
    plan_close(g, c, &p);
}

/* ---- packet bytes ------------------------------------------------------ */

static uint8_t *put16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
    return p + 2;
}

static uint8_t *put32(uint8_t *p, uint32_t v)
{
    return put16(put16(p, v >> 16), v & 0xffff);
}

/* RFC 1071 one's complement sum of n bytes, not folded. */
static uint32_t sum16(const uint8_t *p, size_t n, uint32_t sum)
{
    for (size_t i = 0; i + 1 < n; i += 2)
        sum += (uint32_t)p[i] << 8 | p[i + 1];
    if (n & 1)
        sum += (uint32_t)p[n - 1] << 8;
    return sum;
}

static uint16_t fold(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

/* Linux option layouts: SYN MSS,SACK_PERM,TS,NOP,WS (20 bytes); others NOP,NOP,TS (12). */
static uint8_t *put_options(uint8_t *o, uint8_t flags, uint32_t tsval, uint32_t tsecr)
{
    if (flags & TH_SYN) {
        *o++ = 2; *o++ = 4; o = put16(o, GEN_MSS);       /* RFC 9293 3.7.1 MSS */
        *o++ = 4; *o++ = 2;                               /* RFC 2018 SACK permitted */
        *o++ = 8; *o++ = 10; o = put32(put32(o, tsval), tsecr); /* RFC 7323 3 TS */
        *o++ = 1;
        *o++ = 3; *o++ = 3; *o++ = 7;                     /* RFC 7323 2 window scale */
        return o;
    }
    *o++ = 1; *o++ = 1;
    *o++ = 8; *o++ = 10;
    return put32(put32(o, tsval), tsecr);
}

static uint16_t window(uint8_t flags, int dir)
{
    if (flags & TH_SYN)
        return dir == DIR_C2S ? 64240 : 65160;
    return dir == DIR_C2S ? 502 : 509; /* scaled by 2^7 */
}

/* Builds the packet for step s of c at now_us into g->pkt; returns its length. */
static size_t build_packet(gen *g, conn *c, const step *s, uint64_t now_us)
{
    uint32_t t = c->tuple, cli = tuple_client(g, t), srv = tuple_server(t);
    uint32_t cip = client_ip(cli), sip = server_ip(srv);
    uint32_t cport = tuple_port(g, t), sport = GEN_SERVER_PORT0 + srv;
    bool c2s = s->dir == DIR_C2S;
    uint32_t host = c2s ? cli : g->cfg.clients + srv;
    uint32_t tsval = g->ts_base[host] + (uint32_t)(now_us / 1000);
    uint32_t tsecr = s->flags == TH_SYN ? 0 : c->ts_last[!s->dir];
    c->ts_last[s->dir] = tsval;

    uint8_t *p = g->pkt, *ip, *tcp;
    if (g->cfg.dlt == DLT_EN10MB) {
        static const uint8_t cmac[6] = { 0x02, 0, 0, 0, 0, 1 }, smac[6] = { 0x02, 0, 0, 0, 0, 2 };
        memcpy(p, c2s ? smac : cmac, 6);
        memcpy(p + 6, c2s ? cmac : smac, 6);
        p = put16(p + 12, 0x0800);
    }
    size_t optlen = (s->flags & TH_SYN) ? OPT_SYN_LEN : OPT_TS_LEN;
    size_t tcplen = TCP_HLEN + optlen + s->len;
    ip = p;
    p = put16(p, 0x4500);                           /* v4, IHL 5, DSCP 0 */
    p = put16(p, (uint32_t)(IP_HLEN + tcplen));     /* total length */
    p = put16(p, c->ip_id[s->dir]++);
    p = put16(p, 0x4000);                           /* DF */
    *p++ = c2s ? 61 : 64;                           /* client 3 hops away */
    *p++ = 6;
    p = put16(p, 0);
    p = put32(put32(p, c2s ? cip : sip), c2s ? sip : cip);
    put16(ip + 10, fold(sum16(ip, IP_HLEN, 0)));

    tcp = p;
    p = put16(put16(p, c2s ? cport : sport), c2s ? sport : cport);
    p = put32(put32(p, s->seq), s->ack);
    *p++ = (uint8_t)(((TCP_HLEN + optlen) / 4) << 4);
    *p++ = s->flags;
    p = put16(p, window(s->flags, s->dir));
    p = put16(put16(p, 0), 0);                      /* checksum, urgent */
    p = put_options(p, s->flags, tsval, tsecr);
    memcpy(p, g->payload, s->len);

    /* RFC 9293 3.1: checksum over the pseudo-header, header and payload. */
    uint32_t sum = sum16(ip + 12, 8, 6 + (uint32_t)tcplen);
    sum = sum16(tcp, TCP_HLEN + optlen, sum) + g->payload_sum[s->len];
    put16(tcp + 16, fold(sum));
    return (size_t)(p - g->pkt) + s->len;
}

/* ---- the event loop ---------------------------------------------------- */

static void count_open(gen *g, uint64_t now_us)
{
    g->st.open_area += (double)g->open * (double)(now_us - g->last_t_us);
    g->last_t_us = now_us;
}

static int conn_alloc(gen *g, uint32_t *id)
{
    if (g->free_len == 0) {
        size_t cap = g->conns_cap ? g->conns_cap * 2 : 1024;
        conn *cs = realloc(g->conns, cap * sizeof *cs);
        uint32_t *fs = cs ? realloc(g->free_ids, cap * sizeof *fs) : NULL;
        if (cs)
            g->conns = cs;
        if (!fs)
            return -ENOMEM;
        g->free_ids = fs;
        for (size_t i = cap; i > g->conns_cap; i--)
            g->free_ids[g->free_len++] = (uint32_t)(i - 1);
        g->conns_cap = cap;
    }
    *id = g->free_ids[--g->free_len];
    return 0;
}

/* Starts a connection at now_us and schedules the next arrival. */
static int on_arrival(gen *g, uint64_t now_us)
{
    uint32_t id, t = tuple_pick(g);
    uint64_t pace = 0;
    if (t != UINT32_MAX) {
        if (conn_alloc(g, &id) < 0)
            return -ENOMEM;
        conn *c = &g->conns[id];
        g->busy[t] = 1;
        g->st.conns++;
        g->st.tuples += g->uses[t] == 0;
        g->st.reuses += g->uses[t] != 0;
        g->st.reuses_soon += g->uses[t] != 0 && now_us - g->closed_us[t] < GEN_REUSE_WINDOW_US;
        g->uses[t]++;
        plan_conn(g, c, t, now_us);
        g->scheduled += c->nsteps;
        g->open++;
        if (g->open > g->st.open_peak)
            g->st.open_peak = g->open;
        if (heap_push(g, now_us, id) < 0)
            return -ENOMEM;
        pace = c->nsteps;
    }
    if (g->scheduled >= g->cfg.packets)
        return 0;
    /* Mean gap = packets brought / rate, uniform jitter 0..2x. */
    uint64_t mean_us = (pace ? pace : 1) * 1000000u / GEN_PKT_RATE;
    return heap_push(g, now_us + rnd_range(g, 0, (uint32_t)(2 * mean_us)), EVENT_ARRIVAL);
}

/* Writes the next packet of connection id; closes it after its last one. */
static int on_step(gen *g, pcap_dumper_t *d, uint32_t id, uint64_t now_us)
{
    conn *c = &g->conns[id];
    const step *s = &c->steps[c->next++];
    size_t len = build_packet(g, c, s, now_us);
    struct pcap_pkthdr h = { .caplen = (bpf_u_int32)len, .len = (bpf_u_int32)len };
    h.ts.tv_sec = (time_t)(GEN_EPOCH_S + now_us / 1000000);
    h.ts.tv_usec = (suseconds_t)(now_us % 1000000);
    pcap_dump((u_char *)d, &h, g->pkt);
    g->st.packets++;
    g->st.bytes += len;
    g->st.end_us = now_us;
    if (c->next < c->nsteps)
        return heap_push(g, now_us + c->steps[c->next].gap_us, id);
    g->busy[c->tuple] = 0;
    g->closed_us[c->tuple] = now_us;
    g->open--;
    g->free_ids[g->free_len++] = id;
    return 0;
}

static int gen_run(gen *g, pcap_dumper_t *d)
{
    int rc = heap_push(g, 0, EVENT_ARRIVAL);
    while (rc == 0 && g->heap_len > 0) {
        event e;
        heap_pop(g, &e);
        count_open(g, e.t_us);
        rc = e.id == EVENT_ARRIVAL ? on_arrival(g, e.t_us) : on_step(g, d, e.id, e.t_us);
    }
    return rc;
}

/* ---- setup, output, command line --------------------------------------- */

static int gen_init(gen *g, const gen_config *cfg)
{
    memset(g, 0, sizeof *g);
    g->cfg = *cfg;
    g->rng = cfg->seed;
    size_t ntuples = (size_t)cfg->clients * cfg->ports * GEN_SERVERS;
    size_t nhosts = (size_t)cfg->clients + GEN_SERVERS;
    g->busy = calloc(ntuples, sizeof *g->busy);
    g->uses = calloc(ntuples, sizeof *g->uses);
    g->closed_us = calloc(ntuples, sizeof *g->closed_us);
    g->cursor = calloc((size_t)cfg->clients * GEN_SERVERS, sizeof *g->cursor);
    g->ts_base = calloc(nhosts, sizeof *g->ts_base);
    if (!g->busy || !g->uses || !g->closed_us || !g->cursor || !g->ts_base)
        return -ENOMEM;
    for (size_t h = 0; h < nhosts; h++)
        g->ts_base[h] = (uint32_t)mix(cfg->seed ^ 0x7473u, h);
    for (size_t i = 0; i < (size_t)cfg->clients * GEN_SERVERS; i++)
        g->cursor[i] = (uint32_t)(mix(cfg->seed ^ 0x706fu, i) % cfg->ports);
    for (size_t i = 0; i < GEN_MSS; i++)
        g->payload[i] = (uint8_t)('a' + i % 26);
    for (size_t i = 0; i < GEN_MSS; i++)
        g->payload_sum[i + 1] = g->payload_sum[i] + ((i & 1) ? g->payload[i] : (uint32_t)g->payload[i] << 8);
    return 0;
}

static void gen_free(gen *g)
{
    free(g->heap);
    free(g->conns);
    free(g->free_ids);
    free(g->busy);
    free(g->uses);
    free(g->closed_us);
    free(g->cursor);
    free(g->ts_base);
}

static void print_stats(const gen *g, double wall_s)
{
    const gen_stats *s = &g->st;
    double dur = (double)s->end_us / 1e6;
    double mib = (double)s->bytes / 1048576.0;
    double rate = dur > 0 ? (double)s->packets / dur : 0.0;
    double open_mean = s->end_us ? s->open_area / (double)s->end_us : 0.0;
    fprintf(stderr, "gen: %s: %" PRIu64 " packets (%.1f MiB of frames), ", g->cfg.out, s->packets, mib);
    fprintf(stderr, "%" PRIu64 " connections (%" PRIu64 " never answered), ", s->conns, s->dead);
    fprintf(stderr, "%" PRIu64 " distinct 4-tuples, %" PRIu64 " reuses ", s->tuples, s->reuses);
    fprintf(stderr, "(%" PRIu64 " within 60 s of the previous close)\n", s->reuses_soon);
    fprintf(stderr, "gen: %.1f s of capture time (%.0f packets/s), ", dur, rate);
    fprintf(stderr, "open connections: mean %.0f, peak %" PRIu64 "; written in %.2f s\n", open_mean, s->open_peak, wall_s);
}

/* Opens the output with a large stdio buffer ("-" is stdout). */
static pcap_dumper_t *open_output(pcap_t *dead, const char *path)
{
    FILE *f = strcmp(path, "-") == 0 ? stdout : fopen(path, "wb");
    if (!f) {
        fprintf(stderr, "gen: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    setvbuf(f, NULL, _IOFBF, 1 << 20);
    pcap_dumper_t *d = pcap_dump_fopen(dead, f);
    if (!d) {
        fprintf(stderr, "gen: %s: %s\n", path, pcap_geterr(dead));
        fclose(f);
    }
    return d;
}

static int write_capture(const gen_config *cfg)
{
    int rc = 1;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    gen *g = malloc(sizeof *g);
    if (!g || gen_init(g, cfg) < 0) {
        fprintf(stderr, "gen: out of memory\n");
        goto out_free;
    }
    pcap_t *dead = pcap_open_dead(cfg->dlt, 65535);
    if (!dead) {
        fprintf(stderr, "gen: pcap_open_dead failed\n");
        goto out_free;
    }
    pcap_dumper_t *d = open_output(dead, cfg->out);
    if (!d)
        goto out_close_dead;
    if (gen_run(g, d) < 0)
        fprintf(stderr, "gen: out of memory after %" PRIu64 " packets\n", g->st.packets);
    else if (pcap_dump_flush(d) < 0 || ferror(pcap_dump_file(d)))
        fprintf(stderr, "gen: %s: write failed: %s\n", cfg->out, strerror(errno));
    else
        rc = 0;
    pcap_dump_close(d);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (rc == 0)
        print_stats(g, (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
out_close_dead:
    pcap_close(dead);
out_free:
    if (g)
        gen_free(g);
    free(g);
    return rc;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: gen -o FILE [-n PACKETS] [--seed N] [--clients N] [--ports N] [--linktype en10mb|raw]\n"
               "Writes a synthetic pcap of at least PACKETS (default 2000000) TCP packets; '-o -' is stdout.\n");
}

/* Parses a decimal in [lo, hi]; returns false (with a message) otherwise. */
static bool parse_u64(const char *opt, const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = s ? strtoull(s, &end, 10) : 0;
    if (!s || errno || end == s || *end || s[0] == '-' || v < lo || v > hi) {
        fprintf(stderr, "gen: %s: expected a number from %" PRIu64 " to %" PRIu64 ", got '%s'\n",
                opt, lo, hi, s ? s : "");
        return false;
    }
    *out = v;
    return true;
}

static int parse_args(int argc, char **argv, gen_config *cfg)
{
    uint64_t v;
    for (int i = 1; i < argc; i += 2) { /* every option takes a value */
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            exit(0);
        } else if (!strcmp(a, "-o")) {
            if (!val)
                break;
            cfg->out = val;
        } else if (!strcmp(a, "-n") || !strcmp(a, "--packets")) {
            if (!parse_u64(a, val, 1, UINT32_MAX, &cfg->packets))
                return -1;
        } else if (!strcmp(a, "--seed")) {
            if (!parse_u64(a, val, 0, UINT64_MAX, &cfg->seed))
                return -1;
        } else if (!strcmp(a, "--clients")) {
            if (!parse_u64(a, val, 1, 65000, &v))
                return -1;
            cfg->clients = (uint32_t)v;
        } else if (!strcmp(a, "--ports")) {
            if (!parse_u64(a, val, 1, 65536 - GEN_CLIENT_PORT0, &v))
                return -1;
            cfg->ports = (uint32_t)v;
        } else if (!strcmp(a, "--linktype")) {
            if (val && !strcmp(val, "en10mb"))
                cfg->dlt = DLT_EN10MB;
            else if (val && !strcmp(val, "raw"))
                cfg->dlt = DLT_RAW;
            else {
                fprintf(stderr, "gen: --linktype: expected en10mb or raw, got '%s'\n", val ? val : "");
                return -1;
            }
        } else {
            fprintf(stderr, "gen: unknown argument '%s'\n", a);
            return -1;
        }
    }
    if (!cfg->out)
        fprintf(stderr, "gen: -o FILE is required\n");
    return cfg->out ? 0 : -1;
}

int main(int argc, char **argv)
{
    gen_config cfg = {
        .packets = GEN_DEFAULT_PACKETS,
        .seed = 1,
        .clients = GEN_DEFAULT_CLIENTS,
        .ports = GEN_DEFAULT_PORTS,
        .dlt = DLT_EN10MB,
    };
    if (parse_args(argc, argv, &cfg) < 0) {
        usage(stderr);
        return 2;
    }
    return write_capture(&cfg);
}
