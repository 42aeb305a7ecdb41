"""Search figures: architecture-probability evolution, cost per epoch, accuracy vs MACs against baselines."""
from __future__ import annotations

import math

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from compactrs._io import atomic_path
from compactrs.training.plots import _pyplot


def _save(fig, path) -> Path:
    plt = _pyplot()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return Path(path)


def plot_arch_probs(path: str | os.PathLike, history: Sequence[dict], ops: Sequence[str]) -> Path:
    """Per epoch: each op's probability (mean over the 8 slots) in normal and reduction cells; expected depths."""
    plt = _pyplot()
    epochs = [h["epoch"] for h in history]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for ax, cell_type in zip(axes[:2], ("normal", "reduce")):
        probs = np.array([np.mean(h["probs"]["ops"][cell_type], axis=0) for h in history])  # (epochs, ops)
        colours = plt.get_cmap("tab20").colors
        for i, op in enumerate(ops):
            ax.plot(epochs, probs[:, i], marker=".", label=op, color=colours[(2 * i) % 20 if i < 10 else (2 * i + 1) % 20])
        ax.axhline(1 / len(ops), color="grey", lw=0.8, ls=":")
        ax.set_title(f"{cell_type} cells: op probability (mean over slots)", fontsize=10)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7, ncol=2)
    depth_probs = np.array([h["probs"]["depths"] for h in history])  # (epochs, blocks, max_depth)
    expected = (depth_probs * np.arange(1, depth_probs.shape[-1] + 1)).sum(-1)
    for block in range(expected.shape[1]):
        axes[2].plot(epochs, expected[:, block], marker=".", label=f"block {block + 1}")
    axes[2].set_ylim(0.8, depth_probs.shape[-1] + 0.2)
    axes[2].set_title("expected depth per block", fontsize=10)
    axes[2].set_xlabel("epoch")
    axes[2].grid(alpha=0.3)
    axes[2].legend(fontsize=8)
    return _save(fig, path)


def plot_cost(path: str | os.PathLike, history: Sequence[dict], flops_target: float | None, tolerance: float,
              latency_target_ms: float | None = None) -> Path:
    """Expected and derived (argmax) MACs per epoch with the target band; latency in a second panel if searched."""
    plt = _pyplot()
    has_latency = latency_target_ms is not None and "expected_latency_ms" in history[0]
    fig, axes = plt.subplots(1, 2 if has_latency else 1, figsize=(12 if has_latency else 6.5, 4.2), squeeze=False)
    epochs = [h["epoch"] for h in history]
    panels = [("expected_macs", "derived_macs", flops_target, 1e6, "MACs (millions; FLOPs counted as MACs)")]
    if has_latency:
        panels.append(("expected_latency_ms", "derived_latency_ms", latency_target_ms, 1.0, "predicted latency (ms)"))
    for ax, (expected, derived, target, scale, label) in zip(axes[0], panels):
        ax.plot(epochs, [h[expected] / scale for h in history], marker=".", label="expected (sampled distribution)")
        ax.plot(epochs, [h[derived] / scale for h in history], marker="x", label="derived (argmax) architecture")
        if target is not None:
            ax.axhspan(target * (1 - tolerance) / scale, target / scale, color="tab:green", alpha=0.15, label="target band")
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    axes[0][0].set_title("cost of the architecture distribution per search epoch", fontsize=10)
    return _save(fig, path)


def _mantissa(value: float) -> int:
    """The leading digit of ``value`` (e.g. 5 for 0.05, 2 for 200)."""
    return int(round(value / 10 ** math.floor(math.log10(value)), 6))


def plot_accuracy_vs_macs(path: str | os.PathLike, searched: dict, baselines: Sequence[dict], title: str) -> Path:
    """Overall accuracy against MACs (log axis): the searched network and the given baselines' reports."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for base in baselines:
        ax.scatter(base["macs"] / 1e6, base["oa"], marker="s", color="tab:blue")
        ax.annotate(base["name"], (base["macs"] / 1e6, base["oa"]), textcoords="offset points", xytext=(5, 4), fontsize=8)
    ax.scatter(searched["macs"] / 1e6, searched["oa"], marker="*", s=160, color="tab:red", zorder=3)
    ax.annotate(searched["name"], (searched["macs"] / 1e6, searched["oa"]), textcoords="offset points", xytext=(5, -12), fontsize=8, color="tab:red")
    ax.set_xscale("log")
    from matplotlib.ticker import FuncFormatter

    plain = FuncFormatter(lambda value, _: f"{value:g}")
    # label minor ticks only at 2× and 5× a power of ten: labelling all eight per decade made them overlap
    sparse = FuncFormatter(lambda value, _: f"{value:g}" if value > 0 and _mantissa(value) in (2, 5) else "")
    ax.xaxis.set_major_formatter(plain)
    ax.xaxis.set_minor_formatter(sparse)
    ax.set_xlabel("MACs per sample (millions, log scale)")
    ax.set_ylabel("test overall accuracy")
    ax.set_title(title if baselines else f"{title}\n(no baselines given: pass --baselines RUN_DIR ...)", fontsize=10)
    ax.grid(alpha=0.3, which="both")
    return _save(fig, path)
