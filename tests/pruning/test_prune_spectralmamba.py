"""Pruning a SpectralMamba: the mixers' inner width is one coupled unit, exact masks, the CLI lands the ratio."""
from __future__ import annotations

import copy
import json

import pytest
import torch
from click.testing import CliRunner

from compactrs.cli import cli
from compactrs.cost.flops import count_macs
from compactrs.models import build_model, create_model
from compactrs.nn.surgery import apply_prune_plan
from compactrs.pruning.gates import ChannelGates, fold_gates, magnitude_prior
from compactrs.pruning.graph import trace_channel_groups
from compactrs.pruning.plan import build_plan, search_threshold
from compactrs.training import load_checkpoint

SHAPE = (1, 200, 9, 9)


@pytest.fixture
def model_and_graph():
    torch.manual_seed(0)
    model = create_model("spectralmamba_s", 200, 16).eval()
    return model, trace_channel_groups(model, SHAPE)


def test_inner_widths_are_the_prunable_groups_and_the_table_is_exact(model_and_graph):
    model, graph = model_and_graph
    groups = graph.prunable_groups
    assert [(g.channels, g.producers, g.gate_points) for g in groups] == [
        (128, [f"blocks.{i}.mixer"], [f"blocks.{i}.mixer.inner_gate"]) for i in (0, 1)]
    assert graph.total_macs == count_macs(model, SHAPE) == model.macs(9, 9)
    # the token width is not a candidate, and the reason says why
    notes = [layer.note for layer in graph.layers if layer.kind == "width"]
    assert len(notes) == 2 and all("(64, on the last axis)" in note and "stays whole" in note for note in notes)


def test_soft_gates_fold_exactly_and_hard_masks_equal_the_pruned_network(model_and_graph):
    model, graph = model_and_graph
    gates = ChannelGates(graph, magnitude_prior(model, graph))
    with torch.no_grad():
        for score in gates.scores.values():
            score.add_(torch.randn_like(score))
    x = torch.randn(4, *SHAPE[1:])
    with torch.no_grad():
        gates.attach(model)
        soft = model(x)
        gates.detach()
        folded = copy.deepcopy(model)
        fold_gates(folded, gates)
        torch.testing.assert_close(folded(x), soft, atol=1e-5, rtol=1e-5)

        selection = search_threshold(graph, gates.normalised_scores(), 0.5, round_to=4, min_channels=8)
        plan = build_plan(graph, selection)
        assert set(plan["layers"]) <= {"blocks.0.mixer", "blocks.1.mixer"}
        masks = {gid: torch.zeros(graph.groups[gid].channels).index_fill_(0, torch.tensor(keep), 1.0)
                 for gid, keep in selection.keep.items()}
        gates.attach(folded, hard_masks=masks)
        masked = folded(x)
        gates.detach()
        pruned = apply_prune_plan(copy.deepcopy(folded), plan).eval()
        torch.testing.assert_close(pruned(x), masked, atol=1e-5, rtol=1e-5)
    assert abs(count_macs(pruned, SHAPE) / count_macs(model, SHAPE) / 0.5 - 1) <= 0.02
    kept = [len(selection.keep[g.id]) for g in graph.prunable_groups]
    assert [block.mixer.d_inner for block in pruned.blocks] == kept and all(k % 4 == 0 for k in kept)
    assert [block.mixer.A_log.shape[0] for block in pruned.blocks] == kept


@pytest.mark.slow  # 20 s to 3 min on the shared 2-core machine, by load: pre-train, score search, fine-tune
def test_prune_cli_lands_the_ratio_and_the_plan_replays(tmp_path, indian_pines):
    out = tmp_path / "pruned"
    result = CliRunner().invoke(cli, [
        "prune", "spectralmamba_s", "--data", f"hsi:{indian_pines}", "--flops-ratio", "0.5", "--round-to", "4",
        "--epochs", "1", "--search-epochs", "1", "--finetune-epochs", "1", "--no-latency", "--threads", "1",
        "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    summary = report["prune"]
    assert abs(summary["achieved_ratio"] / 0.5 - 1) <= 0.02
    assert any("stays whole" in entry["reason"] for entry in summary["kept_whole"])
    model, payload = load_checkpoint(out / "model.pt")
    assert count_macs(model, (1, 200, 9, 9)) == report["macs"]
    assert payload["arch"]["prune_plan"]["layers"]["blocks.0.mixer"]["type"] == "width"
    rebuilt = build_model(payload["arch"])
    rebuilt.load_state_dict(model.state_dict())
    x = torch.randn(2, 200, 9, 9)
    torch.testing.assert_close(rebuilt.eval()(x), model.eval()(x))
