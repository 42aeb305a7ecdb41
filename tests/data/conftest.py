"""Seeded generators of tiny dataset files, handed to tests as fixtures (real data: tests/conftest.py)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

def _make_scene(seed: int = 0, size: int = 40, bands: int = 12) -> tuple[np.ndarray, np.ndarray]:
    """A small labelled scene: cube (H, W, B) uint16 and gt (H, W) uint8 with classes 3, 5, 7 in 8x8 cells."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:size, 0:size]
    gt = np.array([3, 5, 7], dtype=np.uint8)[(rows // 8 + cols // 8) % 3]
    gt[:, :2] = 0  # an unlabelled strip, as real scenes have
    gt[rng.random((size, size)) < 0.1] = 0
    signatures = rng.uniform(500, 3000, (8, bands))
    cube = signatures[gt] + rng.normal(0, 40, (size, size, bands))
    return cube.astype(np.uint16), gt


def _write_mat73(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write arrays like MATLAB's ``save -v7.3``: HDF5 with a 512-byte header, column-major (axes reversed)."""
    import h5py

    classes = {"uint8": "uint8", "uint16": "uint16", "float64": "double", "float32": "single", "int64": "int64"}
    with h5py.File(path, "w", userblock_size=512) as handle:
        for key, array in arrays.items():
            dataset = handle.create_dataset(key, data=np.ascontiguousarray(np.asarray(array).T))
            dataset.attrs["MATLAB_class"] = np.bytes_(classes[np.asarray(array).dtype.name])
    header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024 HDF5 schema 1.00 ."
    with open(path, "r+b") as handle:
        handle.write(header.ljust(116, b" ") + b"\x00" * 8 + b"\x00\x02" + b"IM")


def _write_so2sat(path: Path, n: int = 60, seed: int = 0, lcz: tuple[int, ...] = (0, 3, 10, 16)) -> np.ndarray:
    """An LCZ42-like .h5 file with sen1, sen2 and one-hot labels; returns the LCZ index (0-based) per row."""
    import h5py

    rng = np.random.default_rng(seed)
    classes = np.array(lcz)[np.arange(n) % len(lcz)]
    onehot = np.zeros((n, 17))
    onehot[np.arange(n), classes] = 1
    with h5py.File(path, "w") as handle:
        handle["sen2"] = rng.random((n, 32, 32, 10)) * 0.3 + classes[:, None, None, None] * 0.01
        handle["sen1"] = rng.normal(0, 1e-4, (n, 32, 32, 8))
        handle["label"] = onehot
    return classes


def _write_png_folder(root: Path, seed: int = 0, per_class: int = 6, size: int = 16) -> Path:
    """Class folders of small RGB PNGs; one image per class-folder set is larger, to exercise resizing."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for index, name in enumerate(("beach", "forest", "river")):
        folder = root / name
        folder.mkdir(parents=True)
        for i in range(per_class):
            side = size + 4 if (index, i) == (0, 0) else size
            pixels = rng.integers(0, 60, (side, side, 3)) + np.array([60, 0, 0]) * index
            Image.fromarray(pixels.astype(np.uint8)).save(folder / f"{name}_{i:02d}.png")
    (root / "README.txt").write_text("not a class folder")
    return root


@pytest.fixture
def scene_file(tmp_path: Path) -> Path:
    """One .mat (v5) holding both the cube and the gt."""
    from scipy.io import savemat

    cube, gt = _make_scene()
    path = tmp_path / "scene.mat"
    savemat(path, {"scene": cube, "gt": gt})
    return path


@pytest.fixture
def make_scene():
    return _make_scene


@pytest.fixture
def write_mat73():
    return _write_mat73


@pytest.fixture
def write_so2sat():
    return _write_so2sat


@pytest.fixture
def png_folder(tmp_path: Path) -> Path:
    return _write_png_folder(tmp_path / "scenes")
