"""A bundle on the device: manifest.json, sha256 hashes, golden comparison, and the scripts' error exit.

Runs on the device: standard library + numpy only. Everything the device needs to know (hashes, the
normalisation contract, tolerances) is read from the bundle's manifest.json.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

MANIFEST = "manifest.json"
GOLDEN = "golden.npz"
PACKAGE_DIR = Path(__file__).resolve().parent


class BundleError(Exception):
    """A bundle that is incomplete, modified, or fed data that does not fit its input contract."""


def fail(message: str, code: int = 2) -> None:
    """Print one line on stderr and exit non-zero (device scripts never end in a traceback for user errors)."""
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(code)


def bundle_root(path: str | os.PathLike | None = None) -> Path:
    """The bundle directory: ``path`` if given, else the bundle this deploy/ folder was copied into."""
    return Path(path).resolve() if path else PACKAGE_DIR.parent


def load_manifest(bundle: Path) -> dict:
    path = Path(bundle) / MANIFEST
    if not path.is_file():
        raise BundleError(f"no {MANIFEST} in '{bundle}'; pass the bundle directory written by 'compactrs export'")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise BundleError(f"'{path}' is not valid JSON ({exc}); re-export the bundle") from exc


def write_json_atomically(path: str | os.PathLike, data: dict, indent: int = 2) -> None:
    """Write JSON that appears whole or not at all (temporary file beside it, then rename)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=indent)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def sha256_file(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_hashes(bundle: Path, manifest: dict) -> list[str]:
    """Every problem with the bundle's files: missing, modified, or present but not listed (never silent)."""
    problems = []
    listed = manifest.get("files", {})
    for name, expected in sorted(listed.items()):
        path = bundle / name
        if not path.is_file():
            problems.append(f"{name}: missing")
        elif sha256_file(path) != expected:
            problems.append(f"{name}: sha256 differs from the manifest (file was modified)")
    for path in sorted(bundle.rglob("*")):
        name = path.relative_to(bundle).as_posix()
        if path.is_file() and name != MANIFEST and name not in listed and "__pycache__" not in name:
            problems.append(f"{name}: not listed in the manifest")
    return problems


def package_files() -> list[Path]:
    """The source files of this package, i.e. what a bundle's deploy/ folder holds."""
    return sorted(PACKAGE_DIR.glob("*.py"))


def copy_package(target: Path) -> list[str]:
    """Copy this package into ``target`` (a bundle's ``deploy/``), so the bundle runs without compactrs."""
    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    for path in package_files():
        shutil.copy2(path, target / path.name)
    return [path.name for path in package_files()]


def compare_outputs(reference: np.ndarray, output: np.ndarray, atol: float, rtol: float) -> dict:
    """allclose (|out - ref| <= atol + rtol * |ref|) with the worst sample index and its errors."""
    reference, output = np.asarray(reference, np.float64), np.asarray(output, np.float64)
    if reference.shape != output.shape:
        return {"passed": False, "reason": f"shape {output.shape} != reference {reference.shape}"}
    abs_err = np.abs(output - reference)
    rel_err = abs_err / np.maximum(np.abs(reference), 1e-12)
    excess = (abs_err - (atol + rtol * np.abs(reference))).reshape(len(reference), -1).max(axis=1)
    worst = int(np.argmax(excess))
    return {
        "passed": bool(excess.max() <= 0 and np.isfinite(output).all()),
        "atol": atol, "rtol": rtol,
        "max_abs_err": float(abs_err.max()), "max_rel_err": float(rel_err.max()),
        "worst_index": worst,
        "worst_abs_err": float(abs_err[worst].max()), "worst_rel_err": float(rel_err[worst].max()),
        "top1_agreement": float((reference.argmax(1) == output.argmax(1)).mean()),
    }


def golden_parity(golden_outputs: np.ndarray, outputs: np.ndarray, tolerance: dict) -> dict:
    """Judge ``outputs`` against golden.npz's by the manifest's tolerance (FP32: allclose; reduced: top-1)."""
    result = compare_outputs(golden_outputs, outputs, tolerance.get("atol", np.inf), tolerance.get("rtol", 0.0))
    if "min_top1_agreement" in tolerance:  # reduced precision: metric-based, not elementwise
        result["passed"] = bool(np.isfinite(outputs).all() and result.get("top1_agreement", 0.0) >= tolerance["min_top1_agreement"])
    return result
