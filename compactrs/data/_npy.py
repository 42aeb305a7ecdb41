"""NumPy ``.npy`` access for the hyperspectral reader: one array per file, listed by shape without loading it.

Several libraries (tensorly, scikit-learn style loaders, the EHU scenes re-saved with ``numpy.save``) ship a
scene as a cube ``.npy`` (H, W, bands) beside a ground-truth ``.npy`` (H, W). Each file holds exactly one
array, so the file stem plays the role a MAT file's variable name plays (``cube=`` / ``gt=`` match it).
Arrays may be stored in Fortran order; they are returned C-contiguous so patch cutting is cache-friendly.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataError
from ._mat import MatArray


@dataclass(frozen=True)
class NpyArray(MatArray):
    """The single array of a ``.npy`` file; ``key`` is the file stem."""

    @property
    def where(self) -> str:
        return self.file.name

    def label(self) -> str:
        return f"{self.file.name} {tuple(self.shape)}"


def list_npy(path: Path) -> list[NpyArray]:
    """The numeric array of a ``.npy`` file (empty for bool / complex / text), read from the header only.

    Raises:
        DataError: the file is not a readable ``.npy`` (truncated, a pickle of objects, another format).
    """
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except Exception as exc:  # numpy raises ValueError / OSError / EOFError for foreign or truncated files
        raise DataError(
            f"cannot read NumPy file {path}: {exc}; it must be a .npy array written by numpy.save "
            f"(object arrays are refused: they would need pickle)"
        ) from exc
    if not isinstance(array, np.ndarray):  # np.load of a .npz archive returns an NpzFile
        raise DataError(f"{path} is a .npz archive, not a .npy array; save the cube and ground truth as .npy files")
    if array.dtype.kind not in "iuf":
        return []
    return [NpyArray(path, path.stem, tuple(int(n) for n in array.shape))]


def read_npy(entry: NpyArray) -> np.ndarray:
    """Load the array of a ``.npy`` file into memory, C-contiguous."""
    try:
        return np.ascontiguousarray(np.load(entry.file, allow_pickle=False))
    except Exception as exc:
        raise DataError(f"cannot read NumPy file {entry.file}: {exc}; check that the file is complete") from exc
