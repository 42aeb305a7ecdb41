"""Fitting the predictor's coefficients to whole-network measurements, and the accuracy metrics.

The coefficients (per-op scales, per-op per-edge costs, cell-base and fixed scales, a per-inference term) are
fitted by non-negative least squares on *relative* errors — the quantity the validation reports — with a
weak pull of every scale towards 1 and every additive term towards 0, so an op that the fitting set rarely
uses keeps its measured value instead of drifting.
"""
from __future__ import annotations

import numpy as np

#: strength of the pull towards the unfitted model (relative to one fitting network's squared error).
PRIOR_WEIGHT = 1.0


def fit_coefficients(feature_rows: list[dict], measured_ms: list[float], default: dict) -> dict:
    """NNLS fit of ``default``'s coefficients so that Σ coef · feature ≈ measured (relative error).

    Args:
        feature_rows: per network, ``LatencyProfile.features(...)``.
        measured_ms: per network, its measured median latency.
        default: the unfitted coefficients; names absent from every row keep their default value.
    """
    from scipy.optimize import nnls

    names = [name for name in default if any(row.get(name, 0.0) for row in feature_rows)]
    y = np.asarray(measured_ms, dtype=float)
    x = np.array([[row.get(name, 0.0) for name in names] for row in feature_rows], dtype=float)
    a = x / y[:, None]
    b = np.ones(len(y))
    # Prior rows: scale ≈ 1 (in units of the feature's typical share of a network), additive terms ≈ 0.
    typical = np.maximum(np.median(np.abs(a), axis=0), 1e-12)
    prior_a = np.diag(np.sqrt(PRIOR_WEIGHT) * typical)
    prior_b = np.array([np.sqrt(PRIOR_WEIGHT) * typical[i] * (default[name] if name.startswith("scale:") else 0.0)
                        for i, name in enumerate(names)])
    solution, _ = nnls(np.vstack([a, prior_a]), np.concatenate([b, prior_b]), maxiter=50 * len(names))
    fitted = dict(default)
    fitted.update({name: float(value) for name, value in zip(names, solution)})
    return fitted


def accuracy_metrics(measured_ms, predicted_ms) -> dict:
    """Within ±10 %, mean absolute percentage error, Spearman rank correlation, worst error, bias."""
    from scipy.stats import spearmanr

    measured = np.asarray(measured_ms, dtype=float)
    predicted = np.asarray(predicted_ms, dtype=float)
    relative = (predicted - measured) / measured
    rho = float(spearmanr(measured, predicted).statistic) if len(measured) > 2 else float("nan")
    return {
        "n": int(len(measured)),
        "within_10pct": float(np.mean(np.abs(relative) <= 0.10)),
        "mape_pct": float(np.mean(np.abs(relative)) * 100),
        "max_abs_pct": float(np.max(np.abs(relative)) * 100),
        "bias_pct": float(np.mean(relative) * 100),
        "spearman": rho,
    }


def macs_linear_fit(fit_macs, fit_ms) -> tuple[float, float]:
    """Least-squares ``ms ≈ slope · MACs + intercept`` on the fitting set (the baseline of FINDINGS.md)."""
    slope, intercept = np.polyfit(np.asarray(fit_macs, dtype=float), np.asarray(fit_ms, dtype=float), 1)
    return float(slope), float(intercept)
