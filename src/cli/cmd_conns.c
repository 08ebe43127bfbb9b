/* cmd_conns.c - `tcpdoctor conns`: the connection table, one row per incarnation. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/pipeline.h"
#include "tcpdoctor/report.h"

static void conns_usage(FILE *out)
{
    fputs("usage: tcpdoctor conns [options] FILE... [BPF expression]\n"
          "\n"
          "Reconstruct every TCP connection incarnation in the capture files (pcap or\n"
          "pcapng; - reads standard input; several files are merged in time order).\n"
          "Words after the files are a BPF filter, as tcpdump takes it; -- ends the files.\n"
          "\n"
          "options:\n"
          "  --format table|ndjson|tsv  output format (default: table)\n"
          "  -o FILE                    write the table to FILE instead of standard output\n"
          "  --max-flows N              4-tuples held at once (default 1048576); the\n"
          "                             oldest is written out early when full (counted)\n"
          "  --linger SECONDS           keep a closed 4-tuple this long for reuse\n"
          "                             detection (default 300)\n"
          "  -q, --quiet                no statistics summary on standard error\n"
          "  -h, --help\n"
          "\n"
          "Columns, states and history letters: docs/conns.md, tcpdoctor(1).\n", out);
}

/* The table's times are relative to the first frame, known once reading began. */
struct origin {
    rep_conn_writer *w;
    bool set;
};

/* The table's sink: each record is written as it ends; nothing is kept
 * per 4-tuple. */
static void write_conn(void *ctx, const flow_conn *c, void **tuple_data)
{
    (void)tuple_data;
    rep_conn_write(ctx, c);
}

static void set_origin(void *ctx, const pkt_view *v, enum pkt_status st)
{
    (void)st;
    struct origin *o = ctx;
    if (!o->set) {
        rep_conn_writer_set_origin(o->w, v->ts_ns);
        o->set = true;
    }
}

int cmd_conns(int argc, char **argv)
{
    enum { O_HELP, O_QUIET, O_FORMAT, O_OUT, O_MAXFLOWS, O_LINGER };
    static const cli_opt opts[] = {
        [O_HELP] = { "--help", "-h", false },
        [O_QUIET] = { "--quiet", "-q", false },
        [O_FORMAT] = { "--format", NULL, true },
        [O_OUT] = { "-o", NULL, true },
        [O_MAXFLOWS] = { "--max-flows", NULL, true },
        [O_LINGER] = { "--linger", NULL, true },
    };
    static const char *const formats[] = { "table", "ndjson", "tsv" };
    cli_args a;
    if (cli_parse(argc, argv, "conns", opts, sizeof opts / sizeof opts[0], &a) != 0)
        return 2;
    int rc = 2;
    enum rep_conn_format fmt = REP_CONN_TABLE;
    const char *outpath = a.value[O_OUT];
    bool quiet = a.seen[O_QUIET];
    if (a.seen[O_HELP]) {
        conns_usage(stdout);
        rc = 0;
        goto out_args;
    }
    if (a.seen[O_FORMAT]) {
        int k = cli_choice("conns", "--format", a.value[O_FORMAT], formats, 3);
        if (k < 0)
            goto out_args;
        fmt = k == 0 ? REP_CONN_TABLE : k == 1 ? REP_CONN_NDJSON : REP_CONN_TSV;
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

    FILE *out = stdout;
    if (outpath != NULL && (out = fopen(outpath, "w")) == NULL) {
        perror(outpath);
        goto out_files;
    }
    setvbuf(out, NULL, _IOFBF, 1 << 16);    /* libc allocates and owns it */
    rep_conn_writer *w = rep_conn_writer_new(out, fmt);
    if (w == NULL) {
        fprintf(stderr, "tcpdoctor: out of memory\n");
        goto out_file;
    }
    struct origin origin = { w, false };
    pipe_opts po = {
        .files = files,
        .nfiles = nfiles,
        .bpf = bpf,
        .max_flows = max_flows,
        .linger_ns = linger_ns,
        .progress = !quiet,
        .sink = write_conn,
        .sink_ctx = w,
        .on_packet = fmt == REP_CONN_TABLE ? set_origin : NULL,
        .packet_ctx = &origin,
    };
    pipe_stats st;
    rc = pipe_run(&po, &st);
    if (fflush(out) != 0 || ferror(out)) {
        perror(outpath ? outpath : "standard output");
        rc = 2;
    }
    if (!quiet && st.opened)
        pipe_print_stats(stderr, &st);
    rep_conn_writer_free(w);
out_file:
    if (out != stdout)
        fclose(out);
out_files:
    free(files);
    free(bpf);
out_args:
    cli_args_free(&a);
    return rc;
}
