"""So2Sat LCZ42 HDF5 files: ``sen2`` (N, 32, 32, 10) and ``sen1`` (N, 32, 32, 8) patches, one-hot ``label`` (N, 17)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import DataError
from ._assemble import dataset_from_samples
from ._base import Dataset
from ._options import choice_option, int_option

KIND = "so2sat"
DESCRIPTION = "So2Sat LCZ42 .h5 file (Sentinel-2 / Sentinel-1 32x32 patches, 17 local climate zones)"
EXAMPLE = "so2sat:PATH/validation.h5,max=5000"
NEEDS_PATH = True
SPLITS = ("random",)
DEFAULT_TEST = 0.3
OPTIONS = {
    "max": int_option("read only the first N samples (the file is not loaded whole)", None, example="max=5000"),
    "modality": choice_option("sen2 (10 bands), sen1 (8 bands) or both (18)", ("sen2", "sen1", "both"), "sen2"),
}

LCZ_NAMES = [
    "compact_high_rise", "compact_mid_rise", "compact_low_rise", "open_high_rise", "open_mid_rise",
    "open_low_rise", "lightweight_low_rise", "large_low_rise", "sparsely_built", "heavy_industry",
    "dense_trees", "scattered_trees", "bush_scrub", "low_plants", "bare_rock_or_paved", "bare_soil_or_sand",
    "water",
]
SEN2_BANDS = ["B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12"]
SEN1_BANDS = ["VH_real", "VH_imag", "VV_real", "VV_imag", "VH_lee", "VV_lee", "VHVV_lee_real", "VHVV_lee_imag"]


def _dataset(handle, name: str, path: Path, rows: int | None, ndim: int):
    import h5py

    item = handle.get(name)
    if not isinstance(item, h5py.Dataset) or item.ndim != ndim:
        keys = ", ".join(f"{k} {getattr(v, 'shape', '(group)')}" for k, v in handle.items()) or "none"
        raise DataError(f"{path} has no {ndim}-D array '{name}' (found: {keys}); is it a So2Sat LCZ42 file?")
    return np.asarray(item[:rows] if rows else item[()])


def load(path: Path, options: dict, seed: int, spec: str) -> Dataset:
    """Read the first ``max`` rows of the chosen modality and the labels, then split and normalise."""
    import h5py

    if not path.is_file():
        raise DataError(f"so2sat expects an .h5 file, but {path} is a directory; give the file itself")
    rows = options["max"]
    try:
        handle = h5py.File(path, "r")
    except OSError as exc:
        raise DataError(f"cannot open {path} as HDF5 ({exc}); so2sat expects an LCZ42 .h5 file") from exc
    with handle:
        onehot = _dataset(handle, "label", path, rows, 2)
        parts, band_names = [], []
        for modality, names in (("sen2", SEN2_BANDS), ("sen1", SEN1_BANDS)):
            if options["modality"] in (modality, "both"):
                part = _dataset(handle, modality, path, rows, 4)
                if part.shape[0] != onehot.shape[0] or part.shape[-1] != len(names):
                    raise DataError(
                        f"'{modality}' {part.shape} and 'label' {onehot.shape} in {path} do not fit; "
                        f"expected (N, H, W, {len(names)}) patches with N = {onehot.shape[0]}"
                    )
                parts.append(part)
                band_names += names
    if onehot.shape[1] != len(LCZ_NAMES):
        raise DataError(f"'label' in {path} has shape {onehot.shape}; expected (N, 17) one-hot LCZ labels")
    if not np.all((onehot == 0) | (onehot == 1)) or not np.all(onehot.sum(axis=1) == 1):
        raise DataError(f"'label' in {path} is not one-hot (each row must hold a single 1)")
    samples = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=-1)
    lcz = onehot.argmax(axis=1)
    present = np.unique(lcz)
    return dataset_from_samples(
        spec=spec,
        kind=KIND,
        samples=samples,
        labels=np.searchsorted(present, lcz),
        class_names=[LCZ_NAMES[i] for i in present],
        band_names=band_names,
        bands=list(range(len(band_names))),
        test_fraction=options["test"],
        seed=seed,
        source=str(path),
        original_labels=[int(i) + 1 for i in present],  # LCZ classes are numbered 1..17 in the dataset docs
        meta={"file": str(path), "samples_read": int(len(lcz)), "modality": options["modality"]},
    )
