"""The oneDNN strided-1×1 backward corruption (FINDINGS.md, oneDNN#6035) never reaches compactrs' layers.

Memory corruption kills the process (SIGSEGV / SIGABRT), so the triggering shapes run in a subprocess and
the test asserts its exit status.
"""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
import torch

from compactrs.nn.pointwise import StridedPointwiseConv


def _run(code: str, timeout: int = 540) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=timeout)


def test_same_output_and_gradients_as_a_strided_conv():
    torch.manual_seed(0)
    safe = StridedPointwiseConv(6, 3, stride=2)
    plain = torch.nn.Conv2d(6, 3, 1, stride=2, bias=False)
    plain.load_state_dict(safe.state_dict())
    x = torch.randn(4, 6, 11, 11)  # odd size: ceil(11 / 2) = 6 outputs per side in both
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    ya, yb = safe(xa), plain(xb)
    assert ya.shape == yb.shape == (4, 3, 6, 6)
    torch.testing.assert_close(ya, yb)
    ya.pow(2).sum().backward()
    yb.pow(2).sum().backward()
    torch.testing.assert_close(xa.grad, xb.grad)
    torch.testing.assert_close(safe.weight.grad, plain.weight.grad)
    assert list(safe.state_dict()) == ["weight"]


# The minimal trigger (FINDINGS.md) with the toolkit's layer, then the toolkit's own training step on a
# CellNet whose FactorizedReduce convs have 2–8 input channels on 13×64×64 channels-last batches (the search
# loop's own channels-last path on EuroSAT MS has its own test below).
TRIGGER = """
import numpy as np, torch
from compactrs.nn.pointwise import StridedPointwiseConv
from compactrs.models import create_model
from compactrs.nn.cells import random_genotype
from compactrs.training.loop import TrainConfig, fit
torch.set_num_threads(1)
conv = StridedPointwiseConv(6, 3, stride=2)
x = torch.randn(16, 6, 64, 64).contiguous(memory_format=torch.channels_last).requires_grad_()
for _ in range(3):
    conv(x).pow(2).mean().backward()
genotype = random_genotype(np.random.default_rng(0), ["skip_connect", "sep_conv_3x3"], max_depth=1)
model = create_model("cellnet", 13, 4, genotype=genotype, init_channels=2)
rng = np.random.default_rng(0)
xs = rng.standard_normal((32, 13, 64, 64)).astype("float32")
fit(model, xs, (np.arange(32) % 4).astype("int64"), TrainConfig(epochs=2, batch_size=16, threads=1))
print("survived")
"""


def test_triggering_shapes_train_without_corrupting_memory():
    result = _run(TRIGGER)
    assert result.returncode == 0, f"exit {result.returncode}: {result.stderr[-2000:]}"
    assert "survived" in result.stdout


SWEEP = """
import numpy as np, torch
from compactrs.models import create_model, list_models
from compactrs.nn.cells import random_genotype
from compactrs.training.loop import TrainConfig, fit
torch.set_num_threads(1)
rng = np.random.default_rng(0)
for name in list_models():
    for size in (9, 32, 64):
        kwargs = {}
        if name == "cellnet":
            kwargs = {"genotype": random_genotype(rng, ["skip_connect", "sep_conv_3x3"], max_depth=1), "init_channels": 2}
        model = create_model(name, 13, 4, **kwargs)
        x = rng.standard_normal((16, 13, size, size)).astype("float32")
        fit(model, x, (np.arange(16) % 4).astype("int64"), TrainConfig(epochs=1, batch_size=8, threads=1))
        print(name, size, flush=True)
print("survived")
"""


@pytest.mark.slow
def test_every_registered_model_trains_channels_last_at_every_size():
    result = _run(SWEEP, timeout=1200)
    assert result.returncode == 0, f"exit {result.returncode} after:\n{result.stdout[-500:]}\n{result.stderr[-2000:]}"
    assert "survived" in result.stdout


def test_search_loop_on_13_band_64px_tiles_survives(shared_data, tmp_path):
    """The search loop feeds channels-last batches to the supernet (compactrs/nas/loop.py): the command that
    aborted with 'double free or corruption' on EuroSAT MS, run in its own process at the smallest budget."""
    result = subprocess.run(
        [sys.executable, "-m", "compactrs.cli", "search", "--data", f"eurosat:{shared_data / 'eurosat_ms'}",
         "--flops-target", "2M", "--epochs", "2", "--retrain-epochs", "1", "--threads", "1", "--seed", "1",
         "--out", str(tmp_path / "run")], capture_output=True, text=True, timeout=540, cwd=tmp_path)
    assert result.returncode == 0, f"exit {result.returncode}: {result.stderr[-2000:]}"
    assert (tmp_path / "run" / "model.pt").is_file()


@pytest.mark.slow  # ~25 s: a real search at full 64x64 resolution in its own process
def test_search_loop_of_a_two_node_two_block_space_at_full_64px_resolution_survives(shared_data, tmp_path):
    """--nodes 2 --blocks 2 with the stride-1 stem: the reduction cell's FactorizedReduce (strided 1x1 convs) runs
    on channels-last 64x64 maps in the search's backward pass, the triggering shape of the oneDNN corruption."""
    result = subprocess.run(
        [sys.executable, "-m", "compactrs.cli", "search", "--data", f"eurosat:{shared_data / 'eurosat_ms'}",
         "--flops-target", "40M", "--nodes", "2", "--blocks", "2", "--stem-stride", "1", "--init-channels", "8",
         "--max-depth", "2", "--epochs", "2", "--retrain-epochs", "1", "--threads", "1", "--seed", "1",
         "--out", str(tmp_path / "run"), "--json"], capture_output=True, text=True, timeout=540, cwd=tmp_path)
    assert result.returncode == 0, f"exit {result.returncode}: {result.stderr[-2000:]}"
    report = json.loads(result.stdout)
    assert report["genotype"]["stem"]["stride"] == 1 and len(report["genotype"]["depths"]) == 2
    assert len(report["genotype"]["normal"]) == 4 and (tmp_path / "run" / "model.pt").is_file()
