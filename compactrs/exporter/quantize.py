"""Reduced precision: onnxruntime static INT8 quantisation (QDQ, per-channel weights) and FP16 conversion.

INT8 is calibrated on real training samples only: calibration decides the activation ranges, so random
data would give ranges that real inputs never see.
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
from compactrs.data import Dataset
from compactrs.errors import ArtifactError

MIN_CALIBRATION = 500  # the floor the issue asks for where the data has that many training samples


def calibration_samples(dataset: Dataset, n: int, seed: int = 0) -> tuple[np.ndarray, str | None]:
    """``n`` training samples drawn without replacement (seeded), and a note when fewer are used.

    Returns:
        ``(samples, note)``: samples are float32 NCHW model inputs; ``note`` says why fewer than
        ``n`` (or fewer than 500) samples calibrate, else None.
    """
    available = len(dataset.x_train)
    notes = []
    if n > available:
        notes.append(f"--calib {n} asked but the training split of {dataset.spec} has {available} samples; calibrating on all {available}")
    elif n < min(MIN_CALIBRATION, available):
        notes.append(f"calibrating on {n} samples, fewer than the recommended {MIN_CALIBRATION} ({available} available)")
    index = calibration_index(dataset, n, seed)
    return np.ascontiguousarray(dataset.x_train[index], dtype=np.float32), "; ".join(notes) or None


def calibration_index(dataset: Dataset, n: int, seed: int = 0) -> np.ndarray:
    """The (sorted) training-split indices ``calibration_samples`` draws for ``n`` samples and ``seed``."""
    available = len(dataset.x_train)
    return np.sort(np.random.default_rng(seed).choice(available, size=min(n, available), replace=False))


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


def convert_fp16(onnx_path: str | os.PathLike, out_path: str | os.PathLike) -> dict:
    """FP16 weights and activations with float32 graph inputs/outputs (keep_io_types), for GPU targets.

    Uses onnxruntime's own float16 converter (onnxruntime.transformers.float16), so no extra dependency.
    """
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = onnx.load(str(onnx_path))
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        half = convert_float_to_float16(model, keep_io_types=True)
    with atomic_path(out_path) as tmp:
        onnx.save(half, str(tmp))
    return {"converter": "onnxruntime.transformers.float16.convert_float_to_float16", "keep_io_types": True}
