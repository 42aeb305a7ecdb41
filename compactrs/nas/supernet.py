"""The GDAS supernet: searchable normal and reduction cells, searchable block depths, one sampled path per step.

Design (documented choice between the two GDAS readings):

- Each node has two *slots*, as in a genotype (two (op, input) pairs per node). Every slot has its own
  categorical over ops and its own categorical over the node's possible inputs (the two cell inputs and the
  earlier nodes); both are hard-sampled with Gumbel-softmax. A sampled cell therefore has exactly the shape of
  a discrete ``Cell``: derive takes the argmax op and argmax input of every slot, and the search's expected
  cost is the cost of the networks it actually samples (the alternative — one op per edge on *all* edges
  into a node, top-2 inputs at derive — trains and prices 14 edges per cell but keeps 8).
- Weights live on edges (node, input) as in DARTS: one ``MixedEdge`` per edge holding every candidate op;
  the two slots of a node share the edges (both may even pick the same edge).
- Depth: every block has ``max_depth`` normal cells and a categorical over depths 1..max_depth, hard-sampled;
  only the first δ cells run and the block output is f = Σ_j Ω_j · out_j with Ω one-hot in value
  (straight-through), so the gradient reaches the depth logits. s0 of the next cell is the state before the
  last cell that ran, exactly as in ``CellNet``.
- Search ops use non-affine BN (DARTS convention); the derived network's ops are affine.
- Stem kind (``--stem search``): every stem kind (conv, spectral, pointwise; stride 1) sits before the cells with its own
  categorical, hard-sampled like an op: only the sampled stem runs, its output weighted by the
  straight-through one-hot weight, so the task loss reaches the stem logits; derive records the argmax kind.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from compactrs.errors import ConfigError
from compactrs.nn.geometry import CellSite
from compactrs.nn.ops import FactorizedReduce, ReLUConvBN, make_op
from compactrs.nn.stems import make_stem
from compactrs.nas.costs import ArchProbs
from compactrs.nas.sampling import gumbel_hard
from compactrs.nas.space import SupernetLayout, supernet_layout

CELL_TYPES = ("normal", "reduce")


class MixedEdge(nn.Module):
    """All candidate ops of one edge; a forward pass runs only the sampled one."""

    def __init__(self, ops, channels: int, stride: int):
        super().__init__()
        self.ops = nn.ModuleList(make_op(op, channels, stride, affine=False) for op in ops)

    def forward(self, x: torch.Tensor, weights: torch.Tensor, index: int) -> torch.Tensor:
        # GDAS: the other weights are exactly 0 in value; adding them routes their gradient to the logits.
        out = weights[index] * self.ops[index](x)
        return out + (weights.sum() - weights[index])


def _preprocess0(c_prev_prev: int, channels: int, reduction_prev: bool) -> nn.Module:
    return FactorizedReduce(c_prev_prev, channels, affine=False) if reduction_prev else ReLUConvBN(c_prev_prev, channels, 1, 1, 0, affine=False)


class SearchCell(nn.Module):
    """A cell whose every slot samples its op and its input; mirrors ``compactrs.nn.cells.Cell``."""

    def __init__(self, site: CellSite, ops, nodes: int, c_prev_prev_options=None):
        super().__init__()
        self.nodes = nodes
        # keyed by s0's channel count: the reduction after block 0 reads the stem when δ₁ = 1
        options = sorted(set(c_prev_prev_options or (site.c_prev_prev,)))
        self.preprocess0 = nn.ModuleDict({str(c): _preprocess0(c, site.channels, site.reduction_prev) for c in options})
        self.preprocess1 = ReLUConvBN(site.c_prev, site.channels, 1, 1, 0, affine=False)
        self.edges = nn.ModuleList(
            nn.ModuleList(MixedEdge(ops, site.channels, 2 if site.reduction and source < 2 else 1) for source in range(node + 2))
            for node in range(nodes)
        )

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, sample: "CellSample") -> torch.Tensor:
        # preprocess only the inputs some slot reads (as the exported discrete cell effectively does)
        reads = set(sample.input_index)
        states = [self.preprocess0[str(int(s0.shape[1]))](s0) if 0 in reads else None,
                  self.preprocess1(s1) if 1 in reads else None]
        for node in range(self.nodes):
            total = None
            for slot in (2 * node, 2 * node + 1):
                source = sample.input_index[slot]
                w_in = sample.input_weights[slot]
                x = w_in[source] * states[source] + (w_in[: node + 2].sum() - w_in[source])
                y = self.edges[node][source](x, sample.op_weights[slot], sample.op_index[slot])
                total = y if total is None else total + y
            states.append(total)
        return torch.cat(states[2:], dim=1)


@dataclass
class CellSample:
    op_weights: torch.Tensor   # (slots, n_ops), one-hot values, straight-through gradients
    op_index: list
    input_weights: torch.Tensor  # (slots, nodes + 1)
    input_index: list


@dataclass
class ArchSample:
    cells: dict                # cell type -> CellSample
    depth_weights: torch.Tensor  # (blocks, max_depth)
    depth_index: list          # sampled depth - 1 per block
    stem_weights: torch.Tensor | None = None  # (stem kinds,) when the stem kind is searched
    stem_index: int | None = None

    def genotype(self, ops) -> dict:
        """The discrete architecture this sample runs."""
        out = {t: [[ops[o], i] for o, i in zip(self.cells[t].op_index, self.cells[t].input_index)] for t in CELL_TYPES}
        out["depths"] = [d + 1 for d in self.depth_index]
        out["concat"] = list(range(2, 2 + len(out["normal"]) // 2))
        return out


def initial_depth_logits(blocks: int, max_depth: int, initial_depth: int, dtype=torch.float32) -> torch.Tensor:
    """(blocks, max_depth) depth logits a search starts from: P(initial depth) = 1/2, the others share the rest."""
    logits = torch.zeros(blocks, max_depth, dtype=dtype)
    # (log 1 = 0 with a single depth: log(max_depth - 1) would be -inf there and poison the softmax)
    logits[:, initial_depth - 1] = math.log(max(max_depth - 1, 1))
    return logits


def readable_inputs(nodes: int) -> torch.Tensor:
    """(2·nodes slots, nodes + 1) bool: slot s of node s // 2 may read the cell's two inputs and earlier nodes."""
    readable = torch.zeros(2 * nodes, nodes + 1, dtype=torch.bool)
    for slot in range(2 * nodes):
        readable[slot, : slot // 2 + 2] = True
    return readable


class Supernet(nn.Module):
    """Stem → [reduction] → max_depth searchable normal cells per block → ReLU → pool → linear."""

    def __init__(self, in_bands: int, num_classes: int, input_size: int, ops, init_channels: int = 16,
                 stem_multiplier: int = 1, blocks: int = 3, max_depth: int = 5, initial_depth: int = 3, nodes: int = 4,
                 stem: dict | None = None, stem_kinds=None):
        super().__init__()
        if not 1 <= initial_depth <= max_depth:
            raise ConfigError(f"initial depth {initial_depth} must be in 1..--max-depth ({max_depth})")
        self.ops = tuple(ops)
        self.nodes, self.max_depth = nodes, max_depth
        self.layout: SupernetLayout = supernet_layout(input_size, init_channels, stem_multiplier, blocks, max_depth, nodes, stem)
        # one stem (its kind fixed), or every kind in ``stems`` with a categorical over them (searched)
        self.stem_kinds = tuple(stem_kinds or (self.layout.stem["kind"],))
        if len(self.stem_kinds) == 1:
            self.stem = make_stem({**self.layout.stem, "kind": self.stem_kinds[0]}, in_bands, self.layout.stem_channels)
        else:
            self.stems = nn.ModuleDict({kind: make_stem({**self.layout.stem, "kind": kind}, in_bands, self.layout.stem_channels)
                                        for kind in self.stem_kinds})
            self.stem_logits = nn.Parameter(1e-3 * torch.randn(len(self.stem_kinds)))
        self.reductions = nn.ModuleList(nn.Identity() if site is None else SearchCell(site, self.ops, nodes, options)
                                        for site, options in zip(self.layout.reductions, self.layout.reduction_c_prev_prev))
        self.blocks = nn.ModuleList(nn.ModuleList(SearchCell(site, self.ops, nodes) for site in cells) for cells in self.layout.normals)
        self.head_act = nn.ReLU(inplace=False)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(self.layout.final_channels, num_classes)
        slots = 2 * nodes
        # DARTS initialisation: near-uniform op and input logits
        self.alpha_normal = nn.Parameter(1e-3 * torch.randn(slots, len(self.ops)))
        self.alpha_reduce = nn.Parameter(1e-3 * torch.randn(slots, len(self.ops)))
        self.beta_normal = nn.Parameter(1e-3 * torch.randn(slots, nodes + 1))
        self.beta_reduce = nn.Parameter(1e-3 * torch.randn(slots, nodes + 1))
        self.depth_logits = nn.Parameter(initial_depth_logits(blocks, max_depth, initial_depth))
        self.register_buffer("input_mask", readable_inputs(nodes), persistent=False)

    # -- parameters -------------------------------------------------------------------------------------
    ARCH_NAMES = ("alpha_normal", "alpha_reduce", "beta_normal", "beta_reduce", "depth_logits")

    @property
    def searches_stem(self) -> bool:
        return len(self.stem_kinds) > 1

    def arch_parameters(self) -> list[nn.Parameter]:
        names = self.ARCH_NAMES + (("stem_logits",) if self.searches_stem else ())
        return [getattr(self, name) for name in names]

    def weight_parameters(self) -> list[nn.Parameter]:
        arch = {id(p) for p in self.arch_parameters()}
        return [p for p in self.parameters() if id(p) not in arch]

    def arch_logits(self) -> dict:
        return {"ops": {"normal": self.alpha_normal, "reduce": self.alpha_reduce},
                "inputs": {"normal": self.beta_normal, "reduce": self.beta_reduce}, "depths": self.depth_logits,
                **({"stems": self.stem_logits} if self.searches_stem else {})}

    def probabilities(self, temperature: float = 1.0) -> ArchProbs:
        """The (differentiable) softmax probabilities of the architecture distribution.

        ``temperature`` < 1 sharpens them towards the argmax architecture ``derive`` returns (its cost is the
        limit of the expected cost as the temperature goes to 0), which the budget loss steers.
        """
        masked = {t: getattr(self, f"beta_{t}").masked_fill(~self.input_mask, float("-inf")) for t in CELL_TYPES}
        return ArchProbs(
            ops={t: torch.softmax(getattr(self, f"alpha_{t}") / temperature, -1) for t in CELL_TYPES},
            inputs={t: torch.softmax(masked[t] / temperature, -1) for t in CELL_TYPES},
            depths=torch.softmax(self.depth_logits / temperature, -1),
            stems=torch.softmax(self.stem_logits / temperature, -1) if self.searches_stem else None,
        )

    # -- sampling and forward ---------------------------------------------------------------------------
    def sample(self, tau: float, generator: torch.Generator | None = None) -> ArchSample:
        cells = {}
        for t in CELL_TYPES:
            op_w, op_i = gumbel_hard(getattr(self, f"alpha_{t}"), tau, generator)
            in_w, in_i = gumbel_hard(getattr(self, f"beta_{t}"), tau, generator, mask=self.input_mask)
            cells[t] = CellSample(op_w, op_i, in_w, in_i)
        depth_w, depth_i = gumbel_hard(self.depth_logits, tau, generator)
        if not self.searches_stem:  # no extra draw: a fixed-stem search samples exactly as before
            return ArchSample(cells, depth_w, depth_i)
        stem_w, stem_i = gumbel_hard(self.stem_logits, tau, generator)
        return ArchSample(cells, depth_w, depth_i, stem_w, stem_i[0])

    def run_stem(self, x: torch.Tensor, sample: ArchSample) -> torch.Tensor:
        if not self.searches_stem:
            return self.stem(x)
        w, index = sample.stem_weights, sample.stem_index
        out = w[index] * self.stems[self.stem_kinds[index]](x)
        return out + (w.sum() - w[index])  # zero in value; routes the other kinds' gradient to the logits

    def forward(self, x: torch.Tensor, sample: ArchSample) -> torch.Tensor:
        s0 = s1 = self.run_stem(x, sample)
        for block, cells in enumerate(self.blocks):
            if block > 0:
                s0, s1 = s1, self.reductions[block](s0, s1, sample.cells["reduce"])
            depth = sample.depth_index[block]  # index d - 1 of the sampled depth d
            outs, prev = [s1], s0
            for j in range(depth + 1):
                outs.append(cells[j](prev, outs[-1], sample.cells["normal"]))
                prev = outs[-2]
            w = sample.depth_weights[block]
            s0, s1 = outs[depth], w[depth] * outs[depth + 1] + (w.sum() - w[depth])
        return self.classifier(torch.flatten(self.pool(self.head_act(s1)), 1))

    def derive(self) -> dict:
        """The most likely architecture: argmax op and input per slot, argmax depth per block (deterministic)."""
        with torch.no_grad():
            probs = self.probabilities()
            genotype = {}
            for t in CELL_TYPES:
                ops = probs.ops[t].argmax(-1).tolist()
                sources = probs.inputs[t].argmax(-1).tolist()
                genotype[t] = [[self.ops[o], int(s)] for o, s in zip(ops, sources)]
            genotype["depths"] = [int(d) + 1 for d in probs.depths.argmax(-1).tolist()]
            genotype["concat"] = list(range(2, 2 + self.nodes))
            kind = self.stem_kinds[int(probs.stems.argmax())] if self.searches_stem else self.stem_kinds[0]
            genotype["stem"] = {**self.layout.stem, "kind": kind}
        return genotype
