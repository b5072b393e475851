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
