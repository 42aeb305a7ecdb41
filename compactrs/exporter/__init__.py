"""Export: ONNX (+ INT8 / FP16 / TensorRT), parity validation against PyTorch, and the deploy bundle."""
from compactrs.exporter.api import ExportConfig, export
from compactrs.exporter.validate import allclose, oa_drop, top1_agreement, validate

__all__ = ["ExportConfig", "allclose", "export", "oa_drop", "top1_agreement", "validate"]
