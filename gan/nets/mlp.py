"""The original fully connected GAN (Goodfellow et al. 2014), in the form most tutorials write it:
LeakyReLU hidden layers, a Tanh image out of G, dropout in D, one logit out of D."""

from __future__ import annotations

import itertools

import torch
from torch import nn

from gan.nets.batch_view import check_pack, pack_samples
from gan.nets.norm import D_NORMS, G_NORMS, apply_spectral_norm, check_norm, feature_norm


def _layers(sizes: list[int], norm: str, dropout: float = 0.0) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for n_in, n_out in itertools.pairwise(sizes):
        layers += [nn.Linear(n_in, n_out), feature_norm(norm, n_out, spatial=False)]
        layers.append(nn.LeakyReLU(0.2, inplace=True))
        if dropout:
            layers.append(nn.Dropout(dropout))
    return layers


def _check_hidden(hidden: list[int]) -> list[int]:
    hidden = list(hidden)
    if not hidden or min(hidden) < 1:
        raise ValueError(f"hidden={hidden}: must be a non-empty list of sizes >= 1")
    return hidden


class MLPGenerator(nn.Module):
    def __init__(
        self,
        latent_dim: int = 100,
        hidden: list[int] = (256, 512, 1024),
        image_shape: tuple[int, int, int] = (1, 28, 28),
        norm: str = "none",
    ) -> None:
        super().__init__()
        if latent_dim < 1:
            raise ValueError(f"latent_dim={latent_dim}: must be >= 1")
        check_norm(norm, G_NORMS, "generator")
        self.latent_dim = latent_dim
        self.image_shape = tuple(image_shape)
        sizes = [latent_dim, *_check_hidden(hidden)]
        out = self.image_shape[0] * self.image_shape[1] * self.image_shape[2]
        self.net = nn.Sequential(*_layers(sizes, norm), nn.Linear(sizes[-1], out), nn.Tanh())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        z = z.flatten(1)  # (B, latent_dim, 1, 1) or (B, latent_dim) -> (B, latent_dim)
        return self.net(z).view(len(z), *self.image_shape)  # (B, C, H, W)


class MLPDiscriminator(nn.Module):
    def __init__(
        self,
        hidden: list[int] = (1024, 512, 256),
        image_shape: tuple[int, int, int] = (1, 28, 28),
        dropout: float = 0.3,
        norm: str = "none",
        pack: int = 1,
    ) -> None:
        """`pack=m`: m samples scored at once, their pixels side by side (PacGAN)."""
        super().__init__()
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout={dropout}: must be in [0, 1)")
        self.norm = check_norm(norm, D_NORMS, "discriminator")
        self.pack = check_pack(pack)
        pixels = image_shape[0] * image_shape[1] * image_shape[2]
        sizes = [pixels * pack, *_check_hidden(hidden)]
        self.net = nn.Sequential(*_layers(sizes, norm, dropout), nn.Linear(sizes[-1], 1))
        if norm == "spectral":
            apply_spectral_norm(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(pack_samples(x.flatten(1), self.pack)).flatten()  # (B / pack,) logits
