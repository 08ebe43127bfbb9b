/* audit.h - the local host's TCP lifecycle state: sysctls, counters, sockets per destination, and the findings they support. */
#ifndef TCPDOCTOR_AUDIT_H
#define TCPDOCTOR_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "tcpdoctor/diagnose.h"
#include "tcpdoctor/packet.h"

/*
 * A snapshot is filled in three steps, each optional but in this order:
 *   audit_read_procfs()   sysctls and /proc/net/{netstat,snmp} under a root
 *                         directory ("/proc" on a live host, a fixture tree
 *                         in tests);
 *   audit_dump_sockets()  every TCP socket of the current network namespace
 *                         over netlink sock_diag, or audit_parse_dump() on
 *                         recorded dump bytes;
 *   audit_findings()      the findings the snapshot supports.
 * The snapshot owns everything it returns; pointers stay valid until
 * audit_snapshot_free().
 */
typedef struct audit_snapshot audit_snapshot;

/* One sysctl, read or found absent (e.g. tcp_tw_recycle after Linux 4.12). */
typedef struct audit_sysctl {
    const char *name;       /* "tcp_tw_reuse" */
    const char *path;       /* relative to the root: "sys/net/ipv4/tcp_tw_reuse" */
    const char *meaning;    /* one line: what it controls, in plain words */
    bool     present;
    int64_t  value;         /* first number (ranges: the low end) */
    int64_t  value2;        /* ip_local_port_range: the high end */
    char    *text;          /* the file's content, trimmed (NULL when absent) */
} audit_sysctl;

/* A counter of /proc/net/netstat or /proc/net/snmp that tcpdoctor explains. */
typedef struct audit_counter {
    const char *group;      /* "TcpExt", "Tcp" */
    const char *name;       /* "PAWSPassive" */
    const char *meaning;    /* what a non-zero value means here */
    bool     present;
    int64_t  value;         /* since boot (or namespace creation) */
} audit_counter;

/* TCP states as sock_diag reports them (include/net/tcp_states.h). */
#define AUDIT_NSTATES 13
const char *audit_state_name(int state);   /* "ESTABLISHED", "TIME_WAIT", ... */

/* Sockets toward one destination: (local address, remote address, remote port). */
typedef struct audit_dest {
    pkt_addr local;
    pkt_addr remote;
    uint16_t remote_port;
    uint32_t sockets;       /* every socket of the tuple set, TIME_WAIT included */
    uint32_t timewait;      /* in TIME_WAIT */
    uint32_t ports_used;    /* local ports in the usable ephemeral range */
    uint32_t headroom;      /* usable ephemeral ports left for a new connect() */
    uint32_t usable;        /* ephemeral ports usable toward it (range - reserved - listeners) */
    uint32_t tw_min_ms;     /* remaining TIME_WAIT timers (valid when timewait > 0) */
    uint32_t tw_max_ms;
} audit_dest;

/* What the socket dump saw, all families together. */
typedef struct audit_socket_stats {
    bool     dumped;                        /* false: sockets were not read */
    uint64_t total;
    uint64_t v4, v6;
    uint64_t by_state[AUDIT_NSTATES];
    uint64_t destinations;                  /* distinct (local, remote, remote port) */
    uint64_t passive;                       /* accepted connections (local port listening) */
    uint64_t messages;                      /* netlink messages parsed */
    double   dump_s;                        /* wall time of the dump and summary */
} audit_socket_stats;

audit_snapshot *audit_snapshot_new(void);
void audit_snapshot_free(audit_snapshot *s);

/* Enter the network namespace NAME (/var/run/netns/NAME) or the namespace
 * file at a path containing '/' (e.g. /proc/PID/ns/net).  Affects the calling
 * thread: call it before the two readers.  0, or -errno with errbuf set. */
int audit_enter_netns(const char *name, char *errbuf, size_t errlen);

/* Read the sysctls and counters under root ("/proc" on a live host).  A
 * sysctl file that is absent is recorded as absent; net/netstat and net/snmp
 * must exist.  On a malformed file: -EINVAL, errbuf names the file, the line
 * and the field, and the snapshot keeps what was read before.  -ENOENT when
 * root or a required file is missing, -ENOMEM. */
int audit_read_procfs(audit_snapshot *s, const char *root, char *errbuf, size_t errlen);

/* Dump every TCP socket (IPv4 and IPv6, all states) of the calling thread's
 * network namespace over NETLINK_SOCK_DIAG and summarise it.  raw (may be
 * NULL) receives a copy of the dump's bytes, which audit_parse_dump() reads
 * back.  Call audit_read_procfs() first: the port range comes from it.
 * 0, or negative with errbuf set. */
int audit_dump_sockets(audit_snapshot *s, FILE *raw, char *errbuf, size_t errlen);

/* Summarise recorded dump bytes (a sequence of netlink messages, as written
 * by audit_dump_sockets()).  Every message and attribute is bounds-checked:
 * -EINVAL with errbuf naming the message number and the field, keeping the
 * sockets counted before the fault. */
int audit_parse_dump(audit_snapshot *s, const void *buf, size_t len, char *errbuf, size_t errlen);

/* Findings in analyze's model (docs/findings.md, docs/audit.md), sorted.
 * 0, or -ENOMEM (out is then empty). */
int audit_findings(const audit_snapshot *s, diag_findings *out);

/* ---- what the report shows ------------------------------------------------ */

const char *audit_root(const audit_snapshot *s);            /* NULL before reading */
const char *audit_kernel(const audit_snapshot *s);          /* osrelease, or NULL */
const audit_sysctl *audit_sysctls(const audit_snapshot *s, size_t *n);
const audit_counter *audit_counters(const audit_snapshot *s, size_t *n);
const audit_socket_stats *audit_sockets(const audit_snapshot *s);
/* The usable ephemeral port count (range minus reserved ports). */
uint32_t audit_ephemeral_ports(const audit_snapshot *s);
/* Destinations, most TIME_WAIT first (then most sockets, then address
 * order); *n = how many (all of them).  NULL when none. */
const audit_dest *audit_destinations(const audit_snapshot *s, size_t *n);

#endif
