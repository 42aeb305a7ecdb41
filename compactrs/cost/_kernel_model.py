"""One regressor per kernel type: a parametric roofline-like fit, corrected by its nearest measured kernels.

For a kernel of type T with configuration x the predicted time is ::

    t(x) = base_T(x) · exp( r_T(x) )
    base_T(x) = a + b·MACs + c·MACs_padded + d·bytes + e·outputs_padded        (a..e ≥ 0, per type)
    r_T(x)    = distance-weighted mean of log(measured / base) over the k nearest measured kernels of T

``*_padded`` round channel counts up to onnxruntime's NCHWc block (16 on AVX-512), which is what those
kernels really compute. ``base`` extrapolates sensibly along the work axes; the neighbour correction (like
nn-Meter's random forests, a local model) captures what the roofline misses — efficiency regimes of
particular channel counts, kernel sizes and strides — and reproduces measured configurations exactly.

Both parts are fitted deterministically from the kernel samples, which a profile stores as plain JSON: a
profile is loaded by refitting (milliseconds), never by unpickling a model.
"""
from __future__ import annotations

import math

import numpy as np

from compactrs.cost.kernels import NCHWC_BLOCK

#: configuration fields of a stored kernel sample, in this order, then its time in µs and its count.
SAMPLE_FIELDS = ("c_in", "c_out", "h_in", "w_in", "h_out", "w_out", "k_h", "k_w", "stride", "groups", "dilation",
                 "sum", "act", "macs", "bytes")
NEIGHBOURS = 6
#: relative weight of the pull of every parametric coefficient towards 0 (keeps rare types well-posed).
RIDGE = 1e-3


def _pad(channels) -> np.ndarray:
    return np.ceil(np.asarray(channels, dtype=float) / NCHWC_BLOCK) * NCHWC_BLOCK


def sample_row(kernel: dict) -> list:
    """A kernel's configuration as a stored row (``act`` as 0/1: whether an activation is fused)."""
    return [int(bool(kernel[f])) if f == "act" else int(kernel[f]) for f in SAMPLE_FIELDS]


def base_features(rows: np.ndarray) -> np.ndarray:
    """Per row ``[1, MACs, MACs_padded, bytes, outputs_padded]`` in units of 1e6 (rows: SAMPLE_FIELDS)."""
    col = {f: rows[:, i].astype(float) for i, f in enumerate(SAMPLE_FIELDS)}
    groups = np.maximum(col["groups"], 1)
    c_in_group = col["c_in"] / groups
    depthwise = groups > 1
    # padded work: NCHWc pads output channels (and, for dense convs, input channels) to the block
    c_in_pad = np.where(depthwise, c_in_group, _pad(col["c_in"]))
    out_pad = _pad(col["c_out"]) * col["h_out"] * col["w_out"]
    macs_pad = np.where(col["macs"] > 0, col["macs"] * (out_pad * c_in_pad) /
                        np.maximum(col["c_out"] * col["h_out"] * col["w_out"] * c_in_group, 1), 0.0)
    return np.stack([np.ones(len(rows)), col["macs"] / 1e6, macs_pad / 1e6, col["bytes"] / 1e6, out_pad / 1e6], axis=1)


def neighbour_space(rows: np.ndarray) -> np.ndarray:
    """Coordinates in which kernels are compared: log sizes, kernel size, stride, dilation, fusions."""
    col = {f: rows[:, i].astype(float) for i, f in enumerate(SAMPLE_FIELDS)}
    return np.stack([np.log2(col["c_in"] + 1), np.log2(col["c_out"] + 1), np.log2(col["h_out"] * col["w_out"] + 1),
                     np.log2(col["h_in"] * col["w_in"] + 1), col["k_h"] + col["k_w"], 2 * col["stride"],
                     col["dilation"], 2 * col["sum"], col["act"], np.log2(col["groups"] + 1)], axis=1)


class KernelRegressor:
    """The fitted model of one kernel type (see the module docstring)."""

    def __init__(self, rows, us, counts=None):
        self.rows = np.asarray(rows, dtype=float).reshape(-1, len(SAMPLE_FIELDS))
        self.us = np.asarray(us, dtype=float)
        self.counts = np.ones(len(self.us)) if counts is None else np.asarray(counts, dtype=float)
        self.coefficients = self._fit_base()
        self._points = neighbour_space(self.rows)
        self._scale = np.maximum(self._points.std(axis=0), 0.5)
        self._log_ratio = np.log(np.maximum(self.us, 1e-3) / self._base(self.rows))

    def _fit_base(self) -> np.ndarray:
        from scipy.optimize import nnls

        x = base_features(self.rows)
        weight = np.sqrt(self.counts) / np.maximum(self.us, 1e-3)  # relative error, repeated kernels count more
        a = x * weight[:, None]
        b = self.us * weight
        typical = np.maximum(np.median(np.abs(a), axis=0), 1e-9)
        prior = np.diag(math.sqrt(RIDGE * len(b)) * typical)
        solution, _ = nnls(np.vstack([a, prior]), np.concatenate([b, np.zeros(len(typical))]), maxiter=2000)
        if not solution.any():  # degenerate (one sample): a constant
            solution[0] = float(np.median(self.us))
        return solution

    def _base(self, rows: np.ndarray) -> np.ndarray:
        return np.maximum(base_features(rows) @ self.coefficients, 1e-3)

    def predict(self, rows, exclude_self: bool = False) -> np.ndarray:
        """Predicted µs per row; ``exclude_self`` drops exact-match samples (leave-one-out error estimates)."""
        rows = np.asarray(rows, dtype=float).reshape(-1, len(SAMPLE_FIELDS))
        base = self._base(rows)
        points = neighbour_space(rows) / self._scale
        reference = self._points / self._scale
        squared = (points ** 2).sum(1)[:, None] + (reference ** 2).sum(1)[None, :] - 2 * points @ reference.T
        distance = np.sqrt(np.maximum(squared, 0.0))
        if exclude_self:
            distance = np.where(distance < 1e-6, np.inf, distance)
        k = min(NEIGHBOURS, len(self.us) - int(exclude_self))
        if k <= 0:
            return base
        nearest = np.argpartition(distance, k - 1, axis=1)[:, :k]
        d = np.take_along_axis(distance, nearest, axis=1)
        weight = self.counts[nearest] / (d + 0.05) ** 2
        weight = np.where(np.isfinite(d), weight, 0.0)
        # far from every sample the correction fades out and the parametric base remains
        fade = np.exp(-np.min(d, axis=1) / 2.0)
        correction = (weight * self._log_ratio[nearest]).sum(1) / np.maximum(weight.sum(1), 1e-12)
        return base * np.exp(fade * correction)

    def to_json(self) -> dict:
        return {"rows": self.rows.astype(int).tolist(), "us": [round(float(v), 3) for v in self.us],
                "counts": self.counts.astype(int).tolist()}

    @classmethod
    def from_json(cls, data: dict) -> "KernelRegressor":
        return cls(data["rows"], data["us"], data.get("counts"))


def aggregate_samples(kernels: list[dict]) -> dict[str, dict]:
    """Group measured kernels by type and identical configuration: ``{type: {"rows", "us", "counts"}}``.

    Identical configurations (common in a discrete space) become one row with the median of their times.
    """
    groups: dict[str, dict[tuple, list]] = {}
    for kernel in kernels:
        groups.setdefault(kernel["type"], {}).setdefault(tuple(sample_row(kernel)), []).append(kernel["us"])
    out = {}
    for kind, configs in sorted(groups.items()):
        keys = sorted(configs)
        out[kind] = {"rows": [list(k) for k in keys], "us": [round(float(np.median(configs[k])), 3) for k in keys],
                     "counts": [len(configs[k]) for k in keys]}
    return out


def merge_samples(a: dict, b: dict) -> dict:
    """Union of two ``aggregate_samples`` results (same configuration: count-weighted mean)."""
    merged: dict[str, dict[tuple, list]] = {}
    for samples in (a, b):
        for kind, data in samples.items():
            table = merged.setdefault(kind, {})
            for row, us, count in zip(data["rows"], data["us"], data["counts"]):
                total, n = table.get(tuple(row), (0.0, 0))
                table[tuple(row)] = (total + us * count, n + count)
    return {kind: {"rows": [list(k) for k in sorted(t)], "us": [round(t[k][0] / t[k][1], 3) for k in sorted(t)],
                   "counts": [t[k][1] for k in sorted(t)]} for kind, t in sorted(merged.items())}


def fit_regressors(samples: dict) -> dict[str, KernelRegressor]:
    return {kind: KernelRegressor(data["rows"], data["us"], data["counts"]) for kind, data in samples.items()}
