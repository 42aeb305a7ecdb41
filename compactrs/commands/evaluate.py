"""``compactrs eval RUN --data SPEC``: re-score a run's model on a dataset's test split."""
from __future__ import annotations

import click

from compactrs.commands._common import emit, json_option


@click.command("eval")
@click.argument("run", metavar="RUN_OR_BUNDLE", type=click.Path())
@click.option("--data", default=None, metavar="SPEC", help="dataset spec [default: the one the run was trained on]")
@click.option("--model-file", default=None, help="for a bundle: which model to score, e.g. model.int8.onnx [default: model.onnx]")
@click.option("--threads", type=click.IntRange(min=1), default=None, help="onnxruntime threads for a bundle")
@json_option()
def command(run: str, data: str | None, model_file: str | None, threads: int | None, as_json: bool) -> None:
    """Evaluate RUN_OR_BUNDLE on the test split of --data.

    A run directory (or its model.pt) is scored with PyTorch, and the result is checked against the
    run's report.json; a bundle written by 'compactrs export' is scored with onnxruntime on its ONNX model.
    Prints OA, AA, kappa and per-class accuracy.
    """
    from compactrs.exporter.bundle import is_bundle

    if is_bundle(run):
        from compactrs.exporter.evaluate import evaluate_bundle

        result = evaluate_bundle(run, data, model_file, threads)
    else:
        from compactrs.training import evaluate_run

        result = evaluate_run(run, data)
    emit(result, as_json, _print)


def _print(result: dict) -> None:
    click.echo(f"run          {result['run']}")
    click.echo(f"dataset      {result['dataset']} ({result['n']} test samples)")
    click.echo(f"test         OA {result['oa']:.4f}   AA {result['aa']:.4f}   kappa {result['kappa']:.4f}")
    names = result.get("class_names") or [f"class {i}" for i in range(len(result["per_class_acc"]))]
    width = max(len(str(name)) for name in names)
    for i, (name, acc) in enumerate(zip(names, result["per_class_acc"])):
        click.echo(f"  {i:>3}  {name:<{width}}  {'-' if acc is None else f'{acc:.4f}'}")
    reported = result.get("reported")
    if reported and reported.get("oa") is not None:
        same = abs(reported["oa"] - result["oa"]) < 1e-12
        click.echo(f"report.json  OA {reported['oa']:.4f} ({'reproduced' if same else 'DIFFERS'})")
