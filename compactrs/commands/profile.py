"""``compactrs profile``: measure a latency profile of the search space's ops; ``profile validate`` scores it."""
from __future__ import annotations

import re
import sys

import click

from compactrs.commands._common import emit, json_option, show_progress


def _int_list(value: str, name: str) -> tuple[int, ...]:
    from compactrs.units import parse_int_list

    return tuple(parse_int_list(value, what=f"--{name}"))


def _default_out(runtime: str, threads: int, batch: int) -> str:
    from compactrs.deploy.machine import describe_machine

    info = describe_machine()
    cpu = re.sub(r"[^a-z0-9]+", "-", info["cpu"].lower()).strip("-")
    cpu = "xeon" if "xeon" in cpu else cpu[:24]
    return f"profiles/{cpu}-{info['cores']}c-{runtime}-fp32-t{threads}" + (f"-b{batch}" if batch != 1 else "") + ".json"


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
@click.option("--runtime", type=click.Choice(["onnxruntime", "tensorrt"]), default="onnxruntime", show_default=True,
              help="runtime to measure in (tensorrt: emit graphs here, measure on the device)")
@click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True, help="runtime intra-op threads")
@click.option("--batch", type=click.IntRange(min=1), default=1, show_default=True, help="batch size of every graph")
@click.option("--in-bands", default="10", show_default=True, help="input bands the stem may see (list, e.g. 10,13)")
@click.option("--input-size", default="32", show_default=True, help="input patch sizes (list, e.g. 9,32)")
@click.option("--init-channels", default="16", show_default=True, help="first-cell widths the search may use (list)")
@click.option("--classes", default="10", show_default=True, help="class counts of the head (list)")
@click.option("--ops", default=None, help="candidate ops (comma list; default: every op of compactrs.nn.ops.OPS)")
@click.option("--blocks", type=click.IntRange(min=1), default=3, show_default=True, help="blocks (reductions + 1)")
@click.option("--max-depth", type=click.IntRange(min=1), default=5, show_default=True, help="most normal cells per block")
@click.option("--fit-archs", type=click.IntRange(min=0), default=40, show_default=True,
              help="random whole networks measured to fit the overhead model")
@click.option("--min-seconds", type=click.FloatRange(min=0.0), default=0.3, show_default=True, help="timing per graph")
@click.option("--clock", type=click.Choice(["wall", "cpu"]), default="wall", show_default=True,
              help="wall time, or the runtime thread's CPU time (robust on a shared busy machine; needs --threads 1)")
@click.option("--seed", type=int, default=0, show_default=True, help="seed of the fitting networks")
@click.option("--out", default=None, help="profile JSON to write [default: profiles/<cpu>-<runtime>-fp32-t<threads>.json]")
@click.option("--emit", "emit_dir", type=click.Path(file_okay=False), default=None,
              help="only write the op graphs + manifest to DIR, for deploy/profile_runner.py on the device")
@click.option("--validate-archs", type=click.IntRange(min=0), default=0, show_default=True,
              help="with --emit: also emit N validation networks (scored when the measurements are imported)")
@click.option("--from-measurements", "measurements", type=click.Path(), default=None,
              help="build the profile from a deploy/profile_runner.py output (measurements.json or its folder)")
@json_option()
@click.pass_context
def command(ctx, runtime, threads, batch, in_bands, input_size, init_channels, classes, ops, blocks, max_depth,
            fit_archs, min_seconds, clock, seed, out, emit_dir, validate_archs, measurements, as_json) -> None:
    """Measure the latency of every candidate op of the search space in every context it can take.

    Each part (op, preprocess, add, concat, stem, head) is exported as its own ONNX graph, timed in the
    runtime (warm-up, median and p90, noisy entries re-measured) minus an identity graph's per-call cost;
    per-op scales and per-edge overheads are then fitted on --fit-archs measured whole networks. Score the
    profile on fresh networks with 'compactrs profile validate PROFILE --archs 50'.
    """
    if ctx.invoked_subcommand is not None:
        return
    import time

    from compactrs._progress import progress_bar
    from compactrs.cost._build import ProfileConfig, emit_profile_graphs, load_results, measure_profile, profile_from_results
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
            profile = profile_from_results(load_results(measurements), out, command=command_line)
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
@click.option("--archs", type=click.IntRange(min=1), default=50, show_default=True,
              help="random networks (not from the fitting set) to measure end to end")
@click.option("--plot", type=click.Path(dir_okay=False), default=None, help="scatter plot PNG [default: PROFILE.png]")
@click.option("--seed", type=int, default=None, help="seed of the validation networks [default: the fitting seed]")
@json_option()
def validate(profile_path, archs, plot, seed, as_json) -> None:
    """Measure --archs fresh random networks end to end and record how well PROFILE predicts them.

    Writes the validation block (within ±10 %, MAPE, Spearman rho, per-network rows, a MACs-only linear
    baseline) into PROFILE atomically, and a predicted-vs-measured scatter plot.
    """
    from compactrs._progress import progress_bar
    from compactrs.cost._validate import validate_profile, validation_table

    with progress_bar(show_progress(as_json)) as progress:
        block = validate_profile(profile_path, archs, plot, seed, progress)
    summary = {k: v for k, v in block.items() if k != "archs"}
    emit(summary, as_json, lambda b: click.echo(f"{validation_table(b)}\nplot: {b['plot']}\nwritten into {profile_path}"))

