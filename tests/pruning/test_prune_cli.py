"""End-to-end: train on the real Indian Pines data, prune the run through the CLI, fine-tune, replay the plan."""
import json
import sys

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from compactrs.cli import cli, main
from compactrs.models import build_model
from compactrs.training import load_checkpoint


@pytest.fixture(scope="module")
def pruned_run(tmp_path_factory, indian_pines):
    root = tmp_path_factory.mktemp("prune")
    data = f"hsi:{indian_pines}"
    trained = CliRunner().invoke(cli, ["train", "patchcnn", "--data", data, "--epochs", "5", "--threads", "1",
                                       "--out", str(root / "base"), "--json"])
    assert trained.exit_code == 0, trained.output
    result = CliRunner().invoke(cli, ["prune", str(root / "base"), "--flops-ratio", "0.5", "--round-to", "4",
                                      "--search-epochs", "2", "--finetune-epochs", "3", "--threads", "1",
                                      "--out", str(root / "pruned"), "--json"])
    assert result.exit_code == 0, result.output
    return root, json.loads(trained.output), json.loads(result.output)


def test_report_has_before_and_after_numbers(pruned_run):
    root, base, report = pruned_run
    on_disk = json.loads((root / "pruned" / "report.json").read_text())
    assert on_disk["task"] == "prune" and on_disk["macs"] == report["macs"]
    summary = on_disk["prune"]
    assert summary["source"]["kind"] == "run"
    assert summary["before"]["oa"] == pytest.approx(base["oa"])  # the run's own accuracy, re-measured
    assert summary["before"]["macs"] == base["macs"]
    assert abs(summary["after"]["macs"] / base["macs"] / 0.5 - 1) <= 0.02
    assert summary["achieved_ratio"] == pytest.approx(on_disk["macs"] / base["macs"])
    assert summary["after"]["params"] < summary["before"]["params"] == base["params"]
    for stage in ("before", "after"):
        for key in ("onnxruntime_cpu_b1", "onnxruntime_cpu_b32"):
            timing = summary[stage]["latency_ms"][key]
            assert timing["median_ms"] > 0 and timing["batch"] == int(key[-2:].lstrip("b"))
    assert set(summary["speedup_per_mac_reduction"]) == {"onnxruntime_cpu_b1", "onnxruntime_cpu_b32"}
    assert on_disk["latency_ms"]["measured"]["onnxruntime_cpu_b1"]["median_ms"] == summary["after"]["latency_ms"]["onnxruntime_cpu_b1"]["median_ms"]
    assert len(summary["search"]) == 2 and all("expected_ratio" in e for e in summary["search"])
    assert on_disk["target"]["flops_ratio"] == 0.5
    assert 0 <= summary["after_surgery"]["oa"] <= 1


def test_fine_tuned_accuracy_is_well_above_majority(pruned_run):
    root, _, report = pruned_run
    counts = np.array(report["confusion"]).sum(axis=1)
    majority = counts.max() / counts.sum()
    assert report["oa"] >= majority + 0.2, (report["oa"], majority)


def test_plan_replays_on_a_fresh_model_with_the_saved_weights(pruned_run):
    root, _, report = pruned_run
    run = root / "pruned"
    plan = json.loads((run / "prune_plan.json").read_text())
    arch = json.loads((run / "arch.json").read_text())
    assert arch["prune_plan"] == plan and plan["layers"]
    payload = torch.load(run / "model.pt", weights_only=True)
    model = build_model(payload["arch"])
    model.load_state_dict(payload["state_dict"], strict=True)
    loaded, _ = load_checkpoint(run)
    x = torch.randn(8, 200, 9, 9)
    with torch.no_grad():
        assert torch.equal(model.eval()(x), loaded(x))
    kept = {g["kept"] for g in plan["groups"]}
    assert all(k % 4 == 0 and k < 64 for k in kept)
    evaluated = CliRunner().invoke(cli, ["eval", str(run), "--json"])
    assert evaluated.exit_code == 0, evaluated.output
    assert json.loads(evaluated.output)["oa"] == report["oa"]


FACTORY = '''
from torch import nn

def small_cnn(in_bands, num_classes):
    return nn.Sequential(nn.Conv2d(in_bands, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
                         nn.Conv2d(32, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, num_classes))

def dense_only(in_bands, num_classes):
    return nn.Sequential(nn.Flatten(), nn.Linear(in_bands * 16 * 16, num_classes))
'''


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    (tmp_path / "my_nets.py").write_text(FACTORY)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "my_nets"
    sys.modules.pop("my_nets", None)


def test_user_factory_is_pruned_and_rebuilt(tmp_path, user_module):
    out = tmp_path / "run"
    result = CliRunner().invoke(cli, ["prune", f"{user_module}:small_cnn", "--data", "synthetic,n=20,size=16",
                                      "--flops-ratio", "0.5", "--round-to", "4", "--epochs", "1", "--search-epochs", "1",
                                      "--finetune-epochs", "1", "--threads", "1", "--no-latency", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["prune"]["source"] == {"kind": "factory", "model": "my_nets:small_cnn"}
    assert abs(report["prune"]["achieved_ratio"] / 0.5 - 1) <= 0.02
    model, _ = load_checkpoint(out)
    assert model[3].out_channels < 32


@pytest.mark.parametrize("args,needle", [
    (["resnet8", "--flops-ratio", "0.001"], "smallest reachable ratio"),
    (["resnet8", "--flops-target", "50G"], "is not below the network's"),
    (["resnet8"], "exactly one of --flops-ratio"),
    (["{mod}:dense_only", "--flops-ratio", "0.5"], "nothing in 'my_nets:dense_only' can be pruned"),
    (["{mod}:missing", "--flops-ratio", "0.5"], "has no callable 'missing'"),
])
def test_bad_requests_fail_fast_with_one_line(tmp_path, capsys, user_module, args, needle):
    argv = ["prune", *[a.format(mod=user_module) for a in args], "--data", "synthetic,n=10,size=16",
            "--epochs", "1", "--out", str(tmp_path / "never")]
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code != 0 and needle in err, err
    assert len(err.splitlines()) == 1
    assert not (tmp_path / "never").exists()


def test_cell_network_prunes_inside_ops_and_explains_its_floor(tmp_path):
    from compactrs.errors import TargetError
    from compactrs.nn.cells import random_genotype
    from compactrs.pruning import PruneConfig, prune

    genotype = random_genotype(np.random.default_rng(0), blocks=3, max_depth=1)
    common = dict(pretrain_epochs=0, search_epochs=1, finetune_epochs=1, threads=1, latency=False)
    report = prune("cellnet", "synthetic,n=12,size=16", PruneConfig(flops_ratio=0.8, round_to=1, min_channels=1, **common),
                   out=tmp_path / "cell", model_kwargs={"genotype": genotype})
    assert abs(report["prune"]["achieved_ratio"] / 0.8 - 1) <= 0.02
    model, _ = load_checkpoint(tmp_path / "cell")
    assert sum(p.numel() for p in model.parameters()) == report["params"] < report["prune"]["before"]["params"]
    with pytest.raises(TargetError, match="of the MACs are in layers whose channels must stay"):
        prune("cellnet", "synthetic,n=12,size=16", PruneConfig(flops_ratio=0.3, **common), out=tmp_path / "never",
              model_kwargs={"genotype": genotype})


@pytest.mark.parametrize("runtime", ["onnxruntime", "torch"])
def test_latency_without_a_thread_count_records_the_real_one(runtime):
    # prune's default (no --threads) once reported "None threads"; every latency record must say what ran
    from compactrs.runtime import measure_latency
    from compactrs.runtime.latency import REPORT_TIMING

    nn = torch.nn
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))
    fast = type(REPORT_TIMING)(warmup=1, min_runs=3, min_seconds=0.0)
    (entry,) = measure_latency(net, (3, 8, 8), runtime, (1,), threads=None, config=fast).values()
    assert isinstance(entry["threads"], int) and entry["threads"] >= 1, entry
