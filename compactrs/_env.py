"""Facts about the software and machine a result was produced on (recorded in every report)."""
from __future__ import annotations

import os
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


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict:
    """CPU model, core count, memory and OS of this machine."""
    memory_gb = None
    try:
        memory_gb = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        pass
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "memory_gb": memory_gb,
        "arch": platform.machine(),
        "os": f"{platform.system()} {platform.release()}",
    }
