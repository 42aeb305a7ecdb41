"""Parsing of human quantities on the command line: ``20M`` MACs, ``2ms`` latency, ``1,8,32`` batches."""
from __future__ import annotations

import re

from compactrs.errors import ConfigError

_SUFFIX = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}


def parse_count(text: str | int | float, what: str = "FLOP target") -> int:
    """Parse ``"20M"``, ``"1.8G"``, ``"500k"`` or ``"20000000"`` into an integer count (MACs)."""
    if isinstance(text, (int, float)):
        value = float(text)
    else:
        match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([kKmMgGtT]?)\s*", str(text))
        if not match:
            raise ConfigError(
                f"cannot read {what} '{text}'; write a number with an optional K/M/G suffix, e.g. 20M or 1.8G"
            )
        value = float(match.group(1)) * _SUFFIX[match.group(2).upper()]
    if value <= 0:
        raise ConfigError(f"{what} must be positive, got '{text}'")
    return int(round(value))


def parse_ms(text: str | float, what: str = "latency target") -> float:
    """Parse ``"2ms"``, ``"2.5"`` (milliseconds), ``"500us"`` or ``"0.01s"`` into milliseconds."""
    if isinstance(text, (int, float)):
        value = float(text)
    else:
        match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*(ms|us|µs|s)?\s*", str(text))
        if not match:
            raise ConfigError(f"cannot read {what} '{text}'; write e.g. 2ms, 500us or 0.01s")
        scale = {"ms": 1.0, None: 1.0, "us": 1e-3, "µs": 1e-3, "s": 1e3}[match.group(2)]
        value = float(match.group(1)) * scale
    if value <= 0:
        raise ConfigError(f"{what} must be positive, got '{text}'")
    return value


def parse_int_list(text: str, what: str = "batch sizes") -> list[int]:
    """Parse ``"1,8,32"`` into ``[1, 8, 32]`` (positive integers)."""
    try:
        values = [int(part) for part in str(text).split(",") if part.strip()]
    except ValueError:
        values = []
    if not values or min(values) < 1:
        raise ConfigError(f"cannot read {what} '{text}'; write positive integers separated by commas, e.g. 1,8,32")
    return values


def human_count(value: float) -> str:
    """``21_500_000`` → ``"21.50M"``."""
    for suffix, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.2f}{suffix}"
    return f"{value:.0f}"
