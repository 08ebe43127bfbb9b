#!/usr/bin/env python3
"""make-captures.py - writes the tests/data/peer-*.pcap captures that pin down
how tcpdoctor's incarnations and tshark's tcp.stream treat a reused 4-tuple,
the TIME_WAIT retry pattern, a stale tuple and IPv4 fragments.

usage: make-captures.py [DIR]      (default: tests/data beside this script)

The captures are written byte by byte (pcap, microsecond time stamps,
Ethernet), with correct IPv4 and TCP checksums, so the output is the same on
every run.  Each capture's story is in the docstring of the function that
builds it; what tshark makes of it is in known-differences.tsv and in
docs/conns.md ("Known differences from peers").
"""

import os
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "lib"))
from pcapgen import csum, ip4  # noqa: E402

T0 = 1_700_000_000          # first time stamp (seconds since the epoch)
MAC_C = bytes.fromhex("020000000001")
MAC_S = bytes.fromhex("020000000002")

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10


def tcp_segment(src, dst, sport, dport, seq, ack, flags, payload, window=64240,
                mss=None):
    """A TCP header (with an MSS option on SYNs if asked) and its payload,
    checksummed over the IPv4 pseudo-header."""
    opts = struct.pack("!BBH", 2, 4, mss) if mss else b""
    hlen = 20 + len(opts)
    hdr = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF,
                      ack & 0xFFFFFFFF, (hlen // 4) << 4, flags, window, 0, 0)
    seg = hdr + opts + payload
    pseudo = ip4(src) + ip4(dst) + struct.pack("!BBH", 0, 6, len(seg))
    c = csum(pseudo + seg)
    return seg[:16] + struct.pack("!H", c) + seg[18:]


def ipv4(src, dst, ident, data, frag_offset=0, more=False, ttl=64):
    """An IPv4 header (no options) carrying data as TCP; frag_offset in bytes."""
    assert frag_offset % 8 == 0
    fl = (0x2000 if more else 0) | (frag_offset // 8)
    if frag_offset == 0 and not more:
        fl |= 0x4000            # DF on unfragmented packets, as Linux sends
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(data), ident, fl, ttl,
                      6, 0, ip4(src), ip4(dst))
    return hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:] + data


def ether(from_client, ip_packet):
    src, dst = (MAC_C, MAC_S) if from_client else (MAC_S, MAC_C)
    return dst + src + b"\x08\x00" + ip_packet


class Capture:
    """Frames in order, each with a time stamp in microseconds after T0."""

    def __init__(self):
        self.frames = []
        self.us = 0
        self.ident = 0x1000

    def add(self, frame, gap_us):
        self.us += gap_us
        self.frames.append((self.us, frame))

    def write(self, path):
        out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
        for us, frame in self.frames:
            out.append(struct.pack("<IIII", T0 + us // 1_000_000,
                                   us % 1_000_000, len(frame), len(frame)))
            out.append(frame)
        with open(path, "wb") as f:
            f.write(b"".join(out))


class Conn:
    """One 4-tuple; tcp() writes a segment from either side (whole, in one
    IPv4 packet) with explicit sequence and acknowledgement numbers."""

    def __init__(self, cap, client, cport, server, sport):
        self.cap = cap
        self.c, self.cp, self.s, self.sp = client, cport, server, sport

    def _ends(self, from_client):
        if from_client:
            return self.c, self.s, self.cp, self.sp
        return self.s, self.c, self.sp, self.cp

    def tcp(self, from_client, seq, ack, flags, payload=b"", gap_us=1000,
            mss=None):
        src, dst, sport, dport = self._ends(from_client)
        seg = tcp_segment(src, dst, sport, dport, seq, ack, flags, payload,
                          mss=mss)
        self.cap.ident += 1
        self.cap.add(ether(from_client, ipv4(src, dst, self.cap.ident, seg)),
                     gap_us)

    def fragmented(self, from_client, seq, ack, flags, payload, first_len,
                   reverse=False, gap_us=1000):
        """The segment in two IPv4 fragments: the first carries first_len
        bytes of the IP payload (TCP header included, a multiple of 8), the
        second the rest.  reverse puts the second fragment on the wire first."""
        src, dst, sport, dport = self._ends(from_client)
        seg = tcp_segment(src, dst, sport, dport, seq, ack, flags, payload)
        self.cap.ident += 1
        f1 = ether(from_client, ipv4(src, dst, self.cap.ident, seg[:first_len],
                                     0, True))
        f2 = ether(from_client, ipv4(src, dst, self.cap.ident, seg[first_len:],
                                     first_len, False))
        for f in ((f2, f1) if reverse else (f1, f2)):
            self.cap.add(f, gap_us)
            gap_us = 10

    def handshake(self, cisn, sisn, gap_us=1000):
        self.tcp(True, cisn, 0, SYN, gap_us=gap_us, mss=1460)
        self.tcp(False, sisn, cisn + 1, SYN | ACK, mss=1460)
        self.tcp(True, cisn + 1, sisn + 1, ACK)


def reuse_after_close(path):
    """(1) 10.0.0.1:40000 > 10.0.0.2:80 twice: a connection with data that
    ends with FIN both ways, then 1 s later a SYN with a new ISN (2
    incarnations).  Second tuple, 10.0.0.1:40001: a connection closed with
    FIN both ways, then a SYN-ACK with a new ISN whose SYN was not captured,
    the client's ACK, data, the client's RST (2 incarnations).  Third tuple,
    10.0.0.1:40002: a connection the server resets, then 0.5 s later a SYN
    with a new ISN, a full handshake and FIN both ways (2 incarnations)."""
    cap = Capture()
    a = Conn(cap, "10.0.0.1", 40000, "10.0.0.2", 80)
    c, s = 1000, 5000
    a.handshake(c, s)
    a.tcp(True, c + 1, s + 1, PSH | ACK, b"G" * 100)                # 4
    a.tcp(False, s + 1, c + 101, ACK)
    a.tcp(False, s + 1, c + 101, PSH | ACK, b"H" * 200)
    a.tcp(True, c + 101, s + 201, ACK)
    a.tcp(True, c + 101, s + 201, FIN | ACK)                        # 8
    a.tcp(False, s + 201, c + 102, FIN | ACK)
    a.tcp(True, c + 102, s + 202, ACK)                              # 10
    c, s = 900000, 700000
    a.handshake(c, s, gap_us=1_000_000)                             # 11-13
    a.tcp(True, c + 1, s + 1, PSH | ACK, b"x" * 10)
    a.tcp(False, s + 1, c + 11, ACK)
    a.tcp(True, c + 11, s + 1, RST | ACK)                           # 16

    b = Conn(cap, "10.0.0.1", 40001, "10.0.0.2", 80)
    c, s = 2000, 6000
    b.handshake(c, s, gap_us=100_000)                               # 17-19
    b.tcp(True, c + 1, s + 1, FIN | ACK)
    b.tcp(False, s + 1, c + 2, FIN | ACK)
    b.tcp(True, c + 2, s + 2, ACK)                                  # 22
    c, s = 800000, 600000
    b.tcp(False, s, c + 1, SYN | ACK, gap_us=1_000_000, mss=1460)   # 23
    b.tcp(True, c + 1, s + 1, ACK)
    b.tcp(True, c + 1, s + 1, PSH | ACK, b"y" * 20)
    b.tcp(True, c + 21, s + 1, RST | ACK)                           # 26

    r = Conn(cap, "10.0.0.1", 40002, "10.0.0.2", 80)
    c, s = 3000, 9000
    r.handshake(c, s, gap_us=100_000)                               # 27-29
    r.tcp(False, s + 1, c + 1, RST | ACK)                           # 30
    c, s = 400000, 500000
    r.handshake(c, s, gap_us=500_000)                               # 31-33
    r.tcp(True, c + 1, s + 1, FIN | ACK)
    r.tcp(False, s + 1, c + 2, FIN | ACK)
    r.tcp(True, c + 2, s + 2, ACK)                                  # 36
    cap.write(path)


def timewait_retry(path):
    """(2) The TIME_WAIT signature.  10.0.0.1:40010 > 10.0.0.2:80: a
    connection the server closes first (it is left in TIME_WAIT); 0.5 s
    later the client's SYN with a lower ISN, the server's bare ACK of the
    old connection, the client's RST, the same-ISN SYN 1 s later, SYN-ACK,
    ACK, data, FIN both ways (2 incarnations, the second with syn_count 2).
    10.0.0.1:40011: the same signature with no old connection in the capture
    (1 incarnation, syn_count 2).  10.0.0.1:40012: a connection closed with
    FIN both ways, then 1 s later a SYN with the same ISN as its first SYN and
    a SYN-ACK with the same server ISN (1 incarnation, syn_count 2)."""
    cap = Capture()
    a = Conn(cap, "10.0.0.1", 40010, "10.0.0.2", 80)
    c, s = 500000, 300000
    a.handshake(c, s)
    a.tcp(True, c + 1, s + 1, PSH | ACK, b"q" * 50)                 # 4
    a.tcp(False, s + 1, c + 51, PSH | ACK, b"r" * 70)
    a.tcp(False, s + 71, c + 51, FIN | ACK)
    a.tcp(True, c + 51, s + 72, FIN | ACK)
    a.tcp(False, s + 72, c + 52, ACK)                               # 8
    old_c, old_s = c + 52, s + 72
    c, s = 100000, 4000000
    a.tcp(True, c, 0, SYN, gap_us=500_000, mss=1460)                # 9
    a.tcp(False, old_s, old_c, ACK)                                 # 10
    a.tcp(True, old_c, 0, RST)                                      # 11
    a.tcp(True, c, 0, SYN, gap_us=1_000_000, mss=1460)              # 12
    a.tcp(False, s, c + 1, SYN | ACK, mss=1460)
    a.tcp(True, c + 1, s + 1, ACK)
    a.tcp(True, c + 1, s + 1, PSH | ACK, b"z" * 30)                 # 15
    a.tcp(True, c + 31, s + 1, FIN | ACK)
    a.tcp(False, s + 1, c + 32, FIN | ACK)
    a.tcp(True, c + 32, s + 2, ACK)                                 # 18

    b = Conn(cap, "10.0.0.1", 40011, "10.0.0.2", 80)
    c, s = 7000, 8000
    b.tcp(True, c, 0, SYN, gap_us=100_000, mss=1460)                # 19
    b.tcp(False, 123456, 654321, ACK)                               # 20
    b.tcp(True, 654321, 0, RST)                                     # 21
    b.tcp(True, c, 0, SYN, gap_us=1_000_000, mss=1460)              # 22
    b.tcp(False, s, c + 1, SYN | ACK, mss=1460)
    b.tcp(True, c + 1, s + 1, ACK)                                  # 24

    d = Conn(cap, "10.0.0.1", 40012, "10.0.0.2", 80)
    c, s = 9000, 10000
    d.handshake(c, s, gap_us=100_000)                               # 25-27
    d.tcp(True, c + 1, s + 1, FIN | ACK)
    d.tcp(False, s + 1, c + 2, FIN | ACK)
    d.tcp(True, c + 2, s + 2, ACK)                                  # 30
    d.tcp(True, c, 0, SYN, gap_us=1_000_000, mss=1460)              # 31
    d.tcp(False, s, c + 1, SYN | ACK, mss=1460)                     # 32
    cap.write(path)


def stale_tuple(path):
    """(3) A stale tuple.  10.0.0.1:40020 > 10.0.0.2:80: an established
    connection with data both ways and no close; 2 s later a SYN with a new
    ISN (the client forgot the old one), the server's challenge ACK (RFC 5961
    4), the client's RST, the SYN retransmitted with the same new ISN,
    SYN-ACK, ACK, data, FIN both ways (2 incarnations).  10.0.0.1:40021: a
    connection already open when the capture starts (data both ways, no SYN),
    then a SYN with an ISN of its own, SYN-ACK, ACK (2 incarnations, the first
    with roles inferred)."""
    cap = Capture()
    a = Conn(cap, "10.0.0.1", 40020, "10.0.0.2", 80)
    c, s = 11000, 22000
    a.handshake(c, s)
    a.tcp(True, c + 1, s + 1, PSH | ACK, b"a" * 40)                 # 4
    a.tcp(False, s + 1, c + 41, PSH | ACK, b"b" * 60)
    a.tcp(True, c + 41, s + 61, ACK)                                # 6
    old_c, old_s = c + 41, s + 61
    c, s = 3000000, 5000000
    a.tcp(True, c, 0, SYN, gap_us=2_000_000, mss=1460)              # 7
    a.tcp(False, old_s, old_c, ACK)                                 # 8
    a.tcp(True, old_c, 0, RST)                                      # 9
    a.tcp(True, c, 0, SYN, gap_us=1_000_000, mss=1460)              # 10
    a.tcp(False, s, c + 1, SYN | ACK, mss=1460)
    a.tcp(True, c + 1, s + 1, ACK)
    a.tcp(True, c + 1, s + 1, PSH | ACK, b"c" * 25)                 # 13
    a.tcp(False, s + 1, c + 26, FIN | ACK)
    a.tcp(True, c + 26, s + 2, FIN | ACK)
    a.tcp(False, s + 2, c + 27, ACK)                                # 16

    m = Conn(cap, "10.0.0.1", 40021, "10.0.0.2", 80)
    m.tcp(True, 70001, 80001, PSH | ACK, b"m" * 10, gap_us=100_000) # 17
    m.tcp(False, 80001, 70011, PSH | ACK, b"n" * 20)
    m.tcp(True, 70011, 80021, ACK)                                  # 19
    c, s = 60000, 90000
    m.tcp(True, c, 0, SYN, gap_us=1_000_000, mss=1460)              # 20
    m.tcp(False, s, c + 1, SYN | ACK, mss=1460)
    m.tcp(True, c + 1, s + 1, ACK)                                  # 22
    cap.write(path)


def ipv4_fragments(path):
    """(4) IPv4 fragments.  10.0.0.1:40030 > 10.0.0.2:80: handshake; a
    1400-byte segment from the client in two fragments, in order (1024 and
    396 bytes of IP payload: TCP header + 1004 bytes, then 396 bytes);
    the server's ACK; a 1000-byte segment from the server in two fragments
    in reverse order (the non-first fragment, 516 bytes, on the wire before
    the first, TCP header + 484 bytes); the client's ACK; FIN both ways.
    One incarnation: 1400 bytes to the server, 1000 to the client."""
    cap = Capture()
    a = Conn(cap, "10.0.0.1", 40030, "10.0.0.2", 80)
    c, s = 40000, 80000
    a.handshake(c, s)
    a.fragmented(True, c + 1, s + 1, PSH | ACK, bytes(range(256)) * 5
                 + bytes(120), 1024)                                # 4, 5
    a.tcp(False, s + 1, c + 1401, ACK)                              # 6
    a.fragmented(False, s + 1, c + 1401, PSH | ACK, b"R" * 1000, 504,
                 reverse=True)                                      # 7, 8
    a.tcp(True, c + 1401, s + 1001, ACK)                            # 9
    a.tcp(True, c + 1401, s + 1001, FIN | ACK)
    a.tcp(False, s + 1001, c + 1402, FIN | ACK)
    a.tcp(True, c + 1402, s + 1002, ACK)                            # 12
    cap.write(path)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        here, "..", "..", "data")
    for name, fn in (("peer-reuse-after-close.pcap", reuse_after_close),
                     ("peer-timewait-retry.pcap", timewait_retry),
                     ("peer-stale-tuple.pcap", stale_tuple),
                     ("peer-ipv4-fragments.pcap", ipv4_fragments)):
        fn(os.path.join(out, name))
        print(os.path.join(out, name))


if __name__ == "__main__":
    main()
