#!/usr/bin/env python3
"""simulate.py - end-to-end tests of `tcpdoctor simulate`: JSON summary fields, captures,
determinism, --compare, and usage errors.  Usage: simulate.py TCPDOCTOR SCENARIO_DIR [CASE | cli]
("cli": every case but the healthy-baseline outcome, which is registered on its own)."""
import json
import os
import struct
import subprocess
import sys
import tempfile

TD, SCN = sys.argv[1], sys.argv[2]
ONLY = sys.argv[3] if len(sys.argv) > 3 else None
BASE = os.path.join(SCN, "baseline-healthy.yaml")


def run(*args, ok=(0,)):
    p = subprocess.run([TD, "simulate", *args], capture_output=True, text=True, timeout=120)
    if p.returncode not in ok:
        raise AssertionError(f"exit {p.returncode} for {args}: {p.stderr}")
    return p


def pcap_records(path):
    """Number of records in a classic pcap file, checking every header."""
    with open(path, "rb") as f:
        data = f.read()
    assert len(data) >= 24, f"{path}: no pcap header"
    magic = struct.unpack("<I", data[:4])[0]
    assert magic in (0xA1B2C3D4, 0xA1B23C4D), f"{path}: magic {magic:#x}"
    off, n = 24, 0
    while off < len(data):
        assert off + 16 <= len(data), f"{path}: truncated record header at {off}"
        incl = struct.unpack("<I", data[off + 8:off + 12])[0]
        off += 16 + incl
        assert off <= len(data), f"{path}: truncated record {n}"
        n += 1
    return n


def eq(what, got, want):
    if got != want:
        raise AssertionError(f"{what}: got {got!r}, want {want!r}")


def json_fields_and_capture(tmp):
    pcap = os.path.join(tmp, "base.pcap")
    p = run(BASE, "--format", "json", "-q", "-w", pcap, "--at", "server")
    d = json.loads(p.stdout)
    eq("members", sorted(d), sorted([
        "scenario", "seed", "duration_s", "events", "attempts", "successes", "failures",
        "failures_by", "retried", "connect_latency_s", "timewait_peak", "nats", "packets",
        "packets_lost", "captures"]))
    eq("scenario", d["scenario"], BASE)
    eq("seed", d["seed"], 1)
    eq("failures_by keys", sorted(d["failures_by"]), ["data", "no-port", "reset", "timeout"])
    eq("failures = sum of causes", d["failures"], sum(d["failures_by"].values()))
    eq("attempts = successes + failures", d["attempts"], d["successes"] + d["failures"])
    eq("latency keys", sorted(d["connect_latency_s"]), ["max", "p50", "p90", "p99"])
    lat = d["connect_latency_s"]
    assert lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"], lat
    # 5 connections/s, Poisson, for 120 s: 600 expected; 4 sigma is about 100.
    assert 500 <= d["attempts"] <= 700, d["attempts"]
    eq("nat names", [n["name"] for n in d["nats"]], ["gw"])
    eq("nat capacity", d["nats"][0]["ports_capacity"], 65535 - 1024 + 1)
    eq("packets lost", d["packets_lost"], 0)
    eq("captures", [(c["path"], c["point"]) for c in d["captures"]], [(pcap, "server")])
    eq("captured packets = pcap records", d["captures"][0]["packets"], pcap_records(pcap))
    assert d["captures"][0]["packets"] > 0


def baseline_is_healthy(tmp):
    d = json.loads(run(BASE, "--format", "json", "-q").stdout)
    eq("baseline failures", d["failures"], 0)
    eq("baseline successes", d["successes"], d["attempts"])


def same_seed_same_bytes(tmp):
    out = []
    for i in range(2):
        pcap = os.path.join(tmp, f"det{i}.pcap")
        p = run(BASE, "--format", "json", "-q", "-w", pcap, "--at", "outside")
        with open(pcap, "rb") as f:
            out.append((p.stdout.replace(pcap, "X"), f.read()))
    eq("same summary", out[0][0], out[1][0])
    eq("same capture", out[0][1] == out[1][1], True)
    other = run(BASE, "--format", "json", "-q", "--seed", "2").stdout
    eq("seed 2 is used", json.loads(other)["seed"], 2)


def duration_option(tmp):
    d = json.loads(run(BASE, "--format", "json", "-q", "--duration", "30s").stdout)
    assert 100 <= d["attempts"] <= 200, d["attempts"]  # 5/s for 30 s


def compare_reports_differences(tmp):
    p = run(BASE, "--compare", "--set", "app.web.max_connections=10", "--format", "json", "-q")
    d = json.loads(p.stdout)
    eq("compare members", sorted(d), ["as_written", "difference", "overrides",
                                      "with_overrides"])
    eq("overrides", d["overrides"], ["app.web.max_connections=10"])
    eq("attempts with overrides", d["with_overrides"]["attempts"], 10)
    a, b = d["as_written"], d["with_overrides"]
    for k in ("attempts", "successes", "failures", "retried"):
        eq(f"difference {k}", d["difference"][k], b[k] - a[k])
    for k in a["failures_by"]:
        eq(f"difference {k}", d["difference"]["failures_by"][k],
           b["failures_by"][k] - a["failures_by"][k])
    t = run(BASE, "--compare", "--set", "app.web.max_connections=10", "-q").stdout
    assert "as written" in t and "with overrides" in t, t
    row = [l for l in t.splitlines() if l.startswith("attempts")][0].split()
    eq("text attempts row", row[:3], ["attempts", str(a["attempts"]), "10"])
    eq("text change column", row[3], f"{10 - a['attempts']:+d}")


def usage_errors(tmp):
    cases = [
        ((), "tcpdoctor: simulate: which scenario? give one SCENARIO file (try tcpdoctor"
             " simulate --help)"),
        ((BASE, "-w", "x.pcap", "--at", "nowhere"),
         f"tcpdoctor: simulate: --at nowhere: no such capture point in {BASE} (server, outside,"
         " client-lan)"),
        ((BASE, "--set", "host.server.timewait=1y"),
         "tcpdoctor: simulate: --set host.server.timewait: expected a duration like 60s, 500ms,"
         " 2m or 1.5s, got \"1y\""),
        ((BASE, "--set", "host.nobody.timewait=1s"),
         "tcpdoctor: simulate: --set host.nobody.timewait: no host named \"nobody\" (pc, server)"),
        ((BASE, "--compare"),
         "tcpdoctor: simulate: --compare needs at least one --set KEY=VALUE to compare against"),
        ((BASE, "--seed", "-3"),
         "tcpdoctor: simulate: --seed: expected an integer from 0 to 9223372036854775807, got"
         " \"-3\""),
        ((BASE, "--at", "server"), "tcpdoctor: simulate: --at server: no -w FILE for it"),
        (("/nonexistent.yaml",), "tcpdoctor: /nonexistent.yaml: No such file or directory"),
    ]
    for args, msg in cases:
        p = run(*args, ok=(2,))
        eq(f"stderr of {args}", p.stderr.strip(), msg)
        eq(f"stdout of {args}", p.stdout, "")


def list_profiles(tmp):
    p = run("--list-profiles")
    names = [l.split()[0] for l in p.stdout.splitlines()[1:7]]
    eq("profiles", names, ["linux", "linux-4.9", "windows-2003", "windows", "freebsd", "macos"])


CASES = [json_fields_and_capture, baseline_is_healthy, same_seed_same_bytes, duration_option,
         compare_reports_differences, usage_errors, list_profiles]

failed = 0
with tempfile.TemporaryDirectory() as tmp:
    for case in CASES:
        if ONLY == "cli" and case is baseline_is_healthy:
            continue
        if ONLY not in (None, "cli") and case.__name__ != ONLY:
            continue
        try:
            case(tmp)
            print(f"ok   {case.__name__}")
        except AssertionError as e:
            failed += 1
            print(f"FAIL {case.__name__}: {e}")
sys.exit(1 if failed else 0)
