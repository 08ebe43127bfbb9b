#!/usr/bin/env python3
"""tests/audit/golden.py: `tcpdoctor audit --root FIXTURE --format json` on every tree of
tests/data/procfs against tests/audit/audit-expected.tsv (no root needed).

usage: golden.py TCPDOCTOR PROCFS_DIR EXPECTED_TSV [--regen]

Each row: fixture, finding id, severity, subject (client>server:port or -), and the key params
as name=value (values as the JSON report gives them).  A fixture without findings has one row
with id "-".  Also checked: the exit status (1 when a warning or error, else 0), that the JSON
has schema version 1 with a "host" object, and that nothing is written to stderr.
--regen prints the rows the binary gives now instead of checking (review before replacing).
"""
import json
import os
import subprocess
import sys

KEY_PARAMS = {
    "tw-recycle-enabled": ["tw_recycle", "paws_passive", "listen_drops", "record_lifetime_s"],
    "conntrack-pressure": ["conntrack_count", "conntrack_max", "drops", "timeout_time_wait_s",
                           "timeout_established_s"],
    "port-exhaustion": ["pool_low", "pool_high", "usable_ports", "ports_in_use", "headroom",
                        "timewait"],
    "timewait-accumulation": ["timewait", "port_budget", "timewait_share"],
}


def rows_for(tcpdoctor, root, name):
    env = dict(os.environ, TZ="UTC")
    p = subprocess.run([tcpdoctor, "audit", "--root", os.path.join(root, name), "--format", "json"],
                       capture_output=True, text=True, env=env)
    errors = []
    if p.stderr:
        errors.append(f"{name}: stderr: {p.stderr.strip()}")
    try:
        doc = json.loads(p.stdout)
    except ValueError as e:
        return [], [f"{name}: not JSON ({e}): {p.stdout[:200]!r}"]
    if doc.get("version") != 1 or "host" not in doc:
        errors.append(f"{name}: no version 1 document with a host object")
    rows = []
    bad = False
    for f in doc["findings"]:
        subj = f["subject"]
        s = "-"
        if "client" in subj:
            s = f"{subj['client']}>{subj['server']}:{subj['server_port']}"
        params = " ".join(f"{k}={f['params'][k]['value']}" for k in KEY_PARAMS.get(f["id"], [])
                          if k in f["params"])
        rows.append("\t".join([name, f["id"], f["severity"], s, params]))
        bad |= f["severity"] != "info"
    if not rows:
        rows.append("\t".join([name, "-", "-", "-", ""]))
    want_rc = 1 if bad else 0
    if p.returncode != want_rc:
        errors.append(f"{name}: exit status {p.returncode}, expected {want_rc}")
    return rows, errors


def main():
    args = [a for a in sys.argv[1:] if a != "--regen"]
    regen = "--regen" in sys.argv[1:]
    if len(args) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    tcpdoctor, root, expected_path = args
    fixtures = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
    got, errors = [], []
    for name in fixtures:
        r, e = rows_for(tcpdoctor, root, name)
        got += r
        errors += e
    if regen:
        print("\n".join(got))
        return 0
    with open(expected_path) as f:
        want = [l.rstrip("\n") for l in f if l.strip() and not l.startswith("#")]
    for w in want:
        if w not in got:
            errors.append(f"missing: {w!r}")
    for g in got:
        if g not in want:
            errors.append(f"unexpected: {g!r}")
    for e in errors:
        print("audit_golden:", e, file=sys.stderr)
    if not errors:
        print(f"audit_golden: {len(fixtures)} fixtures, {len(got)} rows as expected")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
