/* conn_format.c - write connection incarnations as an aligned table, NDJSON or TSV. */
#include "tcpdoctor/report.h"

#include "report/outbuf.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

struct rep_conn_writer {
    outbuf ob;
    FILE *out;
    enum rep_conn_format fmt;
    int64_t t0;
    bool have_t0;
    uint64_t rows;
};

rep_conn_writer *rep_conn_writer_new(FILE *out, enum rep_conn_format fmt)
{
    rep_conn_writer *w = calloc(1, sizeof *w);
    if (w == NULL)
        return NULL;
    w->out = out;
    w->fmt = fmt;
    return w;
}

void rep_conn_writer_set_origin(rep_conn_writer *w, int64_t t0_ns)
{
    w->t0 = t0_ns;
    w->have_t0 = true;
}

uint64_t rep_conn_rows(const rep_conn_writer *w)
{
    return w->rows;
}

void rep_conn_writer_free(rep_conn_writer *w)
{
    free(w);
}

void rep_json_string(FILE *out, const char *s)
{
    outbuf o;
    ob_init(&o);
    ob_json_str(&o, s);
    ob_flush(&o, out);
}

void rep_json_time(FILE *out, int64_t ts_ns)
{
    outbuf o;
    ob_init(&o);
    ob_time(&o, ts_ns);
    ob_flush(&o, out);
}


/* ---- NDJSON ---------------------------------------------------------- */

/* A key, written as the literal `,"name":` (the first key's comma is
 * replaced by the opening brace when the record starts). */
typedef struct jk {
    const char *s;
    size_t n;
} jk;

#define JK(name) ((jk){ ",\"" name "\":", sizeof(",\"" name "\":") - 1 })

static void jkey(outbuf *o, jk k)
{
    ob_mem(o, k.s, k.n);
}

static void jstr(outbuf *o, jk k, const char *v) { jkey(o, k); ob_json_str(o, v); }
static void ju64(outbuf *o, jk k, uint64_t v) { jkey(o, k); ob_u64(o, v); }
static void jbool(outbuf *o, jk k, bool v) { jkey(o, k); ob_str(o, v ? "true" : "false"); }
static void jtime(outbuf *o, jk k, int64_t ns) { jkey(o, k); ob_time(o, ns); }

static void jopt_u64(outbuf *o, jk k, bool present, uint64_t v)
{
    jkey(o, k);
    if (present) ob_u64(o, v); else OB_LIT(o, "null");
}

static void jopt_time(outbuf *o, jk k, bool present, int64_t ns)
{
    jkey(o, k);
    if (present) ob_time(o, ns); else OB_LIT(o, "null");
}

/* Dotted IPv4 without printf; IPv6 through inet_ntop (RFC 5952 form). */
static void ob_addr(outbuf *o, const pkt_addr *a)
{
    if (pkt_addr_is_v4(a)) {
        for (int i = 12; i < 16; i++) {
            if (i > 12)
                ob_ch(o, '.');
            ob_u64(o, a->b[i]);
        }
        return;
    }
    char buf[PKT_ADDR_STRLEN];
    ob_str(o, pkt_addr_str(a, buf, sizeof buf));
}

static void jaddr(outbuf *o, jk k, const pkt_addr *a)
{
    jkey(o, k);
    ob_ch(o, '"');
    ob_addr(o, a);
    ob_ch(o, '"');
}

/* Per-side fields; keys spelled out so the hot path builds no strings. */
struct side_keys {
    jk isn, final_seq, ttl, fin_packet, fin_time, rst_count, rst_packet, rst_time, rst_seq,
       tsval_first, tsval_last, mss, wscale, retransmits;
};

#define SIDE_KEYS(p) { JK(p "_isn"), JK(p "_final_seq"), JK(p "_ttl"), JK(p "_fin_packet"), \
    JK(p "_fin_time"), JK(p "_rst_count"), JK(p "_rst_packet"), JK(p "_rst_time"), \
    JK(p "_rst_seq"), JK(p "_tsval_first"), JK(p "_tsval_last"), JK(p "_mss"), \
    JK(p "_wscale"), JK(p "_retransmits") }

static void endpoint_json(outbuf *o, const struct side_keys *k, const flow_endpoint *e)
{
    jopt_u64(o, k->isn, e->isn_seen, e->isn);
    jopt_u64(o, k->final_seq, e->seq_seen, e->next_seq);
    jopt_u64(o, k->ttl, e->packets > 0, e->ttl_first);
    jopt_u64(o, k->fin_packet, e->fin_seen, e->fin_packet);
    jopt_time(o, k->fin_time, e->fin_seen, e->fin_ts);
    ju64(o, k->rst_count, e->rst_count);
    jopt_u64(o, k->rst_packet, e->rst_count > 0, e->rst_packet);
    jopt_time(o, k->rst_time, e->rst_count > 0, e->rst_ts);
    jopt_u64(o, k->rst_seq, e->rst_count > 0, e->rst_seq);
    jopt_u64(o, k->tsval_first, e->ts_seen, e->tsval_first);
    jopt_u64(o, k->tsval_last, e->ts_seen, e->tsval_last);
    jopt_u64(o, k->mss, e->syn_opts_seen && e->syn_opts.has_mss, e->syn_opts.mss);
    jopt_u64(o, k->wscale, e->syn_opts_seen && e->syn_opts.has_wscale, e->syn_opts.wscale);
    ju64(o, k->retransmits, e->retransmits);
}

static void write_ndjson(rep_conn_writer *w, const flow_conn *c)
{
    static const struct side_keys client_keys = SIDE_KEYS("client");
    static const struct side_keys server_keys = SIDE_KEYS("server");
    outbuf *o = &w->ob;
    o->len = 0;
    OB_LIT(o, "{\"incarnation\":");
    ob_u64(o, c->incarnation);
    jaddr(o, JK("client"), &c->client.addr);
    ju64(o, JK("client_port"), c->client.port);
    jaddr(o, JK("server"), &c->server.addr);
    ju64(o, JK("server_port"), c->server.port);
    jbool(o, JK("roles_inferred"), c->roles_inferred);
    ju64(o, JK("vlan"), c->vlan);
    ju64(o, JK("first_packet"), c->first_packet);
    ju64(o, JK("last_packet"), c->last_packet);
    jtime(o, JK("start"), c->first_ts);
    jtime(o, JK("end"), c->last_ts);
    jstr(o, JK("state"), c->state);
    jstr(o, JK("history"), c->history);
    ju64(o, JK("syn_count"), c->syn_count);
    jkey(o, JK("syn_packets"));
    ob_ch(o, '[');
    for (int i = 0; i < c->syn_count && i < FLOW_MAX_SYN; i++) {
        if (i) ob_ch(o, ',');
        ob_u64(o, c->syn_packet[i]);
    }
    ob_ch(o, ']');
    jkey(o, JK("syn_times"));
    ob_ch(o, '[');
    for (int i = 0; i < c->syn_count && i < FLOW_MAX_SYN; i++) {
        if (i) ob_ch(o, ',');
        ob_time(o, c->syn_ts[i]);
    }
    ob_ch(o, ']');
    jstr(o, JK("handshake"), flow_handshake_name(c->handshake));
    jstr(o, JK("first_answer"), flow_handshake_name(c->first_answer));
    jopt_u64(o, JK("first_answer_packet"), c->handshake_packet != 0, c->handshake_packet);
    ju64(o, JK("handshake_rsts"), c->handshake_rsts);
    ju64(o, JK("synack_count"), c->synack_count);
    jbool(o, JK("established"), c->established);
    jstr(o, JK("closed_by"), flow_side_name(c->closed_by));
    jstr(o, JK("reset_by"), flow_side_name(c->reset_by));
    ju64(o, JK("packets_to_server"), c->client.packets);
    ju64(o, JK("packets_to_client"), c->server.packets);
    ju64(o, JK("bytes_to_server"), c->client.bytes);
    ju64(o, JK("bytes_to_client"), c->server.bytes);
    ju64(o, JK("ip_bytes_to_server"), c->client.ip_bytes);
    ju64(o, JK("ip_bytes_to_client"), c->server.ip_bytes);
    endpoint_json(o, &client_keys, &c->client);
    endpoint_json(o, &server_keys, &c->server);
    ju64(o, JK("fragments"), c->fragments);
    jstr(o, JK("end_reason"), flow_end_name(c->end));
    ob_str(o, "}\n");
    ob_flush(o, w->out);
}

/* ---- TSV ------------------------------------------------------------- */

static const char tsv_header[] =
    "incarnation\tclient\tclient_port\tserver\tserver_port\tfirst_packet\tlast_packet\t"
    "start\tend\tstate\thistory\tsyn_count\thandshake\tfirst_answer\tclosed_by\treset_by\t"
    "packets_to_server\tpackets_to_client\tbytes_to_server\tbytes_to_client\tend_reason\n";

static void write_tsv(rep_conn_writer *w, const flow_conn *c)
{
    outbuf *o = &w->ob;
    o->len = 0;
    if (w->rows == 0)
        ob_str(o, tsv_header);
    ob_u64(o, c->incarnation); ob_ch(o, '\t');
    ob_addr(o, &c->client.addr); ob_ch(o, '\t');
    ob_u64(o, c->client.port); ob_ch(o, '\t');
    ob_addr(o, &c->server.addr); ob_ch(o, '\t');
    ob_u64(o, c->server.port); ob_ch(o, '\t');
    ob_u64(o, c->first_packet); ob_ch(o, '\t');
    ob_u64(o, c->last_packet); ob_ch(o, '\t');
    ob_time(o, c->first_ts); ob_ch(o, '\t');
    ob_time(o, c->last_ts); ob_ch(o, '\t');
    ob_str(o, c->state); ob_ch(o, '\t');
    ob_str(o, c->history[0] ? c->history : "-"); ob_ch(o, '\t');
    ob_u64(o, c->syn_count); ob_ch(o, '\t');
    ob_str(o, flow_handshake_name(c->handshake)); ob_ch(o, '\t');
    ob_str(o, flow_handshake_name(c->first_answer)); ob_ch(o, '\t');
    ob_str(o, flow_side_name(c->closed_by)); ob_ch(o, '\t');
    ob_str(o, flow_side_name(c->reset_by)); ob_ch(o, '\t');
    ob_u64(o, c->client.packets); ob_ch(o, '\t');
    ob_u64(o, c->server.packets); ob_ch(o, '\t');
    ob_u64(o, c->client.bytes); ob_ch(o, '\t');
    ob_u64(o, c->server.bytes); ob_ch(o, '\t');
    ob_str(o, flow_end_name(c->end)); ob_ch(o, '\n');
    ob_flush(o, w->out);
}

/* ---- table ----------------------------------------------------------- */

/*
 * The table is the default output of `conns`, one row per incarnation, so
 * rows are formatted straight into the buffer with unchecked writers: the
 * caller first makes sure TABLE_ROW_MAX bytes are free (a row with two
 * IPv6 endpoints, 20-digit counters and a full history is under 400).
 *
 * Fixed widths wide enough for IPv4 ("255.255.255.255:65535" is 21); an
 * IPv6 endpoint widens its own row rather than the whole table, so the
 * table can be written as records arrive.
 */
#define TABLE_ROW_MAX 1024

static char *put_spaces(char *p, size_t n)
{
    memset(p, ' ', n);
    return p + n;
}

/* Text padded to w columns, left-aligned; never cut. */
static char *put_left(char *p, const char *s, size_t n, size_t w)
{
    memcpy(p, s, n);
    return n < w ? put_spaces(p + n, w - n) : p + n;
}

/* Decimal, right-aligned in w columns. */
static char *put_u64(char *p, uint64_t v, size_t w)
{
    char t[20];
    size_t n = ob_rdigits(v, t);
    if (n < w)
        p = put_spaces(p, w - n);
    while (n > 0)
        *p++ = t[--n];
    return p;
}

/* Seconds with 6 decimals (as ob_time()), right-aligned in w columns. */
static char *put_secs(char *p, int64_t ns, size_t w)
{
    char t[32];
    size_t n = 0;
    uint64_t v = (uint64_t)ns;
    if (ns < 0)
        v = 0 - v;
    uint64_t us = v % 1000000000u / 1000u;
    for (int i = 0; i < 6; i++, us /= 10)
        t[n++] = (char)('0' + us % 10);
    t[n++] = '.';
    n += ob_rdigits(v / 1000000000u, t + n);
    if (ns < 0)
        t[n++] = '-';
    if (n < w)
        p = put_spaces(p, w - n);
    while (n > 0)
        *p++ = t[--n];
    return p;
}

static char *put_endpoint(char *p, const flow_endpoint *e)
{
    char *start = p;
    if (pkt_addr_is_v4(&e->addr)) {
        for (int i = 12; i < 16; i++) {
            if (i > 12)
                *p++ = '.';
            p = put_u64(p, e->addr.b[i], 0);
        }
    } else {
        char buf[PKT_ADDR_STRLEN];
        pkt_addr_str(&e->addr, buf, sizeof buf);
        size_t n = strlen(buf);
        *p++ = '[';
        memcpy(p, buf, n);
        p += n;
        *p++ = ']';
    }
    *p++ = ':';
    p = put_u64(p, e->port, 0);
    size_t n = (size_t)(p - start);
    return n < 21 ? put_spaces(p, 21 - n) : p;
}

static char *put_name(char *p, const char *s, size_t w)
{
    return put_left(p, s, strlen(s), w);
}

static const char table_header[] =
    " frame inc  client                 server                      start"
    "   duration  state  history          syn answer   closer reset    pkt>s"
    "   pkt>c    bytes>s    bytes>c\n";

static void write_table(rep_conn_writer *w, const flow_conn *c)
{
    outbuf *o = &w->ob;
    o->len = 0;
    if (w->rows == 0)
        OB_LIT(o, table_header);
    char *p = o->b + o->len;
    p = put_u64(p, c->first_packet, 6);
    *p++ = ' ';
    p = put_u64(p, c->incarnation, 3);
    *p++ = c->roles_inferred ? '?' : ' ';
    *p++ = ' ';
    p = put_endpoint(p, &c->client);
    p = put_spaces(p, 2);
    p = put_endpoint(p, &c->server);
    *p++ = ' ';
    p = put_secs(p, w->have_t0 ? c->first_ts - w->t0 : 0, 11);
    *p++ = ' ';
    p = put_secs(p, c->last_ts - c->first_ts, 10);
    p = put_spaces(p, 2);
    p = put_name(p, c->state, 6);
    *p++ = ' ';
    p = put_name(p, c->history[0] ? c->history : "-", 16);
    *p++ = ' ';
    p = put_u64(p, c->syn_count, 3);
    *p++ = ' ';
    p = put_name(p, flow_handshake_name(c->handshake), 8);
    *p++ = ' ';
    p = put_name(p, flow_side_name(c->closed_by), 6);
    *p++ = ' ';
    p = put_name(p, flow_side_name(c->reset_by), 6);
    *p++ = ' ';
    p = put_u64(p, c->client.packets, 7);
    *p++ = ' ';
    p = put_u64(p, c->server.packets, 7);
    *p++ = ' ';
    p = put_u64(p, c->client.bytes, 10);
    *p++ = ' ';
    p = put_u64(p, c->server.bytes, 10);
    *p++ = '\n';
    o->len = (size_t)(p - o->b);
    ob_flush(o, w->out);
}

_Static_assert(sizeof table_header - 1 + TABLE_ROW_MAX <= OB_CAP,
               "a table row and the header fit the buffer");

void rep_conn_write(rep_conn_writer *w, const flow_conn *c)
{
    switch (w->fmt) {
    case REP_CONN_NDJSON: write_ndjson(w, c); break;
    case REP_CONN_TSV: write_tsv(w, c); break;
    case REP_CONN_TABLE: write_table(w, c); break;
    }
    w->rows++;
}
