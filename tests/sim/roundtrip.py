#!/usr/bin/env python3
"""roundtrip.py - simulate every shipped scenario, analyze its capture, and check the
findings and their inferred parameters against the scenario's own configured values.

Usage: roundtrip.py TCPDOCTOR SCENARIO_DIR EXPECTED_TSV [--seed=N | --seeds=A-B] [NAME...]

Without a seed option each scenario runs with its own seed; --seeds runs every
scenario once per seed from A to B, so that no check holds by the luck of one seed.

For each scenario file (all of SCENARIO_DIR/*.yaml, or the NAMEs given):
  1. tcpdoctor simulate FILE --seed S -w CAP --at POINT   (one run per capture point named
     in EXPECTED_TSV for that scenario; the scenario's own seed unless the TSV gives one)
  2. tcpdoctor analyze CAP --format json
  3. at the first point listed for the scenario: every id of its `expect:` list must be
     reported (a miss otherwise), and every finding of severity warning or error must be
     listed there (a false alarm otherwise); unlisted info findings are allowed;
  4. every row of EXPECTED_TSV for that scenario and point holds.

EXPECTED_TSV rows (tab-separated, '#' comments):
  scenario  point  finding  param  check  why
finding `accounting` checks the report's accounting (param: attempts, ok, slow,
failed, no_verdict, explained, unexplained...) as if it were a finding's parameters.
check is one of
  between LO HI        LO <= value <= HI
  near X TOL           |value - X| <= TOL
  atleast X / atmost X
  bounds LO HI         the parameter's own [min, max] bounds (a missing bound is
                       infinite) contain the interval [LO, HI]
  severity S           the finding's severity is S (param column: -)
A row whose finding is - only names a point (where the expect: list is checked).
where X, LO, HI, TOL are expressions of numbers, + - * / and parentheses, and
  {path}  a value of the scenario file, e.g. {hosts.server.timewait} (durations in seconds,
          rates like 4/s in per second); a host field the file leaves to its OS profile
          (timewait) is the profile's, as `tcpdoctor simulate --list-profiles` prints it;
  [path]  a value of the simulation's own JSON summary (its ground truth), e.g.
          [failures_by.timeout], [nats.0.ports_capacity].
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
        m = re.match(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*/\s*s\s*$", v)   # a rate: 4/s
        if m:
            return float(m.group(1))
        # an address range "a-b" counts its members
        m = re.match(r"^\s*(\d+)\s*-\s*(\d+)\s*$", v)
        if m:
            return float(int(m.group(2)) - int(m.group(1)) + 1)
    raise SystemExit(f"roundtrip: {where}: {v!r} is not a number or duration")


def profile_timewaits(exe):
    """TIME_WAIT per built-in OS profile, from `tcpdoctor simulate --list-profiles`."""
    rc, out, err = run([exe, "simulate", "--list-profiles"])
    if rc != 0:
        raise SystemExit(f"roundtrip: simulate --list-profiles exited {rc}: {err.strip()}")
    tw = {}
    for line in out.splitlines()[1:]:
        cols = line.split()
        if len(cols) >= 2 and DUR.match(cols[1]):
            tw[cols[0]] = as_number(cols[1], "--list-profiles")
        elif not cols:
            break
    return tw


PROFILES = {}


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
                if p == "timewait" and "os" in node and node["os"] in PROFILES:
                    return PROFILES[node["os"]]
                raise SystemExit(f"roundtrip: {where}: {'.'.join(parts[:i + 1])} is not in the scenario")
            node = node[p]
        else:
            raise SystemExit(f"roundtrip: {where}: {path} goes through a scalar")
    return as_number(node, where)


def summary_value(summ, path, where):
    node = summ
    for p in path.split("."):
        if isinstance(node, list) and p.isdigit() and int(p) < len(node):
            node = node[int(p)]
        elif isinstance(node, dict) and p in node:
            node = node[p]
        else:
            raise SystemExit(f"roundtrip: {where}: [{path}] is not in the simulation summary")
    return as_number(node, where)


def value_of(expr, doc, summ, where):
    def ref(m):
        return repr(lookup(doc, m.group(1), where))

    def sref(m):
        return repr(summary_value(summ, m.group(1), where))
    text = re.sub(r"\{([A-Za-z0-9_.-]+)\}", ref, expr)
    text = re.sub(r"\[([A-Za-z0-9_.-]+)\]", sref, text)
    if not re.fullmatch(r"[0-9eE.+\-*/() ]+", text):
        raise SystemExit(f"roundtrip: {where}: cannot evaluate {expr!r}")
    return float(eval(text, {"__builtins__": {}}))  # digits and operators only (checked above)


def run(cmd):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return p.returncode, p.stdout, p.stderr


def check_row(row, finding, doc, summ, where):
    kind, *args = row["check"].split()
    if kind == "severity":
        want = args[0]
        return finding["severity"] == want, f"severity {finding['severity']} (want {want})"
    param = finding.get("params", {}).get(row["param"])
    if param is None:
        return False, f"no parameter {row['param']} (has {', '.join(finding.get('params', {}))})"
    v = param["value"]
    nums = [value_of(a, doc, summ, where) for a in args]
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
    seeds = [None]
    if names and names[0].startswith("--seed="):
        seeds = [names.pop(0)[7:]]
    elif names and names[0].startswith("--seeds="):
        lo, _, hi = names.pop(0)[8:].partition("-")
        seeds = [str(x) for x in range(int(lo), int(hi or lo) + 1)]
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
    PROFILES.update(profile_timewaits(exe))
    failures = 0
    checked = 0
    tmp = tempfile.mkdtemp(prefix="td-roundtrip-")
    for sd in seeds:
        f, c = run_all(exe, sdir, files, rows, sd, tmp)
        failures += f
        checked += c
    print(f"roundtrip: {checked} checks, {failures} failed"
          + (f" (seeds {seeds[0]}-{seeds[-1]})" if seeds != [None] else ""))
    return 1 if failures else 0


def run_all(exe, sdir, files, rows, sd, tmp):
    """Every scenario once with seed sd (None: its own): (failures, checks)."""
    failures = 0
    checked = 0
    seed = ["--seed", sd] if sd is not None else []
    tag = f" seed {sd}" if sd is not None else ""
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
            rc, out, err = run([exe, "simulate", path, "-w", cap, "--at", point,
                                "--format", "json"] + seed)
            if rc != 0:
                print(f"FAIL {name}{tag} @{point}: simulate exited {rc}: {err.strip()}")
                failures += 1
                continue
            summ = json.loads(out)
            rc, out, err = run([exe, "analyze", cap, "--format", "json"])
            if rc not in (0, 1):
                print(f"FAIL {name}{tag} @{point}: analyze exited {rc}: {err.strip()}")
                failures += 1
                continue
            rep = json.loads(out)
            got = sorted({f["id"] for f in rep["findings"]})
            alarms = sorted({f["id"] for f in rep["findings"] if f["severity"] != "info"})
            if point == points[0]:
                checked += 1
                missed = [x for x in expect if x not in got]
                false = [x for x in alarms if x not in expect]
                if missed or false:
                    print(f"FAIL {name}{tag} @{point}: findings {got}; expected {expect}: "
                          f"missed {missed}, not expected {false}")
                    failures += 1
                else:
                    print(f"ok   {name}{tag} @{point}: findings {got}")
            # the accounting's counts, as if it were a finding's parameters
            acc = {"id": "accounting", "severity": "-",
                   "params": {k: {"value": v} for k, v in rep.get("accounting", {}).items()
                              if isinstance(v, (int, float))}}
            for r in (x for x in mine if x["point"] == point and x["finding"] != "-"):
                checked += 1
                fs = [acc] if r["finding"] == "accounting" else \
                     [f for f in rep["findings"] if f["id"] == r["finding"]]
                if not fs:
                    print(f"FAIL {name}{tag} @{point}: {r['finding']} missing ({r['where']})")
                    failures += 1
                    continue
                ok, msg = check_row(r, fs[0], doc, summ, r["where"])
                print(f"{'ok  ' if ok else 'FAIL'} {name}{tag} @{point}: {r['finding']}: {msg}")
                failures += not ok
    return failures, checked


if __name__ == "__main__":
    sys.exit(main())
