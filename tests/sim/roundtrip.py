#!/usr/bin/env python3
"""roundtrip.py - simulate every shipped scenario, analyze its capture, and check the
findings and their inferred parameters against the scenario's own configured values.

Usage: roundtrip.py TCPDOCTOR SCENARIO_DIR EXPECTED_TSV [NAME...]

For each scenario file (all of SCENARIO_DIR/*.yaml, or the NAMEs given):
  1. tcpdoctor simulate FILE --seed S -w CAP --at POINT   (one run per capture point named
     in EXPECTED_TSV for that scenario; the scenario's own seed unless the TSV gives one)
  2. tcpdoctor analyze CAP --format json
  3. the set of finding ids must equal the scenario's `expect:` list exactly (a finding
     the scenario does not expect is a false alarm; a missing one is a miss);
  4. every row of EXPECTED_TSV for that scenario and point holds.

EXPECTED_TSV rows (tab-separated, '#' comments):
  scenario  point  finding  param  check  why
check is one of
  between LO HI        LO <= value <= HI
  near X TOL           |value - X| <= TOL
  atleast X / atmost X
  bounds LO HI         the parameter's own [min, max] bounds (a missing bound is
                       infinite) contain the interval [LO, HI]
  severity S           the finding's severity is S (param column: -)
where X, LO, HI, TOL are numbers or {path} references into the scenario file, e.g.
{hosts.server.timewait} (a duration in seconds), {nats.nat.hold_timewait}, and may be a
product or sum of such terms: {nats.nat.port_count}*{nats.nat.addr_count}.
"""
import json
import math
import os
import re
import subprocess
import sys
import tempfile

try:
    import yaml
except ImportError:  # python3-yaml is installed by scripts/install-deps
    print("roundtrip: python3-yaml is missing (scripts/install-deps installs it)", file=sys.stderr)
    sys.exit(77)

DUR = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(ns|us|ms|s|m|h)?\s*$")
UNIT = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def as_number(v, where):
    if isinstance(v, bool):
        return 1.0 if v else 0.0
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str):
        m = DUR.match(v)
        if m:
            return float(m.group(1)) * UNIT[m.group(2)]
        # an address range "a-b" counts its members
        m = re.match(r"^\s*(\d+)\s*-\s*(\d+)\s*$", v)
        if m:
            return float(int(m.group(2)) - int(m.group(1)) + 1)
    raise SystemExit(f"roundtrip: {where}: {v!r} is not a number or duration")


def lookup(doc, path, where):
    """hosts.server.timewait: the item named 'server' in the list 'hosts'."""
    parts = path.split(".")
    node = doc
    for i, p in enumerate(parts):
        if isinstance(node, list):
            found = [x for x in node if isinstance(x, dict) and x.get("name") == p]
            if not found:
                raise SystemExit(f"roundtrip: {where}: no item named {p!r} in {'.'.join(parts[:i])}")
            node = found[0]
        elif isinstance(node, dict):
            if p not in node:
                # derived values the checks need
                if p == "addr_count" and "addresses" in node:
                    a = node["addresses"]
                    return float(len(a) if isinstance(a, list) else 1)
                if p == "port_count" and "ports" in node:
                    return as_number(node["ports"], where)
                raise SystemExit(f"roundtrip: {where}: {'.'.join(parts[:i + 1])} is not in the scenario")
            node = node[p]
        else:
            raise SystemExit(f"roundtrip: {where}: {path} goes through a scalar")
    return as_number(node, where)


def value_of(expr, doc, where):
    def ref(m):
        return repr(lookup(doc, m.group(1), where))
    text = re.sub(r"\{([A-Za-z0-9_.-]+)\}", ref, expr)
    if not re.fullmatch(r"[0-9eE.+\-*/() ]+", text):
        raise SystemExit(f"roundtrip: {where}: cannot evaluate {expr!r}")
    return float(eval(text, {"__builtins__": {}}))  # digits and operators only (checked above)


def run(cmd):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return p.returncode, p.stdout, p.stderr


def check_row(row, finding, doc, where):
    kind, *args = row["check"].split()
    if kind == "severity":
        want = args[0]
        return finding["severity"] == want, f"severity {finding['severity']} (want {want})"
    param = finding.get("params", {}).get(row["param"])
    if param is None:
        return False, f"no parameter {row['param']} (has {', '.join(finding.get('params', {}))})"
    v = param["value"]
    nums = [value_of(a, doc, where) for a in args]
    if kind == "between":
        return nums[0] <= v <= nums[1], f"{row['param']} = {v:g}, want {nums[0]:g}..{nums[1]:g}"
    if kind == "near":
        return abs(v - nums[0]) <= nums[1], f"{row['param']} = {v:g}, want {nums[0]:g} +- {nums[1]:g}"
    if kind == "atleast":
        return v >= nums[0], f"{row['param']} = {v:g}, want >= {nums[0]:g}"
    if kind == "atmost":
        return v <= nums[0], f"{row['param']} = {v:g}, want <= {nums[0]:g}"
    if kind == "bounds":
        lo = param.get("min", -math.inf)
        hi = param.get("max", math.inf)
        ok = lo <= nums[0] and nums[1] <= hi
        return ok, (f"{row['param']} bounds [{lo:g}, {hi:g}] must contain "
                    f"[{nums[0]:g}, {nums[1]:g}]")
    raise SystemExit(f"roundtrip: {where}: unknown check {kind!r}")


def main():
    if len(sys.argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    exe, sdir, tsv = sys.argv[1:4]
    names = sys.argv[4:]
    rows = []
    with open(tsv) as f:
        for n, line in enumerate(f, 1):
            if not line.strip() or line.startswith("#"):
                continue
            cols = line.rstrip("\n").split("\t")
            if len(cols) < 5:
                raise SystemExit(f"roundtrip: {tsv}:{n}: expected 5 or 6 tab-separated columns")
            rows.append(dict(scenario=cols[0], point=cols[1], finding=cols[2], param=cols[3],
                             check=cols[4], where=f"{tsv}:{n}"))
    files = sorted(x for x in os.listdir(sdir) if x.endswith(".yaml"))
    if names:
        files = [n if n.endswith(".yaml") else n + ".yaml" for n in names]
    failures = 0
    checked = 0
    tmp = tempfile.mkdtemp(prefix="td-roundtrip-")
    for fn in files:
        name = fn[:-5]
        path = os.path.join(sdir, fn)
        with open(path) as f:
            doc = yaml.safe_load(f)
        expect = sorted(doc.get("expect") or [])
        mine = [r for r in rows if r["scenario"] == name]
        points = list(dict.fromkeys(r["point"] for r in mine)) or ["server"]
        for point in points:
            cap = os.path.join(tmp, f"{name}-{point}.pcap")
            rc, out, err = run([exe, "simulate", path, "-w", cap, "--at", point])
            if rc != 0:
                print(f"FAIL {name} @{point}: simulate exited {rc}: {err.strip()}")
                failures += 1
                continue
            rc, out, err = run([exe, "analyze", cap, "--format", "json"])
            if rc not in (0, 1):
                print(f"FAIL {name} @{point}: analyze exited {rc}: {err.strip()}")
                failures += 1
                continue
            rep = json.loads(out)
            got = sorted({f["id"] for f in rep["findings"]})
            # the id set is checked at the point named first for the scenario (the one
            # its expect: list describes); other points only check their rows
            if point == points[0] or not mine:
                checked += 1
                if got != expect:
                    print(f"FAIL {name} @{point}: findings {got}, scenario expects {expect}")
                    failures += 1
                else:
                    print(f"ok   {name} @{point}: findings {got}")
            for r in (x for x in mine if x["point"] == point):
                checked += 1
                fs = [f for f in rep["findings"] if f["id"] == r["finding"]]
                if not fs:
                    print(f"FAIL {name} @{point}: {r['finding']} missing ({r['where']})")
                    failures += 1
                    continue
                ok, msg = check_row(r, fs[0], doc, r["where"])
                print(f"{'ok  ' if ok else 'FAIL'} {name} @{point}: {r['finding']}: {msg}")
                failures += not ok
    print(f"roundtrip: {checked} checks, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
