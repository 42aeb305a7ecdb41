"""Per-band statistics fitted on the training split only, band normalisation and PCA band reduction."""
from __future__ import annotations

import numpy as np

_CHUNK = 512  # samples per chunk: keeps float64 temporaries small for thousands of images


def _guard_std(std: np.ndarray) -> np.ndarray:
    # a constant band (e.g. a saturated or empty channel) would divide by zero; leave it centred instead
    return np.where(std > 1e-12 * np.maximum(1.0, np.abs(std).max(initial=0.0)), std, 1.0)


def band_stats(samples: np.ndarray, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std per band (last axis) over ``samples[index]``, in float64, chunk by chunk.

    Chunks are merged with Chan et al.'s pairwise update, so one pass suffices and large raw values
    (uint16 digital numbers) do not lose precision to cancellation.

    Args:
        samples: ``(N, ..., C)`` array of any numeric dtype.
        index: which samples to use (the training split).
    """
    channels = samples.shape[-1]
    mean, m2, count = np.zeros(channels), np.zeros(channels), 0
    for start in range(0, len(index), _CHUNK):
        # band-major copy: the reductions then run over contiguous memory
        chunk = np.ascontiguousarray(samples[index[start : start + _CHUNK]].reshape(-1, channels).T, np.float64)
        n = chunk.shape[1]
        chunk_mean = chunk.mean(axis=1)
        chunk -= chunk_mean[:, None]
        chunk_m2 = np.einsum("ij,ij->i", chunk, chunk)
        delta, total = chunk_mean - mean, count + n
        mean = mean + delta * n / total
        m2 = m2 + chunk_m2 + delta**2 * count * n / total
        count = total
    return mean, _guard_std(np.sqrt(m2 / max(count, 1)))


def normalise_to_nchw(samples: np.ndarray, index: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """``(samples[index] - mean) / std`` as float32 ``(n, C, H, W)`` from ``(N, H, W, C)`` samples."""
    n, (height, width, channels) = len(index), samples.shape[1:]
    out = np.empty((n, channels, height, width), dtype=np.float32)
    for start in range(0, n, _CHUNK):
        # transpose while still in the (small) source dtype, then normalise in place
        chunk = samples[index[start : start + _CHUNK]]
        np.copyto(out[start : start + len(chunk)], chunk.transpose(0, 3, 1, 2), casting="unsafe")
    out -= mean.astype(np.float32)[:, None, None]
    out /= std.astype(np.float32)[:, None, None]
    return out


def fit_pca(pixels: np.ndarray, n_components: int) -> tuple[np.ndarray, np.ndarray]:
    """Principal axes of ``pixels`` ``(n, B)`` via SVD; returns ``(mean (B,), components (n_components, B))``.

    Signs are fixed (largest-magnitude loading positive) so the same data always gives the same components.
    """
    data = pixels.astype(np.float64)
    mean = data.mean(axis=0)
    _, _, vt = np.linalg.svd(data - mean, full_matrices=False)
    components = vt[:n_components]
    signs = np.sign(components[np.arange(len(components)), np.abs(components).argmax(axis=1)])
    return mean, components * signs[:, None]


def stats_record(mean: np.ndarray, std: np.ndarray) -> dict:
    """The JSON-able part of ``preprocess`` that holds the statistics."""
    return {"mean": [float(v) for v in mean], "std": [float(v) for v in std]}
