/* main.c - tcpdoctor's entry point: dispatch to a subcommand. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

#ifndef TCPDOCTOR_VERSION
#define TCPDOCTOR_VERSION "unknown"
#endif

static void usage(FILE *out)
{
    fputs("usage: tcpdoctor COMMAND [options] ...\n"
          "\n"
          "Find out why some TCP connections fail when most work.\n"
          "\n"
          "commands:\n"
          "  analyze FILE... [BPF] why connections fail: findings with their evidence and fixes\n"
          "  conns FILE... [BPF]   the connection table: one row per incarnation of a 4-tuple\n"
          "  simulate SCENARIO     reproduce a failure in a simulated network; captures, summary\n"
          "  audit                 this host: sysctls, counters, sockets and port headroom\n"
          "  watch -i IFACE [BPF]  live capture: findings as they are established\n"
          "\n"
          "  tcpdoctor COMMAND --help   options of a command\n"
          "  tcpdoctor --version\n"
          "\n"
          "Exit status: 0 no problem, 1 findings of severity warning or error,\n"
          "2 usage or input error.  See tcpdoctor(1).\n", out);
}

int cli_parse_u64(const char *opt, const char *s, unsigned long long max, unsigned long long *out)
{
    char *end;
    errno = 0;
    if (s == NULL || *s == '\0' || *s == '-') {
        fprintf(stderr, "tcpdoctor: %s: expected a non-negative number\n", opt);
        return -1;
    }
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v > max) {
        fprintf(stderr, "tcpdoctor: %s: \"%s\" is not a number from 0 to %llu\n", opt, s, max);
        return -1;
    }
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0) {
        printf("tcpdoctor %s\n", TCPDOCTOR_VERSION);
        return 0;
    }
    if (strcmp(cmd, "conns") == 0)
        return cmd_conns(argc - 1, argv + 1);
    if (strcmp(cmd, "analyze") == 0)
        return cmd_analyze(argc - 1, argv + 1);
    if (strcmp(cmd, "simulate") == 0)
        return cmd_simulate(argc - 1, argv + 1);
    if (strcmp(cmd, "audit") == 0)
        return cmd_audit(argc - 1, argv + 1);
    if (strcmp(cmd, "watch") == 0)
        return cmd_watch(argc - 1, argv + 1);
    fprintf(stderr, "tcpdoctor: unknown command \"%s\" (try tcpdoctor --help)\n", cmd);
    return 2;
}
