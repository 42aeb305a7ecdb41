"""EuroSAT MS GeoTIFF class folders (real shared data and generated bad files)."""
from __future__ import annotations

import numpy as np
import pytest
import tifffile

from compactrs.data import load_dataset
from compactrs.errors import DataError


@pytest.fixture
def eurosat_ms(shared_data):
    return shared_data / "eurosat_ms"


def test_all_bands_real(eurosat_ms):
    data = load_dataset(f"eurosat:{eurosat_ms}")
    assert data.num_classes == 10 and data.class_names[0] == "AnnualCrop" and data.class_names[-1] == "SeaLake"
    assert data.x_train.shape[1:] == (13, 64, 64) and len(data.y_train) + len(data.y_test) == 190
    assert data.band_names[-1] == "B8A" and data.preprocess["bands"] == list(range(13))
    assert min(data.class_counts("test")) >= 1
    np.testing.assert_allclose(data.x_train.mean(axis=(0, 2, 3)), 0, atol=1e-3)


def test_band_selection_real(eurosat_ms):
    data = load_dataset(f"eurosat:{eurosat_ms},bands=b04+B03+B02,max_per_class=12", seed=2)
    assert data.band_names == ["B04", "B03", "B02"] and data.preprocess["bands"] == [3, 2, 1]
    assert data.spec.endswith(",bands=B04+B03+B02,max_per_class=12")
    assert data.x_train.shape[1:] == (3, 64, 64) and len(data.y_train) + len(data.y_test) == 120
    used = [f for c in data.class_names for f in sorted((eurosat_ms / c).glob("*.tif"))[:12]]
    raw = np.stack([tifffile.imread(f) for f in used]).reshape(-1, 13).astype(np.float64)
    # train-only statistics of the picked bands are close to (not equal to) those of all files
    np.testing.assert_allclose(data.preprocess["mean"], raw[:, [3, 2, 1]].mean(axis=0), rtol=0.05)
    assert not np.allclose(data.preprocess["mean"], raw[:, [3, 2, 1]].mean(axis=0), rtol=1e-6)


def test_unknown_band_lists_valid_ones(eurosat_ms):
    with pytest.raises(DataError) as info:
        load_dataset(f"eurosat:{eurosat_ms},bands=B04+B13")
    assert "B13" in str(info.value) and "B01, B02, B03" in str(info.value)


def test_bad_folders(tmp_path):
    (tmp_path / "Forest").mkdir()
    (tmp_path / "River").mkdir()
    tifffile.imwrite(tmp_path / "Forest" / "Forest_1.tif", np.zeros((64, 64, 13), np.uint16))
    with pytest.raises(DataError, match="empty class folder .*River"):
        load_dataset(f"eurosat:{tmp_path}")
    tifffile.imwrite(tmp_path / "River" / "River_1.tif", np.zeros((64, 64, 3), np.uint8))
    with pytest.raises(DataError, match=r"River_1.tif has shape \(64, 64, 3\)") as info:
        load_dataset(f"eurosat:{tmp_path}")
    assert "folder:PATH" in str(info.value)
    (tmp_path / "River" / "River_1.tif").write_bytes(b"II*\x00garbage")
    with pytest.raises(DataError, match="cannot read GeoTIFF .*River_1.tif"):
        load_dataset(f"eurosat:{tmp_path}")
