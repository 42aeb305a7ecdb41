import pytest
import torch
from torch import nn

from compactrs.cost import count_macs, count_params, model_cost
from compactrs.errors import ConfigError
from compactrs.models import create_model
from compactrs.nn.ops import make_op
from compactrs.units import parse_count, parse_ms


def test_conv_macs_match_hand_count():
    # ResNet conv1: 3→64, 7×7, stride 2 on 224² → 112² outputs: 112·112·64·3·49 MACs.
    conv = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
    assert count_macs(conv, (1, 3, 224, 224)) == 112 * 112 * 64 * 3 * 49 == 118_013_952


def test_depthwise_and_linear_macs():
    dw = nn.Conv2d(16, 16, 5, padding=2, groups=16, bias=False)
    assert count_macs(dw, (1, 16, 8, 8)) == 8 * 8 * 16 * 25
    assert count_macs(nn.Linear(64, 10), (1, 64)) == 640


def test_policy_batchnorm_pooling_and_elementwise_cost_nothing():
    block = nn.Sequential(nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(3, 1, 1), nn.AvgPool2d(3, 1, 1))
    assert count_macs(block, (1, 8, 16, 16)) == 0
    # sep_conv_3x3 at C=8, 16²: two (dw 3×3 + pw 1×1) units, BN free.
    op = make_op("sep_conv_3x3", 8, 1)
    assert count_macs(op, (1, 8, 16, 16)) == 2 * (16 * 16 * 8 * 9 + 16 * 16 * 8 * 8)


def test_whole_models_match_literature_counts():
    # He et al.: ResNet-34 = 3.6 G MACs at 224²; the LCZ paper's ResNet08 on So2Sat (10×32×32) = 13.53 M.
    assert count_macs(create_model("resnet34", 3, 1000), (1, 3, 224, 224)) == pytest.approx(3.66e9, rel=0.01)
    assert count_macs(create_model("resnet8", 10, 17), (1, 10, 32, 32)) == pytest.approx(13.53e6, rel=0.002)


def test_model_cost_and_params_and_training_flag_restored():
    model = create_model("resnet8", 10, 17).train()
    cost = model_cost(model, 10, (32, 32))
    assert model.training
    assert cost["params"] == count_params(model) == sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("text,value", [("20M", 20_000_000), ("1.8G", 1_800_000_000), ("500k", 500_000), ("12345", 12345), ("2.5e6", 2_500_000)])
def test_parse_count(text, value):
    assert parse_count(text) == value


@pytest.mark.parametrize("text", ["twenty", "20X", "-5M", "0"])
def test_parse_count_rejects(text):
    with pytest.raises(ConfigError):
        parse_count(text)


def test_parse_ms():
    assert parse_ms("2ms") == 2.0 and parse_ms("500us") == 0.5 and parse_ms("0.01s") == 10.0
    with pytest.raises(ConfigError):
        parse_ms("fast")


@pytest.mark.parametrize("name", [n for n in __import__("compactrs").list_models() if n != "cellnet"])
def test_registry_cost_equals_the_fvcore_count_of_the_built_model(name):
    # registry_cost (what 'compactrs models' lists) counts plain networks on the meta device without fvcore;
    # it must give exactly the MACs every other command reports for the same model and input.
    from compactrs.cost import registry_cost

    fast = registry_cost(name, 4, 5, (12, 12))
    assert fast == model_cost(create_model(name, 4, 5), 4, (12, 12))
    assert fast["macs"] > 0


def test_registry_cost_falls_back_to_fvcore_for_layers_it_does_not_vouch_for(tmp_path, monkeypatch):
    # LayerNorm is priced by fvcore but not by torch's FLOP counter: such a network must take the fvcore path.
    (tmp_path / "normnets.py").write_text(
        "from torch import nn\n"
        "def ln_net(in_bands, num_classes):\n"
        "    return nn.Sequential(nn.Flatten(), nn.LayerNorm(in_bands * 16), nn.Linear(in_bands * 16, num_classes))\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    from compactrs.cost import registry_cost

    expected = model_cost(create_model("normnets:ln_net", 2, 3), 2, (4, 4))
    assert registry_cost("normnets:ln_net", 2, 3, (4, 4)) == expected
    assert expected["macs"] > 32 * 3  # the LayerNorm's cost is in it
