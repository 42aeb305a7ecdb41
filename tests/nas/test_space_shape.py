"""Fewer nodes per cell and fewer blocks (``--nodes``, ``--blocks``): priced exactly, searched end to end."""
from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from compactrs.cli import cli
from compactrs.cost import count_macs
from compactrs.errors import ConfigError
from compactrs.models import create_model
from compactrs.nas import search
from compactrs.nas.costs import CostTable, MacCost
from compactrs.nas.derive import BudgetSpace
from compactrs.nas.space import supernet_layout
from compactrs.nn.cells import random_genotype
from compactrs.nn.ops import OPS

SPEC = "synthetic,n=8,size=8"


@pytest.mark.parametrize("nodes, blocks", [(1, 1), (2, 1), (1, 2), (3, 2), (2, 3)])
def test_mac_table_of_a_smaller_space_equals_the_built_network(nodes, blocks):
    rng = np.random.default_rng(10 * nodes + blocks)
    layout = supernet_layout(12, 6, 1, blocks, 3, nodes)
    table = CostTable(MacCost(), layout, list(OPS), 7, 12, 5, nodes)
    for _ in range(3):
        genotype = random_genotype(rng, list(OPS), nodes, blocks, 3)
        model = create_model("cellnet", 7, 5, genotype=genotype, init_channels=6)
        assert len(model.cells) == sum(genotype["depths"]) + blocks - 1
        assert table.discrete(genotype) == count_macs(model, (1, 7, 12, 12))


def test_search_with_one_node_and_one_block_lands_in_its_band(tmp_path):
    ops = ("skip_connect", "conv_3x3", "sep_conv_3x3", "max_pool_3x3")
    space = BudgetSpace(10, 8, 6, ops, blocks=1, max_depth=2, nodes=1)
    low, high = space.extremes("macs", 8)
    target = int(low + 0.6 * (high - low))
    # one-node cells at width 8 cost ∝ width²: an even-width step moves the MACs by ~25 %, so the band is 25 % wide
    report = search(SPEC, out=tmp_path / "run", flops_target=target, tolerance=0.25, epochs=2, retrain_epochs=0,
                    batch_size=6, max_depth=2, initial_depth=1, init_channels=8, ops=",".join(ops), nodes=1, blocks=1,
                    threads=1)
    genotype = report["genotype"]
    assert len(genotype["normal"]) == 2 and genotype["concat"] == [2] and len(genotype["depths"]) == 1
    assert report["target"]["met"] is True, report["target"]["message"]
    assert 0.75 * target <= report["macs"] <= target
    model = create_model("cellnet", 10, 6, genotype=genotype, init_channels=report["init_channels"])
    assert count_macs(model, (1, 10, 8, 8)) == report["macs"]
    saved = json.loads((tmp_path / "run" / "genotype.json").read_text())
    assert saved["genotype"]["normal"] == genotype["normal"]


@pytest.mark.parametrize("option, value, valid", [("--nodes", "5", "1<=x<=4"), ("--nodes", "0", "1<=x<=4"),
                                                  ("--blocks", "4", "1<=x<=3")])
def test_a_space_shape_outside_the_range_is_refused_in_one_line(option, value, valid, tmp_path):
    result = CliRunner().invoke(cli, ["search", "--data", SPEC, "--flops-target", "1M", option, value,
                                      "--out", str(tmp_path / "run")])
    assert result.exit_code == 2
    assert f"Invalid value for '{option}'" in result.output and valid in result.output
    assert not (tmp_path / "run").exists()


class IsolatedOpTable:
    """A made-up isolated-op table (no kernels, no contexts), for tests only: constants per piece."""

    space = {"nodes": 4, "blocks": 3}

    def edge_ms(self, op, channels, size, stride):
        return 0.01

    def cell_base_ms(self, c_prev_prev, c_prev, channels, size, reduction, reduction_prev):
        return 0.02

    def fixed_ms(self, in_bands, input_size, stem_channels, final_channels, num_classes):
        return 0.05


@pytest.mark.parametrize("shape, message", [({"nodes": 2}, "4 nodes only, not 2; search with --nodes 4"),
                                            ({"blocks": 1}, "3 blocks only, not 1; search with --blocks 3")])
def test_an_isolated_op_profile_is_not_stretched_to_other_shapes(shape, message, tmp_path):
    with pytest.raises(ConfigError, match=message):
        search(SPEC, out=tmp_path / "run", latency_target_ms=0.5, profile="made-up", latency_profile=IsolatedOpTable(),
               epochs=1, retrain_epochs=0, batch_size=6, ops="zero,skip_connect,sep_conv_3x3,max_pool_3x3", threads=1,
               **shape)
    assert not (tmp_path / "run.search").exists()


def test_the_cli_searches_a_two_node_one_block_space(tmp_path):
    result = CliRunner().invoke(cli, ["search", "--data", SPEC, "--flops-target", "400K", "--tolerance", "0.3",
                                      "--nodes", "2", "--blocks", "1", "--max-depth", "2", "--epochs", "1",
                                      "--retrain-epochs", "0", "--batch-size", "6", "--ops", "skip_connect,conv_3x3,max_pool_3x3",
                                      "--threads", "1", "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    genotype = json.loads((tmp_path / "run" / "genotype.json").read_text())["genotype"]
    assert len(genotype["normal"]) == 4 and genotype["concat"] == [2, 3] and len(genotype["depths"]) == 1
    assert "(one block: no reduction cell runs)" in result.output and "reduce " not in result.output
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert (config["search"]["nodes"], config["search"]["blocks"]) == (2, 1)


def test_centred_width_starts_the_search_nearest_the_band_centre():
    from compactrs.nas.derive import Budget, centred_width

    ops = ("zero", "skip_connect", "conv_3x3", "sep_conv_3x3")
    space = BudgetSpace(10, 8, 6, ops, blocks=2, max_depth=3, nodes=2)
    budget = Budget("macs", 0.5 * (space.start_cost("macs", 20) + space.start_cost("macs", 22)) / 0.95, 0.1)
    width, start = centred_width(space, budget)
    # every even width priced: the bisection found the one whose start is nearest the centre (log distance)
    centre = budget.target * 0.95
    every = {w: space.start_cost("macs", w) for w in range(8, 65, 2)}
    assert width == min(every, key=lambda w: abs(np.log(every[w] / centre))) and start == every[width]
    assert width in (20, 22)


class StepwiseTable:
    """A made-up latency table (tests only) whose time is not monotonic in width: widths that are not a multiple
    of 8 pay double, as onnxruntime's channel blocks make real networks do."""

    space = {"init_channels": list(range(8, 33, 2))}

    def edge_ms(self, op, channels, size, stride):
        return (0.0 if op == "zero" else 0.001 * channels) * (1 if channels % 8 == 0 else 2)

    def cell_base_ms(self, c_prev_prev, c_prev, channels, size, reduction, reduction_prev):
        return 0.001 * channels

    def fixed_ms(self, in_bands, input_size, stem_channels, final_channels, num_classes):
        return 0.01


def test_centred_width_of_a_latency_budget_is_the_widest_that_starts_in_the_band():
    from compactrs.nas.derive import Budget, centred_width

    ops = ("zero", "skip_connect", "conv_3x3")
    space = BudgetSpace(10, 8, 6, ops, blocks=1, max_depth=2, nodes=1, profile=StepwiseTable())
    starts = {w: space.start_cost("latency_ms", w) for w in StepwiseTable.space["init_channels"]}
    assert starts[18] > starts[24]  # not monotonic: a bisection would miss
    budget = Budget("latency_ms", starts[24] * 1.02, 0.1)
    width, start = centred_width(space, budget, widths=StepwiseTable.space["init_channels"])
    inside = [w for w, ms in starts.items() if budget.target * 0.9 <= ms <= budget.target]
    assert width == max(inside) and start == starts[width]


def test_the_cli_searches_at_the_centred_width(tmp_path):
    from compactrs.nas.derive import Budget, centred_width

    ops = "zero,skip_connect,conv_3x3,sep_conv_3x3"
    space = BudgetSpace(10, 8, 6, tuple(ops.split(",")), blocks=1, max_depth=2, nodes=2)  # synthetic: 10 bands, 6 classes
    target = 1.5 * space.start_cost("macs", 24, initial_depth=2)
    expected, _ = centred_width(space, Budget("macs", target, 0.3), initial_depth=2)
    result = CliRunner().invoke(cli, ["search", "--data", "synthetic,n=8,size=8", "--flops-target", str(int(target)),
                                      "--tolerance", "0.3", "--centre-width", "--nodes", "2", "--blocks", "1",
                                      "--max-depth", "2", "--epochs", "1", "--retrain-epochs", "0", "--batch-size", "6",
                                      "--ops", ops, "--threads", "1", "--out", str(tmp_path / "run"), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["search"]["search_init_channels"] == expected != 16
    assert "where the starting distribution costs" in report["search"]["width_message"]
