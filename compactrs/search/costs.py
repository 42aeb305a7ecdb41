"""Cost of the sampled architecture distribution: MACs (counted by fvcore) or latency (from a profile).

A cost model prices three kinds of pieces, exactly as the latency-profile protocol does:

- ``edge(op, channels, size, stride)``: one candidate op on one cell edge (``size`` = its input side);
- ``cell_base(c_prev_prev, c_prev, channels, size, reduction, reduction_prev)``: what a cell costs whatever
  its ops are (the two preprocessing convs; ``size`` = the side of its s1 input);
- ``fixed(in_bands, input_size, stem_channels, final_channels, num_classes)``: stem and classifier.

``CostTable`` lays these out over the supernet so that the expected cost under the architecture
distribution is one differentiable expression, and the cost of a discrete genotype is the same expression on
one-hot probabilities (for MACs it equals ``count_macs`` of the built CellNet exactly; tests check this).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol, Sequence

import torch
from torch import nn

from compactrs.cost import count_macs
from compactrs.nn.ops import FactorizedReduce, ReLUConvBN, make_op
from compactrs.search.space import SupernetLayout, reduced


class CostModel(Protocol):
    unit: str

    def edge(self, op: str, channels: int, size: int, stride: int) -> float: ...

    def cell_base(self, c_prev_prev: int, c_prev: int, channels: int, size: int, reduction: bool, reduction_prev: bool) -> float: ...

    def fixed(self, in_bands: int, input_size: int, stem_channels: int, final_channels: int, num_classes: int) -> float: ...


class MacCost:
    """MACs of each piece, counted once per context with ``compactrs.cost.count_macs`` on the real module."""

    unit = "MACs"

    @lru_cache(maxsize=None)
    def edge(self, op: str, channels: int, size: int, stride: int) -> float:
        return float(count_macs(make_op(op, channels, stride), (1, channels, size, size)))

    @lru_cache(maxsize=None)
    def cell_base(self, c_prev_prev: int, c_prev: int, channels: int, size: int, reduction: bool, reduction_prev: bool) -> float:
        # Same preprocessing modules as compactrs.nn.cells.Cell. After a reduction s0 is twice as large;
        # FactorizedReduce's MACs depend only on its output size, so an input of 2·size is exact.
        if reduction_prev:
            pre0, size0 = FactorizedReduce(c_prev_prev, channels), 2 * size
        else:
            pre0, size0 = ReLUConvBN(c_prev_prev, channels, 1, 1, 0), size
        pre1 = ReLUConvBN(c_prev, channels, 1, 1, 0)
        return float(count_macs(pre0, (1, c_prev_prev, size0, size0)) + count_macs(pre1, (1, c_prev, size, size)))

    @lru_cache(maxsize=None)
    def fixed(self, in_bands: int, input_size: int, stem_channels: int, final_channels: int, num_classes: int) -> float:
        stem = nn.Conv2d(in_bands, stem_channels, 3, padding=1, bias=False)  # CellNet's stem conv
        head = nn.Linear(final_channels, num_classes)
        return float(count_macs(stem, (1, in_bands, input_size, input_size)) + count_macs(head, (1, final_channels)))


class LatencyCost:
    """Milliseconds of each piece from a latency profile (``compactrs.cost.latency.LatencyProfile`` protocol)."""

    unit = "ms"

    def __init__(self, profile):
        self.profile = profile

    def edge(self, op, channels, size, stride):
        return float(self.profile.edge_ms(op, channels, size, stride))

    def cell_base(self, c_prev_prev, c_prev, channels, size, reduction, reduction_prev):
        return float(self.profile.cell_base_ms(c_prev_prev, c_prev, channels, size, reduction, reduction_prev))

    def fixed(self, in_bands, input_size, stem_channels, final_channels, num_classes):
        return float(self.profile.fixed_ms(in_bands, input_size, stem_channels, final_channels, num_classes))


@dataclass
class ArchProbs:
    """Plain (non-Gumbel) probabilities of the architecture distribution.

    ``ops[t]``: (slots, n_ops) for cell type t ∈ {normal, reduce}; ``inputs[t]``: (slots, max_inputs), zero on
    inputs a slot cannot read; ``depths``: (blocks, max_depth), column d − 1 = P(depth = d).
    """

    ops: dict
    inputs: dict
    depths: torch.Tensor


class CostTable:
    """The per-piece costs of one supernet layout, as tensors, for expected and discrete costs."""

    def __init__(self, model: CostModel, layout: SupernetLayout, ops: Sequence[str], in_bands: int, input_size: int,
                 num_classes: int, nodes: int = 4):
        self.unit = model.unit
        self.ops = tuple(ops)
        self.nodes = nodes
        self.fixed = model.fixed(in_bands, input_size, layout.stem_channels, layout.final_channels, num_classes)
        depth = layout.max_depth
        # normal cells of block k: every edge is stride 1 at the block's size, so input choice is cost-free
        self.normal_base = torch.tensor([[model.cell_base(s.c_prev_prev[0], s.c_prev, s.channels, s.size, False, s.reduction_prev)
                                          for s in cells] for cells in layout.normals], dtype=torch.float64)
        self.normal_ops = torch.tensor([[model.edge(op, cells[0].channels, cells[0].size, 1) for op in self.ops]
                                        for cells in layout.normals], dtype=torch.float64)
        # reduction before block k: base cost per depth of block k-1; op cost per input (inputs 0, 1 stride 2)
        self.reduce_base, self.reduce_ops = [], []
        for site, options in zip(layout.reductions, layout.reduction_c_prev_prev):
            if site is None:
                continue
            self.reduce_base.append([model.cell_base(c_pp, site.c_prev, site.channels, site.size, True, False) for c_pp in options])
            per_input = []
            for source in range(nodes + 1):
                size, stride = (site.size, 2) if source < 2 else (reduced(site.size), 1)
                per_input.append([model.edge(op, site.channels, size, stride) for op in self.ops])
            self.reduce_ops.append(per_input)
        self.reduce_base = torch.tensor(self.reduce_base, dtype=torch.float64).reshape(-1, depth)
        self.reduce_ops = torch.tensor(self.reduce_ops, dtype=torch.float64).reshape(-1, nodes + 1, len(self.ops))

    def expected(self, probs: ArchProbs) -> torch.Tensor:
        """E[cost] under independent categoricals for each slot's op and input and each block's depth.

        Differentiable in the probabilities; computed in float64 (MACs reach 1e8–1e9).
        """
        op_n = probs.ops["normal"].double()
        op_r = probs.ops["reduce"].double()
        in_r = probs.inputs["reduce"].double()
        depths = probs.depths.double()
        # P(depth >= j) for j = 1..max_depth: reversed cumulative sum
        at_least = depths.flip(-1).cumsum(-1).flip(-1)
        normal_cell = (op_n.sum(0) * self.normal_ops).sum(-1)                # per block: Σ_slots Σ_o p·cost
        total = torch.as_tensor(self.fixed, dtype=torch.float64)
        total = total + (at_least * (self.normal_base + normal_cell.unsqueeze(-1))).sum()
        if len(self.reduce_ops):
            slot_input_cost = torch.einsum("si,kio->kso", in_r, self.reduce_ops)  # (k, slots, ops)
            reduce_cell = (slot_input_cost * op_r.unsqueeze(0)).sum((1, 2))
            reduce_base = (depths[:-1] * self.reduce_base).sum(-1)
            total = total + (reduce_cell + reduce_base).sum()
        return total

    def edge_costs(self, cell_type: str) -> torch.Tensor:
        """(blocks or reductions, n_ops) cost of each op on a stride-1 edge of each cell of that type."""
        if cell_type == "normal":
            return self.normal_ops
        return self.reduce_ops[:, -1, :] if len(self.reduce_ops) else self.normal_ops[:0]

    def discrete(self, genotype: dict) -> float:
        """The cost of one genotype (the expected cost of its one-hot distribution)."""
        return float(self.expected(one_hot_probs(genotype, self.ops, self.nodes, self.normal_base.shape[1])))


def one_hot_probs(genotype: dict, ops: Sequence[str], nodes: int, max_depth: int) -> ArchProbs:
    """The degenerate distribution that always samples ``genotype``."""
    index = {op: i for i, op in enumerate(ops)}
    op_probs, in_probs = {}, {}
    for cell_type in ("normal", "reduce"):
        pairs = genotype[cell_type]
        op_probs[cell_type] = torch.zeros(2 * nodes, len(ops), dtype=torch.float64)
        in_probs[cell_type] = torch.zeros(2 * nodes, nodes + 1, dtype=torch.float64)
        for slot, (op, source) in enumerate(pairs):
            op_probs[cell_type][slot, index[op]] = 1.0
            in_probs[cell_type][slot, int(source)] = 1.0
    depths = torch.zeros(len(genotype["depths"]), max_depth, dtype=torch.float64)
    for block, depth in enumerate(genotype["depths"]):
        depths[block, int(depth) - 1] = 1.0
    return ArchProbs(op_probs, in_probs, depths)
