"""INT8 calibration sample selection (real training data) and the FP16 path."""
import numpy as np

from compactrs.data import load_dataset
from compactrs.exporter import ExportConfig, export
from compactrs.exporter.quantize import calibration_samples
from compactrs.training import TrainConfig, train


def test_calibration_uses_all_training_samples_when_fewer_than_asked(shared_data):
    data = load_dataset(f"eurosat:{shared_data / 'eurosat_ms'}")
    samples, note = calibration_samples(data, 500)
    assert len(samples) == len(data.x_train) == 131 and "has 131 samples; calibrating on all 131" in note
    assert {tuple(s.ravel()[:5]) for s in samples} == {tuple(s.ravel()[:5]) for s in data.x_train}  # real samples, each once
    few, note = calibration_samples(data, 50, seed=1)
    assert len(few) == 50 and "fewer than the recommended 500" in note
    assert np.array_equal(few, calibration_samples(data, 50, seed=1)[0])


def test_fp16_model_is_written_and_validated_on_cpu(tmp_path):
    run = tmp_path / "run"
    train("resnet8", "synthetic,n=20,size=16", TrainConfig(epochs=1, threads=1, batch_size=32), run, {"width": 8})
    manifest = export(run, tmp_path / "b", ExportConfig(fp16=True, n_real=16, simplify=False))
    assert (tmp_path / "b" / "model.fp16.onnx").is_file()
    report = manifest["parity"]["onnxruntime_fp16_cpu"]
    assert report["passed"] and report["precision"] == "fp16"
    names = [c["name"] for c in report["comparisons"]]
    assert names[0].startswith("top1_agreement") and names[1].startswith("oa_drop")  # metric-based, not 1e-5
    assert {"file": "model.fp16.onnx", "runtime": "onnxruntime", "precision": "fp16"}.items() <= manifest["models"][-1].items()
    assert manifest["golden"]["host_check"]["model.fp16.onnx"]["top1_agreement"] >= 0.97
