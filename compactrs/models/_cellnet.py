"""Cell networks: the discrete networks the search derives (GDAS backbone with per-block depths)."""
from __future__ import annotations

import torch
from torch import nn

from compactrs.models._registry import register_model
from compactrs.nn.cells import Cell, validate_genotype


class CellNet(nn.Module):
    """Stem → block of δ₁ normal cells → reduction → δ₂ normal → reduction → δ₃ normal → pool → linear.

    Channels double at each reduction. ``len(genotype["depths"])`` blocks, separated by reduction cells.
    """

    def __init__(self, genotype: dict, in_bands: int, num_classes: int, init_channels: int = 16, stem_multiplier: int = 1):
        super().__init__()
        genotype = validate_genotype(genotype)
        c = init_channels
        c_stem = c * stem_multiplier
        self.stem = nn.Sequential(nn.Conv2d(in_bands, c_stem, 3, padding=1, bias=False), nn.BatchNorm2d(c_stem))
        c_prev_prev, c_prev, reduction_prev = c_stem, c_stem, False
        cells = []
        for block, depth in enumerate(genotype["depths"]):
            if block > 0:
                c *= 2
                cell = Cell(genotype["reduce"], genotype["concat"], c_prev_prev, c_prev, c, True, reduction_prev)
                cells.append(cell)
                c_prev_prev, c_prev, reduction_prev = c_prev, cell.out_channels, True
            for _ in range(depth):
                cell = Cell(genotype["normal"], genotype["concat"], c_prev_prev, c_prev, c, False, reduction_prev)
                cells.append(cell)
                c_prev_prev, c_prev, reduction_prev = c_prev, cell.out_channels, False
        self.cells = nn.ModuleList(cells)
        self.head_act = nn.ReLU(inplace=False)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_prev, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1)
        return self.classifier(torch.flatten(self.pool(self.head_act(s1)), 1))


@register_model("cellnet")
def cellnet(in_bands: int, num_classes: int, genotype: dict, init_channels: int = 16, stem_multiplier: int = 1) -> nn.Module:
    return CellNet(genotype, in_bands, num_classes, init_channels, stem_multiplier)
