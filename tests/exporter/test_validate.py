"""Comparators name the worst output; a broken export is caught and leaves no bundle behind."""
import json

import numpy as np
import onnx
import pytest
import torch
from onnx import numpy_helper

from compactrs.cli import main
from compactrs.errors import ValidationFailed
from compactrs.exporter import ExportConfig, allclose, export, oa_drop, top1_agreement, validate
from compactrs.runtime import export_onnx
from compactrs.exporter.validate import ValidationInputs
from compactrs.training import TrainConfig, train


def _inputs(labels):
    labels = np.asarray(labels)
    return ValidationInputs(np.zeros((len(labels), 1, 1, 1), np.float32), labels, [f"row {i}" for i in range(len(labels))])


def test_allclose_names_worst_row_and_errors():
    reference = np.ones((4, 3))
    candidate = reference.copy()
    candidate[2, 1] += 1e-3
    result = allclose(1e-5, 1e-5)(reference, candidate, _inputs([0, 1, -1, -1]))
    assert not result["passed"] and result["worst_index"] == 2 and result["worst_input"] == "row 2"
    assert result["max_abs_err"] == pytest.approx(1e-3) and result["max_rel_err"] == pytest.approx(1e-3)
    assert allclose(1e-2, 0)(reference, candidate, _inputs([0, 1, -1, -1]))["passed"]


def test_top1_agreement_and_oa_drop_use_only_labelled_rows():
    reference = np.array([[1, 0], [0, 1], [1, 0], [0, 1], [5, 0]], float)
    candidate = np.array([[1, 0], [0, 1], [0, 1], [0, 1], [0, 5]], float)  # row 2 flips; row 4 is unlabelled
    inputs = _inputs([0, 1, 0, 0, -1])
    agreement = top1_agreement(0.8)(reference, candidate, inputs)
    assert agreement["agreement"] == 0.75 and not agreement["passed"] and agreement["worst_index"] == 2
    drop = oa_drop(0.1)(reference, candidate, inputs)
    assert (drop["oa_reference"], drop["oa_candidate"], drop["n"]) == (0.75, 0.5, 4) and not drop["passed"]
    assert oa_drop(0.3)(reference, candidate, inputs)["passed"]


@pytest.mark.parametrize("precision,option", [("int8", "--min-agreement"), ("fp16", "--min-agreement"), ("fp32", "--atol / --rtol")])
def test_a_failed_check_names_the_option_that_sets_its_tolerance(precision, option):
    from compactrs.exporter.validate import comparators_for, raise_if_failed

    reference = np.array([[1, 0], [0, 1], [1, 0], [0, 1]], float)
    candidate = np.array([[0, 1], [0, 1], [0, 1], [0, 1]], float)  # half the predictions flip
    inputs = _inputs([0, 1, 0, 1])
    results = [compare(reference, candidate, inputs) for compare in comparators_for(precision)]
    report = {"reference": "torch", "candidate": "onnxruntime", "comparisons": results}
    with pytest.raises(ValidationFailed, match=f"relax {option}"):
        raise_if_failed(report, precision)
    if precision != "fp32":  # OA drop is judged too, with its own option
        with pytest.raises(ValidationFailed, match="relax --max-oa-drop"):
            raise_if_failed({**report, "comparisons": results[1:]}, precision)


def test_short_calibration_is_said_on_the_console_even_with_json(synthetic_run, tmp_path, capsys):
    code = main(["export", str(synthetic_run), "--int8", "--calib", "500", "--no-simplify", "--json", "--out", str(tmp_path / "b")])
    err = capsys.readouterr().err
    assert code in (0, 3), err  # whether INT8 then passes its check does not matter here
    assert "note: --calib 500 asked but the training split" in err


def test_calibration_method_reaches_the_int8_model_and_needs_int8(synthetic_run, tmp_path, capsys):
    out = tmp_path / "b"
    # the accuracy gate opened: this checks which calibrator ran, not how well a 1-epoch net quantises
    code = main(["export", str(synthetic_run), "--int8", "--calib-method", "percentile", "--no-int8-speed-check",
                 "--max-oa-drop", "1", "--min-agreement", "0", "--no-simplify", "--json", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["quantization"]["calibration_method"] == "percentile"
    capsys.readouterr()
    assert main(["export", str(synthetic_run), "--calib-method", "entropy", "--out", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err.strip()
    assert "--calib-method entropy sets the INT8 calibration; add --int8" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "c").exists()


@pytest.fixture(scope="module")
def synthetic_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "r8"
    train("resnet8", "synthetic,n=20,size=16", TrainConfig(epochs=1, threads=1, batch_size=32), out, {"width": 8})
    return out


def _perturb_first_conv(path):
    model = onnx.load(str(path))
    init = next(t for t in model.graph.initializer if numpy_helper.to_array(t).ndim == 4)
    array = numpy_helper.to_array(init).copy()
    array[0] += 0.5
    init.CopyFrom(numpy_helper.from_array(array, init.name))
    onnx.save(model, str(path))


def test_validate_catches_weight_changed_after_export(synthetic_run, tmp_path):
    from compactrs.training import load_checkpoint

    model, payload = load_checkpoint(synthetic_run)
    path = export_onnx(model, tmp_path / "m.onnx", (1, 10, 16, 16))
    assert validate(synthetic_run, path, n_real=16)["passed"]
    _perturb_first_conv(path)
    with pytest.raises(ValidationFailed, match=r"allclose.*worst output: index \d+.*max_abs_err"):
        validate(synthetic_run, path, n_real=16)


def test_broken_export_writes_no_bundle_and_exits_3(synthetic_run, tmp_path, monkeypatch, capsys):
    import compactrs.exporter.api as api

    real_export = api.export_onnx

    def export_then_corrupt(model, path, *args, **kwargs):  # the real exporter, then a weight changes on disk
        result = real_export(model, path, *args, **kwargs)
        _perturb_first_conv(path)
        return result

    monkeypatch.setattr(api, "export_onnx", export_then_corrupt)
    out = tmp_path / "bundle"
    with pytest.raises(ValidationFailed, match="worst output"):
        export(synthetic_run, out, ExportConfig(n_real=16))
    assert not out.exists() and not list(tmp_path.glob(".bundle*"))
    assert main(["export", str(synthetic_run), "--out", str(out)]) == 3
    assert "error:" in capsys.readouterr().err and not out.exists()


def test_cli_export_json_reports_parity_and_contract(synthetic_run, tmp_path, capsys):
    out = tmp_path / "b"
    assert main(["export", str(synthetic_run), "--out", str(out), "--json", "--no-simplify"]) == 0
    manifest = json.loads(capsys.readouterr().out)
    assert manifest["onnx"]["opset"] == 17 and manifest["onnx"]["simplified"]["applied"] is False
    spec = manifest["input_spec"]
    assert spec["shape"] == [None, 10, 16, 16] and len(spec["mean"]) == len(spec["std"]) == 10
    assert spec["name"] == "x" and spec["output"] == "logits" and spec["layout"] == "NCHW"
    fp32 = manifest["parity"]["onnxruntime_fp32"]
    assert fp32["passed"] and fp32["n_real"] > 0 and fp32["comparisons"][0]["max_abs_err"] < 1e-5 + 1e-4
    assert manifest["tensorrt"]["graph_check"]["passed"]
