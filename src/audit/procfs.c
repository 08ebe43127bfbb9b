/* procfs.c - read the TCP and conntrack sysctls and the netstat/snmp counters under a procfs root, every byte checked. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit/audit_internal.h"

/*
 * The files are procfs text, but a --root tree is whatever the user points
 * at: every file is read whole (at most PROC_MAX bytes), every number is
 * checked for its syntax and range, and a fault is reported with the file,
 * the line and the field.  A sysctl that does not exist is not a fault:
 * tcp_tw_recycle is gone since Linux 4.12 (tcp-behaviour.md 3.10),
 * tcp_tw_reuse_delay arrived in ~6.14 (3.7), and the conntrack files exist
 * only while nf_conntrack is loaded.
 */

#define PROC_MAX (1u << 20)     /* bytes read from one file; netstat is ~4 KiB */

enum sysctl_kind {
    SK_INT,         /* one integer */
    SK_RANGE,       /* two integers */
    SK_PORTLIST     /* "a-b,c,..." or empty */
};

typedef struct sysctl_def {
    const char *name;
    const char *path;
    enum sysctl_kind kind;
    const char *meaning;
} sysctl_def;

/* Meanings: Documentation/networking/ip-sysctl.rst and nf_conntrack-sysctl.rst,
 * as summarised in tcp-behaviour.md 3.1, 3.7, 3.8, 3.10, 4.1. */
static const sysctl_def sysctl_defs[AS_COUNT] = {
    [AS_TW_REUSE] = { "tcp_tw_reuse", "sys/net/ipv4/tcp_tw_reuse", SK_INT,
        "connect() may take over a TIME_WAIT tuple (needs timestamps): 0 never, 1 always, 2 loopback only" },
    [AS_TW_REUSE_DELAY] = { "tcp_tw_reuse_delay", "sys/net/ipv4/tcp_tw_reuse_delay", SK_INT,
        "ms a TIME_WAIT tuple must age before tcp_tw_reuse may take it (Linux 6.14+)" },
    [AS_TIMESTAMPS] = { "tcp_timestamps", "sys/net/ipv4/tcp_timestamps", SK_INT,
        "TCP timestamps (RFC 7323): PAWS, and what tcp_tw_reuse relies on; 0 off" },
    [AS_FIN_TIMEOUT] = { "tcp_fin_timeout", "sys/net/ipv4/tcp_fin_timeout", SK_INT,
        "s an orphaned FIN_WAIT_2 is kept; not the TIME_WAIT length (always 60 s)" },
    [AS_MAX_TW_BUCKETS] = { "tcp_max_tw_buckets", "sys/net/ipv4/tcp_max_tw_buckets", SK_INT,
        "TIME_WAIT tuples held at most; beyond it connections close without TIME_WAIT" },
    [AS_RFC1337] = { "tcp_rfc1337", "sys/net/ipv4/tcp_rfc1337", SK_INT,
        "1: an RST does not end TIME_WAIT early (RFC 1337 assassination hazard)" },
    [AS_PORT_RANGE] = { "ip_local_port_range", "sys/net/ipv4/ip_local_port_range", SK_RANGE,
        "ephemeral ports connect() picks from, per (local IP, remote IP, remote port)" },
    [AS_RESERVED_PORTS] = { "ip_local_reserved_ports", "sys/net/ipv4/ip_local_reserved_ports",
        SK_PORTLIST, "ports connect() never picks" },
    [AS_TW_RECYCLE] = { "tcp_tw_recycle", "sys/net/ipv4/tcp_tw_recycle", SK_INT,
        "Linux < 4.12 only: short TIME_WAIT and a per-host timestamp check that drops SYNs from NATed clients" },
    [AS_CT_MAX] = { "nf_conntrack_max", "sys/net/netfilter/nf_conntrack_max", SK_INT,
        "conntrack entries at most; a full table drops new connections" },
    [AS_CT_COUNT] = { "nf_conntrack_count", "sys/net/netfilter/nf_conntrack_count", SK_INT,
        "conntrack entries now" },
    [AS_CT_TIME_WAIT] = { "nf_conntrack_tcp_timeout_time_wait",
        "sys/net/netfilter/nf_conntrack_tcp_timeout_time_wait", SK_INT,
        "s a closed connection's entry (and NAT mapping) is held; default 120" },
    [AS_CT_CLOSE] = { "nf_conntrack_tcp_timeout_close",
        "sys/net/netfilter/nf_conntrack_tcp_timeout_close", SK_INT,
        "s an entry is held after an RST; default 10" },
    [AS_CT_ESTABLISHED] = { "nf_conntrack_tcp_timeout_established",
        "sys/net/netfilter/nf_conntrack_tcp_timeout_established", SK_INT,
        "s an idle established entry is held; default 432000 (5 days)" },
};

typedef struct counter_def {
    const char *group;
    const char *name;
    const char *meaning;
} counter_def;

/* Meanings: net/ipv4/proc.c names, counted where tcp-behaviour.md 3.2, 3.3,
 * 3.7, 3.10, 3.11 and 9.5-9.7 say.  TW and TWKilled are counted when the
 * bucket is scheduled (net/ipv4/inet_timewait_sock.c __inet_twsk_schedule:
 * killed when the timeout is <= 4 s), not when it expires. */
static const counter_def counter_defs[AC_COUNT] = {
    [AC_TW] = { "TcpExt", "TW",
        "TIME_WAIT tuples created with the full 60 s timer: connections this host closed first" },
    [AC_TW_RECYCLED] = { "TcpExt", "TWRecycled",
        "TIME_WAIT tuples taken over by an outgoing connect() (tcp_tw_reuse, despite the name)" },
    [AC_TW_KILLED] = { "TcpExt", "TWKilled",
        "TIME_WAIT tuples created with a timer of 4 s or less: tcp_tw_recycle's 3.5 x RTO, or a short FIN_WAIT_2" },
    [AC_PAWS_PASSIVE] = { "TcpExt", "PAWSPassive",
        "SYNs dropped by tcp_tw_recycle's per-host timestamp check: clients behind a NAT whose clocks are behind another host's" },
    [AC_PAWS_ACTIVE] = { "TcpExt", "PAWSActive",
        "SYN-ACKs refused because their timestamp echo does not match the SYN sent: an answer for another incarnation of the tuple" },
    [AC_PAWS_ESTAB] = { "TcpExt", "PAWSEstab",
        "segments of established connections dropped by PAWS (older timestamp): a peer's clock going back, or two hosts behind one NAT on one tuple" },
    [AC_PAWS_TIMEWAIT] = { "TcpExt", "PAWSTimewait",
        "segments to TIME_WAIT tuples dropped by PAWS" },
    [AC_LISTEN_OVERFLOWS] = { "TcpExt", "ListenOverflows",
        "handshakes completed while the accept queue was full: the application accepts too slowly" },
    [AC_LISTEN_DROPS] = { "TcpExt", "ListenDrops",
        "SYNs and handshakes dropped at listening sockets, all causes (includes ListenOverflows and PAWSPassive)" },
    [AC_TW_OVERFLOW] = { "TcpExt", "TCPTimeWaitOverflow",
        "connections closed without TIME_WAIT because tcp_max_tw_buckets was reached: their tuples were free at once" },
    [AC_ACK_SKIPPED_TW] = { "TcpExt", "TCPACKSkippedTimeWait",
        "rate-limited answers to out-of-window segments (often reused-tuple SYNs) hitting a TIME_WAIT tuple" },
    [AC_ACK_SKIPPED_FW2] = { "TcpExt", "TCPACKSkippedFinWait2",
        "rate-limited answers to out-of-window segments hitting a FIN_WAIT_2 tuple" },
    [AC_ACK_SKIPPED_PAWS] = { "TcpExt", "TCPACKSkippedPAWS",
        "rate-limited answers to segments PAWS rejected" },
    [AC_CHALLENGE_ACK] = { "TcpExt", "TCPChallengeACK",
        "challenge ACKs sent (RFC 5961): SYNs or RSTs for a tuple that is still established" },
    [AC_SYN_CHALLENGE] = { "TcpExt", "TCPSYNChallenge",
        "SYNs that met an established tuple and were answered with a challenge ACK: a peer reopened a tuple this host still has open" },
    [AC_ABORT_ON_DATA] = { "TcpExt", "TCPAbortOnData",
        "connections reset because data arrived after the application closed" },
    [AC_ABORT_ON_CLOSE] = { "TcpExt", "TCPAbortOnClose",
        "connections reset because the application closed with unread data" },
    [AC_ABORT_ON_LINGER] = { "TcpExt", "TCPAbortOnLinger",
        "connections reset by SO_LINGER 0 or an expired linger time: closes without TIME_WAIT" },
    [AC_ABORT_ON_TIMEOUT] = { "TcpExt", "TCPAbortOnTimeout",
        "connections dropped after their retransmissions or keepalives ran out" },
    [AC_ATTEMPT_FAILS] = { "Tcp", "AttemptFails",
        "connection attempts that failed in SYN_SENT or SYN_RECV (reset or timed out)" },
    [AC_ESTAB_RESETS] = { "Tcp", "EstabResets",
        "established connections ended by a reset" },
    [AC_OUT_RSTS] = { "Tcp", "OutRsts",
        "RST segments sent" },
    /* net/netfilter/nf_conntrack_standalone.c ct_cpu_seq_show, summed over CPUs:
     * drop when no entry could be allocated (table full, nf_conntrack_in ->
     * init_conntrack), early_drop when an unreplied entry was evicted to make
     * room, insert_failed when two packets raced to create the same entry. */
    [AC_CT_DROP] = { "nf_conntrack", "drop",
        "packets dropped because no conntrack entry could be created: the table was full" },
    [AC_CT_EARLY_DROP] = { "nf_conntrack", "early_drop",
        "unreplied entries evicted to make room for new ones: the table was full" },
    [AC_CT_INSERT_FAILED] = { "nf_conntrack", "insert_failed",
        "packets dropped because their new entry clashed with another one created at the same time" },
};

void audit_err(char *errbuf, size_t errlen, const char *fmt, ...)
{
    if (errbuf == NULL || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errbuf, errlen, fmt, ap);
    va_end(ap);
}

void audit_ports_update(audit_snapshot *s)
{
    uint32_t n = 0;
    for (uint32_t p = s->port_lo; p <= s->port_hi && p < 65536; p++)
        n += !audit_port_reserved(s, p);
    s->usable = n;
}

/* Read path (root/rel) whole into a NUL-terminated buffer the caller frees.
 * 0; -ENOENT when it does not exist (nothing said); other -errno with errbuf. */
static int slurp(const char *root, const char *rel, char **out, size_t *len, char *errbuf,
                 size_t errlen)
{
    char path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", root, rel) >= sizeof path) {
        audit_err(errbuf, errlen, "%s/%s: path too long", root, rel);
        return -ENAMETOOLONG;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT)
            return -ENOENT;
        audit_err(errbuf, errlen, "%s: %s", path, strerror(e));
        return -e;
    }
    int rc = 0;
    size_t cap = 4096, n = 0;
    char *b = malloc(cap);
    if (b == NULL) {
        rc = -ENOMEM;
        goto out_close;
    }
    for (;;) {
        if (cap - n < 2) {
            if (cap >= PROC_MAX) {
                audit_err(errbuf, errlen, "%s: larger than %u bytes", path, PROC_MAX);
                rc = -EFBIG;
                goto out_free;
            }
            char *nb = realloc(b, cap * 2);
            if (nb == NULL) {
                rc = -ENOMEM;
                goto out_free;
            }
            b = nb;
            cap *= 2;
        }
        ssize_t r = read(fd, b + n, cap - n - 1);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            rc = -errno;
            audit_err(errbuf, errlen, "%s: %s", path, strerror(errno));
            goto out_free;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    b[n] = '\0';
    if (memchr(b, '\0', n) != NULL) {
        audit_err(errbuf, errlen, "%s: contains a NUL byte: not a procfs text file", path);
        rc = -EINVAL;
        goto out_free;
    }
    *out = b;
    *len = n;
    goto out_close;
out_free:
    free(b);
out_close:
    close(fd);
    return rc;
}

/* A signed decimal at *p (no leading spaces); advances *p.  false when
 * there is none or it does not fit in int64_t. */
static bool read_i64(const char **p, int64_t *v)
{
    const char *q = *p;
    bool neg = *q == '-';
    if (neg)
        q++;
    if (*q < '0' || *q > '9')
        return false;
    uint64_t acc = 0;
    for (; *q >= '0' && *q <= '9'; q++) {
        unsigned d = (unsigned)(*q - '0');
        if (acc > (UINT64_MAX - d) / 10)
            return false;
        acc = acc * 10 + d;
    }
    if (acc > (uint64_t)INT64_MAX + neg)
        return false;
    *v = neg ? (acc == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)acc) : (int64_t)acc;
    *p = q;
    return true;
}

static const char *skip_blank(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* What is at p, quoted for a message: the field, at most 16 characters. */
static void quote_at(const char *p, char *buf, size_t len)
{
    size_t n = 0;
    while (p[n] && p[n] != '\n' && p[n] != ' ' && p[n] != '\t' && n < 16 && n + 1 < len)
        n++;
    if (n == 0)
        snprintf(buf, len, "the end of the line");
    else
        snprintf(buf, len, "\"%.*s\"", (int)n, p);
}

/* The file must end here: blanks and one newline at most. */
static bool at_end(const char *p)
{
    p = skip_blank(p);
    if (*p == '\n')
        p++;
    return *p == '\0';
}

static int parse_int_sysctl(audit_snapshot *s, audit_sysctl *sc, const sysctl_def *d,
                            const char *text, char *errbuf, size_t errlen)
{
    const char *p = skip_blank(text);
    char q[24];
    if (!read_i64(&p, &sc->value)) {
        quote_at(p, q, sizeof q);
        audit_err(errbuf, errlen, "%s/%s: line 1: %s: expected a number, found %s", s->root,
                  d->path, d->name, q);
        return -EINVAL;
    }
    if (d->kind == SK_RANGE) {
        const char *r = skip_blank(p);
        if (r == p || !read_i64(&r, &sc->value2)) {
            quote_at(r, q, sizeof q);
            audit_err(errbuf, errlen, "%s/%s: line 1: %s: expected a second number (the high end), found %s",
                      s->root, d->path, d->name, q);
            return -EINVAL;
        }
        p = r;
    }
    if (!at_end(p)) {
        quote_at(skip_blank(p), q, sizeof q);
        audit_err(errbuf, errlen, "%s/%s: line 1: %s: unexpected %s after the value", s->root,
                  d->path, d->name, q);
        return -EINVAL;
    }
    return 0;
}

/* ip_local_reserved_ports: "" or "a-b,c,...\n" (proc_do_large_bitmap). */
static int parse_portlist(audit_snapshot *s, const sysctl_def *d, const char *text,
                          char *errbuf, size_t errlen)
{
    const char *p = skip_blank(text);
    char q[24];
    memset(s->reserved, 0, sizeof s->reserved);
    if (at_end(p))
        return 0;
    const char *item = p;
    for (;;) {
        int64_t lo, hi;
        item = p;
        if (!read_i64(&p, &lo) || lo < 0 || lo > 65535)
            goto bad;
        hi = lo;
        if (*p == '-') {
            p++;
            if (!read_i64(&p, &hi) || hi < lo || hi > 65535)
                goto bad;
        }
        for (int64_t port = lo; port <= hi; port++)
            s->reserved[port >> 3] |= (uint8_t)(1u << (port & 7));
        if (*p != ',')
            break;
        p++;
    }
    if (at_end(p))
        return 0;
    item = p;
bad:
    quote_at(item, q, sizeof q);
    audit_err(errbuf, errlen, "%s/%s: line 1: %s: expected a port or a range PORT-PORT (0-65535), found %s",
              s->root, d->path, d->name, q);
    return -EINVAL;
}

static char *trimmed_copy(const char *text)
{
    const char *b = skip_blank(text);
    size_t n = strlen(b);
    while (n > 0 && (b[n - 1] == '\n' || b[n - 1] == ' ' || b[n - 1] == '\t'))
        n--;
    char *c = malloc(n + 1);
    if (c == NULL)
        return NULL;
    /* Runs of blanks become one space ("32768\t60999" -> "32768 60999"). */
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        bool blank = b[i] == ' ' || b[i] == '\t' || b[i] == '\n';
        if (blank && k > 0 && c[k - 1] == ' ')
            continue;
        c[k++] = blank ? ' ' : b[i];
    }
    c[k] = '\0';
    return c;
}

static int read_sysctl(audit_snapshot *s, enum audit_sysctl_id id, char *errbuf, size_t errlen)
{
    const sysctl_def *d = &sysctl_defs[id];
    audit_sysctl *sc = &s->sysctls[id];
    char *text;
    size_t len;
    int rc = slurp(s->root, d->path, &text, &len, errbuf, errlen);
    if (rc == -ENOENT)
        return 0;       /* absent: recorded as such */
    if (rc != 0)
        return rc;
    if (memchr(text, '\n', len) != NULL && memchr(text, '\n', len) != text + len - 1) {
        audit_err(errbuf, errlen, "%s/%s: line 2: %s: one line expected", s->root, d->path,
                  d->name);
        rc = -EINVAL;
        goto out;
    }
    if (d->kind == SK_PORTLIST)
        rc = parse_portlist(s, d, text, errbuf, errlen);
    else
        rc = parse_int_sysctl(s, sc, d, text, errbuf, errlen);
    if (rc != 0)
        goto out;
    if (id == AS_PORT_RANGE && (sc->value < 1 || sc->value2 > 65535 || sc->value > sc->value2)) {
        audit_err(errbuf, errlen, "%s/%s: line 1: %s: %" PRId64 " %" PRId64
                  " is not a port range (1-65535, low <= high)", s->root, d->path, d->name,
                  sc->value, sc->value2);
        rc = -EINVAL;
        goto out;
    }
    if ((sc->text = trimmed_copy(text)) == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    sc->present = true;
out:
    free(text);
    return rc;
}

/* The next line of text: [*p, end of line); advances *p past the newline.
 * false at the end of the text. */
static bool next_line(const char **p, const char **line, size_t *len)
{
    if (**p == '\0')
        return false;
    const char *nl = strchr(*p, '\n');
    *line = *p;
    *len = nl ? (size_t)(nl - *p) : strlen(*p);
    *p = nl ? nl + 1 : *p + *len;
    return true;
}

/* Store a counter's value if tcpdoctor explains it. */
static void keep_counter(audit_snapshot *s, const char *group, size_t glen, const char *name,
                         size_t nlen, int64_t v)
{
    for (int i = 0; i < AC_COUNT; i++) {
        const counter_def *d = &counter_defs[i];
        if (strlen(d->group) == glen && memcmp(d->group, group, glen) == 0 &&
            strlen(d->name) == nlen && memcmp(d->name, name, nlen) == 0) {
            s->counters[i].present = true;
            s->counters[i].value = v;
        }
    }
}

/* Count the blank-separated fields of a line segment. */
static size_t count_fields(const char *p, const char *end)
{
    size_t n = 0;
    while (p < end) {
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        if (p >= end)
            break;
        n++;
        while (p < end && *p != ' ' && *p != '\t')
            p++;
    }
    return n;
}

/*
 * /proc/net/netstat and /proc/net/snmp: pairs of lines, "Group: name ..."
 * then "Group: value ..." with as many values as names (net/ipv4/proc.c
 * netstat_seq_show, snmp_seq_show_tcp_udp).  A pair whose lines disagree,
 * a lone header and a value that is not a number are faults.
 */
static int parse_counters(audit_snapshot *s, const char *rel, const char *text, char *errbuf,
                          size_t errlen)
{
    const char *p = text, *hl, *vl;
    size_t hlen, vlen;
    unsigned lineno = 0;
    while (next_line(&p, &hl, &hlen)) {
        lineno++;
        if (hlen == 0)
            continue;
        const char *hend = hl + hlen;
        const char *colon = memchr(hl, ':', hlen);
        if (colon == NULL || colon == hl) {
            audit_err(errbuf, errlen, "%s/%s: line %u: expected \"Group: name ...\"", s->root,
                      rel, lineno);
            return -EINVAL;
        }
        size_t glen = (size_t)(colon - hl);
        if (!next_line(&p, &vl, &vlen)) {
            audit_err(errbuf, errlen, "%s/%s: line %u: %.*s: names without a line of values (truncated file)",
                      s->root, rel, lineno, (int)glen, hl);
            return -EINVAL;
        }
        lineno++;
        const char *vend = vl + vlen;
        if (vlen <= glen || memcmp(vl, hl, glen) != 0 || vl[glen] != ':') {
            audit_err(errbuf, errlen, "%s/%s: line %u: expected the values of %.*s", s->root,
                      rel, lineno, (int)glen, hl);
            return -EINVAL;
        }
        size_t nn = count_fields(colon + 1, hend), nv = count_fields(vl + glen + 1, vend);
        if (nn != nv) {
            audit_err(errbuf, errlen, "%s/%s: line %u: %.*s: %zu names but %zu values", s->root,
                      rel, lineno, (int)glen, hl, nn, nv);
            return -EINVAL;
        }
        const char *n = colon + 1, *v = vl + glen + 1;
        for (size_t k = 0; k < nn; k++) {
            while (*n == ' ' || *n == '\t')
                n++;
            const char *ne = n;
            while (ne < hend && *ne != ' ' && *ne != '\t')
                ne++;
            while (*v == ' ' || *v == '\t')
                v++;
            int64_t val;
            const char *ve = v;
            if (!read_i64(&ve, &val) || (ve < vend && *ve != ' ' && *ve != '\t')) {
                char q[24];
                quote_at(v, q, sizeof q);
                audit_err(errbuf, errlen, "%s/%s: line %u: %.*s %.*s: expected a number, found %s",
                          s->root, rel, lineno, (int)glen, hl, (int)(ne - n), n, q);
                return -EINVAL;
            }
            keep_counter(s, hl, glen, n, (size_t)(ne - n), val);
            n = ne;
            v = ve;
        }
    }
    return 0;
}

static int read_counters(audit_snapshot *s, const char *rel, char *errbuf, size_t errlen)
{
    char *text;
    size_t len;
    int rc = slurp(s->root, rel, &text, &len, errbuf, errlen);
    if (rc == -ENOENT) {
        audit_err(errbuf, errlen, "%s/%s: no such file (is %s a procfs root?)", s->root, rel,
                  s->root);
        return rc;
    }
    if (rc != 0)
        return rc;
    rc = parse_counters(s, rel, text, errbuf, errlen);
    free(text);
    return rc;
}

static int read_kernel(audit_snapshot *s, char *errbuf, size_t errlen)
{
    char *text;
    size_t len;
    int rc = slurp(s->root, "sys/kernel/osrelease", &text, &len, errbuf, errlen);
    if (rc == -ENOENT)
        return 0;
    if (rc != 0)
        return rc;
    s->kernel = trimmed_copy(text);
    free(text);
    return s->kernel ? 0 : -ENOMEM;
}

/* A hexadecimal number at *p (nf_conntrack's per-CPU statistics); advances *p. */
static bool read_hex(const char **p, uint64_t *v)
{
    const char *q = *p;
    uint64_t acc = 0;
    int n = 0;
    for (;; q++, n++) {
        unsigned d;
        if (*q >= '0' && *q <= '9')
            d = (unsigned)(*q - '0');
        else if (*q >= 'a' && *q <= 'f')
            d = (unsigned)(*q - 'a' + 10);
        else if (*q >= 'A' && *q <= 'F')
            d = (unsigned)(*q - 'A' + 10);
        else
            break;
        if (n == 16)
            return false;
        acc = acc << 4 | d;
    }
    if (n == 0 || (*q != '\0' && *q != ' ' && *q != '\t' && *q != '\n'))
        return false;
    *v = acc;
    *p = q;
    return true;
}

/*
 * net/stat/nf_conntrack: a line of column names, then one line of hex
 * values per CPU (ct_cpu_seq_show).  Optional: absent without nf_conntrack.
 * drop, early_drop and insert_failed are summed over the CPUs.
 */
static int read_ct_stats(audit_snapshot *s, char *errbuf, size_t errlen)
{
    static const char rel[] = "net/stat/nf_conntrack";
    static const struct { const char *name; enum audit_counter_id id; } cols[] = {
        { "drop", AC_CT_DROP }, { "early_drop", AC_CT_EARLY_DROP },
        { "insert_failed", AC_CT_INSERT_FAILED },
    };
    char *text;
    size_t len;
    int rc = slurp(s->root, rel, &text, &len, errbuf, errlen);
    if (rc == -ENOENT)
        return 0;
    if (rc != 0)
        return rc;
    const char *p = text, *hl, *vl;
    size_t hlen, vlen;
    int col_of[3] = { -1, -1, -1 };
    uint64_t sum[3] = { 0, 0, 0 };
    unsigned lineno = 1;
    if (!next_line(&p, &hl, &hlen)) {
        audit_err(errbuf, errlen, "%s/%s: line 1: expected the column names", s->root, rel);
        rc = -EINVAL;
        goto out;
    }
    size_t ncol = count_fields(hl, hl + hlen);
    const char *n = hl;
    for (size_t k = 0; k < ncol; k++) {
        while (*n == ' ' || *n == '\t')
            n++;
        const char *ne = n;
        while (ne < hl + hlen && *ne != ' ' && *ne != '\t')
            ne++;
        for (int c = 0; c < 3; c++)
            if (strlen(cols[c].name) == (size_t)(ne - n) && memcmp(cols[c].name, n, (size_t)(ne - n)) == 0)
                col_of[c] = (int)k;
        n = ne;
    }
    while (next_line(&p, &vl, &vlen)) {
        lineno++;
        if (vlen == 0)
            continue;
        size_t nv = count_fields(vl, vl + vlen);
        if (nv != ncol) {
            audit_err(errbuf, errlen, "%s/%s: line %u: %zu values but %zu column names", s->root,
                      rel, lineno, nv, ncol);
            rc = -EINVAL;
            goto out;
        }
        const char *v = vl;
        for (size_t k = 0; k < nv; k++) {
            v = skip_blank(v);
            uint64_t x;
            if (!read_hex(&v, &x)) {
                char q[24];
                quote_at(v, q, sizeof q);
                audit_err(errbuf, errlen, "%s/%s: line %u: column %zu: expected a hexadecimal number, found %s",
                          s->root, rel, lineno, k + 1, q);
                rc = -EINVAL;
                goto out;
            }
            for (int c = 0; c < 3; c++)
                if (col_of[c] == (int)k)
                    sum[c] += x;
        }
    }
    for (int c = 0; c < 3; c++) {
        if (col_of[c] < 0)
            continue;
        s->counters[cols[c].id].present = true;
        s->counters[cols[c].id].value = sum[c] > INT64_MAX ? INT64_MAX : (int64_t)sum[c];
    }
out:
    free(text);
    return rc;
}

int audit_read_procfs(audit_snapshot *s, const char *root, char *errbuf, size_t errlen)
{
    struct stat sb;
    free(s->root);
    if ((s->root = strdup(root)) == NULL)
        return -ENOMEM;
    if (stat(root, &sb) != 0) {
        int e = errno;
        audit_err(errbuf, errlen, "%s: %s", root, strerror(e));
        return -e;
    }
    if (!S_ISDIR(sb.st_mode)) {
        audit_err(errbuf, errlen, "%s: not a directory (--root takes a procfs tree)", root);
        return -ENOTDIR;
    }
    int rc = read_kernel(s, errbuf, errlen);
    for (int i = 0; rc == 0 && i < AS_COUNT; i++)
        rc = read_sysctl(s, (enum audit_sysctl_id)i, errbuf, errlen);
    if (rc == 0)
        rc = read_counters(s, "net/netstat", errbuf, errlen);
    if (rc == 0)
        rc = read_counters(s, "net/snmp", errbuf, errlen);
    if (rc == 0)
        rc = read_ct_stats(s, errbuf, errlen);
    const audit_sysctl *r = &s->sysctls[AS_PORT_RANGE];
    if (r->present) {
        s->port_lo = (uint32_t)r->value;
        s->port_hi = (uint32_t)r->value2;
    }
    audit_ports_update(s);
    s->procfs_read = rc == 0;
    return rc;
}

void audit_defs_init(audit_snapshot *s)
{
    for (int i = 0; i < AS_COUNT; i++) {
        s->sysctls[i].name = sysctl_defs[i].name;
        s->sysctls[i].path = sysctl_defs[i].path;
        s->sysctls[i].meaning = sysctl_defs[i].meaning;
    }
    for (int i = 0; i < AC_COUNT; i++) {
        s->counters[i].group = counter_defs[i].group;
        s->counters[i].name = counter_defs[i].name;
        s->counters[i].meaning = counter_defs[i].meaning;
    }
}
