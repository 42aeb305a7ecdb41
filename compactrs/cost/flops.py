"""Multiply-accumulate (MAC) and parameter counts through fvcore, with an explicit policy for what it skips.

compactrs reports "FLOPs" the way the compact-network literature does: multiply-accumulates of the
convolutions and linear layers (ResNet-34 at 224² ≈ 3.6 G). The policy for operators fvcore has no
counter for, or counts differently:

- convolution, linear, matmul/bmm/einsum: counted by fvcore (one MAC per multiply-add);
- batch norm: **not counted** — export folds it into the preceding convolution, so it costs nothing on
  the device (fvcore's default would add ~2 MACs per element);
- element-wise ops (add, mul, sigmoid, ReLU, ...), pooling, upsampling, concatenation: **not counted** —
  they are not multiply-accumulates; their real cost is memory traffic, which the measured-latency
  profile (``compactrs profile``) captures and MACs cannot.

These ops are registered as explicit zero-cost handles, so fvcore neither guesses nor warns about them.
"""
from __future__ import annotations

import contextlib
import io
import logging
from typing import Sequence

import torch
from torch import nn

#: operators that are deliberately counted as zero MACs (see the module docstring).
ZERO_COST_OPS = (
    "aten::batch_norm", "aten::add", "aten::add_", "aten::sub", "aten::mul", "aten::mul_", "aten::div",
    "aten::sigmoid", "aten::relu", "aten::relu_", "aten::hardtanh", "aten::silu", "aten::gelu",
    "aten::max_pool2d", "aten::avg_pool2d", "aten::adaptive_avg_pool2d", "aten::adaptive_max_pool2d",
    "aten::mean", "aten::amax", "aten::max", "aten::cat", "aten::pad", "aten::constant_pad_nd",
    "aten::dropout", "aten::softmax", "aten::log_softmax", "aten::upsample_bilinear2d",
    "aten::upsample_nearest2d", "aten::flatten", "aten::zeros_like", "aten::expand_as", "aten::sum",
)


def _zero(inputs, outputs):  # fvcore handle signature: (inputs, outputs) -> count
    return 0


def count_macs(model: nn.Module, input_shape: Sequence[int]) -> int:
    """MACs of one forward pass of ``model`` on a zero tensor of ``input_shape`` (batch included).

    The model is traced in eval mode on a copy of nothing: its training flag is restored afterwards.
    """
    from fvcore.nn import FlopCountAnalysis

    was_training = model.training
    model.eval()
    try:
        x = torch.zeros(*input_shape)
        analysis = FlopCountAnalysis(model, (x,))
        analysis.set_op_handle(**{op: _zero for op in ZERO_COST_OPS})
        analysis.unsupported_ops_warnings(False)
        analysis.uncalled_modules_warnings(False)
        # fvcore logs tracer warnings through the root logger; keep the CLI output clean.
        logger = logging.getLogger("fvcore")
        previous = logger.level
        logger.setLevel(logging.ERROR)
        with torch.no_grad(), contextlib.redirect_stderr(io.StringIO()):
            total = int(analysis.total())
        logger.setLevel(previous)
        return total
    finally:
        model.train(was_training)


def count_params(model: nn.Module) -> int:
    """Number of parameters (trainable or not; buffers such as BN statistics excluded)."""
    return int(sum(p.numel() for p in model.parameters()))


def model_cost(model: nn.Module, in_bands: int, input_size: Sequence[int]) -> dict:
    """``{"macs": int, "params": int}`` for one sample of ``in_bands × H × W``."""
    h, w = input_size
    return {"macs": count_macs(model, (1, in_bands, h, w)), "params": count_params(model)}


#: leaf modules whose only multiply-accumulates are those of convolutions and linear layers. For a network
#: built from these alone, torch's dispatcher-level FLOP counter (which counts exactly conv / mm / bmm) and
#: fvcore with the policy above agree to the MAC; anything else (norms fvcore prices, attention, custom
#: modules) takes the fvcore path.
_PLAIN_LEAVES = (
    nn.Conv1d, nn.Conv2d, nn.Linear, nn.BatchNorm1d, nn.BatchNorm2d, nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.SiLU,
    nn.Sigmoid, nn.Hardswish, nn.Hardsigmoid, nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d,
    nn.Flatten, nn.Dropout, nn.Identity,
)


def registry_cost(name: str, in_bands: int, num_classes: int, input_size: Sequence[int], **kwargs) -> dict:
    """``model_cost`` of registered model ``name`` without allocating or initialising its weights.

    fvcore's jit trace takes seconds for a deep network and a 20M-parameter model takes as long to build,
    which made ``compactrs models`` slow. Networks made only of plain layers (``_PLAIN_LEAVES``) are built
    on the meta device and counted with ``torch.utils.flop_counter`` (the same MACs, a test checks every
    registered model); any other network is built for real and counted by fvcore.
    """
    from torch.utils.flop_counter import FlopCounterMode

    from compactrs.models import create_model

    h, w = input_size
    with torch.device("meta"):
        model = create_model(name, in_bands, num_classes, **kwargs)
    leaves = [m for m in model.modules() if not any(True for _ in m.children())]
    if all(type(m) in _PLAIN_LEAVES for m in leaves):
        model.eval()
        try:
            with torch.no_grad(), FlopCounterMode(display=False) as counter:
                model(torch.zeros(1, in_bands, h, w, device="meta"))
        except (RuntimeError, NotImplementedError, TypeError):
            pass  # an op without a meta kernel: count the real network below
        else:
            # torch counts a multiply-add as two FLOPs; compactrs counts MACs.
            return {"macs": int(counter.get_total_flops()) // 2, "params": count_params(model)}
    return model_cost(create_model(name, in_bands, num_classes, **kwargs), in_bands, (h, w))
