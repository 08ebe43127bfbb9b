#!/usr/bin/env python3
"""make-seed004.py - writes tests/data/seed004-server-side.pcap and
tests/data/seed004-client-side.pcap: seed 004's fragmented TCP through an AWS
NAT gateway, seen from both ends.

usage: make-seed004.py [DIR]      (default: tests/data beside this script)

The story (seed 004, "TCP Connection Intermittent Failures").  An instance
10.0.1.5 in a private subnet reaches 198.51.100.80:443 through an AWS NAT
gateway whose public address is 203.0.113.10.  Some connections work, some
hang and fail.  The server has path MTU discovery turned off
(net.ipv4.ip_no_pmtu_disc = 1), so its datagrams leave with DF clear; it sits
on a jumbo-frame LAN and the client's SYN advertised MSS 8961 (a VPC with
MTU 9001, nothing on the way clamped it), so a 2900-byte response goes out as
one TCP segment (2952-byte datagram with the timestamp option).  The site's
uplink is a tunnel with MTU 1400: the edge router fragments the DF-clear
datagram into three fragments (1376 + 1376 + 180 bytes of IP payload).  The
NAT gateway forwards fragmented UDP but drops fragmented TCP and ICMP
(tcp-behaviour.md 7.2, 9.9): none of the three reaches the client.  Small
responses fit one packet and work.

What the server does (Linux, tcp-behaviour.md 3): it acknowledges the
request (delayed ACK, the response takes 150 ms to build), sends the
response, and retransmits it on its RTO (0.24 s, doubling), each time as a
new datagram that the router fragments again.  After 10 s its application
gives up and closes with SO_LINGER 0: an RST with SEQ = snd_nxt, i.e. past
the 2900 bytes (Linux tcp_send_active_reset(), tcp-behaviour.md 1.2).  The
client, which never received those bytes, finds that RST in its window but
not at RCV.NXT and answers with a challenge ACK (RFC 5961, Linux
tcp_validate_incoming()); the server, which has no socket left, answers that
ACK with an RST whose SEQ is the ACK's number (RFC 9293 3.5.2), which the
client accepts.

seed004-server-side.pcap: captured on the site router's tunnel interface,
after fragmentation (server packets TTL 63, clients' TTL 46-52).  Four
connections to 198.51.100.80:443:
  #1-#9    192.0.2.44:51000, small response, FIN both ways
  #10-#18  203.0.113.10:40100 (the NAT gateway), small response, works
  #19-#30  192.0.2.44:51002, the 2900-byte response in 3 fragments (#24-#26),
           acknowledged (#27): fragments do reach clients elsewhere
  #31-#56  203.0.113.10:40102, the 2900-byte response in 3 fragments (first
           at #36), never acknowledged, sent 6 times in all (every one
           fragmented, last at #51), RST after 10 s (#54), the client's
           challenge ACK, the final RST.

seed004-client-side.pcap: captured on 10.0.1.5 (its packets TTL 64, the
server's TTL 45).  The same two connections as the NAT gateway's in the
server-side capture, with inside addresses: the small one works (#1-#9); in
the large one (#10-#17) the client sees its request acknowledged (#14), then
nothing for 10 s, then the RST (#15) whose sequence number lies 2900 bytes
beyond anything it received, its challenge ACK and the final RST.  No
fragment ever arrives, so all a client-side analysis can honestly say is
that 2900 bytes the server sent never arrived (the fragmented-tcp suspicion).
"""

import os
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from pcapgen import csum, ip4  # noqa: E402

T0 = 1_700_000_000
FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
SERVER, PORT = "198.51.100.80", 443
NATGW, INSIDE, OTHER = "203.0.113.10", "10.0.1.5", "192.0.2.44"
TUNNEL_MTU = 1400
RTT_US = 40_000


def tcp_segment(src, dst, sport, dport, seq, ack, flags, payload, tsval=None,
                tsecr=0, mss=None, window=502):
    """TCP header with NOP,NOP,TS (and MSS, window scale on SYNs),
    checksummed."""
    opts = b""
    if mss:
        opts += struct.pack("!BBH", 2, 4, mss)
    if tsval is not None:
        opts += b"\x01\x01" + struct.pack("!BBII", 8, 10, tsval & 0xFFFFFFFF,
                                          tsecr & 0xFFFFFFFF)
    if mss:
        opts += b"\x01\x03\x03\x07"      # window scale 7: 502 << 7 = 64256 bytes
    hlen = 20 + len(opts)
    hdr = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF,
                      ack & 0xFFFFFFFF, (hlen // 4) << 4, flags, window, 0, 0)
    seg = hdr + opts + payload
    pseudo = ip4(src) + ip4(dst) + struct.pack("!BBH", 0, 6, len(seg))
    c = csum(pseudo + seg)
    return seg[:16] + struct.pack("!H", c) + seg[18:]


def ipv4(src, dst, ident, data, ttl, df, frag_offset=0, more=False):
    fl = (0x4000 if df else 0) | (0x2000 if more else 0) | (frag_offset // 8)
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(data), ident & 0xFFFF,
                      fl, ttl, 6, 0, ip4(src), ip4(dst))
    return hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:] + data


def fragments(seg, mtu):
    """RFC 791 fragmentation of a TCP segment (the IP payload) for a link of
    this MTU: (offset, more, data) tuples, offsets in bytes."""
    step = (mtu - 20) // 8 * 8
    out = []
    for off in range(0, len(seg), step):
        out.append((off, off + step < len(seg), seg[off:off + step]))
    return out


class Capture:
    def __init__(self):
        self.frames = []

    def add(self, us, ip_packet):
        frame = bytes.fromhex("020000000001020000000002") + b"\x08\x00" + ip_packet
        self.frames.append((us, frame))

    def write(self, path):
        self.frames.sort(key=lambda f: f[0])
        out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
        for us, frame in self.frames:
            out.append(struct.pack("<IIII", T0 + us // 1_000_000,
                                   us % 1_000_000, len(frame), len(frame)))
            out.append(frame)
        with open(path, "wb") as f:
            f.write(b"".join(out))


class Conn:
    """One connection seen at one capture point.  `client` is the address
    the capture shows for the client (inside or outside the NAT); `cttl` and
    `sttl` the TTLs seen there; `frag_mtu` set when the capture is past the
    fragmenting link (server side)."""

    def __init__(self, cap, client, cport, cttl, sttl, cisn, sisn, t0_us,
                 ts_c, ts_s, ids, frag_mtu=None, deliver_frags=True):
        self.cap, self.c, self.cp = cap, client, cport
        self.cttl, self.sttl = cttl, sttl
        self.cseq, self.sseq = cisn, sisn
        self.us = t0_us
        self.ts_c, self.ts_s = ts_c, ts_s      # TSval at t0_us, 1 kHz clocks
        self.ids = ids                          # [client IP id, server IP id]
        self.frag_mtu = frag_mtu
        self.deliver_frags = deliver_frags

    def _ts(self, from_client):
        ms = self.us // 1000
        return (self.ts_c if from_client else self.ts_s) + ms

    def send(self, from_client, flags, payload=b"", seq=None, ack=None,
             mss=None, at_us=None, ts=True, visible=True):
        if at_us is not None:
            self.us = at_us
        if from_client:
            src, dst, sp, dp = self.c, SERVER, self.cp, PORT
            seq = self.cseq if seq is None else seq
            ack = self.sseq if ack is None else ack
            ttl, df, k = self.cttl, True, 0
        else:
            src, dst, sp, dp = SERVER, self.c, PORT, self.cp
            seq = self.sseq if seq is None else seq
            ack = self.cseq if ack is None else ack
            ttl, df, k = self.sttl, False, 1       # PMTUD off: DF clear
        tsval = self._ts(from_client) if ts else None
        # TSecr: roughly the peer's TSval half a round trip ago (0 on a SYN)
        bare_syn = flags & SYN and not flags & ACK
        tsecr = self._ts(not from_client) - RTT_US // 2000 if ts and not bare_syn else 0
        if flags & RST:
            tsval = None                           # Linux RSTs from no socket carry no TS
        seg = tcp_segment(src, dst, sp, dp, seq, ack, flags, payload,
                          tsval=tsval, tsecr=tsecr, mss=mss)
        self.ids[k] += 1
        if not visible:
            return
        if self.frag_mtu and 20 + len(seg) > self.frag_mtu and not df:
            for i, (off, more, data) in enumerate(fragments(seg, self.frag_mtu)):
                self.cap.add(self.us + i * 30, ipv4(src, dst, self.ids[k], data,
                                                   ttl, False, off, more))
        else:
            self.cap.add(self.us, ipv4(src, dst, self.ids[k], seg, ttl, df))

    def handshake(self, server_side):
        """SYN, SYN-ACK, ACK; at the server the SYN-ACK follows at once and
        the ACK a round trip later, at the client the other way round."""
        t = self.us
        quick, rtt = 300, RTT_US
        self.send(True, SYN, mss=8961, at_us=t)
        self.send(False, SYN | ACK, seq=self.sseq, ack=self.cseq + 1, mss=8960,
                  at_us=t + (quick if server_side else rtt))
        self.cseq += 1
        self.sseq += 1
        self.send(True, ACK, at_us=t + (quick + rtt if server_side else rtt + quick))


REQ = b"\x16\x03\x01" + bytes(320)          # a request-sized client flight


def small(cap, server_side, client, cport, cttl, sttl, t0, cisn, sisn, ids):
    """A request and a 600-byte response that fits one packet; the server
    closes first, FIN both ways.  10 packets."""
    c = Conn(cap, client, cport, cttl, sttl, cisn, sisn, t0, 7_000_000,
             90_000_000, ids, TUNNEL_MTU if server_side else None)
    c.handshake(server_side)
    near, far = (300, RTT_US) if server_side else (RTT_US, 300)
    t = c.us + 500
    c.send(True, PSH | ACK, REQ, at_us=t if server_side else t)
    c.cseq += len(REQ)
    c.send(False, PSH | ACK, b"r" * 600, at_us=c.us + 20_000)
    c.sseq += 600
    c.send(True, ACK, at_us=c.us + (far if server_side else near))
    c.send(False, FIN | ACK, at_us=c.us + 5_000)
    c.sseq += 1
    c.send(True, FIN | ACK, at_us=c.us + (far if server_side else near))
    c.cseq += 1
    c.send(False, ACK, at_us=c.us + (near if server_side else far))
    return c


def large(cap, server_side, client, cport, cttl, sttl, t0, cisn, sisn, ids,
          delivered):
    """A request and a 2900-byte response in one DF-clear segment.  Either
    the client receives and acknowledges it (another client, no NAT
    gateway), or nothing of it arrives and the server retransmits it, gives
    up after 10 s with an RST, and the challenge-ACK exchange follows."""
    c = Conn(cap, client, cport, cttl, sttl, cisn, sisn, t0, 11_000_000,
             90_000_000, ids, TUNNEL_MTU if server_side else None)
    c.handshake(server_side)
    near, far = (300, RTT_US) if server_side else (RTT_US, 300)
    req_at = c.us + 500
    c.send(True, PSH | ACK, REQ, at_us=req_at)
    c.cseq += len(REQ)
    # delayed ACK of the request (the response takes 150 ms to build)
    c.send(False, ACK, at_us=c.us + (near if server_side else far) + 40_000 - 300)
    resp = bytes(range(256)) * 11 + bytes(84)       # 2900 bytes
    first = req_at + 150_000 + (0 if server_side else RTT_US)
    if delivered:
        c.send(False, PSH | ACK, resp, at_us=first)
        c.send(True, ACK, ack=c.sseq + len(resp),
               at_us=c.us + (far if server_side else near) + 200)
        c.sseq += len(resp)
        c.send(False, FIN | ACK, at_us=c.us + 5_000)
        c.sseq += 1
        c.send(True, FIN | ACK, at_us=c.us + (far if server_side else near))
        c.cseq += 1
        c.send(False, ACK, at_us=c.us + (near if server_side else far))
        return c
    # Linux RTO 0.24 s, doubling: the response and five retransmissions,
    # none of which the NAT gateway lets through.
    rto, t = 240_000, first
    for _ in range(6):
        c.send(False, PSH | ACK, resp, at_us=t, visible=server_side)
        t += rto
        rto *= 2
    # 10 s after the first send the application aborts: RST, SEQ = snd_nxt.
    rst_at = first + 10_000_000
    c.send(False, RST | ACK, seq=c.sseq + len(resp), at_us=rst_at)
    # RST in window but not at RCV.NXT: the client's challenge ACK (RFC 5961)
    c.send(True, ACK, at_us=rst_at + (far if server_side else near))
    # the server has no socket: RST with SEQ = that ACK's number, no ACK bit
    c.send(False, RST, seq=c.sseq, ack=0, at_us=c.us + (near if server_side else far))
    return c


def server_side(path):
    cap = Capture()
    ids_other = [0x3100, 0x5200]
    ids_natgw = [0x7700, 0x5300]
    small(cap, True, OTHER, 51000, 52, 63, 0, 1_000_000, 2_000_000, ids_other)
    small(cap, True, NATGW, 40100, 46, 63, 500_000, 3_000_000, 4_000_000, ids_natgw)
    large(cap, True, OTHER, 51002, 52, 63, 1_000_000, 5_000_000, 6_000_000,
          ids_other, delivered=True)
    large(cap, True, NATGW, 40102, 46, 63, 2_000_000, 7_000_000, 8_000_000,
          ids_natgw, delivered=False)
    cap.write(path)


def client_side(path):
    cap = Capture()
    ids = [0x7700, 0x5300]
    # the NAT gateway keeps the client's source ports (it may not; these do)
    small(cap, False, INSIDE, 40100, 64, 45, 500_000, 3_000_000, 4_000_000, ids)
    large(cap, False, INSIDE, 40102, 64, 45, 2_000_000, 7_000_000, 8_000_000,
          ids, delivered=False)
    cap.write(path)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "data")
    server_side(os.path.join(out, "seed004-server-side.pcap"))
    client_side(os.path.join(out, "seed004-client-side.pcap"))


if __name__ == "__main__":
    main()
