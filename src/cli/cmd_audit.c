/* cmd_audit.c - `tcpdoctor audit`: the local host's TCP lifecycle settings, counters and sockets, with findings. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "tcpdoctor/audit.h"
#include "tcpdoctor/report_audit.h"

#define DUMP_FILE_MAX (1u << 30)    /* bytes of a recorded sock_diag dump read back */

static void audit_usage(FILE *out)
{
    fputs("usage: tcpdoctor audit [options]\n"
          "\n"
          "Check this host (or a network namespace) for what makes TCP connections fail\n"
          "intermittently: tcp_tw_recycle, TIME_WAIT piling up, source ports running out\n"
          "per destination, a conntrack table near its limit.  Reads the TCP and\n"
          "conntrack sysctls, explains the non-zero counters of /proc/net/netstat and\n"
          "/proc/net/snmp, and dumps every TCP socket over netlink sock_diag.\n"
          "\n"
          "options:\n"
          "  --netns NAME               audit the network namespace NAME (ip netns), or the\n"
          "                             namespace file at a path (/proc/PID/ns/net)\n"
          "  --root DIR                 read procfs from DIR instead of /proc (sockets from\n"
          "                             the recorded dump DIR/sock_diag when it exists)\n"
          "  --format text|json         report format (default: text)\n"
          "  -o FILE                    write the report to FILE\n"
          "  --no-color                 no colours (default: colours on a terminal)\n"
          "  --top N                    destinations listed, most TIME_WAIT first (default 10)\n"
          "  --save-dump FILE           also write the raw sock_diag dump to FILE\n"
          "  -h, --help\n"
          "\n"
          "Exit status: 0 no warning or error, 1 findings of severity warning or error,\n"
          "2 usage or input error.  See docs/audit.md.\n", out);
}

/* Sockets from ROOT/sock_diag when it exists: 0 (also when absent), or -1
 * after a message. */
static int read_recorded_dump(audit_snapshot *s, const char *root)
{
    char path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s/sock_diag", root) >= sizeof path) {
        fprintf(stderr, "tcpdoctor: %s/sock_diag: path too long\n", root);
        return -1;
    }
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return errno == ENOENT ? 0 : (perror(path), -1);
    int rc = -1;
    size_t cap = 1 << 16, n = 0;
    unsigned char *buf = malloc(cap);
    while (buf != NULL) {
        if (n == cap) {
            unsigned char *nb = cap < DUMP_FILE_MAX ? realloc(buf, cap * 2) : NULL;
            if (nb == NULL) {
                fprintf(stderr, "tcpdoctor: %s: larger than %u bytes or out of memory\n", path,
                        DUMP_FILE_MAX);
                goto out;
            }
            buf = nb;
            cap *= 2;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0)
            break;
    }
    if (buf == NULL || ferror(f)) {
        fprintf(stderr, "tcpdoctor: %s: %s\n", path, buf ? "read error" : "out of memory");
        goto out;
    }
    char err[256];
    if (audit_parse_dump(s, buf, n, err, sizeof err) != 0) {
        fprintf(stderr, "tcpdoctor: %s: %s\n", path, err);
        goto out;
    }
    rc = 0;
out:
    free(buf);
    fclose(f);
    return rc;
}

static int write_report(const cli_args *a, int o_out, bool json, bool nocolor,
                        const diag_findings *fs, const audit_snapshot *s,
                        const rep_audit_info *info)
{
    FILE *out = stdout;
    const char *outpath = a->value[o_out];
    if (outpath != NULL && (out = fopen(outpath, "w")) == NULL) {
        perror(outpath);
        return -1;
    }
    if (json)
        rep_audit_json(out, fs, s, info);
    else
        rep_audit_text(out, fs, s, info, !nocolor && outpath == NULL && isatty(STDOUT_FILENO));
    bool bad = fflush(out) != 0 || ferror(out);
    if (out != stdout)
        bad |= fclose(out) != 0;
    if (bad) {
        perror(outpath ? outpath : "standard output");
        return -1;
    }
    return 0;
}

int cmd_audit(int argc, char **argv)
{
    enum { O_HELP, O_NETNS, O_ROOT, O_FORMAT, O_OUT, O_NOCOLOR, O_TOP, O_SAVE };
    static const cli_opt opts[] = {
        [O_HELP] = { "--help", "-h", false },
        [O_NETNS] = { "--netns", NULL, true },
        [O_ROOT] = { "--root", NULL, true },
        [O_FORMAT] = { "--format", NULL, true },
        [O_OUT] = { "-o", NULL, true },
        [O_NOCOLOR] = { "--no-color", "--no-colour", false },
        [O_TOP] = { "--top", NULL, true },
        [O_SAVE] = { "--save-dump", NULL, true },
    };
    static const char *const formats[] = { "text", "json" };
    cli_args a;
    if (cli_parse(argc, argv, "audit", opts, sizeof opts / sizeof opts[0], &a) != 0)
        return 2;
    int rc = 2;
    bool json = false;
    unsigned long long top = 10;
    char err[512];
    FILE *raw = NULL;
    audit_snapshot *s = NULL;
    if (a.seen[O_HELP]) {
        audit_usage(stdout);
        rc = 0;
        goto out_args;
    }
    if (a.npos > 0) {
        fprintf(stderr, "tcpdoctor: audit: unexpected argument \"%s\" (see tcpdoctor audit --help)\n",
                a.pos[0]);
        goto out_args;
    }
    if (a.seen[O_FORMAT]) {
        int k = cli_choice("audit", "--format", a.value[O_FORMAT], formats, 2);
        if (k < 0)
            goto out_args;
        json = k == 1;
    }
    if (a.seen[O_TOP] && cli_parse_u64("--top", a.value[O_TOP], 1000000, &top) != 0)
        goto out_args;
    if (a.seen[O_SAVE] && a.seen[O_ROOT]) {
        fprintf(stderr, "tcpdoctor: audit: --save-dump records a live dump; it does not go with --root\n");
        goto out_args;
    }
    /* The namespace first: /proc/self/net and /proc/sys/net follow it. */
    if (a.seen[O_NETNS] && audit_enter_netns(a.value[O_NETNS], err, sizeof err) != 0) {
        fprintf(stderr, "tcpdoctor: %s\n", err);
        goto out_args;
    }
    if ((s = audit_snapshot_new()) == NULL) {
        fprintf(stderr, "tcpdoctor: out of memory\n");
        goto out_args;
    }
    const char *root = a.seen[O_ROOT] ? a.value[O_ROOT] : "/proc";
    if (audit_read_procfs(s, root, err, sizeof err) != 0) {
        fprintf(stderr, "tcpdoctor: %s\n", err);
        goto out_snap;
    }
    if (a.seen[O_ROOT]) {
        if (read_recorded_dump(s, root) != 0)
            goto out_snap;
    } else {
        if (a.seen[O_SAVE] && (raw = fopen(a.value[O_SAVE], "wb")) == NULL) {
            perror(a.value[O_SAVE]);
            goto out_snap;
        }
        int drc = audit_dump_sockets(s, raw, err, sizeof err);
        if (drc != 0)
            fprintf(stderr, "tcpdoctor: %s\n", err);
        if (raw != NULL && fclose(raw) != 0 && drc == 0) {
            perror(a.value[O_SAVE]);
            drc = -EIO;
        }
        if (drc != 0)
            goto out_snap;
    }
    diag_findings fs;
    if (audit_findings(s, &fs) != 0) {
        fprintf(stderr, "tcpdoctor: out of memory while writing the findings\n");
        goto out_snap;
    }
    rep_audit_info info = { .netns = a.value[O_NETNS], .top = (size_t)top };
    if (write_report(&a, O_OUT, json, a.seen[O_NOCOLOR], &fs, s, &info) == 0) {
        rc = 0;
        for (size_t i = 0; i < fs.n; i++)
            if (fs.v[i].severity != DIAG_INFO)
                rc = 1;
    }
    diag_findings_free(&fs);
out_snap:
    audit_snapshot_free(s);
out_args:
    cli_args_free(&a);
    return rc;
}
