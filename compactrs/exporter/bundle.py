"""The deploy bundle: model files, manifest.json (hashes, input contract, parity), golden.npz, deploy/ scripts.

The bundle is what goes onto the device; its ``deploy/`` is a copy of the torch-free package
``compactrs.deploy``, whose verify.py re-checks every hash and the golden parity there with numpy +
onnxruntime (or tensorrt) only. Hashing and the manifest's names come from that same package.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from compactrs._io import atomic_path, write_json
from compactrs.deploy.bundle import GOLDEN, MANIFEST, copy_package, sha256_file
from compactrs.errors import ArtifactError

BUNDLE_FORMAT = "compactrs.bundle/1"

#: golden tolerance for FP32 on the device: a different CPU/GPU sums in another order, so the host's
#: 1e-5 (same machine, same inputs) is relaxed tenfold; reduced precision is judged by top-1 agreement.
DEVICE_FP32_TOLERANCE = {"atol": 1e-4, "rtol": 1e-4}


def input_contract(spec: dict, summary: dict) -> dict:
    """The manifest's ``input_spec``: everything the device needs to turn a raw patch into a model input."""
    preprocess = dict(spec.get("preprocess") or {})
    (name, meta), = summary["inputs"].items()
    (output, _), = summary["outputs"].items()
    contract = {
        "name": name, "output": output, "dtype": meta["dtype"], "layout": preprocess.pop("layout", "NCHW"),
        "shape": [None, spec["in_bands"], *spec["input_size"]],
        "raw_layout": "HWC: (height, width, bands) in the source's band order",
        "bands": preprocess.pop("bands", list(range(spec["in_bands"]))),
        "pca": preprocess.pop("pca", None),
        "mean": preprocess.pop("mean", None), "std": preprocess.pop("std", None),
        "patch_size": list(spec["input_size"]),
        "band_names": spec.get("band_names"), "class_names": spec["class_names"],
        "original_labels": spec.get("original_labels"), "dataset": spec.get("dataset"),
        "steps": ["select 'bands'", "PCA: (x - pca.mean) @ pca.components.T (if pca)", "(x - mean) / std per band",
                  "transpose to NCHW float32"],
    }
    if contract["mean"] is None or contract["std"] is None:
        raise ArtifactError("the run's input spec lacks the normalisation mean/std; re-train it with this compactrs version")
    contract["extra"] = preprocess  # reader-specific facts (patch padding, resize, colour) recorded verbatim
    return contract


def write_golden(stage: Path, inputs: np.ndarray, outputs: np.ndarray) -> dict:
    with atomic_path(stage / GOLDEN) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, inputs=inputs.astype(np.float32), outputs=outputs.astype(np.float32))
    return {"file": GOLDEN, "n": int(len(inputs)), "inputs": "real test-split samples (normalised model inputs)",
            "outputs": "PyTorch eager reference logits"}


def copy_deploy_scripts(stage: Path) -> list[str]:
    """Copy the torch-free package ``compactrs.deploy`` into ``stage/deploy`` (verify, run, bench, build_engine, ...)."""
    return copy_package(stage / "deploy")


def write_manifest(stage: Path, manifest: dict) -> dict:
    """Add the sha256 of every file in the bundle (except the manifest itself) and write manifest.json."""
    files = {}
    for path in sorted(stage.rglob("*")):
        name = path.relative_to(stage).as_posix()
        if path.is_file() and name != MANIFEST and "__pycache__" not in name:
            files[name] = sha256_file(path)
    manifest["files"] = files
    write_json(stage / MANIFEST, manifest)
    for path in [stage, *stage.rglob("*")]:  # temporary files are private (0600); a bundle is meant to be copied and read
        path.chmod(0o755 if path.is_dir() else 0o644)
    return manifest


def read_manifest(bundle: str | os.PathLike) -> dict:
    path = Path(bundle) / MANIFEST
    if not path.is_file():
        raise ArtifactError(f"'{bundle}' is not a bundle (no {MANIFEST}); pass a directory written by 'compactrs export'")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ArtifactError(f"'{path}' is not valid JSON ({exc}); re-export the bundle") from exc
    if manifest.get("format") != BUNDLE_FORMAT:
        raise ArtifactError(f"'{path}' has format {manifest.get('format')!r}, expected {BUNDLE_FORMAT}; re-export the bundle")
    return manifest


def is_bundle(path: str | os.PathLike) -> bool:
    return (Path(path) / MANIFEST).is_file()
