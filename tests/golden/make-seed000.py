#!/usr/bin/env python3
"""make-seed000.py - writes tests/data/seed000-nat-msl.pcap: the numbered trace of
field report 000 ("TCP, NAT and 2MSL mismatch") rebuilt packet for packet, same
timings, ports and flags.

The story: clients of a partner network are NATted to one address (10.1.1.1
here) and talk to an IIS server on Windows 2003 (10.2.2.2:80).  The capture was
taken on a bridge just before the web server.  Connection 1 (packets 1-13) is
closed by the server first, so the server holds 10.1.1.1:2268 -> 10.2.2.2:80 in
TIME_WAIT (Windows 2003: 240 s by the 2000 documentation, tcp-behaviour.md 5).
The NAT, whose own hold of closed mappings is ~30 s, gives port 2268 to another
inside host 68 s later (packet 14).  The server ignores the SYN and its two
retransmissions (Windows: SYN to a TIME_WAIT tuple ignored, tcp-behaviour.md
9.2), the client gives up with RST+CWR at 98.25 s.

Packet 6 carries a time stamp 10 ms before packet 5, as in the report (the
bridge's clock granularity); it is kept.  Windows sends no TCP timestamps;
SYN options are Windows' (MSS, NOP, WS, NOP, NOP, SACK-permitted), TTL 128 at
the server and 125 for the NATted clients (three hops away).

usage: make-seed000.py [OUT]
"""

import os
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from pcapgen import csum, ip4  # noqa: E402

T0 = 1_200_000_000
C_IP, S_IP = "10.1.1.1", "10.2.2.2"
C_PORT, S_PORT = 2268, 80
MAC_C, MAC_S = bytes.fromhex("0200000000c1"), bytes.fromhex("0200000000a1")
FIN, SYN, RST, PSH, ACK, CWR = 0x01, 0x02, 0x04, 0x08, 0x10, 0x80


WIN_SYN_OPTS = bytes([2, 4, 0x05, 0xB4, 1, 3, 3, 8, 1, 1, 4, 2])  # mss 1460,nop,ws 8,nop,nop,sok


def frame(src, dst, sport, dport, seq, ack, flags, payload=b"", ttl=128, ident=0, opts=b""):
    hlen = 20 + len(opts)
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF,
                      (hlen // 4) << 4, flags, 65535, 0, 0) + opts + payload
    pseudo = ip4(src) + ip4(dst) + struct.pack("!BBH", 0, 6, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", csum(pseudo + tcp)) + tcp[18:]
    iph = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), ident, 0x4000, ttl, 6, 0,
                      ip4(src), ip4(dst))
    iph = iph[:10] + struct.pack("!H", csum(iph)) + iph[12:]
    eth = (MAC_S + MAC_C if src == C_IP else MAC_C + MAC_S) + b"\x08\x00"
    return eth + iph + tcp


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "data", "seed000-nat-msl.pcap")
    c_isn, s_isn = 1_111_000_000, 2_222_000_000
    post = b"POST /app HTTP/1.1\r\nHost: server\r\nContent-Length: 312\r\n\r\n"
    body = b"x" * 312
    whole = b"HTTP/1.1 200 OK\r\nContent-Length: 1365\r\n\r\n" + b"y" * 1365
    resp, resp2 = whole[:1000], whole[1000:]        # "200 OK", then the continuation
    c, s = c_isn + 1, s_isn + 1
    pkts = []

    def C(t, flags, payload=b"", opts=b"", ident=0):
        nonlocal c
        pkts.append((t, frame(C_IP, S_IP, C_PORT, S_PORT, c - (1 if flags & SYN else 0),
                              s if flags & ACK else 0, flags, payload, 125, ident, opts)))
        c += len(payload) + (1 if flags & FIN else 0)

    def S(t, flags, payload=b"", opts=b"", ident=0):
        nonlocal s
        pkts.append((t, frame(S_IP, C_IP, S_PORT, C_PORT, s - (1 if flags & SYN else 0),
                              c, flags, payload, 128, ident, opts)))
        s += len(payload) + (1 if flags & FIN else 0)

    C(0.000, SYN, opts=WIN_SYN_OPTS, ident=100)                    # 1
    S(0.0005, SYN | ACK, opts=WIN_SYN_OPTS, ident=500)              # 2
    C(0.010, ACK, ident=101)                                        # 3
    C(0.080, PSH | ACK, post, ident=102)                            # 4  HTTP POST
    S(0.240, ACK, ident=501)                                        # 5
    C(0.230, PSH | ACK, body, ident=103)                            # 6  continuation
    S(0.2401, PSH | ACK, resp, ident=502)                           # 7  200 OK
    S(0.2402, PSH | ACK, resp2, ident=503)                          # 8  continuation
    S(0.2403, FIN | ACK, ident=504)                                 # 9  server closes first
    C(0.290, ACK, ident=104)                                        # 10
    C(0.310, FIN | ACK, ident=105)                                  # 11
    S(0.3101, ACK, ident=505)                                       # 12
    C(0.340, ACK, ident=106)                                        # 13 duplicate ACK
    # Another inside host, same outside port: a new ISN, unrelated.
    c = 377_000_001
    C(68.26, SYN, opts=WIN_SYN_OPTS, ident=7000)                    # 14
    C(71.18, SYN, opts=WIN_SYN_OPTS, ident=7001)                    # 15
    C(77.13, SYN, opts=WIN_SYN_OPTS, ident=7002)                    # 16
    # 17: the client gives up: RST with CWR, as in the report (seq = its ISN + 1)
    pkts.append((98.25, frame(C_IP, S_IP, C_PORT, S_PORT, c, 0, RST | CWR, b"", 125, 7003)))

    with open(out, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for t, fr in pkts:
            sec = T0 + int(t)
            usec = int(round((t - int(t)) * 1e6))
            f.write(struct.pack("<IIII", sec, usec, len(fr), len(fr)) + fr)
    print("wrote %s: %d packets" % (out, len(pkts)))


if __name__ == "__main__":
    main()
