"""Runners and latency measurement (torch, onnxruntime, tensorrt)."""
