"""A small U-Net for 28x28 image-to-image generators (pix2pix, CycleGAN)."""

from __future__ import annotations

import torch
from torch import nn


def _conv_block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
        nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class UNet(nn.Module):
    """(B, in_channels, 28, 28) -> (B, out_channels, 28, 28) in [-1, 1].

    Two 2x downsamplings (28 -> 14 -> 7) and back, with skip connections at 28 and 14, so the
    output can copy whatever of the input it should keep. With `residual`, the network predicts a
    correction to the input's first `out_channels` channels, clamped to [-1, 1], instead of the
    image through a Tanh: it starts from its input, whose background is exactly -1, where a Tanh
    output approaches -1 only slowly (super-resolution, translation).
    """

    def __init__(
        self, in_channels: int = 1, out_channels: int = 1, width: int = 32, residual: bool = False
    ) -> None:
        super().__init__()
        if residual and in_channels < out_channels:
            raise ValueError(
                f"residual with in_channels={in_channels} < out_channels={out_channels}"
            )
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.residual = residual
        self.down1 = _conv_block(in_channels, width)  # (B, w, 28, 28)
        self.down2 = _conv_block(width, 2 * width)  # (B, 2w, 14, 14)
        self.bottom = _conv_block(2 * width, 4 * width)  # (B, 4w, 7, 7)
        self.up2 = nn.ConvTranspose2d(4 * width, 2 * width, 2, stride=2)  # -> (B, 2w, 14, 14)
        self.merge2 = _conv_block(4 * width, 2 * width)
        self.up1 = nn.ConvTranspose2d(2 * width, width, 2, stride=2)  # -> (B, w, 28, 28)
        self.merge1 = _conv_block(2 * width, width)
        head = nn.Conv2d(width, out_channels, 1)
        self.out = head if residual else nn.Sequential(head, nn.Tanh())
        self.pool = nn.MaxPool2d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip1 = self.down1(x)  # (B, w, 28, 28)
        skip2 = self.down2(self.pool(skip1))  # (B, 2w, 14, 14)
        bottom = self.bottom(self.pool(skip2))  # (B, 4w, 7, 7)
        up2 = self.merge2(torch.cat([self.up2(bottom), skip2], dim=1))  # (B, 2w, 14, 14)
        up1 = self.merge1(torch.cat([self.up1(up2), skip1], dim=1))  # (B, w, 28, 28)
        if self.residual:
            return (x[:, : self.out_channels] + self.out(up1)).clamp(-1, 1)
        return self.out(up1)
