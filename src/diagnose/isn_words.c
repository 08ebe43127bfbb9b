/* isn_words.c - isn-not-increasing: its verdicts in words, evidence, parameters and remedies. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "diagnose/isn_internal.h"

/* Why the verdict says another host sent the SYN e, in words, into buf. */
static void other_host_reason(const diag_ctx *ctx, const tw_event *e, enum isn_other_why why,
                              char *buf, size_t len)
{
    const tw_extra *ak = why == ISN_OTHER_ACKED ? diag_tw_acked(ctx, e) : NULL;
    char c[64];
    switch (why) {
    case ISN_OTHER_ACKED:
        diag_endpoint(&ak->acked_client, ak->acked_client_port, c, sizeof c);
        snprintf(buf, len, "the server's stale ACK acknowledges exactly where %s's "
                 "connection ended, packet %llu", c, (unsigned long long)ak->acked_last_packet);
        break;
    case ISN_OTHER_TTL:
        snprintf(buf, len, "TTL %u, the old connection's %u", e->cur_client_ttl,
                 e->prev_client_ttl);
        break;
    case ISN_OTHER_TS_PRESENCE:
        snprintf(buf, len, e->cur_ts_seen ? "the new SYN carries timestamps, the old "
                                            "connection had none"
                                          : "the new SYN carries no timestamps, the old "
                                            "connection had them");
        break;
    case ISN_OTHER_SHAPE:
        snprintf(buf, len, "its SYN options, window or MSS differ from the old SYN's");
        break;
    case ISN_OTHER_TS_BACK:
        snprintf(buf, len, "TSval %u, below the old connection's last %u: another clock",
                 e->cur_client_tsval_syn, e->prev_client_tsval_last);
        break;
    case ISN_OTHER_TS_FAST:
        snprintf(buf, len, "TSval %u, %u ahead of the old connection's last after %.1f s: "
                 "faster than a 1 kHz clock, another clock", e->cur_client_tsval_syn,
                 e->cur_client_tsval_syn - e->prev_client_tsval_last, e->gap_s);
        break;
    }
}

static const char *answer_text(const tw_event *e)
{
    switch (e->outcome) {
    case TW_STALE_ACK:
        return "the server answered with the old connection's ACK (Linux TW ACK: it compared "
               "the SYN with the old final sequence number and refused it); the client reset "
               "it and retried";
    case TW_RESET: return "the server refused it with an RST";
    case TW_IGNORED: return "the server ignored it (BSD and Windows drop such SYNs silently); "
                            "the client retried";
    case TW_ACCEPTED:
        return isn_ts_newer(e) ? "the server accepted it anyway: its TSval was newer than the old "
                             "connection's (RFC 6191, Linux)"
                           : "the server accepted it anyway (its TIME_WAIT had ended, or it "
                             "does not apply the rule)";
    }
    return "";
}

/* One reuse in full (n: its note, if any): the old close, the SYN, the answer. */
static void event_evidence(diag_finding *f, const diag_ctx *ctx, const tw_event *e,
                           const isn_note *n)
{
    char c[64], s[64];
    diag_endpoint(&e->client, e->client_port, c, sizeof c);
    diag_endpoint(&e->server, e->server_port, s, sizeof s);
    uint32_t fin = isn_old_final(e);
    const tw_extra *ak = e->unpaired ? diag_tw_acked(ctx, e) : NULL;
    if (ak != NULL) {
        char rc[64];
        diag_endpoint(&ak->acked_client, ak->acked_client_port, rc, sizeof rc);
        diag_evidence_add(f, ak->acked_last_packet, ak->acked_last_ts, "%8.3f  %s > %s  %s's "
                          "connection ends, closed first by the server; its last sequence "
                          "number %u", diag_rel(ctx, ak->acked_last_ts), rc, s, rc,
                          ak->acked_client_final_seq);
    }
    if (!e->unpaired)
        diag_evidence_add(f, e->prev_close_packet, e->prev_close_ts,
                          "%8.3f  %s > %s  previous connection ends, closed first by the %s; "
                          "the client's last sequence number %u", diag_rel(ctx, e->prev_close_ts),
                          c, s, e->prev_closer == FLOW_SIDE_SERVER ? "server" : "client", fin);
    char old_isn[64] = "";
    if (n != NULL && n->prev_isn_seen)
        snprintf(old_isn, sizeof old_isn, "; the old ISN was %u", n->prev_isn);
    if (e->unpaired)
        diag_evidence_add(f, e->syn_packet, e->syn_ts,
                          "%8.3f  %s > %s  SYN with ISN %u, not above %u, the old connection's "
                          "final sequence number that the server's ACK names",
                          diag_rel(ctx, e->syn_ts), c, s, e->cur_client_isn, fin);
    else
        diag_evidence_add(f, e->syn_packet, e->syn_ts,
                          "%8.3f  %s > %s  SYN %.1f s later with ISN %u, not above the old final "
                          "sequence number (%u below)%s; TTL %u, was %u", diag_rel(ctx, e->syn_ts),
                          c, s, e->gap_s, e->cur_client_isn, fin - e->cur_client_isn, old_isn,
                          e->cur_client_ttl, e->prev_client_ttl);
    if (e->answer_packet != 0) {
        if (e->outcome == TW_STALE_ACK && e->stale_ack == fin)
            diag_evidence_add(f, e->answer_packet, 0, "          %s > %s  ACK %u = the old final "
                              "sequence number: %s", s, c, e->stale_ack, answer_text(e));
        else
            diag_evidence_add(f, e->answer_packet, 0, "          %s", answer_text(e));
    } else if (e->outcome == TW_IGNORED) {
        diag_evidence_add(f, 0, 0, "          %s", answer_text(e));
    }
}

static void explain_readings(diag_finding *f, const diag_ctx *ctx, const isn_verdict *g,
                             const char *cip)
{
    if (g->same_host + g->likely_same > 0) {
        char how[200];
        int k = 0;
        if (g->same_isn > 0)
            k = snprintf(how, sizeof how, "%llu time%s the very same ISN came again; ",
                         (unsigned long long)g->same_isn, g->same_isn == 1 ? "" : "s");
        if (g->isn_back > 0 && k >= 0 && (size_t)k < sizeof how)
            k += snprintf(how + k, sizeof how - (size_t)k, "%llu time%s the new ISN was even "
                          "below the old ISN; ", (unsigned long long)g->isn_back,
                          g->isn_back == 1 ? "" : "s");
        if (g->clock_ok > 0 && k >= 0 && (size_t)k < sizeof how)
            k += snprintf(how + k, sizeof how - (size_t)k, "%llu time%s the ISNs followed a "
                          "Linux ISN clock, but the old connection used more sequence space "
                          "than that clock advanced; ", (unsigned long long)g->clock_ok,
                          g->clock_ok == 1 ? "" : "s");
        if (k <= 2)
            snprintf(how, sizeof how, "the new ISN did not advance past the old data; ");
        else if ((size_t)k < sizeof how)
            how[k - 2] = '\0';     /* drop the last "; " */
        if (g->same_host > 0)
            diag_explain(f, "Reading (a), %llu reuse%s: the same host reused the port (same "
                         "TTL, SYN options and timestamp clock): %s. RFC 6528 makes ISNs a "
                         "clock plus a keyed hash of the 4-tuple, so one host's ISNs for one "
                         "4-tuple keep rising and pass this check; a stack or proxy that "
                         "repeats ISNs or draws them at random fails it every time or about "
                         "half the time. That is seed 001: a downstream proxy reusing sockets "
                         "with a sequence number that is not larger, and the upstream refusing "
                         "them.", (unsigned long long)g->same_host, g->same_host == 1 ? "" : "s",
                         how);
        if (g->likely_same > 0)
            diag_explain(f, "%llu reuse%s came with the same TTL and SYN options as the old "
                         "connection and no timestamps to tell clocks apart (%s). Two readings "
                         "fit: (a) the same host - often a proxy - reusing its port with ISNs "
                         "that do not follow RFC 6528's clock (which keeps one host's ISNs for "
                         "one 4-tuple rising), as in seed 001; or (b) another host of the same "
                         "kind behind a NAT, whose ISN is unrelated, so the check is a coin "
                         "flip (seed 000). Look for nat-multiple-hosts, or capture on the "
                         "client side, to tell them apart.", (unsigned long long)g->likely_same,
                         g->likely_same == 1 ? "" : "s", how);
    }
    if (g->other_host > 0) {
        const tw_event *e = diag_tw(ctx, g->other_example);
        char why[160];
        other_host_reason(ctx, e, g->other_why, why, sizeof why);
        diag_explain(f, "Reading (b), %llu reuse%s: the new SYN came from another host than the "
                     "old connection (at packet %llu: %s): a NAT in front of %s gave the same "
                     "outside port to two inside hosts in turn. The ISNs of two hosts are "
                     "unrelated (RFC 6528), "
                     "so whether the new one lands above the old final sequence number is a "
                     "coin flip: about half of such reuses are refused.",
                     (unsigned long long)g->other_host, g->other_host == 1 ? "" : "s",
                     (unsigned long long)e->syn_packet, why, cip);
    }
    if (g->unknown_host > 0)
        diag_explain(f, "For %llu reuse%s the earlier connection is not in this capture; only "
                     "the server's stale ACK names its final sequence number, so which host "
                     "made it cannot be told from here (capture at the server to see both).",
                     (unsigned long long)g->unknown_host, g->unknown_host == 1 ? "" : "s");
}

static void add_remedies(diag_finding *f, const isn_verdict *g)
{
    if (g->nat)
        diag_remedy_add(f, "Make the NAT hold a closed mapping at least as long as the server's "
                           "TIME_WAIT before it hands the port to another inside host (Linux "
                           "nf_conntrack_tcp_timeout_time_wait)",
                        "the NAT holds more entries and needs more ports under load");
    diag_remedy_add(f, "Fix the port reuse on the reusing proxy or host: keep its own 2MSL "
                       "(TIME_WAIT) long so it does not reopen a 4-tuple soon, and shorten the "
                       "server's (upstream's) TIME_WAIT so it forgets the tuple first (seed 001)",
                    "a longer TIME_WAIT on the reusing side ties up more of its ports; a "
                    "shorter one on the server gives late duplicates less time to die out "
                    "(RFC 1337)");
    diag_remedy_add(f, "Widen the reusing side's source port range (Linux "
                       "net.ipv4.ip_local_port_range, proxy port pool) so a port comes back less "
                       "often",
                    "only makes collisions rarer; firewalls may need the wider range opened");
    diag_remedy_add(f, "Enable TCP timestamps on both sides: a Linux server then accepts a SYN "
                       "in TIME_WAIT whose TSval is newer whatever its ISN (RFC 6191)",
                    "BSD and Windows servers still apply the ISN rule; through a NAT the "
                    "hosts' clocks differ, so it helps only when one host reuses its own port");
    diag_remedy_add(f, "Let the client side close first, so the server never holds the "
                       "4-tuple in TIME_WAIT",
                    "application change; TIME_WAIT and its port cost move to the client or "
                    "proxy");
    if (!g->nat && g->other_host + g->likely_same > 0)
        diag_remedy_add(f, "If a NAT is reusing the ports: make it hold closed mappings at "
                           "least as long as the server's TIME_WAIT",
                        "more NAT entries held");
}

/* The summary: the reuses whose ISN was not above, and what the server made of them. */
static void summary_words(diag_finding *f, const isn_verdict *g, const char *cip)
{
    char s[64];
    diag_endpoint(&g->server, g->server_port, s, sizeof s);
    if (g->contradicted)
        diag_summary(f, "%s reused 4-tuples to %s within the server's TIME_WAIT with an ISN not "
                     "above the old connection's last sequence number (%llu of %llu reuses); "
                     "the server accepted some and refused others, so the ISN does not decide",
                     cip, s, (unsigned long long)g->not_above, (unsigned long long)g->reuses);
    else if (g->warn)
        diag_summary(f, "%s reused 4-tuples to %s while the server held them in TIME_WAIT with an "
                     "ISN not above the old connection's last sequence number: %llu of %llu "
                     "reuses, %llu refused%s", cip, s, (unsigned long long)g->not_above,
                     (unsigned long long)g->reuses, (unsigned long long)g->rejected,
                     g->failed ? ", some never connected" : "");
    else
        diag_summary(f, "%s reused 4-tuples to %s within the server's TIME_WAIT with an ISN not "
                     "above the old connection's last sequence number (%llu of %llu reuses); "
                     "the server accepted them anyway%s", cip, s, (unsigned long long)g->not_above,
                     (unsigned long long)g->reuses,
                     g->accepted_ts == g->accepted ? " by their newer timestamps" : "");
}

/* The explanation of the rule's application here, from the example and the counts. */
static void count_words(diag_finding *f, const isn_verdict *g, const diag_ctx *ctx,
                        const char *cip)
{
    const tw_event *ex = diag_tw(ctx, g->example);
    char c[64];
    diag_endpoint(&ex->client, ex->client_port, c, sizeof c);
    diag_explain(f, "Here (capture taken %s) %llu of %llu reuses from %s came with an ISN that "
                 "is not above: at packet %llu, %s opened with ISN %u while the old connection "
                 "had ended at %u. %llu of them %s refused%s%s; %llu %s accepted%s.",
                 ctx->vantage == DIAG_VANTAGE_SERVER ? "at the server"
                 : ctx->vantage == DIAG_VANTAGE_CLIENT ? "at the client"
                 : ctx->vantage == DIAG_VANTAGE_PATH ? "between the hosts" : "at an unknown point",
                 (unsigned long long)g->not_above, (unsigned long long)g->reuses, cip,
                 (unsigned long long)ex->syn_packet, c, ex->cur_client_isn, isn_old_final(ex),
                 (unsigned long long)g->rejected, g->rejected == 1 ? "was" : "were",
                 g->warn ? ", which the rule explains" : "",
                 g->warn && g->ignored == g->rejected
                     ? (g->rejected == 1 ? " (though a server that ignores every SYN in "
                                           "TIME_WAIT, as Windows is reported to, would have "
                                           "refused it anyway)"
                                         : " (though a server that ignores every SYN in "
                                           "TIME_WAIT, as Windows is reported to, would have "
                                           "refused them anyway)") : "",
                 (unsigned long long)g->accepted, g->accepted == 1 ? "was" : "were",
                 g->accepted == 0 ? "" : g->accepted_ts == g->accepted
                                   ? " anyway, by a newer timestamp (RFC 6191)" : " anyway");
    if (g->contradicted)
        diag_explain(f, "But the server also accepted %llu reuse%s whose ISN was not above "
                     "either, with no newer timestamp, as soon as %.1f s after the close (packet "
                     "%llu), sooner than a refused one (%.1f s): it does not enforce this rule, so "
                     "the ISN does not explain the refusals; see timewait-reuse for what does.",
                     (unsigned long long)g->accepted_plain, g->accepted_plain == 1 ? "" : "s",
                     g->accepted_plain_gap_min, (unsigned long long)g->accepted_plain_packet,
                     g->rejected_gap_max);
    else if (g->rejected > 0)
        diag_explain(f, "Each refused reuse cost the client a retry: it waited up to %.3g s%s.",
                     g->delay_max, g->failed ? ", and some attempts never connected" : "");
    if (g->above_accepted > 0 && g->above_rejected == 0)
        diag_explain(f, "The %llu reuse%s whose ISN was above %s accepted at once (first at "
                     "packet %llu): the server does apply the sequence number rule.",
                     (unsigned long long)g->above_accepted, g->above_accepted == 1 ? "" : "s",
                     g->above_accepted == 1 ? "was" : "were",
                     (unsigned long long)g->first_above_accepted);
    else if (g->above_rejected > 0)
        diag_explain(f, "%llu reuse%s whose ISN was above %s refused too: this server does not "
                     "(always) accept a SYN in TIME_WAIT by its sequence number (Windows is "
                     "reported to ignore such SYNs), so higher ISNs alone would not cure it; "
                     "see timewait-reuse.", (unsigned long long)g->above_rejected,
                     g->above_rejected == 1 ? "" : "s", g->above_rejected == 1 ? "was" : "were");
    if (g->rejected_ts_newer > 0)
        diag_explain(f, "%llu of the refused SYNs carried a newer timestamp, which a Linux "
                     "server would have accepted: this server applies the sequence number rule "
                     "alone (BSD, Windows, or a proxy's own stack).",
                     (unsigned long long)g->rejected_ts_newer);
}

static void param_words(diag_finding *f, const isn_verdict *g, const diag_ctx *ctx)
{
    const tw_event *ex = diag_tw(ctx, g->example);
    diag_param_add(f, "reuses", (double)g->reuses, "");
    diag_param *p = diag_param_add(f, "isn_not_above", (double)g->not_above, "");
    diag_param_note(p, "reuses within the server's TIME_WAIT whose ISN was not above the old "
                       "final sequence number");
    diag_param_add(f, "rejected", (double)g->rejected, "");
    p = diag_param_add(f, "prev_final_seq", (double)isn_old_final(ex), "");
    diag_param_note(p, "example: the old connection's last client sequence number (packet %llu)",
                    (unsigned long long)(ex->unpaired ? ex->answer_packet : ex->prev_close_packet));
    p = diag_param_add(f, "new_isn", (double)ex->cur_client_isn, "");
    diag_param_note(p, "example: the reusing SYN's ISN (packet %llu)",
                    (unsigned long long)ex->syn_packet);
    diag_param_add(f, "other_host", (double)g->other_host, "");
}

int isn_words(const isn_verdict *g, const diag_ctx *ctx, diag_findings *out)
{
    diag_finding *f = diag_add(out, "isn-not-increasing", g->sev, g->conf);
    if (f == NULL)
        return -ENOMEM;
    f->events = g->not_above;
    f->client = g->client;
    f->server = g->server;
    f->server_port = g->server_port;
    f->has_client = f->has_server = true;
    char cip[PKT_ADDR_STRLEN];
    diag_addr(&g->client, cip, sizeof cip);
    summary_words(f, g, cip);
    diag_explain(f, "The server closed these connections first, so it keeps each 4-tuple in "
                 "TIME_WAIT (Linux 60 s, Windows 120-240 s). It may take a new SYN for the same "
                 "4-tuple only if the SYN's sequence number is above the last one it received "
                 "on the old connection, SEQ > RCV.NXT (RFC 1122 4.2.2.13, RFC 9293 3.6.1); "
                 "Linux also takes a SYN whose timestamp is newer (RFC 6191). Once the TIME_WAIT "
                 "is over the rule no longer applies.");
    count_words(f, g, ctx, cip);
    explain_readings(f, ctx, g, cip);
    param_words(f, g, ctx);
    for (size_t k = 0; k < g->n_shown; k++)
        event_evidence(f, ctx, diag_tw(ctx, g->shown[k]), g->shown_note[k]);
    f->evidence_omitted += g->not_above - g->n_shown;
    add_remedies(f, g);
    return 0;
}
