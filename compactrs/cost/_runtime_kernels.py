"""The kernels a runtime *and precision* actually run for a graph: onnxruntime or OpenVINO, FP32 or INT8.

A kernel-level profile records the runtime and precision it measured (``runtime.name``, ``precision``), and
every prediction made from it enumerates a network's kernels *the same way*: the float ONNX graph is turned
into what that runtime runs (INT8: quantised first), compiled by that runtime, and its executed nodes are
read back. Each runtime fuses differently — onnxruntime folds BN/activations/``Add`` into NCHWc
``FusedConv`` kernels with ``ReorderInput``/``ReorderOutput`` layout nodes, and in INT8 (QDQ) runs NHWC
``QLinearConv``/``QLinearAdd`` with ``Transpose``/``QuantizeLinear``/``DequantizeLinear`` between them;
OpenVINO's CPU plugin fuses into ``Convolution``/``Subgraph``/``Eltwise`` nodes with ``Reorder`` nodes and, in
INT8, ``FakeQuantize`` folded into convolutions — so a prediction for OpenVINO never uses onnxruntime's
fused graph: the regressors of an OpenVINO profile were fitted on OpenVINO's kernel types, and the kernels
they price must be OpenVINO's. The same holds for INT8 against FP32. This costs one compile (and, for INT8,
one quantisation) per priced graph; profiles cache the pieces the search asks for.

OpenVINO's executed graph (``compiled.get_runtime_model()``, compiled with ``PERF_COUNT``) names each node's
``layerType``, ``originalLayersNames`` (the IR layers fused into it, named after the ONNX nodes, which carry
the torch module path) and its input/output shapes; per-node times come from ``request.profiling_info`` over
many runs (trimmed mean, as for onnxruntime). Kernel configurations are read from those shapes and from the
original IR layer's attributes (stride, dilation), in the fields ``compactrs.cost.kernels`` uses, so the
same regressors (``_kernel_model``) fit them.

INT8 calibration here is random N(0, 1) input batches of the graph's own shape: acceptable for *timing*
(the kernels and their configurations do not depend on the scales) but not for accuracy; the profile's
metadata says so.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np

from compactrs.cost.kernels import FLOAT_BYTES, node_source
from compactrs.deploy.nodeprof import trimmed_mean
from compactrs.errors import ConfigError, require

RUNTIMES = ("onnxruntime", "openvino")
PRECISIONS = ("fp32", "int8")
#: random calibration batches per INT8 graph (of the graph's own static batch)
CALIBRATION_BATCHES = 4
CALIBRATION_NOTE = ("INT8 calibration used random N(0,1) inputs of each graph's shape: valid for timing the "
                    "quantised kernels, not for accuracy")
OPENVINO_HINT = "pip install 'compactrs[openvino]'"


def check_runtime(runtime: str, precision: str) -> None:
    """ConfigError for a runtime/precision this machine cannot profile in process; MissingDependency when the
    runtime (or NNCF, for OpenVINO INT8) is not installed."""
    if runtime not in RUNTIMES:
        raise ConfigError(f"kernel-level profiles run in process in {' or '.join(RUNTIMES)}; --runtime {runtime} is "
                          f"not one of them (TensorRT: 'compactrs profile --method ops --emit DIR' on the device)")
    if precision not in PRECISIONS:
        raise ConfigError(f"--precision {precision} is not valid; valid: {', '.join(PRECISIONS)}")
    if runtime == "openvino":
        require("openvino", "an OpenVINO latency profile (--runtime openvino)", OPENVINO_HINT)
        if precision == "int8":
            require("nncf", "an OpenVINO INT8 latency profile (--runtime openvino --precision int8)", OPENVINO_HINT)


def calibration_batches(input_shape: Sequence[int], seed: int = 0) -> np.ndarray:
    """``CALIBRATION_BATCHES`` random N(0,1) batches of ``input_shape``, stacked along the batch axis."""
    shape = (CALIBRATION_BATCHES * int(input_shape[0]), *[int(d) for d in input_shape[1:]])
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def runtime_graph(onnx_path: str | os.PathLike, input_shape: Sequence[int], runtime: str, precision: str,
                  out_dir: str | os.PathLike) -> Path:
    """The file ``runtime`` runs for a float ONNX graph: the graph itself (FP32), or its INT8 version written
    into ``out_dir`` (onnxruntime: static QDQ ``.int8.onnx``; OpenVINO: IR + NNCF ``quantize``, ``.int8.xml``)."""
    onnx_path, out_dir = Path(onnx_path), Path(out_dir)
    if precision == "fp32":
        return onnx_path
    samples = calibration_batches(input_shape)
    batch = int(input_shape[0])  # the graphs have a static batch: calibrate in batches of it
    if runtime == "onnxruntime":
        from compactrs.runtime.quantize import quantize_int8

        out = out_dir / f"{onnx_path.stem}.int8.onnx"
        quantize_int8(onnx_path, out, samples, batch=batch)
        return out
    from compactrs.runtime.openvino import convert_onnx_to_ir, quantize_ir_int8, remove_ir

    out = out_dir / f"{onnx_path.stem}.int8.xml"
    with tempfile.TemporaryDirectory(prefix="compactrs-ovq-", dir=out_dir) as tmp:
        fp32 = Path(tmp) / f"{onnx_path.stem}.xml"
        convert_onnx_to_ir(onnx_path, fp32)
        quantize_ir_int8(fp32, out, samples, batch=batch)
        remove_ir(fp32)
    return out


def profile_graph(run_path: str | os.PathLike, original: str | os.PathLike, input_shape: Sequence[int], runtime: str,
                  precision: str, threads: int, warmup: int = 5, runs: int = 20, work_dir=None) -> list[dict]:
    """Profile the graph a runtime runs (``run_path``, from ``runtime_graph``) on a seeded N(0,1) input.

    Returns the kernels in execution order, ``{"name", "op", "type", "source", <configuration>, "us"}``.
    """
    x = np.random.default_rng(0).standard_normal(tuple(input_shape)).astype(np.float32)
    if runtime == "openvino":
        return openvino_kernels(run_path, x, threads, precision, warmup, runs)
    from compactrs.cost.kernels import read_kernels
    from compactrs.deploy.nodeprof import profile_nodes

    with tempfile.TemporaryDirectory(prefix="compactrs-kernels-", dir=work_dir) as tmp:
        optimized = Path(tmp) / "optimized.onnx"
        timings = profile_nodes(run_path, x, threads, warmup, runs, optimized)
        return read_kernels(optimized, timings, run_path)


def graph_kernels(onnx_path: str | os.PathLike, input_shape: Sequence[int], runtime: str, precision: str,
                  threads: int = 1, warmup: int = 5, runs: int = 20) -> list[dict]:
    """Kernels ``runtime`` runs in ``precision`` for a float ONNX graph (quantised first for INT8)."""
    with tempfile.TemporaryDirectory(prefix="compactrs-rkernels-") as tmp:
        run_path = runtime_graph(onnx_path, input_shape, runtime, precision, tmp)
        return profile_graph(run_path, onnx_path, input_shape, runtime, precision, threads, warmup, runs, tmp)


# -- OpenVINO ------------------------------------------------------------------------------------------
def openvino_kernels(model_path: str | os.PathLike, x: np.ndarray, threads: int, precision: str = "fp32",
                     warmup: int = 5, runs: int = 20) -> list[dict]:
    """Executed nodes of OpenVINO's compiled graph with configurations, module paths and trimmed-mean µs.

    Compiled as ``compactrs.deploy.openvino_runner.OpenVinoRunner`` runs it (precision hint pinned, latency
    hint, ``threads``) plus ``PERF_COUNT``.
    """
    from compactrs.deploy.openvino_runner import compile_config

    ov = require("openvino", "an OpenVINO latency profile", OPENVINO_HINT)
    core = ov.Core()
    model = core.read_model(str(model_path))
    compiled = core.compile_model(model, "CPU", {**compile_config(precision, threads, "LATENCY"), "PERF_COUNT": True})
    request = compiled.create_infer_request()
    feed = {0: np.ascontiguousarray(x, dtype=np.float32)}
    for _ in range(warmup):
        request.infer(feed)
    samples: dict[str, list[float]] = {}
    for _ in range(runs):
        request.infer(feed)
        for info in request.profiling_info:
            if info.status == info.Status.EXECUTED:
                samples.setdefault(info.node_name, []).append(info.real_time.total_seconds() * 1e6)
    originals = {op.get_friendly_name(): op for op in model.get_ordered_ops()}
    runtime_model = compiled.get_runtime_model()  # kept alive: it owns the Result nodes the reorders feed
    executed = [op for op in runtime_model.get_ordered_ops() if op.get_friendly_name() in samples]
    own = {op.get_friendly_name(): _ov_own_source(op) for op in executed}
    kernels = []
    for op in executed:
        name = op.get_friendly_name()
        layer = _rt(op, "layerType")
        fused = [n for n in _rt(op, "originalLayersNames").split(",") if n]
        config = _ov_config(op, layer, [originals[n] for n in fused if n in originals])
        source = own[name] or (_ov_neighbour_source(op, own) if layer == "Reorder" else "")
        kernels.append({"name": name, "op": _ov_op(op, layer), "type": _ov_type(layer, config), "source": source,
                        **config, "us": trimmed_mean(samples[name])})
    return kernels


def _rt(op, key: str) -> str:
    info = op.get_rt_info()
    return info[key].astype(str) if key in info else ""


def _static(shape) -> list[int]:
    return [int(d.get_length()) if d.is_static else 1 for d in shape]


def _ov_type(layer: str, config: dict) -> str:
    """Regressor of an OpenVINO kernel: convolutions split by regime like onnxruntime's (``ov.conv.dw`` ...)."""
    if layer == "Convolution":
        if config["groups"] > 1:
            regime = "dw" if config["groups"] >= config["c_in"] else "group"
        else:
            regime = "1x1" if config["k_h"] * config["k_w"] == 1 else "kxk"
        return f"ov.conv.{regime}"
    return f"ov.{layer.lower()}"


def _ov_op(op, layer: str) -> str:
    """``layerType``; a Reorder feeding the graph's output is ``ReorderOutput`` (a network does not run the one of
    a graph cut after its stem)."""
    if layer == "Reorder":
        consumers = [t.get_node() for out in op.outputs() for t in out.get_target_inputs()]
        if consumers and all(_rt(c, "layerType") == "Output" or c.get_type_name() == "Result" for c in consumers):
            return "ReorderOutput"
    return layer


def _ov_config(op, layer: str, originals: list) -> dict:
    inputs = [_static(op.input_value(i).get_partial_shape()) for i in range(op.get_input_size())]
    outputs = [_static(op.output(i).get_partial_shape()) for i in range(op.get_output_size())]
    x = inputs[0] if inputs else []
    y = outputs[0] if outputs else []
    c_in, h_in, w_in = (x[1], x[2], x[3]) if len(x) == 4 else ((x[-1] if x else 1), 1, 1)
    c_out, h_out, w_out = (y[1], y[2], y[3]) if len(y) == 4 else ((y[-1] if y else 1), 1, 1)
    kernel, groups, stride, dilation = [1, 1], 1, 1, 1
    conv = next((o for o in originals if o.get_type_name() in ("Convolution", "GroupConvolution")), None)
    pool = next((o for o in originals if o.get_type_name() in ("MaxPool", "AvgPool")), None)
    if layer == "Convolution" and len(inputs) > 1:
        weights = inputs[1]  # [out, in, kh, kw] or grouped [groups, out/g, in/g, kh, kw]
        groups = weights[0] if len(weights) == 5 else 1
        kernel = weights[-2:]
    if conv is not None or pool is not None:
        attrs = (conv or pool).get_attributes()
        stride = int(list(attrs.get("strides", [1]))[0])
        dilation = int(list(attrs.get("dilations", [1]))[0] or 1)
        if pool is not None and conv is None:
            kernel = [int(k) for k in attrs.get("kernel", [1, 1])]
    kinds = {o.get_type_name() for o in originals}
    out_elems = int(np.prod(y)) if y else 1
    if layer == "Convolution":
        macs = out_elems * (c_in // max(groups, 1)) * kernel[0] * kernel[-1]
    elif layer in ("FullyConnected", "MatMul") and x:
        macs = out_elems * x[-1]
    elif layer == "Pooling":
        macs = out_elems * kernel[0] * kernel[-1]
    else:
        macs = max(out_elems, int(np.prod(x)) if x else 0)
    activations = kinds & {"Relu", "Clamp", "Sigmoid", "Swish", "HSwish", "HSigmoid", "Tanh", "PRelu", "Elu", "Gelu"}
    return {"c_in": int(c_in), "c_out": int(c_out), "h_in": int(h_in), "w_in": int(w_in), "h_out": int(h_out),
            "w_out": int(w_out), "k_h": int(kernel[0]), "k_w": int(kernel[-1]), "stride": stride, "groups": int(groups),
            "dilation": dilation, "act": sorted(activations)[0] if activations else "",
            "sum": int(layer == "Convolution" and any(_adds_activations(o) for o in originals)), "macs": int(macs),
            "bytes": FLOAT_BYTES * int(sum(np.prod(s) for s in inputs[:1]) + sum(np.prod(s) for s in outputs))}


def _adds_activations(op) -> bool:
    """An ``Add`` of two computed tensors (a node sum fused into a convolution), not a bias or BN shift."""
    if op.get_type_name() != "Add":
        return False
    return not any(_is_constant(op.input_value(i).get_node()) for i in range(op.get_input_size()))


def _is_constant(node) -> bool:
    while node.get_type_name() in ("Convert", "Reshape", "Unsqueeze", "FakeQuantize", "Multiply"):
        node = node.input_value(0).get_node()
    return node.get_type_name() == "Constant"


def _ov_own_source(op) -> str:
    """Module path of an executed node: its own name's, else that of the first fused layer carrying one."""
    source = node_source(op.get_friendly_name())
    if source:
        return source
    for name in _rt(op, "originalLayersNames").split(","):
        if node_source(name):
            return node_source(name)
    return ""


def _ov_neighbour_source(op, own: dict) -> str:
    """Layout reorders (no layer of their own) take the path of the node they feed, else of their producer."""
    consumers = [t.get_node() for out in op.outputs() for t in out.get_target_inputs()]
    producers = [op.input_value(i).get_node() for i in range(op.get_input_size())]
    for other in consumers + producers:
        source = own.get(other.get_friendly_name()) or _ov_own_source(other)
        if source:
            return source
    return ""
