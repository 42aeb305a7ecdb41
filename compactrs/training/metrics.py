"""Classification metrics used in remote-sensing papers: OA, AA, Cohen's kappa, per-class accuracy."""
from __future__ import annotations

import numpy as np

from compactrs.errors import DataError


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """``cm[i, j]`` = number of samples of true class ``i`` predicted as ``j``."""
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    return np.bincount(y_true * num_classes + y_pred, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> dict:
    """Overall accuracy, average (per-class mean) accuracy, Cohen's kappa, per-class accuracy, confusion.

    Classes absent from ``y_true`` have no accuracy (``None``) and are left out of AA, so AA is the mean
    over the classes that were actually tested.
    """
    cm = confusion_matrix(y_true, y_pred, num_classes)
    total = cm.sum()
    if total == 0:
        raise DataError("no samples to score: the test split is empty; use more data or a larger test fraction (test=0.3)")
    support = cm.sum(axis=1)
    correct = np.diag(cm)
    per_class = [float(c / s) if s else None for c, s in zip(correct, support)]
    tested = [a for a in per_class if a is not None]
    oa = float(correct.sum() / total)
    expected = float((cm.sum(axis=0) * support).sum()) / float(total) ** 2
    kappa = 1.0 if expected == 1.0 else (oa - expected) / (1.0 - expected)
    return {
        "oa": oa,
        "aa": float(np.mean(tested)),
        "kappa": float(kappa),
        "per_class_acc": per_class,
        "confusion": cm.astype(int).tolist(),
        "n": int(total),
    }
