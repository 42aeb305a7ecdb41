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


def test_retest(rows: list[dict]) -> dict:
    """Agreement of each network's first two end-to-end rounds: share within ±10 % and MAPE (the noise floor)."""
    first = np.array([row["round_ms"][0] for row in rows])
    second = np.array([row["round_ms"][1] for row in rows])
    relative = np.abs(second - first) / first
    return {"n": int(len(rows)), "within_10pct": float(np.mean(relative <= 0.10)),
            "mape_pct": float(np.mean(relative) * 100), "max_abs_pct": float(np.max(relative) * 100)}


def accuracy_by_input(rows: list[dict]) -> dict[str, dict]:
    """Validation rows (``network``, ``measured_ms``, ``predicted_ms``, ``round_ms``) grouped by input shape
    ("200x9x9"): within ±10 %, MAPE and bias of each group, with its test–retest agreement where timed twice."""
    groups: dict[str, list[dict]] = {}
    for row in rows:
        net = row.get("network") or {}
        if "in_bands" in net and "input_size" in net:
            groups.setdefault(f"{net['in_bands']}x{net['input_size']}x{net['input_size']}", []).append(row)
    out = {}
    for key, group in groups.items():
        metrics = accuracy_metrics([r["measured_ms"] for r in group], [r["predicted_ms"] for r in group])
        out[key] = {"input": key, **{k: metrics[k] for k in ("n", "within_10pct", "mape_pct", "bias_pct")}}
        timed_twice = [r for r in group if len(r.get("round_ms") or []) >= 2]
        if timed_twice:
            floor = test_retest(timed_twice)
            out[key]["noise_floor"] = {k: floor[k] for k in ("n", "within_10pct", "mape_pct")}
    return out


def macs_linear_fit(fit_macs, fit_ms) -> tuple[float, float]:
    """Least-squares ``ms ≈ slope · MACs + intercept`` on the fitting set (the baseline of FINDINGS.md)."""
    slope, intercept = np.polyfit(np.asarray(fit_macs, dtype=float), np.asarray(fit_ms, dtype=float), 1)
    return float(slope), float(intercept)
