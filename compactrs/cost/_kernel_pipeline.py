"""``compactrs profile`` (kernel level): sample → profile kernels in situ → fit → time end to end → validate.

The time budget is set by the network counts: every network costs one export, one profiled session
(``node_runs`` runs) and ``rounds`` end-to-end rounds of ``min_seconds / rounds``. Fitting and validation
networks are timed end to end in the same interleaved rounds.
"""
from __future__ import annotations

import datetime as _dt
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from compactrs.cost import _kernel_build as kb
from compactrs.cost._fit import accuracy_metrics, macs_linear_fit, test_retest
from compactrs.cost._kernel_model import fit_regressors, merge_samples
from compactrs.deploy.timing import TimingConfig
from compactrs.cost.kernel_latency import KERNEL_PROFILE_SCHEMA, NETWORK_FORMULA, KernelProfile, network_ms
from compactrs.errors import ConfigError

#: the input shapes (bands, side) of the shipped datasets: Indian Pines patches, EuroSAT MS / RGB crops, EuroSAT.
DATASET_INPUTS = ((200, 9), (3, 32), (10, 32), (3, 64), (13, 64))
WIDTHS = tuple(range(8, 65, 2))
VALIDATION_SEED_OFFSET = 1_000_003
COVERAGE_SEED_OFFSET = 2_000_003
@dataclass(frozen=True)
class KernelProfileConfig:
    """The region to cover, the runtime settings and how many networks to sample."""

    inputs: tuple[tuple[int, int], ...] = DATASET_INPUTS
    init_channels: tuple[int, ...] = WIDTHS
    num_classes: tuple[int, ...] = (10,)
    ops: tuple[str, ...] = ()            # empty: every op of compactrs.nn.ops.OPS
    nodes: int = 4
    blocks: int = 3
    max_depth: int = 5
    stem_multiplier: int = 1
    threads: int = 1
    batch: int = 1
    runtime: str = "onnxruntime"         # or "openvino" (compactrs.cost._runtime_kernels)
    precision: str = "fp32"              # or "int8": every network is quantised before it is profiled
    fit_archs: int = 60                  # of which the last third are drawn adaptively
    validate_archs: int = 0
    node_runs: int = 20
    #: fitting networks have at most this many cells per block: deeper blocks repeat the same kernel
    #: configurations (a cell's context depends only on its predecessor) and cost most of the export time.
    #: Validation networks always come from the whole space.
    fit_max_depth: int = 2
    #: networks drawn from the whole region (full depth) only to list the kernel types the runtime runs for
    #: them (one run each, no timing); a probe that runs a type no fitting network ran joins the fitting
    #: networks. None: a fifth of ``fit_archs``, at least 2.
    coverage_archs: int | None = None
    seed: int = 0
    #: end to end: reference-normalised (compactrs.deploy.timing; the CLI's --timing default, see there)
    timing: TimingConfig = field(default_factory=lambda: TimingConfig(min_runs=10, min_seconds=0.2, rounds=2,
                                                                      reference=True))

    def coverage_count(self) -> int:
        return max(2, self.fit_archs // 5) if self.coverage_archs is None else self.coverage_archs

    def space(self) -> dict:
        from compactrs.nn.ops import OPS

        ops = list(self.ops or OPS)
        unknown = [op for op in ops if op not in OPS]
        if unknown:
            raise ConfigError(f"unknown ops {unknown}; valid ops: {', '.join(OPS)}")
        if min(self.init_channels) < 1:
            raise ConfigError(f"init_channels must be positive, got {list(self.init_channels)}")
        from compactrs.nn.spectral_stem import MIN_SPECTRAL_BANDS

        # the spectral and pointwise stems are for many-band inputs; the sampled networks draw them there
        stems = ["conv", "spectral", "pointwise"] if any(b >= MIN_SPECTRAL_BANDS for b, _ in self.inputs) else ["conv"]
        return {"inputs": [list(pair) for pair in self.inputs],
                "in_bands": sorted({b for b, _ in self.inputs}), "input_size": sorted({s for _, s in self.inputs}),
                "init_channels": sorted(self.init_channels), "num_classes": list(self.num_classes), "ops": ops,
                "nodes": self.nodes, "blocks": self.blocks, "max_depth": self.max_depth,
                "stem_multiplier": self.stem_multiplier, "stem_kinds": stems}


def _warn_if_contended(data: dict) -> None:
    """A profile whose end-to-end timing ran under contention says so (and must not be shipped)."""
    state = data["measurement"].get("machine_state") or {}
    if state.get("contended"):
        data["measurement"]["warning"] = (f"measured under contention ({state.get('reason')}): do not ship this "
                                          f"profile; re-measure on a quiet machine")


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def build_kernel_profile(config: KernelProfileConfig, out: str | os.PathLike, progress=None, command: str = "",
                         log=None) -> KernelProfile:
    """Measure, fit (and, with ``validate_archs``, validate) a kernel-level profile; write it to ``out``.

    The networks run in ``config.runtime`` at ``config.precision`` (INT8: each is quantised first, calibrated on
    random inputs — see ``compactrs.cost._runtime_kernels``).
    """
    from compactrs._env import versions
    from compactrs.cost._runtime_kernels import check_runtime
    from compactrs.deploy.machine import describe_machine

    check_runtime(config.runtime, config.precision)
    log = log or (lambda message: None)
    space = config.space()
    rt, precision = config.runtime, config.precision
    started = time.perf_counter()
    first = max(1, config.fit_archs - config.fit_archs // 3)
    conditions: dict = {}
    phases: dict[str, float] = {}
    last = [started]

    def phase(name: str) -> None:
        """Record (and log) how long the phase that just ended took: the lead's 15-minute budget is judged on these."""
        now = time.perf_counter()
        phases[name] = round(now - last[0], 1)
        last[0] = now
        log(f"phase {name}: {phases[name]:.0f} s")

    with tempfile.TemporaryDirectory(prefix="compactrs-kprofile-") as tmp:
        folder = Path(tmp)
        specs = kb.sample_specs(space, first, config.seed, max_depth=config.fit_max_depth)
        specs += kb.stem_probe_specs(space, config.seed, exclude=specs)
        items = kb.emit_networks(specs, folder, config.batch, "fit", 0, progress)
        kb.prepare_runtime_graphs(folder, items, rt, precision, progress)
        # with reference timing, every network's kernels are stated at one machine speed (profile_kernels)
        speed: dict | None = {} if config.timing.reference else None
        records = kb.profile_kernels(folder, items, config.threads, config.node_runs, progress, rt, precision, speed)
        samples, per_network = kb.kernel_samples(folder, items, records)
        phase("fit networks exported + profiled")
        seconds_each = (time.perf_counter() - started) / len(items)
        timing_per_network = config.timing.min_seconds + 0.05 * max(2, config.timing.rounds)
        remaining = (config.fit_archs - first + config.validate_archs + config.coverage_count()) * seconds_each + \
            (config.fit_archs + config.validate_archs) * timing_per_network
        log(f"{len(items)} networks exported and profiled in {time.perf_counter() - started:.0f} s; "
            f"about {remaining / 60:.1f} min to go ({config.fit_archs - first} adaptive, "
            f"{config.coverage_count()} coverage probes and {config.validate_archs} validation networks, then every "
            f"network end to end)")
        weights = None
        if config.fit_archs > first:
            weights = kb.op_errors(fit_regressors(samples), per_network)
            log("adaptive sampling, leave-one-out error per op: " +
                ", ".join(f"{op} {e:.0%}" for op, e in sorted(weights.items(), key=lambda kv: -kv[1])))
            more = kb.sample_specs(space, config.fit_archs - first, config.seed + 1, weights, specs,
                                   config.fit_max_depth)
            more_items = kb.emit_networks(more, folder, config.batch, "fit", len(items), progress)
            kb.prepare_runtime_graphs(folder, more_items, rt, precision, progress)
            more_records = kb.profile_kernels(folder, more_items, config.threads, config.node_runs, progress, rt,
                                              precision, speed)
            records = records + more_records
            more_samples, more_per_network = kb.kernel_samples(folder, more_items, more_records)
            samples = merge_samples(samples, more_samples)
            items, specs, per_network = items + more_items, specs + more, per_network + more_per_network
            phase("adaptive fit networks exported + profiled")
        coverage = None
        if config.coverage_count():
            more_items, more_records, coverage = _cover_kernel_types(config, space, folder, specs, len(items),
                                                                     set(samples), progress, speed)
            records = records + more_records
            log(f"coverage: {coverage['probes']} networks of the whole region probed, {coverage['added']} ran kernel "
                f"types no fitting network had {coverage['types_added']} and joined the fitting networks")
            if more_items:
                more_samples, more_per_network = kb.kernel_samples(folder, more_items, more_records)
                samples = merge_samples(samples, more_samples)
                items, per_network = items + more_items, per_network + more_per_network
                specs = specs + [item["network"] for item in more_items]
            phase("coverage probes")
        val_items = []
        if config.validate_archs:
            val_specs = kb.sample_specs(space, config.validate_archs,
                                        config.seed + VALIDATION_SEED_OFFSET, exclude=specs)
            val_items = kb.emit_networks(val_specs, folder, config.batch, "validate", 0, progress)
            kb.prepare_runtime_graphs(folder, val_items, rt, precision, progress)
            phase("validation networks exported")
        # fitting and validation networks in the same interleaved end-to-end rounds, with an empty graph whose
        # time is the runtime's own cost per inference
        overhead = _overhead_item(folder, space, config.batch)
        timings = kb.time_networks(folder, items + val_items + [overhead], config.threads, config.timing, progress,
                                   conditions, rt, precision)
        per_run = timings.pop()
        phase("every network timed end to end")
        fit_rows = kb.network_rows(items, timings[:len(items)], per_network)
        data = _profile_data(config, space, samples, fit_rows, per_network, describe_machine(), versions(),
                             runtime_block(config), per_run["median_ms"] * 1e3)
        data["kernels"]["coverage"] = coverage
        if speed:
            factors = [record["speed"] for record in records]
            data["kernels"]["machine_speed"] = {
                "anchor_ms": speed["anchor_ms"], "factor_min": min(factors), "factor_max": max(factors),
                "note": "each network's kernel times × anchor_ms / the reference graph's median timed around its "
                        "profile: the machine's phase while it was profiled, normalised away"}
        profile = KernelProfile(data, str(out))
        if val_items:
            predicted = predict_items(profile, folder, val_items)
            rows = kb.network_rows(val_items, timings[len(items):])
            # timed in the same interleaved rounds as the fitting networks: the same machine state
            data["validation"] = {**validation_block(rows, predicted, fit_rows,
                                                     unpriced_types=_unpriced(val_items)),
                                  "machine_state": conditions}
            phase("validation networks predicted")
    data["measurement"].update({"seconds": round(time.perf_counter() - started, 1), "command": command,
                                "machine_state": conditions, "phases_s": phases})
    _warn_if_contended(data)
    profile.save(out)
    return profile


def _cover_kernel_types(config: KernelProfileConfig, space: dict, folder: Path, specs: list[dict], start: int,
                        known: set[str], progress=None, speed: dict | None = None) -> tuple[list[dict], list[dict], dict]:
    """Probe ``config.coverage_count()`` networks of the whole region (every depth) for kernel types that no
    fitting network ran — a runtime fuses some patterns only in some contexts (OpenVINO leaves an ``Eltwise``
    where a sum cannot fold into a convolution), so a type can first appear in a network the fitting sample
    missed, and a profile that never measured it cannot price that network. Each probe is compiled and run
    once (no timing); a probe with an unseen type is profiled like a fitting network and returned to join
    them. Returns (its items, their kernel records, the coverage summary for the profile)."""
    rt, precision = config.runtime, config.precision
    probes = kb.sample_specs(space, config.coverage_count(), config.seed + COVERAGE_SEED_OFFSET, exclude=specs)
    items = kb.emit_networks(probes, folder, config.batch, "fit", start, progress)
    kb.prepare_runtime_graphs(folder, items, rt, precision, progress)
    listed = kb.profile_kernels(folder, items, config.threads, 1, progress, rt, precision)
    added, seen = [], set(known)
    for item, record in zip(items, listed):
        types = {kernel["type"] for kernel in kb.record_kernels(folder, record, item["file"])} - seen
        if types:
            added.append(item)
            seen |= types
    records = kb.profile_kernels(folder, added, config.threads, config.node_runs, progress, rt, precision, speed)
    summary = {"probes": len(items), "added": len(added), "types_added": sorted(seen - known),
               "note": "networks of the whole region listed for kernel types only; those running a type no fitting "
                       "network ran were profiled and joined the fitting networks"}
    return added, records, summary


def runtime_block(config: KernelProfileConfig) -> dict:
    """What the profile's networks ran in: the runtime, its version and settings."""
    if config.runtime == "openvino":
        import openvino

        from compactrs.deploy.openvino_runner import compile_config

        return {"name": "openvino", "version": openvino.__version__, "device": "CPU",
                "compile_config": compile_config(config.precision, config.threads, "LATENCY")}
    import onnxruntime

    return {"name": "onnxruntime", "version": onnxruntime.__version__, "provider": "CPUExecutionProvider",
            "graph_optimization_level": "ORT_ENABLE_ALL"}


def _method(config: KernelProfileConfig) -> str:
    graph = {"onnxruntime": "onnxruntime's optimised graph profiled in situ (enable_profiling",
             "openvino": "OpenVINO's compiled graph profiled in situ (PERF_COUNT"}[config.runtime]
    quantised = {"fp32": "", "int8": {"onnxruntime": " after static QDQ INT8 quantisation (quantize_static)",
                                      "openvino": " after NNCF INT8 quantisation (nncf.quantize)"}[config.runtime]}
    return (f"kernels of {graph}, {config.node_runs} runs, trimmed mean of the middle 60 %){quantised[config.precision]}; "
            f"networks end to end in {max(2, config.timing.rounds)} interleaved rounds (median)")


def _overhead_item(folder: Path, space: dict, batch: int) -> dict:
    """An identity graph on the region's smallest input: timed end to end, it is the runtime's cost per inference
    (session call, input and output copies) with no kernel work — the ceiling of the per-run term."""
    from compactrs.cost._opgraphs import _Identity, export_graph

    bands, side = min(space["inputs"], key=lambda pair: pair[0] * pair[1] ** 2)
    shape = (batch, bands, side, side)
    export_graph(_Identity(), folder / "overhead.onnx", shape)
    return {"file": "overhead.onnx", "role": "overhead", "input_shape": list(shape)}


def _profile_data(config, space, samples, fit_rows, per_network: list, device, versions, runtime,
                  per_run_us: float | None = None) -> dict:
    regressors = fit_regressors(samples)
    # the network term multiplies predicted kernel times: fit it on them, kernel by kernel
    prices = kb.add_predicted_sums(fit_rows, per_network, regressors)
    coefficients = kb.fit_network_term(fit_rows, kb.cheapest_kernel_us(samples), per_run_us, prices)
    measured = [row["measured_ms"] for row in fit_rows]
    # the term applied to the profiled kernel times themselves
    scaled = [network_ms(coefficients, [k["us"] for k in kernels]) for _, kernels in per_network]
    return {
        "schema": KERNEL_PROFILE_SCHEMA, "device": device,
        "runtime": runtime,
        "precision": config.precision, "threads": config.threads, "batch": config.batch, "space": space, "created": _now(),
        "measurement": {"method": _method(config), **_calibration(config),
                        "timing": config.timing.to_dict(), "config": _config_json(config)},
        "kernels": {"model": "nnls-padded-roofline+knn-log-ratio/1", "samples": samples,
                    "fit": kb.fit_report(regressors, samples)},
        "network": {"coefficients": coefficients,
                    "formula": NETWORK_FORMULA,
                    "per_run_measured_us": per_run_us,
                    "fit": {"n": len(fit_rows), "networks": fit_rows,
                            "error_with_measured_kernels": accuracy_metrics(measured, scaled)}},
        "validation": None,
        "versions": versions,
    }


def _calibration(config: KernelProfileConfig) -> dict:
    from compactrs.cost._runtime_kernels import CALIBRATION_BATCHES, CALIBRATION_NOTE

    if config.precision == "fp32":
        return {}
    return {"calibration": {"data": "random N(0,1)", "batches": CALIBRATION_BATCHES, "note": CALIBRATION_NOTE}}


def _config_json(config: KernelProfileConfig) -> dict:
    data = asdict(config)
    data["inputs"] = [list(pair) for pair in config.inputs]
    return data


def predict_items(profile: KernelProfile, folder: Path, items: list[dict]) -> list[float | None]:
    """Predicted ms of each emitted network (and its ``macs``, from the same kernels); None for a network whose
    runtime graph has a kernel type the profile never measured (named in the item's ``unpriced_types``)."""
    predicted = []
    for item in items:
        kernels = profile.onnx_kernels(folder / item["file"], item["input_shape"])
        item["macs"] = kb.kernel_macs(kernels)
        unknown = profile.unknown_types(kernels)
        if unknown:
            item["unpriced_types"] = unknown
        predicted.append(None if unknown else profile.kernels_ms(kernels))
    return predicted


def _unpriced(items: list[dict]) -> list[list[str]]:
    return [item.get("unpriced_types", []) for item in items]


def validation_block(rows: list[dict], predicted: list[float | None], fit_rows: list[dict], extra_baselines=None,
                     unpriced_types: list[list[str]] | None = None) -> dict:
    """Predictor accuracy on measured networks beside the noise floor and the MACs-only line.

    A network the profile cannot price (``predicted`` None: its runtime graph has a kernel type no fitting
    network produced; ``unpriced_types`` names them per network) is left out of every metric but the noise
    floor and counted under ``unpriced``: a coverage gap of the profile, reported rather than hidden or fatal.
    """
    priced = [(row, p) for row, p in zip(rows, predicted) if p is not None]
    types = sorted({t for ts in (unpriced_types or []) for t in ts})
    if not priced:
        raise ConfigError(f"none of the {len(rows)} validation networks could be priced: they run kernel types "
                          f" {types} that the profile's fitting networks never produced; re-profile "
                          f"with more --fit-archs")
    measured = [row["measured_ms"] for row, _ in priced]
    block = {**accuracy_metrics(measured, [p for _, p in priced]), "created": _now(),
             "noise_floor": test_retest(rows), "archs": [{**row, "predicted_ms": p} for row, p in priced],
             "baselines": {}}
    if len(priced) < len(rows):
        block["unpriced"] = {"n": len(rows) - len(priced), "types": types,
                             "note": "networks whose runtime graph has kernel types the profile's fitting networks "
                                     "never produced: left out of the metrics (not of the noise floor); "
                                     "re-profile with more --fit-archs to cover them"}
    if len(fit_rows) >= 2:
        slope, intercept = macs_linear_fit([r["macs"] for r in fit_rows], [r["measured_ms"] for r in fit_rows])
        block["baselines"]["macs_linear"] = accuracy_metrics(measured, [slope * r["macs"] + intercept
                                                                        for r, _ in priced])
    block["baselines"].update(extra_baselines or {})
    return block


def emit_kernel_graphs(config: KernelProfileConfig, folder: str | os.PathLike, progress=None) -> Path:
    """Write the fitting (and validation) networks + manifest.json for deploy/profile_runner.py on a device.

    Without a round trip there is no adaptive batch: every fitting network is drawn uniformly.
    """
    from compactrs._io import write_json
    from compactrs.deploy.bundle import copy_package

    if config.runtime != "onnxruntime" or config.precision != "fp32":
        raise ConfigError(f"emitting kernel-profile networks for a device is implemented for onnxruntime FP32 only, "
                          f"not {config.runtime} {config.precision}; profile {config.runtime} {config.precision} in "
                          f"process on the target machine (leave out --emit)")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    space = config.space()
    specs = kb.sample_specs(space, config.fit_archs, config.seed, max_depth=config.fit_max_depth)
    specs += kb.stem_probe_specs(space, config.seed, exclude=specs)
    items = kb.emit_networks(specs, folder, config.batch, "fit", 0, progress)
    if config.validate_archs:
        val = kb.sample_specs(space, config.validate_archs, config.seed + VALIDATION_SEED_OFFSET, exclude=specs)
        items += kb.emit_networks(val, folder, config.batch, "validate", 0, progress)
    from compactrs.cost._measure import REFERENCE_FILE, REFERENCE_SHAPE, write_reference_graph

    write_reference_graph(folder / REFERENCE_FILE)  # for the runner's --timing reference
    manifest = {"schema": kb.NETWORKS_SCHEMA, "space": space, "batch": config.batch, "seed": config.seed,
                "runtime": "onnxruntime", "threads": config.threads, "node_runs": config.node_runs,
                "timing": config.timing.to_dict(), "config": _config_json(config), "created": _now(), "items": items,
                "reference": {"file": REFERENCE_FILE, "input_shape": list(REFERENCE_SHAPE)}}
    write_json(folder / "manifest.json", manifest)
    copy_package(folder / "deploy")  # the torch-free runner travels with the networks
    return folder


def kernel_profile_from_results(results: dict, folder: str | os.PathLike, out: str | os.PathLike,
                                command: str = "") -> KernelProfile:
    """Build a kernel profile from a device's runner output (``folder`` holds its graphs and optimised graphs).

    The validation networks are predicted from their kernels as onnxruntime optimises them *here*: on a
    device whose onnxruntime picks other kernels (e.g. no NCHWc layout on ARM) each kernel is priced by the
    regressor of its layout twin, and a kernel type the device never ran is refused.
    """
    from compactrs._env import versions
    from compactrs.errors import ArtifactError

    folder = Path(folder)
    manifest = results["manifest"]
    by_file = {record["file"]: record for record in results["records"]}
    fit = [item for item in manifest["items"] if item["role"] == "fit"]
    val = [item for item in manifest["items"] if item["role"] == "validate"]
    missing = [item["file"] for item in fit if "nodes" not in by_file.get(item["file"], {})]
    if missing:
        raise ArtifactError(f"measurements lack the per-node profile of {len(missing)} fitting networks (first: "
                            f"{missing[0]}); re-run deploy/profile_runner.py on the emitted folder")
    fit_records = [by_file[item["file"]] for item in fit]
    samples, per_network = kb.kernel_samples(folder, fit, fit_records)
    fit_rows = kb.network_rows(fit, fit_records, per_network)
    config = KernelProfileConfig(**{**{k: v for k, v in manifest["config"].items() if k not in ("timing", "inputs")},
                                    "inputs": tuple(tuple(p) for p in manifest["config"]["inputs"])})
    data = _profile_data(config, manifest["space"], samples, fit_rows, per_network, results["device"], versions(),
                         {**results["runtime"], "graph_optimization_level": "ORT_ENABLE_ALL"})
    data["measurement"].update({"timing": manifest.get("timing", {}), "seconds": round(results.get("seconds", 0.0), 1),
                                "command": command, "measured_on_device": True,
                                "machine_state": results.get("conditions") or {"contended": None,
                                                                              "reason": "not recorded by the runner"}})
    _warn_if_contended(data)
    profile = KernelProfile(data, str(out))
    if val:
        if all(len(by_file[item["file"]].get("round_ms", [])) >= 2 for item in val):
            predicted = predict_items(profile, folder, val)
            rows = kb.network_rows(val, [by_file[item["file"]] for item in val])
            data["validation"] = {**validation_block(rows, predicted, fit_rows, unpriced_types=_unpriced(val)),
                                  "machine_state": data["measurement"]["machine_state"]}
    profile.save(out)
    return profile
