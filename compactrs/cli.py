"""The ``compactrs`` command line: a thin click shell over the public API (see compactrs/commands/)."""
from __future__ import annotations

import importlib
import logging
import sys

import click

from compactrs.errors import CompactrsError

#: command modules, each exposing ``command`` (a click command or group); order is the --help order.
COMMAND_MODULES = ("data", "models", "train", "evaluate", "profile", "search", "prune", "export", "bench")


class _Group(click.Group):
    def list_commands(self, ctx):
        return list(self.commands)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="compactrs")
def cli() -> None:
    """compactrs: compact, fast remote-sensing classifiers for on-board inference.

    FLOPs are counted as multiply-accumulates (MACs) throughout, so 20M means 20 million MACs per
    sample. With no --data, commands use the embedded offline dataset 'synthetic' (a demo, never
    evidence of accuracy); real data is named by a spec such as hsi:PATH, eurosat:PATH, folder:PATH.
    """


for _name in COMMAND_MODULES:
    cli.add_command(importlib.import_module(f"compactrs.commands.{_name}").command)


def main(argv: list[str] | None = None) -> int:
    """Console entry point: run the CLI; a CompactrsError becomes one line on stderr and a non-zero exit."""
    # Image libraries log decode problems themselves; the readers turn those into one DataError line.
    for noisy in ("PIL", "tifffile"):
        logging.getLogger(noisy).setLevel(logging.CRITICAL)
    try:
        cli.main(args=argv, prog_name="compactrs", standalone_mode=False)
    except CompactrsError as exc:
        click.echo(f"error: {exc}", err=True)
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 130
    except click.ClickException as exc:
        # One line like every other error; a usage error also says where the valid values are listed.
        ctx = getattr(exc, "ctx", None)
        hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        click.echo(f"error: {exc.format_message()}{hint}", err=True)
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
