"""Verify a compactrs bundle on the device: file hashes, then golden parity of every model it holds.

    python deploy/verify.py [BUNDLE] [--runtime onnxruntime|tensorrt|all] [--json]

Exit 0 only if every file matches manifest.json and every model reproduces golden.npz within the
manifest's tolerance; 1 on any mismatch; 2 on a usage error. Needs numpy + onnxruntime (or tensorrt); no torch.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import GOLDEN, BundleError, bundle_root, check_hashes, compare_outputs, fail, infer_batched, load_manifest, make_runner  # noqa: E402


def check_model(bundle: Path, manifest: dict, entry: dict, golden) -> dict:
    runner = make_runner(bundle, manifest, entry["runtime"], entry["file"])
    with runner:
        outputs = infer_batched(runner, golden["inputs"])
    tolerance = entry["golden_tolerance"]
    result = compare_outputs(golden["outputs"], outputs, tolerance.get("atol", np.inf), tolerance.get("rtol", 0.0))
    if "min_top1_agreement" in tolerance:  # reduced precision: metric-based, not elementwise
        result["passed"] = bool(np.isfinite(outputs).all() and result["top1_agreement"] >= tolerance["min_top1_agreement"])
    return {"file": entry["file"], "runtime": entry["runtime"], "precision": entry["precision"], "tolerance": tolerance, **result}


def verify(bundle: Path, runtime: str = "all") -> dict:
    manifest = load_manifest(bundle)
    problems = check_hashes(bundle, manifest)
    report = {"bundle": str(bundle), "hash_problems": problems, "models": [], "skipped": []}
    if not problems:
        golden = np.load(bundle / GOLDEN, allow_pickle=False)
        for entry in manifest["models"]:
            if runtime != "all" and entry["runtime"] != runtime:
                continue
            if not (bundle / entry["file"]).is_file():
                report["skipped"].append(f"{entry['file']}: not built on this device yet")
                continue
            try:
                report["models"].append(check_model(bundle, manifest, entry, golden))
            except ImportError as exc:
                report["skipped"].append(f"{entry['file']}: runtime {entry['runtime']} not importable here ({exc})")
    report["passed"] = not problems and bool(report["models"]) and all(m["passed"] for m in report["models"])
    return report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", nargs="?", help="bundle directory (default: the one this script is in)")
    parser.add_argument("--runtime", choices=["all", "onnxruntime", "tensorrt"], default="all")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    try:
        report = verify(bundle_root(args.bundle), args.runtime)
    except BundleError as exc:
        fail(str(exc))
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for problem in report["hash_problems"]:
            print(f"FAIL hash    {problem}")
        for m in report["models"]:
            status = "ok  " if m["passed"] else "FAIL"
            print(f"{status} parity  {m['file']} [{m['runtime']}, {m['precision']}]: max abs err {m.get('max_abs_err', float('nan')):.3g}, "
                  f"top-1 agreement {m.get('top1_agreement', 0):.4f}, worst sample {m.get('worst_index')}; tolerance {m['tolerance']}")
        for note in report["skipped"]:
            print(f"skip         {note}")
        print("bundle verified" if report["passed"] else "bundle FAILED verification")
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
