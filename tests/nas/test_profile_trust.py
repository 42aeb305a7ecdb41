"""A latency-target search says how well its profile predicted unseen networks of the data's input shape (the
shipped AMD EPYC profile: 24 % within ±10 % on 200-band 9×9 patches, 78–95 % on the 3- to 13-band tiles), in its
log and in the report, so a user knows how close to the target the landed network can be expected to measure."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from compactrs.cli import main
from compactrs.cost.kernel_latency import KernelProfile

PROFILE = Path(__file__).resolve().parents[2] / "profiles" / "amd-epyc-2c-onnxruntime-fp32-t1.json"


def _rows(shape):
    rows = json.loads(PROFILE.read_text())["validation"]["archs"]
    return [r for r in rows if (r["network"]["in_bands"], r["network"]["input_size"]) == shape]


def test_validation_at_splits_the_profiles_validation_by_input_shape():
    profile = KernelProfile.load(PROFILE)
    shapes = {tuple(s) for s in profile.space["inputs"]}
    total = 0
    for bands, side in shapes:
        at = profile.validation_at(bands, side)
        rows = _rows((bands, side))
        error = np.array([r["predicted_ms"] / r["measured_ms"] - 1 for r in rows])
        assert at["n"] == len(rows) and at["input"] == f"{bands}x{side}x{side}"
        assert at["within_10pct"] == pytest.approx(np.mean(np.abs(error) <= 0.1))
        assert at["mape_pct"] == pytest.approx(100 * np.mean(np.abs(error)))
        assert at["noise_floor"]["n"] == len(rows)
        total += at["n"]
    assert total == profile.validation["n"]  # every validated network is in one shape
    assert profile.validation_at(4, 16) is None
    assert "holds no validated network of 4x16x16 inputs" in profile.trust_line(4, 16)


def test_a_latency_target_search_logs_and_reports_the_profiles_accuracy_at_its_input(indian_pines, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["search", "--data", f"hsi:{indian_pines}", "--latency-target", "0.3ms", "--profile", str(PROFILE),
                 "--ops", "zero,skip_connect,conv_3x3,max_pool_3x3", "--nodes", "1", "--blocks", "1", "--max-depth", "2",
                 "--epochs", "1", "--retrain-epochs", "1", "--threads", "1", "--json", "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    at = report["latency_ms"]["predicted"]["validation_at_input"]
    assert at["input"] == "200x9x9" and at["n"] == len(_rows((200, 9)))
    log = (out / "search" / "log.txt").read_text()
    assert f"validation on 200x9x9 inputs: {at['n']} unseen networks, {at['within_10pct']:.0%} predicted within" in log
