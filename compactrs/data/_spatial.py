"""Spatially disjoint train/test split of a labelled scene: whole blocks go to test, a buffer is dropped.

Random pixel splits of a hyperspectral scene leak: neighbouring pixels share most of their patch, so test
accuracy measures memorisation. Here test pixels come from whole square blocks, and every training pixel
whose patch would overlap a test pixel's patch is dropped, so no test patch shares a pixel with a training
patch.
"""
from __future__ import annotations

import numpy as np



# weight of the squared share of labelled pixels lost to the buffer, against the squared miss of the per-class
# test fraction: 0.1 keeps ~2/3 of Indian Pines' labelled pixels at patch 9 with fractions within ~0.1
BUFFER_WEIGHT = 0.1


def default_block(patch: int, height: int, width: int) -> int:
    """Block side used when ``block=`` is not given: big enough that the buffer does not eat whole blocks."""
    return max(2 * patch, int(round(min(height, width) / 5)))


def _block_reach(coords: np.ndarray, block_of: np.ndarray, n_blocks: int, shape: tuple[int, int], patch: int):
    """For each block, the labelled pixels whose patch overlaps the patch of one of the block's pixels."""
    from scipy.ndimage import maximum_filter

    height, width = shape
    index_grid = np.full(shape, -1, dtype=np.int64)
    index_grid[coords[:, 0], coords[:, 1]] = np.arange(len(coords))
    reach = []
    for block in range(n_blocks):
        rows, cols = coords[block_of == block].T
        r0, r1 = max(rows.min() - patch + 1, 0), min(rows.max() + patch, height)
        c0, c1 = max(cols.min() - patch + 1, 0), min(cols.max() + patch, width)
        mask = np.zeros((r1 - r0, c1 - c0), dtype=bool)
        mask[rows - r0, cols - c0] = True
        # Chebyshev distance < patch  <=>  inside the (2*patch-1)-square around a block pixel
        near = maximum_filter(mask, size=2 * patch - 1, mode="constant", cval=False)
        window = index_grid[r0:r1, c0:c1]
        reach.append(window[near & (window >= 0)])
    return reach


def _greedy_test_blocks(counts: np.ndarray, reach: list, labels: np.ndarray, test_fraction: float, order):
    """Pick test blocks: first one per class (rarest first), then the best block while the cost drops.

    The cost is the squared miss of ``test_fraction`` per class (on kept pixels) plus the weighted squared
    share of labelled pixels lost to the buffer; no block may take a class's last training pixel.

    Returns:
        ``(chosen, covered, test_counts, train_counts)``: chosen blocks, labelled pixels in a test block or
        its buffer, and per-class test / remaining training counts.
    """
    n_blocks, num_classes = counts.shape
    totals = counts.sum(axis=0)
    covered = np.zeros(len(labels), dtype=bool)
    chosen = np.zeros(n_blocks, dtype=bool)
    state = {"test": np.zeros(num_classes, dtype=np.int64), "train": totals.copy()}

    def after(block):
        newly = reach[block][~covered[reach[block]]]
        return state["test"] + counts[block], state["train"] - np.bincount(labels[newly], minlength=num_classes)

    def cost(test, train):
        fit = float(np.mean((test / np.maximum(test + train, 1) - test_fraction) ** 2))
        dropped = (len(labels) - test.sum() - train.sum()) / len(labels)
        return fit + BUFFER_WEIGHT * float(dropped) ** 2

    def best_block(candidates, below=np.inf):
        best = None
        for block in candidates:
            test, train = after(block)
            value = cost(test, train)
            if (train > 0).all() and value < below - 1e-12 and (best is None or value < best[0]):
                best = (value, block)
        return None if best is None else best[1]

    def take(block):
        state["test"], state["train"] = after(block)
        covered[reach[block]] = True
        chosen[block] = True

    for cls in np.argsort(totals, kind="stable"):
        if state["test"][cls] == 0:
            block = best_block([b for b in order if not chosen[b] and counts[b, cls] > 0])
            if block is not None:
                take(block)
    while (block := best_block([b for b in order if not chosen[b]], cost(state["test"], state["train"]))) is not None:
        take(block)
    return chosen, covered, state["test"], state["train"]


def spatial_block_split(
    coords: np.ndarray,
    labels: np.ndarray,
    shape: tuple[int, int],
    patch: int,
    block: int,
    test_fraction: float,
    seed: int,
    class_ids: list[int],
    source: str,
) -> tuple[np.ndarray, np.ndarray, dict]:
    """Assign whole blocks to test, greedily matching ``test_fraction`` per class, then drop the buffer.

    The fraction is measured on the pixels kept (train + test) of each class, so the split sizes a user sees
    follow ``test=``; the greedy also weighs how many labelled pixels the buffer throws away, which favours
    test blocks that lie next to each other.

    Args:
        coords: ``(N, 2)`` row/col of each labelled pixel.
        labels: ``(N,)`` labels ``0..K-1``.
        shape: scene ``(H, W)``.
        patch: patch side; train and test pixels end at Chebyshev distance >= ``patch``.
        block: block side in pixels.
        test_fraction: wanted share of test in each class's kept (train + test) pixels.
        seed: seeds the block grid offset and the tie-breaking order.
        class_ids: original label id of each class, for error messages.
        source: the file the scene came from, for error messages.

    Returns:
        ``(train_idx, test_idx, info)`` indices into ``coords``; train in a seeded random order.

    A class that cannot be placed in both splits is recorded in ``info`` (``classes_without_test`` /
    ``classes_without_training`` and a ``warning``), never an error: tiny classes of real scenes hit this.
    """
    rng = np.random.default_rng(seed)
    num_classes = len(class_ids)
    offset = rng.integers(0, block, size=2)
    grid_cols = (shape[1] + int(offset[1])) // block + 1
    keys = ((coords[:, 0] + offset[0]) // block) * grid_cols + (coords[:, 1] + offset[1]) // block
    _, block_of = np.unique(keys, return_inverse=True)
    n_blocks = int(block_of.max()) + 1
    counts = np.zeros((n_blocks, num_classes), dtype=np.int64)
    np.add.at(counts, (block_of, labels), 1)
    totals = counts.sum(axis=0)
    reach = _block_reach(coords, block_of, n_blocks, shape, patch)
    chosen, covered, test_counts, train_counts = _greedy_test_blocks(
        counts, reach, labels, test_fraction, rng.permutation(n_blocks)
    )

    test_mask = chosen[block_of]
    train_mask = ~covered
    train_idx = rng.permutation(np.flatnonzero(train_mask))
    achieved = test_counts / np.maximum(test_counts + train_counts, 1)
    test_idx = np.flatnonzero(test_mask)
    info = {
        "method": "spatial-blocks",
        "block": int(block),
        "grid_offset": [int(v) for v in offset],
        "blocks": n_blocks,
        "test_blocks": int(chosen.sum()),
        "test_fraction": test_fraction,
        "achieved_test_fraction": [round(float(v), 4) for v in achieved],  # per class, in label order
        "min_train_test_distance": int(patch),
        "dropped_buffer_pixels": int(len(coords) - train_mask.sum() - test_mask.sum()),
        "seed": seed,
    }
    info.update(_unplaced_classes(labels, train_mask, test_mask, totals, class_ids, block, test_fraction, source))
    return train_idx.astype(np.int64), test_idx.astype(np.int64), info


def _unplaced_classes(labels, train_mask, test_mask, totals, class_ids, block, test_fraction, source) -> dict:
    """Classes the split left without test (or training) pixels, and a warning saying so; ``{}`` if none.

    A class whose pixels all lie within one patch width of each other (Indian Pines' 20 Oats pixels) cannot
    have both a test and a training pixel at that distance; its pixels stay in training, it is left out of
    AA and per-class accuracy (no test pixels), and the split record says so instead of failing the load.
    """
    missing = {
        name: [int(class_ids[c]) for c in range(len(class_ids)) if not (mask & (labels == c)).any()]
        for name, mask in (("test", test_mask), ("training", train_mask))
    }
    if not missing["test"] and not missing["training"]:
        return {}
    parts = [
        f"class(es) {', '.join(map(str, ids))} ({', '.join(str(int(totals[class_ids.index(i)])) for i in ids)} "
        f"labelled) have no {name} pixels"
        for name, ids in missing.items()
        if ids
    ]
    warning = (
        f"after the spatial split of {source} (block={block}, test={test_fraction}) {'; '.join(parts)}: they are "
        f"not scored (AA and per-class accuracy cover the tested classes); a smaller block= may place them, "
        f"split=random always does (but leaks spatially)"
    )
    return {"classes_without_test": missing["test"], "classes_without_training": missing["training"],
            "warning": warning}
