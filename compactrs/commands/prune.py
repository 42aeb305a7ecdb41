"""``compactrs prune MODEL_OR_RUN --flops-ratio 0.5``: prune a network to a MAC target and fine-tune it."""
from __future__ import annotations

import click

from compactrs.commands._common import COUNT, data_option, emit, json_option, overwrite_option, seed_option, show_progress, threads_option


@click.command("prune")
@click.argument("model_or_run")
@data_option(default=None)
@click.option("--flops-ratio", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=None,
              help="fraction of the MACs (multiply-accumulates) to keep, e.g. 0.5")
@click.option("--flops-target", type=COUNT, default=None, help="MACs per sample to keep, e.g. 150M (FLOPs are multiply-accumulates)")
@click.option("--round-to", type=click.IntRange(min=1), default=8, show_default=True, help="kept channel counts are multiples of N")
@click.option("--min-channels", type=click.IntRange(min=1), default=8, show_default=True, help="fewest channels any layer keeps")
@click.option("--epochs", type=click.IntRange(min=0), default=30, show_default=True,
              help="pre-training epochs when MODEL_OR_RUN is a model name (no weights yet)")
@click.option("--search-epochs", type=click.IntRange(min=0), default=5, show_default=True, help="epochs of the bi-level channel-score search")
@click.option("--finetune-epochs", type=click.IntRange(min=0), default=10, show_default=True, help="fine-tune epochs of the pruned network")
@click.option("--cost-weight", type=click.FloatRange(min=0), default=2.0, show_default=True, help="weight of the cost-awareness (MAC ratio) loss")
@click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True)
@click.option("--no-latency", is_flag=True, help="skip the onnxruntime latency measurements")
@click.option("--model-arg", "model_args", multiple=True, metavar="KEY=VALUE", help="model option for a model name, e.g. width=32")
@click.option("--out", type=click.Path(file_okay=False), default=None, help="run directory to create [default: runs/prune-MODEL-TIME]")
@overwrite_option()
@seed_option("random seed (init, order; the data split, except that a run pruned on its own data keeps its split)")
@threads_option()
@json_option()
def command(model_or_run, data, flops_ratio, flops_target, round_to, min_channels, epochs, search_epochs, finetune_epochs,
            cost_weight, batch_size, no_latency, model_args, out, overwrite, seed, threads, as_json):
    """Prune MODEL_OR_RUN to a MAC budget (--flops-ratio or --flops-target) and fine-tune it.

    MODEL_OR_RUN is a run directory from 'compactrs train' / 'search', a registered model name (trained
    from scratch first for --epochs), or your own network as package.module:function, a factory called
    as function(in_bands, num_classes) that returns a torch.nn.Module (importable from PYTHONPATH).

    A trainable score per conv output channel (coupled channels of residual adds share one) is searched
    NAS-style with a cost-awareness loss pulling the expected MAC ratio to the target; one global score
    threshold, found by bisection, then keeps channels so the measured MACs land within ±2% of the
    target. The run directory holds prune_plan.json (kept channels per layer; arch.json replays it on a
    fresh model), model.pt and report.json (accuracy, MACs, params and onnxruntime latency before / after).
    """
    from compactrs._progress import progress_bar
    from compactrs.commands.train import parse_model_args
    from compactrs.pruning import PruneConfig, prune

    config = PruneConfig(flops_ratio=flops_ratio, flops_target=flops_target, round_to=round_to, min_channels=min_channels,
                         search_epochs=search_epochs, finetune_epochs=finetune_epochs, pretrain_epochs=epochs,
                         cost_weight=cost_weight, batch_size=batch_size, seed=seed, threads=threads, latency=not no_latency)
    with progress_bar(show_progress(as_json)) as progress:
        report = prune(model_or_run, data, config, out, parse_model_args(model_args), progress=progress, overwrite=overwrite)
    emit(report, as_json, _print)


def _print(report: dict) -> None:
    from compactrs.commands.train import print_report
    from compactrs.units import human_count

    summary = report["prune"]
    before, after = summary["before"], summary["after"]
    click.echo(f"pruned       {human_count(before['macs'])} → {human_count(after['macs'])} MACs "
               f"(ratio {summary['achieved_ratio']:.4f}, asked {summary['requested_ratio']:.4f}); "
               f"{human_count(before['params'])} → {human_count(after['params'])} params")
    click.echo(f"accuracy     OA before {before['oa']:.4f}, after surgery {summary['after_surgery']['oa']:.4f}, "
               f"after fine-tune {report['oa']:.4f}")
    for key, speedup in summary.get("latency_speedup", {}).items():
        if speedup is None:
            error = before["latency_ms"][key].get("error") or after["latency_ms"][key].get("error")
            click.echo(f"speed-up     {key}: not measured ({error})")
            continue
        warning = " — measured while other processes used the CPUs; re-measure on a quiet machine" if key in summary.get("latency_contended", []) else ""
        click.echo(f"speed-up     {key}: {before['latency_ms'][key]['median_ms']:.3f} → {after['latency_ms'][key]['median_ms']:.3f} ms "
                   f"({speedup:.2f}x; {summary['speedup_per_mac_reduction'][key]:.2f} of the MAC reduction){warning}")
    print_report(report)
