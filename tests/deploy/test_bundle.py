"""The bundle on the real Indian Pines data: contents, INT8 on real calibration data, and the device scripts
(verify, run, bench, build_engine) running with torch and compactrs unimportable."""
import json
import shutil

import numpy as np
import pytest

from compactrs.exporter.bundle import sha256_file


def test_bundle_contents_and_manifest(ip_bundle):
    bundle, manifest = ip_bundle
    for name in ("model.onnx", "model.int8.onnx", "manifest.json", "golden.npz", "calibration.npy", "deploy/verify.py",
                 "deploy/run.py", "deploy/bench.py", "deploy/build_engine.py", "deploy/profile_runner.py", "deploy/__init__.py",
                 "deploy/bundle.py", "deploy/patches.py", "deploy/runners.py", "deploy/timing.py", "deploy/machine.py",
                 "deploy/tensorrt_engine.py"):
        assert (bundle / name).is_file(), name
    on_disk = json.loads((bundle / "manifest.json").read_text())
    assert on_disk["files"]["model.onnx"] == sha256_file(bundle / "model.onnx")
    assert set(on_disk["files"]) == {p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file()} - {"manifest.json"}
    spec = on_disk["input_spec"]
    assert spec["shape"] == [None, 200, 9, 9] and spec["patch_size"] == [9, 9] and len(spec["class_names"]) == 4
    assert len(spec["mean"]) == 200 and spec["bands"] == list(range(200)) and spec["dataset"].startswith("hsi:")
    assert on_disk["versions"]["onnxruntime"] and on_disk["onnx"]["opset"] == 17
    golden = np.load(bundle / "golden.npz")
    assert golden["inputs"].shape == (64, 200, 9, 9) and golden["outputs"].shape == (64, 4)


def test_int8_on_real_data_reports_oa_drop_and_speed(ip_bundle):
    _, manifest = ip_bundle
    assert manifest["quantization"]["calibration_samples"] == 500 and manifest["quantization"]["per_channel"]
    report = manifest["parity"]["onnxruntime_int8"]
    by_name = {c["name"].split("(")[0]: c for c in report["comparisons"]}
    assert by_name["oa_drop"]["n"] == 671  # the whole spatially disjoint test split
    assert by_name["oa_drop"]["oa_reference"] > 0.5  # the run learned something, so the drop means something
    assert by_name["oa_drop"]["oa_drop"] <= 0.01 and by_name["top1_agreement"]["agreement"] >= 0.97
    assert report["speed"]["batch1"]["speedup"] > 0 and report["speed"]["batch32"]["fp32_ms"] > 0
    # the ORT INT8 file uses uint8 activations, which TensorRT rejects; the check must say so
    from compactrs.exporter.trt_check import check_tensorrt_compat

    assert not check_tensorrt_compat(ip_bundle[0] / "model.int8.onnx")["passed"]


def test_trt_without_tensorrt_defers_to_device_script(ip_bundle):
    _, manifest = ip_bundle
    trt = manifest["tensorrt"]
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        assert trt["built"] is False and "deploy/build_engine.py --precision int8" in trt["note"]
        assert trt["calibration"]["samples"] == 500
    assert trt["graph_check"]["passed"]


def test_verify_passes_without_torch(ip_bundle, device_python):
    bundle, _ = ip_bundle
    result = device_python(bundle / "deploy" / "verify.py", bundle, "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["passed"] and {m["file"] for m in report["models"]} == {"model.onnx", "model.int8.onnx"}
    fp32 = next(m for m in report["models"] if m["file"] == "model.onnx")
    assert fp32["max_abs_err"] < 1e-4


def test_device_really_cannot_import_torch(device_python, tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("import torch\n")
    result = device_python(probe)
    assert result.returncode != 0 and "not available on the device" in result.stderr


@pytest.mark.parametrize("victim", ["model.onnx", "golden.npz", "deploy/bundle.py"])
def test_verify_catches_a_modified_file(ip_bundle, device_python, tmp_path, victim):
    copy = tmp_path / "bundle"
    shutil.copytree(ip_bundle[0], copy)
    with open(copy / victim, "ab") as handle:  # one appended byte (a comment line for the script)
        handle.write(b"#\n" if victim.endswith(".py") else b"\0")
    result = device_python(copy / "deploy" / "verify.py", copy)
    assert result.returncode == 1 and f"FAIL hash    {victim}: sha256 differs" in result.stdout


def test_run_classifies_raw_patches_like_the_model(ip_bundle, ip_run, indian_pines, device_python, tmp_path):
    """Raw cube patches → manifest preprocessing on the device → the same predictions as PyTorch on the dataset."""
    import scipy.io
    import torch

    from compactrs.data import load_dataset
    from compactrs.training import load_checkpoint

    bundle, manifest = ip_bundle
    data = load_dataset(manifest["input_spec"]["dataset"])
    cube = next(v for k, v in scipy.io.loadmat(indian_pines / "Indian_subset.mat").items() if not k.startswith("__"))
    coords = data.meta["test_coords"]
    inner = np.flatnonzero((coords.min(1) >= 4) & (coords[:, 0] < cube.shape[0] - 4) & (coords[:, 1] < cube.shape[1] - 4))[:20]
    folder = tmp_path / "patches"
    folder.mkdir()
    for i in inner:  # raw digital numbers, (H, W, bands), exactly as a sensor delivers a patch
        r, c = coords[i]
        np.save(folder / f"p{i:04d}.npy", cube[r - 4 : r + 5, c - 4 : c + 5, :])
    result = device_python(bundle / "deploy" / "run.py", folder, "--bundle", bundle, "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    model, _ = load_checkpoint(ip_run)
    with torch.no_grad():
        expected = model(torch.from_numpy(data.x_test[inner])).argmax(1).numpy()
    assert [r["label"] for r in rows] == expected.tolist()
    assert all(0 < r["confidence"] <= 1 for r in rows)


def test_run_rejects_a_patch_of_the_wrong_size(ip_bundle, device_python, tmp_path):
    bundle, _ = ip_bundle
    np.save(tmp_path / "small.npy", np.zeros((5, 5, 200), np.uint16))
    result = device_python(bundle / "deploy" / "run.py", tmp_path / "small.npy", "--bundle", bundle)
    assert result.returncode == 2 and "5x5 pixels but the model takes 9x9" in result.stderr and "Traceback" not in result.stderr


def test_bench_runs_without_torch(ip_bundle, device_python):
    bundle, _ = ip_bundle
    result = device_python(bundle / "deploy" / "bench.py", bundle, "--batch", "1,4", "--threads", "1", "--min-seconds", "0.05",
                           "--min-runs", "5", "--warmup", "1", "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)["results"]
    assert [r["batch"] for r in rows] == [1, 4]
    assert all(r["p99_ms"] >= r["p90_ms"] >= r["min_ms"] > 0 and r["runs"] >= 5 for r in rows)


def test_build_engine_without_tensorrt_says_so(ip_bundle, device_python):
    try:
        import tensorrt  # noqa: F401
        pytest.skip("TensorRT is installed here; the build itself is tested in test_tensorrt.py")
    except ImportError:
        pass
    bundle, _ = ip_bundle
    result = device_python(bundle / "deploy" / "build_engine.py", bundle, "--precision", "fp32")
    assert result.returncode == 2 and "TensorRT is not importable" in result.stderr
    assert not (bundle / "model.plan").exists()


def test_eval_bundle_matches_the_run_on_the_same_test_split(ip_bundle, ip_run):
    import json

    from click.testing import CliRunner

    from compactrs.cli import cli

    bundle, _ = ip_bundle
    runner = CliRunner()
    run_result = json.loads(runner.invoke(cli, ["eval", str(ip_run), "--json"]).output)
    fp32 = runner.invoke(cli, ["eval", str(bundle), "--json", "--threads", "1"])
    assert fp32.exit_code == 0, fp32.output
    fp32 = json.loads(fp32.output)
    assert fp32["runtime"] == "onnxruntime" and fp32["n"] == run_result["n"]
    assert abs(fp32["oa"] - run_result["oa"]) <= 1 / run_result["n"]  # FP32 ORT may flip at most a tie
    int8 = json.loads(runner.invoke(cli, ["eval", str(bundle), "--model-file", "model.int8.onnx", "--json"]).output)
    assert int8["model_file"] == "model.int8.onnx" and int8["oa"] > 0.5
    missing = runner.invoke(cli, ["eval", str(bundle), "--model-file", "model.fp16.onnx"])
    assert missing.exit_code != 0
