"""Time an emitted folder of graphs in onnxruntime on this machine (the in-process twin of deploy/profile_runner.py).

Both time with ``compactrs.deploy.timing.time_interleaved`` and write the same measurement records,
``{"file", "median_ms", "p90_ms", "min_ms", "n", "remeasured", ...}``, so a profile built from a device's runner
output and one measured here go through the same code afterwards.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from compactrs.runtime import CLOCKS, NOISY_SPREAD, OnnxRuntimeRunner, TimingConfig, spread, summarise, time_interleaved, time_samples, watch_machine

__all__ = ["CLOCKS", "NOISY_SPREAD", "TimingConfig", "measure_folder", "ort_callable", "spread", "summarise", "time_samples"]


def ort_callable(path: Path, input_shape, threads: int | None, seed: int = 0):
    """A zero-argument callable running the .onnx at ``path`` on a seeded N(0,1) input (session kept alive by it)."""
    runner = OnnxRuntimeRunner(path, threads).activate()
    return runner.prepared_call(np.random.default_rng(seed).standard_normal(tuple(input_shape)).astype(np.float32))


#: the reference graph of normalised timing: 3 × (3×3 conv 16 → 16 + ReLU) on a 16×16 map (~0.1 ms, 1 thread),
#: about the size of the networks a latency-budget search derives.
REFERENCE_FILE, REFERENCE_SHAPE = "reference.onnx", (1, 16, 16, 16)


def write_reference_graph(path: Path) -> Path:
    """Write the fixed reference graph (seeded weights; the same file every time) to ``path``."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    channels = REFERENCE_SHAPE[1]
    nodes, weights, current = [], [], "x"
    for layer in range(3):
        w = (rng.standard_normal((channels, channels, 3, 3)) / np.sqrt(9 * channels)).astype(np.float32)
        weights.append(numpy_helper.from_array(w, f"w{layer}"))
        nodes.append(helper.make_node("Conv", [current, f"w{layer}"], [f"c{layer}"], pads=[1, 1, 1, 1]))
        current = "logits" if layer == 2 else f"r{layer}"
        nodes.append(helper.make_node("Relu", [f"c{layer}"], [current]))
    graph = helper.make_graph(nodes, "compactrs-timing-reference",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(REFERENCE_SHAPE))],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, list(REFERENCE_SHAPE))],
                              weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def runtime_callable(path: Path, input_shape, threads: int | None, runtime: str = "onnxruntime",
                     precision: str = "fp32", seed: int = 0):
    """``ort_callable``, or the same for OpenVINO (compiled as ``OpenVinoRunner`` runs it: precision hint pinned,
    latency hint)."""
    if runtime == "onnxruntime":
        return ort_callable(path, input_shape, threads, seed)
    from compactrs.deploy.openvino_runner import OpenVinoRunner

    runner = OpenVinoRunner(path, threads, precision, "LATENCY").activate()
    return runner.prepared_call(np.random.default_rng(seed).standard_normal(tuple(input_shape)).astype(np.float32))


def measure_folder(folder: Path, items: list[dict], threads: int | None, timing: TimingConfig, progress=None,
                   conditions: dict | None = None, runtime: str = "onnxruntime", precision: str = "fp32") -> list[dict]:
    """Time every graph of ``items`` in interleaved rounds and return one record per file (manifest order).

    See ``time_interleaved`` for the rounds and the re-measurement of noisy graphs. ``conditions``, when given,
    is filled with the machine's state over the whole measurement (``contended``, ``reason``, ...; with
    ``timing.reference`` also ``reference``: how far the reference graph's time moved between windows). Each
    item's ``run_file`` (its INT8 version, see ``_runtime_kernels.runtime_graph``) is what runs, when it has one;
    the reference graph always runs in onnxruntime FP32 (it gauges the machine's speed, not the runtime's).
    """
    calls = [runtime_callable(folder / item.get("run_file", item["file"]), item["input_shape"], threads, runtime,
                              precision) for item in items]
    reference = None
    if timing.reference:
        reference = ort_callable(write_reference_graph(folder / REFERENCE_FILE), REFERENCE_SHAPE, threads)
    reference_state: dict = {}
    if progress is not None:
        progress.start("measure", "timing graphs", len(items) * timing.rounds)

    def on_pass(index: int, count: int) -> None:
        if progress is not None and index < timing.rounds:
            progress.advance("measure", count)

    with watch_machine() as observed:
        records = time_interleaved(calls, timing, on_pass, reference, reference_state)
    if conditions is not None:
        conditions.update(observed)
        if reference_state:
            conditions["reference"] = reference_state
    if progress is not None:
        progress.finish("measure")
    return [{"file": item["file"], **record} for item, record in zip(items, records)]
