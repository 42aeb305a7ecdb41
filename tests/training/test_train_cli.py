"""End-to-end: train and evaluate through the CLI on the real Indian Pines data (spatially disjoint split)."""
import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from compactrs.cli import cli, main
from compactrs.training import load_checkpoint, read_checkpoint


@pytest.fixture(scope="module")
def ip_run(tmp_path_factory, indian_pines):
    out = tmp_path_factory.mktemp("runs") / "ip-patchcnn"
    result = CliRunner().invoke(cli, ["train", "patchcnn", "--data", f"hsi:{indian_pines}", "--epochs", "8",
                                      "--threads", "1", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    return out, json.loads(result.output)


def test_train_writes_complete_run_directory(ip_run):
    out, report = ip_run
    for name in ("config.json", "log.txt", "metrics.jsonl", "arch.json", "model.pt", "report.json",
                 "plots/confusion.png", "plots/training.png"):
        assert (out / name).is_file(), name
    epochs = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [e["epoch"] for e in epochs] == list(range(1, 9))
    on_disk = json.loads((out / "report.json").read_text())
    for key in ("task", "dataset", "num_classes", "in_bands", "input_size", "oa", "aa", "kappa", "per_class_acc",
                "macs", "params", "latency_ms", "target", "seed", "versions"):
        assert key in on_disk, key
    assert on_disk["num_classes"] == 4 and on_disk["in_bands"] == 200 and on_disk["input_size"] == [9, 9]
    assert on_disk["macs"] == report["macs"] > 0
    assert not list(out.parent.glob(".*partial"))  # no staging leftovers


def test_trained_model_beats_majority_baseline_by_wide_margin(ip_run):
    out, report = ip_run
    test_counts = np.array(json.loads((out / "report.json").read_text())["confusion"]).sum(axis=1)
    majority = test_counts.max() / test_counts.sum()
    assert report["split"]["method"] == "spatial-blocks"
    assert report["oa"] >= majority + 0.25, (report["oa"], majority)
    assert report["kappa"] > 0.5


def test_eval_reproduces_reported_oa_exactly(ip_run):
    out, report = ip_run
    result = CliRunner().invoke(cli, ["eval", str(out), "--json"])
    assert result.exit_code == 0, result.output
    evaluated = json.loads(result.output)
    assert evaluated["oa"] == report["oa"]
    assert evaluated["kappa"] == report["kappa"]
    assert evaluated["confusion"] == report["confusion"]


def test_checkpoint_is_weights_only_and_round_trips(ip_run):
    out, _ = ip_run
    payload = torch.load(out / "model.pt", weights_only=True)
    assert payload["arch"]["model"] == "patchcnn"
    model, again = load_checkpoint(out)
    assert read_checkpoint(out / "model.pt")["input_spec"]["in_bands"] == 200
    for key, value in model.state_dict().items():
        assert torch.equal(value, payload["state_dict"][key])


def test_same_seed_same_run(tmp_path):
    reports = []
    for name in ("a", "b"):
        result = CliRunner().invoke(cli, ["train", "resnet8", "--epochs", "1", "--out", str(tmp_path / name),
                                          "--threads", "1", "--json", "--data", "synthetic,n=20"])
        assert result.exit_code == 0, result.output
        reports.append(json.loads(result.output))
    assert reports[0]["oa"] == reports[1]["oa"] and reports[0]["confusion"] == reports[1]["confusion"]
    a = torch.load(tmp_path / "a" / "model.pt", weights_only=True)["state_dict"]
    b = torch.load(tmp_path / "b" / "model.pt", weights_only=True)["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("argv,needle", [
    (["train", "resnet99", "--epochs", "1"], "unknown model 'resnet99'"),
    (["train", "resnet8", "--data", "hsi:/nonexistent/scene.mat"], "/nonexistent/scene.mat"),
    (["train", "resnet8", "--model-arg", "depth"], "KEY=VALUE"),
    (["eval", "/nonexistent/run"], "no checkpoint"),
])
def test_bad_input_is_one_line_and_nonzero(capsys, argv, needle):
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code != 0
    assert needle in err
    assert len(err.splitlines()) == 1 and "Traceback" not in err


def test_existing_output_is_not_clobbered(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert main(["train", "resnet8", "--epochs", "1", "--data", "synthetic,n=10", "--out", str(out)]) != 0
    assert "already exists" in capsys.readouterr().err
    assert (out / "keep.txt").read_text() == "mine"


def test_corrupt_checkpoint_is_refused(tmp_path, capsys):
    (tmp_path / "model.pt").write_bytes(b"not a zip")
    assert main(["eval", str(tmp_path)]) != 0
    assert "cannot read checkpoint" in capsys.readouterr().err


def test_help_explains_units():
    result = CliRunner().invoke(cli, ["--help"])
    assert "multiply-accumulates" in result.output
    for command in ("data", "models", "train", "eval"):
        sub = CliRunner().invoke(cli, [command, "--help"])
        assert sub.exit_code == 0 and "Usage" in sub.output


def test_eval_prints_class_names_not_numbers(ip_run):
    out, report = ip_run
    result = CliRunner().invoke(cli, ["eval", str(out)])
    assert result.exit_code == 0, result.output
    names = json.loads((out / "config.json").read_text()).get("class_names") or report.get("class_names")
    names = names or json.loads(CliRunner().invoke(cli, ["eval", str(out), "--json"]).output)["class_names"]
    assert len(names) == 4 and all(str(name) in result.output for name in names)
    assert "class 0" not in result.output
