/* connection_refused.c - detector: SYNs refused by RST or ICMP, by the server or a device on the path. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "diagnose/diag_internal.h"

/*
 * How it works.  The lifecycle stage judged every attempt; this reads the
 * refused ones (lifecycle.h: a SYN answered by RST, RFC 9293 3.10.7.1; or
 * by an ICMP error quoting it, RFC 1122 4.2.3.9) that are not a scan's
 * probes, and groups them: one finding per server endpoint that refused,
 * and one per device on the path that refused for any number of servers
 * (a router answering "no route" for a whole address family is one
 * cause).  Who refused:
 *   - an ICMP error names its sender: the server itself (port or protocol
 *     unreachable, RFC 1122 3.2.2.1) or a router or firewall on the path
 *     (host or network unreachable, administratively prohibited: RFC 1812
 *     5.2.7.1, code 13);
 *   - an RST carries the server's address either way; its TTL tells the
 *     server from a device answering for it (tcp-behaviour.md 10: a host's
 *     packets leave with one initial TTL, so the server's SYN-ACKs and its
 *     RSTs arrive with the same TTL; a firewall nearer the capture answers
 *     with a higher one).  The comparison needs a SYN-ACK from that server
 *     in the capture.
 * Severity: error when the endpoint also accepted connections in the
 * capture (the refusals are intermittent: the classic symptom this tool
 * exists for) and they are at least a tenth of its attempts; warning
 * otherwise (a closed port or a blocking rule: every attempt refused).
 *
 * Limits.  A refusal from a device that forges the server's TTL is taken
 * for the server's.  A load balancer refusing for a pool member is the
 * server as far as the packets tell.
 */

/* An RST's TTL this many hops above the server's SYN-ACKs comes from
 * nearer the capture point than the server. */
#define RST_TTL_NEARER 2

typedef struct cr_group {
    uint64_t n, rst, icmp, retried, clients;
    uint64_t by_device;         /* refusals not from the server */
    pkt_addr device;            /* the first of them */
    bool     device_seen;
    uint8_t  icmp_type, icmp_code;
    bool     icmp_v6;
} cr_group;

static bool is_refusal(const lc_attempt *a)
{
    return a->outcome == LC_REFUSED && !a->probe;
}

/* The refusal came from a device, not the server. */
static bool from_device(const diag_ctx *ctx, const lc_attempt *a)
{
    if (a->detail == LC_D_ICMP)
        return memcmp(&a->answer_from, &a->server, sizeof a->server) != 0;
    lc_server_facts sf;
    if (!lc_server(ctx->lc, &a->server, 0, &sf) || sf.synack_ttl == 0)
        return false;
    return a->answer_ttl > sf.synack_ttl + RST_TTL_NEARER;
}

static const char *icmp_words(bool v6, uint8_t type, uint8_t code)
{
    if (!v6 && type == 3) {
        static const char *const u[] = {
            "network unreachable", "host unreachable", "protocol unreachable",
            "port unreachable", "fragmentation needed", "source route failed",
            "destination network unknown", "destination host unknown", "source host isolated",
            "network administratively prohibited", "host administratively prohibited",
            "network unreachable for TOS", "host unreachable for TOS",
            "communication administratively prohibited", "host precedence violation",
            "precedence cutoff in effect",
        };
        return code < sizeof u / sizeof u[0] ? u[code] : "unreachable";
    }
    if (v6 && type == 1) {
        static const char *const u[] = {
            "no route to destination", "communication administratively prohibited",
            "beyond scope of source address", "address unreachable", "port unreachable",
            "source address failed ingress/egress policy", "reject route to destination",
        };
        return code < sizeof u / sizeof u[0] ? u[code] : "unreachable";
    }
    if ((!v6 && type == 11) || (v6 && type == 3))
        return "time exceeded";
    return "ICMP error";
}

/* Unreachable for lack of a route, not by a rule: ICMP 3/0, 3/1, 3/6, 3/7
 * (RFC 792, RFC 1122 3.2.2.1), ICMPv6 1/0, 1/3 (RFC 4443 3.1). */
static bool icmp_is_routing(bool v6, uint8_t type, uint8_t code)
{
    if (v6)
        return type == 1 && (code == 0 || code == 3);
    return type == 3 && (code == 0 || code == 1 || code == 6 || code == 7);
}

static void group_attempts(const diag_ctx *ctx, const lc_attempt *att, const diag_ep_group *gr,
                           const size_t *next, cr_group *g)
{
    memset(g, 0, sizeof *g);
    const pkt_addr *first_client = &att[gr->first].client;
    bool other_client = false;
    for (size_t j = gr->first, m = 0; m < gr->n; j = next[j], m++) {
        const lc_attempt *a = &att[j];
        g->n++;
        g->retried += a->syns > 1;
        if (memcmp(&a->client, first_client, sizeof a->client) != 0)
            other_client = true;
        if (a->detail == LC_D_ICMP) {
            g->icmp++;
            g->icmp_type = a->icmp_type;
            g->icmp_code = a->icmp_code;
            g->icmp_v6 = a->icmp_v6;
        } else {
            g->rst++;
        }
        if (from_device(ctx, a)) {
            if (!g->device_seen)
                g->device = a->answer_from;
            g->device_seen = true;
            g->by_device++;
        }
    }
    g->clients = other_client ? 2 : 1;
}

static void cr_words(diag_finding *f, const diag_ctx *ctx, const cr_group *g,
                     const lc_server_facts *sf, const char *ep)
{
    char dev[PKT_ADDR_STRLEN];
    char how[96];
    if (g->icmp == 0)
        snprintf(how, sizeof how, "RST");
    else if (g->rst == 0)
        snprintf(how, sizeof how, "ICMP%s %s", g->icmp_v6 ? "v6" : "",
                 icmp_words(g->icmp_v6, g->icmp_type, g->icmp_code));
    else
        snprintf(how, sizeof how, "RST or ICMP");
    diag_summary(f, "%llu connection attempt%s to %s refused by %s%s%s",
                 (unsigned long long)g->n, g->n == 1 ? "" : "s", ep, how,
                 g->by_device > 0 ? " from a device on the path, " : "",
                 g->by_device > 0 ? diag_addr(&g->device, dev, sizeof dev) : "");
    if (g->by_device > 0 && g->icmp > 0 && icmp_is_routing(g->icmp_v6, g->icmp_type, g->icmp_code))
        diag_explain(f, "The refusals do not come from the server itself: a router on the way, "
                     "%s, answers that it has no route to %s (RFC 1812 5.2.7.1, RFC 4443 3.1): "
                     "a missing or withdrawn route, a host or address family the network does "
                     "not reach (IPv6 without an IPv6 uplink), a neighbour that does not answer.",
                     diag_addr(&g->device, dev, sizeof dev), ep);
    else if (g->by_device > 0)
        diag_explain(f, "The refusals do not come from the server itself: %s. A firewall, "
                     "load balancer or router on the way rejects these connections "
                     "(nftables/iptables `reject`, a security group, an ACL) before they "
                     "reach %s.",
                     g->icmp > 0 ? "the ICMP errors are sent by another address"
                                 : "the RSTs arrive with a TTL the server's own packets never have",
                     ep);
    else if (g->icmp > 0)
        diag_explain(f, "The server answered the SYNs with ICMP %s: nothing accepts "
                     "connections on that port or protocol there, or its own firewall "
                     "rejects them (RFC 1122 4.2.3.9: the client's connect() fails at once).",
                     icmp_words(g->icmp_v6, g->icmp_type, g->icmp_code));
    else
        diag_explain(f, "The server answered the SYNs with RST: no socket listens on that "
                     "port (RFC 9293 3.10.7.1), the service was down or restarting, or a "
                     "host firewall rule `reject with tcp reset` refuses the client. The "
                     "client's connect() fails with ECONNREFUSED.");
    if (sf->connected > 0)
        diag_explain(f, "The same endpoint accepted %llu other connection%s in this capture: "
                     "the refusals are intermittent (a listener restarting, a pool member "
                     "down behind a load balancer, a rule that matches only some clients).",
                     (unsigned long long)sf->connected, sf->connected == 1 ? "" : "s");
    else if (g->by_device < g->n)
        diag_explain(f, "No attempt to this endpoint connected in the capture.");
    if (g->retried > 0)
        diag_explain(f, "%llu of the attempts retried their SYN before the refusal.",
                     (unsigned long long)g->retried);
    (void)ctx;
    diag_param_add(f, "attempts", (double)g->n, "attempts");
    diag_param_add(f, "by_rst", (double)g->rst, "attempts");
    diag_param_add(f, "by_icmp", (double)g->icmp, "attempts");
    diag_param_add(f, "by_device", (double)g->by_device, "attempts");
    diag_param_add(f, "connected", (double)sf->connected, "attempts");
    if (g->by_device > 0)
        diag_remedy_add(f, "Find the rule that rejects these connections on the device that "
                           "answered (its address is in the evidence) and allow the traffic",
                        "a rule that was meant to block must then be narrowed, not removed");
    diag_remedy_add(f, "Check that the service listens on that address and port (ss -ltn), "
                       "and what stopped or restarted it at the times in the evidence",
                    "none: diagnosis");
    if (sf->connected > 0)
        diag_remedy_add(f, "If a load balancer or DNS name spreads clients over several "
                           "servers, take the refusing one out of the pool",
                        "less capacity until it is fixed");
}

static void cr_evidence(diag_finding *f, const diag_ctx *ctx, const lc_attempt *att,
                        const diag_ep_group *gr, const size_t *next)
{
    for (size_t j = gr->first, m = 0; m < gr->n; j = next[j], m++) {
        const lc_attempt *a = &att[j];
        char c[64], s[64], from[PKT_ADDR_STRLEN];
        diag_endpoint(&a->client, a->client_port, c, sizeof c);
        diag_endpoint(&a->server, a->server_port, s, sizeof s);
        if (a->detail == LC_D_ICMP)
            diag_evidence_add(f, a->decisive_packet, a->decisive_ts,
                              "%8.3f  %s > %s  SYN (%u sent) refused by ICMP%s %u/%u (%s) from %s, TTL %u",
                              diag_rel(ctx, a->decisive_ts), c, s, a->syns, a->icmp_v6 ? "v6" : "",
                              a->icmp_type, a->icmp_code,
                              icmp_words(a->icmp_v6, a->icmp_type, a->icmp_code),
                              diag_addr(&a->answer_from, from, sizeof from), a->answer_ttl);
        else
            diag_evidence_add(f, a->decisive_packet, a->decisive_ts,
                              "%8.3f  %s > %s  SYN (%u sent) answered by RST, TTL %u%s",
                              diag_rel(ctx, a->decisive_ts), c, s, a->syns, a->answer_ttl,
                              from_device(ctx, a) ? " (not the server's TTL)" : "");
    }
}

/* The group an attempt's refusal belongs to: one device on the path
 * refusing for many servers is one cause (its address, port 0: no TCP
 * endpoint has port 0); a server refusing, its endpoint. */
static void group_key(const diag_ctx *ctx, const lc_attempt *a, const pkt_addr **addr,
                      uint16_t *port)
{
    if (from_device(ctx, a)) {
        *addr = &a->answer_from;
        *port = 0;
    } else {
        *addr = &a->server;
        *port = a->server_port;
    }
}

/* Distinct servers among a group's attempts (they come by first packet:
 * counted where the server changes; exact for one server, a lower bound
 * otherwise). */
static uint64_t group_servers(const lc_attempt *att, const diag_ep_group *gr, const size_t *next)
{
    uint64_t n = 0;
    const pkt_addr *prev = NULL;
    for (size_t j = gr->first, m = 0; m < gr->n; j = next[j], m++) {
        if (prev == NULL || memcmp(prev, &att[j].server, sizeof *prev) != 0)
            n++;
        prev = &att[j].server;
    }
    return n;
}

static int cr_finish(void *st, diag_ctx *ctx, diag_findings *out)
{
    (void)st;
    size_t n;
    const lc_attempt *att = lc_attempts(ctx->lc, &n);
    diag_ep_groups eg;
    int rc = diag_ep_groups_init(&eg, n, (uint64_t)(uintptr_t)ctx * 0x9e3779b97f4a7c15ULL);
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (!is_refusal(&att[i]))
            continue;
        const pkt_addr *addr;
        uint16_t port;
        group_key(ctx, &att[i], &addr, &port);
        if (diag_ep_groups_add(&eg, addr, port, i) < 0)
            rc = -ENOMEM;
    }
    for (size_t k = 0; k < eg.n && rc == 0; k++) {
        const diag_ep_group *gr = &eg.v[k];
        bool device = gr->port == 0;
        cr_group g;
        group_attempts(ctx, att, gr, eg.next, &g);
        lc_server_facts sf;
        if (device)
            memset(&sf, 0, sizeof sf);
        else
            lc_server(ctx->lc, &gr->addr, gr->port, &sf);
        bool intermittent = sf.connected > 0 && g.n * 10 >= g.n + sf.connected;
        diag_finding *f = diag_add(out, "connection-refused",
                                   intermittent ? DIAG_ERROR : DIAG_WARNING, 0.9);
        if (f == NULL) {
            rc = -ENOMEM;
            break;
        }
        const lc_attempt *a0 = &att[gr->first];
        uint64_t servers = device ? group_servers(att, gr, eg.next) : 1;
        char ep[96];
        if (servers > 1)
            snprintf(ep, sizeof ep, "%llu servers", (unsigned long long)servers);
        else
            diag_endpoint(&a0->server, a0->server_port, ep, sizeof ep);
        f->events = g.n;
        if (servers == 1) {
            f->server = a0->server;
            f->server_port = device && a0->detail != LC_D_ICMP ? 0 : a0->server_port;
            f->has_server = true;
        }
        if (g.clients == 1) {
            f->client = a0->client;
            f->has_client = true;
        }
        cr_words(f, ctx, &g, &sf, ep);
        cr_evidence(f, ctx, att, gr, eg.next);
        for (size_t j = gr->first, m = 0; m < gr->n && rc == 0; j = eg.next[j], m++)
            rc = diag_claim(f, att[j].first_packet);
    }
    diag_ep_groups_free(&eg);
    return rc;
}

const diag_detector diag_det_connection_refused = {
    .id = "connection-refused",
    .finish = cr_finish,
};
