/* sockdiag.c - dump every TCP socket of a network namespace over netlink sock_diag (libmnl) and parse the dump, every field checked. */

/* setns() and CLONE_NEWNET are Linux interfaces that glibc declares only
 * under _GNU_SOURCE; nothing else in this file uses a GNU extension. */
#define _GNU_SOURCE

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>

#include "audit/audit_internal.h"

/*
 * How it works.  One NETLINK_SOCK_DIAG socket; for AF_INET then AF_INET6 a
 * SOCK_DIAG_BY_FAMILY request (struct inet_diag_req_v2, protocol TCP, every
 * state bit set, no extensions) with NLM_F_DUMP.  The kernel
 * (net/ipv4/inet_diag.c inet_diag_dump_icsk) answers with multipart
 * messages, listeners first, then the established hash, whose buckets hold
 * full sockets, request sockets (NEW_SYN_RECV) and TIME_WAIT buckets
 * (inet_twsk_diag_fill: idiag_state is the substate, TIME_WAIT or
 * FIN_WAIT2; idiag_expires the milliseconds left on the timer).  Each recv()
 * datagram is parsed as it arrives (streaming, one buffer of DUMP_BUF bytes
 * whatever the socket count): the framing of every message is checked, then
 * each message goes through mnl_cb_run(), which checks the sequence number
 * and port id and turns NLMSG_ERROR / NLMSG_DONE into a result.  A socket
 * message is copied field by field out of the bytes (never cast), and its
 * attributes are walked with explicit length checks before libmnl
 * validates the fixed-size ones.
 *
 * IPv4 addresses are stored IPv4-mapped (pkt_addr), so an IPv6 socket
 * carrying IPv4 traffic (::ffff:a.b.c.d) meets its IPv4 peers in the
 * summary, as it does in the kernel's port allocator.
 *
 * Listening sockets are kept apart (they tell which sockets are accepted
 * connections, and they take ports from the ephemeral range); every other
 * socket is recorded in a compact array (44 bytes) that summary.c turns into
 * per-destination counts after the dump, so the result does not depend on
 * the order the kernel dumps in.
 *
 * Limits.  A dump is not atomic: sockets opened or closed while it runs
 * may be missed or seen twice (ss has the same limit).  Only TCP is dumped.
 * Raw bytes recorded with `raw` replay the dump exactly (tests, bug reports).
 */

#define DUMP_BUF (64 * 1024)    /* receive buffer; the kernel fills up to 32 KiB per datagram */

typedef struct dump_ctx {
    audit_snapshot *s;
    char   *errbuf;
    size_t  errlen;
    uint64_t msgno;             /* 1-based message number in the stream */
    int     rc;                 /* first fault (negative) */
} dump_ctx;

int audit_enter_netns(const char *name, char *errbuf, size_t errlen)
{
    char path[4096];
    if (name == NULL || *name == '\0' || strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
        audit_err(errbuf, errlen, "--netns: \"%s\" is not a namespace name", name ? name : "");
        return -EINVAL;
    }
    /* ip-netns(8) keeps named namespaces as bind mounts in /var/run/netns. */
    if (strchr(name, '/') != NULL)
        snprintf(path, sizeof path, "%s", name);
    else if ((size_t)snprintf(path, sizeof path, "/var/run/netns/%s", name) >= sizeof path) {
        audit_err(errbuf, errlen, "--netns: name too long");
        return -ENAMETOOLONG;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        audit_err(errbuf, errlen, "netns %s: %s: %s%s", name, path, strerror(e),
                  e == ENOENT ? " (`ip netns list` shows the names)" : "");
        return -e;
    }
    int rc = 0;
    if (setns(fd, CLONE_NEWNET) != 0) {
        rc = -errno;
        audit_err(errbuf, errlen, "netns %s: cannot enter it: %s%s", name, strerror(errno),
                  errno == EPERM ? " (needs CAP_SYS_ADMIN: run as root)" : "");
    }
    close(fd);
    return rc;
}

/* Bytes to an address: 4 bytes -> IPv4-mapped (RFC 4291 2.5.5.2), 16 as is. */
static void addr_from(pkt_addr *a, int family, const uint8_t *b)
{
    if (family == AF_INET) {
        memset(a->b, 0, 10);
        a->b[10] = 0xff;
        a->b[11] = 0xff;
        memcpy(a->b + 12, b, 4);
    } else {
        memcpy(a->b, b, 16);
    }
}

static int fault(dump_ctx *c, int rc, const char *what)
{
    if (c->rc == 0) {
        c->rc = rc;
        audit_err(c->errbuf, c->errlen, "sock_diag: message %llu: %s",
                  (unsigned long long)c->msgno, what);
    }
    return MNL_CB_ERROR;
}

/* Walk the attributes after the inet_diag_msg: every length is checked
 * against what is left before anything reads it; then libmnl validates the
 * fixed-size attributes this code knows. */
static int check_attrs(dump_ctx *c, const struct nlmsghdr *nlh, size_t off)
{
    const uint8_t *p = (const uint8_t *)nlh;
    size_t end = nlh->nlmsg_len;
    char what[128];
    while (off < end) {
        size_t left = end - off;
        if (left < sizeof(struct nlattr)) {
            snprintf(what, sizeof what, "truncated attribute header (%zu bytes left)", left);
            return fault(c, -EINVAL, what);
        }
        struct nlattr a;
        memcpy(&a, p + off, sizeof a);
        if (a.nla_len < sizeof(struct nlattr) || a.nla_len > left) {
            snprintf(what, sizeof what, "attribute type %u: length %u outside 4..%zu",
                     a.nla_type & NLA_TYPE_MASK, a.nla_len, left);
            return fault(c, -EINVAL, what);
        }
        /* Fixed sizes (net/ipv4/inet_diag.c inet_diag_msg_attrs_fill). */
        int type = a.nla_type & NLA_TYPE_MASK;
        enum mnl_attr_data_type dt = MNL_TYPE_UNSPEC;
        switch (type) {
        case INET_DIAG_SHUTDOWN: case INET_DIAG_TOS: case INET_DIAG_TCLASS:
        case INET_DIAG_PROTOCOL:
            dt = MNL_TYPE_U8;
            break;
        case INET_DIAG_MARK: case INET_DIAG_CLASS_ID:
            dt = MNL_TYPE_U32;
            break;
        case INET_DIAG_CGROUP_ID:
            dt = MNL_TYPE_U64;
            break;
        default:
            break;
        }
        if (dt != MNL_TYPE_UNSPEC &&
            mnl_attr_validate((const struct nlattr *)(const void *)(p + off), dt) < 0) {
            snprintf(what, sizeof what, "attribute type %d: length %u is not its fixed size",
                     type, a.nla_len);
            return fault(c, -EINVAL, what);
        }
        off += MNL_ALIGN(a.nla_len);
    }
    return MNL_CB_OK;
}

/* One SOCK_DIAG_BY_FAMILY message (mnl_cb_t). */
static int on_sock(const struct nlmsghdr *nlh, void *data)
{
    dump_ctx *c = data;
    char what[128];
    if (nlh->nlmsg_type != SOCK_DIAG_BY_FAMILY) {
        snprintf(what, sizeof what, "type %u is not SOCK_DIAG_BY_FAMILY (%u)",
                 nlh->nlmsg_type, SOCK_DIAG_BY_FAMILY);
        return fault(c, -EINVAL, what);
    }
    size_t plen = mnl_nlmsg_get_payload_len(nlh);
    struct inet_diag_msg m;
    if (plen < sizeof m) {
        snprintf(what, sizeof what, "inet_diag_msg truncated: %zu of %zu bytes", plen, sizeof m);
        return fault(c, -EINVAL, what);
    }
    memcpy(&m, mnl_nlmsg_get_payload(nlh), sizeof m);
    if (m.idiag_family != AF_INET && m.idiag_family != AF_INET6) {
        snprintf(what, sizeof what, "idiag_family %u is neither AF_INET nor AF_INET6",
                 m.idiag_family);
        return fault(c, -EINVAL, what);
    }
    /* include/net/tcp_states.h: TCP_ESTABLISHED (1) .. TCP_NEW_SYN_RECV (12). */
    if (m.idiag_state == 0 || m.idiag_state >= AUDIT_NSTATES) {
        snprintf(what, sizeof what, "idiag_state %u is not a TCP state", m.idiag_state);
        return fault(c, -EINVAL, what);
    }
    int r = check_attrs(c, nlh, NLMSG_HDRLEN + MNL_ALIGN(sizeof m));
    if (r != MNL_CB_OK)
        return r;

    audit_sock k;
    addr_from(&k.local, m.idiag_family, (const uint8_t *)m.id.idiag_src);
    addr_from(&k.remote, m.idiag_family, (const uint8_t *)m.id.idiag_dst);
    k.local_port = ntohs(m.id.idiag_sport);
    k.remote_port = ntohs(m.id.idiag_dport);
    k.state = m.idiag_state;
    k.expires_ms = m.idiag_expires;
    audit_socket_stats *st = &c->s->st;
    st->total++;
    st->v4 += m.idiag_family == AF_INET;
    st->v6 += m.idiag_family == AF_INET6;
    st->by_state[k.state]++;
    if (audit_sock_add(c->s, &k) != 0)
        return fault(c, -ENOMEM, "out of memory");
    return MNL_CB_OK;
}

/*
 * Parse a buffer of whole netlink messages (one recv() datagram, or a
 * recorded dump).  seq/portid: what the messages must carry (0: anything).
 * Returns 1 when an NLMSG_DONE ended a dump, 0 to read on, negative on a
 * fault (errbuf set).
 */
static int parse_buffer(dump_ctx *c, const uint8_t *buf, size_t len, unsigned seq,
                        unsigned portid)
{
    size_t off = 0;
    int done = 0;
    while (off < len) {
        size_t left = len - off;
        struct nlmsghdr h;
        c->msgno++;
        if (left < sizeof h) {
            char what[96];
            snprintf(what, sizeof what, "truncated header (%zu bytes left)", left);
            fault(c, -EINVAL, what);
            return c->rc;
        }
        memcpy(&h, buf + off, sizeof h);
        if (h.nlmsg_len < sizeof h || h.nlmsg_len > left) {
            char what[96];
            snprintf(what, sizeof what, "length %u outside %zu..%zu", h.nlmsg_len, sizeof h, left);
            fault(c, -EINVAL, what);
            return c->rc;
        }
        /* net/netlink/af_netlink.c netlink_dump_done(): a dump that failed
         * part-way ends with NLMSG_DONE carrying the negative errno, which
         * mnl_cb_run() would take for a normal end. */
        if (h.nlmsg_type == NLMSG_DONE && h.nlmsg_len >= sizeof h + sizeof(int)) {
            int derr;
            memcpy(&derr, buf + off + sizeof h, sizeof derr);
            /* a kernel errno is -1..-4095 (include/linux/err.h MAX_ERRNO);
               anything else below 0 is a damaged message, not an errno */
            if (derr < 0 && derr >= -4095) {
                c->rc = derr;
                audit_err(c->errbuf, c->errlen, "sock_diag: message %llu: the kernel ended the dump with an error: %s",
                          (unsigned long long)c->msgno, strerror(-derr));
                return c->rc;
            }
            if (derr < 0) {
                char what[96];
                snprintf(what, sizeof what, "NLMSG_DONE error code %d is not an errno", derr);
                fault(c, -EINVAL, what);
                return c->rc;
            }
        }
        done = 0;
        errno = 0;
        int r = mnl_cb_run(buf + off, h.nlmsg_len, seq, portid, on_sock, c);
        if (r == MNL_CB_ERROR) {
            if (c->rc == 0) {
                int e = errno ? errno : EPROTO;
                /* libmnl negates the message's error field: only 1..4095 is
                   an errno (MAX_ERRNO); a damaged message can say anything */
                if (e < 0 || e > 4095)
                    e = EPROTO;
                c->rc = -e;
                audit_err(c->errbuf, c->errlen, "sock_diag: message %llu: %s%s",
                          (unsigned long long)c->msgno,
                          h.nlmsg_type == NLMSG_ERROR ? "the kernel refused the dump: " : "",
                          e == EINTR ? "dump interrupted (NLM_F_DUMP_INTR): try again"
                                     : strerror(e));
            }
            return c->rc;
        }
        if (r == MNL_CB_STOP)
            done = 1;
        off += MNL_ALIGN(h.nlmsg_len) < left ? MNL_ALIGN(h.nlmsg_len) : left;
    }
    return done;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int audit_parse_dump(audit_snapshot *s, const void *buf, size_t len, char *errbuf, size_t errlen)
{
    double t0 = now_s();
    dump_ctx c = { .s = s, .errbuf = errbuf, .errlen = errlen };
    int rc = parse_buffer(&c, buf, len, 0, 0);
    s->st.messages += c.msgno;
    if (rc < 0)
        return rc;
    s->st.dumped = true;
    if (audit_summarise(s) != 0)
        return -ENOMEM;
    s->st.dump_s = now_s() - t0;
    return 0;
}

/* Request a dump of one family and parse the answer as it arrives. */
static int dump_family(dump_ctx *c, struct mnl_socket *nl, uint8_t *buf, int family,
                       unsigned seq, FILE *raw)
{
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = SOCK_DIAG_BY_FAMILY;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    nlh->nlmsg_seq = seq;
    struct inet_diag_req_v2 *req = mnl_nlmsg_put_extra_header(nlh, sizeof *req);
    req->sdiag_family = (uint8_t)family;
    req->sdiag_protocol = IPPROTO_TCP;
    req->idiag_states = ~0u;    /* every state, TIME_WAIT and NEW_SYN_RECV included */
    if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
        c->rc = -errno;
        audit_err(c->errbuf, c->errlen, "sock_diag: send: %s", strerror(errno));
        return c->rc;
    }
    unsigned portid = mnl_socket_get_portid(nl);
    for (;;) {
        ssize_t n = mnl_socket_recvfrom(nl, buf, DUMP_BUF);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            c->rc = -errno;
            audit_err(c->errbuf, c->errlen, "sock_diag: receive: %s%s", strerror(errno),
                      errno == ENOSPC ? " (message larger than the buffer)" : "");
            return c->rc;
        }
        if (n == 0) {
            c->rc = -EPROTO;
            audit_err(c->errbuf, c->errlen, "sock_diag: the dump ended without NLMSG_DONE");
            return c->rc;
        }
        if (raw != NULL && fwrite(buf, 1, (size_t)n, raw) != (size_t)n) {
            c->rc = -EIO;
            audit_err(c->errbuf, c->errlen, "sock_diag: writing the raw dump: %s", strerror(errno));
            return c->rc;
        }
        int r = parse_buffer(c, buf, (size_t)n, seq, portid);
        if (r != 0)
            return r < 0 ? r : 0;
    }
}

int audit_dump_sockets(audit_snapshot *s, FILE *raw, char *errbuf, size_t errlen)
{
    double t0 = now_s();
    dump_ctx c = { .s = s, .errbuf = errbuf, .errlen = errlen };
    int rc = 0;
    uint8_t *buf = malloc(DUMP_BUF);
    if (buf == NULL)
        return -ENOMEM;
    struct mnl_socket *nl = mnl_socket_open(NETLINK_SOCK_DIAG);
    if (nl == NULL) {
        rc = -errno;
        audit_err(errbuf, errlen, "sock_diag: cannot open a netlink socket: %s", strerror(errno));
        goto out_free;
    }
    if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
        rc = -errno;
        audit_err(errbuf, errlen, "sock_diag: bind: %s", strerror(errno));
        goto out_close;
    }
    unsigned seq = (unsigned)time(NULL);
    rc = dump_family(&c, nl, buf, AF_INET, seq, raw);
    if (rc == 0)
        rc = dump_family(&c, nl, buf, AF_INET6, seq + 1, raw);
    s->st.messages += c.msgno;
    if (rc != 0)
        goto out_close;
    s->st.dumped = true;
    if (audit_summarise(s) != 0) {
        rc = -ENOMEM;
        audit_err(errbuf, errlen, "out of memory summarising the sockets");
        goto out_close;
    }
    s->st.dump_s = now_s() - t0;
out_close:
    mnl_socket_close(nl);
out_free:
    free(buf);
    return rc;
}
