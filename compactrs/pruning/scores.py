"""NAS-style bi-level score search (Wei et al., IEEE GRSL 2022): weights on one half, scores on the other.

Each step first updates the network weights on a batch of half A with the soft gates in place (task loss
only), then updates the channel scores on a batch of half B with the task loss plus the cost-awareness
loss, first-order as in DARTS. The cost-awareness loss is ``w · (E[MACs] / (r · MACs₀) − 1)²`` where
E[MACs] is computed from the gates' keep probabilities (a conv's MACs scale with kept_in × kept_out), so
it pulls the expected compression ratio to the requested ``r`` from either side; the task loss decides
*which* channels carry the budget.
"""
from __future__ import annotations

import time
from typing import Callable

import numpy as np
import torch
from torch import nn

from compactrs._progress import Progress
from compactrs.pruning.config import PruneConfig
from compactrs.pruning.gates import ChannelGates
from compactrs.training.loop import _as_input, dihedral_augment, seed_everything, to_device_layout


def cost_awareness_loss(expected_ratio: torch.Tensor, target_ratio: float) -> torch.Tensor:
    """Squared relative distance of the expected MAC ratio from the requested one (zero on target)."""
    return (expected_ratio / target_ratio - 1.0) ** 2


def split_halves(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded random split of ``range(n)`` into the weight half and the score half."""
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[: n // 2]), np.sort(order[n // 2:])


def search_scores(model: nn.Module, gates: ChannelGates, x: np.ndarray, y: np.ndarray, target_ratio: float,
                  config: PruneConfig, progress: Progress | None = None,
                  on_epoch: Callable[[dict], None] | None = None) -> list[dict]:
    """Optimise ``gates``' scores (and the weights) for ``config.search_epochs`` epochs; returns per-epoch records."""
    if config.search_epochs == 0 or len(x) < 4:
        return []
    generator = seed_everything(config.seed)
    half_w, half_s = split_halves(len(x), config.seed)
    xw, yw = torch.from_numpy(x[half_w]), torch.from_numpy(y[half_w])
    xs, ys = torch.from_numpy(x[half_s]), torch.from_numpy(y[half_s])
    model = to_device_layout(model, True)
    gates.attach(model)
    weights = [p for p in model.parameters() if p.requires_grad]
    weight_opt = torch.optim.SGD([{"params": [p for p in weights if p.ndim > 1], "weight_decay": 5e-4},
                                  {"params": [p for p in weights if p.ndim <= 1], "weight_decay": 0.0}],
                                 lr=config.weight_lr, momentum=0.9, nesterov=True)
    score_opt = torch.optim.Adam(gates.parameters(), lr=config.score_lr, betas=(0.5, 0.999))
    loss_fn = nn.CrossEntropyLoss()
    total = float(gates.graph.total_macs)
    batch = min(config.batch_size, max(2, len(xw) // 2))
    steps = max(1, len(xw) // batch)
    history = []
    if progress is not None:
        progress.start("search", "score search", config.search_epochs)
    try:
        model.train()
        for epoch in range(1, config.search_epochs + 1):
            started = time.perf_counter()
            order_w = torch.randperm(len(xw), generator=generator)
            order_s = torch.randperm(len(xs), generator=generator)
            sums = {"task_loss": 0.0, "score_loss": 0.0, "cost_loss": 0.0}
            for step in range(steps):
                iw = order_w[step * batch:(step + 1) * batch]
                js = order_s[torch.arange(step * batch, (step + 1) * batch) % len(xs)]
                # 1) weights on half A (scores frozen)
                logits = model(_as_input(dihedral_augment(xw[iw], generator), True))
                task = loss_fn(logits, yw[iw])
                weight_opt.zero_grad(set_to_none=True)
                score_opt.zero_grad(set_to_none=True)
                task.backward()
                nn.utils.clip_grad_norm_(weights, 5.0)
                weight_opt.step()
                # 2) scores on half B: task loss + cost awareness (weights frozen)
                logits = model(_as_input(dihedral_augment(xs[js], generator), True))
                cost = cost_awareness_loss(gates.expected_macs() / total, target_ratio)
                score_loss = loss_fn(logits, ys[js]) + config.cost_weight * cost
                weight_opt.zero_grad(set_to_none=True)
                score_opt.zero_grad(set_to_none=True)
                score_loss.backward()
                score_opt.step()
                sums["task_loss"] += task.item()
                sums["score_loss"] += score_loss.item()
                sums["cost_loss"] += cost.item()
            with torch.no_grad():
                probabilities = torch.cat(list(gates.probabilities().values()))
                expected = float(gates.expected_macs() / total)
            record = {"epoch": epoch, **{k: v / steps for k, v in sums.items()}, "expected_ratio": expected,
                      "mean_keep_probability": float(probabilities.mean()), "seconds": time.perf_counter() - started}
            history.append(record)
            if on_epoch is not None:
                on_epoch(record)
            if progress is not None:
                progress.advance("search")
    finally:
        gates.detach()
        model.eval()
        if progress is not None:
            progress.finish("search")
    return history
