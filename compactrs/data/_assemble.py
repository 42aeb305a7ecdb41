"""Turn a stack of labelled patches into a split, normalised ``Dataset`` (shared by the patch readers)."""
from __future__ import annotations

import numpy as np

from ..errors import DataError
from ._base import Dataset
from ._normalize import band_stats, normalise_to_nchw, stats_record
from ._split import stratified_split


def check_finite(array: np.ndarray, what: str) -> None:
    """Raise ``DataError`` naming ``what`` when a float array holds NaN or inf."""
    if np.issubdtype(array.dtype, np.floating):
        bad = int(array.size - np.count_nonzero(np.isfinite(array)))
        if bad:
            raise DataError(
                f"{what} holds {bad} NaN/inf values; fill or mask them in the source before loading"
            )


def check_classes(num_classes: int, source: str) -> None:
    if num_classes < 2:
        raise DataError(
            f"{source} has {num_classes} class(es); a classifier needs at least 2, so add labelled classes"
        )


def dataset_from_samples(
    *,
    spec: str,
    kind: str,
    samples: np.ndarray,
    labels: np.ndarray,
    class_names: list[str],
    band_names: list[str],
    bands: list[int],
    test_fraction: float,
    seed: int,
    source: str,
    original_labels: list[int] | None = None,
    meta: dict | None = None,
    preprocess_extra: dict | None = None,
) -> Dataset:
    """Stratified split, per-band stats from train only, float32 NCHW arrays.

    Args:
        samples: ``(N, H, W, C)`` raw patches (any numeric dtype), bands already selected.
        labels: ``(N,)`` ints ``0..K-1``.
        bands: source band index of each channel of ``samples`` (goes to ``preprocess["bands"]``).
        source: the path or name shown in error messages.
    """
    check_classes(len(class_names), source)
    check_finite(samples, source)
    train_idx, test_idx, split = stratified_split(labels, test_fraction, seed)
    mean, std = band_stats(samples, train_idx)
    preprocess = {**stats_record(mean, std), "bands": [int(b) for b in bands], "pca": None, "layout": "NCHW"}
    preprocess.update(preprocess_extra or {})
    return Dataset(
        spec=spec,
        kind=kind,
        x_train=normalise_to_nchw(samples, train_idx, mean, std),
        y_train=labels[train_idx].astype(np.int64),
        x_test=normalise_to_nchw(samples, test_idx, mean, std),
        y_test=labels[test_idx].astype(np.int64),
        class_names=list(class_names),
        band_names=list(band_names),
        original_labels=None if original_labels is None else [int(v) for v in original_labels],
        preprocess=preprocess,
        split=split,
        meta=dict(meta or {}),
    )
