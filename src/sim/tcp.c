/* tcp.c - TCP endpoints: TCBs (incl. TIME_WAIT), handshake and SYN retransmission,
 * data with go-back-N retransmission, FIN and RST close, the TIME_WAIT rules of the OS
 * profiles, tw_recycle's per-peer timestamp cache, ISN and TS clocks, IP-IDs and the
 * ephemeral port allocators. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sim_internal.h"

/* app steps run by TMR_APP */
enum { APP_NONE, APP_RESPOND, APP_CLOSE, APP_READ_TIMEOUT };

static inline bool seq_lt(uint32_t a, uint32_t b) { return (int32_t)(a - b) < 0; }
static inline bool seq_gt(uint32_t a, uint32_t b) { return (int32_t)(a - b) > 0; }
static inline bool seq_leq(uint32_t a, uint32_t b) { return (int32_t)(a - b) <= 0; }

/* ---- the TCB table: one hash over (laddr, lport, raddr, rport); addresses are unique
 * to host instances, so no host index is needed in the key ------------------------ */

static inline size_t tkey(uint32_t la, uint16_t lp, uint32_t ra, uint16_t rp, size_t size)
{
    uint64_t k = ((uint64_t)la << 32 | ra) * 0x9e3779b97f4a7c15ULL;
    k ^= ((uint64_t)lp << 16 | rp) * 0xc2b2ae3d27d4eb4fULL;
    k ^= k >> 29;
    return (size_t)(k * 0xbf58476d1ce4e5b9ULL >> 40) & (size - 1);
}

static sim_tcb *tcb_find(sim_world *w, uint32_t la, uint16_t lp, uint32_t ra, uint16_t rp)
{
    if (!w->thash_size)
        return NULL;
    for (uint32_t i = w->thash[tkey(la, lp, ra, rp, w->thash_size)]; i; i = w->tcbs[i - 1].hnext) {
        sim_tcb *t = &w->tcbs[i - 1];
        if (t->lport == lp && t->rport == rp && t->laddr == la && t->raddr == ra)
            return t;
    }
    return NULL;
}

static void tcb_link(sim_world *w, uint32_t i)
{
    sim_tcb *t = &w->tcbs[i];
    size_t k = tkey(t->laddr, t->lport, t->raddr, t->rport, w->thash_size);
    t->hnext = w->thash[k];
    w->thash[k] = i + 1;
}

static int thash_grow(sim_world *w)
{
    size_t ns = w->thash_size ? w->thash_size * 2 : 4096;
    uint32_t *nh = calloc(ns, sizeof *nh);
    if (!nh)
        return -ENOMEM;
    free(w->thash);
    w->thash = nh;
    w->thash_size = ns;
    for (uint32_t i = 0; i < w->n_tcbs; i++)
        if (w->tcbs[i].state != ST_FREE)
            tcb_link(w, i);
    return 0;
}

static sim_tcb *tcb_new(sim_world *w, uint32_t host, uint32_t la, uint16_t lp, uint32_t ra,
                        uint16_t rp)
{
    if (w->tcb_live + 1 > w->thash_size && thash_grow(w) < 0)
        goto oom;
    uint32_t i;
    if (w->free_tcb) {
        i = w->free_tcb - 1;
        w->free_tcb = w->tcbs[i].hnext;
    } else {
        if (w->n_tcbs == w->cap_tcbs) {
            size_t nc = w->cap_tcbs ? w->cap_tcbs * 2 : 1024;
            sim_tcb *nt = realloc(w->tcbs, nc * sizeof *nt);
            if (!nt)
                goto oom;
            w->tcbs = nt;
            w->cap_tcbs = nc;
        }
        i = (uint32_t)w->n_tcbs++;
        w->tcbs[i].gen = 0;
    }
    sim_tcb *t = &w->tcbs[i];
    uint32_t gen = t->gen;
    memset(t, 0, sizeof *t);
    t->gen = gen;
    t->host = host;
    t->laddr = la;
    t->lport = lp;
    t->raddr = ra;
    t->rport = rp;
    t->state = ST_CLOSE_WAIT; /* placeholder until the caller sets it; not ST_FREE */
    t->rto = SIM_RTO_INIT;
    t->ipid = (uint16_t)sim_rng_next(&w->rng); /* Linux: random inet_id at connect */
    tcb_link(w, i);
    w->tcb_live++;
    return t;
oom:
    w->oom = 1;
    return NULL;
}

static inline uint32_t tcb_index(const sim_world *w, const sim_tcb *t)
{
    return (uint32_t)(t - w->tcbs);
}

static void set_state(sim_world *w, sim_tcb *t, int st)
{
    sim_rhost *h = &w->hosts[t->host];
    if (t->state == ST_TIME_WAIT && st != ST_TIME_WAIT) {
        h->tw_now--;
        w->tw_total--;
    }
    if (st == ST_TIME_WAIT && t->state != ST_TIME_WAIT) {
        w->tw_total++;
        if (++h->tw_now > h->tw_peak) {
            h->tw_peak = h->tw_now;
            h->tw_peak_at = w->now;
        }
    }
    t->state = (uint8_t)st;
}

static void tcb_free(sim_world *w, sim_tcb *t)
{
    if (t->client && !t->done) {
        t->done = 1;
        sim_app_outcome(w, t, SIM_FAIL_DATA);
    }
    uint32_t i = tcb_index(w, t);
    for (uint32_t *pp = &w->thash[tkey(t->laddr, t->lport, t->raddr, t->rport, w->thash_size)];
         *pp; pp = &w->tcbs[*pp - 1].hnext)
        if (*pp == i + 1) {
            *pp = t->hnext;
            break;
        }
    if (t->counted &&
        sim_cmap_add(&w->dest_ports, (uint64_t)t->laddr << 32 | t->raddr, t->rport, -1) < 0)
        w->oom = 1;
    set_state(w, t, ST_FREE);
    t->gen++;
    t->hnext = w->free_tcb;
    w->free_tcb = i + 1;
    w->tcb_live--;
}

/* An attempt's outcome, once. */
static void outcome(sim_world *w, sim_tcb *t, int fail)
{
    if (!t->client || t->done)
        return;
    t->done = 1;
    sim_app_outcome(w, t, fail);
}

/* ---- timers: lazy re-arming; an event is pushed only when the due time moves earlier
 * than the pending one, and a firing event re-pushes itself if the due time moved later */

static void arm(sim_world *w, sim_tcb *t, int which, sim_ns due)
{
    t->due[which] = due;
    if (t->ev_at[which] && t->ev_at[which] <= due)
        return;
    t->ev_at[which] = due;
    sim_event e = { .at = due, .type = EV_TCB_TIMER, .idx = tcb_index(w, t), .gen = t->gen,
                    .which = (uint8_t)which };
    sim_schedule(w, &e);
}

static inline void disarm(sim_tcb *t, int which)
{
    t->due[which] = 0;
}

/* ---- clocks ---------------------------------------------------------------------- */

/* TSval: the host's clock (ts_hz ticks, origin = random uptime + clock_skew) plus the
 * offset of the profile's scope (tcp-behaviour.md 3.6). */
static uint32_t ts_now(const sim_world *w, const sim_rhost *h, uint32_t off)
{
    sim_ns ms = (w->now + h->ts_origin) / SIM_NS_PER_MS;
    return (uint32_t)((uint64_t)ms * h->os->ts_hz / 1000u) + off;
}

static uint32_t ts_offset(const sim_world *w, const sim_rhost *h, const sim_tcb *t)
{
    switch (h->os->ts_offset) {
    case SIM_TSOFF_PER_HOST:  /* Linux secure_tcp_ts_off(saddr, daddr), 4.11..6.x */
        return (uint32_t)sim_mix(w->seed ^ 0x75u, t->laddr, t->raddr);
    case SIM_TSOFF_PER_TUPLE: /* Linux 4.10 and >= 7.0: secure_tcp_seq_and_ts_off() */
        return (uint32_t)sim_mix(w->seed ^ 0x76u, (uint64_t)t->laddr << 16 | t->lport,
                                 (uint64_t)t->raddr << 16 | t->rport);
    default:
        return 0;
    }
}

/* RFC 6528: keyed hash of the 4-tuple plus a clock (Linux: ktime_ns >> 6, 64 ns tick,
 * secure_tcp_seq()), or random per connection. */
static uint32_t isn_new(sim_world *w, const sim_rhost *h, const sim_tcb *t)
{
    if (h->os->isn == SIM_ISN_RANDOM)
        return (uint32_t)sim_rng_next(&w->rng);
    uint64_t f = sim_mix(w->seed ^ 0x15u, (uint64_t)t->laddr << 16 | t->lport,
                         (uint64_t)t->raddr << 16 | t->rport);
    return (uint32_t)f + (uint32_t)((uint64_t)w->now >> 6);
}

/* ---- output ---------------------------------------------------------------------- */

typedef struct seg {
    uint32_t seq, ack;
    uint16_t len;
    uint8_t flags;
    bool syn_opts;
    bool ts;            /* carry TS (val/ecr computed) */
    uint32_t tsecr;
    bool df;
    bool no_socket;     /* sent without a full socket (RST to nothing, TW ACK) */
} seg;

static void emit(sim_world *w, uint32_t host, sim_tcb *t, uint32_t la, uint16_t lp,
                 uint32_t ra, uint16_t rp, const seg *s)
{
    sim_rhost *h = &w->hosts[host];
    const sim_os *os = h->os;
    sim_pkt *p = sim_pkt_new(w);
    if (!p)
        return;
    p->src = la;
    p->dst = ra;
    p->sport = lp;
    p->dport = rp;
    p->seq = s->seq;
    p->ack = s->ack;
    p->flags = s->flags;
    p->len = s->len;
    p->ttl = os->ttl;
    p->df = s->df;
    /* IP-ID: a global counter (Windows) or per socket; Linux sends 0 on DF packets that
     * have no full socket (ip_select_ident_segs, tcp-behaviour.md 9.10) */
    if (os->ipid_global)
        p->ipid = h->ipid++;
    else if (t && !s->no_socket)
        p->ipid = t->ipid++;
    else
        p->ipid = 0;
    if (s->syn_opts) {
        p->syn_opts = 1;
        p->layout = (uint8_t)os->syn_layout;
        p->mss = os->mss;
        p->ws = os->wscale;
        p->win = os->syn_window;
    } else {
        p->win = (uint16_t)(t && t->ws_ok ? (uint32_t)os->syn_window >> os->wscale :
                                              os->syn_window);
        if (s->flags == TF_RST)
            p->win = 0;
    }
    if (s->ts) {
        p->has_ts = 1;
        p->tsval = ts_now(w, h, t ? t->ts_off : 0);
        p->tsecr = s->tsecr;
    }
    w->packets++;
    if (h->capmask)
        sim_cap_write(w, h->capmask, p);
    sim_net_send(w, h->net, p);
}

static void tcb_emit(sim_world *w, sim_tcb *t, seg *s)
{
    if (t->ts_ok && !s->syn_opts) {
        s->ts = true;
        s->tsecr = t->ts_recent;
    }
    emit(w, t->host, t, t->laddr, t->lport, t->raddr, t->rport, s);
}

static void send_ack(sim_world *w, sim_tcb *t)
{
    seg s = { .seq = t->snd_nxt, .ack = t->rcv_nxt, .flags = TF_ACK, .df = true };
    tcb_emit(w, t, &s);
}

static void send_syn(sim_world *w, sim_tcb *t)
{
    const sim_os *os = w->hosts[t->host].os;
    seg s = { .seq = t->iss, .flags = TF_SYN, .syn_opts = true, .df = true,
              .ts = os->timestamps };
    t->n_syn++;
    emit(w, t->host, t, t->laddr, t->lport, t->raddr, t->rport, &s);
}

/* Linux answers from a request sock, not a full socket: its SYN-ACKs carry IP-ID 0. */
static void send_synack(sim_world *w, sim_tcb *t)
{
    seg s = { .seq = t->iss, .ack = t->rcv_nxt, .flags = TF_SYN | TF_ACK, .syn_opts = true,
              .df = true, .ts = t->ts_ok, .tsecr = t->ts_recent, .no_socket = true };
    t->n_syn++;
    emit(w, t->host, t, t->laddr, t->lport, t->raddr, t->rport, &s);
}

/* RFC 9293 3.5.2: to a segment with ACK, RST seq = SEG.ACK; without, RST|ACK with seq 0 and
 * ack = SEG.SEQ + SEG.LEN (+1 for SYN and FIN).  Linux tcp_v4_send_reset: no options. */
static void send_reset_for(sim_world *w, uint32_t host, const sim_pkt *p)
{
    seg s = { .df = true, .no_socket = true };
    if (p->flags & TF_ACK) {
        s.seq = p->ack;
        s.flags = TF_RST;
    } else {
        s.flags = TF_RST | TF_ACK;
        s.ack = p->seq + p->len + !!(p->flags & TF_SYN) + !!(p->flags & TF_FIN);
    }
    emit(w, host, NULL, p->dst, p->dport, p->src, p->sport, &s);
}

static sim_ns rtx_timeout(sim_tcb *t)
{
    return t->rto;
}

/* Send what the application wrote and has not been sent, in MSS segments, then the FIN
 * once the data is out.  No congestion or flow control (the model's limit). */
static void output(sim_world *w, sim_tcb *t, bool df)
{
    bool sent = false;
    /* the MSS counts TCP options against it (Linux tcp_current_mss(): 1448 with TS) */
    uint32_t mss = t->mss - (t->ts_ok ? 12u : 0u);
    while (seq_lt(t->snd_nxt, t->snd_end)) {
        uint32_t left = t->snd_end - t->snd_nxt;
        uint16_t len = (uint16_t)(left < mss ? left : mss);
        seg s = { .seq = t->snd_nxt, .ack = t->rcv_nxt, .len = len, .df = df,
                  .flags = TF_ACK | (len == left ? TF_PSH : 0) };
        tcb_emit(w, t, &s);
        t->snd_nxt += len;
        sent = true;
    }
    if (t->closing && !t->fin_sent && t->snd_nxt == t->snd_end) {
        seg s = { .seq = t->snd_nxt, .ack = t->rcv_nxt, .flags = TF_FIN | TF_ACK, .df = true };
        tcb_emit(w, t, &s);
        t->snd_nxt++;
        t->fin_sent = 1;
        if (t->state == ST_ESTABLISHED)
            set_state(w, t, ST_FIN_WAIT_1);
        else if (t->state == ST_CLOSE_WAIT)
            set_state(w, t, ST_LAST_ACK);
        sent = true;
    }
    if (sent && !t->due[TMR_RTX])
        arm(w, t, TMR_RTX, w->now + rtx_timeout(t));
}

static bool app_df(const sim_world *w, const sim_tcb *t)
{
    return w->apps[t->app].cfg->dont_fragment;
}

/* ---- TIME_WAIT -------------------------------------------------------------------- */

static sim_recycle *recycle_slot(sim_world *w, uint32_t la, uint32_t ra, bool create)
{
    if (create && (w->recycle_n + 1) * 2 > w->recycle_size) {
        size_t ns = w->recycle_size ? w->recycle_size * 2 : 256;
        sim_recycle *nr = calloc(ns, sizeof *nr);
        if (!nr) {
            w->oom = 1;
            return NULL;
        }
        for (size_t i = 0; i < w->recycle_size; i++) {
            sim_recycle *o = &w->recycle[i];
            if (!o->used)
                continue;
            size_t j = (size_t)sim_mix(0, o->laddr, o->raddr) & (ns - 1);
            while (nr[j].used)
                j = (j + 1) & (ns - 1);
            nr[j] = *o;
        }
        free(w->recycle);
        w->recycle = nr;
        w->recycle_size = ns;
    }
    if (!w->recycle_size)
        return NULL;
    size_t j = (size_t)sim_mix(0, la, ra) & (w->recycle_size - 1);
    for (;; j = (j + 1) & (w->recycle_size - 1)) {
        sim_recycle *r = &w->recycle[j];
        if (!r->used) {
            if (!create)
                return NULL;
            r->used = true;
            r->laddr = la;
            r->raddr = ra;
            w->recycle_n++;
            return r;
        }
        if (r->laddr == la && r->raddr == ra)
            return r;
    }
}

/* Linux tcp_time_wait(); with tw_recycle (4.9 tcp_remember_stamp / tcp_tw_remember_stamp)
 * the peer's last TSval is remembered per peer IP and the bucket lives 3.5 x RTO
 * (tcp-behaviour.md 3.10).  The record is overwritten when the new TSval is not older or
 * the record is older than TCP_PAWS_MSL. */
static void enter_time_wait(sim_world *w, sim_tcb *t)
{
    const sim_os *os = w->hosts[t->host].os;
    set_state(w, t, ST_TIME_WAIT);
    disarm(t, TMR_APP);
    t->tw_entry = w->now;
    sim_ns len = os->timewait;
    if (os->tw_recycle && t->ts_ok) {
        sim_recycle *r = recycle_slot(w, t->laddr, t->raddr, true);
        if (r) {
            if (!r->stamp || (int32_t)(r->tsval - t->ts_recent) <= 0 ||
                w->now - r->stamp > SIM_PAWS_MSL) {
                r->tsval = t->ts_recent;
                r->stamp = w->now;
            }
            len = (t->rto << 2) - (t->rto >> 1); /* (rto << 2) - (rto >> 1) = 3.5 x RTO */
            t->tw_recycled = 1;
        }
    }
    t->due[TMR_RTX] = 0;
    arm(w, t, TMR_RTX, w->now + len);
}

static void tw_rearm(sim_world *w, sim_tcb *t)
{
    if (!t->tw_recycled)
        arm(w, t, TMR_RTX, w->now + w->hosts[t->host].os->timewait);
}

/* The TW ACK (Linux tcp_v4_timewait_ack): seq = tw_snd_nxt, ack = tw_rcv_nxt, TSecr =
 * tw_ts_recent; at most one per tcp_invalid_ratelimit (tcp_oow_rate_limited). */
static void tw_ack(sim_world *w, sim_tcb *t)
{
    const sim_os *os = w->hosts[t->host].os;
    if (t->chal_sent && w->now - t->tw_last_ack < os->tw_ack_ratelimit)
        return;
    t->chal_sent = 1;
    t->tw_last_ack = w->now;
    seg s = { .seq = t->snd_nxt, .ack = t->rcv_nxt, .flags = TF_ACK, .df = true,
              .no_socket = true, .ts = t->ts_ok, .tsecr = t->ts_recent };
    emit(w, t->host, t, t->laddr, t->lport, t->raddr, t->rport, &s);
}

static void listen_input(sim_world *w, uint32_t host, sim_pkt *p, bool from_tw, uint32_t isn);

/* A segment for a 4-tuple this host holds in TIME_WAIT.  Linux rules from
 * tcp_timewait_state_process() (tcp-behaviour.md 3.3); other stacks by tw_syn (1.1, 5,
 * 6.1, 6.2). */
static void tw_input(sim_world *w, sim_tcb *t, sim_pkt *p)
{
    const sim_os *os = w->hosts[t->host].os;
    bool syn = (p->flags & (TF_SYN | TF_ACK | TF_RST)) == TF_SYN;
    bool paws = t->ts_ok && p->has_ts && t->ts_recent && (int32_t)(p->tsval - t->ts_recent) < 0;
    if (p->flags & TF_RST) {
        /* RFC 1337 (rfc1337 / BSD / XNU ignore it); Linux kills on an exact RST, and RSTs
         * carry no TS so PAWS does not apply (rule 1) */
        if (!os->rfc1337 && p->seq == t->rcv_nxt && !paws)
            tcb_free(w, t);
        sim_pkt_free(w, p);
        return;
    }
    if (syn) {
        bool accept = false;
        uint32_t isn = 0;
        uint32_t host = t->host;
        switch (os->tw_syn) {
        case SIM_TW_SYN_LINUX: /* rule 2: not PAWS-old and (SEQ newer or TSval newer) */
            accept = !paws && (seq_gt(p->seq, t->rcv_nxt) ||
                               (t->ts_ok && p->has_ts && seq_gt(p->tsval, t->ts_recent)));
            isn = t->snd_nxt + 65535 + 2;
            if (!isn)
                isn = 1;
            break;
        case SIM_TW_SYN_FREEBSD: /* tcp_twcheck(): SEQ > rcv_nxt recycles, else silent */
            accept = seq_gt(p->seq, t->rcv_nxt);
            break;
        case SIM_TW_SYN_MACOS: /* PAWS-old drop; beyond the window accept; else challenge */
            if (paws) {
                sim_pkt_free(w, p);
                return;
            }
            accept = seq_gt(p->seq, t->rcv_nxt + 65535u);
            break;
        default: /* Windows [R/U]: ignored */
            sim_pkt_free(w, p);
            return;
        }
        if (accept) {
            tcb_free(w, t);
            listen_input(w, host, p, true, isn);
            return;
        }
        if (os->tw_syn == SIM_TW_SYN_FREEBSD) {
            sim_pkt_free(w, p);
            return;
        }
        tw_ack(w, t);
        if (paws && os->tw_syn == SIM_TW_SYN_LINUX) /* rule 4: re-arm if PAWS-rejected */
            tw_rearm(w, t);
        sim_pkt_free(w, p);
        return;
    }
    if (os->tw_syn == SIM_TW_SYN_FREEBSD && !(p->flags & TF_ACK)) {
        sim_pkt_free(w, p);
        return;
    }
    /* rule 1: in-window bare ACK re-arms silently; a retransmitted FIN (or anything else
     * with ACK) is answered with the TW ACK and re-arms */
    if (!paws && p->seq == t->rcv_nxt && p->len == 0 && !(p->flags & TF_FIN)) {
        if (os->tw_syn == SIM_TW_SYN_LINUX) {
            tw_rearm(w, t);
            if (p->has_ts)
                t->ts_recent = p->tsval;
        }
        sim_pkt_free(w, p);
        return;
    }
    if (p->flags & TF_FIN)
        t->chal_sent = 0; /* a retransmitted FIN is always answered */
    tw_ack(w, t);
    if (paws || (p->flags & TF_ACK))
        tw_rearm(w, t);
    sim_pkt_free(w, p);
}

/* ---- the passive side ------------------------------------------------------------- */

static int64_t app_for_server(const sim_world *w, uint32_t host, uint16_t port)
{
    for (size_t i = 0; i < w->n_apps; i++)
        if (w->apps[i].server == host && w->apps[i].cfg->port == port)
            return (int64_t)i;
    return -1;
}

/* tw_recycle's passive check (4.9 tcp_conn_request + tcp_peer_is_proven, 3.10): a SYN
 * from a peer whose record is younger than TCP_PAWS_MSL and whose TSval is behind the
 * record by more than TCP_PAWS_WINDOW is dropped silently (PAWSPassive). */
static bool recycle_rejects(sim_world *w, uint32_t la, const sim_pkt *p)
{
    sim_recycle *r = recycle_slot(w, la, p->src, false);
    if (!r || !r->stamp || w->now - r->stamp >= SIM_PAWS_MSL || !p->has_ts)
        return false;
    return (int32_t)(r->tsval - p->tsval) > SIM_PAWS_WINDOW;
}

static void listen_input(sim_world *w, uint32_t host, sim_pkt *p, bool from_tw, uint32_t isn)
{
    sim_rhost *h = &w->hosts[host];
    int64_t app = h->cfg->listen ? app_for_server(w, host, p->dport) : -1;
    if (app < 0) {
        send_reset_for(w, host, p); /* RFC 9293 3.10.7.1: CLOSED port */
        sim_pkt_free(w, p);
        return;
    }
    if (!from_tw && h->os->tw_recycle && recycle_rejects(w, p->dst, p)) {
        sim_pkt_free(w, p);
        return;
    }
    sim_tcb *t = tcb_new(w, host, p->dst, p->dport, p->src, p->sport);
    if (!t) {
        sim_pkt_free(w, p);
        return;
    }
    t->app = (uint16_t)app;
    t->state = ST_SYN_RECV;
    t->irs = p->seq;
    t->rcv_nxt = p->seq + 1;
    /* RFC 7323 3.2: TS only if the SYN had it and we send it (Windows echoes) */
    t->ts_ok = p->has_ts && (h->os->timestamps || h->os->echo_timestamps);
    t->ts_recent = p->tsval;
    t->ts_recent_stamp = w->now;
    t->ts_off = ts_offset(w, h, t);
    t->ws_ok = p->syn_opts;
    t->mss = p->syn_opts && p->mss && p->mss < h->os->mss ? p->mss : h->os->mss;
    t->iss = isn ? isn : isn_new(w, h, t);
    t->snd_una = t->iss;
    t->snd_nxt = t->iss + 1;
    t->snd_end = t->snd_nxt;
    t->t_first_syn = w->now;
    sim_pkt_free(w, p);
    send_synack(w, t);
    if (h->os->n_synack_retries > 0)
        arm(w, t, TMR_RTX, t->t_first_syn + h->os->synack_retry_at[0]);
    else
        arm(w, t, TMR_RTX, t->t_first_syn + 63 * SIM_NS_PER_S);
}

/* ---- application steps ------------------------------------------------------------ */

static void app_close(sim_world *w, sim_tcb *t)
{
    const sim_app *a = w->apps[t->app].cfg;
    bool closer = t->client == (a->closer == SIM_CLOSE_CLIENT);
    if (closer && a->rst_close) {
        /* SO_LINGER {1, 0}: Linux __tcp_close() sends RST (seq snd_nxt) and destroys the
         * socket, no TIME_WAIT (tcp-behaviour.md 1.2) */
        seg s = { .seq = t->snd_nxt, .ack = t->rcv_nxt, .flags = TF_RST | TF_ACK, .df = true };
        emit(w, t->host, t, t->laddr, t->lport, t->raddr, t->rport, &s);
        tcb_free(w, t);
        return;
    }
    t->closing = 1;
    output(w, t, app_df(w, t));
}

static void exchange_done(sim_world *w, sim_tcb *t)
{
    const sim_app *a = w->apps[t->app].cfg;
    outcome(w, t, -1);
    disarm(t, TMR_APP);
    if (a->closer == SIM_CLOSE_CLIENT) {
        t->app_step = APP_CLOSE;
        if (a->hold_open)
            arm(w, t, TMR_APP, w->now + a->hold_open);
        else
            app_close(w, t);
    }
}

static void server_respond(sim_world *w, sim_tcb *t)
{
    const sim_app *a = w->apps[t->app].cfg;
    t->responded = 1;
    t->snd_end += a->response_bytes;
    if (a->closer == SIM_CLOSE_SERVER) {
        if (a->hold_open) {
            t->app_step = APP_CLOSE;
            arm(w, t, TMR_APP, w->now + a->hold_open);
        } else if (a->rst_close) {
            output(w, t, app_df(w, t));
            app_close(w, t);
            return;
        } else {
            t->closing = 1;
        }
    }
    output(w, t, app_df(w, t));
}

static void server_maybe_respond(sim_world *w, sim_tcb *t)
{
    const sim_app *a = w->apps[t->app].cfg;
    if (t->responded || t->app_step == APP_RESPOND || t->rcv_got < a->request_bytes)
        return;
    if (a->server_time) {
        t->app_step = APP_RESPOND;
        arm(w, t, TMR_APP, w->now + a->server_time);
    } else {
        server_respond(w, t);
    }
}

static void client_maybe_done(sim_world *w, sim_tcb *t)
{
    const sim_app *a = w->apps[t->app].cfg;
    if (t->done)
        return;
    if (t->rcv_got < a->response_bytes)
        return;
    if (a->response_bytes == 0 && seq_lt(t->snd_una, t->snd_end))
        return;
    exchange_done(w, t);
}

/* ---- the active side -------------------------------------------------------------- */

static void push_latency(sim_world *w, sim_ns l)
{
    if (w->n_lat == w->cap_lat) {
        size_t nc = w->cap_lat ? w->cap_lat * 2 : 4096;
        sim_ns *nl = realloc(w->lat, nc * sizeof *nl);
        if (!nl) {
            w->oom = 1;
            return;
        }
        w->lat = nl;
        w->cap_lat = nc;
    }
    w->lat[w->n_lat++] = l;
}

static void established(sim_world *w, sim_tcb *t)
{
    const sim_app *a = w->apps[t->app].cfg;
    set_state(w, t, ST_ESTABLISHED);
    disarm(t, TMR_RTX);
    t->n_rtx = 0;
    /* RFC 6298 5.7: a retransmitted handshake leaves RTO at 3 s; else RTO from the RTT */
    if (t->n_syn > 1) {
        t->rto = 3 * SIM_NS_PER_S;
    } else {
        sim_ns rtt = w->now - t->t_first_syn;
        t->rto = rtt * 3 > SIM_RTO_MIN ? rtt * 3 : SIM_RTO_MIN;
    }
    if (t->client) {
        push_latency(w, w->now - t->t_first_syn);
        t->snd_end += a->request_bytes;
        t->app_step = APP_READ_TIMEOUT;
        arm(w, t, TMR_APP, w->now + SIM_READ_TIMEOUT);
        output(w, t, app_df(w, t));
        client_maybe_done(w, t);
    } else {
        server_maybe_respond(w, t);
    }
}

/* SYN_SENT (RFC 9293 3.10.7.3; Linux tcp_rcv_synsent_state_process, tcp-behaviour.md 3.5) */
static void synsent_input(sim_world *w, sim_tcb *t, sim_pkt *p)
{
    const sim_os *os = w->hosts[t->host].os;
    if (p->flags & TF_ACK) {
        if (seq_leq(p->ack, t->iss) || seq_gt(p->ack, t->snd_nxt)) {
            if (!(p->flags & TF_RST)) {
                seg s = { .seq = p->ack, .flags = TF_RST, .df = true, .no_socket = true };
                emit(w, t->host, t, t->laddr, t->lport, t->raddr, t->rport, &s);
                /* "Previous FIN/ACK or RST/ACK might be ignored": resend the first SYN
                 * after TCP_TIMEOUT_MIN */
                if (os->fast_syn_resend && t->n_rtx == 0 && !t->fast) {
                    t->fast = 1;
                    t->due[TMR_RTX] = 0;
                    arm(w, t, TMR_RTX, w->now + SIM_FAST_RESEND);
                }
            }
            sim_pkt_free(w, p);
            return;
        }
        if (p->flags & TF_RST) { /* connection refused */
            sim_pkt_free(w, p);
            outcome(w, t, SIM_FAIL_RESET);
            tcb_free(w, t);
            return;
        }
    }
    if ((p->flags & (TF_SYN | TF_ACK)) != (TF_SYN | TF_ACK)) {
        sim_pkt_free(w, p);
        return;
    }
    t->irs = p->seq;
    t->rcv_nxt = p->seq + 1;
    t->snd_una = p->ack;
    t->ts_ok = os->timestamps && p->has_ts;
    t->ts_recent = p->tsval;
    t->ts_recent_stamp = w->now;
    t->ws_ok = p->syn_opts;
    t->mss = p->syn_opts && p->mss && p->mss < os->mss ? p->mss : os->mss;
    sim_pkt_free(w, p);
    send_ack(w, t);
    established(w, t);
}

/* ---- synchronized states ---------------------------------------------------------- */

static void fin_acked(sim_world *w, sim_tcb *t)
{
    const sim_os *os = w->hosts[t->host].os;
    switch (t->state) {
    case ST_FIN_WAIT_1:
        set_state(w, t, ST_FIN_WAIT_2);
        /* orphaned FIN_WAIT_2 lives tcp_fin_timeout (1.3) */
        arm(w, t, TMR_RTX, w->now + (os->fin_timeout ? os->fin_timeout : 60 * SIM_NS_PER_S));
        break;
    case ST_CLOSING:
        enter_time_wait(w, t);
        break;
    case ST_LAST_ACK:
        tcb_free(w, t);
        break;
    default:
        break;
    }
}

/* RFC 9293 3.10.7.4 reduced: exact-sequence acceptance (no reordering buffer), RFC 5961
 * RST and SYN handling, RFC 7323 PAWS and TS.Recent. */
static void sync_input(sim_world *w, sim_tcb *t, sim_pkt *p)
{
    const sim_os *os = w->hosts[t->host].os;
    if (p->flags & TF_RST) {
        if (p->seq == t->rcv_nxt) { /* RFC 5961 3.2: exact match only */
            sim_pkt_free(w, p);
            tcb_free(w, t);
            return;
        }
        sim_pkt_free(w, p);
        return;
    }
    if (p->flags & TF_SYN) {
        if (t->state == ST_SYN_RECV && !(p->flags & TF_ACK) && p->seq == t->irs) {
            send_synack(w, t); /* retransmitted SYN */
            t->n_syn--;
        } else if (!t->chal_sent || w->now - t->tw_last_ack >= os->tw_ack_ratelimit) {
            /* RFC 5961 4: challenge ACK, rate-limited (tcp_send_challenge_ack) */
            t->chal_sent = 1;
            t->tw_last_ack = w->now;
            send_ack(w, t);
        }
        sim_pkt_free(w, p);
        return;
    }
    if (t->ts_ok && p->has_ts && (int32_t)(p->tsval - t->ts_recent) < 0) {
        send_ack(w, t); /* RFC 7323 5.3: PAWS reject, ACK and drop */
        sim_pkt_free(w, p);
        return;
    }
    if (t->ts_ok && p->has_ts && seq_leq(p->seq, t->rcv_nxt)) {
        t->ts_recent = p->tsval;
        t->ts_recent_stamp = w->now;
    }
    if (!(p->flags & TF_ACK)) {
        sim_pkt_free(w, p);
        return;
    }
    if (t->state == ST_SYN_RECV) {
        if (p->ack != t->iss + 1) {
            send_reset_for(w, t->host, p);
            sim_pkt_free(w, p);
            return;
        }
        t->snd_una = p->ack;
        established(w, t);
        if (t->state == ST_FREE) {
            sim_pkt_free(w, p);
            return;
        }
    }
    uint32_t gen = t->gen;
    if (seq_gt(p->ack, t->snd_una) && seq_leq(p->ack, t->snd_nxt)) {
        t->snd_una = p->ack;
        t->n_rtx = 0;
        disarm(t, TMR_RTX);
        if (seq_lt(t->snd_una, t->snd_nxt))
            arm(w, t, TMR_RTX, w->now + rtx_timeout(t));
        if (t->fin_sent && t->snd_una == t->snd_end + 1)
            fin_acked(w, t);
        if (t->gen != gen || t->state == ST_FREE) {
            sim_pkt_free(w, p);
            return;
        }
        if (t->client)
            client_maybe_done(w, t);
    }
    bool need_ack = false;
    if (p->len || (p->flags & TF_FIN)) {
        if (p->seq != t->rcv_nxt) {
            send_ack(w, t); /* duplicate or out of order: dup ACK, dropped */
            sim_pkt_free(w, p);
            return;
        }
        t->rcv_nxt += p->len;
        t->rcv_got += p->len;
        need_ack = true;
    }
    bool fin = p->flags & TF_FIN;
    sim_pkt_free(w, p);
    if (fin) {
        t->rcv_nxt++;
        t->fin_rcvd = 1;
        send_ack(w, t);
        need_ack = false;
        switch (t->state) {
        case ST_ESTABLISHED:
            set_state(w, t, ST_CLOSE_WAIT);
            break;
        case ST_FIN_WAIT_1: /* our FIN not acked yet: simultaneous close */
            set_state(w, t, ST_CLOSING);
            break;
        case ST_FIN_WAIT_2:
            enter_time_wait(w, t);
            return;
        default:
            break;
        }
    }
    if (need_ack)
        send_ack(w, t);
    if (t->client) {
        client_maybe_done(w, t);
        if (t->gen != gen || t->state == ST_FREE)
            return;
    } else {
        server_maybe_respond(w, t);
    }
    /* the passive closer's application closes when it sees the end of the stream */
    if (t->state == ST_CLOSE_WAIT && !t->closing) {
        if (t->client && !t->done)
            outcome(w, t, SIM_FAIL_DATA);
        t->closing = 1;
        output(w, t, app_df(w, t));
    }
}

void sim_tcp_input(sim_world *w, uint32_t host, sim_pkt *p)
{
    sim_tcb *t = tcb_find(w, p->dst, p->dport, p->src, p->sport);
    if (!t) {
        if ((p->flags & (TF_SYN | TF_ACK | TF_RST)) == TF_SYN) {
            listen_input(w, host, p, false, 0);
            return;
        }
        if (!(p->flags & TF_RST))
            send_reset_for(w, host, p);
        sim_pkt_free(w, p);
        return;
    }
    switch (t->state) {
    case ST_SYN_SENT:
        synsent_input(w, t, p);
        break;
    case ST_TIME_WAIT:
        tw_input(w, t, p);
        break;
    default:
        sync_input(w, t, p);
        break;
    }
}

/* ---- timers ----------------------------------------------------------------------- */

static void syn_timer(sim_world *w, sim_tcb *t)
{
    const sim_os *os = w->hosts[t->host].os;
    if (t->fast) {
        t->fast = 0;
        send_syn(w, t);
        int k = t->n_rtx;
        arm(w, t, TMR_RTX, t->t_first_syn + (k < os->n_syn_retries ? os->syn_retry_at[k] :
                                                                        os->connect_timeout));
        return;
    }
    if (t->n_rtx >= os->n_syn_retries) {
        outcome(w, t, SIM_FAIL_TIMEOUT); /* ETIMEDOUT; nothing sent */
        tcb_free(w, t);
        return;
    }
    t->n_rtx++;
    send_syn(w, t);
    int k = t->n_rtx;
    arm(w, t, TMR_RTX, t->t_first_syn + (k < os->n_syn_retries ? os->syn_retry_at[k] :
                                                                    os->connect_timeout));
}

static void synack_timer(sim_world *w, sim_tcb *t)
{
    const sim_os *os = w->hosts[t->host].os;
    if (t->n_rtx >= os->n_synack_retries) {
        tcb_free(w, t); /* request dropped (tcp_synack_retries exhausted) */
        return;
    }
    t->n_rtx++;
    send_synack(w, t);
    int k = t->n_rtx;
    sim_ns at = k < os->n_synack_retries ? os->synack_retry_at[k] :
                os->synack_retry_at[os->n_synack_retries - 1] * 2 + SIM_NS_PER_S;
    arm(w, t, TMR_RTX, t->t_first_syn + at);
}

/* RTO: go back to snd_una and resend everything outstanding, doubling the RTO (RFC 6298
 * 5.5); after SIM_DATA_RETRIES the connection is dropped without a RST (Linux
 * tcp_write_err()). */
static void data_timer(sim_world *w, sim_tcb *t)
{
    if (t->state == ST_FIN_WAIT_2) {
        tcb_free(w, t);
        return;
    }
    if (!seq_lt(t->snd_una, t->snd_nxt))
        return;
    if (++t->n_rtx > SIM_DATA_RETRIES) {
        outcome(w, t, SIM_FAIL_DATA);
        tcb_free(w, t);
        return;
    }
    t->rto = t->rto * 2 < SIM_RTO_MAX ? t->rto * 2 : SIM_RTO_MAX;
    t->snd_nxt = t->snd_una;
    if (t->fin_sent && t->snd_una != t->snd_end + 1)
        t->fin_sent = 0;
    if (t->state == ST_FIN_WAIT_1 || t->state == ST_CLOSING || t->state == ST_LAST_ACK) {
        if (!t->fin_sent) {
            /* resend the FIN without changing state */
            int st = t->state;
            output(w, t, app_df(w, t));
            t->state = (uint8_t)st;
        }
    } else {
        output(w, t, app_df(w, t));
    }
    arm(w, t, TMR_RTX, w->now + t->rto);
}

static void app_timer(sim_world *w, sim_tcb *t)
{
    int step = t->app_step;
    t->app_step = APP_NONE;
    switch (step) {
    case APP_RESPOND:
        server_respond(w, t);
        break;
    case APP_CLOSE:
        app_close(w, t);
        break;
    case APP_READ_TIMEOUT:
        if (!t->done) {
            outcome(w, t, SIM_FAIL_DATA);
            app_close(w, t);
        }
        break;
    default:
        break;
    }
}

void sim_tcp_timer(sim_world *w, uint32_t idx, uint32_t gen, int which, sim_ns at)
{
    if (idx >= w->n_tcbs)
        return;
    sim_tcb *t = &w->tcbs[idx];
    if (t->gen != gen || t->state == ST_FREE)
        return;
    if (t->ev_at[which] == at)
        t->ev_at[which] = 0;
    sim_ns due = t->due[which];
    if (!due)
        return;
    if (due > w->now) {
        if (!t->ev_at[which] || due < t->ev_at[which]) {
            t->due[which] = 0;
            arm(w, t, which, due);
        }
        return;
    }
    t->due[which] = 0;
    if (which == TMR_APP) {
        app_timer(w, t);
        return;
    }
    switch (t->state) {
    case ST_SYN_SENT:
        syn_timer(w, t);
        break;
    case ST_SYN_RECV:
        synack_timer(w, t);
        break;
    case ST_TIME_WAIT:
        tcb_free(w, t);
        break;
    default:
        data_timer(w, t);
        break;
    }
}

/* ---- connect(): ephemeral ports --------------------------------------------------- */

/* Can this host use (la, port) -> (ra, rp)?  A TIME_WAIT tuple can be taken over by
 * Linux tcp_twsk_unique() (tcp-behaviour.md 3.7): tw_reuse 1 (2 only on loopback) with
 * timestamps on the old connection after tw_reuse_delay, or at once when the port was
 * bound explicitly and the old connection had timestamps.  *tw gets the bucket. */
static bool port_usable(sim_world *w, const sim_os *os, uint32_t la, uint16_t port,
                        uint32_t ra, uint16_t rp, bool bound, sim_tcb **tw)
{
    *tw = NULL;
    sim_tcb *t = tcb_find(w, la, port, ra, rp);
    if (!t)
        return true;
    if (t->state != ST_TIME_WAIT || os->tw_syn != SIM_TW_SYN_LINUX || !t->ts_ok)
        return false;
    bool loop = (la >> 24) == 127 || (ra >> 24) == 127;
    bool ok = bound || ((os->tw_reuse == 1 || (os->tw_reuse == 2 && loop)) &&
                        w->now > t->tw_entry + os->tw_reuse_delay);
    if (ok)
        *tw = t;
    return ok;
}

/* Linux __inet_hash_connect() (3.8): per-destination start from a keyed hash (reseeded
 * every 10 s) plus table_perturb, ports of the range's parity first, then the others;
 * on success the perturb slot advances by max(i, rand(0..7) x 2) + 2. */
static int pick_linux(sim_world *w, sim_rhost *h, uint32_t ra, uint16_t rp, sim_tcb **tw)
{
    const sim_os *os = h->os;
    uint32_t lo = os->port_lo, n = (uint32_t)os->port_hi - lo + 1;
    uint64_t off = sim_mix(w->seed ^ 0x90u, (uint64_t)h->addr << 32 | ra,
                           (uint64_t)rp << 32 | (uint64_t)(w->now / (10 * SIM_NS_PER_S)));
    uint32_t slot = (uint32_t)(off >> 56);
    uint32_t start = ((uint32_t)off + h->perturb[slot]) % n;
    start &= ~1u;
    for (uint32_t par = 0; par < 2; par++)
        for (uint32_t i = 0; i < n; i += 2) {
            uint32_t port = lo + (start + i + par) % n;
            if (port_usable(w, os, h->addr, (uint16_t)port, ra, rp, false, tw)) {
                uint32_t r = sim_rng_below(&w->rng, 8) * 2;
                h->perturb[slot] = (uint16_t)(h->perturb[slot] + (i > r ? i : r) + 2);
                return (int)port;
            }
        }
    return -1;
}

static int pick_port(sim_world *w, sim_rhost *h, uint32_t ra, uint16_t rp, sim_tcb **tw)
{
    const sim_os *os = h->os;
    /* every port of the range taken by connect()s to this destination, and no TIME_WAIT
     * reuse possible: EADDRNOTAVAIL without scanning the range */
    bool loop = (h->addr >> 24) == 127 || (ra >> 24) == 127;
    bool reuse = os->tw_syn == SIM_TW_SYN_LINUX && (os->tw_reuse == 1 || (os->tw_reuse == 2 && loop));
    if (!reuse && sim_cmap_get(&w->dest_ports, (uint64_t)h->addr << 32 | ra, rp) >=
                  (uint32_t)os->port_hi - os->port_lo + 1u) {
        *tw = NULL;
        return -1;
    }
    if (os->port_alloc == SIM_PORTS_LINUX)
        return pick_linux(w, h, ra, rp, tw);
    uint32_t lo = os->port_lo, n = (uint32_t)os->port_hi - lo + 1;
    uint32_t start = os->port_alloc == SIM_PORTS_RANDOM ? sim_rng_below(&w->rng, n) :
                     (h->seq_port >= lo && h->seq_port <= os->port_hi ? h->seq_port - lo : 0);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t port = lo + (start + i) % n;
        if (port_usable(w, os, h->addr, (uint16_t)port, ra, rp, false, tw)) {
            h->seq_port = (uint16_t)(port + 1 > os->port_hi ? lo : port + 1);
            return (int)port;
        }
    }
    return -1;
}

void sim_tcp_connect(sim_world *w, uint32_t app, uint32_t host, uint32_t copy)
{
    sim_rapp *ra = &w->apps[app];
    const sim_app *a = ra->cfg;
    sim_rhost *h = &w->hosts[host];
    const sim_rhost *srv = &w->hosts[ra->server];
    sim_tcb *tw = NULL;
    int port;
    bool bound = a->src_port_lo != 0;
    if (bound) {
        uint16_t *next = &ra->bind_next[copy];
        if (*next < a->src_port_lo || *next > a->src_port_hi)
            *next = a->src_port_lo;
        port = *next;
        *next = (uint16_t)(*next >= a->src_port_hi ? a->src_port_lo : *next + 1);
        if (!port_usable(w, h->os, h->addr, (uint16_t)port, srv->addr, a->port, true, &tw))
            port = -1;
    } else {
        port = pick_port(w, h, srv->addr, a->port, &tw);
    }
    if (port < 0) {
        /* EADDRNOTAVAIL (connect) / EADDRINUSE (bind): nothing is sent (9.1) */
        sim_tcb fake = { .client = 1, .app = (uint16_t)app, .host = host };
        sim_app_outcome(w, &fake, SIM_FAIL_NO_PORT);
        return;
    }
    uint32_t reuse_isn = 0, reuse_ts = 0;
    bool reuse = tw != NULL;
    if (reuse) {
        /* tcp_twsk_unique(): write_seq = tw_snd_nxt + 65535 + 2, ts_recent inherited */
        reuse_isn = tw->snd_nxt + 65535 + 2;
        if (!reuse_isn)
            reuse_isn = 1;
        reuse_ts = tw->ts_recent;
        tcb_free(w, tw);
    }
    sim_tcb *t = tcb_new(w, host, h->addr, (uint16_t)port, srv->addr, a->port);
    if (!t) {
        sim_tcb fake = { .client = 1, .app = (uint16_t)app, .host = host };
        sim_app_outcome(w, &fake, SIM_FAIL_NO_PORT);
        return;
    }
    t->client = 1;
    t->bound = bound;
    if (port >= h->os->port_lo && port <= h->os->port_hi) {
        t->counted = 1;
        if (sim_cmap_add(&w->dest_ports, (uint64_t)t->laddr << 32 | t->raddr, t->rport, 1) < 0)
            w->oom = 1;
    }
    t->app = (uint16_t)app;
    t->state = ST_SYN_SENT;
    t->ts_off = ts_offset(w, h, t);
    t->iss = reuse ? reuse_isn : isn_new(w, h, t);
    if (reuse)
        t->ts_recent = reuse_ts;
    t->snd_una = t->iss;
    t->snd_nxt = t->iss + 1;
    t->snd_end = t->snd_nxt;
    t->mss = h->os->mss;
    t->t_first_syn = w->now;
    send_syn(w, t);
    arm(w, t, TMR_RTX, w->now + (h->os->n_syn_retries > 0 ? h->os->syn_retry_at[0] :
                                                             h->os->connect_timeout));
}

void sim_tcp_free_all(sim_world *w)
{
    free(w->tcbs);
    free(w->thash);
    free(w->recycle);
    sim_cmap_free(&w->dest_ports);
    w->tcbs = NULL;
    w->thash = NULL;
    w->recycle = NULL;
}
