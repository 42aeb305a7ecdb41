"""The contexts a CellNet puts its operations in: pure arithmetic, shared by profiling and prediction.

A context is what a latency entry is keyed by (op, c_in, c_out, h, w, stride, ...). Both the profiler (which
must measure every context a search can reach) and the predictor (which must look them up) walk the network
with these functions, so the two can never disagree about which entry a cell uses.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Iterator, Sequence


def reduced(size: int) -> int:
    """Spatial size after a stride-2 op of the search space (every one pads to give ceil(size / 2))."""
    return (size + 1) // 2


@dataclass(frozen=True)
class CellContext:
    """Where one cell sits: channels of its inputs and nodes, its input sizes, whether it reduces."""

    c_prev_prev: int
    c_prev: int
    channels: int
    size: int            # spatial size of the cell's inputs s1 (and s0 unless reduction_prev)
    size_prev_prev: int  # spatial size of s0 (larger than ``size`` after a reduction cell)
    reduction: bool
    reduction_prev: bool

    @property
    def node_size(self) -> int:
        return reduced(self.size) if self.reduction else self.size


@dataclass(frozen=True)
class NetworkPlan:
    """The cells of a CellNet in order, plus what the stem and the head see."""

    cells: tuple[CellContext, ...]
    stem_channels: int
    final_channels: int
    final_size: int


def network_plan(depths: Sequence[int], input_size: int, init_channels: int = 16, stem_multiplier: int = 1,
                 nodes: int = 4) -> NetworkPlan:
    """Mirror ``compactrs.models._cellnet.CellNet.__init__``: the context of every cell for these depths."""
    c = init_channels
    c_stem = c * stem_multiplier
    c_pp, c_p, red_prev = c_stem, c_stem, False
    size_pp = size = input_size
    cells = []
    for block, depth in enumerate(depths):
        kinds = ([True] if block > 0 else []) + [False] * int(depth)
        for reduction in kinds:
            if reduction:
                c *= 2
            cells.append(CellContext(c_pp, c_p, c, size, size_pp, reduction, red_prev))
            out_size = reduced(size) if reduction else size
            c_pp, c_p, red_prev = c_p, c * nodes, reduction
            size_pp, size = size, out_size
    return NetworkPlan(tuple(cells), c_stem, c_p, size)


def edge_contexts(pairs: Sequence[Sequence], cell: CellContext) -> Iterator[tuple[str, int, int, int]]:
    """``(op, channels, input size, stride)`` for every edge of ``cell`` built from genotype ``pairs``."""
    for op, source in pairs:
        from_input = int(source) < 2
        if cell.reduction and from_input:
            yield str(op), cell.channels, cell.size, 2
        else:
            yield str(op), cell.channels, cell.node_size, 1


def space_cells(input_sizes: Sequence[int], init_channels: Sequence[int], blocks: int, max_depth: int,
                stem_multiplier: int = 1, nodes: int = 4) -> set[CellContext]:
    """Every distinct cell context over all depth vectors in ``1..max_depth`` for every size and width."""
    out: set[CellContext] = set()
    for size, width in itertools.product(input_sizes, init_channels):
        # A cell's context depends only on its predecessor, so depths up to 2 already reach every context
        # (the third normal cell of a block repeats the second); this keeps the walk cheap for any max_depth.
        for depths in itertools.product(range(1, min(max_depth, 2) + 1), repeat=blocks):
            out.update(network_plan(depths, size, width, stem_multiplier, nodes).cells)
    return out
