"""Hyperspectral scenes as .npy arrays: the full Indian Pines scene, and malformed folders that must be refused."""
from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner
from scipy.io import loadmat, savemat

from compactrs.cli import cli
from compactrs.data import load_dataset
from compactrs.errors import DataError

# PROVENANCE.md of ../shared/data/hsi/indian_pines_full
CLASS_PIXELS = {1: 46, 2: 1428, 3: 830, 4: 237, 5: 483, 6: 730, 7: 28, 8: 478, 9: 20, 10: 972, 11: 2455,
                12: 593, 13: 205, 14: 1265, 15: 386, 16: 93}


def chebyshev_min(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.abs(a[:, None, :] - b[None, :, :]).max(axis=2).min())


@pytest.fixture(scope="module")
def full(indian_pines_full):
    return load_dataset(f"hsi:{indian_pines_full}")


def test_full_scene_reads_cube_and_gt_by_shape(full):
    assert full.meta["cube"] == "Indian_pines_corrected.npy" and full.meta["gt"] == "Indian_pines_gt.npy"
    assert full.meta["scene_shape"] == [145, 145, 200] and full.meta["cube_layout"] == "HWB"
    assert full.num_classes == 16 and full.original_labels == list(range(1, 17))
    assert full.meta["labelled_pixels"] == 10249 and full.meta["class_pixels"] == CLASS_PIXELS
    assert full.x_train.shape[1:] == (200, 9, 9) and full.x_train.dtype == np.float32


def test_full_scene_split_is_disjoint_and_names_unplaced_classes(full):
    train, test = full.meta["train_coords"], full.meta["test_coords"]
    assert chebyshev_min(train, test) >= 9
    assert len(train) + len(test) + full.split["dropped_buffer_pixels"] == 10249
    missing = full.split["classes_without_test"]
    # Oats (9: 20 px) and Grass-pasture-mowed (7: 28 px) each fit inside one patch width: never testable here
    assert {7, 9} <= set(missing) and full.split["classes_without_training"] == []
    assert "have no test pixels" in full.split["warning"]
    test_counts, train_counts = full.class_counts("test"), full.class_counts("train")
    for cls, label in enumerate(full.original_labels):
        assert train_counts[cls] > 0
        assert (test_counts[cls] == 0) == (label in missing)


def test_full_scene_crop_is_the_subset_mat(indian_pines_full, indian_pines):
    cube = np.load(indian_pines_full / "Indian_pines_corrected.npy")
    subset = loadmat(indian_pines / "Indian_subset.mat")["Indian_subset"]
    np.testing.assert_array_equal(cube[30:100, 25:95], subset)


def test_data_info_cli_on_the_full_scene(indian_pines_full):
    result = CliRunner().invoke(cli, ["data", "info", f"hsi:{indian_pines_full}"])
    assert result.exit_code == 0, result.output
    assert "200 bands × 9×9 px" in result.output and "classes      16" in result.output
    assert "note" in result.output and "have no test pixels" in result.output


def _npy_scene(folder, make_scene, seed=0, fortran=False):
    folder.mkdir(exist_ok=True)
    cube, gt = make_scene(seed=seed)
    np.save(folder / "radiance.npy", np.asfortranarray(cube) if fortran else cube)
    np.save(folder / "radiance_gt.npy", gt)
    return cube, gt


def test_npy_folder_matches_the_same_scene_as_mat(tmp_path, make_scene):
    cube, gt = _npy_scene(tmp_path / "npy", make_scene, seed=5, fortran=True)
    (tmp_path / "mat").mkdir()
    savemat(tmp_path / "mat" / "scene.mat", {"cube": cube, "gt": gt})
    from_npy = load_dataset(f"hsi:{tmp_path / 'npy'},patch=5")
    from_mat = load_dataset(f"hsi:{tmp_path / 'mat'},patch=5")
    np.testing.assert_array_equal(from_npy.x_train, from_mat.x_train)
    np.testing.assert_array_equal(from_npy.y_test, from_mat.y_test)
    # the cube file alone as PATH finds its ground truth beside it; gt= names a .npy by its stem
    single = load_dataset(f"hsi:{tmp_path / 'npy' / 'radiance.npy'},patch=5,gt=radiance_gt")
    assert single.meta["gt"] == "radiance_gt.npy"


@pytest.mark.parametrize(
    "files, spec_tail, needles",
    [
        ({"gt.npy": "GT"}, "", ["no 3-D cube", "gt.npy (40, 40)"]),
        ({"cube.npy": "CUBE", "gt.npy": "WRONG"}, "", ["gt shape mismatch", "gt.npy (30, 40)", "cube.npy (40, 40, 12)"]),
        ({"cube.npy": "CUBE", "other.npy": "CUBE", "gt.npy": "GT"}, "", ["several 3-D cubes", "cube.npy", "other.npy"]),
        ({"cube.npy": "CUBE", "gt.npy": "GT", "broken.npy": "BROKEN"}, "", ["cannot read NumPy file", "broken.npy"]),
        ({"cube.npy": "CUBE", "gt.npy": "OBJECT"}, "", ["cannot read NumPy file", "gt.npy", "pickle"]),
        ({"cube.npy": "CUBE", "gt.npy": "GT"}, ",gt=labels", ["no array 'labels'", "gt.npy (40, 40)"]),
        ({"cube.npy": "NAN", "gt.npy": "GT"}, "", ["NaN/inf", "cube.npy"]),
        ({"notes.txt": "TEXT"}, "", ["no .mat or .npy files in directory", "cube .npy (H, W, bands)"]),
    ],
)
def test_malformed_npy_folders_name_the_folder_files_and_fix(tmp_path, make_scene, files, spec_tail, needles):
    cube, gt = make_scene()
    nan_cube = cube.astype(np.float32)
    nan_cube[1, 2, 3] = np.nan
    for name, what in files.items():
        path = tmp_path / name
        if what == "BROKEN":
            path.write_bytes(b"\x93NUMPY truncated")
        elif what == "TEXT":
            path.write_text("not a scene")
        elif what == "OBJECT":
            np.save(path, np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
        else:
            np.save(path, {"CUBE": cube, "GT": gt, "WRONG": gt[:30], "NAN": nan_cube}[what])
    with pytest.raises(DataError) as info:
        load_dataset(f"hsi:{tmp_path}{spec_tail}")
    message = str(info.value)
    for needle in needles:
        assert needle in message
    assert str(tmp_path) in message or any(name in message for name in files)


def test_npz_and_foreign_files_are_refused(tmp_path, make_scene):
    cube, gt = make_scene()
    np.savez(tmp_path / "scene.npz", cube=cube, gt=gt)
    with pytest.raises(DataError, match="neither a .mat nor a .npy file"):
        load_dataset(f"hsi:{tmp_path / 'scene.npz'}")
    npz_as_npy = tmp_path / "scene.npy"
    npz_as_npy.write_bytes((tmp_path / "scene.npz").read_bytes())
    with pytest.raises(DataError, match="scene.npy"):
        load_dataset(f"hsi:{npz_as_npy}")
