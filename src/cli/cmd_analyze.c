/* cmd_analyze.c - `tcpdoctor analyze`: why connections fail, with the packets that prove it. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/pipeline.h"
#include "tcpdoctor/diagnose.h"
#include "tcpdoctor/report.h"

static void analyze_usage(FILE *out)
{
    fputs("usage: tcpdoctor analyze [options] FILE... [BPF expression]\n"
          "\n"
          "Find the lifecycle causes of failing TCP connections in the capture files\n"
          "(pcap or pcapng; - reads standard input; several files are merged in time\n"
          "order): TIME_WAIT collisions and NAT port reuse, non-increasing ISNs,\n"
          "per-host timestamp checks behind NAT, port exhaustion, TIME_WAIT pile-ups,\n"
          "RST closes, fragmented TCP, unanswered SYNs.  Words after the files are a\n"
          "BPF filter, as tcpdump takes it; -- ends the files.\n"
          "\n"
          "options:\n"
          "  --format text|json         report format (default: text)\n"
          "  -o FILE                    write the report to FILE\n"
          "  --no-color                 no colours (default: colours on a terminal)\n"
          "  --vantage server|client|path\n"
          "                             where the capture was taken (default: inferred)\n"
          "  --max-flows N              4-tuples held at once (default 1048576)\n"
          "  --linger SECONDS           keep a closed 4-tuple this long (default 300)\n"
          "  -v, --verbose              text: every finding in full (consequences are\n"
          "                             otherwise one line under their cause)\n"
          "  --list-findings            every finding the tool can raise, with its\n"
          "                             severity rule and parameters (with --format json:\n"
          "                             as JSON), and exit\n"
          "  -h, --help\n"
          "\n"
          "Exit status: 0 no warning or error, 1 findings of severity warning or error,\n"
          "2 usage or input error.  Findings and the JSON schema: docs/findings.md.\n", out);
}

/* Packets go to the engine as well as to the flow table. */
static void to_engine(void *ctx, const pkt_view *v, enum pkt_status st)
{
    diag_engine_packet(ctx, v, st);
}

int cmd_analyze(int argc, char **argv)
{
    enum { O_HELP, O_FORMAT, O_OUT, O_NOCOLOR, O_VANTAGE, O_MAXFLOWS, O_LINGER, O_VERBOSE,
           O_LIST };
    static const cli_opt opts[] = {
        [O_HELP] = { "--help", "-h", false },
        [O_FORMAT] = { "--format", NULL, true },
        [O_OUT] = { "-o", NULL, true },
        [O_NOCOLOR] = { "--no-color", "--no-colour", false },
        [O_VANTAGE] = { "--vantage", NULL, true },
        [O_MAXFLOWS] = { "--max-flows", NULL, true },
        [O_LINGER] = { "--linger", NULL, true },
        [O_VERBOSE] = { "--verbose", "-v", false },
        [O_LIST] = { "--list-findings", NULL, false },
    };
    static const char *const formats[] = { "text", "json" };
    static const char *const vantages[] = { "server", "client", "path" };
    cli_args a;
    if (cli_parse(argc, argv, "analyze", opts, sizeof opts / sizeof opts[0], &a) != 0)
        return 2;
    int rc = 2;
    bool json = false;
    diag_config dc = { .vantage = DIAG_VANTAGE_UNKNOWN };
    if (a.seen[O_HELP]) {
        analyze_usage(stdout);
        rc = 0;
        goto out_args;
    }
    if (a.seen[O_FORMAT]) {
        int k = cli_choice("analyze", "--format", a.value[O_FORMAT], formats, 2);
        if (k < 0)
            goto out_args;
        json = k == 1;
    }
    if (a.seen[O_LIST]) {
        rep_catalogue(stdout, json);
        rc = fflush(stdout) == 0 && !ferror(stdout) ? 0 : 2;
        goto out_args;
    }
    if (a.seen[O_VANTAGE]) {
        int k = cli_choice("analyze", "--vantage", a.value[O_VANTAGE], vantages, 3);
        if (k < 0)
            goto out_args;
        dc.vantage = k == 0 ? DIAG_VANTAGE_SERVER : k == 1 ? DIAG_VANTAGE_CLIENT : DIAG_VANTAGE_PATH;
    }
    uint32_t max_flows;
    int64_t linger_ns;
    if (cli_flow_limits(&a, O_MAXFLOWS, O_LINGER, &max_flows, &linger_ns) != 0)
        goto out_args;

    const char **files = NULL;
    size_t nfiles;
    char *bpf = NULL;
    if (pipe_split_args(a.npos, a.pos, &files, &nfiles, &bpf) != 0)
        goto out_args;

    char err[256];
    diag_engine *eng = diag_engine_new(&dc, err, sizeof err);
    if (eng == NULL) {
        fprintf(stderr, "tcpdoctor: %s\n", err);
        goto out_files;
    }
    pipe_opts po = {
        .files = files,
        .nfiles = nfiles,
        .bpf = bpf,
        .max_flows = max_flows,
        .linger_ns = linger_ns,
        .progress = true,
        .sink = diag_engine_conn,
        .sink_ctx = eng,
        .tuple_free = diag_engine_tuple_free,
        .on_packet = to_engine,
        .packet_ctx = eng,
    };
    pipe_stats st;
    int prc = pipe_run(&po, &st);
    if (st.nomem)
        fprintf(stderr, "tcpdoctor: no report, rather than one with connections left out\n");
    if (!st.opened || st.nomem)
        goto out_engine;        /* nothing was read, or not all of it was
                                   followed: the message says why */

    if (st.flow.evictions > 0)
        fprintf(stderr, "tcpdoctor: the connection table was full (--max-flows %u): %" PRIu64
                " 4-tuples were pushed out early; later attempts on them are not paired with "
                "them, and the findings that claim them say so\n", max_flows ? max_flows : FLOW_DEFAULT_CAPACITY,
                st.flow.evictions);
    diag_findings fs;
    if (diag_engine_finish(eng, &fs) != 0) {
        fprintf(stderr, "tcpdoctor: out of memory during the analysis: no report, rather than one with something left out\n");
        rc = 2;
        goto out_engine;
    }
    FILE *out = stdout;
    const char *outpath = a.value[O_OUT];
    if (outpath != NULL && (out = fopen(outpath, "w")) == NULL) {
        perror(outpath);
        goto out_findings;
    }
    rep_run_info info;
    memset(&info, 0, sizeof info);
    info.files = files;
    info.nfiles = nfiles;
    info.filter = bpf;
    info.vantage = diag_engine_vantage(eng);
    info.vantage_given = dc.vantage != DIAG_VANTAGE_UNKNOWN;
    info.acc = diag_engine_accounting(eng);
    info.verbose = a.seen[O_VERBOSE];
    pipe_run_info(&info, &st);
    if (json)
        rep_findings_json(out, &fs, &info);
    else
        rep_findings_text(out, &fs, &info,
                          !a.seen[O_NOCOLOR] && outpath == NULL && isatty(STDOUT_FILENO));
    bool bad = fflush(out) != 0 || ferror(out);
    if (out != stdout)
        bad |= fclose(out) != 0;
    if (bad) {
        perror(outpath ? outpath : "standard output");
        prc = 2;
    }
    if (prc != 0) {
        rc = 2;
    } else {
        rc = 0;
        for (size_t i = 0; i < fs.n; i++)
            if (fs.v[i].severity != DIAG_INFO)
                rc = 1;
    }
out_findings:
    diag_findings_free(&fs);
out_engine:
    diag_engine_free(eng);
out_files:
    free(files);
    free(bpf);
out_args:
    cli_args_free(&a);
    return rc;
}
