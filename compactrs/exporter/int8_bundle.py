"""INT8 models of a bundle, kept only where they win (``int8_policy``): onnxruntime QDQ and OpenVINO + NNCF.

Each function builds the INT8 candidates in a scratch folder inside the staging directory, lets
``int8_policy.keep_int8`` time them against FP32, moves the chosen one to its bundle name and deletes the
rest. It returns the manifest's record of what was tried, what was quantised, what was left in float and
why — including both timings when FP32 is kept.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Callable

import numpy as np

from compactrs.exporter.int8_policy import Int8Policy, keep_int8


def _scratch(stage: Path, name: str) -> Path:
    folder = stage / f".{name}-candidates"
    folder.mkdir(exist_ok=True)
    return folder


def _finish(decision: dict, target: Path, move: Callable[[str, Path], None], scratch: Path) -> dict:
    """Move the chosen candidate to ``target``; the record is its quantisation info + the decision."""
    chosen = decision.pop("chosen")
    if chosen is not None:
        move(chosen["file"], target)
        decision = {**chosen["quantization"], "file": target.name, **decision, "left_in_float": chosen["quantization"].get("left_in_float", {})}
        if "weights" in decision:
            decision["weights"] = target.with_suffix(".bin").name
    shutil.rmtree(scratch, ignore_errors=True)
    return decision


def onnxruntime_int8(stage: Path, onnx_path: Path, calib: np.ndarray, method: str, input_shape, policy: Int8Policy | None,
                     log: Callable[[str], None] = lambda _: None) -> dict:
    """``model.int8.onnx`` (static QDQ) if it beats ``model.onnx`` here; ``policy=None`` keeps it unconditionally.

    Returns the kept model's quantisation info (format, calibration, ``left_in_float``...) and the decision:
    ``kept`` ("int8" | "fp32"), ``reason``, ``candidates`` (each with its timings and judgement), ``policy``.
    """
    import onnx

    from compactrs.runtime.quantize import onnx_node_groups, quantize_int8
    from compactrs.runtime import OnnxRuntimeRunner

    target = stage / "model.int8.onnx"
    if policy is None:
        info = quantize_int8(onnx_path, target, calib, method)
        return {**info, "kept": "int8", "file": target.name, "policy": None,
                "reason": "kept without a speed check (--no-int8-speed-check)"}
    scratch = _scratch(stage, "onnxruntime-int8")

    def build(groups):
        path = scratch / f"int8-{'-'.join(groups) or 'full'}.onnx"
        return {**quantize_int8(onnx_path, path, calib, method, float_groups=groups), "file": str(path)}

    decision = keep_int8(build, lambda path: OnnxRuntimeRunner(path, policy.threads), str(onnx_path), str(target),
                         onnx_node_groups(onnx.load(str(onnx_path))), input_shape, policy, log)
    return _finish(decision, target, lambda src, dst: os.replace(src, dst), scratch)


def openvino_int8(stage: Path, xml_path: Path, calib: np.ndarray, input_shape, policy: Int8Policy | None,
                  accuracy_control: dict | None = None, log: Callable[[str], None] = lambda _: None) -> dict:
    """``model.int8.xml`` / ``.bin`` (NNCF) if it beats ``model.xml`` (f32) here; ``policy=None`` keeps it regardless."""
    from compactrs.deploy.openvino_runner import OpenVinoRunner
    from compactrs.runtime.openvino import op_names_by_group, quantize_ir_int8, read_ir

    target = stage / "model.int8.xml"
    groups_present = op_names_by_group(read_ir(xml_path))

    def ignored(groups):
        return sorted({name for g in groups for name in groups_present[g]})

    if policy is None:
        info = quantize_ir_int8(xml_path, target, calib, accuracy_control=accuracy_control)
        return {**info, "kept": "int8", "left_in_float": {}, "policy": None,
                "reason": "kept without a speed check (--no-int8-speed-check)"}
    scratch = _scratch(stage, "openvino-int8")

    def build(groups):
        path = scratch / f"int8-{'-'.join(groups) or 'full'}.xml"
        info = quantize_ir_int8(xml_path, path, calib, ignored_names=ignored(groups), accuracy_control=accuracy_control)
        return {**info, "left_in_float": {g: groups_present[g] for g in groups}, "file": str(path)}

    def move(src, dst):
        os.replace(Path(src).with_suffix(".bin"), dst.with_suffix(".bin"))
        os.replace(src, dst)

    decision = keep_int8(build, lambda path: OpenVinoRunner(path, policy.threads, precision="int8"), str(xml_path), str(target),
                         groups_present, input_shape, policy, log)
    return _finish(decision, target, move, scratch)
