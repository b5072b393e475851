"""DCGAN (Radford et al. 2016) sized for 28x28 MNIST.

The generator maps z (B, latent_dim, 1, 1) through transposed convolutions 1 -> 7 -> 14 -> 28 with
BatchNorm and ReLU, ending in Tanh. The discriminator mirrors it with strided convolutions and
LeakyReLU(0.2), normalised as `norm` says (BatchNorm in the paper, none on its first layer), and
returns one logit per image. `width` is the channel unit of the hidden layers (64 in the paper).
"""

from __future__ import annotations

import torch
from torch import nn

from gan.nets.norm import D_NORMS, G_NORMS, apply_spectral_norm, check_norm, feature_norm


def dcgan_init(module: nn.Module) -> None:
    """DCGAN initialisation: weights N(0, 0.02), BatchNorm scales N(1, 0.02), biases 0."""
    if isinstance(module, nn.Conv2d | nn.ConvTranspose2d | nn.Linear | nn.Embedding):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if getattr(module, "bias", None) is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


def check_sizes(**sizes: int) -> None:
    for name, value in sizes.items():
        if value < 1:
            raise ValueError(f"{name}={value}: must be >= 1")


class DCGANGenerator(nn.Module):
    def __init__(
        self, latent_dim: int = 100, width: int = 64, channels: int = 1, norm: str = "batch"
    ) -> None:
        super().__init__()
        check_sizes(latent_dim=latent_dim, width=width, channels=channels)
        check_norm(norm, G_NORMS, "generator")
        self.latent_dim = latent_dim
        bias = norm == "none"  # a bias before BatchNorm is cancelled by its mean
        self.net = nn.Sequential(
            # (B, latent_dim, 1, 1) -> (B, 4w, 7, 7)
            nn.ConvTranspose2d(latent_dim, width * 4, 7, 1, 0, bias=bias),
            feature_norm(norm, width * 4),
            nn.ReLU(inplace=True),
            # -> (B, 2w, 14, 14)
            nn.ConvTranspose2d(width * 4, width * 2, 4, 2, 1, bias=bias),
            feature_norm(norm, width * 2),
            nn.ReLU(inplace=True),
            # -> (B, C, 28, 28) in [-1, 1]
            nn.ConvTranspose2d(width * 2, channels, 4, 2, 1),
            nn.Tanh(),
        )
        self.apply(dcgan_init)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.ndim == 2:  # (B, latent_dim) -> (B, latent_dim, 1, 1)
            z = z[:, :, None, None]
        return self.net(z)


class DCGANDiscriminator(nn.Module):
    """`features` maps (B, C, 28, 28) to (B, 4w, 3, 3); `head` to one logit per image."""

    def __init__(self, width: int = 64, channels: int = 1, norm: str = "batch") -> None:
        super().__init__()
        check_sizes(width=width, channels=channels)
        self.norm = check_norm(norm, D_NORMS, "discriminator")
        bias = norm in ("spectral", "none")
        self.features = nn.Sequential(
            # (B, C, 28, 28) -> (B, w, 14, 14)
            nn.Conv2d(channels, width, 4, 2, 1),
            nn.LeakyReLU(0.2, inplace=True),
            # -> (B, 2w, 7, 7)
            nn.Conv2d(width, width * 2, 4, 2, 1, bias=bias),
            feature_norm(norm, width * 2),
            nn.LeakyReLU(0.2, inplace=True),
            # -> (B, 4w, 3, 3)
            nn.Conv2d(width * 2, width * 4, 3, 2, 0, bias=bias),
            feature_norm(norm, width * 4),
            nn.LeakyReLU(0.2, inplace=True),
        )
        self.head = nn.Conv2d(width * 4, 1, 3, 1, 0)  # -> (B, 1, 1, 1)
        self.feature_dim = width * 4 * 3 * 3
        self.apply(dcgan_init)
        if norm == "spectral":
            apply_spectral_norm(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x)).flatten()  # (B,) logits
