"""Single-op ONNX graphs for every latency entry of a search space, plus the folder a device measures.

An entry is keyed like DESIGN.md's profile JSON: ``(op, c_in, c_out, h, w, stride)`` where ``h, w`` is the
op's *input* size. Besides the candidate ops (kind ``edge``) a CellNet spends time in parts no search
decision changes (kinds ``preprocess``, ``add``, ``concat``, ``stem``, ``head``); they are measured the same
way so that the predictor can price a whole network.

Every graph has one input ``x`` (add and concat read it several times) and is timed against an identity
graph of the same input (its ``baseline``), so the per-call cost of ``session.run`` can be subtracted.
"""
from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import Iterable

import torch
from torch import nn

from compactrs.cost._space import reduced, space_cells
from compactrs.nn.ops import FactorizedReduce, ReLUConvBN, make_op

MANIFEST_SCHEMA = "compactrs.profile-graphs/1"
PREPROCESS_OPS = ("relu_conv_bn", "factorized_reduce")
KIND_OF = {"relu_conv_bn": "preprocess", "factorized_reduce": "preprocess", "add": "add", "concat": "concat",
           "stem": "stem", "head": "head"}


def entry_kind(op: str) -> str:
    return KIND_OF.get(op, "edge")


def entry_key(op: str, c_in: int, c_out: int, h: int, stride: int = 1) -> tuple:
    """The lookup key of an entry (square inputs: ``w == h``)."""
    return (str(op), int(c_in), int(c_out), int(h), int(h), int(stride))


def final_context(input_size: int, init_channels: int, blocks: int, nodes: int) -> tuple[int, int]:
    """``(channels, size)`` the head of a CellNet with ``blocks`` blocks sees."""
    size = input_size
    for _ in range(blocks - 1):
        size = reduced(size)
    return init_channels * 2 ** (blocks - 1) * nodes, size


def space_keys(space: dict) -> list[tuple]:
    """Every entry key a CellNet of ``space`` can need, in a stable order."""
    nodes, blocks, mult = space["nodes"], space["blocks"], space["stem_multiplier"]
    keys: set[tuple] = set()
    for cell in space_cells(space["input_size"], space["init_channels"], blocks, space["max_depth"], mult, nodes):
        c = cell.channels
        if cell.reduction_prev:
            keys.add(entry_key("factorized_reduce", cell.c_prev_prev, c, cell.size_prev_prev, 2))
        else:
            keys.add(entry_key("relu_conv_bn", cell.c_prev_prev, c, cell.size))
        keys.add(entry_key("relu_conv_bn", cell.c_prev, c, cell.size))
        keys.add(entry_key("add", c, c, cell.node_size))
        keys.add(entry_key("concat", c, c * nodes, cell.node_size))
        for op in space["ops"]:
            keys.add(entry_key(op, c, c, cell.node_size))
            if cell.reduction:
                keys.add(entry_key(op, c, c, cell.size, 2))
    for size, width in itertools.product(space["input_size"], space["init_channels"]):
        for bands in space["in_bands"]:
            keys.add(entry_key("stem", bands, width * mult, size))
        c_final, final_size = final_context(size, width, blocks, nodes)
        for classes in space["num_classes"]:
            keys.add(entry_key("head", c_final, classes, final_size))
    return sorted(keys, key=lambda k: (entry_kind(k[0]), k))


class _Repeat(nn.Module):
    """Add (``x + x``) or concatenate ``n`` copies: the node sum and the cell output of a cell."""

    def __init__(self, kind: str, copies: int):
        super().__init__()
        self.kind, self.copies = kind, copies

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "add":
            return x + x
        return torch.cat([x] * self.copies, dim=1)


class _Head(nn.Sequential):
    def __init__(self, channels: int, classes: int):
        super().__init__(nn.ReLU(inplace=False), nn.AdaptiveAvgPool2d(1), nn.Flatten(1), nn.Linear(channels, classes))


class _Identity(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def entry_module(key: tuple) -> nn.Module:
    """The module whose latency entry ``key`` is (what a CellNet runs for that part)."""
    op, c_in, c_out, _, _, stride = key
    if op == "relu_conv_bn":
        return ReLUConvBN(c_in, c_out, 1, 1, 0)
    if op == "factorized_reduce":
        return FactorizedReduce(c_in, c_out)
    if op in ("add", "concat"):
        return _Repeat(op, c_out // c_in)
    if op == "stem":
        return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out))
    if op == "head":
        return _Head(c_in, c_out)
    return make_op(op, c_in, stride)


def _randomise_bn(module: nn.Module, seed: int) -> nn.Module:
    """Give BN layers non-trivial statistics so no runtime can simplify an op away as a no-op."""
    generator = torch.Generator().manual_seed(seed)
    for layer in module.modules():
        if isinstance(layer, nn.BatchNorm2d):
            layer.running_mean.copy_(torch.randn(layer.num_features, generator=generator) * 0.1)
            layer.running_var.copy_(torch.rand(layer.num_features, generator=generator) + 0.5)
    return module.eval()


def key_name(key: tuple) -> str:
    op, c_in, c_out, h, w, stride = key
    return f"{op}-c{c_in}-o{c_out}-{h}x{w}-s{stride}"


def export_graph(module: nn.Module, path: str | os.PathLike, input_shape: Iterable[int]) -> Path:
    from compactrs.runtime.onnx import export_onnx

    return export_onnx(module, path, tuple(input_shape), dynamic_batch=False)


def emit_entry_graphs(keys: Iterable[tuple], folder: Path, batch: int, progress=None) -> list[dict]:
    """Export one graph per key (and one identity baseline per input shape) into ``folder``.

    Returns the manifest items: ``{"file", "role": "entry"|"baseline", "input_shape", "key", "baseline"}``.
    """
    keys = list(keys)
    items: list[dict] = []
    baselines: dict[tuple, str] = {}
    if progress is not None:
        progress.start("emit", "exporting op graphs", len(keys))
    for index, key in enumerate(keys):
        shape = (batch, key[1], key[3], key[4])
        if shape not in baselines:
            name = f"baseline-{batch}x{shape[1]}x{shape[2]}x{shape[3]}.onnx"
            export_graph(_Identity(), folder / name, shape)
            baselines[shape] = name
            items.append({"file": name, "role": "baseline", "input_shape": list(shape)})
        name = key_name(key) + ".onnx"
        export_graph(_randomise_bn(entry_module(key), index), folder / name, shape)
        items.append({"file": name, "role": "entry", "input_shape": list(shape), "key": list(key),
                      "baseline": baselines[shape]})
        if progress is not None:
            progress.advance("emit")
    if progress is not None:
        progress.finish("emit")
    return items
