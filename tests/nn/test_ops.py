"""Every candidate op: output shape (C channels, stride 1 keeps / stride 2 halves with ceil) and gradients."""
from __future__ import annotations

import pytest
import torch

from compactrs.errors import ModelError
from compactrs.nn.ops import OPS, make_op

SETTINGS = [(4, 1, 9), (8, 2, 9), (16, 1, 8), (6, 2, 7)]


@pytest.mark.parametrize("name", list(OPS))
@pytest.mark.parametrize("channels,stride,size", SETTINGS)
def test_op_shape_and_gradients(name, channels, stride, size):
    torch.manual_seed(0)
    op = make_op(name, channels, stride)
    x = torch.randn(8, channels, size, size, requires_grad=True)  # 8: a random-init SE gate can be dead on 2 samples
    y = op(x)
    expected = size if stride == 1 else (size + 1) // 2
    assert y.shape == (8, channels, expected, expected)
    assert torch.isfinite(y).all()
    (y * torch.randn_like(y)).sum().backward()
    params = [p for p in op.parameters() if p.requires_grad]
    if name == "zero":
        assert torch.count_nonzero(y) == 0 and not params
        assert x.grad is None or torch.count_nonzero(x.grad) == 0
        return
    assert x.grad is not None and torch.count_nonzero(x.grad) > 0
    for p in params:
        assert p.grad is not None and torch.isfinite(p.grad).all()
    # every trainable weight of the op receives a gradient (no dead branch)
    assert all(torch.count_nonzero(p.grad) > 0 for p in params if p.ndim > 1)


def test_unknown_op_names_the_valid_ones():
    with pytest.raises(ModelError, match="valid ops: zero"):
        make_op("conv_9x9", 8, 1)
