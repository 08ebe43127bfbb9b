/* stacks.c - what each TCP stack does by default: initial TTL, TIME_WAIT, ports, timestamps. */
#include <string.h>

#include "tcpdoctor/diagnose.h"

/*
 * The one table of stack defaults (tcp-behaviour.md 3, 5, 6 and 10, with
 * their kernel and vendor sources).  The detectors read it to name a stack
 * from its TTL and to weigh an inferred TIME_WAIT; the simulator's OS
 * profiles (src/sim/os.c) carry the same values for the stacks they model,
 * and tests/sim/test_sim.c fails when a profile and its row disagree.
 */
static const diag_stack stacks[] = {
    { "macOS", "macos", NULL, 64, 30.0, 49152, 65535, 1000,
      "XNU tcp_timer.c: TCPTV_MSL 15 s, 2MSL; IANA dynamic range" },
    { "Linux", "linux", NULL, 64, 60.0, 32768, 60999, 1000,
      "include/net/tcp.h TCP_TIMEWAIT_LEN; ip-sysctl.rst ip_local_port_range" },
    { "Linux 4.9 (tcp_tw_recycle)", "linux-4.9", "Linux", 64, 60.0, 32768, 61000, 1000,
      "Linux 4.9 include/net/tcp.h; older ip_local_port_range upper bound" },
    { "FreeBSD", "freebsd", NULL, 64, 60.0, 10000, 65535, 1000,
      "tcp_timer.h TCPTV_MSL 30 s, 2MSL; net.inet.ip.portrange" },
    { "Windows Vista and later", "windows", NULL, 128, 120.0, 49152, 65535, 1000,
      "TcpTimedWaitDelay default 120 s; netsh dynamicport default" },
    { "Windows 2000/XP/2003", "windows-2003", NULL, 128, 240.0, 1025, 5000, 100,
      "TcpTimedWaitDelay 240 s (cc938217); MaxUserPort 5000" },
};

const diag_stack *diag_stacks(size_t *n)
{
    *n = sizeof stacks / sizeof stacks[0];
    return stacks;
}

const diag_stack *diag_stack_by_profile(const char *profile)
{
    for (size_t i = 0; i < sizeof stacks / sizeof stacks[0]; i++)
        if (strcmp(stacks[i].sim_profile, profile) == 0)
            return &stacks[i];
    return NULL;
}

/* RFC 791 3.2 / tcp-behaviour.md 10: stacks start at 64 (Linux, BSD, macOS),
 * 128 (Windows) or 255 (network gear, Solaris); a packet arrives with its
 * start less the hops.  The start is the first of those at or above what
 * is seen (32 for a few old stacks below 33). */
uint8_t diag_initial_ttl(uint8_t seen)
{
    return seen <= 32 ? 32 : seen <= 64 ? 64 : seen <= 128 ? 128 : 255;
}

bool diag_is_initial_ttl(uint8_t ttl)
{
    for (size_t i = 0; i < sizeof stacks / sizeof stacks[0]; i++)
        if (stacks[i].initial_ttl == ttl)
            return true;
    return ttl == 255;
}
