"""RGB scene-classification folders: one subfolder per class, images read with PIL."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from ..errors import DataError
from ._assemble import dataset_from_samples
from ._base import Dataset
from ._options import int_option, size_option

KIND = "folder"
DESCRIPTION = "RGB scene folders, one subfolder per class (.jpg/.jpeg/.png/.tif/.tiff), e.g. UC Merced"
EXAMPLE = "folder:PATH/UCMerced_LandUse/Images,size=128"
NEEDS_PATH = True
SPLITS = ("random",)
DEFAULT_TEST = 0.3
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff")
OPTIONS = {
    "size": size_option("image size N or HxW (default: the most common size; others are resized)", "size=64"),
    "max_per_class": int_option("use the first N files (name order) of each class", None, example="max_per_class=50"),
}


def scan_class_folders(
    root: Path, suffixes: tuple[str, ...], kind: str, limit: int | None, hint: str = ""
) -> tuple[list[str], list[list[Path]]]:
    """Class names (sorted subfolder names) and the image files of each, in name order.

    Args:
        hint: appended to the empty-folder error (e.g. which other kind reads what was found instead).

    Raises:
        DataError: ``root`` is not a directory, has no class subfolders, or a class folder has no images.
    """
    if not root.is_dir():
        raise DataError(f"{kind} expects a directory of class subfolders, but {root} is a file; give its parent")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise DataError(f"no class subfolders in {root}; {kind} expects one subfolder of images per class")
    files = []
    for name in classes:
        found = sorted(
            p for p in (root / name).iterdir()
            if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in suffixes
        )
        if not found:
            raise DataError(
                f"empty class folder {root / name}: no {'/'.join(suffixes)} files; add images or remove the folder"
                + hint
            )
        files.append(found[:limit] if limit else found)
    return classes, files


def _read_rgb(path: Path, size: tuple[int, int] | None) -> tuple[np.ndarray, bool]:
    """One image as uint8 (H, W, 3), bilinearly resized to ``size`` (H, W) when given and different."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image = image.convert("RGB")
            resize = size is not None and image.size != (size[1], size[0])
            if resize:
                image = image.resize((size[1], size[0]), Image.BILINEAR)
            return np.asarray(image), resize
    except (OSError, UnidentifiedImageError, ValueError) as exc:  # also truncated data, found only on decode
        raise DataError(
            f"cannot read image {path}: {exc}; remove or replace the file (folder reads RGB/grey images; "
            f"13-band GeoTIFFs need eurosat:PATH)"
        ) from exc


def _read_all(files: list[Path], size: tuple[int, int] | None) -> tuple[np.ndarray, int]:
    """Stack of every image at ``size`` (default: the most common size); returns it and how many were resized."""
    if size is None:
        # one open per file (opening costs as much as decoding a 64x64 JPEG): read all, then pick the size
        images = [_read_rgb(file, None)[0] for file in files]
        size = Counter(image.shape[:2] for image in images).most_common(1)[0][0]
    else:
        images = [None] * len(files)
    samples = np.empty((len(files), size[0], size[1], 3), dtype=np.uint8)
    resized = 0
    for i, file in enumerate(files):
        image = images[i]
        if image is None or image.shape[:2] != size:
            image, changed = _read_rgb(file, size)
            resized += changed
        samples[i] = image
        images[i] = None  # release as we go
    return samples, resized


def load(path: Path, options: dict, seed: int, spec: str) -> Dataset:
    """Read every class folder into one uint8 (N, H, W, 3) stack, then split and normalise."""
    classes, files = scan_class_folders(path, IMAGE_SUFFIXES, KIND, options["max_per_class"])
    samples, resized = _read_all([file for group in files for file in group], options["size"])
    size = samples.shape[1:3]
    labels = np.repeat(np.arange(len(classes)), [len(group) for group in files])
    meta = {
        "root": str(path),
        "files_per_class": {name: len(group) for name, group in zip(classes, files)},
        "image_size": list(size),
        "resized_images": int(resized),
    }
    return dataset_from_samples(
        spec=spec,
        kind=KIND,
        samples=samples,
        labels=labels,
        class_names=classes,
        band_names=["R", "G", "B"],
        bands=[0, 1, 2],
        test_fraction=options["test"],
        seed=seed,
        source=str(path),
        meta=meta,
        preprocess_extra={"resize": list(size), "resample": "bilinear", "color": "RGB"},
    )
