"""Measured-latency profiles and the latency predictor the search and the pruner use.

The predicted latency of a CellNet is linear in the profile's measured entries::

    latency = fixed_ms + Σ_cells ( cell_base_ms + Σ_edges edge_ms(op, channels, size, stride) )
    edge_ms(op, …)  = scale[op] · entry(op, …) + per_edge[op]
    cell_base_ms(…) = scale[cell_base] · (preprocess0 + preprocess1 + nodes · add + concat)
    fixed_ms(…)     = scale[fixed] · (stem + head) + per_inference

``entry`` is the time of the part in its own ONNX graph minus the time of an identity graph on the same input
(the per-call cost of the runtime, which a whole network pays once, not per op). The scales and per-edge
costs are fitted by non-negative least squares on whole networks of a fitting set (``compactrs.cost._fit``):
they absorb what isolation cannot see — fused and shared nodes, cache effects, per-node dispatch. The form
stays a weighted sum of table entries, so Σ p(op) · edge_ms(op, …) is differentiable in p for the search.
"""
from __future__ import annotations

import os
from pathlib import Path

from compactrs.cost._opgraphs import entry_key, final_context
from compactrs.cost._schema import read_profile, write_profile
from compactrs.cost._space import edge_contexts
from compactrs.nn.geometry import CellSite, cellnet_geometry
from compactrs.errors import ArtifactError

FIXED, CELL_BASE, PER_INFERENCE = "scale:fixed", "scale:cell_base", "per_inference"


def default_coefficients(ops) -> dict:
    """The unfitted model: every entry at face value, no overheads."""
    coefficients = {f"scale:{op}": 1.0 for op in ops}
    coefficients.update({f"edge:{op}": 0.0 for op in ops})
    coefficients.update({CELL_BASE: 1.0, FIXED: 1.0, PER_INFERENCE: 0.0})
    return coefficients


class LatencyProfile:
    """A measured latency table for one device + runtime + precision, and the predictor built on it."""

    def __init__(self, data: dict, source: str = "profile"):
        self.data = data
        self.source = source
        self.space: dict = data["space"]
        self.coefficients: dict = dict(data["overhead"]["coefficients"])
        self._entries = {entry_key(e["op"], e["c_in"], e["c_out"], e["h"], e["stride"]): float(e["median_ms"])
                         for e in data["entries"]}

    @classmethod
    def load(cls, path: str | os.PathLike) -> "LatencyProfile":
        """Read a profile JSON; ArtifactError on a missing, corrupt or wrong-schema file."""
        return cls(read_profile(path), str(path))

    def save(self, path: str | os.PathLike) -> Path:
        self.data["overhead"]["coefficients"] = dict(self.coefficients)
        return write_profile(path, self.data)

    # -- raw table lookups -------------------------------------------------------------------------
    def entry(self, op: str, c_in: int, c_out: int, size: int, stride: int = 1) -> float:
        """The measured entry (ms) of a part; ArtifactError saying what was measured if it is missing."""
        key = entry_key(op, c_in, c_out, size, stride)
        if key in self._entries:
            return self._entries[key]
        if op == "head":  # the class count only changes one tiny GEMM: use the nearest measured one
            near = [k for k in self._entries if k[0] == "head" and k[1] == c_in and k[3] == size]
            if near:
                return self._entries[min(near, key=lambda k: abs(k[2] - c_out))]
        raise ArtifactError(self._missing(op, c_in, c_out, size, stride))

    def _missing(self, op, c_in, c_out, size, stride) -> str:
        measured = sorted({(k[1], k[3], k[5]) for k in self._entries if k[0] == op})
        shown = ", ".join(f"{c}ch@{h}px/s{s}" for c, h, s in measured[:12]) or "nothing"
        more = f" (+{len(measured) - 12} more)" if len(measured) > 12 else ""
        sp = self.space
        return (f"latency profile '{self.source}' has no entry for {op} with {c_in}→{c_out} channels at {size}×{size}, "
                f"stride {stride}; it measured {op} at {shown}{more} for in_bands={sp['in_bands']}, "
                f"input_size={sp['input_size']}, init_channels={sp['init_channels']}, num_classes={sp['num_classes']}; "
                f"re-profile with e.g. 'compactrs profile --input-size SIZE --init-channels C1,C2 --in-bands B "
                f"--classes K --ops OP,...' covering this network")

    def raw_cell_base(self, c_prev_prev, c_prev, channels, size, reduction, reduction_prev, size_prev_prev=None,
                      reads=(0, 1)) -> float:
        # A cell only builds the preprocessing of the inputs its edges read (compactrs/nn/cells.py).
        nodes = self.space["nodes"]
        node_size = (size + 1) // 2 if reduction else size
        pre0 = pre1 = 0.0
        if 0 in reads:
            if reduction_prev:
                pre0 = self._factorized_reduce(c_prev_prev, channels, size, size_prev_prev)
            else:
                pre0 = self.entry("relu_conv_bn", c_prev_prev, channels, size)
        if 1 in reads:
            pre1 = self.entry("relu_conv_bn", c_prev, channels, size)
        return (pre0 + pre1 + nodes * self.entry("add", channels, channels, node_size)
                + self.entry("concat", channels, channels * nodes, node_size))

    def _factorized_reduce(self, c_in: int, c_out: int, out_size: int, in_size: int | None) -> float:
        # Its input is the pre-reduction size: 2·s or 2·s−1 (odd inputs round up); the profile knows which.
        for candidate in ([in_size] if in_size else [2 * out_size, 2 * out_size - 1]):
            if entry_key("factorized_reduce", c_in, c_out, candidate, 2) in self._entries:
                return self.entry("factorized_reduce", c_in, c_out, candidate, 2)
        return self.entry("factorized_reduce", c_in, c_out, in_size or 2 * out_size, 2)

    def raw_fixed(self, in_bands, input_size, stem_channels, final_channels, num_classes) -> float:
        size = input_size
        for _ in range(self.space["blocks"] - 1):
            size = (size + 1) // 2
        return self.entry("stem", in_bands, stem_channels, input_size) + self.entry("head", final_channels, num_classes, size)

    # -- the predictor (the interface the search codes against) ------------------------------------
    def edge_ms(self, op: str, channels: int, size: int, stride: int) -> float:
        """Predicted ms of candidate ``op`` on one cell edge (input ``size``², ``stride``), overhead share included."""
        return (self.coefficients.get(f"scale:{op}", 1.0) * self.entry(op, channels, channels, size, stride)
                + self.coefficients.get(f"edge:{op}", 0.0))

    def cell_base_ms(self, c_prev_prev: int, c_prev: int, channels: int, size: int, reduction: bool,
                     reduction_prev: bool, reads=(0, 1)) -> float:
        """Op-independent part of one cell (``size`` = its input size): preprocess convs, node adds, concat.

        ``reads`` names the cell inputs (0: the cell before the previous one, 1: the previous one) that some
        edge reads; only those are preprocessed.
        """
        raw = self.raw_cell_base(c_prev_prev, c_prev, channels, size, reduction, reduction_prev, reads=reads)
        return self.coefficients.get(CELL_BASE, 1.0) * raw

    def fixed_ms(self, in_bands: int, input_size: int, stem_channels: int, final_channels: int, num_classes: int) -> float:
        """Stem + head (ReLU, pool, linear) + per-inference overhead."""
        raw = self.raw_fixed(in_bands, input_size, stem_channels, final_channels, num_classes)
        return self.coefficients.get(FIXED, 1.0) * raw + self.coefficients.get(PER_INFERENCE, 0.0)

    def predict_genotype(self, genotype: dict, in_bands: int, input_size: int, num_classes: int,
                         init_channels: int = 16, stem_multiplier: int = 1) -> float:
        """Predicted ms of the discrete CellNet of ``genotype`` (compactrs/models/_cellnet.py)."""
        features = self.features(genotype, in_bands, input_size, num_classes, init_channels, stem_multiplier)
        return sum(self.coefficients.get(name, 0.0) * value for name, value in features.items())

    def features(self, genotype: dict, in_bands: int, input_size: int, num_classes: int, init_channels: int = 16,
                 stem_multiplier: int = 1) -> dict:
        """The network as the predictor sees it: per coefficient name, the sum of the entries it multiplies.

        ``predict_genotype == Σ coefficients[name] · features[name]``; the fit regresses measured whole
        networks on these features.
        """
        from compactrs.nn.cells import validate_genotype

        genotype = validate_genotype(genotype)
        nodes = len(genotype["normal"]) // 2
        plan = cellnet_geometry(genotype["depths"], input_size, init_channels, stem_multiplier, nodes)
        features = {FIXED: self.raw_fixed(in_bands, input_size, plan.stem_channels, plan.final_channels, num_classes),
                    PER_INFERENCE: 1.0, CELL_BASE: 0.0}
        for cell in plan.cells:
            pairs = genotype["reduce"] if cell.reduction else genotype["normal"]
            features[CELL_BASE] += self._cell_raw(cell, {int(source) for _, source in pairs})
            for op, channels, size, stride in edge_contexts(pairs, cell):
                features[f"scale:{op}"] = features.get(f"scale:{op}", 0.0) + self.entry(op, channels, channels, size, stride)
                features[f"edge:{op}"] = features.get(f"edge:{op}", 0.0) + 1.0
        return features

    def _cell_raw(self, cell: CellSite, reads=(0, 1)) -> float:
        return self.raw_cell_base(cell.c_prev_prev, cell.c_prev, cell.channels, cell.size, cell.reduction,
                                  cell.reduction_prev, cell.size_prev_prev, reads)

    def final_context(self, input_size: int, init_channels: int) -> tuple[int, int]:
        return final_context(input_size, init_channels, self.space["blocks"], self.space["nodes"])

    @property
    def validation(self) -> dict | None:
        return self.data.get("validation")


def load_profile(path: str | os.PathLike):
    """Load a latency profile: a kernel-level one (``compactrs.latency-profile/2``, the default of
    ``compactrs profile``) as a ``KernelProfile``, an isolated-op table (``/1``) as a ``LatencyProfile``.

    Both expose ``predict_genotype`` and the search's ``edge_ms`` / ``cell_base_ms`` / ``fixed_ms``.
    """
    import json

    from compactrs.cost.kernel_latency import KERNEL_PROFILE_SCHEMA, KernelProfile

    try:
        schema = json.loads(Path(path).read_text(encoding="utf-8")).get("schema")
    except (OSError, UnicodeDecodeError, ValueError, AttributeError):
        schema = None  # LatencyProfile.load names the problem
    if schema == KERNEL_PROFILE_SCHEMA:
        return KernelProfile.load(path)
    return LatencyProfile.load(path)
