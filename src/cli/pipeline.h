/* pipeline.h - the CLI's driver: capture -> decode -> flow, with progress and input errors. */
#ifndef TCPDOCTOR_CLI_PIPELINE_H
#define TCPDOCTOR_CLI_PIPELINE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "tcpdoctor/capture.h"
#include "tcpdoctor/flow.h"
#include "tcpdoctor/packet.h"
#include "tcpdoctor/report.h"

typedef struct pipe_opts {
    const char *const *files;
    size_t nfiles;
    const char *bpf;            /* NULL: none */
    uint32_t max_flows;         /* 0: default */
    int64_t linger_ns;          /* 0: default */
    bool progress;              /* progress line on stderr when it is a tty */
    flow_sink_fn sink;
    void *sink_ctx;
    flow_tuple_free_fn tuple_free;  /* see flow_config */
    /* Called for every decoded frame before the flow table (may be NULL). */
    void (*on_packet)(void *ctx, const pkt_view *v, enum pkt_status st);
    void *packet_ctx;
} pipe_opts;

typedef struct pipe_stats {
    uint64_t frames;            /* frames read (after the filter) */
    uint64_t filtered;          /* frames the filter rejected */
    uint64_t tcp;               /* TCP segments with a decoded header */
    uint64_t tcp_fragments;     /* non-first fragments of TCP datagrams */
    uint64_t other_fragments;
    uint64_t not_tcp;           /* IP, another protocol */
    uint64_t not_ip;            /* ARP, LLDP, ... */
    uint64_t malformed;         /* stopped before a TCP header */
    uint64_t unsupported_dlt;   /* frames of a link type we do not decode */
    int      unsupported_dlt_first;
    uint64_t anomalies[PKT_AN_COUNT];
    uint64_t input_errors;      /* files that failed while reading */
    bool     opened;            /* every input opened: the figures mean something */
    bool     nomem;             /* memory ran out: the records are incomplete
                                   and no report may be written from them */
    int64_t  first_ts, last_ts;
    flow_stats flow;
} pipe_stats;

/* Run the whole input through the table.  Returns 0 when every file was read
 * to its end, 2 when a file could not be opened (nothing read; message
 * printed) or failed part way (everything before the damage was processed
 * and written; message printed). */
int pipe_run(const pipe_opts *o, pipe_stats *st);

/* One frame from another source (live capture): counted, decoded and given
 * to o->on_packet and the table exactly as pipe_run() does with a file's
 * frames (o->files, o->bpf and o->progress are not used). */
void pipe_frame(const pipe_opts *o, pipe_stats *st, flow_table *t, const cap_frame *f);

/* Copy the run's counts into the report's statistics (the other fields of
 * *in are left as they are). */
void pipe_run_info(rep_run_info *in, const pipe_stats *st);

/* Print the statistics summary (frames, kinds, anomalies, table) to out. */
void pipe_print_stats(FILE *out, const pipe_stats *st);

/* True when path is "-" or names an existing file system object. */
bool pipe_is_input(const char *path);

/* Split "FILE... [BPF words]" (tcpdump style) into files and a filter
 * string (malloc'd, caller frees; NULL when there is none).  Words are files
 * while they name an existing path or "-"; "--" ends the files explicitly.
 * Returns 0, or 2 with a message printed when no file is given or a word
 * that looks like a capture file does not exist. */
int pipe_split_args(int argc, char **argv, const char ***files, size_t *nfiles,
                    char **bpf);

#endif
