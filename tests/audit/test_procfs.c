/* test_procfs.c - the procfs reader and the host findings on fixture trees (tests/data/procfs), and on damaged copies of them. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "tcpdoctor/audit.h"
#include "tcpdoctor/diagnose.h"

#ifndef FIXTURES
#error "FIXTURES (tests/data/procfs) must be defined by the build"
#endif

static audit_snapshot *read_fixture(const char *name, int want_rc, char *err, size_t errlen)
{
    char root[1024];
    snprintf(root, sizeof root, "%s/%s", FIXTURES, name);
    audit_snapshot *s = audit_snapshot_new();
    assert_non_null(s);
    err[0] = '\0';
    int rc = audit_read_procfs(s, root, err, errlen);
    if (rc != want_rc)
        fail_msg("%s: rc %d, expected %d (%s)", name, rc, want_rc, err);
    return s;
}

static const audit_sysctl *sysctl(const audit_snapshot *s, const char *name)
{
    size_t n;
    const audit_sysctl *v = audit_sysctls(s, &n);
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i].name, name) == 0)
            return &v[i];
    fail_msg("no sysctl %s", name);
    return NULL;
}

static const audit_counter *counter(const audit_snapshot *s, const char *name)
{
    size_t n;
    const audit_counter *v = audit_counters(s, &n);
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i].name, name) == 0)
            return &v[i];
    fail_msg("no counter %s", name);
    return NULL;
}

static const diag_finding *only(const diag_findings *fs, const char *id)
{
    const diag_finding *f = NULL;
    for (size_t i = 0; i < fs->n; i++) {
        if (strcmp(fs->v[i].id, id) == 0) {
            assert_null(f);
            f = &fs->v[i];
        }
    }
    if (f == NULL)
        fail_msg("no %s finding", id);
    return f;
}

static double param(const diag_finding *f, const char *name)
{
    const diag_param *p = diag_param_get(f, name);
    if (p == NULL)
        fail_msg("%s: no param %s", f->id, name);
    return p->value;
}

static void linux49_with_tw_recycle_and_paws_passive_is_tw_recycle_enabled(void **state)
{
    (void)state;
    char err[256];
    audit_snapshot *s = read_fixture("linux49-tw-recycle", 0, err, sizeof err);
    assert_string_equal(audit_kernel(s), "4.9.0-8-amd64");
    const audit_sysctl *r = sysctl(s, "tcp_tw_recycle");
    assert_true(r->present);
    assert_int_equal(r->value, 1);
    assert_false(sysctl(s, "tcp_tw_reuse_delay")->present);      /* 6.14+ only */
    const audit_sysctl *range = sysctl(s, "ip_local_port_range");
    assert_int_equal(range->value, 32768);
    assert_int_equal(range->value2, 61000);
    assert_string_equal(range->text, "32768 61000");
    assert_int_equal(audit_ephemeral_ports(s), 28233);
    assert_int_equal(counter(s, "PAWSPassive")->value, 4127);
    assert_int_equal(counter(s, "ListenDrops")->value, 4131);
    assert_int_equal(counter(s, "TWKilled")->value, 982111);
    assert_int_equal(counter(s, "AttemptFails")->value, 31);
    assert_false(counter(s, "PAWSTimewait")->present);           /* not in 4.9 */
    assert_false(audit_sockets(s)->dumped);

    diag_findings fs;
    assert_int_equal(audit_findings(s, &fs), 0);
    assert_int_equal(fs.n, 1);
    const diag_finding *f = only(&fs, "tw-recycle-enabled");
    assert_int_equal(f->severity, DIAG_ERROR);
    assert_int_equal(f->events, 4127);
    assert_true(param(f, "paws_passive") == 4127);
    assert_true(param(f, "listen_drops") == 4131);
    assert_true(param(f, "tw_recycle") == 1);
    assert_non_null(strstr(f->summary, "4127 SYNs"));
    assert_true(f->n_remedies >= 2);
    assert_non_null(strstr(f->remedies[0].action, "tcp_tw_recycle = 0"));
    diag_findings_free(&fs);
    audit_snapshot_free(s);
}

static void nat_near_conntrack_max_is_conntrack_pressure(void **state)
{
    (void)state;
    char err[256];
    audit_snapshot *s = read_fixture("nat-conntrack", 0, err, sizeof err);
    assert_int_equal(sysctl(s, "nf_conntrack_count")->value, 240000);
    assert_int_equal(sysctl(s, "nf_conntrack_max")->value, 262144);
    assert_false(sysctl(s, "tcp_tw_recycle")->present);
    diag_findings fs;
    assert_int_equal(audit_findings(s, &fs), 0);
    assert_int_equal(fs.n, 1);
    assert_int_equal(counter(s, "drop")->value, 541);          /* 0x1f3 + 0x2a */
    assert_int_equal(counter(s, "early_drop")->value, 21);
    assert_int_equal(counter(s, "insert_failed")->value, 3);
    const diag_finding *f = only(&fs, "conntrack-pressure");
    /* 91.6 % and drops counted: it has failed already */
    assert_int_equal(f->severity, DIAG_ERROR);
    assert_true(param(f, "drops") == 562);
    assert_true(param(f, "conntrack_count") == 240000);
    assert_true(param(f, "conntrack_max") == 262144);
    assert_true(param(f, "timeout_time_wait_s") == 30);
    assert_true(param(f, "timeout_established_s") == 432000);
    /* 30 s < a Linux server's 60 s TIME_WAIT: the mismatch is explained. */
    assert_non_null(strstr(f->explanation, "2MSL mismatch"));
    diag_findings_free(&fs);
    audit_snapshot_free(s);
}

static void healthy_host_has_no_finding(void **state)
{
    (void)state;
    char err[256];
    audit_snapshot *s = read_fixture("healthy", 0, err, sizeof err);
    /* 8080-8089 and 9100 are outside 32768-60999: nothing taken from the range. */
    assert_int_equal(audit_ephemeral_ports(s), 28232);
    assert_string_equal(sysctl(s, "ip_local_reserved_ports")->text, "8080-8089,9100");
    diag_findings fs;
    assert_int_equal(audit_findings(s, &fs), 0);
    assert_int_equal(fs.n, 0);
    diag_findings_free(&fs);
    audit_snapshot_free(s);
}

/* ---- damaged trees: a copy of `healthy` in a temporary directory ---------- */

typedef struct tree {
    char dir[256];
} tree;

static void put(const tree *t, const char *rel, const void *data, size_t len)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", t->dir, rel);
    /* parents */
    for (char *p = path + strlen(t->dir) + 1; (p = strchr(p, '/')) != NULL; p++) {
        *p = '\0';
        mkdir(path, 0755);
        *p = '/';
    }
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *b = malloc(1 << 16);
    assert_non_null(b);
    *len = fread(b, 1, 1 << 16, f);
    fclose(f);
    return b;
}

static void copy_from(const tree *t, const char *fixture, const char *rel)
{
    char path[512];
    size_t len;
    snprintf(path, sizeof path, "%s/%s/%s", FIXTURES, fixture, rel);
    char *b = slurp(path, &len);
    put(t, rel, b, len);
    free(b);
}

static const char *const healthy_files[] = {
    "net/netstat", "net/snmp", "sys/net/ipv4/tcp_tw_reuse", "sys/net/ipv4/tcp_timestamps",
    "sys/net/ipv4/ip_local_port_range", "sys/net/ipv4/ip_local_reserved_ports",
};

static void tree_new(tree *t)
{
    snprintf(t->dir, sizeof t->dir, "/tmp/tcpdoctor-test-procfs.XXXXXX");
    assert_non_null(mkdtemp(t->dir));
    for (size_t i = 0; i < sizeof healthy_files / sizeof healthy_files[0]; i++)
        copy_from(t, "healthy", healthy_files[i]);
}

static void tree_free(tree *t)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", t->dir);
    assert_int_equal(system(cmd), 0);
}

/* Read t and expect rc; when an error, the message must contain want. */
static void expect(const tree *t, int want_rc, const char *want)
{
    audit_snapshot *s = audit_snapshot_new();
    assert_non_null(s);
    char err[512] = "";
    int rc = audit_read_procfs(s, t->dir, err, sizeof err);
    if (rc != want_rc)
        fail_msg("rc %d, expected %d (%s)", rc, want_rc, err);
    if (want != NULL && strstr(err, want) == NULL)
        fail_msg("message \"%s\" does not contain \"%s\"", err, want);
    audit_snapshot_free(s);
}

static void sysctl_not_a_number_names_file_and_line(void **state)
{
    (void)state;
    tree t;
    tree_new(&t);
    put(&t, "sys/net/ipv4/tcp_tw_reuse", "two\n", 4);
    expect(&t, -EINVAL, "/sys/net/ipv4/tcp_tw_reuse: line 1: tcp_tw_reuse: expected a number, found \"two\"");
    put(&t, "sys/net/ipv4/tcp_tw_reuse", "", 0);
    expect(&t, -EINVAL, "tcp_tw_reuse: line 1: tcp_tw_reuse: expected a number, found the end of the line");
    put(&t, "sys/net/ipv4/tcp_tw_reuse", "1 2\n", 4);
    expect(&t, -EINVAL, "tcp_tw_reuse: line 1: tcp_tw_reuse: unexpected \"2\" after the value");
    put(&t, "sys/net/ipv4/tcp_tw_reuse", "1\n1\n", 4);
    expect(&t, -EINVAL, "tcp_tw_reuse: line 2: tcp_tw_reuse: one line expected");
    put(&t, "sys/net/ipv4/tcp_tw_reuse", "99999999999999999999\n", 21);
    expect(&t, -EINVAL, "expected a number");
    put(&t, "sys/net/ipv4/tcp_tw_reuse", "1\0\n", 3);
    expect(&t, -EINVAL, "contains a NUL byte");
    tree_free(&t);
}

static void port_range_must_be_a_range(void **state)
{
    (void)state;
    tree t;
    tree_new(&t);
    put(&t, "sys/net/ipv4/ip_local_port_range", "40000\n", 6);
    expect(&t, -EINVAL, "ip_local_port_range: line 1: ip_local_port_range: expected a second number");
    put(&t, "sys/net/ipv4/ip_local_port_range", "40000 30000\n", 12);
    expect(&t, -EINVAL, "40000 30000 is not a port range");
    put(&t, "sys/net/ipv4/ip_local_port_range", "0 70000\n", 8);
    expect(&t, -EINVAL, "is not a port range");
    put(&t, "sys/net/ipv4/ip_local_port_range", "40000 40007\n", 12);
    expect(&t, 0, NULL);
    tree_free(&t);
}

static void reserved_ports_are_taken_out_of_the_range(void **state)
{
    (void)state;
    tree t;
    tree_new(&t);
    put(&t, "sys/net/ipv4/ip_local_port_range", "40000 40007\n", 12);
    put(&t, "sys/net/ipv4/ip_local_reserved_ports", "40001-40003,40007,50000\n", 24);
    audit_snapshot *s = audit_snapshot_new();
    char err[256];
    assert_int_equal(audit_read_procfs(s, t.dir, err, sizeof err), 0);
    assert_int_equal(audit_ephemeral_ports(s), 4);     /* 40000, 40004-40006 */
    audit_snapshot_free(s);
    put(&t, "sys/net/ipv4/ip_local_reserved_ports", "40003-40001\n", 12);
    expect(&t, -EINVAL, "ip_local_reserved_ports: expected a port or a range PORT-PORT (0-65535), found \"40003-40001\"");
    put(&t, "sys/net/ipv4/ip_local_reserved_ports", "70000\n", 6);
    expect(&t, -EINVAL, "found \"70000\"");
    put(&t, "sys/net/ipv4/ip_local_reserved_ports", "1,\n", 3);
    expect(&t, -EINVAL, "found the end of the line");
    tree_free(&t);
}

static void netstat_names_without_values_names_the_line(void **state)
{
    (void)state;
    tree t;
    tree_new(&t);
    static const char lone[] = "TcpExt: TW PAWSPassive\nTcpExt: 1 2\nIpExt: InOctets\n";
    put(&t, "net/netstat", lone, sizeof lone - 1);
    expect(&t, -EINVAL, "/net/netstat: line 3: IpExt: names without a line of values (truncated file)");
    static const char fewer[] = "TcpExt: TW PAWSPassive ListenDrops\nTcpExt: 1 2\n";
    put(&t, "net/netstat", fewer, sizeof fewer - 1);
    expect(&t, -EINVAL, "/net/netstat: line 2: TcpExt: 3 names but 2 values");
    static const char other[] = "TcpExt: TW\nIpExt: 1\n";
    put(&t, "net/netstat", other, sizeof other - 1);
    expect(&t, -EINVAL, "/net/netstat: line 2: expected the values of TcpExt");
    static const char word[] = "TcpExt: TW PAWSPassive\nTcpExt: 1 x2\n";
    put(&t, "net/netstat", word, sizeof word - 1);
    expect(&t, -EINVAL, "/net/netstat: line 2: TcpExt PAWSPassive: expected a number, found \"x2\"");
    static const char nocolon[] = "garbage\n";
    put(&t, "net/netstat", nocolon, sizeof nocolon - 1);
    expect(&t, -EINVAL, "/net/netstat: line 1: expected \"Group: name ...\"");
    tree_free(&t);
}

static void missing_root_or_counters_file_is_an_error(void **state)
{
    (void)state;
    audit_snapshot *s = audit_snapshot_new();
    char err[512];
    assert_int_equal(audit_read_procfs(s, "/nonexistent/procfs", err, sizeof err), -ENOENT);
    assert_string_equal(err, "/nonexistent/procfs: No such file or directory");
    audit_snapshot_free(s);
    tree t;
    tree_new(&t);
    char path[512];
    snprintf(path, sizeof path, "%s/net/snmp", t.dir);
    assert_int_equal(unlink(path), 0);
    expect(&t, -ENOENT, "/net/snmp: no such file (is ");
    tree_free(&t);
}

/* Every prefix of the real netstat and snmp files: read fully or refused
 * with the file and line named, never a crash (run under ASan too). */
static void counters_truncated_at_every_length(void **state)
{
    (void)state;
    static const char *const files[] = { "net/netstat", "net/snmp" };
    for (size_t k = 0; k < 2; k++) {
        char path[512];
        size_t len;
        snprintf(path, sizeof path, "%s/linux49-tw-recycle/%s", FIXTURES, files[k]);
        char *full = slurp(path, &len);
        tree t;
        tree_new(&t);
        size_t ok = 0, refused = 0;
        for (size_t n = 0; n <= len; n++) {
            put(&t, files[k], full, n);
            audit_snapshot *s = audit_snapshot_new();
            char err[512] = "";
            int rc = audit_read_procfs(s, t.dir, err, sizeof err);
            if (rc == 0) {
                ok++;
            } else {
                refused++;
                assert_int_equal(rc, -EINVAL);
                char want[64];
                snprintf(want, sizeof want, "/%s: line ", files[k]);
                if (strstr(err, want) == NULL)
                    fail_msg("length %zu: \"%s\" does not name %s and a line", n, err, files[k]);
            }
            audit_snapshot_free(s);
        }
        /* Cuts at line ends (and inside the last number) read; the rest is refused. */
        assert_true(ok >= 2);
        assert_true(refused > len / 2);
        free(full);
        tree_free(&t);
    }
}

/* n TIME_WAIT messages (struct inet_diag_msg after a netlink header, built
 * by hand: this file does not use libmnl) from 10.0.0.1 to 10.0.0.<dst>:80. */
static unsigned char *tw_messages(int n, size_t *len)
{
    const size_t msg = 16 + 72;
    unsigned char *b = calloc((size_t)n, msg);
    assert_non_null(b);
    for (int i = 0; i < n; i++) {
        unsigned char *m = b + (size_t)i * msg;
        uint32_t l = (uint32_t)msg;
        uint16_t type = 20;                             /* SOCK_DIAG_BY_FAMILY */
        memcpy(m, &l, 4);
        memcpy(m + 4, &type, 2);
        m[16] = 2;                                      /* AF_INET */
        m[17] = 6;                                      /* TIME_WAIT */
        uint16_t sport = (uint16_t)(40000 + i), dport = 80;
        m[20] = (uint8_t)(sport >> 8), m[21] = (uint8_t)sport;
        m[22] = (uint8_t)(dport >> 8), m[23] = (uint8_t)dport;
        static const uint8_t src[4] = { 10, 0, 0, 1 };
        memcpy(m + 24, src, 4);
        uint8_t dst[4] = { 10, 0, (uint8_t)(i % 50), 9 };  /* 50 destinations */
        memcpy(m + 40, dst, 4);
    }
    *len = (size_t)n * msg;
    return b;
}

static void timewait_near_max_tw_buckets_is_host_wide_accumulation(void **state)
{
    (void)state;
    tree t;
    tree_new(&t);
    put(&t, "sys/net/ipv4/tcp_max_tw_buckets", "100\n", 4);
    audit_snapshot *s = audit_snapshot_new();
    char err[256];
    assert_int_equal(audit_read_procfs(s, t.dir, err, sizeof err), 0);
    size_t len;
    unsigned char *b = tw_messages(90, &len);
    if (audit_parse_dump(s, b, len, err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_int_equal(audit_sockets(s)->destinations, 50);
    diag_findings fs;
    assert_int_equal(audit_findings(s, &fs), 0);
    assert_int_equal(fs.n, 1);      /* 1-2 TIME_WAIT per destination: nothing per destination */
    const diag_finding *f = only(&fs, "timewait-accumulation");
    assert_int_equal(f->severity, DIAG_WARNING);
    assert_false(f->has_server);
    assert_true(param(f, "timewait") == 90);
    assert_true(param(f, "max_tw_buckets") == 100);
    diag_findings_free(&fs);
    audit_snapshot_free(s);

    /* 79 of 100: below 80 %, and no overflow counted: nothing */
    s = audit_snapshot_new();
    assert_int_equal(audit_read_procfs(s, t.dir, err, sizeof err), 0);
    assert_int_equal(audit_parse_dump(s, b, 79 * (16 + 72), err, sizeof err), 0);
    assert_int_equal(audit_findings(s, &fs), 0);
    assert_int_equal(fs.n, 0);
    diag_findings_free(&fs);
    audit_snapshot_free(s);

    /* an overflow since boot alone: informational */
    static const char ovf[] = "TcpExt: TW TCPTimeWaitOverflow\nTcpExt: 10 7\n";
    put(&t, "net/netstat", ovf, sizeof ovf - 1);
    s = audit_snapshot_new();
    assert_int_equal(audit_read_procfs(s, t.dir, err, sizeof err), 0);
    assert_int_equal(audit_findings(s, &fs), 0);
    assert_int_equal(fs.n, 1);
    f = only(&fs, "timewait-accumulation");
    assert_int_equal(f->severity, DIAG_INFO);
    assert_true(param(f, "timewait_overflow") == 7);
    diag_findings_free(&fs);
    audit_snapshot_free(s);
    free(b);
    tree_free(&t);
}

static void conntrack_stats_malformed_names_file_and_line(void **state)
{
    (void)state;
    tree t;
    tree_new(&t);
    static const char fewer[] = "entries drop early_drop\n00000001 00000002 00000003\n00000001 00000002\n";
    put(&t, "net/stat/nf_conntrack", fewer, sizeof fewer - 1);
    expect(&t, -EINVAL, "/net/stat/nf_conntrack: line 3: 2 values but 3 column names");
    static const char nothex[] = "entries drop early_drop\n00000001 0000000g 00000003\n";
    put(&t, "net/stat/nf_conntrack", nothex, sizeof nothex - 1);
    expect(&t, -EINVAL, "/net/stat/nf_conntrack: line 2: column 2: expected a hexadecimal number, found \"0000000g\"");
    static const char empty[] = "";
    put(&t, "net/stat/nf_conntrack", empty, 0);
    expect(&t, -EINVAL, "/net/stat/nf_conntrack: line 1: expected the column names");
    static const char good[] = "entries drop early_drop\n00000001 0000000a 00000003\n00000001 00000001 00000000\n";
    put(&t, "net/stat/nf_conntrack", good, sizeof good - 1);
    audit_snapshot *s = audit_snapshot_new();
    char err[256];
    assert_int_equal(audit_read_procfs(s, t.dir, err, sizeof err), 0);
    assert_int_equal(counter(s, "drop")->value, 11);
    assert_int_equal(counter(s, "early_drop")->value, 3);
    assert_false(counter(s, "insert_failed")->present);
    audit_snapshot_free(s);
    tree_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(linux49_with_tw_recycle_and_paws_passive_is_tw_recycle_enabled),
        cmocka_unit_test(nat_near_conntrack_max_is_conntrack_pressure),
        cmocka_unit_test(healthy_host_has_no_finding),
        cmocka_unit_test(sysctl_not_a_number_names_file_and_line),
        cmocka_unit_test(port_range_must_be_a_range),
        cmocka_unit_test(reserved_ports_are_taken_out_of_the_range),
        cmocka_unit_test(netstat_names_without_values_names_the_line),
        cmocka_unit_test(missing_root_or_counters_file_is_an_error),
        cmocka_unit_test(counters_truncated_at_every_length),
        cmocka_unit_test(conntrack_stats_malformed_names_file_and_line),
        cmocka_unit_test(timewait_near_max_tw_buckets_is_host_wide_accumulation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
