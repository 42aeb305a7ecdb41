"""Context graphs: the pieces the search prices (edge, cell base, stem + head), each inside a real cell.

An op's kernels depend on its neighbours (onnxruntime fuses a conv's BN and activation, folds a node's
``Add`` into a conv as its "sum" input, inserts layout reorders at NCHWc boundaries), so a piece is priced
by exporting a real ``compactrs.nn.cells.Cell`` that contains it, optimising it as a network would be, and
summing the predicted kernels attributed to it by module path (``edges.N…`` for an edge; the rest of the
cell for its base). The cell's wiring is the same for every op, so the difference between two ops at one
edge is what the search needs; a piece whose kernels fuse across an edge boundary in a particular network
(a node's ``Add`` folded into one of its two edges) is priced as in this reference wiring.
"""
from __future__ import annotations

from compactrs.cost._space import reduced

NODES_FALLBACK = 4


def _cached(profile, key: tuple, compute):
    cache = profile.__dict__.setdefault("_context_cache", {})
    if key not in cache:
        cache[key] = compute()
    return cache[key]


def _pairs(op: str, nodes: int, reduction: bool, partners=None) -> list[list]:
    """Node i sums ``op`` (even slots) and ``partners[i]`` (odd slots; default ``op``); a reduction cell's slots
    read its inputs (stride 2), a normal cell's mix inputs and earlier nodes (node i reads i and i + 1)."""
    partners = list(partners or [op] * nodes)
    if reduction:
        return [[op if slot % 2 == 0 else partners[slot // 2], slot % 2] for slot in range(2 * nodes)]
    return [[op if k == 0 else partners[node], source] for node in range(nodes)
            for k, source in enumerate((node + 1, node))]


def _partners(profile, op: str, nodes: int) -> list[str]:
    """The ops summed with ``op`` in its context cell: the space's ops in turn, so the layout changes and
    fusions at a node's sum are those of a mixed cell, as in searched networks."""
    ops = list(profile.space["ops"])
    start = ops.index(op) + 1 if op in ops else 0
    return [ops[(start + i) % len(ops)] for i in range(nodes)]


def context_nodes(profile, nodes: int | None = None) -> int:
    """Nodes of the cells pieces are priced in: the search's (``nodes``), else the profile's networks'."""
    return int(nodes) if nodes is not None else int(profile.space.get("nodes", NODES_FALLBACK))


def _cell_kernels(profile, op: str, c_prev_prev: int, c_prev: int, channels: int, size: int, reduction: bool,
                  reduction_prev: bool, partners=None, nodes: int | None = None) -> list[dict]:
    import torch

    from compactrs.cost._opgraphs import _randomise_bn
    from compactrs.nn.cells import Cell

    nodes = context_nodes(profile, nodes)
    pairs = _pairs(op, nodes, reduction, partners)
    cell = _randomise_bn(Cell(pairs, list(range(2, nodes + 2)), c_prev_prev, c_prev, channels, reduction,
                              reduction_prev), 0)
    size_prev_prev = 2 * size if reduction_prev else size
    batch = profile.data["batch"]

    class _TwoInputs(torch.nn.Module):
        # one graph input (the runners feed one tensor); s0 is pooled down when it is larger than s1
        def __init__(self):
            super().__init__()
            self.cell = cell

        def forward(self, x):
            s0 = x[:, :c_prev_prev]
            s1 = x[:, :c_prev]
            if reduction_prev:
                s1 = torch.nn.functional.avg_pool2d(s1, 2, ceil_mode=True)
            return self.cell(s0, s1)

    width = max(c_prev_prev, c_prev)
    kernels = profile.network_kernels(_TwoInputs().eval(), (batch, width, size_prev_prev, size_prev_prev))
    return [k for k in kernels if k["source"] == "cell" or k["source"].startswith("cell.")]


def _context_edge(profile, op: str, channels: int, size: int, stride: int, nodes: int | None = None) -> float:
    """Predicted ms of ``op`` on one edge of a cell of ``nodes`` nodes (default: the profile's networks')."""
    nodes = context_nodes(profile, nodes)

    def compute() -> float:
        c_in = channels * nodes // 2 if stride == 2 else channels * nodes
        kernels = _cell_kernels(profile, op, c_in, c_in, channels, size, stride == 2, False,
                                _partners(profile, op, nodes), nodes)
        # an edge owns its kernels and an equal share of the cell's node sums and concatenation
        own = [k for k in kernels if _edge_index(k["source"]) is not None and _edge_index(k["source"]) % 2 == 0]
        shared = [k for k in kernels if piece_of(k["source"], "cell") == "edges" and _edge_index(k["source"]) is None]
        return (profile.kernels_ms(own, per_run=False) + profile.kernels_ms(shared, per_run=False) / 2) / nodes
    return _cached(profile, ("edge", op, channels, size, stride, nodes), compute)


def _edge_index(source: str) -> int | None:
    path = source.split(".")
    return int(path[2]) if len(path) > 2 and path[1] == "edges" else None


def piece_of(source: str, cell_prefix: str) -> str | None:
    """Which piece a kernel of a cell belongs to: ``preprocess0``/``preprocess1``, ``edges`` (an edge's own
    kernels and the cell-level node sums and concatenation, shared by its edges), or None (not in the cell)."""
    path = source.split(".")
    prefix = cell_prefix.split(".")
    if path[:len(prefix)] != prefix:
        return None
    rest = path[len(prefix):]
    if rest and rest[0] in ("preprocess0", "preprocess1"):
        return rest[0]
    return "edges"


def _context_preprocess(profile, c_prev_prev: int, c_prev: int, channels: int, size: int,
                        reduction_prev: bool) -> tuple[float, float]:
    def compute() -> tuple[float, float]:
        op = profile.space["ops"][0]
        kernels = _cell_kernels(profile, op, c_prev_prev, c_prev, channels, size, False, reduction_prev)
        return tuple(profile.kernels_ms([k for k in kernels if piece_of(k["source"], "cell") == part], per_run=False)
                     for part in ("preprocess0", "preprocess1"))
    return _cached(profile, ("pre", c_prev_prev, c_prev, channels, size, reduction_prev), compute)


def _context_cell_base(profile, c_prev_prev: int, c_prev: int, channels: int, size: int, reduction: bool,
                       reduction_prev: bool) -> float:
    return sum(_context_preprocess(profile, c_prev_prev, c_prev, channels, size, reduction_prev))


def _context_fixed(profile, in_bands: int, input_size: int, stem_channels: int, final_channels: int,
                   num_classes: int, stem_kind: str = "conv", blocks: int | None = None) -> float:
    """Stem + head; the head runs at the side ``blocks`` blocks leave (default: the profile's networks')."""
    blocks = int(profile.space["blocks"]) if blocks is None else int(blocks)

    def compute() -> float:
        from torch import nn

        from compactrs.cost._opgraphs import _Head, _randomise_bn
        from compactrs.nn.stems import make_stem

        batch = profile.data["batch"]
        # the stride-1 stem CellNet builds, wrapped so its kernels are named as in a network ("stem.*")
        stem = _randomise_bn(nn.Sequential(make_stem({"kind": stem_kind, "stride": 1}, in_bands, stem_channels)), 0)
        final = input_size
        for _ in range(blocks - 1):
            final = reduced(final)
        stem_kernels = profile.network_kernels(stem, (batch, in_bands, input_size, input_size))
        head_kernels = profile.network_kernels(_Head(final_channels, num_classes).eval(),
                                               (batch, final_channels, final, final))
        # the stem's own output reorder is not run in a network (cells read the NCHWc layout)
        stem_kernels = [k for k in stem_kernels if k["op"] != "ReorderOutput"]
        return profile.kernels_ms(stem_kernels + head_kernels, per_run=True)
    key = ("fixed", in_bands, input_size, stem_channels, final_channels, num_classes, blocks)
    return _cached(profile, key + ((stem_kind,) if stem_kind != "conv" else ()), compute)
