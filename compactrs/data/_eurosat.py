"""EuroSAT MS: one folder per class of 13-band Sentinel-2 GeoTIFF patches (64, 64, 13) uint16."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import DataError
from ._assemble import dataset_from_samples
from ._base import Dataset
from ._folder import scan_class_folders
from ._options import int_option, names_option

KIND = "eurosat"
DESCRIPTION = "EuroSAT MS class folders of 13-band Sentinel-2 GeoTIFFs; pick bands by name"
EXAMPLE = "eurosat:PATH/EuroSATallBands,bands=B04+B03+B02+B08"
NEEDS_PATH = True
SPLITS = ("random",)
DEFAULT_TEST = 0.3
ALL_BANDS = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B09", "B10", "B11", "B12", "B8A")
OPTIONS = {
    "bands": names_option("bands to keep, joined by '+' (default: all 13)", ALL_BANDS, "bands=B04+B03+B02"),
    "max_per_class": int_option("use the first N files (name order) of each class", None, example="max_per_class=50"),
}


def _read(path: Path) -> np.ndarray:
    import tifffile

    try:
        image = tifffile.imread(path)
    except Exception as exc:  # tifffile raises several types for corrupt files
        raise DataError(f"cannot read GeoTIFF {path}: {exc}; remove or replace the file") from exc
    if image.size == 0:  # tifffile logs and returns nothing for some corrupt files
        raise DataError(f"cannot read GeoTIFF {path}: no image data; remove or replace the file")
    if image.ndim == 3 and image.shape[0] == len(ALL_BANDS) and image.shape[-1] != len(ALL_BANDS):
        image = image.transpose(1, 2, 0)  # planar (band-separate) TIFFs read as (bands, H, W)
    if image.ndim != 3 or image.shape[-1] != len(ALL_BANDS):
        raise DataError(
            f"{path} has shape {image.shape}; eurosat expects (H, W, 13) Sentinel-2 patches "
            f"(for RGB images use folder:PATH)"
        )
    return image


def load(path: Path, options: dict, seed: int, spec: str) -> Dataset:
    """Read all GeoTIFFs, keep the chosen bands, then split and normalise."""
    classes, files = scan_class_folders(
        path, (".tif", ".tiff"), KIND, options["max_per_class"], hint=" (for RGB JPEG/PNG folders use folder:PATH)"
    )
    names = options["bands"] or ALL_BANDS
    bands = [ALL_BANDS.index(name) for name in names]
    flat = [file for group in files for file in group]
    first = _read(flat[0])
    samples = np.empty((len(flat), first.shape[0], first.shape[1], len(bands)), dtype=first.dtype)
    for i, file in enumerate(flat):
        image = first if i == 0 else _read(file)
        if image.shape != first.shape:
            raise DataError(f"{file} has shape {image.shape} but {flat[0]} has {first.shape}; all patches must match")
        samples[i] = image[..., bands]
    return dataset_from_samples(
        spec=spec,
        kind=KIND,
        samples=samples,
        labels=np.repeat(np.arange(len(classes)), [len(group) for group in files]),
        class_names=classes,
        band_names=list(names),
        bands=bands,
        test_fraction=options["test"],
        seed=seed,
        source=str(path),
        meta={"root": str(path), "files_per_class": {n: len(g) for n, g in zip(classes, files)}},
    )
