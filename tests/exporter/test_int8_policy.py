"""INT8 that never loses: the keep / leave-in-float / fall-back decision on fixed timings, and the real
candidates it builds (onnxruntime QDQ with op groups excluded; NNCF with an ignored scope)."""
import numpy as np
import onnx
import pytest
import torch

from compactrs.exporter.int8_bundle import onnxruntime_int8
from compactrs.exporter.int8_policy import FLOAT_GROUPS, Int8Policy, candidate_groups, choose, judge
from compactrs.runtime.quantize import onnx_node_groups, quantize_int8
from compactrs.models import create_model
from compactrs.runtime import export_onnx

POLICY = Int8Policy(rounds=4, margin=1.05, min_win_fraction=0.75)


def _rounds(fp32, int8):
    return {"fp32_ms": list(fp32), "int8_ms": list(int8)}


def test_int8_wins_only_if_faster_by_the_margin_at_every_batch():
    fast = {1: _rounds([2.0] * 4, [1.0] * 4), 32: _rounds([40, 41, 39, 40], [10, 11, 10, 12])}
    verdict = judge(fast, POLICY)
    assert verdict["wins"] and verdict["per_batch"][1]["speedup"] == 2.0 and verdict["per_batch"][32]["win_fraction"] == 1.0
    slow_at_batch1 = {1: _rounds([1.0] * 4, [1.02] * 4), 32: fast[32]}  # 0.98x at batch 1: INT8 would lose there
    verdict = judge(slow_at_batch1, POLICY)
    assert not verdict["wins"] and verdict["per_batch"][32]["wins"] and "batch 1: 0.98x" in verdict["reason"]
    within_margin = {1: _rounds([1.03] * 4, [1.0] * 4)}  # 3 % faster is inside the noise margin: not a win
    assert not judge(within_margin, POLICY)["wins"]


def test_one_lucky_round_does_not_make_a_win():
    # median speed-up 1.5x, but INT8 was faster in only 2 of 4 paired rounds (a busy spell hit FP32 twice)
    noisy = {1: _rounds([3.0, 3.0, 1.0, 1.0], [1.0, 1.0, 1.1, 1.1])}
    verdict = judge(noisy, POLICY)
    assert verdict["per_batch"][1]["speedup"] == pytest.approx((3.0 + 1 / 1.1) / 2)
    assert verdict["per_batch"][1]["win_fraction"] == 0.5 and not verdict["wins"]


def test_choose_the_fastest_winner_and_fall_back_when_none_wins():
    def candidate(groups, speedups):
        per_batch = {b: {"speedup": s, "fp32_ms": 1.0, "int8_ms": 1 / s} for b, s in zip((1, 32), speedups)}
        return {"float_groups": groups, "judgement": {"wins": min(speedups) >= 1.05, "per_batch": per_batch}}

    full = candidate([], [0.6, 0.9])
    no_depthwise = candidate(["depthwise"], [1.2, 1.6])
    everything_float = candidate(["depthwise", "pooling"], [1.3, 1.3])
    assert choose([full, no_depthwise, everything_float]) is everything_float  # best worst-batch speed-up
    tie = candidate(["depthwise", "pooling"], [1.2, 1.6])
    assert choose([tie, no_depthwise]) is no_depthwise  # on a tie, the one with more ops in INT8
    assert choose([full, candidate(["pooling"], [1.01, 1.4])]) is None  # nothing wins: the bundle keeps FP32


def test_candidates_are_the_groups_the_graph_has():
    assert candidate_groups({"depthwise": ["a"], "dilated": [], "pooling": ["p"], "attention": []}) == [
        ("depthwise",), ("pooling",), ("depthwise", "pooling")]
    assert candidate_groups({"pooling": ["p"]}) == [("pooling",)]
    assert candidate_groups({}) == []


@pytest.fixture(scope="module")
def cell_onnx(tmp_path_factory):
    """A small cell net that uses every op group (depthwise, dilated, pooling, attention)."""
    torch.manual_seed(0)
    genotype = {"normal": [["sep_conv_3x3", 0], ["dil_conv_3x3", 1], ["max_pool_3x3", 0], ["avg_pool_3x3", 1],
                           ["sep_conv_5x5", 2], ["ms_att_3", 0], ["dil_conv_5x5", 3], ["sep_conv_3x3", 1]],
                "reduce": [["max_pool_3x3", 0], ["sep_conv_3x3", 1], ["avg_pool_3x3", 0], ["dil_conv_3x3", 1],
                           ["sep_conv_3x3", 2], ["max_pool_3x3", 0], ["skip_connect", 3], ["sep_conv_3x3", 1]],
                "depths": [1, 1, 1]}
    model = create_model("cellnet", 4, 3, genotype=genotype, init_channels=8).eval()
    return export_onnx(model, tmp_path_factory.mktemp("cell") / "cell.onnx", (1, 4, 16, 16))


def test_onnxruntime_leaves_the_asked_groups_in_float(cell_onnx, tmp_path):
    groups = onnx_node_groups(onnx.load(str(cell_onnx)))
    assert groups["depthwise"] and groups["dilated"] and groups["pooling"] and groups["attention"]
    calib = np.random.default_rng(0).standard_normal((16, 4, 16, 16)).astype(np.float32)
    full = quantize_int8(cell_onnx, tmp_path / "full.onnx", calib)
    partial = quantize_int8(cell_onnx, tmp_path / "partial.onnx", calib, float_groups=("depthwise", "pooling"))
    assert full["left_in_float"] == {} and set(partial["left_in_float"]) == {"depthwise", "pooling"}
    def depthwise_weights_from_int8(path):
        graph = onnx.load(str(path)).graph
        produced_by_dq = {o for n in graph.node if n.op_type == "DequantizeLinear" for o in n.output}
        nodes = [n for n in graph.node if n.name in set(partial["left_in_float"]["depthwise"])]
        assert nodes
        return [n.input[1] in produced_by_dq for n in nodes]

    assert all(depthwise_weights_from_int8(tmp_path / "full.onnx"))  # quantised: weights come dequantised from int8
    assert not any(depthwise_weights_from_int8(tmp_path / "partial.onnx"))  # left in float: float weights


@pytest.mark.parametrize("method", ["entropy", "percentile"])
def test_histogram_calibration_takes_a_sample_count_that_is_no_multiple_of_the_batch(cell_onnx, tmp_path, method):
    # 50 samples in batches of 32 left a batch of 18, and onnxruntime's histogram collectors cannot stack it
    calib = np.random.default_rng(0).standard_normal((50, 4, 16, 16)).astype(np.float32)
    info = quantize_int8(cell_onnx, tmp_path / f"{method}.onnx", calib, method=method)
    assert info["calibration_method"] == method and info["calibration_samples"] == 50
    assert (tmp_path / f"{method}.onnx").stat().st_size > 0


@pytest.mark.slow  # ~50 s on a busy 2-core machine: up to six quantised candidates, each timed
def test_bundle_int8_decision_is_consistent_with_its_timings(cell_onnx, tmp_path):
    """Whatever this (busy) machine measures, a kept INT8 won at every batch; otherwise FP32 is kept, with both timings."""
    stage = tmp_path / "stage"
    stage.mkdir()
    calib = np.random.default_rng(0).standard_normal((16, 4, 16, 16)).astype(np.float32)
    policy = Int8Policy(batches=(1, 8), rounds=2, min_runs=3, min_seconds=0.01, min_win_fraction=0.5)
    decision = onnxruntime_int8(stage, cell_onnx, calib, "minmax", (1, 4, 16, 16), policy)
    tried = [c["float_groups"] for c in decision["candidates"]]
    assert tried[0] == [] and all(c["timings"][1]["fp32_ms"] and c["timings"][8]["int8_ms"] for c in decision["candidates"])
    assert not (stage / ".onnxruntime-int8-candidates").exists()
    if decision["kept"] == "int8":
        assert (stage / "model.int8.onnx").is_file() and decision["file"] == "model.int8.onnx"
        chosen = next(c for c in decision["candidates"] if c["float_groups"] == decision["float_groups"])
        assert chosen["judgement"]["wins"] and set(decision["left_in_float"]) == set(decision["float_groups"])
    else:
        assert not (stage / "model.int8.onnx").exists() and "keeps FP32" in decision["reason"]
        assert len(tried) == 1 + len(candidate_groups(onnx_node_groups(onnx.load(str(cell_onnx)))))
        assert not any(c["judgement"]["wins"] for c in decision["candidates"])
    assert set(FLOAT_GROUPS) >= {g for c in tried for g in c}


@pytest.mark.slow  # ~35 s: two NNCF runs over a cell net's few hundred ops
def test_openvino_ignored_scope_leaves_ops_in_float(cell_onnx, tmp_path):
    pytest.importorskip("openvino")
    from compactrs.runtime.openvino import convert_onnx_to_ir, op_names_by_group, quantize_ir_int8, read_ir

    convert_onnx_to_ir(cell_onnx, tmp_path / "m.xml")
    groups = op_names_by_group(read_ir(tmp_path / "m.xml"))
    assert groups["depthwise"] and groups["dilated"] and groups["pooling"] and groups["attention"]
    calib = np.random.default_rng(0).standard_normal((8, 4, 16, 16)).astype(np.float32)
    full = quantize_ir_int8(tmp_path / "m.xml", tmp_path / "full.xml", calib)
    partial = quantize_ir_int8(tmp_path / "m.xml", tmp_path / "partial.xml", calib, ignored_names=groups["depthwise"] + groups["pooling"])
    assert full["calibration_samples"] == 8 and partial["ignored"] == groups["depthwise"] + groups["pooling"]
    assert 0 < partial["fake_quantize_ops"] < full["fake_quantize_ops"]
