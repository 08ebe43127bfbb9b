/* args.c - command-line options shared by the subcommands: table-driven, tcpdump-style trailing filter. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/pipeline.h"

/*
 * Options may stand before or after the files, but not inside the BPF
 * expression: the first word that is neither an option nor an existing file
 * starts the filter (as tcpdump takes its expression), and "--" ends the
 * options.  A later value of an option overrides an earlier one in `value`;
 * `occ` keeps every occurrence in order for options that may repeat.
 */
int cli_parse(int argc, char **argv, const char *cmd, const cli_opt *opts, size_t nopts,
              cli_args *out)
{
    memset(out, 0, sizeof *out);
    out->pos = calloc((size_t)argc + 1, sizeof *out->pos);
    out->occ = calloc((size_t)argc + 1, sizeof *out->occ);
    if (out->pos == NULL || out->occ == NULL) {
        free(out->pos);
        free(out->occ);
        out->pos = NULL;
        out->occ = NULL;
        fprintf(stderr, "tcpdoctor: out of memory\n");
        return 2;
    }
    bool in_filter = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (in_filter || a[0] != '-' || strcmp(a, "-") == 0) {
            if (!in_filter && out->npos > 0 && !pipe_is_input(a))
                in_filter = true;
            out->pos[out->npos++] = argv[i];
            continue;
        }
        if (strcmp(a, "--") == 0) {
            out->pos[out->npos++] = argv[i];
            in_filter = true;
            continue;
        }
        size_t k;
        for (k = 0; k < nopts; k++)
            if (strcmp(a, opts[k].name) == 0 || (opts[k].alias && strcmp(a, opts[k].alias) == 0))
                break;
        if (k == nopts || k >= CLI_MAX_OPTS) {
            fprintf(stderr, "tcpdoctor: %s: unknown option %s (try tcpdoctor %s --help)\n", cmd,
                    a, cmd);
            goto out_usage;
        }
        out->seen[k] = true;
        if (opts[k].has_value) {
            if (i + 1 >= argc) {
                fprintf(stderr, "tcpdoctor: %s: %s needs a value\n", cmd, a);
                goto out_usage;
            }
            out->value[k] = argv[++i];
        }
        out->occ[out->nocc++] = (cli_occ){ (int)k, opts[k].has_value ? argv[i] : NULL };
    }
    return 0;
out_usage:
    cli_args_free(out);
    return 2;
}

void cli_args_free(cli_args *a)
{
    free(a->pos);
    free(a->occ);
    a->pos = NULL;
    a->occ = NULL;
}

/* The word from a fixed list, or -1 with a message. */
int cli_choice(const char *cmd, const char *opt, const char *val, const char *const *words,
               size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(val, words[i]) == 0)
            return (int)i;
    fprintf(stderr, "tcpdoctor: %s: %s: \"%s\" is not one of", cmd, opt, val);
    for (size_t i = 0; i < n; i++)
        fprintf(stderr, "%s %s", i ? "," : "", words[i]);
    fputc('\n', stderr);
    return -1;
}

/* --max-flows and --linger, shared by the commands that build the table. */
int cli_flow_limits(const cli_args *a, int o_max, int o_linger, uint32_t *max_flows,
                    int64_t *linger_ns)
{
    unsigned long long v = 0;
    *max_flows = 0;
    *linger_ns = 0;
    if (a->seen[o_max]) {
        if (cli_parse_u64("--max-flows", a->value[o_max], 1u << 30, &v) != 0)
            return -1;
        if (v == 0) {
            fprintf(stderr, "tcpdoctor: --max-flows: must be at least 1\n");
            return -1;
        }
        *max_flows = (uint32_t)v;
    }
    if (a->seen[o_linger]) {
        if (cli_parse_u64("--linger", a->value[o_linger], 86400, &v) != 0)
            return -1;
        *linger_ns = (int64_t)v * 1000000000LL;
    }
    return 0;
}
