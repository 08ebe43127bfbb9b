/* os.c - the built-in OS profiles: TCP lifecycle defaults of each stack, with sources. */
#include <string.h>

#include "tcpdoctor/sim.h"

/*
 * Every value below comes from tcp-behaviour.md (sections 3, 5, 6 and 10), which
 * cites the kernel sources, vendor documents and RFCs behind it.  Values that
 * document marks unverified ([R]/[U]) are noted as such here: they are the
 * best-known defaults and a scenario can override any of them per host.
 *
 * SYN retry schedules are times after the first SYN; connect_timeout is when
 * connect() gives up.  SYN-ACK schedules are times after the first SYN-ACK.
 */

#define S(x)  ((sim_ns)(x) * SIM_NS_PER_S)
#define MS(x) ((sim_ns)(x) * SIM_NS_PER_MS)

static const sim_os profiles[] = {
    /* Linux >= 6.5 (through 7.0).  include/net/tcp.h TCP_TIMEWAIT_LEN 60 s (not
     * tunable); tcp_timewait_state_process() for SYNs into TIME_WAIT; tcp_rfc1337=0
     * (RST assassinates TIME_WAIT); tcp_invalid_ratelimit 500 ms; tcp_tw_reuse=2 and
     * tcp_tw_reuse_delay 1000 ms (tcp_sk_init, ip-sysctl.rst); per-(saddr,daddr) TS
     * offset (commit 28ee1b746f49; 7.0 went back to per-4-tuple, override ts_offset);
     * 1 ms TS clock (commit 9a568de4818d); ISN per RFC 6528 with a 64 ns clock
     * (secure_tcp_seq_and_ts_off); linear-then-exponential SYN RTOs (commit
     * ccce324dabfe, tcp_syn_linear_timeouts=4): 1,2,3,4,5,7,11,19,35,67 s, ETIMEDOUT
     * at 131 s; fast SYN resend after a bad ACK (tcp_rcv_synsent_state_process, ~5.6);
     * SYN-ACK 1,3,7,15,31 s (tcp_synack_retries 5); ip_local_port_range 32768-60999
     * with __inet_hash_connect's per-destination offsets; p0f layout mss,sok,ts,nop,ws,
     * window 64240 (44 x MSS), TTL 64; per-socket IP-ID (tcp-behaviour.md 9.10). */
    {
        .name = "linux",
        .timewait = S(60), .fin_timeout = S(60),
        .tw_syn = SIM_TW_SYN_LINUX, .rfc1337 = false, .tw_ack_ratelimit = MS(500),
        .tw_reuse = 2, .tw_reuse_delay = S(1), .tw_recycle = false,
        .timestamps = true, .echo_timestamps = true,
        .ts_offset = SIM_TSOFF_PER_HOST, .ts_hz = 1000, .isn = SIM_ISN_CLOCK,
        .syn_retry_at = { S(1), S(2), S(3), S(4), S(5), S(7), S(11), S(19), S(35), S(67) },
        .n_syn_retries = 10, .connect_timeout = S(131), .fast_syn_resend = true,
        .synack_retry_at = { S(1), S(3), S(7), S(15), S(31) }, .n_synack_retries = 5,
        .port_lo = 32768, .port_hi = 60999, .port_alloc = SIM_PORTS_LINUX,
        .ttl = 64, .mss = 1460, .wscale = 7, .syn_window = 64240,
        .syn_layout = SIM_SYN_LINUX, .ipid_global = false,
        .source = "Linux 6.5+: include/net/tcp.h, tcp_minisocks.c, tcp_ipv4.c, ip-sysctl.rst; "
                  "tcp-behaviour.md 3, 10",
    },
    /* Linux 4.9 (before commit 4396e46187ca removed tcp_tw_recycle in 4.12): same
     * TIME_WAIT handling, plus tcp_tw_recycle=1 (per-peer TS cache, 60 s records,
     * window 1, TIME_WAIT shortened to 3.5 x RTO; tcp_metrics.c tcp_peer_is_proven);
     * no TS offset (TSval = uptime); tcp_tw_reuse 0; SYN RTO 1 s doubling,
     * tcp_syn_retries 6: 1,3,7,15,31,63 s, ETIMEDOUT at 127 s; no fast SYN resend
     * (added ~5.6); port range 32768-61000 (older upper bound); window 29200
     * (10 x MSS, p0f 3.x/4.x signature).  The TS clock is jiffies (HZ dependent:
     * 100/250/1000, tcp-behaviour.md 3.6); 1000 Hz here, override ts_hz for others. */
    {
        .name = "linux-4.9",
        .timewait = S(60), .fin_timeout = S(60),
        .tw_syn = SIM_TW_SYN_LINUX, .rfc1337 = false, .tw_ack_ratelimit = MS(500),
        .tw_reuse = 0, .tw_reuse_delay = S(1), .tw_recycle = true,
        .timestamps = true, .echo_timestamps = true,
        .ts_offset = SIM_TSOFF_NONE, .ts_hz = 1000, .isn = SIM_ISN_CLOCK,
        .syn_retry_at = { S(1), S(3), S(7), S(15), S(31), S(63) },
        .n_syn_retries = 6, .connect_timeout = S(127), .fast_syn_resend = false,
        .synack_retry_at = { S(1), S(3), S(7), S(15), S(31) }, .n_synack_retries = 5,
        .port_lo = 32768, .port_hi = 61000, .port_alloc = SIM_PORTS_LINUX,
        .ttl = 64, .mss = 1460, .wscale = 7, .syn_window = 29200,
        .syn_layout = SIM_SYN_LINUX, .ipid_global = false,
        .source = "Linux 4.9: tcp_minisocks.c, tcp_metrics.c tcp_peer_is_proven "
                  "(tcp_tw_recycle), commit 4396e46187ca; tcp-behaviour.md 3.9, 3.10",
    },
    /* Windows Server 2003 / XP.  TcpTimedWaitDelay 240 s (Windows 2000 doc cc938217;
     * the 2003 doc table says 120 s, its text 4 min: tcp-behaviour.md 5 and 12);
     * a SYN for a tuple in TIME_WAIT is ignored ([R/U], the seed 000 report);
     * TcpInitialRTT 3 s, TcpMaxConnectRetransmissions 2: SYN at 0, 3, 9 s, connect
     * fails at ~21 s; MaxUserPort 5000: ports 1025-5000, sequential [R]; no
     * timestamps (Tcp1323Opts 0); TTL 128; global IP-ID counter [R].  RST handling
     * in TIME_WAIT and the FIN_WAIT_2 lifetime are not documented (tcp-behaviour.md
     * 12): RST assassinates, FIN_WAIT_2 lasts as long as TIME_WAIT.  No window
     * scaling by default on this generation, window 65535. */
    {
        .name = "windows-2003",
        .timewait = S(240), .fin_timeout = S(240),
        .tw_syn = SIM_TW_SYN_IGNORE, .rfc1337 = false, .tw_ack_ratelimit = 0,
        .tw_reuse = 0, .tw_reuse_delay = 0, .tw_recycle = false,
        .timestamps = false, .echo_timestamps = false,
        .ts_offset = SIM_TSOFF_NONE, .ts_hz = 100, .isn = SIM_ISN_CLOCK,
        .syn_retry_at = { S(3), S(9) },
        .n_syn_retries = 2, .connect_timeout = S(21), .fast_syn_resend = false,
        .synack_retry_at = { S(3), S(9) }, .n_synack_retries = 2,
        .port_lo = 1025, .port_hi = 5000, .port_alloc = SIM_PORTS_SEQUENTIAL,
        .ttl = 128, .mss = 1460, .wscale = 0, .syn_window = 65535,
        .syn_layout = SIM_SYN_WINDOWS, .ipid_global = true,
        .source = "Windows 2000/2003 TcpTimedWaitDelay, TcpInitialRTT, MaxUserPort docs "
                  "(technet cc938217, cc938207); tcp-behaviour.md 5, 10",
    },
    /* Windows Vista / 2008 and later (10, 11, Server 2016+).  TIME_WAIT 120 s [R];
     * dynamic ports 49152-65535 (learn.microsoft.com "Troubleshoot port exhaustion");
     * SYN at 0, 3, 9 s, fail ~21 s (netsh "Initial RTO 3000, Max SYN
     * Retransmissions 2"; newer builds reportedly 1 s x 4, override syn_retry); no TS
     * in SYN, echoed when the peer's SYN has it (p0f); SYN layout
     * mss,nop,ws,nop,nop,sok, ws 8, window 64240, TTL 128 (MS doc capture, p0f). */
    {
        .name = "windows",
        .timewait = S(120), .fin_timeout = S(120),
        .tw_syn = SIM_TW_SYN_IGNORE, .rfc1337 = false, .tw_ack_ratelimit = 0,
        .tw_reuse = 0, .tw_reuse_delay = 0, .tw_recycle = false,
        .timestamps = false, .echo_timestamps = true,
        .ts_offset = SIM_TSOFF_NONE, .ts_hz = 1000, .isn = SIM_ISN_CLOCK,
        .syn_retry_at = { S(3), S(9) },
        .n_syn_retries = 2, .connect_timeout = S(21), .fast_syn_resend = false,
        .synack_retry_at = { S(3), S(9) }, .n_synack_retries = 2,
        .port_lo = 49152, .port_hi = 65535, .port_alloc = SIM_PORTS_SEQUENTIAL,
        .ttl = 128, .mss = 1460, .wscale = 8, .syn_window = 64240,
        .syn_layout = SIM_SYN_WINDOWS, .ipid_global = true,
        .source = "Windows Vista+: learn.microsoft.com port exhaustion and netsh tuning "
                  "pages, p0f signatures; tcp-behaviour.md 5, 10",
    },
    /* FreeBSD 13/14.  net.inet.tcp.msl 30 s -> TIME_WAIT 60 s (TCPTV_MSL);
     * tcp_twcheck(): RST dropped (RFC 1337), SYN with SEQ > rcv_nxt recycles the
     * TIME_WAIT, any other ACK-less segment silently dropped; finwait2_timeout 60 s;
     * tcp_syn_backoff {1,1,1,1,1,2,4,8,16,32,64} x 1 s: 1,2,3,4,5,7,11,19,35,67 s,
     * bounded by keepinit 75 s; syncache 3 retransmits [U]; portrange 10000-65535,
     * randomized; per-connection TS offset [U]; layout mss,nop,ws,sok,ts, window
     * 65535, TTL 64 (p0f). */
    {
        .name = "freebsd",
        .timewait = S(60), .fin_timeout = S(60),
        .tw_syn = SIM_TW_SYN_FREEBSD, .rfc1337 = true, .tw_ack_ratelimit = 0,
        .tw_reuse = 0, .tw_reuse_delay = 0, .tw_recycle = false,
        .timestamps = true, .echo_timestamps = true,
        .ts_offset = SIM_TSOFF_PER_TUPLE, .ts_hz = 1000, .isn = SIM_ISN_CLOCK,
        .syn_retry_at = { S(1), S(2), S(3), S(4), S(5), S(7), S(11), S(19), S(35), S(67) },
        .n_syn_retries = 10, .connect_timeout = S(75), .fast_syn_resend = false,
        .synack_retry_at = { S(1), S(3), S(7) }, .n_synack_retries = 3,
        .port_lo = 10000, .port_hi = 65535, .port_alloc = SIM_PORTS_RANDOM,
        .ttl = 64, .mss = 1460, .wscale = 6, .syn_window = 65535,
        .syn_layout = SIM_SYN_FREEBSD, .ipid_global = false,
        .source = "FreeBSD 13/14: sys/netinet/tcp_timewait.c tcp_twcheck, tcp_timer.c "
                  "tcp_syn_backoff, in_pcb.c; tcp-behaviour.md 6.1, 10",
    },
    /* macOS / iOS (XNU xnu-11417).  TCPTV_MSL 15 s -> TIME_WAIT 30 s; tcp_input.c:
     * RST ignored in TIME_WAIT, PAWS-old SYN dropped, SYN beyond the window accepted,
     * else a rate-limited RFC 5961 challenge ACK (rate taken as Linux's 500 ms [U]);
     * SYN backoff as FreeBSD's, bounded by TCPTV_KEEP_INIT 75 s; ports 49152-65535
     * with randomize_ports=0 (sequential lastport++); TS offset scope [U], taken per
     * connection; layout mss,nop,ws,nop,nop,ts,sok,eol, window 65535, TTL 64 (p0f). */
    {
        .name = "macos",
        .timewait = S(30), .fin_timeout = S(60),
        .tw_syn = SIM_TW_SYN_MACOS, .rfc1337 = true, .tw_ack_ratelimit = MS(500),
        .tw_reuse = 0, .tw_reuse_delay = 0, .tw_recycle = false,
        .timestamps = true, .echo_timestamps = true,
        .ts_offset = SIM_TSOFF_PER_TUPLE, .ts_hz = 1000, .isn = SIM_ISN_CLOCK,
        .syn_retry_at = { S(1), S(2), S(3), S(4), S(5), S(7), S(11), S(19), S(35), S(67) },
        .n_syn_retries = 10, .connect_timeout = S(75), .fast_syn_resend = false,
        .synack_retry_at = { S(1), S(3), S(7) }, .n_synack_retries = 3,
        .port_lo = 49152, .port_hi = 65535, .port_alloc = SIM_PORTS_SEQUENTIAL,
        .ttl = 64, .mss = 1460, .wscale = 6, .syn_window = 65535,
        .syn_layout = SIM_SYN_MACOS, .ipid_global = false,
        .source = "XNU xnu-11417: bsd/netinet/tcp_timer.h, tcp_input.c, in_pcb.c; p0f; "
                  "tcp-behaviour.md 6.2, 10",
    },
};

const sim_os *sim_os_lookup(const char *name)
{
    if (name == NULL)
        return NULL;
    for (size_t i = 0; i < sizeof profiles / sizeof profiles[0]; i++)
        if (strcmp(profiles[i].name, name) == 0)
            return &profiles[i];
    return NULL;
}

const sim_os *sim_os_all(size_t *n)
{
    if (n != NULL)
        *n = sizeof profiles / sizeof profiles[0];
    return profiles;
}
