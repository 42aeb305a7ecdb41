"""OpenVINO IR for a bundle: conversion of the validated ONNX, NNCF INT8 (plain or accuracy-controlled).

Why convert the ONNX file and not the PyTorch module: measured here on ResNet-20 (13×32×32), ResNet-34
(3×64×64) and two random cell nets (10×32×32), ``openvino.convert_model(model.onnx)`` and
``openvino.convert_model(torch_module)`` give the same parity against PyTorch (max abs err 3.3e-6 /
1.3e-7 / 0 / 0 with the f32 hint) and the same graph (op counts within 5 of each other, identical for
ResNet-20), so neither is faster to run; but converting the ONNX takes 0.9–2.8 s against 4.8–55 s for the
PyTorch route (it traces the module again), and the IR then comes from exactly the graph that already passed
the FP32 gate and onnxslim. So compactrs converts ``model.onnx``.

Weights are saved in float32 (``compress_to_fp16=False``): ``openvino.save_model`` would otherwise halve
them to fp16 and the FP32 IR would no longer be FP32.
"""
from __future__ import annotations

import contextlib
import io
import logging
import os
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np

from compactrs.errors import require

INSTALL_HINT = "pip install 'compactrs[openvino]'"
#: NNCF computes activation statistics per sample; 300 is NNCF's own default subset size and the issue's floor
MIN_OPENVINO_CALIBRATION = 300


def _openvino(purpose: str):
    return require("openvino", purpose, INSTALL_HINT)


def _nncf(purpose: str):
    require("openvino", purpose, INSTALL_HINT)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return require("nncf", purpose, INSTALL_HINT)


def save_ir(model, xml_path: str | os.PathLike) -> dict:
    """Write an ``openvino.Model`` as ``xml_path`` + its ``.bin``, both appearing only when both are complete.

    Returns ``{"file", "weights", "ops"}``.
    """
    ov = _openvino("writing an OpenVINO IR")
    xml_path = Path(xml_path)
    xml_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".ov-", dir=xml_path.parent) as tmp:
        staged = Path(tmp) / xml_path.name
        ov.save_model(model, str(staged), compress_to_fp16=False)
        os.replace(staged.with_suffix(".bin"), xml_path.with_suffix(".bin"))
        os.replace(staged, xml_path)
    return {"file": xml_path.name, "weights": xml_path.with_suffix(".bin").name, "ops": len(model.get_ops())}


def convert_onnx_to_ir(onnx_path: str | os.PathLike, xml_path: str | os.PathLike) -> dict:
    """Convert a (validated) ONNX file to an OpenVINO IR with float32 weights and the dynamic batch kept.

    Returns:
        ``{"file", "weights", "ops", "converter", "source", "compress_to_fp16"}``.

    Raises:
        MissingDependency: openvino is not installed.
    """
    ov = _openvino("exporting an OpenVINO IR (--openvino)")
    model = ov.convert_model(str(onnx_path))
    info = save_ir(model, xml_path)
    return {**info, "converter": f"openvino.convert_model {ov.__version__}", "source": Path(onnx_path).name, "compress_to_fp16": False}


def read_ir(xml_path: str | os.PathLike):
    return _openvino("reading an OpenVINO IR").Core().read_model(str(xml_path))


def op_names_by_group(model) -> dict[str, list[str]]:
    """Names of the IR's ops that INT8 may slow down, per group: depthwise, dilated, pooling, attention.

    depthwise: ``GroupConvolution`` with one channel per group; dilated: any convolution with a dilation > 1;
    pooling: ``AvgPool`` / ``MaxPool``; attention: ``MatMul`` between two activations (no constant operand)
    and ``Multiply`` of two activations (the attention gates of the spectral-spatial attention ops).
    """
    groups: dict[str, list[str]] = {"depthwise": [], "dilated": [], "pooling": [], "attention": []}
    for op in model.get_ordered_ops():
        kind, name = op.get_type_name(), op.get_friendly_name()
        if kind in ("Convolution", "GroupConvolution"):
            if any(d > 1 for d in op.get_attributes().get("dilations", [])):
                groups["dilated"].append(name)
            if kind == "GroupConvolution" and _is_depthwise(op):
                groups["depthwise"].append(name)
        elif kind in ("AvgPool", "MaxPool"):
            groups["pooling"].append(name)
        elif kind in ("MatMul", "Multiply") and not any(_is_constant(op.input_value(i).get_node()) for i in range(op.get_input_size())):
            groups["attention"].append(name)
    return groups


def _is_constant(node) -> bool:
    """A weight: a Constant, possibly behind a Convert / FakeQuantize of one (NNCF and fp16-compressed IRs)."""
    while node.get_type_name() in ("Convert", "FakeQuantize", "Reshape"):
        node = node.input_value(0).get_node()
    return node.get_type_name() == "Constant"


def _is_depthwise(op) -> bool:
    weights = op.input_value(1).get_partial_shape()  # [groups, out/group, in/group, kh, kw]
    return weights.rank.get_length() == 5 and weights[1].is_static and weights[2].is_static \
        and weights[1].get_length() == 1 and weights[2].get_length() == 1


def quantize_ir_int8(fp32_xml: str | os.PathLike, out_xml: str | os.PathLike, calibration: np.ndarray,
                     ignored_names: list[str] | tuple = (), accuracy_control: dict | None = None, batch: int = 1) -> dict:
    """NNCF post-training INT8 of an FP32 IR (``nncf.quantize``), or ``quantize_with_accuracy_control``.

    Args:
        calibration: real float32 NCHW training samples (their activation ranges set the INT8 scales).
        ignored_names: op names NNCF must leave in float (``IgnoredScope(names=...)``).
        accuracy_control: ``{"x": samples, "y": labels, "max_drop": 0.01}`` to let NNCF return ops to float
            until overall accuracy on these labelled samples drops by at most ``max_drop`` (absolute).
        batch: samples per calibration item (1 = NNCF's statistics per sample, as it expects).

    Returns:
        ``{"tool", "preset", "target_device", "calibration_samples", "ignored", "accuracy_control", ...}``.

    Raises:
        MissingDependency: openvino / nncf are not installed.
    """
    nncf = _nncf("INT8 quantisation for OpenVINO (--openvino --int8)")
    model = read_ir(fp32_xml)
    calibration = np.ascontiguousarray(calibration, dtype=np.float32)
    items = [calibration[i : i + batch] for i in range(0, len(calibration), batch)]
    options = dict(preset=nncf.QuantizationPreset.PERFORMANCE, target_device=nncf.TargetDevice.CPU, subset_size=len(calibration),
                   ignored_scope=nncf.IgnoredScope(names=list(ignored_names), validate=False) if ignored_names else None)
    info = {"tool": f"nncf {nncf.__version__}", "preset": "performance (symmetric int8 activations and weights)",
            "target_device": "CPU", "calibration_samples": int(len(calibration)), "ignored": list(ignored_names)}
    with _quiet():
        if accuracy_control is None:
            quantized = nncf.quantize(model, nncf.Dataset(items), **options)
            info["accuracy_control"] = None
        else:
            quantized, info["accuracy_control"] = _with_accuracy_control(nncf, model, items, accuracy_control, options)
    info.update(save_ir(quantized, out_xml))
    info["fake_quantize_ops"] = sum(op.get_type_name() == "FakeQuantize" for op in quantized.get_ops())
    return info


def _with_accuracy_control(nncf, model, items, control: dict, options: dict):
    x, y, max_drop = np.ascontiguousarray(control["x"], dtype=np.float32), np.asarray(control["y"]), float(control["max_drop"])
    validation = nncf.Dataset([(x[i : i + 1], int(y[i])) for i in range(len(x))])

    def overall_accuracy(compiled, data) -> float:
        correct = [int(np.argmax(compiled(sample)[0])) == label for sample, label in data]
        return float(np.mean(correct))

    quantized = nncf.quantize_with_accuracy_control(model, nncf.Dataset(items), validation, overall_accuracy, max_drop=max_drop,
                                                    drop_type=nncf.DropType.ABSOLUTE, **options)
    return quantized, {"max_drop": max_drop, "drop_type": "absolute overall accuracy", "validation_samples": int(len(x)),
                       "validation_source": control.get("source", "labelled samples")}


@contextlib.contextmanager
def _quiet():
    """NNCF logs progress bars and INFO lines; a CLI command prints its own progress instead."""
    nncf_logger = logging.getLogger("nncf")
    level = nncf_logger.level
    nncf_logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        nncf_logger.setLevel(level)


def remove_ir(xml_path: str | os.PathLike) -> None:
    """Delete an IR's .xml and .bin (a discarded INT8 candidate)."""
    xml_path = Path(xml_path)
    xml_path.unlink(missing_ok=True)
    xml_path.with_suffix(".bin").unlink(missing_ok=True)


def copy_ir(src_xml: str | os.PathLike, dst_xml: str | os.PathLike) -> None:
    shutil.copy2(src_xml, dst_xml)
    shutil.copy2(Path(src_xml).with_suffix(".bin"), Path(dst_xml).with_suffix(".bin"))
