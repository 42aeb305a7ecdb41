"""Hyperspectral .mat scenes: detection of cube and gt, patches, spatially disjoint split, PCA."""
from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.io import loadmat, savemat

from compactrs.data import describe_dataset, load_dataset
from compactrs.errors import DataError


def chebyshev_min(a: np.ndarray, b: np.ndarray) -> int:
    """Smallest Chebyshev distance between any pixel of ``a`` and any of ``b`` (both (N, 2))."""
    return int(np.abs(a[:, None, :] - b[None, :, :]).max(axis=2).min())


def recipe_patch(cube: np.ndarray, preprocess: dict, row: int, col: int) -> np.ndarray:
    """Apply ``preprocess`` to the raw cube the way a device would, and cut the patch at (row, col)."""
    features = cube.astype(np.float64)[..., preprocess["bands"]]
    if preprocess["pca"] is not None:
        features = (features - preprocess["pca"]["mean"]) @ np.array(preprocess["pca"]["components"]).T
    features = (features - preprocess["mean"]) / np.array(preprocess["std"])
    half = preprocess["patch"] // 2
    padded = np.pad(features, ((half, half), (half, half), (0, 0)), mode="reflect")
    return padded[row : row + 2 * half + 1, col : col + 2 * half + 1].transpose(2, 0, 1)


@pytest.fixture(scope="module")
def indian(indian_pines):
    return load_dataset(f"hsi:{indian_pines}")


def test_indian_pines_dir_picks_the_matching_gt(indian):
    assert indian.kind == "hsi" and indian.num_classes == 4
    assert indian.original_labels == [2, 6, 10, 11]
    assert indian.class_names == ["class_2", "class_6", "class_10", "class_11"]
    assert indian.meta["cube"] == "Indian_subset.mat:Indian_subset"
    assert indian.meta["gt"] == "Indian_subset.mat:gt"  # not the 145x145 Indian_pines_gt.mat
    assert indian.meta["scene_shape"] == [70, 70, 200]
    assert indian.x_train.shape[1:] == (200, 9, 9) and indian.x_test.shape[1:] == (200, 9, 9)
    assert indian.x_train.dtype == np.float32 and indian.y_train.dtype == np.int64
    assert min(indian.class_counts("train")) > 0 and min(indian.class_counts("test")) > 0


def test_indian_pines_split_is_spatially_disjoint(indian):
    train, test = indian.meta["train_coords"], indian.meta["test_coords"]
    assert len(train) == len(indian.y_train) and len(test) == len(indian.y_test)
    assert chebyshev_min(train, test) >= 9
    split = indian.split
    assert split["method"] == "spatial-blocks" and split["seed"] == 0 and split["test_fraction"] == 0.3
    assert len(train) + len(test) + split["dropped_buffer_pixels"] == indian.meta["labelled_pixels"] == 3569
    kept_fraction = len(test) / (len(train) + len(test))
    assert 0.15 < kept_fraction < 0.45
    assert all(abs(f - 0.3) < 0.2 for f in split["achieved_test_fraction"])


def test_indian_pines_patches_follow_the_recipe(indian, indian_pines):
    raw = loadmat(indian_pines / "Indian_subset.mat")["Indian_subset"]
    gt = loadmat(indian_pines / "Indian_subset.mat")["gt"]
    for split_x, split_y, coords in (
        (indian.x_train, indian.y_train, indian.meta["train_coords"]),
        (indian.x_test, indian.y_test, indian.meta["test_coords"]),
    ):
        for i in (0, len(coords) // 2, len(coords) - 1):
            row, col = coords[i]
            assert indian.original_labels[split_y[i]] == gt[row, col]
            np.testing.assert_allclose(split_x[i], recipe_patch(raw, indian.preprocess, row, col), atol=1e-4)
    pixels = indian.x_train[:, :, 4, 4]  # centre pixels are what the stats were fitted on
    np.testing.assert_allclose(pixels.mean(axis=0), 0, atol=1e-3)
    np.testing.assert_allclose(pixels.std(axis=0), 1, atol=1e-3)


def test_indian_pines_seeds_change_the_split(indian, indian_pines):
    other = load_dataset(f"hsi:{indian_pines},pca=3", seed=1)
    assert other.split["grid_offset"] != indian.split["grid_offset"] or len(other.y_test) != len(indian.y_test)
    assert chebyshev_min(other.meta["train_coords"], other.meta["test_coords"]) >= 9


def test_indian_pines_pca_and_random_split(indian_pines):
    data = load_dataset(f"hsi:{indian_pines},pca=10,patch=5,split=random")
    assert data.in_bands == 10 and data.band_names[0] == "PC1" and data.input_size == (5, 5)
    assert np.array(data.preprocess["pca"]["components"]).shape == (10, 200)
    assert data.split["method"] == "random-stratified" and "optimistic" in data.split["warning"]
    assert len(data.y_train) + len(data.y_test) == 3569
    assert abs(len(data.y_test) / 3569 - 0.3) < 0.01
    raw = loadmat(indian_pines / "Indian_subset.mat")["Indian_subset"]
    row, col = data.meta["test_coords"][0]
    np.testing.assert_allclose(data.x_test[0], recipe_patch(raw, data.preprocess, row, col), atol=1e-3)


def test_describe_indian_is_json_without_coordinates(indian_pines):
    info = describe_dataset(f"hsi:{indian_pines},pca=4")
    text = json.dumps(info)
    assert "train_coords" not in text
    assert info["original_labels"] == [2, 6, 10, 11] and info["split_method"] == "spatial-blocks"
    assert sum(info["counts"]["test"].values()) == info["split_sizes"]["test"]
    assert info["preprocess"]["pca_components"] == 4


def test_one_file_cube_and_gt(scene_file):
    data = load_dataset(f"hsi:{scene_file},patch=5")
    assert data.original_labels == [3, 5, 7] and data.in_bands == 12 and data.input_size == (5, 5)
    assert chebyshev_min(data.meta["train_coords"], data.meta["test_coords"]) >= 5
    assert data.meta["cube"] == "scene.mat:scene" and data.meta["cube_layout"] == "HWB"
    again = load_dataset(f"hsi:{scene_file},patch=5")
    np.testing.assert_array_equal(again.meta["test_coords"], data.meta["test_coords"])
    np.testing.assert_array_equal(again.x_train, data.x_train)


def test_two_files_and_overrides(tmp_path, make_scene):
    cube, gt = make_scene(seed=1)
    savemat(tmp_path / "cube.mat", {"radiance": cube})
    savemat(tmp_path / "labels.mat", {"truth": gt, "full_scene_gt": np.zeros((90, 90), np.uint8)})
    data = load_dataset(f"hsi:{tmp_path},patch=3")
    assert data.meta["gt"] == "labels.mat:truth" and data.num_classes == 3
    # a single cube file as PATH finds its gt in a sibling file
    assert load_dataset(f"hsi:{tmp_path / 'cube.mat'},patch=3").meta["gt"] == "labels.mat:truth"
    # a name that looks like a ground truth wins over another map of the same shape
    savemat(tmp_path / "labels.mat", {"truth": gt, "valid_mask": (gt > 0).astype(np.uint8)})
    assert load_dataset(f"hsi:{tmp_path},patch=3").meta["gt"] == "labels.mat:truth"
    savemat(tmp_path / "labels.mat", {"TRLabel": gt, "TSLabel": gt})
    with pytest.raises(DataError, match="several ground-truth candidates") as info:
        load_dataset(f"hsi:{tmp_path},patch=3")
    assert "labels.mat:TRLabel" in str(info.value) and "gt=KEY" in str(info.value)
    picked = load_dataset(f"hsi:{tmp_path},patch=3,gt=TSLabel,gt_file=labels.mat")
    assert picked.meta["gt"] == "labels.mat:TSLabel" and picked.original_labels == [3, 5, 7]


def test_mat_v73_transposed_layout(tmp_path, make_scene, write_mat73):
    cube, gt = make_scene(seed=2, size=36, bands=9)
    cube[0, 1, :] = np.arange(9) + 7000  # a marker that a wrong transpose would move
    write_mat73(tmp_path / "scene73.mat", {"cube": cube, "gt": gt})
    data = load_dataset(f"hsi:{tmp_path / 'scene73.mat'},patch=3,split=random")
    assert data.meta["scene_shape"] == [36, 36, 9] and data.original_labels == [3, 5, 7]
    reference = load_dataset(_v5_copy(tmp_path, cube, gt) + ",patch=3,split=random")
    np.testing.assert_array_equal(data.x_train, reference.x_train)
    np.testing.assert_array_equal(data.y_test, reference.y_test)


def _v5_copy(tmp_path, cube, gt) -> str:
    folder = tmp_path / "v5"
    folder.mkdir()
    savemat(folder / "scene.mat", {"cube": cube, "gt": gt})
    return f"hsi:{folder / 'scene.mat'}"


def test_band_first_cube_is_transposed(tmp_path, make_scene):
    cube, gt = make_scene(seed=3)
    savemat(tmp_path / "bhw.mat", {"cube": cube.transpose(2, 0, 1), "gt": gt})
    data = load_dataset(f"hsi:{tmp_path / 'bhw.mat'},patch=3")
    assert data.meta["cube_layout"] == "BHW" and data.in_bands == 12


def test_spatial_split_reports_a_class_it_cannot_place(tmp_path, make_scene):
    cube, gt = make_scene(seed=4)
    gt[gt == 7] = 0
    gt[20, 20] = 9  # a class with a single pixel cannot be in both splits
    savemat(tmp_path / "scene.mat", {"cube": cube, "gt": gt})
    data = load_dataset(f"hsi:{tmp_path / 'scene.mat'},patch=3")
    assert data.split["classes_without_test"] == [9] and data.split["classes_without_training"] == []
    assert "class(es) 9 (1 labelled) have no test pixels" in data.split["warning"]
    assert "smaller block=" in data.split["warning"] and "scene.mat" in data.split["warning"]
    assert data.class_counts("test")[data.original_labels.index(9)] == 0
    assert data.class_counts("train")[data.original_labels.index(9)] == 1


@pytest.mark.parametrize(
    "arrays, spec_tail, needles",
    [
        ({"gt": np.ones((40, 40), np.uint8)}, "", ["no 3-D cube", "scene.mat"]),
        ({"scene": "CUBE", "gt": np.ones((30, 40), np.uint8)}, "", ["gt shape mismatch", "(30, 40)", "(40, 40, 12)"]),
        ({"scene": "CUBE", "gt": np.ones((30, 40), np.uint8)}, ",gt=gt", ["gt shape mismatch", "scene.mat:gt"]),
        ({"scene": "CUBE", "gt": "GT"}, ",cube=radiance", ["no array 'radiance'", "scene.mat:scene"]),
        ({"scene": "NAN", "gt": "GT"}, "", ["NaN/inf", "scene.mat:scene"]),
        ({"scene": "CUBE", "gt": "HALF"}, "", ["non-integer", "scene.mat:gt"]),
        ({"scene": "CUBE", "other": "CUBE", "gt": "GT"}, "", ["several 3-D cubes", "cube=KEY"]),
        ({"scene": "CUBE", "gt": "GT"}, ",pca=50", ["pca=50", "12 bands"]),
        ({"scene": "CUBE", "gt": "GT"}, ",block=3,patch=5", ["block=3 is smaller than patch=5", "scene.mat"]),
    ],
)
def test_bad_scenes_name_the_file_and_problem(tmp_path, make_scene, arrays, spec_tail, needles):
    cube, gt = make_scene()
    nan_cube = cube.astype(np.float32)
    nan_cube[3, 4, 5] = np.nan
    values = {"CUBE": cube, "GT": gt, "NAN": nan_cube, "HALF": gt / 2}
    savemat(tmp_path / "scene.mat", {k: values[v] if isinstance(v, str) else v for k, v in arrays.items()})
    with pytest.raises(DataError) as info:
        load_dataset(f"hsi:{tmp_path / 'scene.mat'}{spec_tail}")
    for needle in needles:
        assert needle in str(info.value)


def test_directory_without_mat_files_and_unreadable_file(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(DataError, match="no .mat or .npy files in directory"):
        load_dataset(f"hsi:{tmp_path}")
    (tmp_path / "broken.mat").write_bytes(b"definitely not a mat file" * 10)
    with pytest.raises(DataError, match="cannot read MAT file .*broken.mat"):
        load_dataset(f"hsi:{tmp_path}")
