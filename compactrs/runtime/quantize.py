"""INT8 versions of an ONNX graph for a runtime: onnxruntime static QDQ, or OpenVINO IR + NNCF.

Layer 1 (runtime), so that both the exporter (a bundle's INT8 models) and the latency profiler (INT8
op graphs, ``compactrs profile --precision int8``) build INT8 the same way. Calibration samples are the
caller's: real training samples for a bundle, N(0,1) inputs for an op graph whose inputs are unit-variance
by construction (every op follows a BatchNorm).
"""
from __future__ import annotations

import contextlib
import io
import logging
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np

from compactrs._io import atomic_path
from compactrs.errors import ArtifactError, ConfigError

INT8_RUNTIMES = ("onnxruntime", "openvino")


def _reader(samples: np.ndarray, input_name: str, batch: int):
    from onnxruntime.quantization import CalibrationDataReader

    class SampleReader(CalibrationDataReader):
        """Feeds the calibration samples to onnxruntime's calibrator in batches of ``batch``."""

        def __init__(self):
            self.batches = iter(range(0, len(samples), batch))

        def get_next(self):
            start = next(self.batches, None)
            return None if start is None else {input_name: samples[start : start + batch]}

        def rewind(self):
            self.batches = iter(range(0, len(samples), batch))

    return SampleReader()


def onnx_node_groups(model) -> dict[str, list[str]]:
    """Names of an ONNX graph's nodes that INT8 may slow down, per group (see ``int8_policy.FLOAT_GROUPS``).

    depthwise: ``Conv`` with one input channel per group; dilated: ``Conv`` with a dilation > 1; pooling:
    ``AveragePool`` / ``MaxPool`` / ``GlobalAveragePool`` / ``GlobalMaxPool``; attention: ``MatMul`` / ``Mul``
    of two activations (neither operand is a weight), the products of the attention ops.
    """
    weights = {t.name: t for t in model.graph.initializer}
    weights.update({n.output[0]: None for n in model.graph.node if n.op_type == "Constant"})
    groups: dict[str, list[str]] = {"depthwise": [], "dilated": [], "pooling": [], "attention": []}
    for node in model.graph.node:
        attrs = {a.name: a for a in node.attribute}
        if node.op_type == "Conv":
            if any(d > 1 for d in attrs["dilations"].ints) if "dilations" in attrs else False:
                groups["dilated"].append(node.name)
            weight = weights.get(node.input[1])
            if "group" in attrs and attrs["group"].i > 1 and weight is not None and weight.dims[1] == 1:
                groups["depthwise"].append(node.name)
        elif node.op_type in ("AveragePool", "MaxPool", "GlobalAveragePool", "GlobalMaxPool"):
            groups["pooling"].append(node.name)
        elif node.op_type in ("MatMul", "Mul") and not any(i in weights for i in node.input):
            groups["attention"].append(node.name)
    return groups


def quantize_int8(onnx_path: str | os.PathLike, out_path: str | os.PathLike, samples: np.ndarray, method: str = "minmax",
                  per_channel: bool = True, input_name: str = "x", batch: int = 32, float_groups=()) -> dict:
    """Static INT8 quantisation for onnxruntime: ``quant_pre_process``, then ``quantize_static`` in QDQ format.

    Weights are int8 per output channel, activations uint8 (the fast U8S8 path of onnxruntime's x86 and ARM
    kernels). TensorRT wants symmetric int8 activations, so a TensorRT INT8 engine is calibrated from
    model.onnx on the device instead of reusing this file.

    ``float_groups`` (names from ``int8_policy.FLOAT_GROUPS``) are left in float via ``nodes_to_exclude``,
    resolved on the pre-processed graph (whose node names are the ones ``quantize_static`` sees).

    Returns:
        ``{"format", "per_channel", "activation_type", "weight_type", "calibration_method", "calibration_samples",
        "left_in_float": {group: [node names]}}``.
    """
    import onnx

    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    methods = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy, "percentile": CalibrationMethod.Percentile}
    if method not in methods:
        raise ArtifactError(f"unknown calibration method '{method}'; valid: {', '.join(methods)}")
    with tempfile.TemporaryDirectory(prefix="compactrs-int8-") as tmp, warnings.catch_warnings(), \
            contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        logging.getLogger("onnxruntime").setLevel(logging.ERROR)
        prepared = Path(tmp) / "prepared.onnx"
        if method != "minmax":  # the histogram calibrators stack every batch: they must all be the same size
            batch = max(b for b in range(1, min(batch, len(samples)) + 1) if len(samples) % b == 0)
        quant_pre_process(str(onnx_path), str(prepared), skip_symbolic_shape=False)
        groups = onnx_node_groups(onnx.load(str(prepared))) if float_groups else {}
        left_in_float = {g: [name for name in groups[g] if name] for g in float_groups}
        with atomic_path(out_path) as target:
            quantize_static(str(prepared), str(target), _reader(samples, input_name, batch), quant_format=QuantFormat.QDQ,
                            per_channel=per_channel, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                            calibrate_method=methods[method], nodes_to_exclude=sorted({n for names in left_in_float.values() for n in names}),
                            calibration_cache_path=None, extra_options={"CalibTensorRangeSymmetric": False})
    return {"format": "QDQ", "per_channel": per_channel, "activation_type": "uint8", "weight_type": "int8",
            "calibration_method": method, "calibration_samples": int(len(samples)), "left_in_float": left_in_float}


def quantize_graph(onnx_path: str | os.PathLike, out_dir: str | os.PathLike, runtime: str, samples: np.ndarray,
                   float_groups=(), name: str | None = None, method: str = "minmax", accuracy_control: dict | None = None) -> dict:
    """An INT8 version of an FP32 ONNX graph for ``runtime``, written into ``out_dir``.

    onnxruntime: ``<name>.int8.onnx`` (static QDQ, per-channel weights); openvino: ``<name>.int8.xml`` / ``.bin``
    (the graph converted to an IR, then ``nncf.quantize``, or ``quantize_with_accuracy_control`` given
    ``accuracy_control`` as ``quantize_ir_int8`` takes it). ``float_groups`` (``int8_policy.FLOAT_GROUPS``) stay in
    float in both; ``method`` is onnxruntime's calibrator. Returns the quantiser's record plus ``file`` (the path written).

    Raises:
        ConfigError: a runtime without an INT8 path here.
        MissingDependency: openvino / nncf missing (openvino).
    """
    onnx_path, out_dir = Path(onnx_path), Path(out_dir)
    stem = name or onnx_path.stem
    out_dir.mkdir(parents=True, exist_ok=True)
    if runtime == "onnxruntime":
        out = out_dir / f"{stem}.int8.onnx"
        return {**quantize_int8(onnx_path, out, samples, method=method, float_groups=tuple(float_groups)), "file": str(out)}
    if runtime == "openvino":
        from compactrs.runtime.openvino import convert_onnx_to_ir, op_names_by_group, quantize_ir_int8, read_ir, remove_ir

        with tempfile.TemporaryDirectory(prefix="compactrs-ov-", dir=out_dir) as tmp:
            fp32 = Path(tmp) / f"{stem}.xml"
            convert_onnx_to_ir(onnx_path, fp32)
            groups = op_names_by_group(read_ir(fp32)) if float_groups else {}
            ignored = sorted({n for g in float_groups for n in groups.get(g, [])})
            out = out_dir / f"{stem}.int8.xml"
            info = quantize_ir_int8(fp32, out, samples, ignored_names=ignored, accuracy_control=accuracy_control)
            remove_ir(fp32)
        return {**info, "left_in_float": {g: groups.get(g, []) for g in float_groups}, "file": str(out)}
    raise ConfigError(f"no INT8 path for runtime '{runtime}'; valid: {', '.join(INT8_RUNTIMES)} (TensorRT calibrates on the device)")
