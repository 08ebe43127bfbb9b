/* nh_words.c - nat-multiple-hosts: the finding's text, from the verdict only. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "diagnose/nh_internal.h"

static void layout_str(const uint8_t *k, unsigned n, char *buf, size_t len)
{
    size_t off = 0;
    buf[0] = '\0';
    if (n == 0) {
        snprintf(buf, len, "no options");
        return;
    }
    for (unsigned i = 0; i < n && off < len; i++) {
        const char *name = k[i] == 0 ? "eol" : k[i] == 1 ? "nop" : k[i] == 2 ? "mss" :
                           k[i] == 3 ? "ws" : k[i] == 4 ? "sok" : k[i] == 5 ? "sack" :
                           k[i] == 8 ? "ts" : NULL;
        int w = name ? snprintf(buf + off, len - off, "%s%s", i ? "," : "", name)
                     : snprintf(buf + off, len - off, "%s?%u", i ? "," : "", k[i]);
        if (w < 0)
            break;
        off += (size_t)w;
    }
}

static void sig_words(const nh_vsig *s, char *buf, size_t len)
{
    if (!s->kept) {
        snprintf(buf, len, "signature not kept");
        return;
    }
    char lay[96];
    layout_str(s->layout, s->layout_len, lay, sizeof lay);
    snprintf(buf, len, "TTL %u (initial %u), SYN %s%s", s->ttl, s->ttl_initial, lay,
             s->has_ts ? "" : ", no timestamps");
}

static void rate_words(uint32_t rate, char *buf, size_t len)
{
    if (rate)
        snprintf(buf, len, "%u Hz", rate);
    else
        snprintf(buf, len, "rate not fixed");
}

/* One line per host: its clock, or its TTL/layout pair. */
static void host_evidence(diag_finding *f, const nh_verdict *vd, const diag_ctx *ctx)
{
    char cl[64], sv[64], sig[160], rate[32];
    for (size_t i = 0; i < vd->n_host; i++) {
        const nh_vhost *h = &vd->host[i];
        unsigned host = (unsigned)i + 1;
        sig_words(&h->sig, sig, sizeof sig);
        diag_endpoint(&h->client, h->cport, cl, sizeof cl);
        diag_endpoint(&h->server, h->sport, sv, sizeof sv);
        rate_words(h->rate, rate, sizeof rate);
        if (h->kind == NH_HOST_TUPLE_CLOCK)
            diag_evidence_add(f, h->packet, h->t0,
                              "%8.3f  %s > %s  host %u: timestamp clock %s, TSval %u here (about %u "
                              "at the capture start), %s; %u connections on this reused 4-tuple, "
                              "%.3f s to %.3f s, alternating with another clock",
                              diag_rel(ctx, h->t0), cl, sv, host, rate, h->ts0, h->ts_origin, sig,
                              h->support, diag_rel(ctx, h->t0), diag_rel(ctx, h->tl));
        else if (h->kind == NH_HOST_CLOCK)
            diag_evidence_add(f, h->packet, h->t0,
                              "%8.3f  %s > %s  host %u: timestamp clock %s, TSval %u here (about %u "
                              "at the capture start), %s; %u connections from %s ports",
                              diag_rel(ctx, h->t0), cl, sv, host, rate, h->ts0, h->ts_origin, sig,
                              h->support, h->ports2 ? "different" : "the same");
        else
            diag_evidence_add(f, h->packet, h->t0,
                              "%8.3f  %s > %s  host %u: %s; %llu connection%s",
                              diag_rel(ctx, h->t0), cl, sv, host, sig,
                              (unsigned long long)h->count, h->count == 1 ? "" : "s");
    }
}

/* Why the clocks counted are hosts. */
static void clock_explain(diag_finding *f, const nh_verdict *vd, const char *ip)
{
    char cl[64], sv[64];
    switch (vd->basis) {
    case NH_BASIS_TUPLE:
        diag_endpoint(&vd->tuple_client, vd->tuple_cport, cl, sizeof cl);
        diag_endpoint(&vd->tuple_server, vd->tuple_sport, sv, sizeof sv);
        diag_explain(f, "The 4-tuple %s > %s was used again and again, and the TSvals of its "
                     "SYNs alternate between %u clock lines, each advancing with the time "
                     "elapsed, while every step from one line to another goes backwards or "
                     "jumps further than a 1000 Hz clock could (RFC 7323 5.4: 1 ms to 1 s per "
                     "tick). One host sends one clock on one 4-tuple (Linux "
                     "secure_tcp_ts_off(): the same offset for the same addresses and ports), "
                     "and a rebooted one would not come back to its old line, so each line is "
                     "a host of its own.",
                     cl, sv, vd->clocks);
        break;
    case NH_BASIS_SINGLES:
        diag_explain(f, "%llu connections from %s start timestamp clocks of their own, as "
                     "Linux 4.10 and Linux 7.0 and later do (a random offset per 4-tuple): "
                     "those are not counted as hosts, since one such host already shows a new "
                     "clock on every connection; a clock then needs three connections.",
                     (unsigned long long)vd->singles, ip);
        break;
    case NH_BASIS_PORTS:
        diag_explain(f, "A clock counts only when connections from at least two different "
                     "source ports lie on it, so that one Linux host randomising its offset "
                     "per connection (Linux 4.10, 7.0 and later) is not taken for many. A "
                     "rebooted host also starts a new clock.");
        break;
    case NH_BASIS_NONE:
        break;
    }
}

/* The signs that tell the hosts apart, in a few words. */
static void how_words(const nh_verdict *vd, const char *srv, char *how, size_t len)
{
    size_t off = 0;
    how[0] = '\0';
    if (vd->clocks >= 2)
        off += (size_t)snprintf(how + off, len - off, "%u timestamp clocks toward %s",
                                vd->clocks, srv);
    if (vd->ttl_initials >= 2 && off < len)
        off += (size_t)snprintf(how + off, len - off, "%s%u initial TTLs",
                                off ? ", " : "", vd->ttl_initials);
    if (vd->layouts >= 2 && off < len)
        off += (size_t)snprintf(how + off, len - off, "%s%u SYN option layouts",
                                off ? ", " : "", vd->layouts);
    if (vd->nots_combos > 0 && vd->ts_combos > 0 && off < len)
        snprintf(how + off, len - off, "%sSYNs with and without timestamps", off ? ", " : "");
}

static void nh_params(diag_finding *f, const nh_verdict *vd, const char *srv)
{
    diag_param *pm = diag_param_add(f, "hosts_min", vd->hosts_min, "hosts");
    diag_param_min(pm, vd->hosts_min);
    diag_param_note(pm, "lower bound: %u host%s with timestamps (%u confirmed clock%s, %u "
                        "TTL/layout pair%s) plus %u TTL/layout pair%s without timestamps",
                    vd->hosts_min - vd->nots_combos, vd->hosts_min - vd->nots_combos == 1 ? "" : "s",
                    vd->clocks, vd->clocks == 1 ? "" : "s", vd->ts_combos,
                    vd->ts_combos == 1 ? "" : "s", vd->nots_combos, vd->nots_combos == 1 ? "" : "s");
    pm = diag_param_add(f, "ts_clocks", vd->clocks, "clocks");
    diag_param_note(pm, "timestamp clocks each confirmed by connections from two or more "
                        "source ports, or alternating on one reused 4-tuple, toward %s", srv);
    diag_param_add(f, "ttl_initials", vd->ttl_initials, "");
    diag_param_add(f, "syn_layouts", vd->layouts, "");
    diag_param_add(f, "connections", (double)vd->conns, "");
}

int nh_words(const nh_verdict *vd, diag_ctx *ctx, diag_findings *out)
{
    diag_finding *f = diag_add(out, "nat-multiple-hosts", vd->severity, vd->confidence);
    if (f == NULL)
        return -ENOMEM;
    f->events = vd->conns;
    f->client = vd->client;
    f->has_client = true;
    if (vd->has_server) {
        f->server = vd->server;
        f->has_server = true;
    }
    char ip[PKT_ADDR_STRLEN], srv[PKT_ADDR_STRLEN], how[256];
    diag_addr(&vd->client, ip, sizeof ip);
    diag_addr(&vd->clock_server, srv, sizeof srv);
    how_words(vd, srv, how, sizeof how);

    diag_summary(f, "%s carries at least %u hosts (%s): a NAT or a shared address", ip,
                 vd->hosts_min, how);
    diag_explain(f, "%llu connection attempts came from %s. Their first SYNs do not all come "
                 "from one TCP stack: %s. One host has one TCP timestamp clock toward a server "
                 "(Linux 4.11-6.x keeps one offset per pair of addresses), one initial TTL "
                 "(64 Linux, BSD and macOS; 128 Windows) and one SYN option layout, so %s is "
                 "shared by at least %u hosts: a NAT, a proxy or a load balancer in front of "
                 "them.",
                 (unsigned long long)vd->conns, ip, how, ip, vd->hosts_min);
    clock_explain(f, vd, ip);
    if (vd->ttl_interleaved)
        diag_explain(f, "TTLs one or more apart within the same initial value also alternate "
                     "in time: hosts at different distances behind the address (not counted: "
                     "a path change can do the same).");
    diag_explain(f, "A NAT is not a fault. It matters when a server keeps state per address "
                 "and assumes one host behind it: a per-host timestamp check (tcp_tw_recycle, "
                 "see paws-reject), TIME_WAIT reuse of the NAT's ports (nat-timewait-mismatch), "
                 "per-address rate limits.");
    nh_params(f, vd, srv);
    host_evidence(f, vd, ctx);

    diag_remedy_add(f, "Nothing to fix for the NAT itself; check that servers these hosts reach "
                       "keep no per-address state that assumes one host (Linux "
                       "net.ipv4.tcp_tw_recycle before 4.12, per-IP connection limits)",
                    "none: a check");
    diag_remedy_add(f, "Where such state cannot be changed, give the hosts more outside "
                       "addresses (a NAT pool) or their own",
                    "more public addresses; logs keyed by address become clearer as well");
    return 0;
}
