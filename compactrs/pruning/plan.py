"""From scores to a prune plan: one global threshold, hardware-friendly channel counts, kept indices.

The threshold is chosen by bisection over the sorted normalised scores so that the pruned network's MACs
land on the requested value. Each probe counts MACs from the traced layer table (exact: a conv's MACs
are ``k_h k_w c_in c_out h w / groups``, bilinear in the kept counts, and the table's total equals
fvcore's count of the unpruned network); ``prune`` then measures the physically pruned network with
fvcore and refuses a result outside the tolerance.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from compactrs.errors import TargetError
from compactrs.nn.surgery import PLAN_FORMAT
from compactrs.pruning.graph import ChannelGraph


@dataclass(frozen=True)
class Selection:
    """A threshold and what it keeps: channel count and indices per prunable group, and the MAC ratio."""

    threshold: float
    counts: dict[int, int]
    keep: dict[int, list[int]]
    ratio: float


def minimum_keep(channels: int, round_to: int, min_channels: int) -> int:
    """The fewest channels a group of ``channels`` may keep: ``max(min_channels, round_to)``, at most all."""
    return min(channels, max(min_channels, round_to, 1))


def keep_count(above: int, channels: int, round_to: int, min_channels: int) -> int:
    """Channels kept when ``above`` pass the threshold: rounded up to a multiple of ``round_to``, clamped."""
    rounded = int(math.ceil(above / round_to) * round_to) if round_to > 1 else above
    return max(minimum_keep(channels, round_to, min_channels), min(channels, rounded))


def select(graph: ChannelGraph, scores: dict[int, torch.Tensor], threshold: float, round_to: int, min_channels: int) -> Selection:
    """Keep, in every group, the channels scoring above ``threshold`` (then rounding / minimum; best first)."""
    counts, keep = {}, {}
    for gid, score in scores.items():
        channels = graph.groups[gid].channels
        n = keep_count(int((score > threshold).sum()), channels, round_to, min_channels)
        # Stable ordering: ties (equal scores) keep the lower channel index, so selection is deterministic.
        order = torch.sort(-score.detach().float(), stable=True).indices[:n]
        counts[gid] = n
        keep[gid] = sorted(int(i) for i in order)
    ratio = graph.macs_for({g: float(n) for g, n in counts.items()}) / graph.total_macs
    return Selection(threshold, counts, keep, float(ratio))


def reachable_ratios(graph: ChannelGraph, round_to: int, min_channels: int) -> float:
    """The smallest MAC ratio any threshold can reach (every group at its minimum)."""
    counts = {g.id: float(minimum_keep(g.channels, round_to, min_channels)) for g in graph.prunable_groups}
    return graph.macs_for(counts) / graph.total_macs


def search_threshold(graph: ChannelGraph, scores: dict[int, torch.Tensor], ratio: float, round_to: int,
                     min_channels: int, tolerance: float = 0.02) -> Selection:
    """Bisect the global threshold so the kept network's MAC ratio is within ``tolerance`` (relative) of ``ratio``.

    Rounding to multiples of ``round_to`` makes the ratio a step function of the threshold; where one step
    (one group gaining ``round_to`` channels in a MAC-heavy early layer) is wider than the tolerance, the
    remaining budget below the target is filled block by block (``fill_budget``), best next channel first.

    Raises:
        TargetError: the ratio is below what the minimum channel counts allow, or no selection lands within
            the tolerance (the nearest reachable ratios are named).
    """
    values = sorted({float(v) for s in scores.values() for v in s.tolist()})
    # Candidate thresholds: just below the lowest score (keep all), and each distinct score (drop it and below).
    candidates = [values[0] - 1.0] + values
    lo, hi = 0, len(candidates) - 1          # ratio(candidates[lo]) is the largest, ratio(candidates[hi]) the smallest
    probe = lambda i: select(graph, scores, candidates[i], round_to, min_channels)  # noqa: E731
    high, low = probe(lo), probe(hi)
    if low.ratio > ratio * (1 + tolerance):
        raise TargetError(
            f"MAC ratio {ratio:.4g} is unreachable: with --round-to {round_to} and --min-channels {min_channels} "
            f"the smallest reachable ratio is {low.ratio:.4g}; ask for more MACs or lower --round-to / --min-channels")
    if high.ratio < ratio * (1 - tolerance):
        raise TargetError(f"MAC ratio {ratio:.4g} is above what pruning can keep ({high.ratio:.4g}); ask for a ratio below 1")
    while hi - lo > 1:  # invariant: ratio(lo) >= target > ratio(hi) (ratio is non-increasing in the threshold)
        mid = (lo + hi) // 2
        if probe(mid).ratio >= ratio:
            lo = mid
        else:
            hi = mid
    above, below = probe(lo), probe(hi)
    best = min((above, below), key=lambda s: abs(s.ratio - ratio))
    if abs(best.ratio / ratio - 1) <= tolerance:
        return best
    filled = fill_budget(graph, scores, below, ratio, round_to, tolerance)
    if abs(filled.ratio / ratio - 1) <= tolerance:
        return filled
    raise TargetError(
        f"no channel selection lands within ±{tolerance:.0%} of MAC ratio {ratio:.4g}: the nearest reachable ratios "
        f"are {filled.ratio:.4g} and {above.ratio:.4g} (channels move in steps of --round-to {round_to}); ask for one "
        "of those or lower --round-to")


def fill_budget(graph: ChannelGraph, scores: dict[int, torch.Tensor], start: Selection, ratio: float,
                round_to: int, tolerance: float) -> Selection:
    """Add ``round_to``-channel blocks to ``start`` (below the target) while they fit under the target + tolerance.

    Each round adds the block whose next channel has the highest score among the blocks that still fit,
    so the fill follows the same ranking the threshold does.
    """
    counts = dict(start.counts)
    order = {gid: torch.sort(-s.detach().float(), stable=True).indices for gid, s in scores.items()}
    current = start.ratio

    def ratio_with(trial: dict) -> float:
        return graph.macs_for({g: float(n) for g, n in trial.items()}) / graph.total_macs

    while current < ratio * (1 - tolerance):
        options = []
        for gid, n in counts.items():
            channels = graph.groups[gid].channels
            if n >= channels:
                continue
            grown = min(channels, n + max(1, round_to))
            trial_ratio = ratio_with({**counts, gid: grown})
            if trial_ratio <= ratio * (1 + tolerance):
                options.append((float(scores[gid][order[gid][n]]), gid, grown, trial_ratio))
        if not options:
            break
        _, gid, grown, current = max(options)
        counts[gid] = grown
    keep = {gid: sorted(int(i) for i in order[gid][:n]) for gid, n in counts.items()}
    return Selection(start.threshold, counts, keep, float(current))


def build_plan(graph: ChannelGraph, selection: Selection) -> dict:
    """The replayable plan: per layer its original shape and kept indices (only layers that change)."""
    def kept(gid):
        if gid is None or gid not in selection.keep:
            return None
        indices = selection.keep[gid]
        return None if len(indices) == graph.groups[gid].channels else indices

    layers: dict[str, dict] = {}
    for layer in graph.layers:
        if layer.name in layers:
            continue
        if layer.kind == "depthwise":
            entry = {"type": "depthwise", "keep": kept(layer.out_group)}
        elif layer.kind == "linear":
            entry = {"type": "linear", "in": kept(layer.in_group)}
        elif layer.kind == "width":
            entry = {"type": "width", "keep": kept(layer.out_group)}
        else:
            entry = {"type": "conv", "out": kept(layer.out_group), "in": kept(layer.in_group)}
        if any(entry.get(k) is not None for k in ("keep", "out", "in")):
            layers[layer.name] = {**entry, "weight_shape": list(layer.weight_shape)}
    for gid, indices in selection.keep.items():
        if kept(gid) is None:
            continue
        for name in dict.fromkeys(graph.groups[gid].batchnorms):
            layers[name] = {"type": "bn", "num_features": graph.groups[gid].channels, "keep": indices}
    groups = [{"id": gid, "channels": graph.groups[gid].channels, "kept": len(indices),
               "members": sorted(set(graph.groups[gid].producers + graph.groups[gid].passthrough)),
               "keep": indices} for gid, indices in selection.keep.items()]
    return {"format": PLAN_FORMAT, "input_shape": list(graph.input_shape), "threshold": selection.threshold,
            "mac_ratio": selection.ratio, "layers": layers, "groups": groups}
