"""The image-to-image tasks as LightningModules with manual optimisation: pix2pix (inpainting,
super-resolution) and CycleGAN (unpaired translation).

Both combine a reconstruction loss (`l1` or `l2`, weighted) with the adversarial loss of the `loss`
group (bce, minimax, lsgan, hinge; weighted by `adv_weight`). `adv_weight=0` is the autoencoder-only
twin: the same generator and reconstruction loss, and the discriminator is not trained.

Every model offers what the metrics and strips need: `make_inputs(real, generator)` (G's input),
`ground_truth(real)`, `translate(inputs)` (G's output in eval mode) and `visible(inputs)` (the
input as an image to look at).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import nn
from torch.optim import Optimizer

from gan.base import GenerativeModule
from gan.losses import AdversarialLoss, HingeLoss, LeastSquaresLoss, NonSaturatingLoss
from gan.tasks.corruptions import Inpainting, SuperResolution
from gan.tasks.operators import dilate

OptimizerFactory = Callable[[Iterable[nn.Parameter]], Optimizer]
RECONSTRUCTIONS = {"l1": F.l1_loss, "l2": F.mse_loss}
# Losses with one D step per G step and no penalty on D's input gradients.
TASK_LOSSES = (NonSaturatingLoss, LeastSquaresLoss, HingeLoss)


class ImageToImage(GenerativeModule):
    """What pix2pix and CycleGAN share: the loss weights, the optimisers, the counters."""

    def __init__(
        self,
        loss: AdversarialLoss,
        optimizer_g: OptimizerFactory,
        optimizer_d: OptimizerFactory,
        reconstruction: str = "l1",
        rec_weight: float = 100.0,
        adv_weight: float = 1.0,
    ) -> None:
        super().__init__()
        if reconstruction not in RECONSTRUCTIONS:
            raise ValueError(
                f"reconstruction={reconstruction!r}: choose from {list(RECONSTRUCTIONS)}"
            )
        if not isinstance(loss, TASK_LOSSES) or loss.n_critic != 1 or loss.r1_gamma:
            raise ValueError(
                f"loss {loss!r} does not fit the image-to-image tasks: use loss=bce, minimax, "
                "lsgan or hinge, with n_critic=1 and r1_gamma=0"
            )
        if rec_weight < 0 or adv_weight < 0:
            raise ValueError(f"rec_weight={rec_weight}, adv_weight={adv_weight}: must be >= 0")
        self.automatic_optimization = False
        self.loss = loss
        self.optimizer_g = optimizer_g
        self.optimizer_d = optimizer_d
        self.reconstruction = reconstruction
        self.rec_weight = rec_weight
        self.adv_weight = adv_weight
        self.init_state()

    def reconstruction_loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return RECONSTRUCTIONS[self.reconstruction](output, target)

    @property
    def generators(self) -> list[nn.Module]:
        raise NotImplementedError

    @property
    def discriminators(self) -> list[nn.Module]:
        raise NotImplementedError

    def configure_optimizers(self) -> list[Optimizer]:
        g_params = [p for g in self.generators for p in g.parameters()]
        d_params = [p for d in self.discriminators for p in d.parameters()]
        return [self.optimizer_g(g_params), self.optimizer_d(d_params)]

    def step(self, optimizer, loss: torch.Tensor, name: str, batch_idx: int) -> None:
        self._check_finite(name, loss, batch_idx)
        optimizer.zero_grad(set_to_none=True)
        self.manual_backward(loss)
        optimizer.step()

    @torch.no_grad()
    def translate(self, inputs: torch.Tensor) -> torch.Tensor:
        """G's output (B, 1, 28, 28) for inputs (B, C, 28, 28), in eval mode."""
        generator = self.generators[0]
        was_training = generator.training
        generator.eval()
        output = self.forward_generator(inputs.to(self.device))
        generator.train(was_training)
        return output

    def forward_generator(self, inputs: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class Pix2Pix(ImageToImage):
    """Paired translation (Isola et al. 2017): G maps a corrupted digit back to the digit; a
    PatchGAN D judges (input, image) pairs, so G's output must fit its own input.

    Args:
        generator: G, (B, corruption.in_channels, 28, 28) -> (B, 1, 28, 28) in [-1, 1].
        discriminator: D, (B, corruption.in_channels + 1, 28, 28) -> scores (B, 1, h, w).
        corruption: `Inpainting` or `SuperResolution` (see gan.tasks.corruptions).
        loss, optimizer_g, optimizer_d, reconstruction, rec_weight, adv_weight: see the module.
    """

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        corruption: Inpainting | SuperResolution,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.generator = generator
        self.discriminator = discriminator
        self.corruption = corruption

    @property
    def generators(self) -> list[nn.Module]:
        return [self.generator]

    @property
    def discriminators(self) -> list[nn.Module]:
        return [self.discriminator]

    def make_inputs(self, real: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        return self.corruption(real, generator)

    def ground_truth(self, real: torch.Tensor) -> torch.Tensor:
        return real

    def visible(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.corruption.visible(inputs)

    def forward_generator(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.corruption.complete(self.generator(inputs), inputs)

    def _d(self, inputs: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
        return self.discriminator(torch.cat([inputs, images], dim=1))  # (B, 1, h, w)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        real, _ = batch  # (B, 1, 28, 28) in [-1, 1]
        opt_g, opt_d = self.optimizers()
        inputs = self.make_inputs(real, self._noise_generator())  # (B, C, 28, 28)
        output = self.forward_generator(inputs)  # (B, 1, 28, 28)

        if self.adv_weight > 0:  # D step, on (input, real) against (input, G's output)
            with self.toggled_optimizer(opt_d):
                loss_d = self.loss.d_loss(self._d(inputs, real), self._d(inputs, output.detach()))
                self.step(opt_d, loss_d, "loss_d", batch_idx)
            self.d_steps += 1
            if self.logging_due(batch_idx):
                self.log("train/loss_d", loss_d.detach(), prog_bar=True)

        with self.toggled_optimizer(opt_g):
            rec = self.reconstruction_loss(output, real)
            adv = self.loss.g_loss(self._d(inputs, output)) if self.adv_weight > 0 else rec * 0
            loss_g = self.rec_weight * rec + self.adv_weight * adv
            self.step(opt_g, loss_g, "loss_g", batch_idx)
        self.g_steps += 1
        self.count_step_images(len(real))
        if self.logging_due(batch_idx):
            self.log_dict({"train/reconstruction": rec.detach(), "train/adversarial": adv.detach()})
            self.log("train/loss_g", loss_g.detach(), prog_bar=True)


class CycleGAN(ImageToImage):
    """Unpaired translation (Zhu et al. 2017) between domain A (digits as they are) and domain B
    (other digits, dilated by `dilation_radius`): G_ab and G_ba, D_a and D_b, and the
    cycle-consistency loss ||G_ba(G_ab(a)) - a|| + ||G_ab(G_ba(b)) - b|| weighted by `rec_weight`.
    Training never sees a pair, but the true B image of an A image is known (dilate it), so
    `ground_truth` scores G_ab against it.
    """

    def __init__(
        self,
        generator_ab: nn.Module,
        generator_ba: nn.Module,
        discriminator_a: nn.Module,
        discriminator_b: nn.Module,
        dilation_radius: int = 1,
        **kwargs,
    ) -> None:
        kwargs.setdefault("rec_weight", 10.0)
        super().__init__(**kwargs)
        self.generator_ab = generator_ab
        self.generator_ba = generator_ba
        self.discriminator_a = discriminator_a
        self.discriminator_b = discriminator_b
        self.dilation_radius = dilation_radius

    @property
    def generators(self) -> list[nn.Module]:
        return [self.generator_ab, self.generator_ba]

    @property
    def discriminators(self) -> list[nn.Module]:
        return [self.discriminator_a, self.discriminator_b]

    def make_inputs(self, real: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        return real  # domain A

    def ground_truth(self, real: torch.Tensor) -> torch.Tensor:
        return dilate(real, self.dilation_radius)

    def visible(self, inputs: torch.Tensor) -> torch.Tensor:
        return inputs

    def forward_generator(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.generator_ab(inputs)

    def cycle_loss(
        self, a: torch.Tensor, b: torch.Tensor, fake_b: torch.Tensor, fake_a: torch.Tensor
    ) -> torch.Tensor:
        """||G_ba(G_ab(a)) - a|| + ||G_ab(G_ba(b)) - b|| given fake_b = G_ab(a), fake_a = G_ba(b)
        (0 when both generators are identities)."""
        return self.reconstruction_loss(self.generator_ba(fake_b), a) + self.reconstruction_loss(
            self.generator_ab(fake_a), b
        )

    def training_step(self, batch: dict, batch_idx: int) -> None:
        a = batch["a"][0]  # (B, 1, 28, 28): domain A, digits as they are
        b = dilate(batch["b"][0], self.dilation_radius)  # (B, 1, 28, 28): other digits, dilated
        opt_g, opt_d = self.optimizers()
        fake_b, fake_a = self.generator_ab(a), self.generator_ba(b)

        if self.adv_weight > 0:
            with self.toggled_optimizer(opt_d):
                loss_d = self.loss.d_loss(
                    self.discriminator_b(b), self.discriminator_b(fake_b.detach())
                ) + self.loss.d_loss(self.discriminator_a(a), self.discriminator_a(fake_a.detach()))
                self.step(opt_d, loss_d, "loss_d", batch_idx)
            self.d_steps += 1
            if self.logging_due(batch_idx):
                self.log("train/loss_d", loss_d.detach(), prog_bar=True)

        with self.toggled_optimizer(opt_g):
            cycle = self.cycle_loss(a, b, fake_b, fake_a)
            adv = (
                self.loss.g_loss(self.discriminator_b(fake_b))
                + self.loss.g_loss(self.discriminator_a(fake_a))
                if self.adv_weight > 0
                else cycle * 0
            )
            loss_g = self.rec_weight * cycle + self.adv_weight * adv
            self.step(opt_g, loss_g, "loss_g", batch_idx)
        self.g_steps += 1
        self.count_step_images(len(a) + len(b))
        if self.logging_due(batch_idx):
            self.log_dict(
                {"train/reconstruction": cycle.detach(), "train/adversarial": adv.detach()}
            )
            self.log("train/loss_g", loss_g.detach(), prog_bar=True)
