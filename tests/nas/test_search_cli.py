"""End to end through the CLI on the real Indian Pines subset: search, derive, fit, retrain, artifacts."""
from __future__ import annotations

import json

import torch
from click.testing import CliRunner

from compactrs.cli import cli
from compactrs.cost import count_macs
from compactrs.models import build_model


def test_search_on_indian_pines_lands_on_the_target_or_says_it_missed(indian_pines, tmp_path):
    out = tmp_path / "run"
    args = ["search", "--data", f"hsi:{indian_pines}", "--flops-target", "5M", "--epochs", "1", "--retrain-epochs", "1",
            "--batch-size", "64", "--max-depth", "2", "--threads", "1", "--out", str(out), "--json"]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)  # stderr carries the per-epoch progress lines
    genotype = json.loads((out / "genotype.json").read_text())
    arch = json.loads((out / "arch.json").read_text())
    saved = json.loads((out / "report.json").read_text())
    assert saved["oa"] == report["oa"] and 0.0 <= report["oa"] <= 1.0
    # arch.json rebuilds the network the genotype describes, at the fitted width, with the reported MACs
    assert arch["model"] == "cellnet" and arch["kwargs"]["genotype"] == genotype["genotype"] == report["genotype"]
    assert arch["kwargs"]["init_channels"] == genotype["init_channels"] == report["init_channels"]
    macs = count_macs(build_model(arch), (1, 200, 9, 9))
    assert macs == report["macs"] == report["target"]["achieved_macs"] == genotype["macs"]
    target = report["target"]
    assert target["flops"] == 5_000_000 and target["tolerance"] == 0.1
    if target["met"]:
        assert 4_500_000 <= macs <= 5_000_000
    else:
        assert target["message"].startswith("MISSED") and "MISSED" in (out / "log.txt").read_text()
    assert report["search_seconds"] > 0 and report["retrain_seconds"] > 0
    assert report["latency_ms"]["measured"]["onnxruntime_cpu_b1"]["median_ms"] > 0
    for plot in ("search_arch_probs.png", "search_cost.png", "accuracy_vs_macs.png", "confusion.png"):
        assert (out / "plots" / plot).stat().st_size > 1000
    assert len((out / "search" / "metrics.jsonl").read_text().splitlines()) == 1
    payload = torch.load(out / "model.pt", weights_only=True)
    assert payload["arch"] == arch


def test_help_says_flops_are_macs():
    result = CliRunner().invoke(cli, ["search", "--help"])
    assert result.exit_code == 0
    assert "MACs" in result.output and "multiply-accumulates" in result.output


def test_a_budget_is_required():
    from compactrs.cli import main

    assert main(["search", "--epochs", "1"]) != 0


def test_resume_needs_out(capsys):
    from compactrs.cli import main

    assert main(["search", "--flops-target", "20M", "--resume"]) != 0
    assert "--resume needs the --out" in capsys.readouterr().err
