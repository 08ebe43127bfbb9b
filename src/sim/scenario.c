/* scenario.c - scenario files (YAML, libfyaml) and --set overrides, driven by one field table. */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libfyaml.h>

#include "tcpdoctor/diagnose.h"
#include "tcpdoctor/sim.h"

/*
 * How it works: every settable value of a scenario is one row of a field table
 * (its key, its type, where it lives in the C struct, its range).  The YAML
 * reader walks each mapping and looks every key up in the table of that kind
 * of object; sim_scenario_set() parses "host.server.timewait=30s" into the
 * same kind, object and row and calls the same value parser.  So the file and
 * the command line accept exactly the same names and the same syntax, and a
 * new field is one line.
 *
 * Errors name the place: "FILE:LINE: hosts[2].timewait: expected ...".  Lines
 * come from the tokens of the keys (libfyaml keeps a mark per token).  The
 * cross-reference and range check runs at the end of loading with the line of
 * each field remembered, and again (without lines) after overrides.
 *
 * Limits: anchors and aliases are refused (a scenario is short and explicit);
 * a value that cannot be parsed is always an error, never a default.
 */

#define ERR_MAX 512

/* ---- value types ---------------------------------------------------------------- */

enum ftype {
    F_NAME,       /* char[SIM_NAME_MAX]: letters, digits, '-', '_' */
    F_STR,        /* char[512] free text */
    F_BOOL,
    F_U8, F_U16, F_U32, F_U64, F_INT,
    F_DUR,        /* sim_ns >= 0: 30s, 500ms, 2m, 1.5s, bare seconds */
    F_SDUR,       /* sim_ns, may be negative */
    F_DURLIST,    /* sim_ns[SIM_MAX_SYN_RETRIES] + int count */
    F_RATE,       /* double, per second: 2, 2/s, 120/m */
    F_PROB,       /* double 0..1, or a percentage */
    F_SIZE,       /* uint32 bytes: 1500, 64k, 1M, 4KiB */
    F_ADDR,       /* uint32 host order, dotted quad */
    F_ADDRLIST,   /* uint32[SIM_MAX_NAT_ADDRS] + uint32 count */
    F_ENUM,       /* int-sized enum, from words */
    F_OS          /* a host's profile: copies the whole sim_os */
};

typedef struct enum_word {
    const char *word;
    int value;
} enum_word;

typedef struct field {
    const char *key;
    enum ftype type;
    size_t off;               /* in the object */
    size_t count_off;         /* lists: where the item count is stored */
    long long min, max;       /* integers; durations in ns (max 0 = no limit) */
    const enum_word *words;   /* F_ENUM */
    size_t n_words;
    bool required;
} field;

_Static_assert(sizeof(enum sim_tw_syn) == sizeof(int), "enums are int-sized");
_Static_assert(sizeof(enum sim_nat_ports) == sizeof(int), "enums are int-sized");

/* ---- the tables ------------------------------------------------------------------ */

#define W(a) a, sizeof a / sizeof a[0]

static const enum_word tw_syn_words[] = {
    { "linux", SIM_TW_SYN_LINUX }, { "ignore", SIM_TW_SYN_IGNORE },
    { "freebsd", SIM_TW_SYN_FREEBSD }, { "macos", SIM_TW_SYN_MACOS },
};
static const enum_word ts_offset_words[] = {
    { "none", SIM_TSOFF_NONE }, { "per-host", SIM_TSOFF_PER_HOST },
    { "per-tuple", SIM_TSOFF_PER_TUPLE },
};
static const enum_word port_alloc_words[] = {
    { "sequential", SIM_PORTS_SEQUENTIAL }, { "random", SIM_PORTS_RANDOM },
    { "linux", SIM_PORTS_LINUX },
};
static const enum_word isn_words[] = {
    { "clock", SIM_ISN_CLOCK }, { "random", SIM_ISN_RANDOM },
};
static const enum_word layout_words[] = {
    { "linux", SIM_SYN_LINUX }, { "windows", SIM_SYN_WINDOWS },
    { "freebsd", SIM_SYN_FREEBSD }, { "macos", SIM_SYN_MACOS },
};
static const enum_word nat_ports_words[] = {
    { "preserve", SIM_NAT_PRESERVE }, { "sequential", SIM_NAT_SEQUENTIAL },
    { "random", SIM_NAT_RANDOM },
};
static const enum_word frag_words[] = {
    { "forward", SIM_FRAG_FORWARD }, { "reassemble", SIM_FRAG_REASSEMBLE },
    { "drop", SIM_FRAG_DROP },
};
static const enum_word closer_words[] = {
    { "client", SIM_CLOSE_CLIENT }, { "server", SIM_CLOSE_SERVER },
};

#define DAY ((long long)86400 * SIM_NS_PER_S)
#define O(type, m) offsetof(type, m)

static const field net_fields[] = {
    { "name", F_NAME, O(sim_net, name), 0, 0, 0, NULL, 0, true },
    { "delay", F_DUR, O(sim_net, delay), 0, 0, 60 * SIM_NS_PER_S, NULL, 0, false },
    { "jitter", F_DUR, O(sim_net, jitter), 0, 0, 60 * SIM_NS_PER_S, NULL, 0, false },
    { "loss", F_PROB, O(sim_net, loss), 0, 0, 0, NULL, 0, false },
    { "mtu", F_U16, O(sim_net, mtu), 0, 0, 65535, NULL, 0, false },
};

#define HO(m) O(sim_host, os.m)
static const field host_fields[] = {
    { "name", F_NAME, O(sim_host, name), 0, 0, 0, NULL, 0, true },
    { "net", F_NAME, O(sim_host, net), 0, 0, 0, NULL, 0, true },
    { "addr", F_ADDR, O(sim_host, addr), 0, 0, 0, NULL, 0, true },
    { "count", F_U32, O(sim_host, count), 0, 1, 65536, NULL, 0, false },
    { "os", F_OS, O(sim_host, os), 0, 0, 0, NULL, 0, false },
    { "listen", F_BOOL, O(sim_host, listen), 0, 0, 0, NULL, 0, false },
    { "clock_skew", F_SDUR, O(sim_host, clock_skew), 0, -DAY, DAY, NULL, 0, false },
    { "timewait", F_DUR, HO(timewait), 0, 0, DAY, NULL, 0, false },
    { "fin_timeout", F_DUR, HO(fin_timeout), 0, 0, DAY, NULL, 0, false },
    { "tw_syn", F_ENUM, HO(tw_syn), 0, 0, 0, W(tw_syn_words), false },
    { "rfc1337", F_BOOL, HO(rfc1337), 0, 0, 0, NULL, 0, false },
    { "tw_ack_ratelimit", F_DUR, HO(tw_ack_ratelimit), 0, 0, DAY, NULL, 0, false },
    { "tw_reuse", F_INT, HO(tw_reuse), 0, 0, 2, NULL, 0, false },
    { "tw_reuse_delay", F_DUR, HO(tw_reuse_delay), 0, 0, 60 * SIM_NS_PER_S, NULL, 0, false },
    { "tw_recycle", F_BOOL, HO(tw_recycle), 0, 0, 0, NULL, 0, false },
    { "timestamps", F_BOOL, HO(timestamps), 0, 0, 0, NULL, 0, false },
    { "echo_timestamps", F_BOOL, HO(echo_timestamps), 0, 0, 0, NULL, 0, false },
    { "ts_offset", F_ENUM, HO(ts_offset), 0, 0, 0, W(ts_offset_words), false },
    { "ts_hz", F_U32, HO(ts_hz), 0, 1, 1000000, NULL, 0, false },
    { "isn", F_ENUM, HO(isn), 0, 0, 0, W(isn_words), false },
    { "syn_retries", F_DURLIST, HO(syn_retry_at), HO(n_syn_retries), 0, DAY, NULL, 0, false },
    { "connect_timeout", F_DUR, HO(connect_timeout), 0, 1, DAY, NULL, 0, false },
    { "fast_syn_resend", F_BOOL, HO(fast_syn_resend), 0, 0, 0, NULL, 0, false },
    { "synack_retries", F_DURLIST, HO(synack_retry_at), HO(n_synack_retries), 0, DAY, NULL, 0,
      false },
    { "port_lo", F_U16, HO(port_lo), 0, 1, 65535, NULL, 0, false },
    { "port_hi", F_U16, HO(port_hi), 0, 1, 65535, NULL, 0, false },
    { "port_alloc", F_ENUM, HO(port_alloc), 0, 0, 0, W(port_alloc_words), false },
    { "ttl", F_U8, HO(ttl), 0, 1, 255, NULL, 0, false },
    { "mss", F_U16, HO(mss), 0, 64, 65495, NULL, 0, false },
    { "wscale", F_U8, HO(wscale), 0, 0, 14, NULL, 0, false },
    { "syn_window", F_U16, HO(syn_window), 0, 1, 65535, NULL, 0, false },
    { "syn_layout", F_ENUM, HO(syn_layout), 0, 0, 0, W(layout_words), false },
    { "ipid_global", F_BOOL, HO(ipid_global), 0, 0, 0, NULL, 0, false },
};

static const field nat_fields[] = {
    { "name", F_NAME, O(sim_nat, name), 0, 0, 0, NULL, 0, true },
    { "inside", F_NAME, O(sim_nat, inside), 0, 0, 0, NULL, 0, true },
    { "outside", F_NAME, O(sim_nat, outside), 0, 0, 0, NULL, 0, true },
    { "inside_addr", F_ADDR, O(sim_nat, inside_addr), 0, 0, 0, NULL, 0, false },
    { "addrs", F_ADDRLIST, O(sim_nat, addrs), O(sim_nat, n_addrs), 0, 0, NULL, 0, true },
    { "port_lo", F_U16, O(sim_nat, port_lo), 0, 1, 65535, NULL, 0, false },
    { "port_hi", F_U16, O(sim_nat, port_hi), 0, 1, 65535, NULL, 0, false },
    { "ports", F_ENUM, O(sim_nat, ports), 0, 0, 0, W(nat_ports_words), false },
    { "hold_syn", F_DUR, O(sim_nat, hold_syn), 0, 1, 10 * DAY, NULL, 0, false },
    { "hold_established", F_DUR, O(sim_nat, hold_established), 0, 1, 10 * DAY, NULL, 0, false },
    { "hold_fin", F_DUR, O(sim_nat, hold_fin), 0, 1, 10 * DAY, NULL, 0, false },
    { "hold_timewait", F_DUR, O(sim_nat, hold_timewait), 0, 1, 10 * DAY, NULL, 0, false },
    { "hold_close", F_DUR, O(sim_nat, hold_close), 0, 1, 10 * DAY, NULL, 0, false },
    { "rewrite_timestamps", F_BOOL, O(sim_nat, rewrite_timestamps), 0, 0, 0, NULL, 0, false },
    { "evict_timewait", F_BOOL, O(sim_nat, evict_timewait), 0, 0, 0, NULL, 0, false },
    { "rst_on_expired", F_BOOL, O(sim_nat, rst_on_expired), 0, 0, 0, NULL, 0, false },
    { "frag", F_ENUM, O(sim_nat, frag), 0, 0, 0, W(frag_words), false },
    { "max_sessions", F_U32, O(sim_nat, max_sessions), 0, 0, UINT32_MAX, NULL, 0, false },
    { "ttl_decrement", F_U8, O(sim_nat, ttl_decrement), 0, 0, 1, NULL, 0, false },
};

static const field app_fields[] = {
    { "name", F_NAME, O(sim_app, name), 0, 0, 0, NULL, 0, true },
    { "client", F_NAME, O(sim_app, client), 0, 0, 0, NULL, 0, true },
    { "server", F_NAME, O(sim_app, server), 0, 0, 0, NULL, 0, true },
    { "port", F_U16, O(sim_app, port), 0, 1, 65535, NULL, 0, true },
    { "rate", F_RATE, O(sim_app, rate), 0, 0, 0, NULL, 0, false },
    { "concurrency", F_U32, O(sim_app, concurrency), 0, 0, 1000000, NULL, 0, false },
    { "poisson", F_BOOL, O(sim_app, poisson), 0, 0, 0, NULL, 0, false },
    { "max_connections", F_U64, O(sim_app, max_connections), 0, 0, LLONG_MAX, NULL, 0, false },
    { "start", F_DUR, O(sim_app, start), 0, 0, 0, NULL, 0, false },
    { "request_bytes", F_SIZE, O(sim_app, request_bytes), 0, 0, 1LL << 30, NULL, 0, false },
    { "response_bytes", F_SIZE, O(sim_app, response_bytes), 0, 0, 1LL << 30, NULL, 0, false },
    { "server_time", F_DUR, O(sim_app, server_time), 0, 0, DAY, NULL, 0, false },
    { "hold_open", F_DUR, O(sim_app, hold_open), 0, 0, DAY, NULL, 0, false },
    { "closer", F_ENUM, O(sim_app, closer), 0, 0, 0, W(closer_words), false },
    { "rst_close", F_BOOL, O(sim_app, rst_close), 0, 0, 0, NULL, 0, false },
    { "src_port_lo", F_U16, O(sim_app, src_port_lo), 0, 0, 65535, NULL, 0, false },
    { "src_port_hi", F_U16, O(sim_app, src_port_hi), 0, 0, 65535, NULL, 0, false },
    { "dont_fragment", F_BOOL, O(sim_app, dont_fragment), 0, 0, 0, NULL, 0, false },
};

static const field point_fields[] = {
    { "name", F_NAME, O(sim_point, name), 0, 0, 0, NULL, 0, true },
    { "host", F_NAME, O(sim_point, host), 0, 0, 0, NULL, 0, false },
    { "net", F_NAME, O(sim_point, net), 0, 0, 0, NULL, 0, false },
};

/* Top-level scalars; the sections are handled by the kinds below. */
static const field top_fields[] = {
    { "description", F_STR, O(sim_scenario, description), 0, 0, 0, NULL, 0, false },
    { "duration", F_DUR, O(sim_scenario, duration), 0, SIM_NS_PER_MS, 365 * DAY, NULL, 0,
      false },
    { "seed", F_U64, O(sim_scenario, seed), 0, 0, LLONG_MAX, NULL, 0, false },
};

static void net_defaults(void *o)
{
    sim_net *n = o;
    n->delay = SIM_NS_PER_MS; /* 1 ms one way */
}

static void host_defaults(void *o)
{
    sim_host *h = o;
    h->count = 1;
    h->os = *sim_os_lookup("linux");
}

/* Linux conntrack defaults (tcp-behaviour.md 4.1, nf_conntrack_proto_tcp.c
 * tcp_timeouts): SYN_SENT 120 s, ESTABLISHED 5 days, FIN_WAIT 120 s,
 * TIME_WAIT 120 s, CLOSE 10 s; port preservation (nf_nat_core.c
 * get_unique_tuple), reassembly (nf_defrag_ipv4); a router (TTL - 1). */
static void nat_defaults(void *o)
{
    sim_nat *n = o;
    n->port_lo = 1024;
    n->port_hi = 65535;
    n->ports = SIM_NAT_PRESERVE;
    n->hold_syn = 120 * SIM_NS_PER_S;
    n->hold_established = 5 * DAY;
    n->hold_fin = 120 * SIM_NS_PER_S;
    n->hold_timewait = 120 * SIM_NS_PER_S;
    n->hold_close = 10 * SIM_NS_PER_S;
    n->frag = SIM_FRAG_REASSEMBLE;
    n->ttl_decrement = 1;
}

static void app_defaults(void *o)
{
    sim_app *a = o;
    a->request_bytes = 200;
    a->response_bytes = 1000;
    a->closer = SIM_CLOSE_CLIENT;
    a->dont_fragment = true;
}

static void no_defaults(void *o)
{
    (void)o;
}

enum kind_id { K_NET, K_HOST, K_NAT, K_APP, K_POINT, K__COUNT };

typedef struct kind {
    const char *section;      /* key in the file: "hosts" */
    const char *prefix;       /* in --set: "host" */
    size_t size;
    size_t arr_off, n_off;    /* the array and its count in sim_scenario */
    const field *fields;
    size_t n_fields;
    void (*defaults)(void *obj);
} kind;

static const kind kinds[K__COUNT] = {
    [K_NET] = { "networks", "net", sizeof(sim_net), O(sim_scenario, nets),
                O(sim_scenario, n_nets), W(net_fields), net_defaults },
    [K_HOST] = { "hosts", "host", sizeof(sim_host), O(sim_scenario, hosts),
                 O(sim_scenario, n_hosts), W(host_fields), host_defaults },
    [K_NAT] = { "nats", "nat", sizeof(sim_nat), O(sim_scenario, nats), O(sim_scenario, n_nats),
                W(nat_fields), nat_defaults },
    [K_APP] = { "apps", "app", sizeof(sim_app), O(sim_scenario, apps), O(sim_scenario, n_apps),
                W(app_fields), app_defaults },
    [K_POINT] = { "captures", "capture", sizeof(sim_point), O(sim_scenario, points),
                  O(sim_scenario, n_points), W(point_fields), no_defaults },
};

static void *kind_array(const sim_scenario *sc, enum kind_id k)
{
    void *p;
    memcpy(&p, (const char *)sc + kinds[k].arr_off, sizeof p);
    return p;
}

static size_t kind_count(const sim_scenario *sc, enum kind_id k)
{
    size_t n;
    memcpy(&n, (const char *)sc + kinds[k].n_off, sizeof n);
    return n;
}

static void *kind_obj(const sim_scenario *sc, enum kind_id k, size_t i)
{
    return (char *)kind_array(sc, k) + i * kinds[k].size;
}

static const field *find_field(const field *fs, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(fs[i].key, key) == 0)
            return &fs[i];
    return NULL;
}

/* "a, b, c" of the keys of a table, for "unknown field" messages. */
static void list_keys(char *buf, size_t len, const field *fs, size_t n)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && used < len; i++) {
        int w = snprintf(buf + used, len - used, "%s%s", i ? ", " : "", fs[i].key);
        if (w < 0)
            break;
        used += (size_t)w;
    }
}

/* ---- value parsers ----------------------------------------------------------------
 * Each parses a NUL-terminated word into *dst and returns 0, or -1 with
 * "expected ..., got "word"" in msg. */

static int fail(char *msg, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, len, fmt, ap);
    va_end(ap);
    return -1;
}

/* Decimal number "12", "1.5", "-3" into an integer of units of 1e-9: exact for
 * up to nine fraction digits.  Sets *end past the number. */
static int parse_fixed9(const char *s, bool allow_neg, long double *out, const char **end)
{
    const char *p = s;
    bool neg = false;
    if (*p == '-' && allow_neg) {
        neg = true;
        p++;
    } else if (*p == '+') {
        p++;
    }
    if (!(*p >= '0' && *p <= '9') && !(*p == '.' && p[1] >= '0' && p[1] <= '9'))
        return -1;
    long double v = 0;
    while (*p >= '0' && *p <= '9') {
        v = v * 10 + (*p - '0');
        if (v > 1e30L)
            return -1;
        p++;
    }
    if (*p == '.') {
        p++;
        long double scale = 0.1L;
        if (!(*p >= '0' && *p <= '9'))
            return -1;
        while (*p >= '0' && *p <= '9') {
            v += scale * (*p - '0');
            scale /= 10;
            p++;
        }
    }
    *out = neg ? -v : v;
    *end = p;
    return 0;
}

typedef struct unit {
    const char *name;
    long double mult;
} unit;

static const unit dur_units[] = {
    { "ns", 1 }, { "us", 1e3L }, { "ms", 1e6L }, { "s", 1e9L }, { "m", 60e9L },
    { "min", 60e9L }, { "h", 3600e9L }, { "", 1e9L },
};

static int parse_duration(const char *s, bool allow_neg, sim_ns *out, char *msg, size_t len)
{
    long double v;
    const char *end;
    if (parse_fixed9(s, allow_neg, &v, &end) == 0) {
        for (size_t i = 0; i < sizeof dur_units / sizeof dur_units[0]; i++) {
            if (strcmp(end, dur_units[i].name) != 0)
                continue;
            long double ns = v * dur_units[i].mult;
            if (ns > 9.2e18L || ns < -9.2e18L)
                break;
            *out = (sim_ns)(ns < 0 ? ns - 0.5L : ns + 0.5L);
            return 0;
        }
    }
    return fail(msg, len, "expected a duration like 60s, 500ms, 2m or 1.5s, got \"%s\"", s);
}

static int parse_integer(const char *s, long long min, long long max, unsigned long long *out,
                         char *msg, size_t len)
{
    char *end;
    errno = 0;
    if (min >= 0 && s[0] == '-')
        goto out_bad;
    if (min < 0) {
        long long v = strtoll(s, &end, 10);
        if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
            goto out_bad;
        *out = (unsigned long long)v;
        return 0;
    }
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < (unsigned long long)min ||
        v > (unsigned long long)max || (s[0] < '0' || s[0] > '9'))
        goto out_bad;
    *out = v;
    return 0;
out_bad:
    return fail(msg, len, "expected an integer from %lld to %lld, got \"%s\"", min, max, s);
}

static int parse_size(const char *s, long long max, uint32_t *out, char *msg, size_t len)
{
    static const unit size_units[] = {
        { "", 1 }, { "B", 1 }, { "k", 1e3L }, { "kB", 1e3L }, { "KiB", 1024 }, { "Ki", 1024 },
        { "M", 1e6L }, { "MB", 1e6L }, { "MiB", 1048576 }, { "Mi", 1048576 },
    };
    long double v;
    const char *end;
    if (parse_fixed9(s, false, &v, &end) == 0) {
        for (size_t i = 0; i < sizeof size_units / sizeof size_units[0]; i++) {
            if (strcmp(end, size_units[i].name) != 0)
                continue;
            long double b = v * size_units[i].mult;
            if (b > (long double)max || b != floorl(b))
                break;
            *out = (uint32_t)b;
            return 0;
        }
    }
    return fail(msg, len, "expected a size in bytes from 0 to %lld like 1500, 64k or 4KiB, "
                "got \"%s\"", max, s);
}

static int parse_rate(const char *s, double *out, char *msg, size_t len)
{
    static const unit rate_units[] = { { "", 1 }, { "/s", 1 }, { "/m", 1.0L / 60 },
                                       { "/min", 1.0L / 60 }, { "/h", 1.0L / 3600 } };
    long double v;
    const char *end;
    if (parse_fixed9(s, false, &v, &end) == 0) {
        for (size_t i = 0; i < sizeof rate_units / sizeof rate_units[0]; i++) {
            if (strcmp(end, rate_units[i].name) == 0 && v <= 1e9L) {
                *out = (double)(v * rate_units[i].mult);
                return 0;
            }
        }
    }
    return fail(msg, len, "expected a rate per second like 20, 20/s or 600/m, got \"%s\"", s);
}

static int parse_prob(const char *s, double *out, char *msg, size_t len)
{
    long double v;
    const char *end;
    if (parse_fixed9(s, false, &v, &end) == 0) {
        if (strcmp(end, "%") == 0)
            v /= 100;
        else if (*end != '\0')
            goto out_bad;
        if (v <= 1) {
            *out = (double)v;
            return 0;
        }
    }
out_bad:
    return fail(msg, len, "expected a probability from 0 to 1 (or 0%% to 100%%), got \"%s\"", s);
}

static int parse_bool(const char *s, bool *out, char *msg, size_t len)
{
    if (strcmp(s, "true") == 0 || strcmp(s, "yes") == 0 || strcmp(s, "on") == 0) {
        *out = true;
        return 0;
    }
    if (strcmp(s, "false") == 0 || strcmp(s, "no") == 0 || strcmp(s, "off") == 0) {
        *out = false;
        return 0;
    }
    return fail(msg, len, "expected true or false, got \"%s\"", s);
}

static int parse_addr(const char *s, uint32_t *out, char *msg, size_t len)
{
    struct in_addr a;
    if (inet_pton(AF_INET, s, &a) != 1)
        return fail(msg, len, "expected an IPv4 address like 192.0.2.10, got \"%s\"", s);
    *out = ntohl(a.s_addr);
    return 0;
}

static int parse_name(const char *s, char *out, char *msg, size_t len)
{
    size_t n = strlen(s);
    bool ok = n > 0 && n < SIM_NAME_MAX;
    for (size_t i = 0; ok && i < n; i++) {
        char c = s[i];
        ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             c == '-' || c == '_';
    }
    if (!ok)
        return fail(msg, len, "expected a name of 1 to %d letters, digits, '-' or '_', got \"%s\"",
                    SIM_NAME_MAX - 1, s);
    memcpy(out, s, n + 1);
    return 0;
}

static int parse_enum(const field *f, const char *s, int *out, char *msg, size_t len)
{
    for (size_t i = 0; i < f->n_words; i++) {
        if (strcmp(s, f->words[i].word) == 0) {
            *out = f->words[i].value;
            return 0;
        }
    }
    char words[256];
    size_t used = 0;
    words[0] = '\0';
    for (size_t i = 0; i < f->n_words; i++) {
        int w = snprintf(words + used, sizeof words - used, "%s%s", i ? ", " : "",
                         f->words[i].word);
        if (w < 0 || (size_t)w >= sizeof words - used)
            break;
        used += (size_t)w;
    }
    return fail(msg, len, "expected one of %s, got \"%s\"", words, s);
}

static int parse_os(const char *s, sim_os *out, char *msg, size_t len)
{
    const sim_os *p = sim_os_lookup(s);
    if (p != NULL) {
        *out = *p;
        return 0;
    }
    size_t n;
    const sim_os *all = sim_os_all(&n);
    char names[256];
    size_t used = 0;
    names[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        int w = snprintf(names + used, sizeof names - used, "%s%s", i ? ", " : "", all[i].name);
        if (w < 0 || (size_t)w >= sizeof names - used)
            break;
        used += (size_t)w;
    }
    return fail(msg, len, "expected an OS profile (%s), got \"%s\"", names, s);
}

/* One scalar value into the object.  Range checks of single values happen
 * here; relations between values (port_lo <= port_hi) in check(). */
static int parse_scalar(const field *f, void *obj, const char *s, char *msg, size_t len)
{
    char *p = (char *)obj + f->off;
    unsigned long long u = 0;
    switch (f->type) {
    case F_NAME:
        return parse_name(s, p, msg, len);
    case F_STR:
        if (strlen(s) >= sizeof((sim_scenario *)0)->description)
            return fail(msg, len, "expected at most %zu characters, got %zu",
                        sizeof((sim_scenario *)0)->description - 1, strlen(s));
        memcpy(p, s, strlen(s) + 1);
        return 0;
    case F_BOOL:
        return parse_bool(s, (bool *)p, msg, len);
    case F_U8:
    case F_U16:
    case F_U32:
    case F_U64:
    case F_INT:
        if (parse_integer(s, f->min, f->max, &u, msg, len) != 0)
            return -1;
        if (f->type == F_U8)
            *(uint8_t *)p = (uint8_t)u;
        else if (f->type == F_U16)
            *(uint16_t *)p = (uint16_t)u;
        else if (f->type == F_U32)
            *(uint32_t *)p = (uint32_t)u;
        else if (f->type == F_U64)
            *(uint64_t *)p = u;
        else
            *(int *)p = (int)(long long)u;
        return 0;
    case F_DUR:
    case F_SDUR: {
        sim_ns v = 0;
        if (parse_duration(s, f->type == F_SDUR, &v, msg, len) != 0)
            return -1;
        if (f->max == 0 && v < f->min)
            return fail(msg, len, "expected a duration of at least %.9gs, got \"%s\"",
                        (double)f->min / SIM_NS_PER_S, s);
        if (f->max != 0 && (v < f->min || v > f->max))
            return fail(msg, len, "expected a duration from %.9gs to %.9gs, got \"%s\"",
                        (double)f->min / SIM_NS_PER_S, (double)f->max / SIM_NS_PER_S, s);
        *(sim_ns *)p = v;
        return 0;
    }
    case F_RATE:
        return parse_rate(s, (double *)p, msg, len);
    case F_PROB:
        return parse_prob(s, (double *)p, msg, len);
    case F_SIZE:
        return parse_size(s, f->max, (uint32_t *)p, msg, len);
    case F_ADDR:
        return parse_addr(s, (uint32_t *)p, msg, len);
    case F_ENUM:
        return parse_enum(f, s, (int *)p, msg, len);
    case F_OS:
        return parse_os(s, (sim_os *)p, msg, len);
    case F_DURLIST:
    case F_ADDRLIST:
        break;
    }
    return fail(msg, len, "expected a list");
}

/* A list value from its items.  *bad gets the index of the failing item. */
static int parse_list(const field *f, void *obj, char *const *items, size_t n, size_t *bad,
                      char *msg, size_t len)
{
    char *p = (char *)obj + f->off;
    size_t cap = f->type == F_DURLIST ? SIM_MAX_SYN_RETRIES : SIM_MAX_NAT_ADDRS;
    *bad = 0;
    if (n > cap)
        return fail(msg, len, "expected at most %zu items, got %zu", cap, n);
    if (f->type == F_ADDRLIST && n == 0)
        return fail(msg, len, "expected at least one address");
    for (size_t i = 0; i < n; i++) {
        *bad = i;
        if (f->type == F_ADDRLIST) {
            uint32_t a = 0;
            if (parse_addr(items[i], &a, msg, len) != 0)
                return -1;
            memcpy(p + i * sizeof a, &a, sizeof a);
            continue;
        }
        sim_ns t = 0;
        if (parse_duration(items[i], false, &t, msg, len) != 0)
            return -1;
        if (t <= 0 || t > f->max)
            return fail(msg, len, "expected a duration from 1ns to %.9gs, got \"%s\"",
                        (double)f->max / SIM_NS_PER_S, items[i]);
        memcpy(p + i * sizeof t, &t, sizeof t);
    }
    if (f->type == F_ADDRLIST) {
        uint32_t c = (uint32_t)n;
        memcpy((char *)obj + f->count_off, &c, sizeof c);
    } else {
        int c = (int)n;
        memcpy((char *)obj + f->count_off, &c, sizeof c);
    }
    return 0;
}

/* ---- checking ------------------------------------------------------------------------ */

/* Lines (1-based; 0 unknown) of each object and each of its fields, kept while
 * a file is loaded so that check() can point at the offending line. */
typedef struct obj_lines {
    int *line;        /* per object: line of its first key */
    int *field;       /* per object x field of its kind */
} obj_lines;

typedef struct check_ctx {
    const sim_scenario *sc;
    const obj_lines *lines;  /* NULL after overrides */
    int top_line[sizeof top_fields / sizeof top_fields[0]];
    char *err;
    size_t errlen;
} check_ctx;

static int field_index(enum kind_id k, const char *key)
{
    const field *f = find_field(kinds[k].fields, kinds[k].n_fields, key);
    return f == NULL ? -1 : (int)(f - kinds[k].fields);
}

/* "FILE:LINE: hosts[2].net: <message>" */
static int cfail(const check_ctx *c, enum kind_id k, size_t i, const char *key, const char *fmt,
                 ...)
{
    int line = 0;
    if (c->lines != NULL) {
        int fi = key != NULL ? field_index(k, key) : -1;
        line = fi >= 0 ? c->lines[k].field[i * kinds[k].n_fields + (size_t)fi] : 0;
        if (line == 0)
            line = c->lines[k].line[i];
    }
    char where[320];
    const char *path = c->sc->path[0] != '\0' ? c->sc->path : "scenario";
    if (line > 0)
        snprintf(where, sizeof where, "%s:%d: %s[%zu]%s%s: ", path, line, kinds[k].section, i,
                 key ? "." : "", key ? key : "");
    else
        snprintf(where, sizeof where, "%s: %s[%zu]%s%s: ", path, kinds[k].section, i,
                 key ? "." : "", key ? key : "");
    char what[ERR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    snprintf(c->err, c->errlen, "%s%s", where, what);
    return -1;
}

static void name_list(char *buf, size_t len, const sim_scenario *sc, enum kind_id k)
{
    size_t used = 0, n = kind_count(sc, k);
    buf[0] = '\0';
    for (size_t i = 0; i < n && used < len; i++) {
        const char *name = (const char *)kind_obj(sc, k, i); /* name is the first member */
        int w = snprintf(buf + used, len - used, "%s%s", i ? ", " : "", name);
        if (w < 0)
            break;
        used += (size_t)w;
    }
    if (n == 0)
        snprintf(buf, len, "none defined");
}

static long find_named(const sim_scenario *sc, enum kind_id k, const char *name)
{
    size_t n = kind_count(sc, k);
    for (size_t i = 0; i < n; i++)
        if (strcmp((const char *)kind_obj(sc, k, i), name) == 0)
            return (long)i;
    return -1;
}

static int check_ref(const check_ctx *c, enum kind_id k, size_t i, const char *key,
                     const char *value, enum kind_id target, const char *what)
{
    if (find_named(c->sc, target, value) >= 0)
        return 0;
    char names[256];
    name_list(names, sizeof names, c->sc, target);
    return cfail(c, k, i, key, "unknown %s \"%s\" (%s: %s)", what, value, kinds[target].section,
                 names);
}

static int check_unique(const check_ctx *c, enum kind_id k)
{
    size_t n = kind_count(c->sc, k);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp((const char *)kind_obj(c->sc, k, i),
                       (const char *)kind_obj(c->sc, k, j)) == 0)
                return cfail(c, k, i, "name", "duplicate name \"%s\" (also %s[%zu])",
                             (const char *)kind_obj(c->sc, k, i), kinds[k].section, j);
    return 0;
}

static int check_schedule(const check_ctx *c, size_t i, const char *key, const sim_ns *at,
                          int n, sim_ns limit)
{
    for (int r = 0; r < n; r++) {
        if (r > 0 && at[r] <= at[r - 1])
            return cfail(c, K_HOST, i, key, "times must increase: item %d (%.9gs) is not after "
                         "item %d (%.9gs)", r, (double)at[r] / SIM_NS_PER_S, r - 1,
                         (double)at[r - 1] / SIM_NS_PER_S);
        if (limit > 0 && at[r] >= limit)
            return cfail(c, K_HOST, i, key, "retransmission at %.9gs is not before "
                         "connect_timeout %.9gs", (double)at[r] / SIM_NS_PER_S,
                         (double)limit / SIM_NS_PER_S);
    }
    return 0;
}

static int check_host(const check_ctx *c, size_t i)
{
    const sim_host *h = &c->sc->hosts[i];
    if (check_ref(c, K_HOST, i, "net", h->net, K_NET, "network") != 0)
        return -1;
    if (h->count < 1)
        return cfail(c, K_HOST, i, "count", "must be at least 1");
    if (h->addr == 0 || (uint64_t)h->addr + h->count - 1 > UINT32_MAX)
        return cfail(c, K_HOST, i, "addr", "addresses %u.%u.%u.%u + %u copies do not fit",
                     h->addr >> 24, (h->addr >> 16) & 255, (h->addr >> 8) & 255, h->addr & 255,
                     h->count);
    if (h->os.port_lo > h->os.port_hi)
        return cfail(c, K_HOST, i, "port_lo", "port_lo %u is above port_hi %u", h->os.port_lo,
                     h->os.port_hi);
    if (h->os.n_syn_retries < 0 || h->os.n_syn_retries > SIM_MAX_SYN_RETRIES ||
        h->os.n_synack_retries < 0 || h->os.n_synack_retries > SIM_MAX_SYN_RETRIES)
        return cfail(c, K_HOST, i, "syn_retries", "at most %d retransmissions",
                     SIM_MAX_SYN_RETRIES);
    if (check_schedule(c, i, "syn_retries", h->os.syn_retry_at, h->os.n_syn_retries,
                       h->os.connect_timeout) != 0)
        return -1;
    if (check_schedule(c, i, "synack_retries", h->os.synack_retry_at, h->os.n_synack_retries,
                       0) != 0)
        return -1;
    if (h->os.connect_timeout <= 0)
        return cfail(c, K_HOST, i, "connect_timeout", "must be above 0");
    if (h->os.ts_hz < 1)
        return cfail(c, K_HOST, i, "ts_hz", "must be at least 1");
    if (h->os.tw_reuse < 0 || h->os.tw_reuse > 2)
        return cfail(c, K_HOST, i, "tw_reuse", "must be 0, 1 or 2");
    return 0;
}

static int check_nat(const check_ctx *c, size_t i)
{
    const sim_nat *n = &c->sc->nats[i];
    if (check_ref(c, K_NAT, i, "inside", n->inside, K_NET, "network") != 0 ||
        check_ref(c, K_NAT, i, "outside", n->outside, K_NET, "network") != 0)
        return -1;
    if (strcmp(n->inside, n->outside) == 0)
        return cfail(c, K_NAT, i, "outside", "must differ from inside (\"%s\")", n->inside);
    if (n->n_addrs < 1 || n->n_addrs > SIM_MAX_NAT_ADDRS)
        return cfail(c, K_NAT, i, "addrs", "expected 1 to %d addresses", SIM_MAX_NAT_ADDRS);
    if (n->port_lo < 1 || n->port_lo > n->port_hi)
        return cfail(c, K_NAT, i, "port_lo", "port_lo %u is above port_hi %u", n->port_lo,
                     n->port_hi);
    for (uint32_t a = 0; a < n->n_addrs; a++)
        for (uint32_t b = 0; b < a; b++)
            if (n->addrs[a] == n->addrs[b])
                return cfail(c, K_NAT, i, "addrs", "address %u.%u.%u.%u is listed twice",
                             n->addrs[a] >> 24, (n->addrs[a] >> 16) & 255,
                             (n->addrs[a] >> 8) & 255, n->addrs[a] & 255);
    for (size_t j = 0; j < i; j++)
        if (strcmp(c->sc->nats[j].inside, n->inside) == 0)
            return cfail(c, K_NAT, i, "inside", "network \"%s\" already has nats[%zu] (%s)",
                         n->inside, j, c->sc->nats[j].name);
    return 0;
}

static int check_app(const check_ctx *c, size_t i)
{
    const sim_app *a = &c->sc->apps[i];
    if (check_ref(c, K_APP, i, "client", a->client, K_HOST, "host") != 0 ||
        check_ref(c, K_APP, i, "server", a->server, K_HOST, "host") != 0)
        return -1;
    long s = find_named(c->sc, K_HOST, a->server);
    if (!c->sc->hosts[s].listen)
        return cfail(c, K_APP, i, "server", "host \"%s\" does not listen (give it listen: true)",
                     a->server);
    if (c->sc->hosts[s].count != 1)
        return cfail(c, K_APP, i, "server", "host \"%s\" has count %u; a server is one host",
                     a->server, c->sc->hosts[s].count);
    if (strcmp(a->client, a->server) == 0)
        return cfail(c, K_APP, i, "client", "client and server are the same host \"%s\"",
                     a->client);
    if (!(a->rate > 0) && a->concurrency == 0)
        return cfail(c, K_APP, i, "rate", "give rate (connections per second) or concurrency");
    if (a->rate > 0 && a->concurrency > 0)
        return cfail(c, K_APP, i, "concurrency", "give rate or concurrency, not both");
    if ((a->src_port_lo == 0) != (a->src_port_hi == 0))
        return cfail(c, K_APP, i, a->src_port_lo == 0 ? "src_port_lo" : "src_port_hi",
                     "give both src_port_lo and src_port_hi, or neither");
    if (a->src_port_lo > a->src_port_hi)
        return cfail(c, K_APP, i, "src_port_lo", "src_port_lo %u is above src_port_hi %u",
                     a->src_port_lo, a->src_port_hi);
    return 0;
}

static int check_point(const check_ctx *c, size_t i)
{
    const sim_point *p = &c->sc->points[i];
    bool h = p->host[0] != '\0', n = p->net[0] != '\0';
    if (h == n)
        return cfail(c, K_POINT, i, h ? "net" : NULL,
                     "give exactly one of host (a host's interface) or net (a whole network)");
    if (h) {
        if (check_ref(c, K_POINT, i, "host", p->host, K_HOST, "host") != 0)
            return -1;
        long k = find_named(c->sc, K_HOST, p->host);
        if (c->sc->hosts[k].count != 1)
            return cfail(c, K_POINT, i, "host", "host \"%s\" has count %u; capture on its "
                         "network instead", p->host, c->sc->hosts[k].count);
        return 0;
    }
    return check_ref(c, K_POINT, i, "net", p->net, K_NET, "network");
}

typedef struct addr_use {
    uint32_t lo, hi;           /* inclusive */
    enum kind_id k;
    size_t i;
    const char *key;
} addr_use;

static int check_addrs(const check_ctx *c)
{
    const sim_scenario *sc = c->sc;
    size_t n = sc->n_hosts, cap = sc->n_hosts + sc->n_nats * (SIM_MAX_NAT_ADDRS + 1);
    addr_use *u = calloc(cap ? cap : 1, sizeof *u);
    if (u == NULL) {
        snprintf(c->err, c->errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < sc->n_hosts; i++)
        u[i] = (addr_use){ sc->hosts[i].addr, sc->hosts[i].addr + sc->hosts[i].count - 1,
                           K_HOST, i, "addr" };
    for (size_t i = 0; i < sc->n_nats; i++) {
        if (sc->nats[i].inside_addr != 0)
            u[n++] = (addr_use){ sc->nats[i].inside_addr, sc->nats[i].inside_addr, K_NAT, i,
                                 "inside_addr" };
        for (uint32_t a = 0; a < sc->nats[i].n_addrs; a++)
            u[n++] = (addr_use){ sc->nats[i].addrs[a], sc->nats[i].addrs[a], K_NAT, i,
                                 "addrs" };
    }
    int rc = 0;
    for (size_t a = 0; a < n && rc == 0; a++)
        for (size_t b = 0; b < a && rc == 0; b++)
            if (u[a].lo <= u[b].hi && u[b].lo <= u[a].hi)
                rc = cfail(c, u[a].k, u[a].i, u[a].key,
                           "address %u.%u.%u.%u is already used by %s[%zu] (%s)",
                           u[a].lo >> 24, (u[a].lo >> 16) & 255, (u[a].lo >> 8) & 255,
                           u[a].lo & 255, kinds[u[b].k].section, u[b].i,
                           (const char *)kind_obj(sc, u[b].k, u[b].i));
    free(u);
    return rc;
}

typedef struct exp_name {
    char name[SIM_NAME_MAX + 8];
    size_t host;
} exp_name;

static int cmp_exp_name(const void *a, const void *b)
{
    return strcmp(((const exp_name *)a)->name, ((const exp_name *)b)->name);
}

/* Counted hosts are named name1..nameN in the run: those names must not collide
 * with each other or with single hosts ("pc" x 12 and "pc1" x 2 both give pc11). */
static int check_expanded_names(const check_ctx *c)
{
    const sim_scenario *sc = c->sc;
    size_t total = 0;
    for (size_t i = 0; i < sc->n_hosts; i++)
        total += sc->hosts[i].count > 1 ? sc->hosts[i].count : 1;
    exp_name *v = calloc(total ? total : 1, sizeof *v);
    if (v == NULL) {
        snprintf(c->err, c->errlen, "out of memory");
        return -1;
    }
    size_t n = 0;
    for (size_t i = 0; i < sc->n_hosts; i++) {
        if (sc->hosts[i].count <= 1) {
            snprintf(v[n].name, sizeof v[n].name, "%s", sc->hosts[i].name);
            v[n++].host = i;
            continue;
        }
        for (uint32_t k = 1; k <= sc->hosts[i].count; k++) {
            snprintf(v[n].name, sizeof v[n].name, "%s%u", sc->hosts[i].name, k);
            v[n++].host = i;
        }
    }
    qsort(v, n, sizeof *v, cmp_exp_name);
    int rc = 0;
    for (size_t i = 1; i < n && rc == 0; i++)
        if (strcmp(v[i].name, v[i - 1].name) == 0) {
            size_t a = v[i].host > v[i - 1].host ? v[i].host : v[i - 1].host;
            size_t b = v[i].host > v[i - 1].host ? v[i - 1].host : v[i].host;
            rc = cfail(c, K_HOST, a, "name", "host name \"%s\" in the run collides with "
                       "hosts[%zu] (%s)", v[i].name, b, sc->hosts[b].name);
        }
    free(v);
    return rc;
}

static int check(check_ctx *c)
{
    const sim_scenario *sc = c->sc;
    const char *path = sc->path[0] != '\0' ? sc->path : "scenario";
    if (sc->duration <= 0) {
        snprintf(c->err, c->errlen, "%s: duration: must be above 0", path);
        return -1;
    }
    for (enum kind_id k = 0; k < K__COUNT; k++)
        if (check_unique(c, k) != 0)
            return -1;
    if (sc->n_hosts == 0 || sc->n_apps == 0) {
        snprintf(c->err, c->errlen, "%s: %s: at least one is required", path,
                 sc->n_hosts == 0 ? "hosts" : "apps");
        return -1;
    }
    for (size_t i = 0; i < sc->n_nets; i++)
    {
        const sim_net *n = &sc->nets[i];
        if (!(n->loss >= 0 && n->loss <= 1))
            return cfail(c, K_NET, i, "loss", "must be from 0 to 1");
        if (n->mtu != 0 && n->mtu < 68)
            return cfail(c, K_NET, i, "mtu", "must be at least 68 (RFC 791), or 0 for 1500");
    }
    for (size_t i = 0; i < sc->n_hosts; i++)
        if (check_host(c, i) != 0)
            return -1;
    for (size_t i = 0; i < sc->n_nats; i++)
        if (check_nat(c, i) != 0)
            return -1;
    for (size_t i = 0; i < sc->n_apps; i++)
        if (check_app(c, i) != 0)
            return -1;
    for (size_t i = 0; i < sc->n_points; i++)
        if (check_point(c, i) != 0)
            return -1;
    if (check_addrs(c) != 0 || check_expanded_names(c) != 0)
        return -1;
    return 0;
}

int sim_scenario_check(const sim_scenario *sc, char *errbuf, size_t errlen)
{
    check_ctx c = { .sc = sc, .lines = NULL, .err = errbuf, .errlen = errlen };
    return check(&c);
}

/* ---- freeing ------------------------------------------------------------------------- */

void sim_scenario_free(sim_scenario *sc)
{
    if (sc == NULL)
        return;
    free(sc->nets);
    free(sc->hosts);
    free(sc->nats);
    free(sc->apps);
    free(sc->points);
    for (size_t i = 0; i < sc->n_expect; i++)
        free(sc->expect[i]);
    free(sc->expect);
    free(sc);
}

/* ---- the YAML reader --------------------------------------------------------------- */

typedef struct loader {
    sim_scenario *sc;
    const char *path;
    obj_lines lines[K__COUNT];
    int top_line[sizeof top_fields / sizeof top_fields[0]];
    char *err;
    size_t errlen;
} loader;

static int node_line(struct fy_node *n)
{
    struct fy_token *t = n != NULL ? fy_node_get_scalar_token(n) : NULL;
    const struct fy_mark *m = t != NULL ? fy_token_start_mark(t) : NULL;
    return m != NULL ? m->line + 1 : 0;
}

/* Line of a mapping or sequence: the line of its first scalar key or item. */
static int block_line(struct fy_node *n)
{
    void *it = NULL;
    if (n == NULL)
        return 0;
    if (fy_node_is_scalar(n))
        return node_line(n);
    if (fy_node_is_mapping(n)) {
        struct fy_node_pair *p = fy_node_mapping_iterate(n, &it);
        return p != NULL ? block_line(fy_node_pair_key(p)) : 0;
    }
    struct fy_node *item = fy_node_sequence_iterate(n, &it);
    return block_line(item);
}

static int lfail(const loader *l, int line, const char *where, const char *fmt, ...)
{
    char what[ERR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (line > 0)
        snprintf(l->err, l->errlen, "%s:%d: %s: %s", l->path, line, where, what);
    else
        snprintf(l->err, l->errlen, "%s: %s: %s", l->path, where, what);
    return -1;
}

/* A scalar's text as a C string (NULL for a null or empty value). */
static char *scalar_dup(struct fy_node *n)
{
    size_t len = 0;
    const char *s = fy_node_get_scalar(n, &len);
    if (s == NULL || fy_node_get_scalar_token(n) == NULL)
        return NULL;
    char *d = malloc(len + 1);
    if (d != NULL) {
        memcpy(d, s, len);
        d[len] = '\0';
    }
    return d;
}

static const char *kind_name(enum fy_node_type t)
{
    return t == FYNT_SCALAR ? "a value" : t == FYNT_SEQUENCE ? "a list" : "a mapping";
}

/* Set one field of obj from a YAML value node. */
static int load_value(loader *l, const field *f, void *obj, struct fy_node *v, const char *where,
                      int key_line)
{
    char msg[ERR_MAX];
    int line = node_line(v) ? node_line(v) : block_line(v);
    if (line == 0)
        line = key_line;
    if (fy_node_get_style(v) == FYNS_ALIAS)
        return lfail(l, line, where, "aliases are not supported; write the value out");
    bool list = f->type == F_DURLIST || f->type == F_ADDRLIST;
    if (list && fy_node_is_sequence(v)) {
        int n = fy_node_sequence_item_count(v);
        char **items = calloc((size_t)(n > 0 ? n : 1), sizeof *items);
        if (items == NULL)
            return lfail(l, line, where, "out of memory");
        int rc = 0;
        void *it = NULL;
        struct fy_node *item;
        size_t k = 0, bad = 0;
        while (rc == 0 && (item = fy_node_sequence_iterate(v, &it)) != NULL) {
            if (!fy_node_is_scalar(item) || fy_node_get_style(item) == FYNS_ALIAS ||
                (items[k] = scalar_dup(item)) == NULL)
                rc = lfail(l, block_line(item) ? block_line(item) : line, where,
                           "item %zu: expected a value", k);
            else
                k++;
        }
        if (rc == 0 && parse_list(f, obj, items, k, &bad, msg, sizeof msg) != 0) {
            size_t bi = 0;
            it = NULL;
            while ((item = fy_node_sequence_iterate(v, &it)) != NULL && bi < bad)
                bi++;
            rc = lfail(l, item ? node_line(item) : line, where, "%s", msg);
        }
        for (size_t i = 0; i < k; i++)
            free(items[i]);
        free(items);
        return rc;
    }
    if (!fy_node_is_scalar(v))
        return lfail(l, line, where, "expected %s, got %s", list ? "a list or a value" :
                     "a value", kind_name(fy_node_get_type(v)));
    char *s = scalar_dup(v);
    if (s == NULL)
        return lfail(l, line, where, "expected a value, got nothing");
    int rc;
    if (list) {
        char *one[1] = { s };
        size_t bad;
        rc = parse_list(f, obj, one, 1, &bad, msg, sizeof msg);
    } else {
        rc = parse_scalar(f, obj, s, msg, sizeof msg);
    }
    free(s);
    return rc == 0 ? 0 : lfail(l, line, where, "%s", msg);
}

/* Key of a mapping pair as a string, with an error when it is not a plain word. */
static char *pair_key(loader *l, struct fy_node_pair *p, const char *where, int fallback_line)
{
    struct fy_node *k = fy_node_pair_key(p);
    char *s = k != NULL && fy_node_is_scalar(k) ? scalar_dup(k) : NULL;
    if (s == NULL)
        lfail(l, block_line(k) ? block_line(k) : fallback_line, where,
              "expected a field name as key");
    return s;
}

static int load_object(loader *l, enum kind_id k, size_t idx, struct fy_node *m, int sec_line)
{
    const kind *kd = &kinds[k];
    char where[96], fwhere[160];
    snprintf(where, sizeof where, "%s[%zu]", kd->section, idx);
    if (!fy_node_is_mapping(m))
        return lfail(l, block_line(m) ? block_line(m) : sec_line, where,
                     "expected a mapping of fields (name: ...), got %s",
                     kind_name(fy_node_get_type(m)));
    void *obj = kind_obj(l->sc, k, idx);
    kd->defaults(obj);
    int *flines = &l->lines[k].field[idx * kd->n_fields];
    l->lines[k].line[idx] = block_line(m) ? block_line(m) : sec_line;
    /* `os` first: it sets every OS field, which the other keys then override. */
    struct fy_node *os = fy_node_mapping_lookup_by_string(m, "os", FY_NT);
    if (os != NULL && k == K_HOST) {
        const field *f = find_field(kd->fields, kd->n_fields, "os");
        snprintf(fwhere, sizeof fwhere, "%s.os", where);
        if (load_value(l, f, obj, os, fwhere, 0) != 0)
            return -1;
    }
    void *it = NULL;
    struct fy_node_pair *p;
    while ((p = fy_node_mapping_iterate(m, &it)) != NULL) {
        char *key = pair_key(l, p, where, l->lines[k].line[idx]);
        if (key == NULL)
            return -1;
        const field *f = find_field(kd->fields, kd->n_fields, key);
        int line = block_line(fy_node_pair_key(p));
        if (f == NULL) {
            char keys[1024];
            list_keys(keys, sizeof keys, kd->fields, kd->n_fields);
            lfail(l, line, where, "unknown field \"%s\" (valid: %s; see docs/scenarios.md)", key,
                  keys);
            free(key);
            return -1;
        }
        snprintf(fwhere, sizeof fwhere, "%s.%s", where, key);
        free(key);
        flines[f - kd->fields] = line;
        if (f->type == F_OS)
            continue; /* done above */
        if (load_value(l, f, obj, fy_node_pair_value(p), fwhere, line) != 0)
            return -1;
    }
    for (size_t i = 0; i < kd->n_fields; i++)
        if (kd->fields[i].required && flines[i] == 0)
            return lfail(l, l->lines[k].line[idx], where, "missing required field \"%s\"",
                         kd->fields[i].key);
    return 0;
}

static int load_section(loader *l, enum kind_id k, struct fy_node *seq, int key_line)
{
    const kind *kd = &kinds[k];
    if (!fy_node_is_sequence(seq))
        return lfail(l, key_line, kd->section, "expected a list (lines starting with \"- \"), "
                     "got %s", kind_name(fy_node_get_type(seq)));
    if (kind_count(l->sc, k) != 0)
        return lfail(l, key_line, kd->section, "given twice");
    size_t n = (size_t)fy_node_sequence_item_count(seq);
    void *arr = calloc(n ? n : 1, kd->size);
    l->lines[k].line = calloc(n ? n : 1, sizeof(int));
    l->lines[k].field = calloc((n ? n : 1) * kd->n_fields, sizeof(int));
    if (arr == NULL || l->lines[k].line == NULL || l->lines[k].field == NULL) {
        free(arr);
        return lfail(l, key_line, kd->section, "out of memory");
    }
    memcpy((char *)l->sc + kd->arr_off, &arr, sizeof arr);
    memcpy((char *)l->sc + kd->n_off, &n, sizeof n);
    void *it = NULL;
    struct fy_node *item;
    size_t i = 0;
    while ((item = fy_node_sequence_iterate(seq, &it)) != NULL)
        if (load_object(l, k, i++, item, key_line) != 0)
            return -1;
    return 0;
}

/* Finding ids an `expect:` list may name: the catalogue's capture findings. */
static bool known_finding(const char *id)
{
    const diag_cat_entry *e = diag_catalogue_find(id);
    return e != NULL && (e->who & DIAG_CAT_ANALYZE);
}

static int load_expect(loader *l, struct fy_node *v, int key_line)
{
    if (!fy_node_is_sequence(v))
        return lfail(l, key_line, "expect", "expected a list of finding ids ([] for none), "
                     "got %s", kind_name(fy_node_get_type(v)));
    size_t n = (size_t)fy_node_sequence_item_count(v);
    l->sc->expect = calloc(n ? n : 1, sizeof *l->sc->expect);
    if (l->sc->expect == NULL)
        return lfail(l, key_line, "expect", "out of memory");
    void *it = NULL;
    struct fy_node *item;
    while ((item = fy_node_sequence_iterate(v, &it)) != NULL) {
        char where[48];
        snprintf(where, sizeof where, "expect[%zu]", l->sc->n_expect);
        char *s = fy_node_is_scalar(item) ? scalar_dup(item) : NULL;
        if (s == NULL || !known_finding(s)) {
            int rc = lfail(l, block_line(item) ? block_line(item) : key_line, where,
                           "expected a finding id (see docs/findings.md), got \"%s\"",
                           s ? s : "");
            free(s);
            return rc;
        }
        for (size_t j = 0; j < l->sc->n_expect; j++)
            if (strcmp(l->sc->expect[j], s) == 0) {
                free(s);
                return lfail(l, node_line(item), where, "\"%s\" is listed twice",
                             l->sc->expect[j]);
            }
        l->sc->expect[l->sc->n_expect++] = s;
    }
    return 0;
}

static int load_root(loader *l, struct fy_node *root)
{
    static const char *const sections[] = { "networks", "hosts", "nats", "apps", "captures" };
    if (root == NULL || !fy_node_is_mapping(root))
        return lfail(l, block_line(root), "scenario", "expected a mapping (description:, "
                     "duration:, networks:, hosts:, ...) at the top");
    void *it = NULL;
    struct fy_node_pair *p;
    while ((p = fy_node_mapping_iterate(root, &it)) != NULL) {
        char *key = pair_key(l, p, "scenario", 0);
        if (key == NULL)
            return -1;
        int line = block_line(fy_node_pair_key(p));
        struct fy_node *v = fy_node_pair_value(p);
        const field *f = find_field(top_fields, sizeof top_fields / sizeof top_fields[0], key);
        int rc = -1;
        if (f != NULL) {
            l->top_line[f - top_fields] = line;
            rc = load_value(l, f, l->sc, v, key, line);
        } else if (strcmp(key, "expect") == 0) {
            rc = load_expect(l, v, line);
        } else {
            enum kind_id k;
            for (k = 0; k < K__COUNT; k++)
                if (strcmp(key, sections[k]) == 0)
                    break;
            if (k < K__COUNT)
                rc = load_section(l, k, v, line);
            else
                lfail(l, line, "scenario", "unknown field \"%s\" (valid: description, duration, "
                      "seed, networks, hosts, nats, apps, captures, expect; see "
                      "docs/scenarios.md)", key);
        }
        free(key);
        if (rc != 0)
            return -1;
    }
    return 0;
}

/* A YAML syntax error from libfyaml's collected diagnostics. */
static void yaml_error(loader *l, struct fy_diag *diag)
{
    void *it = NULL;
    struct fy_diag_error *e = diag != NULL ? fy_diag_errors_iterate(diag, &it) : NULL;
    if (e != NULL && e->line > 0)
        snprintf(l->err, l->errlen, "%s:%d: yaml: %s", l->path, e->line, e->msg);
    else if (e != NULL)
        snprintf(l->err, l->errlen, "%s: yaml: %s", l->path, e->msg);
    else
        snprintf(l->err, l->errlen, "%s: yaml: not valid YAML (check the encoding, UTF-8, "
                 "and any %%YAML directive)", l->path);
}

#define SCN_MAX_BYTES (1 << 20) /* a scenario is a page or two; refuse anything huge */

/* Length of the UTF-8 sequence at s (RFC 3629: no overlongs, no surrogates,
 * nothing above U+10FFFF), or 0 when it is not valid. */
static size_t utf8_len(const unsigned char *s, size_t left)
{
    unsigned c = s[0];
    size_t n = c < 0x80 ? 1 : (c >= 0xc2 && c <= 0xdf) ? 2 : (c & 0xf0) == 0xe0 ? 3 :
               (c >= 0xf0 && c <= 0xf4) ? 4 : 0;
    if (n == 0 || n > left)
        return 0;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    if (n == 3 && ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] > 0x9f)))
        return 0;
    if (n == 4 && ((c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] > 0x8f)))
        return 0;
    return n;
}

/* The whole file as UTF-8 text without NUL bytes, or NULL with a message
 * naming the line of the first bad byte. */
static char *read_text(loader *l, size_t *len)
{
    FILE *f = fopen(l->path, "rb");
    if (f == NULL) {
        snprintf(l->err, l->errlen, "%s: %s", l->path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(SCN_MAX_BYTES + 1);
    size_t n = buf != NULL ? fread(buf, 1, SCN_MAX_BYTES + 1, f) : 0;
    bool rerr = ferror(f) != 0;
    fclose(f);
    if (buf == NULL) {
        snprintf(l->err, l->errlen, "%s: out of memory", l->path);
        return NULL;
    }
    if (rerr || n > SCN_MAX_BYTES) {
        snprintf(l->err, l->errlen, "%s: %s", l->path, rerr ? "read error" :
                 "larger than 1 MiB; a scenario is a short text file");
        free(buf);
        return NULL;
    }
    int line = 1;
    for (size_t i = 0; i < n;) {
        size_t k = buf[i] != '\0' ? utf8_len((const unsigned char *)buf + i, n - i) : 0;
        if (k == 0) {
            lfail(l, line, "text", "byte 0x%02x is not UTF-8 text", (unsigned char)buf[i]);
            free(buf);
            return NULL;
        }
        line += buf[i] == '\n';
        i += k;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* The file's one YAML document, or NULL with a message.  A second document
 * is an error rather than ignored. */
static struct fy_document *read_document(loader *l, struct fy_parser *fyp, struct fy_diag *diag)
{
    struct fy_document *doc = fy_parse_load_document(fyp);
    if (doc == NULL) {
        if (fy_parser_get_stream_error(fyp))
            yaml_error(l, diag);
        else
            snprintf(l->err, l->errlen, "%s: no YAML document (expected a scenario: "
                     "description:, duration:, networks:, hosts:, ...)", l->path);
        return NULL;
    }
    struct fy_document *next = fy_parse_load_document(fyp);
    if (next == NULL && !fy_parser_get_stream_error(fyp))
        return doc;
    if (next != NULL)
        lfail(l, block_line(fy_document_root(next)), "yaml",
              "a second document; a scenario file holds one (remove the \"---\")");
    else
        yaml_error(l, diag);
    fy_parse_document_destroy(fyp, next);
    fy_parse_document_destroy(fyp, doc);
    return NULL;
}

sim_scenario *sim_scenario_load(const char *path, char *errbuf, size_t errlen)
{
    loader l = { .path = path, .err = errbuf, .errlen = errlen };
    struct fy_diag *diag = NULL;
    struct fy_parser *fyp = NULL;
    struct fy_document *doc = NULL;
    sim_scenario *sc = NULL;

    char *text = NULL;
    size_t text_len = 0;

    if (strlen(path) >= sizeof sc->path) {
        snprintf(errbuf, errlen, "%s: path longer than %zu characters", path,
                 sizeof sc->path - 1);
        return NULL;
    }
    text = read_text(&l, &text_len);
    if (text == NULL)
        return NULL;
    struct fy_diag_cfg dcfg;
    fy_diag_cfg_default(&dcfg);
    dcfg.fp = NULL;
    dcfg.level = FYET_ERROR;
    diag = fy_diag_create(&dcfg);
    if (diag == NULL) {
        snprintf(errbuf, errlen, "%s: out of memory", path);
        free(text);
        return NULL;
    }
    fy_diag_set_collect_errors(diag, true);
    struct fy_parse_cfg pcfg = { .flags = FYPCF_QUIET, .diag = diag };
    fyp = fy_parser_create(&pcfg);
    if (fyp == NULL || fy_parser_set_string(fyp, text, text_len) != 0) {
        snprintf(errbuf, errlen, "%s: cannot set up the YAML parser", path);
        goto out_parser;
    }
    doc = read_document(&l, fyp, diag);
    if (doc == NULL)
        goto out_parser;
    sc = calloc(1, sizeof *sc);
    if (sc == NULL) {
        snprintf(errbuf, errlen, "%s: out of memory", path);
        goto out_doc;
    }
    l.sc = sc;
    snprintf(sc->path, sizeof sc->path, "%s", path);
    sc->duration = 60 * SIM_NS_PER_S;
    sc->seed = 1;
    if (load_root(&l, fy_document_root(doc)) != 0)
        goto out_free;
    check_ctx c = { .sc = sc, .lines = l.lines, .err = errbuf, .errlen = errlen };
    if (check(&c) != 0)
        goto out_free;
    goto out_lines;
out_free:
    sim_scenario_free(sc);
    sc = NULL;
out_lines:
    for (int k = 0; k < K__COUNT; k++) {
        free(l.lines[k].line);
        free(l.lines[k].field);
    }
out_doc:
    fy_parse_document_destroy(fyp, doc);
out_parser:
    if (fyp != NULL)
        fy_parser_destroy(fyp);
    fy_diag_destroy(diag);
    free(text);
    return sc;
}

/* ---- --set ------------------------------------------------------------------------- */

/* Split "a, b,[c]" into items in place; brackets and spaces around items dropped. */
static size_t split_list(char *s, char **items, size_t cap)
{
    size_t n = 0;
    size_t len = strlen(s);
    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == ']'))
        s[--len] = '\0';
    while (*s == ' ' || *s == '[')
        s++;
    if (*s == '\0')
        return 0;
    for (char *tok = s; tok != NULL && n <= cap;) {
        char *comma = strchr(tok, ',');
        if (comma != NULL)
            *comma = '\0';
        while (*tok == ' ')
            tok++;
        size_t tl = strlen(tok);
        while (tl > 0 && tok[tl - 1] == ' ')
            tok[--tl] = '\0';
        items[n++] = tok;
        tok = comma != NULL ? comma + 1 : NULL;
    }
    return n;
}

static int set_value(const field *f, void *obj, const char *value, char *msg, size_t len)
{
    if (f->type != F_DURLIST && f->type != F_ADDRLIST)
        return parse_scalar(f, obj, value, msg, len);
    char *copy = strdup(value);
    char *items[SIM_MAX_NAT_ADDRS + 2];
    if (copy == NULL)
        return fail(msg, len, "out of memory");
    size_t n = split_list(copy, items, SIM_MAX_NAT_ADDRS + 1), bad;
    int rc = parse_list(f, obj, items, n, &bad, msg, len);
    free(copy);
    return rc;
}

int sim_scenario_set(sim_scenario *sc, const char *assignment, char *errbuf, size_t errlen)
{
    char msg[ERR_MAX];
    const char *eq = strchr(assignment, '=');
    if (eq == NULL || eq == assignment) {
        snprintf(errbuf, errlen, "%s: expected KEY=VALUE like host.server.timewait=30s",
                 assignment);
        return -1;
    }
    char key[160];
    size_t klen = (size_t)(eq - assignment);
    if (klen >= sizeof key) {
        snprintf(errbuf, errlen, "%.40s...: key too long", assignment);
        return -1;
    }
    memcpy(key, assignment, klen);
    key[klen] = '\0';
    const char *value = eq + 1;

    char *dot1 = strchr(key, '.');
    if (dot1 == NULL) {
        const field *f = find_field(top_fields, sizeof top_fields / sizeof top_fields[0], key);
        if (f == NULL || f->type == F_STR) {
            snprintf(errbuf, errlen, "%s: unknown setting (valid: duration, seed, "
                     "host.NAME.FIELD, nat.NAME.FIELD, app.NAME.FIELD, net.NAME.FIELD, "
                     "capture.NAME.FIELD)", key);
            return -1;
        }
        sim_scenario tmp = *sc;
        if (parse_scalar(f, &tmp, value, msg, sizeof msg) != 0) {
            snprintf(errbuf, errlen, "%s: %s", key, msg);
            return -1;
        }
        memcpy((char *)sc + f->off, (char *)&tmp + f->off,
               f->type == F_DUR ? sizeof(sim_ns) : sizeof(uint64_t));
        return 0;
    }
    *dot1 = '\0';
    char *name = dot1 + 1;
    char *dot2 = strchr(name, '.');
    enum kind_id k;
    for (k = 0; k < K__COUNT; k++)
        if (strcmp(key, kinds[k].prefix) == 0)
            break;
    if (k == K__COUNT || dot2 == NULL) {
        *dot1 = '.';
        snprintf(errbuf, errlen, "%s: expected duration, seed, or KIND.NAME.FIELD with KIND "
                 "one of host, nat, app, net, capture", key);
        return -1;
    }
    *dot2 = '\0';
    const char *fname = dot2 + 1;
    long idx = find_named(sc, k, name);
    if (idx < 0) {
        char names[256];
        name_list(names, sizeof names, sc, k);
        snprintf(errbuf, errlen, "%s.%s.%s: no %s named \"%s\" (%s)", kinds[k].prefix, name,
                 fname, kinds[k].prefix, name, names);
        return -1;
    }
    const field *f = find_field(kinds[k].fields, kinds[k].n_fields, fname);
    if (f == NULL || f == &kinds[k].fields[0]) {
        char keys[1024];
        list_keys(keys, sizeof keys, kinds[k].fields + 1, kinds[k].n_fields - 1);
        snprintf(errbuf, errlen, "%s.%s.%s: %s (valid: %s)", kinds[k].prefix, name, fname,
                 f == NULL ? "unknown field" : "names cannot be changed", keys);
        return -1;
    }
    /* Parse into a copy of the object so that a failure leaves sc unchanged. */
    union {
        sim_net net;
        sim_host host;
        sim_nat nat;
        sim_app app;
        sim_point point;
    } copy;
    void *obj = kind_obj(sc, k, (size_t)idx);
    memcpy(&copy, obj, kinds[k].size);
    if (set_value(f, &copy, value, msg, sizeof msg) != 0) {
        snprintf(errbuf, errlen, "%s.%s.%s: %s", kinds[k].prefix, name, fname, msg);
        return -1;
    }
    memcpy(obj, &copy, kinds[k].size);
    return 0;
}
