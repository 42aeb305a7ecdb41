"""The one description of a CellNet's geometry: stem → blocks → reductions → widths → resolutions.

``compactrs.models.CellNet`` builds its cells from it, the search's supernet lays out its cells with it, and
the cost models (``compactrs.nas.costs``, ``compactrs.cost``) price the cells it lists, so the network that
is built, the one that is searched and the one that is priced can never disagree. Pure arithmetic (no torch).

Layout: stem (``in_bands`` → ``init_channels · stem_multiplier`` channels, side ``ceil(size / stride)``) →
block 0 of δ₁ normal cells → reduction cell → block 1 of δ₂ normal cells → reduction → ... → pool → linear.
A reduction doubles the channels and halves the side (``reduced``); every cell outputs ``channels · nodes``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from compactrs.errors import ConfigError

#: stem kinds and strides of the space. Every stem kind maps ``bands × H × W`` to ``C × ceil(H/s) × ceil(W/s)``
#: (the contract ``stem_output_size`` relies on); ``compactrs.nn.stems`` builds them.
STEM_KINDS = ("conv", "spectral", "pointwise")
STEM_STRIDES = (1, 2, 4)
#: strides each kind can have: the spectral stem (a scan over every pixel's spectrum) and the pointwise stem (a
#: 1×1 band mix; strided, it would only drop pixels) keep the resolution
KIND_STRIDES = {"conv": STEM_STRIDES, "spectral": (1,), "pointwise": (1,)}
DEFAULT_STEM = {"kind": "conv", "stride": 1}


def reduced(size: int) -> int:
    """Spatial side after a stride-2 op of the space (every one pads to give ceil(size / 2))."""
    return (size + 1) // 2


def validate_stem(stem: dict | None) -> dict:
    """``{"kind": "conv", "stride": 1|2|4}``, ``{"kind": "spectral", "stride": 1}`` or ``{"kind": "pointwise",
    "stride": 1}`` normalised.

    None → the stride-1 conv stem of older genotypes.

    Raises:
        ConfigError: an unknown kind or stride.
    """
    if stem is None:
        return dict(DEFAULT_STEM)
    if not isinstance(stem, dict):
        raise ConfigError(f"a stem is an object like {DEFAULT_STEM}, got {stem!r}")
    kind, stride = stem.get("kind", "conv"), stem.get("stride", 1)
    if kind not in STEM_KINDS:
        raise ConfigError(f"unknown stem kind '{kind}'; valid: {', '.join(STEM_KINDS)}")
    if not isinstance(stride, int) or isinstance(stride, bool) or stride not in STEM_STRIDES:
        raise ConfigError(f"stem stride {stride!r} is not one of {', '.join(map(str, STEM_STRIDES))}")
    if stride not in KIND_STRIDES[kind]:
        raise ConfigError(f"a '{kind}' stem has stride {' or '.join(map(str, KIND_STRIDES[kind]))}, got {stride}; "
                          f"use the conv stem for strides 2 and 4")
    return {**stem, "kind": kind, "stride": stride}


def stem_output_size(stem: dict | None, size: int) -> int:
    """Side of the stem's output for an input side ``size``: ceil(size / stride)."""
    stride = validate_stem(stem)["stride"]
    return -(-int(size) // stride)


@dataclass(frozen=True)
class CellSite:
    """Where one cell sits: its block, the channels of its inputs and nodes, its input sides, whether it reduces.

    ``size`` is the side of s1 (and of s0 unless ``reduction_prev``: then s0 is ``size_prev_prev``, twice as
    large); a reduction cell's nodes are at ``reduced(size)``.
    """

    block: int
    c_prev_prev: int
    c_prev: int
    channels: int
    size: int
    size_prev_prev: int
    reduction: bool
    reduction_prev: bool

    @property
    def node_size(self) -> int:
        return reduced(self.size) if self.reduction else self.size


@dataclass(frozen=True)
class CellNetGeometry:
    """Every cell of one CellNet in order, plus what the stem and the head see."""

    input_size: int
    stem: dict
    stem_channels: int
    stem_size: int
    cells: tuple[CellSite, ...]
    final_channels: int
    final_size: int

    def reduction_before(self, block: int) -> CellSite:
        """The reduction cell that opens ``block`` (block ≥ 1)."""
        return next(c for c in self.cells if c.reduction and c.block == block)

    def normals(self, block: int) -> tuple[CellSite, ...]:
        return tuple(c for c in self.cells if not c.reduction and c.block == block)


def cellnet_geometry(depths: Sequence[int], input_size: int, init_channels: int = 16, stem_multiplier: int = 1,
                     nodes: int = 4, stem: dict | None = None) -> CellNetGeometry:
    """The geometry of the CellNet with block depths ``depths`` (normal cells per block) on ``input_size``².

    Args:
        depths: normal cells per block (≥ 1 each); ``len(depths)`` blocks, a reduction before every block but the first.
        input_size: side of the (square) input.
        init_channels: node channels of block 0 (doubled at each reduction).
        stem_multiplier: stem output channels = ``init_channels · stem_multiplier``.
        nodes: intermediate nodes per cell (a cell outputs ``channels · nodes``).
        stem: ``{"kind", "stride"}`` (default: stride-1 conv).
    """
    stem = validate_stem(stem)
    c = int(init_channels)
    c_stem = c * int(stem_multiplier)
    size = stem_output_size(stem, input_size)
    stem_size = size
    c_pp, c_p, red_prev, size_pp = c_stem, c_stem, False, size
    cells = []
    for block, depth in enumerate(depths):
        for reduction in ([True] if block > 0 else []) + [False] * int(depth):
            if reduction:
                c *= 2
            cells.append(CellSite(block, c_pp, c_p, c, size, size_pp, reduction, red_prev))
            c_pp, c_p, red_prev = c_p, c * nodes, reduction
            size_pp, size = size, reduced(size) if reduction else size
    return CellNetGeometry(int(input_size), stem, c_stem, stem_size, tuple(cells), c_p, size)
