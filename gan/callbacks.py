"""Callbacks: sample grids from the fixed noise, and images per second in the progress bar."""

from __future__ import annotations

import time
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.loggers import Logger, TensorBoardLogger, WandbLogger
from torchvision.utils import make_grid, save_image


def log_image(loggers: list[Logger], key: str, image: torch.Tensor, step: int) -> None:
    """Send one image (C, H, W) in [0, 1] to the loggers that show images (wandb, TensorBoard)."""
    for logger in loggers:
        if isinstance(logger, WandbLogger):
            logger.log_image(key=key, images=[image.cpu()], step=step)
        elif isinstance(logger, TensorBoardLogger):
            logger.experiment.add_image(key, image.cpu(), global_step=step)


class SampleGrid(L.Callback):
    """At the end of every epoch: G(fixed noise) as a grid in `<dirpath>/epoch_NNN.png`, also logged
    as `samples` to the active loggers; at the end of training, `<dirpath>/final.png`.

    The module must provide `generate_fixed()` (see `gan.base.GenerativeModule`).
    """

    def __init__(self, dirpath: str | Path, nrow: int = 8) -> None:
        self.dirpath = Path(dirpath)
        self.nrow = nrow

    def grid(self, pl_module: L.LightningModule) -> torch.Tensor:
        images = pl_module.generate_fixed()  # (64, 1, 28, 28) in [-1, 1]
        return make_grid(images.float(), nrow=self.nrow, normalize=True, value_range=(-1, 1))

    def save(self, trainer: L.Trainer, pl_module: L.LightningModule, name: str) -> Path | None:
        if not trainer.is_global_zero:
            return None
        grid = self.grid(pl_module)  # (3, H, W) in [0, 1]
        path = self.dirpath / name
        path.parent.mkdir(parents=True, exist_ok=True)
        save_image(grid, path)
        # The step Lightning gives loggers (batches, not optimiser steps): wandb needs it monotonic.
        step = trainer.fit_loop.epoch_loop._batches_that_stepped
        log_image(trainer.loggers, "samples", grid, step=step)
        return path

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.save(trainer, pl_module, f"epoch_{trainer.current_epoch:03d}.png")

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.save(trainer, pl_module, "final.png")


class ConfigInCheckpoint(L.Callback):
    """Stores the run's resolved config in every checkpoint (key "config"), so tools such as
    `gan.sample` and `gan.eval` can rebuild the model from the checkpoint alone."""

    def __init__(self, config: dict) -> None:
        self.config = config

    def on_save_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:
        checkpoint["config"] = self.config


class ImagesPerSecond(L.Callback):
    """Training throughput (real images per second, smoothed) in the progress bar and the logs."""

    def __init__(self, smoothing: float = 0.9) -> None:
        self.smoothing = smoothing
        self._last: float | None = None
        self._rate: float | None = None

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._last = None  # do not count the pause between epochs

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        now = time.perf_counter()
        if self._last is not None:
            rate = len(batch[0]) / max(now - self._last, 1e-9)
            s = self.smoothing
            self._rate = rate if self._rate is None else s * self._rate + (1 - s) * rate
            pl_module.log("train/images_per_s", self._rate, prog_bar=True)
        self._last = now
