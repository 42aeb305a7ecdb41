"""A latency-target search re-times a profile of this machine before it searches (``--retime``, on by default
there): its predictions, and so the width it lands, are stated at the machine's speed now, and the report says
by how much they were scaled. ``--no-retime`` keeps the profile as stored; ``--retime`` with a profile of another
machine is refused before any training."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from compactrs.cli import main
from compactrs.cost.kernel_latency import KernelProfile
from compactrs.deploy.machine import cpu_model

SHIPPED = Path(__file__).resolve().parents[2] / "profiles" / "amd-epyc-2c-onnxruntime-fp32-t1.json"
SMALL = ["--ops", "zero,skip_connect,conv_3x3,max_pool_3x3", "--nodes", "1", "--blocks", "1", "--max-depth", "2",
         "--epochs", "1", "--retrain-epochs", "1", "--threads", "1", "--json"]


def _profile_of(tmp_path: Path, cpu: str) -> Path:
    data = json.loads(SHIPPED.read_text())
    data["device"]["cpu"] = cpu
    path = tmp_path / f"profile-{abs(hash(cpu))}.json"
    path.write_text(json.dumps(data))
    return path


def _search(indian_pines, profile: Path, out: Path, *extra: str) -> int:
    return main(["search", "--data", f"hsi:{indian_pines}", "--latency-target", "0.3ms", "--profile", str(profile),
                 *SMALL, "--out", str(out), *extra])


@pytest.mark.parametrize("flag", [None, "--no-retime"])
def test_a_search_on_the_profiles_machine_re_times_it_unless_told_not_to(indian_pines, tmp_path, flag, capsys):
    profile = _profile_of(tmp_path, cpu_model())
    out = tmp_path / "run"
    assert _search(indian_pines, profile, out, *([flag] if flag else [])) == 0
    report = json.loads((out / "report.json").read_text())
    predicted = report["latency_ms"]["predicted"]
    log = (out / "search" / "log.txt").read_text()
    # the search priced its network with the re-timed profile: the stored profile's price × the factor
    stored = KernelProfile.load(SHIPPED).predict_genotype(report["genotype"], 200, 9, report["num_classes"],
                                                          report["init_channels"])
    if flag == "--no-retime":
        assert "retime" not in predicted and "re-timed" not in log
        assert predicted["ms"] == pytest.approx(stored, rel=0.02)
        return
    block = predicted["retime"]
    assert block["n"] >= 3 and block["prefer_input"] == [200, 9] and "networks" not in block
    assert block["ratio_min"] <= block["factor"] <= block["ratio_max"] and block["reference_ms"] > 0
    assert predicted["ms"] == pytest.approx(stored * block["factor"], rel=0.02)
    assert f"run {block['factor']:.2f}× their profiled time now" in log
    assert block["profiled_coefficients"] == pytest.approx(json.loads(SHIPPED.read_text())["network"]["coefficients"])


def test_retime_is_refused_before_training_for_a_profile_of_another_machine(indian_pines, tmp_path, capsys):
    profile = _profile_of(tmp_path, "Some Other CPU @ 1.0GHz")
    out = tmp_path / "run"
    assert _search(indian_pines, profile, out, "--retime") != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--retime" in err[0] and "Some Other CPU" in err[0]
    assert not (out / "report.json").exists()


def test_ranks_of_a_torchrun_search_do_not_each_re_time_the_profile(tmp_path):
    from compactrs._progress import Progress
    from compactrs.cost.kernel_latency import KernelProfile
    from compactrs.errors import ConfigError
    from compactrs.nas.api import _retime_for_search
    from compactrs.nas.config import SearchConfig

    profile = KernelProfile.load(_profile_of(tmp_path, cpu_model()))
    auto = SearchConfig(latency_target_ms=0.3, profile="p.json")
    same, message = _retime_for_search(profile, auto, 200, 9, Progress(), processes=2)
    assert same is profile and "2 search processes" in message and "profile retime" in message
    with pytest.raises(ConfigError, match="--retime: 2 search processes"):
        _retime_for_search(profile, SearchConfig(latency_target_ms=0.3, profile="p.json", retime=True), 200, 9,
                           Progress(), processes=2)
