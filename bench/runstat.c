/* runstat.c - bench: runs one command and reports its wall time, CPU time and peak RSS, with a timeout. */

/*
 * Usage: runstat [-t SECONDS] [-o STATFILE] [--] COMMAND [ARG...]
 *
 * Forks and execs COMMAND (stdin, stdout and stderr inherited), waits with
 * wait4() and writes one line to STATFILE (default: stderr):
 *
 *   wall_s=1.234567 user_s=1.200000 sys_s=0.030000 maxrss_kib=51234 status=exit:0
 *
 * status is exit:N, signal:N or timeout.  After SECONDS (default: none) the
 * command gets SIGKILL.  Exit code: the command's, 128+N if it died of
 * signal N, 124 on timeout (as timeout(1)), 125 if runstat itself failed.
 *
 * Why not /usr/bin/time: GNU time is not always installed and its %e has
 * 10 ms resolution; wall time here is CLOCK_MONOTONIC around fork..wait4.
 * Limits: ru_maxrss is the largest RSS of the command or of a descendant it
 * waited for (Linux getrusage(2)); it includes runstat's own ~1 MiB
 * footprint at fork (Linux carries the high-water mark across exec).
 */

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/resource.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>

typedef struct run_opts {
    unsigned   timeout_s;      /* 0: none; else SIGKILL after this many seconds */
    const char *stat_path;     /* NULL: stderr */
    char      **argv;          /* command and arguments, NULL-terminated */
} run_opts;

typedef struct run_result {
    double wall_s;             /* fork to reap, CLOCK_MONOTONIC */
    struct rusage ru;          /* of the command, from wait4() */
    int    status;             /* wait status */
    int    timed_out;          /* killed by the timeout */
} run_result;

/* SIGALRM only has to interrupt wait4() (installed without SA_RESTART). */
static void on_alarm(int sig)
{
    (void)sig;
}

static double seconds(const struct timespec *a, const struct timespec *b)
{
    return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

static double tv_seconds(const struct timeval *tv)
{
    return (double)tv->tv_sec + (double)tv->tv_usec / 1e6;
}

static int wait_child(pid_t pid, unsigned timeout_s, run_result *r)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigemptyset(&sa.sa_mask);
    if (timeout_s && sigaction(SIGALRM, &sa, NULL) == 0)
        alarm(timeout_s);
    for (;;) {
        if (wait4(pid, &r->status, 0, &r->ru) == pid)
            break;
        if (errno != EINTR)
            return -errno;
        if (!r->timed_out) {   /* the alarm: the only signal we catch */
            r->timed_out = 1;
            kill(pid, SIGKILL);
        }
    }
    alarm(0);
    return 0;
}

static int run(const run_opts *o, run_result *r)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid_t pid = fork();
    if (pid < 0)
        return -errno;
    if (pid == 0) {
        execvp(o->argv[0], o->argv);
        fprintf(stderr, "runstat: %s: %s\n", o->argv[0], strerror(errno));
        _exit(127);
    }
    int rc = wait_child(pid, o->timeout_s, r);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    r->wall_s = seconds(&t0, &t1);
    return rc;
}

static int report(const run_opts *o, const run_result *r)
{
    FILE *f = o->stat_path ? fopen(o->stat_path, "w") : stderr;
    if (!f) {
        fprintf(stderr, "runstat: %s: %s\n", o->stat_path, strerror(errno));
        return -1;
    }
    long rss_kib = r->ru.ru_maxrss;
#ifdef __APPLE__
    rss_kib /= 1024; /* macOS reports bytes */
#endif
    fprintf(f, "wall_s=%.6f user_s=%.6f sys_s=%.6f maxrss_kib=%ld status=",
            r->wall_s, tv_seconds(&r->ru.ru_utime), tv_seconds(&r->ru.ru_stime), rss_kib);
    if (r->timed_out)
        fprintf(f, "timeout\n");
    else if (WIFSIGNALED(r->status))
        fprintf(f, "signal:%d\n", WTERMSIG(r->status));
    else
        fprintf(f, "exit:%d\n", WEXITSTATUS(r->status));
    if (f != stderr && fclose(f) != 0)
        return -1;
    return 0;
}

static int parse_args(int argc, char **argv, run_opts *o)
{
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "--")) {
            i++;
            break;
        } else if (!strcmp(argv[i], "-t") && i + 1 < argc) {
            char *end;
            long v = strtol(argv[++i], &end, 10);
            if (*end || end == argv[i] || v < 0 || v > 86400) {
                fprintf(stderr, "runstat: -t: expected seconds 0-86400, got '%s'\n", argv[i]);
                return -1;
            }
            o->timeout_s = (unsigned)v;
        } else if (!strcmp(argv[i], "-o") && i + 1 < argc) {
            o->stat_path = argv[++i];
        } else {
            fprintf(stderr, "runstat: unknown option '%s'\n", argv[i]);
            return -1;
        }
    }
    if (i >= argc)
        return -1;
    o->argv = argv + i;
    return 0;
}

int main(int argc, char **argv)
{
    run_opts o = { 0, NULL, NULL };
    run_result r;
    memset(&r, 0, sizeof r);
    if (parse_args(argc, argv, &o) < 0) {
        fprintf(stderr, "usage: runstat [-t SECONDS] [-o STATFILE] [--] COMMAND [ARG...]\n");
        return 125;
    }
    int rc = run(&o, &r);
    if (rc < 0) {
        fprintf(stderr, "runstat: %s: %s\n", o.argv[0], strerror(-rc));
        return 125;
    }
    if (report(&o, &r) < 0)
        return 125;
    if (r.timed_out)
        return 124;
    if (WIFSIGNALED(r.status))
        return 128 + WTERMSIG(r.status);
    return WEXITSTATUS(r.status);
}
