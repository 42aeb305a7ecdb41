"""Profiling pipeline: emit graphs → time them (here or on a device) → build, fit and write the profile JSON."""
from __future__ import annotations

import datetime as _dt
import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from compactrs._io import write_json
from compactrs.cost._fit import accuracy_metrics, fit_coefficients, macs_linear_fit
from compactrs.cost._measure import TimingConfig, measure_folder
from compactrs.cost._networks import VALIDATION_SEED_OFFSET, emit_network_graphs, sample_networks
from compactrs.cost._opgraphs import MANIFEST_SCHEMA, emit_entry_graphs, space_keys
from compactrs.cost._schema import PROFILE_SCHEMA, write_profile
from compactrs.cost.latency import LatencyProfile, default_coefficients
from compactrs.errors import ArtifactError, ConfigError

RESULTS_SCHEMA = "compactrs.profile-measurements/1"
RUNTIMES = ("onnxruntime", "tensorrt")


@dataclass(frozen=True)
class ProfileConfig:
    """What to profile: the search-space contexts, the runtime settings and the fitting set."""

    in_bands: tuple[int, ...] = (10,)
    input_size: tuple[int, ...] = (32,)
    init_channels: tuple[int, ...] = (16,)
    num_classes: tuple[int, ...] = (10,)
    ops: tuple[str, ...] = ()          # empty: every op of compactrs.nn.ops.OPS
    nodes: int = 4
    blocks: int = 3
    max_depth: int = 5
    stem_multiplier: int = 1
    runtime: str = "onnxruntime"
    threads: int = 1
    batch: int = 1
    fit_archs: int = 40
    validate_archs: int = 0            # networks to add to an emitted folder for on-device validation
    seed: int = 0
    timing: TimingConfig = field(default_factory=TimingConfig)

    def space(self) -> dict:
        from compactrs.nn.ops import OPS

        ops = list(self.ops or OPS)
        unknown = [op for op in ops if op not in OPS]
        if unknown:
            raise ConfigError(f"unknown ops {unknown}; valid ops: {', '.join(OPS)}")
        return {"in_bands": list(self.in_bands), "input_size": list(self.input_size),
                "init_channels": list(self.init_channels), "num_classes": list(self.num_classes), "ops": ops,
                "nodes": self.nodes, "blocks": self.blocks, "max_depth": self.max_depth,
                "stem_multiplier": self.stem_multiplier}


def emit_profile_graphs(config: ProfileConfig, folder: str | os.PathLike, progress=None) -> Path:
    """Write every op graph, the fitting networks (and ``validate_archs`` validation networks) + manifest.json."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    space = config.space()
    keys = space_keys(space)
    fit_specs = sample_networks(space, config.fit_archs, config.seed)
    items = emit_entry_graphs(keys, folder, config.batch, progress)
    items += emit_network_graphs(fit_specs, folder, config.batch, "fit", progress)
    if config.validate_archs:
        val_specs = sample_networks(space, config.validate_archs, config.seed + VALIDATION_SEED_OFFSET, fit_specs)
        items += emit_network_graphs(val_specs, folder, config.batch, "validate", progress)
    manifest = {"schema": MANIFEST_SCHEMA, "space": space, "batch": config.batch, "seed": config.seed,
                "runtime": config.runtime, "threads": config.threads, "timing": config.timing.to_dict(),
                "created": _now(), "items": items}
    write_json(folder / "manifest.json", manifest)
    return folder


def measure_profile(config: ProfileConfig, out: str | os.PathLike, progress=None, command: str = "") -> LatencyProfile:
    """Emit, time (onnxruntime on this machine), fit and write a profile to ``out``; return it."""
    if config.runtime != "onnxruntime":
        from compactrs.errors import require

        require("tensorrt", "profiling with --runtime tensorrt",
                "TensorRT profiles are measured on the device: run 'compactrs profile --emit DIR' here, then "
                "'python DIR/deploy/profile_runner.py DIR --runtime tensorrt' on the device")
        raise ConfigError("in-process TensorRT profiling is not implemented; use 'compactrs profile --emit DIR' "
                          "and DIR/deploy/profile_runner.py on the device")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="compactrs-profile-") as tmp:
        emit_profile_graphs(config, tmp, progress)
        manifest = json.loads((Path(tmp) / "manifest.json").read_text())
        conditions: dict = {}
        records = measure_folder(Path(tmp), manifest["items"], config.threads, config.timing, progress, conditions)
    from compactrs.deploy.machine import describe_machine
    import onnxruntime

    results = {"schema": RESULTS_SCHEMA, "device": describe_machine(), "threads": config.threads,
               "runtime": {"name": "onnxruntime", "version": onnxruntime.__version__, "provider": "CPUExecutionProvider"},
               "precision": "fp32", "seconds": time.perf_counter() - started, "conditions": conditions,
               "manifest": manifest, "records": records}
    return profile_from_results(results, out, command=command)


def load_results(path: str | os.PathLike) -> dict:
    """Read a deploy/profile_runner.py output file (it embeds the manifest it measured)."""
    path = Path(path)
    if path.is_dir():
        path = path / "measurements.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"cannot read profile measurements '{path}' ({exc}); pass the JSON that "
                            f"deploy/profile_runner.py wrote") from exc
    if not isinstance(data, dict) or data.get("schema") != RESULTS_SCHEMA or "manifest" not in data:
        raise ArtifactError(f"'{path}' is not a {RESULTS_SCHEMA} file; pass the JSON that deploy/profile_runner.py wrote")
    return data


def profile_from_results(results: dict, out: str | os.PathLike, command: str = "") -> LatencyProfile:
    """Turn timing records (local or from a device) into a fitted profile written atomically to ``out``."""
    manifest = results["manifest"]
    by_file = {record["file"]: record for record in results["records"]}
    missing = [item["file"] for item in manifest["items"] if item["file"] not in by_file]
    if missing:
        raise ArtifactError(f"measurements lack {len(missing)} graphs of the manifest (first: {missing[0]}); re-run the runner")
    entries, networks = [], {"fit": [], "validate": []}
    for item in manifest["items"]:
        record = by_file[item["file"]]
        if item["role"] == "entry":
            base = by_file[item["baseline"]]["median_ms"]
            op, c_in, c_out, h, w, stride = item["key"]
            entries.append({"op": op, "c_in": c_in, "c_out": c_out, "h": h, "w": w, "stride": stride,
                            "median_ms": max(0.0, record["median_ms"] - base),
                            "p90_ms": max(0.0, record["p90_ms"] - base), "n": record["n"],
                            "graph_median_ms": record["median_ms"], "baseline_ms": base,
                            "remeasured": record.get("remeasured", 0)})
        elif item["role"] in networks:
            networks[item["role"]].append({"network": item["network"], "macs": item["macs"],
                                           "measured_ms": record["median_ms"], "p90_ms": record["p90_ms"]})
    space = manifest["space"]
    data = {"schema": PROFILE_SCHEMA, "device": results["device"], "runtime": results["runtime"],
            "precision": results.get("precision", "fp32"), "threads": results["threads"], "batch": manifest["batch"],
            "space": space, "created": manifest.get("created", _now()),
            "measurement": {"method": "each part in its own ONNX graph, minus an identity graph on the same input",
                            "timing": manifest["timing"], "seconds": round(results.get("seconds", 0.0), 1),
                            "command": command, "graphs": len(manifest["items"]),
                            # the machine's state over the whole measurement: a profile measured under load says so
                            "conditions": results.get("conditions")},
            "entries": entries,
            "overhead": {"coefficients": default_coefficients(space["ops"])},
            "validation": None}
    from compactrs._env import versions

    data["versions"] = versions()
    profile = LatencyProfile(data, str(out))
    fit_overhead(profile, networks["fit"], manifest.get("seed", 0))
    if networks["validate"]:
        profile.data["validation"] = validation_block(profile, networks["validate"])
    profile.save(out)
    return profile


def _predict(profile: LatencyProfile, spec: dict) -> float:
    return profile.predict_genotype(spec["genotype"], spec["in_bands"], spec["input_size"], spec["num_classes"],
                                    spec["init_channels"], spec["stem_multiplier"])


def fit_overhead(profile: LatencyProfile, fit_networks: list[dict], seed: int) -> None:
    """Fit the profile's coefficients on measured whole networks; record the fit and its own error."""
    default = default_coefficients(profile.space["ops"])
    if not fit_networks:
        profile.coefficients = default
        profile.data["overhead"].update({"model": "unfitted", "fit": None})
        return
    rows = [profile.features(**_feature_args(n["network"])) for n in fit_networks]
    measured = [n["measured_ms"] for n in fit_networks]
    profile.coefficients = fit_coefficients(rows, measured, default)
    unfitted = LatencyProfile({**profile.data, "overhead": {"coefficients": default}}, profile.source)
    profile.data["overhead"].update({
        "model": "nnls-scaled-entries/1",
        "formula": "edge = scale[op]·entry + edge[op]; cell = scale[cell_base]·Σ base entries; "
                   "fixed = scale[fixed]·(stem + head) + per_inference",
        "fit": {"n": len(fit_networks), "seed": seed, "networks": fit_networks,
                "train_error": accuracy_metrics(measured, [_predict(profile, n["network"]) for n in fit_networks]),
                "unfitted_error": accuracy_metrics(measured, [_predict(unfitted, n["network"]) for n in fit_networks])},
    })


def _feature_args(spec: dict) -> dict:
    return {"genotype": spec["genotype"], "in_bands": spec["in_bands"], "input_size": spec["input_size"],
            "num_classes": spec["num_classes"], "init_channels": spec["init_channels"],
            "stem_multiplier": spec["stem_multiplier"]}


def validation_block(profile: LatencyProfile, networks: list[dict]) -> dict:
    """Accuracy of the predictor (and of a MACs-only linear fit) on measured validation networks."""
    measured = [n["measured_ms"] for n in networks]
    predicted = [_predict(profile, n["network"]) for n in networks]
    rows = [{**n, "predicted_ms": p} for n, p in zip(networks, predicted)]
    block = {**accuracy_metrics(measured, predicted), "created": _now(), "archs": rows, "baselines": {}}
    fit = (profile.data["overhead"].get("fit") or {}).get("networks") or []
    if len(fit) >= 2:
        slope, intercept = macs_linear_fit([n["macs"] for n in fit], [n["measured_ms"] for n in fit])
        block["baselines"]["macs_linear"] = accuracy_metrics(measured, [slope * n["macs"] + intercept for n in networks])
    unfitted = LatencyProfile({**profile.data, "overhead": {"coefficients": default_coefficients(profile.space["ops"])}})
    block["baselines"]["entry_sum_unfitted"] = accuracy_metrics(measured, [_predict(unfitted, n["network"]) for n in networks])
    return block


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def config_dict(config: ProfileConfig) -> dict:
    return asdict(config)
