"""The GAN as one LightningModule: G and D, two optimisers, the alternating adversarial step."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import nn
from torch.optim import Optimizer

from gan.augment import AdaptiveAugment
from gan.base import GenerativeModule, on_device
from gan.config import ConfigError
from gan.ema import EMA
from gan.losses import AdversarialLoss, ConsistencyRegularisation, LeCam, PathLengthPenalty
from gan.nets.norm import has_batch_norm

OptimizerFactory = Callable[[Iterable[nn.Parameter]], Optimizer]
COMPILE_MODES = (None, "default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
# Generated samples behind the EMA generator's BatchNorm statistics (see GAN.generate).
EMA_BATCH_NORM_BATCHES, EMA_BATCH_NORM_BATCH_SIZE = 8, 256


class GAN(GenerativeModule):
    """Trains `generator` against `discriminator` with manual optimisation.

    Every batch is one discriminator step; every `loss.n_critic`-th batch is also followed by one
    generator step. Lightning's `global_step` counts optimiser steps, so it grows by 2 per batch
    with `n_critic=1`: budget runs in epochs or images, and read `g_steps`, `d_steps` and
    `images_seen`.

    A generator with a `num_classes` attribute makes the GAN class-conditional: G is called as
    G(z, labels) and D as D(x, labels), and generated batches take the labels of the real batch.

    Args:
        generator: maps noise (B, latent_dim) [and labels (B,)] to images (B, C, H, W) in [-1, 1].
        discriminator: maps images [and labels] to one raw score per image, (B,).
        loss: the adversarial game (see `gan.losses`).
        optimizer_g, optimizer_d: callables from parameters to an optimiser (Hydra `_partial_`).
        latent_dim: size of z; must match the generator's.
        fresh_noise_for_g: draw new z for the generator step, as the classic tutorial does, instead
            of reusing the batch generated for the discriminator step (one G forward fewer).
        num_fixed_samples: size of the fixed noise batch behind the sample grids; a conditional
            model spreads it evenly over the classes in order (80 gives 10 rows of 8).
        ema_decay: keep an exponential moving average of G (see `gan.ema`), used for every
            sample and metric; None trains without one.
        ema_warmup: ramp the EMA decay up over the first steps.
        channels_last: lay out D and every batch it scores channels-last (NHWC), which the CPU's
            oneDNN and GPU tensor cores run faster; the numbers change only by rounding. G keeps
            the default layout: its first layer maps a 1x1 input, whose layouts are ambiguous,
            and on an H200 compiled training failed a stride check in that layer's backward.
        compile_mode: `torch.compile` G's and D's forward with this mode ("default",
            "reduce-overhead", "max-autotune"); None runs them eagerly. Checkpoints keep their keys.
        augment: a module applied to every batch D scores, real or generated, in the D step, the
            G step and the gradient penalties (DiffAugment or ADA, `gan.augment`); None: none.
            ADA's controller is fed D's scores of real images after every D step.
        ema_half_life_kimg, ema_rampup: the EMA's decay set by a half-life in thousands of
            images, ramped up as `ema_rampup` times the images seen (StyleGAN2-ADA's `ema_kimg`,
            `ema_rampup`) instead of `ema_decay`.
        path_length: StyleGAN2's path-length regularisation (`gan.losses.PathLengthPenalty`), a
            G step of its own after every `interval`-th; None: off.
        lecam: LeCam regularisation of D (`gan.losses.LeCam`); None: off.
        consistency: bCR and zCR (`gan.losses.ConsistencyRegularisation`); None: off.

    Lazy regularisation (StyleGAN2): with `loss.r1_interval` k > 1, R1 runs as a D step of its
    own after every k-th D step, times k; with `path_length`, the same for G. The optimiser of
    a lazily regularised network has its learning rate and Adam's betas scaled by k / (k + 1)
    (betas to that power), as StyleGAN2-ADA does, so the regularised steps do not add to the
    effective step size.
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
        ema_decay: float | None = 0.999,
        ema_warmup: bool = True,
        channels_last: bool = False,
        compile_mode: str | None = None,
        augment: nn.Module | None = None,
        ema_half_life_kimg: float | None = None,
        ema_rampup: float | None = None,
        path_length: PathLengthPenalty | None = None,
        lecam: LeCam | None = None,
        consistency: ConsistencyRegularisation | None = None,
    ) -> None:
        super().__init__()
        if compile_mode not in COMPILE_MODES:
            raise ValueError(f"compile_mode={compile_mode!r}: choose from {COMPILE_MODES}")
        self.latent_dim = latent_dim
        generator_latent = getattr(generator, "latent_dim", latent_dim)
        if generator_latent != latent_dim:
            raise ValueError(
                f"latent_dim={latent_dim} does not match the generator's {generator_latent}"
            )
        if loss.penalises_input_gradients and has_batch_norm(discriminator):
            raise ValueError(
                f"{loss!r} penalises D's gradient per image, but D uses BatchNorm, which mixes "
                "the images of a batch: set model.discriminator.norm to layer, spectral or none"
            )
        self.automatic_optimization = False
        self.generator = generator
        self.discriminator = discriminator
        self.loss = loss
        self.optimizer_g = optimizer_g
        self.optimizer_d = optimizer_d
        self.fresh_noise_for_g = fresh_noise_for_g
        self.channels_last = channels_last
        self.compile_mode = compile_mode
        self.augment = augment  # DiffAugment: on every image D sees, real or generated
        if path_length is not None and not hasattr(generator, "ws"):
            raise ValueError(
                f"path_length needs a generator with a mapping network (StyleGAN2's), not "
                f"{type(generator).__name__}"
            )
        self.path_length = path_length
        self.lecam = lecam
        self.consistency = consistency
        self.generator_ema = None
        if ema_decay or ema_half_life_kimg:
            self.generator_ema = EMA(generator, ema_decay, ema_warmup, ema_half_life_kimg,
                                     ema_rampup)  # fmt: skip
        self.init_sampling(num_fixed_samples, getattr(generator, "num_classes", None))

    def _g(self, generator: nn.Module, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return generator(z, labels) if self.num_classes else generator(z)

    def _d(self, images: torch.Tensor, labels: torch.Tensor, augment: bool = True) -> torch.Tensor:
        if augment and self.augment is not None:
            images = self.augment(images)
        if self.num_classes:
            return self.discriminator(images, labels)
        return self.discriminator(images)

    def _layout(self, images: torch.Tensor) -> torch.Tensor:
        """Images as D takes them: channels-last on the fast path."""
        if self.channels_last:
            return images.contiguous(memory_format=torch.channels_last)
        return images

    def _eager_critic(self, labels: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
        """D as the gradient penalties call it: eagerly, since they differentiate D's gradient
        (create_graph) and compiled graphs do not support double backward."""

        def critic(images: torch.Tensor) -> torch.Tensor:
            with torch.compiler.set_stance("force_eager"):
                return self._d(images, labels)

        return critic

    @property
    def _pack(self) -> int:
        """The images D scores at once (PacGAN's packing; 1 without)."""
        return getattr(self.discriminator, "pack", 1)

    @property
    def sampling_generator(self) -> nn.Module:
        """The network behind samples and metrics: the EMA generator when there is one."""
        return self.generator_ema.averaged if self.generator_ema else self.generator

    @torch.no_grad()
    def recalibrate_ema_batch_norm(self) -> None:
        """Give the EMA generator BatchNorm statistics of its own: computed from 2,048 of its
        samples, from noise (and labels) of a generator seeded by the run, so the training RNGs
        are untouched and the result is the same every time for the same weights."""
        rng = torch.Generator(device=self.device).manual_seed(self.noise_seed ^ 0x5EED)
        size = EMA_BATCH_NORM_BATCH_SIZE

        def run_batch(generator: nn.Module) -> None:
            z = torch.randn(size, self.latent_dim, device=self.device, generator=rng)
            labels = None
            if self.num_classes:
                labels = torch.randint(self.num_classes, (size,), device=self.device, generator=rng)
            self._g(generator, z, labels)

        self.generator_ema.recalibrate_batch_norm(run_batch, EMA_BATCH_NORM_BATCHES)

    @torch.no_grad()
    def generate(
        self,
        z: torch.Tensor,
        labels: torch.Tensor | None = None,
        truncation_psi: float = 1.0,
        truncation_cutoff: int | None = None,
    ) -> torch.Tensor:
        """Images (B, C, H, W) in [-1, 1] from noise (B, latent_dim) [and labels (B,)], by the
        sampling generator in eval mode. Unconditional models ignore `labels`. The EMA
        generator's BatchNorm statistics are recomputed first when its weights have moved.
        `truncation_psi` < 1 pulls StyleGAN2's w towards its average (of the first
        `truncation_cutoff` layers' ws; all by default): other generators refuse it."""
        if self.generator_ema and self.generator_ema.batch_norm_stale:
            self.recalibrate_ema_batch_norm()
        generator = self.sampling_generator
        truncation_psis(truncation_psi, generator)
        was_training = generator.training
        generator.eval()
        if labels is None and self.num_classes:
            raise ValueError("a conditional generator needs labels")
        labels = labels.to(self.device) if labels is not None else None
        z = z.to(self.device)
        if truncation_psi != 1:
            images = generator(z, labels, truncation_psi, truncation_cutoff)
        else:
            images = self._g(generator, z, labels)
        generator.train(was_training)
        return images

    # ---- training -----------------------------------------------------------------------------

    def setup(self, stage: str) -> None:
        """The fast path's network options (see `channels_last`, `compile_mode`)."""
        if self.channels_last:
            self.discriminator.to(memory_format=torch.channels_last)
        if self.compile_mode and stage == "fit":
            # Where compilation fails (no C++ compiler, an unsupported op), run eagerly instead.
            torch._dynamo.config.suppress_errors = True
            for network in (self.generator, self.discriminator):
                network.compile(mode=self.compile_mode)

    def configure_optimizers(self) -> list[Optimizer]:
        opt_g = self.optimizer_g(self.generator.parameters())
        opt_d = self.optimizer_d(self.discriminator.parameters())
        if self.path_length is not None:
            scale_for_lazy_regularisation(opt_g, self.path_length.interval)
        if self.loss.lazy_r1:
            scale_for_lazy_regularisation(opt_d, self.loss.r1_interval)
        return [opt_g, opt_d]

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        real, labels = batch  # (B, 1, 28, 28) in [-1, 1], (B,)
        real = self._layout(real)
        batch_size = real.shape[0]
        opt_g, opt_d = self.optimizers()
        g_step_due = (self.d_steps + 1) % self.loss.n_critic == 0
        keep_graph = g_step_due and not self.fresh_noise_for_g

        # Generated outside the toggles: toggling D's optimiser would switch off G's gradients.
        z = self.sample_noise(batch_size)  # (B, latent_dim)
        with torch.set_grad_enabled(keep_graph):
            fake = self._layout(self._g(self.generator, z, labels))  # (B, 1, 28, 28)

        # D step: real scored up, generated scored down; `detach` keeps this step from reaching G.
        with self.toggled_optimizer(opt_d):
            real_scores = self._d(real, labels)  # (B,)
            fake_scores = self._d(fake.detach(), labels)  # (B,)
            loss_d = self.loss.d_loss(real_scores, fake_scores)  # float32 (see gan.losses)
            penalty = self.loss.d_penalty(
                self._eager_critic(labels), real, fake.detach(), pack=self._pack
            )
            regularisers = self._d_regularisers(real, fake.detach(), z, labels, real_scores,
                                                fake_scores)  # fmt: skip
            total = loss_d + penalty + sum(regularisers.values())
            self._check_finite("loss_d", total, batch_idx)
            opt_d.zero_grad(set_to_none=True)
            self.manual_backward(total)
            opt_d.step()
            self.loss.after_d_step(self.discriminator)
            if self.loss.lazy_r1_due(self.d_steps):
                penalty = self._lazy_r1_step(opt_d, real, labels, batch_idx)
        self._feed_ada(real_scores, batch_size)
        self.d_steps += 1
        self.count_step_images(batch_size)
        if self.logging_due(batch_idx):
            self.log_dict(
                {
                    **self._score_summary(real_scores.detach(), fake_scores.detach()),
                    "train/d_penalty": penalty.detach(),
                    "train/images_seen": on_device(self, self.images_seen),
                    **{f"train/{name}": value.detach() for name, value in regularisers.items()},
                    **self._ada_summary(),
                }
            )
            self.log("train/loss_d", loss_d.detach())

        if g_step_due:
            self._generator_step(opt_g, fake, z, labels, batch_idx)

    # ---- data efficiency: ADA's controller, LeCam, bCR and zCR -------------------------------

    def _sum_over_processes(self, value: torch.Tensor) -> torch.Tensor:
        if self._world()[1] == 1:
            return value
        return self.trainer.strategy.reduce(value, reduce_op="sum")

    def _feed_ada(self, real_scores: torch.Tensor, batch_size: int) -> None:
        """ADA's controller: D's scores of real images (summed over all processes at every D
        step, so every process keeps the same statistics and p), and p adjusted when due."""
        if not isinstance(self.augment, AdaptiveAugment):
            return
        self.augment.accumulate(real_scores, self._sum_over_processes)
        if self.augment.adjustment_due(self.d_steps):
            self.augment.adjust(batch_size * self._world()[1])

    def _ada_summary(self) -> dict[str, torch.Tensor]:
        if not isinstance(self.augment, AdaptiveAugment):
            return {}
        return {"train/ada_p": self.augment.p.clone(), "train/ada_rt": self.augment.rt.clone()}

    def _d_regularisers(
        self, real: torch.Tensor, fake: torch.Tensor, z: torch.Tensor, labels: torch.Tensor,
        real_scores: torch.Tensor, fake_scores: torch.Tensor,
    ) -> dict[str, torch.Tensor]:  # fmt: skip
        """LeCam's, bCR's and zCR's terms of D's loss, by name (those switched on and due)."""
        terms = {}
        if self.lecam is not None:
            world = self._world()[1]
            scores = real_scores.detach().float(), fake_scores.detach().float()
            means = torch.stack([scores[0].mean(), scores[1].mean()])  # (2,)
            real_mean, fake_mean = self._sum_over_processes(means) / world
            self.lecam.update(real_mean, fake_mean, self.g_steps)
            if self.lecam.active(self.g_steps):
                terms["lecam"] = self.lecam(real_scores, fake_scores)
        cr = self.consistency
        if cr is not None and cr.balanced:
            real_transformed = self._d(self._layout(cr.transform(real)), labels)  # (B,)
            fake_transformed = self._d(self._layout(cr.transform(fake)), labels)  # (B,)
            terms["bcr"] = cr.balanced_penalty(
                real_scores, real_transformed, fake_scores, fake_transformed
            )
        if cr is not None and cr.zcr_dis > 0:
            with torch.no_grad():
                perturbed = self._g(self.generator, cr.perturb(z, self._noise_generator()), labels)
            perturbed_scores = self._d(self._layout(perturbed), labels)  # (B,)
            terms["zcr"] = cr.latent_d_penalty(fake_scores, perturbed_scores)
        return terms

    def _lazy_r1_step(self, opt_d, real: torch.Tensor, labels: torch.Tensor, batch_idx: int):
        """StyleGAN2's lazy R1: a D step on R1 alone, times the interval (see the class)."""
        penalty = self.loss.lazy_r1_penalty(self._eager_critic(labels), real, pack=self._pack)
        self._check_finite("r1", penalty, batch_idx)
        opt_d.zero_grad(set_to_none=True)
        self.manual_backward(penalty)
        opt_d.step()
        return penalty

    def _path_length_step(self, opt_g, labels: torch.Tensor, batch_idx: int) -> torch.Tensor:
        """StyleGAN2's lazy path-length regularisation: a G step on it alone."""
        with torch.compiler.set_stance("force_eager"):  # a double backward
            penalty = self.path_length(self.generator, self.sample_noise(len(labels)), labels)
        self._check_finite("path_length", penalty, batch_idx)
        opt_g.zero_grad(set_to_none=True)
        self.manual_backward(penalty)
        opt_g.step()
        return penalty

    def _score_summary(self, real: torch.Tensor, fake: torch.Tensor) -> dict[str, torch.Tensor]:
        """What D makes of the batch: its mean probability of "real" where its scores are logits
        (bce, minimax), else its mean raw score (hinge, LSGAN, WGAN: no probability there)."""
        real, fake = real.float(), fake.float()
        if self.loss.scores_are_logits:
            return {"train/d_real": real.sigmoid().mean(), "train/d_fake": fake.sigmoid().mean()}
        return {"train/d_real_score": real.mean(), "train/d_fake_score": fake.mean()}

    def _generator_step(
        self, opt_g, fake: torch.Tensor, z: torch.Tensor, labels: torch.Tensor, batch_idx: int
    ) -> None:
        # G step: D's parameters frozen by the toggle; G wants its images scored as real.
        with self.toggled_optimizer(opt_g):
            if self.fresh_noise_for_g:
                z = self.sample_noise(len(labels))
                fake = self._layout(self._g(self.generator, z, labels))
            loss_g = self.loss.g_loss(self._d(fake, labels))
            cr = self.consistency
            if cr is not None and cr.zcr_gen > 0:
                perturbed = self._g(self.generator, cr.perturb(z, self._noise_generator()), labels)
                zcr = cr.latent_g_penalty(fake, self._layout(perturbed))
                loss_g = loss_g + zcr
                if self.logging_due(batch_idx):
                    self.log("train/zcr_g", zcr.detach())
            self._check_finite("loss_g", loss_g, batch_idx)
            opt_g.zero_grad(set_to_none=True)
            self.manual_backward(loss_g)
            opt_g.step()
            if self.path_length is not None and self.path_length.due(self.g_steps):
                penalty = self._path_length_step(opt_g, labels, batch_idx)
                if self.logging_due(batch_idx):
                    self.log("train/path_length", penalty.detach())
        self.g_steps += 1
        if self.generator_ema:
            batch = len(labels) * (self.trainer.world_size if self._trainer else 1)
            self.generator_ema.update(self.generator, self.images_seen - batch, batch)
        if self.logging_due(batch_idx):
            self.log("train/loss_g", loss_g.detach())


def truncation_psis(
    truncation: object, generator: nn.Module | None, cutoff: object = None
) -> list[float]:
    """`truncation` (one psi, or a list of them for a sweep) as floats in [0, 1], and `cutoff`
    (None: every layer's w; else how many of the first ws are truncated) checked against the
    generator. Anything but psi = 1 needs a mapping network (StyleGAN2's); others are refused
    by name."""
    listed = isinstance(truncation, Iterable) and not isinstance(truncation, str)
    values = list(truncation) if listed else [truncation]
    try:
        psis = [float(psi) for psi in values]
    except (TypeError, ValueError):
        psis = []
    if not psis or any(not 0 <= psi <= 1 for psi in psis):
        raise ConfigError(f"truncation={truncation} is invalid: a psi in [0, 1], or a list of them")
    mapping = getattr(generator, "mapping", None)
    if (psis != [1.0] or cutoff is not None) and mapping is None:
        raise ConfigError(
            f"truncation={truncation}: truncation pulls a mapping network's w towards its "
            f"average; {type(generator).__name__} has none (model=stylegan2 has)"
        )
    if cutoff is not None and (
        isinstance(cutoff, bool) or not isinstance(cutoff, int) or not 1 <= cutoff <= mapping.num_ws
    ):
        raise ConfigError(
            f"truncation_cutoff={cutoff} is invalid: null (every w) or an integer from 1 to "
            f"{mapping.num_ws}, this generator's number of ws"
        )
    return psis


def truncated(psi: float, cutoff: int | None) -> dict:
    """`generate`'s keyword arguments for truncation psi (none at psi = 1, which every
    generator takes)."""
    return {} if psi == 1 else {"truncation_psi": psi, "truncation_cutoff": cutoff}


def scale_for_lazy_regularisation(optimizer: Optimizer, interval: int) -> None:
    """Scale the learning rate by k / (k + 1) and Adam's betas to that power, for a network
    regularised every k = `interval` steps (StyleGAN2-ADA's `mb_ratio`)."""
    ratio = interval / (interval + 1)
    for group in optimizer.param_groups:
        group["lr"] *= ratio
        if "betas" in group:
            group["betas"] = tuple(beta**ratio for beta in group["betas"])
