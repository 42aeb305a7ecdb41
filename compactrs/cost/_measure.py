"""Time an emitted folder of graphs in onnxruntime on this machine (the in-process twin of deploy/profile_runner.py).

Both write the same measurement records, ``{"file", "median_ms", "p90_ms", "min_ms", "n", "remeasured"}``, so a
profile built from a device's runner output and one measured here go through the same code afterwards.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

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
    rounds: int = 3
    #: "wall" (what the device sees) or "cpu": the calling thread's CPU time, which a busy shared machine
    #: cannot inflate by descheduling the process (valid with one runtime thread, which runs on the caller;
    #: a job on the sibling hyperthread still slows it).
    clock: str = "wall"

    def to_dict(self) -> dict:
        return {"warmup": self.warmup, "min_runs": self.min_runs, "min_seconds": self.min_seconds,
                "max_runs": self.max_runs, "retries": self.retries, "rounds": self.rounds,
                "noisy_spread": NOISY_SPREAD, "clock": self.clock}


CLOCKS = {"wall": time.perf_counter, "cpu": time.thread_time}


def time_samples(fn, clock, warmup: int, min_runs: int, min_seconds: float, max_runs: int) -> list[float]:
    """Warm up, then time ``fn()`` at least ``min_runs`` times and ``min_seconds`` (wall) long; ms samples."""
    for _ in range(warmup):
        fn()
    samples: list[float] = []
    started = time.perf_counter()
    while len(samples) < max_runs and (len(samples) < min_runs or time.perf_counter() - started < min_seconds):
        t0 = clock()
        fn()
        samples.append((clock() - t0) * 1e3)
    return samples


def summarise(samples: list[float], remeasured: int = 0) -> dict:
    values = np.asarray(samples)
    return {"median_ms": float(np.median(values)), "p90_ms": float(np.percentile(values, 90)),
            "min_ms": float(values.min()), "n": int(len(values)), "remeasured": remeasured}


def spread(timing: dict) -> float:
    return timing["p90_ms"] / max(timing["median_ms"], 1e-9) - 1.0


def ort_callable(path: Path, input_shape, threads: int | None, seed: int = 0):
    from compactrs.bench.onnxruntime_timing import ort_session

    session = ort_session(path, threads)
    feed = {session.get_inputs()[0].name: np.random.default_rng(seed).standard_normal(tuple(input_shape)).astype(np.float32)}
    return lambda: session.run(None, feed)


def measure_folder(folder: Path, items: list[dict], threads: int | None, timing: TimingConfig, progress=None) -> list[dict]:
    """Time every graph of ``items`` in interleaved rounds and return one record per file (manifest order).

    Every graph is timed for ``1/rounds`` of its budget in each of ``rounds`` passes over the whole folder, so
    slow drifts of the machine (other jobs, clocks, heat) reach every graph alike instead of biasing whichever
    graphs happened to run during them. Graphs whose p90 exceeds the median by more than NOISY_SPREAD get up
    to ``retries`` extra rounds.
    """
    clock = CLOCKS[timing.clock]
    calls = [ort_callable(folder / item["file"], item["input_shape"], threads) for item in items]
    samples: list[list[float]] = [[] for _ in items]
    extra = [0] * len(items)
    runs, seconds = -(-timing.min_runs // timing.rounds), timing.min_seconds / timing.rounds
    if progress is not None:
        progress.start("measure", "timing graphs", len(items) * timing.rounds)
    for round_index in range(timing.rounds + timing.retries):
        todo = range(len(items)) if round_index < timing.rounds else [
            i for i in range(len(items)) if spread(summarise(samples[i])) > NOISY_SPREAD]
        for i in todo:
            warmup = timing.warmup if round_index == 0 else 2
            samples[i] += time_samples(calls[i], clock, warmup, runs, seconds, timing.max_runs // timing.rounds)
            extra[i] += round_index >= timing.rounds
            if progress is not None and round_index < timing.rounds:
                progress.advance("measure")
    if progress is not None:
        progress.finish("measure")
    return [{"file": item["file"], **summarise(samples[i], extra[i])} for i, item in enumerate(items)]
