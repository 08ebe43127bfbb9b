/* cmd_watch.c - `tcpdoctor watch`: live capture through analyze's pipeline, findings printed as they are established. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/pipeline.h"
#include "tcpdoctor/capture.h"
#include "tcpdoctor/diagnose.h"
#include "tcpdoctor/report.h"

/*
 * How live findings are established (docs/watch.md).  Frames go through the
 * same decode -> flow -> diagnose path as analyze.  The flow table writes an
 * incarnation only when it ends (reuse of its 4-tuple, linger expiry, table
 * full), and several detectors decide only in their final pass, which
 * consumes their state.  So once a second, when frames arrived, the process
 * forks (and once more after they stop): the child owns a copy-on-write image of the table and the engine as
 * they stand, flushes the table (open incarnations count as if the capture
 * ended now), runs diag_engine_finish(), and sends the findings back through
 * a pipe; it never touches the capture.  The parent keeps capturing, and
 * when the snapshot arrives prints what diag_live marks new or changed.
 * The final report comes from the parent's own state, flushed once at the
 * end: exactly what analyze gives for the same frames (the -w file).
 *
 * A snapshot taken in the middle of a handshake judges it as it stands
 * (e.g. a stale ACK just before the client's retry: "never connected"), so
 * a finding is printed once two snapshots in a row give it the same
 * severity (diag_live's confirm), about a second after it is established.
 *
 * Limits: a finding's events may still grow after it is printed (it is
 * printed again); one that a later snapshot no longer has is not retracted;
 * the final report is the reference.  One snapshot runs at a time; on a
 * busy capture they come as fast as the child finishes.
 */

#define WATCH_TICK_NS 500000000LL       /* status line and dump flush: twice a second */
#define WATCH_SNAP_NS 1000000000LL      /* live findings: at most once a second */
#define WATCH_BATCH 4096                /* frames read between looks at the clock */
#define WATCH_CONFIRM 2                 /* snapshots in a row a finding's severity must hold */

/* Set by the SIGINT/SIGTERM handler, read by the loop: the one piece of
 * state a signal handler may touch (C11 7.14.1.1). */
static volatile sig_atomic_t watch_stop;

static void on_signal(int sig)
{
    watch_stop = sig;
}

/* One finding as the snapshot child sends it, followed by json_len bytes of
 * its JSON object and line_len bytes of its one-line text.  A record with
 * end set closes a complete snapshot. */
typedef struct snap_rec {
    char     id[32];
    uint8_t  severity;
    uint8_t  has_client, has_server, end;
    uint16_t server_port;
    uint64_t events;            /* end record: incarnations in the snapshot */
    pkt_addr client, server;
    uint32_t json_len, line_len;
} snap_rec;

typedef struct watch {
    /* options */
    const char *iface;
    const char *dump;
    char *bpf;
    bool json, color, status;
    double duration_s;          /* 0: until a signal */
    uint64_t count;             /* 0: no limit */
    diag_config dc;
    uint32_t max_flows;
    int64_t linger_ns;
    /* run */
    cap_live *cap;
    flow_table *table;
    diag_engine *eng;
    diag_live *live;
    pipe_opts po;
    pipe_stats st;
    /* the snapshot in flight */
    pid_t child;
    int child_fd;
    char *buf;
    size_t len, cap_buf;
    int64_t snap_ts;            /* packet time the snapshot stands at */
    uint64_t snap_frames;       /* frames when the last snapshot was taken */
    uint64_t snap_frames_prev;  /* ... and when the one before was */
    uint64_t conns, findings;   /* from the last complete snapshot */
    bool fork_warned;
    bool status_shown;
} watch;

static void watch_usage(FILE *out)
{
    fputs("usage: tcpdoctor watch -i IFACE [options] [BPF expression]\n"
          "\n"
          "Capture on IFACE and diagnose as analyze does: each finding is printed as soon\n"
          "as it is established, and again when its count or severity changes; on Ctrl-C,\n"
          "SIGTERM, --duration or --count the full report follows (as analyze prints it,\n"
          "plus libpcap's drop counters).  Words after the options are a BPF filter.\n"
          "\n"
          "options:\n"
          "  -i, --interface IFACE      interface to capture on (required)\n"
          "  -w FILE                    also write the frames to FILE (pcap)\n"
          "  --format text|json         text, or JSON: one line per live finding, then the\n"
          "                             report (default: text)\n"
          "  --no-color                 no colours (default: colours on a terminal)\n"
          "  --vantage server|client|path\n"
          "                             where the capture is taken (default: inferred)\n"
          "  --max-flows N              4-tuples held at once (default 1048576)\n"
          "  --linger SECONDS           keep a closed 4-tuple this long (default 300)\n"
          "  --duration SECONDS         stop after this long\n"
          "  --count N                  stop after N frames\n"
          "  -h, --help\n"
          "\n"
          "A status line (frames, connections, findings, drops) refreshes on standard\n"
          "error when it is a terminal.  Exit status as analyze: 0, 1 findings of severity\n"
          "warning or error, 2 usage, capture or input error.  See docs/watch.md.\n", out);
}

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Packets go to the engine as well as to the flow table. */
static void to_engine(void *ctx, const pkt_view *v, enum pkt_status st)
{
    diag_engine_packet(ctx, v, st);
}

static void status_clear(watch *w)
{
    if (w->status_shown) {
        fputs("\r\033[K", stderr);
        w->status_shown = false;
    }
}

static void status_show(watch *w, int64_t elapsed_ns)
{
    if (!w->status)
        return;
    cap_live_stats cs;
    cap_live_stats_get(w->cap, &cs);
    flow_stats fst;
    flow_table_stats(w->table, &fst);
    uint64_t conns = w->conns > fst.incarnations ? w->conns : fst.incarnations;
    fprintf(stderr, "\r\033[Ktcpdoctor: %s: %" PRIu64 " frames, %" PRIu64 " connections, %"
            PRIu64 " findings, libpcap drops %" PRIu64 " (+%" PRIu64 " interface), %.0f s",
            w->iface, w->st.frames, conns, w->findings, cs.drop, cs.ifdrop,
            (double)elapsed_ns / 1e9);
    fflush(stderr);
    w->status_shown = true;
}

/* ---- snapshots -------------------------------------------------------------- */

static bool write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t k = write(fd, c, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return false;
        c += k;
        n -= (size_t)k;
    }
    return true;
}

/* Render one finding and send it (child side). */
static bool send_finding(int fd, const diag_finding *f, bool color)
{
    char *js = NULL, *ln = NULL;
    size_t jn = 0, lnn = 0;
    FILE *m1 = open_memstream(&js, &jn), *m2 = open_memstream(&ln, &lnn);
    bool ok = m1 != NULL && m2 != NULL;
    if (ok) {
        rep_finding_json(m1, f);
        rep_finding_line(m2, f, color);
    }
    if (m1 != NULL)
        ok &= fclose(m1) == 0;
    if (m2 != NULL)
        ok &= fclose(m2) == 0;
    if (ok) {
        snap_rec r;
        memset(&r, 0, sizeof r);
        snprintf(r.id, sizeof r.id, "%s", f->id);
        r.severity = (uint8_t)f->severity;
        r.has_client = f->has_client;
        r.has_server = f->has_server;
        r.client = f->client;
        r.server = f->server;
        r.server_port = f->server_port;
        r.events = f->events;
        r.json_len = (uint32_t)jn;
        r.line_len = (uint32_t)lnn;
        ok = write_all(fd, &r, sizeof r) && write_all(fd, js, jn) && write_all(fd, ln, lnn);
    }
    free(js);
    free(ln);
    return ok;
}

/* In the child: the run as if it ended now, sent to the parent; never returns. */
static void snapshot_child(watch *w, int fd)
{
    signal(SIGINT, SIG_IGN);        /* Ctrl-C reaches the whole process group */
    signal(SIGTERM, SIG_DFL);
    flow_table_flush(w->table);
    flow_stats fst;
    flow_table_stats(w->table, &fst);
    diag_findings fs;
    if (diag_engine_finish(w->eng, &fs) != 0)
        _exit(1);
    for (size_t i = 0; i < fs.n; i++)
        if (!send_finding(fd, &fs.v[i], w->color))
            _exit(1);
    snap_rec end;
    memset(&end, 0, sizeof end);
    end.end = 1;
    end.events = fst.incarnations;
    _exit(write_all(fd, &end, sizeof end) ? 0 : 1);
}

static void snapshot_start(watch *w)
{
    int p[2];
    fflush(stdout);
    fflush(stderr);
    if (pipe(p) != 0)
        goto out_fail;
    pid_t pid = fork();
    if (pid < 0) {
        close(p[0]);
        close(p[1]);
        goto out_fail;
    }
    if (pid == 0) {
        close(p[0]);
        snapshot_child(w, p[1]);
    }
    close(p[1]);
    fcntl(p[0], F_SETFD, FD_CLOEXEC);
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    w->child = pid;
    w->child_fd = p[0];
    w->len = 0;
    w->snap_ts = w->st.last_ts;
    w->snap_frames_prev = w->snap_frames;
    w->snap_frames = w->st.frames;
    return;

out_fail:
    /* No live findings this time; the final report is not affected. */
    if (!w->fork_warned) {
        status_clear(w);
        fprintf(stderr, "tcpdoctor: watch: cannot take a snapshot for live findings: %s\n",
                strerror(errno));
        w->fork_warned = true;
    }
    w->snap_frames_prev = w->snap_frames;
    w->snap_frames = w->st.frames;
}

/* Print one live finding: NDJSON or a line of text. */
static void print_live(watch *w, enum diag_live_mark m, const char *js, size_t jn,
                       const char *ln, size_t lnn)
{
    if (w->json) {
        fprintf(stdout, "{\"live\":\"%s\",\"time\":", diag_live_mark_name(m));
        rep_json_time(stdout, w->snap_ts);
        fputs(",\"finding\":", stdout);
        fwrite(js, 1, jn, stdout);
        fputs("}\n", stdout);
    } else {
        time_t t = (time_t)(w->snap_ts / 1000000000LL);
        struct tm tm;
        char hms[16] = "--:--:--";
        if (localtime_r(&t, &tm) != NULL)
            strftime(hms, sizeof hms, "%H:%M:%S", &tm);
        fprintf(stdout, "%s %-7s ", hms, diag_live_mark_name(m));
        fwrite(ln, 1, lnn, stdout);
        fputc('\n', stdout);
    }
}

/* A complete snapshot is in w->buf: mark its findings and print the new
 * and changed ones.  A truncated one (the child failed) is dropped. */
static void snapshot_use(watch *w)
{
    size_t n = 0, off = 0;
    bool complete = false;
    snap_rec r;
    while (off + sizeof r <= w->len) {
        memcpy(&r, w->buf + off, sizeof r);
        if (r.end) {
            complete = true;
            break;
        }
        size_t body = (size_t)r.json_len + r.line_len;
        if (body > w->len - off - sizeof r)
            break;
        off += sizeof r + body;
        n++;
    }
    if (!complete)
        return;
    diag_findings fs = { .n = n, .cap = n };
    enum diag_live_mark *marks = calloc(n ? n : 1, sizeof *marks);
    fs.v = calloc(n ? n : 1, sizeof *fs.v);
    if (marks == NULL || fs.v == NULL)
        goto out_free;
    const char **body = calloc(n ? n : 1, sizeof *body);
    if (body == NULL)
        goto out_free;
    off = 0;
    for (size_t i = 0; i < n; i++) {
        memcpy(&r, w->buf + off, sizeof r);
        body[i] = w->buf + off + sizeof r;
        char *id = w->buf + off + offsetof(snap_rec, id);
        id[sizeof r.id - 1] = '\0';
        fs.v[i].id = id;
        fs.v[i].severity = (enum diag_severity)r.severity;
        fs.v[i].events = r.events;
        fs.v[i].has_client = r.has_client;
        fs.v[i].has_server = r.has_server;
        fs.v[i].client = r.client;
        fs.v[i].server = r.server;
        fs.v[i].server_port = r.server_port;
        off += sizeof r + r.json_len + r.line_len;
    }
    memcpy(&r, w->buf + off, sizeof r);
    w->conns = r.events;
    w->findings = n;
    if (diag_live_update(w->live, &fs, marks) > 0) {
        status_clear(w);
        off = 0;
        for (size_t i = 0; i < n; i++) {
            memcpy(&r, w->buf + off, sizeof r);
            if (marks[i] != DIAG_LIVE_SAME)
                print_live(w, marks[i], body[i], r.json_len, body[i] + r.json_len, r.line_len);
            off += sizeof r + r.json_len + r.line_len;
        }
        fflush(stdout);
    }
    free(body);
out_free:
    free(fs.v);
    free(marks);
}

/* Read what the child sent so far; at its end, reap it and use the snapshot. */
static void snapshot_read(watch *w)
{
    if (w->child_fd < 0)
        return;
    for (;;) {
        if (w->cap_buf - w->len < 65536) {
            size_t nc = w->cap_buf ? w->cap_buf * 2 : 262144;
            char *nb = realloc(w->buf, nc);
            if (nb == NULL)
                break;      /* the snapshot ends truncated and is dropped */
            w->buf = nb;
            w->cap_buf = nc;
        }
        ssize_t k = read(w->child_fd, w->buf + w->len, w->cap_buf - w->len);
        if (k > 0) {
            w->len += (size_t)k;
            continue;
        }
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0 && errno == EAGAIN)
            return;
        break;              /* end of the stream (or an error: same thing) */
    }
    close(w->child_fd);
    w->child_fd = -1;
    int status;
    while (waitpid(w->child, &status, 0) < 0 && errno == EINTR)
        ;
    w->child = -1;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        snapshot_use(w);
}

/* Stop the snapshot in flight, if any, and reap the child. */
static void snapshot_cancel(watch *w)
{
    if (w->child_fd < 0)
        return;
    kill(w->child, SIGKILL);
    close(w->child_fd);
    w->child_fd = -1;
    while (waitpid(w->child, NULL, 0) < 0 && errno == EINTR)
        ;
    w->child = -1;
}

/* ---- the run ---------------------------------------------------------------- */

/* Read what is waiting (a batch at most).  0, or 2 after a capture error. */
static int read_frames(watch *w)
{
    char err[CAP_ERRBUF + 64];
    cap_frame f;
    for (int i = 0; i < WATCH_BATCH; i++) {
        if (w->count && w->st.frames >= w->count)
            return 0;
        int n = cap_live_next(w->cap, &f, err, sizeof err);
        if (n == 0)
            return 0;
        if (n < 0) {
            status_clear(w);
            fprintf(stderr, "tcpdoctor: %s\n", err);
            w->st.input_errors++;
            return 2;
        }
        pipe_frame(&w->po, &w->st, w->table, &f);
    }
    return 0;
}

static int capture_loop(watch *w)
{
    int64_t t0 = mono_ns(), next_tick = t0 + WATCH_TICK_NS, next_snap = t0 + WATCH_SNAP_NS;
    int64_t deadline = w->duration_s > 0 ? t0 + (int64_t)(w->duration_s * 1e9) : INT64_MAX;
    int fd = cap_live_fd(w->cap);
    char err[CAP_ERRBUF + 64];
    while (!watch_stop) {
        int64_t now = mono_ns();
        if (now >= deadline || (w->count && w->st.frames >= w->count))
            break;
        struct pollfd pf[2] = { { .fd = fd, .events = POLLIN }, { .fd = w->child_fd, .events = POLLIN } };
        int64_t wake = next_tick < deadline ? next_tick : deadline;
        int timeout = fd < 0 ? 10 : (int)((wake - now) / 1000000 + 1);
        if (poll(pf, 2, timeout) < 0 && errno != EINTR) {
            status_clear(w);
            fprintf(stderr, "tcpdoctor: %s: poll: %s\n", w->iface, strerror(errno));
            return 2;
        }
        if (read_frames(w) != 0)
            return 2;
        if (pf[1].revents != 0)
            snapshot_read(w);
        now = mono_ns();
        if (now >= next_tick) {
            next_tick = now + WATCH_TICK_NS;
            if (cap_live_flush(w->cap, err, sizeof err) != 0) {
                status_clear(w);
                fprintf(stderr, "tcpdoctor: %s\n", err);
                return 2;
            }
            status_show(w, now - t0);
        }
        /* after new frames, and once more when they stop, so that the
           last findings get their confirming snapshot */
        if (now >= next_snap && w->child_fd < 0 &&
            (w->st.frames != w->snap_frames || w->snap_frames != w->snap_frames_prev)) {
            next_snap = now + WATCH_SNAP_NS;
            snapshot_start(w);
        }
    }
    return 0;
}

static void fill_info(rep_run_info *in, const watch *w, const cap_live_stats *cs)
{
    const pipe_stats *st = &w->st;
    in->filter = w->bpf;
    in->vantage = diag_engine_vantage(w->eng);
    in->vantage_given = w->dc.vantage != DIAG_VANTAGE_UNKNOWN;
    pipe_run_info(in, st);     /* filtered stays 0: the kernel applies the filter */
    in->live_iface = w->iface;
    in->live_stats_ok = cs->stats_ok;
    in->live_recv = cs->recv;
    in->live_drop = cs->drop;
    in->live_ifdrop = cs->ifdrop;
}

/* The final report, as analyze writes it, with libpcap's counters.
 * Returns the exit status. */
static int final_report(watch *w, int rc)
{
    char err[CAP_ERRBUF + 64];
    cap_live_stats cs;
    cap_live_stats_get(w->cap, &cs);
    if (cap_live_close(w->cap, err, sizeof err) != 0) {
        fprintf(stderr, "tcpdoctor: %s\n", err);
        rc = 2;
    }
    w->cap = NULL;
    flow_table_flush(w->table);
    flow_table_stats(w->table, &w->st.flow);
    diag_findings fs;
    if (diag_engine_finish(w->eng, &fs) != 0) {
        fprintf(stderr, "tcpdoctor: out of memory while writing the findings\n");
        return 2;
    }
    if (cs.drop > 0 || cs.ifdrop > 0)
        fprintf(stderr, "tcpdoctor: %s: warning: %" PRIu64 " frames dropped by the kernel "
                "(capture buffer full) and %" PRIu64 " by the interface\n",
                w->iface, cs.drop, cs.ifdrop);
    rep_run_info info;
    memset(&info, 0, sizeof info);
    fill_info(&info, w, &cs);
    info.acc = diag_engine_accounting(w->eng);
    if (w->json)
        rep_findings_json(stdout, &fs, &info);
    else
        rep_findings_text(stdout, &fs, &info, w->color);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        perror("standard output");
        rc = 2;
    }
    if (rc == 0)
        for (size_t i = 0; i < fs.n; i++)
            if (fs.v[i].severity != DIAG_INFO)
                rc = 1;
    diag_findings_free(&fs);
    return rc;
}

static int watch_run(watch *w)
{
    char err[CAP_ERRBUF + 64], warn[CAP_ERRBUF + 64];
    cap_live_config cc = { .iface = w->iface, .bpf = w->bpf, .dump_path = w->dump };
    w->cap = cap_live_open(&cc, warn, sizeof warn, err, sizeof err);
    if (w->cap == NULL) {
        fprintf(stderr, "tcpdoctor: %s\n", err);
        return 2;
    }
    if (warn[0] != '\0')
        fprintf(stderr, "tcpdoctor: %s\n", warn);
    int rc = 2;
    if (!pkt_linktype_supported(cap_live_dlt(w->cap))) {
        char lt[128];
        fprintf(stderr, "tcpdoctor: %s: unsupported link type %s; tcpdoctor decodes Ethernet "
                "(with 802.1Q/QinQ), Linux cooked v1/v2, raw IPv4/IPv6 and BSD loopback\n",
                w->iface, cap_linktype_desc(cap_live_dlt(w->cap), lt, sizeof lt));
        goto out_cap;
    }
    w->eng = diag_engine_new(&w->dc, err, sizeof err);
    if (w->eng == NULL) {
        fprintf(stderr, "tcpdoctor: %s\n", err);
        goto out_cap;
    }
    flow_config fc = { .capacity = w->max_flows, .linger_ns = w->linger_ns,
                       .sink = diag_engine_conn, .sink_ctx = w->eng,
                       .tuple_free = diag_engine_tuple_free };
    w->table = flow_table_new(&fc, err, sizeof err);
    w->live = diag_live_new(WATCH_CONFIRM);
    if (w->table == NULL || w->live == NULL) {
        fprintf(stderr, "tcpdoctor: %s\n", w->table == NULL ? err : "out of memory");
        goto out_engine;
    }
    w->po = (pipe_opts){ .on_packet = to_engine, .packet_ctx = w->eng };
    w->st.opened = true;
    if (w->status)
        fprintf(stderr, "tcpdoctor: watching %s%s%s (Ctrl-C for the report)\n", w->iface,
                w->bpf ? ", filter " : "", w->bpf ? w->bpf : "");

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);       /* no SA_RESTART: poll() returns at once */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    int lrc = capture_loop(w);
    snapshot_cancel(w);             /* the final report supersedes it */
    status_clear(w);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    rc = final_report(w, lrc);
out_engine:
    diag_live_free(w->live);
    flow_table_free(w->table);
    diag_engine_free(w->eng);
out_cap:
    if (w->cap != NULL)
        cap_live_close(w->cap, err, sizeof err);
    free(w->buf);
    return rc;
}

/* ---- options ---------------------------------------------------------------- */

static int parse_seconds(const char *opt, const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = s ? strtod(s, &end) : 0;
    if (s == NULL || *s == '\0' || errno != 0 || *end != '\0' || !isfinite(v) || v <= 0 ||
        v > 1e9) {
        fprintf(stderr, "tcpdoctor: watch: %s: \"%s\" is not a number of seconds above 0\n",
                opt, s ? s : "");
        return -1;
    }
    *out = v;
    return 0;
}

/* All positional words, joined: the BPF filter (NULL when none). */
static int join_filter(const cli_args *a, char **out)
{
    *out = NULL;
    size_t len = 1;
    int first = a->npos > 0 && strcmp(a->pos[0], "--") == 0 ? 1 : 0;
    if (first >= a->npos)
        return 0;
    for (int k = first; k < a->npos; k++)
        len += strlen(a->pos[k]) + 1;
    char *s = malloc(len);
    if (s == NULL) {
        fprintf(stderr, "tcpdoctor: out of memory\n");
        return -1;
    }
    s[0] = '\0';
    for (int k = first; k < a->npos; k++) {
        if (k > first)
            strcat(s, " ");
        strcat(s, a->pos[k]);
    }
    *out = s;
    return 0;
}

int cmd_watch(int argc, char **argv)
{
    enum { O_HELP, O_IFACE, O_WRITE, O_FORMAT, O_NOCOLOR, O_VANTAGE, O_MAXFLOWS, O_LINGER,
           O_DURATION, O_COUNT };
    static const cli_opt opts[] = {
        [O_HELP] = { "--help", "-h", false },
        [O_IFACE] = { "-i", "--interface", true },
        [O_WRITE] = { "-w", NULL, true },
        [O_FORMAT] = { "--format", NULL, true },
        [O_NOCOLOR] = { "--no-color", "--no-colour", false },
        [O_VANTAGE] = { "--vantage", NULL, true },
        [O_MAXFLOWS] = { "--max-flows", NULL, true },
        [O_LINGER] = { "--linger", NULL, true },
        [O_DURATION] = { "--duration", NULL, true },
        [O_COUNT] = { "--count", NULL, true },
    };
    static const char *const formats[] = { "text", "json" };
    static const char *const vantages[] = { "server", "client", "path" };
    cli_args a;
    if (cli_parse(argc, argv, "watch", opts, sizeof opts / sizeof opts[0], &a) != 0)
        return 2;
    int rc = 2;
    watch w;
    memset(&w, 0, sizeof w);
    w.child = -1;
    w.child_fd = -1;
    w.dc.vantage = DIAG_VANTAGE_UNKNOWN;
    if (a.seen[O_HELP]) {
        watch_usage(stdout);
        rc = 0;
        goto out_args;
    }
    if (!a.seen[O_IFACE]) {
        fprintf(stderr, "tcpdoctor: watch: no interface given (-i IFACE)\n");
        goto out_args;
    }
    w.iface = a.value[O_IFACE];
    w.dump = a.value[O_WRITE];
    if (w.dump != NULL && strcmp(w.dump, "-") == 0) {
        fprintf(stderr, "tcpdoctor: watch: -w -: standard output carries the findings; "
                "give a file name\n");
        goto out_args;
    }
    if (a.seen[O_FORMAT]) {
        int k = cli_choice("watch", "--format", a.value[O_FORMAT], formats, 2);
        if (k < 0)
            goto out_args;
        w.json = k == 1;
    }
    if (a.seen[O_VANTAGE]) {
        int k = cli_choice("watch", "--vantage", a.value[O_VANTAGE], vantages, 3);
        if (k < 0)
            goto out_args;
        w.dc.vantage = k == 0 ? DIAG_VANTAGE_SERVER : k == 1 ? DIAG_VANTAGE_CLIENT
                                                           : DIAG_VANTAGE_PATH;
    }
    if (cli_flow_limits(&a, O_MAXFLOWS, O_LINGER, &w.max_flows, &w.linger_ns) != 0)
        goto out_args;
    if (a.seen[O_DURATION] && parse_seconds("--duration", a.value[O_DURATION], &w.duration_s) != 0)
        goto out_args;
    if (a.seen[O_COUNT]) {
        unsigned long long n;
        if (cli_parse_u64("--count", a.value[O_COUNT], UINT64_MAX, &n) != 0)
            goto out_args;
        w.count = n;
    }
    if (join_filter(&a, &w.bpf) != 0)
        goto out_args;
    w.color = !a.seen[O_NOCOLOR] && !w.json && isatty(STDOUT_FILENO);
    w.status = isatty(STDERR_FILENO);
    rc = watch_run(&w);
    free(w.bpf);
out_args:
    cli_args_free(&a);
    return rc;
}
