#!/usr/bin/env python3
"""validation.py - every alarm on real captures nobody made for tcpdoctor has been reviewed.

docs/validation.md holds a table with one row per (capture, finding) that tcpdoctor
raises at severity warning or error on the real captures in ../shared/real-captures and
on Zeek's traces in ../shared/peer-corpus/zeek/traces:

    | capture | finding | severity | verdict | why |

verdict is `true` (an alarm one would defend to the person who took the capture, with
the packets) or `false` (a false alarm: there must be none).  This test runs analyze on
every capture and fails when an alarm has no row, when a row says `false`, or when a
reviewed alarm is no longer raised (the row must then go: the table says what the tool
does today).  It also fails when analyze crashes, hangs or exits other than 0, 1, 2,
and when a finding carries a parameter the catalogue (analyze --list-findings) does
not list for its id with that unit.

usage: validation.py TCPDOCTOR VALIDATION_MD SHARED_DIR [--list]
  --list   print the rows of the alarms raised today (verdict and why to be filled in)
Exit 77 (skipped) when SHARED_DIR has no real captures (a checkout without ../shared).
"""

import json
import os
import subprocess
import sys

TD, DOC, SHARED = sys.argv[1], sys.argv[2], sys.argv[3]
LIST = "--list" in sys.argv[4:]
CORPORA = [("real-captures", os.path.join(SHARED, "real-captures")),
           ("zeek", os.path.join(SHARED, "peer-corpus", "zeek", "traces"))]
SKIP_EXT = (".md", ".tsv", ".log", ".txt")


def captures():
    for tag, root in CORPORA:
        if not os.path.isdir(root):
            continue
        for dirpath, _, names in os.walk(root):
            for n in sorted(names):
                if n.endswith(SKIP_EXT) or n == "COPYING":
                    continue
                path = os.path.join(dirpath, n)
                yield f"{tag}/{os.path.relpath(path, root)}", path


CATALOGUE = None


def catalogue_problems(name, finding):
    """A finding's id and parameters (with units) must be in the catalogue."""
    global CATALOGUE
    if CATALOGUE is None:
        out = subprocess.run([TD, "analyze", "--list-findings", "--format", "json"],
                             capture_output=True, text=True, timeout=60).stdout
        CATALOGUE = {c["id"]: c for c in json.loads(out)}
    entry = CATALOGUE.get(finding["id"])
    if entry is None:
        return [f"{name}: {finding['id']} is not in the catalogue"]
    return [f"{name}: {finding['id']}.{k} ({p['unit']!r}) is not in the catalogue as such"
            for k, p in finding["params"].items()
            if k != "findings" and entry["params"].get(k) != p["unit"]]


def alarms():
    """{(capture, finding): severity} of today's warnings and errors; problems."""
    got, problems, n = {}, [], 0
    for name, path in sorted(captures()):
        n += 1
        try:
            p = subprocess.run([TD, "analyze", "--format", "json", path],
                               capture_output=True, text=True, timeout=60)
        except subprocess.TimeoutExpired:
            problems.append(f"{name}: analyze did not finish in 60 s")
            continue
        if p.returncode not in (0, 1, 2):
            problems.append(f"{name}: analyze exited {p.returncode}: {p.stderr.strip()[:200]}")
            continue
        try:
            doc = json.loads(p.stdout)
        except json.JSONDecodeError:
            if p.returncode != 2:
                problems.append(f"{name}: no JSON report (exit {p.returncode})")
            continue
        for f in doc.get("findings", []):
            problems += catalogue_problems(name, f)
            if f["severity"] in ("warning", "error"):
                key = (name, f["id"])
                worst = got.get(key)
                if worst != "error":
                    got[key] = f["severity"]
    return got, problems, n


def reviewed():
    rows = {}
    with open(DOC, encoding="utf-8") as f:
        for line in f:
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) < 5 or not cells[0].startswith("`"):
                continue
            cap, fid, sev, verdict = (cells[0].strip("`"), cells[1].strip("`"), cells[2],
                                      cells[3])
            rows[(cap, fid)] = (sev, verdict, cells[4])
    return rows


def main():
    if not any(os.path.isdir(r) for _, r in CORPORA):
        print(f"validation: no captures under {SHARED}: skipped", file=sys.stderr)
        return 77
    got, problems, n = alarms()
    if LIST:
        for (cap, fid), sev in sorted(got.items()):
            print(f"| `{cap}` | `{fid}` | {sev} | ? | ? |")
        return 0
    rows = reviewed()
    bad = list(problems)
    for key, sev in sorted(got.items()):
        if key not in rows:
            bad.append(f"{key[0]}: {key[1]} ({sev}) is raised and has no row in {DOC}")
        elif rows[key][1] != "true":
            bad.append(f"{key[0]}: {key[1]} ({sev}) is raised and reviewed as "
                       f"{rows[key][1]!r}: {rows[key][2]}")
        elif rows[key][0] != sev:
            bad.append(f"{key[0]}: {key[1]} is raised as {sev}, reviewed as {rows[key][0]}")
    for key in sorted(set(rows) - set(got)):
        bad.append(f"{key[0]}: {key[1]} is in {DOC} but no longer raised: remove the row")
    for b in bad:
        print("FAIL", b)
    print(f"validation: {n} captures, {len(got)} alarms, {len(rows)} reviewed rows: "
          f"{len(bad)} problem(s)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
