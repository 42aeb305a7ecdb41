"""The normalisation contract on the device: raw patches → model inputs, as the manifest's ``input_spec`` says.

Standard library + numpy (+ tifffile for GeoTIFF patches, imported only when one is read).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .bundle import BundleError


def preprocess(raw: np.ndarray, spec: dict) -> np.ndarray:
    """Raw patches as read from the source (``(H, W, B)`` or ``(N, H, W, B)``, source band order) → model input.

    Applies, in order, what the manifest's ``input_spec`` records: band selection, PCA (if any), per-band
    standardisation with the training-split mean/std, then the NCHW float32 layout the model takes.
    """
    x = np.asarray(raw)
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4:
        raise BundleError(f"raw patches must be (H, W, bands) or (N, H, W, bands), got shape {x.shape}")
    bands = spec["bands"]
    if x.shape[-1] <= max(bands):
        raise BundleError(f"raw patch has {x.shape[-1]} bands but the model reads source band index {max(bands)}; "
                          f"pass patches with all {max(bands) + 1}+ source bands in source order")
    x = x[..., bands].astype(np.float64)
    pca = spec.get("pca")
    if pca:
        x = (x - np.asarray(pca["mean"])) @ np.asarray(pca["components"]).T
    x = (x - np.asarray(spec["mean"])) / np.asarray(spec["std"])
    height, width = spec["patch_size"]
    if x.shape[1:3] != (height, width):
        raise BundleError(f"patch is {x.shape[1]}x{x.shape[2]} pixels but the model takes {height}x{width}; cut or resize patches first")
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2), dtype=np.float32)


def read_patch(path: Path, spec: dict) -> np.ndarray:
    """Read one .npy or GeoTIFF patch as ``(H, W, bands)`` (planar ``(bands, H, W)`` TIFFs are transposed)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".npy":
        array = np.load(path, allow_pickle=False)
    elif suffix in (".tif", ".tiff"):
        try:
            import tifffile
        except ImportError as exc:
            raise BundleError(f"reading GeoTIFF '{path}' needs the package 'tifffile' (pip install tifffile); or pass .npy patches") from exc
        array = tifffile.imread(path)
    else:
        raise BundleError(f"'{path}' is neither .npy nor .tif/.tiff; convert the patch to one of those")
    need = max(spec["bands"]) + 1
    if array.ndim == 3 and array.shape[-1] < need <= array.shape[0]:
        array = array.transpose(1, 2, 0)
    return array

