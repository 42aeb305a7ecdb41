"""The search's weight and architecture halves: spatially disjoint on a scene, random elsewhere."""
from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from compactrs.cli import cli, main
from compactrs.data import load_dataset
from compactrs.errors import ConfigError
from compactrs.nas.halves import search_halves


@pytest.fixture(scope="module")
def scene(indian_pines_full):
    return load_dataset(f"hsi:{indian_pines_full}", seed=0)


def test_spatial_halves_of_a_scene_share_no_patch_pixel(scene):
    w, a, record = search_halves(scene, 0)  # auto: the scene was split spatially, so are its halves
    assert record["method"] == "spatial-blocks" and (len(w), len(a)) == (record["weight_half"], record["architecture_half"])
    assert not set(w.tolist()) & set(a.tolist())
    assert len(w) + len(a) + record["dropped_buffer_pixels"] == len(scene.y_train)
    coords = np.asarray(scene.meta["train_coords"])
    patch = scene.preprocess["patch"]
    # Chebyshev distance between every weight-half pixel and every architecture-half pixel: patches never overlap
    gap = np.abs(coords[w.numpy()][:, None, :] - coords[a.numpy()][None, :, :]).max(-1)
    assert gap.min() >= patch
    # the block side was chosen to leave few classes out of the architecture half (only the rarest)
    missing = record["classes_without_architecture_pixels"]
    assert len(missing) <= 4 and all(np.sum(scene.y_train == c) < 200 for c in missing)
    assert 2 * patch <= record["block"] <= scene.split["block"]


def test_random_halves_are_disjoint_halves(scene):
    w, a, record = search_halves(scene, 0, "random")
    assert record["method"] == "random" and len(w) == len(scene.y_train) // 2
    assert sorted(w.tolist() + a.tolist()) == list(range(len(scene.y_train)))


def test_data_that_is_not_a_spatially_split_scene_gets_random_halves_or_a_one_line_refusal(tmp_path, capsys):
    images = load_dataset("synthetic,n=8,size=8", seed=0)
    assert search_halves(images, 0)[2]["method"] == "random"
    with pytest.raises(ConfigError, match="--search-split spatial needs a labelled scene"):
        search_halves(images, 0, "spatial")
    code = main(["search", "--data", "synthetic,n=8,size=8", "--flops-target", "1M", "--search-split", "spatial",
                 "--epochs", "1", "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code != 0 and len(err.strip().splitlines()) == 1 and "--search-split spatial needs a labelled scene" in err
    assert not (tmp_path / "run" / "report.json").exists()


def test_the_report_and_log_record_the_halves(tmp_path, indian_pines):
    out = tmp_path / "run"
    result = CliRunner().invoke(cli, ["search", "--data", f"hsi:{indian_pines}", "--flops-target", "3M",
                                      "--nodes", "1", "--blocks", "1", "--max-depth", "2", "--epochs", "1", "--search-split", "auto",
                                      "--retrain-epochs", "0", "--ops", "skip_connect,conv_3x3", "--threads", "1",
                                      "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    halves = json.loads((out / "report.json").read_text())["search"]["halves"]
    assert halves["method"] == "spatial-blocks"
    log = (out / "search" / "log.txt").read_text()
    assert f"search split: spatial blocks of {halves['block']} px ({halves['weight_half']} weight" in log
