"""``compactrs profile validate``: measure fresh random networks end to end and score the predictor on them."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from compactrs.cost._build import validation_block
from compactrs.cost._measure import TimingConfig, measure_folder
from compactrs.cost._networks import VALIDATION_SEED_OFFSET, emit_network_graphs, sample_networks
from compactrs.cost.latency import LatencyProfile
from compactrs.errors import ConfigError


def validate_profile(path: str | os.PathLike, archs: int = 50, plot: str | os.PathLike | None = None,
                     seed: int | None = None, progress=None) -> dict:
    """Score profile ``path`` on ``archs`` random networks it was not fitted on; write the result into it.

    The networks come from the profile's own search space (seeded from the fitting seed + an offset, and
    never equal to a fitting network), are measured in the profile's runtime with its threads, batch and
    timing settings, and the validation block (within ±10 %, MAPE, Spearman, per-network rows, MACs-only
    baseline) replaces the profile's previous one atomically. A predicted-vs-measured scatter plot is
    written to ``plot`` (default: the profile path with ``.png``).

    Returns:
        the validation block.
    """
    profile = LatencyProfile.load(path)
    if archs < 3:
        raise ConfigError(f"--archs {archs} is too few to rank networks; use 3 or more (50+ for a published number)")
    runtime = profile.data["runtime"].get("name")
    if runtime != "onnxruntime":
        raise ConfigError(f"profile '{path}' was measured with {runtime}, which cannot run here; emit validation "
                          f"networks with 'compactrs profile --emit DIR --validate-archs {archs}' and run "
                          f"deploy/profile_runner.py on the device")
    fit = profile.data["overhead"].get("fit") or {}
    fit_specs = [n["network"] for n in fit.get("networks", [])]
    base_seed = fit.get("seed", 0) if seed is None else seed
    specs = sample_networks(profile.space, archs, base_seed + VALIDATION_SEED_OFFSET, fit_specs)
    timing = TimingConfig(**{k: v for k, v in profile.data.get("measurement", {}).get("timing", {}).items()
                             if k in TimingConfig.__dataclass_fields__})
    with tempfile.TemporaryDirectory(prefix="compactrs-validate-") as tmp:
        items = emit_network_graphs(specs, Path(tmp), profile.data["batch"], "validate", progress)
        records = measure_folder(Path(tmp), items, profile.data["threads"], timing, progress)
    networks = [{"network": item["network"], "macs": item["macs"], "measured_ms": record["median_ms"],
                 "p90_ms": record["p90_ms"]} for item, record in zip(items, records)]
    block = validation_block(profile, networks)
    block["seed"] = base_seed + VALIDATION_SEED_OFFSET
    plot_path = Path(plot) if plot else Path(path).with_suffix(".png")
    block["plot"] = str(plot_path)
    scatter_plot(block, plot_path, title=f"{Path(path).name}: predicted vs measured")
    profile.data["validation"] = block
    profile.save(path)
    return block


def scatter_plot(block: dict, path: Path, title: str) -> Path:
    """Predicted vs measured latency, with the ±10 % band; written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from compactrs._io import atomic_path

    measured = [row["measured_ms"] for row in block["archs"]]
    predicted = [row["predicted_ms"] for row in block["archs"]]
    lo, hi = min(measured + predicted) * 0.9, max(measured + predicted) * 1.1
    fig, ax = plt.subplots(figsize=(5, 5), dpi=100)
    ax.plot([lo, hi], [lo, hi], color="black", linewidth=1)
    ax.fill_between([lo, hi], [lo * 0.9, hi * 0.9], [lo * 1.1, hi * 1.1], color="tab:green", alpha=0.15, label="±10 %")
    ax.scatter(measured, predicted, s=14, color="tab:blue")
    ax.set(xlim=(lo, hi), ylim=(lo, hi), xlabel="measured latency (ms)", ylabel="predicted latency (ms)", title=title)
    ax.text(0.03, 0.97, f"N={block['n']}  within ±10%: {block['within_10pct']:.1%}\nMAPE {block['mape_pct']:.1f}%  "
            f"Spearman {block['spearman']:.3f}", transform=ax.transAxes, va="top", fontsize=9)
    ax.legend(loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return path


def validation_table(block: dict) -> str:
    """The validation metrics (and baselines) as a fixed-width text table."""
    lines = [f"{'predictor':<22} {'N':>4} {'within±10%':>11} {'MAPE %':>8} {'max %':>7} {'bias %':>7} {'Spearman':>9}"]
    rows = [("profile (fitted)", block)] + list((block.get("baselines") or {}).items())
    for name, m in rows:
        lines.append(f"{name:<22} {m['n']:>4} {m['within_10pct']:>11.1%} {m['mape_pct']:>8.2f} {m['max_abs_pct']:>7.1f} "
                     f"{m['bias_pct']:>7.2f} {m['spearman']:>9.3f}")
    return "\n".join(lines)


def validation_json(block: dict) -> str:
    return json.dumps({k: v for k, v in block.items() if k != "archs"}, indent=2)
