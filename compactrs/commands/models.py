"""``compactrs models``: the registered architectures with their MACs and parameters for an input."""
from __future__ import annotations

import click

from compactrs.commands._common import emit, json_option


@click.command("models")
@click.option("--pattern", default="*", show_default=True, help="shell-style filter on model names, e.g. 'resnet*'")
@click.option("--bands", type=click.IntRange(min=1), default=10, show_default=True, help="input bands")
@click.option("--size", type=click.IntRange(min=1), default=32, show_default=True, help="input patch size in pixels (square)")
@click.option("--classes", type=click.IntRange(min=2), default=10, show_default=True, help="number of classes")
@json_option()
def command(pattern: str, bands: int, size: int, classes: int, as_json: bool) -> None:
    """List registered models with MACs (multiply-accumulates) and parameters for one BANDS×SIZE×SIZE sample.

    'cellnet' is built from a searched genotype (compactrs search) and is listed without costs.
    """
    from compactrs.cost import registry_cost
    from compactrs.models import list_models, model_family

    names = list_models(pattern)
    if not names:
        from compactrs.errors import ModelError

        raise ModelError(f"no registered model matches --pattern '{pattern}'; registered: {', '.join(list_models())}")
    rows = []
    for name in names:
        row = {"model": name, "family": model_family(name), "macs": None, "params": None}
        if name != "cellnet":
            row.update(registry_cost(name, bands, classes, (size, size)))
        rows.append(row)
    emit({"input": [bands, size, size], "classes": classes, "models": rows}, as_json, _print_rows)


def _print_rows(result: dict) -> None:
    from compactrs.units import human_count

    bands, h, w = result["input"]
    click.echo(f"input {bands}×{h}×{w}, {result['classes']} classes; MACs = multiply-accumulates per sample")
    click.echo(f"{'model':<12} {'family':<14} {'MACs':>10} {'params':>10}")
    for row in result["models"]:
        macs = "-" if row["macs"] is None else human_count(row["macs"])
        params = "-" if row["params"] is None else human_count(row["params"])
        click.echo(f"{row['model']:<12} {row['family']:<14} {macs:>10} {params:>10}")
