/* fuzz_pipeline.c - libFuzzer target: raw capture-file bytes through capture, decode, flow, diagnosis and the writers. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tcpdoctor/capture.h"
#include "tcpdoctor/diagnose.h"
#include "tcpdoctor/flow.h"
#include "tcpdoctor/packet.h"
#include "tcpdoctor/report.h"

/*
 * The input is a whole capture file (pcap or pcapng, any damage): it is
 * written to a scratch file and read through cap_open() like a user's file,
 * so libpcap, the libwiretap fallback, the decoder, the connection table
 * (with a tiny capacity, so eviction runs too), the NDJSON and table
 * writers, and the diagnosis engine with every detector and both findings
 * reports (analyze's whole path) all see it.  Output goes to /dev/null.
 */

/* Each finished incarnation goes to a writer and to the engine. */
typedef struct tee {
    rep_conn_writer *w;
    diag_engine *e;
} tee;

static void tee_conn(void *ctx, const flow_conn *c, void **tuple_data)
{
    tee *t = ctx;
    rep_conn_write(t->w, c);
    diag_engine_conn(t->e, c, tuple_data);
}

static void tee_tuple_free(void *ctx, void *tuple_data)
{
    tee *t = ctx;
    diag_engine_tuple_free(t->e, tuple_data);
}

static char path[64];
static FILE *devnull;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (path[0] == '\0') {
        snprintf(path, sizeof path, "/tmp/tcpdoctor-fuzz-%ld.cap", (long)getpid());
        devnull = fopen("/dev/null", "w");
        if (devnull == NULL)
            abort();
    }
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        abort();
    if (size > 0 && fwrite(data, 1, size, f) != size)
        abort();
    fclose(f);

    const char *files[1] = { path };
    char err[CAP_ERRBUF];
    cap_reader *r = cap_open(files, 1, NULL, err, sizeof err);
    if (r == NULL)
        return 0;
    rep_conn_writer *nd = rep_conn_writer_new(devnull, REP_CONN_NDJSON);
    rep_conn_writer *tb = rep_conn_writer_new(devnull, REP_CONN_TABLE);
    if (nd == NULL || tb == NULL)
        abort();
    diag_config dc = { .vantage = DIAG_VANTAGE_UNKNOWN };
    tee tw = { .w = (size & 1) ? nd : tb, .e = diag_engine_new(&dc, err, sizeof err) };
    if (tw.e == NULL)
        abort();
    flow_config fc = {
        .capacity = 4,
        .linger_ns = 2000000000LL,
        .hash_seed = 1,
        .sink = tee_conn,
        .sink_ctx = &tw,
        .tuple_free = tee_tuple_free,
    };
    flow_table *t = flow_table_new(&fc, err, sizeof err);
    if (t == NULL)
        abort();
    cap_frame fr;
    pkt_view v;
    int n;
    while ((n = cap_next(r, &fr, err, sizeof err)) != 0) {
        if (n < 0)
            continue;
        if (!pkt_linktype_supported(fr.dlt))
            continue;
        enum pkt_status st = pkt_decode(fr.dlt, fr.data, fr.caplen, fr.wirelen, &v);
        v.num = fr.num;
        v.ts_ns = fr.ts_ns;
        v.source = fr.source;
        diag_engine_packet(tw.e, &v, st);
        if (st == PKT_TCP || st == PKT_TCP_FRAGMENT) {
            flow_table_prefetch(t, &v);
            flow_table_packet(t, &v);
        }
    }
    flow_table_flush(t);
    flow_table_free(t);
    diag_findings fs;
    if (diag_engine_finish(tw.e, &fs) == 0) {
        rep_run_info info = { .files = files, .nfiles = 1, .vantage = diag_engine_vantage(tw.e) };
        if (size & 2)
            rep_findings_json(devnull, &fs, &info);
        else
            rep_findings_text(devnull, &fs, &info, (size & 4) != 0);
        diag_findings_free(&fs);
    }
    diag_engine_free(tw.e);
    rep_conn_writer_free(nd);
    rep_conn_writer_free(tb);
    cap_close(r);
    return 0;
}
