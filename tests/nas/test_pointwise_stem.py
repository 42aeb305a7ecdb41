"""The pointwise stem: a 1x1 band mix before the cells — counted, exported, priced by its kernels, searched."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from compactrs.cli import main
from compactrs.cost.flops import count_macs
from compactrs.cost.kernel_latency import KernelProfile
from compactrs.errors import ConfigError
from compactrs.models import build_model, create_model
from compactrs.nas.costs import LatencyCost
from compactrs.nn.geometry import validate_stem

SHIPPED = Path(__file__).resolve().parents[2] / "profiles" / "amd-epyc-2c-onnxruntime-fp32-t1.json"
GENOTYPE = {"normal": [["conv_3x3", 0], ["skip_connect", 1]] * 2, "reduce": [["max_pool_3x3", 0], ["conv_3x3", 1]] * 2,
            "depths": [2], "concat": [2, 3], "stem": {"kind": "pointwise", "stride": 1}}


def test_a_pointwise_stem_mixes_bands_per_pixel_for_a_ninth_of_the_conv_stems_macs(tmp_path, one_thread):
    from compactrs.exporter.validate import comparators_for, compare_runners, raise_if_failed, validation_inputs
    from compactrs.runtime import OnnxRuntimeRunner, TorchRunner, export_onnx

    torch.manual_seed(0)
    shape = (1, 200, 9, 9)
    model = create_model("cellnet", 200, 16, genotype=GENOTYPE, init_channels=16)
    conv = create_model("cellnet", 200, 16, genotype={**GENOTYPE, "stem": {"kind": "conv", "stride": 1}}, init_channels=16)
    assert count_macs(conv, shape) - count_macs(model, shape) == 81 * 16 * 200 * (9 - 1)
    # per pixel: changing one pixel's spectrum changes the stem's output at that pixel only
    x = torch.randn(2, 200, 9, 9)
    moved = x.clone()
    moved[:, :, 4, 4] += 1.0
    model.stem.eval()
    delta = (model.stem(moved) - model.stem(x)).abs().sum(dim=(0, 1))
    assert delta[4, 4] > 0 and int((delta > 0).sum()) == 1
    model.eval()
    path = export_onnx(model, tmp_path / "cellnet.onnx", shape)
    inputs = validation_inputs(None, shape, n_real=0, n_random=4, seed=1)
    report = compare_runners(TorchRunner(model, shape), OnnxRuntimeRunner(path, 1), inputs, comparators_for("fp32"), batch=3)
    raise_if_failed(report, "cellnet (pointwise stem)")
    with pytest.raises(ConfigError, match="'pointwise' stem has stride 1, got 2"):
        validate_stem({"kind": "pointwise", "stride": 2})


def test_a_kernel_profile_prices_an_unsampled_stem_only_inside_its_kernels_region():
    profile = KernelProfile.load(SHIPPED)
    assert "pointwise" not in profile.stem_kinds  # measured before the kind existed
    # its 1x1 conv is the cells' preprocessing kernel with more inputs: sampled at these channels and sides
    profile.check_stem("pointwise", 200, 9, 16)
    cost = LatencyCost(profile, nodes=2, blocks=1)
    pointwise = cost.fixed(200, 9, 16, 32, 16, {"kind": "pointwise", "stride": 1})
    conv = cost.fixed(200, 9, 16, 32, 16, {"kind": "conv", "stride": 1})
    assert 0 < pointwise < conv
    genotype = {**GENOTYPE, "depths": [1]}
    assert profile.predict_genotype(genotype, 200, 9, 16, init_channels=16) > pointwise
    # a width beyond every sampled 1x1 conv is refused in one line naming the kernel, the field and the range
    with pytest.raises(ConfigError, match=r"'pointwise' stem \(nchwc\.conv\.1x1 kernel: c_out 4096 \(sampled \d+–\d+\)\)") as error:
        profile.check_stem("pointwise", 200, 9, 4096)
    assert "\n" not in str(error.value)
    with pytest.raises(ConfigError, match=r"does not cover .*the 'pointwise' stem \(.*c_out 4096"):
        profile.predict_genotype(genotype, 200, 9, 16, init_channels=4096)
    with pytest.raises(ConfigError, match="never measured one"):
        profile.check_stem("pointwise")


def test_search_with_the_pointwise_stem_derives_and_retrains_it(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["search", "--data", "synthetic", "--flops-target", "1M", "--stem", "pointwise", "--nodes", "2",
                 "--blocks", "2", "--max-depth", "2", "--epochs", "1", "--retrain-epochs", "1", "--threads", "1",
                 "--ops", "gdas", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    report = json.loads((out / "report.json").read_text())
    assert report["genotype"]["stem"] == {"kind": "pointwise", "stride": 1}
    model = build_model(json.loads((out / "arch.json").read_text()))
    conv = model.stem[0]
    assert conv.kernel_size == (1, 1) and conv.in_channels == report["in_bands"]
    assert count_macs(model, (1, report["in_bands"], *report["input_size"])) == report["macs"]
    assert json.loads((out / "config.json").read_text())["search"]["stem"] == "pointwise"
