"""CIFAR-style ResNets (He et al. 2016, §4.2): the baselines of the LCZ search paper (ResNet-8/32/110)."""
from __future__ import annotations

import torch
from torch import nn

from compactrs.models._registry import register_model
from compactrs.nn.pointwise import StridedPointwiseConv


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or c_in != c_out:
            # Projection shortcut (option B): a real layer, so pruning can couple it to the residual group.
            # (a StridedPointwiseConv: same layer and keys, but its backward avoids a oneDNN heap corruption)
            self.downsample = nn.Sequential(StridedPointwiseConv(c_in, c_out, stride), nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class CifarResNet(nn.Module):
    """3×3 stem, three stages of ``n`` basic blocks at widths (w, 2w, 4w), global pooling, linear head."""

    def __init__(self, depth: int, in_bands: int, num_classes: int, width: int = 16):
        super().__init__()
        if (depth - 2) % 6:
            raise ValueError(f"CIFAR ResNet depth must be 6n+2 (8, 20, 32, 56, 110), got {depth}")
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(in_bands, width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        widths = (width, 2 * width, 4 * width)
        stages, c_in = [], width
        for index, c_out in enumerate(widths):
            blocks = []
            for b in range(n):
                blocks.append(BasicBlock(c_in, c_out, 2 if index > 0 and b == 0 else 1))
                c_in = c_out
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = stages
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c_in, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(self.pool(x), 1))


@register_model("cifar-resnet")
def resnet8(in_bands: int, num_classes: int, width: int = 16) -> nn.Module:
    return CifarResNet(8, in_bands, num_classes, width)


@register_model("cifar-resnet")
def resnet20(in_bands: int, num_classes: int, width: int = 16) -> nn.Module:
    return CifarResNet(20, in_bands, num_classes, width)


@register_model("cifar-resnet")
def resnet32(in_bands: int, num_classes: int, width: int = 16) -> nn.Module:
    return CifarResNet(32, in_bands, num_classes, width)


@register_model("cifar-resnet")
def resnet56(in_bands: int, num_classes: int, width: int = 16) -> nn.Module:
    return CifarResNet(56, in_bands, num_classes, width)


@register_model("cifar-resnet")
def resnet110(in_bands: int, num_classes: int, width: int = 16) -> nn.Module:
    return CifarResNet(110, in_bands, num_classes, width)
