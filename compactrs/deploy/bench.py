"""Benchmark a compactrs bundle on the device (no torch): latency percentiles, throughput, peak memory.

    python BUNDLE/deploy/bench.py [--runtime onnxruntime|tensorrt] [--model FILE] [--batch 1,8,32] [--threads N] [--json]
    python -m compactrs.deploy.bench BUNDLE ...

Latency is the median of the timed runs (timing.py); every row says whether other processes competed for
the CPUs while it was measured (``conditions``), and a contended row is measured once more.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as a file (python BUNDLE/deploy/bench.py): load this folder as package compactrs_deploy
    import importlib.util, os
    _spec = importlib.util.spec_from_file_location("compactrs_deploy", os.path.join(os.path.dirname(os.path.abspath(__file__)), "__init__.py"))
    _spec.loader.exec_module(sys.modules.setdefault("compactrs_deploy", importlib.util.module_from_spec(_spec)))
    __package__ = "compactrs_deploy"

from .bundle import BundleError, bundle_root, fail, load_manifest  # noqa: E402
from .machine import MEMORY_METHOD, describe_machine, peak_rss_delta_mb, reset_peak_rss  # noqa: E402
from .runners import RUNTIMES, bundle_runner, runtime_entry  # noqa: E402
from .timing import TimingConfig  # noqa: E402


def bench(bundle: Path, runtime: str, model: str | None, batches, threads: int | None, warmup: int, min_runs: int, min_seconds: float) -> dict:
    """Time the bundle's model at each batch size on seeded N(0,1) inputs of its input shape."""
    manifest = load_manifest(bundle)
    shape = manifest["input_spec"]["shape"][1:]
    rng = np.random.default_rng(0)
    config = TimingConfig(warmup=warmup, min_runs=min_runs, min_seconds=min_seconds, contention_retries=1)
    rows = []
    with bundle_runner(bundle, runtime, model, threads) as runner:
        for batch in batches:
            x = rng.standard_normal((batch, *shape)).astype(np.float32)
            baseline = reset_peak_rss()
            timing = runner.timing(x, config)
            rows.append({**timing, "throughput_per_s": batch * 1e3 / timing["median_ms"], "peak_mem_mb": peak_rss_delta_mb(baseline)})
        threads_used = runner.threads_used()
    return {"bundle": str(bundle), "runtime": runtime, "model": model or runtime_entry(runtime).default_file,
            "threads": threads_used, "machine": describe_machine(), "memory_method": MEMORY_METHOD,
            "statistic": "median", "contended": any(r["conditions"]["contended"] for r in rows), "results": rows}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", nargs="?", help="bundle directory (default: the bundle this deploy/ folder is in)")
    parser.add_argument("--runtime", choices=list(RUNTIMES), default="onnxruntime")
    parser.add_argument("--model")
    parser.add_argument("--batch", default="1,8,32", help="comma-separated batch sizes")
    parser.add_argument("--threads", type=int, default=None, help="intra-op threads (default: the runtime's, one per physical core)")
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
    except ImportError as exc:
        fail(f"runtime {args.runtime} is not importable here ({exc}); {RUNTIMES[args.runtime].install_hint}")
    except (BundleError, ValueError) as exc:
        fail(str(exc))
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"{report['model']} [{report['runtime']}, threads {report['threads']}] on {report['machine']['cpu']}")
        print(f"{'batch':>5} {'median ms':>10} {'p90 ms':>9} {'p99 ms':>9} {'samples/s':>10} {'peak MB':>8}")
        for r in report["results"]:
            mem = "-" if r["peak_mem_mb"] is None else f"{r['peak_mem_mb']:.1f}"
            flag = f"  CONTENDED: {r['conditions']['reason']}" if r["conditions"]["contended"] else ""
            print(f"{r['batch']:>5} {r['median_ms']:>10.3f} {r['p90_ms']:>9.3f} {r['p99_ms']:>9.3f} {r['throughput_per_s']:>10.1f} {mem:>8}{flag}")
        print(f"memory: {report['memory_method']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
