"""Static check of an ONNX graph against what TensorRT 10's ONNX parser accepts (no TensorRT needed).

Engines are built on the device, so a graph TensorRT cannot parse would only fail there, far from the
developer. This check reads the graph and reports every known incompatibility up front: operators outside
the parser's support matrix, custom-domain operators, graph inputs that are not float32, dynamic dimensions
other than the batch axis, an opset outside the parser's range, and attribute values the parser rejects.
The tables follow onnx-tensorrt's docs/operators.md for TensorRT 10.x.
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass

import numpy as np

#: opsets TensorRT 10.0 parses; releases up to 10.15 extend the upper end to 24.
OPSET_RANGE = (9, 20)
OPSET_MAX_LATEST = 24

#: ONNX (default-domain) operators TensorRT 10.x's parser supports.
SUPPORTED_OPS = frozenset("""
Abs Acos Acosh Add And ArgMax ArgMin Asin Asinh Atan Atanh Attention AveragePool BatchNormalization
BlackmanWindow Cast CastLike Ceil Celu Clip Concat Constant ConstantOfShape Conv ConvTranspose Cos Cosh CumSum
DeformConv DepthToSpace DequantizeLinear Div Dropout Einsum Elu Equal Erf Exp Expand EyeLike Flatten Floor
Gather GatherElements GatherND Gelu Gemm GlobalAveragePool GlobalLpPool GlobalMaxPool Greater GreaterOrEqual
GridSample GroupNormalization GRU HammingWindow HannWindow HardSigmoid HardSwish Hardmax Identity If
ImageScaler InstanceNormalization IsInf IsNaN LayerNormalization LeakyRelu Less LessOrEqual Log LogSoftmax
Loop LRN LSTM LpNormalization LpPool MatMul Max MaxPool Mean MeanVarianceNormalization Min Mish Mod Mul Neg
NonMaxSuppression NonZero Not OneHot Or Pad ParametricSoftplus Pow PRelu QuantizeLinear RandomNormal
RandomNormalLike RandomUniform RandomUniformLike Range Reciprocal ReduceL1 ReduceL2 ReduceLogSum
ReduceLogSumExp ReduceMax ReduceMean ReduceMin ReduceProd ReduceSum ReduceSumSquare Relu Reshape Resize
ReverseSequence RMSNormalization RNN RoiAlign RotaryEmbedding Round STFT ScaledTanh Scan Scatter
ScatterElements ScatterND Selu Shape Shrink Sigmoid Sign Sin Sinh Size Slice Softmax Softplus Softsign
SpaceToDepth Split Sqrt Squeeze Sub Sum Tan Tanh ThresholdedRelu Tile TopK Transpose Trilu Unsqueeze
Upsample Where Xor
""".split())

_POOLS = ("AveragePool", "MaxPool", "LpPool")
_RESIZE_MODES = {"nearest", "linear"}
_RESIZE_COORDINATES = {"half_pixel", "pytorch_half_pixel", "tf_half_pixel_for_nn", "asymmetric", "align_corners"}


@dataclass(frozen=True)
class Issue:
    severity: str  # "error": TensorRT 10.x will reject it; "warning": needs a newer 10.x release or may be slow
    where: str
    message: str


def _attrs(node) -> dict:
    import onnx

    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _text(value):
    return value.decode() if isinstance(value, bytes) else value


def _node_issues(node, initializers: dict) -> list[Issue]:
    where = f"node '{node.name or node.output[0]}' ({node.op_type})"
    if node.domain not in ("", "ai.onnx"):
        return [Issue("error", where, f"custom-domain operator '{node.domain}::{node.op_type}' needs a TensorRT plugin")]
    if node.op_type not in SUPPORTED_OPS:
        return [Issue("error", where, f"operator {node.op_type} is not supported by TensorRT's ONNX parser")]
    attrs, issues = _attrs(node), []
    if node.op_type in _POOLS:
        if any(d != 1 for d in attrs.get("dilations", [])):
            issues.append(Issue("error", where, f"pooling dilations {list(attrs['dilations'])} are not supported (must be all ones)"))
        if len(attrs.get("kernel_shape", [0, 0])) not in (2, 3):
            issues.append(Issue("error", where, "only 2D or 3D pooling is supported"))
        if node.op_type == "MaxPool" and len([o for o in node.output if o]) > 1:
            issues.append(Issue("error", where, "the MaxPool Indices output is not supported"))
    elif node.op_type in ("QuantizeLinear", "DequantizeLinear") and len(node.input) > 2 and node.input[2] in initializers:
        zero_point = initializers[node.input[2]]
        if np.any(zero_point != 0) or zero_point.dtype == np.uint8:
            issues.append(Issue("error", where, f"zero point must be 0 with int8 type (TensorRT quantisation is symmetric), "
                                                f"got {zero_point.dtype} {zero_point.ravel()[:4].tolist()}"))
    elif node.op_type == "Resize":
        if _text(attrs.get("mode", b"nearest")) not in _RESIZE_MODES:
            issues.append(Issue("error", where, f"Resize mode '{_text(attrs['mode'])}' is not supported (nearest, linear)"))
        if _text(attrs.get("coordinate_transformation_mode", b"half_pixel")) not in _RESIZE_COORDINATES:
            issues.append(Issue("error", where, f"Resize coordinate mode '{_text(attrs['coordinate_transformation_mode'])}' is not supported"))
        if attrs.get("antialias", 0):
            issues.append(Issue("error", where, "antialiased Resize is not supported"))
        if _text(attrs.get("keep_aspect_ratio_policy", b"stretch")) != "stretch":
            issues.append(Issue("error", where, "Resize keep_aspect_ratio_policy must be 'stretch'"))
    elif node.op_type == "ScatterND" and _text(attrs.get("reduction", b"none")) != "none":
        issues.append(Issue("error", where, "ScatterND with a reduction is not supported"))
    elif node.op_type == "TopK" and attrs.get("sorted", 1) == 0:
        issues.append(Issue("error", where, "TopK must be sorted"))
    elif node.op_type == "LSTM" and (attrs.get("layout", 0) or attrs.get("input_forget", 0)):
        issues.append(Issue("error", where, "LSTM layout and input_forget must be 0"))
    elif node.op_type == "Constant" and any(k in attrs for k in ("sparse_value", "value_string", "value_strings")):
        issues.append(Issue("error", where, "sparse or string Constant values are not supported"))
    return issues


def _input_issues(graph, initializer_names: set) -> list[Issue]:
    import onnx

    issues = []
    for value in graph.input:
        if value.name in initializer_names:
            continue
        tensor = value.type.tensor_type
        where = f"input '{value.name}'"
        if tensor.elem_type != onnx.TensorProto.FLOAT:
            issues.append(Issue("error", where, f"graph input is {onnx.TensorProto.DataType.Name(tensor.elem_type)}; the engine contract is float32"))
        for axis, dim in enumerate(tensor.shape.dim):
            dynamic = bool(dim.dim_param) or not dim.HasField("dim_value")
            if axis > 0 and dynamic:
                issues.append(Issue("error", where, f"dimension {axis} is dynamic ('{dim.dim_param or '?'}'); only the batch axis may vary"))
    return issues


def check_tensorrt_compat(model_or_path) -> dict:
    """Report what TensorRT 10's ONNX parser would reject in a graph (an .onnx path or a ModelProto).

    Returns:
        ``{"passed", "opset", "errors", "warnings", "issues": [{"severity", "where", "message"}], "checked_against"}``;
        ``passed`` is False when any issue is an error.
    """
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(model_or_path), load_external_data=False) if isinstance(model_or_path, (str, os.PathLike)) else model_or_path
    graph = model.graph
    initializers = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    for node in graph.node:  # Constant nodes feed zero points too
        if node.op_type == "Constant" and "value" in _attrs(node):
            initializers[node.output[0]] = numpy_helper.to_array(_attrs(node)["value"])
    issues: list[Issue] = []
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    low, high = OPSET_RANGE
    if opset is None or opset < low or opset > OPSET_MAX_LATEST:
        issues.append(Issue("error", "model", f"opset {opset} is outside the {low}..{OPSET_MAX_LATEST} range TensorRT 10.x parses; re-export with opset 17"))
    elif opset > high:
        issues.append(Issue("warning", "model", f"opset {opset} needs a TensorRT 10.x release newer than 10.0 (10.0 parses {low}..{high})"))
    issues += _input_issues(graph, set(initializers))
    for node in graph.node:
        issues += _node_issues(node, initializers)
    for name, array in initializers.items():
        if array.dtype == np.float64:
            issues.append(Issue("warning", f"initializer '{name}'", "float64 weights are cast down to float32 by TensorRT"))
    errors = sum(i.severity == "error" for i in issues)
    return {"passed": errors == 0, "opset": opset, "errors": errors, "warnings": len(issues) - errors,
            "issues": [asdict(i) for i in issues], "checked_against": "TensorRT 10.x ONNX parser support matrix (onnx-tensorrt docs/operators.md)"}
