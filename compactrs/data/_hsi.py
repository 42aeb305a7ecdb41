"""Hyperspectral scenes from .mat or .npy files, turned into per-pixel patches (cube-to-pixel classification)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import DataError
from ._assemble import check_classes, check_finite
from ._base import Dataset
from ._hsi_detect import find_cube, find_gt, read_scene_array, scene_files
from ._normalize import band_stats, fit_pca, stats_record
from ._options import int_option, text_option
from ._spatial import default_block, spatial_block_split
from ._split import stratified_split

KIND = "hsi"
DESCRIPTION = (
    "hyperspectral scene (.mat cube + ground-truth map, v5 or v7.3; or a cube .npy beside a ground-truth .npy) "
    "cut into per-pixel patches"
)
EXAMPLE = "hsi:PATH/scene.mat,patch=9"
NEEDS_PATH = True
SPLITS = ("spatial", "random")
DEFAULT_TEST = 0.3
OPTIONS = {
    "patch": int_option("odd patch side around each labelled pixel (default 9)", 9, odd=True, example="patch=9"),
    "block": int_option("side of the square blocks of split=spatial (default: from patch and scene)", None,
                        example="block=20"),
    "pca": int_option("reduce the bands to N principal components fitted on training pixels", None, example="pca=30"),
    "cube": text_option("key of the cube array, or .npy file stem (default: the only 3-D array)",
                        "cube=indian_pines_corrected"),
    "gt": text_option("key of the ground-truth array, or .npy file stem (default: the 2-D array matching the cube)",
                      "gt=indian_pines_gt"),
    "gt_file": text_option("file of the ground truth (.mat or .npy), relative to the scene directory",
                           "gt_file=scene_gt.mat"),
}
RANDOM_SPLIT_WARNING = (
    "pixels were split at random: train and test patches overlap spatially, so test accuracy is optimistic; "
    "use split=spatial for an honest estimate"
)


def _read_scene(path: Path, options: dict) -> tuple[np.ndarray, np.ndarray, dict]:
    """Locate and read cube (H, W, B) and gt (H, W) ints; returns them and the meta describing their source."""
    files = scene_files(path)
    cube_entry = find_cube(files, options["cube"])
    scene_dir = path if path.is_dir() else path.parent
    if options["gt_file"] is not None:
        gt_path = (scene_dir / options["gt_file"]).resolve()
        if not gt_path.is_file():
            raise DataError(f"gt_file {gt_path} does not exist; give a .mat or .npy file name inside {scene_dir}")
        pool = [gt_path]
    else:
        # a single file given as PATH may keep its gt in a sibling file (Indian_pines_gt.mat beside the cube)
        pool = [cube_entry.file] + [f for f in scene_files(scene_dir) if f != cube_entry.file]
    gt_entry, layout = find_gt(cube_entry, pool, options["gt"])

    cube = read_scene_array(cube_entry)
    if layout == "BHW":
        cube = cube.transpose(1, 2, 0)
    if not np.issubdtype(cube.dtype, np.number) or np.issubdtype(cube.dtype, np.complexfloating):
        raise DataError(f"cube {cube_entry.label()} has dtype {cube.dtype}; it must be real numbers")
    check_finite(cube, f"cube {cube_entry.label()}")
    gt = read_scene_array(gt_entry)
    if not np.issubdtype(gt.dtype, np.integer):
        if not (np.isfinite(gt).all() and np.array_equal(gt, np.round(gt))):
            raise DataError(f"ground truth {gt_entry.label()} holds non-integer values; it must be class ids")
    if gt.min() < 0:
        raise DataError(f"ground truth {gt_entry.label()} holds negative ids; use 0 for unlabelled, 1.. for classes")
    meta = {
        "files": [str(f) for f in dict.fromkeys([cube_entry.file, gt_entry.file])],
        "cube": cube_entry.where,
        "gt": gt_entry.where,
        "cube_layout": layout,
        "scene_shape": [int(v) for v in cube.shape],
    }
    return cube, gt.astype(np.int64), meta


def _split(coords, labels, ids, shape, options, seed, source) -> tuple[np.ndarray, np.ndarray, dict]:
    if options["split"] == "random":
        train_idx, test_idx, info = stratified_split(labels, options["test"], seed)
        return train_idx, test_idx, {**info, "warning": RANDOM_SPLIT_WARNING}
    block = options["block"] or default_block(options["patch"], *shape)
    if block < options["patch"]:
        raise DataError(
            f"block={block} is smaller than patch={options['patch']} for {source}: the buffer would be wider than "
            f"the blocks; use block >= {options['patch']} or leave block= out"
        )
    return spatial_block_split(
        coords, labels, shape, options["patch"], block, options["test"], seed, [int(i) for i in ids], source
    )


def _patches(cube: np.ndarray, coords: np.ndarray, patch: int) -> np.ndarray:
    """``(N, C, patch, patch)`` float32 windows centred on ``coords``, reflect-padded at the borders."""
    half = patch // 2
    padded = np.pad(cube, ((half, half), (half, half), (0, 0)), mode="reflect")
    windows = np.lib.stride_tricks.sliding_window_view(padded, (patch, patch), axis=(0, 1))  # (H, W, C, p, p)
    return np.ascontiguousarray(windows[coords[:, 0], coords[:, 1]], dtype=np.float32)


def load(path: Path, options: dict, seed: int, spec: str) -> Dataset:
    """Read the scene, split the labelled pixels, fit PCA / band stats on train, cut patches."""
    cube, gt, meta = _read_scene(path, options)
    source = meta["cube"]
    height, width, bands = cube.shape
    patch = options["patch"]
    if patch // 2 >= min(height, width):
        raise DataError(f"patch={patch} is too large for the {height}x{width} scene {source}; use a smaller patch=")
    coords = np.argwhere(gt > 0)
    ids = np.unique(gt[gt > 0])
    check_classes(len(ids), f"ground truth {meta['gt']}")
    labels = np.searchsorted(ids, gt[coords[:, 0], coords[:, 1]])
    train_idx, test_idx, split = _split(coords, labels, ids, (height, width), options, seed, source)

    train_pixels = cube[coords[train_idx, 0], coords[train_idx, 1]]
    pca = None
    if options["pca"] is not None:
        n_components = options["pca"]
        if n_components > min(bands, len(train_idx)):
            raise DataError(
                f"pca={n_components} exceeds the {bands} bands / {len(train_idx)} training pixels of {source}; "
                f"use pca <= {min(bands, len(train_idx))}"
            )
        pca_mean, components = fit_pca(train_pixels, n_components)
        features = ((cube.reshape(-1, bands) - pca_mean) @ components.T).reshape(height, width, n_components)
        train_pixels = features[coords[train_idx, 0], coords[train_idx, 1]]
        pca = {"mean": [float(v) for v in pca_mean], "components": components.tolist()}
        band_names = [f"PC{i + 1}" for i in range(n_components)]
    else:
        features = cube
        band_names = [f"band_{i}" for i in range(bands)]
    mean, std = band_stats(train_pixels, np.arange(len(train_pixels)))
    normalised = ((features - mean) / std).astype(np.float32)

    meta.update(
        labelled_pixels=int(len(coords)),
        class_pixels={int(i): int(n) for i, n in zip(ids, np.bincount(labels))},
        train_coords=coords[train_idx],
        test_coords=coords[test_idx],
    )
    preprocess = {
        **stats_record(mean, std),
        "bands": list(range(bands)),
        "pca": pca,
        "layout": "NCHW",
        "patch": patch,
        "padding": "reflect",
    }
    return Dataset(
        spec=spec,
        kind=KIND,
        x_train=_patches(normalised, coords[train_idx], patch),
        y_train=labels[train_idx].astype(np.int64),
        x_test=_patches(normalised, coords[test_idx], patch),
        y_test=labels[test_idx].astype(np.int64),
        class_names=[f"class_{int(i)}" for i in ids],
        band_names=band_names,
        original_labels=[int(i) for i in ids],
        preprocess=preprocess,
        split=split,
        meta=meta,
    )
