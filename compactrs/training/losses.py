"""Task losses: cross-entropy, and focal loss with label smoothing for long-tailed land-cover classes."""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from compactrs.errors import ConfigError

LOSSES = ("ce", "focal")


class FocalLoss(nn.Module):
    """Focal loss (Lin et al. 2017) on label-smoothed targets, as LMSS-NAS uses for rare classes.

    loss = Σ_k −q_k (1 − p_k)^γ log p_k, with q the smoothed one-hot target; γ = 0 and no smoothing is
    plain cross-entropy.
    """

    def __init__(self, gamma: float = 2.0, label_smoothing: float = 0.1):
        super().__init__()
        self.gamma = gamma
        self.label_smoothing = label_smoothing

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        log_p = F.log_softmax(logits, dim=1)
        k = logits.shape[1]
        q = torch.full_like(log_p, self.label_smoothing / k)
        q.scatter_(1, target.unsqueeze(1), 1.0 - self.label_smoothing + self.label_smoothing / k)
        modulator = (1.0 - log_p.exp()).clamp(min=0.0).pow(self.gamma)
        return -(q * modulator * log_p).sum(dim=1).mean()


def make_loss(name: str, label_smoothing: float = 0.0, gamma: float = 2.0) -> nn.Module:
    """``"ce"`` (with optional label smoothing) or ``"focal"`` (γ, label smoothing default 0.1)."""
    if name == "ce":
        return nn.CrossEntropyLoss(label_smoothing=label_smoothing)
    if name == "focal":
        return FocalLoss(gamma=gamma, label_smoothing=label_smoothing or 0.1)
    raise ConfigError(f"unknown loss '{name}'; valid: {', '.join(LOSSES)}")
