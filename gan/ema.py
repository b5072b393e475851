"""Exponential moving average of a network's weights (the generator, for samples and metrics)."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable

import torch
from torch import nn


def half_life_decay(
    half_life_kimg: float, rampup: float | None, images_before: int, batch: int
) -> float:
    """StyleGAN2-ADA's EMA decay for a step of `batch` images after `images_before`: the average
    halves its distance to G every `half_life_kimg` thousand images, 0.5 ** (batch / half-life),
    the half-life ramped up as `rampup` times the images seen so far (when shorter)."""
    half_life = half_life_kimg * 1000
    if rampup is not None:
        half_life = min(half_life, images_before * rampup)
    return 0.5 ** (batch / max(half_life, 1e-8))


def ema_decay_at(step: int, decay: float, warmup: bool = True) -> float:
    """The decay used for the `step`-th update (0-based). With warm-up it is
    min(decay, (1 + step) / (10 + step)), as in TensorFlow's ExponentialMovingAverage, so the
    average forgets the random initial weights within the first few hundred steps."""
    return min(decay, (1 + step) / (10 + step)) if warmup else decay


def _paired(
    averaged: Iterable[torch.Tensor], current: Iterable[torch.Tensor]
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """The averaged network's tensors and the live network's (detached), checked to pair up."""
    averaged, current = list(averaged), [tensor.detach() for tensor in current]
    if len(averaged) != len(current):
        raise ValueError(
            f"the averaged network has {len(averaged)} tensors, the network {len(current)}"
        )
    return averaged, current


class EMA(nn.Module):
    """Holds `averaged`, a frozen copy of a network, and moves it towards the network's weights:
    averaged <- decay * averaged + (1 - decay) * current, the decay fixed (with a warm-up) or
    set by a half-life in images, as StyleGAN2-ADA's `ema_kimg` and `ema_rampup`. Being a
    module, it lives in the LightningModule's state_dict, so checkpoints save it and resume
    restores it.

    BatchNorm statistics cannot be averaged like weights: the live network's running statistics
    describe the live network's activations, not the averaged one's. They are copied at every
    update (a fallback) and marked stale; `recalibrate_batch_norm` recomputes them from the
    averaged network's own activations, which its owner does before sampling from it."""

    def __init__(
        self,
        network: nn.Module,
        decay: float | None = 0.999,
        warmup: bool = True,
        half_life_kimg: float | None = None,
        rampup: float | None = None,
    ) -> None:
        super().__init__()
        if half_life_kimg is None and (decay is None or not 0.0 <= decay < 1.0):
            raise ValueError(f"decay={decay}: must be in [0, 1)")
        if half_life_kimg is not None and half_life_kimg <= 0:
            raise ValueError(f"half_life_kimg={half_life_kimg}: must be > 0")
        self.decay = decay
        self.warmup = warmup
        self.half_life_kimg = half_life_kimg  # StyleGAN2-ADA's decay by images (see update)
        self.rampup = rampup
        # Never trained directly; samplers switch it to eval mode while they use it.
        self.averaged = copy.deepcopy(network).requires_grad_(False)
        self.register_buffer("num_updates", torch.zeros((), dtype=torch.long))
        # The count as a Python int, so an update never waits for the device to read the buffer;
        # read from the buffer once after construction or loading.
        self._count: int | None = None
        self.batch_norm_stale = True  # the averaged network's BatchNorm statistics need a refresh
        self.register_load_state_dict_post_hook(EMA._after_load)

    @staticmethod
    def _after_load(module: EMA, incompatible_keys) -> None:
        module._count = None
        module.batch_norm_stale = True

    @torch.no_grad()
    def update(self, network: nn.Module, images_before: int = 0, batch: int = 0) -> None:
        """One step of the average: by `decay` (with its warm-up), or, with `half_life_kimg`,
        by StyleGAN2-ADA's rule for a step of `batch` images after `images_before`."""
        if self._count is None:
            self._count = int(self.num_updates)
        if self.half_life_kimg is not None:
            decay = half_life_decay(self.half_life_kimg, self.rampup, images_before, batch)
        else:
            decay = ema_decay_at(self._count, self.decay, self.warmup)
        # One multi-tensor operation for all weights and one for all buffers (on a GPU a few
        # kernels, not one or two per tensor), the same arithmetic as a `lerp_` per tensor.
        averaged, current = _paired(self.averaged.parameters(), network.parameters())
        if averaged:  # the multi-tensor operations refuse empty lists
            torch._foreach_lerp_(averaged, current, 1.0 - decay)
        averaged, current = _paired(self.averaged.buffers(), network.buffers())
        if averaged:
            torch._foreach_copy_(averaged, current)
        self.num_updates += 1
        self._count += 1
        self.batch_norm_stale = True

    @torch.no_grad()
    def use_statistics_of(self, network: nn.Module) -> None:
        """Copy `network`'s buffers (BatchNorm statistics) and keep them: what every update did
        before the statistics were recomputed (kept to compare the two, see gan.eval)."""
        for average, current in zip(self.averaged.buffers(), network.buffers(), strict=True):
            average.copy_(current)
        self.batch_norm_stale = False

    @torch.no_grad()
    def recalibrate_batch_norm(
        self, run_batch: Callable[[nn.Module], object], batches: int
    ) -> None:
        """Recompute the averaged network's BatchNorm running statistics from its own activations:
        the cumulative average over `batches` calls of `run_batch(averaged)` in training mode (each
        forwards one batch of inputs through it)."""
        norms = [
            m for m in self.averaged.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
        ]
        if norms:
            momenta = [norm.momentum for norm in norms]
            for norm in norms:
                norm.reset_running_stats()
                norm.momentum = None  # a cumulative average over the batches
            was_training = self.averaged.training
            self.averaged.train()
            for _ in range(batches):
                run_batch(self.averaged)
            for norm, momentum in zip(norms, momenta, strict=True):
                norm.momentum = momentum
            self.averaged.train(was_training)
        self.batch_norm_stale = False
