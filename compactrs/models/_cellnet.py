"""Cell networks: the discrete networks the search derives (GDAS backbone with per-block depths)."""
from __future__ import annotations

import torch
from torch import nn

from compactrs.models._registry import register_model
from compactrs.nn.cells import Cell, validate_genotype
from compactrs.nn.geometry import cellnet_geometry
from compactrs.nn.stems import make_stem


class CellNet(nn.Module):
    """Stem → block of δ₁ normal cells → reduction → δ₂ normal → reduction → δ₃ normal → pool → linear.

    Channels double at each reduction; the stem (genotype ``"stem"``, default a stride-1 3×3 conv) may
    reduce the resolution by 2 or 4 first. The cells are laid out by ``compactrs.nn.geometry.cellnet_geometry``
    (the same walk the supernet and the cost models use).
    """

    def __init__(self, genotype: dict, in_bands: int, num_classes: int, init_channels: int = 16, stem_multiplier: int = 1):
        super().__init__()
        genotype = validate_genotype(genotype)
        concatenated = len(genotype["concat"])  # a cell outputs channels × the states it concatenates
        # the side only matters to the sizes the geometry reports, not to the modules it lays out
        geometry = cellnet_geometry(genotype["depths"], 32, init_channels, stem_multiplier, concatenated, genotype["stem"])
        self.stem = make_stem(genotype["stem"], in_bands, geometry.stem_channels)
        self.cells = nn.ModuleList(
            Cell(genotype["reduce" if site.reduction else "normal"], genotype["concat"], site.c_prev_prev, site.c_prev,
                 site.channels, site.reduction, site.reduction_prev)
            for site in geometry.cells
        )
        self.head_act = nn.ReLU(inplace=False)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(geometry.final_channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1)
        return self.classifier(torch.flatten(self.pool(self.head_act(s1)), 1))


@register_model("cellnet")
def cellnet(in_bands: int, num_classes: int, genotype: dict, init_channels: int = 16, stem_multiplier: int = 1) -> nn.Module:
    return CellNet(genotype, in_bands, num_classes, init_channels, stem_multiplier)
