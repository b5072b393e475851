"""The GAN as one LightningModule: G and D, two optimisers, the alternating adversarial step."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_warn
from torch import nn
from torch.optim import Optimizer

from gan.losses import AdversarialLoss

OptimizerFactory = Callable[[Iterable[nn.Parameter]], Optimizer]


class GAN(L.LightningModule):
    """Trains `generator` against `discriminator` with manual optimisation.

    Every batch is one discriminator step; every `loss.n_critic`-th batch is also followed by one
    generator step. Lightning's `global_step` counts optimiser steps, so it grows by 2 per batch
    with `n_critic=1`: budget runs in epochs or images, and read `g_steps`, `d_steps` and
    `images_seen`.

    Args:
        generator: maps noise (B, latent_dim) to images (B, C, H, W) in [-1, 1].
        discriminator: maps images to one raw score (logit) per image, (B,).
        loss: the adversarial game (see `gan.losses`).
        optimizer_g, optimizer_d: callables from parameters to an optimiser (Hydra `_partial_`).
        latent_dim: size of z; must match the generator's.
        fresh_noise_for_g: draw new z for the generator step, as the classic tutorial does, instead
            of reusing the batch generated for the discriminator step (one G forward fewer).
        num_fixed_samples: size of the fixed noise batch behind the sample grids.
    """

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        loss: AdversarialLoss,
        optimizer_g: OptimizerFactory,
        optimizer_d: OptimizerFactory,
        latent_dim: int = 100,
        fresh_noise_for_g: bool = False,
        num_fixed_samples: int = 64,
    ) -> None:
        super().__init__()
        generator_latent = getattr(generator, "latent_dim", latent_dim)
        if generator_latent != latent_dim:
            raise ValueError(
                f"latent_dim={latent_dim} does not match the generator's {generator_latent}"
            )
        self.automatic_optimization = False
        self.generator = generator
        self.discriminator = discriminator
        self.loss = loss
        self.optimizer_g = optimizer_g
        self.optimizer_d = optimizer_d
        self.latent_dim = latent_dim
        self.fresh_noise_for_g = fresh_noise_for_g
        # Drawn from the global RNG, so fixed by the run's seed; saved in every checkpoint.
        self.register_buffer("fixed_noise", torch.randn(num_fixed_samples, latent_dim))
        self.noise_seed = int(torch.randint(0, 2**62, ()).item())
        self._noise_rng: torch.Generator | None = None
        self._noise_rng_state: torch.Tensor | None = None  # from a checkpoint, applied lazily
        self.images_seen = 0
        self.d_steps = 0
        self.g_steps = 0

    # ---- noise --------------------------------------------------------------------------------

    def _noise_generator(self) -> torch.Generator:
        """The RNG behind the training noise: its own, so resume can restore it exactly."""
        if self._noise_rng is None or self._noise_rng.device != self.device:
            self._noise_rng = torch.Generator(device=self.device).manual_seed(self.noise_seed)
            if self._noise_rng_state is not None:
                try:
                    self._noise_rng.set_state(self._noise_rng_state)
                except RuntimeError:  # saved on another kind of device: the seed is all we keep
                    rank_zero_warn(f"noise RNG state does not fit {self.device}; reseeded")
                self._noise_rng_state = None
        return self._noise_rng

    def sample_noise(self, batch_size: int) -> torch.Tensor:
        return torch.randn(
            batch_size, self.latent_dim, device=self.device, generator=self._noise_generator()
        )  # (B, latent_dim)

    @torch.no_grad()
    def generate(self, z: torch.Tensor) -> torch.Tensor:
        """Images (B, C, H, W) in [-1, 1] from noise (B, latent_dim), with G in eval mode."""
        was_training = self.generator.training
        self.generator.eval()
        images = self.generator(z.to(self.device))
        self.generator.train(was_training)
        return images

    # ---- training -----------------------------------------------------------------------------

    def configure_optimizers(self) -> list[Optimizer]:
        return [
            self.optimizer_g(self.generator.parameters()),
            self.optimizer_d(self.discriminator.parameters()),
        ]

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        real, _ = batch  # (B, 1, 28, 28) in [-1, 1]
        batch_size = real.shape[0]
        opt_g, opt_d = self.optimizers()
        g_step_due = (self.d_steps + 1) % self.loss.n_critic == 0
        keep_graph = g_step_due and not self.fresh_noise_for_g

        # Generated outside the toggles: toggling D's optimiser would switch off G's gradients.
        with torch.set_grad_enabled(keep_graph):
            fake = self.generator(self.sample_noise(batch_size))  # (B, 1, 28, 28)

        # D step: real -> 1, generated -> 0; `detach` keeps this step from reaching G.
        with self.toggled_optimizer(opt_d):
            real_scores = self.discriminator(real)  # (B,)
            fake_scores = self.discriminator(fake.detach())  # (B,)
            loss_d = self.loss.d_loss(real_scores, fake_scores)
            self._check_finite("loss_d", loss_d, batch_idx)
            opt_d.zero_grad(set_to_none=True)
            self.manual_backward(loss_d)
            opt_d.step()
        self.d_steps += 1
        self.images_seen += batch_size
        self.log_dict(
            {
                "train/d_real": torch.sigmoid(real_scores.detach()).mean(),
                "train/d_fake": torch.sigmoid(fake_scores.detach()).mean(),
                "train/images_seen": float(self.images_seen),
            }
        )
        self.log("train/loss_d", loss_d.detach(), prog_bar=True)

        if g_step_due:
            self._generator_step(opt_g, fake, batch_size, batch_idx)

    def _generator_step(self, opt_g, fake: torch.Tensor, batch_size: int, batch_idx: int) -> None:
        # G step: D's parameters frozen by the toggle; G wants its images scored as real.
        with self.toggled_optimizer(opt_g):
            if self.fresh_noise_for_g:
                fake = self.generator(self.sample_noise(batch_size))
            loss_g = self.loss.g_loss(self.discriminator(fake))
            self._check_finite("loss_g", loss_g, batch_idx)
            opt_g.zero_grad(set_to_none=True)
            self.manual_backward(loss_g)
            opt_g.step()
        self.g_steps += 1
        self.log("train/loss_g", loss_g.detach(), prog_bar=True)

    def _check_finite(self, name: str, loss: torch.Tensor, batch_idx: int) -> None:
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f"{name} is {loss.item()} at D step {self.d_steps} / G step {self.g_steps} "
                f"(epoch {self.current_epoch}, batch {batch_idx}); training stopped. "
                "Lower the learning rates, change the loss, or resume from the last checkpoint."
            )

    # ---- checkpoints --------------------------------------------------------------------------

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        cuda_states = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else []
        checkpoint["gan"] = {
            "images_seen": self.images_seen,
            "d_steps": self.d_steps,
            "g_steps": self.g_steps,
            "noise_seed": self.noise_seed,
            "noise_rng_state": self._noise_generator().get_state(),
            "torch_rng_state": torch.get_rng_state(),
            "cuda_rng_states": cuda_states,
        }

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        state = checkpoint["gan"]
        self.images_seen = state["images_seen"]
        self.d_steps = state["d_steps"]
        self.g_steps = state["g_steps"]
        self.noise_seed = state["noise_seed"]
        self._noise_rng = None
        self._noise_rng_state = state["noise_rng_state"]  # applied on first use, on self.device
        torch.set_rng_state(state["torch_rng_state"])  # dropout and other global-RNG users
        if state["cuda_rng_states"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng_states"])
