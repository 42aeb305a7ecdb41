"""Latency profiles: measured for real on a tiny search space (2 ops, one context, 4 channels, 8×8 inputs)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from compactrs.cli import main
from compactrs.cost._build import load_results, profile_from_results
from compactrs.cost._schema import PROFILE_SCHEMA
from compactrs.nn.geometry import cellnet_geometry
from compactrs.cost.latency import LatencyProfile
from compactrs.errors import ArtifactError
from compactrs.models import create_model
from compactrs.nn.cells import random_genotype

REPO = Path(__file__).resolve().parents[2]
TINY = ["--method", "ops", "--in-bands", "3", "--input-size", "8", "--init-channels", "4", "--classes", "3",
        "--ops", "sep_conv_3x3,max_pool_3x3", "--blocks", "2", "--max-depth", "1", "--min-seconds", "0.01"]
GENOTYPE = {"normal": [["sep_conv_3x3", 0], ["max_pool_3x3", 1], ["sep_conv_3x3", 2], ["max_pool_3x3", 0],
                       ["max_pool_3x3", 3], ["sep_conv_3x3", 1], ["sep_conv_3x3", 4], ["sep_conv_3x3", 2]],
            "reduce": [["max_pool_3x3", 0], ["sep_conv_3x3", 1], ["sep_conv_3x3", 2], ["max_pool_3x3", 1],
                       ["sep_conv_3x3", 0], ["max_pool_3x3", 3], ["max_pool_3x3", 4], ["sep_conv_3x3", 2]],
            "depths": [1, 1]}




@pytest.fixture(scope="module")
def emitted(tmp_path_factory) -> Path:
    """Op graphs + 3 fitting + 3 validation networks of the tiny space, as a device would receive them."""
    folder = tmp_path_factory.mktemp("graphs")
    assert main(["profile", *TINY, "--fit-archs", "3", "--validate-archs", "3", "--emit", str(folder)]) == 0
    return folder


@pytest.fixture(scope="module")
def tiny_profile(emitted, device_python) -> Path:
    """The emitted folder measured by deploy/profile_runner.py with torch and compactrs unimportable."""
    result = device_python(REPO / "compactrs" / "deploy" / "profile_runner.py", emitted, "--min-seconds", "0.01", "--quiet", timeout=300)
    assert result.returncode == 0, result.stderr
    out = emitted.parent / "tiny.json"
    assert main(["profile", "--from-measurements", str(emitted), "--out", str(out)]) == 0
    return out


def test_profile_json_has_the_schema_and_round_trips(tiny_profile, tmp_path):
    data = json.loads(tiny_profile.read_text())
    assert data["schema"] == PROFILE_SCHEMA
    assert data["runtime"]["name"] == "onnxruntime" and data["threads"] == 1 and data["batch"] == 1
    assert data["device"]["cores"] == os.cpu_count()
    ops = {entry["op"] for entry in data["entries"]}
    assert {"sep_conv_3x3", "max_pool_3x3", "relu_conv_bn", "factorized_reduce", "add", "concat", "stem", "head"} == ops
    for entry in data["entries"]:
        assert entry["median_ms"] >= 0 and entry["p90_ms"] >= 0 and entry["n"] >= 50
        assert entry["median_ms"] == pytest.approx(max(0.0, entry["graph_median_ms"] - entry["baseline_ms"]))
    assert data["overhead"]["fit"]["n"] == 3 and len(data["overhead"]["fit"]["networks"]) == 3
    profile = LatencyProfile.load(tiny_profile)
    profile.save(tmp_path / "copy.json")
    assert json.loads((tmp_path / "copy.json").read_text()) == data


def test_network_plan_matches_the_cellnet_it_describes():
    genotype = random_genotype(__import__("numpy").random.default_rng(3), nodes=4, blocks=3, max_depth=2)
    model = create_model("cellnet", 5, 3, genotype=genotype, init_channels=6).eval()
    seen = []
    for cell in model.cells:
        cell.register_forward_hook(lambda m, inputs, output: seen.append(
            (inputs[0].shape[1], inputs[1].shape[1], inputs[1].shape[2], inputs[0].shape[2], output.shape[2])))
    with torch.no_grad():
        model(torch.zeros(1, 5, 11, 11))
    plan = cellnet_geometry(genotype["depths"], 11, 6)
    assert [(c.c_prev_prev, c.c_prev, c.size, c.size_prev_prev, c.node_size) for c in plan.cells] == seen
    assert plan.final_channels == model.classifier.in_features


def test_predictor_is_the_sum_of_its_parts(tiny_profile):
    profile = LatencyProfile.load(tiny_profile)
    k = profile.coefficients
    # Hand-walked CellNet (stem 4 ch at 8², depths [1, 1]): normal(4 ch @8), reduce(8 ch, 8→4), normal(8 ch @4).
    cells = [(4, 4, 4, 8, False, False), (4, 16, 8, 8, True, False), (16, 32, 8, 4, False, True)]
    total = profile.fixed_ms(3, 8, 4, 32, 3)
    for c_pp, c_p, c, size, reduction, reduction_prev in cells:
        total += profile.cell_base_ms(c_pp, c_p, c, size, reduction, reduction_prev)
        pairs = GENOTYPE["reduce" if reduction else "normal"]
        for op, source in pairs:
            stride = 2 if reduction and source < 2 else 1
            edge_size = size if stride == 2 or not reduction else 4
            total += profile.edge_ms(op, c, edge_size, stride)
    assert profile.predict_genotype(GENOTYPE, 3, 8, 3, init_channels=4) == pytest.approx(total, rel=1e-12)
    # edge_ms is the linear form scale · entry + per-edge cost, and a real measurement is behind it.
    entry = profile.entry("sep_conv_3x3", 4, 4, 8, 1)
    assert entry > 0
    assert profile.edge_ms("sep_conv_3x3", 4, 8, 1) == pytest.approx(
        k["scale:sep_conv_3x3"] * entry + k["edge:sep_conv_3x3"])
    assert profile.fixed_ms(3, 8, 4, 32, 3) == pytest.approx(
        k["scale:fixed"] * (profile.entry("stem", 3, 4, 8) + profile.entry("head", 32, 3, 4)) + k["per_inference"])


def test_unmeasured_context_fails_with_what_was_measured(tiny_profile):
    profile = LatencyProfile.load(tiny_profile)
    with pytest.raises(ArtifactError, match=r"sep_conv_3x3 with 24→24 channels .* it measured sep_conv_3x3 at 4ch@8px"):
        profile.edge_ms("sep_conv_3x3", 24, 8, 1)
    with pytest.raises(ArtifactError, match="--init-channels"):
        profile.predict_genotype(GENOTYPE, 3, 8, 3, init_channels=8)


@pytest.mark.parametrize("content,problem", [
    ("{not json", "not readable JSON"),
    (json.dumps({"schema": "something/else"}), "schema is 'something/else'"),
    (json.dumps({"schema": PROFILE_SCHEMA, "device": {}}), "missing keys"),
])
def test_corrupt_or_wrong_schema_profile_is_a_clear_error(tmp_path, capsys, content, problem):
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    with pytest.raises(ArtifactError, match=problem):
        LatencyProfile.load(bad)
    assert main(["profile", "validate", str(bad), "--archs", "3"]) != 0
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and problem.split()[0] in err and str(bad) in err


def test_missing_profile_is_a_clear_error(tmp_path):
    with pytest.raises(ArtifactError, match="does not exist; measure one with 'compactrs profile"):
        LatencyProfile.load(tmp_path / "nope.json")


def test_validate_writes_the_validation_block_and_a_plot(tiny_profile, tmp_path, capsys):
    profile_path = tmp_path / "p.json"
    profile_path.write_text(tiny_profile.read_text())
    plot = tmp_path / "scatter.png"
    assert main(["profile", "validate", str(profile_path), "--archs", "3", "--plot", str(plot), "--write"]) == 0
    printed = capsys.readouterr().out
    assert "within±10%" in printed and "macs_linear" in printed
    block = json.loads(profile_path.read_text())["validation"]
    assert block["n"] == 3 and len(block["archs"]) == 3 and 0.0 <= block["within_10pct"] <= 1.0
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    fitted = [row["network"] for row in json.loads(profile_path.read_text())["overhead"]["fit"]["networks"]]
    assert not any(row["network"] in fitted for row in block["archs"])
    profile = LatencyProfile.load(profile_path)
    for row in block["archs"]:
        spec = row["network"]
        assert row["predicted_ms"] == pytest.approx(profile.predict_genotype(
            spec["genotype"], spec["in_bands"], spec["input_size"], spec["num_classes"], spec["init_channels"]))


def test_profile_runner_output_matches_the_manifest(emitted, tiny_profile):
    manifest = json.loads((emitted / "manifest.json").read_text())
    results = load_results(emitted)
    assert results["runtime"]["name"] == "onnxruntime" and results["threads"] == 1
    assert [r["file"] for r in results["records"]] == [item["file"] for item in manifest["items"]]
    assert all(r["median_ms"] > 0 and r["p90_ms"] >= r["median_ms"] and r["n"] >= 50 for r in results["records"])
    data = json.loads(tiny_profile.read_text())
    assert data["validation"]["n"] == 3 and data["overhead"]["fit"]["n"] == 3
    assert isinstance(data["measurement"]["conditions"]["contended"], bool)  # the device's state, carried into the profile
    assert (emitted / "deploy" / "profile_runner.py").is_file()  # the runner travels with the graphs
    # The same records rebuild the same profile.
    rebuilt = profile_from_results(results, emitted.parent / "again.json")
    assert rebuilt.predict_genotype(GENOTYPE, 3, 8, 3, init_channels=4) == pytest.approx(
        LatencyProfile.load(tiny_profile).predict_genotype(GENOTYPE, 3, 8, 3, init_channels=4))


def test_profile_measures_in_process_and_fits(tmp_path):
    # One block: no reduction cells, so a handful of graphs; two fitting networks.
    out = tmp_path / "one-block.json"
    args = ["profile", "--method", "ops", "--in-bands", "2", "--input-size", "6", "--init-channels", "4", "--classes", "2",
            "--ops", "sep_conv_3x3,skip_connect", "--blocks", "1", "--max-depth", "2", "--fit-archs", "2",
            "--min-seconds", "0.01", "--clock", "cpu", "--out", str(out)]
    assert main(args) == 0
    profile = LatencyProfile.load(out)
    assert profile.data["measurement"]["timing"]["clock"] == "cpu"
    assert profile.data["measurement"]["conditions"]["reason"]  # contended or quiet, and why
    assert {e["op"] for e in profile.data["entries"]} == {"sep_conv_3x3", "skip_connect", "relu_conv_bn", "add",
                                                         "concat", "stem", "head"}
    assert profile.data["overhead"]["fit"]["n"] == 2 and profile.data["validation"] is None


def test_cpu_clock_needs_one_thread(capsys):
    assert main(["profile", "--method", "ops", "--clock", "cpu", "--threads", "2", "--out", "unused.json"]) != 0
    assert "needs --threads 1" in capsys.readouterr().err
    assert main(["profile", "--clock", "cpu", "--threads", "2", "--out", "unused.json"]) != 0
    assert "needs --threads 1" in capsys.readouterr().err


def test_runner_is_blocked_from_torch_for_real(tmp_path, device_python):
    script = tmp_path / "probe.py"
    script.write_text("import torch\n")
    result = device_python(script, timeout=60)
    assert result.returncode != 0 and "torch is not available on the device" in result.stderr


def test_unread_cell_inputs_are_not_priced(tiny_profile):
    # compactrs/nn/cells.py builds no preprocessing for an input no edge reads; the predictor must agree.
    profile = LatencyProfile.load(tiny_profile)
    both = profile.cell_base_ms(4, 4, 4, 8, False, False)
    only_prev = profile.cell_base_ms(4, 4, 4, 8, False, False, reads={1})
    assert only_prev == pytest.approx(both - profile.coefficients["scale:cell_base"] * profile.entry("relu_conv_bn", 4, 4, 8))
