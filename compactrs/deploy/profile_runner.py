#!/usr/bin/env python3
"""Measure a folder of op graphs on the device: numpy + onnxruntime (or TensorRT, or OpenVINO) only, never torch or compactrs.

On a workstation:   compactrs profile --emit graphs/            (op graphs + fitting networks + manifest.json + deploy/)
On the device:      python graphs/deploy/profile_runner.py graphs/ [--runtime onnxruntime|tensorrt|openvino] [--threads 1]
                    (or python -m compactrs.deploy.profile_runner graphs/ where compactrs is installed)
                    → graphs/measurements.json
Back on the workstation:  compactrs profile --from-measurements graphs/measurements.json --out profiles/DEV.json

Each graph is timed after a warm-up for at least --min-runs runs and --min-seconds, split over --rounds
interleaved passes over the folder; a graph whose p90 exceeds its median by more than 25 % gets extra passes (timing.py).
The output records median / p90 / min milliseconds (and each pass's median) per file, the machine's conditions over the
whole run (contended or not, and why) and embeds the manifest, so the workstation needs nothing else. For a kernel-level
profile (onnxruntime) every fitting network is also profiled node by node (nodeprof.py): its optimised graph is saved
next to it and the per-node timings travel back in its record.
"""
from __future__ import annotations

import argparse
import datetime
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as a file (python FOLDER/deploy/profile_runner.py): load this folder as package compactrs_deploy
    import importlib.util, os
    _spec = importlib.util.spec_from_file_location("compactrs_deploy", os.path.join(os.path.dirname(os.path.abspath(__file__)), "__init__.py"))
    _spec.loader.exec_module(sys.modules.setdefault("compactrs_deploy", importlib.util.module_from_spec(_spec)))
    __package__ = "compactrs_deploy"

from .bundle import write_json_atomically  # noqa: E402
from .machine import describe_machine, watch_machine  # noqa: E402
from .runners import OnnxRuntimeRunner  # noqa: E402
from .timing import TimingConfig, time_interleaved  # noqa: E402

RESULTS_SCHEMA = "compactrs.profile-measurements/1"
MANIFEST_SCHEMA = "compactrs.profile-graphs/1"
#: a kernel-level profile's folder: whole networks, the fitting ones also profiled node by node (onnxruntime)
KERNEL_MANIFEST_SCHEMA = "compactrs.kernel-profile-graphs/1"


class GraphTimer:
    """Keeps one active runner per graph and hands out the zero-argument calls the interleaved timing runs."""

    def __init__(self, runtime: str, threads: int | None, fp16: bool, precision: str = "fp32"):
        self.runtime, self.threads, self.fp16, self.precision = runtime, threads, fp16, precision
        self.runners = []
        self.plans = tempfile.TemporaryDirectory(prefix="compactrs-plans-")  # engines are built here, not in the folder
        if runtime == "tensorrt":
            import tensorrt  # noqa: F401  (fail early, before any graph is built)

            self.version, self.provider = tensorrt.__version__, "TensorRT"
        elif runtime == "openvino":
            from .openvino_runner import import_openvino

            self.version, self.provider = import_openvino("timing op graphs in OpenVINO").__version__, "CPU"
        else:
            import onnxruntime

            self.version, self.provider = onnxruntime.__version__, "CPUExecutionProvider"

    def call(self, path: Path, x: np.ndarray):
        if self.runtime == "tensorrt":
            from .tensorrt_engine import TensorRTRunner, build_engine

            plan = Path(self.plans.name) / f"{len(self.runners)}.plan"
            build_engine(path, plan, "fp16" if self.fp16 else "fp32", x.shape, max_batch=x.shape[0], opt_batch=x.shape[0])
            runner = TensorRTRunner(plan).activate()
        elif self.runtime == "openvino":  # .onnx graphs are read directly; INT8 graphs come as NNCF IRs (.xml)
            from .openvino_runner import OpenVinoRunner

            runner = OpenVinoRunner(path, self.threads, precision=self.precision if self.precision in ("bf16", "int8") else "fp32").activate()
        else:
            runner = OnnxRuntimeRunner(path, self.threads, providers=[self.provider]).activate()
        self.runners.append(runner)
        return runner.prepared_call(x)


def run_folder(folder: Path, args) -> dict:
    manifest_path = folder / "manifest.json"
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise SystemExit(f"error: cannot read {manifest_path} ({exc}); pass a folder written by 'compactrs profile --emit'")
    kernels = manifest.get("schema") == KERNEL_MANIFEST_SCHEMA
    if manifest.get("schema") not in (MANIFEST_SCHEMA, KERNEL_MANIFEST_SCHEMA):
        raise SystemExit(f"error: {manifest_path} has schema {manifest.get('schema')!r}, expected {MANIFEST_SCHEMA!r} "
                         f"or {KERNEL_MANIFEST_SCHEMA!r}")
    if kernels and args.runtime != "onnxruntime":
        raise SystemExit("error: a kernel-level profile profiles onnxruntime's nodes; run with --runtime onnxruntime "
                         "(for TensorRT emit with 'compactrs profile --method ops --emit DIR')")
    threads = args.threads if args.threads is not None else manifest.get("threads")
    if args.clock == "cpu" and threads != 1:
        raise SystemExit("error: --clock cpu measures the calling thread, so it needs --threads 1")
    mode = args.timing or ("reference" if manifest.get("timing", {}).get("reference") else "wall")
    config = TimingConfig(warmup=args.warmup, min_runs=args.min_runs, min_seconds=args.min_seconds, max_runs=args.max_runs,
                          retries=args.retries, rounds=args.rounds, clock=args.clock, reference=mode == "reference")
    precision = args.precision or ("fp16" if args.fp16 else "fp32")
    timer = GraphTimer(args.runtime, threads, args.fp16, precision)
    started = time.perf_counter()
    rng = np.random.default_rng(0)
    calls = [timer.call(folder / item["file"], rng.standard_normal(tuple(item["input_shape"])).astype(np.float32))
             for item in manifest["items"]]
    log = (lambda *_: None) if args.quiet else (lambda index, count: print(f"pass {index + 1}: {count} graphs", file=sys.stderr))
    reference, reference_state = None, {}
    if config.reference:
        spec = manifest.get("reference") or {}
        if not spec or not (folder / spec["file"]).is_file():
            raise SystemExit(f"error: --timing reference needs the reference graph the manifest names; {folder} has none: "
                             f"re-emit the folder with 'compactrs profile --emit', or time with --timing wall")
        reference = timer.call(folder / spec["file"], rng.standard_normal(tuple(spec["input_shape"])).astype(np.float32))
    with watch_machine(cpu_bound=args.runtime != "tensorrt") as conditions:
        timed = time_interleaved(calls, config, log, reference, reference_state)
    if reference_state:
        conditions["reference"] = reference_state
    records = [{"file": item["file"], **record} for item, record in zip(manifest["items"], timed)]
    if kernels:
        profile_fitting_kernels(folder, manifest, records, threads, rng, args.quiet)
    manifest["timing"] = config.to_dict()
    return {"schema": RESULTS_SCHEMA, "device": describe_machine(), "threads": threads,
            "runtime": {"name": args.runtime, "version": timer.version, "provider": timer.provider},
            "precision": precision, "seconds": time.perf_counter() - started,
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "conditions": conditions, "manifest": manifest, "records": records}


def profile_fitting_kernels(folder: Path, manifest: dict, records: list, threads, rng, quiet: bool) -> None:
    """Profile every fitting network node by node (its optimised graph saved beside it as ``*.opt.onnx``);
    the per-node timings travel back in its record (``nodes``, ``optimized``)."""
    from .nodeprof import profile_nodes

    runs = int(manifest.get("node_runs", 20))
    for item, record in zip(manifest["items"], records):
        if item["role"] != "fit":
            continue
        record["optimized"] = item["file"].replace(".onnx", ".opt.onnx")
        x = rng.standard_normal(tuple(item["input_shape"])).astype(np.float32)
        record["nodes"] = profile_nodes(folder / item["file"], x, threads, 5, runs, folder / record["optimized"])
    if not quiet:
        print(f"profiled the kernels of {sum(item['role'] == 'fit' for item in manifest['items'])} networks", file=sys.stderr)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="folder written by 'compactrs profile --emit'")
    parser.add_argument("--runtime", choices=("onnxruntime", "tensorrt", "openvino"), default="onnxruntime")
    parser.add_argument("--threads", type=int, default=None, help="intra-op threads (default: the manifest's)")
    parser.add_argument("--fp16", action="store_true", help="TensorRT: build FP16 engines")
    parser.add_argument("--precision", choices=("fp32", "fp16", "bf16", "int8"), default=None,
                        help="precision recorded (and OpenVINO's hint: bf16, else f32); int8 folders hold INT8 graphs built on the host")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="wall time, or the thread's CPU time (robust on a busy machine; needs --threads 1)")
    parser.add_argument("--timing", choices=("wall", "reference"), default=None,
                        help="end-to-end timing: wall, or every run paired with the folder's reference graph and "
                             "normalised by it (default: as the manifest says)")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--min-runs", type=int, default=50)
    parser.add_argument("--min-seconds", type=float, default=0.3)
    parser.add_argument("--max-runs", type=int, default=5000)
    parser.add_argument("--retries", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved passes over the folder")
    parser.add_argument("--out", type=Path, default=None, help="output JSON (default: FOLDER/measurements.json)")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    results = run_folder(args.folder, args)
    out = args.out or args.folder / "measurements.json"
    write_json_atomically(out, results, indent=1)
    print(f"wrote {out}: {len(results['records'])} graphs in {results['seconds']:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
