"""The two halves of the training split a search trains on: weights on one, the architecture on the other.

The architecture step picks what generalises *to the architecture half*. On a labelled scene cut into patches
(hyperspectral ``hsi:`` data) a random half leaks: a pixel's 9×9 patch shares most of its pixels with its
neighbours' patches in the other half, so the architecture half rewards memorising the scene, while the test
split the network is scored on is spatially disjoint. ``spatial`` halves split the training pixels the way the
test split was drawn (``compactrs.data._spatial``): whole blocks to the architecture half, the weight-half
pixels whose patch would overlap an architecture-half patch dropped as a buffer.
"""
from __future__ import annotations

import numpy as np
import torch

from compactrs.errors import ConfigError

SEARCH_SPLITS = ("auto", "random", "spatial")


def random_halves(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Disjoint random halves of ``range(n)``: (weight half, architecture half)."""
    if n < 4:
        raise ConfigError(f"the training split has {n} samples; a search needs at least 4 (two per half)")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed + 3))
    return order[: n // 2], order[n // 2:]


def _scene(dataset) -> tuple[np.ndarray, tuple[int, int], int, int] | None:
    """(train pixel coords, scene shape, patch, test-split block) of a spatially split scene, else None."""
    coords = dataset.meta.get("train_coords")
    if coords is None or (dataset.split or {}).get("method") != "spatial-blocks":
        return None
    return (np.asarray(coords), tuple(int(v) for v in dataset.meta["scene_shape"][:2]), int(dataset.preprocess["patch"]),
            int(dataset.split["block"]))


def search_halves(dataset, seed: int, mode: str = "auto") -> tuple[torch.Tensor, torch.Tensor, dict]:
    """(weight half, architecture half, record) of ``dataset``'s training split.

    ``mode``: ``random`` (disjoint random halves), ``spatial`` (spatially disjoint halves of a scene with a
    spatial test split; refused for other data) or ``auto`` (spatial where the data allows it, else random).
    The spatial halves use the block side, from 2 × patch up to the test split's, that leaves the fewest classes
    out of the architecture half, then drops the fewest pixels as buffer; the architecture half takes half of
    each class's kept pixels where whole blocks allow it.
    """
    if mode not in SEARCH_SPLITS:
        raise ConfigError(f"--search-split must be one of {', '.join(SEARCH_SPLITS)}, got {mode!r}")
    scene = _scene(dataset)
    if mode == "spatial" and scene is None:
        raise ConfigError(f"--search-split spatial needs a labelled scene split into spatial blocks (hsi:... data with "
                          f"its default split=spatial); '{dataset.spec}' has a {(dataset.split or {}).get('method', 'random')} "
                          f"split; use --search-split random (or auto)")
    n = len(dataset.y_train)
    if mode == "random" or scene is None:
        w, a = random_halves(n, seed)
        return w, a, {"method": "random", "weight_half": len(w), "architecture_half": len(a)}
    from compactrs.data._spatial import spatial_block_split

    coords, shape, patch, outer = scene
    labels = np.asarray(dataset.y_train)
    classes = list(range(int(labels.max()) + 1))
    best = None
    for block in sorted({*range(2 * patch, outer + 1, 2), outer}):
        w, a, info = spatial_block_split(coords, labels, shape, patch, block, 0.5, seed + 3, classes, dataset.spec)
        absent = set(np.unique(labels)) - set(np.unique(labels[a])) if len(a) else set(classes)
        key = (len(absent), info["dropped_buffer_pixels"])
        if best is None or key < best[0]:
            best = (key, w, a, block, info, sorted(int(c) for c in absent))
    _, w, a, block, info, missing = best
    if min(len(w), len(a)) < 2:
        raise ConfigError(f"the spatial search split of '{dataset.spec}' leaves {len(w)} / {len(a)} samples in its halves; "
                          f"use --search-split random")
    record = {"method": "spatial-blocks", "block": block, "weight_half": int(len(w)), "architecture_half": int(len(a)),
              "dropped_buffer_pixels": info["dropped_buffer_pixels"], "classes_without_architecture_pixels": missing}
    return torch.as_tensor(w), torch.as_tensor(a), record
