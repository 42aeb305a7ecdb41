"""Candidate operations of the cell search space (the primitives both the supernet and derived nets use).

Every op maps ``C`` channels to ``C`` channels at ``stride`` 1 or 2, so any op can sit on any edge of a
cell. Names follow DARTS / GDAS, plus the LMSS-NAS multiscale attention ops (``ms_att_k``) and the
latency-friendly ops: a plain ``conv_3x3`` and MobileNetV2 / MBConv inverted residuals ``mbconv_e{3,6}_k{3,5}``
(expansion, kernel), optionally with squeeze-excitation (``..._se``).
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from compactrs.errors import ModelError
from compactrs.nn.attention import ChannelAttention, SpatialAttention
from compactrs.nn.pointwise import StridedPointwiseConv


class ReLUConvBN(nn.Sequential):
    """ReLU → conv → BN, the pre-activation unit DARTS uses for preprocessing and reductions."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int, affine: bool = True):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=False),
            nn.BatchNorm2d(c_out, affine=affine),
        )


class DilConv(nn.Sequential):
    """ReLU → depthwise k×k (dilated) conv → pointwise conv → BN."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, dilation: int, affine: bool = True):
        padding = dilation * (kernel - 1) // 2
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_in, kernel, stride, padding, dilation=dilation, groups=c_in, bias=False),
            nn.Conv2d(c_in, c_out, 1, bias=False),
            nn.BatchNorm2d(c_out, affine=affine),
        )


class SepConv(nn.Sequential):
    """Two stacked depthwise-separable units (DARTS' sep_conv): the first carries the stride."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, affine: bool = True):
        super().__init__(
            DilConv(c_in, c_in, kernel, stride, 1, affine),
            DilConv(c_in, c_out, kernel, 1, 1, affine),
        )


class Identity(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class Zero(nn.Module):
    """The 'no connection' op: zeros of the output shape (strided when the edge reduces)."""

    def __init__(self, stride: int):
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            return x.mul(0.0)
        return x[:, :, :: self.stride, :: self.stride].mul(0.0)


class FactorizedReduce(nn.Module):
    """Halve the resolution without losing half the pixels: two 1×1/2 convs on offset grids, concatenated."""

    def __init__(self, c_in: int, c_out: int, affine: bool = True):
        super().__init__()
        if c_out % 2:
            raise ModelError(f"FactorizedReduce needs an even number of output channels, got {c_out}; use an even --init-channels")
        self.relu = nn.ReLU(inplace=False)
        # strided 1×1 convs whose backward avoids a oneDNN heap corruption (see compactrs.nn.pointwise)
        self.conv_1 = StridedPointwiseConv(c_in, c_out // 2, stride=2)
        self.conv_2 = StridedPointwiseConv(c_in, c_out // 2, stride=2)
        self.bn = nn.BatchNorm2d(c_out, affine=affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        # Pad one pixel right/bottom so odd sizes give ceil(h/2) on both branches.
        shifted = nn.functional.pad(x[:, :, 1:, 1:], (0, 1, 0, 1))
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(shifted)], dim=1))


class Pool(nn.Module):
    """3×3 average (padding excluded from the mean) or max pooling, then BN as in DARTS' search ops."""

    def __init__(self, kind: str, c: int, stride: int, affine: bool = True):
        super().__init__()
        if kind == "avg":
            self.pool = nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False)
        else:
            self.pool = nn.MaxPool2d(3, stride=stride, padding=1)
        self.bn = nn.BatchNorm2d(c, affine=affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.pool(x))


class MultiScaleAttention(nn.Module):
    """LMSS-NAS multiscale op: stacked (k×1)+(1×k) depthwise stages, pointwise mix, channel + spatial attention.

    The factorised depthwise stages see a k×k neighbourhood for 2k instead of k² multiply-adds per
    channel; the attention re-weights spectral channels (avg + max pooled MLP, reduction 16) and then
    pixels (7×7 conv over the channel mean and max).
    """

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, affine: bool = True):
        super().__init__()
        pad = kernel // 2
        self.body = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_in, (kernel, 1), stride=(stride, 1), padding=(pad, 0), groups=c_in, bias=False),
            nn.Conv2d(c_in, c_in, (1, kernel), stride=(1, stride), padding=(0, pad), groups=c_in, bias=False),
            nn.Conv2d(c_in, c_out, 1, bias=False),
            nn.BatchNorm2d(c_out, affine=affine),
        )
        self.channel_attention = ChannelAttention(c_out, reduction=16)
        self.spatial_attention = SpatialAttention(kernel=7)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        y = self.channel_attention(y)
        return self.spatial_attention(y)


class ConvBNReLU(nn.Sequential):
    """Plain k×k conv → BN → ReLU: the dense op runtimes execute fastest per MAC (conv and ReLU fuse on export)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, affine: bool = True):
        super().__init__(
            nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False),
            nn.BatchNorm2d(c_out, affine=affine),
            nn.ReLU(inplace=False),
        )


class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation (Hu et al. 2018, as in EfficientNet): pooled 1×1 reduce → ReLU → 1×1 expand → sigmoid gate."""

    def __init__(self, channels: int, hidden: int):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.reduce = nn.Conv2d(channels, hidden, 1)
        self.act = nn.ReLU(inplace=False)
        self.expand = nn.Conv2d(hidden, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.expand(self.act(self.reduce(self.pool(x)))))


class MBConv(nn.Module):
    """Inverted residual (MobileNetV2 / MBConv): 1×1 expand ×e → BN-ReLU → k×k depthwise (stride) → BN-ReLU → [SE] → 1×1 project → BN.

    The residual connection is kept at stride 1 (input and output have the same shape); the depthwise conv
    carries the stride. ReLU rather than ReLU6 / swish: it fuses into the preceding conv in onnxruntime and
    OpenVINO. SE squeezes to a quarter of the op's input channels (at least 4), as EfficientNet does.
    """

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, expansion: int, se: bool = False, affine: bool = True):
        super().__init__()
        hidden = c_in * expansion
        self.expand = nn.Sequential(nn.Conv2d(c_in, hidden, 1, bias=False), nn.BatchNorm2d(hidden, affine=affine), nn.ReLU(inplace=False))
        self.depthwise = nn.Sequential(
            nn.Conv2d(hidden, hidden, kernel, stride=stride, padding=kernel // 2, groups=hidden, bias=False),
            nn.BatchNorm2d(hidden, affine=affine), nn.ReLU(inplace=False),
        )
        self.se = SqueezeExcite(hidden, max(4, c_in // 4)) if se else None
        self.project = nn.Sequential(nn.Conv2d(hidden, c_out, 1, bias=False), nn.BatchNorm2d(c_out, affine=affine))
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.depthwise(self.expand(x))
        if self.se is not None:
            y = self.se(y)
        y = self.project(y)
        return x + y if self.residual else y


OpFactory = Callable[[int, int, bool], nn.Module]

#: name → factory(channels, stride, affine). The order is the order of the architecture parameters.
OPS: dict[str, OpFactory] = {
    "zero": lambda c, s, a: Zero(s),
    "skip_connect": lambda c, s, a: Identity() if s == 1 else FactorizedReduce(c, c, a),
    "sep_conv_3x3": lambda c, s, a: SepConv(c, c, 3, s, a),
    "sep_conv_5x5": lambda c, s, a: SepConv(c, c, 5, s, a),
    "dil_conv_3x3": lambda c, s, a: DilConv(c, c, 3, s, 2, a),
    "dil_conv_5x5": lambda c, s, a: DilConv(c, c, 5, s, 2, a),
    "avg_pool_3x3": lambda c, s, a: Pool("avg", c, s, a),
    "max_pool_3x3": lambda c, s, a: Pool("max", c, s, a),
    "ms_att_3": lambda c, s, a: MultiScaleAttention(c, c, 3, s, a),
    "ms_att_5": lambda c, s, a: MultiScaleAttention(c, c, 5, s, a),
    "ms_att_7": lambda c, s, a: MultiScaleAttention(c, c, 7, s, a),
    # latency-friendly ops (issue 9): what CNN runtimes execute fast per MAC
    "conv_3x3": lambda c, s, a: ConvBNReLU(c, c, 3, s, a),
    "mbconv_e3_k3": lambda c, s, a: MBConv(c, c, 3, s, 3, False, a),
    "mbconv_e3_k5": lambda c, s, a: MBConv(c, c, 5, s, 3, False, a),
    "mbconv_e6_k3": lambda c, s, a: MBConv(c, c, 3, s, 6, False, a),
    "mbconv_e6_k5": lambda c, s, a: MBConv(c, c, 5, s, 6, False, a),
    "mbconv_e3_k3_se": lambda c, s, a: MBConv(c, c, 3, s, 3, True, a),
    "mbconv_e3_k5_se": lambda c, s, a: MBConv(c, c, 5, s, 3, True, a),
    "mbconv_e6_k3_se": lambda c, s, a: MBConv(c, c, 3, s, 6, True, a),
    "mbconv_e6_k5_se": lambda c, s, a: MBConv(c, c, 5, s, 6, True, a),
}

#: the eight GDAS ops (the LCZ paper's search space); ``RS_OPS`` adds the LMSS-NAS multiscale attention ops;
#: ``MOBILE_OPS`` adds the latency-friendly ops (plain conv, inverted residuals with and without SE).
GDAS_OPS = tuple(list(OPS)[:8])
RS_OPS = tuple(list(OPS)[:11])
MOBILE_OPS = tuple(OPS)


def make_op(name: str, channels: int, stride: int, affine: bool = True) -> nn.Module:
    """Build candidate op ``name`` for ``channels`` channels at ``stride`` (1 or 2).

    Raises:
        ModelError: an unknown op name, or a stride other than 1 and 2.
    """
    if name not in OPS:
        raise ModelError(f"unknown op '{name}'; valid ops: {', '.join(OPS)}")
    if stride not in (1, 2):
        raise ModelError(f"op '{name}' was asked for stride {stride}; ops of the search space take stride 1 or 2")
    return OPS[name](channels, stride, affine)
