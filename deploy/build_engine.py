"""Build the TensorRT engine (model.plan) ON the device from the bundle's ONNX, then validate it against golden.npz.

    python deploy/build_engine.py [BUNDLE] [--precision fp32|fp16|int8] [--max-batch 64] [--opt-batch 8]

Engines are specific to a GPU and TensorRT version, which is why they are built here and not on the
host. INT8 calibrates with IInt8EntropyCalibrator2 on calibration.npy (real training samples written by
'compactrs export --trt --int8'). A plan that fails the golden comparison is deleted and the script exits 3.
On success the manifest gains the plan's sha256 and its parity result.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import GOLDEN, MANIFEST, BundleError, bundle_root, check_hashes, compare_outputs, fail, infer_batched, load_manifest, sha256_file  # noqa: E402


def _write_manifest(bundle: Path, manifest: dict) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".manifest.", dir=bundle)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(manifest, handle, indent=2)
    os.replace(tmp, bundle / MANIFEST)


def build_and_validate(bundle: Path, precision: str, max_batch: int, opt_batch: int, workspace_mb: int) -> dict:
    manifest = load_manifest(bundle)
    problems = check_hashes(bundle, manifest)
    if problems:
        raise BundleError(f"bundle files do not match the manifest ({'; '.join(problems)}); re-copy the bundle")
    import _trt  # imports tensorrt

    calib = None
    if precision == "int8":
        path = bundle / "calibration.npy"
        if not path.is_file():
            raise BundleError("INT8 needs calibration.npy in the bundle; re-export with 'compactrs export RUN --trt --int8'")
        calib = np.load(path, allow_pickle=False)
    plan = bundle / "model.plan"
    info = _trt.build_engine(bundle / "model.onnx", plan, precision, manifest["input_spec"]["shape"], max_batch, opt_batch, calib, workspace_mb)
    golden = np.load(bundle / GOLDEN, allow_pickle=False)
    with _trt.TrtRunner(plan) as runner:
        outputs = infer_batched(runner, golden["inputs"], min(max_batch, 32))
    tolerance = manifest["golden"]["tolerance"][precision]
    result = compare_outputs(golden["outputs"], outputs, tolerance.get("atol", np.inf), tolerance.get("rtol", 0.0))
    if "min_top1_agreement" in tolerance:
        result["passed"] = bool(np.isfinite(outputs).all() and result["top1_agreement"] >= tolerance["min_top1_agreement"])
    result.update(info, tolerance=tolerance)
    if not result["passed"]:
        plan.unlink()
        raise BundleError(f"the {precision} engine does not reproduce golden.npz: worst sample {result.get('worst_index')}, "
                          f"max abs err {result.get('max_abs_err')}, top-1 agreement {result.get('top1_agreement')} "
                          f"(tolerance {tolerance}); model.plan deleted")
    for name in ("model.plan", "model.calibration.cache"):
        if (bundle / name).is_file():
            manifest["files"][name] = sha256_file(bundle / name)
    manifest["models"] = [m for m in manifest["models"] if m["file"] != "model.plan"]
    manifest["models"].append({"file": "model.plan", "runtime": "tensorrt", "precision": precision, "golden_tolerance": tolerance})
    manifest.setdefault("parity", {})["tensorrt"] = result
    _write_manifest(bundle, manifest)
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", nargs="?")
    parser.add_argument("--precision", choices=["fp32", "fp16", "int8"], default=None, help="default: what the export asked for")
    parser.add_argument("--max-batch", type=int, default=64)
    parser.add_argument("--opt-batch", type=int, default=8)
    parser.add_argument("--workspace-mb", type=int, default=1024)
    args = parser.parse_args(argv)
    bundle = bundle_root(args.bundle)
    try:
        precision = args.precision or load_manifest(bundle).get("tensorrt", {}).get("precision", "fp32")
        result = build_and_validate(bundle, precision, args.max_batch, args.opt_batch, args.workspace_mb)
    except ImportError as exc:
        fail(f"TensorRT is not importable on this machine ({exc}); install it (JetPack ships it, or pip install tensorrt)")
    except BundleError as exc:
        fail(str(exc), code=3)
    print(f"built model.plan ({precision}); golden parity ok: max abs err {result['max_abs_err']:.3g}, "
          f"top-1 agreement {result['top1_agreement']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
