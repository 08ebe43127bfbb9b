/* paws_words.c - paws-reject: a verdict (paws_judge.c) into the finding's words. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "diagnose/paws_internal.h"

/*
 * Nothing here decides: the figures, the bounds, the severity, the
 * confidence and the packets shown all come from the verdict; this file
 * only says them (summary, explanation, evidence lines, parameters,
 * remedies).  The rule is described in paws_reject.c's design comment.
 */

typedef struct ev_line {
    uint64_t packet;
    int64_t  t;
    char     text[400];
} ev_line;

static int cmp_ev(const void *x, const void *y)
{
    const ev_line *a = x, *b = y;
    return a->t < b->t ? -1 : a->t > b->t ? 1 : a->packet < b->packet ? -1 : a->packet > b->packet;
}

/* ---- evidence lines ------------------------------------------------------ */

static void record_line(const pw_verdict *vd, uint32_t ri, diag_ctx *ctx, ev_line *l)
{
    const pw_rec *rc = &vd->recs[ri];
    l->packet = rc->packet;
    l->t = rc->t;
    char c[64], s[64], ip[PKT_ADDR_STRLEN];
    diag_endpoint(&vd->p->client, rc->cport, c, sizeof c);
    diag_endpoint(&vd->p->server, rc->sport, s, sizeof s);
    char fin[48] = "";
    if (rc->fin_back != 0)
        snprintf(fin, sizeof fin, " (its FIN: packet %llu)",
                 (unsigned long long)(rc->packet - rc->fin_back));
    snprintf(l->text, sizeof l->text,
             "%8.3f  %s > %s  TSval %u, the last of a connection the server closed first%s: "
             "the server remembers %u for %s",
             diag_rel(ctx, rc->t), c, s, rc->tsval, fin, rc->tsval,
             diag_addr(&vd->p->client, ip, sizeof ip));
}

static void drop_line(const pw_verdict *vd, const pw_att_sum *as, diag_ctx *ctx, ev_line *l)
{
    const pw_txv *x = &as->first;
    const pw_att *a = &vd->att[x->att];
    const pw_rec *rc = &vd->recs[x->rec];
    l->packet = x->packet;
    l->t = x->t;
    char c[64], s[64], outcome[96];
    diag_endpoint(&vd->p->client, a->cport, c, sizeof c);
    diag_endpoint(&vd->p->server, a->sport, s, sizeof s);
    if ((a->flags & AT_ANSWERED) && as->delay_s >= 0)
        snprintf(outcome, sizeof outcome, "connected only with the SYN sent %.1f s after the "
                 "first", as->delay_s);
    else if (a->flags & AT_ANSWERED)
        snprintf(outcome, sizeof outcome, "connected after more than %u SYNs", as->drops);
    else
        snprintf(outcome, sizeof outcome, "never connected");
    if (x->cls == TX_DROP_TS)
        snprintf(l->text, sizeof l->text,
                 "%8.3f  %s > %s  SYN TSval %s%u, %d behind the TSval %u the server remembered "
                 "for this address (packet %llu, %.1f s earlier): no answer; %u unanswered "
                 "transmission%s, %s",
                 diag_rel(ctx, x->t), c, s, x->estimated ? "~" : "", x->tsval, x->deficit,
                 rc->tsval, (unsigned long long)rc->packet, diag_secs(x->t - rc->t), as->drops,
                 as->drops == 1 ? "" : "s", outcome);
    else
        snprintf(l->text, sizeof l->text,
                 "%8.3f  %s > %s  SYN without timestamps while the server remembered TSval %u "
                 "for this address (packet %llu, %.1f s earlier): no answer; %s",
                 diag_rel(ctx, x->t), c, s, rc->tsval, (unsigned long long)rc->packet,
                 diag_secs(x->t - rc->t), outcome);
}

/* A SYN that was answered: above the record, after it aged, or against it. */
static void answer_line(const pw_verdict *vd, enum pw_ev_kind kind, uint32_t i, diag_ctx *ctx,
                        ev_line *l)
{
    const pw_txv *x = &vd->v[i];
    const pw_att *a = &vd->att[x->att];
    const pw_rec *rc = &vd->recs[x->rec];
    l->packet = x->packet;
    l->t = x->t;
    char c[64], s[64];
    diag_endpoint(&vd->p->client, a->cport, c, sizeof c);
    diag_endpoint(&vd->p->server, a->sport, s, sizeof s);
    if (kind == PW_EV_ABOVE)
        snprintf(l->text, sizeof l->text,
                 "%8.3f  %s > %s  SYN TSval %s%u, not behind the remembered %u (packet "
                 "%llu, %.1f s earlier): answered",
                 diag_rel(ctx, x->t), c, s, x->estimated ? "~" : "", x->tsval,
                 rc->tsval, (unsigned long long)rc->packet, diag_secs(x->t - rc->t));
    else if (kind == PW_EV_LATE)
        snprintf(l->text, sizeof l->text,
                 "%8.3f  %s > %s  SYN TSval %s%u, still %d behind the remembered %u but "
                 "%.1f s after it arrived (packet %llu): answered, the record had aged out",
                 diag_rel(ctx, x->t), c, s, x->estimated ? "~" : "", x->tsval,
                 x->deficit, rc->tsval, diag_secs(x->t - rc->t),
                 (unsigned long long)rc->packet);
    else
        snprintf(l->text, sizeof l->text,
                 "%8.3f  %s > %s  SYN TSval %s%u, %d behind the remembered %u (packet "
                 "%llu, %.1f s earlier), yet answered: against the rule",
                 diag_rel(ctx, x->t), c, s, x->estimated ? "~" : "", x->tsval,
                 x->deficit, rc->tsval, (unsigned long long)rc->packet,
                 diag_secs(x->t - rc->t));
}

/* The verdict's evidence, in time order; 0 or -ENOMEM. */
static int evidence(const pw_verdict *vd, diag_ctx *ctx, diag_finding *f)
{
    ev_line *e = calloc(PW_EV_MAX, sizeof *e);
    if (e == NULL)
        return -ENOMEM;
    size_t n = vd->n_ev < PW_EV_MAX ? vd->n_ev : PW_EV_MAX;
    for (size_t i = 0; i < n; i++) {
        const pw_ev *ev = &vd->ev[i];
        if (ev->kind == PW_EV_DROP)
            drop_line(vd, &vd->as[ev->ref], ctx, &e[i]);
        else if (ev->kind == PW_EV_RECORD)
            record_line(vd, ev->ref, ctx, &e[i]);
        else
            answer_line(vd, (enum pw_ev_kind)ev->kind, ev->ref, ctx, &e[i]);
    }
    qsort(e, n, sizeof e[0], cmp_ev);
    for (size_t i = 0; i < n; i++)
        diag_evidence_add(f, e[i].packet, e[i].t, "%s", e[i].text);
    f->evidence_omitted += vd->ev_omitted;
    free(e);
    return 0;
}

/* ---- summary and explanation -------------------------------------------- */

static void summary(const pw_verdict *vd, diag_ctx *ctx, diag_finding *f, const char *ip,
                    const char *srv)
{
    char who[96];
    if (vd->hosts >= 2)
        snprintf(who, sizeof who, "%u hosts with their own clocks share it", vd->hosts);
    else if (vd->per_conn)
        snprintf(who, sizeof who, "its timestamps are randomised per connection");
    else
        snprintf(who, sizeof who, "its timestamps go backwards");
    bool at_server = ctx->vantage == DIAG_VANTAGE_SERVER;
    uint64_t dropped = vd->dropped, n = vd->failed ? vd->failed : vd->attempts;
    diag_summary(f, "%s %s %llu SYN%s from %s whose TCP timestamps were behind the one it "
                 "remembered for that address (tcp_tw_recycle; %s): %llu attempt%s %s",
                 srv, at_server ? "silently dropped" : "never answered",
                 (unsigned long long)dropped, dropped == 1 ? "" : "s", ip, who,
                 (unsigned long long)n, n == 1 ? "" : "s",
                 vd->failed ? "never connected" : "delayed");
}

static void explanation(const pw_verdict *vd, diag_ctx *ctx, diag_finding *f, const char *ip,
                        const char *srv)
{
    const pw_counts *r = &vd->r;
    bool at_server = ctx->vantage == DIAG_VANTAGE_SERVER;
    uint64_t dropped = vd->dropped;
    diag_explain(f, "%s %llu connection attempt%s from %s: %llu SYN%s got no SYN-ACK, no RST, "
                 "nothing. Each of them came less than 60 s after %s had closed a connection "
                 "from %s first, and each carried a TCP timestamp (TSval) more than 1 tick "
                 "behind that connection's last one (the smallest shortfall: %d ticks)%s.",
                 at_server ? "The capture was taken at the server. It received"
                           : ctx->vantage == DIAG_VANTAGE_CLIENT
                                 ? "The capture was taken at the client side. It shows"
                                 : "This capture shows",
                 (unsigned long long)vd->attempts, vd->attempts == 1 ? "" : "s", ip,
                 (unsigned long long)dropped, dropped == 1 ? "" : "s", srv, ip, r->gap_min,
                 r->ans_above ? ", while SYNs from the same address with higher TSvals were "
                                "answered at the same time" : "");
    diag_explain(f, "That is the per-host timestamp check of Linux before 4.12 with "
                 "net.ipv4.tcp_tw_recycle=1: when the server closes a connection first it "
                 "remembers the peer address's last TSval for 60 s (TCP_PAWS_MSL) and then "
                 "silently drops every SYN from that address whose TSval is more than 1 "
                 "(TCP_PAWS_WINDOW) behind it, counting it in netstat -s as \"passive "
                 "connections rejected because of time stamp\" (PAWSPassive). The check is "
                 "per address, not per connection, so it only works when one host with one "
                 "clock stands behind an address. %s",
                 vd->hosts >= 2
                     ? "Here several hosts share the address (see nat-multiple-hosts): "
                       "whenever the one whose clock is ahead has just closed a connection, "
                       "the others cannot connect until the record is 60 s old."
                 : vd->per_conn
                     ? "Here the timestamps of the address are randomised per connection "
                       "(Linux 4.10, or 7.0 and later), which breaks the check even without "
                       "a NAT."
                     : "Here the timestamps of the address go backwards: several hosts "
                       "behind a NAT (only one clock was confirmed in this capture), "
                       "per-connection random offsets, or a rebooted client.");
    if (r->variant)
        diag_explain(f, "SYNs without timestamps were dropped as well while a record was "
                     "fresh, as late 4.x kernels do.");
    if (r->contra > 0)
        diag_explain(f, "%llu SYN%s behind a fresh record answered all the same, which the "
                     "rule does not allow: the server address may front several machines, not "
                     "all with tcp_tw_recycle on, or a record this capture shows was never made.",
                     (unsigned long long)r->contra, r->contra == 1 ? " was" : "s were");
    if (!at_server && r->ans_above > 0)
        diag_explain(f, "The SYNs with higher timestamps from the same address were answered, "
                     "so the path is not what drops them; a capture at the server would show "
                     "the same SYNs arriving unanswered.");
}

/* ---- parameters and remedies -------------------------------------------- */

static void params(const pw_verdict *vd, diag_finding *f)
{
    const pw_counts *r = &vd->r;
    diag_param *pm = diag_param_add(f, "dropped_syns", (double)vd->dropped, "SYNs");
    diag_param_note(pm, "unanswered SYN transmissions whose TSval was behind a record under "
                        "60 s old%s", r->variant ? ", or which carried no timestamps" : "");
    pm = diag_param_add(f, "hosts_min", vd->hosts, "hosts");
    diag_param_min(pm, vd->hosts);
    diag_param_note(pm, "%s",
                    !vd->host_known ? "no host estimate for this address"
                    : vd->hosts >= 2 ? "hosts behind the address by timestamp clocks, TTLs and "
                                       "SYN layouts (nat-multiple-hosts)"
                    : vd->per_conn ? "timestamps randomised per connection: clocks do not "
                                     "count hosts"
                                   : "only one clock confirmed in this capture");
    pm = diag_param_add(f, "ts_gap_min", r->gap_min, "ticks");
    diag_param_note(pm, "smallest TSval shortfall that was dropped (packet %llu); the kernel "
                        "drops above %d", (unsigned long long)r->gap_min_packet, PW_WINDOW);
    diag_param_add(f, "attempts", (double)vd->attempts, "");
    diag_param_add(f, "never_connected", (double)vd->failed, "attempts");
    if (vd->delayed > 0)
        diag_param_add(f, "delay_max_s", vd->delay_max, "s");
    pm = diag_param_add(f, "record_lifetime_s", 60.0, "s");
    diag_param_min(pm, r->life_lo);
    if (r->life_hi >= 0)
        diag_param_max(pm, r->life_hi);
    diag_param_note(pm, "TCP_PAWS_MSL; a SYN was still dropped %.1f s after the remembered "
                        "TSval arrived%s", r->life_lo,
                    r->life_hi >= 0 ? ", and one behind it was answered after the record aged"
                                    : "");
    diag_param_add(f, "answered_above", (double)r->ans_above, "SYNs");
    if (r->contra > 0)
        diag_param_add(f, "contradictions", (double)r->contra, "SYNs");
}

static void remedies(diag_finding *f)
{
    diag_remedy_shared(f, DIAG_REM_TW_RECYCLE_OFF);
    diag_remedy_shared(f, DIAG_REM_UPGRADE_LINUX);
    diag_remedy_add(f, "When the server cannot be changed: turn TCP timestamps off on every "
                       "client behind the address (net.ipv4.tcp_timestamps=0; Windows sends "
                       "none by default). Trying it on one client that then connects reliably "
                       "confirms the diagnosis",
                    "no PAWS protection and coarser RTT estimates on those clients; all of them "
                    "must do it, since late 4.x servers also drop SYNs without timestamps "
                    "while a record from another host is fresh");
    diag_remedy_add(f, "Give the clients their own outside addresses, or make them close "
                       "first (keep-alive, client-side close) so the server remembers nothing",
                    "more public addresses, or an application change");
}

int pw_words(const pw_verdict *vd, diag_ctx *ctx, diag_findings *out)
{
    diag_finding *f = diag_add(out, "paws-reject", vd->severity, vd->confidence);
    if (f == NULL)
        return -ENOMEM;
    f->events = vd->dropped;
    f->client = vd->p->client;
    f->has_client = true;
    f->server = vd->p->server;
    f->server_port = vd->sport;
    f->has_server = true;

    char ip[PKT_ADDR_STRLEN], srv[PKT_ADDR_STRLEN];
    diag_addr(&vd->p->client, ip, sizeof ip);
    diag_addr(&vd->p->server, srv, sizeof srv);
    summary(vd, ctx, f, ip, srv);
    explanation(vd, ctx, f, ip, srv);
    params(vd, f);
    if (evidence(vd, ctx, f) != 0)
        return -ENOMEM;
    remedies(f);
    return 0;
}
