"""``compactrs profile validate``: measure fresh random networks end to end and score the predictor on them."""
from __future__ import annotations

import json
import os
import tempfile
import textwrap
from pathlib import Path

from compactrs.cost._build import validation_block
from compactrs.cost._measure import TimingConfig, measure_folder
from compactrs.cost._networks import VALIDATION_SEED_OFFSET, emit_network_graphs, sample_networks
from compactrs.cost.latency import LatencyProfile
from compactrs.errors import ConfigError


def validate_any(path: str | os.PathLike, archs: int = 100, plot: str | os.PathLike | None = None,
                 seed: int | None = None, write: bool = False, compare=(), drift_archs: int = 10, progress=None,
                 timing: str | None = None, region_of: str | os.PathLike | None = None) -> dict:
    """Validate a kernel-level or an isolated-op profile (by its schema); plot where ``plot`` says, if given.

    ``compare``: paths of other profiles scored on the same networks (where they cover them). The profile is
    rewritten only with ``write``. ``timing`` ("wall" / "reference"; kernel profiles): how to time the
    networks end to end (default: as the profile's own networks were timed). ``region_of`` (kernel profiles): draw
    the networks from the part of the region that this other profile covers too (e.g. an older isolated-op table
    measured at one width), so it is scored on every network; such a block is never written into the profile.
    """
    from compactrs.cost._kernel_validate import isolated_op_predictor, shared_region, validate_kernel_profile
    from compactrs.cost.kernel_latency import KernelProfile
    from compactrs.cost.latency import load_profile

    profile = load_profile(path)
    if isinstance(profile, KernelProfile):
        others = {}
        stems = [Path(other).stem for other in compare]
        for other, stem in zip(compare, stems):
            loaded = load_profile(other)
            # named by file stem; profiles of the same file name in different folders by the path as given
            name = stem if stems.count(stem) == 1 else str(other)
            others[name] = (isolated_op_predictor(other) if not isinstance(loaded, KernelProfile)
                            else _kernel_predictor(loaded))
        region = None
        if region_of is not None:
            if write:
                raise ConfigError("--write records a validation of the profile's whole region; --region-of draws from "
                                  "part of it, so the two do not go together: drop one")
            region = shared_region(profile.space, load_profile(region_of).space, str(region_of))
        block = validate_kernel_profile(path, archs, seed, drift_archs, others, write=False, progress=progress,
                                        timing=timing, region=region)
        if region is not None:
            block["region"] = {"of": str(region_of), **{k: region[k] for k in ("inputs", "init_channels", "ops",
                                                                                "max_depth", "stem_kinds")}}
    elif region_of is not None:
        raise ConfigError(f"--region-of applies to kernel-level profiles; '{path}' is an isolated-op table, whose "
                          f"validation already draws from its own region")
    else:
        block = validate_profile(path, archs, None, seed, progress, write=False)
    if plot:
        block["plot"] = str(scatter_plot(block, Path(plot), title=f"{Path(path).name}: predicted vs measured"))
    if write:
        profile.data["validation"] = block
        profile.save(path)
    return block


def _kernel_predictor(profile):
    def predict(spec: dict) -> float:
        return profile.predict_genotype(spec["genotype"], spec["in_bands"], spec["input_size"], spec["num_classes"],
                                        spec["init_channels"], spec["stem_multiplier"])
    return predict


def validate_profile(path: str | os.PathLike, archs: int = 50, plot: str | os.PathLike | None = None,
                     seed: int | None = None, progress=None, write: bool = False) -> dict:
    """Score profile ``path`` on ``archs`` random networks it was not fitted on; with ``write``, record it in it.

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
    if plot:
        block["plot"] = str(scatter_plot(block, Path(plot), title=f"{Path(path).name}: predicted vs measured"))
    if write:
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
    ax.set(xlim=(lo, hi), ylim=(lo, hi), xlabel="measured latency (ms)", ylabel="predicted latency (ms)")
    if hi / lo > 20:  # networks over decades of latency: log axes, or the small ones (where searches land) vanish
        ax.set(xscale="log", yscale="log")
    # a long profile name wraps instead of running off the figure
    ax.set_title(textwrap.fill(title, 48), fontsize=9)
    noise = block.get("noise_floor")
    floor = f"\nre-timing within ±10%: {noise['within_10pct']:.1%}, MAPE {noise['mape_pct']:.1f}%" if noise else ""
    ax.text(0.03, 0.97, f"N={block['n']}  within ±10%: {block['within_10pct']:.1%}\nMAPE {block['mape_pct']:.1f}%  "
            f"Spearman {block['spearman']:.3f}{floor}", transform=ax.transAxes, va="top", fontsize=9)
    ax.legend(loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return path


def validation_table(block: dict) -> str:
    """The validation metrics (and baselines) as a fixed-width text table."""
    lines = [f"{'predictor':<24} {'N':>4} {'within±10%':>11} {'MAPE %':>8} {'max %':>7} {'bias %':>7} {'Spearman':>9}"]
    rows = [("profile", block)] + list((block.get("baselines") or {}).items())
    if block.get("noise_floor"):
        rows.append(("re-timing (noise floor)", block["noise_floor"]))
    for name, m in rows:
        bias = f"{m['bias_pct']:>7.2f}" if "bias_pct" in m else f"{'-':>7}"
        rho = f"{m['spearman']:>9.3f}" if "spearman" in m else f"{'-':>9}"
        lines.append(f"{name:<24} {m['n']:>4} {m['within_10pct']:>11.1%} {m['mape_pct']:>8.2f} {m['max_abs_pct']:>7.1f} "
                     f"{bias} {rho}")
    return "\n".join(lines)


def validation_json(block: dict) -> str:
    return json.dumps({k: v for k, v in block.items() if k != "archs"}, indent=2)
