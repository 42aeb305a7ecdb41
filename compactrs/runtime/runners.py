"""Runners on the host: the device package's runners, with missing runtimes reported as ``MissingDependency``.

The runner classes themselves live in ``compactrs.deploy`` (torch-free, shipped in every bundle); the host
adds PyTorch (``TorchRunner``) and turns a runtime that cannot be imported into compactrs' error family.
"""
from __future__ import annotations

import os
from pathlib import Path

from compactrs.deploy.bundle import BundleError
from compactrs.deploy.runners import RUNTIMES, OnnxRuntimeRunner, Runner, RuntimeEntry, runtime_entry, runtime_for_file
from compactrs.errors import ArtifactError, ConfigError, require

__all__ = ["RUNTIMES", "OnnxRuntimeRunner", "Runner", "RuntimeEntry", "make_runner", "runner_for_file"]


def _entry(runtime: str) -> RuntimeEntry:
    try:
        return runtime_entry(runtime)
    except BundleError as exc:
        raise ConfigError(str(exc)) from exc


def make_runner(runtime: str, path: str | os.PathLike, threads: int | None = None, **options) -> Runner:
    """A runner of ``runtime`` (a name in ``RUNTIMES``) over a model file; the runtime is imported now.

    Raises:
        ConfigError: an unknown runtime name.
        MissingDependency: the runtime's package is not importable here (with its install hint).
    """
    entry = _entry(runtime)
    require(entry.module, f"running a {entry.name} model", entry.install_hint)
    return entry.runner_class()(path, threads=threads, **options)


def runner_for_file(path: str | os.PathLike, threads: int | None = None) -> Runner:
    """The runner for an exported model file, chosen by its suffix (.onnx → onnxruntime, .plan → TensorRT, ...)."""
    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"no exported model at '{path}'; pass a model file written by 'compactrs export'")
    try:
        entry = runtime_for_file(path)
    except BundleError as exc:
        raise ArtifactError(str(exc)) from exc
    return make_runner(entry.name, path, threads)
