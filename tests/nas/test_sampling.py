"""Gumbel-softmax hard sampling: one-hot values, exact categorical frequencies, straight-through gradients."""
from __future__ import annotations

import pytest
import torch

from compactrs.nas.sampling import gumbel_hard, gumbel_noise, linear_temperature


def test_samples_are_one_hot_and_indices_match():
    logits = torch.randn(8, 11, generator=torch.Generator().manual_seed(0))
    weights, index = gumbel_hard(logits, tau=5.0, generator=torch.Generator().manual_seed(1))
    assert weights.shape == (8, 11)
    assert torch.equal(weights.detach(), torch.nn.functional.one_hot(torch.tensor(index), 11).float())


def test_frequencies_match_softmax_probabilities():
    logits = torch.tensor([[1.5, 0.0, -1.0, 0.5]]).repeat(20000, 1)  # 20,000 independent draws in one call
    _, index = gumbel_hard(logits, tau=10.0, generator=torch.Generator().manual_seed(0))
    freq = torch.bincount(torch.tensor(index), minlength=4).double() / len(index)
    probs = torch.softmax(logits[0].double(), -1)
    # binomial standard error at n = 20,000 is <= 0.0036; 4 sigma
    assert torch.allclose(freq, probs, atol=0.015), (freq, probs)


def test_temperature_does_not_change_what_is_drawn():
    logits = torch.randn(50, 5, generator=torch.Generator().manual_seed(3))
    draws = [gumbel_hard(logits, tau, torch.Generator().manual_seed(7))[1] for tau in (10.0, 1.0, 0.1)]
    assert draws[0] == draws[1] == draws[2]


def test_straight_through_gradient_reaches_the_logits():
    logits = torch.zeros(3, 6, requires_grad=True)
    weights, index = gumbel_hard(logits, tau=1.0, generator=torch.Generator().manual_seed(0))
    values = torch.arange(6.0)
    (weights * values).sum().backward()  # loss depends on which op was chosen
    assert logits.grad is not None
    assert torch.count_nonzero(logits.grad) > 0
    # the gradient pushes probability toward cheaper (lower-value) choices: negative sum over a row is 0
    assert torch.allclose(logits.grad.sum(-1), torch.zeros(3), atol=1e-6)


def test_masked_entries_are_never_drawn():
    mask = torch.tensor([[True, True, False, False]]).repeat(2000, 1)
    logits = torch.tensor([[0.0, 0.0, 5.0, 5.0]]).repeat(2000, 1)
    weights, index = gumbel_hard(logits, 1.0, torch.Generator().manual_seed(0), mask=mask)
    assert set(index) <= {0, 1}
    assert torch.isfinite(weights).all()


def test_non_finite_noise_is_redrawn():
    calls = []

    def noise(shape, generator):
        calls.append(1)
        g = gumbel_noise(shape, generator)
        if len(calls) < 3:
            g[0, 0] = float("inf") if len(calls) == 1 else float("nan")
        return g

    weights, index = gumbel_hard(torch.zeros(2, 4), 1.0, torch.Generator().manual_seed(0), noise=noise)
    assert len(calls) == 3
    assert torch.isfinite(weights).all() and weights.sum().item() == pytest.approx(2.0)


def test_non_finite_logits_raise_after_retries():
    with pytest.raises(FloatingPointError, match="not finite"):
        gumbel_hard(torch.tensor([[float("nan"), 0.0]]), 1.0, torch.Generator().manual_seed(0), max_tries=5)


def test_linear_temperature_schedule():
    taus = [linear_temperature(e, 10, 10.0, 1.0) for e in range(10)]
    assert taus[0] == 10.0 and taus[-1] == 1.0
    assert all(a - b == pytest.approx(1.0) for a, b in zip(taus, taus[1:]))
    assert linear_temperature(0, 1, 10.0, 1.0) == 1.0
