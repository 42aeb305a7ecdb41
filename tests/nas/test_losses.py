"""Budget losses: the target loss pulls the architecture onto the band from above and from below."""
from __future__ import annotations

import pytest
import torch

from compactrs.nas.costs import CostTable, MacCost
from compactrs.nas.losses import complexity_loss, relative_miss, target_loss
from compactrs.nas.supernet import Supernet

OPS = ("zero", "skip_connect", "sep_conv_3x3", "sep_conv_5x5", "avg_pool_3x3", "ms_att_3")


@pytest.fixture(scope="module")
def space():
    torch.manual_seed(0)
    net = Supernet(10, 3, 8, OPS, init_channels=8, max_depth=3, initial_depth=2)
    return net, CostTable(MacCost(), net.layout, net.ops, 10, 8, 3)


def _optimise(net, table, target, steps=40):
    """Adam on the architecture parameters only, target loss only; returns (expected, derived) per step."""
    state = {k: v.clone() for k, v in net.state_dict().items()}
    optimiser = torch.optim.Adam(net.arch_parameters(), lr=0.1, betas=(0.5, 0.999))
    trace = []
    for _ in range(steps):
        expected = table.expected(net.probabilities())
        derived = table.discrete(net.derive())
        trace.append((float(expected.detach()), derived))
        loss = target_loss(expected, derived, target, 0.1)
        optimiser.zero_grad()
        if loss.requires_grad:
            loss.backward()
            optimiser.step()
    net.load_state_dict(state)  # leave the shared fixture as it was
    return trace


@pytest.mark.parametrize("direction", ["from_above", "from_below"])
def test_target_loss_pulls_the_architecture_onto_the_band(space, direction):
    net, table = space
    start = table.discrete(net.derive())
    target = start * (0.6 if direction == "from_above" else 1.6)
    trace = _optimise(net, table, target)
    expected = [e for e, _ in trace]
    if direction == "from_above":
        assert expected[10] < expected[0]
    else:
        assert expected[10] > expected[0]
    # the derived (argmax) architecture is pulled toward the band: its cost jumps (an argmax flips, a cell
    # input left unread kills cells), so the test asks for the closest approach, not a monotone path
    best = min(relative_miss(d, target, 0.1) for _, d in trace)
    assert best < 0.5 * relative_miss(start, target, 0.1)


def test_no_target_loss_inside_the_band(space):
    net, table = space
    derived = table.discrete(net.derive())
    expected = table.expected(net.probabilities())
    assert float(target_loss(expected, derived, derived * 1.05, 0.1)) == 0.0
    assert float(target_loss(expected.detach(), derived, derived / 1.2, 0.1)) > 0.0


def test_complexity_loss_gradient_lowers_the_expected_cost(space):
    net, table = space
    probs = net.probabilities()
    loss = complexity_loss(table, probs, [2, 2, 2])
    grads = torch.autograd.grad(loss, [net.alpha_normal, net.alpha_reduce])
    with torch.no_grad():
        before = float(table.expected(net.probabilities()))
        net.alpha_normal -= 0.5 * grads[0] / grads[0].abs().max()
        net.alpha_reduce -= 0.5 * grads[1] / grads[1].abs().max()
        after = float(table.expected(net.probabilities()))
        net.alpha_normal += 0.5 * grads[0] / grads[0].abs().max()
        net.alpha_reduce += 0.5 * grads[1] / grads[1].abs().max()
    assert after < before
