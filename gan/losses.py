"""Adversarial objectives and gradient penalties.

A loss describes the game, not the networks: how the discriminator scores real against generated
images (`d_loss`), what the generator minimises (`g_loss`), how many discriminator steps the
literature takes per generator step (`n_critic`), any penalty added to the discriminator's loss
(`d_penalty`: WGAN-GP's gradient penalty, R1 with any loss) and any constraint applied after its
step (`after_d_step`: WGAN's weight clipping). Discriminators return raw scores; every loss takes
those, so a new loss slots in without touching the training module.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from gan.augment.ada import AdaptiveAugment

Critic = Callable[[torch.Tensor], torch.Tensor]  # images (B, C, H, W) -> scores (B,) or (B, 1)


def in_float32(method: Callable) -> Callable:
    """Run a loss or penalty on float32 tensors with autocast off, whatever precision the networks
    ran in: bf16 would round the loss (the WGAN estimate keeps about 3 digits), saturate the
    tutorial's sigmoid (sigmoid(8) == 1 in bf16), and CUDA autocast refuses nn.BCELoss outright.
    A penalty's critic then runs in float32 too, so its double backward needs no loss scaling."""

    @functools.wraps(method)
    def wrapper(self, *args: torch.Tensor | Critic, **kwargs: int) -> torch.Tensor:
        tensors = [arg for arg in args if isinstance(arg, torch.Tensor)]
        device_type = tensors[0].device.type if tensors else "cpu"
        args = tuple(arg.float() if isinstance(arg, torch.Tensor) else arg for arg in args)
        with torch.autocast(device_type, enabled=False):
            return method(self, *args, **kwargs)

    return wrapper


class AdversarialLoss:
    """Base class: subclasses implement `d_loss` and `g_loss` on discriminator scores (B,),
    decorated with `in_float32` (as `d_penalty` is) so they compute in float32 outside autocast.

    Args:
        n_critic: discriminator steps per generator step.
        r1_gamma: weight of the R1 penalty on real images (0 = off); works with every loss.
        r1_interval: 1 computes R1 in every D step; k > 1 makes it lazy (StyleGAN2): R1 times k,
            in a D step of its own after every k-th one (the module's `lazy_r1_due`, and the
            optimiser's learning rate and betas scaled by k / (k + 1), see gan.module).
    """

    scores_are_logits = False  # True where sigmoid(score) is D's probability of "real"

    def __init__(self, n_critic: int = 1, r1_gamma: float = 0.0, r1_interval: int = 1) -> None:
        if n_critic < 1:
            raise ValueError(f"n_critic={n_critic}: must be >= 1")
        if r1_gamma < 0:
            raise ValueError(f"r1_gamma={r1_gamma}: must be >= 0")
        if not isinstance(r1_interval, int) or r1_interval < 1:
            raise ValueError(f"r1_interval={r1_interval}: an integer >= 1 (1: in every D step)")
        self.n_critic = n_critic
        self.r1_gamma = r1_gamma
        self.r1_interval = r1_interval

    def d_loss(self, real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def g_loss(self, fake_scores: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    @property
    def penalises_input_gradients(self) -> bool:
        """True when `d_penalty` differentiates D with respect to single images, which BatchNorm
        in D makes meaningless (each score would depend on the whole batch)."""
        return self.r1_gamma > 0

    @in_float32
    def d_penalty(
        self, critic: Critic, real: torch.Tensor, fake: torch.Tensor, pack: int = 1
    ) -> torch.Tensor:
        """Added to the discriminator's loss; zero unless a penalty is switched on (lazy R1 is
        not: see `lazy_r1`). `pack`: the images D scores at once (PacGAN), over which the
        penalties take their gradients."""
        if self.r1_gamma > 0 and self.r1_interval == 1:
            return r1_penalty(critic, real, self.r1_gamma, pack)
        return real.new_zeros(())

    @property
    def lazy_r1(self) -> bool:
        return self.r1_gamma > 0 and self.r1_interval > 1

    def lazy_r1_due(self, d_step: int) -> bool:
        """Whether the D step numbered `d_step` (from 0) is followed by a lazy R1 step: the
        first one and every `r1_interval`-th after it, as StyleGAN2-ADA's phases run."""
        return self.lazy_r1 and d_step % self.r1_interval == 0

    @in_float32
    def lazy_r1_penalty(self, critic: Critic, real: torch.Tensor, pack: int = 1) -> torch.Tensor:
        """R1 times `r1_interval`: the penalty of the steps it stands for."""
        return r1_penalty(critic, real, self.r1_gamma, pack) * self.r1_interval

    def after_d_step(self, discriminator: nn.Module) -> None:
        """A constraint applied to D after each of its optimiser steps (none by default)."""

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(n_critic={self.n_critic}, r1_gamma={self.r1_gamma}, "
            f"r1_interval={self.r1_interval})"
        )


class _BinaryCrossEntropy:
    """BCE on logits, or, with `from_logits=False`, sigmoid then `nn.BCELoss` exactly as the classic
    tutorials write it (numerically weaker: BCELoss clamps log(0) to -100)."""

    def __init__(self, from_logits: bool) -> None:
        self.from_logits = from_logits
        self._bce_on_probabilities = nn.BCELoss()

    def __call__(self, scores: torch.Tensor, target: float) -> torch.Tensor:
        targets = torch.full_like(scores, target)
        if self.from_logits:
            return F.binary_cross_entropy_with_logits(scores, targets)
        return self._bce_on_probabilities(torch.sigmoid(scores), targets)


class NonSaturatingLoss(AdversarialLoss):
    """The standard GAN game with the non-saturating generator loss (`loss=bce`).

    D minimises BCE(D(x), 1) + BCE(D(G(z)), 0); G minimises BCE(D(G(z)), 1) = -E[log D(G(z))],
    which keeps G's gradients large when D confidently rejects its samples.
    """

    scores_are_logits = True

    def __init__(
        self, n_critic: int = 1, r1_gamma: float = 0.0, from_logits: bool = True,
        r1_interval: int = 1,
    ) -> None:  # fmt: skip
        super().__init__(n_critic, r1_gamma, r1_interval)
        self.bce = _BinaryCrossEntropy(from_logits)

    @in_float32
    def d_loss(self, real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
        return self.bce(real_scores, 1.0) + self.bce(fake_scores, 0.0)

    @in_float32
    def g_loss(self, fake_scores: torch.Tensor) -> torch.Tensor:
        return self.bce(fake_scores, 1.0)


class MinimaxLoss(NonSaturatingLoss):
    """The original objective of Goodfellow et al. (`loss=minimax`): G minimises
    E[log(1 - D(G(z)))], which saturates (vanishing gradients) when D wins early."""

    @in_float32
    def g_loss(self, fake_scores: torch.Tensor) -> torch.Tensor:
        return -self.bce(fake_scores, 0.0)


class LeastSquaresLoss(AdversarialLoss):
    """LSGAN (Mao et al. 2017), targets 1 for real and 0 for generated (`loss=lsgan`):
    D minimises 1/2 E[(D(x) - 1)^2] + 1/2 E[D(G(z))^2]; G minimises 1/2 E[(D(G(z)) - 1)^2]."""

    @in_float32
    def d_loss(self, real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
        return 0.5 * ((real_scores - 1) ** 2).mean() + 0.5 * (fake_scores**2).mean()

    @in_float32
    def g_loss(self, fake_scores: torch.Tensor) -> torch.Tensor:
        return 0.5 * ((fake_scores - 1) ** 2).mean()


class HingeLoss(AdversarialLoss):
    """Hinge loss (Lim & Ye 2017; SNGAN, BigGAN) (`loss=hinge`):
    D minimises E[relu(1 - D(x))] + E[relu(1 + D(G(z)))]; G minimises -E[D(G(z))]."""

    @in_float32
    def d_loss(self, real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
        return F.relu(1 - real_scores).mean() + F.relu(1 + fake_scores).mean()

    @in_float32
    def g_loss(self, fake_scores: torch.Tensor) -> torch.Tensor:
        return -fake_scores.mean()


class WassersteinLoss(AdversarialLoss):
    """WGAN (Arjovsky et al. 2017) with weight clipping (`loss=wgan`): the critic minimises
    E[D(G(z))] - E[D(x)], its weights clipped to [-clip_value, clip_value] after every step;
    G minimises -E[D(G(z))]. Five critic steps per generator step, as in the paper."""

    def __init__(
        self, n_critic: int = 5, r1_gamma: float = 0.0, clip_value: float = 0.01,
        r1_interval: int = 1,
    ) -> None:  # fmt: skip
        super().__init__(n_critic, r1_gamma, r1_interval)
        if clip_value <= 0:
            raise ValueError(f"clip_value={clip_value}: must be > 0")
        self.clip_value = clip_value

    @in_float32
    def d_loss(self, real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
        return fake_scores.mean() - real_scores.mean()

    @in_float32
    def g_loss(self, fake_scores: torch.Tensor) -> torch.Tensor:
        return -fake_scores.mean()

    @torch.no_grad()
    def after_d_step(self, discriminator: nn.Module) -> None:
        for parameter in discriminator.parameters():
            parameter.clamp_(-self.clip_value, self.clip_value)


class WassersteinGPLoss(AdversarialLoss):
    """WGAN-GP (Gulrajani et al. 2017) (`loss=wgan_gp`): the Wasserstein critic loss plus
    `gp_weight * E[(||grad D(x_hat)|| - 1)^2]` at random interpolates x_hat; no clipping."""

    def __init__(
        self, n_critic: int = 5, r1_gamma: float = 0.0, gp_weight: float = 10.0,
        r1_interval: int = 1,
    ) -> None:  # fmt: skip
        super().__init__(n_critic, r1_gamma, r1_interval)
        if gp_weight < 0:
            raise ValueError(f"gp_weight={gp_weight}: must be >= 0")
        self.gp_weight = gp_weight

    @property
    def penalises_input_gradients(self) -> bool:
        return self.gp_weight > 0 or super().penalises_input_gradients

    @in_float32
    def d_loss(self, real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
        return fake_scores.mean() - real_scores.mean()

    @in_float32
    def g_loss(self, fake_scores: torch.Tensor) -> torch.Tensor:
        return -fake_scores.mean()

    @in_float32
    def d_penalty(
        self, critic: Critic, real: torch.Tensor, fake: torch.Tensor, pack: int = 1
    ) -> torch.Tensor:
        penalty = super().d_penalty(critic, real, fake, pack=pack)
        if self.gp_weight > 0:
            penalty = penalty + gradient_penalty(critic, real, fake, self.gp_weight, pack)
        return penalty


def _input_gradients(critic: Critic, images: torch.Tensor, pack: int = 1) -> torch.Tensor:
    """d critic(images).sum() / d images, kept in the graph (create_graph) so a penalty on it
    trains the critic: one row per score, (B, C, H, W) -> (B / pack, pack * C * H * W). With
    packing (PacGAN) D scores `pack` consecutive images at once, so a score's input, and the
    gradient whose norm the penalties take, is the whole pack."""
    images = images.detach().requires_grad_(True)
    (grads,) = torch.autograd.grad(critic(images).sum(), images, create_graph=True)
    return grads.reshape(len(images) // pack, -1)


def gradient_penalty(
    critic: Critic, real: torch.Tensor, fake: torch.Tensor, weight: float = 10.0, pack: int = 1
) -> torch.Tensor:
    """WGAN-GP: `weight * mean((||grad_x critic(x_hat)||_2 - 1)^2)` at random interpolates
    x_hat = a real + (1 - a) fake, a ~ U(0, 1) per scored input: per image, or with packing one
    a per pack and the norm over the pack (an exactly 1-Lipschitz packed critic gets 0).
    `critic` maps (B, C, H, W) to (B / pack,) or (B / pack, 1) scores."""
    packs = real.shape[0] // pack
    shape = (packs,) + (1,) * (real.ndim - 1)  # (B / pack, 1, 1, 1)
    alpha = torch.rand(shape, device=real.device, dtype=real.dtype).repeat_interleave(pack, 0)
    interpolates = alpha * real.detach() + (1 - alpha) * fake.detach()  # (B, C, H, W)
    norms = _input_gradients(critic, interpolates, pack).norm(2, dim=1)  # (B / pack,)
    return weight * ((norms - 1) ** 2).mean()


def r1_penalty(
    critic: Critic, real: torch.Tensor, gamma: float = 10.0, pack: int = 1
) -> torch.Tensor:
    """R1 (Mescheder et al. 2018): `gamma / 2 * mean(||grad_x critic(real)||_2^2)` over the scored
    inputs: images, or with packing whole packs (not divided by the pack size)."""
    return gamma / 2 * _input_gradients(critic, real, pack).pow(2).sum(dim=1).mean()


class LeCam(nn.Module):
    """LeCam regularisation (Tseng et al. 2021, "Regularizing Generative Adversarial Networks
    under Limited Data"), added to D's loss: `weight * (E[relu(D(x) - a_F)^2] +
    E[relu(a_R - D(G(z)))^2])`, where a_R and a_F are moving averages (decay `decay`) of D's mean
    raw score on real and generated images. It keeps D's scores of real images from drifting
    away from the generated ones' average (and vice versa), which is what an over-fitting D
    does. As the authors' BigGAN code runs it (weight 0.3, decay 0.99, start 1000): before
    generator step `start` the averages follow the current means (decay 0) and the term is off;
    it counts from the step after. Works on any loss's raw scores. The averages are buffers, so
    checkpoints keep them.
    """

    def __init__(self, weight: float = 0.3, decay: float = 0.99, start: int = 1000) -> None:
        super().__init__()
        if weight <= 0:
            raise ValueError(f"lecam.weight={weight}: must be > 0 (the paper: 0.3)")
        if not 0 <= decay < 1:
            raise ValueError(f"lecam.decay={decay}: must be in [0, 1) (the paper: 0.99)")
        if isinstance(start, bool) or not isinstance(start, int) or start < 0:
            raise ValueError(f"lecam.start={start}: a G step, an integer >= 0 (the paper: 1000)")
        self.weight, self.decay, self.start = weight, decay, start
        self.register_buffer("ema_real", torch.zeros(()))
        self.register_buffer("ema_fake", torch.zeros(()))

    @torch.no_grad()
    def update(self, real_mean: torch.Tensor, fake_mean: torch.Tensor, g_step: int) -> None:
        """Move the averages towards this D step's mean scores (scalars)."""
        rate = 1 - self.decay if g_step >= self.start else 1.0
        self.ema_real.lerp_(real_mean.float(), rate)
        self.ema_fake.lerp_(fake_mean.float(), rate)

    def active(self, g_step: int) -> bool:
        return g_step > self.start

    @in_float32
    def forward(self, real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
        """The penalty (a scalar) for raw scores (B,) of real and generated images."""
        real_term = F.relu(real_scores - self.ema_fake).pow(2).mean()
        fake_term = F.relu(self.ema_real - fake_scores).pow(2).mean()
        return self.weight * (real_term + fake_term)

    def extra_repr(self) -> str:
        return f"weight={self.weight}, decay={self.decay}, start={self.start}"


class ConsistencyRegularisation(nn.Module):
    """Consistency regularisation (Zhao et al. 2021, "Improved Consistency Regularization for
    GANs"), each term a mean squared difference:

    - bCR, on D: `bcr_real * (D(x) - D(T(x)))^2 + bcr_fake * (D(G(z)) - D(T(G(z))))^2`, T an
      x-flip with probability 1/2 and a translation of up to 1/8 of the side (reflected), the
      paper's flip and 4-pixel shift at 32 px;
    - zCR: on D `zcr_dis * (D(G(z)) - D(G(z + e)))^2` and on G `-zcr_gen * (G(z) - G(z + e))^2`
      (G is pushed to keep the two apart, against collapse), e ~ N(0, zcr_sigma^2).

    The paper's weights: bCR 10 and 10, zCR 5 and 0.5 with sigma 0.03; 0 turns a term off.
    """

    def __init__(
        self, bcr_real: float = 10.0, bcr_fake: float = 10.0, zcr_dis: float = 0.0,
        zcr_gen: float = 0.0, zcr_sigma: float = 0.03,
    ) -> None:  # fmt: skip
        super().__init__()
        weights = {"bcr_real": bcr_real, "bcr_fake": bcr_fake, "zcr_dis": zcr_dis,
                   "zcr_gen": zcr_gen}  # fmt: skip
        for name, weight in weights.items():
            if weight < 0:
                raise ValueError(f"consistency.{name}={weight}: must be >= 0 (0: off)")
        if not any(weights.values()):
            raise ValueError("consistency: every weight is 0; drop consistency instead")
        if (zcr_dis or zcr_gen) and not zcr_sigma > 0:
            raise ValueError(f"consistency.zcr_sigma={zcr_sigma}: must be > 0 (the paper: 0.03)")
        self.bcr_real, self.bcr_fake = bcr_real, bcr_fake
        self.zcr_dis, self.zcr_gen, self.zcr_sigma = zcr_dis, zcr_gen, zcr_sigma
        self.transform = AdaptiveAugment(["xflip", "xint"], p=1.0, adaptive=False)

    @property
    def balanced(self) -> bool:
        return self.bcr_real > 0 or self.bcr_fake > 0

    @property
    def latent(self) -> bool:
        return self.zcr_dis > 0 or self.zcr_gen > 0

    def perturb(self, z: torch.Tensor, rng: torch.Generator | None = None) -> torch.Tensor:
        """z + e, e ~ N(0, zcr_sigma^2), drawn from `rng` (the model's noise generator)."""
        noise = torch.randn(z.shape, device=z.device, dtype=z.dtype, generator=rng)
        return z + self.zcr_sigma * noise

    @in_float32
    def balanced_penalty(
        self, real_scores: torch.Tensor, real_transformed: torch.Tensor,
        fake_scores: torch.Tensor, fake_transformed: torch.Tensor,
    ) -> torch.Tensor:  # fmt: skip
        """bCR's term of D's loss from D's scores (B,) of x, T(x), G(z) and T(G(z))."""
        real_term = F.mse_loss(real_scores, real_transformed)
        return self.bcr_real * real_term + self.bcr_fake * F.mse_loss(fake_scores, fake_transformed)

    @in_float32
    def latent_d_penalty(self, fake_scores: torch.Tensor, perturbed: torch.Tensor) -> torch.Tensor:
        """zCR's term of D's loss from D's scores (B,) of G(z) and G(z + e)."""
        return self.zcr_dis * F.mse_loss(fake_scores, perturbed)

    @in_float32
    def latent_g_penalty(self, fake: torch.Tensor, perturbed: torch.Tensor) -> torch.Tensor:
        """zCR's term of G's loss from G(z) and G(z + e) (B, C, H, W): minus their distance."""
        return -self.zcr_gen * F.mse_loss(fake, perturbed)

    def extra_repr(self) -> str:
        return (f"bcr_real={self.bcr_real}, bcr_fake={self.bcr_fake}, zcr_dis={self.zcr_dis}, "
                f"zcr_gen={self.zcr_gen}, zcr_sigma={self.zcr_sigma}")  # fmt: skip


class PathLengthPenalty(nn.Module):
    """StyleGAN2's path-length regularisation (Karras et al. 2020, section 3.2): for images
    G(w) and per-pixel noise y ~ N(0, I) / sqrt(H W), the length of J_w^T y (over w's layers'
    mean square) should stay at its running average a: `weight * (length - a)^2`, a moved by
    `decay` towards each batch's mean length. As StyleGAN2-ADA runs it: lazily, every `interval`
    G steps, times `interval`, on a batch `batch_shrink` times smaller, with style mixing as in
    the G step. `pl_mean` (a) is a buffer, so checkpoints keep it.

    The generator must expose `ws(z, labels)` and `image(ws)` (gan.nets.stylegan2)."""

    def __init__(
        self, weight: float = 2.0, interval: int = 4, decay: float = 0.01, batch_shrink: int = 2
    ) -> None:
        super().__init__()
        if weight <= 0 or not isinstance(interval, int) or interval < 1 or batch_shrink < 1:
            raise ValueError(
                f"path length: weight={weight}, interval={interval}, batch_shrink={batch_shrink}:"
                " need weight > 0 and integers interval >= 1, batch_shrink >= 1"
            )
        if not 0 < decay <= 1:
            raise ValueError(f"path length: decay={decay}: must be in (0, 1]")
        self.weight, self.interval, self.decay = weight, interval, decay
        self.batch_shrink = batch_shrink
        self.register_buffer("pl_mean", torch.zeros(()))

    def due(self, g_step: int) -> bool:
        """Whether the G step numbered `g_step` (from 0) is followed by a regularisation step."""
        return g_step % self.interval == 0

    def forward(self, generator: nn.Module, z: torch.Tensor, labels: torch.Tensor | None):
        """The penalty (a scalar) for the first 1 / batch_shrink of `z` (and `labels`)."""
        n = max(1, len(z) // self.batch_shrink)
        labels = labels[:n] if labels is not None else None
        with torch.autocast(z.device.type, enabled=False):  # double backward in float32
            ws = generator.ws(z[:n].float(), labels)  # (n, num_ws, w_dim)
            images = generator.image(ws).float()  # (n, C, H, W)
            noise = torch.randn_like(images) / math.sqrt(images.shape[2] * images.shape[3])
            (grads,) = torch.autograd.grad((images * noise).sum(), ws, create_graph=True)
            lengths = grads.square().sum(dim=2).mean(dim=1).sqrt()  # (n,)
            mean = self.pl_mean.lerp(lengths.mean(), self.decay)  # differentiated, as theirs
            self.pl_mean.copy_(mean.detach())
            penalty = (lengths - mean).square() * self.weight  # (n,)
            # The images' term keeps every synthesis weight in the graph (DDP sees them used).
            return (images[:, 0, 0, 0] * 0 + penalty).mean() * self.interval

    def extra_repr(self) -> str:
        return (f"weight={self.weight}, interval={self.interval}, decay={self.decay}, "
                f"batch_shrink={self.batch_shrink}")  # fmt: skip
