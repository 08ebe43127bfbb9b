/* sim.h - the simulator's public model: scenarios (hosts, NATs, networks, applications,
 * capture points), OS profiles, and one deterministic run with its summary. */
#ifndef TCPDOCTOR_SIM_H
#define TCPDOCTOR_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Virtual time in nanoseconds from the start of the run. */
typedef int64_t sim_ns;

#define SIM_NS_PER_S  1000000000LL
#define SIM_NS_PER_MS 1000000LL

#define SIM_NAME_MAX       32   /* names of hosts, networks, NATs, apps, capture points */
#define SIM_MAX_SYN_RETRIES 16  /* entries in an OS's SYN retransmission schedule */
#define SIM_MAX_NAT_ADDRS  64   /* external addresses of one NAT */

/* ---- OS profiles (tcp-behaviour.md section 10) ------------------------------ */

/* What an endpoint holding TIME_WAIT does with a new SYN on the same 4-tuple. */
enum sim_tw_syn {
    SIM_TW_SYN_LINUX,    /* Linux tcp_timewait_state_process(): accept if not PAWS-old and
                          * (SEQ > rcv_nxt or TSval > ts_recent), else rate-limited TW ACK */
    SIM_TW_SYN_IGNORE,   /* Windows (tcp-behaviour.md 5, [R/U]): silently ignored */
    SIM_TW_SYN_FREEBSD,  /* FreeBSD tcp_twcheck(): SEQ > rcv_nxt accepts, else silent drop */
    SIM_TW_SYN_MACOS     /* XNU: PAWS-old drop, beyond window accept, else challenge ACK */
};

/* Scope of the random offset added to TSvals (tcp-behaviour.md 3.6). */
enum sim_ts_offset {
    SIM_TSOFF_NONE,      /* raw clock (Linux <= 4.9, tcp_timestamps=2) */
    SIM_TSOFF_PER_HOST,  /* one offset per (saddr, daddr): Linux 4.11..6.x */
    SIM_TSOFF_PER_TUPLE  /* one offset per 4-tuple: Linux 4.10, >= 7.0 */
};

/* How a host picks ephemeral ports (tcp-behaviour.md 3.8, 5, 6). */
enum sim_port_alloc {
    SIM_PORTS_SEQUENTIAL, /* global increment (Windows, macOS randomize_ports=0) */
    SIM_PORTS_RANDOM,     /* uniform random (FreeBSD) */
    SIM_PORTS_LINUX       /* per-destination offset, small random increments, even first */
};

/* How a host chooses initial sequence numbers. */
enum sim_isn {
    SIM_ISN_CLOCK,        /* RFC 6528: keyed hash per 4-tuple + 4 us (Linux 64 ns) clock:
                           * increasing across reuses of one tuple */
    SIM_ISN_RANDOM        /* random per connection: may go backwards (seed 001's proxies) */
};

/* Order of options in a SYN (p0f layouts, tcp-behaviour.md 9.10). */
enum sim_syn_layout {
    SIM_SYN_LINUX,        /* mss,sok,ts,nop,ws */
    SIM_SYN_WINDOWS,      /* mss,nop,ws,nop,nop,sok */
    SIM_SYN_FREEBSD,      /* mss,nop,ws,sok,ts */
    SIM_SYN_MACOS         /* mss,nop,ws,nop,nop,ts,sok,eol */
};

typedef struct sim_os {
    char name[SIM_NAME_MAX];        /* "linux", "linux-4.9", "windows-2003", ... */
    sim_ns timewait;                /* TIME_WAIT length (2MSL) */
    sim_ns fin_timeout;             /* orphaned FIN_WAIT_2 lifetime */
    enum sim_tw_syn tw_syn;
    bool rfc1337;                   /* true: RST in TIME_WAIT ignored (tcp_rfc1337=1, BSD) */
    sim_ns tw_ack_ratelimit;        /* Linux tcp_invalid_ratelimit, 500 ms */
    int tw_reuse;                   /* Linux tcp_tw_reuse 0/1/2 (2 = loopback only) */
    sim_ns tw_reuse_delay;          /* tcp_tw_reuse_delay, 1 s */
    bool tw_recycle;                /* Linux < 4.12 tcp_tw_recycle (per-peer TS cache) */
    bool timestamps;                /* sends TS in SYN */
    bool echo_timestamps;           /* answers TS when the peer's SYN has it (Windows) */
    enum sim_ts_offset ts_offset;
    uint32_t ts_hz;                 /* TSval ticks per second (1000 on Linux >= 4.13) */
    enum sim_isn isn;
    /* SYN retransmissions: times after the first SYN, then the connect timeout. */
    sim_ns syn_retry_at[SIM_MAX_SYN_RETRIES];
    int n_syn_retries;
    sim_ns connect_timeout;
    bool fast_syn_resend;           /* Linux >= 5.6: RST + resend after 2 ms on a bad ACK */
    sim_ns synack_retry_at[SIM_MAX_SYN_RETRIES];
    int n_synack_retries;
    uint16_t port_lo, port_hi;      /* ephemeral range, inclusive */
    enum sim_port_alloc port_alloc;
    uint8_t ttl;                    /* initial TTL */
    uint16_t mss;
    uint8_t wscale;
    uint16_t syn_window;
    enum sim_syn_layout syn_layout;
    bool ipid_global;               /* one IP-ID counter per host (Windows) vs per socket */
    char source[160];               /* where these values come from (docs, kernel file) */
} sim_os;

/* The built-in profile with this name, or NULL.  The returned profile is static and
 * read-only; copy it into a sim_host and override fields there. */
const sim_os *sim_os_lookup(const char *name);
/* The built-in profiles in a fixed order (for listing); *n gets the count. */
const sim_os *sim_os_all(size_t *n);

/* ---- the scenario ---------------------------------------------------------------- */

/* A network (broadcast segment or point-to-point link) with its path properties.
 * Every host and every NAT side sits on exactly one network. */
typedef struct sim_net {
    char name[SIM_NAME_MAX];
    sim_ns delay;                   /* one-way */
    sim_ns jitter;                  /* uniform 0..jitter added per packet */
    double loss;                    /* 0..1, per packet */
    uint16_t mtu;                   /* 0 = 1500 */
} sim_net;

/* One host (or `count` numbered copies: name1, name2, ... with consecutive addresses). */
typedef struct sim_host {
    char name[SIM_NAME_MAX];
    char net[SIM_NAME_MAX];         /* network it sits on */
    uint32_t addr;                  /* IPv4, host byte order */
    uint32_t count;                 /* >= 1 */
    sim_os os;                      /* copied from a profile, then overridden */
    bool listen;                    /* accepts connections on the apps' server ports */
    sim_ns clock_skew;              /* added to this host's TS clock origin */
} sim_host;

enum sim_nat_ports {
    SIM_NAT_PRESERVE,               /* keep the inside port when free, else search (Linux) */
    SIM_NAT_SEQUENTIAL,             /* next free port after the last one given */
    SIM_NAT_RANDOM                  /* random start, linear probe (--random-fully) */
};

enum sim_nat_frag {
    SIM_FRAG_FORWARD,               /* translate the first fragment, pass the others as is */
    SIM_FRAG_REASSEMBLE,            /* Linux nf_defrag: reassemble, translate, refragment */
    SIM_FRAG_DROP                   /* AWS NAT gateway: drop fragmented TCP */
};

/* A source NAT between an inside network and an outside one.  Mappings are per
 * 5-tuple sessions with per-state hold times (tcp-behaviour.md 4.1, 7.2). */
typedef struct sim_nat {
    char name[SIM_NAME_MAX];
    char inside[SIM_NAME_MAX];      /* network of the hosts it translates */
    char outside[SIM_NAME_MAX];
    uint32_t inside_addr;           /* its address on the inside network (gateway) */
    uint32_t addrs[SIM_MAX_NAT_ADDRS]; /* external pool */
    uint32_t n_addrs;
    uint16_t port_lo, port_hi;      /* external port range, inclusive */
    enum sim_nat_ports ports;
    /* how long a mapping is kept after the last packet, by session state */
    sim_ns hold_syn;                /* SYN sent, no reply yet */
    sim_ns hold_established;
    sim_ns hold_fin;                /* one FIN seen */
    sim_ns hold_timewait;           /* FINs both ways: the "MSL" of seed 000's Cisco */
    sim_ns hold_close;              /* after an RST */
    bool rewrite_timestamps;        /* false: TSvals pass unchanged (most NATs) */
    enum sim_nat_frag frag;
    uint32_t max_sessions;          /* 0 = unlimited; when full or out of ports: drop SYN */
    uint8_t ttl_decrement;          /* 1: a router */
    bool evict_timewait;            /* Linux >= 6.5 nf_nat_used_tuple_harder(): in the last
                                     * probes of a port search, take over a colliding
                                     * session in TIME_WAIT or CLOSE (tcp-behaviour.md 4.3) */
    bool rst_on_expired;            /* AWS NAT gateway: a non-SYN packet from inside with no
                                     * session (idle timeout) is answered with an RST
                                     * instead of being dropped (tcp-behaviour.md 7.2) */
} sim_nat;

enum sim_closer { SIM_CLOSE_CLIENT, SIM_CLOSE_SERVER };

/* A workload: `client` hosts open connections to `server`:`port`. */
typedef struct sim_app {
    char name[SIM_NAME_MAX];
    char client[SIM_NAME_MAX];      /* a host name (all copies of a counted host take part) */
    char server[SIM_NAME_MAX];      /* a host name */
    uint16_t port;
    double rate;                    /* new connections per second, whole app (0: use concurrency) */
    uint32_t concurrency;           /* connections kept open at once (0: use rate) */
    bool poisson;                   /* exponential gaps instead of fixed ones */
    uint64_t max_connections;       /* 0 = until the end of the run */
    sim_ns start;                   /* first connection at this time */
    uint32_t request_bytes;         /* client -> server */
    uint32_t response_bytes;        /* server -> client */
    sim_ns server_time;             /* server's think time before responding */
    sim_ns hold_open;               /* idle time after the response before closing */
    enum sim_closer closer;
    bool rst_close;                 /* the closer aborts (SO_LINGER 0, seed 003) */
    uint16_t src_port_lo, src_port_hi; /* 0: ephemeral; else bind() cycles through them
                                        * (seed 001's proxies) */
    bool dont_fragment;             /* DF on data segments (server side too); false lets a
                                     * small-MTU network fragment them (seed 004) */
} sim_app;

/* A named place where packets can be written to a pcap. */
typedef struct sim_point {
    char name[SIM_NAME_MAX];
    char host[SIM_NAME_MAX];        /* a host's interface ... */
    char net[SIM_NAME_MAX];         /* ... or everything sent on a network */
} sim_point;

typedef struct sim_scenario {
    char path[256];                 /* file it was read from */
    char description[512];
    sim_ns duration;
    uint64_t seed;
    sim_net *nets;       size_t n_nets;
    sim_host *hosts;     size_t n_hosts;
    sim_nat *nats;       size_t n_nats;
    sim_app *apps;       size_t n_apps;
    sim_point *points;   size_t n_points;
    /* what analyze should find in a capture of this scenario (round-trip tests) */
    char **expect;       size_t n_expect;
} sim_scenario;

/* ---- one run ---------------------------------------------------------------------- */

enum sim_fail {
    SIM_FAIL_TIMEOUT,               /* connect timed out: no usable answer */
    SIM_FAIL_RESET,                 /* RST during the handshake */
    SIM_FAIL_NO_PORT,               /* no ephemeral port: EADDRNOTAVAIL, nothing sent */
    SIM_FAIL_DATA,                  /* established, then the exchange stalled or was reset */
    SIM_FAIL__COUNT
};
const char *sim_fail_name(enum sim_fail f);   /* "timeout", "reset", "no-port", "data" */

typedef struct sim_capture {
    const char *point;              /* a sim_point name; NULL = the first listening host */
    const char *path;               /* pcap file to write */
} sim_capture;

typedef struct sim_progress {
    sim_ns now, end;
    uint64_t events, attempts;
} sim_progress;

typedef struct sim_run_opts {
    uint64_t seed;                  /* used as is (the CLI puts the scenario's seed here) */
    sim_ns duration;                /* 0 = the scenario's */
    const sim_capture *captures;
    size_t n_captures;
    /* called about every 2^20 events; may be NULL */
    void (*progress)(void *ctx, const sim_progress *p);
    void *progress_ctx;
} sim_run_opts;

typedef struct sim_host_peak {
    char name[SIM_NAME_MAX + 8];    /* "pc3" for the copies of a counted host */
    uint64_t timewait_peak;         /* TIME_WAIT sockets at once */
    sim_ns timewait_peak_at;
} sim_host_peak;

typedef struct sim_nat_peak {
    char name[SIM_NAME_MAX];
    uint64_t ports_peak;            /* mappings in use at once (all states) */
    uint64_t ports_capacity;        /* addrs x ports */
    uint64_t syn_dropped;           /* SYNs dropped: pool full */
    uint64_t frag_dropped;          /* fragments dropped by policy */
} sim_nat_peak;

typedef struct sim_summary {
    uint64_t seed;
    sim_ns duration;
    uint64_t events;
    uint64_t attempts;              /* connect() calls */
    uint64_t successes;             /* the exchange completed */
    uint64_t failures;
    uint64_t fail_by[SIM_FAIL__COUNT];
    uint64_t retried;               /* successes that needed more than one SYN */
    /* connect latency (first SYN to established) over successful handshakes */
    sim_ns latency_p50, latency_p90, latency_p99, latency_max;
    sim_host_peak *hosts;  size_t n_hosts;   /* every host that held TIME_WAIT */
    sim_nat_peak *nats;    size_t n_nats;
    uint64_t packets;               /* packets sent by all hosts */
    uint64_t packets_lost;          /* dropped by link loss */
    uint64_t *captured;             /* packets written, per run_opts capture */
    size_t n_captured;
} sim_summary;

/* Run the scenario once.  Deterministic: the same scenario, seed and duration give a
 * byte-identical capture and summary.  0, or negative with a message in errbuf
 * (e.g. an unknown capture point, a pcap file that cannot be written); *out is filled
 * on success and must be released with sim_summary_free(). */
int sim_run(const sim_scenario *sc, const sim_run_opts *opts, sim_summary *out,
            char *errbuf, size_t errlen);
void sim_summary_free(sim_summary *s);

/* ---- scenario files (src/sim/scenario.c) ------------------------------------------ */

/* Read a scenario file (YAML).  NULL with "FILE:LINE: field: what was expected" in
 * errbuf.  Free with sim_scenario_free(). */
sim_scenario *sim_scenario_load(const char *path, char *errbuf, size_t errlen);
void sim_scenario_free(sim_scenario *sc);

/* Apply one override "host.server.timewait=30s" (the same field names and value syntax
 * as the file).  0, or -1 with a message in errbuf; sc is unchanged on failure. */
int sim_scenario_set(sim_scenario *sc, const char *assignment, char *errbuf, size_t errlen);

/* Check cross references (networks, hosts, capture points) and value ranges.
 * 0, or -1 with a message naming the object and field. */
int sim_scenario_check(const sim_scenario *sc, char *errbuf, size_t errlen);

#endif
