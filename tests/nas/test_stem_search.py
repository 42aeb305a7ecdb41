"""The stem kind in the search: priced per kind, sampled and derived like an op, end to end on Indian Pines; refusals."""
from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner

from compactrs.cli import cli, main
from compactrs.cost import count_macs
from compactrs.errors import ConfigError
from compactrs.models import build_model, create_model
from compactrs.nas.config import SearchConfig
from compactrs.nas.costs import one_hot_probs
from compactrs.nas.derive import BudgetSpace, choose_stem_and_width, Budget
from compactrs.nas.supernet import Supernet
from compactrs.nn.stems import make_stem

OPS = ("skip_connect", "sep_conv_3x3", "max_pool_3x3", "conv_3x3")
GENOTYPE = {"normal": [["sep_conv_3x3", 0], ["skip_connect", 1]] * 4, "reduce": [["max_pool_3x3", 0], ["conv_3x3", 1]] * 4,
            "depths": [1, 2], "concat": [2, 3, 4, 5]}


@pytest.mark.parametrize("kind", ["conv", "spectral"])
def test_the_table_prices_each_stem_kind_as_the_built_network_counts(kind):
    space = BudgetSpace(200, 9, 16, OPS, blocks=2, max_depth=2, stem_kinds=("conv", "spectral"))
    genotype = {**GENOTYPE, "stem": {"kind": kind, "stride": 1}}
    model = create_model("cellnet", 200, 16, genotype=genotype, init_channels=8)
    assert space.cost("macs", genotype, 8) == count_macs(model, (1, 200, 9, 9))
    table = space.table("macs", 8)
    assert table.discrete(genotype) == count_macs(model, (1, 200, 9, 9))
    # the two kinds differ by exactly their stems: the conv stem's 3x3 conv, the spectral stem's hand count
    conv_stem = 81 * 8 * 200 * 9
    assert float(table.stem_fixed[1] - table.stem_fixed[0]) == make_stem({"kind": "spectral", "stride": 1}, 200, 8).macs(9, 9) - conv_stem


def test_the_expected_cost_weights_the_stems_by_their_probabilities():
    space = BudgetSpace(200, 9, 16, OPS, blocks=2, max_depth=2, stem_kinds=("conv", "spectral"))
    table = space.table("macs", 8)
    probs = one_hot_probs({**GENOTYPE, "stem": {"kind": "conv", "stride": 1}}, OPS, 4, 2, table.stem_kinds)
    conv = float(table.expected(probs))
    probs.stems = torch.tensor([0.25, 0.75], dtype=torch.float64, requires_grad=True)
    mixed = table.expected(probs)
    assert float(mixed.detach()) == pytest.approx(conv + 0.75 * float(table.stem_fixed[1] - table.stem_fixed[0]))
    mixed.backward()
    torch.testing.assert_close(probs.stems.grad, table.stem_fixed)  # d E[cost] / d p(kind) = that kind's fixed cost


def test_the_supernet_samples_both_stems_and_derives_the_likelier():
    torch.manual_seed(0)
    net = Supernet(200, 16, 9, OPS, init_channels=4, blocks=2, max_depth=2, initial_depth=1, stem_kinds=("conv", "spectral"))
    assert any(p is net.stem_logits for p in net.arch_parameters())
    assert not any(p is net.stem_logits for p in net.weight_parameters())
    generator = torch.Generator().manual_seed(0)
    drawn = {net.sample(1.0, generator).stem_index for _ in range(40)}
    assert drawn == {0, 1}
    sample = net.sample(1.0, generator)
    net(torch.randn(2, 200, 9, 9), sample).sum().backward()
    assert net.stem_logits.grad is not None and net.stem_logits.grad.abs().sum() > 0
    with torch.no_grad():
        net.stem_logits.copy_(torch.tensor([0.0, 2.0]))
    assert net.derive()["stem"] == {"kind": "spectral", "stride": 1}
    with torch.no_grad():
        net.stem_logits.copy_(torch.tensor([2.0, 0.0]))
    assert net.derive()["stem"] == {"kind": "conv", "stride": 1}
    fixed = Supernet(200, 16, 9, OPS, init_channels=4, blocks=2, max_depth=2, initial_depth=1)
    assert not hasattr(fixed, "stem_logits") and fixed.derive()["stem"] == {"kind": "conv", "stride": 1}


def test_a_spectral_or_searched_stem_keeps_stride_one():
    space = BudgetSpace(200, 9, 16, OPS, blocks=2, max_depth=2, stem_kinds=("conv", "spectral"))
    stride, _, _ = choose_stem_and_width(space, [Budget("macs", 3e6, 0.2)], 8)
    assert stride == 1
    with pytest.raises(ConfigError, match="--stem-stride 1"):
        SearchConfig(flops_target=5_000_000, stem="spectral", stem_stride=2)
    with pytest.raises(ConfigError, match="--stem must be one of conv, spectral, search"):
        SearchConfig(flops_target=5_000_000, stem="fft")


def test_a_few_band_input_is_refused_before_any_training(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["search", "--data", "synthetic", "--flops-target", "1M", "--stem", "search", "--epochs", "1", "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert ">= 16 bands" in err and "has 10" in err and "--stem conv" in err
    assert not out.exists() and not (tmp_path / "run.search").exists()
    assert main(["search", "--data", "synthetic", "--flops-target", "1M", "--stem", "spectral", "--stem-stride", "4"]) == 2
    assert "--stem-stride" in capsys.readouterr().err


@pytest.mark.slow  # ~50 s on the shared 2-core machine: search, retrain, ONNX latency, plots
def test_search_chooses_the_stem_derives_and_retrains_on_indian_pines(indian_pines, tmp_path):
    out = tmp_path / "run"
    args = ["search", "--data", f"hsi:{indian_pines}", "--flops-target", "5M", "--stem", "search", "--epochs", "1",
            "--retrain-epochs", "1", "--batch-size", "64", "--max-depth", "2", "--init-channels", "8", "--threads", "1",
            "--out", str(out)]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    genotype = json.loads((out / "genotype.json").read_text())
    kind = report["genotype"]["stem"]["kind"]
    assert kind in ("conv", "spectral") and genotype["genotype"]["stem"] == {"kind": kind, "stride": 1}
    assert set(genotype["stem_probs"]) == {"conv", "spectral"}
    assert max(genotype["stem_probs"], key=genotype["stem_probs"].get) == kind
    assert f"stem {kind} (searched: conv" in result.stdout
    arch = json.loads((out / "arch.json").read_text())
    model = build_model(arch)
    assert type(model.stem).__name__ == ("SpectralStem" if kind == "spectral" else "Sequential")
    assert count_macs(model, (1, 200, 9, 9)) == report["macs"]
    assert json.loads((out / "config.json").read_text())["search"]["stem"] == "search"
