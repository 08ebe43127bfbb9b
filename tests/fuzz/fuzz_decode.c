/* fuzz_decode.c - libFuzzer target: one frame of a chosen link type through pkt_decode(). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tcpdoctor/packet.h"
#include "fuzz_linktypes.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A broken invariant is a bug even when no sanitizer fires. */
static void check(int ok)
{
    if (!ok)
        abort();
}

/*
 * Invariants of any decoded view, whatever the bytes: what the status
 * promises, lengths that add up, counts within their arrays, and a name
 * for every anomaly bit.
 */
static void check_view(const pkt_view *v, enum pkt_status st)
{
    char buf[PKT_ADDR_STRLEN];

    check(st <= PKT_MALFORMED);
    check((st == PKT_TCP) == v->has_tcp);
    check(v->caplen <= v->wirelen);
    check(v->vlan_count <= PKT_MAX_VLAN);
    check(v->opt.layout_len <= PKT_OPT_LAYOUT_MAX);
    check(v->opt.sack_blocks <= 4);
    check((v->anomalies >> PKT_AN_COUNT) == 0);
    if (v->has_tcp) {
        check(v->tcp_hlen >= 20 && v->tcp_hlen <= 60);
        check(v->payload_captured <= v->payload_len);
        /* Payload is only counted once the whole header was captured. */
        if (v->payload_captured > 0 || v->tcp_opts_ok)
            check(v->tcp_hlen + v->payload_captured <= v->caplen);
        if (v->anomalies & (UINT64_C(1) << PKT_AN_TCP_OPTIONS_TRUNCATED))
            check(v->payload_captured == 0 && !v->tcp_opts_ok);
    }
    if (st == PKT_TCP_FRAGMENT || st == PKT_OTHER_FRAGMENT)
        check(v->is_fragment && v->frag_offset != 0);
    for (int a = 0; a < PKT_AN_COUNT; a++)
        if (v->anomalies & (UINT64_C(1) << a))
            check(strcmp(pkt_anomaly_name((enum pkt_anomaly)a), "unknown") != 0);
    check(pkt_addr_str(&v->src, buf, sizeof buf)[0] != '\0');
    check(pkt_addr_str(&v->dst, buf, sizeof buf)[0] != '\0');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pkt_view v;
    uint32_t caplen, wirelen;
    unsigned mode;
    int dlt;

    if (size < 1 || size - 1 > UINT32_MAX)
        return 0;
    dlt = fuzz_linktypes[data[0] % FUZZ_LINKTYPE_COUNT];
    mode = data[0] / FUZZ_LINKTYPE_COUNT;
    caplen = (uint32_t)(size - 1);
    /* Mode 0 (the seeds): the whole frame was captured.  Others: a snaplen
     * cut of up to ~24 KB, or a record claiming fewer bytes on the wire. */
    if (mode == 0)
        wirelen = caplen;
    else if (mode % 4 == 3)
        wirelen = caplen / 2;
    else
        wirelen = caplen + mode * 997u;

    memset(&v, 0, sizeof v);
    check_view(&v, pkt_decode(dlt, data + 1, caplen, wirelen, &v));
    return 0;
}
