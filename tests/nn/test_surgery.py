"""Plan replay: a fresh model + a plan + the pruned weights is the pruned network, without torch-pruning."""
import copy
import io
import sys

import pytest
import torch

from compactrs.errors import ArtifactError
from compactrs.models import arch_of, build_model, create_model
from compactrs.nn.surgery import apply_prune_plan
from compactrs.pruning.gates import ChannelGates, magnitude_prior
from compactrs.pruning.graph import trace_channel_groups
from compactrs.pruning.plan import build_plan, search_threshold


def _plan(model, shape, ratio):
    graph = trace_channel_groups(model, shape)
    scores = ChannelGates(graph, magnitude_prior(model, graph)).normalised_scores()
    return build_plan(graph, search_threshold(graph, scores, ratio, 8, 8))


@pytest.mark.parametrize("name", ["resnet32", "vgg16_bn"])
def test_replay_on_fresh_model_and_saved_weights_reproduces_outputs(name):
    torch.manual_seed(0)
    model = create_model(name, 4, 6).eval()
    plan = _plan(model, (1, 4, 16, 16), 0.5)
    pruned = apply_prune_plan(copy.deepcopy(model), plan).eval()
    buffer = io.BytesIO()
    torch.save({"arch": {**arch_of(name, 4, 6), "prune_plan": plan}, "state_dict": pruned.state_dict()}, buffer)
    buffer.seek(0)
    payload = torch.load(buffer, weights_only=True)
    sys.modules.pop("torch_pruning", None)
    rebuilt = build_model(payload["arch"])  # fresh random init, then the plan's surgery
    rebuilt.load_state_dict(payload["state_dict"], strict=True)
    x = torch.randn(3, 4, 16, 16)
    with torch.no_grad():
        assert torch.equal(rebuilt.eval()(x), pruned(x))
    assert "torch_pruning" not in sys.modules
    assert sum(p.numel() for p in rebuilt.parameters()) < 0.8 * sum(p.numel() for p in model.parameters())


def test_plan_for_another_architecture_is_refused():
    plan = _plan(create_model("resnet20", 3, 10), (1, 3, 32, 32), 0.5)
    with pytest.raises(ArtifactError, match="does not have"):
        apply_prune_plan(create_model("vgg16_bn", 3, 10), plan)
    with pytest.raises(ArtifactError, match="another model configuration"):
        apply_prune_plan(create_model("resnet20", 3, 10, width=32), plan)


def test_malformed_plans_are_refused():
    model = create_model("resnet8", 3, 10)
    with pytest.raises(ArtifactError, match="not a prune plan"):
        apply_prune_plan(model, {"layers": {}})
    bad = {"format": "compactrs.prune_plan/1", "layers": {"conv1": {"type": "conv", "out": [3, 1], "in": None}}}
    with pytest.raises(ArtifactError, match="sorted unique"):
        apply_prune_plan(model, bad)
    bad["layers"]["conv1"] = {"type": "linear", "in": [0]}
    with pytest.raises(ArtifactError, match="is a 'linear'"):
        apply_prune_plan(model, bad)
