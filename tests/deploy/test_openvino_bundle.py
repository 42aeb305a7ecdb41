"""``export --openvino --int8 --bf16 --max-drop`` on the real Indian Pines run: the IR in the bundle, its gates,
NNCF INT8 on real calibration data kept only if it wins, bf16 only on request, and the device scripts
(verify, run, bench) running the IR with openvino alone — torch and compactrs unimportable."""
import json

import numpy as np
import pytest
from click.testing import CliRunner

from compactrs.cli import cli, main
from compactrs.exporter import ExportConfig, export
from compactrs.exporter.bundle import sha256_file

pytest.importorskip("openvino")
pytest.importorskip("nncf")


@pytest.fixture(scope="module")
def ov_bundle(ip_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("ov") / "bundle"
    config = ExportConfig(openvino=True, int8=True, bf16=True, calib=300)
    manifest = export(ip_run, out, config)
    return out, manifest


def test_bundle_holds_the_ir_with_gates_and_hashes(ov_bundle):
    bundle, manifest = ov_bundle
    on_disk = json.loads((bundle / "manifest.json").read_text())
    for name in ("model.xml", "model.bin", "deploy/openvino_runner.py"):
        assert on_disk["files"][name] == sha256_file(bundle / name)
    assert manifest["openvino"]["ir"]["source"] == "model.onnx" and manifest["openvino"]["ir"]["compress_to_fp16"] is False
    fp32 = manifest["parity"]["openvino_fp32"]
    allclose = next(c for c in fp32["comparisons"] if c["name"].startswith("allclose"))
    assert fp32["passed"] and allclose["name"] == "allclose(atol=1e-05, rtol=1e-05)" and fp32["n_real"] == 64
    entries = [(m["file"], m["runtime"], m["precision"]) for m in manifest["models"] if m["runtime"] == "openvino"]
    assert entries[:2] == [("model.xml", "openvino", "fp32"), ("model.xml", "openvino", "bf16")]  # fp32 first: the default
    assert set(manifest["golden"]["host_check"]) >= {"model.xml"}


def test_bf16_is_judged_on_the_test_split(ov_bundle):
    _, manifest = ov_bundle
    report = manifest["parity"]["openvino_bf16"]
    by_name = {c["name"].split("(")[0]: c for c in report["comparisons"]}
    assert by_name["oa_drop"]["n"] == 671 and by_name["oa_drop"]["oa_drop"] <= 0.01 and by_name["top1_agreement"]["agreement"] >= 0.97
    assert report["speed"]["batch1"]["fp32_ms"] > 0 and report["speed"]["batch32"]["speedup"] > 0


def test_int8_on_real_calibration_is_kept_only_if_faster(ov_bundle):
    bundle, manifest = ov_bundle
    decision = manifest["openvino"]["int8"]
    assert decision["policy"]["batches"] == [1, 32] and decision["candidates"][0]["float_groups"] == []
    if decision["kept"] == "int8":
        assert decision["calibration_samples"] == 300 and decision["fake_quantize_ops"] > 0 and decision["accuracy_control"] is None
        oa = next(c for c in manifest["parity"]["openvino_int8"]["comparisons"] if c["name"].startswith("oa_drop"))
        assert oa["n"] == 671 and oa["oa_drop"] <= 0.01
        chosen = next(c for c in decision["candidates"] if c["float_groups"] == decision["float_groups"])
        assert all(b["speedup"] >= decision["policy"]["margin"] for b in chosen["judgement"]["per_batch"].values())
        assert (bundle / "model.int8.xml").is_file() and (bundle / "model.int8.bin").is_file()
    else:  # INT8 lost on this machine: no INT8 file, and the notes say so with both timings
        assert not (bundle / "model.int8.xml").exists()
        assert any("keeps FP32" in note for note in manifest["notes"])


def test_verify_runs_the_ir_without_torch(ov_bundle, device_python):
    bundle, manifest = ov_bundle
    result = device_python(bundle / "deploy" / "verify.py", bundle, "--runtime", "openvino", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    checked = {(m["file"], m["precision"]) for m in report["models"]}
    expected = {(m["file"], m["precision"]) for m in manifest["models"] if m["runtime"] == "openvino"}
    assert report["passed"] and checked == expected and ("model.xml", "bf16") in checked
    fp32 = next(m for m in report["models"] if m["precision"] == "fp32")
    assert fp32["max_abs_err"] < 1e-4


def test_run_and_bench_the_ir_without_torch(ov_bundle, device_python, tmp_path):
    bundle, _ = ov_bundle
    golden = np.load(bundle / "golden.npz")
    np.save(tmp_path / "inputs.npy", golden["inputs"][:8])
    result = device_python(bundle / "deploy" / "run.py", tmp_path / "inputs.npy", "--bundle", bundle, "--runtime", "openvino",
                           "--normalised", "--json")
    assert result.returncode == 0, result.stderr
    assert [r["label"] for r in json.loads(result.stdout)] == golden["outputs"][:8].argmax(1).tolist()
    result = device_python(bundle / "deploy" / "bench.py", bundle, "--runtime", "openvino", "--precision", "bf16", "--batch", "1,4",
                           "--threads", "1", "--min-seconds", "0.05", "--min-runs", "5", "--warmup", "1", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["precision"] == "bf16" and [r["batch"] for r in report["results"]] == [1, 4]
    bad = device_python(bundle / "deploy" / "bench.py", bundle, "--runtime", "openvino", "--precision", "fp16")
    assert bad.returncode == 2 and "offers model.xml [openvino] in ['fp32', 'bf16'], not fp16" in bad.stderr


def test_eval_and_bench_cli_with_openvino(ov_bundle, ip_run, capsys):
    bundle, _ = ov_bundle
    runner = CliRunner()
    ort = json.loads(runner.invoke(cli, ["eval", str(bundle), "--json", "--threads", "1"]).output)
    result = runner.invoke(cli, ["eval", str(bundle), "--runtime", "openvino", "--json", "--threads", "1"])
    assert result.exit_code == 0, result.output
    ov = json.loads(result.output)
    assert ov["runtime"] == "openvino" and ov["precision"] == "fp32" and ov["n"] == ort["n"]
    assert abs(ov["oa"] - ort["oa"]) <= 1 / ort["n"]  # FP32 in both runtimes: at most a tie flips
    bench = runner.invoke(cli, ["bench", str(bundle), "--runtime", "openvino", "--batch", "2", "--min-runs", "3",
                                "--min-seconds", "0", "--warmup", "1", "--json"])
    assert bench.exit_code == 0, bench.output
    assert json.loads(bench.output)["results"][0]["batch"] == 2
    assert main(["eval", str(ip_run), "--runtime", "openvino"]) == 2
    assert "is not a bundle" in capsys.readouterr().err


def test_bf16_and_max_drop_need_openvino(ip_run, tmp_path, capsys):
    assert main(["export", str(ip_run), "--bf16", "--out", str(tmp_path / "b")]) == 2
    assert "add --openvino" in capsys.readouterr().err and not (tmp_path / "b").exists()
    assert main(["export", str(ip_run), "--openvino", "--max-drop", "0.01", "--out", str(tmp_path / "b")]) == 2
    assert "--max-drop 0.01 needs --int8" in capsys.readouterr().err


@pytest.mark.slow  # ~45 s: NNCF re-validates the model on 1000 held-out training samples per step
def test_max_drop_runs_accuracy_controlled_int8(ip_run, tmp_path):
    manifest = export(ip_run, tmp_path / "b", ExportConfig(openvino=True, int8=True, calib=300, max_drop=0.005, int8_speed_check=False))
    decision = manifest["openvino"]["int8"]
    assert decision["kept"] == "int8" and decision["policy"] is None and "--no-int8-speed-check" in decision["reason"]
    control = decision["accuracy_control"]
    assert control["max_drop"] == 0.005 and control["validation_source"] == "training samples not used for calibration"
    assert control["validation_samples"] == 1000
    oa = next(c for c in manifest["parity"]["openvino_int8"]["comparisons"] if c["name"].startswith("oa_drop"))
    assert oa["n"] == 671 and oa["oa_drop"] <= 0.01


def test_export_without_openvino_says_how_to_install_it(ip_run, tmp_path, monkeypatch, capsys):
    import sys

    monkeypatch.setitem(sys.modules, "openvino", None)  # as on a machine without the extra
    assert main(["export", str(ip_run), "--openvino", "--out", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    assert "pip install 'compactrs[openvino]'" in err and "Traceback" not in err and not (tmp_path / "b").exists()
