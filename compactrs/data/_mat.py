"""MATLAB .mat access for the hyperspectral reader: list arrays by shape without loading them, then load one.

MAT v4-v7 go through ``scipy.io``; MAT v7.3 files are HDF5 and go through ``h5py``. MATLAB writes arrays
column-major, so h5py sees every array with its axes reversed; shapes and arrays are transposed back here
so callers always see MATLAB's own (H, W, B) order.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataError

_NUMERIC_CLASSES = {"double", "single", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64"}


@dataclass(frozen=True)
class MatArray:
    """One numeric array stored in a .mat file (shape as MATLAB sees it)."""

    file: Path
    key: str
    shape: tuple[int, ...]

    @property
    def where(self) -> str:
        """``file:key``, the array's name in metadata and messages."""
        return f"{self.file.name}:{self.key}"

    def label(self) -> str:
        return f"{self.file.name}:{self.key} {tuple(self.shape)}"


def _is_v73(path: Path) -> bool:
    import h5py

    return bool(h5py.is_hdf5(str(path)))


def list_arrays(path: Path) -> list[MatArray]:
    """Every numeric (non-logical, non-complex) array of a .mat file, without reading the data."""
    try:
        if _is_v73(path):
            import h5py

            with h5py.File(path, "r") as handle:
                found = []
                for key, item in handle.items():
                    if not isinstance(item, h5py.Dataset) or key.startswith("#"):
                        continue
                    matlab_class = item.attrs.get("MATLAB_class", b"")
                    matlab_class = matlab_class.decode() if isinstance(matlab_class, bytes) else str(matlab_class)
                    if item.dtype.kind in "iuf" and matlab_class not in ("char", "logical"):
                        found.append(MatArray(path, key, tuple(reversed(item.shape))))
                return found
        from scipy.io import whosmat

        return [MatArray(path, key, tuple(shape)) for key, shape, cls in whosmat(str(path)) if cls in _NUMERIC_CLASSES]
    except DataError:
        raise
    except Exception as exc:  # scipy/h5py raise many types for corrupt or non-MAT files
        raise DataError(f"cannot read MAT file {path}: {exc}; check that it is a MATLAB .mat file") from exc


def read_array(entry: MatArray) -> np.ndarray:
    """Load one array listed by :func:`list_arrays`, in MATLAB axis order."""
    try:
        if _is_v73(entry.file):
            import h5py

            with h5py.File(entry.file, "r") as handle:
                return np.asarray(handle[entry.key][()]).T
        from scipy.io import loadmat

        return np.asarray(loadmat(str(entry.file), variable_names=[entry.key])[entry.key])
    except Exception as exc:
        raise DataError(f"cannot read array '{entry.key}' from MAT file {entry.file}: {exc}") from exc
