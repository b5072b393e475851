"""Class-conditional DCGAN (`model=cdcgan`).

Generator: a learned embedding of the label is concatenated with z and fed to the DCGAN generator.
Discriminator: the projection discriminator of Miyato & Koyama (2018), which scores an image as
`head(phi(x)) + <embed(y), phi(x)>`: the label enters as an inner product with the image features
rather than as extra input channels, which conditions more strongly and trains more stably than
concatenation.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from gan.nets.dcgan import DCGANDiscriminator, DCGANGenerator, check_sizes


class ConditionalDCGANGenerator(nn.Module):
    def __init__(
        self,
        latent_dim: int = 100,
        num_classes: int = 10,
        embed_dim: int = 50,
        width: int = 64,
        channels: int = 1,
        norm: str = "batch",
        resolution: int = 28,
    ) -> None:
        super().__init__()
        check_sizes(num_classes=num_classes, embed_dim=embed_dim)
        self.latent_dim = latent_dim
        self.num_classes = num_classes
        self.embed = nn.Embedding(num_classes, embed_dim)
        self.body = DCGANGenerator(latent_dim + embed_dim, width, channels, norm, resolution)

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        # (B, latent_dim) ++ (B, embed_dim) -> (B, C, R, R)
        return self.body(torch.cat([z.flatten(1), self.embed(labels)], dim=1))


class ProjectionDiscriminator(nn.Module):
    def __init__(
        self,
        num_classes: int = 10,
        width: int = 64,
        channels: int = 1,
        norm: str = "batch",
        resolution: int = 28,
    ) -> None:
        super().__init__()
        check_sizes(num_classes=num_classes)
        self.num_classes = num_classes
        self.body = DCGANDiscriminator(width, channels, norm, resolution)
        self.norm = self.body.norm
        self.embed = nn.Embedding(num_classes, self.body.feature_dim)
        nn.init.normal_(self.embed.weight, 0.0, 0.02)
        if norm == "spectral":
            spectral_norm(self.embed)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        features = self.body.features(x)  # (B, widest, 3 or 4, 3 or 4)
        unconditional = self.body.head(features).flatten()  # (B,)
        projection = (self.embed(labels) * features.flatten(1)).sum(dim=1)  # (B,)
        return unconditional + projection
