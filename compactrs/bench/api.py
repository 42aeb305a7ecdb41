"""``benchmark``: latency percentiles, throughput and peak memory of a run, an .onnx file or a bundle."""
from __future__ import annotations

import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from compactrs._env import versions
from compactrs.deploy.machine import MEMORY_METHOD, describe_machine, peak_rss_delta_mb, reset_peak_rss
from compactrs.errors import ArtifactError, ConfigError
from compactrs.runtime import RUNTIMES as FILE_RUNTIMES
from compactrs.runtime import OnnxRuntimeRunner, Runner, TimingConfig, TorchRunner, check_onnx, export_onnx, make_runner

RUNTIMES = ("torch", *FILE_RUNTIMES)


def _input_shape_from_onnx(path: Path) -> tuple[int, ...]:
    (meta,) = check_onnx(path)["inputs"].values()
    dims = meta["shape"][1:]
    if not all(isinstance(d, int) for d in dims):
        raise ArtifactError(f"'{path}' has dynamic non-batch input dims {meta['shape']}; export it with a fixed patch size")
    return (1, *dims)


def _resolve(artifact: Path, runtime: str, threads: int | None, workdir: Path) -> tuple[Runner, tuple, str]:
    """The runner, input shape and a description of what is measured."""
    from compactrs.exporter.bundle import is_bundle, read_manifest

    if is_bundle(artifact):
        manifest = read_manifest(artifact)
        shape = (1, *manifest["input_spec"]["shape"][1:])
        if runtime in FILE_RUNTIMES:
            path = artifact / FILE_RUNTIMES[runtime].default_file
            return make_runner(runtime, path, threads), shape, str(path)
        raise ConfigError(f"a bundle holds no PyTorch model; bench the run directory ({manifest['run']}) with --runtime torch")
    if artifact.suffix == ".onnx":
        if runtime != "onnxruntime":
            raise ConfigError(f"an .onnx file runs with --runtime onnxruntime (or export a bundle and build a TensorRT plan), not {runtime}")
        return OnnxRuntimeRunner(artifact, threads), _input_shape_from_onnx(artifact), str(artifact)
    if artifact.suffix in (".plan", ".engine"):
        return make_runner("tensorrt", artifact), None, str(artifact)
    from compactrs.training import load_checkpoint

    model, payload = load_checkpoint(artifact)
    spec = payload["input_spec"]
    shape = (1, spec["in_bands"], *spec["input_size"])
    if runtime == "torch":
        return TorchRunner(model, shape, threads), shape, f"{artifact} (PyTorch eager)"
    if runtime == "onnxruntime":
        path = export_onnx(model, workdir / "model.onnx", shape)
        return OnnxRuntimeRunner(path, threads), shape, f"{artifact} (exported to ONNX for this measurement)"
    raise ConfigError("a TensorRT benchmark needs an engine: export a bundle with --trt and build model.plan on the device")


def benchmark(artifact: str | os.PathLike, runtime: str = "onnxruntime", batches=(1, 8, 32), threads: int | None = 1,
              warmup: int = 10, min_runs: int = 30, min_seconds: float = 1.0, seed: int = 0) -> dict:
    """Measure median / p90 / p99 latency, throughput and peak memory of ``artifact`` per batch size.

    Args:
        artifact: a run directory (or model.pt), an .onnx file, a bundle directory, or a .plan (TensorRT).
        runtime: torch | onnxruntime | tensorrt.
        batches: batch sizes to measure, each on fresh random N(0,1) inputs of the model's input shape.
        threads: intra-op threads for torch / onnxruntime (None = the runtime's default).

    Returns:
        ``{"artifact", "runtime", "threads" (the count used), "input_shape", "memory_method", "statistic", "contended",
        "results": [{"batch", "median_ms", "p90_ms", "p99_ms", "throughput_per_s", "peak_mem_mb", "conditions", ...}],
        "machine", "versions"}``. A row measured while other processes competed for the CPUs is measured once
        more; if it stays contended, its ``conditions`` say so and ``contended`` is true.
    """
    if runtime not in RUNTIMES:
        raise ConfigError(f"unknown runtime '{runtime}'; valid: {', '.join(RUNTIMES)}")
    batches = [int(b) for b in batches]
    if not batches or min(batches) < 1:
        raise ConfigError(f"batch sizes {batches} must be positive integers, e.g. 1,8,32")
    if threads is not None and threads < 1:
        raise ConfigError(f"threads must be >= 1 (or None for the runtime's default), got {threads}")
    if warmup < 0 or min_runs < 1 or min_seconds < 0:
        raise ConfigError(f"warmup >= 0, min_runs >= 1 and min_seconds >= 0 are needed, got {warmup}, {min_runs}, {min_seconds}")
    artifact = Path(artifact)
    if not artifact.exists():
        raise ArtifactError(f"'{artifact}' does not exist; pass a run directory, an .onnx file, a bundle or a .plan")
    config = TimingConfig(warmup=warmup, min_runs=min_runs, min_seconds=min_seconds, contention_retries=1)
    rng = np.random.default_rng(seed)
    rows = []
    with tempfile.TemporaryDirectory(prefix="compactrs-bench-") as tmp:
        runner, shape, what = _resolve(artifact, runtime, threads, Path(tmp))
        with runner:
            if shape is None:
                shape = (1, *runner.input_metadata().popitem()[1]["shape"][1:])
            for batch in batches:
                x = rng.standard_normal((batch, *shape[1:])).astype(np.float32)
                baseline = reset_peak_rss()  # the device's memory probe, so host and device numbers mean the same
                timing = runner.timing(x, config)
                rows.append({**timing, "throughput_per_s": batch * 1e3 / timing["median_ms"], "peak_mem_mb": peak_rss_delta_mb(baseline)})
            threads_used = runner.threads_used()
    return {"artifact": what, "runtime": runtime, "threads": threads_used, "input_shape": list(shape[1:]),
            "memory_method": MEMORY_METHOD, "statistic": "median", "contended": any(r["conditions"]["contended"] for r in rows),
            "results": rows, "machine": describe_machine(), "versions": versions(),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}
