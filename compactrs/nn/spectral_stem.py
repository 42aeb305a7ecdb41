"""The spectral stem: SpectralMamba's front end as a CellNet stem for hyperspectral cubes (genotype kind "spectral").

Every pixel's spectrum becomes a short sequence of spectral pieces, a selective scan runs over it, and the
pooled result is that pixel's feature vector, so the stem maps ``bands × H × W`` to ``C × H × W`` at stride 1
(the geometry contract of ``compactrs.nn.geometry``) and the cells that follow see spectral-sequence features
instead of one 3×3 convolution's. Choices (defaults those of the ``spectralmamba`` family,
``compactrs/models/_spectralmamba.py``, which measured them):

- the dynamical mask (``compactrs.nn.spectral.DynamicalMask``) gates the whole input first;
- pieces of 24 bands every 20 bands (200 bands -> 10 pieces; fewer-band inputs get shorter pieces, as in
  ``SpectralFrontEnd``); each pixel's piece is embedded to ``C`` by one linear map shared by all pieces and
  pixels (a 1×1 conv over the piece's bands);
- one pre-norm residual Mamba block (``compactrs.nn.ssm.MambaBlock``, width ``C``, state 8, expansion 2)
  scans each pixel's pieces; its outputs are **mean-pooled over the pieces** (the family's pooling; the last
  piece alone lost 0.07 OA there) to ``C`` channels per pixel, then batch norm, like the conv stem.

The scan is batched over pixels (no per-pixel Python loop) and unrolled over the ~10 pieces, so the ONNX graph
is flat. It makes sense only for many-band inputs: ``MIN_SPECTRAL_BANDS``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from compactrs.errors import ConfigError
from compactrs.nn.spectral import DynamicalMask, spectral_pieces
from compactrs.nn.ssm import MambaBlock

#: fewest input bands the spectral stem accepts: with 16 bands the pieces are 8 bands long and the scan
#: has two steps; below that a "spectral sequence" is one or two bands per step (multispectral, e.g. the 13
#: bands of Sentinel-2), where the conv stem is the right tool.
MIN_SPECTRAL_BANDS = 16


class SpectralStem(nn.Module):
    """Dynamical mask -> per-pixel piece embedding -> Mamba scan over the pieces -> mean over pieces -> BN.

    Args:
        in_bands: input bands (>= ``MIN_SPECTRAL_BANDS``).
        channels: output channels ``C`` (the token width of the scan).
        piece_length, piece_stride: spectral pieces (see ``compactrs.nn.spectral.SpectralFrontEnd``).
        d_state: state size of the scan per inner channel.
        expand: inner width factor of the Mamba block.

    Raises:
        ConfigError: fewer than ``MIN_SPECTRAL_BANDS`` bands.
    """

    def __init__(self, in_bands: int, channels: int, piece_length: int = 24, piece_stride: int = 20, d_state: int = 8,
                 expand: int = 2):
        super().__init__()
        if in_bands < MIN_SPECTRAL_BANDS:
            raise ConfigError(f"the spectral stem needs >= {MIN_SPECTRAL_BANDS} input bands (a hyperspectral cube), "
                              f"got {in_bands}; use the conv stem (--stem conv) for multispectral inputs")
        self.bands, self.channels = in_bands, channels
        self.piece_length, self.piece_stride, self.sequence_length, self.padding = spectral_pieces(
            in_bands, piece_length, piece_stride)
        self.mask = DynamicalMask(in_bands)
        self.embed = nn.Conv2d(self.piece_length, channels, 1)
        self.scan = MambaBlock(channels, d_state, expand)
        self.bn = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, bands, H, W)`` -> ``(N, C, H, W)``."""
        n, _, h, w = x.shape
        x = self.mask(x)
        if self.padding:
            x = F.pad(x, (0, 0, 0, 0, 0, self.padding))
        starts = range(0, self.sequence_length * self.piece_stride, self.piece_stride)
        # pieces into the batch: one shared 1x1 conv embeds every piece of every pixel
        pieces = torch.cat([x[:, s:s + self.piece_length] for s in starts], dim=0)  # (L*N, P, H, W)
        tokens = self.embed(pieces).reshape(self.sequence_length, n, self.channels, h * w)
        tokens = tokens.permute(1, 3, 0, 2).reshape(n * h * w, self.sequence_length, self.channels)
        pooled = self.scan(tokens).mean(dim=1)  # (N*H*W, C)
        return self.bn(pooled.reshape(n, h * w, self.channels).transpose(1, 2).reshape(n, self.channels, h, w))

    def macs(self, height: int, width: int) -> int:
        """Hand count of multiply-accumulates for one ``bands × height × width`` input (fvcore's policy)."""
        pixels = height * width
        mask = self.bands * (pixels * 9 + self.mask.spectral.kernel_size[0])
        embed = pixels * self.sequence_length * self.channels * self.piece_length
        return mask + embed + pixels * self.scan.mixer.macs(self.sequence_length, self.channels)
