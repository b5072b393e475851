"""The DCGAN of carpedm20's DCGAN-tensorflow, the network PacGAN's and VEEGAN's Stacked-MNIST
experiments train (PacGAN's `stacked_MNIST_experiments/VEEGAN_experiment`, its Table 2).

It differs from `gan.nets.dcgan` in its kernels and depth: 5x5 kernels with TensorFlow's "same"
padding, so every stride-2 layer halves the side rounding up (28 -> 14 -> 7 -> 4 -> 2), four
discriminator convolutions up to 8w channels and a linear head, and a generator that starts
with a linear layer onto (8w, 2, 2) and mirrors the discriminator. At 28 pixels and w = 64 an
image costs about 37 M multiply-adds in each network, against 28 M in `gan.nets.DCGANGenerator`
and 10 M in `DCGANDiscriminator` (3 channels).
"""

from __future__ import annotations

import itertools
import math

import torch
from torch import nn

from gan.nets.batch_view import MinibatchStd, check_pack, pack_samples
from gan.nets.dcgan import check_sizes, dcgan_init
from gan.nets.norm import D_NORMS, G_NORMS, apply_spectral_norm, check_norm, feature_norm

KERNEL, STRIDE, PADDING = 5, 2, 2  # a 5x5 stride-2 convolution maps a side s to ceil(s / 2)
LAYERS = 4  # stride-2 layers in each network
MIN_RESOLUTION = 2**LAYERS


def sides(resolution: int) -> list[int]:
    """The feature-map sides from the image inwards: [28, 14, 7, 4, 2] at 28 pixels."""
    if not isinstance(resolution, int) or resolution < MIN_RESOLUTION:
        raise ValueError(f"resolution={resolution!r}: this network needs >= {MIN_RESOLUTION}")
    out = [resolution]
    for _ in range(LAYERS):
        out.append(math.ceil(out[-1] / STRIDE))
    return out


class TFDCGANGenerator(nn.Module):
    """z (B, latent_dim) -> linear -> (B, 8w, 2, 2) -> four 5x5 transposed convolutions with
    BatchNorm and ReLU, doubling the side (2 -> 4 -> 7 -> 14 -> 28) -> Tanh, (B, C, R, R)."""

    def __init__(
        self,
        latent_dim: int = 100,
        width: int = 64,
        channels: int = 3,
        norm: str = "batch",
        resolution: int = 28,
    ) -> None:
        super().__init__()
        check_sizes(latent_dim=latent_dim, width=width, channels=channels)
        check_norm(norm, G_NORMS, "generator")
        self.latent_dim = latent_dim
        path = sides(resolution)[::-1]  # [2, 4, 7, 14, 28]
        widths = [width * 2**i for i in reversed(range(LAYERS))]  # [8w, 4w, 2w, w]
        bias = norm == "none"  # a bias before BatchNorm is cancelled by its mean
        self.start = (widths[0], path[0], path[0])
        self.project = nn.Linear(latent_dim, math.prod(self.start), bias=bias)
        self.project_norm = nn.Sequential(feature_norm(norm, widths[0]), nn.ReLU(inplace=True))
        layers: list[nn.Module] = []
        for i, (side_in, side_out) in enumerate(itertools.pairwise(path)):
            last = i == LAYERS - 1
            c_in, c_out = widths[i], channels if last else widths[i + 1]
            # (s - 1) * 2 - 2 * 2 + 5 = 2s - 1; output_padding (0 or 1) reaches TF's side exactly
            extra = side_out - (2 * side_in - 1)
            layers.append(
                nn.ConvTranspose2d(c_in, c_out, KERNEL, STRIDE, PADDING, extra, bias=bias or last)
            )
            layers += [nn.Tanh()] if last else [feature_norm(norm, c_out), nn.ReLU(inplace=True)]
        self.net = nn.Sequential(*layers)
        self.apply(dcgan_init)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        z = z.flatten(1)  # (B, latent_dim), also from (B, latent_dim, 1, 1)
        h = self.project(z).reshape(len(z), *self.start)  # (B, 8w, 2, 2)
        return self.net(self.project_norm(h))  # (B, C, R, R) in [-1, 1]


class TFDCGANDiscriminator(nn.Module):
    """(B, C, R, R) -> four 5x5 stride-2 convolutions (w, 2w, 4w, 8w; BatchNorm after all but the
    first, LeakyReLU(0.2)) -> (B, 8w, 2, 2) -> linear -> one logit per image, (B,).

    `pack=m` scores m images at once (PacGAN concatenates them along channels, as here);
    `minibatch_std=G` adds ProGAN's minibatch standard deviation before the head (0: off)."""

    def __init__(
        self,
        width: int = 64,
        channels: int = 3,
        norm: str = "batch",
        resolution: int = 28,
        pack: int = 1,
        minibatch_std: int = 0,
    ) -> None:
        super().__init__()
        check_sizes(width=width, channels=channels)
        self.pack = check_pack(pack)
        self.norm = check_norm(norm, D_NORMS, "discriminator")
        self.minibatch_std = MinibatchStd(minibatch_std) if minibatch_std else None
        final = sides(resolution)[-1]
        widths = [width * 2**i for i in range(LAYERS)]  # [w, 2w, 4w, 8w]
        bias = norm in ("spectral", "none")
        # (B, pack * C, R, R) -> (B, w, R/2, R/2): no normalisation on the first layer
        layers = [
            nn.Conv2d(channels * pack, width, KERNEL, STRIDE, PADDING),
            nn.LeakyReLU(0.2, inplace=True),
        ]
        for c_in, c_out in itertools.pairwise(widths):
            layers += [
                nn.Conv2d(c_in, c_out, KERNEL, STRIDE, PADDING, bias=bias),
                feature_norm(norm, c_out),
                nn.LeakyReLU(0.2, inplace=True),
            ]
        self.features = nn.Sequential(*layers)
        extra = 1 if minibatch_std else 0  # the minibatch standard deviation's map
        self.head = nn.Linear((widths[-1] + extra) * final * final, 1)
        self.apply(dcgan_init)
        if norm == "spectral":
            apply_spectral_norm(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.features(pack_samples(x, self.pack))  # (B / pack, 8w, 2, 2)
        if self.minibatch_std is not None:
            h = self.minibatch_std(h)  # (B / pack, 8w + 1, 2, 2)
        return self.head(h.flatten(1)).flatten()  # (B / pack,) logits
