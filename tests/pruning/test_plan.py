"""Global threshold → plan → surgery: MAC ratio on target, exact removal, coupled groups, clear errors."""
import copy

import numpy as np
import pytest
import torch
from torch import nn

from compactrs.cost import count_macs
from compactrs.errors import TargetError
from compactrs.models import create_model
from compactrs.nn.cells import random_genotype
from compactrs.nn.surgery import apply_prune_plan
from compactrs.pruning.gates import ChannelGates, magnitude_prior
from compactrs.pruning.graph import trace_channel_groups
from compactrs.pruning.plan import build_plan, search_threshold


def randomise_batchnorm(model: nn.Module, seed: int = 0) -> nn.Module:
    """Non-trivial BN statistics / affine terms, so a wrongly kept or dropped channel changes the output."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.weight.data = torch.rand(m.num_features, generator=g) + 0.5
            m.bias.data = torch.rand(m.num_features, generator=g) - 0.5
            m.running_mean = (torch.rand(m.num_features, generator=g) - 0.5) * 0.4
            m.running_var = torch.rand(m.num_features, generator=g) * 1.5 + 0.5
    return model.eval()


def plan_for(model, shape, ratio, round_to=8, min_channels=8):
    graph = trace_channel_groups(model, shape)
    gates = ChannelGates(graph, magnitude_prior(model, graph))
    selection = search_threshold(graph, gates.normalised_scores(), ratio, round_to, min_channels)
    return graph, selection, build_plan(graph, selection)


RATIO_CASES = [("resnet20", (1, 3, 32, 32)), ("resnet34", (1, 3, 32, 32)), ("vgg16_bn", (1, 3, 32, 32))]


@pytest.mark.parametrize("name,shape", RATIO_CASES, ids=[c[0] for c in RATIO_CASES])
def test_measured_mac_ratio_within_two_percent(name, shape):
    torch.manual_seed(0)
    model = create_model(name, 3, 10).eval()
    base = count_macs(model, shape)
    for ratio in (0.7, 0.5, 0.3):
        _, selection, plan = plan_for(model, shape, ratio)
        pruned = apply_prune_plan(copy.deepcopy(model), plan)
        measured = count_macs(pruned, shape) / base
        assert abs(measured / ratio - 1) <= 0.02, (measured, ratio)
        assert measured == pytest.approx(selection.ratio, rel=1e-9)  # the layer table is exact
        assert all(len(k) % 8 == 0 for k in selection.keep.values())  # --round-to 8


def test_residual_add_groups_keep_identical_channels():
    model = create_model("resnet34", 3, 10).eval()
    _, _, plan = plan_for(model, (1, 3, 32, 32), 0.5)
    layers = plan["layers"]
    stage2_out = layers["layer2.0.downsample.0"]["out"]
    assert stage2_out is not None and len(stage2_out) % 8 == 0 and len(stage2_out) < 128
    for block in range(4):  # every block output of stage 2, its downsample branch and the next stage's inputs
        assert layers[f"layer2.{block}.conv2"]["out"] == stage2_out
        assert layers[f"layer2.{block}.bn2"]["keep"] == stage2_out
        if block > 0:
            assert layers[f"layer2.{block}.conv1"]["in"] == stage2_out
    stage1_out = layers["conv1"]["out"]
    assert stage1_out != stage2_out and layers["layer2.0.conv1"]["in"] == stage1_out == layers["layer2.0.downsample.0"]["in"]
    assert layers["layer3.0.conv1"]["in"] == stage2_out == layers["layer3.0.downsample.0"]["in"]
    stage4_out = layers["layer4.0.conv2"]["out"]
    assert layers["fc"]["in"] == stage4_out
    # an inner block channel set is free: conv1's outputs are conv2's inputs
    assert layers["layer3.2.conv1"]["out"] == layers["layer3.2.conv2"]["in"]


CELL = {"genotype": random_genotype(np.random.default_rng(3))}
EQUALITY_CASES = [("resnet20", {}, (4, 3, 32, 32), 0.5, 4), ("resnet34", {}, (2, 3, 32, 32), 0.5, 8),
                  ("vgg16_bn", {}, (2, 3, 32, 32), 0.3, 8), ("patchcnn", {}, (4, 200, 9, 9), 0.5, 4),
                  ("cellnet", CELL, (2, 3, 16, 16), 0.85, 1)]


@pytest.mark.parametrize("name,kwargs,shape,ratio,round_to", EQUALITY_CASES, ids=[c[0] for c in EQUALITY_CASES])
def test_pruned_network_equals_hard_masked_network(name, kwargs, shape, ratio, round_to):
    torch.manual_seed(1)
    model = randomise_batchnorm(create_model(name, shape[1], 5, **kwargs))
    graph, selection, plan = plan_for(model, (1, *shape[1:]), ratio, round_to, min_channels=1)
    masks = {gid: torch.zeros(graph.groups[gid].channels).index_fill_(0, torch.tensor(keep), 1.0)
             for gid, keep in selection.keep.items()}
    assert any(m.sum() < len(m) for m in masks.values())
    x = torch.randn(shape)
    gates = ChannelGates(graph).attach(model, hard_masks=masks)
    with torch.no_grad():
        masked = model(x)
    gates.detach()
    with torch.no_grad():
        unmasked = model(x)
        pruned = apply_prune_plan(copy.deepcopy(model), plan).eval()(x)
    assert not torch.allclose(masked, unmasked, atol=1e-3)  # the masks really removed something
    torch.testing.assert_close(pruned, masked, atol=1e-5, rtol=1e-5)


def test_unreachable_ratio_is_a_target_error_naming_the_floor():
    model = create_model("resnet20", 3, 10)
    with pytest.raises(TargetError, match=r"smallest reachable ratio is 0\.\d+"):
        plan_for(model, (1, 3, 32, 32), 0.001)


def test_ratio_between_coarse_steps_names_nearest_reachable_ratios():
    model = create_model("patchcnn", 200, 4)  # three 64-channel groups, in steps of 32: few reachable ratios
    with pytest.raises(TargetError, match=r"nearest reachable ratios are 0\.\d+ and 0\.\d+"):
        plan_for(model, (1, 200, 9, 9), 0.5, round_to=32)
