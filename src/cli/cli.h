/* cli.h - the subcommands of the tcpdoctor binary. */
#ifndef TCPDOCTOR_CLI_H
#define TCPDOCTOR_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Each returns the process exit status: 0 fine, 1 findings, 2 usage or input error. */
int cmd_conns(int argc, char **argv);
int cmd_analyze(int argc, char **argv);
int cmd_simulate(int argc, char **argv);
int cmd_audit(int argc, char **argv);
int cmd_watch(int argc, char **argv);

#define CLI_MAX_OPTS 16

typedef struct cli_opt {
    const char *name;       /* "--format" */
    const char *alias;      /* "-f", or NULL */
    bool has_value;
} cli_opt;

/* One option as given, in command-line order (for options that repeat). */
typedef struct cli_occ {
    int opt;                        /* index in the option table */
    const char *value;              /* NULL for a flag */
} cli_occ;

typedef struct cli_args {
    bool seen[CLI_MAX_OPTS];        /* per entry of the option table */
    const char *value[CLI_MAX_OPTS]; /* the last value given */
    char **pos;                     /* files, then filter words */
    int npos;
    cli_occ *occ;                   /* every option given, in order */
    int nocc;
} cli_args;

/* Parse argv[1..] against opts; 0, or 2 after a message (usage error). */
int cli_parse(int argc, char **argv, const char *cmd, const cli_opt *opts, size_t nopts,
              cli_args *out);
void cli_args_free(cli_args *a);
/* --max-flows / --linger from the parsed options (indices of those entries);
 * 0 = default when not given.  0, or -1 after a message. */
int cli_flow_limits(const cli_args *a, int o_max, int o_linger, uint32_t *max_flows,
                    int64_t *linger_ns);
int cli_choice(const char *cmd, const char *opt, const char *val, const char *const *words,
               size_t n);

/* Parse a non-negative integer option value; 0 on success, -1 with a message. */
int cli_parse_u64(const char *opt, const char *s, unsigned long long max, unsigned long long *out);

#endif
