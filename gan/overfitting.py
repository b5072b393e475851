"""D's over-fitting, measured as the ADA paper measures it (Karras et al. 2020, fig. 1b): D's
mean raw score on training images, on held-out images of the same data set, and on generated
images. A D that has memorised its training set scores the held-out real images like the
generated ones, however well it still separates its training images from them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_info
from torch import nn

from gan.data.tensors import as_unit_range
from gan.metrics.evaluate import labels_like
from gan.module import GAN
from gan.stopping import stopped_by_signal


def overfitting_ratio(train: float, heldout: float, generated: float) -> float:
    """ADA's r_v: (D(train) - D(held-out)) / (D(train) - D(generated)), D's mean raw scores.
    0: D scores the held-out real images as it scores its training images; 1: as it scores the
    generated ones. NaN while D does not separate its training images from generated ones."""
    margin = train - generated
    if abs(margin) < 1e-6:
        return float("nan")
    return (train - heldout) / margin


@contextmanager
def untouched(modules: list[nn.Module], device: torch.device) -> Iterator[None]:
    """Run networks in training mode (BatchNorm on batch statistics, as D sees its batches)
    and leave no trace: their buffers (BatchNorm's running statistics, spectral norm's power
    iteration vectors) and the RNGs (dropout) are restored afterwards, so training goes on as
    if nothing had run."""
    saved = [{name: b.clone() for name, b in m.named_buffers()} for m in modules]
    devices = [device] if device.type == "cuda" else []
    try:
        with (
            torch.random.fork_rng(devices=devices),
            torch.no_grad(),
            torch.compiler.set_stance("force_eager"),  # other batch sizes: no recompiling
        ):
            yield
    finally:
        for module, buffers in zip(modules, saved, strict=True):
            for name, value in module.named_buffers():
                value.copy_(buffers[name])


class DiscriminatorOverfitting(L.Callback):
    """Every `every_n_epochs` epochs (and after the last): D's mean raw score on `num_images`
    training images (the first of the training set: the same every time), as many validation
    images and as many images of the training generator from seeded noise, logged as
    `val/d_train`, `val/d_heldout`, `val/d_generated` and `val/d_overfit` (r_v, see
    `overfitting_ratio`). D scores clean images (no augmentation) in training mode, in whole
    batches of the training batch size (`num_images` rounded down to them), with nothing of
    its state changed. A model that is not a `gan.module.GAN` (the VAE, the image-to-image
    models) logs nothing."""

    def __init__(self, num_images: int = 1000, every_n_epochs: int = 1, seed: int = 0) -> None:
        if num_images < 1 or every_n_epochs < 1:
            raise ValueError(
                f"num_images={num_images}, every_n_epochs={every_n_epochs}: both must be >= 1"
            )
        self.num_images = num_images
        self.every_n_epochs = every_n_epochs
        self.seed = seed

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not isinstance(pl_module, GAN):
            rank_zero_info(f"{type(pl_module).__name__} is not a GAN: no val/d_overfit")

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        epoch = trainer.current_epoch + 1
        if epoch % self.every_n_epochs and epoch != trainer.max_epochs:
            return
        if not isinstance(pl_module, GAN) or stopped_by_signal(trainer):
            return
        scores = None
        if trainer.is_global_zero:  # scored once, shared with the other DDP processes
            scores = self.scores(pl_module, trainer.datamodule, trainer.datamodule.batch_size)
        scores = trainer.strategy.broadcast(scores, src=0)
        for name, value in scores.items():
            pl_module.log(f"val/{name}", value)

    def scores(self, pl_module: GAN, datamodule: L.LightningDataModule, batch_size: int) -> dict:
        """D's mean raw scores and r_v: {"d_train": ..., "d_heldout": ..., "d_generated": ...,
        "d_overfit": ...}."""
        train, val = datamodule.train_set, datamodule.val_set
        step = max(batch_size - batch_size % pl_module._pack, pl_module._pack)
        n = min(self.num_images, len(train), len(val))
        # Whole batches only (as training has them): D's minibatch standard deviation cuts each
        # into groups, PacGAN into packs.
        n = n - n % step if n >= step else n - n % pl_module._pack
        device = pl_module.device
        rng = torch.Generator().manual_seed(self.seed)
        z = torch.randn(n, pl_module.latent_dim, generator=rng)  # (n, latent_dim)
        fake_labels = torch.zeros(n, dtype=torch.long)
        if pl_module.num_classes:
            fake_labels = labels_like(val.labels, n, pl_module.num_classes, self.seed)
        mean = {}
        with untouched([pl_module.generator, pl_module.discriminator], device):
            for name, images, labels in (
                ("d_train", train.images[:n], train.labels[:n]),
                ("d_heldout", val.images[:n], val.labels[:n]),
                ("d_generated", None, fake_labels),
            ):
                total, count = 0.0, 0
                for start in range(0, n, step):
                    y = labels[start : start + step].to(device)  # (b,)
                    if images is None:
                        x = pl_module._g(pl_module.generator, z[start : start + step].to(device), y)
                    else:
                        x = as_unit_range(images[start : start + step]).to(device)  # (b, C, H, W)
                    scores = pl_module._d(x, y, augment=False).float()  # (b / pack,)
                    total, count = total + scores.sum().item(), count + scores.numel()
                mean[name] = total / count
        mean["d_overfit"] = overfitting_ratio(
            mean["d_train"], mean["d_heldout"], mean["d_generated"]
        )
        return mean
