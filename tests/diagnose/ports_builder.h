/* ports_builder.h - records and an engine for the port-pool tests (test_ports.c, test_tw_accumulation.c); include after cmocka.h. */
#ifndef TCPDOCTOR_TEST_PORTS_BUILDER_H
#define TCPDOCTOR_TEST_PORTS_BUILDER_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "conn_builder.h"
#include "diag_test.h"
#include "tcpdoctor/diagnose.h"

#define DST tb_v4(10, 0, 0, 9)

static inline tb_tuples engine(enum diag_vantage v)
{
    diag_config cfg = { .vantage = v };
    char err[64];
    tb_tuples t = { .e = diag_engine_new(&cfg, err, sizeof err) };
    assert_non_null(t.e);
    return t;
}

static inline diag_findings finish(tb_tuples *t)
{
    tb_tuples_done(t);
    diag_findings fs;
    assert_int_equal(diag_engine_finish(t->e, &fs), 0);
    diag_engine_free(t->e);
    return fs;
}

static inline size_t count(const diag_findings *fs, const char *id)
{
    size_t n = 0;
    for (size_t i = 0; i < fs->n; i++)
        n += strcmp(fs->v[i].id, id) == 0;
    return n;
}

/* A connection from `src`:cport to DST:80 that completes; closed first by
 * `closer` (NONE: still open at the end of the capture). */
static inline flow_conn ok_conn(pkt_addr src, uint16_t cport, double start, double dur,
                                enum flow_side closer, uint64_t pkt, uint32_t incarnation)
{
    tb_spec s = {
        .client = src, .server = DST, .cport = cport, .sport = 80,
        .incarnation = incarnation, .first_packet = pkt, .start_s = start, .dur_s = dur,
        .answer = FLOW_HS_SYNACK, .succeeded = true, .closed_by = closer,
        .client_isn = 1000 + cport, .server_isn = 5000, .end = FLOW_END_EOF,
    };
    return tb_make(&s);
}

/* An attempt whose `syns` SYNs, 1 s apart, got nothing back. */
static inline flow_conn failed_conn(pkt_addr src, uint16_t cport, double start, uint16_t syns,
                                    uint64_t pkt, uint32_t incarnation)
{
    tb_spec s = {
        .client = src, .server = DST, .cport = cport, .sport = 80,
        .incarnation = incarnation, .first_packet = pkt, .start_s = start,
        .dur_s = syns - 1, .syns = syns, .syn_gap_s = 1, .answer = FLOW_HS_NONE,
        .client_isn = 7000 + cport, .end = FLOW_END_EOF,
    };
    return tb_make(&s);
}

/* Linux SYN options (MSS, SACK_PERM, TS, NOP, WS) and TTL; or Windows'. */
static inline void set_stack(flow_conn *c, bool linux_stack)
{
    static const uint8_t lx[] = { 2, 4, 8, 1, 3 }, win[] = { 2, 1, 3, 1, 1, 4 };
    const uint8_t *l = linux_stack ? lx : win;
    size_t n = linux_stack ? sizeof lx : sizeof win;
    memcpy(c->client.syn_opts.layout, l, n);
    c->client.syn_opts.layout_len = (uint8_t)n;
    c->client.ttl_first = c->client.ttl_min = c->client.ttl_max = linux_stack ? 64 : 128;
}

#endif
