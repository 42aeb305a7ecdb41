"""``compactrs train MODEL --data SPEC``: train a registered model and write a run directory."""
from __future__ import annotations

import json

import click

from compactrs.commands._common import data_option, emit, json_option, overwrite_option, seed_option, show_progress, threads_option


def print_report(report: dict) -> None:
    """Human summary of a report.json (shared by train, search and prune)."""
    from compactrs.runtime.latency import describe_latency
    from compactrs.units import human_count

    click.echo(f"run          {report.get('run_dir', '')}")
    click.echo(f"dataset      {report['dataset']} ({report['n_train']} train / {report['n_test']} test)")
    click.echo(f"test         OA {report['oa']:.4f}   AA {report['aa']:.4f}   kappa {report['kappa']:.4f}")
    click.echo(f"cost         {human_count(report['macs'])} MACs   {human_count(report['params'])} params")
    measured = report.get("latency_ms", {}).get("measured", {})
    for key, value in measured.items():
        click.echo(f"latency      {describe_latency(key, value)}")
    if report.get("train_seconds") is not None:
        click.echo(f"time         {report['train_seconds']:.1f} s training")


@click.command("train")
@click.argument("model")
@data_option()
@click.option("--epochs", type=click.IntRange(min=1), default=30, show_default=True, help="training epochs")
@click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True)
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=0.05, show_default=True, help="initial SGD learning rate (cosine decay)")
@click.option("--weight-decay", type=click.FloatRange(min=0), default=5e-4, show_default=True)
@click.option("--loss", type=click.Choice(["ce", "focal"]), default="ce", show_default=True, help="cross-entropy, or focal loss with label smoothing for long-tailed classes")
@click.option("--label-smoothing", type=click.FloatRange(0, 1, max_open=True), default=0.0, show_default=True)
@click.option("--no-augment", is_flag=True, help="disable random flips / 90° rotations")
@click.option("--model-arg", "model_args", multiple=True, metavar="KEY=VALUE", help="model option, e.g. width=32 (repeatable; values parsed as JSON)")
@click.option("--out", type=click.Path(file_okay=False), default=None, help="run directory to create [default: runs/train-MODEL-TIME]")
@overwrite_option()
@seed_option()
@threads_option()
@json_option()
def command(model, data, epochs, batch_size, lr, weight_decay, loss, label_smoothing, no_augment, model_args, out, overwrite, seed, threads, as_json):
    """Train registered MODEL (see 'compactrs models') on --data and write a run directory.

    The run directory holds config.json, log.txt, metrics.jsonl (one line per epoch), arch.json,
    model.pt (weights + architecture data; load with torch.load(weights_only=True)), report.json
    (OA, AA, kappa, per-class accuracy, MACs, params, measured latency) and plots/.
    """
    from compactrs._progress import progress_bar
    from compactrs.training import TrainConfig, train

    config = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay, loss=loss,
                         label_smoothing=label_smoothing, augment=not no_augment, seed=seed, threads=threads)
    with progress_bar(show_progress(as_json)) as progress:
        report = train(model, data, config, out, parse_model_args(model_args), progress=progress, overwrite=overwrite)
    emit(report, as_json, print_report)


def parse_model_args(pairs) -> dict:
    """``("width=32", "small_input=true")`` → ``{"width": 32, "small_input": True}``."""
    from compactrs.errors import ConfigError

    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--model-arg '{pair}' is not KEY=VALUE; write e.g. --model-arg width=32")
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out
