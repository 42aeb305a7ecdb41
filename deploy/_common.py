"""Helpers shared by the deploy/ scripts. Runs ON the device: numpy + onnxruntime (or tensorrt) only.

Never import torch or compactrs here: a bundle must work on an on-board computer that has neither.
Everything the device needs to know (hashes, the normalisation contract, tolerances) is read from the
bundle's manifest.json.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

MANIFEST = "manifest.json"
GOLDEN = "golden.npz"


class BundleError(Exception):
    """A bundle that is incomplete, modified, or fed data that does not fit its input contract."""


def fail(message: str, code: int = 2) -> None:
    """Print one line on stderr and exit non-zero (device scripts never end in a traceback for user errors)."""
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(code)


def bundle_root(path: str | None = None) -> Path:
    """The bundle directory: ``path`` if given, else the parent of this deploy/ folder."""
    return Path(path).resolve() if path else Path(__file__).resolve().parent.parent


def load_manifest(bundle: Path) -> dict:
    path = Path(bundle) / MANIFEST
    if not path.is_file():
        raise BundleError(f"no {MANIFEST} in '{bundle}'; pass the bundle directory written by 'compactrs export'")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise BundleError(f"'{path}' is not valid JSON ({exc}); re-export the bundle") from exc


def sha256_file(path: Path) -> str:
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


# --- the normalisation contract ------------------------------------------------------------------------

def preprocess(raw: np.ndarray, spec: dict) -> np.ndarray:
    """Raw patches as read from the source (``(H, W, B)`` or ``(N, H, W, B)``, source band order) → model input.

    Applies, in order, what the manifest's ``input_spec`` records: band selection, PCA (if any), per-band
    standardisation with the training-split mean/std, then the NCHW float32 layout the model takes.
    """
    x = np.asarray(raw)
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4:
        raise BundleError(f"raw patches must be (H, W, bands) or (N, H, W, bands), got shape {x.shape}")
    bands = spec["bands"]
    if x.shape[-1] <= max(bands):
        raise BundleError(f"raw patch has {x.shape[-1]} bands but the model reads source band index {max(bands)}; "
                          f"pass patches with all {max(bands) + 1}+ source bands in source order")
    x = x[..., bands].astype(np.float64)
    pca = spec.get("pca")
    if pca:
        x = (x - np.asarray(pca["mean"])) @ np.asarray(pca["components"]).T
    x = (x - np.asarray(spec["mean"])) / np.asarray(spec["std"])
    height, width = spec["patch_size"]
    if x.shape[1:3] != (height, width):
        raise BundleError(f"patch is {x.shape[1]}x{x.shape[2]} pixels but the model takes {height}x{width}; cut or resize patches first")
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2), dtype=np.float32)


def read_patch(path: Path, spec: dict) -> np.ndarray:
    """Read one .npy or GeoTIFF patch as ``(H, W, bands)`` (planar ``(bands, H, W)`` TIFFs are transposed)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".npy":
        array = np.load(path, allow_pickle=False)
    elif suffix in (".tif", ".tiff"):
        try:
            import tifffile
        except ImportError as exc:
            raise BundleError(f"reading GeoTIFF '{path}' needs the package 'tifffile' (pip install tifffile); or pass .npy patches") from exc
        array = tifffile.imread(path)
    else:
        raise BundleError(f"'{path}' is neither .npy nor .tif/.tiff; convert the patch to one of those")
    need = max(spec["bands"]) + 1
    if array.ndim == 3 and array.shape[-1] < need <= array.shape[0]:
        array = array.transpose(1, 2, 0)
    return array


# --- runners: one interface (activate / infer / deactivate / input_metadata) ---------------------------

class OrtRunner:
    """onnxruntime inference of one .onnx file; ``providers`` default to CUDA when present, else CPU."""

    name = "onnxruntime"

    def __init__(self, path: Path, threads: int | None = None, providers: list[str] | None = None):
        self.path, self.threads, self.providers = Path(path), threads, providers
        self.session = None

    def activate(self) -> "OrtRunner":
        import onnxruntime as ort

        options = ort.SessionOptions()
        if self.threads:
            options.intra_op_num_threads = self.threads
            options.inter_op_num_threads = 1
        options.log_severity_level = 3
        available = ort.get_available_providers()
        providers = self.providers or [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]
        self.session = ort.InferenceSession(str(self.path), sess_options=options, providers=providers)
        self.input_name = self.session.get_inputs()[0].name
        return self

    def input_metadata(self) -> dict:
        meta = self.session.get_inputs()[0]
        return {meta.name: {"dtype": meta.type, "shape": list(meta.shape)}}

    def infer(self, x: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: np.ascontiguousarray(x, dtype=np.float32)})[0]

    def deactivate(self) -> None:
        self.session = None

    def __enter__(self):
        return self.activate()

    def __exit__(self, *exc):
        self.deactivate()


def make_runner(bundle: Path, manifest: dict, runtime: str, model: str | None = None, threads: int | None = None):
    """The runner for ``runtime`` (onnxruntime | tensorrt) over the bundle's model file (default per runtime)."""
    if runtime == "tensorrt":
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from _trt import TrtRunner  # imports tensorrt; only on the device

        return TrtRunner(bundle / (model or "model.plan"))
    if runtime == "onnxruntime":
        return OrtRunner(bundle / (model or "model.onnx"), threads)
    raise BundleError(f"unknown runtime '{runtime}'; valid: onnxruntime, tensorrt")


def infer_batched(runner, x: np.ndarray, batch: int = 32) -> np.ndarray:
    return np.concatenate([runner.infer(x[i : i + batch]) for i in range(0, len(x), batch)])


def calibration_batches(samples: np.ndarray, batch: int):
    """Fixed-size float32 batches for a TensorRT INT8 calibrator (the last, short batch is dropped)."""
    samples = np.ascontiguousarray(samples, dtype=np.float32)
    for start in range(0, len(samples) - batch + 1, batch):
        yield samples[start : start + batch]


# --- comparisons ---------------------------------------------------------------------------------------

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
        "worst_abs_err": float(abs_err[worst].max()),
        "top1_agreement": float((reference.argmax(1) == output.argmax(1)).mean()),
    }


# --- timing and memory ---------------------------------------------------------------------------------

def time_fn(fn, warmup: int = 5, min_runs: int = 20, min_seconds: float = 0.5, max_runs: int = 5000) -> dict:
    """Warm-up calls, then at least ``min_runs`` and ``min_seconds`` of timed calls; milliseconds."""
    for _ in range(warmup):
        fn()
    samples = []
    started = time.perf_counter()
    while len(samples) < max_runs and (len(samples) < min_runs or time.perf_counter() - started < min_seconds):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1e3)
    values = np.asarray(samples)
    return {"median_ms": float(np.median(values)), "p90_ms": float(np.percentile(values, 90)),
            "p99_ms": float(np.percentile(values, 99)), "mean_ms": float(values.mean()),
            "min_ms": float(values.min()), "runs": int(len(values))}


def _status_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def reset_peak_rss() -> int | None:
    """Reset the kernel's peak-RSS mark (Linux ``clear_refs`` = 5) and return the current RSS in KiB."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as handle:
            handle.write("5")
    except OSError:
        return None
    return _status_kib("VmRSS")


def peak_rss_delta_mb(baseline_kib: int | None) -> float | None:
    """Peak RSS since ``reset_peak_rss`` minus the baseline, in MiB (None where /proc is unavailable)."""
    peak = _status_kib("VmHWM")
    if baseline_kib is None or peak is None:
        return None
    return round(max(peak - baseline_kib, 0) / 1024, 2)


MEMORY_METHOD = "peak RSS delta: Linux VmHWM after resetting it via /proc/self/clear_refs, minus RSS before the timed runs"
