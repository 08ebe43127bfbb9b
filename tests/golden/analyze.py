#!/usr/bin/env python3
"""analyze.py - golden test of `tcpdoctor analyze` on the captures in tests/data.

Reads tests/golden/analyze-expected.tsv: one row per expected finding,
    capture <TAB> vantage <TAB> finding id <TAB> severity <TAB> params
where vantage is server|client|path|unknown or - (not checked), id is - for
"no finding at all", and params is name=value, name=value±tolerance or
name=min..max, separated by ';' (or empty).  Lines starting with # are comments.
For every capture named, the multiset of finding ids (with severities) must be
exactly the rows given (matched in order of appearance per id), every listed
parameter must match, and the exit status must be 1 when a warning or error is
expected, 0 otherwise.

usage: analyze.py TCPDOCTOR DATA_DIR EXPECTED_TSV
"""

import json
import os
import subprocess
import sys
from collections import defaultdict

TD, DATA, EXPECTED = sys.argv[1], sys.argv[2], sys.argv[3]


def parse_params(text):
    out = []
    for item in filter(None, (x.strip() for x in text.split(";"))):
        name, _, val = item.partition("=")
        if ".." in val:
            lo, hi = val.split("..")
            out.append((name.strip(), float(lo), float(hi)))
        elif "±" in val:
            v, tol = val.split("±")
            out.append((name.strip(), float(v) - float(tol), float(v) + float(tol)))
        else:
            out.append((name.strip(), float(val), float(val)))
    return out


expected = defaultdict(list)
vantage = {}
with open(EXPECTED, encoding="utf-8") as f:
    for n, line in enumerate(f, 1):
        line = line.rstrip("\n")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        cols = line.split("\t")
        while len(cols) < 5:
            cols.append("")
        cap, van, fid, sev, params = cols[:5]
        if van != "-":
            vantage[cap] = van
        if fid != "-":
            expected[cap].append((fid, sev, parse_params(params), n))
        else:
            expected.setdefault(cap, [])

# The catalogue (analyze --list-findings): every parameter a finding carries
# must be listed there for its id, with the same unit.
catalogue = {c["id"]: c for c in json.loads(subprocess.run(
    [TD, "analyze", "--list-findings", "--format", "json"], capture_output=True,
    timeout=60).stdout)}


def check_catalogue(cap, finding):
    entry = catalogue.get(finding["id"])
    if entry is None:
        return ["%s: finding %s is not in the catalogue" % (cap, finding["id"])]
    out = []
    for name, p in finding["params"].items():
        if name == "findings":
            continue
        if name not in entry["params"]:
            out.append("%s: %s has param %s, which the catalogue does not list" % (
                cap, finding["id"], name))
        elif entry["params"][name] != p["unit"]:
            out.append("%s: %s.%s in %r, the catalogue says %r" % (
                cap, finding["id"], name, p["unit"], entry["params"][name]))
    return out


failures = []
for cap in expected:
    path = os.path.join(DATA, cap)
    if not os.path.exists(path):
        failures.append("%s: capture missing" % cap)
        continue
    p = subprocess.run([TD, "analyze", "--format", "json", path], capture_output=True,
                       timeout=120)
    try:
        doc = json.loads(p.stdout)
    except ValueError:
        failures.append("%s: no JSON (exit %d): %s" % (cap, p.returncode, p.stderr.decode()[:300]))
        continue
    got = doc["findings"]
    for g in got:
        failures += check_catalogue(cap, g)
    if cap in vantage and doc["input"]["vantage"] != vantage[cap]:
        failures.append("%s: vantage %s, want %s" % (cap, doc["input"]["vantage"], vantage[cap]))
    want = expected[cap]
    used = [False] * len(got)
    for fid, sev, params, line in want:
        match = None
        for i, g in enumerate(got):
            if not used[i] and g["id"] == fid and g["severity"] == sev:
                match = i
                break
        if match is None:
            failures.append("%s: line %d: no %s finding of severity %s (got %s)" % (
                cap, line, fid, sev, [(g["id"], g["severity"]) for g in got]))
            continue
        used[match] = True
        for name, lo, hi in params:
            v = got[match]["params"].get(name)
            if v is None:
                failures.append("%s: line %d: %s has no param %s (has %s)" % (
                    cap, line, fid, name, sorted(got[match]["params"])))
            elif not (lo - 1e-9 <= v["value"] <= hi + 1e-9):
                failures.append("%s: line %d: %s.%s = %s, want %s..%s" % (
                    cap, line, fid, name, v["value"], lo, hi))
    for i, g in enumerate(got):
        if not used[i]:
            failures.append("%s: unexpected finding %s (%s): %s" % (cap, g["id"], g["severity"],
                                                                   g["summary"]))
    bad = any(s in ("warning", "error") for _, s, _, _ in want)
    if p.returncode != (1 if bad else 0):
        failures.append("%s: exit %d, want %d" % (cap, p.returncode, 1 if bad else 0))

if failures:
    print("\n".join(failures))
    print("%d passed, %d failed" % (len(expected) - len({f.split(":")[0] for f in failures}),
                                     len({f.split(":")[0] for f in failures})))
    sys.exit(1)
print("%d passed, 0 failed" % len(expected))
