"""ImageNet-style ResNet-18/34 (He et al. 2016) for any band count; written in-house (no torchvision)."""
from __future__ import annotations

import torch
from torch import nn

from compactrs.models._registry import register_model
from compactrs.models._resnet_cifar import BasicBlock


class ResNet(nn.Module):
    """7×7/2 stem + 3×3/2 max pool (or a 3×3/1 stem for small patches), four stages, pooling, linear head."""

    def __init__(self, layers: tuple[int, ...], in_bands: int, num_classes: int, small_input: bool = False):
        super().__init__()
        if small_input:
            self.conv1 = nn.Conv2d(in_bands, 64, 3, 1, 1, bias=False)
            self.maxpool = nn.Identity()
        else:
            self.conv1 = nn.Conv2d(in_bands, 64, 7, 2, 3, bias=False)
            self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        c_in, stages = 64, []
        for index, (blocks, c_out) in enumerate(zip(layers, (64, 128, 256, 512))):
            stage = []
            for b in range(blocks):
                stage.append(BasicBlock(c_in, c_out, 2 if index > 0 and b == 0 else 1))
                c_in = c_out
            stages.append(nn.Sequential(*stage))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c_in, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        # Zero-init the last BN of each residual branch: every block starts as identity (Goyal et al. 2017).
        for m in self.modules():
            if isinstance(m, BasicBlock):
                nn.init.zeros_(m.bn2.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


@register_model("resnet")
def resnet18(in_bands: int, num_classes: int, small_input: bool = False) -> nn.Module:
    return ResNet((2, 2, 2, 2), in_bands, num_classes, small_input)


@register_model("resnet")
def resnet34(in_bands: int, num_classes: int, small_input: bool = False) -> nn.Module:
    return ResNet((3, 4, 6, 3), in_bands, num_classes, small_input)
