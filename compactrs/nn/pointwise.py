"""A strided 1×1 convolution that never reaches oneDNN's crashing strided-1×1 weight-gradient kernel.

Why: on torch 2.13.0+cpu, the backward of a 1×1 convolution with stride 2 on a channels-last (NHWC) input
corrupts the heap ("double free or corruption", SIGSEGV): oneDNN's ``jit_1x1`` backward-weights kernel
reduces the stride with an "rtus" copy and writes past that workspace when the input has fewer channels
than its channel block. Upstream report: uxlfoundation/oneDNN#6035 ("1x1 convolution backward_weights
writes past the rtus workspace (nhwc, IC < ic_block)"); FINDINGS.md has the minimal reproduction, and
tests/nn/test_pointwise.py runs it in a subprocess.

A 1×1 convolution with stride s and no padding reads only the pixels ``x[:, :, ::s, ::s]``, so convolving
that subsampled view at stride 1 is the same function (same output, same gradients, same MACs) and takes
oneDNN's stride-1 path, which has no rtus copy. Channels-last training keeps its speed; only the backward
path changes. Without gradients (inference, tracing, ONNX export, MAC counting) the module is a plain
strided ``nn.Conv2d``, so exported graphs and cost counts are unchanged. It *is* an ``nn.Conv2d``
(subclass), so state_dict keys, pruning and checkpoint loading see the layer they always saw.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def _lowering() -> bool:
    """True while the model is being traced or exported (keep the graph a single strided Conv)."""
    return bool(torch.jit.is_tracing() or torch.compiler.is_compiling() or torch.onnx.is_in_onnx_export())


class StridedPointwiseConv(nn.Conv2d):
    """``nn.Conv2d(c_in, c_out, 1, stride)`` whose training path subsamples first, then convolves at stride 1."""

    def __init__(self, c_in: int, c_out: int, stride: int = 2, bias: bool = False):
        super().__init__(c_in, c_out, 1, stride=stride, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        sh, sw = self.stride
        if (sh, sw) == (1, 1) or not torch.is_grad_enabled() or _lowering():
            return super().forward(x)
        return F.conv2d(x[:, :, ::sh, ::sw], self.weight, self.bias)
