"""Reduced precision for a bundle: real calibration samples, FP16 conversion; INT8 itself is ``compactrs.runtime.quantize``.

INT8 is calibrated on real training samples only: calibration decides the activation ranges, so random
data would give ranges that real inputs never see.
"""
from __future__ import annotations

import contextlib
import io
import os
import warnings

import numpy as np

from compactrs._io import atomic_path
from compactrs.data import Dataset
from compactrs.runtime.quantize import onnx_node_groups, quantize_int8  # noqa: F401  (re-exported: the exporter's INT8 is the runtime layer's)

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
