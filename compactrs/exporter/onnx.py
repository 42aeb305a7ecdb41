"""Moved to ``compactrs.runtime.onnx`` (ONNX lowering is a runtime-layer service); this name keeps old imports working."""
from compactrs.runtime.onnx import DEFAULT_OPSET, INPUT_NAME, OUTPUT_NAME, check_onnx, export_onnx, onnx_summary, simplify_onnx

__all__ = ["DEFAULT_OPSET", "INPUT_NAME", "OUTPUT_NAME", "check_onnx", "export_onnx", "onnx_summary", "simplify_onnx"]
