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
    enum rep_conn_format fmt = REP_CONN_TABLE;
    const char *outpath = NULL;
    unsigned long long max_flows = 0, linger_s = 0;
    bool quiet = false;
    /* Options may stand before or after the files, but not inside the BPF
       expression: the first word that is neither an option nor an existing
       file starts the filter (tcpdump style), and "--" ends the options. */
    char **pos = calloc((size_t)argc + 1, sizeof *pos);
    if (pos == NULL) {
        fprintf(stderr, "tcpdoctor: out of memory\n");
        return 2;
    }
    int npos = 0;
    bool in_filter = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (in_filter || a[0] != '-' || strcmp(a, "-") == 0) {
            if (!in_filter && npos > 0 && !pipe_is_input(a))
                in_filter = true;
            pos[npos++] = argv[i];
            continue;
        }
        if (strcmp(a, "--") == 0) {
            pos[npos++] = argv[i];
            in_filter = true;
            continue;
        }
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            conns_usage(stdout);
            free(pos);
            return 0;
        }
        if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
            quiet = true;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "tcpdoctor: conns: %s needs a value\n", a);
            goto out_usage;
        }
        const char *val = argv[++i];
        if (strcmp(a, "--format") == 0) {
            if (strcmp(val, "table") == 0) fmt = REP_CONN_TABLE;
            else if (strcmp(val, "ndjson") == 0) fmt = REP_CONN_NDJSON;
            else if (strcmp(val, "tsv") == 0) fmt = REP_CONN_TSV;
            else {
                fprintf(stderr, "tcpdoctor: conns: --format: \"%s\" is not table, ndjson or tsv\n", val);
                goto out_usage;
            }
        } else if (strcmp(a, "-o") == 0) {
            outpath = val;
        } else if (strcmp(a, "--max-flows") == 0) {
            if (cli_parse_u64(a, val, 1u << 30, &max_flows) != 0)
                goto out_usage;
            if (max_flows == 0) {
                fprintf(stderr, "tcpdoctor: --max-flows: must be at least 1\n");
                goto out_usage;
            }
        } else if (strcmp(a, "--linger") == 0) {
            if (cli_parse_u64(a, val, 86400, &linger_s) != 0)
                goto out_usage;
        } else {
            fprintf(stderr, "tcpdoctor: conns: unknown option %s (try tcpdoctor conns --help)\n", a);
            goto out_usage;
        }
    }

    const char **files;
    size_t nfiles;
    char *bpf;
    if (pipe_split_args(npos, pos, &files, &nfiles, &bpf) != 0)
        goto out_usage;

    int rc = 2;
    FILE *out = stdout;
    if (outpath != NULL && (out = fopen(outpath, "w")) == NULL) {
        perror(outpath);
        goto out_args;
    }
    static char outbuf[1 << 16];
    setvbuf(out, outbuf, _IOFBF, sizeof outbuf);
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
        .max_flows = (uint32_t)max_flows,
        .linger_ns = (int64_t)linger_s * 1000000000LL,
        .progress = !quiet,
        .sink = rep_conn_write,
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
out_args:
    free(files);
    free(bpf);
    free(pos);
    return rc;
out_usage:
    free(pos);
    return 2;
}
