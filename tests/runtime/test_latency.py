"""``measure_latency`` (the one latency helper: one error policy, threads as a number, conditions) and the runners."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from compactrs.errors import ArtifactError, ConfigError, MissingDependency
from compactrs.runtime import RUNTIMES, TimingConfig, export_onnx, make_runner, measure_latency, runner_for_file, speedup

FAST = TimingConfig(warmup=1, min_runs=3, min_seconds=0.0)


class TinyNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        return self.head(self.conv(x).mean((2, 3)))


class NotExportable(nn.Module):
    def forward(self, x):  # the ONNX exporter only lowers tensor outputs
        return f"{x.shape}"


def _check_entry(entry, runtime, batch, threads):
    assert entry["runtime"] == runtime and entry["batch"] == batch and entry["threads"] == threads
    assert entry["p99_ms"] >= entry["p90_ms"] >= entry["median_ms"] >= entry["min_ms"] > 0 and entry["runs"] >= 3
    assert entry["statistic"] == "median" and isinstance(entry["conditions"]["contended"], bool) and entry["conditions"]["reason"]


def test_onnxruntime_latency_of_a_module_per_batch():
    result = measure_latency(TinyNet(), (3, 8, 8), "onnxruntime", (1, 4), threads=1, config=FAST)
    assert sorted(result) == ["onnxruntime_cpu_b1", "onnxruntime_cpu_b4"]
    _check_entry(result["onnxruntime_cpu_b1"], "onnxruntime", 1, 1)
    _check_entry(result["onnxruntime_cpu_b4"], "onnxruntime", 4, 1)


def test_torch_latency_records_the_thread_count_in_use():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        result = measure_latency(TinyNet(), (3, 8, 8), "torch", (2,), threads=None, config=FAST)
    finally:
        torch.set_num_threads(previous)
    _check_entry(result["torch_cpu_b2"], "torch", 2, 1)


def test_default_onnxruntime_threads_are_resolved_to_a_number(tmp_path):
    path = export_onnx(TinyNet(), tmp_path / "tiny.onnx", (1, 3, 8, 8))
    entry = measure_latency(path, (3, 8, 8), "onnxruntime", (1,), threads=None, config=FAST)["onnxruntime_cpu_b1"]
    assert isinstance(entry["threads"], int) and entry["threads"] >= 1


def test_a_model_that_cannot_be_measured_is_recorded_not_raised():
    result = measure_latency(NotExportable(), (3, 8, 8), "onnxruntime", (1, 32), threads=1, config=FAST)
    assert set(result) == {"onnxruntime_cpu_b1", "onnxruntime_cpu_b32"}
    for entry in result.values():
        assert entry["error"] and "median_ms" not in entry and entry["threads"] == 1
    assert speedup(result["onnxruntime_cpu_b1"], result["onnxruntime_cpu_b1"]) is None
    assert speedup({"median_ms": 2.0}, {"median_ms": 0.5}) == 4.0


def test_wrong_arguments_are_still_errors(tmp_path):
    with pytest.raises(ConfigError, match="unknown runtime 'onnx'"):
        measure_latency(TinyNet(), (3, 8, 8), "onnx", (1,))
    with pytest.raises(ConfigError, match="times a PyTorch module"):
        measure_latency(tmp_path / "m.onnx", (3, 8, 8), "torch", (1,))


def test_the_runtime_registry_names_what_runs_what(tmp_path):
    assert {"onnxruntime", "tensorrt"} <= set(RUNTIMES)
    assert RUNTIMES["onnxruntime"].suffixes == (".onnx",) and RUNTIMES["tensorrt"].default_file == "model.plan"
    path = export_onnx(TinyNet(), tmp_path / "tiny.onnx", (1, 3, 8, 8))
    with runner_for_file(path, threads=1) as runner:
        assert runner.name == "onnxruntime" and runner.infer(torch.zeros(2, 3, 8, 8).numpy()).shape == (2, 2)
        assert runner.input_metadata()["x"]["shape"] == [None, 3, 8, 8]
    (tmp_path / "model.xyz").write_bytes(b"")
    with pytest.raises(ArtifactError, match="no model suffix"):
        runner_for_file(tmp_path / "model.xyz")


def test_a_missing_runtime_names_its_install_hint(tmp_path):
    try:
        import tensorrt  # noqa: F401
        pytest.skip("TensorRT is installed here")
    except ImportError:
        pass
    with pytest.raises(MissingDependency, match="JetPack"):
        make_runner("tensorrt", tmp_path / "model.plan")
