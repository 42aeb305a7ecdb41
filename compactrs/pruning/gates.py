"""Channel gates: one trainable score per channel of each prunable group, multiplied onto the network.

The gate of channel ``c`` is ``sigmoid(score_c)`` (its keep probability); coupled layers share one score
vector, because they share one group. Gates are applied with forward hooks on the group's gate points
(the BN after a conv, or the conv itself), so the model's own code is untouched and the hooks come off
without a trace. In ``hard`` mode the gates are fixed 0/1 masks — the "masked network" whose outputs the
physically pruned network must reproduce exactly.
"""
from __future__ import annotations

import torch
from torch import nn

from compactrs.errors import ModelError
from compactrs.pruning.graph import ChannelGraph

#: initial keep probability of every channel: high, so the search starts from (almost) the trained network.
INITIAL_KEEP = 0.9


def magnitude_prior(model: nn.Module, graph: ChannelGraph) -> dict[int, torch.Tensor]:
    """Per group, the mean over its producers of each filter's L1 norm divided by that layer's mean.

    A standard saliency (Li et al. 2017) used to initialise the scores, so channels are ranked sensibly
    even before (or without) a score search.
    """
    modules = dict(model.named_modules())
    prior = {}
    for group in graph.prunable_groups:
        total = torch.zeros(group.channels)
        for name in dict.fromkeys(group.producers):
            weight = modules[name].weight.detach().float()
            norms = weight.abs().flatten(1).sum(1)
            total += norms / norms.mean().clamp_min(1e-12)
        prior[group.id] = total / max(1, len(set(group.producers)))
    return prior


class ChannelGates(nn.Module):
    """Scores of every prunable group and the hooks that apply them as gates.

    Args:
        graph: the traced channel groups.
        prior: optional per-group saliency (higher = more important) that orders the initial scores.
    """

    def __init__(self, graph: ChannelGraph, prior: dict[int, torch.Tensor] | None = None):
        super().__init__()
        self.graph = graph
        self.group_ids = [g.id for g in graph.prunable_groups]
        base = torch.logit(torch.tensor(INITIAL_KEEP))
        self.scores = nn.ParameterDict()
        for group in graph.prunable_groups:
            score = torch.full((group.channels,), float(base))
            if prior is not None and group.id in prior and group.channels > 1:
                # Small spread around the initial keep probability, ordered by the prior (rank-free z-score).
                z = prior[group.id] - prior[group.id].mean()
                score = score + 0.5 * torch.tanh(z / z.std(correction=0).clamp_min(1e-12))
            self.scores[str(group.id)] = nn.Parameter(score)
        self.hard_masks: dict[int, torch.Tensor] | None = None
        self._handles: list = []

    def probabilities(self) -> dict[int, torch.Tensor]:
        """Keep probability of each channel (sigmoid of its score), per group."""
        return {gid: torch.sigmoid(self.scores[str(gid)]) for gid in self.group_ids}

    def normalised_scores(self) -> dict[int, torch.Tensor]:
        """The scores the global threshold compares: keep probabilities in (0, 1), comparable across layers."""
        return {gid: p.detach().clone() for gid, p in self.probabilities().items()}

    def expected_macs(self) -> torch.Tensor:
        """MACs of the network when each group keeps its expected number of channels (differentiable)."""
        kept = {gid: p.sum() for gid, p in self.probabilities().items()}
        return self.graph.macs_for(kept)

    def attach(self, model: nn.Module, hard_masks: dict[int, torch.Tensor] | None = None) -> "ChannelGates":
        """Hook the gates onto ``model``; with ``hard_masks`` (group → 0/1 vector) the gates are those masks."""
        self.detach()
        self.hard_masks = hard_masks
        modules = dict(model.named_modules())
        for gid in self.group_ids:
            for point in dict.fromkeys(self.graph.groups[gid].gate_points):
                self._handles.append(modules[point].register_forward_hook(self._hook(gid)))
        return self

    def detach(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def _gate(self, gid: int) -> torch.Tensor:
        if self.hard_masks is not None:
            return self.hard_masks.get(gid, torch.ones(self.graph.groups[gid].channels))
        return torch.sigmoid(self.scores[str(gid)])

    def _hook(self, gid: int):
        def multiply(module, inputs, output):
            return output * self._gate(gid).to(output.dtype).view(1, -1, 1, 1)
        return multiply


def fold_gates(model: nn.Module, gates: ChannelGates) -> None:
    """Multiply the soft gates into the weights of their gate points, so the model alone computes the gated net.

    A gate after BN scales the BN's affine weight and bias; a gate after a conv scales its filters and bias.
    (Exact because the gate is a per-channel constant multiplied onto the module's output.)
    """
    modules = dict(model.named_modules())
    with torch.no_grad():
        for gid, probability in gates.probabilities().items():
            for point in dict.fromkeys(gates.graph.groups[gid].gate_points):
                module = modules[point]
                if isinstance(module, nn.BatchNorm2d):
                    if not module.affine:
                        raise ModelError(f"cannot prune through non-affine BatchNorm '{point}' (affine=False): its "
                                         f"channels cannot be scaled; use BatchNorm2d(affine=True) in the network")
                    module.weight.mul_(probability)
                    module.bias.mul_(probability)
                else:
                    module.weight.mul_(probability.view(-1, *([1] * (module.weight.ndim - 1))))
                    if module.bias is not None:
                        module.bias.mul_(probability)
