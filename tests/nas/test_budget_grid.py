"""Issue 9, item 1: a short search at each of 2M, 5M, 20M and 40M MACs on 13-band 64x64 EuroSAT tiles and on
200-band 9x9 Indian Pines patches completes (no signal, no traceback), keeps its first cells at >= 8 channels, lands
in its MAC band, and its network exports and validates against the PyTorch reference."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from compactrs.units import parse_count

BUDGETS = ["2M", "5M", "20M", "40M"]


def _run(args: list[str], cwd, timeout: int = 600) -> subprocess.CompletedProcess:
    # its own process: a memory corruption in a backward pass would end it with a signal, not end the test session
    return subprocess.run([sys.executable, "-m", "compactrs.cli", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd)


@pytest.mark.slow  # eight searches and exports in their own processes, 4.5 min on 2 cores
@pytest.mark.parametrize("target", BUDGETS)
@pytest.mark.parametrize("data", ["eurosat_ms", "indian_pines"])
def test_a_short_search_at_every_budget_lands_and_exports(data, target, shared_data, indian_pines, tmp_path):
    spec = f"eurosat:{shared_data / 'eurosat_ms'}" if data == "eurosat_ms" else f"hsi:{indian_pines}"
    run = tmp_path / "run"
    searched = _run(["search", "--data", spec, "--flops-target", target, "--epochs", "1", "--retrain-epochs", "1",
                     "--threads", "1", "--seed", "1", "--json", "--out", str(run)], tmp_path)
    assert searched.returncode == 0, f"search exit {searched.returncode}: {searched.stderr[-2000:]}"
    report = json.loads(searched.stdout)
    budget = parse_count(target)
    assert 0.9 * budget <= report["macs"] <= budget, f"{report['macs']} MACs outside the band of {target}"
    stride = report["genotype"]["stem"]["stride"]
    assert report["init_channels"] >= 8 and stride in (1, 2, 4)

    exported = _run(["export", str(run), "--no-simplify", "--json", "--out", str(tmp_path / "bundle")], tmp_path)
    assert exported.returncode == 0, f"export exit {exported.returncode}: {exported.stderr[-2000:]}"
    parity = json.loads(exported.stdout)["parity"]["onnxruntime_fp32"]  # the ONNX model against PyTorch, real data
    assert parity["passed"] and parity["n_real"] > 0
