#!/usr/bin/env python3
"""cli.py - input handling of `tcpdoctor conns`, end to end: damaged files,
merged files, standard input, BPF filters, time-stamp precision, unsupported
link types, usage errors.  Each case asserts exact values.

usage: cli.py TCPDOCTOR DATA_DIR
"""

import json
import os
import struct
import subprocess
import sys
import tempfile

TD, DATA = sys.argv[1], sys.argv[2]
BASE = os.path.join(DATA, "netns-server-closes.pcap")   # 3 x 11 frames, real kernel
failures = []


def run(args, stdin=None):
    p = subprocess.run([TD] + args, input=stdin, capture_output=True, timeout=30)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def rows(out):
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def check(name, got, want):
    if got != want:
        failures.append("%s: got %r, want %r" % (name, got, want))


def pcap_records(path):
    """(global header, [(record header, data)]) of a little-endian µs pcap."""
    with open(path, "rb") as f:
        b = f.read()
    hdr, recs, off = b[:24], [], 24
    while off + 16 <= len(b):
        incl = struct.unpack("<I", b[off + 8:off + 12])[0]
        recs.append((b[off:off + 16], b[off + 16:off + 16 + incl]))
        off += 16 + incl
    return hdr, recs


def write_pcap(path, hdr, recs):
    with open(path, "wb") as f:
        f.write(hdr)
        for h, d in recs:
            f.write(h + d)


hdr, recs = pcap_records(BASE)
assert struct.unpack("<I", hdr[:4])[0] == 0xa1b2c3d4, "fixture must be a µs pcap"
code, out, err = run(["conns", "-q", "--format", "ndjson", BASE])
check("base exit", code, 0)
base = rows(out)
check("base incarnations", len(base), 3)

with tempfile.TemporaryDirectory() as tmp:
    # 1. Truncated inside the 17th record: the first 16 frames are analysed
    #    and written, then the error names the file and packet 17, exit 2.
    cut = os.path.join(tmp, "cut.pcap")
    with open(cut, "wb") as f:
        f.write(hdr)
        for h, d in recs[:16]:
            f.write(h + d)
        f.write(recs[16][0] + recs[16][1][:7])
    code, out, err = run(["conns", "-q", "--format", "ndjson", cut])
    check("truncated exit", code, 2)
    check("truncated message", err.startswith("tcpdoctor: %s: packet 17: " % cut), True)
    got = rows(out)
    check("truncated rows", [(r["first_packet"], r["last_packet"], r["state"]) for r in got],
          [(1, 11, "SF"), (12, 16, "S1")])

    # 2. Cut inside a record header: same rule, packet 12.
    cut2 = os.path.join(tmp, "cut2.pcap")
    with open(cut2, "wb") as f:
        f.write(hdr)
        for h, d in recs[:11]:
            f.write(h + d)
        f.write(recs[11][0][:5])
    code, out, err = run(["conns", "-q", "--format", "ndjson", cut2])
    check("header-cut exit", code, 2)
    check("header-cut message", ("%s: packet 12:" % cut2) in err, True)
    check("header-cut rows", len(rows(out)), 1)

    # 3. Two files merged by time: the second half of the records shifted
    #    by 0 s interleaves exactly back into the original order.
    a, b = os.path.join(tmp, "a.pcap"), os.path.join(tmp, "b.pcap")
    write_pcap(a, hdr, recs[0::2])
    write_pcap(b, hdr, recs[1::2])
    code, out, err = run(["conns", "-q", "--format", "ndjson", a, b])
    check("merge exit", code, 0)
    check("merge rows", [(r["first_packet"], r["last_packet"], r["state"], r["syn_count"])
                         for r in rows(out)],
          [(r["first_packet"], r["last_packet"], r["state"], r["syn_count"]) for r in base])

    # 4. Standard input.
    with open(BASE, "rb") as f:
        code, out, err = run(["conns", "-q", "--format", "ndjson", "-"], stdin=f.read())
    check("stdin exit", code, 0)
    check("stdin rows", rows(out), base)

    # 5. BPF filter: frame numbers stay those of the file (Wireshark's).
    port = str(base[2]["client_port"])
    code, out, err = run(["conns", "-q", "--format", "ndjson", BASE, "port", port])
    check("bpf exit", code, 0)
    got = rows(out)
    check("bpf rows", [(r["client_port"], r["first_packet"], r["last_packet"]) for r in got],
          [(base[2]["client_port"], 23, 33)])
    code, out, err = run(["conns", "-q", BASE, "port", "and"])
    check("bad filter exit", code, 2)
    check("bad filter message", "filter \"port and\"" in err, True)

    # 6. Nanosecond pcap: same table, times to the microsecond.
    ns = os.path.join(tmp, "ns.pcap")
    nrecs = []
    for h, d in recs:
        sec, usec, incl, orig = struct.unpack("<IIII", h)
        nrecs.append((struct.pack("<IIII", sec, usec * 1000 + 7, incl, orig), d))
    write_pcap(ns, struct.pack("<I", 0xa1b23c4d) + hdr[4:], nrecs)
    code, out, err = run(["conns", "-q", "--format", "ndjson", ns])
    check("ns exit", code, 0)
    check("ns rows", [(r["first_packet"], r["start"]) for r in rows(out)],
          [(r["first_packet"], r["start"]) for r in base])

    # 7. Unsupported link type (802.11 = 105): named, exit 2, nothing read;
    #    a number libpcap cannot name (147, USER0) is given as a number.
    wifi = os.path.join(tmp, "wifi.pcap")
    write_pcap(wifi, hdr[:20] + struct.pack("<I", 105), recs)
    code, out, err = run(["conns", "-q", wifi])
    check("dlt exit", code, 2)
    check("dlt message", "%s: unsupported link type IEEE802_11 (802.11)" % wifi in err, True)
    check("dlt stdout", out, "")
    user0 = os.path.join(tmp, "user0.pcap")
    write_pcap(user0, hdr[:20] + struct.pack("<I", 147), recs)
    code, out, err = run(["conns", "-q", user0])
    check("dlt147 exit", code, 2)
    check("dlt147 message", "unsupported link type 147 (a number libpcap has no name for)" in err, True)

    # 8. Not a capture file.
    junk = os.path.join(tmp, "junk.pcap")
    with open(junk, "wb") as f:
        f.write(b"this is not a capture file at all\n")
    code, out, err = run(["conns", junk])
    check("junk exit", code, 2)
    check("junk message", err.startswith("tcpdoctor: %s: " % junk), True)

# 9. Usage errors.
code, out, err = run(["conns", "/nonexistent/x.pcap"])
check("missing file exit", code, 2)
check("missing file message", err.strip(), "tcpdoctor: /nonexistent/x.pcap: No such file or directory")
code, out, err = run(["conns", "--format", "xml", BASE])
check("bad format exit", code, 2)
code, out, err = run(["nosuchcommand"])
check("bad command exit", code, 2)
code, out, err = run(["conns"])
check("no file exit", code, 2)
code, out, err = run(["conns", "--help"])
check("help exit", code, 0)
check("help text", out.startswith("usage: tcpdoctor conns"), True)

# 10. The statistics summary goes to stderr, the table to stdout.
code, out, err = run(["conns", BASE])
check("summary", err.splitlines()[0],
      "frames %d: tcp %d, tcp fragments 0, other fragments 0, other ip 0, not ip 0, malformed 0"
      % (len(recs), len(recs)))
check("table header", out.splitlines()[0].split()[:4], ["frame", "inc", "client", "server"])

if failures:
    print("\n".join(failures))
    print("%d failed" % len(failures))
    sys.exit(1)
print("all CLI input cases passed")
