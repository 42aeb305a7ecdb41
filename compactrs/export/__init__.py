"""Lowering to ONNX / TensorRT, parity validation and deployment bundles."""
