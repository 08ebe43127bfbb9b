#!/usr/bin/env python3
"""tests/audit/make-fixtures.py: write the procfs fixture trees of tests/data/procfs/ that stand for
hosts the test machine is not (narrow-client is recorded from the real kernel by run-netns --regen).

usage: make-fixtures.py [DIR]   (default: tests/data/procfs next to this script)

  linux49-tw-recycle  a Linux 4.9 server with tcp_tw_recycle = 1 that has dropped SYNs with its
                      per-host timestamp check (PAWSPassive 4127, ListenDrops 4131): the field
                      reports' case (tcp-behaviour.md 3.10, 9.5).  No tcp_tw_reuse_delay (6.14+).
  nat-conntrack       a Linux 6.1 NAT gateway with 240 000 of 262 144 conntrack entries (91.6 %),
                      nf_conntrack_tcp_timeout_time_wait lowered to 30 s (below a Linux server's 60),
                      and net/stat/nf_conntrack showing 541 drops and 21 early drops on 2 CPUs.
  healthy             a Linux 6.12 host with defaults and small counters: no finding.

The netstat/snmp layouts follow the kernels' net/ipv4/proc.c; values not listed are 0.  Review the
diff after regenerating: the unit and golden tests assert on these numbers.
"""
import os
import sys

TCPEXT_49 = """SyncookiesSent SyncookiesRecv SyncookiesFailed EmbryonicRsts PruneCalled RcvPruned OfoPruned
OutOfWindowIcmps LockDroppedIcmps ArpFilter TW TWRecycled TWKilled PAWSPassive PAWSActive PAWSEstab
DelayedACKs DelayedACKLocked DelayedACKLost ListenOverflows ListenDrops TCPPrequeued
TCPDirectCopyFromBacklog TCPDirectCopyFromPrequeue TCPPrequeueDropped TCPHPHits TCPHPHitsToUser
TCPPureAcks TCPHPAcks TCPRenoRecovery TCPSackRecovery TCPSACKReneging TCPFACKReorder TCPSACKReorder
TCPRenoReorder TCPTSReorder TCPFullUndo TCPPartialUndo TCPDSACKUndo TCPLossUndo TCPLostRetransmit
TCPRenoFailures TCPSackFailures TCPLossFailures TCPFastRetrans TCPForwardRetrans TCPSlowStartRetrans
TCPTimeouts TCPLossProbes TCPLossProbeRecovery TCPRenoRecoveryFail TCPSackRecoveryFail
TCPSchedulerFailed TCPRcvCollapsed TCPDSACKOldSent TCPDSACKOfoSent TCPDSACKRecv TCPDSACKOfoRecv
TCPAbortOnData TCPAbortOnClose TCPAbortOnMemory TCPAbortOnTimeout TCPAbortOnLinger TCPAbortFailed
TCPMemoryPressures TCPSACKDiscard TCPDSACKIgnoredOld TCPDSACKIgnoredNoUndo TCPSpuriousRTOs
TCPMD5NotFound TCPMD5Unexpected TCPMD5Failure TCPSackShifted TCPSackMerged TCPSackShiftFallback
TCPBacklogDrop TCPMinTTLDrop TCPDeferAcceptDrop IPReversePathFilter TCPTimeWaitOverflow
TCPReqQFullDoCookies TCPReqQFullDrop TCPRetransFail TCPRcvCoalesce TCPOFOQueue TCPOFODrop TCPOFOMerge
TCPChallengeACK TCPSYNChallenge TCPFastOpenActive TCPFastOpenActiveFail TCPFastOpenPassive
TCPFastOpenPassiveFail TCPFastOpenListenOverflow TCPFastOpenCookieReqd TCPSpuriousRtxHostQueues
BusyPollRxPackets TCPAutoCorking TCPFromZeroWindowAdv TCPToZeroWindowAdv TCPWantZeroWindowAdv
TCPSynRetrans TCPOrigDataSent TCPHystartTrainDetect TCPHystartTrainCwnd TCPHystartDelayDetect
TCPHystartDelayCwnd TCPACKSkippedSynRecv TCPACKSkippedPAWS TCPACKSkippedSeq TCPACKSkippedFinWait2
TCPACKSkippedTimeWait TCPACKSkippedChallenge TCPWinProbe TCPKeepAlive TCPMTUPFail TCPMTUPSuccess""".split()

# Linux 6.x: PAWSPassive gone (4.12), PAWSOldAck/PAWSTimewait and more added.
TCPEXT_6 = [n for n in TCPEXT_49 if n not in (
    "PAWSPassive", "TCPPrequeued", "TCPDirectCopyFromBacklog", "TCPDirectCopyFromPrequeue",
    "TCPPrequeueDropped", "TCPHPHitsToUser", "TCPFACKReorder", "TCPForwardRetrans")]
TCPEXT_6[TCPEXT_6.index("PAWSEstab") + 1:TCPEXT_6.index("PAWSEstab") + 1] = [
    "BeyondWindow", "TSECRRejected", "PAWSOldAck", "PAWSTimewait"]
TCPEXT_6 += ["TCPDelivered", "TCPDeliveredCE", "TCPAckCompressed", "TCPZeroWindowDrop",
             "TCPRcvQDrop", "TCPWqueueTooBig", "TCPFastOpenPassiveAltKey", "TcpTimeoutRehash",
             "TcpDuplicateDataRehash", "TCPDSACKRecvSegs", "TCPDSACKIgnoredDubious",
             "TCPMigrateReqSuccess", "TCPMigrateReqFailure", "TCPPLBRehash", "TCPAORequired",
             "TCPAOBad", "TCPAOKeyNotFound", "TCPAOGood", "TCPAODroppedIcmps"]

IPEXT = ("InNoRoutes InTruncatedPkts InMcastPkts OutMcastPkts InBcastPkts OutBcastPkts InOctets "
         "OutOctets InMcastOctets OutMcastOctets InBcastOctets OutBcastOctets InCsumErrors "
         "InNoECTPkts InECT1Pkts InECT0Pkts InCEPkts").split()

TCP_SNMP = ("RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens AttemptFails EstabResets "
            "CurrEstab InSegs OutSegs RetransSegs InErrs OutRsts InCsumErrors").split()


def pair(group, names, values):
    return (f"{group}: " + " ".join(names) + "\n" +
            f"{group}: " + " ".join(str(values.get(n, 0)) for n in names) + "\n")


def snmp(tcp):
    ip = ("Forwarding DefaultTTL InReceives InHdrErrors InAddrErrors ForwDatagrams "
          "InUnknownProtos InDiscards InDelivers OutRequests OutDiscards OutNoRoutes ReasmTimeout "
          "ReasmReqds ReasmOKs ReasmFails FragOKs FragFails FragCreates").split()
    base = {"RtoAlgorithm": 1, "RtoMin": 200, "RtoMax": 120000, "MaxConn": -1}
    base.update(tcp)
    return (pair("Ip", ip, {"Forwarding": 1, "DefaultTTL": 64, "InReceives": 918273645,
                            "InDelivers": 918000000, "OutRequests": 905000000}) +
            pair("Tcp", TCP_SNMP, base) +
            pair("Udp", "InDatagrams NoPorts InErrors OutDatagrams".split(), {"InDatagrams": 1200}))


def write(root, rel, text):
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def ipv4_sysctls(root, **over):
    vals = {"tcp_tw_reuse": "2", "tcp_tw_reuse_delay": "1000", "tcp_timestamps": "1",
            "tcp_fin_timeout": "60", "tcp_max_tw_buckets": "262144", "tcp_rfc1337": "0",
            "ip_local_port_range": "32768\t60999", "ip_local_reserved_ports": ""}
    vals.update(over)
    for k, v in vals.items():
        if v is not None:
            write(root, f"sys/net/ipv4/{k}", v + "\n")


def conntrack(root, **vals):
    for k, v in vals.items():
        write(root, f"sys/net/netfilter/{k}", f"{v}\n")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "data", "procfs")

    r = os.path.join(out, "linux49-tw-recycle")
    write(r, "sys/kernel/osrelease", "4.9.0-8-amd64\n")
    ipv4_sysctls(r, tcp_tw_reuse="0", tcp_tw_reuse_delay=None, ip_local_port_range="32768\t61000",
                 tcp_tw_recycle="1")
    write(r, "net/netstat",
          pair("TcpExt", TCPEXT_49, {"TW": 1823344, "TWKilled": 982111, "PAWSPassive": 4127,
                                     "PAWSEstab": 12, "ListenDrops": 4131, "DelayedACKs": 551230,
                                     "TCPPureAcks": 2210398, "TCPAbortOnData": 310,
                                     "TCPTimeouts": 1022, "TCPSynRetrans": 88}) +
          pair("IpExt", IPEXT, {"InOctets": 81237712345, "OutOctets": 92817263541,
                                "InNoECTPkts": 918273645}))
    write(r, "net/snmp", snmp({"ActiveOpens": 1022, "PassiveOpens": 2805411, "AttemptFails": 31,
                               "EstabResets": 2001, "CurrEstab": 211, "InSegs": 40212345,
                               "OutSegs": 41298711, "RetransSegs": 9120, "OutRsts": 6012}))

    r = os.path.join(out, "nat-conntrack")
    write(r, "sys/kernel/osrelease", "6.1.0-18-amd64\n")
    ipv4_sysctls(r, tcp_tw_reuse_delay=None)
    conntrack(r, nf_conntrack_max=262144, nf_conntrack_count=240000,
              nf_conntrack_tcp_timeout_time_wait=30, nf_conntrack_tcp_timeout_close=10,
              nf_conntrack_tcp_timeout_established=432000)
    # two CPUs (ct_cpu_seq_show): 0x1f3 + 0x2a = 541 drops, 0x10 + 0x5 = 21 early drops
    ct_cols = ("entries  clashres found new invalid ignore delete chainlength insert insert_failed "
               "drop early_drop icmp_error  expect_new expect_create expect_delete search_restart")
    ct_cpu = [{"entries": 0x3a980, "drop": 0x1f3, "early_drop": 0x10, "insert_failed": 0x3},
              {"entries": 0x3a980, "drop": 0x2a, "early_drop": 0x5, "insert_failed": 0x0}]
    write(r, "net/stat/nf_conntrack", ct_cols + "\n" + "".join(
        " ".join(f"{c.get(n, 0):08x}" for n in ct_cols.split()) + "\n" for c in ct_cpu))
    write(r, "net/netstat",
          pair("TcpExt", TCPEXT_6, {"TW": 120, "TCPPureAcks": 1200}) +
          pair("IpExt", IPEXT, {"InOctets": 1234567, "OutOctets": 7654321}))
    write(r, "net/snmp", snmp({"ActiveOpens": 40, "PassiveOpens": 90, "CurrEstab": 3,
                               "InSegs": 9000, "OutSegs": 9100}))

    r = os.path.join(out, "healthy")
    write(r, "sys/kernel/osrelease", "6.12.9-amd64\n")
    ipv4_sysctls(r, ip_local_reserved_ports="8080-8089,9100")
    write(r, "net/netstat",
          pair("TcpExt", TCPEXT_6, {"TW": 5000, "TCPPureAcks": 9100, "TCPTimeouts": 3}) +
          pair("IpExt", IPEXT, {"InOctets": 91234567, "OutOctets": 97654321}))
    write(r, "net/snmp", snmp({"ActiveOpens": 5100, "PassiveOpens": 20, "CurrEstab": 4,
                               "InSegs": 190000, "OutSegs": 191000, "OutRsts": 2}))


if __name__ == "__main__":
    main()
