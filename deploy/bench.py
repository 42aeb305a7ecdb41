"""Benchmark a compactrs bundle on the device (no torch): latency percentiles, throughput, peak memory.

    python deploy/bench.py [BUNDLE] [--runtime onnxruntime|tensorrt] [--model FILE] [--batch 1,8,32] [--threads N] [--json]
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import MEMORY_METHOD, BundleError, bundle_root, fail, load_manifest, make_runner, peak_rss_delta_mb, reset_peak_rss, time_fn  # noqa: E402


def bench(bundle: Path, runtime: str, model: str | None, batches, threads: int | None, warmup: int, min_runs: int, min_seconds: float) -> dict:
    manifest = load_manifest(bundle)
    shape = manifest["input_spec"]["shape"][1:]
    rng = np.random.default_rng(0)
    rows = []
    with make_runner(bundle, manifest, runtime, model, threads) as runner:
        for batch in batches:
            x = rng.standard_normal((batch, *shape)).astype(np.float32)
            baseline = reset_peak_rss()
            timing = time_fn(lambda: runner.infer(x), warmup, min_runs, min_seconds)
            rows.append({"batch": batch, **timing, "throughput_per_s": batch * 1e3 / timing["median_ms"],
                         "peak_mem_mb": peak_rss_delta_mb(baseline)})
    return {"bundle": str(bundle), "runtime": runtime, "model": model or ("model.plan" if runtime == "tensorrt" else "model.onnx"),
            "threads": threads, "machine": platform.platform(), "memory_method": MEMORY_METHOD, "results": rows}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", nargs="?")
    parser.add_argument("--runtime", choices=["onnxruntime", "tensorrt"], default="onnxruntime")
    parser.add_argument("--model")
    parser.add_argument("--batch", default="1,8,32", help="comma-separated batch sizes")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--min-runs", type=int, default=30)
    parser.add_argument("--min-seconds", type=float, default=1.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    try:
        batches = [int(b) for b in args.batch.split(",") if b.strip()]
        if not batches or min(batches) < 1:
            raise ValueError
    except ValueError:
        fail(f"--batch '{args.batch}' is not a list of positive integers; write e.g. --batch 1,8,32")
    try:
        report = bench(bundle_root(args.bundle), args.runtime, args.model, batches, args.threads, args.warmup, args.min_runs, args.min_seconds)
    except BundleError as exc:
        fail(str(exc))
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"{report['model']} [{report['runtime']}, threads {report['threads']}] on {report['machine']}")
        print(f"{'batch':>5} {'median ms':>10} {'p90 ms':>9} {'p99 ms':>9} {'samples/s':>10} {'peak MB':>8}")
        for r in report["results"]:
            mem = "-" if r["peak_mem_mb"] is None else f"{r['peak_mem_mb']:.1f}"
            print(f"{r['batch']:>5} {r['median_ms']:>10.3f} {r['p90_ms']:>9.3f} {r['p99_ms']:>9.3f} {r['throughput_per_s']:>10.1f} {mem:>8}")
        print(f"memory: {report['memory_method']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
