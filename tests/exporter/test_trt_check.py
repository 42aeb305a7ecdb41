"""The static TensorRT graph check flags what TensorRT's ONNX parser rejects, and passes clean exports."""
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from compactrs.exporter.trt_check import check_tensorrt_compat


def _unsupported_graph(opset=17):
    x = helper.make_tensor_value_info("x", TensorProto.INT64, ["batch", 3, "height", 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    nodes = [
        helper.make_node("Cast", ["x"], ["xf"], to=TensorProto.FLOAT, name="cast"),
        helper.make_node("MaxPool", ["xf"], ["p"], kernel_shape=[2, 2], dilations=[2, 2], name="dilated_pool"),
        helper.make_node("Unique", ["p"], ["u"], name="unique"),
        helper.make_node("FancyOp", ["u"], ["v"], domain="com.example", name="custom"),
        helper.make_node("QuantizeLinear", ["v", "scale", "zp"], ["q"], name="quant"),
        helper.make_node("DequantizeLinear", ["q", "scale", "zp"], ["y"], name="dequant"),
    ]
    inits = [numpy_helper.from_array(np.array(0.1, np.float32), "scale"), numpy_helper.from_array(np.array(128, np.uint8), "zp")]
    graph = helper.make_graph(nodes, "bad", [x], [y], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset), helper.make_opsetid("com.example", 1)])


def test_hand_made_unsupported_graph_is_flagged_point_by_point():
    report = check_tensorrt_compat(_unsupported_graph())
    assert not report["passed"]
    messages = [(i["where"], i["message"]) for i in report["issues"] if i["severity"] == "error"]
    text = " | ".join(f"{w}: {m}" for w, m in messages)
    assert "INT64" in text and "dimension 2 is dynamic ('height')" in text
    assert "'dilated_pool'" in text and "dilations" in text
    assert "'unique'" in text and "Unique is not supported" in text
    assert "'custom'" in text and "plugin" in text
    assert "'quant'" in text and "zero point" in text and "'dequant'" in text
    assert "dimension 0" not in text  # the batch axis may be dynamic
    assert report["errors"] == len(messages) == 7


@pytest.mark.parametrize("opset,severity", [(8, "error"), (22, "warning"), (25, "error")])
def test_opset_range(opset, severity):
    report = check_tensorrt_compat(_unsupported_graph(opset))
    issue = next(i for i in report["issues"] if i["where"] == "model")
    assert issue["severity"] == severity and str(opset) in issue["message"]


def test_clean_graph_passes(tmp_path):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3, 4, 4])
    model = helper.make_model(helper.make_graph([helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[2, 2], strides=[2, 2])], "ok", [x], [y]),
                              opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, tmp_path / "ok.onnx")
    report = check_tensorrt_compat(tmp_path / "ok.onnx")
    assert report["passed"] and report["issues"] == [] and report["opset"] == 17
