/* flow_table.c - the 4-tuple table: seeded hash, capacity, expiry and eviction on packet time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/hash_internal.h"
#include "common/mem_internal.h"
#include "flow/flow_internal.h"

/*
 * How it works.  Entries live in chunks of a pool (never moved, so indices
 * are stable) and are found through a chained hash on the canonical 4-tuple
 * (the lower (address, port) first; VLAN ids are not part of the key, as in
 * Wireshark's tcp.stream and Zeek's default).  The hash is keyed with a
 * random seed per table so that a crafted capture cannot pile its flows
 * into one chain.
 *
 * Every entry is on one of two lists: open entries and closed entries (FIN
 * both ways, or RST).  A closed entry is kept for linger_ns after its last
 * packet, because a SYN reusing the 4-tuple within the closer's TIME_WAIT is
 * what tcpdoctor is for; then its record is written and the entry freed.
 * Open entries leave only at the end of input, or when the table is full:
 * then the entry with the oldest last packet is written (end reason
 * "evicted") and its slot reused.  Time is packet time, never the wall
 * clock, so a replay gives the same table.
 *
 * The lists are kept in order lazily, so that a packet costs no list work:
 * an entry carries the time it was queued (queued_ts <= its last packet
 * time), and each list is ordered by queued_ts.  Whoever looks at a head
 * whose last packet is newer than its queued time re-queues it at the tail
 * with queued_ts = last packet time ("second chance" with exact times).  A
 * head whose last packet equals its queued time is therefore the oldest of
 * its list, which is what expiry and eviction need.  Each entry is re-queued
 * at most once per look, and a look happens only when something may expire
 * (expire_at) or the table is full.
 *
 * Limits: a packet older than its predecessor (merged files with skew)
 * counts as a time regression; lists stay ordered by arrival, which is
 * what expiry needs.  Records are written when they end, so output order is
 * end order, and at the end of input the remaining ones oldest first.
 */

#define NIL UINT32_MAX
#define CHUNK_SHIFT 13
#define CHUNK_SIZE (1u << CHUNK_SHIFT)
#define FRAG_SLOTS 4096         /* recent first fragments, direct-mapped */
#define FLOW_PREFETCH_SLOTS 16  /* views prefetched ahead (>= the driver's depth) */

typedef struct flow_key {
    pkt_addr a;
    pkt_addr b;
    uint16_t pa;
    uint16_t pb;
} flow_key;

/* Links of an entry, kept apart from it in one compact array: walking a
 * chain or unlinking a neighbour from a list touches 16 bytes per entry
 * that mostly stay in cache, not the entries themselves. */
typedef struct flow_node {
    uint32_t hash;
    uint32_t chain;             /* next entry in the bucket, or free list */
    uint32_t prev, next;        /* list links */
} flow_node;

typedef struct flow_entry {
    flow_key key;
    uint32_t gen;               /* bumped when the slot is reused */
    uint32_t incarnations;      /* lives of this 4-tuple so far */
    int64_t  queued_ts;         /* list position time (see above) */
    bool     on_closed;
    bool     in_use;
    void    *data;              /* the sink's tuple_data (flow_sink_fn) */
    flow_live live;
} flow_entry;

typedef struct flow_list {
    uint32_t head, tail;
} flow_list;

typedef struct frag_slot {
    pkt_addr src, dst;
    uint32_t id;
    uint32_t entry;
    uint32_t gen;
    bool     from_a;
    bool     used;
} frag_slot;

struct flow_table {
    flow_config cfg;
    uint64_t seed;
    uint64_t hseed[6];          /* per-word secrets of key_hash, from seed */
    flow_entry **chunks;
    uint32_t nchunks;
    flow_node *nodes;           /* one per slot handed out */
    uint32_t nodes_cap;
    uint32_t allocated;         /* slots handed out from chunks */
    uint32_t initialized;       /* slots whose memory was ever set up */
    uint32_t free_head;         /* free list through .chain */
    uint32_t count;
    uint32_t *buckets;
    uint32_t mask;
    flow_list open, closed;
    int64_t  last_ts;
    int64_t  expire_at;         /* nothing on the closed list expires before */
    struct prefetched {         /* keys of the views prefetched ahead */
        flow_key key;
        uint32_t hash;
        uint64_t num;
        bool     from_a;
        bool     valid;
    } pf[FLOW_PREFETCH_SLOTS];
    frag_slot *frags;
    flow_stats st;
};

static inline flow_entry *E(const flow_table *t, uint32_t i)
{
    return &t->chunks[i >> CHUNK_SHIFT][i & (CHUNK_SIZE - 1)];
}

static inline flow_node *N(const flow_table *t, uint32_t i)
{
    return &t->nodes[i];
}


static inline uint64_t mix(uint64_t h, uint64_t w)
{
    return fmix64(h ^ w) * 0x9e3779b97f4a7c15ULL;
}


/* Seeded hash of the canonical key.  Each 64-bit word is xored with its
 * own secret derived from the table's random seed before two of them are
 * multiplied, so chains cannot be predicted from outside (Suricata's
 * flow-hash.c keys its hash the same way); the products are independent,
 * so the CPU computes them in parallel, and fmix64 spreads the result. */
static uint32_t key_hash(const flow_table *t, const flow_key *k)
{
    const uint64_t *s = t->hseed;
    uint64_t h = ((load64(k->a.b) ^ s[0]) * (load64(k->a.b + 8) ^ s[1])) ^
                 ((load64(k->b.b) ^ s[2]) * (load64(k->b.b + 8) ^ s[3])) ^
                 ((((uint64_t)k->pa << 16 | k->pb) ^ s[4]) * 0x9e3779b97f4a7c15ULL);
    h = fmix64(h ^ s[5]);
    return (uint32_t)(h ^ (h >> 32));
}

static inline bool key_eq(const flow_key *x, const flow_key *y)
{
    return x->pa == y->pa && x->pb == y->pb &&
           load64(x->a.b) == load64(y->a.b) && load64(x->a.b + 8) == load64(y->a.b + 8) &&
           load64(x->b.b) == load64(y->b.b) && load64(x->b.b + 8) == load64(y->b.b + 8);
}

/* Canonical key: the lower (address, port) first, in the order of the
 * addresses' two 64-bit words (any total order will do, it only has to be
 * the same both ways).  Returns true when the packet's source is the key's
 * first endpoint. */
static bool make_key(const pkt_view *v, flow_key *k)
{
    uint64_t s0 = load64(v->src.b), s1 = load64(v->src.b + 8);
    uint64_t d0 = load64(v->dst.b), d1 = load64(v->dst.b + 8);
    bool src_first = s0 != d0 ? s0 < d0 : s1 != d1 ? s1 < d1 : v->sport <= v->dport;
    if (src_first) {
        k->a = v->src; k->pa = v->sport;
        k->b = v->dst; k->pb = v->dport;
    } else {
        k->a = v->dst; k->pa = v->dport;
        k->b = v->src; k->pb = v->sport;
    }
    return src_first;
}

static void list_remove(flow_table *t, flow_list *l, uint32_t i)
{
    flow_node *e = N(t, i);
    if (e->prev != NIL) N(t, e->prev)->next = e->next; else l->head = e->next;
    if (e->next != NIL) N(t, e->next)->prev = e->prev; else l->tail = e->prev;
    e->prev = e->next = NIL;
}

static void list_append(flow_table *t, flow_list *l, uint32_t i)
{
    flow_node *e = N(t, i);
    e->next = NIL;
    e->prev = l->tail;
    if (l->tail != NIL) N(t, l->tail)->next = i; else l->head = i;
    l->tail = i;
}

static uint64_t random_seed(void)
{
    uint64_t s = 0;
    FILE *f = fopen("/dev/urandom", "rb");
    if (f != NULL) {
        if (fread(&s, sizeof s, 1, f) != 1)
            s = 0;
        fclose(f);
    }
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return s ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32) ^ 0x9e3779b97f4a7c15ULL;
}

flow_table *flow_table_new(const flow_config *cfg, char *errbuf, size_t errlen)
{
    flow_table *t = calloc(1, sizeof *t);
    if (t == NULL)
        goto out_nomem;
    t->cfg = *cfg;
    if (t->cfg.capacity == 0)
        t->cfg.capacity = FLOW_DEFAULT_CAPACITY;
    if (t->cfg.capacity > (1u << 30))
        t->cfg.capacity = 1u << 30;
    if (t->cfg.linger_ns <= 0)
        t->cfg.linger_ns = FLOW_DEFAULT_LINGER_NS;
    t->seed = cfg->hash_seed ? cfg->hash_seed : random_seed();
    /* splitmix64 steps from the seed; odd, so a secret is never zero */
    uint64_t x = t->seed;
    for (int i = 0; i < 6; i++) {
        x += 0x9e3779b97f4a7c15ULL;
        t->hseed[i] = fmix64(x) | 1;
    }
    uint32_t nb = 1024;     /* grows with the entries held (grow_buckets) */
    t->mask = nb - 1;
    t->nchunks = (t->cfg.capacity + CHUNK_SIZE - 1) / CHUNK_SIZE;
    t->buckets = malloc((size_t)nb * sizeof *t->buckets);
    t->chunks = calloc(t->nchunks, sizeof *t->chunks);
    t->frags = calloc(FRAG_SLOTS, sizeof *t->frags);
    if (t->buckets == NULL || t->chunks == NULL || t->frags == NULL)
        goto out_free;
    memset(t->buckets, 0xff, (size_t)nb * sizeof *t->buckets);
    t->free_head = NIL;
    t->open.head = t->open.tail = NIL;
    t->closed.head = t->closed.tail = NIL;
    t->expire_at = INT64_MAX;
    return t;

out_free:
    flow_table_free(t);
out_nomem:
    if (errbuf != NULL && errlen > 0)
        snprintf(errbuf, errlen, "out of memory for a table of %u flows",
                 cfg->capacity ? cfg->capacity : FLOW_DEFAULT_CAPACITY);
    return NULL;
}

void flow_table_free(flow_table *t)
{
    if (t == NULL)
        return;
    for (uint32_t i = 0; t->chunks != NULL && i < t->allocated; i++) {
        flow_entry *e = E(t, i);
        if (e->in_use && e->data != NULL && t->cfg.tuple_free != NULL)
            t->cfg.tuple_free(t->cfg.sink_ctx, e->data);
    }
    if (t->chunks != NULL)
        for (uint32_t i = 0; i < t->nchunks; i++)
            free(t->chunks[i]);
    free(t->chunks);
    free(t->nodes);
    free(t->buckets);
    free(t->frags);
    free(t);
}

static void emit(flow_table *t, flow_entry *e, enum flow_end why)
{
    flow_live_finish(&e->live, why);
    t->st.incarnations++;
    if (t->cfg.sink != NULL)
        t->cfg.sink(t->cfg.sink_ctx, &e->live.conn, &e->data);
    if (why != FLOW_END_REUSED)
        e->data = NULL;     /* the 4-tuple's last record: the sink took it */
}

/* Write the entry's record, unlink it and put the slot on the free list. */
static void retire(flow_table *t, uint32_t i, enum flow_end why)
{
    flow_entry *e = E(t, i);
    emit(t, e, why);
    list_remove(t, e->on_closed ? &t->closed : &t->open, i);
    flow_node *n = N(t, i);
    uint32_t *pp = &t->buckets[n->hash & t->mask];
    while (*pp != i)
        pp = &N(t, *pp)->chain;
    *pp = n->chain;
    e->in_use = false;
    e->gen++;
    n->chain = t->free_head;
    t->free_head = i;
    t->count--;
}

static void requeue(flow_table *t, flow_list *l, uint32_t i)
{
    flow_entry *e = E(t, i);
    list_remove(t, l, i);
    e->queued_ts = e->live.conn.last_ts;
    list_append(t, l, i);
}

/* Time stamps come from the capture, which may hold any 64-bit value:
 * arithmetic on them saturates instead of overflowing (d >= 0). */
static inline int64_t ts_add(int64_t t, int64_t d)
{
    return t > INT64_MAX - d ? INT64_MAX : t + d;
}

static inline int64_t ts_sub(int64_t t, int64_t d)
{
    return t < INT64_MIN + d ? INT64_MIN : t - d;
}

/* Write out closed entries idle for more than linger_ns. */
static void expire(flow_table *t, int64_t now)
{
    const int64_t horizon = ts_sub(now, t->cfg.linger_ns);
    while (t->closed.head != NIL) {
        uint32_t i = t->closed.head;
        flow_entry *e = E(t, i);
        if (e->queued_ts >= horizon) {
            t->expire_at = ts_add(e->queued_ts, t->cfg.linger_ns);
            return;
        }
        if (e->live.conn.last_ts >= horizon) {
            requeue(t, &t->closed, i);
            continue;
        }
        t->st.expirations++;
        retire(t, i, FLOW_END_EXPIRED);
    }
    t->expire_at = INT64_MAX;
}

static uint32_t slot_alloc(flow_table *t)
{
    if (t->free_head != NIL) {
        uint32_t i = t->free_head;
        t->free_head = N(t, i)->chain;
        return i;
    }
    if (t->allocated >= t->cfg.capacity)
        return NIL;
    uint32_t c = t->allocated >> CHUNK_SHIFT;
    if (t->chunks[c] == NULL) {
        /* on huge pages where possible: entries are reached at random.  Not
           zeroed here: a slot is set up when it is first handed out, so
           pages are touched only as the table fills. */
        size_t room = t->cfg.capacity - ((size_t)c << CHUNK_SHIFT);   /* a small table */
        void *m = mem_alloc_big((room < CHUNK_SIZE ? room : CHUNK_SIZE) * sizeof(flow_entry));
        if (m == NULL)
            return NIL;
        t->chunks[c] = m;
    }
    if (t->allocated == t->nodes_cap) {
        uint32_t nc = t->nodes_cap ? t->nodes_cap * 2 : CHUNK_SIZE;
        if (nc > t->cfg.capacity)
            nc = t->cfg.capacity;
        flow_node *n = realloc(t->nodes, (size_t)nc * sizeof *n);
        if (n == NULL)
            return NIL;
        t->nodes = n;
        t->nodes_cap = nc;
    }
    memset(N(t, t->allocated), 0xff, sizeof(flow_node));
    if (t->allocated == t->initialized) {
        /* first use of this memory (a flush hands slots out again, and
           their generations must go on counting) */
        flow_entry *e = E(t, t->allocated);
        e->gen = 0;
        e->in_use = false;
        e->data = NULL;
        t->initialized++;
    }
    return t->allocated++;
}

/* True oldest head of a list (by last packet), after lazy re-queueing. */
static uint32_t list_oldest(flow_table *t, flow_list *l)
{
    for (;;) {
        uint32_t i = l->head;
        if (i == NIL || E(t, i)->queued_ts == E(t, i)->live.conn.last_ts)
            return i;
        requeue(t, l, i);
    }
}

/* Entry with the oldest last packet in the whole table. */
static uint32_t oldest(flow_table *t)
{
    uint32_t o = list_oldest(t, &t->open), c = list_oldest(t, &t->closed);
    if (o == NIL) return c;
    if (c == NIL) return o;
    return E(t, c)->live.conn.last_ts <= E(t, o)->live.conn.last_ts ? c : o;
}

/* Keep chains short and the bucket array small enough to stay in cache:
 * double it when entries outnumber buckets.  Entries keep their hash, so a
 * rehash touches each entry once. */
static void grow_buckets(flow_table *t)
{
    uint32_t nb = (t->mask + 1) * 2;
    uint32_t *b = malloc((size_t)nb * sizeof *b);
    if (b == NULL)
        return;     /* keep the old array: longer chains, still correct */
    memset(b, 0xff, (size_t)nb * sizeof *b);
    for (uint32_t i = 0; i < t->allocated; i++) {
        flow_entry *e = E(t, i);
        if (!e->in_use)
            continue;
        flow_node *n = N(t, i);
        n->chain = b[n->hash & (nb - 1)];
        b[n->hash & (nb - 1)] = i;
    }
    free(t->buckets);
    t->buckets = b;
    t->mask = nb - 1;
}

static uint32_t insert(flow_table *t, const flow_key *k, uint32_t h)
{
    uint32_t i = slot_alloc(t);
    if (i == NIL) {
        uint32_t victim = oldest(t);
        if (victim == NIL)
            return NIL;
        t->st.evictions++;
        retire(t, victim, FLOW_END_EVICTED);
        i = slot_alloc(t);
        if (i == NIL)
            return NIL;
    }
    flow_entry *e = E(t, i);
    e->key = *k;
    e->data = NULL;
    N(t, i)->hash = h;
    e->incarnations = 0;
    e->in_use = true;
    e->on_closed = false;
    e->queued_ts = t->last_ts;
    N(t, i)->chain = t->buckets[h & t->mask];
    t->buckets[h & t->mask] = i;
    list_append(t, &t->open, i);
    t->count++;
    if (t->count > t->st.tuples_peak)
        t->st.tuples_peak = t->count;
    if (t->count > t->mask + 1 && t->mask < (1u << 30))
        grow_buckets(t);
    return i;
}

static uint32_t lookup(const flow_table *t, const flow_key *k, uint32_t h)
{
    for (uint32_t i = t->buckets[h & t->mask]; i != NIL; i = N(t, i)->chain)
        if (N(t, i)->hash == h && key_eq(&E(t, i)->key, k))
            return i;
    return NIL;
}

/* After a packet: an entry that just closed (or reopened, when a SYN retry
 * followed an RST) changes list; otherwise nothing moves (lazy order). */
static void touch(flow_table *t, uint32_t i)
{
    flow_entry *e = E(t, i);
    if (e->on_closed == e->live.closed)
        return;
    list_remove(t, e->on_closed ? &t->closed : &t->open, i);
    e->on_closed = e->live.closed;
    e->queued_ts = e->live.conn.last_ts;
    list_append(t, e->on_closed ? &t->closed : &t->open, i);
    if (e->on_closed && ts_add(e->queued_ts, t->cfg.linger_ns) < t->expire_at)
        t->expire_at = ts_add(e->queued_ts, t->cfg.linger_ns);
}

static frag_slot *frag_slot_for(flow_table *t, const pkt_addr *src, const pkt_addr *dst,
                                uint32_t id)
{
    uint32_t h = (uint32_t)mix(mix(t->seed, load64(src->b + 8)), load64(dst->b + 8) ^ id);
    return &t->frags[h & (FRAG_SLOTS - 1)];
}

static void frag_remember(flow_table *t, const pkt_view *v, uint32_t i, bool from_a)
{
    frag_slot *s = frag_slot_for(t, &v->src, &v->dst, v->frag_id);
    s->src = v->src;
    s->dst = v->dst;
    s->id = v->frag_id;
    s->entry = i;
    s->gen = E(t, i)->gen;
    s->from_a = from_a;
    s->used = true;
}

static void fragment(flow_table *t, const pkt_view *v)
{
    t->st.fragments++;
    frag_slot *s = frag_slot_for(t, &v->src, &v->dst, v->frag_id);
    if (!s->used || s->id != v->frag_id || memcmp(s->src.b, v->src.b, 16) != 0 ||
        memcmp(s->dst.b, v->dst.b, 16) != 0 || !E(t, s->entry)->in_use ||
        E(t, s->entry)->gen != s->gen) {
        t->st.fragments_unmatched++;
        return;
    }
    flow_entry *e = E(t, s->entry);
    flow_live_fragment(&e->live, v, s->from_a == e->live.client_is_a);
    touch(t, s->entry);
}

/*
 * Prefetch.  Most of a packet's cost in a large table is waiting for its
 * entry to come from memory.  The driver decodes the next packet before it
 * accounts the current one and calls this with it: the entry's cache lines
 * are then on their way while the current packet is processed.  It changes
 * nothing that can be observed; the key and hash are kept for the next
 * flow_table_packet() call on the same view.
 */
static inline void prefetch_line(const void *p)
{
#if defined(__GNUC__) || defined(__clang__)
    __builtin_prefetch(p, 1, 3);
#else
    (void)p;
#endif
}

void flow_table_prefetch(flow_table *t, const pkt_view *v)
{
    if (!v->has_tcp)
        return;
    struct prefetched *pf = &t->pf[v->num % FLOW_PREFETCH_SLOTS];
    pf->from_a = make_key(v, &pf->key);
    pf->hash = key_hash(t, &pf->key);
    pf->num = v->num;
    pf->valid = true;
    uint32_t i = t->buckets[pf->hash & t->mask];
    if (i == NIL)
        return;
    prefetch_line(N(t, i));     /* the chain link lookup() reads first */
    const char *p = (const char *)E(t, i);
    for (size_t off = 0; off < sizeof(flow_entry); off += 64)
        prefetch_line(p + off);
}

/* A SYN may end the incarnation before it (FLOW_END_REUSED): the sink then
 * reads what it kept for the 4-tuple (the diagnosis engine pairs the two
 * records), seconds after it wrote it, from memory.  Called a few packets
 * after flow_table_prefetch(), when the entry's first line has arrived. */
void flow_table_prefetch_data(flow_table *t, const pkt_view *v)
{
    if (t->cfg.tuple_free == NULL || !v->has_tcp || !(v->flags & PKT_TCP_SYN))
        return;     /* a sink without tuple_free keeps nothing per 4-tuple */
    struct prefetched *pf = &t->pf[v->num % FLOW_PREFETCH_SLOTS];
    if (!pf->valid || pf->num != v->num)
        return;
    uint32_t i = t->buckets[pf->hash & t->mask];
    if (i == NIL)
        return;
    const char *d = E(t, i)->data;
    if (d != NULL) {
        prefetch_line(d);
        prefetch_line(d + 64);
    }
}

void flow_table_packet(flow_table *t, const pkt_view *v)
{
    if (v->ts_ns < t->last_ts)
        t->st.time_regressions++;
    else
        t->last_ts = v->ts_ns;
    if (t->last_ts > t->expire_at)
        expire(t, t->last_ts);

    if (!v->has_tcp) {
        if (v->is_fragment)
            fragment(t, v);
        return;
    }
    t->st.packets++;
    flow_key k;
    bool from_a;
    uint32_t h;
    struct prefetched *pf = &t->pf[v->num % FLOW_PREFETCH_SLOTS];
    if (pf->valid && pf->num == v->num) {
        k = pf->key;
        from_a = pf->from_a;
        h = pf->hash;
    } else {
        from_a = make_key(v, &k);
        h = key_hash(t, &k);
    }
    pf->valid = false;
    uint32_t i = lookup(t, &k, h);
    flow_entry *e;
    if (i == NIL) {
        i = insert(t, &k, h);
        if (i == NIL) {
            t->st.dropped_nomem++;  /* no memory for a first entry: the run
                                       must not be reported (flow.h) */
            return;
        }
        e = E(t, i);
        bool sender_client = flow_guess_sender_is_client(v);
        bool inferred = !(v->flags & PKT_TCP_SYN) || (v->flags & PKT_TCP_RST) != 0;
        flow_live_begin(&e->live, v, sender_client, inferred, ++e->incarnations);
        e->live.client_is_a = sender_client == from_a;
    } else {
        e = E(t, i);
        bool from_client = from_a == e->live.client_is_a;
        if (flow_live_is_new(&e->live, v, from_client)) {
            emit(t, e, FLOW_END_REUSED);
            bool sender_client = (v->flags & PKT_TCP_ACK) == 0;  /* SYN: client; SYN-ACK: server */
            flow_live_begin(&e->live, v, sender_client, false, ++e->incarnations);
            e->live.client_is_a = sender_client == from_a;
        }
    }
    flow_live_packet(&e->live, v, from_a == e->live.client_is_a);
    if (v->is_fragment)
        frag_remember(t, v, i, from_a);
    touch(t, i);
}

/* Records still held, oldest first by first packet. */
static int cmp_first(const void *x, const void *y)
{
    const flow_entry *a = *(flow_entry *const *)x, *b = *(flow_entry *const *)y;
    if (a->live.conn.first_packet != b->live.conn.first_packet)
        return a->live.conn.first_packet < b->live.conn.first_packet ? -1 : 1;
    return 0;
}

void flow_table_flush(flow_table *t)
{
    if (t->count == 0)
        return;
    flow_entry **v = malloc((size_t)t->count * sizeof *v);
    if (v == NULL) {
        /* No room to sort: write in list order rather than lose records. */
        while (t->open.head != NIL)
            retire(t, t->open.head, FLOW_END_EOF);
        while (t->closed.head != NIL)
            retire(t, t->closed.head, FLOW_END_EOF);
        return;
    }
    size_t n = 0;
    for (uint32_t i = t->open.head; i != NIL; i = N(t, i)->next)
        v[n++] = E(t, i);
    for (uint32_t i = t->closed.head; i != NIL; i = N(t, i)->next)
        v[n++] = E(t, i);
    qsort(v, n, sizeof *v, cmp_first);
    for (size_t j = 0; j < n; j++)
        emit(t, v[j], FLOW_END_EOF);
    free(v);
    /* reset the table to empty */
    memset(t->buckets, 0xff, ((size_t)t->mask + 1) * sizeof *t->buckets);
    for (uint32_t i = 0; i < t->allocated; i++)
        E(t, i)->in_use = false;
    t->allocated = 0;
    t->free_head = NIL;
    t->count = 0;
    t->open.head = t->open.tail = t->closed.head = t->closed.tail = NIL;
    t->expire_at = INT64_MAX;
}

void flow_table_stats(const flow_table *t, flow_stats *out)
{
    *out = t->st;
}

const char *flow_handshake_name(enum flow_handshake h)
{
    switch (h) {
    case FLOW_HS_NONE: return "none";
    case FLOW_HS_SYNACK: return "syn-ack";
    case FLOW_HS_RST: return "rst";
    case FLOW_HS_ACK_ONLY: return "ack-only";
    case FLOW_HS_NOT_SEEN: return "not-seen";
    }
    return "?";
}

const char *flow_side_name(enum flow_side s)
{
    switch (s) {
    case FLOW_SIDE_NONE: return "none";
    case FLOW_SIDE_CLIENT: return "client";
    case FLOW_SIDE_SERVER: return "server";
    }
    return "?";
}

const char *flow_end_name(enum flow_end e)
{
    switch (e) {
    case FLOW_END_REUSED: return "reused";
    case FLOW_END_EXPIRED: return "expired";
    case FLOW_END_EVICTED: return "evicted";
    case FLOW_END_EOF: return "end-of-input";
    }
    return "?";
}
