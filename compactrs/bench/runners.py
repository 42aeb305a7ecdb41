"""One runner interface for every backend (Polygraphy style): activate, infer, deactivate, input metadata.

``TorchRunner`` runs a PyTorch module, ``OnnxRuntimeRunner`` an .onnx file, ``TensorRTRunner`` a serialized
engine (TensorRT imported lazily, only when such a runner is activated). Every runner takes and returns
float32 numpy arrays, so "run these runners on the same inputs and compare" is one loop.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from compactrs.errors import require


class Runner:
    """Base class: ``with runner: runner.infer(x)``; subclasses implement activate / infer / deactivate."""

    name = "runner"

    def activate(self) -> "Runner":
        return self

    def deactivate(self) -> None:
        pass

    def input_metadata(self) -> dict:
        """``{input_name: {"dtype": str, "shape": [None | int, ...]}}`` (None = dynamic)."""
        raise NotImplementedError

    def infer(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def infer_batched(self, x: np.ndarray, batch: int = 32) -> np.ndarray:
        return np.concatenate([self.infer(x[i : i + batch]) for i in range(0, len(x), batch)])

    def __enter__(self):
        return self.activate()

    def __exit__(self, *exc) -> None:
        self.deactivate()


class TorchRunner(Runner):
    """PyTorch eager inference on the CPU (eval mode, no grad) — the reference every export is compared to."""

    name = "torch"

    def __init__(self, model, input_shape=None, threads: int | None = None):
        self.model, self.input_shape, self.threads = model, input_shape, threads

    def activate(self) -> "TorchRunner":
        import torch

        if self.threads:
            self._previous_threads = torch.get_num_threads()
            torch.set_num_threads(self.threads)
        self.model = self.model.eval()
        return self

    def deactivate(self) -> None:
        import torch

        if getattr(self, "_previous_threads", None):
            torch.set_num_threads(self._previous_threads)
            self._previous_threads = None

    def input_metadata(self) -> dict:
        shape = None if self.input_shape is None else [None, *self.input_shape[1:]]
        return {"x": {"dtype": "float32", "shape": shape}}

    def infer(self, x: np.ndarray) -> np.ndarray:
        import torch

        with torch.no_grad():
            return self.model(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))).numpy()


class OnnxRuntimeRunner(Runner):
    """onnxruntime inference of an .onnx file (CPU provider unless ``providers`` says otherwise)."""

    name = "onnxruntime"

    def __init__(self, path: str | os.PathLike, threads: int | None = None, providers: list[str] | None = None):
        self.path, self.threads, self.providers = Path(path), threads, providers or ["CPUExecutionProvider"]
        self.session = None

    def activate(self) -> "OnnxRuntimeRunner":
        import onnxruntime as ort

        options = ort.SessionOptions()
        if self.threads:
            options.intra_op_num_threads = self.threads
            options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        self.session = ort.InferenceSession(str(self.path), sess_options=options, providers=self.providers)
        self.input_name = self.session.get_inputs()[0].name
        return self

    def deactivate(self) -> None:
        self.session = None

    def input_metadata(self) -> dict:
        meta = self.session.get_inputs()[0]
        return {meta.name: {"dtype": meta.type, "shape": [d if isinstance(d, int) else None for d in meta.shape]}}

    def infer(self, x: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: np.ascontiguousarray(x, dtype=np.float32)})[0].astype(np.float32)


class TensorRTRunner(Runner):
    """A serialized TensorRT engine (.plan); uses deploy/_trt.py, the same code the device runs."""

    name = "tensorrt"

    def __init__(self, plan_path: str | os.PathLike):
        self.plan_path = Path(plan_path)
        self._inner = None

    def activate(self) -> "TensorRTRunner":
        require("tensorrt", "running a TensorRT engine", "install TensorRT on the device (JetPack ships it) or pip install 'compactrs[trt]'")
        from compactrs._deploy import load_deploy_module

        self._inner = load_deploy_module("_trt").TrtRunner(self.plan_path).activate()
        return self

    def deactivate(self) -> None:
        if self._inner is not None:
            self._inner.deactivate()
            self._inner = None

    def input_metadata(self) -> dict:
        return self._inner.input_metadata()

    def infer(self, x: np.ndarray) -> np.ndarray:
        return self._inner.infer(x)
