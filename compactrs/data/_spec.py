"""Dataset spec strings: ``KIND:PATH[,key=value,...]`` or ``synthetic[,key=value,...]``.

Options follow the path, comma-separated, so a spec is safe to paste into a shell (no ``?`` or ``&``).
The canonical form (absolute path, options sorted) is what a run records, so it reloads the same data from
any working directory.
"""
from __future__ import annotations

import os

from ..errors import DataError
from ._registry import READERS, Reader


def _kinds() -> str:
    return ", ".join(READERS)


def parse_spec(spec: str) -> tuple[str, str | None, dict]:
    """Split a spec into its kind, absolute path and typed options (only those given).

    Args:
        spec: e.g. ``"hsi:data/indian,patch=7,test=0.2"`` or ``"synthetic,n=50"``.

    Returns:
        ``(kind, path, options)``: ``path`` is absolute (``~`` expanded) or ``None`` for kinds without one;
        ``options`` maps each given key to its parsed value.

    Raises:
        DataError: empty spec, unknown kind, missing or unexpected path, unknown option, bad value.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise DataError(
            f"empty dataset spec {spec!r}; valid kinds: {_kinds()}; write e.g. synthetic or hsi:PATH/scene.mat"
        )
    head, *parts = spec.strip().split(",")
    kind, sep, path = head.partition(":")
    kind = kind.strip().lower()
    reader = READERS.get(kind)
    if reader is None:
        raise DataError(
            f"unknown dataset kind '{kind}' in spec '{spec}'; valid kinds: {_kinds()}; write e.g. hsi:PATH/scene.mat"
        )
    path = path.strip()
    if reader.needs_path and not path:
        raise DataError(f"dataset kind '{kind}' needs a path in spec '{spec}'; write e.g. {reader.example}")
    if not reader.needs_path and sep:
        raise DataError(
            f"dataset kind '{kind}' takes no path, but spec '{spec}' gives ':{path}'; write e.g. {reader.example}"
        )
    options = {}
    for part in parts:
        key, eq, text = (s.strip() for s in part.partition("="))
        if not eq or not key:
            raise DataError(
                f"option '{part}' in spec '{spec}' is not key=value; options follow the path as ,key=value "
                f"(paths with commas are not supported); write e.g. {reader.example}"
            )
        _parse_option(reader, spec, key, text, options)
    absolute = os.path.abspath(os.path.expanduser(path)) if path else None
    return kind, absolute, options


def _parse_option(reader: Reader, spec: str, key: str, text: str, options: dict) -> None:
    option = reader.options.get(key)
    if option is None:
        raise DataError(
            f"unknown option '{key}' in spec '{spec}'; valid options for {reader.kind}: "
            f"{', '.join(sorted(reader.options))}; write e.g. {reader.example}"
        )
    if key in options:
        raise DataError(f"option '{key}' is given twice in spec '{spec}'; keep one")
    try:
        options[key] = option.parse(text)
    except (ValueError, TypeError):
        raise DataError(
            f"bad value '{text}' for option '{key}' in spec '{spec}'; valid: {option.valid}; "
            f"write e.g. {option.example}"
        ) from None


def canonical_spec(kind: str, path: str | None, options: dict) -> str:
    """The spec a run records: kind, absolute path, the given options sorted by key."""
    reader = READERS[kind]
    text = kind if path is None else f"{kind}:{path}"
    return text + "".join(f",{key}={reader.options[key].fmt(options[key])}" for key in sorted(options))
