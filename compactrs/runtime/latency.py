"""The one "latency of this model" helper: every report latency, prune speed-up and export speed check uses it.

Error policy (one for every caller): a latency is a measurement *about* an artifact, so a model that cannot
be exported or run for timing does not lose the artifact — its entry records ``"error"`` (type and message)
instead of numbers, and whoever prints or compares latencies must show that error. Wrong arguments (an
unknown runtime) are still raised as ``ConfigError``.

Every entry records the runtime, batch, the thread count actually used (the runtime's default resolved, never
None), the statistic (median), and the machine's ``conditions`` while it ran (``contended`` + ``reason``);
a contended measurement is repeated once (``TimingConfig.contention_retries``).
"""
from __future__ import annotations

import copy
import os
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn

from compactrs.deploy.machine import physical_cores
from compactrs.deploy.timing import TimingConfig
from compactrs.errors import ConfigError
from compactrs.runtime.onnx import export_onnx
from compactrs.runtime.runners import make_runner
from compactrs.runtime.torch_runner import TorchRunner

#: report latencies: short, but long enough for a stable median of a small network.
REPORT_TIMING = TimingConfig(warmup=3, min_runs=10, min_seconds=0.3, contention_retries=1)


def latency_key(runtime: str, batch: int, device: str = "cpu") -> str:
    """The key a latency is filed under in reports: ``onnxruntime_cpu_b1``, ``torch_cpu_b32``, ..."""
    return f"{runtime}_{device}_b{batch}"


def _time_runner(runner, sample_shape: Sequence[int], batches: Sequence[int], config: TimingConfig, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    out = {}
    with runner:
        for batch in batches:
            x = rng.standard_normal((batch, *sample_shape)).astype(np.float32)
            out[latency_key(runner.name, batch)] = {"device": "cpu", **runner.timing(x, config)}
    return out


def measure_latency(model: nn.Module | str | os.PathLike, sample_shape: Sequence[int], runtime: str = "onnxruntime",
                    batches: Sequence[int] = (1,), threads: int | None = 1, config: TimingConfig | None = None,
                    seed: int = 0) -> dict:
    """Latency of ``model`` per batch size, on seeded N(0,1) inputs.

    Args:
        model: an ``nn.Module`` (exported to a temporary .onnx for onnxruntime) or a model file (.onnx, ...).
        sample_shape: one sample's shape, ``(bands, height, width)``.
        runtime: ``torch`` (modules only) or a runtime of ``compactrs.runtime.RUNTIMES``.
        threads: intra-op threads (None = the runtime's default, recorded resolved).
        config: timing settings (default ``REPORT_TIMING``).

    Returns:
        ``{"<runtime>_cpu_b<batch>": {"runtime", "device", "batch", "threads", "median_ms", "p90_ms", "p99_ms",
        "min_ms", "mean_ms", "runs", "statistic", "clock", "conditions"}}`` — or, where the model could not be
        exported or run, ``{"runtime", "device", "batch", "threads", "error"}`` per batch (see the module docstring).
    """
    config = config or REPORT_TIMING
    sample_shape = tuple(int(d) for d in sample_shape)
    if runtime == "torch" and not isinstance(model, nn.Module):
        raise ConfigError(f"runtime 'torch' times a PyTorch module, not the file '{model}'; use --runtime onnxruntime for model files")
    try:
        if runtime == "torch":
            return _time_runner(TorchRunner(model, (1, *sample_shape), threads), sample_shape, batches, config, seed)
        with tempfile.TemporaryDirectory(prefix="compactrs-latency-") as tmp:
            path = model
            if isinstance(model, nn.Module):
                module = copy.deepcopy(model).eval().to(memory_format=torch.contiguous_format)
                path = export_onnx(module, Path(tmp) / "model.onnx", (1, *sample_shape))
            return _time_runner(make_runner(runtime, path, threads), sample_shape, batches, config, seed)
    except ConfigError:
        raise
    except Exception as exc:  # the policy above: record the failure with the measurement, never lose the artifact
        error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        used = threads or (torch.get_num_threads() if runtime == "torch" else physical_cores())
        return {latency_key(runtime, batch): {"runtime": runtime, "device": "cpu", "batch": int(batch), "threads": used, "error": error}
                for batch in batches}


def describe_latency(key: str, entry: dict) -> str:
    """One line for a latency entry: the median with its threads, the error, or a warning when it was contended."""
    if "median_ms" not in entry:
        return f"{key}: not measured ({entry.get('error', 'no timing recorded')})"
    conditions = entry.get("conditions") or {}
    warning = f" — CONTENDED ({conditions.get('reason')}); re-measure on a quiet machine" if conditions.get("contended") else ""
    return f"{key}: median {entry['median_ms']:.3f} ms (p90 {entry['p90_ms']:.3f} ms, {entry.get('threads', '?')} threads){warning}"


def speedup(before: dict, after: dict) -> float | None:
    """``before`` median / ``after`` median for two latency entries; None when either one holds an error."""
    if "median_ms" not in before or "median_ms" not in after:
        return None
    return before["median_ms"] / after["median_ms"]
