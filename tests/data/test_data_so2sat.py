"""So2Sat LCZ42 .h5 files (generated fixture)."""
from __future__ import annotations

import h5py
import numpy as np
import pytest

from compactrs.data import load_dataset
from compactrs.errors import DataError


def test_reads_sen2_and_remaps_present_lcz_classes(tmp_path, write_so2sat):
    write_so2sat(tmp_path / "lcz.h5", n=60)
    data = load_dataset(f"so2sat:{tmp_path / 'lcz.h5'}")
    assert data.x_train.shape[1:] == (10, 32, 32) and len(data.y_train) + len(data.y_test) == 60
    assert data.class_names == ["compact_high_rise", "open_high_rise", "dense_trees", "water"]
    assert data.original_labels == [1, 4, 11, 17]
    assert data.band_names[:3] == ["B02", "B03", "B04"] and data.class_counts("test") == [4, 4, 4, 4]
    np.testing.assert_allclose(data.x_train.mean(axis=(0, 2, 3)), 0, atol=1e-4)


def test_max_reads_only_the_first_rows_and_modalities(tmp_path, write_so2sat):
    classes = write_so2sat(tmp_path / "lcz.h5", n=60)
    data = load_dataset(f"so2sat:{tmp_path / 'lcz.h5'},max=20,modality=both", seed=1)
    assert len(data.y_train) + len(data.y_test) == 20 == data.meta["samples_read"]
    assert data.in_bands == 18 and data.band_names[10] == "VH_real"
    assert sorted(data.original_labels) == sorted({int(c) + 1 for c in classes[:20]})
    assert load_dataset(f"so2sat:{tmp_path / 'lcz.h5'},modality=sen1").in_bands == 8


def test_bad_files_name_file_and_problem(tmp_path, write_so2sat):
    path = tmp_path / "bad.h5"
    with h5py.File(path, "w") as handle:
        handle["patches"] = np.zeros((4, 32, 32, 10))
        handle["label"] = np.eye(17)[:4]
    with pytest.raises(DataError, match="no 4-D array 'sen2'") as info:
        load_dataset(f"so2sat:{path}")
    assert "bad.h5" in str(info.value) and "patches" in str(info.value)
    with h5py.File(path, "w") as handle:
        handle["sen2"] = np.zeros((4, 32, 32, 10))
        handle["label"] = np.ones((4, 17))
    with pytest.raises(DataError, match="not one-hot"):
        load_dataset(f"so2sat:{path}")
    (tmp_path / "text.h5").write_text("hello")
    with pytest.raises(DataError, match="cannot open .*text.h5 as HDF5"):
        load_dataset(f"so2sat:{tmp_path / 'text.h5'}")
    write_so2sat(tmp_path / "nan.h5", n=12)
    with h5py.File(tmp_path / "nan.h5", "r+") as handle:
        handle["sen2"][3, 0, 0, 0] = np.nan
    with pytest.raises(DataError, match="nan.h5 holds 1 NaN/inf"):
        load_dataset(f"so2sat:{tmp_path / 'nan.h5'}")
