"""Classify raw patches with a compactrs bundle (no torch): .npy or GeoTIFF files, or directories of them.

    python BUNDLE/deploy/run.py PATCH_OR_DIR... [--runtime onnxruntime|tensorrt] [--model FILE] [--json]
    python -m compactrs.deploy.run PATCH_OR_DIR... --bundle BUNDLE ...

Raw patches are (H, W, bands) in the source's band order; the manifest's preprocessing (band selection,
PCA, mean/std) is applied here, exactly as in training. Pass --normalised for arrays that are already
model inputs (C, H, W).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as a file (python BUNDLE/deploy/run.py): load this folder as package compactrs_deploy
    import importlib.util, os
    _spec = importlib.util.spec_from_file_location("compactrs_deploy", os.path.join(os.path.dirname(os.path.abspath(__file__)), "__init__.py"))
    _spec.loader.exec_module(sys.modules.setdefault("compactrs_deploy", importlib.util.module_from_spec(_spec)))
    __package__ = "compactrs_deploy"

from .bundle import BundleError, bundle_root, fail, load_manifest  # noqa: E402
from .patches import preprocess, read_patch  # noqa: E402
from .runners import RUNTIMES, bundle_runner  # noqa: E402

SUFFIXES = (".npy", ".tif", ".tiff")


def collect(paths) -> list[Path]:
    files = []
    for path in map(Path, paths):
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.suffix.lower() in SUFFIXES))
        elif path.is_file():
            files.append(path)
        else:
            raise BundleError(f"'{path}' does not exist; pass .npy / .tif patches or directories of them")
    if not files:
        raise BundleError(f"no .npy / .tif patches found in {list(paths)}")
    return files


def load_inputs(files, spec: dict, normalised: bool) -> tuple[np.ndarray, list[str]]:
    """Model inputs for every patch in ``files`` (a file may hold several patches) and each row's source file."""
    arrays, sources = [], []
    for path in files:
        if normalised:
            x = np.asarray(np.load(path, allow_pickle=False), np.float32).reshape(-1, *spec["shape"][1:])
        else:
            x = preprocess(read_patch(path, spec), spec)
        arrays.append(x)
        sources.extend([str(path)] * len(x))
    return np.concatenate(arrays), sources


def classify(bundle: Path, paths, runtime: str = "onnxruntime", model: str | None = None, normalised: bool = False, batch: int = 32) -> list[dict]:
    manifest = load_manifest(bundle)
    spec = manifest["input_spec"]
    files = collect(paths)
    x, sources = load_inputs(files, spec, normalised)
    with bundle_runner(bundle, runtime, model) as runner:
        logits = runner.infer_batched(x, batch)
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs = shifted / shifted.sum(axis=1, keepdims=True)
    names = spec["class_names"]
    return [{"file": source, "class": names[int(p.argmax())], "label": int(p.argmax()), "confidence": float(p.max())}
            for source, p in zip(sources, probs)]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", help=".npy / .tif patches or directories")
    parser.add_argument("--bundle", help="bundle directory (default: the bundle this deploy/ folder is in)")
    parser.add_argument("--runtime", choices=list(RUNTIMES), default="onnxruntime")
    parser.add_argument("--model", help="model file inside the bundle (default: model.onnx / model.plan)")
    parser.add_argument("--normalised", action="store_true", help="inputs are already normalised (C, H, W) model inputs")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    try:
        rows = classify(bundle_root(args.bundle), args.paths, args.runtime, args.model, args.normalised, args.batch)
    except ImportError as exc:
        fail(f"runtime {args.runtime} is not importable here ({exc}); {RUNTIMES[args.runtime].install_hint}")
    except BundleError as exc:
        fail(str(exc))
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for row in rows:
            print(f"{row['file']}\t{row['class']}\t{row['confidence']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
