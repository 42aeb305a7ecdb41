"""TensorRT engine build + golden validation (needs TensorRT and a GPU: skipped elsewhere, with the reason shown)."""
import json
import shutil

import pytest

trt = pytest.importorskip("tensorrt", reason="TensorRT is not installed here (CPU-only machine); engines are built on the device")


@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
def test_build_engine_builds_and_validates_against_golden(ip_bundle, tmp_path, precision, device_python):
    copy = tmp_path / "bundle"
    shutil.copytree(ip_bundle[0], copy)
    result = device_python(copy / "deploy" / "build_engine.py", copy, "--precision", precision)
    assert result.returncode == 0, result.stderr
    manifest = json.loads((copy / "manifest.json").read_text())
    assert manifest["parity"]["tensorrt"]["passed"] and "model.plan" in manifest["files"]
    verify = device_python(copy / "deploy" / "verify.py", copy, "--runtime", "tensorrt")
    assert verify.returncode == 0, verify.stdout
