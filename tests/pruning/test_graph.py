"""Coupled channel groups found by tracing: residual adds, downsample branches, cell nets, fvcore agreement."""
import numpy as np
import pytest
import torch
from torch import nn

from compactrs.cost import count_macs
from compactrs.models import create_model
from compactrs.nn.cells import random_genotype
from compactrs.pruning.graph import trace_channel_groups

# (ResNet-34 and VGG-16 are compared with fvcore in test_plan.py's MAC-ratio tests.)
CASES = [
    ("resnet20", {}, (1, 3, 32, 32)),
    ("patchcnn", {}, (1, 200, 9, 9)),
    ("cellnet", {"genotype": random_genotype(np.random.default_rng(0))}, (1, 3, 16, 16)),
]


@pytest.mark.parametrize("name,kwargs,shape", CASES, ids=[c[0] for c in CASES])
def test_layer_table_macs_equal_fvcore(name, kwargs, shape):
    model = create_model(name, shape[1], 10, **kwargs)
    graph = trace_channel_groups(model, shape)
    assert graph.total_macs == count_macs(model, shape)
    assert graph.prunable_groups


def test_resnet20_groups_follow_the_residual_stages():
    graph = trace_channel_groups(create_model("resnet20", 3, 10), (1, 3, 32, 32))
    groups = {frozenset(g.producers): g for g in graph.prunable_groups}
    stage1 = groups[frozenset({"conv1", "layer1.0.conv2", "layer1.1.conv2", "layer1.2.conv2"})]
    assert stage1.channels == 16
    assert set(stage1.consumers) == {"layer1.0.conv1", "layer1.1.conv1", "layer1.2.conv1", "layer2.0.conv1",
                                     "layer2.0.downsample.0"}
    stage3 = groups[frozenset({"layer3.0.downsample.0", "layer3.0.conv2", "layer3.1.conv2", "layer3.2.conv2"})]
    assert stage3.consumers[-1] == "fc" and stage3.channels == 64
    # 3 stage groups + one inner group per block (9 blocks)
    assert len(graph.prunable_groups) == 12


def test_resnet34_groups_match_torch_pruning_dependency_graph():
    tp = pytest.importorskip("torch_pruning")
    model = create_model("resnet34", 3, 10)
    names = {module: name for name, module in model.named_modules()}
    dg = tp.DependencyGraph().build_dependency(model, example_inputs=torch.zeros(1, 3, 32, 32))
    theirs = set()
    for group in dg.get_all_groups(ignored_layers=[model.fc]):
        convs = {names[dep.target.module] for dep, _ in group
                 if isinstance(dep.target.module, nn.Conv2d) and dep.handler == tp.prune_conv_out_channels}
        theirs.add(frozenset(convs))
    ours = {frozenset(g.producers) for g in trace_channel_groups(model, (1, 3, 32, 32)).prunable_groups}
    assert len(ours) == 20
    assert ours == theirs


class _Concat(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(3, 8, 3, padding=1)
        self.b = nn.Conv2d(3, 8, 3, padding=1)
        self.head = nn.Linear(16, 2)

    def forward(self, x):
        return self.head(torch.cat([self.a(x), self.b(x)], 1).mean((2, 3)))


def test_concatenation_fixes_its_inputs_with_a_reason():
    graph = trace_channel_groups(_Concat(), (1, 3, 8, 8))
    assert graph.prunable_groups == []
    reasons = {g.fixed_reason for g in graph.groups.values() if g.producers}
    assert any("cat" in r for r in reasons)


def test_cellnet_prunes_inside_ops_but_keeps_concatenated_cell_outputs():
    genotype = {"normal": [["sep_conv_3x3", 0], ["sep_conv_3x3", 1], ["skip_connect", 0], ["sep_conv_3x3", 2]],
                "reduce": [["max_pool_3x3", 0], ["sep_conv_3x3", 1], ["skip_connect", 2], ["avg_pool_3x3", 0]],
                "depths": [1, 1, 1]}
    model = create_model("cellnet", 3, 10, genotype=genotype)
    graph = trace_channel_groups(model, (1, 3, 16, 16))
    producers = {name for g in graph.prunable_groups for name in g.producers}
    # Free: the middle of each sep_conv (pointwise → BN → ReLU → depthwise, carried through the depthwise), a
    # preprocess conv read only by a sep_conv, and the stem (read only by 1x1 preprocess convs).
    assert "cells.0.edges.0.0.2" in producers and "cells.0.preprocess1.1" in producers and "stem.0" in producers
    assert all(g.passthrough for g in graph.prunable_groups if g.producers != ["stem.0"])
    # Fixed: whatever reaches the concatenated cell output (last pointwise of every edge, node sums).
    assert not any(name.endswith(".1.2") for name in producers)
    assert "cells.0.preprocess0.1" not in producers  # read by skip_connect into a node that is concatenated
