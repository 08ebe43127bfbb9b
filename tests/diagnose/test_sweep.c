/* test_sweep.c - interval events in time order (sweep.c) against a qsort() reference. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "diagnose/diag_internal.h"

static int cmp_ref(const void *x, const void *y)
{
    const diag_ev *a = x, *b = y;
    if (a->t != b->t)
        return a->t < b->t ? -1 : 1;
    return (a->d > b->d) - (a->d < b->d);     /* ends first at one instant */
}

/* splitmix64: a fixed sequence, so a failure can be replayed */
static uint64_t next(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* The helper's events equal the reference: the pairs (t, d) built the way
 * the detectors built them before, sorted by qsort(). */
static void check(const int64_t *s, const int64_t *e, size_t n)
{
    diag_ev *got = malloc((2 * n + 1) * sizeof *got);
    diag_ev *want = malloc((2 * n + 1) * sizeof *want);
    assert_non_null(got);
    assert_non_null(want);
    for (size_t i = 0; i < n; i++) {
        want[2 * i] = (diag_ev){ s[i], 1 };
        want[2 * i + 1] = (diag_ev){ e[i] > s[i] ? e[i] : s[i] + 1, -1 };
    }
    qsort(want, 2 * n, sizeof *want, cmp_ref);
    assert_int_equal(diag_interval_events(s, e, n, got), 0);
    for (size_t k = 0; k < 2 * n; k++) {
        assert_int_equal(got[k].t, want[k].t);
        assert_int_equal(got[k].d, want[k].d);
    }
    free(got);
    free(want);
}

static void two_intervals_meeting_end_before_the_start(void **state)
{
    (void)state;
    int64_t s[] = { 10, 20 }, e[] = { 20, 30 };
    diag_ev ev[4];
    assert_int_equal(diag_interval_events(s, e, 2, ev), 0);
    assert_int_equal(ev[0].t, 10);
    assert_int_equal(ev[0].d, 1);
    assert_int_equal(ev[1].t, 20);
    assert_int_equal(ev[1].d, -1);      /* the port is freed, then taken */
    assert_int_equal(ev[2].t, 20);
    assert_int_equal(ev[2].d, 1);
    assert_int_equal(ev[3].t, 30);
    assert_int_equal(ev[3].d, -1);
}

static void empty_and_backwards_intervals_last_one_nanosecond(void **state)
{
    (void)state;
    int64_t s[] = { 5, 7 }, e[] = { 5, 3 };
    diag_ev ev[4];
    assert_int_equal(diag_interval_events(s, e, 2, ev), 0);
    assert_int_equal(ev[0].t, 5);
    assert_int_equal(ev[1].t, 6);
    assert_int_equal(ev[1].d, -1);
    assert_int_equal(ev[2].t, 7);
    assert_int_equal(ev[3].t, 8);
    assert_int_equal(diag_interval_events(s, e, 0, ev), 0);
}

/* Capture-like times (ns since 1970 over an hour, many ties), below and
 * above the insertion-sort cut-off, and full-range signed values. */
static void random_intervals_match_qsort(void **state)
{
    (void)state;
    static const size_t sizes[] = { 1, 2, 3, 63, 64, 65, 1000, 50000 };
    uint64_t x = 42;
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        size_t n = sizes[k];
        int64_t *s = malloc(n * sizeof *s), *e = malloc(n * sizeof *e);
        assert_non_null(s);
        assert_non_null(e);
        for (int kind = 0; kind < 3; kind++) {
            for (size_t i = 0; i < n; i++) {
                if (kind == 0) {            /* an hour of capture, ms grid: ties */
                    s[i] = 1700000000000000000LL + (int64_t)(next(&x) % 3600000) * 1000000;
                    e[i] = s[i] + (int64_t)(next(&x) % 60000) * 1000000;
                } else if (kind == 1) {     /* ns resolution */
                    s[i] = 1700000000000000000LL + (int64_t)(next(&x) % 3600000000000ULL);
                    e[i] = s[i] + (int64_t)(next(&x) % 1000000000ULL) - 1000;
                } else {                    /* anything, negative too */
                    s[i] = (int64_t)(next(&x) >> 1) - (INT64_MAX / 2);
                    e[i] = (int64_t)(next(&x) >> 1) - (INT64_MAX / 2);
                }
            }
            check(s, e, n);
        }
        free(s);
        free(e);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(two_intervals_meeting_end_before_the_start),
        cmocka_unit_test(empty_and_backwards_intervals_last_one_nanosecond),
        cmocka_unit_test(random_intervals_match_qsort),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
