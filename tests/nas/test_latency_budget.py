"""Latency budgets through the profile protocol, with a tiny hand-made TEST table (not a measured profile)."""
from __future__ import annotations

import numpy as np
import pytest

from compactrs.nn.cells import random_genotype
from compactrs.nas import search
from compactrs.nas.derive import BudgetSpace

OPS = ("zero", "skip_connect", "sep_conv_3x3", "max_pool_3x3")
SPEC = "synthetic,n=8,size=8"


class TinyTestLatencyTable:
    """A made-up latency table implementing the LatencyProfile protocol, for tests only.

    Costs are simple formulas of channels and sizes; ``predict_genotype`` walks the CellNet structure on its
    own (independently of compactrs.search), so the search's per-piece table can be checked against it.
    """

    runtime = "test-table"
    OP_MS = {"zero": 0.0, "skip_connect": 0.002, "sep_conv_3x3": 0.03, "max_pool_3x3": 0.01}

    def edge_ms(self, op, channels, size, stride):
        out = (size + 1) // 2 if stride == 2 else size
        return self.OP_MS[op] * channels * out * out / 64 + (0.004 if stride == 2 else 0.0)

    def cell_base_ms(self, c_prev_prev, c_prev, channels, size, reduction, reduction_prev):
        return 0.01 + 1e-4 * (c_prev_prev + c_prev) * channels * size * size / 64 + (0.005 if reduction else 0.0)

    def fixed_ms(self, in_bands, input_size, stem_channels, final_channels, num_classes):
        return 0.05 + 1e-5 * in_bands * stem_channels * input_size ** 2 + 1e-4 * final_channels * num_classes

    def predict_genotype(self, genotype, in_bands, input_size, num_classes, init_channels=16, stem_multiplier=1):
        c = init_channels
        c_pp = c_p = c * stem_multiplier
        size, red_prev, total = input_size, False, self.fixed_ms(in_bands, input_size, c * stem_multiplier, 0, num_classes)
        for block, depth in enumerate(genotype["depths"]):
            kinds = ([True] if block else []) + [False] * depth
            for reduction in kinds:
                c = c * 2 if reduction else c
                total += self.cell_base_ms(c_pp, c_p, c, size, reduction, red_prev)
                node_size = (size + 1) // 2 if reduction else size
                for op, source in genotype["reduce" if reduction else "normal"]:
                    strided = reduction and source < 2
                    total += self.edge_ms(op, c, size if strided else node_size, 2 if strided else 1)
                c_pp, c_p, red_prev, size = c_p, 4 * c, reduction, node_size
        return total + 1e-4 * c_p * num_classes


def reads_both_inputs(genotype):
    """Make node 0 of both cell types read inputs 0 and 1 (no dead cells: the test table has no liveness)."""
    for t in ("normal", "reduce"):
        genotype[t][0][1], genotype[t][1][1] = 0, 1
    return genotype


def test_latency_table_matches_the_profiles_own_prediction():
    profile = TinyTestLatencyTable()
    space = BudgetSpace(10, 8, 6, OPS, max_depth=3, profile=profile)
    rng = np.random.default_rng(0)
    for width in (4, 6):
        for _ in range(4):
            g = reads_both_inputs({**random_genotype(rng, OPS, max_depth=3)})
            table_ms = space.table("latency_ms", width).discrete(g)
            assert table_ms == pytest.approx(profile.predict_genotype(g, 10, 8, 6, init_channels=width), rel=1e-12)


def test_search_with_a_latency_target(tmp_path, capsys):
    from compactrs.commands.search import print_search_report
    from compactrs.deploy.machine import describe_machine

    profile = TinyTestLatencyTable()
    profile.data = {"device": {"cpu": "Made-up CPU 9000"}}  # a profile measured on another machine
    profile.runtime, profile.precision = "onnxruntime", "fp32"
    space = BudgetSpace(10, 8, 6, OPS, max_depth=2, profile=profile)
    low, high = space.extremes("latency_ms", 4)
    target = low + 0.5 * (high - low)
    report = search(SPEC, out=tmp_path / "run", latency_target_ms=target, profile="tiny-test-table", latency_profile=profile,
                    epochs=1, retrain_epochs=0, batch_size=6, max_depth=2, initial_depth=1, init_channels=4, ops=",".join(OPS),
                    threads=1)
    assert report["target"]["latency_ms"] == pytest.approx(target)
    predicted = report["latency_ms"]["predicted"]["ms"]
    assert predicted == pytest.approx(profile.predict_genotype(report["genotype"], 10, 8, 6, init_channels=report["init_channels"]))
    if report["target"]["met"]:
        assert target * 0.9 <= predicted <= target * (1 + 1e-9)
    else:
        assert report["target"]["message"].startswith("MISSED")
    assert "onnxruntime_cpu_b1" in report["latency_ms"]["measured"]
    assert (tmp_path / "run" / "plots" / "search_cost.png").is_file()
    # the report says the time measured here is another machine's than the one the target was priced for
    here = describe_machine()["cpu"]
    assert (report["latency_ms"]["predicted"]["profile_cpu"], report["machine"]["cpu"]) == ("Made-up CPU 9000", here)
    print_search_report(report)
    assert f"the profile was measured on 'Made-up CPU 9000', this machine is '{here}'" in capsys.readouterr().out
    # the same model string: the note appears only where the recorded instruction-set extensions differ
    import copy
    same = copy.deepcopy(report)
    same["latency_ms"]["predicted"].update(profile_cpu=here, profile_isa=report["machine"]["isa"])
    print_search_report(same)
    assert "note " not in capsys.readouterr().out
    if report["machine"]["isa"] is not None:
        same["latency_ms"]["predicted"]["profile_isa"] = report["machine"]["isa"] + ["amx_tile"]
        print_search_report(same)
        assert f"the profile was measured on a '{here}' with " in capsys.readouterr().out
    # a profile of another machine: the width stays the one its prediction chose
    # without --measured-landing the width is the prediction's, and the report says how to land on measured time
    landing = report["latency_ms"]["landing"]
    assert landing["applied"] is False and "--measured-landing" in landing["message"]


class ThisMachineTable(TinyTestLatencyTable):
    """The same made-up table, claiming to be an onnxruntime FP32 profile of this machine."""

    runtime, precision = "onnxruntime", "fp32"

    def __init__(self):
        from compactrs.deploy.machine import cpu_model

        # the reference graph's median while the profile was timed: landing times are stated at that speed
        self.data = {"device": {"cpu": cpu_model()},
                     "measurement": {"machine_state": {"reference": {"median_ms": 0.05}}}}


def test_measured_landing_with_a_profile_of_this_machine_lands_on_times_measured_here(tmp_path):
    profile = ThisMachineTable()
    space = BudgetSpace(10, 8, 6, OPS, max_depth=2, profile=profile)
    low, high = space.extremes("latency_ms", 4)
    target = low + 0.5 * (high - low)
    report = search(SPEC, out=tmp_path / "run", latency_target_ms=target, profile="this-machine", latency_profile=profile,
                    epochs=1, retrain_epochs=0, batch_size=6, max_depth=2, initial_depth=1, init_channels=4,
                    ops=",".join(OPS), threads=1, measured_landing=True)
    landing = report["latency_ms"]["landing"]
    assert landing["applied"] is True
    times = {int(w): ms for w, ms in landing["widths"].items()}
    widths = sorted(times)
    assert landing["predicted_width"] in times and all(w % 2 == 0 for w in widths)
    # the timed width whose time is the largest at or under the target is kept (else the fastest): the run's width
    under = [w for w in widths if times[w] <= target]
    assert landing["chosen"] == (max(under, key=times.get) if under else min(times, key=times.get)) == report["init_channels"]
    kept_ms = landing["depths"][str(landing["chosen_depths"])]
    assert landing["chosen_depths"] == report["genotype"]["depths"]
    assert landing["landed"] == (target * 0.9 <= kept_ms <= target) == report["target"]["met"]
    assert "measured here" in report["target"]["message"] or "MISSED the measured band" in report["target"]["message"]
    # each width was timed beside the reference graph and stated at the profile's machine speed; the retrained
    # network was timed the same way
    assert set(landing["raw_ms"]) == set(landing["widths"]) and all(v > 0 for v in landing["raw_ms"].values())
    assert "0.0500 ms" in landing["timing"] and landing["trained_ms"] > 0 and landing["trained_raw_ms"] > 0
    # the retrained network's time is compared with the time its width was landed on
    retrained = landing["retrained"]
    assert retrained["trained_over_landed"] == pytest.approx(landing["trained_ms"] / kept_ms)
    assert retrained["trained_in_band"] == (target * 0.9 <= landing["trained_ms"] <= target)
    assert retrained["steady"] == (abs(landing["trained_ms"] / kept_ms - 1) <= 0.1)


def test_retrained_check_says_when_the_machine_moved_between_landing_and_retraining():
    from compactrs.nas.landing import retrained_check

    landing = {"chosen_depths": [2, 1, 1], "depths": {"[2, 1, 1]": 0.95, "[3, 1, 1]": 1.2}}
    steady = retrained_check(landing, 0.97, target=1.0, tolerance=0.1)
    assert steady["steady"] and steady["trained_in_band"] and "WARNING" not in steady["message"]
    assert steady["trained_over_landed"] == pytest.approx(0.97 / 0.95)
    # the same graph 1.4x slower minutes later: outside the band, and the record says the machine moved
    moved = retrained_check(landing, 1.33, target=1.0, tolerance=0.1)
    assert not moved["steady"] and not moved["trained_in_band"]
    assert "1.330 ms, 1.40x the 0.950 ms" in moved["message"] and "not steady enough" in moved["message"]
    # in the band but 10.5 % off its landing time: still flagged
    drift = retrained_check(landing, 0.85, target=0.94, tolerance=0.1)
    assert drift["trained_in_band"] and not drift["steady"]


def test_measured_landing_keeps_the_width_nearest_under_the_target():
    from compactrs.nas.derive import Budget, BudgetFit
    from compactrs.nas.landing import MAX_MEASURED, land_by_measurement

    def fit(width):
        return BudgetFit({"depths": [1]}, width, {"latency_ms": 1.0}, True, False, "predicted", {})

    def linear(genotype, width):  # 0.1 ms per channel
        return 0.1 * width, False

    budget = Budget("latency_ms", 1.5, 0.1)  # band [1.35, 1.5]: width 14 (1.4 ms) only
    for start in (8, 14, 20, 30):
        landed, record = land_by_measurement(fit(start), budget, 4, linear)
        assert (landed.init_channels, landed.met, record["landed"]) == (14, True, True)
        assert landed.costs["latency_ms"] == pytest.approx(1.4) and len(record["widths"]) <= MAX_MEASURED
    # a band no even width reaches: the width nearest under the target is kept and the miss is said
    landed, record = land_by_measurement(fit(8), Budget("latency_ms", 1.05, 0.01), 4, linear)
    assert (landed.init_channels, landed.met) == (10, False) and record["message"].startswith("MISSED")
    # time is not monotonic in width (NCHWc blocks of 16): the width whose time is nearest under the target wins
    bumpy = {w: 0.02 * w for w in range(4, 40, 2)} | {12: 0.30, 14: 0.349, 16: 0.242, 18: 0.463, 20: 0.52}
    landed, record = land_by_measurement(fit(16), Budget("latency_ms", 0.4, 0.1), 4, lambda g, w: (bumpy[w], False))
    assert landed.init_channels == 14 and record["widths"]["14"] == 0.349 and not landed.met
    # widths that jump past the band (a whole NCHWc block): one block's depth fills the gap at the chosen width
    def jumpy(genotype, width):
        base = {14: 0.45, 16: 0.60, 18: 1.50}.get(width, 0.3 if width < 14 else 3.0)
        return base + 0.15 * (sum(genotype["depths"]) - 3), False

    start = BudgetFit({"depths": [1, 1, 1]}, 16, {"latency_ms": 0.7}, True, False, "predicted", {})
    landed, record = land_by_measurement(start, Budget("latency_ms", 0.8, 0.1), 4, jumpy, max_depth=5)
    assert (landed.init_channels, landed.genotype["depths"], landed.met) == (16, [2, 1, 1], True)
    assert record["depths"]["[2, 1, 1]"] == pytest.approx(0.75) and "depths [2, 1, 1]" in record["message"]
    without, _ = land_by_measurement(start, Budget("latency_ms", 0.8, 0.1), 4, jumpy)  # depths left alone
    assert (without.genotype["depths"], without.met) == ([1, 1, 1], False)
    # never past the widths the profile covers (the report prices the result with it)
    capped, record = land_by_measurement(fit(8), Budget("latency_ms", 5.0, 0.1), 4, linear, max_width=20)
    assert capped.init_channels == 20 and max(map(int, record["widths"])) == 20 and not capped.met
    # a busy machine is said
    landed, record = land_by_measurement(fit(14), budget, 4, lambda g, w: (0.1 * w, True))
    assert record["contended"] and "busy" in landed.message


def test_latency_budget_only_uses_widths_the_profile_measured():
    from compactrs.nas.derive import Budget, choose_search_width, fit_budget

    class CoveredWidthsTestTable(TinyTestLatencyTable):
        space = {"init_channels": [6, 10]}

    space = BudgetSpace(4, 8, 3, OPS, blocks=2, max_depth=2, profile=CoveredWidthsTestTable())
    # a MAC band that width 4 cannot hold but the covered widths can: the search width must be a covered one
    # bands only width 10 of the covered widths holds (width 4's and 6's dearest genotypes stay under them)
    budgets = [Budget("macs", 0.9 * space.extremes("macs", 10)[1], 0.8),
               Budget("latency_ms", 0.9 * space.extremes("latency_ms", 10)[1], 0.8)]
    width, message = choose_search_width(space, budgets, 4)
    assert width == 10 and "latency profile covers" in message
    genotype = reads_both_inputs(random_genotype(np.random.default_rng(0), OPS, blocks=2, max_depth=2))
    assert fit_budget(space, budgets, genotype, width).init_channels in (6, 10)


class CountingTable(TinyTestLatencyTable):
    """The test table, counting whole-network predictions (each costs an export with a real profile)."""

    space = {"init_channels": list(range(4, 31, 2))}

    def __init__(self):
        self.calls = 0

    def predict_genotype(self, *args, **kwargs):
        self.calls += 1
        return super().predict_genotype(*args, **kwargs)


def _best_of_all(profile, space, budget, genotype, width):
    """The rule fit_budget documents, applied to every candidate: lands, then least depth change, then least
    width change, then least log-distance (first in width-then-depth order on ties)."""
    import itertools

    from compactrs.nas.losses import log_distance, relative_miss

    options = [sorted({min(max(d + delta, 1), space.max_depth) for delta in (-1, 0, 1)}) for d in genotype["depths"]]
    best = None
    for w in profile.space["init_channels"]:
        for depths in itertools.product(*options):
            ms = profile.predict_genotype({**genotype, "depths": list(depths)}, 10, 8, 6, init_channels=w)
            key = (relative_miss(ms, budget.target, budget.tolerance), sum(abs(a - b) for a, b in zip(depths, genotype["depths"])),
                   abs(w - width), log_distance(ms, budget.target, budget.tolerance))
            if best is None or key < best[0]:
                best = (key, w, list(depths), ms)
    return best


def test_width_adjustment_prices_few_networks_and_picks_what_pricing_all_would():
    from compactrs.nas.derive import Budget, fit_budget

    rng = np.random.default_rng(3)
    priced_all = priced_lazily = 0
    for trial in range(12):
        profile = CountingTable()
        space = BudgetSpace(10, 8, 6, OPS, max_depth=3, profile=profile)
        g = reads_both_inputs({**random_genotype(rng, OPS, max_depth=3)})
        target = profile.predict_genotype(g, 10, 8, 6, init_channels=int(rng.choice([6, 12, 20, 26]))) * rng.uniform(0.8, 1.2)
        budget = Budget("latency_ms", float(target), 0.1)
        profile.calls = 0
        fit = fit_budget(space, [budget], g, 16)
        priced_lazily += profile.calls
        (miss, *_), width, depths, ms = _best_of_all(CountingTable(), space, budget, g, 16)
        assert (fit.init_channels, fit.genotype["depths"], fit.met) == (width, depths, miss == 0)
        assert fit.costs["latency_ms"] == pytest.approx(ms, rel=1e-12)
        priced_all += len(profile.space["init_channels"]) * 3 ** 3
    assert priced_lazily < priced_all / 5


def test_search_width_stops_at_the_nearest_covered_width_that_holds_the_band():
    from compactrs.nas.derive import Budget, choose_search_width

    profile = CountingTable()  # covers every even width 4–30, like a shipped profile's 8–64
    space = BudgetSpace(10, 8, 6, OPS, max_depth=3, profile=profile)
    # a band just under width 16's cheapest network: 14 holds it, the nearest below 16
    low, _ = space.extremes("latency_ms", 14)
    budgets = [Budget("latency_ms", low * 1.05, 0.02)]
    assert space.extremes("latency_ms", 16)[0] > budgets[0].target * (1 - budgets[0].tolerance)
    built = set(space._tables)
    width, _ = choose_search_width(space, budgets, 16)
    widths_priced = {key[1] for key in set(space._tables) - built if key[0] == "latency_ms"}
    assert width == 14
    assert widths_priced <= {16, 14}  # not all 14 covered widths (each a latency table)


def test_measured_landing_is_refused_before_training_where_it_cannot_apply(tmp_path, capsys):
    from compactrs.cli import main
    from compactrs.errors import ConfigError

    code = main(["search", "--data", SPEC, "--flops-target", "5M", "--measured-landing", "--out", str(tmp_path / "macs")])
    err = capsys.readouterr().err
    assert code != 0 and "--measured-landing times the derived network against a --latency-target" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1 and not (tmp_path / "macs").exists()
    profile = TinyTestLatencyTable()
    profile.data = {"device": {"cpu": "Made-up CPU 9000"}}
    profile.runtime, profile.precision = "onnxruntime", "fp32"
    with pytest.raises(ConfigError, match="--measured-landing: the profile was measured on 'Made-up CPU 9000'"):
        search(SPEC, out=tmp_path / "other", latency_target_ms=0.5, profile="tiny", latency_profile=profile,
               measured_landing=True, epochs=1, retrain_epochs=0, ops=",".join(OPS), threads=1)
    assert not (tmp_path / "other").exists() and not (tmp_path / "other.search").exists()
    # this machine's CPU model string, but other instruction-set extensions (one "AMD EPYC" was Zen 3 one day,
    # AVX-512 another): onnxruntime runs other kernels, a time measured here does not land that profile's target
    from compactrs.deploy.machine import cpu_isa, cpu_model
    here_isa = cpu_isa()
    if here_isa is None:
        pytest.skip("this machine's instruction-set extensions cannot be read (no /proc/cpuinfo flags)")
    other_isa = ["avx2", "fma"] if "avx512f" in here_isa else ["avx2", "avx512_bf16", "avx512f", "fma"]
    profile.data = {"device": {"cpu": cpu_model(), "isa": other_isa}}
    with pytest.raises(ConfigError, match=f"--measured-landing: the profile was measured on a '{cpu_model()}' with "
                                          f"{', '.join(other_isa)}, this one has {', '.join(here_isa) or 'none of them'}"):
        search(SPEC, out=tmp_path / "isa", latency_target_ms=0.5, profile="tiny", latency_profile=profile,
               measured_landing=True, epochs=1, retrain_epochs=0, ops=",".join(OPS), threads=1)
    assert not (tmp_path / "isa").exists() and not (tmp_path / "isa.search").exists()
