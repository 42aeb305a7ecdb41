"""Architecture losses: the LCZ paper's complexity loss and the TAS-style target loss (MACs or latency).

Task losses (cross-entropy, focal + label smoothing) come from ``compactrs.training.losses.make_loss``.
"""
from __future__ import annotations

import math

import torch

from compactrs.nas.costs import ArchProbs, CostTable

MEGA = 1e6


def complexity_loss(table: CostTable, probs: ArchProbs, depths: list[int]) -> torch.Tensor:
    """L_cpl = Σ_blocks δ_k · (1/N_ops) Σ_slots Σ_o MACs(o) · p(o), in millions of MACs.

    As in the LCZ paper it is differentiable only in the op probabilities: ``depths`` are the sampled
    block depths (constants). Normal cells of block k are priced at block k's channels and size; each
    reduction cell (searched here, fixed in the paper) counts once, priced on its stride-1 edges.
    """
    n_ops = len(table.ops)
    normal = (probs.ops["normal"].double().sum(0) * table.edge_costs("normal")).sum(-1) / n_ops / MEGA
    total = (normal * torch.tensor(depths, dtype=torch.float64)).sum()
    reduce_costs = table.edge_costs("reduce")
    if len(reduce_costs):
        total = total + (probs.ops["reduce"].double().sum(0) * reduce_costs).sum() / n_ops / MEGA
    return total


def target_loss(expected: torch.Tensor, current: float, target: float, tolerance: float) -> torch.Tensor:
    """TAS-style budget loss that lands the derived architecture inside ``[target·(1 − tolerance), target]``.

    The direction is decided by ``current``, the cost of the architecture derive would return now (argmax),
    and the gradient flows through the expected cost: above the budget → ``log(E / target)`` (pull down);
    below ``target·(1 − tolerance)`` → ``log(low / E)`` (push up); inside the band → 0.
    """
    low = target * (1.0 - tolerance)
    if current > target:
        return torch.log(expected / target)
    if current < low:
        return torch.log(low / expected)
    return expected.new_zeros(())


def within_band(value: float, target: float, tolerance: float) -> bool:
    """True if ``value`` lies in the budget band ``[target·(1 − tolerance), target]`` (1e-9 relative slack)."""
    return target * (1.0 - tolerance) * (1 - 1e-9) <= value <= target * (1 + 1e-9)


def relative_miss(value: float, target: float, tolerance: float) -> float:
    """How far outside the band ``value`` is, relative to the target (0 inside the band)."""
    low = target * (1.0 - tolerance)
    if value > target:
        return (value - target) / target
    if value < low:
        return (low - value) / target
    return 0.0


def log_distance(value: float, target: float, tolerance: float) -> float:
    """Distance to the band's centre in log space (to rank candidates that all land)."""
    centre = target * (1.0 - tolerance / 2)
    return abs(math.log(max(value, 1e-12) / centre))
