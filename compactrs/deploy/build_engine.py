"""Build the TensorRT engine (model.plan) ON the device from the bundle's ONNX, then validate it against golden.npz.

    python BUNDLE/deploy/build_engine.py [--precision fp32|fp16|int8] [--max-batch 64] [--opt-batch 8]
    python -m compactrs.deploy.build_engine BUNDLE ...

Engines are specific to a GPU and TensorRT version, which is why they are built here and not on the
host. INT8 calibrates with IInt8EntropyCalibrator2 on calibration.npy (real training samples written by
'compactrs export --trt --int8'). A plan that fails the golden comparison is deleted and the script exits 3.
On success the manifest gains the plan's sha256 and its parity result.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as a file (python BUNDLE/deploy/build_engine.py): load this folder as package compactrs_deploy
    import importlib.util, os
    _spec = importlib.util.spec_from_file_location("compactrs_deploy", os.path.join(os.path.dirname(os.path.abspath(__file__)), "__init__.py"))
    _spec.loader.exec_module(sys.modules.setdefault("compactrs_deploy", importlib.util.module_from_spec(_spec)))
    __package__ = "compactrs_deploy"

from .bundle import GOLDEN, MANIFEST, BundleError, bundle_root, check_hashes, fail, golden_parity, load_manifest, sha256_file, write_json_atomically  # noqa: E402


def build_and_validate(bundle: Path, precision: str, max_batch: int, opt_batch: int, workspace_mb: int) -> dict:
    manifest = load_manifest(bundle)
    problems = check_hashes(bundle, manifest)
    if problems:
        raise BundleError(f"bundle files do not match the manifest ({'; '.join(problems)}); re-copy the bundle")
    from . import tensorrt_engine

    calib = None
    if precision == "int8":
        path = bundle / "calibration.npy"
        if not path.is_file():
            raise BundleError("INT8 needs calibration.npy in the bundle; re-export with 'compactrs export RUN --trt --int8'")
        calib = np.load(path, allow_pickle=False)
    plan = bundle / "model.plan"
    info = tensorrt_engine.build_engine(bundle / "model.onnx", plan, precision, manifest["input_spec"]["shape"], max_batch, opt_batch, calib, workspace_mb)
    golden = np.load(bundle / GOLDEN, allow_pickle=False)
    with tensorrt_engine.TensorRTRunner(plan) as runner:
        outputs = runner.infer_batched(golden["inputs"], min(max_batch, 32))
    tolerance = manifest["golden"]["tolerance"][precision]
    result = golden_parity(golden["outputs"], outputs, tolerance)
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
    write_json_atomically(bundle / MANIFEST, manifest)
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
