"""A convolutional VAE (Kingma & Welling 2014): the autoencoder-family baseline for the GANs.

Trained through the same `train(cfg)` (`model=vae`), with the same data, sample grids, counters
and checkpoints; its decoder is the generator for sampling and evaluation. The reconstruction
term is a squared error (a Gaussian decoder), which is what makes its samples blurry next to a
GAN's: it averages over the plausible images instead of picking one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import nn
from torch.optim import Optimizer

from gan.base import GenerativeModule, on_device


class VAE(GenerativeModule):
    """loss = sum_pixels (x - decoder(z))^2 / 2 + kl_weight * KL(q(z|x) || N(0, I)), per image.

    In [-1, 1] pixel units this is the negative log-likelihood of a Gaussian decoder with
    variance 1 (up to a constant); `kl_weight` != 1 gives a beta-VAE. Optimised automatically
    (one optimiser); each step counts as a G step.
    """

    def __init__(
        self,
        encoder: nn.Module,
        decoder: nn.Module,
        optimizer: Callable[[Iterable[nn.Parameter]], Optimizer],
        latent_dim: int = 16,
        kl_weight: float = 1.0,
        num_fixed_samples: int = 64,
    ) -> None:
        super().__init__()
        for name, net in (("encoder", encoder), ("decoder", decoder)):
            if getattr(net, "latent_dim", latent_dim) != latent_dim:
                raise ValueError(
                    f"latent_dim={latent_dim} does not match the {name}'s {net.latent_dim}"
                )
        if kl_weight < 0:
            raise ValueError(f"kl_weight={kl_weight}: must be >= 0")
        self.latent_dim = latent_dim
        self.encoder = encoder
        self.generator = decoder  # the name every sampler and metric looks for
        self.optimizer = optimizer
        self.kl_weight = kl_weight
        self.init_sampling(num_fixed_samples)

    @torch.no_grad()
    def generate(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Decoded images (B, C, H, W) in [-1, 1] from z ~ N(0, I) (B, latent_dim)."""
        was_training = self.generator.training
        self.generator.eval()
        images = self.generator(z.to(self.device))
        self.generator.train(was_training)
        return images

    def configure_optimizers(self) -> Optimizer:
        return self.optimizer(self.parameters())

    def losses(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(reconstruction, KL), each summed over an image and averaged over the batch."""
        mean, log_var = self.encoder(images)  # (B, latent_dim) each
        noise = self.sample_noise(len(images))
        reconstruction = self.generator(mean + noise * (0.5 * log_var).exp())  # (B, 1, 28, 28)
        squared_error = 0.5 * (reconstruction - images).pow(2).flatten(1).sum(1).mean()
        kl = 0.5 * (mean.pow(2) + log_var.exp() - 1 - log_var).sum(1).mean()
        return squared_error, kl

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int):
        images, _ = batch  # (B, 1, 28, 28) in [-1, 1]
        reconstruction, kl = self.losses(images)
        loss = reconstruction + self.kl_weight * kl
        self._check_finite("loss", loss, batch_idx)
        self.g_steps += 1
        self.count_step_images(len(images))
        if self.logging_due(batch_idx):
            self.log_dict(
                {
                    "train/reconstruction": reconstruction.detach(),
                    "train/kl": kl.detach(),
                    "train/images_seen": on_device(self, self.images_seen),
                }
            )
            self.log("train/loss", loss.detach())
        return loss
