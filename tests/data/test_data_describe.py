"""describe_dataset: a JSON summary of what a spec loads."""
from __future__ import annotations

import json

from compactrs.data import describe_dataset


def test_describe_synthetic_is_complete_json():
    info = describe_dataset("synthetic,n=10", seed=1)
    json.dumps(info)
    assert info["spec"] == "synthetic,n=10" and info["kind"] == "synthetic" and info["seed"] == 1
    assert info["in_bands"] == 10 and info["input_size"] == [32, 32] and info["num_classes"] == 6
    assert info["counts"]["train"]["water"] + info["counts"]["test"]["water"] == 10
    assert info["split_sizes"] == {"train": 48, "test": 12} and info["split_method"] == "random-stratified"
    assert (info["n_train"], info["n_test"]) == (48, 12) and info["test_counts"] == [2] * 6
    assert info["original_labels"] is None and info["preprocess"]["pca_components"] is None
    assert set(info) >= {"class_names", "band_names", "split", "meta"}


def test_describe_hsi_scene_drops_arrays(scene_file):
    info = describe_dataset(f"hsi:{scene_file},patch=5")
    text = json.dumps(info)
    assert "test_coords" not in text and info["meta"]["labelled_pixels"] > 0
    assert info["split"]["method"] == "spatial-blocks" and info["original_labels"] == [3, 5, 7]


def test_readers_print_nothing(capfd, scene_file, png_folder):
    describe_dataset("synthetic,n=4")
    describe_dataset(f"hsi:{scene_file},patch=3")
    describe_dataset(f"folder:{png_folder}")
    assert capfd.readouterr() == ("", "")
