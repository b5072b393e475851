"""The VAE's encoder: the DCGAN discriminator's convolutions, then the posterior's mean and
log-variance. Its decoder is a DCGAN generator (`gan.nets.DCGANGenerator`)."""

from __future__ import annotations

import torch
from torch import nn

from gan.nets.dcgan import DCGANDiscriminator, check_sizes


class ConvEncoder(nn.Module):
    def __init__(
        self, latent_dim: int = 16, width: int = 32, channels: int = 1, resolution: int = 28
    ) -> None:
        super().__init__()
        check_sizes(latent_dim=latent_dim)
        self.latent_dim = latent_dim
        trunk = DCGANDiscriminator(width, channels, norm="batch", resolution=resolution)
        self.features = trunk.features  # (B, C, R, R) -> (B, widest, 3 or 4, 3 or 4)
        self.posterior = nn.Linear(trunk.feature_dim, 2 * latent_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, log_var = self.posterior(self.features(x).flatten(1)).chunk(2, dim=1)
        return mean, log_var  # (B, latent_dim) each
