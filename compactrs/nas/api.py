"""``search``: find a cell network on a MAC (and latency) budget, retrain it, write a run directory.

Layout of ``out`` when done: the run directory of ``compactrs.training.train_network`` (config.json, log.txt,
metrics.jsonl, arch.json, model.pt, report.json, plots/) plus genotype.json, search/ (the search's log.txt
and metrics.jsonl) and plots/search_arch_probs.png, search_cost.png, accuracy_vs_macs.png. While the search
runs, its checkpoint lives in ``<out>.search/`` (what ``resume`` continues); it is removed at the end.
"""
from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import numpy as np

from compactrs._io import write_json
from compactrs._progress import Progress
from compactrs.data import Dataset, load_dataset
from compactrs.errors import ArtifactError, ConfigError, DataError
from compactrs.models import arch_of, build_model
from compactrs.nas.baselines import load_baselines
from compactrs.nas.config import SearchConfig
from compactrs.nas.ddp import World, init_world
from compactrs.nas.derive import MIN_WIDTH, Budget, BudgetSpace, choose_stem_and_width, fit_budget
from compactrs.nas.loop import BiLevelSearch, probabilities_summary
from compactrs.nas.plots import plot_accuracy_vs_macs, plot_arch_probs, plot_cost
from compactrs.nn.spectral_stem import MIN_SPECTRAL_BANDS
from compactrs.runtime import measure_latency
from compactrs.training.loop import TrainConfig, seed_everything
from compactrs.training.run import RunLog, default_run_dir
from compactrs.units import human_count, parse_count, parse_ms

GENOTYPE_FORMAT = "compactrs.genotype/1"


def load_profile(path: str):
    """Load a latency profile through ``compactrs.cost.latency.LatencyProfile`` (imported only when needed)."""
    try:
        from compactrs.cost.latency import load_profile as load_any_profile
    except ImportError as exc:
        raise ConfigError(f"--profile needs compactrs.cost.latency, which cannot be imported here ({exc}); "
                          f"search with --flops-target alone") from exc
    return load_any_profile(path)


def _check_profile_target(profile, config: SearchConfig) -> None:
    """Refuse a profile of another runtime or precision than the search targets: it prices other kernels."""
    if hasattr(profile, "check_target"):  # kernel profiles also check their runtime is installed here
        profile.check_target(config.runtime, config.precision)
        return
    data = getattr(profile, "data", {})
    runtime = data.get("runtime")
    have = {"runtime": runtime.get("name") if isinstance(runtime, dict) else runtime, "precision": data.get("precision")}
    for what, wanted in (("runtime", config.runtime), ("precision", config.precision)):
        if wanted is not None and have[what] is not None and wanted != have[what]:
            raise ConfigError(f"latency profile '{config.profile}' measured {what} {have[what]}, not {wanted}; use a "
                              f"profile made with 'compactrs profile --{what} {wanted}'")


def _make_config(config: SearchConfig | None, options: dict) -> SearchConfig:
    if config is not None:
        if options:
            raise ConfigError(f"pass either config= or keyword options, not both (got {sorted(options)})")
        return config
    if options.get("flops_target") is not None:
        options["flops_target"] = parse_count(options["flops_target"])
    if options.get("latency_target_ms") is not None:
        options["latency_target_ms"] = parse_ms(options["latency_target_ms"])
    try:
        return SearchConfig(**options)
    except TypeError as exc:
        raise ConfigError(f"unknown search option ({exc}); valid options: {', '.join(SearchConfig.field_names())}") from exc


def _shared_out_dir(out, config: SearchConfig, world: World) -> Path:
    """All ranks must agree on the run directory (the default one carries a timestamp)."""
    if out is None:
        label = human_count(config.flops_target) if config.flops_target else f"{config.latency_target_ms:g}ms"
        out = default_run_dir("search", label)
    if world.distributed:
        import torch.distributed as dist

        holder = [str(out)]
        dist.broadcast_object_list(holder, src=0)
        out = holder[0]
    return Path(out)


def search(data: str | Dataset = "synthetic", config: SearchConfig | None = None, out: str | os.PathLike | None = None, *,
           resume: bool = False, overwrite: bool = False, baselines=(), latency_profile=None, progress: Progress | None = None,
           on_epoch=None, **options) -> dict:
    """Search a compact cell network for a MAC budget (and optionally a latency budget), retrain it, report.

    FLOPs are multiply-accumulates: ``flops_target="20M"`` asks for 20 million MACs per sample.

    Args:
        data: dataset spec (default ``"synthetic"``, the offline demo) or a loaded ``Dataset``.
        config: a ``SearchConfig``; or give its fields as keyword ``options`` (``flops_target="20M"``,
            ``epochs=10``, ``ops="rs"``, ``latency_target_ms="2ms"``, ``profile=PATH``, ...).
        out: run directory to create (default ``runs/search-<target>-<time>``).
        resume: continue the interrupted search of this ``out`` from ``<out>.search/checkpoint.pt``.
        overwrite: replace an existing ``out``.
        baselines: run directories / report.json / bench results JSON to compare with on the accuracy-vs-MACs chart.
        latency_profile: a loaded profile object (instead of loading ``config.profile`` from disk).
        progress: progress reporter; on_epoch: called with each search epoch's record (after its checkpoint).

    Returns:
        report.json's contents with ``run_dir``; on a non-zero DDP rank only ``{"rank", "genotype"}``.

    Raises:
        ConfigError / TargetError / DataError: bad options, an unreachable budget, unusable data.
    """
    config = _make_config(config, dict(options))
    world, created = init_world()
    try:
        return _search(data, config, out, resume, overwrite, baselines, latency_profile, progress or Progress(), on_epoch, world)
    finally:
        if created:
            import torch.distributed as dist

            dist.destroy_process_group()


def _search(data, config, out, resume, overwrite, baselines, profile, progress, on_epoch, world: World) -> dict:
    started = time.perf_counter()
    dataset = data if isinstance(data, Dataset) else load_dataset(data, seed=config.seed)
    h, w = dataset.input_size
    if h != w:
        raise DataError(f"search needs square patches; '{dataset.spec}' gives {h}x{w}; pass a square patch/size option")
    _check_stem(config, dataset)
    out = _shared_out_dir(out, config, world)
    work_dir = out.parent / f"{out.name}.search"
    if out.exists() and any(out.iterdir()) and not overwrite and not (resume and work_dir.exists()):
        raise ConfigError(f"output directory '{out}' already exists and is not empty; pass --overwrite or choose another --out")
    if resume and not work_dir.exists():
        raise ConfigError(f"--resume: no interrupted search at '{work_dir}' (made by a search with --out {out}); "
                          f"run without --resume to start one")
    if config.profile is not None and profile is None:
        profile = load_profile(config.profile)
    if profile is not None:
        _check_profile_target(profile, config)
    if config.measured_landing:
        _check_measured_landing(profile)
    retime_message = None
    if profile is not None and config.latency_target_ms is not None:
        profile, retime_message = _retime_for_search(profile, config, dataset.in_bands, h, progress, world.size)
    budgets = []
    if config.flops_target is not None:
        budgets.append(Budget("macs", float(config.flops_target), config.tolerance))
    if config.latency_target_ms is not None:
        budgets.append(Budget("latency_ms", float(config.latency_target_ms), config.tolerance))
    space = BudgetSpace(dataset.in_bands, h, dataset.num_classes, config.ops, config.stem_multiplier, config.blocks,
                        config.max_depth, config.nodes, profile, min_width=min(MIN_WIDTH, config.init_channels),
                        stem_kinds=config.stem_kinds())
    stride, width, width_message = choose_stem_and_width(space, budgets, config.init_channels, config.stem_stride,
                                                         config.centre_width, config.initial_depth)
    engine = BiLevelSearch(config, dataset, width, space.table("macs", width, stride),
                           space.table("latency_ms", width, stride) if profile is not None else None, work_dir, world, progress,
                           stem={"kind": config.stem_kinds()[0], "stride": stride}, stem_kinds=config.stem_kinds())
    engine.log.line(width_message)
    engine.log.line(_halves_line(engine.halves))
    if retime_message:
        engine.log.line(retime_message)
    if config.latency_target_ms is not None and hasattr(profile, "trust_line"):
        trust = profile.trust_line(dataset.in_bands, h)
        engine.log.line(trust)
        progress.log(trust)
    outcome = engine.run(resume=resume, on_epoch=on_epoch)
    if not world.is_main:
        return {"rank": world.rank, "genotype": outcome.genotype}

    fit = fit_budget(space, budgets, outcome.genotype, width)
    landing, timer = None, None
    if config.measured_landing:  # SearchConfig allows it with a latency target alone
        fit, landing, timer = _land_by_measurement(fit, budgets[0], space, dataset, config, profile)
    elif config.latency_target_ms is not None:
        landing = {"applied": False, "message": "the width is landed on the profile's prediction (--measured-landing "
                                                "lands it on times measured here)"}
    engine.log.line(fit.message)
    progress.log(fit.message)
    report = _retrain(dataset, config, fit, out, overwrite or resume, progress, budgets, outcome, width, width_message, world)
    if timer is not None:  # the retrained network, timed the same way (its weights do not change the graph)
        from compactrs.nas.landing import retrained_check
        from compactrs.training.checkpoint import load_checkpoint

        landing["trained_ms"], landing["trained_contended"], landing["trained_raw_ms"] = timer(load_checkpoint(out)[0])
        landing["retrained"] = retrained_check(landing, landing["trained_ms"], budgets[0].target, budgets[0].tolerance)
        progress.log(landing["retrained"]["message"])
    if landing is not None:
        report.setdefault("latency_ms", {})["landing"] = landing
    _finish_run(out, work_dir, report, dataset, config, fit, outcome, space, profile, baselines, width)
    report["total_seconds"] = time.perf_counter() - started
    return report


def _halves_line(halves: dict) -> str:
    if halves["method"] == "random":
        return f"search split: random halves ({halves['weight_half']} weight / {halves['architecture_half']} architecture samples)"
    missing = halves["classes_without_architecture_pixels"]
    return (f"search split: spatial blocks of {halves['block']} px ({halves['weight_half']} weight / "
            f"{halves['architecture_half']} architecture samples, {halves['dropped_buffer_pixels']} dropped as buffer"
            + (f"; classes {missing} have no architecture-half pixels" if missing else "") + ")")


def _retime_for_search(profile, config: SearchConfig, bands: int, side: int, progress: Progress, processes: int = 1):
    """The profile re-timed on this machine before a latency-target search (``compactrs.cost._retime``), and the
    line that says so (None when no re-timing was asked for or could apply).

    ``config.retime`` None (the default) re-times a kernel profile of this machine's CPU and goes on with the
    profile as it is elsewhere, or when the machine is busy (saying why); True demands it (ConfigError, before any
    training, where it cannot apply); False never re-times. Under torchrun (``processes`` > 1) every rank would
    time at once on the same cores and each get its own factor, so the profile is not re-timed there (re-time
    the file beforehand with 'compactrs profile retime').
    """
    from compactrs.cost._retime import retime_applies, retime_line, retime_profile
    from compactrs.deploy.machine import cpu_isa, cpu_model

    if config.retime is False:
        return profile, None
    applies, why = retime_applies(profile, cpu_model(), cpu_isa())
    if applies and processes > 1:
        applies, why = False, (f"{processes} search processes share this machine: their timings would compete and each "
                               f"rank would get its own factor; re-time the profile file first ('compactrs profile "
                               f"retime PROFILE --write') and search with --no-retime")
    if not applies:
        if config.retime:
            raise ConfigError(f"--retime: {why}; search on the machine the profile describes, or drop --retime")
        return profile, (f"latency profile not re-timed: {why}" if processes > 1 else None)
    # networks of the data's input first; none far slower than the target (their timing would cost the most)
    max_ms = max(4 * float(config.latency_target_ms), 2.0)
    progress.log("re-timing the latency profile's networks on this machine (--no-retime skips it)")
    try:
        profile, block = retime_profile(profile, prefer_input=(bands, side), max_ms=max_ms, progress=progress,
                                        command="compactrs search (automatic re-timing)")
    except ConfigError as exc:
        if config.retime:
            raise
        message = f"latency profile not re-timed ({exc}); its predictions are stated at its profiled speed"
        progress.log(message)
        return profile, message
    message = retime_line(block)
    progress.log(message)
    return profile, message


def _check_measured_landing(profile) -> None:
    """ConfigError, before any training, when --measured-landing cannot apply to this profile on this machine."""
    from compactrs.deploy.machine import cpu_isa, cpu_model
    from compactrs.nas.landing import measured_landing_applies

    applies, why = measured_landing_applies(profile, cpu_model(), cpu_isa())
    if not applies:
        raise ConfigError(f"--measured-landing: {why}; search on the machine the profile describes, or drop the option")


#: seconds of paired (network, reference graph) calls per width the measured landing times
LANDING_SECONDS = 1.0


def _profile_anchor_ms(profile) -> float | None:
    """The reference graph's median over the profile's own end-to-end timing (its machine speed), if recorded; for
    a re-timed profile, over its re-timing (the speed its predictions are stated at since)."""
    retimed = (getattr(profile, "data", {}).get("retime") or {}).get("reference_ms")
    if retimed:
        return float(retimed)
    state = (getattr(profile, "data", {}).get("measurement") or {}).get("machine_state") or {}
    anchor = (state.get("reference") or {}).get("median_ms")
    return float(anchor) if anchor else None


def _anchored_timer(anchor_ms: float | None, shape: tuple):
    """``(module) -> (ms, contended, raw ms)``: onnxruntime, 1 thread, batch 1, each call paired with a call of the
    fixed reference graph (``compactrs.cost._measure``), the median scaled by ``anchor_ms`` / the reference's
    median beside it — the time at the profile's machine speed. This 2-vCPU VM runs everything 1.3–2× slower for
    seconds at a time with nothing else running; a plain median is then a draw of the phase."""
    import tempfile

    import torch

    from compactrs.cost._measure import REFERENCE_SHAPE, ort_callable, write_reference_graph
    from compactrs.deploy.machine import watch_machine
    from compactrs.deploy.timing import time_pairs
    from compactrs.runtime import export_onnx

    def timed(module) -> tuple[float, bool, float]:
        with tempfile.TemporaryDirectory(prefix="compactrs-landing-") as tmp:
            module = module.eval().to(memory_format=torch.contiguous_format)
            path = export_onnx(module, Path(tmp) / "model.onnx", (1, *shape))
            call = ort_callable(path, (1, *shape), 1)
            reference = ort_callable(write_reference_graph(Path(tmp) / "reference.onnx"), REFERENCE_SHAPE, 1)
            with watch_machine() as conditions:
                samples, references = time_pairs(call, reference, min_runs=30, min_seconds=LANDING_SECONDS)
        raw = float(np.median(samples))
        ms = raw * anchor_ms / float(np.median(references)) if anchor_ms else raw
        return ms, bool(conditions.get("contended")), raw

    return timed


def _land_by_measurement(fit, budget, space, dataset, config: SearchConfig, profile):
    """``compactrs.nas.landing.land_by_measurement``, each width timed by ``_anchored_timer``."""
    from compactrs.nas.derive import MAX_WIDTH, measure_macs
    from compactrs.nas.landing import land_by_measurement

    anchor = _profile_anchor_ms(profile)
    timer = _anchored_timer(anchor, (dataset.in_bands, *dataset.input_size))
    raw: dict[str, float] = {}

    def measure(genotype: dict, width: int) -> tuple[float, bool]:
        arch = arch_of("cellnet", dataset.in_bands, dataset.num_classes, genotype=genotype, init_channels=width,
                       stem_multiplier=config.stem_multiplier)
        ms, busy, raw[str(width)] = timer(build_model(arch))
        return ms, busy

    covered = space.profile_widths([budget]) or (space.min_width, MAX_WIDTH)  # the report prices the result
    fit, record = land_by_measurement(fit, budget, max(space.min_width, min(covered)), measure, space.max_depth,
                                      max(covered))
    fit.costs["macs"] = measure_macs(fit.genotype, space.in_bands, space.input_size, space.num_classes,
                                     fit.init_channels, space.stem_multiplier)
    timing = ("onnxruntime, 1 thread, batch 1, untrained weights, each call paired with the reference graph: median × "
              f"the profile's reference median ({anchor:.4f} ms) / the reference's median beside it"
              if anchor else "onnxruntime, 1 thread, batch 1, untrained weights, plain median (the profile records "
                             "no reference time)")
    return fit, {"applied": True, **record, "raw_ms": raw, "timing": timing}, timer


def _check_stem(config: SearchConfig, dataset: Dataset) -> None:
    """Refuse, before any training, a spectral stem on inputs whose spectrum is too short to scan."""
    if "spectral" in config.stem_kinds() and dataset.in_bands < MIN_SPECTRAL_BANDS:
        raise ConfigError(f"--stem {config.stem} scans each pixel's spectrum and needs >= {MIN_SPECTRAL_BANDS} bands "
                          f"(a hyperspectral 'hsi:' cube); '{dataset.spec}' has {dataset.in_bands}; use --stem conv or pointwise")


def _target_record(config: SearchConfig, fit) -> dict:
    return {
        "flops": config.flops_target, "flops_unit": "MACs (multiply-accumulates)", "tolerance": config.tolerance,
        "band_macs": None if config.flops_target is None else [config.flops_target * (1 - config.tolerance), config.flops_target],
        "latency_ms": config.latency_target_ms, "profile": config.profile,
        "achieved_macs": fit.costs.get("macs"), "met": fit.met, "adjusted": fit.adjusted, "message": fit.message,
    }


def _retrain(dataset, config, fit, out, overwrite, progress, budgets, outcome, width, width_message, world) -> dict:
    from compactrs.training import train_network

    arch = arch_of("cellnet", dataset.in_bands, dataset.num_classes, genotype=fit.genotype, init_channels=fit.init_channels,
                   stem_multiplier=config.stem_multiplier)
    seed_everything(config.seed)  # the retrained network's initial weights are part of what the seed reproduces
    model = build_model(arch)
    train_config = TrainConfig(epochs=config.retrain_epochs, batch_size=config.retrain_batch_size, lr=config.retrain_lr,
                               loss=config.loss, label_smoothing=config.label_smoothing, focal_gamma=config.focal_gamma,
                               augment=config.augment, seed=config.seed, threads=config.threads)
    search_record = {
        "seconds": outcome.seconds, "epochs": config.epochs, "resumed_from_epoch": outcome.resumed_from,
        "processes": world.size, "ops": list(config.ops), "search_init_channels": width, "width_message": width_message,
        "searched_genotype": outcome.genotype, "searched_costs": fit.searched, "final_probabilities": probabilities_summary(outcome.supernet),
        "halves": outcome.halves,
    }
    extra_report = {"genotype": fit.genotype, "init_channels": fit.init_channels, "search": search_record,
                    "search_seconds": outcome.seconds}
    return train_network(model, arch, dataset, train_config, out, task="search", title=f"searched cellnet (C={fit.init_channels})",
                         progress=progress, overwrite=overwrite, target=_target_record(config, fit),
                         extra_config={"search": config.to_dict(), "search_init_channels": width}, extra_report=extra_report)


#: real training samples that calibrate the INT8 model a search report times (the exporter's minimum)
REPORT_CALIBRATION = 300
#: runtimes a search report can time the derived network in on this machine
MEASURABLE_RUNTIMES = ("onnxruntime", "openvino")


def measure_as_profiled(model, dataset, runtime: str, precision: str, seed: int = 0) -> tuple[str, dict]:
    """The derived network's batch-1, 1-thread latency in the runtime and precision its profile predicts.

    FP32 onnxruntime is the report's ``onnxruntime_cpu_b1``; OpenVINO FP32 is timed from the exported ONNX; INT8 is
    the fully quantised graph (onnxruntime static QDQ or NNCF for OpenVINO, as the INT8 profiles run it), calibrated
    on ``REPORT_CALIBRATION`` real training samples. Returns ``(key, entry)``: the key is ``<runtime>_cpu_b1`` for
    FP32 and ``<runtime>_int8_cpu_b1`` for INT8; a failure is recorded in the entry (``measure_latency``'s policy).
    """
    import copy
    import tempfile

    import torch

    from compactrs.runtime import export_onnx
    from compactrs.runtime.latency import latency_key

    shape = (dataset.in_bands, *dataset.input_size)
    if precision == "fp32":
        return latency_key(runtime, 1), measure_latency(model, shape, runtime, (1,), threads=1)[latency_key(runtime, 1)]
    key = f"{runtime}_int8_cpu_b1"
    with tempfile.TemporaryDirectory(prefix="compactrs-int8-report-") as tmp:
        try:
            from compactrs.exporter.quantize import calibration_samples
            from compactrs.runtime.quantize import quantize_graph

            onnx_path = export_onnx(copy.deepcopy(model).eval().to(memory_format=torch.contiguous_format), Path(tmp) / "model.onnx",
                                    (1, *shape))
            samples, _ = calibration_samples(dataset, REPORT_CALIBRATION, seed)
            quantised = quantize_graph(onnx_path, tmp, runtime, samples)["file"]
        except ConfigError:
            raise
        except Exception as exc:  # the latency policy: a measurement that fails is recorded, the run is kept
            return key, {"runtime": runtime, "precision": "int8", "device": "cpu", "batch": 1, "threads": 1,
                         "error": f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"}
        entry = measure_latency(quantised, shape, runtime, (1,), threads=1)[latency_key(runtime, 1)]
    return key, {**entry, "precision": "int8", "calibration_samples": int(len(samples))}


def _profile_device(profile) -> dict:
    """The machine the profile was measured on (its ``device`` block; {} where it recorded none)."""
    device = getattr(profile, "data", {}).get("device")
    return device if isinstance(device, dict) else {}


def _profile_cpu(profile) -> str | None:
    """The CPU the profile was measured on: the report compares it with its own ``machine`` (a measured time here
    says little about a target priced for another machine)."""
    return _profile_device(profile).get("cpu")


def _finish_run(out: Path, work_dir: Path, report: dict, dataset, config, fit, outcome, space, profile, baselines, width: int) -> None:
    from compactrs.training.checkpoint import load_checkpoint

    model, _ = load_checkpoint(out)
    # onnxruntime, 1 thread, batch 1: the runtime and setting the latency profiles describe
    report["latency_ms"]["measured"].update(measure_latency(model, (dataset.in_bands, *dataset.input_size), "onnxruntime", (1,), threads=1))
    if profile is not None:
        predicted = space.cost("latency_ms", fit.genotype, fit.init_channels)
        runtime, precision = getattr(profile, "runtime", None) or "onnxruntime", getattr(profile, "precision", None) or "fp32"
        key = "onnxruntime_cpu_b1"  # measured just above; the stand-in for a runtime that cannot run here (TensorRT)
        if runtime in MEASURABLE_RUNTIMES and (runtime, precision) != ("onnxruntime", "fp32"):
            key, entry = measure_as_profiled(model, dataset, runtime, precision, seed=config.seed)
            report["latency_ms"]["measured"][key] = entry
        report["latency_ms"]["predicted"] = {"ms": predicted, "profile": config.profile, "runtime": runtime, "precision": precision,
                                             "measured_key": key, "profile_cpu": _profile_cpu(profile),
                                             "profile_isa": _profile_device(profile).get("isa")}
        retimed = getattr(profile, "data", {}).get("retime")
        if retimed:  # the profile was re-timed before the search: its predictions are at the machine's speed then
            report["latency_ms"]["predicted"]["retime"] = {k: v for k, v in retimed.items() if k != "networks"}
        if hasattr(profile, "validation_at"):  # how well the profile predicted unseen networks of this input shape
            report["latency_ms"]["predicted"]["validation_at_input"] = profile.validation_at(dataset.in_bands,
                                                                                             dataset.input_size[0])
    report["retrain_seconds"] = report.get("train_seconds")
    write_json(out / "genotype.json", {"format": GENOTYPE_FORMAT, "genotype": fit.genotype, "init_channels": fit.init_channels,
                                       "stem_multiplier": config.stem_multiplier, "macs": report["macs"],
                                       "search_init_channels": width,
                                       "searched_genotype": outcome.genotype, **probabilities_summary(outcome.supernet)})
    entries, notes = load_baselines(baselines, dataset.spec)
    report["baselines"] = [{k: e[k] for k in ("name", "oa", "aa", "kappa", "macs", "source")} for e in entries]
    plots = out / "plots"
    plot_arch_probs(plots / "search_arch_probs.png", outcome.history, config.ops)
    plot_cost(plots / "search_cost.png", outcome.history, config.flops_target, config.tolerance, config.latency_target_ms)
    plot_accuracy_vs_macs(plots / "accuracy_vs_macs.png", {"name": f"searched (C={fit.init_channels})", "oa": report["oa"], "macs": report["macs"]},
                          entries, f"{dataset.kind}: accuracy vs MACs")
    log = RunLog(out)
    try:
        log.line(f"search: {outcome.seconds:.1f} s over {config.epochs} epochs; retrain {report['retrain_seconds']:.1f} s")
        log.line(fit.message)
        for note in notes:
            log.line(note)
    finally:
        log.close()
    (out / "search").mkdir(exist_ok=True)
    for name in ("log.txt", "metrics.jsonl"):
        if (work_dir / name).is_file():
            shutil.copy2(work_dir / name, out / "search" / name)
    write_json(out / "report.json", report)
    shutil.rmtree(work_dir, ignore_errors=True)  # the checkpoint is only needed to resume; the run is complete

