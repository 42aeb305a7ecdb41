"""SpectralMamba: the S6 scan's semantics, the front end's pieces, exact MAC counts, 200-band export."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from compactrs.cost.flops import count_macs
from compactrs.errors import ModelError
from compactrs.models import create_model
from compactrs.nn.spectral import SpectralFrontEnd
from compactrs.nn.ssm import MambaMixer, selective_scan




def _reference_scan(x, delta, A, B, C, D):
    """Mamba's S6 recurrence written out step by step (zero initial state)."""
    n, length, inner = x.shape
    h = torch.zeros(n, inner, A.shape[1], dtype=torch.float64)
    ys = []
    for t in range(length):
        h = torch.exp(delta[:, t, :, None] * A) * h + delta[:, t, :, None] * B[:, t, None, :] * x[:, t, :, None]
        ys.append((h * C[:, t, None, :]).sum(-1) + D * x[:, t])
    return torch.stack(ys, dim=1)


def test_selective_scan_is_the_s6_recurrence():
    g = torch.Generator().manual_seed(0)
    n, length, inner, state = 3, 7, 5, 4
    x, B, C = (torch.randn(n, length, k, generator=g, dtype=torch.float64) for k in (inner, state, state))
    delta = torch.rand(n, length, inner, generator=g, dtype=torch.float64) + 0.1
    A = -torch.rand(inner, state, generator=g, dtype=torch.float64) * 3
    D = torch.randn(inner, generator=g, dtype=torch.float64)
    torch.testing.assert_close(selective_scan(x, delta, A, B, C, D), _reference_scan(x, delta, A, B, C, D))


def test_mixer_is_causal_along_the_spectral_sequence():
    torch.manual_seed(0)
    mixer = MambaMixer(d_model=8, d_state=4).eval()
    u = torch.randn(2, 10, 8)
    later = u.clone()
    later[:, 6:] += torch.randn(2, 4, 8)
    with torch.no_grad():
        a, b = mixer(u), mixer(later)
    torch.testing.assert_close(a[:, :6], b[:, :6])
    assert not torch.allclose(a[:, 6:], b[:, 6:])


@pytest.mark.parametrize(
    "bands, length, stride, tokens",
    [(200, 16, 10, 20), (200, 8, 8, 25), (200, 24, 20, 10), (103, 16, 10, 10), (13, 16, 10, 2), (4, 16, 10, 2)],
)
def test_piecewise_scanning_covers_every_band(bands, length, stride, tokens):
    front = SpectralFrontEnd(bands, 6, length, stride)
    assert front.sequence_length == tokens
    assert (tokens - 1) * front.piece_stride + front.piece_length == bands + front.padding and front.padding >= 0
    out = front(torch.randn(2, bands, 5, 5))
    assert out.shape == (2, tokens, 6)
    # the last band reaches the last token: a change there moves it and nothing before its piece
    x = torch.randn(1, bands, 5, 5)
    y = x.clone()
    y[:, -1] += 5
    front = SpectralFrontEnd(bands, 6, length, stride, mask="none").eval()
    changed = (front(x) - front(y)).abs().amax(dim=2)[0] > 1e-6
    assert changed[-1] and not changed[: (bands - 1 - front.piece_length) // front.piece_stride + 1].any()


def test_mask_position_none_drops_the_mask_and_bad_options_are_model_errors():
    plain = create_model("spectralmamba_t", 200, 16, mask="none")
    masked = create_model("spectralmamba_t", 200, 16)
    assert not any("mask" in name for name, _ in plain.named_parameters())
    assert sum(p.numel() for p in masked.parameters()) - sum(p.numel() for p in plain.parameters()) == 200 * 10 + 7
    for bad in ({"mask": "tokens"}, {"pooling": "max"}, {"piece_stride": 20, "piece_length": 10}, {"depth": 0}):
        with pytest.raises(ModelError, match="cannot build model 'spectralmamba_t'"):
            create_model("spectralmamba_t", 200, 16, **bad)


def test_mac_count_equals_the_hand_count():
    # spectralmamba_t on a 200-band 9x9 patch, 16 classes, with 20 pieces of 16 bands (stride 10): d_model 32,
    # d_inner 64, state 8, dt_rank 2, causal conv 3
    mask = 200 * 81 * 9 + 200 * 7  # depthwise 3x3 per band and pixel + 7-tap conv along the mean spectrum
    embed = 20 * 32 * 2 * 16  # one linear map of (centre, mean) x 16 bands per piece
    projections = 20 * (32 * 128 + 64 * (2 + 16) + 2 * 64 + 64 * 32)  # in_proj, x_proj, dt_proj, out_proj
    conv = 20 * 64 * 3
    scan = 19 * 64 * 8 + 20 * 64 * 8 + 20 * 64  # state updates (h_0 is free), read-out C.h, D skip
    head = 32 * 16
    hand = mask + embed + projections + conv + scan + head
    assert hand == 341_760
    model = create_model("spectralmamba_t", 200, 16, piece_length=16, piece_stride=10)
    assert count_macs(model, (1, 200, 9, 9)) == model.macs(9, 9) == hand
    default = create_model("spectralmamba_t", 200, 16)  # 10 pieces of 24 bands (stride 20)
    assert default.front.sequence_length == 10 and count_macs(default, (1, 200, 9, 9)) == default.macs(9, 9)
    small = create_model("spectralmamba_s", 13, 10)  # multispectral 13 x 32 x 32: 2 pieces of 7 bands
    assert count_macs(small, (1, 13, 32, 32)) == small.macs(32, 32)
    assert count_macs(small, (4, 13, 32, 32)) == 4 * small.macs(32, 32)


def test_exports_the_200_band_scan_with_fp32_parity(tmp_path, one_thread):
    from compactrs.runtime import OnnxRuntimeRunner, TorchRunner, check_onnx, export_onnx
    from compactrs.exporter.validate import comparators_for, compare_runners, raise_if_failed, validation_inputs

    torch.manual_seed(0)
    shape = (1, 200, 9, 9)
    model = create_model("spectralmamba_s", 200, 16).eval()
    path = export_onnx(model, tmp_path / "sm.onnx", shape)
    summary = check_onnx(path)
    assert summary["inputs"]["x"]["shape"][0] == "batch"
    assert not {"Loop", "Scan", "If"} & set(summary["op_types"])  # the 20-step scan is a flat graph
    inputs = validation_inputs(None, shape, n_real=0, n_random=6, seed=1)
    report = compare_runners(TorchRunner(model, shape), OnnxRuntimeRunner(path, 1), inputs,
                             comparators_for("fp32"), batch=5)
    raise_if_failed(report, "spectralmamba_s")
    assert report["passed"] and report["n_inputs"] == 10


def _majority_share(report: dict) -> float:
    counts = np.array(report["confusion"]).sum(axis=1)
    return float(counts.max() / counts.sum())


@pytest.fixture(scope="module")
def full_scene(indian_pines_full):
    from compactrs.data import load_dataset

    return load_dataset(f"hsi:{indian_pines_full}", seed=0)


def test_short_run_on_the_full_spatially_disjoint_scene_beats_the_majority_class(full_scene, tmp_path, one_thread):
    import dataclasses

    import compactrs
    from compactrs.training.loop import TrainConfig

    assert full_scene.split["method"] == "spatial-blocks"
    # a third of the training pixels (their order is a seeded shuffle) keeps this under a minute; all test pixels
    third = dataclasses.replace(full_scene, x_train=full_scene.x_train[::3], y_train=full_scene.y_train[::3])
    report = compactrs.train("spectralmamba_t", third, TrainConfig(epochs=3, threads=1, seed=0), out=tmp_path / "run")
    majority = _majority_share(report)  # Soybean-mintill, ~0.23 of the test pixels
    assert report["oa"] >= majority + 0.1 and report["kappa"] >= 0.15, (report["oa"], majority, report["kappa"])


@pytest.mark.slow  # ~2 min on the loaded 2-core machine
def test_longer_run_on_the_full_scene_beats_the_majority_class_widely(full_scene, tmp_path, one_thread):
    import compactrs
    from compactrs.training.loop import TrainConfig

    report = compactrs.train("spectralmamba_t", full_scene, TrainConfig(epochs=8, threads=1, seed=0),
                             out=tmp_path / "run")
    assert report["oa"] >= _majority_share(report) + 0.2 and report["aa"] >= 0.35, report["oa"]
