"""``benchmark`` / ``compactrs bench`` on a run (torch, onnxruntime), an .onnx file and a bundle."""
import json

import pytest

from compactrs.bench import benchmark
from compactrs.cli import main
from compactrs.errors import ConfigError
from compactrs.exporter import ExportConfig, export
from compactrs.training import TrainConfig, train

FAST = {"warmup": 1, "min_runs": 3, "min_seconds": 0.0}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "run"
    train("resnet8", "synthetic,n=20,size=16", TrainConfig(epochs=1, threads=1), out, {"width": 8})
    return out


def _check(result, batches, shape=(10, 16, 16)):
    assert [r["batch"] for r in result["results"]] == batches and result["input_shape"] == list(shape)
    for row in result["results"]:
        assert row["p99_ms"] >= row["p90_ms"] >= row["median_ms"] >= row["min_ms"] > 0 and row["runs"] >= 3
        assert row["throughput_per_s"] == pytest.approx(row["batch"] * 1e3 / row["median_ms"])
        assert row["peak_mem_mb"] is None or row["peak_mem_mb"] >= 0
    assert "VmHWM" in result["memory_method"] and result["machine"]["cores"] >= 1


@pytest.mark.parametrize("runtime", ["torch", "onnxruntime"])
def test_benchmark_run_directory(run, runtime):
    result = benchmark(run, runtime, [1, 4], threads=1, **FAST)
    _check(result, [1, 4])
    assert result["runtime"] == runtime


def test_benchmark_bundle_and_onnx_file(run, tmp_path):
    bundle = export(run, tmp_path / "b", ExportConfig(n_real=8, simplify=False))["bundle"]
    _check(benchmark(bundle, "onnxruntime", [2], threads=1, **FAST), [2])
    _check(benchmark(f"{bundle}/model.onnx", "onnxruntime", [1], threads=1, **FAST), [1])
    with pytest.raises(ConfigError, match="bench the run directory"):
        benchmark(bundle, "torch", [1])


def test_cli_bench_json_and_bad_options(run, capsys):
    assert main(["bench", str(run), "--runtime", "torch", "--batch", "1,2", "--min-runs", "3", "--min-seconds", "0", "--warmup", "1", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    _check(result, [1, 2])
    assert main(["bench", str(run), "--batch", "0,x"]) != 0
    assert main(["bench", str(run), "--runtime", "tensorrt"]) != 0
    assert "error:" in capsys.readouterr().err


def test_threads_help_states_the_real_default():
    from click.testing import CliRunner

    from compactrs.cli import cli

    bench_help = " ".join(CliRunner().invoke(cli, ["bench", "--help"]).output.split())
    assert "all cores" not in bench_help and "[default: 1" in bench_help.split("--threads", 1)[1][:120]
    train_help = " ".join(CliRunner().invoke(cli, ["train", "--help"]).output.split())
    assert "[default: all cores]" in train_help.split("--threads", 1)[1][:120]
