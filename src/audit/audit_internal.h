/* audit_internal.h - private to src/audit: the snapshot's layout, shared by the readers, the summary and the findings. */
#ifndef TCPDOCTOR_AUDIT_INTERNAL_H
#define TCPDOCTOR_AUDIT_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tcpdoctor/audit.h"

/* The sysctls read, in the order the report lists them (procfs.c's table). */
enum audit_sysctl_id {
    AS_TW_REUSE,
    AS_TW_REUSE_DELAY,
    AS_TIMESTAMPS,
    AS_FIN_TIMEOUT,
    AS_MAX_TW_BUCKETS,
    AS_RFC1337,
    AS_PORT_RANGE,
    AS_RESERVED_PORTS,
    AS_TW_RECYCLE,
    AS_CT_MAX,
    AS_CT_COUNT,
    AS_CT_TIME_WAIT,
    AS_CT_CLOSE,
    AS_CT_ESTABLISHED,
    AS_COUNT
};

/* The counters explained (procfs.c's table). */
enum audit_counter_id {
    AC_TW,
    AC_TW_RECYCLED,
    AC_TW_KILLED,
    AC_PAWS_PASSIVE,
    AC_PAWS_ACTIVE,
    AC_PAWS_ESTAB,
    AC_PAWS_TIMEWAIT,
    AC_LISTEN_OVERFLOWS,
    AC_LISTEN_DROPS,
    AC_TW_OVERFLOW,
    AC_ACK_SKIPPED_TW,
    AC_ACK_SKIPPED_FW2,
    AC_ACK_SKIPPED_PAWS,
    AC_CHALLENGE_ACK,
    AC_SYN_CHALLENGE,
    AC_ABORT_ON_DATA,
    AC_ABORT_ON_CLOSE,
    AC_ABORT_ON_LINGER,
    AC_ABORT_ON_TIMEOUT,
    AC_ATTEMPT_FAILS,
    AC_ESTAB_RESETS,
    AC_OUT_RSTS,
    AC_CT_DROP,
    AC_CT_EARLY_DROP,
    AC_CT_INSERT_FAILED,
    AC_COUNT
};

/* One socket as the dump gave it, kept until the summary (sockdiag.c). */
typedef struct audit_sock {
    pkt_addr local;
    pkt_addr remote;
    uint16_t local_port;
    uint16_t remote_port;
    uint8_t  state;
    uint32_t expires_ms;    /* remaining timer (TIME_WAIT: until the tuple is free) */
} audit_sock;

struct audit_snapshot {
    char    *root;                      /* procfs root read, or NULL */
    char    *kernel;                    /* sys/kernel/osrelease, or NULL */
    audit_sysctl sysctls[AS_COUNT];
    audit_counter counters[AC_COUNT];
    bool     procfs_read;
    uint8_t  reserved[65536 / 8];       /* ip_local_reserved_ports, one bit per port */
    uint32_t port_lo, port_hi;          /* ip_local_port_range (default when unread) */
    uint32_t usable;                    /* ports in the range and not reserved */
    /* sockets */
    audit_sock *socks;                  /* non-listening sockets of the dump */
    size_t   n_socks, cap_socks;
    audit_sock *listeners;              /* LISTEN sockets */
    size_t   n_listeners, cap_listeners;
    audit_socket_stats st;
    audit_dest *dests;                  /* summary, sorted (audit_summarise) */
    size_t   n_dests;
    uint64_t seed;                      /* hash seed of the summary's table */
};

/* errbuf helpers: snprintf that tolerates a NULL or empty buffer. */
void audit_err(char *errbuf, size_t errlen, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Names, paths and meanings of the sysctls and counters (procfs.c). */
void audit_defs_init(audit_snapshot *s);

/* Recompute s->usable from the range and the reserved ports. */
void audit_ports_update(audit_snapshot *s);
static inline bool audit_port_reserved(const audit_snapshot *s, uint32_t port)
{
    return port < 65536 && (s->reserved[port >> 3] >> (port & 7) & 1) != 0;
}
static inline bool audit_port_ephemeral(const audit_snapshot *s, uint32_t port)
{
    return port >= s->port_lo && port <= s->port_hi && !audit_port_reserved(s, port);
}

/* Record one socket of the dump (sockdiag.c).  0 or -ENOMEM. */
int audit_sock_add(audit_snapshot *s, const audit_sock *k);
/* Aggregate the recorded sockets per destination (summary.c).  0 or -ENOMEM. */
int audit_summarise(audit_snapshot *s);

#endif
