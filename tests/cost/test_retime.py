"""``compactrs profile retime``: a profile of this machine restated at the speed the machine runs now.

The shipped AMD EPYC profile's own networks ran 1.15–1.26× their profiled time on the same VM a day later, and it
under-predicted 60 fresh networks by 21 % until re-timed. These tests run the real re-timing (real networks, real
onnxruntime timing) on a copy of the shipped profile whose device is this machine, and check what it writes and
that every prediction scales by the factor it measured.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from compactrs.cli import main
from compactrs.cost._retime import choose_networks
from compactrs.cost.kernel_latency import KernelProfile
from compactrs.deploy.machine import cpu_model

SHIPPED = Path(__file__).resolve().parents[2] / "profiles" / "amd-epyc-2c-onnxruntime-fp32-t1.json"
GENOTYPE = {"normal": [["sep_conv_3x3", 0], ["skip_connect", 1], ["dil_conv_3x3", 0], ["max_pool_3x3", 2]],
            "reduce": [["max_pool_3x3", 0], ["sep_conv_3x3", 1], ["conv_3x3", 2], ["skip_connect", 0]],
            "depths": [1, 1, 1], "concat": [2, 3]}


def _profile_of(tmp_path: Path, cpu: str) -> Path:
    data = json.loads(SHIPPED.read_text())
    data["device"]["cpu"] = cpu
    path = tmp_path / "profile.json"
    path.write_text(json.dumps(data))
    return path


def test_retime_scales_every_prediction_by_the_median_ratio_it_measured(tmp_path, capsys):
    source = _profile_of(tmp_path, cpu_model())
    before = source.read_bytes()
    out = tmp_path / "retimed.json"
    assert main(["profile", "retime", str(source), "--out", str(out), "--networks", "3", "--input", "3x32",
                 "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert source.read_bytes() == before  # --out leaves the input alone
    retimed = KernelProfile.load(out)
    block = retimed.data["retime"]
    stored = {json.dumps(r["network"], sort_keys=True): r["measured_ms"]
              for r in json.loads(before)["network"]["fit"]["networks"]}
    assert block["n"] == 3 and summary["factor"] == pytest.approx(block["factor"])
    ratios = []
    for timed in block["networks"]:
        spec = timed["network"]
        assert (spec["in_bands"], spec["input_size"]) == (3, 32)  # --input's networks first
        assert timed["stored_ms"] == stored[json.dumps(spec, sort_keys=True)]
        ratios.append(timed["now_ms"] / timed["stored_ms"])
    assert block["factor"] == pytest.approx(float(np.median(ratios)))
    assert 0.2 < block["factor"] < 5 and not block["machine_state"]["contended"]
    original = KernelProfile.load(source)
    for key, value in original.coefficients.items():
        assert retimed.coefficients[key] == pytest.approx(value * block["factor"])
    ms = [p.predict_genotype(GENOTYPE, 3, 32, 10, init_channels=16) for p in (original, retimed)]
    assert ms[1] / ms[0] == pytest.approx(block["factor"], rel=0.02)  # the kernel floor aside, exactly the factor
    # re-timed again: from the profiled coefficients (its stored times are the profiled ones), not compounded
    again = tmp_path / "again.json"
    assert main(["profile", "retime", str(out), "--out", str(again), "--networks", "2", "--json"]) == 0
    second = KernelProfile.load(again)
    assert second.data["retime"]["profiled_coefficients"] == pytest.approx(original.coefficients)
    for key, value in original.coefficients.items():
        assert second.coefficients[key] == pytest.approx(value * second.data["retime"]["factor"])


def test_retime_refuses_a_profile_of_another_machine_and_writes_nothing(tmp_path, capsys):
    source = _profile_of(tmp_path, "Some Other CPU @ 1.0GHz")
    out = tmp_path / "retimed.json"
    assert main(["profile", "retime", str(source), "--out", str(out)]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Some Other CPU" in err[0] and "compactrs profile" in err[0]
    assert not out.exists()


def test_retime_refuses_a_profile_of_the_same_model_string_with_other_instruction_sets(tmp_path, capsys):
    from compactrs.deploy.machine import cpu_isa

    source = _profile_of(tmp_path, cpu_model())
    data = json.loads(source.read_text())
    here = cpu_isa()
    if here is None:
        pytest.skip("this machine's /proc/cpuinfo lists no instruction-set flags to compare")
    data["device"]["isa"] = ["avx512_bf16"] if "avx512_bf16" not in here else []
    source.write_text(json.dumps(data))
    out = tmp_path / "retimed.json"
    assert main(["profile", "retime", str(source), "--out", str(out)]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "other kernels" in err[0] and not out.exists()


def test_retime_wants_exactly_one_destination(tmp_path, capsys):
    source = _profile_of(tmp_path, cpu_model())
    assert main(["profile", "retime", str(source)]) != 0
    assert main(["profile", "retime", str(source), "--out", str(tmp_path / "x.json"), "--write"]) != 0
    assert "exactly one" in capsys.readouterr().err


def _row(bands, side, ms):
    return {"network": {"in_bands": bands, "input_size": side}, "measured_ms": ms}


def test_choose_networks_takes_the_datas_input_first_spread_over_its_times_and_caps_slow_ones():
    rows = [_row(200, 9, ms) for ms in (0.2, 0.4, 0.8, 1.6, 3.2)] + [_row(3, 32, ms) for ms in (0.5, 5.0, 50.0)]
    chosen = choose_networks(rows, 3, prefer_input=(200, 9))
    assert [rows[i]["measured_ms"] for i in chosen] == [0.2, 0.8, 3.2]  # both ends and the middle
    chosen = choose_networks(rows, 7, prefer_input=(200, 9), max_ms=10.0)
    assert [rows[i]["measured_ms"] for i in chosen] == [0.2, 0.4, 0.8, 1.6, 3.2, 0.5, 5.0]  # then the others, not 50
    assert len(choose_networks(rows, 20)) == len(rows)
