"""Runners and latency measurement (torch, onnxruntime, tensorrt)."""
from compactrs.bench.api import benchmark
from compactrs.bench.runners import OnnxRuntimeRunner, Runner, TensorRTRunner, TorchRunner

__all__ = ["OnnxRuntimeRunner", "Runner", "TensorRTRunner", "TorchRunner", "benchmark"]
