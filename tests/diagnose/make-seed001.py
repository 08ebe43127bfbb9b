#!/usr/bin/env python3
"""make-seed001.py - writes tests/data/seed001-proxy-reuse.pcap: seed 001's two
proxies, the downstream reusing source ports with sequence numbers that are
not larger, seen at the upstream.

usage: make-seed001.py [DIR]      (default: tests/data beside this script)

The story (seed 001, "TIME_WAIT and port reuse").  A downstream proxy
10.1.1.10 forwards requests to an upstream proxy 10.2.2.20:8080 over
short connections.  The upstream answers and closes first (it sends the
first FIN), so it keeps every 4-tuple in TIME_WAIT for 60 s (Linux,
tcp-behaviour.md 3.1).  The downstream's stack does not use timestamps and
does not draw its ISNs from a clock (RFC 6528): it reuses its source ports a
few seconds after a close with ISNs that are sometimes lower than before,
sometimes higher.  (The seed also mentions reuse with the very same ISN;
tcpdoctor's flow table takes a SYN carrying the incarnation's own ISN for a
retransmission of it, so such a reuse would not show as a reuse at all: it
is left out here.)

The upstream is Linux.  What it does with a SYN for a 4-tuple in TIME_WAIT
follows tcp-behaviour.md 3.3 (tcp_timewait_state_process()):
  * SYN with SEQ above the old RCV.NXT (no timestamps to compare): accepted
    (rule 2); the SYN-ACK's ISN is the old connection's snd_nxt + 65537.
  * SYN with SEQ not above: not acceptable, and in true TIME_WAIT Linux never
    answers a SYN with an RST (only the FIN_WAIT2 substate does, and only for
    SEQ >= rcv_nxt).  It sends the TW ACK (rule 4): SEQ = its old FIN + 1,
    ACK = the downstream's old FIN + 1.  The downstream, in SYN-SENT, answers
    that unacceptable ACK with an RST whose SEQ is the ACK's number (RFC 9293,
    tcp-behaviour.md 3.5); that RST hits rcv_nxt exactly and kills the
    TIME_WAIT (rule 1, tcp_rfc1337 = 0); the downstream's SYN retransmission
    1 s later (it is not a Linux >= 5.6 client, no fast resend) meets the
    listener and connects.
So the seed's "the upstream proxy resets the connection" shows up here as
the upstream's stale ACK and the downstream's RST (tcp-behaviour.md 9.2), the
form a Linux upstream produces; the user sees a 1 s stall per reuse.

Tuples and times (packet numbers in the comments):
  40001  #1-#10    first connection, closed by the upstream at 0.05 s
  40001  #11-#23   reuse 3.2 s later, ISN below the old final seq: stale ACK,
                   RST, retry at +1 s, connects
  40002  #24-#33   first connection
  40001  #34-#43   reuse 4.5 s after #23, ISN above: accepted at once, the
                   SYN-ACK's ISN = old snd_nxt + 65537
  40002  #44-#56   reuse 5.0 s after #33, ISN 100 M below (modulo 2^32, as
                   the server compares): stale ACK, RST, retry
  40001  #57-#69   reuse 5.5 s after #43, ISN below even the old ISN: stale
                   ACK, RST, retry
Capture point: the upstream (its packets TTL 64; the downstream's TTL 63,
one router between).  No TCP timestamps anywhere.
"""

import os
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from pcapgen import csum, ip4  # noqa: E402

T0 = 1_700_000_000
MAC_D = bytes.fromhex("020000000a01")   # downstream side (router)
MAC_U = bytes.fromhex("020000000a02")   # upstream

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
DOWN, UP = "10.1.1.10", "10.2.2.20"
UP_PORT = 8080
RTT_US = 2000           # downstream <-> upstream round trip
SERVE_US = 150          # upstream's own reaction time (it is where we capture)


def tcp_segment(src, dst, sport, dport, seq, ack, flags, payload, mss=None,
                window=29200):
    opts = struct.pack("!BBH", 2, 4, mss) if mss else b""
    hlen = 20 + len(opts)
    hdr = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF,
                      ack & 0xFFFFFFFF, (hlen // 4) << 4, flags, window, 0, 0)
    seg = hdr + opts + payload
    pseudo = ip4(src) + ip4(dst) + struct.pack("!BBH", 0, 6, len(seg))
    c = csum(pseudo + seg)
    return seg[:16] + struct.pack("!H", c) + seg[18:]


def ipv4(src, dst, ident, data, ttl, df=True):
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(data), ident & 0xFFFF,
                      0x4000 if df else 0, ttl, 6, 0, ip4(src), ip4(dst))
    return hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:] + data


class Capture:
    def __init__(self):
        self.frames = []
        self.us = 0
        self.ident = {DOWN: 0x2000, UP: 0x7000}

    def at(self, us):
        assert us >= self.us, (us, self.us)
        self.us = us

    def send(self, from_down, sport, dport, seq, ack, flags, payload=b"",
             mss=None, gap_us=0, ident=None):
        self.us += gap_us
        src, dst = (DOWN, UP) if from_down else (UP, DOWN)
        seg = tcp_segment(src, dst, sport, dport, seq, ack, flags, payload,
                          mss=mss)
        if ident is None:
            self.ident[src] += 1
            ident = self.ident[src]
        ttl = 63 if from_down else 64
        frame = ((MAC_U, MAC_D) if from_down else (MAC_D, MAC_U))
        self.frames.append((self.us, frame[0] + frame[1] + b"\x08\x00" +
                            ipv4(src, dst, ident, seg, ttl)))

    def write(self, path):
        out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
        for us, frame in self.frames:
            out.append(struct.pack("<IIII", T0 + us // 1_000_000,
                                   us % 1_000_000, len(frame), len(frame)))
            out.append(frame)
        with open(path, "wb") as f:
            f.write(b"".join(out))


REQ = b"GET http://example.test/ HTTP/1.1\r\nHost: example.test\r\n\r\n" + b"x" * 200
RESP = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + b"y" * 1100


def exchange(cap, port, c, s):
    """After the handshake: request, response, the upstream closes first.
    c and s are the next sequence numbers; returns the final ones (after
    both FINs).  10 packets with the handshake's 3 already sent: 7 here."""
    cap.send(True, port, UP_PORT, c, s, PSH | ACK, REQ, gap_us=300)
    cap.send(False, UP_PORT, port, s, c + len(REQ), ACK, gap_us=SERVE_US)
    cap.send(False, UP_PORT, port, s, c + len(REQ), PSH | ACK, RESP, gap_us=4000)
    c += len(REQ)
    s += len(RESP)
    cap.send(False, UP_PORT, port, s, c, FIN | ACK, gap_us=100)      # upstream closes
    cap.send(True, port, UP_PORT, c, s + 1, ACK, gap_us=RTT_US)
    cap.send(True, port, UP_PORT, c, s + 1, FIN | ACK, gap_us=200)
    cap.send(False, UP_PORT, port, s + 1, c + 1, ACK, gap_us=SERVE_US)
    return c + 1, s + 1


def connect(cap, port, cisn, sisn):
    """A clean handshake and exchange; returns the final (client, server)
    sequence numbers: the upstream's TIME_WAIT holds rcv_nxt = client final,
    snd_nxt = server final."""
    cap.send(True, port, UP_PORT, cisn, 0, SYN, mss=1460)
    cap.send(False, UP_PORT, port, sisn, cisn + 1, SYN | ACK, mss=1460,
             gap_us=SERVE_US)
    cap.send(True, port, UP_PORT, cisn + 1, sisn + 1, ACK, gap_us=RTT_US)
    return exchange(cap, port, cisn + 1, sisn + 1)


def refused_reuse(cap, port, cisn, old, fresh_sisn):
    """The Linux TIME_WAIT answer to a SYN whose ISN is not above the old
    RCV.NXT: TW ACK, the client's RST (SEQ = that ACK), its SYN again 1 s
    later, now met by the listener."""
    old_c, old_s = old
    cap.send(True, port, UP_PORT, cisn, 0, SYN, mss=1460)
    # tcp_v4_timewait_ack(): SEQ = tw_snd_nxt, ACK = tw_rcv_nxt; sent
    # without a full socket: IP ID 0 (tcp-behaviour.md 9.10).
    cap.send(False, UP_PORT, port, old_s, old_c, ACK, gap_us=SERVE_US, ident=0)
    cap.send(True, port, UP_PORT, old_c, 0, RST, gap_us=RTT_US)
    cap.send(True, port, UP_PORT, cisn, 0, SYN, mss=1460, gap_us=1_000_000)
    cap.send(False, UP_PORT, port, fresh_sisn, cisn + 1, SYN | ACK, mss=1460,
             gap_us=SERVE_US)
    cap.send(True, port, UP_PORT, cisn + 1, fresh_sisn + 1, ACK, gap_us=RTT_US)
    return exchange(cap, port, cisn + 1, fresh_sisn + 1)


def accepted_reuse(cap, port, cisn, old):
    """ISN above the old RCV.NXT: accepted from TIME_WAIT; the SYN-ACK's ISN
    is tw_snd_nxt + 65535 + 2 (tcp_timewait_state_process(), rule 2)."""
    _, old_s = old
    return connect(cap, port, cisn, (old_s + 65537) & 0xFFFFFFFF)


def seed001(path):
    cap = Capture()
    a1 = connect(cap, 40001, 3_000_000_000, 700_000_000)          # 1-10
    cap.at(cap.us + 3_200_000)
    a2 = refused_reuse(cap, 40001, 1_200_000_000, a1, 812_000_000)  # 11-23
    cap.at(cap.us + 1_500_000)
    b1 = connect(cap, 40002, 2_500_000_000, 905_000_000)          # 24-33
    cap.at(cap.us + 3_000_000)
    a3 = accepted_reuse(cap, 40001, 2_100_000_000, a2)            # 34-43
    cap.at(cap.us + 2_000_000)
    refused_reuse(cap, 40002, 2_400_000_000, b1, 1_130_000_000)   # 44-56
    cap.at(cap.us + 2_500_000)
    refused_reuse(cap, 40001, 150_000_000, a3, 1_500_000_000)     # 57-69
    cap.write(path)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "data")
    seed001(os.path.join(out, "seed001-proxy-reuse.pcap"))


if __name__ == "__main__":
    main()
