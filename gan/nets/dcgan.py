"""DCGAN (Radford et al. 2016) at 28, 32 or 64 pixels.

The generator maps z (B, latent_dim, 1, 1) through transposed convolutions with BatchNorm and
ReLU, ending in Tanh: 1 -> 7 -> 14 -> 28 for MNIST's 28 pixels, 1 -> 4 -> 8 -> ... doubling to 32
or 64 as in the paper. The discriminator mirrors it with strided convolutions and LeakyReLU(0.2),
normalised as `norm` says (BatchNorm in the paper, none on its first layer), and returns one logit
per image. `width` is the channel unit of the hidden layers (64 in the paper); the widest layer
has width x 2^(doublings - 1) channels (4w at 28 and 32 pixels, 8w at 64).
"""

from __future__ import annotations

import itertools

import torch
from torch import nn

from gan.nets.batch_view import MinibatchStd, check_pack, pack_samples
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


RESOLUTIONS = (28, 32, 64)


def check_resolution(resolution: int, supported: tuple[int, ...] = RESOLUTIONS) -> int:
    if resolution not in supported:
        raise ValueError(f"resolution={resolution}: this network is built for {supported}")
    return resolution


# Per resolution: the generator's first feature map (side) and its layers' widths as multiples
# of `width`, each layer doubling the side (28 = 7 x 2 x 2; 32 = 4 x 2 x 2 x 2; 64 = 4 x 2^4);
# the discriminator's widths, each layer halving the side, and the side its head sees.
G_PLAN = {28: (7, (4, 2)), 32: (4, (4, 2, 1)), 64: (4, (8, 4, 2, 1))}
D_PLAN = {28: ((1, 2, 4), 3), 32: ((1, 2, 4), 4), 64: ((1, 2, 4, 8), 4)}


class DCGANGenerator(nn.Module):
    def __init__(
        self,
        latent_dim: int = 100,
        width: int = 64,
        channels: int = 1,
        norm: str = "batch",
        resolution: int = 28,
    ) -> None:
        super().__init__()
        check_sizes(latent_dim=latent_dim, width=width, channels=channels)
        check_norm(norm, G_NORMS, "generator")
        self.latent_dim = latent_dim
        self.resolution = check_resolution(resolution)
        bias = norm == "none"  # a bias before BatchNorm is cancelled by its mean
        start, multiples = G_PLAN[resolution]
        widths = [width * m for m in multiples]  # e.g. 4w, 2w at 28 pixels
        # (B, latent_dim, 1, 1) -> (B, widths[0], start, start)
        layers = [
            nn.ConvTranspose2d(latent_dim, widths[0], start, 1, 0, bias=bias),
            feature_norm(norm, widths[0]),
            nn.ReLU(inplace=True),
        ]
        for c_in, c_out in itertools.pairwise(widths):  # doubling the size each time
            layers += [
                nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=bias),
                feature_norm(norm, c_out),
                nn.ReLU(inplace=True),
            ]
        # -> (B, C, resolution, resolution) in [-1, 1]
        layers += [nn.ConvTranspose2d(widths[-1], channels, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.apply(dcgan_init)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.ndim == 2:  # (B, latent_dim) -> (B, latent_dim, 1, 1)
            z = z[:, :, None, None]
        return self.net(z)


class DCGANDiscriminator(nn.Module):
    """`features` maps (B, C, R, R) to (B, widest, 3, 3) at 28 pixels, (B, widest, 4, 4) at 32
    and 64; `head` to one logit per image.

    `pack=m` scores m images at once (PacGAN: (B, C, R, R) -> B/m logits); `minibatch_std=G`
    adds ProGAN's minibatch standard deviation over groups of G before the head (0: off)."""

    def __init__(
        self,
        width: int = 64,
        channels: int = 1,
        norm: str = "batch",
        resolution: int = 28,
        pack: int = 1,
        minibatch_std: int = 0,
    ) -> None:
        super().__init__()
        check_sizes(width=width, channels=channels)
        self.pack = check_pack(pack)
        self.minibatch_std = MinibatchStd(minibatch_std) if minibatch_std else None
        self.norm = check_norm(norm, D_NORMS, "discriminator")
        self.resolution = check_resolution(resolution)
        bias = norm in ("spectral", "none")
        multiples, final = D_PLAN[resolution]
        widths = [width * m for m in multiples]  # e.g. w, 2w, 4w
        # (B, C, R, R) -> (B, w, R/2, R/2): no normalisation on the first layer
        layers = [nn.Conv2d(channels * pack, width, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True)]
        for i, (c_in, c_out) in enumerate(itertools.pairwise(widths)):
            # Halving the side; at 28 pixels the last step is 7 -> 3 (kernel 3, no padding).
            last_of_28 = resolution == 28 and i == len(widths) - 2
            kernel, padding = (3, 0) if last_of_28 else (4, 1)
            layers += [
                nn.Conv2d(c_in, c_out, kernel, 2, padding, bias=bias),
                feature_norm(norm, c_out),
                nn.LeakyReLU(0.2, inplace=True),
            ]
        self.features = nn.Sequential(*layers)
        extra = 1 if minibatch_std else 0  # the minibatch standard deviation's map
        self.head = nn.Conv2d(widths[-1] + extra, 1, final, 1, 0)  # -> (B, 1, 1, 1)
        self.feature_dim = widths[-1] * final * final
        self.apply(dcgan_init)
        if norm == "spectral":
            apply_spectral_norm(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.features(pack_samples(x, self.pack))  # (B / pack, widest, 3 or 4, 3 or 4)
        if self.minibatch_std is not None:
            h = self.minibatch_std(h)  # (B / pack, widest + 1, ...)
        return self.head(h).flatten()  # (B / pack,) logits
