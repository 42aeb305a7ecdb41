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
from compactrs.nas.derive import Budget, BudgetSpace, choose_stem_and_width
from compactrs.nas.supernet import Supernet
from compactrs.nn.stems import make_stem

OPS = ("skip_connect", "sep_conv_3x3", "max_pool_3x3", "conv_3x3")
GENOTYPE = {"normal": [["sep_conv_3x3", 0], ["skip_connect", 1]] * 4, "reduce": [["max_pool_3x3", 0], ["conv_3x3", 1]] * 4,
            "depths": [1, 2], "concat": [2, 3, 4, 5]}


KINDS = ("conv", "spectral", "pointwise")


@pytest.mark.parametrize("kind", KINDS)
def test_the_table_prices_each_stem_kind_as_the_built_network_counts(kind):
    space = BudgetSpace(200, 9, 16, OPS, blocks=2, max_depth=2, stem_kinds=KINDS)
    genotype = {**GENOTYPE, "stem": {"kind": kind, "stride": 1}}
    model = create_model("cellnet", 200, 16, genotype=genotype, init_channels=8)
    assert space.cost("macs", genotype, 8) == count_macs(model, (1, 200, 9, 9))
    table = space.table("macs", 8)
    assert table.discrete(genotype) == count_macs(model, (1, 200, 9, 9))
    # the kinds differ by exactly their stems: the conv stem's 3x3 conv, the spectral stem's hand count, a 1x1 conv
    conv_stem = 81 * 8 * 200 * 9
    assert float(table.stem_fixed[1] - table.stem_fixed[0]) == make_stem({"kind": "spectral", "stride": 1}, 200, 8).macs(9, 9) - conv_stem
    assert float(table.stem_fixed[2] - table.stem_fixed[0]) == 81 * 8 * 200 - conv_stem


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
    with pytest.raises(ConfigError, match="--stem pointwise keeps every pixel's spectrum.*--stem-stride 1"):
        SearchConfig(flops_target=5_000_000, stem="pointwise", stem_stride=4)
    with pytest.raises(ConfigError, match="--stem must be one of conv, spectral, pointwise, search"):
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
    assert kind in KINDS and genotype["genotype"]["stem"] == {"kind": kind, "stride": 1}
    assert set(genotype["stem_probs"]) == set(KINDS)
    assert max(genotype["stem_probs"], key=genotype["stem_probs"].get) == kind
    assert f"stem {kind} (searched: conv" in result.stdout
    arch = json.loads((out / "arch.json").read_text())
    model = build_model(arch)
    assert type(model.stem).__name__ == ("SpectralStem" if kind == "spectral" else "Sequential")
    assert count_macs(model, (1, 200, 9, 9)) == report["macs"]
    assert json.loads((out / "config.json").read_text())["search"]["stem"] == "search"


def _engine(dataset, work_dir, stem):
    from compactrs.nas.loop import BiLevelSearch

    config = SearchConfig(flops_target=2_000_000, epochs=2, batch_size=256, max_depth=2, initial_depth=1, stem=stem,
                          ops=",".join(OPS), threads=1)
    space = BudgetSpace(dataset.in_bands, 3, dataset.num_classes, config.ops, max_depth=2, stem_kinds=config.stem_kinds())
    return BiLevelSearch(config, dataset, 4, space.table("macs", 4), None, work_dir,
                         stem={"kind": config.stem_kinds()[0], "stride": 1}, stem_kinds=config.stem_kinds())


def test_resume_refuses_a_changed_stem_and_reads_older_checkpoints_as_conv(indian_pines, tmp_path):
    from compactrs.data import load_dataset

    dataset = load_dataset(f"hsi:{indian_pines},patch=3", seed=0)

    class Killed(Exception):
        pass

    def kill(record):
        raise Killed

    with pytest.raises(Killed):
        _engine(dataset, tmp_path / "w", "conv").run(on_epoch=kill)
    with pytest.raises(ConfigError, match=r"different \['stem'\]"):
        _engine(dataset, tmp_path / "w", "search").run(resume=True)
    # a checkpoint written before --stem existed has no "stem" in its config: it ran the conv stem
    path = tmp_path / "w" / "checkpoint.pt"
    payload = torch.load(path, weights_only=True)
    del payload["config"]["stem"]
    torch.save(payload, path)
    engine = _engine(dataset, tmp_path / "w", "conv")
    assert engine.load() and engine.epoch == 1
