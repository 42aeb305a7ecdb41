"""The software a result was produced on (recorded in every report); the machine: ``compactrs.deploy.machine``."""
from __future__ import annotations

import platform
from importlib import metadata


def versions() -> dict:
    """Versions of Python, compactrs and the numerical stack (absent packages are left out)."""
    out = {"python": platform.python_version()}
    for package in ("compactrs", "torch", "numpy", "onnx", "onnxruntime", "fvcore", "torch-pruning", "tensorrt"):
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return out
