"""Cost of the sampled architecture distribution: MACs (counted by fvcore) or latency (from a profile).

A cost model prices three kinds of pieces, exactly as the latency-profile protocol does:

- ``edge(op, channels, size, stride)``: one candidate op on one cell edge (``size`` = its input side);
- ``cell_base(c_prev_prev, c_prev, channels, size, reduction, reduction_prev)``: what a cell costs whatever
  its ops are (the two preprocessing convs; ``size`` = the side of its s1 input);
- ``fixed(in_bands, input_size, stem_channels, final_channels, num_classes, stem)``: stem and classifier;
  ``stem`` is the genotype's ``{"kind", "stride"}`` (``compactrs.nn.stems``); a model that cannot price a
  stem raises ``ConfigError`` naming what it can price. When the search chooses the stem kind too
  (``--stem search``), the table holds one fixed cost per kind and the expected cost adds Σ p(kind)·fixed(kind).

Where each piece sits (channels, sides, strides) comes from ``compactrs.nn.geometry`` through the supernet
layout, the same walk ``CellNet`` is built from.

``CostTable`` lays these out over the supernet so that the expected cost under the architecture
distribution is one differentiable expression, and the cost of a discrete genotype is the same expression on
one-hot probabilities (for MACs it equals ``compactrs.cost.count_macs`` of the built CellNet exactly; tests check this).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol, Sequence

import torch
from torch import nn

from compactrs.errors import ConfigError
from compactrs.nn.geometry import DEFAULT_STEM, validate_stem
from compactrs.nn.ops import FactorizedReduce, ReLUConvBN, make_op
from compactrs.nn.stems import make_stem
from compactrs.nas.space import SupernetLayout


class CostModel(Protocol):
    unit: str

    def edge(self, op: str, channels: int, size: int, stride: int) -> float: ...

    def cell_base(self, c_prev_prev: int, c_prev: int, channels: int, size: int, reduction: bool, reduction_prev: bool) -> float: ...

    def fixed(self, in_bands: int, input_size: int, stem_channels: int, final_channels: int, num_classes: int,
              stem: dict | None = None) -> float: ...


def layer_macs(module: nn.Module, input_shape: Sequence[int]) -> int:
    """MACs of one forward pass, summed over the module's conv and linear layers (hooks on a zero input).

    The same policy as ``compactrs.cost.count_macs`` (fvcore) for the modules of the search space, which
    multiply-accumulate only in ``nn.Conv2d`` / ``nn.Linear`` (batch norm, activations, pools, adds, concat
    count zero): a conv costs ``output elements × in_channels / groups × kernel area``, a linear layer
    ``output elements × in_features``. One forward pass of a tiny module takes about a millisecond, where an
    fvcore trace takes ~50–100 ms; the cost tables need hundreds of counts per width and stem stride.
    tests/nn/test_geometry.py checks that every table equals ``count_macs`` of the built network.
    """
    total = 0

    def conv(m: nn.Conv2d, inputs, output) -> None:
        nonlocal total
        total += output.numel() * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]

    def linear(m: nn.Linear, inputs, output) -> None:
        nonlocal total
        total += output.numel() * m.in_features

    handles = [m.register_forward_hook(conv) for m in module.modules() if isinstance(m, nn.Conv2d)]
    handles += [m.register_forward_hook(linear) for m in module.modules() if isinstance(m, nn.Linear)]
    was_training = module.training
    try:
        with torch.no_grad():
            module.eval()(torch.zeros(*input_shape))
    finally:
        module.train(was_training)
        for handle in handles:
            handle.remove()
    return total


class MacCost:
    """MACs of each piece, counted once per context on the real module (``layer_macs`` = ``count_macs``' policy)."""

    unit = "MACs"

    @lru_cache(maxsize=None)
    def edge(self, op: str, channels: int, size: int, stride: int) -> float:
        return float(layer_macs(make_op(op, channels, stride), (1, channels, size, size)))

    @lru_cache(maxsize=None)
    def preprocess_parts(self, c_prev_prev: int, c_prev: int, channels: int, size: int, reduction_prev: bool) -> tuple[float, float]:
        """MACs of a cell's two preprocessing convs (s0's, s1's); each is dead code when no slot reads its input."""
        # Same modules as compactrs.nn.cells.Cell. After a reduction s0 is twice as large; FactorizedReduce's
        # MACs depend only on its output size, so an input of 2·size is exact.
        if reduction_prev:
            pre0, size0 = FactorizedReduce(c_prev_prev, channels), 2 * size
        else:
            pre0, size0 = ReLUConvBN(c_prev_prev, channels, 1, 1, 0), size
        pre1 = ReLUConvBN(c_prev, channels, 1, 1, 0)
        return float(layer_macs(pre0, (1, c_prev_prev, size0, size0))), float(layer_macs(pre1, (1, c_prev, size, size)))

    def cell_base(self, c_prev_prev: int, c_prev: int, channels: int, size: int, reduction: bool, reduction_prev: bool) -> float:
        return sum(self.preprocess_parts(c_prev_prev, c_prev, channels, size, reduction_prev))

    def fixed(self, in_bands: int, input_size: int, stem_channels: int, final_channels: int, num_classes: int,
              stem: dict | None = None) -> float:
        stem = validate_stem(stem)
        return self._fixed(in_bands, input_size, stem_channels, final_channels, num_classes, stem["kind"], stem["stride"])

    @lru_cache(maxsize=None)
    def _fixed(self, in_bands, input_size, stem_channels, final_channels, num_classes, kind, stride) -> float:
        stem = make_stem({"kind": kind, "stride": stride}, in_bands, stem_channels)  # CellNet's stem
        head = nn.Linear(final_channels, num_classes)
        # a stem that is more than 2-D convs (the spectral stem's scan) carries its own exact hand count
        stem_macs = stem.macs(input_size, input_size) if hasattr(stem, "macs") else layer_macs(stem, (1, in_bands, input_size, input_size))
        return float(stem_macs + layer_macs(head, (1, final_channels)))


class LatencyCost:
    """Milliseconds of each piece from a latency profile (``compactrs.cost.latency.LatencyProfile`` protocol)."""

    unit = "ms"

    def __init__(self, profile, nodes: int | None = None, blocks: int | None = None):
        """``nodes``, ``blocks``: the searched space's cells and blocks. A kernel-level profile prices each edge
        inside a cell of that many nodes (its fusions and layout changes at the node sums) and the head at the
        side that many blocks leave; ``None``: the profile's own networks'. An isolated-op profile prices only
        its own networks' shape."""
        self.profile = profile
        self.kernel_level = hasattr(profile, "network_kernels")
        self.nodes, self.blocks = nodes, blocks
        space = getattr(profile, "space", {})
        own = {what: int(space[what]) for what in ("nodes", "blocks") if what in space}
        asked = {"nodes": nodes, "blocks": blocks}
        for what, value in asked.items():
            if value is not None and what in own and value != own[what] and not self.kernel_level:
                raise ConfigError(f"this isolated-op latency profile prices networks of {own[what]} {what} only, not "
                                  f"{value}; search with --{what} {own[what]}, or make a kernel-level profile with "
                                  f"'compactrs profile'")
        if hasattr(profile, "preprocess_parts"):  # a kernel-level profile prices each preprocessing conv apart
            self.preprocess_parts = lambda *args: tuple(float(v) for v in profile.preprocess_parts(*args))

    def edge(self, op, channels, size, stride):
        if self.nodes is None or not self.kernel_level:
            return float(self.profile.edge_ms(op, channels, size, stride))
        return float(self.profile.edge_ms(op, channels, size, stride, nodes=self.nodes))

    def cell_base(self, c_prev_prev, c_prev, channels, size, reduction, reduction_prev):
        return float(self.profile.cell_base_ms(c_prev_prev, c_prev, channels, size, reduction, reduction_prev))

    def fixed(self, in_bands, input_size, stem_channels, final_channels, num_classes, stem=None):
        stem = validate_stem(stem)
        blocks = {"blocks": self.blocks} if self.blocks is not None and self.kernel_level else {}
        if stem == DEFAULT_STEM:
            return float(self.profile.fixed_ms(in_bands, input_size, stem_channels, final_channels, num_classes, **blocks))
        check_stem = getattr(self.profile, "check_stem", None)  # a kernel-level profile may price other stem kinds
        if stem["stride"] != 1 or check_stem is None:
            raise ConfigError(f"the latency profile prices only the stride-1 conv stem, not {stem}; "
                              f"search a latency budget with the stride-1 conv stem (--stem-stride 1, --stem conv)")
        check_stem(stem["kind"], in_bands, input_size, stem_channels)  # refuses what its kernels do not cover
        return float(self.profile.fixed_ms(in_bands, input_size, stem_channels, final_channels, num_classes, stem["kind"],
                                           **blocks))


@dataclass
class ArchProbs:
    """Plain (non-Gumbel) probabilities of the architecture distribution.

    ``ops[t]``: (slots, n_ops) for cell type t ∈ {normal, reduce}; ``inputs[t]``: (slots, max_inputs), zero on
    inputs a slot cannot read; ``depths``: (blocks, max_depth), column d − 1 = P(depth = d); ``stems``:
    (stem kinds,) P(kind) when the search chooses the stem kind, else None (the one stem of the table).
    """

    ops: dict
    inputs: dict
    depths: torch.Tensor
    stems: torch.Tensor | None = None


class CostTable:
    """The per-piece costs of one supernet layout, as tensors, for expected and discrete costs.

    Dead code is priced the way ``count_macs`` and the ONNX export see it: a preprocessing conv whose cell
    input no slot reads is not computed, and a cell whose output no live cell reads (possible when a cell
    type never reads one of its inputs) is dropped entirely. The network is a chain x₁..x_N of cells, cell m
    reading x_{m−1} (input 1) and x_{m−2} (input 0), so liveness runs backwards from the head:
    a_m = 1 − (1 − a_{m+1}·u₁)(1 − a_{m+2}·u₀), with u_i = P(the consumer's cell type reads input i) =
    1 − Π_slots (1 − P(slot reads i)). Every depth vector is one chain; the expected cost averages the chains
    by their depth probabilities. For one-hot probabilities (a genotype) this is exact; for a spread
    distribution it treats slots and cells as independent (an approximation used only for gradients).
    """

    def __init__(self, model: CostModel, layout: SupernetLayout, ops: Sequence[str], in_bands: int, input_size: int,
                 num_classes: int, nodes: int = 4, stem_kinds: Sequence[str] | None = None):
        self.unit = model.unit
        self.ops = tuple(ops)
        self.nodes = nodes
        self.blocks, self.max_depth = layout.blocks, layout.max_depth
        # one fixed cost (stem + classifier) per stem kind the search may choose, all at the layout's stride
        self.stem_kinds = tuple(stem_kinds or (layout.stem["kind"],))
        self.stem_fixed = torch.tensor([model.fixed(in_bands, input_size, layout.stem_channels, layout.final_channels, num_classes,
                                                    {**layout.stem, "kind": kind}) for kind in self.stem_kinds], dtype=torch.float64)
        self.fixed = float(self.stem_fixed[0])
        parts = getattr(model, "preprocess_parts", None)
        # MACs split a cell's base into its two preprocessing convs (each dead when its input is unread);
        # a latency profile prices the base as a whole, paid whenever the cell is live.
        self.split_base = parts is not None

        def base(c_pp, site, reduction):
            if parts is not None:
                return parts(c_pp, site.c_prev, site.channels, site.size, site.reduction_prev)
            return model.cell_base(c_pp, site.c_prev, site.channels, site.size, reduction, site.reduction_prev), 0.0

        # normal cells of block k: every edge is stride 1 at the block's size
        normal_base = [[base(site.c_prev_prev, site, False) for site in cells] for cells in layout.normals]
        self.normal_ops = torch.tensor([[model.edge(op, cells[0].channels, cells[0].size, 1) for op in self.ops]
                                        for cells in layout.normals], dtype=torch.float64)
        # reduction before block k: base per depth of block k-1; op cost per input (inputs 0, 1 are stride 2)
        reduce_base, reduce_ops = [None], []
        for site, options in zip(layout.reductions[1:], layout.reduction_c_prev_prev[1:]):
            reduce_base.append([base(c_pp, site, True) for c_pp in options])
            per_input = []
            for source in range(nodes + 1):
                size, stride = (site.size, 2) if source < 2 else (site.node_size, 1)
                per_input.append([model.edge(op, site.channels, size, stride) for op in self.ops])
            reduce_ops.append(per_input)
        self.reduce_ops = torch.tensor(reduce_ops, dtype=torch.float64).reshape(-1, nodes + 1, len(self.ops))
        self._build_chains(normal_base, reduce_base)

    def _build_chains(self, normal_base, reduce_base) -> None:
        """One padded chain of cells per depth vector: kind (0 normal, 1 reduce, 2 padding), block, base costs."""
        combos = list(itertools.product(range(1, self.max_depth + 1), repeat=self.blocks))
        length = self.blocks * self.max_depth + self.blocks - 1
        kind = torch.full((len(combos), length), 2, dtype=torch.long)
        block = torch.zeros((len(combos), length), dtype=torch.long)
        pre = torch.zeros((len(combos), length, 2), dtype=torch.float64)
        last = torch.zeros((len(combos), length), dtype=torch.float64)
        for c, depths in enumerate(combos):
            m = 0
            for k, depth in enumerate(depths):
                if k > 0:
                    kind[c, m], block[c, m] = 1, k
                    pre[c, m] = torch.tensor(reduce_base[k][depths[k - 1] - 1], dtype=torch.float64)
                    m += 1
                for j in range(depth):
                    kind[c, m], block[c, m] = 0, k
                    pre[c, m] = torch.tensor(normal_base[k][j], dtype=torch.float64)
                    m += 1
            last[c, m - 1] = 1.0
        self.combos = torch.tensor(combos) - 1  # depth indices
        self.kind, self.block, self.pre, self.last = kind, block, pre, last

    def expected(self, probs: ArchProbs) -> torch.Tensor:
        """E[cost] under the architecture distribution (float64, differentiable in the probabilities)."""
        op_n, op_r = probs.ops["normal"].double(), probs.ops["reduce"].double()
        depths = probs.depths.double()
        # P(cell type reads input i), i = 0, 1; padding reads nothing
        reads = torch.stack([1 - torch.prod(1 - probs.inputs[t].double()[:, :2], dim=0) for t in ("normal", "reduce")])
        reads = torch.cat([reads, torch.zeros(1, 2, dtype=torch.float64)])           # (3 kinds, 2 inputs)
        op_cost = torch.zeros(3, self.blocks, dtype=torch.float64)
        op_cost[0] = (op_n.sum(0) * self.normal_ops).sum(-1)                       # per block
        if len(self.reduce_ops):
            slot_input_cost = torch.einsum("si,kio->kso", probs.inputs["reduce"].double(), self.reduce_ops)
            op_cost[1, 1:] = (slot_input_cost * op_r.unsqueeze(0)).sum((1, 2))
        u = reads[self.kind]                                                         # (combos, length, 2)
        real = (self.kind != 2).double()
        length = self.kind.shape[1]
        zero = torch.zeros(self.kind.shape[0], dtype=torch.float64)
        live = [zero] * (length + 2)
        for m in range(length - 1, -1, -1):
            # x_m is read by cell m+1 as its input 1 (s1) and by cell m+2 as its input 0 (s0)
            by_next = live[m + 1] * (u[:, m + 1, 1] if m + 1 < length else zero)
            by_after = live[m + 2] * (u[:, m + 2, 0] if m + 2 < length else zero)
            consumed = 1 - (1 - by_next) * (1 - by_after)
            live[m] = real[:, m] * (self.last[:, m] + (1 - self.last[:, m]) * consumed)
        live = live[:length]
        live = torch.stack(live, dim=1)                                              # (combos, length)
        base_weight = u if self.split_base else torch.stack([torch.ones_like(u[..., 0]), torch.zeros_like(u[..., 1])], -1)
        cell_cost = (self.pre * base_weight).sum(-1) + op_cost[self.kind.clamp(max=2), self.block]
        chain_cost = (live * cell_cost).sum(-1)
        p_combo = torch.ones(len(self.combos), dtype=torch.float64)
        for k in range(self.blocks):
            p_combo = p_combo * depths[k, self.combos[:, k]]
        return self.expected_fixed(probs) + (p_combo * chain_cost).sum()

    def expected_fixed(self, probs: ArchProbs) -> torch.Tensor:
        """Σ p(stem kind) · (stem + classifier cost); the one stem's cost when the kind is not searched."""
        if probs.stems is None:
            if len(self.stem_kinds) > 1:
                raise ValueError(f"this table prices stems {self.stem_kinds}: the probabilities need P(stem kind)")
            return self.stem_fixed[0]
        return (probs.stems.double() * self.stem_fixed).sum()

    def edge_costs(self, cell_type: str) -> torch.Tensor:
        """(blocks or reductions, n_ops) cost of each op on a stride-1 edge of each cell of that type."""
        if cell_type == "normal":
            return self.normal_ops
        return self.reduce_ops[:, -1, :] if len(self.reduce_ops) else self.normal_ops[:0]

    def discrete(self, genotype: dict) -> float:
        """The cost of one genotype (the expected cost of its one-hot distribution; exact)."""
        return float(self.expected(one_hot_probs(genotype, self.ops, self.nodes, self.max_depth, self.stem_kinds)))


def one_hot_probs(genotype: dict, ops: Sequence[str], nodes: int, max_depth: int,
                  stem_kinds: Sequence[str] | None = None) -> ArchProbs:
    """The degenerate distribution that always samples ``genotype`` (its stem kind among ``stem_kinds``).

    Raises:
        ConfigError: the genotype's stem kind is not one of ``stem_kinds``.
    """
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
    stems = None
    if stem_kinds is not None:
        kind = validate_stem(genotype.get("stem"))["kind"]
        if kind not in stem_kinds:
            raise ConfigError(f"a genotype with a '{kind}' stem cannot be priced by a table of {'/'.join(stem_kinds)} stems")
        stems = torch.tensor([float(k == kind) for k in stem_kinds], dtype=torch.float64)
    return ArchProbs(op_probs, in_probs, depths, stems)
