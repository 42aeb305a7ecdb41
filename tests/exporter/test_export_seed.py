"""``compactrs export RUN`` rebuilds the run's own split: a run trained with ``--seed 1`` exports without repeating
the seed (it failed as "normalised differently ... the data changed", because the split, and so the band means,
were drawn with export's default seed 0)."""
from __future__ import annotations

import json

from compactrs.cli import main


def test_a_run_trained_with_another_seed_exports_without_repeating_it(indian_pines, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "patchcnn", "--data", f"hsi:{indian_pines}", "--epochs", "1", "--threads", "1",
                 "--seed", "1", "--json", "--out", str(run)]) == 0
    capsys.readouterr()
    assert main(["export", str(run), "--no-simplify", "--json", "--out", str(tmp_path / "bundle")]) == 0
    manifest = json.loads(capsys.readouterr().out)
    parity = manifest["parity"]["onnxruntime_fp32"]
    assert parity["passed"] and parity["n_real"] > 0
