/* summary.c - the snapshot: its lifecycle, the per-destination summary of the dumped sockets (port headroom, TIME_WAIT timers), and the accessors. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "audit/audit_internal.h"

/*
 * How the summary works.  Linux's connect() picks a local port that makes
 * the 4-tuple unique (__inet_hash_connect, __inet_check_established), from
 * ip_local_port_range minus ip_local_reserved_ports, skipping ports that
 * bind() or listen() hold; a TIME_WAIT tuple keeps its port for that 4-tuple
 * (tcp-behaviour.md 3.8).  So the capacity is per (local IP, remote IP,
 * remote port), and for each such destination:
 *     headroom = usable ports - ports listened on (that IP or the wildcard)
 *                - local ports in the usable range already used toward it,
 *                  TIME_WAIT included.
 * Accepted connections (local port = a listening port on that address or
 * the wildcard) are not destinations of this host's connect(): counted
 * apart.  The sockets go into an open-addressing hash table keyed by the
 * destination (34 bytes, seeded hash), then the destinations are sorted
 * for the report: most TIME_WAIT first.
 *
 * Limits: a port bound by bind() without listen() is not seen as taken
 * (sock_diag shows it only once connected); with IP_LOCAL_PORT_RANGE or
 * bind-before-connect an application uses other ports than the sysctl's.
 */

audit_snapshot *audit_snapshot_new(void)
{
    audit_snapshot *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    audit_defs_init(s);
    /* Linux defaults (tcp-behaviour.md 3.1) until the sysctl is read. */
    s->port_lo = 32768;
    s->port_hi = 60999;
    audit_ports_update(s);
    s->seed = (uint64_t)time(NULL) * 0x9e3779b97f4a7c15u ^ (uint64_t)getpid() << 17;
    return s;
}

void audit_snapshot_free(audit_snapshot *s)
{
    if (s == NULL)
        return;
    free(s->root);
    free(s->kernel);
    for (int i = 0; i < AS_COUNT; i++)
        free(s->sysctls[i].text);
    free(s->socks);
    free(s->listeners);
    free(s->dests);
    free(s);
}

static int grow(audit_sock **v, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    size_t nc = *cap ? *cap * 2 : 1024;
    audit_sock *nv = realloc(*v, nc * sizeof *nv);
    if (nv == NULL)
        return -ENOMEM;
    *v = nv;
    *cap = nc;
    return 0;
}

int audit_sock_add(audit_snapshot *s, const audit_sock *k)
{
    /* include/net/tcp_states.h: TCP_LISTEN = 10 */
    if (k->state == 10) {
        if (grow(&s->listeners, &s->cap_listeners, s->n_listeners + 1) != 0)
            return -ENOMEM;
        s->listeners[s->n_listeners++] = *k;
        return 0;
    }
    if (grow(&s->socks, &s->cap_socks, s->n_socks + 1) != 0)
        return -ENOMEM;
    s->socks[s->n_socks++] = *k;
    return 0;
}

static const pkt_addr any4 = { { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 0 } };
static const pkt_addr any6 = { { 0 } };

static bool addr_eq(const pkt_addr *a, const pkt_addr *b)
{
    return memcmp(a->b, b->b, sizeof a->b) == 0;
}

/*
 * The listener index: which (address, port) pairs are listened on.  Wildcard
 * listeners go into two port bitmaps (an IPv6 wildcard takes IPv4 too unless
 * IPV6_V6ONLY, which the dump does not say: counted as covering both); the
 * others into an array sorted by (address, port), searched by bisection, so
 * that neither thousands of listeners nor millions of sockets make the
 * summary quadratic.
 */
typedef struct lindex {
    uint8_t  wild4[65536 / 8];      /* 0.0.0.0 or :: listens on the port */
    uint8_t  wild6[65536 / 8];      /* :: listens on the port */
    uint32_t usable_wild4, usable_wild6;    /* usable ports in those bitmaps */
    audit_sock *spec;               /* specific-address listeners, sorted, unique */
    size_t   n_spec;
} lindex;

static bool bit(const uint8_t *b, uint32_t port)
{
    return (b[port >> 3] >> (port & 7) & 1) != 0;
}

static void set_bit(uint8_t *b, uint32_t port)
{
    b[port >> 3] |= (uint8_t)(1u << (port & 7));
}

static int spec_cmp(const void *pa, const void *pb)
{
    const audit_sock *a = pa, *b = pb;
    int c = memcmp(a->local.b, b->local.b, 16);
    return c ? c : (int)a->local_port - (int)b->local_port;
}

static int lindex_build(lindex *ix, const audit_snapshot *s)
{
    memset(ix, 0, sizeof *ix);
    ix->spec = malloc((s->n_listeners ? s->n_listeners : 1) * sizeof *ix->spec);
    if (ix->spec == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < s->n_listeners; i++) {
        const audit_sock *l = &s->listeners[i];
        if (addr_eq(&l->local, &any6)) {
            set_bit(ix->wild4, l->local_port);
            set_bit(ix->wild6, l->local_port);
        } else if (addr_eq(&l->local, &any4)) {
            set_bit(ix->wild4, l->local_port);
        } else {
            ix->spec[ix->n_spec++] = *l;
        }
    }
    qsort(ix->spec, ix->n_spec, sizeof *ix->spec, spec_cmp);
    size_t k = 0;
    for (size_t i = 0; i < ix->n_spec; i++)
        if (k == 0 || spec_cmp(&ix->spec[k - 1], &ix->spec[i]) != 0)
            ix->spec[k++] = ix->spec[i];
    ix->n_spec = k;
    for (uint32_t p = s->port_lo; p <= s->port_hi && p < 65536; p++) {
        if (!audit_port_ephemeral(s, p))
            continue;
        ix->usable_wild4 += bit(ix->wild4, p);
        ix->usable_wild6 += bit(ix->wild6, p);
    }
    return 0;
}

/* First specific listener not below (a, port). */
static size_t spec_lower(const lindex *ix, const pkt_addr *a, uint16_t port)
{
    audit_sock key;
    key.local = *a;
    key.local_port = port;
    size_t lo = 0, hi = ix->n_spec;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (spec_cmp(&ix->spec[mid], &key) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Is `port` listened on at `a` (or a wildcard covering it)? */
static bool listened(const lindex *ix, const pkt_addr *a, uint16_t port)
{
    if (bit(pkt_addr_is_v4(a) ? ix->wild4 : ix->wild6, port))
        return true;
    size_t i = spec_lower(ix, a, port);
    return i < ix->n_spec && ix->spec[i].local_port == port && addr_eq(&ix->spec[i].local, a);
}

/* Distinct usable ports listened on at `a` or a wildcard covering it. */
static uint32_t listened_usable(const audit_snapshot *s, const lindex *ix, const pkt_addr *a)
{
    bool v4 = pkt_addr_is_v4(a);
    const uint8_t *wild = v4 ? ix->wild4 : ix->wild6;
    uint32_t n = v4 ? ix->usable_wild4 : ix->usable_wild6;
    for (size_t i = spec_lower(ix, a, 0); i < ix->n_spec && addr_eq(&ix->spec[i].local, a); i++) {
        uint16_t p = ix->spec[i].local_port;
        n += audit_port_ephemeral(s, p) && !bit(wild, p);
    }
    return n;
}

typedef struct dest_key {
    uint8_t b[34];  /* local (16), remote (16), remote port (2, big-endian) */
} dest_key;

static void key_of(dest_key *k, const audit_sock *x)
{
    memcpy(k->b, x->local.b, 16);
    memcpy(k->b + 16, x->remote.b, 16);
    k->b[32] = (uint8_t)(x->remote_port >> 8);
    k->b[33] = (uint8_t)x->remote_port;
}

/* FNV-1a over the key, seeded, with a final avalanche (splitmix64). */
static uint64_t key_hash(const dest_key *k, uint64_t seed)
{
    uint64_t h = 0xcbf29ce484222325u ^ seed;
    for (size_t i = 0; i < sizeof k->b; i++)
        h = (h ^ k->b[i]) * 0x100000001b3u;
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9u;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebu;
    return h ^ (h >> 31);
}

static int dest_cmp(const void *pa, const void *pb)
{
    const audit_dest *a = pa, *b = pb;
    if (a->timewait != b->timewait)
        return a->timewait > b->timewait ? -1 : 1;
    if (a->sockets != b->sockets)
        return a->sockets > b->sockets ? -1 : 1;
    if (a->headroom != b->headroom)
        return a->headroom < b->headroom ? -1 : 1;
    int c = memcmp(a->local.b, b->local.b, 16);
    if (c == 0)
        c = memcmp(a->remote.b, b->remote.b, 16);
    if (c == 0)
        c = (int)a->remote_port - (int)b->remote_port;
    return c;
}

/* Add socket x to its destination in the table (slots hold dest index + 1). */
static void account(audit_snapshot *s, uint32_t *slots, size_t mask, const audit_sock *x)
{
    dest_key k;
    key_of(&k, x);
    size_t i = (size_t)key_hash(&k, s->seed) & mask;
    audit_dest *d;
    for (;;) {
        uint32_t v = slots[i];
        if (v == 0) {
            d = &s->dests[s->n_dests];
            memset(d, 0, sizeof *d);
            d->local = x->local;
            d->remote = x->remote;
            d->remote_port = x->remote_port;
            d->tw_min_ms = UINT32_MAX;
            slots[i] = (uint32_t)++s->n_dests;
            break;
        }
        d = &s->dests[v - 1];
        if (addr_eq(&d->local, &x->local) && addr_eq(&d->remote, &x->remote) &&
            d->remote_port == x->remote_port)
            break;
        i = (i + 1) & mask;
    }
    d->sockets++;
    if (audit_port_ephemeral(s, x->local_port))
        d->ports_used++;
    /* include/net/tcp_states.h: TCP_TIME_WAIT = 6 */
    if (x->state == 6) {
        d->timewait++;
        if (x->expires_ms < d->tw_min_ms)
            d->tw_min_ms = x->expires_ms;
        if (x->expires_ms > d->tw_max_ms)
            d->tw_max_ms = x->expires_ms;
    }
}

int audit_summarise(audit_snapshot *s)
{
    lindex *ix = malloc(sizeof *ix);
    if (ix == NULL || lindex_build(ix, s) != 0) {
        free(ix);
        return -ENOMEM;
    }
    free(s->dests);
    s->dests = NULL;
    s->n_dests = 0;
    s->st.passive = 0;
    size_t slots_n = 1024;
    while (slots_n < s->n_socks * 2)
        slots_n *= 2;
    uint32_t *slots = calloc(slots_n, sizeof *slots);
    s->dests = malloc((s->n_socks ? s->n_socks : 1) * sizeof *s->dests);
    if (slots == NULL || s->dests == NULL) {
        free(slots);
        free(ix->spec);
        free(ix);
        return -ENOMEM;
    }
    for (size_t i = 0; i < s->n_socks; i++) {
        const audit_sock *x = &s->socks[i];
        if (listened(ix, &x->local, x->local_port)) {
            s->st.passive++;
            continue;
        }
        account(s, slots, slots_n - 1, x);
    }
    free(slots);
    for (size_t i = 0; i < s->n_dests; i++) {
        audit_dest *d = &s->dests[i];
        uint32_t lis = listened_usable(s, ix, &d->local);
        d->usable = s->usable > lis ? s->usable - lis : 0;
        d->headroom = d->usable > d->ports_used ? d->usable - d->ports_used : 0;
        if (d->timewait == 0)
            d->tw_min_ms = 0;
    }
    free(ix->spec);
    free(ix);
    qsort(s->dests, s->n_dests, sizeof *s->dests, dest_cmp);
    s->st.destinations = s->n_dests;
    return 0;
}

/* ---- accessors ------------------------------------------------------------ */

const char *audit_state_name(int state)
{
    /* include/net/tcp_states.h */
    static const char *const names[AUDIT_NSTATES] = {
        "UNKNOWN", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2",
        "TIME_WAIT", "CLOSE", "CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING", "NEW_SYN_RECV",
    };
    return state >= 0 && state < AUDIT_NSTATES ? names[state] : "UNKNOWN";
}

const char *audit_root(const audit_snapshot *s) { return s->root; }
const char *audit_kernel(const audit_snapshot *s) { return s->kernel; }

const audit_sysctl *audit_sysctls(const audit_snapshot *s, size_t *n)
{
    *n = AS_COUNT;
    return s->sysctls;
}

const audit_counter *audit_counters(const audit_snapshot *s, size_t *n)
{
    *n = AC_COUNT;
    return s->counters;
}

const audit_socket_stats *audit_sockets(const audit_snapshot *s) { return &s->st; }

uint32_t audit_ephemeral_ports(const audit_snapshot *s) { return s->usable; }

const audit_dest *audit_destinations(const audit_snapshot *s, size_t *n)
{
    *n = s->n_dests;
    return s->n_dests ? s->dests : NULL;
}
