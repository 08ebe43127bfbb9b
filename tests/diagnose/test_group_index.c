/* test_group_index.c - find-or-create by key, lookups that add nothing, and items grouped by endpoint (group_index.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "diagnose/diag_internal.h"

typedef struct rec {
    uint32_t key[3];            /* 12 bytes, no padding */
    int      value;
} rec;

static const diag_table tab = { sizeof(rec), offsetof(rec, key), sizeof(((rec *)0)->key) };

static pkt_addr v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
    pkt_addr x;
    memset(&x, 0, sizeof x);
    x.b[10] = 0xff;
    x.b[11] = 0xff;
    x.b[12] = a;
    x.b[13] = b;
    x.b[14] = c;
    x.b[15] = d;
    return x;
}

/* Thousands of keys (the index grows several times): each gets the next
 * position, the same key its position again, and find() adds nothing. */
static void get_appends_in_first_seen_order_and_find_adds_nothing(void **state)
{
    (void)state;
    diag_index ix = { .seed = 7 };
    rec *v = NULL;
    size_t n = 0, cap = 0;
    for (uint32_t round = 0; round < 2; round++) {
        for (uint32_t i = 0; i < 5000; i++) {
            uint32_t key[3] = { i * 2654435761u, i, 42 };
            bool created;
            void *p = v;
            long k = diag_index_get(&ix, &tab, &p, &n, &cap, key, &created);
            v = p;
            assert_int_equal(k, (long)i);
            assert_int_equal(created, round == 0);
            if (created)
                v[k].value = (int)i;
        }
    }
    assert_int_equal(n, 5000);
    for (uint32_t i = 0; i < 5000; i++) {
        uint32_t key[3] = { i * 2654435761u, i, 42 };
        assert_int_equal(diag_index_find(&ix, &tab, v, key), (long)i);
        assert_int_equal(v[i].value, (int)i);
    }
    uint32_t missing[3] = { 1, 2, 3 };
    assert_int_equal(diag_index_find(&ix, &tab, v, missing), -1);
    assert_int_equal(n, 5000);
    diag_index_reset(&ix);
    assert_int_equal(diag_index_find(&ix, &tab, v, missing), -1);  /* empty index */
    free(v);
}

/* Items of three endpoints interleaved (same address, other port counts as
 * another endpoint): groups in order of first appearance, each chain in
 * item order. */
static void endpoint_groups_chain_items_in_order(void **state)
{
    (void)state;
    const pkt_addr a = v4(10, 0, 0, 1), b = v4(10, 0, 0, 2);
    struct { const pkt_addr *addr; uint16_t port; } item[] = {
        { &b, 80 }, { &a, 443 }, { &b, 80 }, { &b, 8080 }, { &a, 443 }, { &b, 80 },
    };
    const size_t n_items = sizeof item / sizeof item[0];
    diag_ep_groups g;
    assert_int_equal(diag_ep_groups_init(&g, n_items, 99), 0);
    static const long want_group[] = { 0, 1, 0, 2, 1, 0 };
    for (size_t i = 0; i < n_items; i++)
        assert_int_equal(diag_ep_groups_add(&g, item[i].addr, item[i].port, i), want_group[i]);
    assert_int_equal(g.n, 3);
    static const size_t want[3][3] = { { 0, 2, 5 }, { 1, 4, 0 }, { 3, 0, 0 } };
    static const size_t want_n[3] = { 3, 2, 1 };
    for (size_t k = 0; k < 3; k++) {
        assert_int_equal(g.v[k].n, want_n[k]);
        size_t i = g.v[k].first;
        for (size_t m = 0; m < g.v[k].n; m++) {
            assert_int_equal(i, want[k][m]);
            if (m + 1 < g.v[k].n)   /* the last item's next[] is never set */
                i = g.next[i];
        }
        assert_int_equal(g.v[k].last, want[k][want_n[k] - 1]);
    }
    assert_memory_equal(g.v[2].addr.b, b.b, 16);
    assert_int_equal(g.v[2].port, 8080);
    diag_ep_groups_free(&g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(get_appends_in_first_seen_order_and_find_adds_nothing),
        cmocka_unit_test(endpoint_groups_chain_items_in_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
