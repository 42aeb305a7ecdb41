"""Export: ONNX (+ INT8 / FP16 / TensorRT), parity validation against PyTorch, and the deploy bundle."""
from compactrs.export.api import ExportConfig, export
from compactrs.export.validate import allclose, oa_drop, top1_agreement, validate

__all__ = ["ExportConfig", "allclose", "export", "oa_drop", "top1_agreement", "validate"]

from compactrs._callable import make_module_callable

make_module_callable(__name__, export)  # compactrs.export(...) works even once the subpackage is imported
