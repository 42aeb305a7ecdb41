"""Latency of the spectral stem: profiles draw it for many-band inputs, price it like the conv stem, refuse it when absent."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from compactrs.cli import main
from compactrs.cost._kernel_build import sample_specs
from compactrs.cost._kernel_pipeline import KernelProfileConfig
from compactrs.cost.kernel_latency import KernelProfile
from compactrs.errors import ConfigError
from compactrs.nas.costs import CostTable, LatencyCost
from compactrs.nas.derive import Budget, BudgetSpace, choose_stem_and_width
from compactrs.nas.space import supernet_layout
from compactrs.nn.cells import random_genotype

OPS = ("sep_conv_3x3", "max_pool_3x3")
TINY = ["--init-channels", "4,6", "--classes", "3", "--ops", ",".join(OPS), "--blocks", "2", "--max-depth", "1",
        "--node-runs", "3", "--min-seconds", "0.01", "--clock", "cpu"]


def test_sampled_networks_draw_the_stem_kind_for_many_band_inputs_only():
    space = KernelProfileConfig(inputs=((24, 5), (3, 8)), init_channels=(4,), ops=OPS, blocks=2, max_depth=1).space()
    assert space["stem_kinds"] == ["conv", "spectral", "pointwise"]
    specs = sample_specs(space, 30, seed=0)
    kinds = {(s["in_bands"], s["genotype"].get("stem", {}).get("kind", "conv")) for s in specs}
    assert kinds == {(24, "conv"), (24, "spectral"), (24, "pointwise"), (3, "conv")}
    few_bands = KernelProfileConfig(inputs=((3, 8),), init_channels=(4,), ops=OPS, blocks=2, max_depth=1).space()
    assert few_bands["stem_kinds"] == ["conv"]
    # a space without stem kinds (a profile made before them) samples exactly the networks it always did
    legacy = {k: v for k, v in space.items() if k != "stem_kinds"}
    assert all("stem" not in s["genotype"] for s in sample_specs(legacy, 30, seed=0))


def test_profiles_probe_every_stem_kind_across_the_widths_for_many_band_inputs():
    from compactrs.cost._kernel_build import stem_probe_specs

    space = KernelProfileConfig(inputs=((24, 5), (3, 8)), init_channels=tuple(range(4, 21, 2)), ops=OPS, blocks=2,
                                max_depth=3).space()
    probes = stem_probe_specs(space, seed=0)
    by_kind: dict = {}
    for spec in probes:
        assert (spec["in_bands"], spec["input_size"]) == (24, 5)  # only where the spectral stem exists
        assert spec["genotype"]["depths"] == [1, 1]  # sparse, so the stem is much of the network
        by_kind.setdefault(spec["genotype"]["stem"]["kind"], set()).add(spec["init_channels"])
    # the narrowest, the widest and three between, for each kind other than the conv stem
    assert by_kind == {"spectral": {4, 8, 12, 16, 20}, "pointwise": {4, 8, 12, 16, 20}}
    assert stem_probe_specs(KernelProfileConfig(inputs=((3, 8),), init_channels=(4, 8), ops=OPS).space(), 0) == []
    # deterministic, and a spec already drawn is not drawn again
    assert stem_probe_specs(space, seed=0) == probes
    assert len(stem_probe_specs(space, seed=0, exclude=probes[:3])) == len(probes) - 3


@pytest.fixture(scope="module")
def many_band_profile(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("kprofile") / "hsi.json"
    assert main(["profile", "--inputs", "24x5", *TINY, "--fit-archs", "6", "--out", str(out)]) == 0
    return out



@pytest.mark.slow  # builds a real (tiny) kernel profile: ~40 s on the shared machine
def test_a_new_profile_prices_the_spectral_stem_like_the_conv_stem(many_band_profile, roofline_priced):
    profile = roofline_priced(many_band_profile)
    assert profile.stem_kinds == ["conv", "spectral", "pointwise"]
    layout = supernet_layout(5, 6, 1, 2, 1, 4)
    table = CostTable(LatencyCost(profile), layout, OPS, 24, 5, 3, 4, stem_kinds=("conv", "spectral"))
    assert table.stem_fixed[1] > table.stem_fixed[0] > 0  # the scan over every pixel costs more than a 3x3 conv
    genotype = {**random_genotype(np.random.default_rng(3), OPS, 4, 2, 1), "stem": {"kind": "spectral", "stride": 1}}
    whole = profile.predict_genotype(genotype, 24, 5, 3, init_channels=6)
    assert table.discrete(genotype) == pytest.approx(whole, rel=0.10)


def test_an_older_profile_refuses_a_latency_target_with_the_spectral_stem(tmp_path, monkeypatch):
    # a profile without "stem_kinds" in its space (every profile made before this change): conv stem only, and
    # made before the stem probes (which would have measured the spectral stem's kernels)
    monkeypatch.setattr("compactrs.cost._kernel_build.stem_probe_specs", lambda *args, **kwargs: [])
    out = tmp_path / "old.json"
    assert main(["profile", "--inputs", "16x5", *TINY, "--fit-archs", "2", "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    del data["space"]["stem_kinds"]
    out.write_text(json.dumps(data))
    profile = KernelProfile.load(out)
    space = BudgetSpace(16, 5, 3, OPS, blocks=2, max_depth=1, profile=profile, stem_kinds=("conv", "spectral"))
    with pytest.raises(ConfigError, match=r"does not cover the 'spectral' stem \(.*kernel: .*\): it covers inputs .*stems \['conv'\]"):
        choose_stem_and_width(space, [Budget("latency_ms", 1.0, 0.5)], 6)
    genotype = {**random_genotype(np.random.default_rng(0), OPS, 4, 2, 1), "stem": {"kind": "spectral", "stride": 1}}
    with pytest.raises(ConfigError, match=r"does not cover the 'spectral' stem"):
        profile.predict_genotype(genotype, 16, 5, 3, init_channels=6)
