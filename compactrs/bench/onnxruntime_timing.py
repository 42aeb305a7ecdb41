"""Latency of an .onnx model in onnxruntime on this CPU (the runtime the cost model and reports use)."""
from __future__ import annotations

import os

import numpy as np

from compactrs._timing import time_callable


def ort_session(path: str | os.PathLike, threads: int | None = 1):
    """An onnxruntime CPU session with ``threads`` intra-op threads (1 = steadiest for small nets)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads is not None:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])


def time_onnx(path: str | os.PathLike, input_shape, threads: int | None = 1, warmup: int = 10, min_runs: int = 30,
              min_seconds: float = 0.5, seed: int = 0) -> dict:
    """Median / p90 / p99 milliseconds of one ``session.run`` on a random float32 input of ``input_shape``."""
    session = ort_session(path, threads)
    name = session.get_inputs()[0].name
    x = np.random.default_rng(seed).standard_normal(tuple(input_shape)).astype(np.float32)
    timing = time_callable(lambda: session.run(None, {name: x}), warmup=warmup, min_runs=min_runs, min_seconds=min_seconds)
    return {"runtime": "onnxruntime", "device": "cpu", "batch": int(input_shape[0]), "threads": threads, **timing}
