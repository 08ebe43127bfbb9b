/* live.c - which findings of a snapshot of a running capture are new or changed since the previous one. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diagnose/diag_internal.h"

/*
 * How it works.  The tracker holds the key and figures of every finding of
 * the last snapshot: the severity it has had for how many snapshots in a row
 * (streak), and what was said of it (events, severity), if anything.  An
 * update matches each finding of the new snapshot by key (id, subject, rank
 * among equal id and subject), carries that history over, marks it, then
 * replaces the held set by the new snapshot's keys.  Keys are found by a
 * linear search: a snapshot holds tens of findings (detectors group their
 * events by host or server), and an update costs O(n * m) comparisons of a
 * few dozen bytes, microseconds next to the diagnosis that made it.
 */

typedef struct live_key {
    char     id[32];        /* copied: the snapshot's strings do not outlive it
                               (ids are at most 21 characters, docs/findings.md) */
    pkt_addr client, server;
    uint16_t server_port;
    bool     has_client, has_server;
    uint32_t rank;          /* among earlier findings with the same id and subject */
    uint64_t events;
    enum diag_severity severity;
    unsigned streak;        /* snapshots in a row with this severity */
    bool     said;
    uint64_t said_events;
    enum diag_severity said_severity;
} live_key;

struct diag_live {
    live_key *v;
    size_t n;
    unsigned confirm;
};

diag_live *diag_live_new(unsigned confirm)
{
    diag_live *l = calloc(1, sizeof *l);
    if (l != NULL)
        l->confirm = confirm ? confirm : 1;
    return l;
}

void diag_live_free(diag_live *l)
{
    if (l == NULL)
        return;
    free(l->v);
    free(l);
}

static bool same_subject(const live_key *a, const live_key *b)
{
    if (strcmp(a->id, b->id) != 0 || a->has_client != b->has_client ||
        a->has_server != b->has_server)
        return false;
    if (a->has_client && memcmp(a->client.b, b->client.b, sizeof a->client.b) != 0)
        return false;
    if (a->has_server && (a->server_port != b->server_port ||
                          memcmp(a->server.b, b->server.b, sizeof a->server.b) != 0))
        return false;
    return true;
}

static void key_of(const diag_finding *f, live_key *k)
{
    memset(k, 0, sizeof *k);
    snprintf(k->id, sizeof k->id, "%s", f->id != NULL ? f->id : "");
    k->has_client = f->has_client;
    k->has_server = f->has_server;
    if (f->has_client)
        k->client = f->client;
    if (f->has_server) {
        k->server = f->server;
        k->server_port = f->server_port;
    }
    k->events = f->events;
    k->severity = f->severity;
}

/* Carry k's history over from old (NULL: first seen) and decide what to say. */
static enum diag_live_mark judge(const diag_live *l, const live_key *old, live_key *k)
{
    k->streak = 1;
    if (old != NULL) {
        k->said = old->said;
        k->said_events = old->said_events;
        k->said_severity = old->said_severity;
        if (old->severity == k->severity)
            k->streak = old->streak < UINT32_MAX ? old->streak + 1 : old->streak;
    }
    if (k->streak < l->confirm)
        return DIAG_LIVE_SAME;
    enum diag_live_mark m = !k->said ? DIAG_LIVE_NEW
                            : k->said_events != k->events || k->said_severity != k->severity
                            ? DIAG_LIVE_CHANGED : DIAG_LIVE_SAME;
    k->said = true;
    k->said_events = k->events;
    k->said_severity = k->severity;
    return m;
}

int diag_live_update(diag_live *l, const diag_findings *fs, enum diag_live_mark *marks)
{
    live_key *nv = fs->n ? calloc(fs->n, sizeof *nv) : NULL;
    if (fs->n && nv == NULL)
        return -ENOMEM;
    int said = 0;
    for (size_t i = 0; i < fs->n; i++) {
        live_key *k = &nv[i];
        key_of(&fs->v[i], k);
        for (size_t j = 0; j < i; j++)
            if (same_subject(&nv[j], k))
                k->rank++;
        const live_key *old = NULL;
        for (size_t j = 0; j < l->n && old == NULL; j++)
            if (l->v[j].rank == k->rank && same_subject(&l->v[j], k))
                old = &l->v[j];
        marks[i] = judge(l, old, k);
        said += marks[i] != DIAG_LIVE_SAME;
    }
    free(l->v);
    l->v = nv;
    l->n = fs->n;
    return said;
}

const char *diag_live_mark_name(enum diag_live_mark m)
{
    switch (m) {
    case DIAG_LIVE_NEW: return "new";
    case DIAG_LIVE_CHANGED: return "changed";
    case DIAG_LIVE_SAME: break;
    }
    return "same";
}
