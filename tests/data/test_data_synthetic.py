"""The embedded synthetic dataset: deterministic, well-formed, normalised on train."""
from __future__ import annotations

import numpy as np

from compactrs.data import load_dataset
from compactrs.data._synthetic import BAND_NAMES, CLASS_NAMES, generate


def test_shapes_classes_and_dtypes():
    data = load_dataset("synthetic")
    assert data.kind == "synthetic" and data.spec == "synthetic"
    assert data.x_train.shape == (450, 10, 32, 32) and data.x_test.shape == (150, 10, 32, 32)
    assert data.x_train.dtype == np.float32 and data.y_train.dtype == np.int64
    assert data.num_classes == 6 and data.class_names == CLASS_NAMES
    assert data.band_names == BAND_NAMES == ["B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12"]
    assert data.class_counts("train") == [75] * 6 and data.class_counts("test") == [25] * 6
    assert data.split["method"] == "random-stratified" and data.split["test_fraction"] == 0.25


def test_same_seed_byte_identical_other_seed_differs():
    a, b, c = load_dataset("synthetic", seed=7), load_dataset("synthetic", seed=7), load_dataset("synthetic", seed=8)
    assert a.x_train.tobytes() == b.x_train.tobytes() and a.x_test.tobytes() == b.x_test.tobytes()
    assert np.array_equal(a.y_train, b.y_train)
    assert a.x_train.tobytes() != c.x_train.tobytes()


def test_train_statistics_are_zero_mean_unit_std_and_recorded():
    data = load_dataset("synthetic,n=40,size=16")
    assert data.x_train.shape == (180, 10, 16, 16)
    np.testing.assert_allclose(data.x_train.mean(axis=(0, 2, 3)), 0, atol=1e-4)
    np.testing.assert_allclose(data.x_train.std(axis=(0, 2, 3)), 1, atol=1e-4)
    raw, _ = generate(40, 16, 0)
    assert np.allclose(data.preprocess["mean"], raw.reshape(-1, 10).mean(axis=0), rtol=0.05)
    assert data.preprocess["layout"] == "NCHW" and data.preprocess["bands"] == list(range(10))


def test_classes_differ_in_spectrum_and_texture():
    raw, labels = generate(30, 32, 0)
    mean_spectra = np.stack([raw[labels == k].mean(axis=(0, 1, 2)) for k in range(6)])
    assert np.linalg.matrix_rank(mean_spectra) == 6
    # per-sample spatial variability (texture) differs between classes: water is smooth, soil speckled
    roughness = np.abs(np.diff(raw, axis=2)).mean(axis=(1, 2, 3))
    by_class = [roughness[labels == k].mean() for k in range(6)]
    assert by_class[CLASS_NAMES.index("water")] < 0.8 * by_class[CLASS_NAMES.index("bare_soil")]
