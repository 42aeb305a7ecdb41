"""The searchable space: candidate op sets and where every cell of the supernet sits (channels, sizes).

The layout mirrors ``compactrs.models._cellnet.CellNet`` cell by cell, so that a genotype derived from the
supernet rebuilds (through arch.json) into exactly the network whose cost the search optimised:
stem → block 0 (δ₁ normal cells) → reduction → block 1 (δ₂) → reduction → block 2 (δ₃) → pool → linear.
Every block of the supernet holds ``max_depth`` normal cells; a sampled depth δ runs the first δ of them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from compactrs.errors import ConfigError
from compactrs.nn.ops import GDAS_OPS, OPS, RS_OPS

#: named op sets for ``--ops``: the LCZ paper's eight GDAS ops, or those plus the LMSS-NAS multiscale
#: attention ops (the remote-sensing space, which is every op compactrs has today).
OP_SETS = {"gdas": GDAS_OPS, "rs": RS_OPS, "all": tuple(OPS)}


def resolve_ops(ops: str | Sequence[str]) -> tuple[str, ...]:
    """``"gdas"`` / ``"rs"`` / ``"all"`` / ``"zero,skip_connect,ms_att_3"`` (or a list) → op names in OPS order.

    Raises:
        ConfigError: an unknown set or op name, or fewer than two ops.
    """
    if isinstance(ops, str):
        if ops in OP_SETS:
            return tuple(OP_SETS[ops])
        names = [part.strip() for part in ops.split(",") if part.strip()]
    else:
        names = [str(name) for name in ops]
    unknown = [name for name in names if name not in OPS]
    if unknown:
        raise ConfigError(f"unknown op(s) {unknown} in --ops '{ops}'; valid: {', '.join(OP_SETS)} "
                          f"or a comma list of {', '.join(OPS)}")
    chosen = tuple(name for name in OPS if name in names)  # canonical order, duplicates dropped
    if len(chosen) < 2:
        raise ConfigError(f"--ops '{ops}' gives {len(chosen)} op(s); a search needs at least two candidates")
    return chosen


def reduced(size: int) -> int:
    """Spatial size after a stride-2 op of the space (all pad so that the result is ceil(size / 2))."""
    return (size + 1) // 2


@dataclass(frozen=True)
class CellSite:
    """Where one supernet cell sits.

    ``c_prev_prev`` lists every channel count its s0 input can have (it depends on the sampled depth of the
    previous block only for the reduction cell after block 0, whose s0 is the stem when δ₁ = 1).
    ``size`` is the spatial size of s1 (and of s0 unless ``reduction_prev``); a reduction cell's nodes are
    at ``reduced(size)``.
    """

    c_prev_prev: tuple[int, ...]
    c_prev: int
    channels: int
    size: int
    reduction: bool
    reduction_prev: bool

    @property
    def node_size(self) -> int:
        return reduced(self.size) if self.reduction else self.size


@dataclass(frozen=True)
class SupernetLayout:
    """Sites of all cells: ``reductions[k]`` precedes block k (None for block 0); ``normals[k][j]`` is cell j.

    ``reduction_c_prev_prev[k][d - 1]`` is the s0 channel count of the reduction before block k when block
    k − 1 has depth d (what the expected-cost model needs to weight the reduction's preprocessing by depth).
    """

    stem_channels: int
    final_channels: int
    reductions: tuple[CellSite | None, ...]
    normals: tuple[tuple[CellSite, ...], ...]
    reduction_c_prev_prev: tuple[tuple[int, ...] | None, ...]

    @property
    def blocks(self) -> int:
        return len(self.normals)

    @property
    def max_depth(self) -> int:
        return len(self.normals[0])


def supernet_layout(input_size: int, init_channels: int = 16, stem_multiplier: int = 1, blocks: int = 3,
                    max_depth: int = 5, nodes: int = 4) -> SupernetLayout:
    """The sites of every cell, following ``CellNet.__init__`` for every depth in ``1..max_depth``."""
    c = init_channels
    c_stem = c * stem_multiplier
    cell_out = lambda channels: channels * nodes  # noqa: E731 — concat of all intermediate nodes
    size = input_size
    # channel counts of (s0, s1) entering the block, and whether s1 came from a reduction cell
    c_pp, c_p, red_prev = c_stem, c_stem, False
    reductions, normals, red_cpp = [], [], []
    for block in range(blocks):
        if block == 0:
            reductions.append(None)
            red_cpp.append(None)
        else:
            # s0 of this reduction = the state before the previous block's last cell, for each depth d
            options = tuple(prev_block_states[d - 1] for d in range(1, max_depth + 1))
            c *= 2
            reductions.append(CellSite(tuple(sorted(set(options))), c_p, c, size, True, False))
            red_cpp.append(options)
            c_pp, c_p, red_prev = c_p, cell_out(c), True
            size = reduced(size)
        cells, states = [], [c_p]  # states[j] = channels of the output before cell j (state 0 = block input s1)
        for _ in range(max_depth):
            cells.append(CellSite((c_pp,), c_p, c, size, False, red_prev))
            c_pp, c_p, red_prev = c_p, cell_out(c), False
            states.append(c_p)
        normals.append(tuple(cells))
        prev_block_states = states  # the state before cell d-1 of this block is states[d - 1]
    return SupernetLayout(c_stem, cell_out(c), tuple(reductions), tuple(normals), tuple(red_cpp))
