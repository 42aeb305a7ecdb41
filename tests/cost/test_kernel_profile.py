"""Kernel-level latency profiles, measured for real on a tiny region (2 ops, 8×8 inputs, widths 4–8)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from compactrs.cli import main
from compactrs.cost._kernel_model import KernelRegressor
from compactrs.cost.kernel_latency import KERNEL_PROFILE_SCHEMA, KernelProfile
from compactrs.cost.latency import load_profile
from compactrs.errors import ConfigError
from compactrs.nas.costs import CostTable, LatencyCost
from compactrs.nas.space import supernet_layout
from compactrs.nn.cells import random_genotype

REPO = Path(__file__).resolve().parents[2]
OPS = ("sep_conv_3x3", "max_pool_3x3")
TINY = ["--inputs", "3x8", "--init-channels", "4,6,8", "--classes", "3", "--ops", ",".join(OPS), "--blocks", "2",
        "--max-depth", "1", "--node-runs", "3", "--min-seconds", "0.01", "--clock", "cpu"]


# runs a script with torch and compactrs unimportable (what a device has: numpy + the runtime)
_NO_TORCH = """
import sys, runpy
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "compactrs"):
            raise ImportError("blocked in this test: " + name)
sys.meta_path.insert(0, Block())
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


@pytest.fixture(scope="module")
def kernel_profile(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("kprofile") / "tiny.json"
    assert main(["profile", *TINY, "--fit-archs", "4", "--out", str(out)]) == 0
    return out


def test_a_profile_is_timed_against_the_reference_graph_by_default(kernel_profile):
    data = json.loads(kernel_profile.read_text())
    assert data["measurement"]["timing"]["reference"] is True
    reference = data["measurement"]["machine_state"]["reference"]
    assert reference["windows"] >= 2 * 4 and reference["spread"] >= 0


def test_profile_is_plain_json_with_samples_region_and_machine_state(kernel_profile):
    data = json.loads(kernel_profile.read_text())
    assert data["schema"] == KERNEL_PROFILE_SCHEMA and data["threads"] == 1
    assert data["space"]["init_channels"] == [4, 6, 8] and data["space"]["inputs"] == [[3, 8]]
    assert data["network"]["fit"]["n"] == 4 + data["kernels"]["coverage"]["added"]
    # the per-run term never exceeds the measured time of an empty graph (it was fitted at 2 ms before)
    network = data["network"]
    assert 0 < network["per_run_measured_us"] < 1000
    assert 0 <= network["coefficients"]["per_run_us"] <= network["per_run_measured_us"]
    # each network's kernels are stated at one machine speed (the reference graph timed around its profile)
    speed = data["kernels"]["machine_speed"]
    assert speed["anchor_ms"] > 0 and speed["factor_min"] <= 1.0 <= speed["factor_max"]
    types = set(data["kernels"]["samples"])
    assert any(t.endswith("conv.dw") for t in types) and any("maxpool" in t for t in types)
    assert set(data["measurement"]["phases_s"]) >= {"fit networks exported + profiled", "every network timed end to end"}
    state = data["measurement"]["machine_state"]
    assert {"contended", "reason", "cpu_per_wall", "other_cpu_share"} <= set(state)
    assert ("warning" in data["measurement"]) == state["contended"]
    assert isinstance(load_profile(kernel_profile), KernelProfile)


def test_regressor_round_trips_through_json(kernel_profile):
    samples = json.loads(kernel_profile.read_text())["kernels"]["samples"]
    kind = max(samples, key=lambda k: len(samples[k]["us"]))
    fitted = KernelRegressor.from_json(samples[kind])
    again = KernelRegressor.from_json(json.loads(json.dumps(fitted.to_json())))
    rows = np.asarray(samples[kind]["rows"])
    assert np.allclose(fitted.predict(rows), again.predict(rows))
    assert np.all(fitted.predict(rows) > 0)



def test_search_pieces_agree_with_the_whole_graph_prediction(kernel_profile, roofline_priced):
    profile = roofline_priced(kernel_profile)
    table = CostTable(LatencyCost(profile), supernet_layout(8, 6, 1, 2, 1, 4), OPS, 3, 8, 3, 4)
    rng = np.random.default_rng(5)
    for _ in range(2):
        genotype = random_genotype(rng, OPS, 4, 2, 1)
        whole = profile.predict_genotype(genotype, 3, 8, 3, init_channels=6)
        pieces = profile.genotype_pieces(genotype, 3, 8, 3, init_channels=6)
        assert pieces["total"] == pytest.approx(whole, rel=1e-6)  # summed in another order
        # each op priced in a reference cell vs this network's own fusions and layouts: close, not identical
        assert table.discrete(genotype) == pytest.approx(whole, rel=0.10)


@pytest.mark.parametrize("nodes, blocks", [(2, 1), (1, 2)])
def test_pieces_of_fewer_nodes_and_blocks_agree_with_the_whole_graph(kernel_profile, roofline_priced, nodes, blocks):
    # the profile's networks had 4-node cells in 2 blocks; smaller cells and fewer blocks are priced in their own
    # context cells (node sums and concatenation of that many nodes) and with the head at their final side
    profile = roofline_priced(kernel_profile)
    table = CostTable(LatencyCost(profile, nodes, blocks), supernet_layout(8, 6, 1, blocks, 1, nodes), OPS, 3, 8, 3, nodes)
    rng = np.random.default_rng(7)
    for _ in range(2):
        genotype = random_genotype(rng, OPS, nodes, blocks, 1)
        whole = profile.predict_genotype(genotype, 3, 8, 3, init_channels=6)
        assert table.discrete(genotype) == pytest.approx(whole, rel=0.10)
    assert "1–2 blocks, 1–4 nodes per cell" in profile.region()


def test_width_adjustment_lands_on_what_an_uncached_profile_predicts(kernel_profile):
    from compactrs.nas.derive import Budget, BudgetSpace, fit_budget

    profile = KernelProfile.load(kernel_profile)
    space = BudgetSpace(3, 8, 3, OPS, blocks=2, max_depth=1, profile=profile)
    genotype = random_genotype(np.random.default_rng(2), OPS, 4, 2, 1)
    target = profile.predict_genotype(genotype, 3, 8, 3, init_channels=8) * 1.02
    fit = fit_budget(space, [Budget("latency_ms", target, 0.1)], genotype, 4)
    fresh = KernelProfile.load(kernel_profile)  # nothing cached: its own export and session
    uncached = fresh.predict_genotype(fit.genotype, 3, 8, 3, init_channels=fit.init_channels)
    assert fit.costs["latency_ms"] == pytest.approx(uncached, rel=1e-12)
    assert fit.costs["latency_ms"] == profile.predict_genotype(fit.genotype, 3, 8, 3, init_channels=fit.init_channels)
    pieces = fresh.genotype_pieces(fit.genotype, 3, 8, 3, init_channels=fit.init_channels)
    assert pieces["total"] == pytest.approx(uncached, rel=1e-6)  # summed in another order


def test_query_outside_the_region_is_refused_naming_it(kernel_profile):
    profile = KernelProfile.load(kernel_profile)
    genotype = random_genotype(np.random.default_rng(0), OPS, 4, 2, 1)
    with pytest.raises(ConfigError, match=r"does not cover init_channels 32: it covers .*init_channels 4–8"):
        profile.predict_genotype(genotype, 3, 8, 3, init_channels=32)
    with pytest.raises(ConfigError, match=r"does not cover input 13 bands × 64²"):
        profile.predict_genotype(genotype, 13, 64, 3, init_channels=6)
    deeper = random_genotype(np.random.default_rng(0), OPS, 4, 3, 1)
    with pytest.raises(ConfigError, match=r"does not cover depths \[1, 1, 1\]: it covers .*1–2 blocks"):
        profile.predict_genotype(deeper, 3, 8, 3, init_channels=6)
    wider_cells = random_genotype(np.random.default_rng(0), OPS, 5, 2, 1)
    with pytest.raises(ConfigError, match=r"does not cover cells of 5 nodes: it covers .*1–4 nodes per cell"):
        profile.predict_genotype(wider_cells, 3, 8, 3, init_channels=6)
    with pytest.raises(ConfigError, match=r"does not cover networks of 3 blocks"):
        LatencyCost(profile, 4, 3).fixed(3, 8, 6, 24, 3)
    other = random_genotype(np.random.default_rng(0), ["dil_conv_3x3"], 4, 2, 1)
    with pytest.raises(ConfigError, match=r"ops \['dil_conv_3x3'\]"):
        profile.predict_genotype(other, 3, 8, 3, init_channels=6)


def test_validate_gate_exits_3_and_leaves_the_profile_alone(kernel_profile, tmp_path, capsys):
    data = json.loads(kernel_profile.read_text())
    data["network"]["coefficients"]["scale"] *= 20  # a profile that predicts 20× too slow
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(data))
    before, listing = broken.read_bytes(), sorted(p.name for p in tmp_path.iterdir())
    plot = tmp_path / "plots" / "scatter.png"
    code = main(["profile", "validate", str(broken), "--archs", "3", "--drift-archs", "1", "--min-within", "0.5",
                 "--plot", str(plot)])
    captured = capsys.readouterr()
    assert code == 3 and "below --min-within 50%" in captured.err
    assert "re-timing (noise floor)" in captured.out and "macs_linear" in captured.out
    assert broken.read_bytes() == before  # not rewritten without --write
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(listing + ["plots"])


def test_validate_write_records_noise_floor_and_drift(kernel_profile, tmp_path):
    copy = tmp_path / "p.json"
    copy.write_text(kernel_profile.read_text())
    assert main(["profile", "validate", str(copy), "--archs", "3", "--drift-archs", "1", "--write"]) == 0
    block = json.loads(copy.read_text())["validation"]
    assert block["n"] == 3 and len(block["archs"]) == 3
    assert block["noise_floor"]["n"] == 3 and all(len(row["round_ms"]) >= 2 for row in block["archs"])
    assert block["drift"]["n"] == 1 and block["drift"]["median_ratio"] > 0
    # the predictions scaled by the drift of the same rounds: what 'profile retime' would have given
    scaled = [row["predicted_ms"] * block["drift"]["median_ratio"] / row["measured_ms"] - 1 for row in block["archs"]]
    assert block["baselines"]["profile × drift"]["mape_pct"] == pytest.approx(100 * np.mean(np.abs(scaled)))
    fitted = [row["network"] for row in json.loads(copy.read_text())["network"]["fit"]["networks"]]
    assert not any(row["network"] in fitted for row in block["archs"])
    assert "contended" in block["machine_state"]


def test_validate_refuses_in_one_line_when_no_network_can_be_priced(kernel_profile, tmp_path, capsys):
    data = json.loads(kernel_profile.read_text())
    pools = [t for t in data["kernels"]["samples"] if "maxpool" in t]
    depthwise = [t for t in data["kernels"]["samples"] if t.endswith("conv.dw")]
    assert pools and depthwise
    # a profile whose fitting networks never ran a pooling or a depthwise kernel: every network of the region
    # (some are drawn from one op only) runs one of them
    for kind in pools + depthwise:
        del data["kernels"]["samples"][kind]
    blind = tmp_path / "blind.json"
    blind.write_text(json.dumps(data))
    before = blind.read_bytes()
    assert main(["profile", "validate", str(blind), "--archs", "3", "--drift-archs", "0", "--write"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "none of the 3 validation networks could be priced" in err
    assert "maxpool" in err and "--fit-archs" in err
    assert blind.read_bytes() == before


def test_networks_the_profile_cannot_price_are_counted_apart_from_the_metrics():
    from compactrs.cost._kernel_pipeline import validation_block

    rows = [{"network": {"i": i}, "macs": 1000 * (i + 1), "measured_ms": 1.0 + i, "round_ms": [1.0 + i, 1.05 + i]}
            for i in range(4)]
    fit_rows = [{"macs": 1000, "measured_ms": 1.0}, {"macs": 4000, "measured_ms": 4.0}]
    block = validation_block(rows, [1.0, None, 3.0, 4.8], fit_rows, unpriced_types=[[], ["ov.eltwise"], [], []])
    assert block["n"] == 3 and [row["predicted_ms"] for row in block["archs"]] == [1.0, 3.0, 4.8]
    assert block["within_10pct"] == pytest.approx(2 / 3) and block["unpriced"]["n"] == 1
    assert block["unpriced"]["types"] == ["ov.eltwise"]
    assert block["noise_floor"]["n"] == 4 and block["baselines"]["macs_linear"]["n"] == 3


def test_validate_with_reference_timing_records_the_reference_as_machine_state(kernel_profile, tmp_path, capsys):
    copy = tmp_path / "p.json"
    copy.write_text(kernel_profile.read_text())
    assert main(["profile", "validate", str(copy), "--archs", "3", "--drift-archs", "0", "--timing", "reference",
                 "--write"]) == 0
    assert "reference graph:" in capsys.readouterr().out
    block = json.loads(copy.read_text())["validation"]
    reference = block["machine_state"]["reference"]
    assert reference["windows"] >= 6 and reference["window_min_ms"] <= reference["median_ms"] <= reference["window_max_ms"]
    assert all(len(row["round_ms"]) >= 2 and row["measured_ms"] > 0 for row in block["archs"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.json"]


def test_device_path_emit_runner_import(tmp_path):
    """--emit writes networks, the runner (torch and compactrs unimportable) profiles their kernels, and
    --from-measurements builds the same kind of profile, validation included."""
    import subprocess
    import sys

    folder = tmp_path / "graphs"
    assert main(["profile", *TINY, "--fit-archs", "3", "--validate-archs", "3", "--emit", str(folder)]) == 0
    manifest = json.loads((folder / "manifest.json").read_text())
    assert [item["role"] for item in manifest["items"]] == ["fit"] * 3 + ["validate"] * 3
    result = subprocess.run([sys.executable, "-c", _NO_TORCH, str(folder / "deploy" / "profile_runner.py"), str(folder),
                             "--min-seconds", "0.01", "--clock", "cpu", "--threads", "1", "--quiet", "--timing", "reference"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    measurements = json.loads((folder / "measurements.json").read_text())
    records = measurements["records"]
    assert measurements["conditions"]["reference"]["windows"] >= 2 * 6  # every network's runs paired with it
    assert all("nodes" in r and (folder / r["optimized"]).is_file() for r in records[:3])
    assert all(len(r["round_ms"]) >= 2 for r in records)
    out = tmp_path / "device.json"
    assert main(["profile", "--from-measurements", str(folder), "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["schema"] == KERNEL_PROFILE_SCHEMA and data["network"]["fit"]["n"] == 3
    assert data["validation"]["n"] == 3 and data["validation"]["noise_floor"]["n"] == 3
    assert "contended" in data["measurement"]["machine_state"]


def test_sampled_networks_spread_over_size_decades_small_ones_included():
    from compactrs.cost import _kernel_build as kb
    from compactrs.cost._kernel_pipeline import KernelProfileConfig

    space = KernelProfileConfig(ops=("zero", "skip_connect", "sep_conv_3x3", "mbconv_e6_k5")).space()
    specs = kb.sample_specs(space, 40, seed=0)
    pool = np.log([kb.size_proxy(s) for s in kb._draw_specs(space, kb.POOL_FACTOR * 40, 40, 0, None, (), None)])
    small = pool.min() + (pool.max() - pool.min()) / 4  # the smallest quarter of the log-size range
    sizes = np.log([kb.size_proxy(s) for s in specs])
    assert np.sum(sizes <= small) >= 40 // 4 - 1
    assert sizes.min() == pool.min() and sizes.max() == pool.max()  # the whole range stays covered
    assert len({json.dumps(s, sort_keys=True) for s in specs}) == 40
    again = kb.sample_specs(space, 40, seed=0)
    assert again == specs
    # networks shaped like a budget search's result (one cell per block, most edges zero) are in the sample
    def budget_like(spec):
        edges = [op for cell in ("normal", "reduce") for op, _ in spec["genotype"][cell]]
        return spec["genotype"]["depths"] == [1, 1, 1] and sum(op == "zero" for op in edges) >= 0.6 * len(edges)
    assert sum(map(budget_like, specs)) >= 40 // 8
    # and networks built from one or two ops (a searched network is one kind of op almost everywhere)
    def ops_used(spec):
        return {op for cell in ("normal", "reduce") for op, _ in spec["genotype"][cell]} - {"zero"}
    assert sum(len(ops_used(spec)) <= 2 for spec in specs) >= 40 // 8
    # fitting networks are capped at two cells per block, except deep narrow ones (the deep width-16 networks a
    # latency search derives): full depth, from the narrowest third of the widths
    capped = kb.sample_specs(space, 40, seed=0, max_depth=2)
    deep = [spec for spec in capped if max(spec["genotype"]["depths"]) > 2]
    assert len(deep) >= 2
    assert all(spec["init_channels"] <= sorted(space["init_channels"])[len(space["init_channels"]) // 3 - 1]
               for spec in deep)


def test_network_term_takes_the_profilers_per_node_overhead_off():
    from compactrs.cost._kernel_build import fit_network_term

    # profiled Σ = true time + 5 µs per kernel; end to end = 20 µs per run + the true time
    rng = np.random.default_rng(0)
    nets = []
    for _ in range(12):
        n, true_us = int(rng.integers(50, 700)), float(rng.uniform(500, 100_000))
        nets.append({"n_kernels": n, "kernel_us": true_us + 5.0 * n, "measured_ms": (20.0 + true_us) / 1e3})
    c = fit_network_term(nets, cheapest_kernel_us=8.0)
    assert c["per_kernel_us"] == pytest.approx(-5.0, abs=0.3) and c["scale"] == pytest.approx(1.0, abs=0.02)
    capped = fit_network_term(nets, cheapest_kernel_us=2.0)  # never more overhead than the cheapest kernel
    assert capped["per_kernel_us"] >= -2.0 - 1e-9


def test_network_term_fits_the_least_a_kernel_costs():
    from compactrs.cost._kernel_build import fit_network_term
    from compactrs.cost.kernel_latency import network_ms

    # each kernel really costs its profiled price less 5 µs of profiler overhead, but never under 1.5 µs (the
    # executor's dispatch); networks differ in their share of tiny kernels (a deep 9×9 network is mostly tiny ones)
    rng = np.random.default_rng(2)
    nets, prices = [], []
    for _ in range(40):
        n = int(rng.integers(50, 1500))
        p = np.where(rng.random(n) < rng.uniform(0.0, 1.0), rng.uniform(2.0, 8.0, n), rng.lognormal(3.0, 0.5, n))
        true_us = 20.0 + np.maximum(p - 5.0, 1.5).sum()
        nets.append({"n_kernels": n, "kernel_us": float(p.sum()), "predicted_kernel_us": float(p.sum()),
                     "measured_ms": true_us / 1e3})
        prices.append(p)
    c = fit_network_term(nets, cheapest_kernel_us=3.0, per_run_us=30.0, prices=prices)
    assert c["floor_us"] == pytest.approx(1.5, abs=0.15)
    assert c["per_kernel_us"] == pytest.approx(-5.0, abs=0.3) and c["scale"] == pytest.approx(1.0, abs=0.02)
    errors = [abs(network_ms(c, p) / n["measured_ms"] - 1) for n, p in zip(nets, prices)]
    assert max(errors) < 0.02
    # fitted on the sums alone, the term is linear and misprices the networks of many tiny kernels
    linear = fit_network_term(nets, cheapest_kernel_us=3.0, per_run_us=30.0)
    assert linear["floor_us"] == pytest.approx(0.1)
    assert max(abs(network_ms(linear, p) / n["measured_ms"] - 1) for n, p in zip(nets, prices)) > 0.05


def test_network_term_is_not_pulled_low_by_noisy_timings():
    from compactrs.cost._kernel_build import fit_network_term

    # the same true relation as above, each end-to-end time off by a lognormal factor (σ = 0.3, as a noisy VM's
    # small networks), and five networks timed in a 3× slow phase
    rng = np.random.default_rng(1)
    nets, true_ms = [], []
    for i in range(200):
        n, true_us = int(rng.integers(50, 700)), float(rng.uniform(500, 100_000))
        noise = 3.0 if i < 5 else float(np.exp(rng.normal(0.0, 0.3)))
        nets.append({"n_kernels": n, "kernel_us": true_us + 5.0 * n, "measured_ms": (20.0 + true_us) * noise / 1e3})
        true_ms.append((20.0 + true_us) / 1e3)
    c = fit_network_term(nets, cheapest_kernel_us=8.0)
    predicted = np.array([(c["per_run_us"] + c["per_kernel_us"] * n["n_kernels"] + c["scale"] * n["kernel_us"]) / 1e3
                          for n in nets])
    # the predictions are the true times, not pulled under them (squared relative errors priced these 9 % low: median ratio 0.91)
    assert np.median(predicted / np.array(true_ms)) == pytest.approx(1.0, abs=0.04)
    assert c["scale"] == pytest.approx(1.0, abs=0.04)


def test_network_term_is_fitted_on_the_predicted_kernel_sums(kernel_profile):
    from compactrs.cost._kernel_build import cheapest_kernel_us, fit_network_term

    data = json.loads(kernel_profile.read_text())
    rows = data["network"]["fit"]["networks"]
    assert all(row["predicted_kernel_us"] > 0 for row in rows)
    # the stored coefficients are those of the predicted kernel prices (kernel by kernel: the floor is fitted on
    # them), not of the profiled sums
    from compactrs.cost._kernel_validate import _spec_key
    from compactrs.cost.kernel_latency import KernelProfile

    profile = KernelProfile.load(kernel_profile)
    prices = [profile.kernel_us(profile._spec_kernels(_spec_key(row["network"]))) for row in rows]
    assert [float(p.sum()) for p in prices] == pytest.approx([row["predicted_kernel_us"] for row in rows], rel=1e-6)
    cheapest = cheapest_kernel_us(data["kernels"]["samples"])
    refit = fit_network_term(rows, cheapest, data["network"]["per_run_measured_us"], prices)
    assert refit == pytest.approx(data["network"]["coefficients"], rel=1e-3, abs=1e-3)
    assert set(refit) == {"per_run_us", "per_kernel_us", "scale", "floor_us"}
    profiled = fit_network_term([{k: v for k, v in row.items() if k != "predicted_kernel_us"} for row in rows], cheapest,
                                data["network"]["per_run_measured_us"])
    assert profiled != pytest.approx(refit)


def test_refit_rebuilds_the_network_term_from_stored_measurements(tmp_path, capsys):
    made = tmp_path / "made.json"
    assert main(["profile", *TINY, "--fit-archs", "3", "--validate-archs", "3", "--out", str(made)]) == 0
    data = json.loads(made.read_text())
    old = tmp_path / "old.json"  # as a profile whose term was fitted on the profiled kernel sums
    for row in data["network"]["fit"]["networks"]:
        del row["predicted_kernel_us"]
    data["network"]["coefficients"]["scale"] *= 3
    old.write_text(json.dumps(data))
    before = old.read_bytes()
    capsys.readouterr()
    out = tmp_path / "refit" / "new.json"
    assert main(["profile", "refit", str(old), "--out", str(out)]) == 0
    assert "stored validation networks (3)" in capsys.readouterr().out
    assert old.read_bytes() == before  # the input is not touched
    new = json.loads(out.read_text())
    made_coefficients = json.loads(made.read_text())["network"]["coefficients"]
    # the pipeline's own fit again; a coefficient the solver leaves at its bound of zero comes back as any value
    # below a nanosecond (5.09e-8 µs against 5.12e-8 µs in one CI run), hence the absolute tolerance of 1 ns
    assert new["network"]["coefficients"] == pytest.approx(made_coefficients, rel=1e-3, abs=1e-3)
    assert new["network"]["refit"]["previous_coefficients"]["scale"] == pytest.approx(3 * made_coefficients["scale"])
    assert all(row["predicted_kernel_us"] > 0 for row in new["network"]["fit"]["networks"])
    assert [r["measured_ms"] for r in new["validation"]["archs"]] == [r["measured_ms"] for r in data["validation"]["archs"]]
    assert new["validation"]["noise_floor"] == data["validation"]["noise_floor"]  # nothing re-timed
    assert "within_10pct" in new["validation"]["refit"]["previous"]
    for args in ([str(old)], [str(old), "--out", str(out), "--write"]):
        assert main(["profile", "refit", *args]) == 2
        err = capsys.readouterr().err.strip()
        assert "exactly one of them" in err and len(err.splitlines()) == 1


def test_coverage_probes_list_the_whole_regions_kernel_types(kernel_profile):
    data = json.loads(kernel_profile.read_text())
    coverage = data["kernels"]["coverage"]
    assert coverage["probes"] == 2 and 0 <= coverage["added"] <= 2  # a fifth of 4 fitting networks, at least 2
    assert set(coverage["types_added"]) <= set(data["kernels"]["samples"])
    assert data["network"]["fit"]["n"] == 4 + coverage["added"]
    assert "coverage probes" in data["measurement"]["phases_s"]


def test_networks_export_in_worker_processes_to_the_same_graphs(tmp_path, monkeypatch):
    import onnx

    from compactrs.cost import _kernel_build as kb
    from compactrs.cost._kernel_pipeline import KernelProfileConfig

    space = KernelProfileConfig(inputs=((3, 8),), init_channels=(4,), ops=OPS + ("zero",), blocks=2, max_depth=1).space()
    specs = kb.sample_specs(space, kb.MIN_PARALLEL_EXPORTS, 3)
    graphs = {}
    for workers in ("1", "2"):
        monkeypatch.setenv("COMPACTRS_EXPORT_WORKERS", workers)
        folder = tmp_path / workers
        folder.mkdir()
        items = kb.emit_networks(specs, folder, 1, "fit", start=5)
        assert [item["file"] for item in items] == [f"fit-{i:03d}.onnx" for i in range(5, 5 + len(specs))]
        assert sorted(p.name for p in folder.iterdir()) == [item["file"] for item in items]  # no job files left
        graphs[workers] = [[n.op_type for n in onnx.load(folder / item["file"]).graph.node] for item in items]
    assert graphs["1"] == graphs["2"]
    # every share of zero edges is drawn, up to sparse networks like those budget searches derive
    shares = [np.mean([op == "zero" for cell in ("normal", "reduce") for op, _ in s["genotype"][cell]]) for s in specs]
    assert max(shares) > 0.4


def test_validate_region_of_a_narrower_profile_scores_it_on_every_network(kernel_profile, tmp_path, capsys):
    data = json.loads(kernel_profile.read_text())
    data["space"]["init_channels"] = [6]  # a profile that measured one width of the region, as old op tables did
    narrow = tmp_path / "narrow.json"
    narrow.write_text(json.dumps(data))
    code = main(["profile", "validate", str(kernel_profile), "--archs", "3", "--drift-archs", "0", "--seed", "11",
                 "--region-of", str(narrow), "--compare", str(narrow), "--json"])
    block = json.loads(capsys.readouterr().out)
    assert code == 0
    assert block["region"]["init_channels"] == [6] and block["region"]["of"] == str(narrow)
    assert block["baselines"]["narrow"]["n"] == block["n"] == 3  # every network inside the narrower profile's region
    assert list(block["by_input"]) == ["3x8x8"] and block["by_input"]["3x8x8"]["n"] == 3  # the one input shape
    # without --region-of the same narrower profile is scored on part of the networks at most
    assert main(["profile", "validate", str(kernel_profile), "--archs", "4", "--drift-archs", "0", "--seed", "11",
                 "--compare", str(narrow), "--json"]) == 0
    whole = json.loads(capsys.readouterr().out)
    assert whole["baselines"].get("narrow", {"n": 0})["n"] < 4 and "region" not in whole


def test_validate_scores_two_compared_profiles_of_the_same_file_name(kernel_profile, tmp_path, capsys):
    copies = []
    for folder in ("old", "new"):
        (tmp_path / folder).mkdir()
        copies.append(tmp_path / folder / "device.json")
        copies[-1].write_text(kernel_profile.read_text())
    assert main(["profile", "validate", str(kernel_profile), "--archs", "3", "--drift-archs", "0", "--seed", "3",
                 "--compare", str(copies[0]), "--compare", str(copies[1]), "--json"]) == 0
    baselines = json.loads(capsys.readouterr().out)["baselines"]
    assert {str(copies[0]), str(copies[1])} <= set(baselines)  # neither hides the other
    assert baselines[str(copies[0])]["n"] == baselines[str(copies[1])]["n"] == 3


def test_validate_region_of_refuses_in_one_line(kernel_profile, tmp_path, capsys):
    data = json.loads(kernel_profile.read_text())
    data["space"]["init_channels"] = [32]  # no width in common
    other = tmp_path / "other.json"
    other.write_text(json.dumps(data))
    assert main(["profile", "validate", str(kernel_profile), "--archs", "3", "--region-of", str(other)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "share no init_channels" in err and "[32]" in err
    assert main(["profile", "validate", str(kernel_profile), "--archs", "3", "--region-of", str(kernel_profile),
                 "--write"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--region-of" in err and "--write" in err
