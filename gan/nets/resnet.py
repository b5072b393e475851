"""The ResNet generator and discriminator of SNGAN (Miyato et al. 2018) for 32x32 images, the
standard CIFAR-10 architecture (`model=sngan`).

Generator: z (128) -> linear -> (256, 4, 4) -> three residual blocks, each upsampling by 2
(nearest) -> BatchNorm, ReLU, 3x3 conv to the image's channels, Tanh: (B, C, 32, 32).
Discriminator: four residual blocks of 128 channels, the first two halving the size (32 -> 16 ->
8), then ReLU, a sum over positions and a linear layer to one score; spectral normalisation on
every weight. Residual convolutions are initialised Xavier-uniform with gain sqrt(2), shortcuts
with gain 1, as in the reference implementations.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from gan.nets.batch_view import MinibatchStd, check_pack, pack_samples
from gan.nets.dcgan import check_resolution, check_sizes
from gan.nets.norm import apply_spectral_norm


def _conv(c_in: int, c_out: int, kernel: int, gain: float = math.sqrt(2)) -> nn.Conv2d:
    conv = nn.Conv2d(c_in, c_out, kernel, 1, kernel // 2)
    nn.init.xavier_uniform_(conv.weight, gain)
    nn.init.zeros_(conv.bias)
    return conv


class GeneratorBlock(nn.Module):
    """BN, ReLU, upsample x2, 3x3 conv, BN, ReLU, 3x3 conv; shortcut: upsample, 1x1 conv."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.norm1, self.norm2 = nn.BatchNorm2d(c_in), nn.BatchNorm2d(c_out)
        self.conv1, self.conv2 = _conv(c_in, c_out, 3), _conv(c_out, c_out, 3)
        self.shortcut = _conv(c_in, c_out, 1, gain=1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.interpolate(F.relu(self.norm1(x)), scale_factor=2)  # (B, c_in, 2H, 2W)
        h = self.conv2(F.relu(self.norm2(self.conv1(h))))  # (B, c_out, 2H, 2W)
        return h + self.shortcut(F.interpolate(x, scale_factor=2))


class DiscriminatorBlock(nn.Module):
    """ReLU, 3x3 conv, ReLU, 3x3 conv [, average pool x2]; a 1x1 conv [and pool] shortcut where
    the shape changes. The first block (`first`) starts with a conv, not a ReLU, and pools its
    input before the shortcut's conv."""

    def __init__(self, c_in: int, c_out: int, downsample: bool, first: bool = False) -> None:
        super().__init__()
        self.downsample, self.first = downsample, first
        self.conv1, self.conv2 = _conv(c_in, c_out, 3), _conv(c_out, c_out, 3)
        self.shortcut = _conv(c_in, c_out, 1, gain=1.0) if downsample or c_in != c_out else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x if self.first else F.relu(x)
        h = self.conv2(F.relu(self.conv1(h)))
        if self.downsample:
            h = F.avg_pool2d(h, 2)
        shortcut = x
        if self.shortcut is not None:
            if self.first:  # pool, then conv: the cheaper order on the image
                shortcut = self.shortcut(F.avg_pool2d(x, 2))
            else:
                shortcut = self.shortcut(x)
                shortcut = F.avg_pool2d(shortcut, 2) if self.downsample else shortcut
        return h + shortcut


class ResNetGenerator(nn.Module):
    def __init__(
        self, latent_dim: int = 128, width: int = 256, channels: int = 3, resolution: int = 32
    ) -> None:
        super().__init__()
        check_sizes(latent_dim=latent_dim, width=width, channels=channels)
        check_resolution(resolution, supported=(32,))
        self.latent_dim, self.width = latent_dim, width
        self.linear = nn.Linear(latent_dim, width * 4 * 4)
        nn.init.xavier_uniform_(self.linear.weight)
        self.blocks = nn.Sequential(*(GeneratorBlock(width, width) for _ in range(3)))
        self.norm = nn.BatchNorm2d(width)
        self.to_image = _conv(width, channels, 3, gain=1.0)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.linear(z.flatten(1)).view(len(z), self.width, 4, 4)  # (B, w, 4, 4)
        h = self.blocks(h)  # (B, w, 32, 32)
        return torch.tanh(self.to_image(F.relu(self.norm(h))))  # (B, C, 32, 32)


class ResNetDiscriminator(nn.Module):
    """Always spectrally normalised (the `norm` attribute says so to the gradient-penalty check)."""

    norm = "spectral"

    def __init__(
        self,
        width: int = 128,
        channels: int = 3,
        resolution: int = 32,
        pack: int = 1,
        minibatch_std: int = 0,
    ) -> None:
        """`pack=m`: m images scored at once (PacGAN); `minibatch_std=G`: ProGAN's minibatch
        standard deviation over groups of G after the last block (0: off)."""
        super().__init__()
        check_sizes(width=width, channels=channels)
        check_resolution(resolution, supported=(32,))
        self.pack = check_pack(pack)
        self.minibatch_std = MinibatchStd(minibatch_std) if minibatch_std else None
        self.blocks = nn.Sequential(
            DiscriminatorBlock(
                channels * pack, width, downsample=True, first=True
            ),  # (B, w, 16, 16)
            DiscriminatorBlock(width, width, downsample=True),  # -> (B, w, 8, 8)
            DiscriminatorBlock(width, width, downsample=False),
            DiscriminatorBlock(width, width, downsample=False),
        )
        self.head = nn.Linear(width + (1 if minibatch_std else 0), 1)
        nn.init.xavier_uniform_(self.head.weight)
        apply_spectral_norm(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.blocks(pack_samples(x, self.pack))  # (B / pack, w, 8, 8)
        if self.minibatch_std is not None:
            h = self.minibatch_std(h)  # (B / pack, w + 1, 8, 8)
        h = F.relu(h).sum(dim=(2, 3))  # (B / pack, w or w + 1): a sum over the 8x8 positions
        return self.head(h).flatten()  # (B / pack,)
