"""Genotypes and the discrete cell they describe.

A genotype is plain data (it is what genotype.json stores)::

    {"normal": [["sep_conv_3x3", 0], ["skip_connect", 1], ...],   # two (op, input) pairs per node
     "reduce": [["max_pool_3x3", 0], ...],
     "depths": [2, 1, 3],                                          # normal cells per block
     "concat": [2, 3, 4, 5],                                       # states concatenated as the cell output
     "stem": {"kind": "conv", "stride": 2}}                        # optional (default stride 1), see nn/stems.py

Input index 0 is the output of the cell before the previous one, 1 the previous cell's output, and
``2 + i`` the i-th node of this cell.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from compactrs.errors import CompactrsError, ModelError
from compactrs.nn.geometry import validate_stem
from compactrs.nn.ops import OPS, FactorizedReduce, ReLUConvBN, make_op

CELL_TYPES = ("normal", "reduce")


def validate_genotype(genotype: dict) -> dict:
    """Check a genotype's structure and return it normalised (lists, ints, the stem filled in).

    Raises:
        ModelError: the genotype is malformed (the message names the part and what is valid).
    """
    if not isinstance(genotype, dict):
        raise ModelError(f"a genotype is a JSON object, got {type(genotype).__name__}")
    missing = [k for k in (*CELL_TYPES, "depths") if k not in genotype]
    if missing:
        raise ModelError(f"genotype lacks {missing}; it needs 'normal', 'reduce' and 'depths'")
    out: dict = {}
    for cell_type in CELL_TYPES:
        pairs = genotype[cell_type]
        if not pairs or len(pairs) % 2:
            raise ModelError(f"genotype '{cell_type}' needs two (op, input) pairs per node, got {len(pairs)} pairs")
        clean = []
        for position, pair in enumerate(pairs):
            try:
                op, source = pair[0], int(pair[1])
            except (TypeError, ValueError, IndexError, KeyError) as exc:
                raise ModelError(f"genotype '{cell_type}' pair {position} is {pair!r}; each pair is [op name, input index]") from exc
            node = position // 2
            if op not in OPS:
                raise ModelError(f"genotype '{cell_type}' uses unknown op '{op}'; valid ops: {', '.join(OPS)}")
            if not 0 <= source < node + 2:
                raise ModelError(
                    f"genotype '{cell_type}' node {node} reads input {source}; valid inputs are 0..{node + 1}"
                )
            clean.append([op, source])
        out[cell_type] = clean
    try:
        depths = [int(d) for d in genotype["depths"]]
    except (TypeError, ValueError) as exc:
        raise ModelError(f"genotype depths must be a list of cell counts per block, got {genotype['depths']!r}") from exc
    if not depths or min(depths) < 1:
        raise ModelError(f"genotype depths must be positive cell counts per block, got {genotype['depths']}")
    out["depths"] = depths
    nodes = len(out["normal"]) // 2
    out["concat"] = [int(c) for c in genotype.get("concat", range(2, nodes + 2))]
    try:
        out["stem"] = validate_stem(genotype.get("stem"))
    except CompactrsError as exc:
        raise ModelError(f"genotype 'stem': {exc}") from exc
    return out


class Cell(nn.Module):
    """A discrete cell: preprocess both inputs to ``c`` channels, build the nodes, concatenate."""

    def __init__(
        self,
        pairs: Sequence[Sequence],
        concat: Sequence[int],
        c_prev_prev: int,
        c_prev: int,
        c: int,
        reduction: bool,
        reduction_prev: bool,
    ):
        super().__init__()
        self.reduction = reduction
        self.sources = [int(source) for _, source in pairs]
        # An input no edge reads gets no preprocessing at all: building it anyway would cost latency in eager
        # mode and parameters in the count, while ONNX export and fvcore silently drop it as dead code.
        self.preprocess0 = None
        if 0 in self.sources:
            self.preprocess0 = FactorizedReduce(c_prev_prev, c) if reduction_prev else ReLUConvBN(c_prev_prev, c, 1, 1, 0)
        self.preprocess1 = ReLUConvBN(c_prev, c, 1, 1, 0) if 1 in self.sources else None
        self.concat = list(concat)
        self.edges = nn.ModuleList(
            make_op(op, c, 2 if reduction and source < 2 else 1) for op, source in pairs
        )
        self.out_channels = c * len(self.concat)

    def forward(self, s0: torch.Tensor, s1: torch.Tensor) -> torch.Tensor:
        states = [
            None if self.preprocess0 is None else self.preprocess0(s0),
            None if self.preprocess1 is None else self.preprocess1(s1),
        ]
        for node in range(len(self.edges) // 2):
            a, b = 2 * node, 2 * node + 1
            states.append(self.edges[a](states[self.sources[a]]) + self.edges[b](states[self.sources[b]]))
        return torch.cat([states[i] for i in self.concat], dim=1)


def random_genotype(rng, ops=None, nodes: int = 4, blocks: int = 3, max_depth: int = 5) -> dict:
    """Sample a genotype uniformly: per node two (op, input) pairs, per block a depth in 1..max_depth.

    Args:
        rng: a ``numpy.random.Generator`` (seeded by the caller, so samples are reproducible).
        ops: candidate op names (default: every op of the search space).
    """
    ops = list(ops or OPS)
    genotype: dict = {}
    for cell_type in CELL_TYPES:
        pairs = []
        for node in range(nodes):
            for _ in range(2):
                pairs.append([ops[int(rng.integers(len(ops)))], int(rng.integers(node + 2))])
        genotype[cell_type] = pairs
    genotype["depths"] = [int(rng.integers(1, max_depth + 1)) for _ in range(blocks)]
    genotype["concat"] = list(range(2, nodes + 2))
    return genotype
