"""Spec grammar: parsing, canonical form and one-line errors."""
from __future__ import annotations

import os

import numpy as np
import pytest

from compactrs.data import DATASET_KINDS, load_dataset, parse_spec
from compactrs.errors import DataError


def test_kinds_have_descriptions():
    assert list(DATASET_KINDS) == ["synthetic", "hsi", "so2sat", "eurosat", "folder"]
    assert all(isinstance(text, str) and text and "\n" not in text for text in DATASET_KINDS.values())


def test_parse_synthetic_and_typed_options():
    assert parse_spec("synthetic") == ("synthetic", None, {})
    assert parse_spec("synthetic,n=20,size=16,test=0.5") == ("synthetic", None, {"n": 20, "size": 16, "test": 0.5})


def test_parse_makes_path_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    kind, path, options = parse_spec("hsi:scenes/indian.mat,pca=5,patch=7,split=random")
    assert kind == "hsi"
    assert path == os.path.join(str(tmp_path), "scenes", "indian.mat")
    assert options == {"pca": 5, "patch": 7, "split": "random"}


def test_canonical_spec_sorted_and_reloadable_from_elsewhere(tmp_path, monkeypatch, scene_file):
    monkeypatch.chdir(scene_file.parent)
    data = load_dataset("hsi:scene.mat, test=0.40 ,patch=5", seed=3)
    assert data.spec == f"hsi:{scene_file},patch=5,test=0.4"
    other = tmp_path / "elsewhere"
    other.mkdir()
    monkeypatch.chdir(other)
    again = load_dataset(data.spec, seed=3)
    assert again.spec == data.spec
    np.testing.assert_array_equal(again.x_train, data.x_train)
    np.testing.assert_array_equal(again.y_test, data.y_test)


@pytest.mark.parametrize(
    "spec, needles",
    [
        ("hsx:foo", ["'hsx'", "hsx:foo", "synthetic, hsi, so2sat, eurosat, folder", "hsi:PATH"]),
        ("", ["empty dataset spec", "synthetic"]),
        ("hsi", ["needs a path", "hsi:PATH"]),
        ("hsi:", ["needs a path"]),
        ("synthetic:foo", ["takes no path", "synthetic:foo"]),
        ("synthetic,colour=red", ["unknown option 'colour'", "n, size, split, test"]),
        ("hsi:x.mat,frobnicate=1", ["unknown option 'frobnicate'", "block, cube, gt, gt_file, patch, pca"]),
        ("synthetic,n=abc", ["bad value 'abc'", "'n'", "integer >= 2", "n=200"]),
        ("hsi:x.mat,patch=8", ["bad value '8'", "odd integer"]),
        ("synthetic,test=1.5", ["bad value '1.5'", "strictly between 0 and 1"]),
        ("synthetic,split=spatial", ["bad value 'spatial'", "one of random"]),
        ("hsi:x.mat,split=blocks", ["one of spatial, random"]),
        ("synthetic,n", ["'n' in spec", "key=value"]),
        ("synthetic,n=3,n=4", ["'n' is given twice"]),
        ("eurosat:x,bands=B04+B13", ["'B04+B13'", "B01, B02", "B8A"]),
        ("folder:x,size=0", ["bad value '0'", "HxW"]),
    ],
)
def test_bad_specs_raise_one_line_errors(spec, needles):
    with pytest.raises(DataError) as info:
        parse_spec(spec)
    message = str(info.value)
    assert "\n" not in message
    for needle in needles:
        assert needle in message


def test_missing_path_names_it(tmp_path):
    missing = tmp_path / "nowhere" / "scene.mat"
    with pytest.raises(DataError, match="does not exist") as info:
        load_dataset(f"hsi:{missing}")
    assert str(missing) in str(info.value)


def test_kind_is_case_insensitive_and_options_keep_values():
    assert parse_spec("Synthetic,n=5")[0] == "synthetic"
    assert parse_spec("eurosat:/d,bands=b04+b03")[2] == {"bands": ("B04", "B03")}
    assert parse_spec("folder:/d,size=32x48")[2] == {"size": (32, 48)}
