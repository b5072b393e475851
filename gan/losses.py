"""Adversarial objectives.

A loss describes the game, not the networks: how the discriminator scores real against generated
images (`d_loss`), what the generator minimises (`g_loss`), and how many discriminator steps the
literature takes per generator step (`n_critic`). Discriminators return raw scores (logits); every
loss here takes those scores, so a new loss slots in without touching the training module.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class AdversarialLoss:
    """Base class: subclasses implement `d_loss` and `g_loss` on discriminator scores (B,)."""

    def __init__(self, n_critic: int = 1) -> None:
        if n_critic < 1:
            raise ValueError(f"n_critic={n_critic}: must be >= 1")
        self.n_critic = n_critic

    def d_loss(self, real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def g_loss(self, fake_scores: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n_critic={self.n_critic})"


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

    def __init__(self, n_critic: int = 1, from_logits: bool = True) -> None:
        super().__init__(n_critic)
        self.bce = _BinaryCrossEntropy(from_logits)

    def d_loss(self, real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
        return self.bce(real_scores, 1.0) + self.bce(fake_scores, 0.0)

    def g_loss(self, fake_scores: torch.Tensor) -> torch.Tensor:
        return self.bce(fake_scores, 1.0)


class MinimaxLoss(NonSaturatingLoss):
    """The original objective of Goodfellow et al. (`loss=minimax`): G minimises
    E[log(1 - D(G(z)))], which saturates (vanishing gradients) when D wins early."""

    def g_loss(self, fake_scores: torch.Tensor) -> torch.Tensor:
        return -self.bce(fake_scores, 0.0)
