/* test_flow.c - unit tests of the connection table: incarnations, roles, states, history, capacity. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tcpdoctor/flow.h"

/* ---- a tiny packet builder --------------------------------------------- */

#define MAXREC 64

typedef struct world {
    flow_table *t;
    flow_conn rec[MAXREC];
    int nrec;
    uint64_t num;
    int64_t now;
} world;

static void sink(void *ctx, const flow_conn *c, void **tuple_data)
{
    (void)tuple_data;
    world *w = ctx;
    assert_true(w->nrec < MAXREC);
    w->rec[w->nrec++] = *c;
}

static world *world_new(uint32_t capacity, int64_t linger_ns)
{
    world *w = calloc(1, sizeof *w);
    assert_non_null(w);
    flow_config cfg = {
        .capacity = capacity,
        .linger_ns = linger_ns,
        .hash_seed = 42,
        .sink = sink,
        .sink_ctx = w,
    };
    char err[128];
    w->t = flow_table_new(&cfg, err, sizeof err);
    assert_non_null(w->t);
    w->now = 1700000000LL * 1000000000LL;
    return w;
}

static void world_free(world *w)
{
    flow_table_free(w->t);
    free(w);
}

static pkt_addr v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
    pkt_addr x = { { 0 } };
    x.b[10] = x.b[11] = 0xff;
    x.b[12] = a; x.b[13] = b; x.b[14] = c; x.b[15] = d;
    return x;
}

typedef struct ep {
    pkt_addr addr;
    uint16_t port;
    uint8_t ttl;
} ep;

/* One segment from a to b, dt_ms after the previous one. */
static void seg(world *w, int dt_ms, const ep *a, const ep *b, uint8_t flags, uint32_t seq,
                uint32_t ack, uint32_t len)
{
    pkt_view v;
    memset(&v, 0, sizeof v);
    w->now += (int64_t)dt_ms * 1000000LL;
    v.num = ++w->num;
    v.ts_ns = w->now;
    v.ip_version = 4;
    v.ip_proto = 6;
    v.ttl = a->ttl;
    v.src = a->addr;
    v.dst = b->addr;
    v.sport = a->port;
    v.dport = b->port;
    v.has_tcp = true;
    v.tcp_opts_ok = true;
    v.seq = seq;
    v.ack = ack;
    v.flags = flags;
    v.window = 65535;
    v.tcp_hlen = 20;
    v.payload_len = len;
    v.payload_captured = len;
    v.ip_len = 40 + len;
    flow_table_packet(w->t, &v);
}

enum { F = PKT_TCP_FIN, SYN = PKT_TCP_SYN, R = PKT_TCP_RST, P = PKT_TCP_PSH, A = PKT_TCP_ACK };

static const ep CLI = { { { 0 } }, 40000, 64 };

static ep client(void) { ep e = CLI; e.addr = v4(10, 0, 0, 1); return e; }
static ep server(void) { ep e = { v4(10, 0, 0, 2), 80, 64 }; return e; }

/* A whole connection: handshake, 100 bytes up, 200 down, close by `closer`
 * ('c' or 's'), client ISN ci, server ISN si. */
static void full_conn(world *w, const ep *c, const ep *s, uint32_t ci, uint32_t si, char closer)
{
    seg(w, 1, c, s, SYN, ci, 0, 0);
    seg(w, 1, s, c, SYN | A, si, ci + 1, 0);
    seg(w, 1, c, s, A, ci + 1, si + 1, 0);
    seg(w, 1, c, s, P | A, ci + 1, si + 1, 100);
    seg(w, 1, s, c, A, si + 1, ci + 101, 0);
    seg(w, 1, s, c, P | A, si + 1, ci + 101, 200);
    seg(w, 1, c, s, A, ci + 101, si + 201, 0);
    if (closer == 's') {
        seg(w, 1, s, c, F | A, si + 201, ci + 101, 0);
        seg(w, 1, c, s, A, ci + 101, si + 202, 0);
        seg(w, 1, c, s, F | A, ci + 101, si + 202, 0);
        seg(w, 1, s, c, A, si + 202, ci + 102, 0);
    } else {
        seg(w, 1, c, s, F | A, ci + 101, si + 201, 0);
        seg(w, 1, s, c, A, si + 201, ci + 102, 0);
        seg(w, 1, s, c, F | A, si + 201, ci + 102, 0);
        seg(w, 1, c, s, A, ci + 102, si + 202, 0);
    }
}

/* ---- tests -------------------------------------------------------------- */

static void server_close_is_sf_closed_by_server(void **state)
{
    (void)state;
    world *w = world_new(0, 0);
    ep c = client(), s = server();
    full_conn(w, &c, &s, 1000, 5000, 's');
    flow_table_flush(w->t);
    assert_int_equal(w->nrec, 1);
    const flow_conn *r = &w->rec[0];
    assert_int_equal(r->incarnation, 1);
    assert_int_equal(r->client.port, 40000);
    assert_int_equal(r->server.port, 80);
    assert_false(r->roles_inferred);
    assert_string_equal(r->state, "SF");
    assert_string_equal(r->history, "ShADadfF");
    assert_int_equal(r->closed_by, FLOW_SIDE_SERVER);
    assert_int_equal(r->reset_by, FLOW_SIDE_NONE);
    assert_int_equal(r->handshake, FLOW_HS_SYNACK);
    assert_int_equal(r->first_answer, FLOW_HS_SYNACK);
    assert_int_equal(r->syn_count, 1);
    assert_int_equal(r->client.packets, 6);
    assert_int_equal(r->server.packets, 5);
    assert_int_equal(r->client.bytes, 100);
    assert_int_equal(r->server.bytes, 200);
    assert_int_equal(r->client.isn, 1000);
    assert_int_equal(r->server.isn, 5000);
    assert_int_equal(r->client.next_seq, 1102);   /* ISN + SYN + 100 + FIN */
    assert_int_equal(r->server.next_seq, 5202);
    assert_int_equal(r->first_packet, 1);
    assert_int_equal(r->last_packet, 11);
    assert_true(r->established);
    assert_int_equal(r->end, FLOW_END_EOF);
    world_free(w);
}

static void client_close_is_sf_closed_by_client(void **state)
{
    (void)state;
    world *w = world_new(0, 0);
    ep c = client(), s = server();
    full_conn(w, &c, &s, 1000, 5000, 'c');
    flow_table_flush(w->t);
    assert_int_equal(w->nrec, 1);
    assert_string_equal(w->rec[0].state, "SF");
    assert_string_equal(w->rec[0].history, "ShADadFf");
    assert_int_equal(w->rec[0].closed_by, FLOW_SIDE_CLIENT);
    world_free(w);
}

/* tcp-behaviour.md 9.2: the server holds TIME_WAIT, a new SYN (new ISN) is
 * answered with the old connection's ACK, the client resets, its SYN
 * retransmission (same ISN) is accepted. */
static void timewait_reuse_is_second_incarnation_with_retried_syn(void **state)
{
    (void)state;
    world *w = world_new(0, 0);
    ep c = client(), s = server();
    full_conn(w, &c, &s, 1000, 5000, 's');
    seg(w, 2000, &c, &s, SYN, 900000, 0, 0);             /* new ISN */
    seg(w, 0, &s, &c, A, 5202, 1102, 0);                 /* TW ACK of the old conn */
    seg(w, 0, &c, &s, R, 1102, 0, 0);                    /* RST seq = that ack */
    seg(w, 2, &c, &s, SYN, 900000, 0, 0);                /* fast resend, same ISN */
    seg(w, 0, &s, &c, SYN | A, 77000, 900001, 0);
    seg(w, 0, &c, &s, A, 900001, 77001, 0);
    assert_int_equal(w->nrec, 1);                       /* first written on reuse */
    assert_int_equal(w->rec[0].end, FLOW_END_REUSED);
    assert_int_equal(w->rec[0].incarnation, 1);
    flow_table_flush(w->t);
    assert_int_equal(w->nrec, 2);
    const flow_conn *r = &w->rec[1];
    assert_int_equal(r->incarnation, 2);
    assert_int_equal(r->first_packet, 12);
    assert_int_equal(r->syn_count, 2);
    assert_int_equal(r->syn_packet[0], 12);
    assert_int_equal(r->syn_packet[1], 15);
    assert_int_equal(r->first_answer, FLOW_HS_ACK_ONLY);
    assert_int_equal(r->handshake_packet, 13);
    assert_int_equal(r->handshake, FLOW_HS_SYNACK);
    assert_int_equal(r->handshake_rsts, 1);
    assert_int_equal(r->reset_by, FLOW_SIDE_NONE);
    assert_int_equal(r->client.rst_count, 1);
    assert_int_equal(r->client.rst_packet, 14);
    assert_true(r->established);
    assert_string_equal(r->state, "S1");
    assert_string_equal(r->history, "SaRhA");   /* same-seq SYN: no 2nd S (Zeek) */
    world_free(w);
}

static void rejected_syn_is_rej(void **state)
{
    (void)state;
    world *w = world_new(0, 0);
    ep c = client(), s = server();
    seg(w, 0, &c, &s, SYN, 1000, 0, 0);
    seg(w, 0, &s, &c, R | A, 0, 1001, 0);
    flow_table_flush(w->t);
    assert_int_equal(w->nrec, 1);
    assert_string_equal(w->rec[0].state, "REJ");
    assert_string_equal(w->rec[0].history, "Sr");
    assert_int_equal(w->rec[0].handshake, FLOW_HS_RST);
    assert_int_equal(w->rec[0].reset_by, FLOW_SIDE_SERVER);
    world_free(w);
}

static void unanswered_syns_are_s0_with_their_times(void **state)
{
    (void)state;
    world *w = world_new(0, 0);
    ep c = client(), s = server();
    seg(w, 0, &c, &s, SYN, 1000, 0, 0);
    seg(w, 3000, &c, &s, SYN, 1000, 0, 0);
    seg(w, 6000, &c, &s, SYN, 1000, 0, 0);
    flow_table_flush(w->t);
    assert_int_equal(w->nrec, 1);
    const flow_conn *r = &w->rec[0];
    assert_string_equal(r->state, "S0");
    assert_string_equal(r->history, "S");
    assert_int_equal(r->syn_count, 3);
    assert_int_equal(r->syn_ts[1] - r->syn_ts[0], 3000000000LL);
    assert_int_equal(r->syn_ts[2] - r->syn_ts[0], 9000000000LL);
    assert_int_equal(r->handshake, FLOW_HS_NONE);
    world_free(w);
}

static void client_abort_after_data_is_rsto(void **state)
{
    (void)state;
    world *w = world_new(0, 0);
    ep c = client(), s = server();
    seg(w, 0, &c, &s, SYN, 1000, 0, 0);
    seg(w, 0, &s, &c, SYN | A, 5000, 1001, 0);
    seg(w, 0, &c, &s, A, 1001, 5001, 0);
    seg(w, 0, &c, &s, P | A, 1001, 5001, 10);
    seg(w, 0, &s, &c, P | A, 5001, 1011, 20);
    seg(w, 0, &c, &s, R | A, 1011, 5021, 0);
    flow_table_flush(w->t);
    assert_int_equal(w->nrec, 1);
    assert_string_equal(w->rec[0].state, "RSTO");
    assert_string_equal(w->rec[0].history, "ShADdR");
    assert_int_equal(w->rec[0].reset_by, FLOW_SIDE_CLIENT);
    assert_int_equal(w->rec[0].closed_by, FLOW_SIDE_NONE);
    world_free(w);
}

/* Packets both ways land on one entry whatever the address order. */
static void reply_direction_maps_to_the_same_entry(void **state)
{
    (void)state;
    world *w = world_new(0, 0);
    ep c = { v4(192, 168, 1, 9), 50000, 64 }, s = { v4(10, 0, 0, 1), 443, 128 };
    full_conn(w, &c, &s, 7, 9, 'c');
    flow_table_flush(w->t);
    assert_int_equal(w->nrec, 1);
    assert_int_equal(w->rec[0].client.port, 50000);
    assert_int_equal(w->rec[0].server.ttl_first, 128);
    assert_int_equal(w->rec[0].client.ttl_first, 64);
    world_free(w);
}

/* No SYN: the well-known port is the server; Zeek's '^' when the first
 * packet came from the server. */
static void midstream_roles_come_from_ports(void **state)
{
    (void)state;
    world *w = world_new(0, 0);
    ep c = client(), s = server();
    seg(w, 0, &s, &c, P | A, 5000, 1000, 50);
    seg(w, 0, &c, &s, A, 1000, 5050, 0);
    flow_table_flush(w->t);
    assert_int_equal(w->nrec, 1);
    const flow_conn *r = &w->rec[0];
    assert_true(r->roles_inferred);
    assert_int_equal(r->client.port, 40000);
    assert_int_equal(r->server.port, 80);
    assert_string_equal(r->history, "^dA");
    assert_int_equal(r->handshake, FLOW_HS_NOT_SEEN);
    world_free(w);
}

static void retransmitted_payload_is_counted_once_per_decade(void **state)
{
    (void)state;
    world *w = world_new(0, 0);
    ep c = client(), s = server();
    seg(w, 0, &c, &s, SYN, 1000, 0, 0);
    seg(w, 0, &s, &c, SYN | A, 5000, 1001, 0);
    seg(w, 0, &c, &s, A, 1001, 5001, 0);
    for (int i = 0; i < 12; i++)
        seg(w, 200, &c, &s, P | A, 1001, 5001, 100);
    flow_table_flush(w->t);
    assert_int_equal(w->rec[0].client.retransmits, 11);
    assert_string_equal(w->rec[0].history, "ShADTT");
    world_free(w);
}

static void full_table_evicts_the_oldest_and_counts_it(void **state)
{
    (void)state;
    world *w = world_new(2, 0);
    ep s = server();
    ep c1 = { v4(10, 0, 0, 11), 1111, 64 }, c2 = { v4(10, 0, 0, 12), 2222, 64 },
       c3 = { v4(10, 0, 0, 13), 3333, 64 };
    seg(w, 0, &c1, &s, SYN, 1, 0, 0);
    seg(w, 1, &c2, &s, SYN, 2, 0, 0);
    seg(w, 1, &c3, &s, SYN, 3, 0, 0);
    assert_int_equal(w->nrec, 1);
    assert_int_equal(w->rec[0].client.port, 1111);
    assert_int_equal(w->rec[0].end, FLOW_END_EVICTED);
    flow_stats st;
    flow_table_stats(w->t, &st);
    assert_int_equal(st.evictions, 1);
    assert_int_equal(st.tuples_peak, 2);
    flow_table_flush(w->t);
    assert_int_equal(w->nrec, 3);
    world_free(w);
}

static void closed_entry_expires_after_linger_on_packet_time(void **state)
{
    (void)state;
    world *w = world_new(0, 10LL * 1000000000LL);   /* 10 s */
    ep c = client(), s = server();
    ep other = { v4(10, 0, 0, 99), 1234, 64 };
    full_conn(w, &c, &s, 1000, 5000, 's');
    seg(w, 9000, &other, &s, SYN, 1, 0, 0);
    assert_int_equal(w->nrec, 0);
    seg(w, 2000, &other, &s, SYN, 1, 0, 0);
    assert_int_equal(w->nrec, 1);
    assert_int_equal(w->rec[0].end, FLOW_END_EXPIRED);
    flow_stats st;
    flow_table_stats(w->t, &st);
    assert_int_equal(st.expirations, 1);
    world_free(w);
    (void)CLI;
}

/* Reuse after a close with FINs: incarnation numbers count up per 4-tuple. */
static void three_lives_of_one_tuple_are_numbered(void **state)
{
    (void)state;
    world *w = world_new(0, 0);
    ep c = client(), s = server();
    full_conn(w, &c, &s, 1000, 5000, 'c');
    full_conn(w, &c, &s, 2000000, 6000000, 'c');
    full_conn(w, &c, &s, 3000000, 7000000, 'c');
    flow_table_flush(w->t);
    assert_int_equal(w->nrec, 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(w->rec[i].incarnation, (uint32_t)(i + 1));
        assert_string_equal(w->rec[i].state, "SF");
        assert_int_equal(w->rec[i].client.packets, 6);
    }
    world_free(w);
}

static void simultaneous_open_stays_one_incarnation(void **state)
{
    (void)state;
    world *w = world_new(0, 0);
    ep c = client(), s = server();
    seg(w, 0, &c, &s, SYN, 1000, 0, 0);
    seg(w, 0, &s, &c, SYN, 5000, 0, 0);
    seg(w, 0, &c, &s, SYN | A, 1000, 5001, 0);
    seg(w, 0, &s, &c, SYN | A, 5000, 1001, 0);
    flow_table_flush(w->t);
    assert_int_equal(w->nrec, 1);
    assert_int_equal(w->rec[0].client.isn, 1000);
    assert_int_equal(w->rec[0].server.isn, 5000);
    world_free(w);
}

/* Zeek: traffic picked up without a SYN stays OTH until a FIN or RST. */
static void midstream_traffic_stays_oth(void **state)
{
    (void)state;
    world *w = world_new(0, 0);
    ep c = client(), s = server();
    seg(w, 0, &c, &s, P | A, 1000, 5000, 10);
    seg(w, 1, &s, &c, P | A, 5000, 1010, 20);
    seg(w, 1, &c, &s, A, 1010, 5020, 0);
    flow_table_flush(w->t);
    assert_int_equal(w->nrec, 1);
    assert_string_equal(w->rec[0].state, "OTH");
    assert_string_equal(w->rec[0].history, "DdA");
    world_free(w);
}

/* An RST after FINs both ways does not undo the normal close (Zeek). */
static void rst_after_fins_both_ways_stays_sf(void **state)
{
    (void)state;
    world *w = world_new(0, 0);
    ep c = client(), s = server();
    full_conn(w, &c, &s, 1000, 5000, 'c');
    seg(w, 1, &c, &s, R, 1102, 0, 0);
    flow_table_flush(w->t);
    assert_int_equal(w->nrec, 1);
    assert_string_equal(w->rec[0].state, "SF");
    world_free(w);
}

/* A FIN that carries data gives F only, not D (Zeek's update_history()). */
static void fin_with_data_gives_only_f(void **state)
{
    (void)state;
    world *w = world_new(0, 0);
    ep c = client(), s = server();
    seg(w, 0, &c, &s, SYN, 1000, 0, 0);
    seg(w, 0, &s, &c, SYN | A, 5000, 1001, 0);
    seg(w, 0, &c, &s, A, 1001, 5001, 0);
    seg(w, 0, &c, &s, F | P | A, 1001, 5001, 10);
    flow_table_flush(w->t);
    assert_string_equal(w->rec[0].history, "ShAF");
    assert_int_equal(w->rec[0].client.bytes, 10);
    world_free(w);
}

/* Data acknowledged that the capture never showed is a content gap. */
static void acked_but_unseen_data_is_a_gap(void **state)
{
    (void)state;
    world *w = world_new(0, 0);
    ep c = client(), s = server();
    seg(w, 0, &c, &s, SYN, 1000, 0, 0);
    seg(w, 0, &s, &c, SYN | A, 5000, 1001, 0);
    seg(w, 0, &c, &s, A, 1001, 5001, 0);
    seg(w, 0, &c, &s, P | A, 1001, 5001, 100);
    seg(w, 0, &c, &s, P | A, 1201, 5001, 100);     /* 1101..1200 never captured */
    seg(w, 0, &s, &c, A, 5001, 1301, 0);
    flow_table_flush(w->t);
    assert_non_null(strchr(w->rec[0].history, 'G'));
    world_free(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(server_close_is_sf_closed_by_server),
        cmocka_unit_test(client_close_is_sf_closed_by_client),
        cmocka_unit_test(timewait_reuse_is_second_incarnation_with_retried_syn),
        cmocka_unit_test(rejected_syn_is_rej),
        cmocka_unit_test(unanswered_syns_are_s0_with_their_times),
        cmocka_unit_test(client_abort_after_data_is_rsto),
        cmocka_unit_test(reply_direction_maps_to_the_same_entry),
        cmocka_unit_test(midstream_roles_come_from_ports),
        cmocka_unit_test(retransmitted_payload_is_counted_once_per_decade),
        cmocka_unit_test(full_table_evicts_the_oldest_and_counts_it),
        cmocka_unit_test(closed_entry_expires_after_linger_on_packet_time),
        cmocka_unit_test(three_lives_of_one_tuple_are_numbered),
        cmocka_unit_test(simultaneous_open_stays_one_incarnation),
        cmocka_unit_test(midstream_traffic_stays_oth),
        cmocka_unit_test(rst_after_fins_both_ways_stays_sf),
        cmocka_unit_test(fin_with_data_gives_only_f),
        cmocka_unit_test(acked_but_unseen_data_is_a_gap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
