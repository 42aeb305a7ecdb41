"""compactrs: compact, fast remote-sensing classifiers for on-board inference.

The public API re-exports one function per stage; heavy submodules are imported on first use so that
``import compactrs`` stays cheap and works without optional dependencies (TensorRT).
"""
from __future__ import annotations

import importlib

from compactrs.errors import CompactrsError

__version__ = "0.1.0"

_EXPORTS = {
    "load_dataset": "compactrs.data",
    "describe_dataset": "compactrs.data",
    "Dataset": "compactrs.data",
    "create_model": "compactrs.models",
    "build_model": "compactrs.models",
    "list_models": "compactrs.models",
    "count_macs": "compactrs.cost",
    "model_cost": "compactrs.cost",
    "LatencyProfile": "compactrs.cost",
    "measure_profile": "compactrs.cost",
    "TrainConfig": "compactrs.training",
    "train": "compactrs.training",
    "evaluate_run": "compactrs.training",
    "load_checkpoint": "compactrs.training",
    "search": "compactrs.nas",
    "SearchConfig": "compactrs.nas",
    "prune": "compactrs.pruning",
    "PruneConfig": "compactrs.pruning",
    "ExportConfig": "compactrs.exporter",
    "export": "compactrs.exporter",
    "validate": "compactrs.exporter",
    "benchmark": "compactrs.bench",
}

__all__ = ["CompactrsError", "__version__", *_EXPORTS]


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'compactrs' has no attribute '{name}'")
