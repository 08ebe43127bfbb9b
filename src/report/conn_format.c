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

/* Fixed widths wide enough for IPv4 ("255.255.255.255:65535" is 21); an
 * IPv6 endpoint widens its own row rather than the whole table, so the
 * table can be written as records arrive. */
static void table_endpoint(outbuf *o, const flow_endpoint *e)
{
    size_t start = o->len;
    bool v4 = pkt_addr_is_v4(&e->addr);
    if (!v4)
        ob_ch(o, '[');
    ob_addr(o, &e->addr);
    if (!v4)
        ob_ch(o, ']');
    ob_ch(o, ':');
    ob_u64(o, e->port);
    for (size_t n = o->len - start; n < 21; n++)
        ob_ch(o, ' ');
}

/* Seconds with 6 decimals, right-aligned in w columns. */
static void table_secs(outbuf *o, int64_t ns, size_t w)
{
    outbuf t;
    ob_init(&t);
    ob_time(&t, ns);
    ob_pad(o, t.b, t.len, w, true);
}

static void write_table(rep_conn_writer *w, const flow_conn *c)
{
    outbuf *o = &w->ob;
    o->len = 0;
    if (w->rows == 0)
        OB_LIT(o, " frame inc  client                 server                      start"
                  "   duration  state  history          syn answer   closer reset    pkt>s"
                  "   pkt>c    bytes>s    bytes>c\n");
    ob_u64_pad(o, c->first_packet, 6);
    ob_ch(o, ' ');
    ob_u64_pad(o, c->incarnation, 3);
    ob_ch(o, c->roles_inferred ? '?' : ' ');
    ob_ch(o, ' ');
    table_endpoint(o, &c->client);
    OB_LIT(o, "  ");
    table_endpoint(o, &c->server);
    ob_ch(o, ' ');
    table_secs(o, w->have_t0 ? c->first_ts - w->t0 : 0, 11);
    ob_ch(o, ' ');
    table_secs(o, c->last_ts - c->first_ts, 10);
    OB_LIT(o, "  ");
    ob_pad(o, c->state, strlen(c->state), 6, false);
    ob_ch(o, ' ');
    const char *h = c->history[0] ? c->history : "-";
    ob_pad(o, h, strlen(h), 16, false);
    ob_ch(o, ' ');
    ob_u64_pad(o, c->syn_count, 3);
    ob_ch(o, ' ');
    const char *hs = flow_handshake_name(c->handshake);
    ob_pad(o, hs, strlen(hs), 8, false);
    ob_ch(o, ' ');
    const char *cb = flow_side_name(c->closed_by), *rb = flow_side_name(c->reset_by);
    ob_pad(o, cb, strlen(cb), 6, false);
    ob_ch(o, ' ');
    ob_pad(o, rb, strlen(rb), 6, false);
    ob_ch(o, ' ');
    ob_u64_pad(o, c->client.packets, 7);
    ob_ch(o, ' ');
    ob_u64_pad(o, c->server.packets, 7);
    ob_ch(o, ' ');
    ob_u64_pad(o, c->client.bytes, 10);
    ob_ch(o, ' ');
    ob_u64_pad(o, c->server.bytes, 10);
    ob_ch(o, '\n');
    ob_flush(o, w->out);
}

void rep_conn_write(rep_conn_writer *w, const flow_conn *c)
{
    switch (w->fmt) {
    case REP_CONN_NDJSON: write_ndjson(w, c); break;
    case REP_CONN_TSV: write_tsv(w, c); break;
    case REP_CONN_TABLE: write_table(w, c); break;
    }
    w->rows++;
}
