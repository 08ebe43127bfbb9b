/* conn_format.c - write connection incarnations as an aligned table, NDJSON or TSV. */
#include "tcpdoctor/report.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

struct rep_conn_writer {
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
    putc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(out, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(out, "\\u%04x", *p);
        else
            putc(*p, out);
    }
    putc('"', out);
}

void rep_json_time(FILE *out, int64_t ts_ns)
{
    /* floor division so that times before 1970 stay correct */
    int64_t sec = ts_ns / 1000000000LL, ns = ts_ns % 1000000000LL;
    if (ns < 0) {
        ns += 1000000000LL;
        sec--;
    }
    fprintf(out, "%" PRId64 ".%06" PRId64, sec, ns / 1000);
}

static const char *addr(const pkt_addr *a, char *buf)
{
    return pkt_addr_str(a, buf, PKT_ADDR_STRLEN);
}

/* ---- NDJSON ---------------------------------------------------------- */

typedef struct jw {
    FILE *out;
    bool first;
} jw;

static void jkey(jw *j, const char *k)
{
    fputs(j->first ? "{\"" : ",\"", j->out);
    j->first = false;
    fputs(k, j->out);
    fputs("\":", j->out);
}

static void jstr(jw *j, const char *k, const char *v) { jkey(j, k); rep_json_string(j->out, v); }
static void ju64(jw *j, const char *k, uint64_t v) { jkey(j, k); fprintf(j->out, "%" PRIu64, v); }
static void jbool(jw *j, const char *k, bool v) { jkey(j, k); fputs(v ? "true" : "false", j->out); }
static void jtime(jw *j, const char *k, int64_t ns) { jkey(j, k); rep_json_time(j->out, ns); }
static void jnull(jw *j, const char *k) { jkey(j, k); fputs("null", j->out); }

static void jopt_u64(jw *j, const char *k, bool present, uint64_t v)
{
    if (present) ju64(j, k, v); else jnull(j, k);
}

static void jopt_time(jw *j, const char *k, bool present, int64_t ns)
{
    if (present) jtime(j, k, ns); else jnull(j, k);
}

/* Per-side fields, prefixed "client_" or "server_". */
static void endpoint_json(jw *j, const char *side, const flow_endpoint *e)
{
    char k[48];
#define K(name) (snprintf(k, sizeof k, "%s_%s", side, name), k)
    jopt_u64(j, K("isn"), e->isn_seen, e->isn);
    jopt_u64(j, K("final_seq"), e->seq_seen, e->next_seq);
    jopt_u64(j, K("ttl"), e->packets > 0, e->ttl_first);
    jopt_u64(j, K("fin_packet"), e->fin_seen, e->fin_packet);
    jopt_time(j, K("fin_time"), e->fin_seen, e->fin_ts);
    ju64(j, K("rst_count"), e->rst_count);
    jopt_u64(j, K("rst_packet"), e->rst_count > 0, e->rst_packet);
    jopt_time(j, K("rst_time"), e->rst_count > 0, e->rst_ts);
    jopt_u64(j, K("rst_seq"), e->rst_count > 0, e->rst_seq);
    jopt_u64(j, K("tsval_first"), e->ts_seen, e->tsval_first);
    jopt_u64(j, K("tsval_last"), e->ts_seen, e->tsval_last);
    jopt_u64(j, K("mss"), e->syn_opts_seen && e->syn_opts.has_mss, e->syn_opts.mss);
    jopt_u64(j, K("wscale"), e->syn_opts_seen && e->syn_opts.has_wscale, e->syn_opts.wscale);
    ju64(j, K("retransmits"), e->retransmits);
#undef K
}

static void write_ndjson(rep_conn_writer *w, const flow_conn *c)
{
    char a[PKT_ADDR_STRLEN];
    jw j = { w->out, true };
    ju64(&j, "incarnation", c->incarnation);
    jstr(&j, "client", addr(&c->client.addr, a));
    ju64(&j, "client_port", c->client.port);
    jstr(&j, "server", addr(&c->server.addr, a));
    ju64(&j, "server_port", c->server.port);
    jbool(&j, "roles_inferred", c->roles_inferred);
    ju64(&j, "vlan", c->vlan);
    ju64(&j, "first_packet", c->first_packet);
    ju64(&j, "last_packet", c->last_packet);
    jtime(&j, "start", c->first_ts);
    jtime(&j, "end", c->last_ts);
    jstr(&j, "state", c->state);
    jstr(&j, "history", c->history);
    ju64(&j, "syn_count", c->syn_count);
    jkey(&j, "syn_packets");
    for (int i = 0; i < c->syn_count && i < FLOW_MAX_SYN; i++)
        fprintf(w->out, "%s%" PRIu64, i ? "," : "[", c->syn_packet[i]);
    fputs(c->syn_count ? "]" : "[]", w->out);
    jkey(&j, "syn_times");
    for (int i = 0; i < c->syn_count && i < FLOW_MAX_SYN; i++) {
        fputs(i ? "," : "[", w->out);
        rep_json_time(w->out, c->syn_ts[i]);
    }
    fputs(c->syn_count ? "]" : "[]", w->out);
    jstr(&j, "handshake", flow_handshake_name(c->handshake));
    jstr(&j, "first_answer", flow_handshake_name(c->first_answer));
    jopt_u64(&j, "first_answer_packet", c->handshake_packet != 0, c->handshake_packet);
    ju64(&j, "handshake_rsts", c->handshake_rsts);
    ju64(&j, "synack_count", c->synack_count);
    jbool(&j, "established", c->established);
    jstr(&j, "closed_by", flow_side_name(c->closed_by));
    jstr(&j, "reset_by", flow_side_name(c->reset_by));
    ju64(&j, "packets_to_server", c->client.packets);
    ju64(&j, "packets_to_client", c->server.packets);
    ju64(&j, "bytes_to_server", c->client.bytes);
    ju64(&j, "bytes_to_client", c->server.bytes);
    ju64(&j, "ip_bytes_to_server", c->client.ip_bytes);
    ju64(&j, "ip_bytes_to_client", c->server.ip_bytes);
    endpoint_json(&j, "client", &c->client);
    endpoint_json(&j, "server", &c->server);
    ju64(&j, "fragments", c->fragments);
    jstr(&j, "end_reason", flow_end_name(c->end));
    fputs("}\n", w->out);
}

/* ---- TSV ------------------------------------------------------------- */

static const char tsv_header[] =
    "incarnation\tclient\tclient_port\tserver\tserver_port\tfirst_packet\tlast_packet\t"
    "start\tend\tstate\thistory\tsyn_count\thandshake\tfirst_answer\tclosed_by\treset_by\t"
    "packets_to_server\tpackets_to_client\tbytes_to_server\tbytes_to_client\tend_reason\n";

static void write_tsv(rep_conn_writer *w, const flow_conn *c)
{
    char a[PKT_ADDR_STRLEN], b[PKT_ADDR_STRLEN];
    FILE *o = w->out;
    if (w->rows == 0)
        fputs(tsv_header, o);
    fprintf(o, "%" PRIu32 "\t%s\t%u\t%s\t%u\t%" PRIu64 "\t%" PRIu64 "\t", c->incarnation,
            addr(&c->client.addr, a), c->client.port, addr(&c->server.addr, b),
            c->server.port, c->first_packet, c->last_packet);
    rep_json_time(o, c->first_ts);
    putc('\t', o);
    rep_json_time(o, c->last_ts);
    fprintf(o, "\t%s\t%s\t%u\t%s\t%s\t%s\t%s\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64
            "\t%s\n", c->state, c->history[0] ? c->history : "-", c->syn_count,
            flow_handshake_name(c->handshake), flow_handshake_name(c->first_answer),
            flow_side_name(c->closed_by), flow_side_name(c->reset_by), c->client.packets,
            c->server.packets, c->client.bytes, c->server.bytes, flow_end_name(c->end));
}

/* ---- table ----------------------------------------------------------- */

/* Fixed widths wide enough for IPv4 ("255.255.255.255:65535" is 21); an
 * IPv6 endpoint widens its own row rather than the whole table, so the
 * table can be written as records arrive. */
static void write_table(rep_conn_writer *w, const flow_conn *c)
{
    FILE *o = w->out;
    char a[PKT_ADDR_STRLEN], ep1[PKT_ADDR_STRLEN + 8], ep2[PKT_ADDR_STRLEN + 8];
    if (w->rows == 0)
        fprintf(o, "%6s %3s  %-21s  %-21s %11s %10s  %-6s %-16s %3s %-8s %-6s %-6s %7s %7s %10s %10s\n",
                "frame", "inc", "client", "server", "start", "duration", "state", "history",
                "syn", "answer", "closer", "reset", "pkt>s", "pkt>c", "bytes>s", "bytes>c");
    const char *fa = pkt_addr_is_v4(&c->client.addr) ? "%s:%u" : "[%s]:%u";
    snprintf(ep1, sizeof ep1, fa, addr(&c->client.addr, a), c->client.port);
    const char *fb = pkt_addr_is_v4(&c->server.addr) ? "%s:%u" : "[%s]:%u";
    snprintf(ep2, sizeof ep2, fb, addr(&c->server.addr, a), c->server.port);
    double start = w->have_t0 ? (double)(c->first_ts - w->t0) / 1e9 : 0.0;
    double dur = (double)(c->last_ts - c->first_ts) / 1e9;
    fprintf(o, "%6" PRIu64 " %3" PRIu32 "%s %-21s  %-21s %11.6f %10.6f  %-6s %-16s %3u %-8s %-6s %-6s %7"
            PRIu64 " %7" PRIu64 " %10" PRIu64 " %10" PRIu64 "\n",
            c->first_packet, c->incarnation, c->roles_inferred ? "?" : " ", ep1, ep2, start,
            dur, c->state, c->history[0] ? c->history : "-", c->syn_count,
            flow_handshake_name(c->handshake), flow_side_name(c->closed_by),
            flow_side_name(c->reset_by), c->client.packets, c->server.packets, c->client.bytes,
            c->server.bytes);
}

void rep_conn_write(void *ctx, const flow_conn *c)
{
    rep_conn_writer *w = ctx;
    switch (w->fmt) {
    case REP_CONN_NDJSON: write_ndjson(w, c); break;
    case REP_CONN_TSV: write_tsv(w, c); break;
    case REP_CONN_TABLE: write_table(w, c); break;
    }
    w->rows++;
}
