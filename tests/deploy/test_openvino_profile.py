"""Latency profiles in OpenVINO, FP32 and INT8: op graphs emitted by ``compactrs profile --emit`` measured by
deploy/profile_runner.py with openvino alone (torch and compactrs unimportable), INT8 graphs built on the host
with ``compactrs.runtime.quantize.quantize_graph`` (NNCF), and the profile fitted from the measurements."""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from compactrs.cli import main
from compactrs.cost.latency import LatencyProfile

pytest.importorskip("openvino")
pytest.importorskip("nncf")

REPO = Path(__file__).resolve().parents[2]
ONE_BLOCK = ["--in-bands", "2", "--input-size", "6", "--init-channels", "4", "--classes", "2", "--ops", "sep_conv_3x3,skip_connect",
             "--blocks", "1", "--max-depth", "1", "--fit-archs", "2", "--min-seconds", "0.01"]


@pytest.fixture(scope="module")
def emitted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ov-graphs") / "graphs"
    # per-op graphs: the kernel-level method profiles onnxruntime's own optimised nodes, not OpenVINO's
    assert main(["profile", *ONE_BLOCK, "--method", "ops", "--emit", str(folder)]) == 0
    return folder


def _measure(folder, device_python, *extra):
    result = device_python(REPO / "compactrs" / "deploy" / "profile_runner.py", folder, "--runtime", "openvino", "--min-seconds", "0.01",
                           "--min-runs", "5", "--rounds", "1", "--retries", "0", "--quiet", *extra, timeout=300)
    assert result.returncode == 0, result.stderr
    return json.loads((folder / "measurements.json").read_text())


def test_openvino_profile_from_device_measurements(emitted, device_python, tmp_path):
    results = _measure(emitted, device_python)
    assert results["runtime"]["name"] == "openvino" and results["precision"] == "fp32" and results["threads"] == 1
    items = json.loads((emitted / "manifest.json").read_text())["items"]
    assert [r["file"] for r in results["records"]] == [i["file"] for i in items] and all(r["median_ms"] > 0 for r in results["records"])
    out = tmp_path / "ov.json"
    assert main(["profile", "--from-measurements", str(emitted), "--out", str(out)]) == 0
    profile = LatencyProfile.load(out)
    assert profile.data["runtime"]["name"] == "openvino" and {e["op"] for e in profile.data["entries"]} >= {"sep_conv_3x3", "stem", "head"}


def test_int8_graphs_are_built_on_the_host_and_timed_on_the_device(emitted, device_python, tmp_path):
    from compactrs.runtime.quantize import quantize_graph

    folder = tmp_path / "int8"
    shutil.copytree(emitted, folder, ignore=shutil.ignore_patterns("measurements.json"))
    manifest = json.loads((folder / "manifest.json").read_text())
    rng = np.random.default_rng(0)
    convs = [i for i in manifest["items"] if i.get("key") and i["key"][0] in ("sep_conv_3x3", "relu_conv_bn")]
    assert len(convs) >= 2
    for item in convs:  # graphs with convolutions (adds, concats and baselines have nothing to quantise)
        samples = rng.standard_normal((8, *item["input_shape"][1:])).astype(np.float32)
        info = quantize_graph(folder / item["file"], folder, "openvino", samples)
        item["file"] = Path(info["file"]).name
        assert info["fake_quantize_ops"] > 0
    manifest["items"] = convs
    (folder / "manifest.json").write_text(json.dumps(manifest))
    results = _measure(folder, device_python, "--precision", "int8")
    assert results["precision"] == "int8" and [r["file"] for r in results["records"]] == [i["file"] for i in manifest["items"]]
    assert all(r["file"].endswith(".int8.xml") and r["median_ms"] > 0 for r in results["records"])
