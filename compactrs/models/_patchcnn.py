"""A small spectral-spatial CNN for hyperspectral cube-to-pixel classification."""
from __future__ import annotations

import torch
from torch import nn

from compactrs.models._registry import register_model


class PatchCNN(nn.Module):
    """1×1 spectral compression, two 3×3 spatial conv layers, global pooling and a linear head.

    The 1×1 layer learns a band combination (a trainable PCA) so that 200-band AVIRIS cubes cost little
    more than RGB ones; the spatial layers see the patch around the centre pixel.
    """

    def __init__(self, in_bands: int, num_classes: int, width: int = 64, dropout: float = 0.3):
        super().__init__()
        self.spectral = nn.Sequential(nn.Conv2d(in_bands, width, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True))
        self.spatial = nn.Sequential(
            nn.Conv2d(width, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.spatial(self.spectral(x))
        return self.fc(self.dropout(torch.flatten(self.pool(x), 1)))


@register_model("hsi")
def patchcnn(in_bands: int, num_classes: int, width: int = 64, dropout: float = 0.3) -> nn.Module:
    return PatchCNN(in_bands, num_classes, width, dropout)
