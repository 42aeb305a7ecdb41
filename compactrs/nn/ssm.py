"""A selective state-space layer (Mamba's S6) in plain PyTorch, written to export to fast ONNX graphs.

The scan runs over short sequences (SpectralMamba's 10-25 spectral pieces), so it is unrolled over the
sequence: each step is one fused multiply-add ``h = dA_t * h + dBx_t`` (``torch.addcmul``), and the read-out
of all steps is one batched matrix product. That exports to a flat graph of Mul/Add nodes that onnxruntime
runs without loops, and avoids the cumulative-product closed form, whose ``1 / prod(dA)`` overflows in
float32 once the decays are strong.

MAC policy (compactrs/cost/flops.py): the projections and the depthwise conv are counted by fvcore; the
scan's state updates (``addcmul``: one multiply-accumulate per state element and step), its read-out
(``matmul``) and the ``D`` skip (``addcmul``) are counted by the ``aten::addcmul`` handle and fvcore's matmul
counter; the discretisation products (``delta * A``, ``delta * x * B``), exp/softplus/SiLU and the output
gate are element-wise products, not accumulations, and count zero like every element-wise op.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def selective_scan(x: torch.Tensor, delta: torch.Tensor, A: torch.Tensor, B: torch.Tensor, C: torch.Tensor,
                   D: torch.Tensor) -> torch.Tensor:
    """S6 scan ``h_t = exp(delta_t A) h_{t-1} + delta_t B_t x_t``, ``y_t = C_t h_t + D x_t`` (zero initial state).

    Args:
        x: ``(N, L, E)`` inputs per step and channel.
        delta: ``(N, L, E)`` positive step sizes (input-dependent).
        A: ``(E, S)`` negative diagonal state matrix, one row per channel.
        B: ``(N, L, S)`` input-dependent input matrix.
        C: ``(N, L, S)`` input-dependent output matrix.
        D: ``(E,)`` skip weights.

    Returns:
        ``(N, L, E)`` outputs.
    """
    decay = torch.exp(delta.unsqueeze(-1) * A)  # (N, L, E, S)
    drive = (delta * x).unsqueeze(-1) * B.unsqueeze(2)  # (N, L, E, S)
    # unbind, not indexing: one backward (a stack) instead of a zero-filled full-size gradient per step
    drives, decays = drive.unbind(1), decay.unbind(1)
    state = drives[0]  # h_0 = dBx_0: the initial state is zero
    states = [state]
    for step in range(1, len(drives)):  # L is static (set by the band count): unrolled in the exported graph
        state = torch.addcmul(drives[step], decays[step], state)
        states.append(state)
    readout = torch.matmul(torch.stack(states, dim=1), C.unsqueeze(-1)).squeeze(-1)  # (N, L, E)
    return torch.addcmul(readout, x, D)


class MambaMixer(nn.Module):
    """Mamba's selective SSM mixer: gated branch, causal depthwise conv, input-dependent delta/B/C, S6 scan.

    Args:
        d_model: token width in and out.
        d_state: state size S per channel (the "state width").
        expand: inner width ``d_inner = expand * d_model``.
        d_conv: kernel of the causal depthwise conv along the sequence.
        dt_rank: rank of the delta projection (default ``ceil(d_model / 16)``, as in Mamba).
    """

    def __init__(self, d_model: int, d_state: int = 16, expand: int = 2, d_conv: int = 3, dt_rank: int | None = None):
        super().__init__()
        if min(d_model, d_state, expand, d_conv) < 1:
            raise ValueError(
                f"d_model, d_state, expand and d_conv must be >= 1, got {d_model}, {d_state}, {expand}, {d_conv}")
        d_inner = expand * d_model
        self.d_inner, self.d_state = d_inner, d_state
        self.dt_rank = dt_rank or math.ceil(d_model / 16)
        self.d_conv = d_conv
        self.in_proj = nn.Linear(d_model, 2 * d_inner, bias=False)
        self.conv = nn.Conv1d(d_inner, d_inner, d_conv, groups=d_inner)
        self.x_proj = nn.Linear(d_inner, self.dt_rank + 2 * d_state, bias=False)
        self.dt_proj = nn.Linear(self.dt_rank, d_inner)
        self.A_log = nn.Parameter(torch.log(torch.arange(1, d_state + 1, dtype=torch.float32)).repeat(d_inner, 1))
        self.D = nn.Parameter(torch.ones(d_inner))
        self.out_proj = nn.Linear(d_inner, d_model, bias=False)
        # where a pruning gate multiplies the inner channels: a zero there silences the channel everywhere
        self.inner_gate = nn.Identity()
        self._init_delta()

    def _init_delta(self, dt_min: float = 1e-3, dt_max: float = 1e-1) -> None:
        # Mamba's init: softplus(bias) spans [dt_min, dt_max] log-uniformly, so some channels remember long
        nn.init.uniform_(self.dt_proj.weight, -self.dt_rank ** -0.5, self.dt_rank ** -0.5)
        dt = torch.exp(torch.rand(self.d_inner) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
        with torch.no_grad():
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        """``(N, L, d_model)`` -> ``(N, L, d_model)``."""
        x, z = self.in_proj(u).chunk(2, dim=-1)
        x = F.pad(x.transpose(1, 2), (self.d_conv - 1, 0))  # left padding only: causal, and no wasted outputs
        x = self.inner_gate(F.silu(self.conv(x))).transpose(1, 2)
        delta, B, C = self.x_proj(x).split([self.dt_rank, self.d_state, self.d_state], dim=-1)
        delta = F.softplus(self.dt_proj(delta))
        y = selective_scan(x, delta, -torch.exp(self.A_log), B, C, self.D)
        return self.out_proj(y * F.silu(z))

    def macs(self, length: int, d_model: int) -> int:
        """Hand count of multiply-accumulates for one sequence of ``length`` tokens (the policy above)."""
        e, s, r = self.d_inner, self.d_state, self.dt_rank
        projections = length * (d_model * 2 * e + e * (r + 2 * s) + r * e + e * d_model)
        return projections + length * e * self.d_conv + (length - 1) * e * s + length * e * s + length * e


    # -- prunable width (compactrs/pruning/graph.py): the inner channels, coupled across every layer ----------
    # A gate g on the inner channels after the conv's SiLU scales x; B, C and delta come from x_proj(g x), the
    # scan is linear in x for fixed delta/B/C, so channel c's output is g_c times its ungated value: the gate
    # folds exactly into x_proj's and out_proj's input columns, and g_c = 0 equals removing the channel.

    def prunable_width(self) -> tuple[int, str]:
        """``(channels, gate module)`` of the one prunable unit: ``d_inner``, gated at ``inner_gate``."""
        return self.d_inner, "inner_gate"

    def width_macs(self, input_shape) -> int:
        """MACs of one call on ``(N, L, d_model)``; linear in ``d_inner`` (what pruning scales)."""
        return self.macs(int(input_shape[1]), int(input_shape[2]))

    def width_saliency(self) -> torch.Tensor:
        """L1 norm per inner channel of the weights that read and write it, each normalised by its mean."""
        e = self.d_inner
        parts = (self.in_proj.weight[:e].abs().sum(1), self.in_proj.weight[e:].abs().sum(1),
                 self.out_proj.weight.abs().sum(0))
        return sum(part.detach() / part.detach().mean().clamp_min(1e-12) for part in parts) / len(parts)

    def fold_width_gate(self, gate: torch.Tensor) -> None:
        """Multiply a per-channel gate (applied at ``inner_gate``) into the weights, exactly."""
        with torch.no_grad():
            self.x_proj.weight.mul_(gate.view(1, -1))
            self.out_proj.weight.mul_(gate.view(1, -1))

    def keep_width(self, keep: torch.Tensor) -> None:
        """Keep inner channels ``keep`` (sorted indices) in every tensor that has them."""
        e = self.d_inner

        def param(tensor):
            return nn.Parameter(tensor.detach().contiguous().clone())

        with torch.no_grad():
            self.in_proj.weight = param(self.in_proj.weight[torch.cat([keep, keep + e])])
            self.conv.weight, self.conv.bias = param(self.conv.weight[keep]), param(self.conv.bias[keep])
            self.x_proj.weight = param(self.x_proj.weight[:, keep])
            self.dt_proj.weight, self.dt_proj.bias = param(self.dt_proj.weight[keep]), param(self.dt_proj.bias[keep])
            self.A_log, self.D = param(self.A_log[keep]), param(self.D[keep])
            self.out_proj.weight = param(self.out_proj.weight[:, keep])
        n = len(keep)
        self.d_inner = n
        self.in_proj.out_features, self.x_proj.in_features = 2 * n, n
        self.dt_proj.out_features, self.out_proj.in_features = n, n
        self.conv.in_channels = self.conv.out_channels = self.conv.groups = n


class MambaBlock(nn.Module):
    """Pre-norm residual block ``x + mixer(norm(x))``."""

    def __init__(self, d_model: int, d_state: int, expand: int = 2, d_conv: int = 3):
        super().__init__()
        self.norm = nn.LayerNorm(d_model)
        self.mixer = MambaMixer(d_model, d_state, expand, d_conv)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.mixer(self.norm(x))
