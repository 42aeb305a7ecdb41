"""The cost model: exact MACs of discrete genotypes, expected cost of the distribution, supernet ↔ CellNet."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from compactrs.cost import count_macs
from compactrs.models import arch_of, build_model
from compactrs.nn.cells import random_genotype
from compactrs.nn.ops import RS_OPS
from compactrs.nas.costs import CostTable, MacCost
from compactrs.nas.space import supernet_layout
from compactrs.nas.supernet import Supernet

MACS = MacCost()
SMALL_OPS = ("zero", "skip_connect", "sep_conv_3x3", "dil_conv_5x5", "max_pool_3x3", "ms_att_5")


def cellnet_macs(genotype, bands, size, classes, width, stem_multiplier=1):
    arch = arch_of("cellnet", bands, classes, genotype=genotype, init_channels=width, stem_multiplier=stem_multiplier)
    return count_macs(build_model(arch), (1, bands, size, size))


@pytest.mark.parametrize("bands,size,width,stem_multiplier", [(200, 9, 16, 1), (10, 16, 6, 2)])
def test_discrete_cost_equals_count_macs_of_the_built_network(bands, size, width, stem_multiplier):
    table = CostTable(MACS, supernet_layout(size, width, stem_multiplier), RS_OPS, bands, size, 4)
    rng = np.random.default_rng(0)
    for _ in range(1):
        genotype = random_genotype(rng, RS_OPS)
        assert table.discrete(genotype) == cellnet_macs(genotype, bands, size, 4, width, stem_multiplier)
    # depth 1 in block 0 makes the next reduction read the stem (fewer channels): priced separately;
    # normal cells that never read input 1 leave every other cell's output unread: dead code, not counted
    genotype = {**random_genotype(rng, RS_OPS), "depths": [1, 3, 2]}
    genotype["normal"] = [[op, 0 if source == 1 else source] for op, source in genotype["normal"]]
    assert table.discrete(genotype) == cellnet_macs(genotype, bands, size, 4, width, stem_multiplier)
    dead_free = {**genotype, "normal": [[op, 1] for op, _ in genotype["normal"]]}
    assert table.discrete(dead_free) == cellnet_macs(dead_free, bands, size, 4, width, stem_multiplier)


class _FixedPath(nn.Module):
    """The supernet with one sample frozen, so fvcore can trace the path it runs."""

    def __init__(self, net, sample):
        super().__init__()
        self.net, self.sample = net, sample

    def forward(self, x):
        return self.net(x, self.sample)


def test_supernet_runs_exactly_the_sampled_cellnet():
    torch.manual_seed(0)
    net = Supernet(20, 3, 9, SMALL_OPS, init_channels=4, max_depth=2, initial_depth=2)
    generator = torch.Generator().manual_seed(0)
    for _ in range(1):
        with torch.no_grad():  # a frozen sample (constants for the tracer)
            sample = net.sample(5.0, generator)
        genotype = sample.genotype(net.ops)
        # the path the supernet runs costs exactly what the derived CellNet costs
        assert count_macs(_FixedPath(net, sample), (1, 20, 9, 9)) == cellnet_macs(genotype, 20, 9, 3, 4)
        logits = net(torch.randn(2, 20, 9, 9), sample)
        assert logits.shape == (2, 3)


def test_expected_cost_is_the_mean_cost_of_samples():
    torch.manual_seed(1)
    net = Supernet(10, 3, 8, SMALL_OPS, init_channels=4, max_depth=3, initial_depth=2)
    with torch.no_grad():  # a skewed, non-uniform distribution
        for p in net.arch_parameters():
            p.copy_(torch.randn_like(p))
    table = CostTable(MACS, net.layout, net.ops, 10, 8, 3)
    with torch.no_grad():
        expected = float(table.expected(net.probabilities()))
    generator = torch.Generator().manual_seed(0)
    costs = [table.discrete(net.sample(1.0, generator).genotype(net.ops)) for _ in range(800)]
    stderr = np.std(costs) / np.sqrt(len(costs))
    assert abs(np.mean(costs) - expected) < 4 * stderr, (np.mean(costs), expected, stderr)


def test_expected_cost_is_differentiable_in_every_architecture_parameter():
    net = Supernet(10, 3, 8, SMALL_OPS, init_channels=4, max_depth=3)
    table = CostTable(MACS, net.layout, net.ops, 10, 8, 3)
    table.expected(net.probabilities()).backward()
    for name, p in zip(net.ARCH_NAMES, net.arch_parameters()):
        assert p.grad is not None and torch.count_nonzero(p.grad) > 0, name


def test_a_single_depth_per_block_samples_and_derives():
    # --max-depth 1 once gave log(0) = -inf depth logits: NaN probabilities, and sampling failed
    net = Supernet(20, 3, 9, SMALL_OPS, init_channels=4, max_depth=1, initial_depth=1)
    assert torch.isfinite(net.probabilities().depths).all()
    sample = net.sample(5.0, torch.Generator().manual_seed(0))
    assert net(torch.randn(2, 20, 9, 9), sample).shape == (2, 3)
    assert net.derive()["depths"] == [1, 1, 1]
