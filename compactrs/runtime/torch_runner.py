"""PyTorch eager inference behind the runner interface: the reference every export is compared to."""
from __future__ import annotations

import numpy as np
import torch

from compactrs.deploy.runners import Runner


class TorchRunner(Runner):
    """PyTorch eager inference on the CPU (eval mode, no grad); ``threads`` is set while active, then restored."""

    name = "torch"

    def __init__(self, model, input_shape=None, threads: int | None = None):
        self.model, self.input_shape, self.threads = model, input_shape, threads
        self._previous_threads = None

    def activate(self) -> "TorchRunner":
        if self.threads:
            self._previous_threads = torch.get_num_threads()
            torch.set_num_threads(self.threads)
        self.model = self.model.eval()
        return self

    def deactivate(self) -> None:
        if self._previous_threads:
            torch.set_num_threads(self._previous_threads)
            self._previous_threads = None

    def threads_used(self) -> int:
        return int(self.threads) if self.threads else torch.get_num_threads()

    def input_metadata(self) -> dict:
        shape = None if self.input_shape is None else [None, *self.input_shape[1:]]
        return {"x": {"dtype": "float32", "shape": shape}}

    def infer(self, x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return self.model(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))).numpy()
