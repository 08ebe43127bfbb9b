/* cli.h - the subcommands of the tcpdoctor binary. */
#ifndef TCPDOCTOR_CLI_H
#define TCPDOCTOR_CLI_H

/* Each returns the process exit status: 0 fine, 1 findings, 2 usage or input error. */
int cmd_conns(int argc, char **argv);

/* Parse a non-negative integer option value; 0 on success, -1 with a message. */
int cli_parse_u64(const char *opt, const char *s, unsigned long long max, unsigned long long *out);

#endif
