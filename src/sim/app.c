/* app.c - workloads: when clients open connections (a rate with fixed or exponential
 * gaps, or a number kept open at once), which copy of a counted client host opens the
 * next one, and what happens when an attempt ends. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sim_internal.h"

int sim_app_init(sim_world *w)
{
    for (size_t i = 0; i < w->n_apps; i++) {
        sim_rapp *ra = &w->apps[i];
        ra->bind_next = calloc(ra->n_clients ? ra->n_clients : 1, sizeof *ra->bind_next);
        if (!ra->bind_next)
            return -ENOMEM;
        sim_event e = { .at = ra->cfg->start, .type = EV_APP_START, .idx = (uint32_t)i };
        sim_schedule(w, &e);
    }
    return 0;
}

void sim_app_free(sim_world *w)
{
    for (size_t i = 0; i < w->n_apps; i++) {
        free(w->apps[i].bind_next);
        w->apps[i].bind_next = NULL;
    }
}

static bool may_open(const sim_world *w, const sim_rapp *ra)
{
    return !w->stopping && !ra->stopped && !w->oom &&
           (!ra->cfg->max_connections || ra->started < ra->cfg->max_connections);
}

static void open_one(sim_world *w, uint32_t app)
{
    sim_rapp *ra = &w->apps[app];
    uint32_t copy = ra->rr;
    ra->rr = ra->rr + 1 >= ra->n_clients ? 0 : ra->rr + 1;
    ra->started++;
    ra->in_flight++;
    w->attempts++;
    w->pending++;
    sim_tcp_connect(w, app, ra->first_client + copy, copy);
}

void sim_app_start_event(sim_world *w, uint32_t app)
{
    sim_rapp *ra = &w->apps[app];
    const sim_app *a = ra->cfg;
    if (!may_open(w, ra))
        return;
    if (a->rate > 0) {
        open_one(w, app);
        double gap = a->poisson ? -log(1.0 - sim_rng_unit(&w->rng)) / a->rate : 1.0 / a->rate;
        sim_ns g = (sim_ns)(gap * (double)SIM_NS_PER_S);
        sim_event e = { .at = w->now + (g > 0 ? g : 1), .type = EV_APP_START, .idx = app };
        sim_schedule(w, &e);
        return;
    }
    while (ra->in_flight < a->concurrency && may_open(w, ra)) {
        uint64_t before = w->fail_by[SIM_FAIL_NO_PORT];
        open_one(w, app);
        if (w->fail_by[SIM_FAIL_NO_PORT] != before)
            break; /* the outcome scheduled a retry */
    }
}

void sim_app_outcome(sim_world *w, sim_tcb *t, int fail)
{
    sim_rapp *ra = &w->apps[t->app];
    ra->in_flight--;
    w->pending--;
    if (fail < 0) {
        w->successes++;
        if (t->n_syn > 1)
            w->retried++;
    } else {
        w->failures++;
        w->fail_by[fail]++;
    }
    if (ra->cfg->rate > 0 || !may_open(w, ra))
        return;
    /* concurrency: replace the connection; after EADDRNOTAVAIL wait a little, as an
     * application retrying in a loop would, instead of spinning at one instant */
    sim_ns at = w->now + (fail == SIM_FAIL_NO_PORT ? SIM_NOPORT_RETRY : 0);
    sim_event e = { .at = at, .type = EV_APP_START, .idx = (uint32_t)(ra - w->apps) };
    sim_schedule(w, &e);
}
