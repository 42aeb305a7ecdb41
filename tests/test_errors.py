"""Bad values are refused up front: one line on stderr, no traceback, exit 2 — through the CLI and the Python API."""
import pytest

from compactrs.cli import main
from compactrs.errors import CompactrsError, ConfigError, ModelError


@pytest.mark.parametrize("argv,needle", [
    # train
    (["train", "resnet8", "--epochs", "0"], "--epochs"),
    (["train", "resnet8", "--batch-size", "0"], "--batch-size"),
    (["train", "resnet8", "--lr", "0"], "--lr"),
    (["train", "resnet8", "--lr", "-0.1"], "--lr"),
    (["train", "resnet8", "--threads", "0"], "--threads"),
    (["train", "resnet8", "--epochs", "1", "--data", "synthetic,n=4,size=8", "--model-arg", "width=0"], "width"),
    (["train", "resnet8", "--epochs", "1", "--data", "synthetic,n=4,size=8", "--model-arg", "width=-3"], "width"),
    # export
    (["export", "no-run", "--int8", "--calib", "-5"], "--calib"),
    (["export", "no-run", "--calib", "0"], "--calib"),
    (["export", "no-run", "--atol", "-1"], "--atol"),
    (["export", "no-run", "--max-oa-drop", "1.5"], "--max-oa-drop"),
    (["export", "no-run", "--min-agreement", "-0.1"], "--min-agreement"),
    # bench
    (["bench", "no-run", "--batch", ""], "--batch"),
    (["bench", "no-run", "--batch", "0,8"], "--batch"),
    (["bench", "no-run", "--threads", "0"], "--threads"),
    # search, prune, profile, models, data
    (["search", "--flops-target", "20M", "--tolerance", "1.5"], "--tolerance"),
    (["search", "--flops-target", "20M", "--threads", "0"], "--threads"),
    (["search", "--flops-target", "0"], "--flops-target"),
    (["prune", "resnet8", "--flops-ratio", "0"], "--flops-ratio"),
    (["prune", "resnet8"], "--flops-ratio"),
    (["profile", "--threads", "0"], "--threads"),
    (["profile", "--in-bands", ""], "--in-bands"),
    (["models", "--pattern", "nothing*"], "nothing*"),
    (["models", "--bands", "0"], "--bands"),
    (["data", "info", "synthetic,n=1"], "n"),
])
def test_degenerate_values_are_one_line_and_exit_2(capsys, argv, needle):
    code = main(argv)
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert code == 2, (code, captured.out, err)
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith("error: ") and needle in err, err


def test_a_diverging_training_run_names_the_learning_rate_flag(capsys, tmp_path):
    # an absurd learning rate on the embedded data drives the loss to inf/NaN within a few steps
    code = main(["train", "resnet8", "--epochs", "3", "--lr", "1e30", "--threads", "1", "--data", "synthetic,n=10,size=8",
                 "--model-arg", "width=4", "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert "--lr" in err and "training loss became" in err
    assert list(tmp_path.iterdir()) == []  # no half-written run directory


def test_config_dataclasses_refuse_degenerate_values(tmp_path):
    from compactrs.bench import benchmark
    from compactrs.exporter import ExportConfig
    from compactrs.pruning import PruneConfig
    from compactrs.training import TrainConfig, train

    bad = [lambda: TrainConfig(batch_size=0), lambda: TrainConfig(lr=0.0), lambda: TrainConfig(lr=float("nan")),
           lambda: TrainConfig(threads=0), lambda: TrainConfig(epochs=-1), lambda: TrainConfig(weight_decay=-1.0),
           lambda: ExportConfig(calib=-1), lambda: ExportConfig(atol=-1e-5), lambda: ExportConfig(min_agreement=1.5),
           lambda: ExportConfig(threads=0), lambda: PruneConfig(flops_ratio=0.5, threads=0),
           lambda: PruneConfig(flops_ratio=0.5, batch_size=0), lambda: PruneConfig(flops_ratio=0.5, finetune_lr=0.0),
           lambda: train("resnet8", "synthetic,n=4,size=8", TrainConfig(epochs=0), tmp_path / "never"),
           lambda: benchmark(tmp_path, "onnxruntime", [], threads=1),
           lambda: benchmark(tmp_path, "onnxruntime", [1], threads=0)]
    for make in bad:
        with pytest.raises(ConfigError):
            make()
    assert not (tmp_path / "never").exists()


def test_zero_width_model_is_a_model_error():
    from compactrs.models import create_model

    with pytest.raises(ModelError, match="zero channels"):
        create_model("resnet8", 3, 4, width=0)
    assert issubclass(ModelError, CompactrsError)
