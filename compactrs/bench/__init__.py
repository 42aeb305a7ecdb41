"""Benchmark reports: latency percentiles, throughput and peak memory of a run, an .onnx file or a bundle.

The runners it uses live in the runtime layer (``compactrs.runtime``); they are re-exported here for callers
that imported them from ``compactrs.bench``.
"""
from compactrs.bench.api import benchmark
from compactrs.runtime import OnnxRuntimeRunner, Runner, TorchRunner

__all__ = ["OnnxRuntimeRunner", "Runner", "TorchRunner", "benchmark"]
