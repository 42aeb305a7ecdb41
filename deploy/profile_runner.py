#!/usr/bin/env python3
"""Measure a folder of op graphs on the device: numpy + onnxruntime (or TensorRT) only, never torch or compactrs.

On a workstation:   compactrs profile --emit graphs/            (networks [kernel profile] or op graphs + manifest.json)
On the device:      python profile_runner.py graphs/ [--runtime onnxruntime|tensorrt] [--threads 1]
                    → graphs/measurements.json
Back on the workstation:  compactrs profile --from-measurements graphs/measurements.json --out profiles/DEV.json

Each graph is timed after a warm-up for at least --min-runs runs and --min-seconds, split over --rounds
interleaved passes over the folder; a graph whose p90 exceeds its median by more than 25 % gets extra passes. The output
records median / p90 / min milliseconds (and each pass's median) per file and embeds the manifest, so the workstation
needs nothing else. For a kernel-level profile (onnxruntime) every fitting network is also profiled node by node
(enable_profiling): its optimised graph is saved next to it and the per-node timings travel in its record.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

RESULTS_SCHEMA = "compactrs.profile-measurements/1"
MANIFEST_SCHEMA = "compactrs.profile-graphs/1"
#: a kernel-level profile's folder: whole networks, each also profiled node by node (onnxruntime only)
KERNEL_MANIFEST_SCHEMA = "compactrs.kernel-profile-graphs/1"
NODE_SUFFIX = "_kernel_time"
NOISY_SPREAD = 0.25
CLOCKS = {"wall": time.perf_counter, "cpu": time.thread_time}


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            cpu = next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), cpu)
    except OSError:
        pass
    try:
        memory_gb = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        memory_gb = None
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gb": memory_gb, "arch": platform.machine(),
            "os": f"{platform.system()} {platform.release()}"}


def time_samples(fn, clock, warmup: int, min_runs: int, min_seconds: float, max_runs: int) -> list:
    for _ in range(warmup):
        fn()
    samples = []
    started = time.perf_counter()
    while len(samples) < max_runs and (len(samples) < min_runs or time.perf_counter() - started < min_seconds):
        t0 = clock()
        fn()
        samples.append((clock() - t0) * 1e3)
    return samples


def summarise(samples: list, remeasured: int = 0) -> dict:
    values = np.asarray(samples)
    return {"median_ms": float(np.median(values)), "p90_ms": float(np.percentile(values, 90)),
            "min_ms": float(values.min()), "n": int(len(values)), "remeasured": remeasured}


def spread(record: dict) -> float:
    return record["p90_ms"] / max(record["median_ms"], 1e-9) - 1.0


def time_interleaved(calls: list, args, log) -> list:
    """Each graph gets 1/rounds of its budget in each of --rounds passes (drift hits all graphs alike);
    graphs whose p90 exceeds the median by more than NOISY_SPREAD get up to --retries extra passes.
    Each record also holds the median of every regular pass (``round_ms``: test–retest)."""
    clock = CLOCKS[args.clock]
    rounds_ms = [[] for _ in calls]
    samples = [[] for _ in calls]
    extra = [0] * len(calls)
    runs, seconds = -(-args.min_runs // args.rounds), args.min_seconds / args.rounds
    for round_index in range(args.rounds + args.retries):
        todo = range(len(calls)) if round_index < args.rounds else [
            i for i in range(len(calls)) if spread(summarise(samples[i])) > NOISY_SPREAD]
        for i in todo:
            warmup = args.warmup if round_index == 0 else 2
            batch = time_samples(calls[i], clock, warmup, runs, seconds, args.max_runs // args.rounds)
            samples[i] += batch
            extra[i] += round_index >= args.rounds
            if round_index < args.rounds:
                rounds_ms[i].append(float(np.median(batch)))
        log(f"pass {round_index + 1}: {len(todo)} graphs")
    return [{**summarise(s, e), "round_ms": r} for s, e, r in zip(samples, extra, rounds_ms)]


def profile_nodes(path: Path, x: np.ndarray, threads, warmup: int, runs: int, optimized: Path) -> dict:
    """Per node of onnxruntime's optimised graph (saved to ``optimized``): shapes and the trimmed mean (middle
    60 %) of its profiled durations in µs — the same record compactrs.cost._nodeprof.profile_nodes writes."""
    import onnxruntime as ort

    with tempfile.TemporaryDirectory(prefix="compactrs-nodeprof-") as tmp:
        options = ort.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        options.optimized_model_filepath = str(optimized)
        options.enable_profiling, options.profile_file_prefix = True, str(Path(tmp) / "profile")
        session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
        feed = {session.get_inputs()[0].name: x}
        for _ in range(warmup + runs):
            session.run(None, feed)
        events = json.loads(Path(session.end_profiling()).read_text(encoding="utf-8"))
    starts = sorted(e["ts"] for e in events if e.get("cat") == "Session" and e.get("name") == "model_run")
    first = starts[warmup] if warmup < len(starts) else float("inf")
    nodes, order = {}, []
    for event in events:
        name = event.get("name", "")
        if event.get("cat") != "Node" or not name.endswith(NODE_SUFFIX) or event["ts"] < first:
            continue
        name, args = name[: -len(NODE_SUFFIX)], event.get("args", {})
        if name not in nodes:
            order.append(name)
            shapes = lambda key: [[int(d) for d in next(iter(i.values()))] for i in args.get(key) or [] if i]  # noqa: E731
            nodes[name] = {"op": args.get("op_name", ""), "inputs": shapes("input_type_shape"),
                           "outputs": shapes("output_type_shape"), "durations": []}
        nodes[name]["durations"].append(float(event.get("dur", 0)))
    for node in nodes.values():
        data = np.sort(node.pop("durations"))
        cut = int(len(data) * 0.2) if len(data) >= 3 else 0
        node["us"], node["n"] = float(data[cut:len(data) - cut].mean()), int(len(data))
    return {"nodes": nodes, "order": order, "runs": max(1, len(starts) - warmup)}


class OnnxRuntimeRunner:
    name = "onnxruntime"

    def __init__(self, threads: int | None):
        import onnxruntime as ort

        self.ort, self.threads = ort, threads
        self.version = ort.__version__
        self.provider = "CPUExecutionProvider"

    def callable(self, path: Path, x: np.ndarray):
        options = self.ort.SessionOptions()
        if self.threads is not None:
            options.intra_op_num_threads = self.threads
            options.inter_op_num_threads = 1
        options.graph_optimization_level = self.ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        session = self.ort.InferenceSession(str(path), sess_options=options, providers=[self.provider])
        feed = {session.get_inputs()[0].name: x}
        return lambda: session.run(None, feed)


class TensorRTRunner:
    """One engine per graph (FP32, or FP16 with --fp16); buffers through cuda-python's cudart."""

    name = "tensorrt"

    def __init__(self, fp16: bool):
        import tensorrt as trt  # lazy: only on devices that have it
        from cuda import cudart

        self.trt, self.cudart, self.fp16 = trt, cudart, fp16
        self.version, self.provider = trt.__version__, "TensorRT"
        self.logger = trt.Logger(trt.Logger.ERROR)
        self._keep = []

    def _check(self, result):
        error = result[0] if isinstance(result, tuple) else result
        if int(error) != 0:
            raise RuntimeError(f"CUDA call failed: {error}")
        return result[1] if isinstance(result, tuple) and len(result) > 1 else None

    def callable(self, path: Path, x: np.ndarray):
        trt, cudart = self.trt, self.cudart
        builder = trt.Builder(self.logger)
        network = builder.create_network(0)
        parser = trt.OnnxParser(network, self.logger)
        if not parser.parse(path.read_bytes()):
            raise RuntimeError(f"TensorRT cannot parse {path}: {parser.get_error(0)}")
        config = builder.create_builder_config()
        if self.fp16:
            config.set_flag(trt.BuilderFlag.FP16)
        engine = trt.Runtime(self.logger).deserialize_cuda_engine(builder.build_serialized_network(network, config))
        context = engine.create_execution_context()
        stream = self._check(cudart.cudaStreamCreate())
        for index in range(engine.num_io_tensors):
            name = engine.get_tensor_name(index)
            shape = tuple(context.get_tensor_shape(name))
            size = int(np.prod(shape)) * np.dtype(trt.nptype(engine.get_tensor_dtype(name))).itemsize
            pointer = self._check(cudart.cudaMalloc(size))
            if engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT:
                self._check(cudart.cudaMemcpy(pointer, x.ctypes.data, x.nbytes, cudart.cudaMemcpyKind.cudaMemcpyHostToDevice))
            context.set_tensor_address(name, pointer)
        self._keep.append((engine, context))

        def run():
            context.execute_async_v3(stream)
            self._check(cudart.cudaStreamSynchronize(stream))
        return run


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
        raise SystemExit("error: kernel-level profiles profile onnxruntime's nodes; run with --runtime onnxruntime "
                         "(or emit with 'compactrs profile --method ops --emit DIR' for TensorRT)")
    threads = args.threads if args.threads is not None else manifest.get("threads")
    if args.clock == "cpu" and threads != 1:
        raise SystemExit("error: --clock cpu measures the calling thread, so it needs --threads 1")
    runner = TensorRTRunner(args.fp16) if args.runtime == "tensorrt" else OnnxRuntimeRunner(threads)
    started, cpu_started, load_before = time.perf_counter(), time.process_time(), _load()
    rng = np.random.default_rng(0)
    calls = [runner.callable(folder / item["file"], rng.standard_normal(tuple(item["input_shape"])).astype(np.float32))
             for item in manifest["items"]]
    log = (lambda message: None) if args.quiet else (lambda message: print(message, file=sys.stderr))
    records = [{"file": item["file"], **record}
               for item, record in zip(manifest["items"], time_interleaved(calls, args, log))]
    if kernels:  # the fitting networks' kernels, profiled node by node in their optimised graphs
        node_runs = int(manifest.get("node_runs", 20))
        for item, record in zip(manifest["items"], records):
            if item["role"] == "fit":
                record["optimized"] = item["file"].replace(".onnx", ".opt.onnx")
                record["nodes"] = profile_nodes(folder / item["file"], rng.standard_normal(tuple(item["input_shape"]))
                                                .astype(np.float32), threads, 5, node_runs, folder / record["optimized"])
        log(f"profiled the kernels of {sum(item['role'] == 'fit' for item in manifest['items'])} networks")
    timing = {"warmup": args.warmup, "min_runs": args.min_runs, "min_seconds": args.min_seconds,
              "max_runs": args.max_runs, "retries": args.retries, "rounds": args.rounds, "noisy_spread": NOISY_SPREAD, "clock": args.clock}
    manifest["timing"] = timing
    wall = time.perf_counter() - started
    cpu_share, load = (time.process_time() - cpu_started) / max(wall, 1e-9), max(load_before, _load())
    state = {"load_before": load_before, "load_after": _load(), "cores": os.cpu_count(), "cpu_share": round(cpu_share, 3),
             "contended": bool(cpu_share < 0.9 or load > (os.cpu_count() or 1))}
    state["reason"] = (f"CPU share {cpu_share:.0%}, load average {load:.1f} on {os.cpu_count()} cores"
                       if state["contended"] else None)
    return {"schema": RESULTS_SCHEMA, "machine_state": state, "device": machine(), "threads": threads,
            "runtime": {"name": runner.name, "version": runner.version, "provider": runner.provider},
            "precision": "fp16" if args.fp16 else "fp32", "seconds": time.perf_counter() - started,
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "manifest": manifest, "records": records}


def _load() -> float:
    try:
        return round(os.getloadavg()[0], 2)
    except (OSError, AttributeError):
        return -1.0


def write_json_atomically(path: Path, data: dict) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=1)
    os.replace(tmp, path)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="folder written by 'compactrs profile --emit'")
    parser.add_argument("--runtime", choices=("onnxruntime", "tensorrt"), default="onnxruntime")
    parser.add_argument("--threads", type=int, default=None, help="intra-op threads (default: the manifest's)")
    parser.add_argument("--fp16", action="store_true", help="TensorRT: build FP16 engines")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="wall time, or the thread's CPU time (robust on a busy machine; needs --threads 1)")
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
    write_json_atomically(out, results)
    print(f"wrote {out}: {len(results['records'])} graphs in {results['seconds']:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
