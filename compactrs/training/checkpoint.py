"""model.pt: weights + architecture data + input spec, loadable with ``torch.load(weights_only=True)``.

Modules are never pickled: the architecture is rebuilt from ``arch`` (arch.json) and only tensors and
plain Python values are stored, so a checkpoint from an untrusted source cannot execute code.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from compactrs._io import atomic_path
from compactrs.errors import ArtifactError, ModelError
from compactrs.models import build_model

CHECKPOINT_FORMAT = "compactrs.model/1"


def save_checkpoint(path: str | os.PathLike, model: nn.Module, arch: dict, input_spec: dict, **extra) -> Path:
    """Write model.pt atomically. ``extra`` values must be plain data (numbers, strings, lists, dicts)."""
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    payload = {"format": CHECKPOINT_FORMAT, "arch": arch, "input_spec": input_spec, "state_dict": state, **extra}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return Path(path)


def read_checkpoint(path: str | os.PathLike) -> dict:
    """Load a model.pt payload safely (``weights_only=True``), checking its format."""
    path = Path(path)
    if path.is_dir():
        path = path / "model.pt"
    if not path.is_file():
        raise ArtifactError(f"no checkpoint at '{path}'; pass a run directory that holds model.pt (made by 'compactrs train' or 'search')")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt zip, pickled module, truncated file ...
        raise ArtifactError(f"cannot read checkpoint '{path}' as weights-only data ({type(exc).__name__}: {exc}); re-create it with compactrs") from exc
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise ArtifactError(f"'{path}' is not a compactrs checkpoint (expected format {CHECKPOINT_FORMAT}); re-create it with compactrs")
    return payload


def load_checkpoint(path: str | os.PathLike) -> tuple[nn.Module, dict]:
    """Rebuild the network from the checkpoint's arch and load its weights; returns (model in eval mode, payload)."""
    payload = read_checkpoint(path)
    model = build_model(payload["arch"])
    try:
        model.load_state_dict(payload["state_dict"], strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise ModelError(f"weights in '{path}' do not fit the architecture they were saved with: {first}") from exc
    return model.eval(), payload


def trained_seed(payload: dict, default: int = 0) -> int:
    """The seed a checkpoint's run was trained with: it drew the run's split, so its normalisation and test set."""
    return int((payload.get("config") or {}).get("train", {}).get("seed", default))
