"""The OpenVINO part of a bundle (``export --openvino``): the IR, its FP32 gate, bf16 on request, INT8 that wins.

Gates are the ONNX ones: FP32 elementwise atol = rtol = 1e-5 against PyTorch on real + random + extreme
inputs; bf16 and INT8 by top-1 agreement and OA drop on the real test split. bf16 is never used unless asked
for (``--bf16``): it is the same ``model.xml`` compiled with ``INFERENCE_PRECISION_HINT=bf16``, listed as its
own manifest entry so that the device runs it only when told to.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from compactrs.exporter.int8_bundle import openvino_int8
from compactrs.exporter.int8_policy import Int8Policy, measure_pair
from compactrs.runtime.openvino import MIN_OPENVINO_CALIBRATION, convert_onnx_to_ir
from compactrs.exporter.validate import comparators_for, compare_runners, raise_if_failed


def accuracy_control_samples(dataset, calib_index: np.ndarray | None, max_drop: float, n: int = 1000, seed: int = 0) -> dict:
    """Labelled training samples NNCF's accuracy control validates on: those not used for calibration where
    the split has them (the test split stays the independent judge of the final OA drop)."""
    available = np.setdiff1d(np.arange(len(dataset.x_train)), calib_index if calib_index is not None else [])
    source = "training samples not used for calibration"
    if len(available) == 0:
        available, source = np.arange(len(dataset.x_train)), "the calibration samples (the training split has no others)"
    index = np.sort(np.random.default_rng(seed + 1).choice(available, size=min(n, len(available)), replace=False))
    return {"x": dataset.x_train[index], "y": dataset.y_train[index], "max_drop": max_drop, "source": source}


def add_openvino(stage: Path, config, shape, parity_inputs, eval_inputs, eval_ref, calib, accuracy_control, torch_runner: Callable,
                 entry: Callable, notes: list, log: Callable[[str], None] = lambda _: None) -> tuple[dict, dict, list]:
    """Convert ``model.onnx`` to ``model.xml`` and gate it; add bf16 / INT8 as ``config`` asks.

    ``torch_runner()`` makes the PyTorch reference runner; ``eval_ref`` are its outputs on ``eval_inputs`` (the
    test split), ``entry(file, precision, runtime)`` a manifest model entry.

    Returns ``(section, parity, entries)``: the manifest's ``openvino`` section, parity reports to merge into
    ``manifest["parity"]``, and the model entries to append to ``manifest["models"]``.
    """
    from compactrs.deploy.openvino_runner import OpenVinoRunner

    xml = stage / "model.xml"
    section = {"ir": convert_onnx_to_ir(stage / "model.onnx", xml), "compile": {"device": "CPU", "fp32_hint": "f32",
               "note": "INFERENCE_PRECISION_HINT is pinned to f32: OpenVINO's CPU default on bf16-capable CPUs is bf16"}}
    fp32 = compare_runners(torch_runner(), OpenVinoRunner(xml, config.threads), parity_inputs, comparators_for("fp32", config.atol, config.rtol))
    parity = {"openvino_fp32": {**raise_if_failed({**fp32, "candidate": "openvino (model.xml, f32)"}, "FP32 OpenVINO IR"), "precision": "fp32"}}
    entries = [entry("model.xml", "fp32", "openvino")]
    if config.bf16:
        parity["openvino_bf16"] = _bf16(xml, config, torch_runner(), eval_inputs, eval_ref, shape)
        entries.append(entry("model.xml", "bf16", "openvino"))
    if config.int8:
        if len(calib) < MIN_OPENVINO_CALIBRATION:
            notes.append(f"OpenVINO INT8 calibrated on {len(calib)} samples, fewer than the {MIN_OPENVINO_CALIBRATION} NNCF expects")
        policy = Int8Policy(threads=config.threads) if config.int8_speed_check else None
        section["int8"] = openvino_int8(stage, xml, calib, shape, policy, accuracy_control, log)
        if section["int8"]["kept"] == "int8":
            comparators = comparators_for("int8", max_oa_drop=config.max_oa_drop, min_agreement=config.min_agreement)
            report = compare_runners(torch_runner(), OpenVinoRunner(stage / "model.int8.xml", config.threads, precision="int8"), eval_inputs,
                                     comparators, reference_outputs=eval_ref)
            parity["openvino_int8"] = {**raise_if_failed(report, "INT8 OpenVINO IR model.int8.xml"), "precision": "int8"}
            entries.append(entry("model.int8.xml", "int8", "openvino"))
        else:
            notes.append(f"OpenVINO: {section['int8']['reason']}")
    return section, parity, entries


def _bf16(xml: Path, config, reference, eval_inputs, eval_ref, shape) -> dict:
    """bf16 (asked for with --bf16): judged like INT8 on the test split, and timed against f32 (kept regardless)."""
    from compactrs.deploy.openvino_runner import OpenVinoRunner

    comparators = comparators_for("bf16", max_oa_drop=config.max_oa_drop, min_agreement=config.min_agreement)
    report = compare_runners(reference, OpenVinoRunner(xml, config.threads, precision="bf16"), eval_inputs, comparators,
                             reference_outputs=eval_ref)
    report = {**raise_if_failed(report, "bf16 OpenVINO (model.xml compiled with INFERENCE_PRECISION_HINT=bf16)"), "precision": "bf16"}
    policy = Int8Policy(threads=config.threads)
    with OpenVinoRunner(xml, config.threads) as f32, OpenVinoRunner(xml, config.threads, precision="bf16") as bf16:
        measured = measure_pair(f32, bf16, shape, policy)
    report["speed"] = {f"batch{b}": {"fp32_ms": float(np.median(t["fp32_ms"])), "reduced_ms": float(np.median(t["int8_ms"])),
                                     "speedup": float(np.median(np.divide(t["fp32_ms"], t["int8_ms"]))), "contended": measured["contended"]}
                       for b, t in measured["timings"].items()}
    return report
