"""The dataset kinds: one reader module per kind, each with its options plus the common ``test`` / ``split``."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from . import _eurosat, _folder, _hsi, _so2sat, _synthetic
from ._options import Option, choice_option, fraction_option

_SPLIT_HELP = {
    "random": "random stratified per class",
    "spatial": "whole blocks to test, buffer dropped: no train patch overlaps a test patch",
}


@dataclass(frozen=True)
class Reader:
    """How to load one dataset kind.

    Attributes:
        kind: the spec prefix (``hsi``).
        description: one line for ``--help``.
        example: a valid spec to suggest in error messages.
        needs_path: whether the spec must carry ``:PATH``.
        options: every option it accepts, common ones included.
        load: ``load(path, options, seed, canonical_spec) -> Dataset`` with every option filled in.
    """

    kind: str
    description: str
    example: str
    needs_path: bool
    options: dict[str, Option]
    load: Callable


def _reader(module) -> Reader:
    options = dict(module.OPTIONS)
    options["test"] = fraction_option(
        f"fraction of each class held out for test (default {module.DEFAULT_TEST})", module.DEFAULT_TEST, "test=0.3"
    )
    split_help = "; ".join(f"{name}: {_SPLIT_HELP[name]}" for name in module.SPLITS)
    options["split"] = choice_option(f"{split_help} (default {module.SPLITS[0]})", module.SPLITS, module.SPLITS[0])
    return Reader(module.KIND, module.DESCRIPTION, module.EXAMPLE, module.NEEDS_PATH, options, module.load)


READERS: dict[str, Reader] = {r.kind: r for r in map(_reader, (_synthetic, _hsi, _so2sat, _eurosat, _folder))}

DATASET_KINDS: dict[str, str] = {kind: reader.description for kind, reader in READERS.items()}
