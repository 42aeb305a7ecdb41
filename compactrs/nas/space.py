"""The searchable space: candidate op sets and where every cell of the supernet sits (channels, sizes).

The layout is read off the same geometry ``compactrs.models.CellNet`` is built from
(``compactrs.nn.geometry``), so a genotype derived from the supernet rebuilds (through arch.json) into exactly
the network whose cost the search optimised. Every block of the supernet holds ``max_depth`` normal cells; a
sampled depth δ runs the first δ of them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from compactrs.errors import ConfigError
from compactrs.nn.geometry import CellNetGeometry, CellSite, cellnet_geometry
from compactrs.nn.ops import GDAS_OPS, MOBILE_OPS, OPS, RS_OPS

#: named op sets for ``--ops``: the LCZ paper's eight GDAS ops, or those plus the LMSS-NAS multiscale
#: attention ops (the remote-sensing space, which is every op compactrs has today).
OP_SETS = {"gdas": GDAS_OPS, "rs": RS_OPS, "mobile": MOBILE_OPS, "all": tuple(OPS)}


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


@dataclass(frozen=True)
class SupernetLayout:
    """Sites of all supernet cells, read off ``compactrs.nn.geometry.cellnet_geometry``.

    ``geometry`` is the deepest network (``max_depth`` normal cells in every block); a sampled depth δ runs
    the first δ cells of a block. ``reductions[k]`` opens block k (None for block 0); ``normals[k][j]`` is
    cell j of block k. ``reduction_c_prev_prev[k][d - 1]`` is the s0 channel count of the reduction before
    block k when block k − 1 has depth d (the stem's when block 0 has depth 1): the supernet builds one s0
    preprocessing per distinct count, and the expected-cost model weights them by the depth probabilities.
    """

    geometry: CellNetGeometry
    reductions: tuple[CellSite | None, ...]
    normals: tuple[tuple[CellSite, ...], ...]
    reduction_c_prev_prev: tuple[tuple[int, ...] | None, ...]

    @property
    def stem(self) -> dict:
        return self.geometry.stem

    @property
    def stem_channels(self) -> int:
        return self.geometry.stem_channels

    @property
    def final_channels(self) -> int:
        return self.geometry.final_channels

    @property
    def blocks(self) -> int:
        return len(self.normals)

    @property
    def max_depth(self) -> int:
        return len(self.normals[0])


def supernet_layout(input_size: int, init_channels: int = 16, stem_multiplier: int = 1, blocks: int = 3,
                    max_depth: int = 5, nodes: int = 4, stem: dict | None = None) -> SupernetLayout:
    """The sites of every supernet cell for every depth in ``1..max_depth`` (see ``SupernetLayout``)."""
    def geometry(depths):
        return cellnet_geometry(depths, input_size, init_channels, stem_multiplier, nodes, stem)

    deepest = geometry([max_depth] * blocks)
    reductions, red_cpp = [None], [None]
    for block in range(1, blocks):
        reductions.append(deepest.reduction_before(block))
        red_cpp.append(tuple(geometry([max_depth] * (block - 1) + [d] + [max_depth] * (blocks - block))
                             .reduction_before(block).c_prev_prev for d in range(1, max_depth + 1)))
    normals = tuple(deepest.normals(block) for block in range(blocks))
    return SupernetLayout(deepest, tuple(reductions), normals, tuple(red_cpp))
