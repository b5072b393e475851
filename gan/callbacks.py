"""Callbacks: sample grids, sample metrics, images per second, the run config in checkpoints."""

from __future__ import annotations

import fnmatch
import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint, RichProgressBar
from lightning.pytorch.loggers import Logger, TensorBoardLogger, WandbLogger
from lightning.pytorch.utilities import rank_zero_warn
from torchvision.utils import make_grid, save_image

from gan.base import on_device
from gan.data.mixtures import scatter_image
from gan.metrics.evaluate import (
    METRICS,
    check_metrics,
    evaluate_images,
    generate_images,
    reference_statistics,
)
from gan.metrics.spaces import FEATURE_SPACES, load_feature_space
from gan.stopping import stopped_by_signal


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
        if images.shape[1:] == (2, 1, 1):  # 2-D points (gan.data.mixtures): a scatter plot
            return scatter_image(images)
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
        if not stopped_by_signal(trainer):  # a cut epoch gets its grid when it is finished
            self.save(trainer, pl_module, f"epoch_{trainer.current_epoch:03d}.png")

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.save(trainer, pl_module, "final.png")


class RunCheckpoint(ModelCheckpoint):
    """Lightning's ModelCheckpoint, except that a monitored checkpoint (best.ckpt) keeps meaning
    "the best so far over the whole run" when a run is resumed into a new directory.

    Lightning forgets the best score when the checkpoint folder changes, so the resumed run would
    save its own first epoch as best.ckpt however it compared. Here the score and path are carried
    over, and the earlier run's best file is copied into the new folder (by rank 0, at the start
    of training) so that best.ckpt there is the earlier best until an epoch beats it.
    """

    _carried_best: Path | None = None

    def load_state_dict(self, state_dict: dict) -> None:
        super().load_state_dict(state_dict)
        previous = state_dict.get("best_model_path")
        score = state_dict.get("best_model_score")
        if self.monitor is None or score is None or not previous:
            return
        if state_dict.get("dirpath") == self.dirpath:
            return  # the same folder: Lightning restored everything
        if not Path(previous).is_file():
            rank_zero_warn(
                f"the best checkpoint of the resumed run ({previous}) is gone: best.ckpt starts "
                "afresh from this run's epochs"
            )
            return
        target = Path(self.dirpath) / Path(previous).name
        self._carried_best = Path(previous)
        self.best_model_score = score
        self.best_model_path = self.kth_best_model_path = str(target)
        self.kth_value = score
        self.best_k_models = {str(target): score}

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """As Lightning's, except that a monitored checkpoint skips an epoch cut by a signal
        (its metrics were not computed: gan.stopping); last.ckpt is written there as ever."""
        if self.monitor is None or not stopped_by_signal(trainer):
            super().on_train_epoch_end(trainer, pl_module)

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._carried_best is not None and trainer.is_global_zero:
            target = Path(self.best_model_path)
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
            shutil.copyfile(self._carried_best, partial)
            os.replace(partial, target)
        self._carried_best = None
        super().on_train_start(trainer, pl_module)


class ConfigInCheckpoint(L.Callback):
    """Stores the run's resolved config in every checkpoint (key "config"), so tools such as
    `gan.sample` and `gan.eval` can rebuild the model from the checkpoint alone."""

    def __init__(self, config: dict) -> None:
        self.config = config

    def on_save_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:
        checkpoint["config"] = self.config


# The logged values the bar shows by default (shell-style patterns, see `ProgressBar`).
SHOWN_IN_BAR = (
    "train/loss_d", "train/loss_g", "train/loss", "train/images_per_s",
    "val/fid_*", "val/mode_kl", "val/psnr",
)  # fmt: skip


class ProgressBar(RichProgressBar):
    """Lightning's rich progress bar, showing the logged values whose names match `show` every
    `metrics_every_n_batches` batches (and at the end of every epoch) instead of after every
    batch: reading them copies them to the host, which on a GPU waits for all queued work. The
    bar itself moves every batch.

    The project's modules and callbacks log with `prog_bar=False` and this bar picks their values
    out of `trainer.callback_metrics` by name: Lightning converts every `prog_bar=True` value to
    a Python number after every batch, logged at that batch or not (`_LoggerConnector.
    on_batch_end`), a host-device wait per value per step that kept the GPU's queue from running
    ahead of the host. Values a user logs with `prog_bar=True` are still shown.

    `refresh_rate` is redraws a second, 10 rather than Lightning's 100: rich redraws from a thread
    of its own, which competes for the interpreter's lock with the thread that queues GPU work
    (H200, batch 128, one process each: 12.93 ms a step at 100, 11.42 at 10, 9.73 with no bar;
    docs/speed.md).
    """

    def __init__(
        self,
        metrics_every_n_batches: int = 1,
        show: Sequence[str] = SHOWN_IN_BAR,
        refresh_rate: int = 10,
        **kwargs,
    ) -> None:
        super().__init__(refresh_rate=refresh_rate, **kwargs)
        if metrics_every_n_batches < 1:
            raise ValueError(f"metrics_every_n_batches={metrics_every_n_batches}: use 1 or more")
        self.metrics_every_n_batches = metrics_every_n_batches
        self.show = tuple(show)
        self._shown: dict | None = None
        self._read = True

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        self._read = (batch_idx + 1) % self.metrics_every_n_batches == 0
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
        self._read = True

    def get_metrics(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict:
        if self._read or self._shown is None:
            picked = {
                name: value.item() if isinstance(value, torch.Tensor) else value
                for name, value in trainer.callback_metrics.items()
                if any(fnmatch.fnmatchcase(name, pattern) for pattern in self.show)
            }
            self._shown = {**super().get_metrics(trainer, pl_module), **picked}
        return self._shown


class ImagesPerSecond(L.Callback):
    """Training throughput (real images per second, smoothed) in the progress bar and the logs,
    from the module's `images_seen` counter: every process's images under DDP, both domains'
    for unpaired translation."""

    def __init__(self, smoothing: float = 0.9) -> None:
        self.smoothing = smoothing
        self._last: tuple[float, int] | None = None  # (time, images_seen)
        self._rate: float | None = None

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._last = None  # do not count the pause between epochs

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        now, seen = time.perf_counter(), pl_module.images_seen
        if self._last is not None:
            rate = (seen - self._last[1]) / max(now - self._last[0], 1e-9)
            s = self.smoothing
            self._rate = rate if self._rate is None else s * self._rate + (1 - s) * rate
            if pl_module.logging_due(batch_idx):
                pl_module.log("train/images_per_s", on_device(pl_module, self._rate))
        self._last = (now, seen)


class SampleMetrics(L.Callback):
    """Every `every_n_epochs` epochs (and after the last): `num_samples` images from the model's
    sampling generator (the EMA one when there is one), scored in the data set's feature space
    (`feature_space`, see gan.metrics.spaces) against as many images of the data module's
    validation split, logged as `val/<metric>`: `val/fid_mnist`, `val/kid_mnist`,
    `val/is_mnist`, `val/classes_covered`, `val/class_kl`, `val/precision`, `val/recall` for
    MNIST; `val/fid_fashion`, ... for Fashion-MNIST; `val/modes_covered`, `val/mode_kl` for
    Stacked MNIST; `val/fid_inception`, ... for CIFAR-10 and folders. `metrics`: the kinds to
    compute (None: every one the space supports).

    The same seeded noise is used every time, so epochs are compared on equal samples. The
    validation images' embedding is cached in `cache_dir`.
    """

    def __init__(
        self,
        feature_space: str = "mnist",
        metrics: list[str] | None = None,
        every_n_epochs: int = 1,
        num_samples: int = 5000,
        k: int = 3,
        cache_dir: str | Path | None = None,
        seed: int = 0,
    ) -> None:
        if feature_space not in FEATURE_SPACES:
            raise ValueError(f"feature_space={feature_space!r}: choose from {FEATURE_SPACES}")
        if unknown := sorted(set(metrics or ()) - set(METRICS)):
            raise ValueError(f"unknown metrics {unknown}; choose from {list(METRICS)}")
        if every_n_epochs < 1 or num_samples <= k:
            raise ValueError(
                f"every_n_epochs={every_n_epochs}, num_samples={num_samples}: need >= 1 and > k"
            )
        self.feature_space = feature_space
        self.metrics = list(metrics) if metrics else None
        self.every_n_epochs = every_n_epochs
        self.num_samples = num_samples
        self.k = k
        self.cache_dir = cache_dir
        self.seed = seed
        self._space = None
        self._reference = None

    def _prepare(self, trainer: L.Trainer) -> None:
        if self._space is None:
            self._space = load_feature_space(self.feature_space)
            check_metrics(self._space, self.metrics)
            real = trainer.datamodule.val_set.images[: self.num_samples]
            if len(real) <= self.k:
                raise ValueError(
                    f"the validation split holds {len(real)} images; the metrics need more than "
                    f"k={self.k} (raise data.val_size)"
                )
            self._reference = reference_statistics(self._space, real, self.cache_dir)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        epoch = trainer.current_epoch + 1
        if epoch % self.every_n_epochs and epoch != trainer.max_epochs:
            return
        if stopped_by_signal(trainer):  # the run is leaving mid-epoch, not finishing it
            return
        scores = None
        if trainer.is_global_zero:  # scored once; the other DDP processes wait for the result
            self._prepare(trainer)
            val_labels = trainer.datamodule.val_set.labels
            images = generate_images(
                pl_module, self.num_samples, self.seed, reference_labels=val_labels
            )
            reference = self._reference
            scores = evaluate_images(self._space, images, reference, self.metrics, self.k)
        # Every process logs the same values, so checkpointing on the primary metric agrees.
        # No sync_dist: the values are already shared, and a synced value would be reduced again
        # whenever it is read, by a collective that rank 0's progress bar alone would enter.
        scores = trainer.strategy.broadcast(scores, src=0)
        for name, value in scores.items():
            if not name.endswith("_std"):
                pl_module.log(f"val/{name}", value)
