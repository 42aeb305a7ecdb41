"""Find the hyperspectral cube and its ground-truth map among the arrays of .mat and .npy files.

The cube is the 3-D numeric array; the ground truth is a 2-D array whose shape equals the cube's spatial
shape. Shipped scene folders often hold extra maps (e.g. a full-scene gt beside a cropped cube), so the
gt is chosen by shape, and only an ambiguity that shape, file and name cannot settle is an error.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import DataError
from ._mat import MatArray, list_arrays, read_array
from ._npy import list_npy, read_npy

_GT_HINTS = ("gt", "label", "truth", "class", "map")


SCENE_SUFFIXES = (".mat", ".npy")


def scene_files(path: Path) -> list[Path]:
    """The files a ``hsi:PATH`` spec names: the file itself, or every .mat / .npy file of the directory."""
    if path.is_file():
        if path.suffix.lower() not in SCENE_SUFFIXES:
            raise DataError(f"{path} is neither a .mat nor a .npy file; give the scene's cube file or its directory")
        return [path]
    files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in SCENE_SUFFIXES)
    if not files:
        raise DataError(
            f"no .mat or .npy files in directory {path}; give a directory holding the cube and ground truth "
            f"(one .mat, or a cube .npy (H, W, bands) beside a ground-truth .npy (H, W))"
        )
    return files


def list_scene_arrays(path: Path) -> list[MatArray]:
    """The numeric arrays of one scene file: the variables of a .mat, or the one array of a .npy."""
    return list_npy(path) if path.suffix.lower() == ".npy" else list_arrays(path)


def read_scene_array(entry: MatArray) -> np.ndarray:
    """Load one array listed by :func:`list_scene_arrays`."""
    return read_npy(entry) if entry.file.suffix.lower() == ".npy" else read_array(entry)


def _listing(entries: list[MatArray]) -> str:
    return ", ".join(entry.label() for entry in entries) or "none"


def find_cube(files: list[Path], key: str | None) -> MatArray:
    """The single 3-D array of ``files`` (or the one named ``key``)."""
    entries = [entry for file in files for entry in list_scene_arrays(file)]
    where = files[0] if len(files) == 1 else files[0].parent
    if key is not None:
        named = [entry for entry in entries if entry.key == key]
        if not named:
            raise DataError(f"no array '{key}' in {where} (arrays found: {_listing(entries)}); fix cube=")
        if len(named) > 1:
            raise DataError(f"array '{key}' occurs in several files ({_listing(named)}); pass one file as PATH")
        if len(named[0].shape) != 3:
            raise DataError(f"cube array {named[0].label()} is not 3-D (H, W, bands); fix cube=")
        return named[0]
    cubes = [entry for entry in entries if len(entry.shape) == 3]
    if not cubes:
        raise DataError(f"no 3-D cube (H, W, bands) in {where} (arrays found: {_listing(entries)})")
    if len(cubes) > 1:
        raise DataError(
            f"several 3-D cubes in {where}: {_listing(cubes)}; pick one with cube=KEY or pass its file as PATH"
        )
    return cubes[0]


def spatial_shapes(cube: MatArray) -> dict[str, tuple[int, int]]:
    """The gt shape for each cube layout that fits: (H, W, B) first, then (B, H, W)."""
    a, b, c = cube.shape
    return {"HWB": (a, b), "BHW": (b, c)}


def find_gt(cube: MatArray, pool: list[Path], key: str | None) -> tuple[MatArray, str]:
    """The 2-D array of ``pool`` whose shape matches the cube, and the cube layout it implies.

    Args:
        cube: the chosen cube.
        pool: files to search; the first is searched alone first (the cube's file, or the gt_file).
        key: ``gt=KEY`` if given.

    Raises:
        DataError: no matching gt, a named gt of the wrong shape, or several equally good candidates.
    """
    layouts = spatial_shapes(cube)

    def layout_of(entry: MatArray) -> str | None:
        return next((name for name, shape in layouts.items() if tuple(entry.shape) == shape), None)

    # the first file alone settles it when it holds a matching map: other files are not even opened
    first = [entry for entry in list_scene_arrays(pool[0]) if entry != cube]
    if key is None and any(len(e.shape) == 2 and layout_of(e) for e in first):
        pool = pool[:1]
    entries = first + [entry for file in pool[1:] for entry in list_scene_arrays(file)]
    flat = [entry for entry in entries if len(entry.shape) == 2]
    where = pool[0] if len(pool) == 1 else pool[0].parent

    if key is not None:
        named = [entry for entry in entries if entry.key == key]
        if not named:
            raise DataError(f"no array '{key}' in {where} (arrays found: {_listing(entries)}); fix gt= or gt_file=")
        if len(named) > 1:
            raise DataError(f"gt array '{key}' occurs in several files ({_listing(named)}); add gt_file=NAME")
        if layout_of(named[0]) is None:
            raise DataError(
                f"gt shape mismatch: {named[0].label()} does not match the spatial shape of the cube "
                f"{cube.label()}; pick the gt of this scene with gt= / gt_file="
            )
        return named[0], layout_of(named[0])

    matching = [entry for entry in flat if layout_of(entry) is not None]
    if not matching:
        raise DataError(
            f"gt shape mismatch: no 2-D array in {where} matches the spatial shape of the cube {cube.label()} "
            f"(2-D arrays found: {_listing(flat)}); add the scene's ground truth or name it with gt=KEY, gt_file=NAME"
        )
    for narrow in (
        lambda entry: any(hint in entry.key.lower() for hint in _GT_HINTS),
        lambda entry: layout_of(entry) == "HWB",
    ):
        if len(matching) > 1 and any(narrow(entry) for entry in matching):
            matching = [entry for entry in matching if narrow(entry)]
    if len(matching) > 1:
        raise DataError(
            f"several ground-truth candidates match the cube {cube.label()}: {_listing(matching)}; "
            f"pick one with gt=KEY (and gt_file=NAME)"
        )
    return matching[0], layout_of(matching[0])
