"""The spectral stem: contract, gradients, exact MAC hand count, ONNX FP32 parity of a CellNet that starts with it."""
from __future__ import annotations

import pytest
import torch

from compactrs.cost.flops import count_macs
from compactrs.errors import ConfigError
from compactrs.models import create_model
from compactrs.nn.geometry import validate_stem
from compactrs.nn.stems import make_stem

GENOTYPE = {"normal": [["sep_conv_3x3", 0], ["skip_connect", 1]] * 4, "reduce": [["max_pool_3x3", 0], ["conv_3x3", 1]] * 4,
            "depths": [1, 1, 1], "concat": [2, 3, 4, 5], "stem": {"kind": "spectral", "stride": 1}}




def test_honours_the_geometry_contract_and_learns_through_every_part():
    torch.manual_seed(0)
    stem = make_stem({"kind": "spectral", "stride": 1}, 200, 12)
    x = torch.randn(3, 200, 7, 5)
    out = stem(x)
    assert out.shape == (3, 12, 7, 5)
    out.square().mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for name, p in stem.named_parameters()), \
        [name for name, p in stem.named_parameters() if p.grad is None or not p.grad.abs().sum()]


def test_each_pixel_reads_its_own_spectrum_beyond_the_mask():
    # without the mask's 3x3 spatial conv a pixel's output would depend on its spectrum only; with it the
    # neighbours reach it, so a change at one pixel moves only its 3x3 neighbourhood (and the mean spectrum gate)
    torch.manual_seed(0)
    stem = make_stem({"kind": "spectral", "stride": 1}, 64, 8).eval()
    with torch.no_grad():
        stem.mask.spectral.weight.zero_()  # no mean-spectrum path: locality is exact
        x = torch.randn(1, 64, 7, 7)
        y = x.clone()
        y[0, :, 3, 3] += 3.0
        moved = (stem(x) - stem(y)).abs().amax(dim=1)[0] > 1e-6
    expected = torch.zeros(7, 7, dtype=torch.bool)
    expected[2:5, 2:5] = True
    assert torch.equal(moved, expected)


def test_mac_count_equals_the_hand_count():
    # 200 bands, 9x9 pixels, C = 16: 10 pieces of 24 bands (stride 20); d_inner 32, state 8, dt_rank 1, conv 3
    mask = 200 * 81 * 9 + 200 * 7
    embed = 81 * 10 * 16 * 24
    projections = 10 * (16 * 64 + 32 * (1 + 16) + 1 * 32 + 32 * 16)
    scan = 10 * 32 * 3 + 9 * 32 * 8 + 10 * 32 * 8 + 10 * 32  # causal conv, state updates, read-out, D skip
    hand = mask + embed + 81 * (projections + scan)
    assert hand == 2_666_624
    stem = make_stem({"kind": "spectral", "stride": 1}, 200, 16)
    assert stem.macs(9, 9) == hand == count_macs(stem, (1, 200, 9, 9))
    assert count_macs(stem, (2, 200, 9, 9)) == 2 * hand


def test_bad_strides_and_few_bands_are_refused_in_one_line():
    with pytest.raises(ConfigError, match="stride 1, got 2"):
        validate_stem({"kind": "spectral", "stride": 2})
    with pytest.raises(ConfigError, match=">= 16 input bands") as error:
        make_stem({"kind": "spectral", "stride": 1}, 13, 16)
    assert "\n" not in str(error.value)


def test_cellnet_with_the_spectral_stem_exports_with_fp32_parity(tmp_path, one_thread):
    from compactrs.exporter.validate import comparators_for, compare_runners, raise_if_failed, validation_inputs
    from compactrs.runtime import OnnxRuntimeRunner, TorchRunner, check_onnx, export_onnx

    torch.manual_seed(0)
    shape = (1, 200, 9, 9)
    model = create_model("cellnet", 200, 16, genotype=GENOTYPE, init_channels=8)
    model(torch.randn(4, *shape[1:])).sum().backward()  # trains end to end
    model.eval()
    path = export_onnx(model, tmp_path / "cellnet.onnx", shape)
    summary = check_onnx(path)
    assert summary["inputs"]["x"]["shape"][0] == "batch"
    assert not {"Loop", "Scan", "If"} & set(summary["op_types"])
    inputs = validation_inputs(None, shape, n_real=0, n_random=4, seed=1)
    report = compare_runners(TorchRunner(model, shape), OnnxRuntimeRunner(path, 1), inputs, comparators_for("fp32"), batch=3)
    raise_if_failed(report, "cellnet (spectral stem)")
    assert report["passed"]
    assert count_macs(model, shape) > model.stem.macs(9, 9) > 0
