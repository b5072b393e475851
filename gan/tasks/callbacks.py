"""Callbacks of the image-to-image tasks: the input | output | ground-truth strip, and the task
metrics on the validation split (MNIST's, or on photos PSNR, SSIM, Inception FID and KID)."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import torch
from torchvision.utils import make_grid, save_image

from gan.callbacks import log_image
from gan.metrics.classifier import load_classifier
from gan.metrics.image2image import (
    score_outputs,
    score_photo_outputs,
    task_examples,
    translate_images,
)
from gan.metrics.inception import load_inception
from gan.stopping import stopped_by_signal


def strip(model, real: torch.Tensor, truth: torch.Tensor | None, seed: int = 0) -> torch.Tensor:
    """A grid (3, H, W) in [0, 1]: inputs, outputs and ground truth of `real` in three rows (two
    when `truth` is None: unpaired folders without name twins)."""
    inputs, outputs, _ = translate_images(model, real, seed)
    rows = [model.visible(inputs).cpu(), outputs] + ([truth.cpu()] if truth is not None else [])
    grid = torch.cat(rows)  # (3n, C, R, R)
    return make_grid(grid, nrow=len(real), normalize=True, value_range=(-1, 1), pad_value=1)


class TranslationStrip(L.Callback):
    """At the end of every epoch, `<dirpath>/epoch_NNN.png` (and `final.png` after training):
    `n` validation digits as input | output | ground truth rows, also logged as `samples`."""

    def __init__(self, dirpath: str | Path, n: int = 10) -> None:
        self.dirpath = Path(dirpath)
        self.n = n

    def save(self, trainer: L.Trainer, pl_module, name: str) -> None:
        if not trainer.is_global_zero:
            return
        real, _, truth, _ = task_examples(trainer.datamodule, pl_module, self.n)
        grid = strip(pl_module, real, truth)
        self.dirpath.mkdir(parents=True, exist_ok=True)
        save_image(grid, self.dirpath / name)
        log_image(
            trainer.loggers, "samples", grid, trainer.fit_loop.epoch_loop._batches_that_stepped
        )

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module) -> None:
        if not stopped_by_signal(trainer):  # see gan.callbacks.SampleGrid
            self.save(trainer, pl_module, f"epoch_{trainer.current_epoch:03d}.png")

    def on_train_end(self, trainer: L.Trainer, pl_module) -> None:
        self.save(trainer, pl_module, "final.png")


class TranslationMetrics(L.Callback):
    """Every `every_n_epochs` epochs (and after the last), the outputs for the first
    `num_samples` validation images (the same inputs every time): on MNIST PSNR, SSIM,
    FID-MNIST, classifier accuracy and sharpness (`val/psnr`, `val/ssim`, `val/fid_mnist`,
    `val/accuracy`, `val/sharpness`); on photos PSNR, SSIM and sharpness where there is a truth,
    and `val/fid_inception`, `val/kid_inception` against the target domain (see
    gan.metrics.image2image)."""

    def __init__(self, num_samples: int = 2000, every_n_epochs: int = 1, seed: int = 0) -> None:
        if num_samples < 2 or every_n_epochs < 1:
            raise ValueError(f"num_samples={num_samples}, every_n_epochs={every_n_epochs}")
        self.num_samples = num_samples
        self.every_n_epochs = every_n_epochs
        self.seed = seed
        self._scorer = None  # the MNIST classifier or the Inception network, loaded once

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module) -> None:
        epoch = trainer.current_epoch + 1
        if epoch % self.every_n_epochs and epoch != trainer.max_epochs:
            return
        if stopped_by_signal(trainer):  # see gan.callbacks.SampleMetrics
            return
        scores = None
        if trainer.is_global_zero:
            scores = self.score(trainer.datamodule, pl_module)
        # Shared values, logged without sync_dist (see gan.callbacks.SampleMetrics).
        for name, value in trainer.strategy.broadcast(scores, src=0).items():
            pl_module.log(f"val/{name}", value)

    def score(self, datamodule, model) -> dict[str, float]:
        real, labels, truth, domain = task_examples(datamodule, model, self.num_samples)
        _, outputs, _ = translate_images(model, real, self.seed)
        if datamodule.feature_space == "mnist":
            self._scorer = self._scorer or load_classifier()
            return score_outputs(self._scorer, outputs, truth, labels)
        self._scorer = self._scorer or load_inception(model.device)
        return score_photo_outputs(self._scorer, outputs, truth, domain)
