/* event.c - the event queue: a binary min-heap keyed by (time, insertion sequence), so
 * events at the same instant run in the order they were scheduled (determinism). */
#include <errno.h>
#include <stdlib.h>

#include "sim_internal.h"

static inline bool ev_less(const sim_event *a, const sim_event *b)
{
    return a->at < b->at || (a->at == b->at && a->seq < b->seq);
}

int sim_heap_push(sim_heap *h, const sim_event *e)
{
    if (h->n == h->cap) {
        size_t ncap = h->cap ? h->cap * 2 : 1024;
        sim_event *nv = realloc(h->v, ncap * sizeof *nv);
        if (!nv)
            return -ENOMEM;
        h->v = nv;
        h->cap = ncap;
    }
    sim_event ev = *e;
    ev.seq = h->next_seq++;
    size_t i = h->n++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!ev_less(&ev, &h->v[parent]))
            break;
        h->v[i] = h->v[parent];
        i = parent;
    }
    h->v[i] = ev;
    return 0;
}

bool sim_heap_pop(sim_heap *h, sim_event *out)
{
    if (h->n == 0)
        return false;
    *out = h->v[0];
    sim_event last = h->v[--h->n];
    size_t n = h->n, i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && ev_less(&h->v[c + 1], &h->v[c]))
            c++;
        if (!ev_less(&h->v[c], &last))
            break;
        h->v[i] = h->v[c];
        i = c;
    }
    if (n > 0)
        h->v[i] = last;
    return true;
}

void sim_heap_free(sim_heap *h)
{
    free(h->v);
    h->v = NULL;
    h->n = h->cap = 0;
}
