"""``compactrs profile validate`` for kernel-level profiles: fresh networks, the noise floor, baselines, a gate.

Every validation network is timed end to end in at least two interleaved rounds; the agreement of the
rounds (test–retest) is the machine's noise floor, reported beside the predictor's error so that model
error can be told from noise. ``drift_archs`` of the profile's own fitting networks are re-timed in the
same rounds: their ratio to the times stored in the profile shows whether the machine (or its load) has
changed since the profile was measured. Nothing is written into the profile unless ``write`` is set.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from compactrs.cost import _kernel_build as kb
from compactrs.cost._fit import accuracy_metrics
from compactrs.cost._kernel_pipeline import VALIDATION_SEED_OFFSET, _now, _unpriced, predict_items, validation_block
from compactrs.deploy.timing import TimingConfig
from compactrs.cost.kernel_latency import KernelProfile
from compactrs.errors import ConfigError


def _timing(profile: KernelProfile, mode: str | None = None) -> TimingConfig:
    """The profile's own timing settings; ``mode`` ("wall" / "reference") overrides how runs are normalised."""
    from dataclasses import replace

    stored = profile.data.get("measurement", {}).get("timing", {})
    timing = TimingConfig(**{k: v for k, v in stored.items() if k in TimingConfig.__dataclass_fields__})
    return timing if mode is None else replace(timing, reference=timing_reference(mode))


def timing_reference(mode: str) -> bool:
    """``--timing`` as ``TimingConfig.reference``: "reference" (normalised by a reference graph) or "wall"."""
    if mode not in ("wall", "reference"):
        raise ConfigError(f"--timing {mode!r} is not one of wall, reference")
    return mode == "reference"


def validate_kernel_profile(path: str | os.PathLike, archs: int = 100, seed: int | None = None, drift_archs: int = 10,
                            compare=None, write: bool = False, progress=None, timing: str | None = None,
                            region: dict | None = None) -> dict:
    """Score the kernel profile at ``path`` on ``archs`` fresh random networks of its region.

    Args:
        path: a ``compactrs.latency-profile/2`` JSON.
        archs: validation networks (never equal to a fitting network).
        seed: seed of the validation networks (default: the profile's seed + an offset + 1, so they differ
            from the validation networks measured when the profile was built).
        drift_archs: fitting networks of the profile re-timed in the same rounds (0: none).
        compare: other predictors to score on the same networks, ``{name: callable(spec) -> ms}``; a callable
            raising ConfigError/ArtifactError (network outside its coverage) leaves that network out of its row.
        write: replace the profile's validation block (atomically); default: the profile is not touched.
        timing: "wall" or "reference" (``compactrs.deploy.timing``); default: as the profile was measured.
        region: the part of the profile's space to draw the networks from (``shared_region``: e.g. the region an
            older, narrower profile covers, so that it is scored on every network); default: the whole space.

    Returns:
        the validation block (predictor metrics, ``noise_floor``, ``baselines``, ``drift``, ``machine_state``).
    """
    profile = KernelProfile.load(path)
    profile.check_target()  # the profile's runtime (and NNCF for OpenVINO INT8) must be installed here
    if archs < 3:
        raise ConfigError(f"--archs {archs} is too few to rank networks; use 3 or more (100 for a published number)")
    config = profile.data["measurement"].get("config", {})
    fit_rows = profile.data["network"]["fit"]["networks"]
    base_seed = (config.get("seed", 0) + VALIDATION_SEED_OFFSET + 1) if seed is None else seed
    specs = kb.sample_specs(region or profile.space, archs, base_seed, exclude=[row["network"] for row in fit_rows])
    drift_rows = fit_rows[:: max(1, len(fit_rows) // max(drift_archs, 1))][:drift_archs] if drift_archs else []
    conditions: dict = {}
    with tempfile.TemporaryDirectory(prefix="compactrs-kvalidate-") as tmp:
        folder = Path(tmp)
        items = kb.emit_networks(specs, folder, profile.data["batch"], "validate", 0, progress)
        drift_items = kb.emit_networks([row["network"] for row in drift_rows], folder, profile.data["batch"], "drift",
                                       0, progress)
        mixed = _interleave(items, drift_items)
        # the networks run in the profile's runtime and precision (INT8: quantised as when it was profiled)
        kb.prepare_runtime_graphs(folder, mixed, profile.runtime, profile.precision, progress)
        timings = dict(zip([item["file"] for item in mixed],
                           kb.time_networks(folder, mixed, profile.data["threads"], _timing(profile, timing), progress,
                                            conditions, profile.runtime, profile.precision)))
        predicted = predict_items(profile, folder, items)
    rows = kb.network_rows(items, [timings[item["file"]] for item in items])
    extra = {name: _baseline(rows, predict) for name, predict in (compare or {}).items()}
    block = validation_block(rows, predicted, fit_rows, {k: v for k, v in extra.items() if v},
                             _unpriced(items))
    block["seed"] = base_seed
    block["machine_state"] = conditions
    if drift_rows:
        ratios = [timings[item["file"]]["median_ms"] / row["measured_ms"] for item, row in zip(drift_items, drift_rows)]
        block["drift"] = {"n": len(ratios), "median_ratio": float(np.median(ratios)),
                          "note": "fitting networks re-timed now ÷ their time stored in the profile"}
        # what a re-timing in these very rounds would give ('compactrs profile retime'): model error without drift
        priced = [(row, p) for row, p in zip(rows, predicted) if p is not None]
        block["baselines"]["profile × drift"] = accuracy_metrics(
            [row["measured_ms"] for row, _ in priced], [p * block["drift"]["median_ratio"] for _, p in priced])
    if write:
        profile.data["validation"] = block
        profile.save(path)
    return block


def shared_region(space: dict, other: dict, other_name: str) -> dict:
    """The part of kernel-profile ``space`` that ``other`` (any profile's ``space``) covers too: input shapes,
    widths, class counts, ops, depths and stem kinds in both. ConfigError naming what the two do not share."""
    region = dict(space)
    for key in ("in_bands", "input_size", "init_channels", "num_classes", "ops"):
        if key in other:
            region[key] = [value for value in space[key] if value in set(other[key])]
    region["inputs"] = [[bands, size] for bands, size in space.get("inputs") or
                        [[b, s] for b in space["in_bands"] for s in space["input_size"]]
                        if bands in region["in_bands"] and size in region["input_size"]]
    for key in ("nodes", "blocks"):
        if other.get(key, space[key]) != space[key]:
            raise ConfigError(f"'{other_name}' has {key} {other[key]}, this profile {space[key]}: their networks differ "
                              f"in structure, so they share no region; compare profiles of the same cell structure")
    region["max_depth"] = min(space["max_depth"], other.get("max_depth", space["max_depth"]))
    region["stem_kinds"] = [kind for kind in space.get("stem_kinds", ["conv"]) if kind in other.get("stem_kinds", ["conv"])]
    empty = [key for key in ("inputs", "init_channels", "num_classes", "ops", "stem_kinds") if not region[key]]
    if empty:
        raise ConfigError(f"this profile and '{other_name}' share no {', '.join(empty)} (theirs: "
                          + "; ".join(f"{k} {other.get(k)}" for k in empty if k in other)
                          + "); drop --region-of, or compare profiles whose regions overlap")
    if len(region["ops"]) < 2:
        raise ConfigError(f"this profile and '{other_name}' share only the ops {region['ops']}; too few to draw networks from")
    return region


def _interleave(a: list, b: list) -> list:
    """``b`` spread evenly through ``a`` (drift networks among the validation networks)."""
    if not b:
        return list(a)
    out, step = [], max(1, len(a) // len(b))
    rest = list(b)
    for index, item in enumerate(a):
        out.append(item)
        if rest and index % step == step - 1:
            out.append(rest.pop(0))
    return out + rest


def _baseline(rows: list[dict], predict) -> dict | None:
    from compactrs.errors import ArtifactError

    measured, predicted = [], []
    for row in rows:
        try:
            value = predict(row["network"])
        except (ConfigError, ArtifactError):
            continue
        measured.append(row["measured_ms"])
        predicted.append(value)
    if len(measured) < 3:
        return None
    return accuracy_metrics(measured, predicted)


def isolated_op_predictor(path: str | os.PathLike):
    """The previous predictor (a ``compactrs.latency-profile/1`` table of ops timed alone) as a callable."""
    from compactrs.cost.latency import LatencyProfile

    old = LatencyProfile.load(path)

    def predict(spec: dict) -> float:
        return old.predict_genotype(spec["genotype"], spec["in_bands"], spec["input_size"], spec["num_classes"],
                                    spec["init_channels"], spec["stem_multiplier"])
    return predict


def refit_network_term(path: str | os.PathLike, out: str | os.PathLike, command: str = "", progress=None) -> dict:
    """Refit a kernel profile's whole-network term from its own stored measurements, with no timing.

    The kernels of each stored fitting network are enumerated again (export + the runtime's optimised graph,
    configurations only), priced by the profile's regressors, and the network term refitted
    (``_kernel_build.fit_network_term``, on those predicted sums); the stored validation networks are priced again
    and scored against their stored end-to-end times (the noise floor is theirs, unchanged). For a profile whose
    term was fitted on profiled sums (made before 2026-11-29), or after any change of the network model, without
    re-measuring.

    Returns the new validation block (or None when the profile has none). Writes ``out`` (atomically); the
    input is only replaced when ``out`` is the same path.
    """
    from compactrs.cost.kernel_latency import NETWORK_FORMULA

    profile = KernelProfile.load(path)
    profile.check_target()  # enumerating its kernels needs the profile's runtime here
    data = profile.data
    fit_rows = [dict(row) for row in data["network"]["fit"]["networks"]]
    prices = []
    for index, row in enumerate(fit_rows):
        kernels = profile._spec_kernels(_spec_key(row["network"]))
        prices.append(profile.kernel_us(kernels))
        row["predicted_kernel_us"] = float(prices[-1].sum())
        if progress is not None:
            progress.log(f"fitting network {index + 1}/{len(fit_rows)}: {len(kernels)} kernels")
    coefficients = kb.fit_network_term(fit_rows, kb.cheapest_kernel_us(data["kernels"]["samples"]),
                                       data["network"].get("per_run_measured_us"), prices)
    previous = {k: data["network"]["coefficients"].get(k) for k in ("per_run_us", "per_kernel_us", "scale", "floor_us")}
    data["network"].update({"coefficients": coefficients, "formula": NETWORK_FORMULA})
    data["network"]["fit"]["networks"] = fit_rows
    data["network"]["refit"] = {"created": _now(), "command": command, "previous_coefficients": previous,
                                "note": "network term refitted from the stored measurements (kernels re-enumerated, "
                                        "nothing re-timed); validation re-scored on its stored end-to-end times"}
    refitted = KernelProfile(data, str(out))
    block = data.get("validation")
    if block and block.get("archs"):
        rows = [{k: v for k, v in row.items() if k != "predicted_ms"} for row in block["archs"]]
        predicted = []
        for index, row in enumerate(rows):
            kernels = refitted._spec_kernels(_spec_key(row["network"]))
            unknown = refitted.unknown_types(kernels)
            predicted.append(None if unknown else refitted.kernels_ms(kernels))
            if progress is not None:
                progress.log(f"validation network {index + 1}/{len(rows)}")
        new_block = validation_block(rows, predicted, fit_rows)
        data["validation"] = {**{k: v for k, v in block.items() if k not in new_block}, **new_block,
                              "refit": {"previous": {k: block.get(k) for k in ("within_10pct", "mape_pct", "bias_pct", "spearman")}}}
    refitted.save(out)
    return data.get("validation")


def _spec_key(spec: dict) -> str:
    from compactrs.cost.kernel_latency import _spec_json

    return _spec_json(spec["genotype"], spec["in_bands"], spec["input_size"], spec["num_classes"], spec["init_channels"],
                      spec.get("stem_multiplier", 1))
