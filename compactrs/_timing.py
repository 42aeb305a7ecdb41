"""Wall-clock timing of a callable: warm-up, then enough runs for a stable median and tail."""
from __future__ import annotations

import time
from typing import Callable

import numpy as np


def time_callable(fn: Callable[[], object], warmup: int = 5, min_runs: int = 20, min_seconds: float = 0.5, max_runs: int = 2000) -> dict:
    """Time ``fn()``: ``warmup`` untimed calls, then at least ``min_runs`` and ``min_seconds`` of timed calls.

    Returns milliseconds: median, mean, p90, p99, min, and the number of timed runs.
    """
    for _ in range(warmup):
        fn()
    samples: list[float] = []
    started = time.perf_counter()
    while len(samples) < max_runs and (len(samples) < min_runs or time.perf_counter() - started < min_seconds):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1e3)
    values = np.asarray(samples)
    return {
        "median_ms": float(np.median(values)),
        "mean_ms": float(values.mean()),
        "p90_ms": float(np.percentile(values, 90)),
        "p99_ms": float(np.percentile(values, 99)),
        "min_ms": float(values.min()),
        "runs": int(len(values)),
    }
