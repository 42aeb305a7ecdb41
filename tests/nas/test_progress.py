"""One progress line per search epoch (for stderr without a terminal), warm-up epochs skip architecture steps."""
from __future__ import annotations

import torch

from compactrs._progress import Progress
from compactrs.data import load_dataset
from compactrs.nas.config import SearchConfig
from compactrs.nas.derive import BudgetSpace
from compactrs.nas.loop import BiLevelSearch


class Lines(Progress):
    def __init__(self):
        self.lines = []

    def log(self, message: str) -> None:
        self.lines.append(message)


def test_each_epoch_reports_one_line_and_warm_up_leaves_the_architecture_alone(tmp_path):
    dataset = load_dataset("synthetic,n=8,size=8", seed=0)
    config = SearchConfig(flops_target=400_000, epochs=2, warmup_epochs=1, batch_size=6, max_depth=2, initial_depth=1,
                          seed=3, ops="zero,skip_connect,sep_conv_3x3", threads=1)
    space = BudgetSpace(dataset.in_bands, 8, dataset.num_classes, config.ops, max_depth=2, min_width=4)
    progress = Lines()
    engine = BiLevelSearch(config, dataset, 4, space.table("macs", 4), None, tmp_path / "work", progress=progress)
    before = [p.detach().clone() for p in engine.arch]
    engine.run_epoch()
    assert all(torch.equal(a, b) for a, b in zip(before, engine.arch))  # warm-up: weights only
    engine2 = BiLevelSearch(config, dataset, 4, space.table("macs", 4), None, tmp_path / "work2", progress=progress)
    engine2.run()
    assert not all(torch.equal(a, b) for a, b in zip(before, engine2.arch))
    epoch_lines = [line for line in progress.lines if line.startswith("search epoch")]
    assert len(epoch_lines) == 2
    assert epoch_lines[0].startswith("search epoch 1/2 (weight warm-up)") and "train acc" in epoch_lines[0]
    assert "E[MACs]" in epoch_lines[1] and "vs band [0.36M, 0.40M]" in epoch_lines[1] and epoch_lines[1].endswith(" s")


def test_the_cli_prints_epoch_lines_on_stderr_without_a_terminal(tmp_path):
    import subprocess
    import sys

    args = [sys.executable, "-m", "compactrs.cli", "search", "--data", "synthetic,n=8,size=8", "--flops-target", "400K",
            "--tolerance", "0.5", "--epochs", "2", "--retrain-epochs", "1", "--max-depth", "2", "--batch-size", "6",
            "--init-channels", "4", "--ops", "zero,skip_connect,sep_conv_3x3", "--threads", "1", "--out", str(tmp_path / "run")]
    result = subprocess.run(args, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = [line for line in result.stderr.splitlines() if line.startswith("search epoch")]
    assert [line.split(",")[0] for line in lines] == ["search epoch 1/2", "search epoch 2/2"]
