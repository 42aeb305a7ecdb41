"""CellNet stems: the layer that maps the input bands to the first cells' channels at stride 1, 2 or 4.

The stride is part of the architecture (genotype ``"stem": {"kind": "conv", "stride": s}``) so that a small
MAC budget on large tiles keeps channels instead of resolution (see ``compactrs.nn.geometry``):

- stride 1: 3×3 conv + BN (the GDAS / LCZ-paper stem);
- stride 2: 3×3/2 conv + BN (pads to ceil(side / 2), like every stride-2 op of the space);
- stride 4: 4×4/4 "patchify" conv + BN (ConvNeXt / ViT). Chosen over two stacked 3×3/2 convs because the
  stride-4 stem is picked exactly when the budget is small for the tile: on 3×256×256 at 16 channels the
  patchify conv costs 3.1M MACs, two 3×3/2 convs (16 channels between) 16.5M — most of a 20M budget — and
  one dense conv is also the cheapest layer per MAC in onnxruntime. Inputs whose side is not a multiple of 4
  are zero-padded symmetrically to ceil(side / 4) patches.

A stem kind is one entry in ``STEMS`` and in ``compactrs.nn.geometry.STEM_KINDS``; it must honour the
geometry's contract (C × ceil(H/s) × ceil(W/s)). Kinds: ``"conv"`` (above) and ``"spectral"``
(``compactrs.nn.spectral_stem.SpectralStem``: SpectralMamba's mask + piece-wise scan per pixel, stride 1 only,
for hyperspectral inputs of ``MIN_SPECTRAL_BANDS`` bands or more) and ``"pointwise"`` (a 1×1 conv + BN, stride 1:
a learned band combination, patchcnn's spectral compression; on 200-band 9×9 patches at 16 channels it costs
0.26 M MACs where the 3×3 conv stem costs 2.33 M, leaving the budget to the cells).
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn
from torch.nn import functional as F

from compactrs.nn.geometry import validate_stem
from compactrs.nn.spectral_stem import SpectralStem


class PatchifyStem(nn.Module):
    """Non-overlapping ``patch × patch`` conv at stride ``patch`` + BN, padding the input to whole patches."""

    def __init__(self, in_bands: int, channels: int, patch: int):
        super().__init__()
        self.patch = patch
        self.conv = nn.Conv2d(in_bands, channels, patch, stride=patch, bias=False)
        self.bn = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad_h, pad_w = (-x.shape[2]) % self.patch, (-x.shape[3]) % self.patch
        if pad_h or pad_w:
            x = F.pad(x, (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2))
        return self.bn(self.conv(x))


def _conv_stem(in_bands: int, channels: int, stride: int) -> nn.Module:
    if stride == 4:
        return PatchifyStem(in_bands, channels, 4)
    # index 0/1 = conv/BN, the keys CellNet checkpoints have always had for the stride-1 stem
    return nn.Sequential(nn.Conv2d(in_bands, channels, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(channels))


def _spectral_stem(in_bands: int, channels: int, stride: int) -> nn.Module:
    # validate_stem admits the spectral kind at stride 1 only (it keeps every pixel's spectrum)
    return SpectralStem(in_bands, channels)


def _pointwise_stem(in_bands: int, channels: int, stride: int) -> nn.Module:
    # validate_stem admits the pointwise kind at stride 1 only; same keys (0 conv, 1 BN) as the conv stem
    return nn.Sequential(nn.Conv2d(in_bands, channels, 1, bias=False), nn.BatchNorm2d(channels))


#: stem kind → factory(in_bands, channels, stride)
STEMS: dict[str, Callable[[int, int, int], nn.Module]] = {"conv": _conv_stem, "spectral": _spectral_stem, "pointwise": _pointwise_stem}


def make_stem(stem: dict | None, in_bands: int, channels: int) -> nn.Module:
    """Build the stem ``stem`` ({"kind", "stride"}; None = stride-1 conv) from ``in_bands`` to ``channels``."""
    stem = validate_stem(stem)
    return STEMS[stem["kind"]](in_bands, channels, stem["stride"])
