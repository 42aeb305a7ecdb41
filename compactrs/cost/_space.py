"""Which contexts a CellNet puts its operations in, for latency profiling and prediction.

A context is what a latency entry is keyed by (op, c_in, c_out, h, w, stride, ...). Both the profiler (which
must measure every context a search can reach) and the predictor (which must look them up) walk the network
with ``compactrs.nn.geometry.cellnet_geometry`` — the same function ``CellNet``, the search's supernet and its
MAC model use — so none of them can disagree about which entry a cell uses.
"""
from __future__ import annotations

import itertools
from typing import Iterator, Sequence

from compactrs.nn.geometry import CellSite, cellnet_geometry, reduced  # noqa: F401  (reduced: re-exported)


def edge_contexts(pairs: Sequence[Sequence], cell: CellSite) -> Iterator[tuple[str, int, int, int]]:
    """``(op, channels, input size, stride)`` for every edge of ``cell`` built from genotype ``pairs``."""
    for op, source in pairs:
        from_input = int(source) < 2
        if cell.reduction and from_input:
            yield str(op), cell.channels, cell.size, 2
        else:
            yield str(op), cell.channels, cell.node_size, 1


def space_cells(input_sizes: Sequence[int], init_channels: Sequence[int], blocks: int, max_depth: int,
                stem_multiplier: int = 1, nodes: int = 4) -> set[CellSite]:
    """Every distinct cell site over all depth vectors in ``1..max_depth`` for every size and width (stride-1 stem)."""
    out: set[CellSite] = set()
    for size, width in itertools.product(input_sizes, init_channels):
        # A cell's context depends only on its predecessor, so depths up to 2 already reach every context
        # (the third normal cell of a block repeats the second); this keeps the walk cheap for any max_depth.
        for depths in itertools.product(range(1, min(max_depth, 2) + 1), repeat=blocks):
            out.update(_unplaced(cell) for cell in cellnet_geometry(depths, size, width, stem_multiplier, nodes).cells)
    return out


def _unplaced(cell: CellSite) -> CellSite:
    """The site without its block index (a latency entry does not depend on which block a cell is in)."""
    return CellSite(0, cell.c_prev_prev, cell.c_prev, cell.channels, cell.size, cell.size_prev_prev, cell.reduction,
                    cell.reduction_prev)
