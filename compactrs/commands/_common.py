"""Options, parameter types and output helpers shared by the CLI commands."""
from __future__ import annotations

import json
import sys

import click

from compactrs.errors import CompactrsError


class CountType(click.ParamType):
    """A count with an optional K/M/G suffix: ``20M`` → 20,000,000 (MACs)."""

    name = "COUNT"

    def convert(self, value, param, ctx):
        from compactrs.units import parse_count

        if isinstance(value, int):
            return value
        try:
            return parse_count(value, what=f"--{param.name.replace('_', '-')}" if param else "count")
        except CompactrsError as exc:
            self.fail(str(exc), param, ctx)


class MillisecondsType(click.ParamType):
    """A duration such as ``2ms``, ``500us`` or ``0.01s``, converted to milliseconds."""

    name = "DURATION"

    def convert(self, value, param, ctx):
        from compactrs.units import parse_ms

        if isinstance(value, float):
            return value
        try:
            return parse_ms(value)
        except CompactrsError as exc:
            self.fail(str(exc), param, ctx)


COUNT = CountType()
MILLISECONDS = MillisecondsType()

DATA_HELP = ("dataset spec: synthetic (default, embedded demo), hsi:PATH[,patch=9,pca=N,split=spatial|random], "
             "eurosat:PATH[,bands=NAMES] (default all 13), folder:PATH[,size=N] (default: the most common image size), "
             "so2sat:PATH[,max=N]; see 'compactrs data info --help'")


def data_option(default: str | None = "synthetic"):
    return click.option("--data", "data", default=default, show_default=default is not None, metavar="SPEC", help=DATA_HELP)


def seed_option(help: str = "random seed (data split, init, order)"):
    return click.option("--seed", type=int, default=0, show_default=True, help=help)


def json_option():
    return click.option("--json", "as_json", is_flag=True, help="print the result as JSON on stdout (no progress bar)")


def threads_option(default: int | None = None):
    """``--threads N``; the help states the real default (all cores only when ``default`` is None)."""
    if default is None:
        return click.option("--threads", type=click.IntRange(min=1), default=None,
                            help="CPU threads for PyTorch / the runtime [default: all cores]")
    return click.option("--threads", type=click.IntRange(min=1), default=default, show_default=True,
                        help="CPU threads for PyTorch / the runtime")


def overwrite_option():
    return click.option("--overwrite", is_flag=True, help="replace --out if it exists")


def emit(result, as_json: bool, human) -> None:
    """Print ``result`` as JSON, or call ``human(result)`` to print a summary."""
    if as_json:
        click.echo(json.dumps(result, indent=2, default=str))
    else:
        human(result)


def show_progress(as_json: bool, quiet: bool = False) -> bool:
    return not as_json and not quiet and sys.stderr.isatty()
