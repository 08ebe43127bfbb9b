/* fuzz_pipeline.c - libFuzzer target: raw capture-file bytes through capture, decode, flow and the writers. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tcpdoctor/capture.h"
#include "tcpdoctor/flow.h"
#include "tcpdoctor/packet.h"
#include "tcpdoctor/report.h"

/*
 * The input is a whole capture file (pcap or pcapng, any damage): it is
 * written to a scratch file and read through cap_open() like a user's file,
 * so libpcap, the libwiretap fallback, the decoder, the connection table
 * (with a tiny capacity, so eviction runs too) and the NDJSON and table
 * writers all see it.  Output goes to /dev/null.
 */

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
    flow_config fc = {
        .capacity = 4,
        .linger_ns = 2000000000LL,
        .hash_seed = 1,
        .sink = rep_conn_write,
        .sink_ctx = (size & 1) ? nd : tb,
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
        if (st == PKT_TCP || st == PKT_TCP_FRAGMENT) {
            flow_table_prefetch(t, &v);
            flow_table_packet(t, &v);
        }
    }
    flow_table_flush(t);
    flow_table_free(t);
    rep_conn_writer_free(nd);
    rep_conn_writer_free(tb);
    cap_close(r);
    return 0;
}
