"""The budget loss steers during the search: the derived net lands in the band with no post-hoc width change."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from compactrs.cli import cli


def _search(indian_pines, out, target, tolerance="0.1", epochs="2"):
    args = ["search", "--data", f"hsi:{indian_pines}", "--flops-target", target, "--tolerance", tolerance, "--epochs", epochs,
            "--retrain-epochs", "1", "--batch-size", "64", "--max-depth", "3", "--ops", "gdas", "--threads", "1",
            "--seed", "0", "--out", str(out), "--json"]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.slow
def test_a_short_search_lands_in_the_band_as_searched(indian_pines, tmp_path):
    report = _search(indian_pines, tmp_path / "run", "5M")
    target = report["target"]
    assert target["met"] is True and target["adjusted"] is False, target["message"]
    assert report["init_channels"] == report["search"]["search_init_channels"]
    assert 4_500_000 <= report["macs"] <= 5_000_000
    history = [json.loads(line) for line in (tmp_path / "run" / "search" / "metrics.jsonl").read_text().splitlines()]
    assert 4_500_000 <= history[-1]["derived_macs"] <= 5_000_000  # the search itself ended on budget


@pytest.mark.slow
def test_a_band_no_width_or_depth_can_hit_is_reported_missed(indian_pines, tmp_path):
    # a 0.01 % band: no genotype of this search, at any even width with depths ±1, costs within 500 MACs of 5M
    report = _search(indian_pines, tmp_path / "run", "5M", tolerance="0.0001", epochs="1")
    target = report["target"]
    assert target["met"] is False and target["message"].startswith("MISSED")
    saved = json.loads((tmp_path / "run" / "report.json").read_text())
    assert saved["target"]["met"] is False
    assert "MISSED the target band" in (tmp_path / "run" / "log.txt").read_text()
