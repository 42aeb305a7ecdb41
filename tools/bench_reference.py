"""How much a network slows the reference graph timed right after it (why ``time_pairs`` warms the reference).

Reference-normalised timing (``compactrs.deploy.timing``) divides a network's time by the reference graph's time in
the same window. If the reference is timed right after the network, it runs from caches the network has just
filled with its own weights and activations; this tool measures that: the reference alone, then right after each
network with 0, 1, 3 and 10 untimed reference calls in between (ratios to alone; 1.0 means the reference sees only
the machine). Run it alone on the machine; the machine's state is printed and a contended run is flagged.

    python tools/bench_reference.py ip=RUNS/landing/onnx/ip_landing-0.4ms_0.onnx:200x9 \\
        eurosat=RUNS/landing/onnx/eurosat_landing-8ms_0.onnx:3x32 [--seconds 1.5]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from compactrs.cost._measure import REFERENCE_SHAPE, ort_callable, write_reference_graph  # noqa: E402
from compactrs.deploy.machine import describe_machine, watch_machine  # noqa: E402
from compactrs.deploy.timing import time_samples  # noqa: E402

WARM_CALLS = (0, 1, 3, 10)


def after_network(network, reference, warm_calls: int, seconds: float) -> float:
    """Median ms of the reference timed right after each run of ``network``, ``warm_calls`` untimed calls between."""
    samples = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        network()
        for _ in range(warm_calls):
            reference()
        start = time.perf_counter()
        reference()
        samples.append((time.perf_counter() - start) * 1e3)
    return float(np.median(samples))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("networks", nargs="+", metavar="LABEL=MODEL.onnx:BANDSxSIDE")
    parser.add_argument("--seconds", type=float, default=1.5, help="timing per setting")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-reference-") as tmp, watch_machine() as state:
        reference = ort_callable(write_reference_graph(Path(tmp) / "reference.onnx"), REFERENCE_SHAPE, 1)
        for spec in args.networks:
            label, _, rest = spec.partition("=")
            path, _, shape = rest.rpartition(":")
            bands, side = (int(v) for v in shape.split("x"))
            network = ort_callable(Path(path), (1, bands, side, side), 1)
            own = float(np.median(time_samples(network, min_runs=30, min_seconds=args.seconds)))
            for warm in WARM_CALLS:
                alone = float(np.median(time_samples(reference, min_runs=200, min_seconds=args.seconds / 3)))
                rows.append((label, own, warm, alone, after_network(network, reference, warm, args.seconds)))
    host = describe_machine()
    print(f"machine: {host['cpu']}, {host['cores']} cores; {state['reason']}{' (CONTENDED: re-run alone)' if state['contended'] else ''}")
    print(f"date: {datetime.now(timezone.utc).isoformat(timespec='seconds')}\n")
    print("| network | its own ms | untimed reference calls between | reference alone ms | reference after it ms | ratio |")
    print("|---|---|---|---|---|---|")
    for label, own, warm, alone, after in rows:
        print(f"| {label} | {own:.3f} | {warm} | {alone:.4f} | {after:.4f} | {after / alone:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
