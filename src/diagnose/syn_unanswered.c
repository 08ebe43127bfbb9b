/* syn_unanswered.c - detector: SYNs nothing answered, when no more specific finding explains them. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diagnose/diag_internal.h"

/*
 * The catch-all: incarnations whose SYNs got no SYN-ACK, RST or ACK at all.
 * It runs last and leaves out every incarnation a specific detector marked
 * as explained (TIME_WAIT reuse, PAWS drops, a full port pool...).  A lone
 * SYN in the last second of the capture is not counted: its answer may
 * simply not have been captured yet.
 */

#define TAIL_GRACE_NS 1000000000LL

typedef struct unans {
    uint64_t first_packet;
    int64_t  first_ts, last_syn_ts;
    pkt_addr client, server;
    uint16_t client_port, server_port;
    uint16_t syns;
    bool     gave_up_rst;
} unans;

typedef struct su_state {
    unans *v;
    size_t n, cap;
    bool oom;
} su_state;

static void *su_create(diag_ctx *ctx)
{
    (void)ctx;
    return calloc(1, sizeof(su_state));
}

static void su_destroy(void *p)
{
    su_state *st = p;
    free(st->v);
    free(st);
}

static void su_conn(void *p, const flow_conn *c, diag_ctx *ctx)
{
    (void)ctx;
    su_state *st = p;
    if (c->syn_count == 0 || c->handshake != FLOW_HS_NONE || c->roles_inferred)
        return;
    if (st->n == st->cap) {
        size_t nc = st->cap ? st->cap * 2 : 64;
        unans *v = realloc(st->v, nc * sizeof *v);
        if (v == NULL) {
            st->oom = true;
            return;
        }
        st->v = v;
        st->cap = nc;
    }
    unans *u = &st->v[st->n++];
    u->first_packet = c->first_packet;
    u->first_ts = c->syn_ts[0];
    unsigned last = c->syn_count < FLOW_MAX_SYN ? c->syn_count : FLOW_MAX_SYN;
    u->last_syn_ts = c->syn_ts[last - 1];
    u->client = c->client.addr;
    u->server = c->server.addr;
    u->client_port = c->client.port;
    u->server_port = c->server.port;
    u->syns = c->syn_count;
    u->gave_up_rst = c->client.rst_count > 0;
}

static int su_finish(void *p, diag_ctx *ctx, diag_findings *out)
{
    su_state *st = p;
    if (st->oom)
        return -ENOMEM;
    bool *done = calloc(st->n ? st->n : 1, sizeof *done);
    if (done == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < st->n; i++) {
        unans *u = &st->v[i];
        if (diag_ctx_is_explained(ctx, u->first_packet) ||
            (u->syns == 1 && ctx->last_ts - u->last_syn_ts < TAIL_GRACE_NS))
            done[i] = true;
    }
    /* One finding per server endpoint, in the order of their first attempt. */
    diag_ep_groups eg;
    int rc = diag_ep_groups_init(&eg, st->n, (uint64_t)(uintptr_t)st * 0x9e3779b97f4a7c15ULL);
    for (size_t i = 0; i < st->n && rc == 0; i++)
        if (!done[i] && diag_ep_groups_add(&eg, &st->v[i].server, st->v[i].server_port, i) < 0)
            rc = -ENOMEM;
    for (size_t k = 0; k < eg.n && rc == 0; k++) {
        const diag_ep_group *gr = &eg.v[k];
        const unans *u0 = &st->v[gr->first];
        diag_finding *f = diag_add(out, "syn-unanswered", DIAG_WARNING, 0.7);
        if (f == NULL) {
            rc = -ENOMEM;
            break;
        }
        uint64_t n = gr->n, syns = 0, gave_up = 0;
        pkt_addr first_client = u0->client;
        bool one_client = true;
        for (size_t j = gr->first, m = 0; m < gr->n; j = eg.next[j], m++) {
            const unans *u = &st->v[j];
            syns += u->syns;
            gave_up += u->gave_up_rst;
            if (memcmp(u->client.b, first_client.b, 16) != 0)
                one_client = false;
            char c[64], s[64];
            diag_endpoint(&u->client, u->client_port, c, sizeof c);
            diag_endpoint(&u->server, u->server_port, s, sizeof s);
            diag_evidence_add(f, u->first_packet, u->first_ts,
                              "%8.3f  %s > %s  SYN, %u transmission%s over %.1f s, no answer%s",
                              diag_rel(ctx, u->first_ts), c, s, u->syns, u->syns == 1 ? "" : "s",
                              diag_secs(u->last_syn_ts - u->first_ts),
                              u->gave_up_rst ? "; the client gave up with RST" : "");
        }
        char s[64];
        diag_endpoint(&u0->server, u0->server_port, s, sizeof s);
        f->events = n;
        f->server = u0->server;
        f->server_port = u0->server_port;
        f->has_server = true;
        if (one_client) {
            f->client = first_client;
            f->has_client = true;
        }
        diag_summary(f, "%llu connection attempt%s to %s got no answer at all (%llu SYNs)",
                     (unsigned long long)n, n == 1 ? "" : "s", s, (unsigned long long)syns);
        if (ctx->vantage == DIAG_VANTAGE_SERVER)
            diag_explain(f, "The SYNs reached the capture point at the server, and the server "
                         "sent nothing back: no SYN-ACK, no RST. A listener whose accept queue "
                         "is full drops SYNs (ListenOverflows/ListenDrops), so does a host "
                         "firewall, and so does a per-host timestamp check (see paws-reject "
                         "when timestamps are involved).");
        else
            diag_explain(f, "The SYNs left the client and nothing came back: no SYN-ACK, no RST. "
                         "They were dropped on the way (a firewall, a NAT without a free port, "
                         "a route) or by the server. A capture at the server side would tell "
                         "which: if the SYNs are not there, the path dropped them.");
        diag_param_add(f, "attempts", (double)n, "");
        diag_param_add(f, "syns", (double)syns, "");
        diag_param_add(f, "gave_up_rst", (double)gave_up, "attempts");
        diag_remedy_add(f, "Check the server's listen queue and counters (netstat -s: "
                           "\"SYNs to LISTEN sockets dropped\", ListenOverflows) and its firewall",
                        "none: diagnosis");
        diag_remedy_add(f, "Capture on the other side of the path (at the server if this is the "
                           "client, and the reverse) to see where the SYNs disappear",
                        "none: diagnosis");
    }
    diag_ep_groups_free(&eg);
    free(done);
    return rc;
}

const diag_detector diag_det_syn_unanswered = {
    .id = "syn-unanswered",
    .create = su_create,
    .conn = su_conn,
    .finish = su_finish,
    .destroy = su_destroy,
};
