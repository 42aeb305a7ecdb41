"""``compactrs prune RUN`` keeps the run's own split: a run trained with ``--seed 1`` and pruned without repeating
the seed was split with prune's default 0, so it was fine-tuned on samples of its own test half and its "before"
accuracy was not the run's."""
from __future__ import annotations

import json

import pytest

from compactrs.cli import main


def test_a_run_trained_with_another_seed_is_pruned_on_its_own_split(indian_pines, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "patchcnn", "--data", f"hsi:{indian_pines}", "--epochs", "2", "--threads", "1",
                 "--seed", "1", "--json", "--out", str(run)]) == 0
    base = json.loads(capsys.readouterr().out)
    assert main(["prune", str(run), "--flops-ratio", "0.5", "--search-epochs", "1", "--finetune-epochs", "1",
                 "--no-latency", "--threads", "1", "--json", "--out", str(tmp_path / "pruned")]) == 0
    summary = json.loads((tmp_path / "pruned" / "report.json").read_text())["prune"]
    # the run's accuracy, re-measured on the run's test set
    assert summary["before"]["oa"] == pytest.approx(base["oa"])
