import pytest
import torch

from compactrs.errors import ModelError
from compactrs.models import arch_of, build_model, create_model, list_models

GENOTYPE = {
    "normal": [["sep_conv_3x3", 0], ["skip_connect", 1], ["ms_att_5", 0], ["dil_conv_5x5", 2],
               ["max_pool_3x3", 1], ["zero", 3], ["avg_pool_3x3", 2], ["sep_conv_5x5", 4]],
    "reduce": [["max_pool_3x3", 0], ["ms_att_7", 1], ["skip_connect", 2], ["dil_conv_3x3", 0],
               ["avg_pool_3x3", 1], ["zero", 0], ["sep_conv_3x3", 3], ["skip_connect", 4]],
    "depths": [2, 1, 1],
}


def _kwargs(name):
    return {"genotype": GENOTYPE, "init_channels": 8} if name == "cellnet" else {}


def test_registry_lists_every_family():
    names = list_models()
    for expected in ("resnet8", "resnet20", "resnet32", "resnet56", "resnet110", "resnet18", "resnet34",
                     "vgg16_bn", "patchcnn", "cellnet"):
        assert expected in names
    assert list_models("resnet1*") == ["resnet110", "resnet18"]


@pytest.mark.parametrize("name", list_models())
@pytest.mark.parametrize("bands,size", [(10, 32), (200, 9), (3, 17), (1, 8)])
def test_forward_any_band_count(name, bands, size):
    model = create_model(name, bands, 7, **_kwargs(name)).eval()
    with torch.no_grad():
        y = model(torch.randn(2, bands, size, size))
    assert y.shape == (2, 7)
    assert torch.isfinite(y).all()


@pytest.mark.parametrize("name", list_models())
def test_backward_reaches_every_parameter(name):
    model = create_model(name, 4, 3, **_kwargs(name))
    loss = model(torch.randn(3, 4, 16, 16)).logsumexp(1).mean()
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing


def test_arch_roundtrip_rebuilds_identical_network():
    arch = arch_of("cellnet", 10, 6, genotype=GENOTYPE, init_channels=8)
    a, b = build_model(arch), build_model(arch)
    assert [k for k in a.state_dict()] == [k for k in b.state_dict()]
    assert all(a.state_dict()[k].shape == b.state_dict()[k].shape for k in a.state_dict())


def test_bad_names_and_options_are_model_errors():
    with pytest.raises(ModelError, match="unknown model 'resnet99'"):
        create_model("resnet99", 3, 10)
    with pytest.raises(ModelError, match="does not take"):
        create_model("resnet8", 3, 10, depth=5)
    with pytest.raises(ModelError, match="unknown op"):
        create_model("cellnet", 3, 10, genotype={**GENOTYPE, "normal": [["conv_9x9", 0]] * 8})
    with pytest.raises(ModelError, match="reads input"):
        bad = [list(p) for p in GENOTYPE["normal"]]
        bad[0][1] = 5
        create_model("cellnet", 3, 10, genotype={**GENOTYPE, "normal": bad})
