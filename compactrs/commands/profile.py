"""``compactrs profile``: measure a latency profile of the search space's ops; ``profile validate`` scores it."""
from __future__ import annotations

import re
import sys
from pathlib import Path

import click

from compactrs.commands._common import emit, json_option, show_progress

#: end-to-end timing of kernel profiles (--timing). Reference-normalised: 16 small cell nets timed twice in one
#: session agreed within ±10 % for 69–75 % of them (MAPE 18–28 %) against 38–50 % (MAPE 33–36 %) with plain wall
#: time, on a loaded 2-core VM; the lead measured 26 % → 61 % of pairs (MAPE 27 % → 9.4 %) on the quiet VM.
TIMING_DEFAULT = "reference"


def _int_list(value: str, name: str) -> tuple[int, ...]:
    from compactrs.units import parse_int_list

    return tuple(parse_int_list(value, what=f"--{name}"))


def _default_out(runtime: str, threads: int, batch: int, precision: str = "fp32") -> str:
    from compactrs.deploy.machine import describe_machine

    info = describe_machine()
    cpu = re.sub(r"[^a-z0-9]+", "-", info["cpu"].lower()).strip("-")
    cpu = "xeon" if "xeon" in cpu else cpu[:24]
    return f"profiles/{cpu}-{info['cores']}c-{runtime}-{precision}-t{threads}" + (f"-b{batch}" if batch != 1 else "") + ".json"


def _print_profile(result: dict) -> None:
    click.echo(f"profile      {result['out']}")
    click.echo(f"entries      {result['entries']} measured parts, {result['fit_networks']} fitting networks, "
               f"{result['seconds']:.0f} s")
    fit = result.get("train_error")
    if fit:
        click.echo(f"fit          within ±10% {fit['within_10pct']:.1%}, MAPE {fit['mape_pct']:.2f}% on the fitting set "
                   f"(validate on fresh networks: compactrs profile validate {result['out']} --archs 50)")
    conditions = result.get("conditions") or {}
    if conditions.get("contended"):
        click.echo(f"warning      measured while the machine was busy ({conditions['reason']}); the profile records this — "
                   f"re-measure on a quiet machine before shipping it")


@click.group("profile", invoke_without_command=True)
@click.option("--runtime", type=click.Choice(["onnxruntime", "openvino", "tensorrt"]), default="onnxruntime",
              show_default=True, help="runtime to measure in (openvino: in process, needs compactrs[openvino]; "
                                      "tensorrt: --method ops, emit graphs here, measure on the device)")
@click.option("--precision", type=click.Choice(["fp32", "int8"]), default="fp32", show_default=True,
              help="kernels: int8 quantises every sampled network before profiling it (onnxruntime: static QDQ; "
                   "openvino: NNCF), calibrated on random inputs (valid for timing only)")
@click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True, help="runtime intra-op threads")
@click.option("--batch", type=click.IntRange(min=1), default=1, show_default=True, help="batch size of every graph")
@click.option("--method", type=click.Choice(["kernels", "ops"]), default="kernels", show_default=True,
              help="kernels: the optimised graph's kernels profiled in situ, a regressor per kernel type; "
                   "ops: the previous table of ops each timed alone")
@click.option("--inputs", default=None,
              help="kernels: input shapes BANDSxSIDE (list) [default: the shipped datasets' 200x9,3x32,10x32,3x64,13x64]")
@click.option("--in-bands", default=None, help="input bands the stem may see (list, e.g. 10,13) [ops default: 10]")
@click.option("--input-size", default=None, help="input patch sizes (list, e.g. 9,32) [ops default: 32]")
@click.option("--init-channels", default=None,
              help="first-cell widths the search may use (list) [kernels: every even width 8–64; ops: 16]")
@click.option("--classes", default="10", show_default=True, help="class counts of the head (list)")
@click.option("--ops", default=None, help="candidate ops (comma list; default: every op of compactrs.nn.ops.OPS)")
@click.option("--blocks", type=click.IntRange(min=1), default=3, show_default=True, help="blocks (reductions + 1)")
@click.option("--max-depth", type=click.IntRange(min=1), default=5, show_default=True, help="most normal cells per block")
@click.option("--fit-archs", type=click.IntRange(min=0), default=None,
              help="random whole networks measured to fit the model [kernels: 60 (≤ 2 cells per block), a third drawn "
                   "adaptively; ops: 40]")
@click.option("--node-runs", type=click.IntRange(min=1), default=20, show_default=True,
              help="kernels: profiled runs per network (per-node durations, trimmed mean)")
@click.option("--min-seconds", type=click.FloatRange(min=0.0), default=0.3, show_default=True, help="timing per graph")
@click.option("--clock", type=click.Choice(["wall", "cpu"]), default="wall", show_default=True,
              help="wall time, or the runtime thread's CPU time (robust on a shared busy machine; needs --threads 1)")
@click.option("--timing", "timing_mode", type=click.Choice(["wall", "reference"]), default=TIMING_DEFAULT, show_default=True,
              help="kernel profiles' end-to-end timing: plain wall-clock medians, or each run paired with a fixed "
                   "reference graph and normalised by it (cancels the machine's slow and fast phases; the reference's moves are "
                   "recorded as machine state)")
@click.option("--seed", type=int, default=0, show_default=True, help="seed of the fitting networks")
@click.option("--out", default=None, help="profile JSON to write [default: profiles/<cpu>-<runtime>-fp32-t<threads>.json]")
@click.option("--emit", "emit_dir", type=click.Path(file_okay=False), default=None,
              help="only write the op graphs + manifest to DIR, for deploy/profile_runner.py on the device")
@click.option("--validate-archs", type=click.IntRange(min=0), default=0, show_default=True,
              help="also measure N validation networks (kernels: timed interleaved with the fitting networks; "
                   "with --emit: scored when the measurements are imported)")
@click.option("--from-measurements", "measurements", type=click.Path(), default=None,
              help="build the profile from a deploy/profile_runner.py output (measurements.json or its folder)")
@json_option()
@click.pass_context
def command(ctx, runtime, precision, threads, batch, method, inputs, in_bands, input_size, init_channels, classes, ops, blocks,
            max_depth, fit_archs, node_runs, min_seconds, clock, timing_mode, seed, out, emit_dir, validate_archs,
            measurements, as_json) -> None:
    """Measure a latency profile of the search space on this machine.

    --method kernels (default): random networks of the region are exported, compiled by the --runtime
    (onnxruntime or openvino; quantised first with --precision int8) and profiled node by node (the kernels
    that really run, fusions included); a regressor per kernel type is fitted on them, and a whole-network
    term on end-to-end times. --method ops: the previous table of ops
    each timed alone. Score a profile on fresh networks with 'compactrs profile validate PROFILE'.
    """
    if ctx.invoked_subcommand is not None:
        return
    _check_combination(runtime, precision, method, emit_dir, measurements)
    if method == "kernels" and not measurements:  # a measurements file says itself what was measured
        _kernel_profile(runtime, precision, threads, batch, inputs, in_bands, input_size, init_channels, classes, ops, blocks,
                        max_depth, fit_archs, node_runs, min_seconds, clock, seed, out, emit_dir, validate_archs,
                        as_json, timing_mode)
        return
    # an empty value is a value (and an error), not "use the default"
    in_bands = "10" if in_bands is None else in_bands
    input_size = "32" if input_size is None else input_size
    init_channels = "16" if init_channels is None else init_channels
    fit_archs = 40 if fit_archs is None else fit_archs
    import time

    from compactrs._progress import progress_bar
    from compactrs.cost._build import ProfileConfig, emit_profile_graphs, load_results, measure_profile, profile_from_results
    from compactrs.cost._kernel_build import NETWORKS_SCHEMA as KERNEL_MANIFEST_SCHEMA
    from compactrs.cost._kernel_pipeline import kernel_profile_from_results
    from compactrs.deploy.bundle import copy_package
    from compactrs.deploy.timing import TimingConfig
    from compactrs.errors import ConfigError

    if clock == "cpu" and threads != 1:
        raise ConfigError(f"--clock cpu measures the runtime's calling thread, so it needs --threads 1 (got {threads})")
    config = ProfileConfig(
        in_bands=_int_list(in_bands, "in-bands"), input_size=_int_list(input_size, "input-size"),
        init_channels=_int_list(init_channels, "init-channels"), num_classes=_int_list(classes, "classes"),
        ops=tuple(op.strip() for op in ops.split(",") if op.strip()) if ops else (), blocks=blocks,
        max_depth=max_depth, runtime=runtime, threads=threads, batch=batch, fit_archs=fit_archs,
        validate_archs=validate_archs, seed=seed, timing=TimingConfig(min_seconds=min_seconds, clock=clock))
    command_line = "compactrs profile " + " ".join(sys.argv[2:] if sys.argv[1:2] == ["profile"] else [])
    started = time.perf_counter()
    with progress_bar(show_progress(as_json)) as progress:
        if emit_dir:
            folder = emit_profile_graphs(config, emit_dir, progress)
            copy_package(folder / "deploy")  # the torch-free runner travels with the graphs (numpy + the runtime on the device)
            emit({"emitted": str(folder), "manifest": str(folder / "manifest.json"), "runner": str(folder / "deploy" / "profile_runner.py")},
                 as_json, lambda r: click.echo(f"wrote {r['manifest']}; copy {r['emitted']} to the device and run there: "
                                               f"python {r['runner']} {r['emitted']} --runtime {runtime}"))
            return
        out = out or _default_out(runtime, threads, batch)
        if measurements:
            results = load_results(measurements)
            if results["manifest"].get("schema") == KERNEL_MANIFEST_SCHEMA:
                folder = Path(measurements) if Path(measurements).is_dir() else Path(measurements).parent
                profile = kernel_profile_from_results(results, folder, out, command=command_line)
                _emit_kernel_result(profile, out, time.perf_counter() - started, as_json)
                return
            profile = profile_from_results(results, out, command=command_line)
        else:
            profile = measure_profile(config, out, progress, command=command_line)
    fit = profile.data["overhead"].get("fit") or {}
    result = {"out": out, "entries": len(profile.data["entries"]), "fit_networks": fit.get("n", 0),
              "seconds": time.perf_counter() - started, "train_error": fit.get("train_error"),
              "conditions": profile.data["measurement"].get("conditions"),
              "coefficients": profile.coefficients, "validation": profile.validation and {
                  k: v for k, v in profile.validation.items() if k != "archs"}}
    emit(result, as_json, _print_profile)


@command.command("validate")
@click.argument("profile_path", metavar="PROFILE", type=click.Path())
@click.option("--archs", type=click.IntRange(min=1), default=100, show_default=True,
              help="random networks of the profile's region (not from its fitting set) to measure end to end")
@click.option("--plot", type=click.Path(dir_okay=False), default=None, help="write a predicted-vs-measured scatter plot here")
@click.option("--seed", type=int, default=None, help="seed of the validation networks")
@click.option("--min-within", type=click.FloatRange(0.0, 1.0), default=None,
              help="gate: exit 3 when the share of networks predicted within ±10%% is below this (e.g. 0.9)")
@click.option("--write", is_flag=True, help="record the validation block in PROFILE (default: PROFILE is not touched)")
@click.option("--compare", "compare", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="another profile (e.g. an isolated-op table) to score on the same networks (repeatable)")
@click.option("--region-of", "region_of", type=click.Path(exists=True, dir_okay=False), default=None,
              help="kernel profiles: draw the networks from the part of PROFILE's region this other profile covers too "
                   "(e.g. an older isolated-op table measured at one width), so a --compare of it scores every network")
@click.option("--drift-archs", type=click.IntRange(min=0), default=10, show_default=True,
              help="kernel profiles: fitting networks re-timed in the same rounds (drift since profiling)")
@click.option("--timing", "timing_mode", type=click.Choice(["wall", "reference"]), default=None,
              help="kernel profiles: end-to-end timing, wall or reference-normalised [default: as PROFILE was measured]")
@json_option()
def validate(profile_path, archs, plot, seed, min_within, write, compare, region_of, drift_archs, timing_mode,
             as_json) -> None:
    """Measure --archs fresh random networks end to end (two interleaved rounds each) and score PROFILE.

    Reports the share within ±10 %, MAPE and Spearman rho beside the machine's test–retest agreement of the
    same networks (its noise floor), a MACs-only linear baseline and any --compare profiles.
    """
    from compactrs._progress import progress_bar
    from compactrs.cost._fit import accuracy_by_input
    from compactrs.cost._validate import validate_any

    with progress_bar(show_progress(as_json)) as progress:
        block = validate_any(profile_path, archs, plot, seed, write, compare, drift_archs, progress, timing_mode,
                             region_of)
    summary = {k: v for k, v in block.items() if k != "archs"}
    summary["by_input"] = accuracy_by_input(block.get("archs") or [])
    emit(summary, as_json, lambda b: click.echo(_validation_text(b, profile_path, write)))
    _gate(block, min_within)


@command.command("refit")
@click.argument("profile_path", metavar="PROFILE", type=click.Path())
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="profile JSON to write the refitted profile to")
@click.option("--write", is_flag=True, help="replace PROFILE itself (instead of --out)")
@json_option()
def refit(profile_path, out, write, as_json) -> None:
    """Refit PROFILE's whole-network term from its stored measurements, timing nothing.

    The kernels of its fitting networks are enumerated again and priced by its regressors, the network term is
    refitted on those predicted sums, and its stored validation networks are re-scored against their stored
    end-to-end times (same noise floor). For profiles whose term was fitted on the profiled kernel sums (made
    before 2026-11-29).
    """
    import sys

    from compactrs._progress import progress_bar
    from compactrs.cost._kernel_validate import refit_network_term
    from compactrs.cost.kernel_latency import KernelProfile
    from compactrs.cost.latency import load_profile
    from compactrs.errors import ConfigError

    if (out is None) == (not write):
        raise ConfigError("profile refit writes to --out PATH or, with --write, replaces PROFILE: give exactly one of them")
    if not isinstance(load_profile(profile_path), KernelProfile):
        raise ConfigError(f"'{profile_path}' is an op-level profile; refit works on kernel-level profiles "
                          f"('compactrs profile' with the default --method kernels)")
    target = profile_path if write else out
    command_line = "compactrs profile refit " + " ".join(sys.argv[3:] if sys.argv[1:3] == ["profile", "refit"] else [])
    with progress_bar(show_progress(as_json)) as progress:
        block = refit_network_term(profile_path, target, command=command_line, progress=progress)
    summary = {"profile": str(target), **({k: v for k, v in block.items() if k != "archs"} if block else {})}
    emit(summary, as_json, lambda b: click.echo(_refit_text(block, target)))


@command.command("retime")
@click.argument("profile_path", metavar="PROFILE", type=click.Path())
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="profile JSON to write the re-timed profile to")
@click.option("--write", is_flag=True, help="replace PROFILE itself (instead of --out)")
@click.option("--networks", type=click.IntRange(min=1), default=None,
              help="fitting networks of PROFILE to time again [default: 12]")
@click.option("--input", "input_shape", default=None,
              help="BANDSxSIDE (e.g. 200x9): time the profile's networks of this input first (the data it will price)")
@json_option()
def retime(profile_path, out, write, networks, input_shape, as_json) -> None:
    """State PROFILE at this machine's speed now: time some of its own fitting networks again and scale its
    network term by the median of (time now ÷ time stored).

    For a profile of this machine whose speed has moved since it was measured (power mode, firmware, another
    VM host): 10–20 seconds instead of re-profiling. The kernel prices stay; only the speed changes.
    """
    import sys

    from compactrs._io import write_json
    from compactrs._progress import progress_bar
    from compactrs.cost._retime import RETIME_NETWORKS, retime_profile
    from compactrs.cost.kernel_latency import KernelProfile
    from compactrs.cost.latency import load_profile
    from compactrs.errors import ConfigError

    if (out is None) == (not write):
        raise ConfigError("profile retime writes to --out PATH or, with --write, replaces PROFILE: give exactly one of them")
    profile = load_profile(profile_path)
    if not isinstance(profile, KernelProfile):
        raise ConfigError(f"'{profile_path}' is an op-level profile; retime works on kernel-level profiles "
                          f"('compactrs profile' with the default --method kernels)")
    command_line = "compactrs profile retime " + " ".join(sys.argv[3:] if sys.argv[1:3] == ["profile", "retime"] else [])
    with progress_bar(show_progress(as_json)) as progress:
        retimed, block = retime_profile(profile, networks or RETIME_NETWORKS,
                                        _shape(input_shape) if input_shape else None, progress=progress,
                                        command=command_line)
    target = profile_path if write else out
    write_json(target, retimed.data)
    summary = {"profile": str(target), **{k: v for k, v in block.items() if k != "networks"}}
    emit(summary, as_json, lambda b: click.echo(_retime_text(b)))


def _retime_text(block: dict) -> str:
    from compactrs.cost._retime import retime_line

    before, after = block["profiled_coefficients"], {k: v * block["factor"] for k, v in block["profiled_coefficients"].items()}
    return (retime_line(block) + f"\nnetwork term: scale {before['scale']:.3f} -> {after['scale']:.3f}, per kernel "
            f"{before['per_kernel_us']:+.2f} -> {after['per_kernel_us']:+.2f} µs, per run {before['per_run_us']:.1f} -> "
            f"{after['per_run_us']:.1f} µs\nwritten to {block['profile']}")


def _refit_text(block: dict | None, target: str) -> str:
    if not block:
        return f"refitted network term written to {target} (the profile holds no validation networks to re-score)"
    before = block.get("refit", {}).get("previous", {})
    return (f"refitted network term written to {target}; stored validation networks ({block['n']}): "
            f"within ±10% {before.get('within_10pct', float('nan')):.0%} -> {block['within_10pct']:.0%}, "
            f"MAPE {before.get('mape_pct', float('nan')):.1f}% -> {block['mape_pct']:.1f}% (machine noise floor: {_noise(block)})")


def _validation_text(block: dict, profile_path: str, write: bool) -> str:
    from compactrs.cost._validate import validation_table

    lines = [validation_table(block)]
    lines += _by_input_lines(block)
    if block.get("region"):
        region = block["region"]
        lines.append(f"networks drawn from the region {region['of']} covers too: inputs "
                     + ", ".join(f"{b}x{s}" for b, s in region["inputs"]) + f", widths {region['init_channels']}, "
                     f"{len(region['ops'])} ops, ≤ {region['max_depth']} cells per block")
    gap = block.get("unpriced")
    if gap:
        lines.append(f"coverage gap: {gap['n']} of {gap['n'] + block['n']} networks left out of the metrics: their "
                     f"runtime graphs run kernel types {gap['types']} that no fitting network produced "
                     f"(re-profile with more --fit-archs)")
    state = block.get("machine_state") or {}
    if state.get("contended"):
        lines.append(f"WARNING: measured under contention ({state['reason']}): these numbers are not the machine's")
    if state.get("reference"):
        lines.append(_reference_line(state["reference"]))
    if block.get("drift"):
        lines.append(f"drift: fitting networks now take {block['drift']['median_ratio']:.2f}× their profiled time")
    if block.get("plot"):
        lines.append(f"plot: {block['plot']}")
    lines.append(f"written into {profile_path}" if write else f"{profile_path} not modified (--write records the block)")
    return "\n".join(lines)


def _by_input_lines(block: dict) -> list[str]:
    """Where in its region the profile is good or weak: the same networks split by input shape."""
    groups = block.get("by_input") or {}
    if len(groups) < 2:
        return []
    lines = ["by input shape (within ±10 %, MAPE; the machine re-timing the same networks):"]
    for key, at in sorted(groups.items(), key=lambda kv: kv[1]["within_10pct"]):
        floor = at.get("noise_floor")
        lines.append(f"  {key:>10}  {at['n']:3d} networks  {at['within_10pct']:4.0%}  {at['mape_pct']:5.1f} %"
                     + (f"   (re-timing {floor['within_10pct']:4.0%}, {floor['mape_pct']:5.1f} %)" if floor else ""))
    return lines


def _reference_line(ref: dict) -> str:
    return (f"reference graph: {ref['median_ms']:.3f} ms over the session; its window medians moved "
            f"{ref['window_min_ms']:.3f}–{ref['window_max_ms']:.3f} ms (the machine's phases, normalised away)")


def _gate(block: dict, min_within) -> None:
    from compactrs.errors import ValidationFailed

    if min_within is not None and not block["within_10pct"] >= min_within:
        raise ValidationFailed(f"the profile predicts {block['within_10pct']:.1%} of {block['n']} networks within ±10%, "
                               f"below --min-within {min_within:.0%}; re-measure the profile on a quiet machine or with "
                               f"more --fit-archs (machine noise floor: {_noise(block)})")


def _noise(block: dict) -> str:
    noise = block.get("noise_floor")
    if not noise:
        return "not measured"
    return f"{noise['within_10pct']:.1%} of re-timings within ±10%, MAPE {noise['mape_pct']:.1f}%"


def _check_combination(runtime: str, precision: str, method: str, emit_dir, measurements) -> None:
    """One line (ConfigError, exit 2) for a runtime/precision/method combination that cannot be measured here."""
    from compactrs.errors import ConfigError

    if runtime == "tensorrt" and precision != "fp32":
        raise ConfigError(f"--runtime tensorrt --precision {precision}: TensorRT INT8 is calibrated and timed on the "
                          f"device, not in process here; profile TensorRT FP32 with '--method ops --emit DIR', or "
                          f"INT8 with --runtime onnxruntime or openvino")
    if method == "ops" and not measurements and (runtime == "openvino" or precision != "fp32"):
        raise ConfigError(f"--method ops measures FP32 op tables in onnxruntime or TensorRT, not {runtime} {precision}; "
                          f"use --method kernels (the default) for an OpenVINO or INT8 profile")
    if measurements and (runtime == "openvino" or precision != "fp32"):
        raise ConfigError(f"--from-measurements builds the profile a device's runner measured (FP32 onnxruntime or "
                          f"TensorRT); it cannot be {runtime} {precision}: profile {runtime} {precision} in process "
                          f"(leave out --from-measurements)")
    if emit_dir and (runtime == "openvino" or precision != "fp32"):
        raise ConfigError(f"--emit writes FP32 graphs for onnxruntime / TensorRT devices, not {runtime} {precision}; "
                          f"profile {runtime} {precision} in process on the target machine (leave out --emit)")


def _kernel_profile(runtime, precision, threads, batch, inputs, in_bands, input_size, init_channels, classes, ops, blocks,
                    max_depth, fit_archs, node_runs, min_seconds, clock, seed, out, emit_dir, validate_archs,
                    as_json, timing_mode: str = "wall") -> None:
    import itertools
    import time

    from compactrs._progress import progress_bar
    from compactrs.cost._kernel_pipeline import DATASET_INPUTS, WIDTHS, KernelProfileConfig, build_kernel_profile
    from compactrs.cost._measure import TimingConfig
    from compactrs.cost._runtime_kernels import check_runtime
    from compactrs.errors import ConfigError

    if runtime == "tensorrt":
        raise ConfigError(f"kernel-level profiles run in process in onnxruntime or openvino; --runtime {runtime} is "
                          f"not implemented for them: use '--method ops' for a TensorRT profile")
    check_runtime(runtime, precision)  # one line when openvino (or NNCF) is missing, before any work
    if clock == "cpu" and threads != 1:
        raise ConfigError(f"--clock cpu measures the runtime's calling thread, so it needs --threads 1 (got {threads})")
    if inputs is not None:
        shapes = tuple(_shape(text) for text in inputs.split(",") if text.strip())
        if not shapes:
            raise ConfigError(f"cannot read --inputs '{inputs}'; write BANDSxSIDE shapes, e.g. 200x9,10x32")
    elif in_bands is not None or input_size is not None:
        shapes = tuple(itertools.product(_int_list("10" if in_bands is None else in_bands, "in-bands"),
                                         _int_list("32" if input_size is None else input_size, "input-size")))
    else:
        shapes = DATASET_INPUTS
    config = KernelProfileConfig(
        inputs=shapes, init_channels=WIDTHS if init_channels is None else _int_list(init_channels, "init-channels"),
        num_classes=_int_list(classes, "classes"),
        ops=tuple(op.strip() for op in ops.split(",") if op.strip()) if ops is not None else (), blocks=blocks,
        max_depth=max_depth, threads=threads, batch=batch, runtime=runtime, precision=precision,
        fit_archs=60 if fit_archs is None else fit_archs,
        validate_archs=validate_archs, node_runs=node_runs, seed=seed,
        timing=TimingConfig(min_runs=10, min_seconds=min_seconds, rounds=2, clock=clock,
                            reference=timing_mode == "reference"))
    if ops is not None and not config.ops:
        raise ConfigError(f"cannot read --ops '{ops}'; give op names separated by commas, or leave --ops out for every op")
    if config.fit_archs < 2:
        raise ConfigError(f"--fit-archs {config.fit_archs} is too few to fit the whole-network term; use 2 or more")
    command_line = "compactrs profile " + " ".join(sys.argv[2:] if sys.argv[1:2] == ["profile"] else [])
    out = out or _default_out(runtime, threads, batch, precision)
    started = time.perf_counter()
    if emit_dir:
        from compactrs.cost._kernel_pipeline import emit_kernel_graphs

        with progress_bar(show_progress(as_json)) as progress:
            folder = emit_kernel_graphs(config, emit_dir, progress)
        emit({"emitted": str(folder), "manifest": str(folder / "manifest.json")}, as_json,
             lambda r: click.echo(f"wrote {r['manifest']}; on the device run: python deploy/profile_runner.py "
                                  f"{r['emitted']} --runtime onnxruntime --threads {threads}"))
        return
    with progress_bar(show_progress(as_json)) as progress:
        log = (lambda message: None) if as_json else (lambda message: click.echo(
            f"[{time.perf_counter() - started:5.0f} s] {message}", err=True))
        from compactrs.cost._kernel_build import stem_probe_specs

        probes = len(stem_probe_specs(config.space(), config.seed))
        log(f"profiling {config.fit_archs} fitting networks" + (f" (+ {probes} stem probes)" if probes else "") +
            f" + {config.validate_archs} validation networks in {runtime} {precision} over "
            f"{len(shapes)} input shapes, widths {min(config.init_channels)}–{max(config.init_channels)}")
        profile = build_kernel_profile(config, out, progress, command=command_line, log=log)
    _emit_kernel_result(profile, out, time.perf_counter() - started, as_json)


def _emit_kernel_result(profile, out: str, seconds: float, as_json: bool) -> None:
    data = profile.data
    result = {"out": out, "runtime": profile.runtime, "precision": profile.precision,
              "kernel_types": len(data["kernels"]["samples"]), "fit_networks": data["network"]["fit"]["n"],
              "seconds": seconds, "coefficients": profile.coefficients,
              "machine_state": data["measurement"]["machine_state"], "warning": data["measurement"].get("warning"),
              "validation": profile.validation and {k: v for k, v in profile.validation.items() if k != "archs"}}
    emit(result, as_json, _print_kernel_profile)


def _shape(text: str) -> tuple[int, int]:
    from compactrs.errors import ConfigError

    try:
        bands, side = (int(part) for part in text.lower().strip().split("x"))
    except ValueError:
        bands = side = 0
    if bands < 1 or side < 1:
        raise ConfigError(f"cannot read input shape '{text}'; write BANDSxSIDE, e.g. 200x9,10x32")
    return bands, side


def _print_kernel_profile(result: dict) -> None:
    click.echo(f"profile      {result['out']} ({result['runtime']} {result['precision']})")
    click.echo(f"kernels      {result['kernel_types']} kernel types from {result['fit_networks']} fitting networks, "
               f"{result['seconds']:.0f} s")
    if result.get("validation"):
        from compactrs.cost._validate import validation_table

        click.echo(validation_table(result["validation"]))
    else:
        click.echo(f"validate     compactrs profile validate {result['out']} --archs 100")
    if (result.get("machine_state") or {}).get("reference"):
        click.echo(f"timing       {_reference_line(result['machine_state']['reference'])}")
    if result.get("warning"):
        click.echo(f"WARNING      {result['warning']}")
