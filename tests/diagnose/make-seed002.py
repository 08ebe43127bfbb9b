#!/usr/bin/env python3
"""make-seed002.py - writes the field report 002 captures ("tcp_tw_recycle and
NAT"): three hosts of an office behind one NAT address connect to a Linux 4.9
web server with net.ipv4.tcp_tw_recycle=1, captured at the server.

    tests/data/seed002-tw-recycle.pcap   the server runs tcp_tw_recycle=1
    tests/data/seed002-no-recycle.pcap   the same clients, recycle off: every
                                         SYN is answered (negative check)

The story (times are seconds after the first packet):
  - Office NAT 198.51.100.7 (ports preserved) hides three Linux clients with
    1000 Hz timestamp clocks and per-host offsets (Linux 4.13-6.x):
        H1 offset   500,000,000  ports 40001, 40003, ...
        H2 offset     1,000,000  ports 51000, 51002
        H3 offset 3,000,000,000  ports 33000, 33002
    In 32-bit serial arithmetic (RFC 7323 5.2, as the kernel compares) H1 is
    ahead of both others: H2 is 499 M ticks behind it, H3 (3e9 - 5e8 =
    2.5e9 > 2^31) is 1.79 G ticks behind it.  All send TTL 64, seen as 63.
  - The server 203.0.113.10:443 speaks HTTP/1.0 and closes first, so each
    connection leaves the server in TIME_WAIT and tcp_remember_stamp() stores
    the NAT address's last TSval (tcp-behaviour.md 3.10).
  - H1 connects at 0, 5 and 20 s: answered (its TSvals are the highest).
  - H2 tries at 2 s: SYN and retransmissions at +1, 3, 7, 15, 31, 63 s
    (Linux 3.x-6.4, tcp-behaviour.md 3.9) all dropped, since a record from
    H1 is always under 60 s old (0.04, 5.04, 20.04 s); connect() fails.
  - H3 tries at 10 s: dropped likewise, never connects.  H3 tries again at
    25 s: dropped until the retransmission at 88 s, when H1's last record
    (20.04 s) is 68 s old: answered.  H3's closed connection replaces the
    record (the old one is > 60 s old).
  - H1 connects at 95 s: its TSval is ahead of H3's record, answered; its
    close makes H1's TSval the record again.
  - H2 tries again at 100 s: dropped until the retransmission at 163 s
    (record 95.04 s, 68 s old): answered.
Without recycle (the second capture) every first SYN is answered.

Client TSvals are taken at the send time (capture time - 10 ms one-way
delay); the server's clock is 250 Hz jiffies (Linux 4.9, no offset).

usage: make-seed002.py [DIR]      (default: tests/data beside this script)
"""

import os
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from pcapgen import csum, ip4  # noqa: E402

T0 = 1_500_000_000
NAT, SRV = "198.51.100.7", "203.0.113.10"
SPORT = 443
MAC_N, MAC_S = bytes.fromhex("0200000000b1"), bytes.fromhex("0200000000a1")
FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
ONE_WAY = 0.010                 # NAT -> server, seconds
SYN_RTX = (0, 1, 3, 7, 15, 31, 63)   # Linux SYN schedule, seconds after the first
MSL = 60.0                      # TCP_PAWS_MSL
HOSTS = {"H1": 500_000_000, "H2": 1_000_000, "H3": 3_000_000_000}


def syn_opts(tsval, tsecr):
    """Linux SYN layout: mss 1460, sack-permitted, ts, nop, ws 7."""
    return (struct.pack("!BBH", 2, 4, 1460) + bytes([4, 2]) +
            struct.pack("!BBII", 8, 10, tsval & 0xFFFFFFFF, tsecr & 0xFFFFFFFF) +
            bytes([1, 3, 3, 7]))


def ts_opts(tsval, tsecr):
    return bytes([1, 1]) + struct.pack("!BBII", 8, 10, tsval & 0xFFFFFFFF, tsecr & 0xFFFFFFFF)


def frame(src, dst, sport, dport, seq, ack, flags, opts, payload, ttl, ident, window):
    hlen = 20 + len(opts)
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF,
                      (hlen // 4) << 4, flags, window, 0, 0) + opts + payload
    pseudo = ip4(src) + ip4(dst) + struct.pack("!BBH", 0, 6, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", csum(pseudo + tcp)) + tcp[18:]
    iph = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), ident & 0xFFFF, 0x4000, ttl, 6,
                      0, ip4(src), ip4(dst))
    iph = iph[:10] + struct.pack("!H", csum(iph)) + iph[12:]
    eth = (MAC_S + MAC_N if src == NAT else MAC_N + MAC_S) + b"\x08\x00"
    return eth + iph + tcp


class Capture:
    def __init__(self):
        self.pkts = []
        self.ident = {}

    def client_ts(self, host, t):
        """The host's TSval when it sent a packet the server captured at t."""
        return (HOSTS[host] + int(round((t - ONE_WAY) * 1000))) & 0xFFFFFFFF

    @staticmethod
    def server_ts(t):
        return (123_456_789 + int(t * 250)) & 0xFFFFFFFF

    def add(self, t, src_is_client, port, seq, ack, flags, opts, payload=b"", window=502):
        key = (src_is_client, port)
        self.ident[key] = self.ident.get(key, (port * 7919) & 0xFFFF) + 1
        if src_is_client:
            fr = frame(NAT, SRV, port, SPORT, seq, ack, flags, opts, payload, 63,
                       self.ident[key], window)
        else:
            fr = frame(SRV, NAT, SPORT, port, seq, ack, flags, opts, payload, 64,
                       self.ident[key], window)
        self.pkts.append((t, fr))

    def attempt(self, host, port, t_first, answered_at):
        """SYN transmissions from t_first on the Linux schedule; the one sent
        at answered_at (None: none) gets a SYN-ACK and an HTTP/1.0 exchange
        that the server closes first.  Returns (record time, record TSval)."""
        c_isn = (port * 2654435761 + int(t_first * 1000)) & 0xFFFFFFFF
        s_isn = (port * 40503 + int(t_first * 7)) * 9973 & 0xFFFFFFFF
        for d in SYN_RTX:
            t = t_first + d
            self.add(t, True, port, c_isn, 0, SYN, syn_opts(self.client_ts(host, t), 0),
                     window=64240)
            if answered_at is not None and abs(t - answered_at) < 1e-9:
                return self.exchange(host, port, t, c_isn, s_isn)
        return None

    def exchange(self, host, port, t, c_isn, s_isn):
        c, s = c_isn + 1, s_isn + 1
        get = b"GET / HTTP/1.0\r\nHost: www.example.net\r\n\r\n"
        body = b"HTTP/1.0 200 OK\r\nContent-Length: 12\r\n\r\nhello, world"
        cts = lambda tt: self.client_ts(host, tt)
        sts = Capture.server_ts
        t1 = t + 0.0001
        self.add(t1, False, port, s_isn, c, SYN | ACK, syn_opts(sts(t1), cts(t)), window=28960)
        t2 = t + 0.0201
        self.add(t2, True, port, c, s, ACK, ts_opts(cts(t2), sts(t1)))
        t3 = t + 0.0202
        self.add(t3, True, port, c, s, PSH | ACK, ts_opts(cts(t3), sts(t1)), get)
        c += len(get)
        t4 = t + 0.0205
        self.add(t4, False, port, s, c, PSH | ACK, ts_opts(sts(t4), cts(t3)), body, window=235)
        s += len(body)
        t5 = t + 0.0206          # HTTP/1.0: the server closes first
        self.add(t5, False, port, s, c, FIN | ACK, ts_opts(sts(t5), cts(t3)), window=235)
        s += 1
        t6 = t + 0.0406
        self.add(t6, True, port, c, s, ACK, ts_opts(cts(t6), sts(t5)))
        t7 = t + 0.0407
        self.add(t7, True, port, c, s, FIN | ACK, ts_opts(cts(t7), sts(t5)))
        c += 1
        t8 = t + 0.0408
        self.add(t8, False, port, s, c, ACK, ts_opts(sts(t8), cts(t7)), window=235)
        return (t7, cts(t7))

    def write(self, path):
        self.pkts.sort(key=lambda p: p[0])
        with open(path, "wb") as f:
            f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
            for t, fr in self.pkts:
                us = int(round(t * 1e6))
                f.write(struct.pack("<IIII", T0 + us // 1_000_000, us % 1_000_000, len(fr),
                                    len(fr)) + fr)
        return len(self.pkts)


class Server:
    """The per-address record of Linux 4.9 with tcp_tw_recycle=1."""

    def __init__(self, recycle):
        self.recycle = recycle
        self.rec = None             # (time, tsval)

    def answers(self, t, tsval):
        if not self.recycle or self.rec is None:
            return True
        rt, rts = self.rec
        deficit = ((rts - tsval + 2**31) % 2**32) - 2**31
        return not (t - rt < MSL and deficit > 1)

    def remember(self, rec):
        if rec is None or not self.recycle:
            return
        if self.rec is None:
            self.rec = rec
            return
        older = ((self.rec[1] - rec[1] + 2**31) % 2**32) - 2**31
        if older <= 0 or rec[0] - self.rec[0] > MSL:
            self.rec = rec


def build(recycle):
    cap, srv = Capture(), Server(recycle)
    plan = [("H1", 40001, 0.0), ("H2", 51000, 2.0), ("H1", 40003, 5.0), ("H3", 33000, 10.0),
            ("H1", 40005, 20.0), ("H3", 33002, 25.0), ("H1", 40007, 95.0), ("H2", 51002, 100.0)]
    # Replay the server's rule in time order: SYN transmissions and records.
    pending = []                    # (record time, record)
    sends = []
    for host, port, t0 in plan:
        for d in SYN_RTX:
            sends.append((t0 + d, host, port, t0))
    sends.sort()
    answered = {}
    for t, host, port, t0 in sends:
        if (host, port) in answered:
            continue
        for rt, rec in sorted(pending):
            if rt < t:
                srv.remember(rec)
        pending = [(rt, rec) for rt, rec in pending if rt >= t]
        if srv.answers(t, cap.client_ts(host, t)):
            answered[(host, port)] = t
            rec_t = t + 0.0407
            pending.append((rec_t, (rec_t, cap.client_ts(host, rec_t))))
    for host, port, t0 in plan:
        cap.attempt(host, port, t0, answered.get((host, port)))
    return cap, answered


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "data")
    for name, recycle in (("seed002-tw-recycle.pcap", True), ("seed002-no-recycle.pcap", False)):
        cap, answered = build(recycle)
        n = cap.write(os.path.join(out, name))
        print("wrote %s: %d packets; answered: %s" % (
            name, n, ", ".join("%s:%d at %.0f s" % (h, p, t)
                               for (h, p), t in sorted(answered.items(), key=lambda x: x[1]))))


if __name__ == "__main__":
    main()
