"""Time an emitted folder of graphs in onnxruntime on this machine (the in-process twin of deploy/profile_runner.py).

Both time with ``compactrs.deploy.timing.time_interleaved`` and write the same measurement records,
``{"file", "median_ms", "p90_ms", "min_ms", "n", "remeasured", ...}``, so a profile built from a device's runner
output and one measured here go through the same code afterwards.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from compactrs.runtime import CLOCKS, NOISY_SPREAD, OnnxRuntimeRunner, TimingConfig, spread, summarise, time_interleaved, time_samples, watch_machine

__all__ = ["CLOCKS", "NOISY_SPREAD", "TimingConfig", "measure_folder", "ort_callable", "spread", "summarise", "time_samples"]


def ort_callable(path: Path, input_shape, threads: int | None, seed: int = 0):
    """A zero-argument callable running the .onnx at ``path`` on a seeded N(0,1) input (session kept alive by it)."""
    runner = OnnxRuntimeRunner(path, threads).activate()
    return runner.prepared_call(np.random.default_rng(seed).standard_normal(tuple(input_shape)).astype(np.float32))


def runtime_callable(path: Path, input_shape, threads: int | None, runtime: str = "onnxruntime",
                     precision: str = "fp32", seed: int = 0):
    """``ort_callable``, or the same for OpenVINO (compiled as ``OpenVinoRunner`` runs it: precision hint pinned,
    latency hint)."""
    if runtime == "onnxruntime":
        return ort_callable(path, input_shape, threads, seed)
    from compactrs.deploy.openvino_runner import OpenVinoRunner

    runner = OpenVinoRunner(path, threads, precision, "LATENCY").activate()
    return runner.prepared_call(np.random.default_rng(seed).standard_normal(tuple(input_shape)).astype(np.float32))


def measure_folder(folder: Path, items: list[dict], threads: int | None, timing: TimingConfig, progress=None,
                   conditions: dict | None = None, runtime: str = "onnxruntime", precision: str = "fp32") -> list[dict]:
    """Time every graph of ``items`` in interleaved rounds and return one record per file (manifest order).

    See ``time_interleaved`` for the rounds and the re-measurement of noisy graphs. ``conditions``, when given,
    is filled with the machine's state over the whole measurement (``contended``, ``reason``, ...). Each item's
    ``run_file`` (its INT8 version, see ``_runtime_kernels.runtime_graph``) is what runs, when it has one.
    """
    calls = [runtime_callable(folder / item.get("run_file", item["file"]), item["input_shape"], threads, runtime,
                              precision) for item in items]
    if progress is not None:
        progress.start("measure", "timing graphs", len(items) * timing.rounds)

    def on_pass(index: int, count: int) -> None:
        if progress is not None and index < timing.rounds:
            progress.advance("measure", count)

    with watch_machine() as observed:
        records = time_interleaved(calls, timing, on_pass)
    if conditions is not None:
        conditions.update(observed)
    if progress is not None:
        progress.finish("measure")
    return [{"file": item["file"], **record} for item, record in zip(items, records)]
