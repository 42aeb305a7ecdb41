"""Verify a compactrs bundle on the device: file hashes, then golden parity of every model it holds.

    python BUNDLE/deploy/verify.py [--runtime onnxruntime|tensorrt|all] [--json]
    python -m compactrs.deploy.verify BUNDLE ...

Exit 0 only if every file matches manifest.json and every model reproduces golden.npz within the
manifest's tolerance; 1 on any mismatch; 2 on a usage error. Needs numpy + onnxruntime (or tensorrt); no torch.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as a file (python BUNDLE/deploy/verify.py): load this folder as package compactrs_deploy
    import importlib.util, os
    _spec = importlib.util.spec_from_file_location("compactrs_deploy", os.path.join(os.path.dirname(os.path.abspath(__file__)), "__init__.py"))
    _spec.loader.exec_module(sys.modules.setdefault("compactrs_deploy", importlib.util.module_from_spec(_spec)))
    __package__ = "compactrs_deploy"

from .bundle import GOLDEN, BundleError, bundle_root, check_hashes, fail, golden_parity, load_manifest  # noqa: E402
from .runners import RUNTIMES, bundle_runner  # noqa: E402


def check_model(bundle: Path, manifest: dict, entry: dict, golden) -> dict:
    """Run one model of the bundle on golden.npz's inputs and judge it by the manifest's tolerance for it."""
    with bundle_runner(bundle, entry["runtime"], entry["file"]) as runner:
        outputs = runner.infer_batched(golden["inputs"])
    tolerance = entry["golden_tolerance"]
    result = golden_parity(golden["outputs"], outputs, tolerance)
    return {"file": entry["file"], "runtime": entry["runtime"], "precision": entry["precision"], "tolerance": tolerance, **result}


def verify(bundle: Path, runtime: str = "all") -> dict:
    """Hashes of every file, then golden parity of every model of ``runtime`` (or all) that runs here."""
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
    parser.add_argument("bundle", nargs="?", help="bundle directory (default: the bundle this deploy/ folder is in)")
    parser.add_argument("--runtime", choices=["all", *RUNTIMES], default="all")
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
