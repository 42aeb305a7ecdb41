"""Seeded random stratified train/test splits."""
from __future__ import annotations

import numpy as np


def stratified_split(labels: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray, dict]:
    """Split sample indices per class so that each class puts about ``test_fraction`` of its samples in test.

    A class with at least two samples gets at least one sample in each split; a class with a single sample
    stays in train (and is listed in the returned info).

    Args:
        labels: int labels ``0..K-1`` of every sample.
        test_fraction: fraction of each class that goes to test, 0 < f < 1.
        seed: seeds the draw; same seed, same split.

    Returns:
        ``(train_idx, test_idx, info)``: train indices in a seeded random order (so a loader that forgets to
        shuffle still sees mixed classes), test indices sorted, and the ``split`` record.
    """
    rng = np.random.default_rng(seed)
    train_parts, test_parts, train_only = [], [], []
    for label in range(int(labels.max()) + 1 if labels.size else 0):
        members = np.flatnonzero(labels == label)
        if members.size == 0:
            continue
        members = rng.permutation(members)
        n_test = int(round(test_fraction * members.size))
        n_test = min(max(n_test, 1), members.size - 1)
        if n_test <= 0:
            train_only.append(label)
        test_parts.append(members[:n_test])
        train_parts.append(members[n_test:])
    train_idx = rng.permutation(np.concatenate(train_parts)) if train_parts else np.zeros(0, np.int64)
    test_idx = np.sort(np.concatenate(test_parts)) if test_parts else np.zeros(0, np.int64)
    info = {"method": "random-stratified", "test_fraction": test_fraction, "seed": seed}
    if train_only:
        info["classes_missing_from_test"] = train_only
    return train_idx.astype(np.int64), test_idx.astype(np.int64), info
