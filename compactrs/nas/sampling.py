"""Gumbel-softmax hard sampling with straight-through gradients (GDAS), and the temperature schedule.

A hard sample picks ``argmax(log_softmax(logits) + g)`` with Gumbel noise ``g`` — an exact draw from
``softmax(logits)`` whatever the temperature. The returned weights are one-hot in value but carry the
gradient of the tempered soft sample ``softmax((log_softmax(logits) + g) / τ)`` (straight-through), so the
forward pass runs only the sampled op while the architecture logits still learn.
"""
from __future__ import annotations

from typing import Callable

import torch

from compactrs.errors import ConfigError


class TrainingDiverged(ConfigError, FloatingPointError):
    """The search's loss or architecture logits became non-finite; the message names the learning-rate flag to lower."""


NoiseFn = Callable[[torch.Size, torch.Generator | None], torch.Tensor]


def gumbel_noise(shape: torch.Size, generator: torch.Generator | None = None) -> torch.Tensor:
    """Standard Gumbel(0, 1) noise ``-log(E)``, ``E ~ Exp(1)``; can be ±inf when E hits 0 or overflows."""
    return -torch.empty(shape).exponential_(generator=generator).log()


def gumbel_hard(logits: torch.Tensor, tau: float, generator: torch.Generator | None = None,
                mask: torch.Tensor | None = None, max_tries: int = 100,
                noise: NoiseFn = gumbel_noise) -> tuple[torch.Tensor, list[int]]:
    """One hard Gumbel-softmax sample per row of ``logits`` (…, K).

    Args:
        logits: unnormalised log-probabilities; rows are independent categoricals.
        tau: temperature of the soft sample whose gradient the hard weights carry (> 0).
        generator: torch generator for the noise (shared seed → identical samples on every DDP rank).
        mask: bool (…, K); False entries can never be drawn (e.g. inputs a node cannot read).
        max_tries: re-draws allowed when the noise or the soft sample is not finite.
        noise: the noise source (tests inject non-finite draws through it).

    Returns:
        (weights, indices): weights (…, K) equal one-hot(indices) in value, with straight-through gradients;
        indices as a flat Python list (row-major over the leading dimensions).

    Raises:
        TrainingDiverged: no finite sample in ``max_tries`` draws (the logits themselves are not finite).
        ConfigError: a temperature that is not positive.
    """
    if tau <= 0:
        raise ConfigError(f"Gumbel-softmax temperature must be positive, got {tau}; pass tau_min > 0")
    if mask is not None:
        logits = logits.masked_fill(~mask, float("-inf"))
    log_probs = torch.log_softmax(logits, dim=-1)
    for _ in range(max_tries):
        g = noise(logits.shape, generator).to(logits.dtype)
        if mask is not None:
            g = g.masked_fill(~mask, 0.0)  # masked entries stay -inf through log_probs
        if not torch.isfinite(g).all():
            continue
        soft = torch.softmax((log_probs + g) / tau, dim=-1)
        if not torch.isfinite(soft).all():
            continue
        index = soft.argmax(dim=-1, keepdim=True)
        hard = torch.zeros_like(soft).scatter_(-1, index, 1.0)
        return hard - soft.detach() + soft, index.flatten().tolist()
    raise TrainingDiverged(f"no finite Gumbel-softmax sample in {max_tries} draws: the architecture logits are "
                           f"not finite ({logits.detach().flatten()[:8].tolist()} ...); lower --arch-lr")


def linear_temperature(epoch: int, epochs: int, tau_max: float = 10.0, tau_min: float = 1.0) -> float:
    """GDAS / LCZ-paper schedule: τ falls linearly from ``tau_max`` (epoch 0) to ``tau_min`` (last epoch)."""
    if epochs <= 1:
        return float(tau_min)
    return float(tau_max - (tau_max - tau_min) * epoch / (epochs - 1))
