"""The one error family of compactrs.

Every message names the value that was given, what would have been valid and what to do about it; the CLI
prints ``str(error)`` as a single line and exits non-zero, so these must never need a traceback to be
understood.
"""
from __future__ import annotations


class CompactrsError(Exception):
    """Base class of every error compactrs raises on purpose (bad input, unreachable target, ...)."""

    exit_code = 2


class DataError(CompactrsError):
    """A dataset spec, file or array that cannot be used (missing path, wrong keys, NaN values, ...)."""


class ModelError(CompactrsError):
    """An unknown model name, a bad architecture description or a checkpoint that does not fit."""


class ConfigError(CompactrsError):
    """An option value outside its valid range (e.g. a FLOP target that cannot be parsed)."""


class ArtifactError(CompactrsError):
    """A run directory, profile, bundle or plan that is missing, corrupt or of the wrong schema."""


class TargetError(CompactrsError):
    """A budget (FLOPs, ratio, latency) that cannot be reached with the given model or search space."""


class TrainingDiverged(CompactrsError):
    """The training loss became NaN / infinite (usually a learning rate too high for the network or data)."""


class ValidationFailed(CompactrsError):
    """An exported model does not match its PyTorch reference within tolerance."""

    exit_code = 3


class MissingDependency(CompactrsError):
    """An optional dependency (tensorrt, torch_pruning, onnxslim) is needed but not importable."""


def require(module: str, purpose: str, hint: str):
    """Import an optional module lazily, or raise ``MissingDependency`` with an install hint.

    Args:
        module: the importable name, e.g. ``"tensorrt"``.
        purpose: what it is needed for, e.g. ``"building a TensorRT engine"``.
        hint: how to get it, e.g. ``"pip install 'compactrs[trt]' on the device"``.
    """
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # also catches broken installs (missing shared libraries)
        raise MissingDependency(
            f"{purpose} needs the Python package '{module}', which could not be imported ({exc}); {hint}"
        ) from exc
