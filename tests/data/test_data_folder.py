"""RGB class folders read with PIL (generated PNGs and the real EuroSAT RGB / UC Merced subsets)."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from compactrs.data import load_dataset
from compactrs.errors import DataError


def test_generated_pngs_with_resizing(png_folder):
    data = load_dataset(f"folder:{png_folder},test=0.5")
    assert data.class_names == ["beach", "forest", "river"] and data.band_names == ["R", "G", "B"]
    assert data.x_train.shape[1:] == (3, 16, 16) and data.class_counts("test") == [3, 3, 3]
    assert data.meta["resized_images"] == 1 and data.preprocess["resize"] == [16, 16]
    np.testing.assert_allclose(data.x_train.mean(axis=(0, 2, 3)), 0, atol=1e-4)
    # the red channel tells the classes apart: river (index 2) is reddest
    red = [data.x_train[data.y_train == k, 0].mean() for k in range(3)]
    assert red[0] < red[1] < red[2]


def test_size_option_and_max_per_class(png_folder):
    data = load_dataset(f"folder:{png_folder},size=8x12,max_per_class=4")
    assert data.input_size == (8, 12) and len(data.y_train) + len(data.y_test) == 12
    assert data.spec.endswith(",max_per_class=4,size=8x12")


def test_real_eurosat_rgb_capped(shared_data):
    data = load_dataset(f"folder:{shared_data / 'eurosat_rgb'},max_per_class=20")
    assert data.num_classes == 10 and data.x_train.shape[1:] == (3, 64, 64)
    assert len(data.y_train) + len(data.y_test) == 200 and data.class_counts("test") == [6] * 10


def test_bad_folders_name_the_problem(tmp_path, png_folder):
    with pytest.raises(DataError, match="no class subfolders in"):
        load_dataset(f"folder:{tmp_path / 'scenes' / 'beach'}")
    (png_folder / "empty").mkdir()
    with pytest.raises(DataError, match="empty class folder .*empty"):
        load_dataset(f"folder:{png_folder}")
    (png_folder / "empty" / "broken.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(DataError, match="cannot read image .*broken.png"):
        load_dataset(f"folder:{png_folder}")
    with pytest.raises(DataError, match="is a file"):
        load_dataset(f"folder:{png_folder / 'beach' / 'beach_00.png'}")


def test_grey_and_rgba_images_become_rgb(tmp_path):
    for name, mode in (("grey", "L"), ("alpha", "RGBA")):
        (tmp_path / name).mkdir()
        for i in range(3):
            Image.new(mode, (10, 10), color=40 * i if mode == "L" else (40 * i, 10, 10, 128)).save(
                tmp_path / name / f"{i}.png"
            )
    data = load_dataset(f"folder:{tmp_path}")
    assert data.in_bands == 3 and data.input_size == (10, 10)
