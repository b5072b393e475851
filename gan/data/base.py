"""What every data module shares: uint8 tensors in memory, a seeded validation split, the seeded
epoch order, the fast path, limited subsets, and the facts the models and metrics read."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.utilities import CombinedLoader
from torch.utils.data import DataLoader, Sampler

from gan.data.sampling import (
    DeviceBatches,
    EpochShuffleSampler,
    ResumableDataLoader,
    check_a_batch_fits,
)
from gan.data.splits import class_balanced, limited, subset_size, train_val_split, unpaired_split
from gan.data.tensors import ImageTensorDataset, resize_images

DATA_DIR_ENV = "GAN_DATA_DIR"
RESOLUTIONS = (28, 32, 64, 128, 256)  # what the networks are built for (each its own subset)


class DataNotFoundError(RuntimeError):
    """A data set is neither on disk (intact) nor downloadable."""


def default_data_dir(root_dir: str | Path | None = None) -> Path:
    """`$GAN_DATA_DIR` when set and not empty, else `data/` in `root_dir` (the project root)."""
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return Path(env)
    return Path(root_dir or Path(__file__).resolve().parents[2]) / "data"


@dataclass
class Split:
    """One part of a data set: uint8 images (N, C, H, W) and integer labels (N,)."""

    images: torch.Tensor
    labels: torch.Tensor

    def __post_init__(self) -> None:
        if self.labels is None:
            self.labels = torch.zeros(len(self.images), dtype=torch.long)

    def take(self, index: torch.Tensor) -> Split:
        return Split(self.images[index], self.labels[index])


class ImageDataModule(L.LightningDataModule):
    """A data set as uint8 tensors: a seeded validation split, the seeded epoch order, the fast
    path and the facts that models and metrics take from the data config.

    Subclasses implement `read` (the training split and the test split, and a validation split
    where the data set has its own) and may override `prepare_data` (downloads).

    Args:
        root: where data sets live (`paths.data_dir`).
        batch_size, num_workers, pin_memory: the DataLoader's.
        val_size: images held out of the training split as validation (seeded by `split_seed`),
            unless the data set has its own validation split.
        seed: the shuffling order (saved in checkpoints, so resume keeps it).
        split_seed: the validation split, the limited subset and the unpaired halves.
        on_device: batches cut from one uint8 tensor on the trainer's device (the fast path).
        unpaired: every batch a dict {"a": ..., "b": ...} from two disjoint halves of the
            training split (task=translate).
        limit_images: train on a seeded subset of this many training images (data efficiency).
        fraction: train on this fraction of the training images instead (0.1: 10%).
        balanced: the subset keeps every class's share of the training split
            (`gan.data.splits.class_balanced`); False: a plain seeded choice (`limited`), the rule
            before `balanced` existed.
        resolution: images are resized to resolution x resolution (antialiased) when their own
            size differs; one of RESOLUTIONS.
        channels: 1 (grey) or 3 (RGB); a data set converts to it or refuses it.
        num_classes: labels are 0 .. num_classes - 1 (None: unlabelled).
        flip: the image-to-image tasks mirror training images at random (read by those models
            through the config; see gan.data.jitter).
        feature_space, primary_metric, metric_samples: how samples of this data are scored
            (read by the metrics and checkpoint callbacks through the config).
    """

    native_channels: tuple[int, ...] = (1, 3)  # the channel counts this data set can give
    native_resolution: int | None = None  # its images' own size (None: they vary, as a folder's)

    def __init__(
        self,
        root: str | Path | None = None,
        batch_size: int = 128,
        num_workers: int = 0,
        pin_memory: bool = False,
        val_size: int = 5000,
        seed: int = 0,
        split_seed: int = 1234,
        on_device: bool = False,
        unpaired: bool = False,
        limit_images: int | None = None,
        fraction: float | None = None,
        balanced: bool = True,
        resolution: int = 28,
        channels: int = 1,
        num_classes: int | None = None,
        flip: bool = False,
        feature_space: str | None = None,
        primary_metric: str | None = None,
        metric_samples: int = 5000,
    ) -> None:
        super().__init__()
        if batch_size < 1:
            raise ValueError(f"batch_size={batch_size}: must be >= 1")
        if val_size < 0:
            raise ValueError(f"val_size={val_size}: must be >= 0")
        if resolution not in RESOLUTIONS:
            raise ValueError(f"resolution={resolution}: choose one of {RESOLUTIONS}")
        if channels not in self.native_channels:
            raise ValueError(
                f"channels={channels}: {type(self).__name__} gives {self.native_channels}"
            )
        if on_device and unpaired:
            raise ValueError("on_device=True with unpaired=True: the device path serves one domain")
        self.root = Path(root) if root else default_data_dir()
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        self.val_size = val_size
        self.seed = seed
        self.split_seed = split_seed
        self.on_device = on_device
        self.unpaired = unpaired
        self.limit_images = limit_images
        self.fraction = fraction
        self.balanced = balanced
        self.resolution = resolution
        self.channels = channels
        self.num_classes = num_classes
        self.flip = flip
        # The size training images are kept at: the paired and unpaired folders keep theirs
        # larger, for the tasks' random crops (gan.data.jitter).
        self.train_resolution = resolution
        self.feature_space = feature_space
        self.primary_metric = primary_metric
        self.metric_samples = metric_samples
        self.train_set: ImageTensorDataset | None = None
        self.val_set: ImageTensorDataset | None = None
        self.test_set: ImageTensorDataset | None = None

    # ---- what a data set provides -------------------------------------------------------------

    def read(self) -> dict[str, Split]:
        """{"train": ..., "test": ...} and optionally "val": uint8 images in this data set's own
        size, `self.channels` channels."""
        raise NotImplementedError

    # ---- shared -------------------------------------------------------------------------------

    def _training_subset(self, labels: torch.Tensor) -> torch.Tensor:
        """Indices into the training split of the images trained on (`limit_images`,
        `fraction`, `balanced`), recorded for `training_set_summary`."""
        everything = torch.arange(len(labels))
        size = subset_size(len(labels), self.limit_images, self.fraction)
        if size is None:
            chosen = everything
        elif self.balanced:
            chosen = class_balanced(labels, size, self.split_seed)
        else:
            chosen = limited(everything, size, self.split_seed)
        self._subset = chosen, labels[chosen], len(labels)
        return chosen

    def training_set_summary(self) -> dict:
        """What the run trained on, for its job.json: the number of training images, of the
        split they came from, per class, and a SHA-256 of the chosen indices (two runs with the
        same digest trained on the same images). After `setup`."""
        if getattr(self, "_subset", None) is None:  # a data set with a setup of its own
            return {"images": len(self.train_set), "limit_images": self.limit_images,
                    "fraction": self.fraction}  # fmt: skip
        chosen, labels, of = self._subset
        classes, counts = torch.unique(labels, return_counts=True)
        digest = hashlib.sha256(chosen.numpy().astype("<i8").tobytes()).hexdigest()
        return {
            "images": len(chosen), "of": of, "limit_images": self.limit_images,
            "fraction": self.fraction, "balanced": self.balanced,
            "per_class": {int(c): int(n) for c, n in zip(classes, counts, strict=True)},
            "indices_sha256": digest,
        }  # fmt: skip

    def state_dict(self) -> dict:
        """Saved in checkpoints: a resumed run keeps the shuffling order of the run it continues."""
        return {"seed": self.seed}

    def load_state_dict(self, state_dict: dict) -> None:
        self.seed = state_dict["seed"]

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        splits = self.read()
        train = splits["train"]
        if "val" in splits:
            val = splits["val"]
        else:
            kept, held_out = train_val_split(len(train.images), self.val_size, self.split_seed)
            train, val = train.take(kept), train.take(held_out)
        train = train.take(self._training_subset(train.labels))
        self.train_set, self.val_set, self.test_set = (
            ImageTensorDataset(resize_images(split.images, size), split.labels)
            for split, size in (
                (train, self.train_resolution), (val, self.resolution),
                (splits["test"], self.resolution),
            )
        )  # fmt: skip

    def _loader(self, dataset, sampler: Sampler | None = None) -> DataLoader:
        """A loader of the validation or test split, in order."""
        return DataLoader(
            dataset, batch_size=self.batch_size, sampler=sampler, num_workers=self.num_workers,
            pin_memory=self.pin_memory, persistent_workers=self.num_workers > 0,
        )  # fmt: skip

    def _train_loader(self, dataset, sampler: EpochShuffleSampler) -> ResumableDataLoader:
        """The training loader: full batches only, its place in the epoch checkpointed."""
        return ResumableDataLoader(
            dataset, batch_size=self.batch_size, sampler=sampler, drop_last=True,
            num_workers=self.num_workers, pin_memory=self.pin_memory,
            persistent_workers=self.num_workers > 0,
        )  # fmt: skip

    def train_dataloader(self) -> DataLoader | DeviceBatches | CombinedLoader:
        # drop_last: BatchNorm and the images/s counter both want full batches. Under DDP each
        # process gets its share (the trainer configs turn Lightning's own sampler swap off).
        trainer = self.trainer
        replicas, rank = (trainer.world_size, trainer.global_rank) if trainer else (1, 0)
        if self.unpaired:
            return self._unpaired_loaders(replicas, rank)
        check_a_batch_fits(len(self.train_set), self.batch_size, replicas)
        sampler = EpochShuffleSampler(len(self.train_set), self.seed, replicas, rank)
        if self.on_device:
            device = trainer.strategy.root_device if trainer else "cpu"
            train = self.train_set
            return DeviceBatches(train.images, train.labels, sampler, self.batch_size, device)
        return self._train_loader(self.train_set, sampler)

    def domains(self) -> tuple[ImageTensorDataset, ImageTensorDataset]:
        """Domains A and B of the unpaired tasks: disjoint halves of the training split."""
        index_a, index_b = unpaired_split(len(self.train_set), self.split_seed)
        train = self.train_set
        return (
            ImageTensorDataset(train.images[index_a], train.labels[index_a]),
            ImageTensorDataset(train.images[index_b], train.labels[index_b]),
        )

    def _unpaired_loaders(self, replicas: int, rank: int) -> CombinedLoader:
        domain_a, domain_b = self.domains()
        check_a_batch_fits(min(len(domain_a), len(domain_b)), self.batch_size, replicas)
        # Independent orders: B's sampler is seeded apart from A's, so pairs are never fixed.
        loaders = {
            name: self._train_loader(domain, EpochShuffleSampler(len(domain), seed, replicas, rank))
            for name, domain, seed in (("a", domain_a, self.seed), ("b", domain_b, self.seed + 1))
        }
        return CombinedLoader(loaders, mode="min_size")

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_set)
