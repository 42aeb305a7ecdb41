"""The in-memory dataset every stage consumes: normalised train/test arrays plus how they were made."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Dataset:
    """A classification dataset split into train and test, already normalised.

    Arrays are float32 ``(N, C, H, W)`` (channels first, what the models take) and int64 labels in
    ``0..K-1``. ``preprocess`` is the JSON-able recipe that turns a raw patch (H, W, bands as read from the
    source, in the source's band order) into a model input: it goes into model.pt, report.json and the
    deploy bundle so the device reproduces the exact normalisation without compactrs.

    Attributes:
        spec: the canonical spec string it was loaded from (``"hsi:/abs/path,patch=9"``).
        kind: reader name: synthetic | hsi | so2sat | eurosat | folder.
        x_train, y_train, x_test, y_test: the split arrays.
        class_names: one name per label 0..K-1.
        band_names: one name per input channel, after band selection / PCA.
        original_labels: the label id of each class in the source (e.g. Indian Pines ids 2, 6, 10, 11).
        preprocess: {"mean": [...], "std": [...], "bands": [source indices], "pca": None | {...}, "layout": "NCHW"}.
        split: how train/test were drawn, e.g. {"method": "spatial-blocks", "test_fraction": 0.3, "seed": 0}.
        meta: reader-specific facts (scene shape, files read, ...), JSON-able.
    """

    spec: str
    kind: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: list[str]
    band_names: list[str]
    original_labels: list[int] | None = None
    preprocess: dict = field(default_factory=dict)
    split: dict = field(default_factory=dict)
    meta: dict = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def in_bands(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def input_size(self) -> tuple[int, int]:
        return int(self.x_train.shape[2]), int(self.x_train.shape[3])

    def input_spec(self) -> dict:
        """What a model trained on this data expects; stored in model.pt, report.json and the manifest."""
        return {
            "dataset": self.spec,
            "in_bands": self.in_bands,
            "input_size": list(self.input_size),
            "num_classes": self.num_classes,
            "class_names": list(self.class_names),
            "band_names": list(self.band_names),
            "original_labels": None if self.original_labels is None else list(self.original_labels),
            "preprocess": self.preprocess,
        }

    def class_counts(self, which: str = "train") -> list[int]:
        y = self.y_train if which == "train" else self.y_test
        return np.bincount(y, minlength=self.num_classes).astype(int).tolist()
