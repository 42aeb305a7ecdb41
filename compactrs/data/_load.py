"""The two public entry points: load a spec into a ``Dataset``, and summarise it as JSON."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ConfigError, DataError
from ._base import Dataset
from ._registry import READERS
from ._spec import canonical_spec, parse_spec


def load_dataset(spec: str, seed: int = 0) -> Dataset:
    """Load, split and normalise a dataset.

    Args:
        spec: ``KIND:PATH[,key=value,...]`` or ``synthetic[,key=value,...]`` (see ``DATASET_KINDS``).
        seed: seeds generation (synthetic) and the train/test split; same seed, same arrays.

    Returns:
        A ``Dataset`` with float32 NCHW arrays normalised by per-band statistics of the train split and
        ``spec`` in canonical form (absolute path, sorted options).

    Raises:
        DataError: bad spec, missing path, unreadable or inconsistent files.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"seed {seed!r} is not a non-negative integer; pass e.g. seed=0")
    kind, path, given = parse_spec(spec)
    reader = READERS[kind]
    if path is not None and not Path(path).exists():
        raise DataError(f"dataset path {path} does not exist (spec '{spec}'); check it, e.g. {reader.example}")
    options = {name: option.default for name, option in reader.options.items()}
    options.update(given)
    return reader.load(None if path is None else Path(path), options, int(seed), canonical_spec(kind, path, given))


def jsonable(value):
    """``value`` with numpy scalars made Python and arrays (and other non-JSON values) dropped from containers."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            item = jsonable(item)
            if item is not _DROP:
                out[key if isinstance(key, (str, int, float, bool)) or key is None else str(key)] = item
        return out
    if isinstance(value, (list, tuple)):
        items = [jsonable(item) for item in value]
        return [item for item in items if item is not _DROP]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return _DROP


_DROP = object()


def describe_dataset(spec: str, seed: int = 0) -> dict:
    """A JSON-able summary of the dataset a spec loads (what ``compactrs data info SPEC`` prints)."""
    data = load_dataset(spec, seed)
    preprocess = {k: v for k, v in data.preprocess.items() if k not in ("mean", "std", "pca")}
    preprocess["pca_components"] = None if not data.preprocess.get("pca") else len(data.preprocess["pca"]["components"])
    return jsonable(
        {
            "spec": data.spec,
            "kind": data.kind,
            "seed": int(seed),
            "in_bands": data.in_bands,
            "input_size": list(data.input_size),
            "num_classes": data.num_classes,
            "class_names": data.class_names,
            "band_names": data.band_names,
            "original_labels": data.original_labels,
            "counts": {
                which: dict(zip(data.class_names, data.class_counts(which))) for which in ("train", "test")
            },
            "split_sizes": {"train": int(len(data.y_train)), "test": int(len(data.y_test))},
            # the same numbers flat, in label order (what the CLI table reads)
            "n_train": int(len(data.y_train)),
            "n_test": int(len(data.y_test)),
            "train_counts": data.class_counts("train"),
            "test_counts": data.class_counts("test"),
            "split_method": data.split.get("method"),
            "split": data.split,
            "preprocess": preprocess,
            "meta": data.meta,
        }
    )
