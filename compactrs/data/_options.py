"""Typed spec options: each knows how to parse its text, what is valid and how to write itself back."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class Option:
    """One ``key=value`` option of a dataset spec.

    Attributes:
        help: one line for ``--help`` and error messages.
        default: the value used when the option is not given (``None``: not applied).
        parse: turns the text after ``=`` into a value; raises ``ValueError`` when the text is not valid.
        valid: what a valid value looks like, for error messages ("an odd integer >= 1").
        example: a valid ``key=value`` to suggest.
        fmt: writes a parsed value back as text for the canonical spec.
    """

    help: str
    default: Any
    parse: Callable[[str], Any]
    valid: str
    example: str
    fmt: Callable[[Any], str] = str


def int_option(help: str, default: int | None, minimum: int = 1, odd: bool = False, example: str = "") -> Option:
    """An integer option, at least ``minimum`` and optionally odd."""

    def parse(text: str) -> int:
        value = int(text)
        if value < minimum or (odd and value % 2 == 0):
            raise ValueError(text)
        return value

    valid = f"an {'odd ' if odd else ''}integer >= {minimum}"
    return Option(help, default, parse, valid, example)


def fraction_option(help: str, default: float, example: str) -> Option:
    """A float strictly between 0 and 1."""

    def parse(text: str) -> float:
        value = float(text)
        if not 0.0 < value < 1.0:
            raise ValueError(text)
        return value

    return Option(help, default, parse, "a number strictly between 0 and 1", example, fmt=repr)


def choice_option(help: str, choices: tuple[str, ...], default: str) -> Option:
    """One of a fixed set of words."""

    def parse(text: str) -> str:
        if text not in choices:
            raise ValueError(text)
        return text

    return Option(help, default, parse, "one of " + ", ".join(choices), f"{choices[0]}")


def text_option(help: str, example: str) -> Option:
    """A free non-empty word (an array key, a file name)."""

    def parse(text: str) -> str:
        if not text:
            raise ValueError(text)
        return text

    return Option(help, None, parse, "a non-empty name", example)


def names_option(help: str, names: tuple[str, ...], example: str) -> Option:
    """A ``+``-separated selection from ``names`` (case-insensitive), e.g. ``B04+B03+B02``."""
    by_upper = {name.upper(): name for name in names}

    def parse(text: str) -> tuple[str, ...]:
        picked = tuple(by_upper.get(part.strip().upper(), "") for part in text.split("+"))
        if not text or "" in picked or len(set(picked)) != len(picked):
            raise ValueError(text)
        return picked

    valid = "distinct names joined by '+' from " + ", ".join(names)
    return Option(help, None, parse, valid, example, fmt="+".join)


def size_option(help: str, example: str) -> Option:
    """An image size: ``N`` (square) or ``HxW``, each >= 1; parsed to ``(H, W)``."""

    def parse(text: str) -> tuple[int, int]:
        parts = text.lower().split("x")
        if len(parts) == 1:
            parts = parts * 2
        height, width = (int(part) for part in parts)  # ValueError on 3 parts or non-integers
        if height < 1 or width < 1:
            raise ValueError(text)
        return height, width

    def fmt(value: tuple[int, int]) -> str:
        return str(value[0]) if value[0] == value[1] else f"{value[0]}x{value[1]}"

    return Option(help, None, parse, "an integer N >= 1 or HxW", example, fmt=fmt)
