/* diag_test.h - run records through the engine and look at the findings (include after cmocka.h). */
#ifndef TCPDOCTOR_TEST_DIAG_TEST_H
#define TCPDOCTOR_TEST_DIAG_TEST_H

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "tcpdoctor/diagnose.h"

/*
 * Records fed without a flow table: the pointer per 4-tuple that the table
 * keeps for its sink (flow_sink_fn's tuple_data), under the same rules: it
 * stays after a record that ended FLOW_END_REUSED and is dropped after any
 * other.  Linear probing on the unordered pair of endpoints, as the table's
 * canonical key.
 */
typedef struct tb_slot {
    pkt_addr a, b;
    uint16_t pa, pb;
    bool     used;
    void    *data;
} tb_slot;

typedef struct tb_tuples {
    diag_engine *e;
    tb_slot *v;
    size_t mask, n;
} tb_tuples;

static inline bool tb_same(const tb_slot *s, const flow_endpoint *x, const flow_endpoint *y)
{
    return s->pa == x->port && s->pb == y->port && memcmp(s->a.b, x->addr.b, 16) == 0 &&
           memcmp(s->b.b, y->addr.b, 16) == 0;
}

static inline size_t tb_ep_hash(const flow_endpoint *x)
{
    size_t h = x->port * 40503u;
    for (int i = 0; i < 16; i++)
        h = h * 31 + x->addr.b[i];
    return h;
}

static inline tb_slot *tb_slot_of(tb_tuples *t, const flow_conn *c)
{
    if (t->v == NULL || (t->n + 1) * 2 > t->mask + 1) {
        size_t cap = t->v == NULL ? 1024 : 2 * (t->mask + 1);
        tb_slot *v = calloc(cap, sizeof *v);
        assert_non_null(v);
        for (size_t i = 0; t->v != NULL && i <= t->mask; i++) {
            if (!t->v[i].used)
                continue;
            flow_endpoint x = { .addr = t->v[i].a, .port = t->v[i].pa };
            flow_endpoint y = { .addr = t->v[i].b, .port = t->v[i].pb };
            size_t h = (tb_ep_hash(&x) ^ tb_ep_hash(&y)) & (cap - 1);
            while (v[h].used)
                h = (h + 1) & (cap - 1);
            v[h] = t->v[i];
        }
        free(t->v);
        t->v = v;
        t->mask = cap - 1;
    }
    size_t h = (tb_ep_hash(&c->client) ^ tb_ep_hash(&c->server)) & t->mask;
    for (; t->v[h].used; h = (h + 1) & t->mask)
        if (tb_same(&t->v[h], &c->client, &c->server) ||
            tb_same(&t->v[h], &c->server, &c->client))
            return &t->v[h];
    t->v[h] = (tb_slot){ .a = c->client.addr, .b = c->server.addr, .pa = c->client.port,
                         .pb = c->server.port, .used = true };
    t->n++;
    return &t->v[h];
}

/* One record into the engine, as the flow table's sink gets it. */
static inline void tb_feed(tb_tuples *t, const flow_conn *c)
{
    tb_slot *s = tb_slot_of(t, c);
    diag_engine_conn(t->e, c, &s->data);
    if (c->end != FLOW_END_REUSED)
        s->data = NULL;
}

/* What the engine still keeps per 4-tuple goes back to it (as
 * flow_table_free() does), then the slots are freed. */
static inline void tb_tuples_done(tb_tuples *t)
{
    for (size_t i = 0; t->v != NULL && i <= t->mask; i++)
        if (t->v[i].data != NULL)
            diag_engine_tuple_free(t->e, t->v[i].data);
    free(t->v);
    t->v = NULL;
    t->n = 0;
}

/* Every record, in order, through a fresh engine; the findings (caller frees). */
static inline diag_findings tb_run(const flow_conn *c, size_t n, enum diag_vantage v)
{
    diag_config cfg = { .vantage = v };
    char err[64];
    tb_tuples t = { .e = diag_engine_new(&cfg, err, sizeof err) };
    assert_non_null(t.e);
    for (size_t i = 0; i < n; i++)
        tb_feed(&t, &c[i]);
    tb_tuples_done(&t);
    diag_findings fs;
    assert_int_equal(diag_engine_finish(t.e, &fs), 0);
    diag_engine_free(t.e);
    return fs;
}

/* The nth finding (from 0) with this id, or NULL. */
static inline const diag_finding *tb_find(const diag_findings *fs, const char *id, size_t nth)
{
    for (size_t i = 0; i < fs->n; i++)
        if (strcmp(fs->v[i].id, id) == 0 && nth-- == 0)
            return &fs->v[i];
    return NULL;
}

/* A parameter's value; fails the test when the finding has no such param. */
static inline double tb_param(const diag_finding *f, const char *name)
{
    const diag_param *p = diag_param_get(f, name);
    if (p == NULL)
        fail_msg("finding %s has no param %s", f->id, name);
    return p->value;
}

#endif
