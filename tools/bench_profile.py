#!/usr/bin/env python3
"""Benchmark the latency cost model: profile this machine, validate on fresh networks, print the table.

    PYTHONPATH=. python tools/bench_profile.py --out profiles/xeon-2c-onnxruntime-fp32-t1.json --archs 60
    PYTHONPATH=. python tools/bench_profile.py --report profiles/xeon-2c-onnxruntime-fp32-t1.json   # no measuring

Prints the command, the machine, the date, how long profiling and validation took, and the validation table:
the fitted profile beside the baselines of FINDINGS.md measured on the same validation networks (a linear fit
on MACs alone, fitted on the profile's fitting networks; the unfitted sum of the entries).
"""
from __future__ import annotations

import argparse
import datetime
import json
import shlex
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="profiles/bench-profile.json", help="profile to write")
    parser.add_argument("--archs", type=int, default=60, help="validation networks (N)")
    parser.add_argument("--report", default=None, help="only print the table of an existing validated profile")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    parser.add_argument("profile_args", nargs="*", help="extra 'compactrs profile' options (after --)")
    args = parser.parse_args()

    from compactrs.deploy.machine import describe_machine
    from compactrs.cli import main as cli
    from compactrs.cost._validate import validation_table

    print(f"command   {' '.join(shlex.quote(a) for a in sys.argv)}")
    print(f"machine   {json.dumps(describe_machine())}")
    print(f"date      {datetime.datetime.now().isoformat(timespec='seconds')}")
    path = Path(args.report or args.out)
    if not args.report:
        profile_cmd = ["profile", "--threads", "1", "--clock", args.clock, "--out", str(path), *args.profile_args]
        started = time.perf_counter()
        if cli(profile_cmd):
            return 1
        profiling = time.perf_counter() - started
        started = time.perf_counter()
        if cli(["profile", "validate", str(path), "--archs", str(args.archs)]):
            return 1
        validating = time.perf_counter() - started
        print(f"profiling {profiling:.0f} s (compactrs {' '.join(profile_cmd)})")
        print(f"validation {validating:.0f} s (compactrs profile validate {path} --archs {args.archs})")
    data = json.loads(path.read_text())
    block = data.get("validation")
    if not block:
        print(f"{path} has no validation block; run 'compactrs profile validate {path} --archs 60'")
        return 1
    measurement = data.get("measurement", {})
    print(f"profile   {path}: {len(data['entries'])} entries, {data['overhead']['fit']['n']} fitting networks, "
          f"clock {measurement.get('timing', {}).get('clock', 'wall')}, profiling took {measurement.get('seconds')} s")
    print(validation_table(block))
    return 0


if __name__ == "__main__":
    sys.exit(main())
