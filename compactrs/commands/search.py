"""``compactrs search --flops-target 20M``: hardware-aware architecture search, retraining and report."""
from __future__ import annotations

import os

import click

from compactrs._progress import Progress
from compactrs.commands._common import COUNT, MILLISECONDS, data_option, emit, json_option, overwrite_option, seed_option, show_progress, threads_option


def print_search_report(report: dict) -> None:
    from compactrs.commands.train import print_report
    from compactrs.deploy.machine import machine_mismatch
    from compactrs.units import human_count

    if "run_dir" not in report:  # a non-zero torchrun rank
        return
    print_report(report)
    target = report.get("target", {})
    if target.get("flops") is not None:
        low, high = target["band_macs"]
        status = "ON TARGET" if target["met"] else "MISSED"
        click.echo(f"target       {human_count(high)} MACs, band [{human_count(low)}, {human_count(high)}]: achieved "
                   f"{human_count(report['macs'])} MACs ({status})")
    if target.get("latency_ms") is not None:
        block = report["latency_ms"].get("predicted") or {}
        measured = report["latency_ms"]["measured"].get(block.get("measured_key") or "onnxruntime_cpu_b1") or {}
        what = f"{measured.get('runtime', 'onnxruntime')} {measured.get('precision', 'fp32')}, batch 1, 1 thread"
        got = (f"measured {measured['median_ms']:.3f} ms ({what})" if "median_ms" in measured
               else f"not measured ({measured.get('error', 'no timing recorded')})")
        retimed = f" re-timed here (×{block['retime']['factor']:.2f})" if block.get("retime") else ""
        click.echo(f"latency      target {target['latency_ms']:.3f} ms, predicted {block.get('ms', float('nan')):.3f} ms by "
                   f"{target.get('profile')}{retimed}, {got}")
        machine = report.get("machine", {})
        mismatch = (machine_mismatch({"cpu": block["profile_cpu"], "isa": block.get("profile_isa")}, machine.get("cpu"),
                                     machine.get("isa")) if block.get("profile_cpu") and machine.get("cpu") else None)
        if mismatch:
            click.echo(f"note         {mismatch}: the measured time is this machine's, not the one the target was "
                       f"priced for")
    click.echo(f"search       {target.get('message', '')}")
    genotype = report["genotype"]
    stem = genotype.get("stem", {})
    stem_probs = report.get("search", {}).get("final_probabilities", {}).get("stem_probs")
    chosen = f" (searched: {', '.join(f'{k} {p:.2f}' for k, p in stem_probs.items())})" if stem_probs else ""
    click.echo(f"genotype     stem {stem.get('kind', 'conv')}{chosen} stride {stem.get('stride', 1)}, depths {genotype['depths']}, "
               f"init_channels {report['init_channels']}; normal "
               + " ".join(f"{op}<-{src}" for op, src in genotype["normal"]))
    if len(genotype["depths"]) > 1:
        click.echo("             reduce " + " ".join(f"{op}<-{src}" for op, src in genotype["reduce"]))
    else:  # genotype.json keeps the reduction cell's ops (the format's), but one block never runs it
        click.echo("             (one block: no reduction cell runs)")
    click.echo(f"time         search {report['search_seconds']:.1f} s, retrain {report['retrain_seconds']:.1f} s")


class _StderrLines(Progress):
    """A progress reporter that prints only its log lines (the per-epoch summaries) to stderr."""

    def log(self, message: str) -> None:
        click.echo(message, err=True)


@click.command("search")
@data_option()
@click.option("--flops-target", type=COUNT, default=None, metavar="MACS",
              help="budget in FLOPs counted as MACs (multiply-accumulates) per sample, e.g. 20M = 20 million MACs")
@click.option("--tolerance", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.1, show_default=True,
              help="the result must land in [target·(1−tolerance), target]")
@click.option("--latency-target", type=MILLISECONDS, default=None, metavar="DURATION",
              help="expected-latency budget, e.g. 2ms (needs --profile)")
@click.option("--profile", type=click.Path(dir_okay=False), default=None, help="latency profile JSON made by 'compactrs profile'")
@click.option("--runtime", type=click.Choice(["onnxruntime", "openvino"]), default=None,
              help="runtime the network will run in: --profile must have measured it [default: the profile's]")
@click.option("--precision", type=click.Choice(["fp32", "int8"]), default=None,
              help="precision the network will run in: --profile must have measured it [default: the profile's]")
@click.option("--measured-landing", is_flag=True,
              help="land the derived network's width (then one block's depth) on onnxruntime times measured here, "
                   "not on the profile's prediction: for a --latency-target alone, with a --profile of this "
                   "machine's CPU in onnxruntime FP32; needs a quiet machine")
@click.option("--retime/--no-retime", default=None,
              help="time a dozen of the --profile's own networks before searching and scale its predictions to this "
                   "machine's speed now (10-20 s) [default: whenever the profile is of this machine's CPU]")
@click.option("--ops", default="rs", show_default=True,
              help="candidate ops: gdas (8 GDAS ops), rs (GDAS + multiscale attention ms_att_3/5/7), mobile (rs + conv_3x3 "
                   "and MBConv e3/e6 k3/k5 with and without SE), all, or a comma list. A --latency-target needs a profile "
                   "that measured every chosen op (the shipped one measured all 20); BENCHMARKS.md's searches use mobile")
@click.option("--epochs", type=click.IntRange(min=1), default=10, show_default=True, help="search epochs")
@click.option("--retrain-epochs", type=click.IntRange(min=0), default=15, show_default=True, help="training epochs of the derived network")
@click.option("--init-channels", type=click.IntRange(min=2), default=16, show_default=True,
              help="channels of the first block (even); changed, with a message, when the space cannot hold the target")
@click.option("--centre-width", is_flag=True,
              help="search at the width whose starting architecture distribution costs inside (else nearest) the band "
                   "instead of --init-channels, so the budget loss does not push every edge to the dearest or cheapest "
                   "op and the task loss chooses; prices every width of a latency profile first")
@click.option("--stem-stride", type=click.Choice(["auto", "1", "2", "4"]), default="auto", show_default=True,
              help="stride of the stem (1 keeps full resolution); auto: chosen with the width before the search so the "
                   "first cells keep >= 8 channels")
@click.option("--stem", "stem", type=click.Choice(["conv", "spectral", "pointwise", "search"]), default="conv", show_default=True,
              help="stem kind: conv (3x3 conv), spectral (SpectralMamba's mask + piece-wise scan per pixel; stride 1, "
                   ">= 16 bands), pointwise (1x1 band mix, patchcnn's spectral compression: on 200 bands 9x fewer MACs "
                   "than conv; stride 1) or search (all three in the supernet; >= 16 bands; the search chooses, priced "
                   "like every op)")
@click.option("--max-depth", type=click.IntRange(min=1), default=5, show_default=True, help="maximum normal cells per block (δmax)")
@click.option("--blocks", type=click.IntRange(1, 3), default=3, show_default=True,
              help="blocks of normal cells; each after the first opens with a reduction cell (1 keeps small patches such "
                   "as Indian Pines' 9x9 at full resolution)")
@click.option("--nodes", type=click.IntRange(1, 4), default=4, show_default=True,
              help="intermediate nodes per cell (two searched edges each); fewer nodes = fewer, larger kernels, which CPUs "
                   "run ~2x more MACs per ms through (BENCHMARKS.md)")
@click.option("--batch-size", type=click.IntRange(min=2), default=32, show_default=True, help="search batch size (per process)")
@click.option("--search-split", type=click.Choice(["auto", "random", "spatial"]), default="random", show_default=True,
              help="how the train split is halved into weight and architecture halves: spatial (whole blocks of the scene "
                   "to the architecture half, as the test split was drawn: a random half of overlapping patches rewards "
                   "memorising), random, or auto (spatial for hsi: scenes split spatially)")
@click.option("--loss", type=click.Choice(["ce", "focal"]), default="ce", show_default=True,
              help="task loss: cross-entropy, or focal loss with label smoothing (long-tailed classes)")
@click.option("--label-smoothing", type=click.FloatRange(0, 1, max_open=True), default=0.0, show_default=True)
@click.option("--w-lr", type=click.FloatRange(min=0, min_open=True), default=0.025, show_default=True,
              help="SGD learning rate of the supernet weights (cosine-annealed)")
@click.option("--arch-lr", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Adam learning rate of the architecture [default: 3e-4 for long searches, 3/steps for short ones]")
@click.option("--baselines", multiple=True, type=click.Path(exists=True), metavar="RUN",
              help="run directory / report.json / bench results JSON of baselines for the accuracy-vs-MACs chart (repeatable)")
@click.option("--out", type=click.Path(file_okay=False), default=None, help="run directory to create [default: runs/search-TARGET-TIME]")
@click.option("--resume", is_flag=True, help="continue the interrupted search of --out (from OUT.search/checkpoint.pt)")
@overwrite_option()
@seed_option()
@threads_option()
@json_option()
def command(data, flops_target, tolerance, latency_target, profile, runtime, precision, measured_landing, retime, ops, epochs, retrain_epochs, init_channels, centre_width,
            stem_stride, stem, max_depth, blocks, nodes, batch_size, search_split, loss, label_smoothing, w_lr, arch_lr, baselines, out, resume, overwrite, seed,
            threads, as_json):
    """Search a compact cell network that lands on a FLOP budget, retrain it and write a run directory.

    FLOPs are counted as MACs (multiply-accumulates): --flops-target 20M means 20 million MACs per
    sample. GDAS-style search (Gumbel-softmax hard sampling, depth search, complexity loss) with a
    target loss that lands the network in [target·(1−tolerance), target]; with --latency-target and
    --profile the expected latency is budgeted too. The derived network is retrained on the full
    training split and written like 'compactrs train' runs, plus genotype.json and search plots.

    Runs unchanged under 'torchrun --nproc_per_node N -m compactrs.cli search ...' (gloo on CPU).
    """
    from compactrs._progress import progress_bar
    from compactrs.errors import ConfigError
    from compactrs.nas import SearchConfig, search

    if resume and out is None:
        raise ConfigError("--resume needs the --out directory of the interrupted search")
    config = SearchConfig(flops_target=flops_target, tolerance=tolerance, latency_target_ms=latency_target, profile=profile,
                          runtime=runtime, precision=precision, measured_landing=measured_landing, retime=retime, ops=ops, epochs=epochs, retrain_epochs=retrain_epochs,
                          init_channels=init_channels, centre_width=centre_width, stem_stride=None if stem_stride == "auto" else int(stem_stride), stem=stem,
                          max_depth=max_depth, blocks=blocks, nodes=nodes, search_split=search_split,
                          initial_depth=min(3, max_depth), batch_size=batch_size, loss=loss, label_smoothing=label_smoothing,
                          w_lr=w_lr, arch_lr=arch_lr, seed=seed, threads=threads)
    main_rank = int(os.environ.get("RANK", "0")) == 0
    with progress_bar(show_progress(as_json) and main_rank) as progress:
        if main_rank and not show_progress(as_json):
            progress = _StderrLines()  # no bar without a terminal, but one line per search epoch (never silent for hours)
        report = search(data, config, out, resume=resume, overwrite=overwrite, baselines=baselines, progress=progress)
    if main_rank:
        emit(report, as_json, print_search_report)
