/* connection_refused.c - detector: SYNs refused by RST or ICMP, by the server or a device on the path. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
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
 * cr_judge() decides all this into a verdict (counts, who refused, the
 * subject, severity, the attempts claimed and shown); cr_words() writes
 * the finding from the verdict alone.
 *
 * Limits.  A refusal from a device that forges the server's TTL is taken
 * for the server's.  A load balancer refusing for a pool member is the
 * server as far as the packets tell.
 */

/* An RST's TTL this many hops above the server's SYN-ACKs comes from
 * nearer the capture point than the server. */
#define RST_TTL_NEARER 2

/* One refused attempt of a group, as the verdict shows it. */
typedef struct cr_ev {
    const lc_attempt *a;
    bool by_device;             /* its refusal did not come from the server */
} cr_ev;

/* What one group's refusals say (cr_judge()); cr_words() writes the
 * finding from it and from nothing else. */
typedef struct cr_verdict {
    uint64_t n, rst, icmp, retried, clients;
    uint64_t by_device;         /* refusals not from the server */
    pkt_addr device;            /* the first of them */
    uint8_t  icmp_type, icmp_code;  /* of the last ICMP refusal */
    bool     icmp_v6;
    uint64_t connected;         /* the endpoint's accepted connections (0: a device) */
    uint64_t servers;           /* distinct servers refused (a lower bound) */
    pkt_addr server;            /* the first attempt's server endpoint: the one named */
    uint16_t server_port;
    bool     has_server;        /* one server: the finding names it, port subject_port */
    uint16_t subject_port;
    pkt_addr client;
    bool     has_client;        /* one client */
    enum diag_severity severity;
    double   confidence;
    cr_ev   *ev;                /* the group's attempts in order: evidence and claims */
    size_t   n_ev;
} cr_verdict;

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

/* ---- judge: the numbers, the subject, severity, attempts ---------------- */

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

/* Count the group's refusals by kind and by who sent them, and list its
 * attempts in vd->ev. */
static void count_attempts(const diag_ctx *ctx, const lc_attempt *att, const diag_ep_group *gr,
                           const size_t *next, cr_verdict *vd)
{
    const pkt_addr *first_client = &att[gr->first].client;
    bool other_client = false;
    for (size_t j = gr->first, m = 0; m < gr->n; j = next[j], m++) {
        const lc_attempt *a = &att[j];
        cr_ev *e = &vd->ev[vd->n_ev++];
        e->a = a;
        e->by_device = from_device(ctx, a);
        vd->n++;
        vd->retried += a->syns > 1;
        if (memcmp(&a->client, first_client, sizeof a->client) != 0)
            other_client = true;
        if (a->detail == LC_D_ICMP) {
            vd->icmp++;
            vd->icmp_type = a->icmp_type;
            vd->icmp_code = a->icmp_code;
            vd->icmp_v6 = a->icmp_v6;
        } else {
            vd->rst++;
        }
        if (e->by_device) {
            if (vd->by_device == 0)
                vd->device = a->answer_from;
            vd->by_device++;
        }
    }
    vd->clients = other_client ? 2 : 1;
}

/* Judge group gr into *vd (cr_verdict_free() in any case); 0 or -ENOMEM. */
static int cr_judge(const diag_ctx *ctx, const lc_attempt *att, const diag_ep_group *gr,
                    const size_t *next, cr_verdict *vd)
{
    memset(vd, 0, sizeof *vd);
    vd->ev = calloc(gr->n ? gr->n : 1, sizeof *vd->ev);
    if (vd->ev == NULL)
        return -ENOMEM;
    count_attempts(ctx, att, gr, next, vd);
    bool device = gr->port == 0;
    lc_server_facts sf;
    if (device)
        memset(&sf, 0, sizeof sf);
    else
        lc_server(ctx->lc, &gr->addr, gr->port, &sf);
    vd->connected = sf.connected;
    bool intermittent = sf.connected > 0 && vd->n * 10 >= vd->n + sf.connected;
    vd->severity = intermittent ? DIAG_ERROR : DIAG_WARNING;
    vd->confidence = 0.9;
    const lc_attempt *a0 = &att[gr->first];
    vd->servers = device ? group_servers(att, gr, next) : 1;
    vd->server = a0->server;
    vd->server_port = a0->server_port;
    vd->has_server = vd->servers == 1;
    vd->subject_port = device && a0->detail != LC_D_ICMP ? 0 : a0->server_port;
    vd->client = a0->client;
    vd->has_client = vd->clients == 1;
    return 0;
}

static void cr_verdict_free(cr_verdict *vd)
{
    free(vd->ev);
    vd->ev = NULL;
    vd->n_ev = 0;
}

/* ---- words: the finding's text, from the verdict only ------------------- */

static void cr_summary(diag_finding *f, const cr_verdict *vd, const char *ep)
{
    char dev[PKT_ADDR_STRLEN];
    char how[96];
    if (vd->icmp == 0)
        snprintf(how, sizeof how, "RST");
    else if (vd->rst == 0)
        snprintf(how, sizeof how, "ICMP%s %s", vd->icmp_v6 ? "v6" : "",
                 icmp_words(vd->icmp_v6, vd->icmp_type, vd->icmp_code));
    else
        snprintf(how, sizeof how, "RST or ICMP");
    diag_summary(f, "%llu connection attempt%s to %s refused by %s%s%s",
                 (unsigned long long)vd->n, vd->n == 1 ? "" : "s", ep, how,
                 vd->by_device > 0 ? " from a device on the path, " : "",
                 vd->by_device > 0 ? diag_addr(&vd->device, dev, sizeof dev) : "");
}

static void cr_explain(diag_finding *f, const cr_verdict *vd, const char *ep)
{
    char dev[PKT_ADDR_STRLEN];
    if (vd->by_device > 0 && vd->icmp > 0 &&
        icmp_is_routing(vd->icmp_v6, vd->icmp_type, vd->icmp_code))
        diag_explain(f, "The refusals do not come from the server itself: a router on the way, "
                     "%s, answers that it has no route to %s (RFC 1812 5.2.7.1, RFC 4443 3.1): "
                     "a missing or withdrawn route, a host or address family the network does "
                     "not reach (IPv6 without an IPv6 uplink), a neighbour that does not answer.",
                     diag_addr(&vd->device, dev, sizeof dev), ep);
    else if (vd->by_device > 0)
        diag_explain(f, "The refusals do not come from the server itself: %s. A firewall, "
                     "load balancer or router on the way rejects these connections "
                     "(nftables/iptables `reject`, a security group, an ACL) before they "
                     "reach %s.",
                     vd->icmp > 0 ? "the ICMP errors are sent by another address"
                                  : "the RSTs arrive with a TTL the server's own packets never have",
                     ep);
    else if (vd->icmp > 0)
        diag_explain(f, "The server answered the SYNs with ICMP %s: nothing accepts "
                     "connections on that port or protocol there, or its own firewall "
                     "rejects them (RFC 1122 4.2.3.9: the client's connect() fails at once).",
                     icmp_words(vd->icmp_v6, vd->icmp_type, vd->icmp_code));
    else
        diag_explain(f, "The server answered the SYNs with RST: no socket listens on that "
                     "port (RFC 9293 3.10.7.1), the service was down or restarting, or a "
                     "host firewall rule `reject with tcp reset` refuses the client. The "
                     "client's connect() fails with ECONNREFUSED.");
    if (vd->connected > 0)
        diag_explain(f, "The same endpoint accepted %llu other connection%s in this capture: "
                     "the refusals are intermittent (a listener restarting, a pool member "
                     "down behind a load balancer, a rule that matches only some clients).",
                     (unsigned long long)vd->connected, vd->connected == 1 ? "" : "s");
    else if (vd->by_device < vd->n)
        diag_explain(f, "No attempt to this endpoint connected in the capture.");
    if (vd->retried > 0)
        diag_explain(f, "%llu of the attempts retried their SYN before the refusal.",
                     (unsigned long long)vd->retried);
}

static void cr_params_remedies(diag_finding *f, const cr_verdict *vd)
{
    diag_param_add(f, "attempts", (double)vd->n, "attempts");
    diag_param_add(f, "by_rst", (double)vd->rst, "attempts");
    diag_param_add(f, "by_icmp", (double)vd->icmp, "attempts");
    diag_param_add(f, "by_device", (double)vd->by_device, "attempts");
    diag_param_add(f, "connected", (double)vd->connected, "attempts");
    if (vd->by_device > 0)
        diag_remedy_add(f, "Find the rule that rejects these connections on the device that "
                           "answered (its address is in the evidence) and allow the traffic",
                        "a rule that was meant to block must then be narrowed, not removed");
    diag_remedy_add(f, "Check that the service listens on that address and port (ss -ltn), "
                       "and what stopped or restarted it at the times in the evidence",
                    "none: diagnosis");
    if (vd->connected > 0)
        diag_remedy_add(f, "If a load balancer or DNS name spreads clients over several "
                           "servers, take the refusing one out of the pool",
                        "less capacity until it is fixed");
}

static void cr_evidence(diag_finding *f, const diag_ctx *ctx, const cr_verdict *vd)
{
    for (size_t i = 0; i < vd->n_ev; i++) {
        const lc_attempt *a = vd->ev[i].a;
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
                              vd->ev[i].by_device ? " (not the server's TTL)" : "");
    }
}

/* The finding of a verdict; NULL when out of memory. */
static diag_finding *cr_words(const cr_verdict *vd, const diag_ctx *ctx, diag_findings *out)
{
    diag_finding *f = diag_add(out, "connection-refused", vd->severity, vd->confidence);
    if (f == NULL)
        return NULL;
    char ep[96];
    if (vd->servers > 1)
        snprintf(ep, sizeof ep, "%llu servers", (unsigned long long)vd->servers);
    else
        diag_endpoint(&vd->server, vd->server_port, ep, sizeof ep);
    f->events = vd->n;
    if (vd->has_server) {
        f->server = vd->server;
        f->server_port = vd->subject_port;
        f->has_server = true;
    }
    if (vd->has_client) {
        f->client = vd->client;
        f->has_client = true;
    }
    cr_summary(f, vd, ep);
    cr_explain(f, vd, ep);
    cr_params_remedies(f, vd);
    cr_evidence(f, ctx, vd);
    return f;
}

/* ---- finish: group, judge, word, claim ----------------------------------- */

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
        cr_verdict vd;
        rc = cr_judge(ctx, att, &eg.v[k], eg.next, &vd);
        diag_finding *f = rc == 0 ? cr_words(&vd, ctx, out) : NULL;
        if (f == NULL)
            rc = -ENOMEM;
        for (size_t i = 0; i < vd.n_ev && rc == 0; i++)
            rc = diag_claim(f, vd.ev[i].a->first_packet);
        cr_verdict_free(&vd);
    }
    diag_ep_groups_free(&eg);
    return rc;
}

const diag_detector diag_det_connection_refused = {
    .id = "connection-refused",
    .finish = cr_finish,
};
