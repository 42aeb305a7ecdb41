"""VGG-16 with BatchNorm (Simonyan & Zisserman 2015) for any band count and patch size."""
from __future__ import annotations

import torch
from torch import nn

from compactrs.models._registry import register_model

_VGG16 = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")


class VGG(nn.Module):
    """Conv-BN-ReLU stacks with 2×2 max pools; a pooled 512-d feature and a small classifier.

    The pools use ``ceil_mode`` so that small remote-sensing patches (9×9 hyperspectral cubes, 32×32
    Sentinel-2 tiles) shrink to 1×1 instead of to nothing; the two 4096-wide FC layers of the ImageNet
    model are replaced by one 512-wide hidden layer, as in the CIFAR/scene-classification variants.
    """

    def __init__(self, config: tuple, in_bands: int, num_classes: int, hidden: int = 512, dropout: float = 0.5):
        super().__init__()
        layers: list[nn.Module] = []
        c_in = in_bands
        for item in config:
            if item == "M":
                layers.append(nn.MaxPool2d(2, 2, ceil_mode=True))
            else:
                layers += [nn.Conv2d(c_in, item, 3, padding=1, bias=False), nn.BatchNorm2d(item), nn.ReLU(inplace=True)]
                c_in = item
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(
            nn.Linear(c_in, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout), nn.Linear(hidden, num_classes)
        )
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


@register_model("vgg")
def vgg16_bn(in_bands: int, num_classes: int, hidden: int = 512, dropout: float = 0.5) -> nn.Module:
    return VGG(_VGG16, in_bands, num_classes, hidden, dropout)
