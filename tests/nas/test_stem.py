"""The stem stride is chosen with the width before the search: first cells keep >= 8 channels, or one-line refusal."""
from __future__ import annotations

import pytest

from compactrs.errors import TargetError
from compactrs.nas.derive import Budget, BudgetSpace, choose_stem_and_width

OPS = ("skip_connect", "sep_conv_3x3", "max_pool_3x3", "conv_3x3")


@pytest.mark.parametrize("bands, size, target, stride", [(13, 64, 20e6, 2), (13, 64, 5e6, 4), (13, 32, 20e6, 1)])
def test_small_budgets_on_large_tiles_trade_resolution_for_channels(bands, size, target, stride):
    space = BudgetSpace(bands, size, 10, OPS, max_depth=3)
    budget = Budget("macs", target, 0.1)
    chosen, width, message = choose_stem_and_width(space, [budget], 16)
    assert (chosen, width) == (stride, 16) and f"stem stride {stride}" in message
    low, high = space.extremes("macs", width, chosen)
    assert low <= target * 0.9 and high >= target


def test_a_fixed_stride_is_kept_and_the_width_never_drops_below_eight():
    space = BudgetSpace(13, 64, 10, OPS, max_depth=3)
    stride, width, _ = choose_stem_and_width(space, [Budget("macs", 5e6, 0.1)], 16, stride=2)
    assert stride == 2 and width >= 8


def test_an_unreachable_budget_is_refused_in_one_line_naming_the_reachable_range():
    space = BudgetSpace(3, 256, 10, OPS, max_depth=2)
    with pytest.raises(TargetError) as error:
        choose_stem_and_width(space, [Budget("macs", 2e6, 0.1)], 16, stride=4)
    message = str(error.value)
    assert "\n" not in message and "3x256x256" in message and "it reaches" in message and "MACs to" in message
