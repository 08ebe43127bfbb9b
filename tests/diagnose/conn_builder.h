/* conn_builder.h - build flow_conn records for detector tests without packets. */
#ifndef TCPDOCTOR_TEST_CONN_BUILDER_H
#define TCPDOCTOR_TEST_CONN_BUILDER_H

#include <stdint.h>
#include <string.h>

#include "tcpdoctor/flow.h"

#define TB_S(x) ((int64_t)((x) * 1e9))      /* seconds -> ns */
#define TB_T0 (1700000000LL * 1000000000LL)  /* time origin of every test */

static inline pkt_addr tb_v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
    pkt_addr x;
    memset(&x, 0, sizeof x);
    x.b[10] = x.b[11] = 0xff;
    x.b[12] = a; x.b[13] = b; x.b[14] = c; x.b[15] = d;
    return x;
}

/* What a test says about one incarnation; tb_make() fills a flow_conn. */
typedef struct tb_spec {
    pkt_addr client, server;
    uint16_t cport, sport;
    uint32_t incarnation;           /* 0 -> 1 */
    uint64_t first_packet;          /* packet numbers are first_packet.. */
    double   start_s;               /* first SYN, seconds after TB_T0 */
    double   dur_s;                 /* first to last packet */
    uint16_t syns;                  /* 0 -> 1 */
    double   syn_gap_s;             /* between SYN transmissions */
    enum flow_handshake answer;     /* first answer: SYNACK, ACK_ONLY, RST, NONE */
    bool     succeeded;             /* a SYN-ACK came in the end */
    enum flow_side closed_by;       /* first FIN; NONE with reset_by for RST */
    enum flow_side reset_by;
    uint8_t  client_ttl, server_ttl;    /* 0 -> 64 */
    bool     ts;                    /* timestamps on */
    uint32_t client_tsval_syn;      /* TSval of the client's SYN */
    uint32_t client_tsval_last;
    uint32_t client_isn, server_isn;
    uint32_t client_final_seq;      /* 0 -> client_isn + 101 */
    uint64_t fragments;
    enum flow_end end;              /* 0 = FLOW_END_REUSED; set EOF for the last */
} tb_spec;

static inline flow_conn tb_make(const tb_spec *s)
{
    flow_conn c;
    memset(&c, 0, sizeof c);
    uint64_t pkt = s->first_packet ? s->first_packet : 1;
    int64_t t = TB_T0 + TB_S(s->start_s);
    uint16_t syns = s->syns ? s->syns : 1;
    c.incarnation = s->incarnation ? s->incarnation : 1;
    c.client.addr = s->client;
    c.client.port = s->cport;
    c.server.addr = s->server;
    c.server.port = s->sport;
    c.first_packet = pkt;
    c.first_ts = t;
    c.syn_count = syns;
    for (uint16_t i = 0; i < syns && i < FLOW_MAX_SYN; i++) {
        c.syn_packet[i] = pkt + i;
        c.syn_ts[i] = t + TB_S(s->syn_gap_s * i);
    }
    c.client.isn_seen = true;
    c.client.isn = s->client_isn;
    c.client.seq_seen = true;
    c.client.next_seq = s->client_final_seq ? s->client_final_seq : s->client_isn + 101;
    c.client.ttl_first = c.client.ttl_min = c.client.ttl_max = s->client_ttl ? s->client_ttl : 64;
    c.client.packets = syns;
    c.client.syn_opts_seen = true;
    c.client.syn_opts.has_mss = true;
    c.client.syn_opts.mss = 1460;
    if (s->ts) {
        c.client.syn_opts.has_ts = true;
        c.client.syn_opts.tsval = s->client_tsval_syn;
        c.client.ts_seen = true;
        c.client.tsval_first = s->client_tsval_syn;
        c.client.tsval_last = s->client_tsval_last ? s->client_tsval_last : s->client_tsval_syn;
        c.client.tsval_first_ts = t;
        c.client.tsval_last_ts = t + TB_S(s->dur_s);
    }
    c.first_answer = s->answer;
    c.handshake = s->succeeded ? FLOW_HS_SYNACK : s->answer;
    int64_t last_syn = c.syn_ts[(syns < FLOW_MAX_SYN ? syns : FLOW_MAX_SYN) - 1];
    if (s->answer != FLOW_HS_NONE) {
        c.handshake_packet = pkt + 1;
        c.handshake_ts = c.syn_ts[0] + TB_S(0.001);
    }
    if (s->succeeded) {
        c.synack_count = 1;
        c.synack_packet = pkt + syns;
        c.synack_ts = last_syn + TB_S(0.001);
        c.server.isn_seen = true;
        c.server.isn = s->server_isn;
        c.established = true;
        c.established_packet = pkt + syns + 1;
        c.established_ts = last_syn + TB_S(0.002);
        c.server.packets = 4;
        c.client.packets += 4;
        c.client.bytes = 100;
        c.server.bytes = 500;
    }
    if (s->answer == FLOW_HS_ACK_ONLY)
        c.handshake_rsts = 1;
    c.server.ttl_first = c.server.ttl_min = c.server.ttl_max = s->server_ttl ? s->server_ttl : 64;
    c.closed_by = s->closed_by;
    c.reset_by = s->reset_by;
    int64_t end = t + TB_S(s->dur_s);
    if (s->closed_by != FLOW_SIDE_NONE) {
        c.client.fin_seen = c.server.fin_seen = true;
        c.client.fin_ts = c.server.fin_ts = end;
        c.client.fin_packet = c.server.fin_packet = pkt + 8;
    }
    /* an RST leaves with its sender's TTL (else the lifecycle stage takes
       it for a third party's) */
    if (s->reset_by == FLOW_SIDE_CLIENT) {
        c.client.rst_count = 1;
        c.client.rst_ts = end;
        c.client.rst_packet = pkt + 9;
        c.client.rst_ttl = c.client.ttl_first;
    } else if (s->reset_by == FLOW_SIDE_SERVER) {
        c.server.rst_count = 1;
        c.server.rst_ts = end;
        c.server.rst_packet = pkt + 9;
        c.server.rst_ttl = c.server.ttl_first;
    }
    c.fragments = s->fragments;
    c.last_packet = pkt + 10;
    c.last_ts = end;
    c.end = s->end;
    strcpy(c.state, s->succeeded ? (s->reset_by ? "RSTO" : "SF") : "S0");
    return c;
}

#endif
