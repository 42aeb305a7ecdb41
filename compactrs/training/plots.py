"""Figures written into run directories (matplotlib, headless)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from compactrs._io import atomic_path


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_confusion(path: str | os.PathLike, confusion: Sequence[Sequence[int]], class_names: Sequence[str], title: str) -> Path:
    """Row-normalised confusion matrix with counts, one row per true class."""
    plt = _pyplot()
    cm = np.asarray(confusion, dtype=float)
    rows = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    k = len(class_names)
    size = max(4.0, 0.45 * k + 2)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    image = ax.imshow(rows, vmin=0, vmax=1, cmap="viridis")
    ax.set_xticks(range(k), class_names, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(k), class_names, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=10)
    if k <= 20:
        for i in range(k):
            for j in range(k):
                if cm[i, j]:
                    ax.text(j, i, int(cm[i, j]), ha="center", va="center", fontsize=7, color="white" if rows[i, j] < 0.6 else "black")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="fraction of true class")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return Path(path)


def plot_curves(path: str | os.PathLike, history: Sequence[dict], keys: Sequence[str], title: str, ylabel: str = "") -> Path:
    """Line plot of per-epoch values (e.g. loss, test_oa) from a metrics history."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for key in keys:
        points = [(h["epoch"], h[key]) for h in history if h.get(key) is not None]
        if points:
            ax.plot(*zip(*points), marker=".", label=key)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return Path(path)
