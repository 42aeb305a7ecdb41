"""Derive (argmax) is deterministic; the budget fit lands on the band by width/depth or reports the miss."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from compactrs.errors import TargetError
from compactrs.nn.cells import random_genotype, validate_genotype
from compactrs.nn.ops import RS_OPS
from compactrs.nas.derive import Budget, BudgetSpace, choose_search_width, fit_budget, measure_macs
from compactrs.nas.supernet import Supernet

# Indian Pines patches: 200 bands, 9×9, 4 classes in the shared subset
IP = dict(in_bands=200, input_size=9, num_classes=4, ops=RS_OPS)


@pytest.fixture(scope="module")
def ip_space():
    return BudgetSpace(**IP)


def test_derive_is_deterministic():
    nets = []
    for _ in range(2):
        torch.manual_seed(3)
        net = Supernet(10, 3, 8, RS_OPS, init_channels=4, max_depth=3, initial_depth=2)
        with torch.no_grad():
            for p in net.arch_parameters():
                p.add_(torch.randn(p.shape, generator=torch.Generator().manual_seed(5)))
        nets.append(net)
    first = nets[0].derive()
    assert first == nets[0].derive() == nets[1].derive()
    validate_genotype(first)
    # argmax of the probabilities, input index within each node's reach
    probs = nets[0].probabilities()
    assert first["depths"] == (probs.depths.argmax(-1) + 1).tolist()
    assert all(source < slot // 2 + 2 for slot, (_, source) in enumerate(first["reduce"]))


def test_initial_depth_is_favoured():
    net = Supernet(10, 3, 8, RS_OPS, init_channels=4, max_depth=5, initial_depth=3)
    assert net.derive()["depths"] == [3, 3, 3]
    assert torch.allclose(net.probabilities().depths[:, 2], torch.tensor(0.5))


def test_search_width_is_kept_when_the_space_holds_the_band(ip_space):
    width, message = choose_search_width(ip_space, [Budget("macs", 10e6, 0.1)], 16)
    assert width == 16 and "holds the target band" in message


def test_search_width_is_widened_when_the_target_is_above_the_space(ip_space):
    # at init_channels 16 the space tops out just under 20M MACs on 200-band 9×9 patches
    width, message = choose_search_width(ip_space, [Budget("macs", 20e6, 0.1)], 16)
    assert width > 16 and width % 2 == 0
    assert "does not hold the target band" in message and f"init_channels {width}" in message
    low, high = ip_space.extremes("macs", width)
    assert low <= 18e6 and high >= 20e6


def test_unreachable_target_is_a_clear_error(ip_space):
    with pytest.raises(TargetError, match="no width of the search space reaches"):
        choose_search_width(ip_space, [Budget("macs", 50e3, 0.1)], 16)


def test_fit_adjusts_width_to_land_and_measures_the_built_network(ip_space):
    genotype = random_genotype(np.random.default_rng(4), RS_OPS)
    searched = ip_space.cost("macs", genotype, 16)
    budget = Budget("macs", searched * 0.55, 0.1)  # well below what was searched
    fit = fit_budget(ip_space, [budget], genotype, 16)
    assert fit.met and fit.adjusted and fit.init_channels < 16 and fit.init_channels % 2 == 0
    macs = measure_macs(fit.genotype, 200, 9, 4, fit.init_channels)
    assert fit.costs["macs"] == macs
    assert budget.target * 0.9 <= macs <= budget.target
    assert "adjusted" in fit.message


def test_fit_keeps_a_genotype_that_lands(ip_space):
    genotype = random_genotype(np.random.default_rng(5), RS_OPS)
    macs = ip_space.cost("macs", genotype, 16)
    fit = fit_budget(ip_space, [Budget("macs", macs * 1.05, 0.1)], genotype, 16)
    assert fit.met and not fit.adjusted and fit.genotype == genotype and fit.init_channels == 16


def test_fit_reports_a_miss_it_cannot_fix(ip_space):
    genotype = random_genotype(np.random.default_rng(6), RS_OPS)
    fit = fit_budget(ip_space, [Budget("macs", 100e3, 0.1)], genotype, 16)  # below even the stem's cost
    assert not fit.met
    assert fit.message.startswith("MISSED")
