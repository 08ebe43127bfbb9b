/* abortive_close.c - detector: established connections ended with RST instead of FIN. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diagnose/diag_internal.h"

/*
 * An RST that ends an established connection is an abortive close: the
 * application closed with SO_LINGER {1, 0} or with unread data (RFC 2525
 * 2.17, Linux __tcp_close(), tcp-behaviour.md 1.2), or the peer had no
 * socket any more.  Neither side enters TIME_WAIT.  Some applications do it
 * on purpose to free ports at once (seed 003: Outlook): the finding is
 * informational.  Whether data was lost cannot be told from the records
 * (it would need the peer's unacknowledged data at the RST), so it is not
 * claimed.  ac_conn() groups the closes by server endpoint and closing
 * side; ac_judge() makes a group a verdict, ac_words() writes the finding
 * from the verdict alone.
 */

typedef struct grp {
    pkt_addr server;
    uint16_t port;
    enum flow_side by;
    uint64_t n;
    uint64_t example_packet;
    int64_t example_ts;
    pkt_addr example_client;
    uint16_t example_client_port;
} grp;

typedef struct ac_state {
    grp *g;
    size_t n, cap;
    uint64_t established;       /* per server endpoint would be nicer; total is enough */
    bool oom;
} ac_state;

static void *ac_create(diag_ctx *ctx)
{
    (void)ctx;
    return calloc(1, sizeof(ac_state));
}

static void ac_destroy(void *p)
{
    ac_state *st = p;
    free(st->g);
    free(st);
}

static void ac_conn(void *p, const flow_conn *c, diag_ctx *ctx)
{
    (void)ctx;
    ac_state *st = p;
    if (!c->established)
        return;
    st->established++;
    if (c->reset_by == FLOW_SIDE_NONE)
        return;
    const flow_endpoint *rst = c->reset_by == FLOW_SIDE_CLIENT ? &c->client : &c->server;
    /* After a FIN exchange both ways, an RST is a late answer, not a close. */
    if (c->client.fin_seen && c->server.fin_seen && rst->rst_ts > c->client.fin_ts &&
        rst->rst_ts > c->server.fin_ts)
        return;
    size_t k;
    for (k = 0; k < st->n; k++)
        if (st->g[k].port == c->server.port && st->g[k].by == c->reset_by &&
            memcmp(st->g[k].server.b, c->server.addr.b, 16) == 0)
            break;
    if (k == st->n) {
        if (st->n == st->cap) {
            size_t nc = st->cap ? st->cap * 2 : 8;
            grp *g = realloc(st->g, nc * sizeof *g);
            if (g == NULL) {
                st->oom = true;
                return;
            }
            st->g = g;
            st->cap = nc;
        }
        memset(&st->g[k], 0, sizeof st->g[k]);
        st->g[k].server = c->server.addr;
        st->g[k].port = c->server.port;
        st->g[k].by = c->reset_by;
        st->g[k].example_packet = rst->rst_packet;
        st->g[k].example_ts = rst->rst_ts;
        st->g[k].example_client = c->client.addr;
        st->g[k].example_client_port = c->client.port;
        st->n++;
    }
    st->g[k].n++;
}

/* ---- judge and words ------------------------------------------------------ */

/* What one group's abortive closes say (ac_judge()); ac_words() writes the
 * finding from it and from nothing else.  Nothing is claimed: the
 * connections were established, not failed attempts. */
typedef struct ac_verdict {
    pkt_addr server;
    uint16_t port;
    enum flow_side by;          /* the side that sent the RSTs */
    uint64_t n;                 /* connections ended so */
    double   share;             /* of all established connections */
    uint64_t example_packet;    /* the first RST: the evidence */
    int64_t  example_ts;
    pkt_addr example_client;
    uint16_t example_client_port;
    enum diag_severity severity;
    double   confidence;
} ac_verdict;

static void ac_judge(const ac_state *st, size_t k, ac_verdict *vd)
{
    const grp *g = &st->g[k];
    memset(vd, 0, sizeof *vd);
    vd->server = g->server;
    vd->port = g->port;
    vd->by = g->by;
    vd->n = g->n;
    vd->share = st->established ? (double)g->n / (double)st->established : 0;
    vd->example_packet = g->example_packet;
    vd->example_ts = g->example_ts;
    vd->example_client = g->example_client;
    vd->example_client_port = g->example_client_port;
    vd->severity = DIAG_INFO;
    vd->confidence = 0.9;
}

/* The finding of a verdict; 0 or -ENOMEM. */
static int ac_words(const ac_verdict *vd, const diag_ctx *ctx, diag_findings *out)
{
    diag_finding *f = diag_add(out, "abortive-close", vd->severity, vd->confidence);
    if (f == NULL)
        return -ENOMEM;
    char s[64], c[64];
    diag_endpoint(&vd->server, vd->port, s, sizeof s);
    diag_endpoint(&vd->example_client, vd->example_client_port, c, sizeof c);
    const char *who = flow_side_name(vd->by);
    f->events = vd->n;
    f->server = vd->server;
    f->server_port = vd->port;
    f->has_server = true;
    diag_summary(f, "%llu connection%s to %s ended with an RST from the %s instead of a FIN "
                 "exchange", (unsigned long long)vd->n, vd->n == 1 ? "" : "s", s, who);
    diag_explain(f, "The %s closed these connections abortively: an RST instead of a FIN. "
                 "Applications do this on purpose (SO_LINGER with a zero timeout) or by "
                 "closing with unread data; some, like Outlook, do it routinely. Neither "
                 "side then keeps TIME_WAIT, so the ports are free at once. It is harmless "
                 "when both sides were done; it loses data when the other side was still "
                 "sending.", who);
    diag_evidence_add(f, vd->example_packet, vd->example_ts, "%8.3f  %s  RST from the %s "
                      "(client %s)", diag_rel(ctx, vd->example_ts), s, who, c);
    diag_param_add(f, "connections", (double)vd->n, "");
    diag_param_add(f, "share", vd->share, "of established");
    diag_remedy_add(f, "Nothing to do if the application means it: RST closes free ports at "
                       "once and avoid TIME_WAIT",
                    "a peer still sending loses its data and sees ECONNRESET");
    diag_remedy_add(f, "If not intended, look for SO_LINGER {1, 0} or for sockets closed "
                       "with unread data in the application",
                    "a graceful close keeps TIME_WAIT on the closing side");
    return 0;
}

static int ac_finish(void *p, diag_ctx *ctx, diag_findings *out)
{
    ac_state *st = p;
    if (st->oom)
        return -ENOMEM;
    for (size_t k = 0; k < st->n; k++) {
        ac_verdict vd;
        ac_judge(st, k, &vd);
        int rc = ac_words(&vd, ctx, out);
        if (rc != 0)
            return rc;
    }
    return 0;
}

const diag_detector diag_det_abortive_close = {
    .id = "abortive-close",
    .create = ac_create,
    .conn = ac_conn,
    .finish = ac_finish,
    .destroy = ac_destroy,
};
