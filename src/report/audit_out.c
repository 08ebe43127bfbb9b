/* audit_out.c - write `tcpdoctor audit`'s report: findings, then the host's sysctls, counters, sockets and destinations, as text or JSON. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "report/findings_internal.h"
#include "tcpdoctor/report.h"
#include "tcpdoctor/report_audit.h"

/* ---- text ---------------------------------------------------------------- */

static const char *bold(bool color) { return color ? "\033[1m" : ""; }
static const char *reset(bool color) { return color ? "\033[0m" : ""; }

static void sysctls_text(FILE *out, const audit_snapshot *s, bool color)
{
    size_t n;
    const audit_sysctl *v = audit_sysctls(s, &n);
    fprintf(out, "\n%sSysctls%s (under %s):\n", bold(color), reset(color), audit_root(s));
    for (size_t i = 0; i < n; i++) {
        const char *val = v[i].present ? (v[i].text[0] ? v[i].text : "(empty)") : "absent";
        fprintf(out, "  %-36s %-14s %s\n", v[i].name, val, v[i].meaning);
    }
}

static void counters_text(FILE *out, const audit_snapshot *s, bool color)
{
    size_t n, shown = 0;
    const audit_counter *v = audit_counters(s, &n);
    fprintf(out, "\n%sCounters%s since boot or namespace creation (net/netstat, net/snmp, net/stat/nf_conntrack), non-zero:\n",
            bold(color), reset(color));
    for (size_t i = 0; i < n; i++) {
        if (!v[i].present || v[i].value == 0)
            continue;
        char name[48];
        snprintf(name, sizeof name, "%s %s", v[i].group, v[i].name);
        fprintf(out, "  %-28s %12" PRId64 "  %s\n", name, v[i].value, v[i].meaning);
        shown++;
    }
    if (shown == 0)
        fputs("  (none of the counters tcpdoctor explains is above zero)\n", out);
}

static void sockets_text(FILE *out, const audit_snapshot *s, const rep_audit_info *in,
                         bool color)
{
    const audit_socket_stats *st = audit_sockets(s);
    fprintf(out, "\n%sSockets%s: ", bold(color), reset(color));
    if (!st->dumped) {
        fputs("not read (with --root, only a recorded dump ROOT/sock_diag is read).\n", out);
        return;
    }
    fprintf(out, "%" PRIu64 " TCP (%" PRIu64 " IPv4, %" PRIu64 " IPv6), read over sock_diag in %.3f s\n",
            st->total, st->v4, st->v6, st->dump_s);
    bool any = false;
    for (int k = 1; k < AUDIT_NSTATES; k++) {
        if (st->by_state[k] == 0)
            continue;
        fprintf(out, "%s%s %" PRIu64, any ? ", " : "  ", audit_state_name(k), st->by_state[k]);
        any = true;
    }
    if (any)
        fputc('\n', out);
    fprintf(out, "  ephemeral ports %" PRIu32 " usable per destination; %" PRIu64
            " destinations of this host's connections, %" PRIu64 " accepted connections\n",
            audit_ephemeral_ports(s), st->destinations, st->passive);
    size_t nd;
    const audit_dest *d = audit_destinations(s, &nd);
    if (nd == 0 || in->top == 0)
        return;
    size_t top = nd < in->top ? nd : in->top;
    fprintf(out, "\n%sTop destinations%s by TIME_WAIT (%zu of %zu):\n", bold(color), reset(color),
            top, nd);
    fprintf(out, "  %-24s %-30s %8s %9s %8s %8s  %s\n", "local", "remote", "sockets", "TIME_WAIT",
            "in use", "headroom", "TIME_WAIT timers left");
    for (size_t i = 0; i < top; i++) {
        char l[PKT_ADDR_STRLEN], r[PKT_ADDR_STRLEN + 10], timers[48] = "-";
        pkt_addr_str(&d[i].local, l, sizeof l);
        rep_endpoint(r, sizeof r, &d[i].remote, d[i].remote_port);
        if (d[i].timewait > 0)
            snprintf(timers, sizeof timers, "%.1f-%.1f s", d[i].tw_min_ms / 1000.0,
                     d[i].tw_max_ms / 1000.0);
        fprintf(out, "  %-24s %-30s %8" PRIu32 " %9" PRIu32 " %8" PRIu32 " %8" PRIu32 "  %s\n", l,
                r, d[i].sockets, d[i].timewait, d[i].ports_used, d[i].headroom, timers);
    }
}

void rep_audit_text(FILE *out, const diag_findings *fs, const audit_snapshot *s,
                    const rep_audit_info *in, bool color)
{
    size_t n_err = 0, n_warn = 0, n_info = 0;
    for (size_t i = 0; i < fs->n; i++) {
        n_err += fs->v[i].severity == DIAG_ERROR;
        n_warn += fs->v[i].severity == DIAG_WARNING;
        n_info += fs->v[i].severity == DIAG_INFO;
    }
    fprintf(out, "%stcpdoctor audit%s: ", bold(color), reset(color));
    if (in->netns != NULL)
        fprintf(out, "network namespace %s", in->netns);
    else
        fputs("this host", out);
    if (audit_root(s) != NULL)
        fprintf(out, ", procfs %s", audit_root(s));
    if (audit_kernel(s) != NULL)
        fprintf(out, ", kernel %s", audit_kernel(s));
    fputc('\n', out);
    if (fs->n == 0)
        fprintf(out, "\n%sNo lifecycle problem found.%s\n\n", bold(color), reset(color));
    else
        fprintf(out, "\n%zu finding%s: %zu error%s, %zu warning%s, %zu informational\n\n", fs->n,
                fs->n == 1 ? "" : "s", n_err, n_err == 1 ? "" : "s", n_warn,
                n_warn == 1 ? "" : "s", n_info);
    for (size_t i = 0; i < fs->n; i++)
        rep_finding_text(out, &fs->v[i], i, color);
    fprintf(out, "%sHost%s\n", bold(color), reset(color));
    if (audit_root(s) != NULL) {
        sysctls_text(out, s, color);
        counters_text(out, s, color);
    }
    sockets_text(out, s, in, color);
}

/* ---- JSON ------------------------------------------------------------------- */

static void jstr_or_null(FILE *out, const char *s)
{
    if (s != NULL)
        rep_json_string(out, s);
    else
        fputs("null", out);
}

static void jaddr(FILE *out, const pkt_addr *a)
{
    char b[PKT_ADDR_STRLEN];
    rep_json_string(out, pkt_addr_str(a, b, sizeof b));
}

static void jsecs(FILE *out, uint32_t ms)
{
    fprintf(out, "%.3f", ms / 1000.0);
}

static void host_json(FILE *out, const audit_snapshot *s, const rep_audit_info *in)
{
    size_t n;
    fputs(",\"host\":{\"sysctls\":{", out);
    const audit_sysctl *v = audit_sysctls(s, &n);
    bool first = true;
    for (size_t i = 0; audit_root(s) != NULL && i < n; i++) {
        fputs(first ? "" : ",", out);
        first = false;
        rep_json_string(out, v[i].name);
        if (!v[i].present) {
            fputs(":null", out);
            continue;
        }
        fputs(":{\"text\":", out);
        rep_json_string(out, v[i].text);
        if (strcmp(v[i].name, "ip_local_reserved_ports") != 0)
            fprintf(out, ",\"value\":%" PRId64, v[i].value);
        if (strcmp(v[i].name, "ip_local_port_range") == 0)
            fprintf(out, ",\"high\":%" PRId64, v[i].value2);
        fputs(",\"meaning\":", out);
        rep_json_string(out, v[i].meaning);
        fputc('}', out);
    }
    fputs("},\"counters\":{", out);
    const audit_counter *c = audit_counters(s, &n);
    first = true;
    for (size_t i = 0; audit_root(s) != NULL && i < n; i++) {
        if (!c[i].present)
            continue;
        fputs(first ? "" : ",", out);
        first = false;
        rep_json_string(out, c[i].name);
        fputs(":{\"group\":", out);
        rep_json_string(out, c[i].group);
        fprintf(out, ",\"value\":%" PRId64 ",\"meaning\":", c[i].value);
        rep_json_string(out, c[i].meaning);
        fputc('}', out);
    }
    const audit_socket_stats *st = audit_sockets(s);
    fprintf(out, "},\"ephemeral_ports\":%" PRIu32 ",\"sockets\":", audit_ephemeral_ports(s));
    if (!st->dumped) {
        fputs("null}", out);
        return;
    }
    fprintf(out, "{\"total\":%" PRIu64 ",\"ipv4\":%" PRIu64 ",\"ipv6\":%" PRIu64 ",\"states\":{",
            st->total, st->v4, st->v6);
    for (int k = 1; k < AUDIT_NSTATES; k++)
        fprintf(out, "%s\"%s\":%" PRIu64, k > 1 ? "," : "", audit_state_name(k), st->by_state[k]);
    fprintf(out, "},\"destinations\":%" PRIu64 ",\"accepted\":%" PRIu64 ",\"netlink_messages\":%" PRIu64
            ",\"dump_s\":%.6f},\"destinations\":[", st->destinations, st->passive, st->messages,
            st->dump_s);
    const audit_dest *d = audit_destinations(s, &n);
    size_t top = n < in->top ? n : in->top;
    for (size_t i = 0; i < top; i++) {
        fputs(i ? ",{\"local\":" : "{\"local\":", out);
        jaddr(out, &d[i].local);
        fputs(",\"remote\":", out);
        jaddr(out, &d[i].remote);
        fprintf(out, ",\"remote_port\":%u,\"sockets\":%" PRIu32 ",\"timewait\":%" PRIu32
                ",\"ports_in_use\":%" PRIu32 ",\"usable\":%" PRIu32 ",\"headroom\":%" PRIu32,
                d[i].remote_port, d[i].sockets, d[i].timewait, d[i].ports_used, d[i].usable,
                d[i].headroom);
        if (d[i].timewait > 0) {
            fputs(",\"timewait_left_min_s\":", out);
            jsecs(out, d[i].tw_min_ms);
            fputs(",\"timewait_left_max_s\":", out);
            jsecs(out, d[i].tw_max_ms);
        }
        fputc('}', out);
    }
    fputs("]}", out);
}

void rep_audit_json(FILE *out, const diag_findings *fs, const audit_snapshot *s,
                    const rep_audit_info *in)
{
    fputs("{\"version\":1,\"input\":{\"netns\":", out);
    jstr_or_null(out, in->netns);
    fputs(",\"root\":", out);
    jstr_or_null(out, audit_root(s));
    fputs(",\"kernel\":", out);
    jstr_or_null(out, audit_kernel(s));
    fputs("},\"findings\":[", out);
    for (size_t i = 0; i < fs->n; i++) {
        if (i)
            fputc(',', out);
        rep_finding_json(out, &fs->v[i]);
    }
    fputc(']', out);
    host_json(out, s, in);
    fputs("}\n", out);
}
