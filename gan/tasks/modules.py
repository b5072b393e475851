"""The image-to-image tasks as LightningModules with manual optimisation: pix2pix (paired
translation, inpainting, super-resolution) and CycleGAN (unpaired translation).

Both combine a reconstruction loss (`l1` or `l2`, weighted) with the adversarial loss of the `loss`
group (bce, minimax, lsgan, hinge; weighted by `adv_weight`). `adv_weight=0` is the autoencoder-only
twin: the same generator and reconstruction loss, and the discriminator is not trained. As the
reference (pytorch-CycleGAN-and-pix2pix) trains them: each training batch is randomly cropped to
`crop_size` and flipped (`flip`, gan.data.jitter), and the learning rates stay constant for
`n_epochs` epochs, then fall linearly over `n_epochs_decay` more.

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
from gan.data.jitter import random_crop_flip
from gan.losses import AdversarialLoss, HingeLoss, LeastSquaresLoss, NonSaturatingLoss
from gan.tasks.corruptions import Inpainting, PairedTranslation, SuperResolution
from gan.tasks.image_pool import ImagePool
from gan.tasks.operators import dilate

OptimizerFactory = Callable[[Iterable[nn.Parameter]], Optimizer]
RECONSTRUCTIONS = {"l1": F.l1_loss, "l2": F.mse_loss}
# Losses with one D step per G step and no penalty on D's input gradients.
TASK_LOSSES = (NonSaturatingLoss, LeastSquaresLoss, HingeLoss)


def linear_decay(epoch: int, n_epochs: int, n_epochs_decay: int) -> float:
    """The reference's `lambda` learning-rate rule: the factor on the initial learning rate in
    (0-based) `epoch`: 1 for the first `n_epochs` epochs, then falling by 1 / (n_epochs_decay + 1)
    an epoch, to 1 / (n_epochs_decay + 1) in the last of the n_epochs + n_epochs_decay epochs."""
    return 1.0 - max(0, epoch + 1 - n_epochs) / (n_epochs_decay + 1)


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
        crop_size: int | None = None,
        flip: bool = False,
        n_epochs: int | None = None,
        n_epochs_decay: int = 0,
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
        if n_epochs_decay < 0 or (n_epochs is not None and n_epochs < 0):
            raise ValueError(
                f"n_epochs={n_epochs}, n_epochs_decay={n_epochs_decay}: must be >= 0 (n_epochs "
                "null: no decay)"
            )
        self.automatic_optimization = False
        self.loss = loss
        self.optimizer_g = optimizer_g
        self.optimizer_d = optimizer_d
        self.reconstruction = reconstruction
        self.rec_weight = rec_weight
        self.adv_weight = adv_weight
        self.crop_size = crop_size
        self.flip = flip
        self.n_epochs = n_epochs
        self.n_epochs_decay = n_epochs_decay
        self.init_state()

    def jitter(self, real: torch.Tensor) -> torch.Tensor:
        """A training batch (B, C, L, L) randomly cropped to crop_size and flipped (when `flip`),
        drawn from the checkpointed noise generator."""
        size = self.crop_size or real.shape[-1]
        return random_crop_flip(real, size, self.flip, self._noise_generator())

    def lr_factor(self, epoch: int) -> float:
        if self.n_epochs is None:
            return 1.0
        return linear_decay(epoch, self.n_epochs, self.n_epochs_decay)

    def on_train_epoch_start(self) -> None:
        """Each optimiser's learning rates for this epoch, from its initial ones (a function of
        the epoch alone, so resume needs no scheduler state)."""
        factor = self.lr_factor(self.current_epoch)
        for optimizer in self.optimizers():
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
                group["lr"] = group["initial_lr"] * factor

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
        """G's output (B, C, R, R) for inputs (B, in_channels, R, R), in eval mode."""
        generator = self.generators[0]
        was_training = generator.training
        generator.eval()
        output = self.forward_generator(inputs.to(self.device))
        generator.train(was_training)
        return output

    def forward_generator(self, inputs: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class Pix2Pix(ImageToImage):
    """Paired translation (Isola et al. 2017): G maps its input (the first image of a pair, or a
    corrupted image) to the target (the second image, or the image itself); a PatchGAN D judges
    (input, image) pairs, so G's output must fit its own input.

    Args:
        generator: G, (B, corruption.in_channels, R, R) -> (B, C, R, R) in [-1, 1].
        discriminator: D, (B, corruption.in_channels + C, R, R) -> scores (B, 1, h, w).
        corruption: `PairedTranslation`, `Inpainting` or `SuperResolution`
            (gan.tasks.corruptions).
        loss, optimizer_g, optimizer_d, reconstruction, rec_weight, adv_weight: see the module.
    """

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        corruption: PairedTranslation | Inpainting | SuperResolution,
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
        return self.corruption.target(real)

    def visible(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.corruption.visible(inputs)

    def forward_generator(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.corruption.complete(self.generator(inputs), inputs)

    def _d(self, inputs: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
        return self.discriminator(torch.cat([inputs, images], dim=1))  # (B, 1, h, w)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        real = self.jitter(batch[0])  # (B, C or 2C, R, R) in [-1, 1]: an image or a pair
        opt_g, opt_d = self.optimizers()
        inputs = self.make_inputs(real, self._noise_generator())  # (B, in_channels, R, R)
        target = self.ground_truth(real)  # (B, C, R, R)
        output = self.forward_generator(inputs)  # (B, C, R, R)

        if self.adv_weight > 0:  # D step, on (input, target) against (input, G's output)
            with self.toggled_optimizer(opt_d):
                fake_scores = self._d(inputs, output.detach())
                loss_d = self.loss.d_loss(self._d(inputs, target), fake_scores)
                self.step(opt_d, loss_d, "loss_d", batch_idx)
            self.d_steps += 1
            if self.logging_due(batch_idx):
                self.log("train/loss_d", loss_d.detach())

        with self.toggled_optimizer(opt_g):
            rec = self.reconstruction_loss(output, target)
            adv = self.loss.g_loss(self._d(inputs, output)) if self.adv_weight > 0 else rec * 0
            loss_g = self.rec_weight * rec + self.adv_weight * adv
            self.step(opt_g, loss_g, "loss_g", batch_idx)
        self.g_steps += 1
        self.count_step_images(len(real))
        if self.logging_due(batch_idx):
            self.log_dict({"train/reconstruction": rec.detach(), "train/adversarial": adv.detach()})
            self.log("train/loss_g", loss_g.detach())


class CycleGAN(ImageToImage):
    """Unpaired translation (Zhu et al. 2017) between domains A and B: G_ab and G_ba, D_a and D_b,
    the cycle-consistency loss ||G_ba(G_ab(a)) - a|| + ||G_ab(G_ba(b)) - b|| weighted by
    `rec_weight`, the identity loss ||G_ab(b) - b|| + ||G_ba(a) - a|| weighted by
    `rec_weight x lambda_identity`, and D trained on a history of `pool_size` past fakes.

    On MNIST (task=translate), B is other digits dilated by `dilation_radius`, so the true B image
    of an A image is known (dilate it) and `ground_truth` scores G_ab against it. On two folders
    (task=cyclegan, data=unpaired_folder), `dilation_radius=0`: B is the folder's images as they
    are, and the truth, where there is one, comes from the data (its `val_truth`).
    """

    def __init__(
        self,
        generator_ab: nn.Module,
        generator_ba: nn.Module,
        discriminator_a: nn.Module,
        discriminator_b: nn.Module,
        dilation_radius: int = 1,
        lambda_identity: float = 0.0,
        pool_size: int = 0,
        **kwargs,
    ) -> None:
        kwargs.setdefault("rec_weight", 10.0)
        super().__init__(**kwargs)
        if lambda_identity < 0:
            raise ValueError(f"lambda_identity={lambda_identity}: must be >= 0 (0: off)")
        self.generator_ab = generator_ab
        self.generator_ba = generator_ba
        self.discriminator_a = discriminator_a
        self.discriminator_b = discriminator_b
        self.dilation_radius = dilation_radius
        self.lambda_identity = lambda_identity
        self.pools = {"a": ImagePool(pool_size), "b": ImagePool(pool_size)}  # fakes for D_a, D_b

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

    def identity_loss(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """||G_ab(b) - b|| + ||G_ba(a) - a||: each G should leave its own output domain alone
        (keeps colours in photo <-> painting); 0 for identity generators."""
        return self.reconstruction_loss(self.generator_ab(b), b) + self.reconstruction_loss(
            self.generator_ba(a), a
        )

    def d_step_loss(self, fake_b: torch.Tensor, fake_a: torch.Tensor, a, b) -> torch.Tensor:
        """D_b on real b against fakes of B from the pool, D_a likewise."""
        rng = self._noise_generator()
        pooled_b, pooled_a = self.pools["b"].query(fake_b, rng), self.pools["a"].query(fake_a, rng)
        return self.loss.d_loss(
            self.discriminator_b(b), self.discriminator_b(pooled_b)
        ) + self.loss.d_loss(self.discriminator_a(a), self.discriminator_a(pooled_a))

    def training_step(self, batch: dict, batch_idx: int) -> None:
        a = self.jitter(batch["a"][0])  # (B, C, R, R): domain A
        b = self.jitter(dilate(batch["b"][0], self.dilation_radius))  # (B, C, R, R): domain B
        opt_g, opt_d = self.optimizers()
        fake_b, fake_a = self.generator_ab(a), self.generator_ba(b)

        if self.adv_weight > 0:
            with self.toggled_optimizer(opt_d):
                loss_d = self.d_step_loss(fake_b.detach(), fake_a.detach(), a, b)
                self.step(opt_d, loss_d, "loss_d", batch_idx)
            self.d_steps += 1
            if self.logging_due(batch_idx):
                self.log("train/loss_d", loss_d.detach())

        with self.toggled_optimizer(opt_g):
            cycle = self.cycle_loss(a, b, fake_b, fake_a)
            adv = (
                self.loss.g_loss(self.discriminator_b(fake_b))
                + self.loss.g_loss(self.discriminator_a(fake_a))
                if self.adv_weight > 0
                else cycle * 0
            )
            identity = self.identity_loss(a, b) if self.lambda_identity > 0 else cycle * 0
            loss_g = (
                self.rec_weight * (cycle + self.lambda_identity * identity) + self.adv_weight * adv
            )
            self.step(opt_g, loss_g, "loss_g", batch_idx)
        self.g_steps += 1
        self.count_step_images(len(a) + len(b))
        if self.logging_due(batch_idx):
            self.log_dict(
                {
                    "train/reconstruction": cycle.detach(),
                    "train/identity": identity.detach(),
                    "train/adversarial": adv.detach(),
                }
            )
            self.log("train/loss_g", loss_g.detach())

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        """The history pools too (this process's: under DDP each keeps its own, and all resume
        from process 0's)."""
        super().on_save_checkpoint(checkpoint)
        checkpoint["image_pools"] = {name: pool.state_dict() for name, pool in self.pools.items()}

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        super().on_load_checkpoint(checkpoint)
        for name, state in checkpoint.get("image_pools", {}).items():
            self.pools[name].load_state_dict(state, self.device)
