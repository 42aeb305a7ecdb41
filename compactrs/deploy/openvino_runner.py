"""OpenVINO inference of an IR (``model.xml`` + ``model.bin``) or an ``.onnx`` file: numpy + openvino only.

Device-side code: never import torch or the rest of compactrs here (a bundle copies this file into its
``deploy/`` folder). ``openvino`` is imported when a runner is activated, so this module imports anywhere.

Precision is always explicit: OpenVINO's CPU plugin runs float models in bf16 by default on CPUs with
AVX-512 BF16 / AMX (measured here: logits off by up to 0.06 against PyTorch), so an FP32 runner pins
``INFERENCE_PRECISION_HINT=f32`` and bf16 is only used when asked for. An INT8 IR (NNCF's FakeQuantize
graph) is run with the f32 hint too: the quantised ops run in int8 regardless, and everything left in float
stays in f32 instead of silently becoming bf16.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .bundle import BundleError
from .machine import physical_cores
from .runners import Runner

INSTALL_HINT = "pip install 'compactrs[openvino]' (or on the device: pip install openvino)"
PRECISION_HINTS = {"fp32": "f32", "int8": "f32", "bf16": "bf16"}
PERFORMANCE_HINTS = ("LATENCY", "THROUGHPUT")
SUFFIXES = (".xml", ".onnx")


def import_openvino(purpose: str = "running an OpenVINO model"):
    """``import openvino``, or ImportError with the install hint (the device scripts print it as one line)."""
    try:
        import openvino
    except ImportError as exc:  # also broken installs (missing shared libraries)
        raise ImportError(f"{purpose} needs the Python package 'openvino', which could not be imported ({exc}); {INSTALL_HINT}") from exc
    return openvino


def compile_config(precision: str = "fp32", threads: int | None = None, hint: str = "LATENCY") -> dict:
    """The ``Core.compile_model`` config for a precision, a thread count and a performance hint.

    ``threads`` sets ``INFERENCE_NUM_THREADS`` (None = OpenVINO's default: all cores). ``LATENCY`` runs one
    stream (one request at a time, all threads on it); ``THROUGHPUT`` lets OpenVINO pick several streams.
    """
    if precision not in PRECISION_HINTS:
        raise ValueError(f"unknown OpenVINO precision '{precision}'; valid: {', '.join(PRECISION_HINTS)}")
    if hint not in PERFORMANCE_HINTS:
        raise ValueError(f"unknown OpenVINO performance hint '{hint}'; valid: {', '.join(PERFORMANCE_HINTS)}")
    config = {"INFERENCE_PRECISION_HINT": PRECISION_HINTS[precision], "PERFORMANCE_HINT": hint}
    if threads:
        config["INFERENCE_NUM_THREADS"] = int(threads)
    return config


class OpenVinoRunner(Runner):
    """OpenVINO CPU inference of one model file; float32 NCHW numpy in, float32 logits out, any batch size.

    Args:
        path: ``model.xml`` (its ``model.bin`` beside it) or an ``.onnx`` file (converted in memory).
        threads: inference threads (None = all cores).
        precision: ``fp32`` (pinned f32), ``int8`` (an NNCF-quantised IR; float parts in f32) or ``bf16``.
        hint: ``LATENCY`` (default) or ``THROUGHPUT``.
        device: OpenVINO device name (``CPU``; ``GPU`` / ``NPU`` where a plugin for them is installed).
    """

    name = "openvino"

    def __init__(self, path: str | os.PathLike, threads: int | None = None, precision: str = "fp32", hint: str = "LATENCY",
                 device: str = "CPU"):
        self.path, self.threads, self.precision, self.hint, self.device = Path(path), threads, precision, hint, device
        self.config = compile_config(precision, threads, hint)
        self.compiled = None
        self.request = None

    def activate(self) -> "OpenVinoRunner":
        ov = import_openvino()
        if not self.path.is_file():
            raise BundleError(f"no OpenVINO model at '{self.path}'; pass a model.xml written by 'compactrs export --openvino'")
        core = ov.Core()
        model = core.read_model(str(self.path))
        self.compiled = core.compile_model(model, self.device, self.config)
        self.request = self.compiled.create_infer_request()
        return self

    def deactivate(self) -> None:
        self.request = None
        self.compiled = None

    def input_metadata(self) -> dict:
        port = self.compiled.input(0)
        shape = [None if dim.is_dynamic else dim.get_length() for dim in port.get_partial_shape()]
        return {port.get_any_name(): {"dtype": str(port.get_element_type().to_dtype()), "shape": shape}}

    def runtime_properties(self) -> dict:
        """What OpenVINO actually compiled: precision, threads, streams, performance hint (for reports)."""
        keys = ("INFERENCE_PRECISION_HINT", "INFERENCE_NUM_THREADS", "NUM_STREAMS", "PERFORMANCE_HINT")
        return {key: str(self.compiled.get_property(key)) for key in keys}

    def threads_used(self) -> int:
        return int(self.threads) if self.threads else physical_cores()

    def infer(self, x: np.ndarray) -> np.ndarray:
        self.request.infer({0: np.ascontiguousarray(x, dtype=np.float32)})
        # copy: the output tensor's memory belongs to the request and is overwritten by the next call
        return np.array(self.request.get_output_tensor(0).data, dtype=np.float32, copy=True)

    def kernel_times(self, x: np.ndarray, runs: int = 20, warmup: int = 3) -> list[dict]:
        """Median time of every kernel OpenVINO executes for ``x``: the fused kernels of its optimised graph.

        Compiles a second, profiling copy (``PERF_COUNT``) with this runner's config, so the runner's own timing
        stays free of the counters. Fused layers (a ReLU inside a convolution) have no kernel of their own: they
        appear in ``fused`` (``originalLayersNames``) of the kernel that runs them — what a fusion-aware latency
        model needs (``compactrs.cost``).

        Returns:
            One dict per executed kernel, in execution order: ``name``, ``type`` (layer type), ``exec_type``
            (the implementation, e.g. ``brgconv_avx512_f32``), ``precision``, ``fused`` (the IR's layer names
            it runs), ``median_ms``, ``runs``.
        """
        ov = import_openvino("profiling OpenVINO kernels")
        core = ov.Core()
        compiled = core.compile_model(core.read_model(str(self.path)), self.device, {**self.config, "PERF_COUNT": True})
        request = compiled.create_infer_request()
        feed = {0: np.ascontiguousarray(x, dtype=np.float32)}
        for _ in range(warmup):
            request.infer(feed)
        samples: dict[str, list[float]] = {}
        kinds: dict[str, tuple[str, str]] = {}
        for _ in range(runs):
            request.infer(feed)
            for info in request.profiling_info:
                if info.status == info.Status.EXECUTED:
                    samples.setdefault(info.node_name, []).append(info.real_time.total_seconds() * 1e3)
                    kinds[info.node_name] = (info.node_type, info.exec_type)
        runtime_ops = {op.get_friendly_name(): op.get_rt_info() for op in compiled.get_runtime_model().get_ordered_ops()}
        kernels = []
        for name, times in samples.items():
            info = runtime_ops.get(name, {})
            fused = info["originalLayersNames"].astype(str).split(",") if "originalLayersNames" in info else []
            precision = info["runtimePrecision"].astype(str) if "runtimePrecision" in info else None
            kernels.append({"name": name, "type": kinds[name][0], "exec_type": kinds[name][1], "precision": precision,
                            "fused": [f for f in fused if f], "median_ms": float(np.median(times)), "runs": len(times)})
        return kernels

    def prepared_call(self, x: np.ndarray):
        """A zero-argument callable running ``x`` (already converted): what the profiler times."""
        feed = {0: np.ascontiguousarray(x, dtype=np.float32)}
        return lambda: self.request.infer(feed)
