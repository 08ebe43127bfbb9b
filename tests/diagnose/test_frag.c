/* test_frag.c - fragmented-tcp on decoded packet views and records built without captures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "conn_builder.h"
#include "diag_test.h"
#include "tcpdoctor/diagnose.h"

#define ID "fragmented-tcp"
#define MTU_DATA 1376u          /* fragment data on a 1400-byte MTU link */

/* The seed 004 pair: the client (a NAT gateway's address at the server)
 * and the server that sends a 2900-byte segment in DF-clear fragments. */
static pkt_addr cli(void) { return tb_v4(203, 0, 113, 10); }
static pkt_addr srv(void) { return tb_v4(198, 51, 100, 80); }
#define CPORT 40102
#define SPORT 443
#define CISN 7000000u
#define SISN 8000000u

typedef struct feed {
    diag_engine *e;
    uint64_t num;               /* last packet number given */
    uint16_t ip_id;
} feed;

static feed start(enum diag_vantage v)
{
    diag_config cfg = { .vantage = v };
    char err[64];
    feed f = { .e = diag_engine_new(&cfg, err, sizeof err), .ip_id = 0x5300 };
    assert_non_null(f.e);
    return f;
}

static pkt_view base(feed *f, double t, bool from_server)
{
    pkt_view v;
    memset(&v, 0, sizeof v);
    v.num = ++f->num;
    v.ts_ns = TB_T0 + TB_S(t);
    v.ip_version = 4;
    v.ip_proto = 6;
    v.ttl = from_server ? 63 : 46;
    v.src = from_server ? srv() : cli();
    v.dst = from_server ? cli() : srv();
    return v;
}

/* A whole TCP segment (DF set from the client, clear from the server). */
static uint64_t tcp(feed *f, double t, bool from_server, uint32_t seq, uint32_t ack,
                    uint8_t flags, uint32_t len)
{
    pkt_view v = base(f, t, from_server);
    v.ip_df = !from_server;
    v.ip_id = ++f->ip_id;
    v.has_tcp = v.tcp_opts_ok = true;
    v.sport = from_server ? SPORT : CPORT;
    v.dport = from_server ? CPORT : SPORT;
    v.seq = seq;
    v.ack = ack;
    v.flags = flags;
    v.tcp_hlen = 32;
    v.payload_len = v.payload_captured = len;
    v.ip_len = 20 + 32 + len;
    v.window = 502;
    diag_engine_packet(f->e, &v, PKT_TCP);
    return v.num;
}

/* A segment of `len` bytes from the server as IPv4 fragments of MTU_DATA
 * bytes of IP payload; `deliver` says which fragments are given (bit i for
 * fragment i), `reverse` gives them last first.  Returns the first
 * fragment's packet number (0 if it was not given). */
static uint64_t fragmented(feed *f, double t, uint32_t seq, uint32_t ack, uint32_t len,
                           unsigned deliver, bool reverse)
{
    uint32_t total = 32 + len;
    unsigned n = (total + MTU_DATA - 1) / MTU_DATA;
    uint16_t id = ++f->ip_id;
    uint64_t first = 0;
    for (unsigned j = 0; j < n; j++) {
        unsigned i = reverse ? n - 1 - j : j;
        if (!(deliver & (1u << i)))
            continue;
        uint32_t off = i * MTU_DATA, data = total - off < MTU_DATA ? total - off : MTU_DATA;
        pkt_view v = base(f, t + j * 0.00003, true);
        v.ip_id = id;
        v.frag_id = id;
        v.is_fragment = true;
        v.frag_more = i + 1 < n;
        v.frag_offset = off;
        v.ip_len = 20 + data;
        if (i == 0) {
            v.has_tcp = v.tcp_opts_ok = true;
            v.sport = SPORT;
            v.dport = CPORT;
            v.seq = seq;
            v.ack = ack;
            v.flags = PKT_TCP_PSH | PKT_TCP_ACK;
            v.tcp_hlen = 32;
            v.payload_len = v.payload_captured = data - 32;
            first = v.num;
            diag_engine_packet(f->e, &v, PKT_TCP);
        } else {
            v.payload_len = data;
            diag_engine_packet(f->e, &v, PKT_TCP_FRAGMENT);
        }
    }
    return first;
}

/* The incarnation record that the flow table would write for it. */
static flow_conn record(double dur, enum flow_side closed_by, enum flow_side reset_by,
                        uint64_t rst_packet, double rst_t, uint64_t fragments)
{
    tb_spec s = {
        .client = cli(), .server = srv(), .cport = CPORT, .sport = SPORT, .first_packet = 1,
        .start_s = 0, .dur_s = dur, .answer = FLOW_HS_SYNACK, .succeeded = true,
        .closed_by = closed_by, .reset_by = reset_by, .client_isn = CISN, .server_isn = SISN,
        .client_final_seq = CISN + 1 + 323, .fragments = fragments, .end = FLOW_END_EOF,
    };
    flow_conn c = tb_make(&s);
    c.server.seq_seen = true;
    c.server.next_seq = SISN + 1;
    if (reset_by == FLOW_SIDE_SERVER) {
        c.server.rst_packet = rst_packet;
        c.server.rst_ts = TB_T0 + TB_S(rst_t);
        c.server.rst_seq = SISN + 1 + 2900;
        c.server.rst_ttl = c.server.ttl_first;      /* the server's own RST */
    }
    return c;
}

/* What the flow table records when the server's `len` bytes were sent
 * again (last at retrans_packet, time t) and never acknowledged: the
 * lifecycle stage judges the attempt stalled. */
static void server_stalled(flow_conn *c, uint32_t len, uint64_t retrans_packet, double t)
{
    c->server.sent_seen = true;
    c->server.sent_end = SISN + 1 + len;
    c->server.retrans_packet = retrans_packet;
    c->server.retrans_ts = TB_T0 + TB_S(t);
    c->server.retrans_seq = SISN + 1;
    c->client.ack_seen = true;
    c->client.ack_max = SISN + 1;
}

static diag_findings finish(feed *f, const flow_conn *c, size_t n)
{
    tb_tuples t = { .e = f->e };
    for (size_t i = 0; i < n; i++)
        tb_feed(&t, &c[i]);
    tb_tuples_done(&t);
    diag_findings fs;
    assert_int_equal(diag_engine_finish(f->e, &fs), 0);
    diag_engine_free(f->e);
    return fs;
}

/* Handshake and request, acknowledged: packets 1-5. */
static void opening(feed *f)
{
    tcp(f, 0.000, false, CISN, 0, PKT_TCP_SYN, 0);
    tcp(f, 0.0003, true, SISN, CISN + 1, PKT_TCP_SYN | PKT_TCP_ACK, 0);
    tcp(f, 0.0403, false, CISN + 1, SISN + 1, PKT_TCP_ACK, 0);
    tcp(f, 0.0408, false, CISN + 1, SISN + 1, PKT_TCP_PSH | PKT_TCP_ACK, 323);
    tcp(f, 0.0808, true, SISN + 1, CISN + 324, PKT_TCP_ACK, 0);
}

/* Seed 004 at the server: the 2900-byte response in three fragments, sent
 * six times, never acknowledged; the server resets after 10 s. */
static void server_fragments_never_acknowledged_then_reset_is_an_error(void **state)
{
    (void)state;
    feed f = start(DIAG_VANTAGE_SERVER);
    opening(&f);
    double t = 0.19, rto = 0.24;
    uint64_t first = 0, last = 0;
    double last_t = 0;
    for (int i = 0; i < 6; i++, t += rto, rto *= 2) {
        last = fragmented(&f, t, SISN + 1, CISN + 324, 2900, 7, false);
        last_t = t;
        if (i == 0)
            first = last;
    }
    uint64_t rst = tcp(&f, 10.19, true, SISN + 2901, CISN + 324, PKT_TCP_RST | PKT_TCP_ACK, 0);
    flow_conn c = record(10.2, FLOW_SIDE_NONE, FLOW_SIDE_SERVER, rst, 10.19, 12);
    server_stalled(&c, 2900, last, last_t);
    diag_findings fs = finish(&f, &c, 1);
    const diag_finding *fd = tb_find(&fs, ID, 0);
    assert_non_null(fd);
    assert_null(tb_find(&fs, ID, 1));
    assert_int_equal(fd->severity, DIAG_ERROR);
    assert_true(fd->confidence > 0.84 && fd->confidence < 0.86);
    assert_int_equal((int)tb_param(fd, "fragmented_segments"), 1);
    assert_int_equal((int)tb_param(fd, "unacknowledged"), 1);
    assert_int_equal((int)tb_param(fd, "retransmitted"), 1);
    assert_int_equal((int)tb_param(fd, "max_datagram"), 2952);
    assert_int_equal((int)tb_param(fd, "df_clear"), 1);
    assert_int_equal((int)tb_param(fd, "incomplete"), 0);
    assert_int_equal((int)tb_param(fd, "connections_failed"), 1);
    assert_int_equal(first, 6);
    assert_int_equal(fd->evidence[0].packet, first);
    assert_int_equal(fd->evidence[1].packet, last);
    assert_int_equal(fd->evidence[2].packet, 0);        /* no ACK came */
    assert_int_equal(fd->evidence[3].packet, rst);
    assert_non_null(strstr(fd->explanation, "taken at the server, where the fragments leave"));
    assert_non_null(strstr(fd->explanation, "6 times in all, fragmented each time"));
    assert_non_null(strstr(fd->remedies[0].action, "NAT instance"));
    assert_true(fd->has_server && fd->server_port == SPORT);
    assert_int_equal(fd->n_claims, 1);                  /* the stalled attempt */
    assert_int_equal(fd->claims[0], 1);
    assert_null(tb_find(&fs, "unexplained-failures", 0));
    diag_findings_free(&fs);
}

/* Fragments delivered (in reverse order) and acknowledged: info only. */
static void fragments_delivered_and_acknowledged_are_info(void **state)
{
    (void)state;
    feed f = start(DIAG_VANTAGE_CLIENT);
    opening(&f);
    uint64_t first = fragmented(&f, 0.19, SISN + 1, CISN + 324, 2900, 7, true);
    uint64_t ack = tcp(&f, 0.2, false, CISN + 324, SISN + 2901, PKT_TCP_ACK, 0);
    flow_conn c = record(0.3, FLOW_SIDE_SERVER, FLOW_SIDE_NONE, 0, 0, 2);
    diag_findings fs = finish(&f, &c, 1);
    const diag_finding *fd = tb_find(&fs, ID, 0);
    assert_non_null(fd);
    assert_int_equal(fd->severity, DIAG_INFO);
    assert_int_equal((int)tb_param(fd, "unacknowledged"), 0);
    assert_int_equal((int)tb_param(fd, "retransmitted"), 0);
    assert_int_equal((int)tb_param(fd, "max_datagram"), 2952);
    assert_int_equal(first, 8);         /* given last of the three */
    assert_int_equal(fd->evidence[0].packet, first);
    assert_int_equal(fd->evidence[1].packet, ack);
    assert_non_null(strstr(fd->summary, "all were delivered and acknowledged"));
    diag_findings_free(&fs);
}

/* At the receiver only the first fragment of each sending arrives (a NAT
 * that cannot map later fragments): incomplete, never acknowledged. */
static void only_first_fragments_arriving_is_incomplete(void **state)
{
    (void)state;
    feed f = start(DIAG_VANTAGE_CLIENT);
    opening(&f);
    fragmented(&f, 0.19, SISN + 1, CISN + 324, 2900, 1, false);
    uint64_t again = fragmented(&f, 0.43, SISN + 1, CISN + 324, 2900, 1, false);
    flow_conn c = record(40, FLOW_SIDE_NONE, FLOW_SIDE_NONE, 0, 0, 0);
    server_stalled(&c, 2900, again, 0.43);
    diag_findings fs = finish(&f, &c, 1);
    const diag_finding *fd = tb_find(&fs, ID, 0);
    assert_non_null(fd);
    assert_int_equal(fd->severity, DIAG_ERROR);       /* never closed: failed */
    assert_int_equal((int)tb_param(fd, "incomplete"), 1);
    assert_int_equal((int)tb_param(fd, "unacknowledged"), 1);
    assert_int_equal((int)tb_param(fd, "retransmitted"), 1);
    const diag_param *p = diag_param_get(fd, "max_datagram");
    assert_non_null(p);
    assert_true(p->has_min && !p->has_max);
    assert_int_equal((int)p->value, 1396);
    assert_non_null(strstr(fd->explanation, "where the fragments should arrive"));
    assert_int_equal(fd->n_claims, 1);
    diag_findings_free(&fs);
}

/* Lost once, then sent again whole (smaller MSS) and acknowledged: the
 * connection survives, the retransmission is still a warning. */
static void retransmitted_then_acknowledged_is_a_warning(void **state)
{
    (void)state;
    feed f = start(DIAG_VANTAGE_SERVER);
    opening(&f);
    fragmented(&f, 0.19, SISN + 1, CISN + 324, 2900, 7, false);
    tcp(&f, 0.43, true, SISN + 1, CISN + 324, PKT_TCP_ACK, 1348);
    tcp(&f, 0.4301, true, SISN + 1349, CISN + 324, PKT_TCP_ACK, 1348);
    tcp(&f, 0.4302, true, SISN + 2697, CISN + 324, PKT_TCP_PSH | PKT_TCP_ACK, 204);
    uint64_t ack = tcp(&f, 0.47, false, CISN + 324, SISN + 2901, PKT_TCP_ACK, 0);
    flow_conn c = record(0.5, FLOW_SIDE_SERVER, FLOW_SIDE_NONE, 0, 0, 2);
    diag_findings fs = finish(&f, &c, 1);
    const diag_finding *fd = tb_find(&fs, ID, 0);
    assert_non_null(fd);
    assert_int_equal(fd->severity, DIAG_WARNING);
    assert_int_equal((int)tb_param(fd, "unacknowledged"), 0);
    assert_int_equal((int)tb_param(fd, "retransmitted"), 1);
    assert_int_equal((int)tb_param(fd, "connections_failed"), 0);
    assert_int_equal(fd->evidence[2].packet, ack);
    diag_findings_free(&fs);
}

/* Healthy traffic: whole segments, FIN close, no RST gap: nothing. */
static void healthy_unfragmented_traffic_gives_no_finding(void **state)
{
    (void)state;
    feed f = start(DIAG_VANTAGE_SERVER);
    opening(&f);
    tcp(&f, 0.19, true, SISN + 1, CISN + 324, PKT_TCP_PSH | PKT_TCP_ACK, 1300);
    tcp(&f, 0.23, false, CISN + 324, SISN + 1301, PKT_TCP_ACK, 0);
    flow_conn c = record(0.3, FLOW_SIDE_SERVER, FLOW_SIDE_NONE, 0, 0, 0);
    diag_findings fs = finish(&f, &c, 1);
    assert_null(tb_find(&fs, ID, 0));
    diag_findings_free(&fs);
}

/* Seed 004 at the client: nothing of the response arrives; the server's
 * RST lies 2900 bytes beyond all it sent that arrived.  A suspicion only. */
static void rst_beyond_all_data_at_the_client_is_a_suspicion(void **state)
{
    (void)state;
    feed f = start(DIAG_VANTAGE_CLIENT);
    opening(&f);
    uint64_t rst = tcp(&f, 10.23, true, SISN + 2901, CISN + 324, PKT_TCP_RST | PKT_TCP_ACK, 0);
    flow_conn c = record(10.3, FLOW_SIDE_NONE, FLOW_SIDE_SERVER, rst, 10.23, 0);
    diag_findings fs = finish(&f, &c, 1);
    const diag_finding *fd = tb_find(&fs, ID, 0);
    assert_non_null(fd);
    assert_int_equal(fd->severity, DIAG_WARNING);
    assert_true(fd->confidence > 0.34 && fd->confidence < 0.36);
    assert_int_equal((int)tb_param(fd, "fragmented_segments"), 0);
    assert_int_equal((int)tb_param(fd, "missing_bytes"), 2900);
    assert_int_equal(fd->evidence[1].packet, rst);
    assert_non_null(strstr(fd->remedies[0].action, "public address"));
    diag_findings_free(&fs);
}

/* The same record at the server, whose own data cannot go missing from its
 * capture, and a small gap anywhere: no finding. */
static void rst_gap_at_the_sender_or_small_gives_no_finding(void **state)
{
    (void)state;
    feed f = start(DIAG_VANTAGE_SERVER);
    flow_conn c = record(10.3, FLOW_SIDE_NONE, FLOW_SIDE_SERVER, 20, 10.23, 0);
    diag_findings fs = finish(&f, &c, 1);
    assert_null(tb_find(&fs, ID, 0));
    diag_findings_free(&fs);

    f = start(DIAG_VANTAGE_CLIENT);
    c = record(10.3, FLOW_SIDE_NONE, FLOW_SIDE_SERVER, 20, 10.23, 0);
    c.server.rst_seq = SISN + 1 + 100;      /* one small segment: ordinary loss */
    fs = finish(&f, &c, 1);
    assert_null(tb_find(&fs, ID, 0));
    diag_findings_free(&fs);
}

/* Later fragments whose first fragment never came, in the middle of the
 * capture, while the connection between the same addresses stalls: the
 * datagrams are lost.  Without a failed connection beside them they are
 * left to the flow table's unmatched-fragment count. */
static void fragments_without_their_first_next_to_a_stall_are_reported(void **state)
{
    (void)state;
    feed f = start(DIAG_VANTAGE_CLIENT);
    opening(&f);
    fragmented(&f, 2.0, SISN + 1, CISN + 324, 2900, 6, false);
    flow_conn c = record(40, FLOW_SIDE_NONE, FLOW_SIDE_NONE, 0, 0, 0);
    server_stalled(&c, 2900, 6, 2.0);
    diag_findings fs = finish(&f, &c, 1);
    const diag_finding *fd = tb_find(&fs, ID, 0);
    assert_non_null(fd);
    assert_int_equal(fd->severity, DIAG_WARNING);
    assert_int_equal((int)tb_param(fd, "orphan_datagrams"), 1);
    assert_int_equal(fd->evidence[0].packet, 6);
    assert_int_equal(fd->evidence[1].packet, 1);        /* the stalled connection */
    diag_findings_free(&fs);

    f = start(DIAG_VANTAGE_CLIENT);
    opening(&f);
    fragmented(&f, 2.0, SISN + 1, CISN + 324, 2900, 6, false);
    c = record(40, FLOW_SIDE_SERVER, FLOW_SIDE_NONE, 0, 0, 0);
    fs = finish(&f, &c, 1);
    assert_null(tb_find(&fs, ID, 0));
    diag_findings_free(&fs);
}

/* More fragmented segments than the detector follows: the rest is counted
 * and said, never a crash or silent loss. */
static void segments_beyond_the_table_are_counted(void **state)
{
    (void)state;
    feed f = start(DIAG_VANTAGE_SERVER);
    opening(&f);
    uint32_t seq = SISN + 1;
    for (int i = 0; i < 5000; i++, seq += 2900)
        fragmented(&f, 0.2 + i * 0.001, seq, CISN + 324, 2900, 7, false);
    tcp(&f, 6, false, CISN + 324, seq, PKT_TCP_ACK, 0);
    flow_conn c = record(7, FLOW_SIDE_SERVER, FLOW_SIDE_NONE, 0, 0, 10000);
    diag_findings fs = finish(&f, &c, 1);
    const diag_finding *fd = tb_find(&fs, ID, 0);
    assert_non_null(fd);
    assert_int_equal((int)tb_param(fd, "fragmented_segments"), 4096);
    assert_int_equal((int)tb_param(fd, "unacknowledged"), 0);
    assert_non_null(strstr(fd->explanation, "Not followed in detail: 904 more"));
    diag_findings_free(&fs);
}

/* A window of 20 fragmented segments (more than FT_WALK), never
 * acknowledged, sent again from snd_una: the first one whole (a smaller
 * MSS, 1348 + 1348 + 204 bytes), the 19 others fragmented again.  Each
 * retransmission is its first sending's record, found however many newer
 * segments lie in front of it: 20 segments, all retransmitted, the
 * stalled attempt claimed (seed 004 at 'outside', seed 8: 13 segments of
 * a connection behind 13 of another in the same slot were taken for 780
 * new ones sent once, and the attempt went unexplained). */
static void retransmissions_behind_a_full_window_are_found(void **state)
{
    (void)state;
    feed f = start(DIAG_VANTAGE_SERVER);
    opening(&f);
    enum { N = 20, LEN = 2900 };
    for (uint32_t i = 0; i < N; i++)
        fragmented(&f, 0.19 + i * 0.0002, SISN + 1 + i * LEN, CISN + 324, LEN, 7, false);
    uint64_t whole = tcp(&f, 0.43, true, SISN + 1, CISN + 324, PKT_TCP_ACK, 1348);
    tcp(&f, 0.4301, true, SISN + 1349, CISN + 324, PKT_TCP_ACK, 1348);
    tcp(&f, 0.4302, true, SISN + 2697, CISN + 324, PKT_TCP_ACK, 204);
    uint64_t last = 0;
    for (uint32_t i = 1; i < N; i++)
        last = fragmented(&f, 0.44 + i * 0.0002, SISN + 1 + i * LEN, CISN + 324, LEN, 7, false);
    tcp(&f, 0.48, false, CISN + 324, SISN + 1, PKT_TCP_ACK, 0);    /* duplicate ACK */
    flow_conn c = record(40, FLOW_SIDE_NONE, FLOW_SIDE_NONE, 0, 0, 2 * N * 3);
    server_stalled(&c, N * LEN, whole, 0.43);
    diag_findings fs = finish(&f, &c, 1);
    const diag_finding *fd = tb_find(&fs, ID, 0);
    assert_non_null(fd);
    assert_null(tb_find(&fs, ID, 1));
    assert_int_equal(last, 123);        /* 5 + 60 + 3 + 57 packets, last first fragment */
    assert_int_equal(fd->severity, DIAG_ERROR);
    assert_int_equal((int)tb_param(fd, "fragmented_segments"), N);
    assert_int_equal((int)tb_param(fd, "unacknowledged"), N);
    assert_int_equal((int)tb_param(fd, "retransmitted"), N);
    assert_int_equal((int)tb_param(fd, "incomplete"), 0);
    assert_int_equal((int)tb_param(fd, "connections_failed"), 1);
    assert_int_equal(fd->n_claims, 1);
    assert_int_equal(fd->claims[0], 1);
    assert_null(tb_find(&fs, "unexplained-failures", 0));
    diag_findings_free(&fs);
}

/* ---- false alarms seen on real captures ------------------------------- */

/* One IPv4 fragment from the server: offset and MF as given, `anomalies`
 * as the decoder flagged them.  A first fragment carries a TCP header of
 * `tcp_hlen` bytes (0: none decoded). */
static uint64_t fragment(feed *f, double t, uint16_t id, uint32_t off, uint32_t data, bool more,
                         bool df, uint8_t tcp_hlen, uint64_t anomalies, enum pkt_status st)
{
    pkt_view v = base(f, t, true);
    v.ip_id = v.frag_id = id;
    v.ip_df = df;
    v.is_fragment = true;
    v.frag_more = more;
    v.frag_offset = off;
    v.ip_len = 20 + data;
    v.anomalies = anomalies;
    v.sport = SPORT;
    v.dport = CPORT;
    if (tcp_hlen > 0) {
        v.has_tcp = v.tcp_opts_ok = true;
        v.seq = SISN + 1;
        v.ack = CISN + 324;
        v.tcp_hlen = tcp_hlen;
        v.payload_len = v.payload_captured = data - tcp_hlen;
    } else {
        v.payload_len = v.payload_captured = off == 0 ? 0 : data;
    }
    diag_engine_packet(f->e, &v, st);
    return v.num;
}

/* ip_fragmented_garbage.pcap: the first fragment holds 16 bytes, so the
 * TCP header runs on into the second (PKT_AN_TCP_HEADER_FRAGMENTED): the
 * first fragment is there, nothing is missing - even next to a stalled
 * connection between the same addresses. */
static void tcp_header_split_across_fragments_is_no_missing_first(void **state)
{
    (void)state;
    feed f = start(DIAG_VANTAGE_CLIENT);
    opening(&f);
    fragment(&f, 2.0, 0xa0, 0, 16, true, false, 0, 1ULL << PKT_AN_TCP_HEADER_FRAGMENTED,
             PKT_MALFORMED);
    for (uint32_t off = 16; off < 4992; off += 16)
        fragment(&f, 2.0001, 0xa0, off, 16, true, false, 0, 0, PKT_TCP_FRAGMENT);
    fragment(&f, 2.0002, 0xa0, 4992, 8, false, false, 0, 0, PKT_TCP_FRAGMENT);
    flow_conn c = record(40, FLOW_SIDE_NONE, FLOW_SIDE_NONE, 0, 0, 0);
    server_stalled(&c, 2900, 5, 1.0);
    diag_findings fs = finish(&f, &c, 1);
    assert_null(tb_find(&fs, ID, 0));
    diag_findings_free(&fs);
}

/* frag_http_req.pcap: one datagram, every fragment from offset 0 to the
 * one with MF clear, and nothing else in the capture: delivered (RFC 791
 * reassembly), not failed - info, no claim. */
static void one_complete_fragmented_datagram_is_info_not_failure(void **state)
{
    (void)state;
    feed f = start(DIAG_VANTAGE_UNKNOWN);
    uint64_t first = fragmented(&f, 0.5, SISN + 1, CISN + 324, 2900, 7, false);
    flow_conn c = record(0.5, FLOW_SIDE_NONE, FLOW_SIDE_NONE, 0, 0, 2);
    diag_findings fs = finish(&f, &c, 1);
    const diag_finding *fd = tb_find(&fs, ID, 0);
    assert_non_null(fd);
    assert_null(tb_find(&fs, ID, 1));
    assert_int_equal(fd->severity, DIAG_INFO);
    assert_int_equal((int)tb_param(fd, "unacknowledged"), 1);
    assert_int_equal((int)tb_param(fd, "retransmitted"), 0);
    assert_int_equal((int)tb_param(fd, "incomplete"), 0);
    assert_int_equal((int)tb_param(fd, "connections_failed"), 0);
    assert_int_equal((int)tb_param(fd, "max_datagram"), 2952);
    assert_int_equal(fd->n_claims, 0);
    assert_int_equal(fd->evidence[0].packet, first);
    assert_non_null(strstr(fd->summary, "none was lost or sent again (1 with no "
                                        "acknowledgment in the capture)"));
    assert_null(strstr(fd->summary, "failed"));
    diag_findings_free(&fs);
}

/* bgp-*-oobr.pcap, rpki-rtr-oobr.pcap: one fuzzed first fragment with MF
 * and DF both set (and no TCP flags): a decode anomaly, not a finding.
 * The same with only the flags odd (port 0) as well. */
static void fuzzed_fragment_with_mf_and_df_is_no_finding(void **state)
{
    (void)state;
    uint64_t odd[] = { (1ULL << PKT_AN_IPV4_BAD_FRAGMENT) | (1ULL << PKT_AN_TCP_NO_FLAGS),
                       1ULL << PKT_AN_TCP_PORT_ZERO };
    for (size_t i = 0; i < 2; i++) {
        feed f = start(DIAG_VANTAGE_UNKNOWN);
        fragment(&f, 0.0, 0x970f, 0, 4115, true, true, 40, odd[i], PKT_TCP);
        flow_conn c = record(0.0, FLOW_SIDE_NONE, FLOW_SIDE_NONE, 0, 0, 0);
        diag_findings fs = finish(&f, &c, 1);
        assert_null(tb_find(&fs, ID, 0));
        diag_findings_free(&fs);
    }
}

/* rtsp.pcap: no fragment anywhere; the server's RST lies 238596731 bytes
 * beyond what it sent in a connection whose handshake the capture missed,
 * and the same gap after a handshake is far beyond any window: no
 * suspicion either way. */
static void rst_far_beyond_or_without_handshake_raises_no_suspicion(void **state)
{
    (void)state;
    for (int i = 0; i < 2; i++) {
        feed f = start(DIAG_VANTAGE_CLIENT);
        flow_conn c = record(0.5, FLOW_SIDE_NONE, FLOW_SIDE_SERVER, 20, 0.5, 0);
        c.server.rst_seq = SISN + 1 + 238596731u;
        if (i == 0)
            c.server.isn_seen = c.client.isn_seen = false;  /* capture began mid-connection */
        diag_findings fs = finish(&f, &c, 1);
        assert_null(tb_find(&fs, ID, 0));
        diag_findings_free(&fs);
    }
    /* the seed 004 gap, 2900 bytes, still fits the window and is kept */
    feed f = start(DIAG_VANTAGE_CLIENT);
    flow_conn c = record(0.5, FLOW_SIDE_NONE, FLOW_SIDE_SERVER, 20, 0.5, 0);
    diag_findings fs = finish(&f, &c, 1);
    assert_non_null(tb_find(&fs, ID, 0));
    diag_findings_free(&fs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(server_fragments_never_acknowledged_then_reset_is_an_error),
        cmocka_unit_test(fragments_delivered_and_acknowledged_are_info),
        cmocka_unit_test(only_first_fragments_arriving_is_incomplete),
        cmocka_unit_test(retransmitted_then_acknowledged_is_a_warning),
        cmocka_unit_test(healthy_unfragmented_traffic_gives_no_finding),
        cmocka_unit_test(rst_beyond_all_data_at_the_client_is_a_suspicion),
        cmocka_unit_test(rst_gap_at_the_sender_or_small_gives_no_finding),
        cmocka_unit_test(fragments_without_their_first_next_to_a_stall_are_reported),
        cmocka_unit_test(segments_beyond_the_table_are_counted),
        cmocka_unit_test(retransmissions_behind_a_full_window_are_found),
        cmocka_unit_test(tcp_header_split_across_fragments_is_no_missing_first),
        cmocka_unit_test(one_complete_fragmented_datagram_is_info_not_failure),
        cmocka_unit_test(fuzzed_fragment_with_mf_and_df_is_no_finding),
        cmocka_unit_test(rst_far_beyond_or_without_handshake_raises_no_suspicion),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
