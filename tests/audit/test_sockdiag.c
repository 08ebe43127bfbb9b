/* test_sockdiag.c - the sock_diag dump parser and the per-destination summary, on a real recorded dump and on messages built with libmnl. */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <libmnl/libmnl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>

#include "tcpdoctor/audit.h"
#include "tcpdoctor/diagnose.h"

#ifndef FIXTURES
#error "FIXTURES (tests/data/procfs) must be defined by the build"
#endif

/* include/net/tcp_states.h */
enum { ESTABLISHED = 1, SYN_SENT = 2, TIME_WAIT = 6, LISTEN = 10 };

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    unsigned char *b = malloc(1 << 20);
    assert_non_null(b);
    *len = fread(b, 1, 1 << 20, f);
    fclose(f);
    return b;
}

static audit_snapshot *snapshot_for(const char *fixture)
{
    audit_snapshot *s = audit_snapshot_new();
    assert_non_null(s);
    if (fixture != NULL) {
        char root[512], err[256];
        snprintf(root, sizeof root, "%s/%s", FIXTURES, fixture);
        if (audit_read_procfs(s, root, err, sizeof err) != 0)
            fail_msg("%s", err);
    }
    return s;
}

/* The dump recorded by tests/audit/run-netns --regen: a client with
 * ip_local_port_range 40000 40007 after 8 connections it closed first. */
static void recorded_dump_of_a_narrow_client_has_no_headroom(void **state)
{
    (void)state;
    char path[512], err[256];
    size_t len;
    snprintf(path, sizeof path, "%s/narrow-client/sock_diag", FIXTURES);
    unsigned char *buf = slurp(path, &len);
    audit_snapshot *s = snapshot_for("narrow-client");
    if (audit_parse_dump(s, buf, len, err, sizeof err) != 0)
        fail_msg("%s", err);
    const audit_socket_stats *st = audit_sockets(s);
    assert_true(st->dumped);
    assert_int_equal(st->total, 8);
    assert_int_equal(st->v4, 8);
    assert_int_equal(st->by_state[TIME_WAIT], 8);
    assert_int_equal(st->destinations, 1);
    /* 8 TIME_WAIT messages and an NLMSG_DONE for each family */
    assert_int_equal(st->messages, 10);
    size_t n;
    const audit_dest *d = audit_destinations(s, &n);
    assert_int_equal(n, 1);
    char a[PKT_ADDR_STRLEN];
    assert_string_equal(pkt_addr_str(&d->local, a, sizeof a), "10.68.1.2");
    assert_string_equal(pkt_addr_str(&d->remote, a, sizeof a), "10.68.1.1");
    assert_int_equal(d->remote_port, 8012);
    assert_int_equal(d->timewait, 8);
    assert_int_equal(d->ports_used, 8);
    assert_int_equal(d->usable, 8);
    assert_int_equal(d->headroom, 0);
    assert_true(d->tw_min_ms > 50000 && d->tw_min_ms <= d->tw_max_ms && d->tw_max_ms <= 60000);
    audit_snapshot_free(s);
    free(buf);
}

/* Every prefix of the real dump: parsed, or refused naming the message; never a crash. */
static void recorded_dump_truncated_at_every_length(void **state)
{
    (void)state;
    char path[512];
    size_t len;
    snprintf(path, sizeof path, "%s/narrow-client/sock_diag", FIXTURES);
    unsigned char *full = slurp(path, &len);
    size_t ok = 0;
    for (size_t n = 0; n <= len; n++) {
        unsigned char *b = malloc(n ? n : 1);      /* exact size: ASan sees any over-read */
        memcpy(b, full, n);
        audit_snapshot *s = snapshot_for(NULL);
        char err[256] = "";
        int rc = audit_parse_dump(s, b, n, err, sizeof err);
        if (rc == 0) {
            ok++;
        } else {
            assert_int_equal(rc, -EINVAL);
            if (strncmp(err, "sock_diag: message ", 19) != 0)
                fail_msg("length %zu: \"%s\"", n, err);
        }
        audit_snapshot_free(s);
        free(b);
    }
    /* whole messages only: 0 bytes, and each of the 10 message ends */
    assert_int_equal(ok, 11);
    free(full);
}

/* ---- messages built with libmnl's builders ----------------------------------- */

typedef struct msgbuf {
    unsigned char b[8192];
    size_t len;
} msgbuf;

static struct nlmsghdr *sock_msg(msgbuf *m, int family, int state, const char *src,
                                 uint16_t sport, const char *dst, uint16_t dport,
                                 uint32_t expires)
{
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(m->b + m->len);
    nlh->nlmsg_type = SOCK_DIAG_BY_FAMILY;
    nlh->nlmsg_flags = NLM_F_MULTI;
    struct inet_diag_msg *d = mnl_nlmsg_put_extra_header(nlh, sizeof *d);
    d->idiag_family = (uint8_t)family;
    d->idiag_state = (uint8_t)state;
    d->id.idiag_sport = htons(sport);
    d->id.idiag_dport = htons(dport);
    assert_int_equal(inet_pton(family, src, d->id.idiag_src), 1);
    assert_int_equal(inet_pton(family, dst, d->id.idiag_dst), 1);
    d->idiag_expires = expires;
    return nlh;
}

static void done(msgbuf *m, struct nlmsghdr *nlh)
{
    m->len += nlh->nlmsg_len;
}

static void done_msg(msgbuf *m)
{
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(m->b + m->len);
    nlh->nlmsg_type = NLMSG_DONE;
    nlh->nlmsg_flags = NLM_F_MULTI;
    int *err = mnl_nlmsg_put_extra_header(nlh, sizeof *err);
    *err = 0;
    done(m, nlh);
}

static int parse(audit_snapshot *s, const msgbuf *m, char *err, size_t errlen)
{
    unsigned char *b = malloc(m->len ? m->len : 1);
    memcpy(b, m->b, m->len);
    int rc = audit_parse_dump(s, b, m->len, err, errlen);
    free(b);
    return rc;
}

static void ipv6_and_mapped_ipv4_meet_at_one_destination(void **state)
{
    (void)state;
    msgbuf m = { .len = 0 };
    /* an IPv4 socket and an IPv6 socket carrying IPv4 (::ffff:) toward one server */
    done(&m, sock_msg(&m, AF_INET, TIME_WAIT, "10.0.0.1", 33000, "10.0.0.9", 80, 30000));
    struct nlmsghdr *nlh = sock_msg(&m, AF_INET6, ESTABLISHED, "::ffff:10.0.0.1", 33002,
                                    "::ffff:10.0.0.9", 80, 0);
    mnl_attr_put_u8(nlh, INET_DIAG_SHUTDOWN, 0);
    mnl_attr_put_u64(nlh, INET_DIAG_CGROUP_ID, 77);
    done(&m, nlh);
    done(&m, sock_msg(&m, AF_INET6, SYN_SENT, "2001:db8::1", 40000, "2001:db8::9", 443, 900));
    done_msg(&m);
    audit_snapshot *s = snapshot_for("healthy");
    char err[256];
    if (parse(s, &m, err, sizeof err) != 0)
        fail_msg("%s", err);
    const audit_socket_stats *st = audit_sockets(s);
    assert_int_equal(st->total, 3);
    assert_int_equal(st->v4, 1);
    assert_int_equal(st->v6, 2);
    assert_int_equal(st->destinations, 2);
    size_t n;
    const audit_dest *d = audit_destinations(s, &n);
    assert_int_equal(n, 2);
    char a[PKT_ADDR_STRLEN];
    /* most TIME_WAIT first */
    assert_string_equal(pkt_addr_str(&d[0].remote, a, sizeof a), "10.0.0.9");
    assert_int_equal(d[0].sockets, 2);
    assert_int_equal(d[0].timewait, 1);
    assert_int_equal(d[0].tw_min_ms, 30000);
    assert_int_equal(d[0].ports_used, 2);
    assert_int_equal(d[0].headroom, 28232 - 2);
    assert_string_equal(pkt_addr_str(&d[1].remote, a, sizeof a), "2001:db8::9");
    assert_int_equal(d[1].remote_port, 443);
    assert_int_equal(d[1].headroom, 28232 - 1);
    audit_snapshot_free(s);
}

static void accepted_connections_and_listeners_in_the_range(void **state)
{
    (void)state;
    msgbuf m = { .len = 0 };
    /* a listener on 0.0.0.0:8080 (outside the range) with two accepted
     * connections, and one on 10.0.0.1:40001 inside a 40000-40007 range */
    done(&m, sock_msg(&m, AF_INET, LISTEN, "0.0.0.0", 8080, "0.0.0.0", 0, 0));
    done(&m, sock_msg(&m, AF_INET, ESTABLISHED, "10.0.0.1", 8080, "10.0.0.5", 51000, 0));
    done(&m, sock_msg(&m, AF_INET, TIME_WAIT, "10.0.0.1", 8080, "10.0.0.6", 51000, 100));
    done(&m, sock_msg(&m, AF_INET, LISTEN, "10.0.0.1", 40001, "0.0.0.0", 0, 0));
    done(&m, sock_msg(&m, AF_INET, ESTABLISHED, "10.0.0.1", 40000, "10.0.0.9", 80, 0));
    done(&m, sock_msg(&m, AF_INET, ESTABLISHED, "10.0.0.2", 40000, "10.0.0.9", 80, 0));
    done_msg(&m);
    audit_snapshot *s = snapshot_for("narrow-client");      /* 40000-40007 */
    char err[256];
    if (parse(s, &m, err, sizeof err) != 0)
        fail_msg("%s", err);
    const audit_socket_stats *st = audit_sockets(s);
    assert_int_equal(st->total, 6);
    assert_int_equal(st->by_state[LISTEN], 2);
    assert_int_equal(st->passive, 2);
    assert_int_equal(st->destinations, 2);
    size_t n;
    const audit_dest *d = audit_destinations(s, &n);
    assert_int_equal(n, 2);
    char a[PKT_ADDR_STRLEN];
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(d[i].remote_port, 80);
        assert_int_equal(d[i].ports_used, 1);
        if (strcmp(pkt_addr_str(&d[i].local, a, sizeof a), "10.0.0.1") == 0) {
            /* 40001 is listened on at 10.0.0.1: 7 usable, 6 left */
            assert_int_equal(d[i].usable, 7);
            assert_int_equal(d[i].headroom, 6);
        } else {
            assert_int_equal(d[i].usable, 8);
            assert_int_equal(d[i].headroom, 7);
        }
    }
    audit_snapshot_free(s);
}

/* Thousands of specific-address listeners and tens of thousands of
 * destinations: every count exact, and the summary does not go quadratic
 * (an index scanned per socket would take minutes here; it takes ms). */
static void many_listeners_and_destinations(void **state)
{
    (void)state;
    enum { LISTENERS = 4000, ACCEPTED = 20000, OUTGOING = 60000 };
    size_t cap = (size_t)(LISTENERS + ACCEPTED + OUTGOING + 1) * 96;
    unsigned char *buf = malloc(cap);
    assert_non_null(buf);
    size_t len = 0;
    char src[64], dst[64];
    for (int i = 0; i < LISTENERS + ACCEPTED + OUTGOING; i++) {
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf + len);
        nlh->nlmsg_type = SOCK_DIAG_BY_FAMILY;
        struct inet_diag_msg *d = mnl_nlmsg_put_extra_header(nlh, sizeof *d);
        d->idiag_family = AF_INET;
        if (i < LISTENERS) {                    /* 10.1.x.y:443, one per address */
            d->idiag_state = LISTEN;
            snprintf(src, sizeof src, "10.1.%d.%d", i / 250, 1 + i % 250);
            snprintf(dst, sizeof dst, "0.0.0.0");
            d->id.idiag_sport = htons(443);
        } else if (i < LISTENERS + ACCEPTED) {  /* accepted on one of them */
            int k = i - LISTENERS;
            d->idiag_state = ESTABLISHED;
            snprintf(src, sizeof src, "10.1.%d.%d", (k % LISTENERS) / 250, 1 + (k % LISTENERS) % 250);
            snprintf(dst, sizeof dst, "192.168.%d.%d", k / 250, 1 + k % 250);
            d->id.idiag_sport = htons(443);
            d->id.idiag_dport = htons(50000);
        } else {                                /* outgoing, one destination each */
            int k = i - LISTENERS - ACCEPTED;
            d->idiag_state = TIME_WAIT;
            d->idiag_expires = 1000 + (uint32_t)k;
            snprintf(src, sizeof src, "10.1.%d.%d", (k % LISTENERS) / 250, 1 + (k % LISTENERS) % 250);
            snprintf(dst, sizeof dst, "172.16.%d.%d", k / 250, 1 + k % 250);
            d->id.idiag_sport = htons((uint16_t)(40000 + k % 8));
            d->id.idiag_dport = htons(80);
        }
        assert_int_equal(inet_pton(AF_INET, src, d->id.idiag_src), 1);
        assert_int_equal(inet_pton(AF_INET, dst, d->id.idiag_dst), 1);
        len += nlh->nlmsg_len;
        assert_true(len <= cap);
    }
    audit_snapshot *s = snapshot_for("narrow-client");      /* 40000-40007 */
    char err[256];
    if (audit_parse_dump(s, buf, len, err, sizeof err) != 0)
        fail_msg("%s", err);
    const audit_socket_stats *st = audit_sockets(s);
    assert_int_equal(st->total, LISTENERS + ACCEPTED + OUTGOING);
    assert_int_equal(st->passive, ACCEPTED);
    assert_int_equal(st->destinations, OUTGOING);
    assert_int_equal(st->by_state[TIME_WAIT], OUTGOING);
    size_t n;
    const audit_dest *d = audit_destinations(s, &n);
    assert_int_equal(n, OUTGOING);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(d[i].timewait, 1);
        assert_int_equal(d[i].usable, 8);       /* 443 is outside the range */
        assert_int_equal(d[i].headroom, 7);
    }
    /* most TIME_WAIT first, then by address: the first is 10.1.0.1 -> 172.16.0.1 */
    char a[PKT_ADDR_STRLEN];
    assert_string_equal(pkt_addr_str(&d[0].remote, a, sizeof a), "172.16.0.1");
    print_message("%d sockets summarised in %.3f s\n", LISTENERS + ACCEPTED + OUTGOING, st->dump_s);
    assert_true(st->dump_s < 5.0);
    audit_snapshot_free(s);
    free(buf);
}

/* `n` TIME_WAIT sockets from 10.0.0.1, ports from 32768 up, to 10.0.0.9:80. */
static unsigned char *timewait_dump(int n, size_t *len)
{
    unsigned char *buf = malloc((size_t)n * 96 + 1);
    assert_non_null(buf);
    *len = 0;
    for (int i = 0; i < n; i++) {
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf + *len);
        nlh->nlmsg_type = SOCK_DIAG_BY_FAMILY;
        struct inet_diag_msg *d = mnl_nlmsg_put_extra_header(nlh, sizeof *d);
        d->idiag_family = AF_INET;
        d->idiag_state = TIME_WAIT;
        d->idiag_expires = 5000 + (uint32_t)i;
        d->id.idiag_sport = htons((uint16_t)(32768 + i));
        d->id.idiag_dport = htons(80);
        d->id.idiag_src[0] = htonl(0x0a000001);
        d->id.idiag_dst[0] = htonl(0x0a000009);
        *len += nlh->nlmsg_len;
    }
    return buf;
}

static const diag_finding *find(const diag_findings *fs, const char *id, bool with_subject)
{
    for (size_t i = 0; i < fs->n; i++)
        if (strcmp(fs->v[i].id, id) == 0 && fs->v[i].has_server == with_subject)
            return &fs->v[i];
    fail_msg("no %s finding (subject: %d)", id, with_subject);
    return NULL;
}

/* 25 500 of 28 232 ports held: 2 732 left, under 10 %: a risk, not yet a failure. */
static void nearly_full_destination_is_a_risk(void **state)
{
    (void)state;
    size_t len;
    unsigned char *buf = timewait_dump(25500, &len);
    audit_snapshot *s = snapshot_for("healthy");
    char err[256];
    if (audit_parse_dump(s, buf, len, err, sizeof err) != 0)
        fail_msg("%s", err);
    diag_findings fs;
    assert_int_equal(audit_findings(s, &fs), 0);
    assert_int_equal(fs.n, 2);
    const diag_finding *pe = find(&fs, "port-exhaustion", true);
    assert_int_equal(pe->severity, DIAG_WARNING);
    assert_true(diag_param_get(pe, "headroom")->value == 2732);
    assert_true(diag_param_get(pe, "usable_ports")->value == 28232);
    assert_true(diag_param_get(pe, "next_free_s")->value == 5.0);
    assert_true(diag_param_get(pe, "all_timewait_free_s")->value == 30.499);
    const diag_finding *ta = find(&fs, "timewait-accumulation", true);
    assert_int_equal(ta->severity, DIAG_WARNING);
    assert_true(diag_param_get(ta, "timewait")->value == 25500);
    diag_findings_free(&fs);
    audit_snapshot_free(s);
    free(buf);
}

/* 2 822 left of 28 232 is 9.996 %: a warning; 2 824 left is not. */
static void risk_threshold_is_ten_percent(void **state)
{
    (void)state;
    static const struct { int n; size_t findings; } cases[] = {
        { 28232 - 2822, 2 }, { 28232 - 2824, 1 },
    };
    for (size_t c = 0; c < 2; c++) {
        size_t len;
        unsigned char *buf = timewait_dump(cases[c].n, &len);
        audit_snapshot *s = snapshot_for("healthy");
        char err[256];
        if (audit_parse_dump(s, buf, len, err, sizeof err) != 0)
            fail_msg("%s", err);
        diag_findings fs;
        assert_int_equal(audit_findings(s, &fs), 0);
        if (fs.n != cases[c].findings)
            fail_msg("%d TIME_WAIT: %zu findings, expected %zu", cases[c].n, fs.n, cases[c].findings);
        diag_findings_free(&fs);
        audit_snapshot_free(s);
        free(buf);
    }
}

static void expect_refused(msgbuf *m, const char *want)
{
    audit_snapshot *s = snapshot_for(NULL);
    char err[256] = "";
    int rc = parse(s, m, err, sizeof err);
    if (rc != -EINVAL || strstr(err, want) == NULL)
        fail_msg("rc %d \"%s\", expected -EINVAL and \"%s\"", rc, err, want);
    audit_snapshot_free(s);
}

static void attribute_longer_than_its_message_is_refused(void **state)
{
    (void)state;
    msgbuf m = { .len = 0 };
    done(&m, sock_msg(&m, AF_INET, ESTABLISHED, "10.0.0.1", 40000, "10.0.0.9", 80, 0));
    struct nlmsghdr *nlh = sock_msg(&m, AF_INET, ESTABLISHED, "10.0.0.1", 40002, "10.0.0.9", 80, 0);
    struct nlattr *a = mnl_attr_nest_start(nlh, INET_DIAG_INFO);
    mnl_attr_put_u32(nlh, 1, 5);
    mnl_attr_nest_end(nlh, a);
    a->nla_len = (uint16_t)(a->nla_len + 40);      /* claims 40 bytes the message lacks */
    done(&m, nlh);
    expect_refused(&m, "sock_diag: message 2: attribute type 2: length 52 outside 4..12");
}

static void fixed_size_attribute_of_the_wrong_size_is_refused(void **state)
{
    (void)state;
    msgbuf m = { .len = 0 };
    struct nlmsghdr *nlh = sock_msg(&m, AF_INET, ESTABLISHED, "10.0.0.1", 40000, "10.0.0.9", 80, 0);
    mnl_attr_put_u32(nlh, INET_DIAG_CGROUP_ID, 1);    /* a u64 attribute with 4 bytes */
    done(&m, nlh);
    expect_refused(&m, "sock_diag: message 1: attribute type 21: length 8 is not its fixed size");
}

static void truncated_attribute_header_is_refused(void **state)
{
    (void)state;
    msgbuf m = { .len = 0 };
    struct nlmsghdr *nlh = sock_msg(&m, AF_INET, ESTABLISHED, "10.0.0.1", 40000, "10.0.0.9", 80, 0);
    nlh->nlmsg_len += 2;        /* two stray bytes after the inet_diag_msg */
    done(&m, nlh);
    expect_refused(&m, "sock_diag: message 1: truncated attribute header (2 bytes left)");
}

static void bad_family_state_and_short_body_are_refused(void **state)
{
    (void)state;
    msgbuf m = { .len = 0 };
    struct nlmsghdr *nlh = sock_msg(&m, AF_INET, ESTABLISHED, "10.0.0.1", 1, "10.0.0.9", 80, 0);
    ((struct inet_diag_msg *)mnl_nlmsg_get_payload(nlh))->idiag_family = 7;
    done(&m, nlh);
    expect_refused(&m, "sock_diag: message 1: idiag_family 7 is neither AF_INET nor AF_INET6");

    m.len = 0;
    done(&m, sock_msg(&m, AF_INET, 13, "10.0.0.1", 1, "10.0.0.9", 80, 0));
    expect_refused(&m, "sock_diag: message 1: idiag_state 13 is not a TCP state");

    m.len = 0;
    nlh = sock_msg(&m, AF_INET, ESTABLISHED, "10.0.0.1", 1, "10.0.0.9", 80, 0);
    nlh->nlmsg_len = NLMSG_HDRLEN + 20;
    done(&m, nlh);
    expect_refused(&m, "sock_diag: message 1: inet_diag_msg truncated: 20 of 72 bytes");

    m.len = 0;
    nlh = sock_msg(&m, AF_INET, ESTABLISHED, "10.0.0.1", 1, "10.0.0.9", 80, 0);
    nlh->nlmsg_type = 99;
    done(&m, nlh);
    expect_refused(&m, "sock_diag: message 1: type 99 is not SOCK_DIAG_BY_FAMILY (20)");
}

static void message_length_beyond_the_buffer_is_refused(void **state)
{
    (void)state;
    msgbuf m = { .len = 0 };
    done(&m, sock_msg(&m, AF_INET, ESTABLISHED, "10.0.0.1", 40000, "10.0.0.9", 80, 0));
    struct nlmsghdr *nlh = sock_msg(&m, AF_INET, ESTABLISHED, "10.0.0.1", 40002, "10.0.0.9", 80, 0);
    done(&m, nlh);
    nlh->nlmsg_len = 4000;
    expect_refused(&m, "sock_diag: message 2: length 4000 outside 16..88");
}

static void kernel_error_message_is_reported(void **state)
{
    (void)state;
    msgbuf m = { .len = 0 };
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(m.b);
    nlh->nlmsg_type = NLMSG_ERROR;
    struct nlmsgerr *e = mnl_nlmsg_put_extra_header(nlh, sizeof *e);
    e->error = -EPERM;
    done(&m, nlh);
    audit_snapshot *s = snapshot_for(NULL);
    char err[256] = "";
    int rc = parse(s, &m, err, sizeof err);
    assert_int_equal(rc, -EPERM);
    assert_string_equal(err, "sock_diag: message 1: the kernel refused the dump: Operation not permitted");
    audit_snapshot_free(s);
}

/* One established socket, then an NLMSG_DONE whose error field is err. */
static void one_socket_then_done(msgbuf *m, int err)
{
    done(m, sock_msg(m, AF_INET, ESTABLISHED, "10.0.0.1", 40000, "10.0.0.9", 80, 0));
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(m->b + m->len);
    nlh->nlmsg_type = NLMSG_DONE;
    int *e = mnl_nlmsg_put_extra_header(nlh, sizeof *e);
    *e = err;
    done(m, nlh);
}

static void dump_ended_by_an_error_is_reported(void **state)
{
    (void)state;
    msgbuf m = { .len = 0 };
    one_socket_then_done(&m, -ENOBUFS);
    audit_snapshot *s = snapshot_for(NULL);
    char err[256] = "";
    assert_int_equal(parse(s, &m, err, sizeof err), -ENOBUFS);
    assert_string_equal(err, "sock_diag: message 2: the kernel ended the dump with an error: No buffer space available");
    audit_snapshot_free(s);
}

/* Found by fuzz_sockdiag: an error code no errno can be (negating INT_MIN overflowed). */
static void done_with_an_impossible_error_code_is_refused(void **state)
{
    (void)state;
    msgbuf m = { .len = 0 };
    one_socket_then_done(&m, INT_MIN);
    audit_snapshot *s = snapshot_for(NULL);
    char err[256] = "";
    assert_int_equal(parse(s, &m, err, sizeof err), -EINVAL);
    assert_string_equal(err, "sock_diag: message 2: NLMSG_DONE error code -2147483648 is not an errno");
    audit_snapshot_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(recorded_dump_of_a_narrow_client_has_no_headroom),
        cmocka_unit_test(recorded_dump_truncated_at_every_length),
        cmocka_unit_test(ipv6_and_mapped_ipv4_meet_at_one_destination),
        cmocka_unit_test(accepted_connections_and_listeners_in_the_range),
        cmocka_unit_test(many_listeners_and_destinations),
        cmocka_unit_test(nearly_full_destination_is_a_risk),
        cmocka_unit_test(risk_threshold_is_ten_percent),
        cmocka_unit_test(attribute_longer_than_its_message_is_refused),
        cmocka_unit_test(fixed_size_attribute_of_the_wrong_size_is_refused),
        cmocka_unit_test(truncated_attribute_header_is_refused),
        cmocka_unit_test(bad_family_state_and_short_body_are_refused),
        cmocka_unit_test(message_length_beyond_the_buffer_is_refused),
        cmocka_unit_test(kernel_error_message_is_reported),
        cmocka_unit_test(dump_ended_by_an_error_is_reported),
        cmocka_unit_test(done_with_an_impossible_error_code_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
