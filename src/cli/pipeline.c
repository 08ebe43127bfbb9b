/* pipeline.c - drive capture -> decode -> flow for the subcommands; report input errors and progress. */
#include "cli/pipeline.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

bool pipe_is_input(const char *path)
{
    struct stat st;
    return strcmp(path, "-") == 0 || stat(path, &st) == 0;
}

static bool looks_like_capture(const char *w)
{
    static const char *const ext[] = { ".pcap", ".pcapng", ".cap", ".dmp", ".pcap.gz", ".erf" };
    size_t n = strlen(w);
    for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++) {
        size_t m = strlen(ext[i]);
        if (n > m && strcmp(w + n - m, ext[i]) == 0)
            return true;
    }
    return strchr(w, '/') != NULL;
}

int pipe_split_args(int argc, char **argv, const char ***files, size_t *nfiles, char **bpf)
{
    const char **f = calloc((size_t)argc + 1, sizeof *f);
    if (f == NULL) {
        fprintf(stderr, "tcpdoctor: out of memory\n");
        return 2;
    }
    size_t n = 0;
    int i = 0;
    for (; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) {
            i++;
            break;
        }
        if (!pipe_is_input(argv[i])) {
            if (n == 0 || looks_like_capture(argv[i])) {
                fprintf(stderr, "tcpdoctor: %s: %s\n", argv[i], strerror(ENOENT));
                free(f);
                return 2;
            }
            break;
        }
        f[n++] = argv[i];
    }
    if (n == 0) {
        fprintf(stderr, "tcpdoctor: no capture file given (use - for standard input)\n");
        free(f);
        return 2;
    }
    *bpf = NULL;
    if (i < argc) {
        size_t len = 1;
        for (int k = i; k < argc; k++)
            len += strlen(argv[k]) + 1;
        char *s = malloc(len);
        if (s == NULL) {
            free(f);
            fprintf(stderr, "tcpdoctor: out of memory\n");
            return 2;
        }
        s[0] = '\0';
        for (int k = i; k < argc; k++) {
            if (k > i)
                strcat(s, " ");
            strcat(s, argv[k]);
        }
        *bpf = s;
    }
    *files = f;
    *nfiles = n;
    return 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void count_anomalies(pipe_stats *st, uint64_t bits)
{
    for (int b = 0; bits != 0 && b < PKT_AN_COUNT; b++, bits >>= 1)
        if (bits & 1)
            st->anomalies[b]++;
}

/* Count one decoded frame and give it to the table. */
static void account(const pipe_opts *o, pipe_stats *st, flow_table *t, const pkt_view *v,
                    enum pkt_status ps)
{
    if (v->anomalies)
        count_anomalies(st, v->anomalies);
    switch (ps) {
    case PKT_TCP: st->tcp++; break;
    case PKT_TCP_FRAGMENT: st->tcp_fragments++; break;
    case PKT_OTHER_FRAGMENT: st->other_fragments++; break;
    case PKT_NOT_TCP: st->not_tcp++; break;
    case PKT_NOT_IP: st->not_ip++; break;
    case PKT_MALFORMED: st->malformed++; break;
    }
    if (o->on_packet != NULL)
        o->on_packet(o->packet_ctx, v, ps);
    if (ps == PKT_TCP || ps == PKT_TCP_FRAGMENT)
        flow_table_packet(t, v);
}

/* Every file's link type must be one we decode: say which before reading. */
static int check_linktypes(cap_reader *r)
{
    for (size_t i = 0; i < cap_file_count(r); i++) {
        cap_file_stats fs;
        cap_file_stats_get(r, i, &fs);
        if (!pkt_linktype_supported(fs.dlt)) {
            char lt[128];
            fprintf(stderr,
                    "tcpdoctor: %s: unsupported link type %s; tcpdoctor decodes Ethernet "
                    "(with 802.1Q/QinQ), Linux cooked v1/v2, raw IPv4/IPv6 and BSD loopback\n",
                    fs.name, cap_linktype_desc(fs.dlt, lt, sizeof lt));
            return 2;
        }
    }
    return 0;
}

int pipe_run(const pipe_opts *o, pipe_stats *st)
{
    memset(st, 0, sizeof *st);
    char err[CAP_ERRBUF + 64];
    int rc = 0;
    cap_reader *r = cap_open(o->files, o->nfiles, o->bpf, err, sizeof err);
    if (r == NULL) {
        fprintf(stderr, "tcpdoctor: %s\n", err);
        return 2;
    }
    if (check_linktypes(r) != 0) {
        cap_close(r);
        return 2;
    }
    st->opened = true;
    flow_config fc = {
        .capacity = o->max_flows,
        .linger_ns = o->linger_ns,
        .sink = o->sink,
        .sink_ctx = o->sink_ctx,
        .tuple_free = o->tuple_free,
    };
    flow_table *t = flow_table_new(&fc, err, sizeof err);
    if (t == NULL) {
        fprintf(stderr, "tcpdoctor: %s\n", err);
        cap_close(r);
        return 2;
    }

    bool progress = o->progress && isatty(STDERR_FILENO);
    double t_start = progress ? now_s() : 0, t_last = t_start;
    bool progress_shown = false;
    /* A few packets of lag: packet k+DEPTH-1 is decoded (and its flow entry
       prefetched) before packet k is accounted, so memory latency overlaps
       with work; LAG packets later, with the entry in cache, what the sink
       kept for that 4-tuple is fetched too (flow_table_prefetch_data()).
       Order is unchanged. */
    enum { DEPTH = 4, LAG = 2 };
    cap_frame f;
    pkt_view views[DEPTH];
    enum pkt_status stat[DEPTH];
    unsigned head = 0, queued = 0;
    for (;;) {
        int n = cap_next(r, &f, err, sizeof err);
        if (n < 0) {
            if (progress_shown) {
                fputs("\r\033[K", stderr);
                progress_shown = false;
            }
            fprintf(stderr, "tcpdoctor: %s\n", err);
            st->input_errors++;
            rc = 2;
            continue;
        }
        if (n > 0) {
            st->frames++;
            if (st->frames == 1)
                st->first_ts = f.ts_ns;
            st->last_ts = f.ts_ns;
            if (!pkt_linktype_supported(f.dlt)) {
                /* a pcapng interface of another link type (libwiretap path) */
                if (st->unsupported_dlt++ == 0)
                    st->unsupported_dlt_first = f.dlt;
            } else {
                unsigned slot = (head + queued) % DEPTH;
                pkt_view *nv = &views[slot];
                stat[slot] = pkt_decode(f.dlt, f.data, f.caplen, f.wirelen, nv);
                nv->num = f.num;
                nv->ts_ns = f.ts_ns;
                nv->source = f.source;
                flow_table_prefetch(t, nv);
                if (queued >= LAG)
                    flow_table_prefetch_data(t, &views[(head + queued - LAG) % DEPTH]);
                queued++;
            }
        }
        /* account the oldest when the window is full, or drain at the end */
        while (queued > 0 && (queued == DEPTH || n == 0)) {
            account(o, st, t, &views[head], stat[head]);
            head = (head + 1) % DEPTH;
            queued--;
        }
        if (n == 0)
            break;
        if (progress && (st->frames & 0xffff) == 0) {
            double now = now_s();
            if (now - t_last >= 0.5 && now - t_start >= 1.0) {
                fprintf(stderr, "\r\033[Ktcpdoctor: %" PRIu64 " frames, %.1f s", st->frames,
                        now - t_start);
                t_last = now;
                progress_shown = true;
            }
        }
    }
    if (progress_shown)
        fputs("\r\033[K", stderr);
    flow_table_flush(t);
    flow_table_stats(t, &st->flow);
    if (st->flow.dropped_nomem > 0) {
        fprintf(stderr, "tcpdoctor: out of memory: %" PRIu64 " packet%s could not be followed "
                "(no room for their connections); what was read is incomplete\n",
                st->flow.dropped_nomem, st->flow.dropped_nomem == 1 ? "" : "s");
        st->nomem = true;
        rc = 2;
    }
    for (size_t i = 0; i < cap_file_count(r); i++) {
        cap_file_stats fs;
        cap_file_stats_get(r, i, &fs);
        st->filtered += fs.filtered;
        if (fs.ts_clamped > 0)
            fprintf(stderr, "tcpdoctor: %s: %" PRIu64 " frame%s had a time stamp before 1970 or "
                    "after 2116 (a damaged or crafted file); their times were set to the nearest end of that range\n",
                    fs.name, fs.ts_clamped, fs.ts_clamped == 1 ? "" : "s");
    }
    if (st->unsupported_dlt) {
        char lt[128];
        fprintf(stderr, "tcpdoctor: %" PRIu64 " frames of unsupported link type %s were not decoded\n",
                st->unsupported_dlt, cap_linktype_desc(st->unsupported_dlt_first, lt, sizeof lt));
        rc = 2;
    }
    flow_table_free(t);
    cap_close(r);
    return rc;
}

void pipe_frame(const pipe_opts *o, pipe_stats *st, flow_table *t, const cap_frame *f)
{
    st->frames++;
    if (st->frames == 1)
        st->first_ts = f->ts_ns;
    st->last_ts = f->ts_ns;
    if (!pkt_linktype_supported(f->dlt)) {
        if (st->unsupported_dlt++ == 0)
            st->unsupported_dlt_first = f->dlt;
        return;
    }
    pkt_view v;
    enum pkt_status ps = pkt_decode(f->dlt, f->data, f->caplen, f->wirelen, &v);
    v.num = f->num;
    v.ts_ns = f->ts_ns;
    v.source = f->source;
    account(o, st, t, &v, ps);
}

void pipe_run_info(rep_run_info *in, const pipe_stats *st)
{
    in->frames = st->frames;
    in->filtered = st->filtered;
    in->tcp = st->tcp;
    in->tcp_fragments = st->tcp_fragments;
    in->other_fragments = st->other_fragments;
    in->not_tcp = st->not_tcp;
    in->not_ip = st->not_ip;
    in->malformed = st->malformed;
    in->unsupported_dlt = st->unsupported_dlt;
    in->incarnations = st->flow.incarnations;
    in->tuples_peak = st->flow.tuples_peak;
    in->evictions = st->flow.evictions;
    in->expirations = st->flow.expirations;
    in->time_regressions = st->flow.time_regressions;
    memcpy(in->anomalies, st->anomalies, sizeof in->anomalies);
    in->input_errors = st->input_errors;
    in->first_ts = st->first_ts;
    in->last_ts = st->last_ts;
}

void pipe_print_stats(FILE *out, const pipe_stats *st)
{
    fprintf(out, "frames %" PRIu64, st->frames);
    if (st->filtered)
        fprintf(out, " (+%" PRIu64 " rejected by the filter)", st->filtered);
    fprintf(out, ": tcp %" PRIu64 ", tcp fragments %" PRIu64 ", other fragments %" PRIu64
            ", other ip %" PRIu64 ", not ip %" PRIu64 ", malformed %" PRIu64 "\n",
            st->tcp, st->tcp_fragments, st->other_fragments, st->not_tcp, st->not_ip,
            st->malformed);
    fprintf(out, "connections: %" PRIu64 " incarnations, peak %" PRIu64 " 4-tuples held, %"
            PRIu64 " evicted (table full), %" PRIu64 " expired\n",
            st->flow.incarnations, st->flow.tuples_peak, st->flow.evictions,
            st->flow.expirations);
    if (st->flow.fragments_unmatched || st->flow.time_regressions)
        fprintf(out, "notes: %" PRIu64 " tcp fragments without their first fragment, %" PRIu64
                " frames older than their predecessor\n",
                st->flow.fragments_unmatched, st->flow.time_regressions);
    bool any = false;
    for (int a = 0; a < PKT_AN_COUNT; a++) {
        if (st->anomalies[a] == 0)
            continue;
        fprintf(out, "%s%s %" PRIu64 " (%s)", any ? ", " : "anomalies: ",
                pkt_anomaly_name((enum pkt_anomaly)a), st->anomalies[a],
                pkt_anomaly_class_name(pkt_anomaly_class((enum pkt_anomaly)a)));
        any = true;
    }
    if (any)
        fputc('\n', out);
}
