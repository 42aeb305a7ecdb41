"""Time an emitted folder of graphs in onnxruntime on this machine (the in-process twin of deploy/profile_runner.py).

Both write the same measurement records, ``{"file", "median_ms", "p90_ms", "min_ms", "n", "remeasured"}``, so a
profile built from a device's runner output and one measured here go through the same code afterwards.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

import time

#: a measurement whose p90 exceeds its median by more than this is re-measured (up to ``retries`` times).
NOISY_SPREAD = 0.25


@dataclass(frozen=True)
class TimingConfig:
    """How long to time each graph: warm-up calls, then at least ``min_runs`` and ``min_seconds``."""

    warmup: int = 10
    min_runs: int = 50
    min_seconds: float = 0.3
    max_runs: int = 5000
    retries: int = 2
    #: "wall" (what the device sees) or "cpu": the calling thread's CPU time, which a busy shared machine
    #: cannot inflate by descheduling the process (valid with one runtime thread, which runs on the caller).
    clock: str = "wall"

    def to_dict(self) -> dict:
        return {"warmup": self.warmup, "min_runs": self.min_runs, "min_seconds": self.min_seconds,
                "max_runs": self.max_runs, "retries": self.retries, "noisy_spread": NOISY_SPREAD, "clock": self.clock}


CLOCKS = {"wall": time.perf_counter, "cpu": time.thread_time}


def time_runs(fn, timing: TimingConfig) -> dict:
    """Warm up, then time ``fn()`` at least ``min_runs`` times and ``min_seconds`` (wall) long, on ``timing.clock``."""
    clock = CLOCKS[timing.clock]
    for _ in range(timing.warmup):
        fn()
    samples: list[float] = []
    started = time.perf_counter()
    while len(samples) < timing.max_runs and (len(samples) < timing.min_runs
                                              or time.perf_counter() - started < timing.min_seconds):
        t0 = clock()
        fn()
        samples.append((clock() - t0) * 1e3)
    values = np.asarray(samples)
    return {"median_ms": float(np.median(values)), "p90_ms": float(np.percentile(values, 90)),
            "min_ms": float(values.min()), "runs": int(len(values))}


def spread(timing: dict) -> float:
    return timing["p90_ms"] / max(timing["median_ms"], 1e-9) - 1.0


def time_graph(path: Path, input_shape, threads: int | None, timing: TimingConfig, seed: int = 0) -> dict:
    """Median / p90 / min milliseconds of one ``session.run`` of ``path``; noisy results are re-measured."""
    from compactrs.bench.onnxruntime_timing import ort_session

    session = ort_session(path, threads)
    name = session.get_inputs()[0].name
    x = np.random.default_rng(seed).standard_normal(tuple(input_shape)).astype(np.float32)

    def run():
        return session.run(None, {name: x})

    best, attempts = None, 0
    while True:
        result = time_runs(run, timing)
        if best is None or spread(result) < spread(best):
            best = result
        if spread(best) <= NOISY_SPREAD or attempts >= timing.retries:
            break
        attempts += 1
    return {"median_ms": best["median_ms"], "p90_ms": best["p90_ms"], "min_ms": best["min_ms"],
            "n": best["runs"], "remeasured": attempts}


def measure_folder(folder: Path, items: list[dict], threads: int | None, timing: TimingConfig, progress=None) -> list[dict]:
    """Time every graph listed in ``items`` (manifest order) and return one record per file."""
    records = []
    if progress is not None:
        progress.start("measure", "timing graphs", len(items))
    for item in items:
        records.append({"file": item["file"], **time_graph(folder / item["file"], item["input_shape"], threads, timing)})
        if progress is not None:
            progress.advance("measure")
    if progress is not None:
        progress.finish("measure")
    return records
