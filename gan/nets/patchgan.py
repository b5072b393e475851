"""PatchGAN discriminator (pix2pix): one score per overlapping patch, not per image."""

from __future__ import annotations

import torch
from torch import nn

from gan.nets.norm import D_NORMS, apply_spectral_norm, check_norm, feature_norm


class PatchGAN(nn.Module):
    """(B, in_channels, 28, 28) -> patch scores (B, 1, 7, 7), raw (no sigmoid).

    Two stride-2 convolutions and a final 3x3: each score sees a 22x22 window of the input, so D
    judges local texture (stroke edges, blur) and leaves the global layout to the pixel loss. A
    conditional D gets the condition concatenated to the image as extra input channels.
    """

    def __init__(self, in_channels: int = 1, width: int = 32, norm: str = "batch") -> None:
        super().__init__()
        check_norm(norm, D_NORMS, "PatchGAN discriminator")
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, width, 4, 2, 1),  # (B, w, 14, 14)
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(
                width, 2 * width, 4, 2, 1, bias=norm in ("spectral", "none")
            ),  # (B, 2w, 7, 7)
            feature_norm(norm, 2 * width),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(2 * width, 1, 3, 1, 1),  # (B, 1, 7, 7)
        )
        if norm == "spectral":
            apply_spectral_norm(self.net)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
