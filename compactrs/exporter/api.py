"""``export``: a trained run → validated ONNX (+ INT8 / FP16 / TensorRT) → a self-contained deploy bundle.

Order of work: export ONNX → onnx.checker → optional onnxslim (kept only if it is numerically identical)
→ FP32 parity against PyTorch → TensorRT graph check → INT8 / FP16 (metric-based parity) → TensorRT engine
(here if TensorRT imports, else deferred to deploy/build_engine.py on the device) → golden.npz → manifest.
Everything is built in a staging directory that becomes the bundle only when every check passed.
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from compactrs._env import versions
from compactrs._io import staging_dir
from compactrs._progress import Progress
from compactrs.deploy import verify as device_verify
from compactrs.deploy.machine import describe_machine
from compactrs.errors import ConfigError, MissingDependency, ValidationFailed
from compactrs.exporter import bundle as bundle_io
from compactrs.runtime import DEFAULT_OPSET, OnnxRuntimeRunner, TimingConfig, TorchRunner, check_onnx, export_onnx, make_runner, simplify_onnx
from compactrs.runtime import measure_latency, speedup
from compactrs.exporter.int8_bundle import onnxruntime_int8
from compactrs.exporter.int8_policy import Int8Policy
from compactrs.exporter.quantize import calibration_index, calibration_samples, convert_fp16
from compactrs.exporter.trt_check import check_tensorrt_compat
from compactrs.exporter.validate import allclose, compare_runners, comparators_for, raise_if_failed, validation_inputs


#: onnxruntime's calibrators: activation ranges from min/max, or clipped from a histogram
CALIB_METHODS = ("minmax", "entropy", "percentile")


@dataclass(frozen=True)
class ExportConfig:
    """What to produce and how strictly to check it (defaults: FP32 ONNX, simplified, Polygraphy tolerances)."""

    trt: bool = False
    fp16: bool = False
    int8: bool = False
    calib: int = 500
    calib_method: str = "minmax"
    simplify: bool = True
    opset: int = DEFAULT_OPSET
    n_real: int = 64
    n_random: int = 8
    atol: float = 1e-5
    rtol: float = 1e-5
    max_oa_drop: float = 0.01
    min_agreement: float = 0.97
    max_eval: int = 2000
    threads: int | None = 1
    seed: int = 0
    openvino: bool = False
    bf16: bool = False
    max_drop: float | None = None
    int8_speed_check: bool = True

    def __post_init__(self):
        if self.opset < 17:
            raise ConfigError(f"opset {self.opset} is below 17; compactrs exports opset >= 17 (default {DEFAULT_OPSET})")
        if self.calib < 1:
            raise ConfigError(f"--calib {self.calib} must be a positive number of training samples (e.g. --calib 500)")
        if self.calib_method not in CALIB_METHODS:
            raise ConfigError(f"--calib-method {self.calib_method} is not valid; valid: {', '.join(CALIB_METHODS)}")
        if self.calib_method != "minmax" and not self.int8:
            raise ConfigError(f"--calib-method {self.calib_method} sets the INT8 calibration; add --int8")
        if (self.bf16 or self.max_drop is not None) and not self.openvino:
            raise ConfigError("--bf16 and --max-drop apply to the OpenVINO model; add --openvino (with --int8 for --max-drop)")
        if self.max_drop is not None and not (self.int8 and 0 < self.max_drop < 1):
            raise ConfigError(f"--max-drop {self.max_drop} needs --int8 and a value in (0, 1), e.g. --max-drop 0.005 (half a point of OA)")
        if self.n_real < 1 or self.max_eval < 1 or self.n_random < 0:
            raise ConfigError(f"n_real {self.n_real} and max_eval {self.max_eval} must be >= 1 (parity needs real samples), "
                              f"n_random {self.n_random} >= 0")
        if not (self.atol >= 0 and self.rtol >= 0):
            raise ConfigError(f"--atol {self.atol} / --rtol {self.rtol} must be >= 0 (default 1e-5, as Polygraphy)")
        for name in ("max_oa_drop", "min_agreement"):
            if not 0 <= getattr(self, name) <= 1:
                raise ConfigError(f"--{name.replace('_', '-')} {getattr(self, name)} must be a fraction in [0, 1]")
        if self.threads is not None and self.threads < 1:
            raise ConfigError(f"--threads {self.threads} must be >= 1 (or None for the runtime's default)")

    @property
    def trt_precision(self) -> str:
        return "int8" if self.int8 else "fp16" if self.fp16 else "fp32"


def _load(run, seed: int):
    from compactrs.data import check_dataset_fits, load_dataset
    from compactrs.training import load_checkpoint, trained_seed

    model, payload = load_checkpoint(run)
    spec = payload["input_spec"]
    # the run's own split; ``seed`` draws the validation and calibration samples (a run trained with --seed 1 failed
    # here as "the data changed" when its split was drawn with export's seed)
    dataset = load_dataset(spec["dataset"], trained_seed(payload, default=seed))
    check_dataset_fits(dataset, spec["in_bands"], spec["num_classes"], f"the model in '{run}'", spec["dataset"],
                       mean=(spec.get("preprocess") or {}).get("mean"),
                       fix="the data changed since the run was trained on it: restore that data or re-train")
    return model, payload, dataset


def _simplify(stage: Path, raw: Path, inputs, notes: list) -> dict:
    """Simplify with onnxslim; keep the result only if it matches the unsimplified graph to 1e-6."""
    slim = stage / "model.slim.onnx"
    try:
        info = simplify_onnx(raw, slim)
        check_onnx(slim)
        report = compare_runners(OnnxRuntimeRunner(raw, 1), OnnxRuntimeRunner(slim, 1), inputs, [allclose(1e-6, 1e-6)])
    except Exception as exc:  # onnxslim may fail on unusual graphs: fall back, never block the export
        notes.append(f"onnxslim failed ({type(exc).__name__}: {exc}); bundle keeps the unsimplified graph")
        slim.unlink(missing_ok=True)
        return {"applied": False, "error": str(exc)}
    if not report["passed"]:
        notes.append(f"onnxslim changed the outputs (max abs err {report['max_abs_err']:.3g}); bundle keeps the unsimplified graph")
        slim.unlink()
        return {"applied": False, **info, "max_abs_err_vs_unsimplified": report["max_abs_err"]}
    os.replace(slim, raw)
    return {"applied": True, **info, "max_abs_err_vs_unsimplified": report["max_abs_err"]}


#: the INT8 / FP16 speed check beside FP32: short, but re-measured once when the machine was busy.
SPEED_TIMING = TimingConfig(warmup=3, min_runs=10, min_seconds=0.3, contention_retries=1)


def _speed(fp32: Path, other: Path, shape, threads) -> dict:
    """FP32 vs reduced-precision latency at batch 1 and 32 (medians), with whether either was contended."""
    base = measure_latency(fp32, shape[1:], "onnxruntime", (1, 32), threads, SPEED_TIMING)
    new = measure_latency(other, shape[1:], "onnxruntime", (1, 32), threads, SPEED_TIMING)
    out = {}
    for batch in (1, 32):
        key = f"onnxruntime_cpu_b{batch}"
        a, b = base[key], new[key]
        out[f"batch{batch}"] = {"fp32_ms": a.get("median_ms"), "reduced_ms": b.get("median_ms"), "speedup": speedup(a, b),
                                "threads": a["threads"], "error": a.get("error") or b.get("error"),
                                "contended": any(e.get("conditions", {}).get("contended", False) for e in (a, b))}
    return out


def _reduced(stage: Path, kind: str, model_path: Path, reference, eval_inputs, eval_ref: np.ndarray, config: ExportConfig, shape) -> dict:
    """Validate an INT8 / FP16 model by the task metric on the test split and time it against FP32."""
    comparators = comparators_for(kind, max_oa_drop=config.max_oa_drop, min_agreement=config.min_agreement)
    runner = OnnxRuntimeRunner(model_path, config.threads)
    report = compare_runners(TorchRunner(reference), runner, eval_inputs, comparators, reference_outputs=eval_ref)
    report["precision"] = kind
    raise_if_failed(report, f"{kind.upper()} model {model_path.name}")
    report["speed"] = _speed(stage / "model.onnx", model_path, shape, config.threads)
    return report


def _tensorrt(stage: Path, config: ExportConfig, calib: np.ndarray | None, reference, inputs, shape, notes: list) -> dict:
    precision = config.trt_precision
    info = {"requested": True, "precision": precision, "built": False}
    if precision == "int8":
        np.save(stage / "calibration.npy", calib)
        info["calibration"] = {"file": "calibration.npy", "samples": int(len(calib)), "source": "real training samples"}
    try:
        from compactrs.errors import require

        require("tensorrt", "building a TensorRT engine", "build it on the device with deploy/build_engine.py")
    except MissingDependency as exc:
        info["note"] = (f"TensorRT is not importable here ({str(exc).split('(')[1].split(')')[0]}); engines are device-specific, so the bundle "
                        f"ships deploy/build_engine.py: on the device run 'python deploy/build_engine.py --precision {precision}', "
                        f"which builds model.plan and validates it against golden.npz")
        notes.append(info["note"])
        return info
    from compactrs.deploy.tensorrt_engine import build_engine

    built = build_engine(stage / "model.onnx", stage / "model.plan", precision, shape, calib_samples=calib)
    comparators = comparators_for(precision, config.atol, config.rtol, config.max_oa_drop, config.min_agreement)
    report = compare_runners(TorchRunner(reference), make_runner("tensorrt", stage / "model.plan"), inputs, comparators)
    raise_if_failed(report, f"TensorRT {precision} engine")
    info.update(built=True, **built, parity=report)
    return info


def export(run: str | os.PathLike, out: str | os.PathLike | None = None, config: ExportConfig | None = None,
           progress: Progress | None = None, overwrite: bool = False) -> dict:
    """Export the model of ``run`` to a validated deploy bundle.

    Args:
        run: a run directory (or its model.pt) written by train / search / prune.
        out: bundle directory (default ``<run>/bundle``).
        config: what to build (TensorRT, FP16, INT8 + calibration size) and the tolerances.

    Returns:
        The manifest (also written to ``out/manifest.json``) plus ``bundle`` (its path) and ``notes``.

    Raises:
        ValidationFailed: an exported model does not match PyTorch; no bundle is written.
        DataError / ArtifactError / ConfigError: unusable run, data or options.
    """
    config = config or ExportConfig()
    progress = progress or Progress()
    run = Path(run)
    out = Path(out) if out is not None else (run if run.is_dir() else run.parent) / "bundle"
    if config.openvino:  # fail before any work, not after the ONNX gates
        from compactrs.errors import require

        require("openvino", "exporting an OpenVINO IR (--openvino)", "pip install 'compactrs[openvino]'")
        if config.int8:
            require("nncf", "INT8 for OpenVINO (--openvino --int8)", "pip install 'compactrs[openvino]'")
    model, payload, dataset = _load(run, config.seed)
    spec = payload["input_spec"]
    shape = (1, spec["in_bands"], *spec["input_size"])
    notes: list[str] = []
    parity_inputs = validation_inputs(dataset, shape, config.n_real, config.n_random, config.seed)
    steps = 4 + config.int8 + config.fp16 + config.trt + config.openvino
    progress.start("export", "export", steps)
    try:
        with staging_dir(out, overwrite=overwrite) as stage:
            onnx_path = stage / "model.onnx"
            export_onnx(model, onnx_path, shape, opset=config.opset)
            check_onnx(onnx_path)
            simplified = _simplify(stage, onnx_path, parity_inputs, notes) if config.simplify else {"applied": False, "reason": "--no-simplify"}
            summary = check_onnx(onnx_path)
            progress.advance("export")
            fp32 = compare_runners(TorchRunner(model, shape, config.threads), OnnxRuntimeRunner(onnx_path, config.threads),
                                   parity_inputs, comparators_for("fp32", config.atol, config.rtol))
            raise_if_failed({**fp32, "candidate": "onnxruntime (model.onnx)"}, "FP32 ONNX export")
            progress.advance("export")
            manifest = _base_manifest(run, payload, config, summary, simplified, fp32)
            manifest["tensorrt"]["graph_check"] = check_tensorrt_compat(onnx_path)
            eval_inputs = validation_inputs(dataset, shape, None, 0, config.seed, max_real=config.max_eval)
            eval_ref = None
            if config.int8 or config.fp16 or config.bf16:  # the PyTorch reference on the whole (capped) test split, computed once
                with TorchRunner(model, shape, config.threads) as reference:
                    eval_ref = reference.infer_batched(eval_inputs.x).astype(np.float64)
            calib = None
            if config.int8 or (config.trt and config.trt_precision == "int8"):
                calib, note = calibration_samples(dataset, config.calib, config.seed)
                if note:  # said now, too: a failed INT8 check later must not hide that calibration was short
                    notes.append(note)
                    progress.log(f"note: {note}")
            if config.int8:
                policy = Int8Policy(threads=config.threads) if config.int8_speed_check else None
                manifest["quantization"] = onnxruntime_int8(stage, onnx_path, calib, config.calib_method, shape, policy, progress.log)
                if manifest["quantization"]["kept"] == "int8":
                    manifest["parity"]["onnxruntime_int8"] = _reduced(stage, "int8", stage / "model.int8.onnx", model, eval_inputs, eval_ref, config, shape)
                    manifest["models"].append(_model_entry("model.int8.onnx", "int8", config))
                else:
                    notes.append(f"onnxruntime: {manifest['quantization']['reason']}")
                progress.advance("export")
            if config.openvino:
                from compactrs.exporter.openvino_bundle import accuracy_control_samples, add_openvino

                control = None if config.max_drop is None else accuracy_control_samples(
                    dataset, calibration_index(dataset, config.calib, config.seed), config.max_drop, seed=config.seed)
                manifest["openvino"], parity, entries = add_openvino(
                    stage, config, shape, parity_inputs, eval_inputs, eval_ref, calib, control,
                    lambda: TorchRunner(model, shape, config.threads), lambda f, p, r: _model_entry(f, p, config, runtime=r), notes, progress.log)
                manifest["parity"].update(parity)
                manifest["models"] += entries
                progress.advance("export")
            if config.fp16:
                manifest["fp16"] = convert_fp16(onnx_path, stage / "model.fp16.onnx")
                try:
                    manifest["parity"]["onnxruntime_fp16_cpu"] = _reduced(stage, "fp16", stage / "model.fp16.onnx", model, eval_inputs, eval_ref, config, shape)
                except ValidationFailed:
                    raise
                except Exception as exc:  # onnxruntime's CPU provider lacks some FP16 kernels
                    notes.append(f"model.fp16.onnx could not run on this CPU's onnxruntime ({type(exc).__name__}); validate it on the GPU with deploy/verify.py")
                manifest["models"].append(_model_entry("model.fp16.onnx", "fp16", config))
                progress.advance("export")
            if config.trt:
                manifest["tensorrt"].update(_tensorrt(stage, config, calib, model, parity_inputs, shape, notes))
                if manifest["tensorrt"]["built"]:
                    manifest["models"].append(_model_entry("model.plan", config.trt_precision, config, runtime="tensorrt"))
                progress.advance("export")
            golden_x = parity_inputs.x[parity_inputs.real]
            with TorchRunner(model, shape, config.threads) as reference:
                manifest["golden"].update(bundle_io.write_golden(stage, golden_x, reference.infer_batched(golden_x)))
            bundle_io.copy_deploy_scripts(stage)
            manifest["golden"]["host_check"] = _golden_self_check(stage, manifest)
            manifest["notes"] = notes
            bundle_io.write_manifest(stage, manifest)
            progress.advance("export")
    except FileExistsError as exc:
        raise ConfigError(f"bundle directory '{exc}' already exists and is not empty; pass --overwrite or choose another --out") from exc
    finally:
        progress.finish("export")
    return {**manifest, "bundle": str(out)}


def _golden_self_check(stage: Path, manifest: dict) -> dict:
    """Run deploy/verify.py's own check on every model, so a fresh bundle is known to verify on this machine."""
    golden = np.load(stage / bundle_io.GOLDEN, allow_pickle=False)
    results = {}
    for entry in manifest["models"]:
        result = device_verify.check_model(stage, manifest, entry, golden)
        if not result["passed"]:
            raise ValidationFailed(f"{entry['file']} does not reproduce golden.npz on this machine (worst sample {result.get('worst_index')}, "
                                   f"max abs err {result.get('max_abs_err', float('nan')):.3g}, top-1 agreement {result.get('top1_agreement')}, "
                                   f"tolerance {entry['golden_tolerance']}); no bundle was written")
        results[entry["file"]] = {k: result[k] for k in ("max_abs_err", "top1_agreement", "worst_index")}
    return results


def _model_entry(file: str, precision: str, config: ExportConfig, runtime: str = "onnxruntime") -> dict:
    tolerance = dict(bundle_io.DEVICE_FP32_TOLERANCE) if precision == "fp32" else {"min_top1_agreement": config.min_agreement}
    return {"file": file, "runtime": runtime, "precision": precision, "golden_tolerance": tolerance}


def _base_manifest(run: Path, payload: dict, config: ExportConfig, summary: dict, simplified: dict, fp32: dict) -> dict:
    spec = payload["input_spec"]
    return {
        "format": bundle_io.BUNDLE_FORMAT,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "run": str(run.resolve()),
        "arch": payload["arch"],
        "input_spec": bundle_io.input_contract(spec, summary),
        "onnx": {"file": "model.onnx", "opset": summary["opset"], "exporter": "torch.onnx (TorchScript)", "dynamic_batch": True,
                 "nodes": summary["nodes"], "op_types": summary["op_types"], "simplified": simplified, "checker": "onnx.checker full_check passed"},
        "models": [_model_entry("model.onnx", "fp32", config)],
        "golden": {"tolerance": {"fp32": dict(bundle_io.DEVICE_FP32_TOLERANCE), "fp16": {"min_top1_agreement": config.min_agreement},
                                 "bf16": {"min_top1_agreement": config.min_agreement}, "int8": {"min_top1_agreement": config.min_agreement}},
                   "tolerance_note": "host parity uses atol=rtol=1e-5 on this machine; the device compares with 1e-4 because other "
                                     "hardware sums in another order; reduced precision is judged by top-1 agreement"},
        "parity": {"onnxruntime_fp32": {**fp32, "precision": "fp32"}},
        "tensorrt": {"requested": config.trt, "precision": config.trt_precision if config.trt else None},
        "export_config": asdict(config),
        "versions": versions(),
        "machine": describe_machine(),
    }
