"""Kernels of the optimised onnxruntime graph: fusion, configurations and attribution to torch modules."""
from __future__ import annotations

import torch
from torch import nn

from compactrs.cost.kernels import network_kernels, node_source


class _Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(16, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU())
        self.pool = nn.MaxPool2d(2)
        self.dw = nn.Conv2d(32, 32, 3, padding=1, groups=32)

    def forward(self, x):
        return self.dw(self.pool(self.features(x)))


def _block() -> nn.Module:
    torch.manual_seed(0)
    model = _Block().eval()
    model.features[1].running_var.fill_(2.0)  # a BN that is not an identity
    return model


def test_conv_bn_relu_fuses_into_one_kernel_attributed_to_its_module():
    kernels = network_kernels(_block(), (1, 16, 16, 16), warmup=0, runs=2)
    convs = [k for k in kernels if k["op"] in ("Conv", "FusedConv")]
    assert len(convs) == 2  # Conv+BN+ReLU is one kernel, the depthwise conv another; no BatchNormalization/Relu
    assert not [k for k in kernels if k["op"] in ("BatchNormalization", "Relu")]
    fused, depthwise = convs
    assert fused["source"].startswith("features") and fused["act"] == "Relu"
    assert (fused["c_in"], fused["c_out"], fused["h_out"], fused["k_h"], fused["groups"]) == (16, 32, 16, 3, 1)
    assert fused["macs"] == 32 * 16 * 16 * 16 * 9
    assert depthwise["source"] == "dw" and depthwise["type"].endswith("conv.dw") and depthwise["h_in"] == 8
    pool = next(k for k in kernels if "pool" in k["type"])
    assert pool["source"] == "pool" and pool["stride"] == 2 and pool["h_out"] == 8
    assert all(k["source"] for k in kernels)  # layout reorders take the path of the node they serve
    assert all(k["us"] > 0 and k["bytes"] > 0 for k in kernels)


def test_node_source_reads_the_module_path():
    assert node_source("/cells.1/edges.0/body/body.1/Conv_output_0_nchwc") == "cells.1.edges.0.body.body.1"
    assert node_source("/classifier/Gemm") == "classifier"
    assert node_source("ReorderInput_token_3") == ""
