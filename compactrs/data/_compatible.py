"""The one check that a dataset fits a model: same bands, same classes and (where recorded) the same normalisation."""
from __future__ import annotations

import numpy as np

from compactrs.data._base import Dataset
from compactrs.errors import DataError


def check_dataset_fits(dataset: Dataset, in_bands: int, num_classes: int, model: str, trained_on: str | None,
                       mean=None, fix: str | None = None) -> None:
    """Raise ``DataError`` when ``dataset`` cannot feed a model taking ``in_bands`` bands and ``num_classes`` classes.

    Args:
        model: how to name the model in the message, e.g. ``"the model in 'runs/x'"`` or ``"bundle 'b'"``.
        trained_on: the dataset spec the model was trained on (named in the fix).
        mean: the per-band means the model was trained with; when given, the dataset's must match (rtol 1e-5).
        fix: what to do instead (default: pass the data it was trained on).
    """
    fix = fix or f"pass the data it was trained on ({trained_on})"
    if dataset.in_bands != in_bands or dataset.num_classes != num_classes:
        raise DataError(f"dataset '{dataset.spec}' has {dataset.in_bands} bands / {dataset.num_classes} classes but {model} "
                        f"expects {in_bands} / {num_classes}; {fix}")
    ours = dataset.preprocess.get("mean")
    if mean is not None and (ours is None or np.shape(ours) != np.shape(mean) or not np.allclose(ours, mean, rtol=1e-5)):
        raise DataError(f"dataset '{dataset.spec}' is normalised differently from {model} (band means differ); {fix}, "
                        f"with the same spec and seed")
