"""The kernels onnxruntime actually runs for a network: its optimised graph, node by node, with configurations.

A *kernel* is one node of the optimised graph (``FusedConv``, NCHWc ``Conv`` with a fused activation and/or
a fused ``Add`` ("sum" input), ``ReorderInput``/``ReorderOutput``, ``Add``, ``Concat``, pooling, ...). Each
is described by a configuration — kernel type, channels in/out, input/output spatial size, kernel size,
stride, groups, dilation, fused activation, MACs, bytes moved — and attributed to the torch module it came
from: the TorchScript exporter names every node after its module path (``/cells.1/edges.0/body/body.1/Conv``)
and onnxruntime keeps the name of the last fused node (``…/Relu_output_0_nchwc``); the layout reorders it
inserts carry no path and are attributed to the node they feed (ReorderInput) or drain (ReorderOutput).
"""
from __future__ import annotations

import contextlib
import os
import re
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np

from compactrs.deploy.nodeprof import profile_nodes

FLOAT_BYTES = 4
#: onnxruntime's NCHWc channel block on AVX-512 (8 on AVX2): channels are padded to a multiple of it.
NCHWC_BLOCK = 16
DOMAINS = {"": "", "ai.onnx": "", "com.microsoft": "ms.", "com.microsoft.nchwc": "nchwc."}
#: convolution kernels (QLinearConv: onnxruntime's INT8 convolution, from a QDQ graph)
CONV_OPS = ("Conv", "FusedConv", "QLinearConv")
#: kernels whose activations are NHWC (onnxruntime's INT8 layout transform): channels are the last axis
NHWC_OPS = ("NhwcMaxPool", "NhwcConv")
#: kernels whose MACs count as a network's MACs
MAC_OPS = (*CONV_OPS, "Gemm", "MatMul", "QGemm", "Convolution", "FullyConnected")


def node_source(name: str) -> str:
    """The torch module path (dotted) a node name carries: ``/cells.1/edges.0/op/Conv_output_0`` → ``cells.1.edges.0.op``."""
    if not name.startswith("/"):
        return ""
    return ".".join(name.strip("/").split("/")[:-1])


def _attributes(node) -> dict:
    import onnx

    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _int_list(value, default: Sequence[int]) -> list[int]:
    return [int(v) for v in value] if value else list(default)


def kernel_type(op: str, domain: str, attrs: dict, c_in: int) -> str:
    """The regressor a kernel belongs to: convolutions split by regime (depthwise, pointwise, spatial)."""
    prefix = DOMAINS.get(domain, domain + ".")
    if op in CONV_OPS:
        groups = int(attrs.get("group", 1))
        kernel = _int_list(attrs.get("kernel_shape"), [1, 1])
        if groups > 1:
            regime = "dw" if groups >= c_in else "group"
        else:
            regime = "1x1" if int(np.prod(kernel)) == 1 else "kxk"
        return f"{prefix}{'qconv' if op == 'QLinearConv' else 'conv'}.{regime}"
    return f"{prefix}{op}".lower()


def _nchw(shape: list[int]) -> list[int]:
    return [shape[0], shape[3], shape[1], shape[2]] if len(shape) == 4 else shape


def _config(op: str, attrs: dict, inputs: list[list[int]], outputs: list[list[int]], n_inputs: int) -> dict:
    x = inputs[0] if inputs else []
    y = outputs[0] if outputs else []
    if op in NHWC_OPS or attrs.get("channels_last"):
        x, y = _nchw(x), _nchw(y)
    c_in, h_in, w_in = (x[1], x[2], x[3]) if len(x) == 4 else ((x[1] if len(x) >= 2 else 1), 1, 1)
    c_out, h_out, w_out = (y[1], y[2], y[3]) if len(y) == 4 else ((y[-1] if y else 1), 1, 1)
    kernel = _int_list(attrs.get("kernel_shape"), [1, 1])
    groups = int(attrs.get("group", 1))
    config = {"c_in": int(c_in), "c_out": int(c_out), "h_in": int(h_in), "w_in": int(w_in), "h_out": int(h_out),
              "w_out": int(w_out), "k_h": kernel[0], "k_w": kernel[-1],
              "stride": _int_list(attrs.get("strides"), [1, 1])[0], "groups": groups,
              "dilation": _int_list(attrs.get("dilations"), [1, 1])[0],
              "act": attrs.get("activation", b"").decode() if isinstance(attrs.get("activation"), bytes) else "",
              "sum": int(op == "Conv" and n_inputs >= 4)}
    out_elems = int(np.prod(y)) if y else 1
    if op in CONV_OPS:
        macs = out_elems * (c_in // max(groups, 1)) * kernel[0] * kernel[-1]
    elif op in ("Gemm", "MatMul", "QGemm") and len(x) >= 2:
        macs = out_elems * x[-1]
    elif op in ("MaxPool", "AveragePool", "NhwcMaxPool"):
        macs = out_elems * kernel[0] * kernel[-1]
    else:
        macs = max(out_elems, sum(int(np.prod(s)) for s in inputs[:1]))
    config["macs"] = int(macs)
    config["bytes"] = FLOAT_BYTES * int(sum(np.prod(s) for s in inputs) + sum(np.prod(s) for s in outputs))
    return config


def read_kernels(optimized_model, timings: dict, original_model=None) -> list[dict]:
    """The kernels of an optimised graph in execution order, with configuration, source module and timing.

    Args:
        optimized_model: an ``onnx.ModelProto`` or path of the graph onnxruntime saved.
        timings: ``profile_nodes(...)`` of the same session (shapes and trimmed-mean µs per node).
        original_model: the graph before optimisation (ModelProto or path): a fused node named after a
            tensor (e.g. the graph output ``logits_nchwc``) takes the path of that tensor's original producer.

    Returns:
        per kernel ``{"name", "op", "type", "source", <configuration>, "us"}``.
    """
    import onnx

    model = _load(optimized_model)
    original, original_nodes = {}, {}
    if original_model is not None:
        original_nodes = {out: node for node in _load(original_model).graph.node for out in node.output}
        original = {out: node.name for out, node in original_nodes.items()}
    graph_nodes = {node.name: node for node in model.graph.node}
    producer = {out: node for node in model.graph.node for out in node.output}
    consumers: dict[str, list] = {}
    for node in model.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    kernels = []
    for name in timings["order"]:
        stats = timings["nodes"][name]
        node = graph_nodes.get(name)
        op = node.op_type if node is not None else stats["op"]
        domain = node.domain if node is not None else ""
        attrs = _attributes(node) if node is not None else {}
        config = _config(op, attrs, stats["inputs"], stats["outputs"], len(node.input) if node is not None else 0)
        source = _anchor_source(node, original_nodes) if op in ("Conv", "FusedConv") else None
        if source is None:
            source = _source(node, name, producer, consumers, original)
        kernels.append({"name": name, "op": op, "type": kernel_type(op, domain, attrs, config["c_in"]),
                        "source": source, **config, "us": stats["us"]})
    return kernels


def _load(model):
    import onnx

    return onnx.load(str(model)) if isinstance(model, (str, os.PathLike)) else model


#: original nodes onnxruntime folds into a preceding convolution (BN, activations, a node sum).
FUSABLE = ("BatchNormalization", "Relu", "Sigmoid", "Clip", "LeakyRelu", "HardSigmoid", "Tanh", "Add", "Sum")


def _strip(tensor: str) -> str:
    return re.sub(r"(_bn)?_nchwc$", "", tensor)


def _anchor_source(node, original_nodes: dict) -> str | None:
    """The module path of the convolution a fused kernel is built around (None if it cannot be traced).

    onnxruntime names a fused kernel after its *last* node (``…/Relu_output_0_nchwc``), which may belong to
    the next op (a preprocessing conv fuses the ReLU that starts the edge reading it). Walking back from
    that node through the folded ones (BN, activations, the summed ``Add``) to the convolution gives the
    kernel to the module whose work it mostly is, whatever its neighbours.
    """
    if node is None or not original_nodes:
        return None
    own_inputs = {_strip(name) for name in node.input}
    current = None
    for tensor in [node.name, *node.output]:
        current = original_nodes.get(_strip(tensor))
        if current is not None:
            break
    last_fusable = None
    while current is not None and current.op_type in FUSABLE:
        last_fusable = current
        inputs = [i for i in current.input if i in original_nodes]
        if current.op_type in ("Add", "Sum"):
            # follow the addend computed by the convolution, not the one fed to the kernel as its sum input
            inputs = [i for i in inputs if i not in own_inputs] or inputs
        current = original_nodes.get(inputs[0]) if inputs else None
    anchor = current if current is not None and current.op_type in ("Conv", "ConvTranspose") else last_fusable
    return node_source(anchor.name) or None if anchor is not None else None


def _own_source(node, name: str, original: dict) -> str:
    source = node_source(name) or _parameter_source(name)
    if source or node is None:
        return source
    for tensor in [name, *node.output]:
        base = re.sub(r"(_bn)?_nchwc$", "", tensor)
        if node_source(original.get(base, "")):
            return node_source(original[base])
    return ""


def _parameter_source(name: str) -> str:
    """Module path of a node named after a parameter (the QDQ ``DequantizeLinear`` of a weight that onnxruntime
    runs every inference: ``cells.0.edges.1.bn.weight_DequantizeLinear`` → ``cells.0.edges.1.bn``)."""
    match = re.match(r"^([A-Za-z_][\w.]*)\.(weight|bias)\w*_(De)?[Qq]uantizeLinear", name)
    return match.group(1) if match else ""


def _source(node, name: str, producer: dict, consumers: dict, original: dict) -> str:
    """Module path of a node; layout reorders (no path) take the path of the node they serve."""
    source = _own_source(node, name, original)
    if source or node is None or node.op_type not in ("ReorderInput", "ReorderOutput"):
        return source
    neighbours = []
    if node.op_type == "ReorderOutput":
        neighbours = [producer[i] for i in node.input[:1] if i in producer]
    neighbours += [c for out in node.output for c in consumers.get(out, [])]
    neighbours += [producer[i] for i in node.input[:1] if i in producer]
    for other in neighbours:
        if other.op_type not in ("ReorderInput", "ReorderOutput") and _own_source(other, other.name, original):
            return _own_source(other, other.name, original)
    return ""


def graph_kernels(path: str | os.PathLike, input_shape: Sequence[int], threads: int = 1, warmup: int = 5,
                  runs: int = 20, seed: int = 0) -> list[dict]:
    """Optimise and profile an .onnx file in onnxruntime; its kernels (see ``read_kernels``)."""
    x = np.random.default_rng(seed).standard_normal(tuple(input_shape)).astype(np.float32)
    with tempfile.TemporaryDirectory(prefix="compactrs-kernels-") as tmp:
        optimized = Path(tmp) / "optimized.onnx"
        timings = profile_nodes(path, x, threads, warmup, runs, optimized)
        return read_kernels(optimized, timings, path)


def network_kernels(model, input_shape: Sequence[int], threads: int = 1, warmup: int = 5, runs: int = 20,
                    seed: int = 0) -> list[dict]:
    """Export a torch module (eval mode, static batch) to ONNX and return the kernels onnxruntime runs for it.

    With ``runs=1`` this is a cheap way to see the kernels and their configurations (the timings are then
    single samples); profiling uses more runs.
    """
    from compactrs.runtime import export_onnx

    with tempfile.TemporaryDirectory(prefix="compactrs-kernels-") as tmp:
        with _one_torch_thread():
            path = export_onnx(model, Path(tmp) / "model.onnx", tuple(input_shape), dynamic_batch=False)
        return graph_kernels(path, input_shape, threads, warmup, runs, seed)


@contextlib.contextmanager
def _one_torch_thread():
    """Trace on one torch thread: the export of a small network runs many tiny convolutions, which a second
    intra-op thread only slows (on a busy 2-core machine it halves the export's time, same graph)."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
