"""The 2-D mixtures of Gaussians behind the mode-collapse literature (Unrolled GAN, VEEGAN,
PacGAN): `ring8`, eight Gaussians on a circle of radius 1, std 0.01; `grid25`, 25 Gaussians at
(-4 + 2i, -4 + 2j), std 0.05 (PacGAN's settings).

Points are batched as "images" of shape (2, 1, 1) (x and y as two channels, one pixel), scaled
into [-1, 1] by `SCALES` so that the MLP generator's Tanh reaches them; the metrics
(`gan.metrics.mixtures`) scale them back. An epoch of `experiment=mixture` (1,000 steps of 100
points) takes half a minute or more on a 2-core CPU, mostly in the MLPs' products and Adam.
"""

from __future__ import annotations

import math
from pathlib import Path

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset

from gan.data.sampling import EpochShuffleSampler, ResumableDataLoader, check_a_batch_fits

MIXTURES = ("ring8", "grid25")
STDS = {"ring8": 0.01, "grid25": 0.05}
SCALES = {"ring8": 1.25, "grid25": 5.0}  # data units per unit of the [-1, 1] box


def mixture_centres(kind: str) -> torch.Tensor:
    """The modes' centres (K, 2), in data units."""
    if kind == "ring8":
        angles = torch.arange(8, dtype=torch.float64) * 2 * math.pi / 8
        return torch.stack([angles.cos(), angles.sin()], dim=1)
    if kind == "grid25":
        steps = torch.arange(-4.0, 5.0, 2.0, dtype=torch.float64)
        return torch.cartesian_prod(steps, steps)
    raise ValueError(f"kind={kind!r}: choose one of {MIXTURES}")


def sample_mixture(kind: str, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """`n` points (n, 2) in data units, each from a uniformly chosen mode (n,), seeded."""
    generator = torch.Generator().manual_seed(seed)
    centres = mixture_centres(kind)
    modes = torch.randint(len(centres), (n,), generator=generator)
    noise = torch.randn(n, 2, generator=generator, dtype=torch.float64) * STDS[kind]
    return (centres[modes] + noise).float(), modes


class PointSet(Dataset):
    """(point (2, 1, 1) in [-1, 1], mode) pairs; `images` and `labels` as the image sets have."""

    def __init__(self, points: torch.Tensor, modes: torch.Tensor, scale: float) -> None:
        self.images = (points / scale)[:, :, None, None]  # (N, 2, 1, 1)
        self.labels = modes

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.images[index], self.labels[index]


class MixtureDataModule(L.LightningDataModule):
    """A 2-D mixture: `num_train` training points and `num_eval` validation and test points, each
    drawn with its own seed from `split_seed`; the shuffling order from `seed`."""

    def __init__(
        self,
        kind: str = "ring8",
        root: str | Path | None = None,
        batch_size: int = 100,
        num_train: int = 100_000,
        num_eval: int = 2_500,
        seed: int = 0,
        split_seed: int = 1234,
        num_workers: int = 0,
        pin_memory: bool = False,
        on_device: bool = False,
        unpaired: bool = False,
        limit_images: int | None = None,
        channels: int = 2,
        resolution: int = 1,
        num_classes: int | None = None,
        feature_space: str | None = None,
        primary_metric: str | None = None,
        metric_samples: int = 2_500,
    ) -> None:
        super().__init__()
        if kind not in MIXTURES:
            raise ValueError(f"data.kind={kind!r}: choose one of {MIXTURES}")
        if (channels, resolution) != (2, 1) or on_device or unpaired or num_classes is not None:
            raise ValueError(
                f"data={kind}: points are (2, 1, 1) 'images' on the DataLoader path, unlabelled, "
                f"unpaired=false; got channels={channels}, resolution={resolution}, "
                f"on_device={on_device}, unpaired={unpaired}, num_classes={num_classes}"
            )
        num_train = limit_images or num_train  # data.limit_images: fewer training points
        if batch_size < 1 or min(num_train, num_eval) < 2:
            raise ValueError(f"batch_size={batch_size}, num_train={num_train}, num_eval="
                             f"{num_eval}: need >= 1, >= 2 and >= 2")  # fmt: skip
        self.kind, self.batch_size, self.seed, self.split_seed = kind, batch_size, seed, split_seed
        self.num_train, self.num_eval = num_train, num_eval
        self.num_workers, self.pin_memory = num_workers, pin_memory
        self.channels, self.resolution, self.num_classes = channels, resolution, num_classes
        self.feature_space = feature_space or kind
        self.primary_metric, self.metric_samples = primary_metric, metric_samples
        self.train_set = self.val_set = self.test_set = None

    def state_dict(self) -> dict:
        return {"seed": self.seed}

    def load_state_dict(self, state_dict: dict) -> None:
        self.seed = state_dict["seed"]

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        scale = SCALES[self.kind]
        sizes = {"train": self.num_train, "val": self.num_eval, "test": self.num_eval}
        self.train_set, self.val_set, self.test_set = (
            PointSet(*sample_mixture(self.kind, n, self.split_seed + offset), scale)
            for offset, n in enumerate(sizes.values())
        )

    def train_dataloader(self) -> DataLoader:
        trainer = self.trainer
        replicas, rank = (trainer.world_size, trainer.global_rank) if trainer else (1, 0)
        check_a_batch_fits(len(self.train_set), self.batch_size, replicas)
        sampler = EpochShuffleSampler(len(self.train_set), self.seed, replicas, rank)
        return ResumableDataLoader(
            self.train_set, batch_size=self.batch_size, sampler=sampler, drop_last=True,
            num_workers=self.num_workers, pin_memory=self.pin_memory,
        )  # fmt: skip


def scatter_image(points: torch.Tensor, size: int = 256) -> torch.Tensor:
    """Points (N, 2, 1, 1) in the [-1, 1] box drawn as dark 3x3 dots on white: (3, size, size)
    in [0, 1], y up. The sample grids of 2-D data, without a plotting library."""
    xy = points.detach().reshape(len(points), 2).float().cpu().clamp(-1, 1)
    cols = ((xy[:, 0] + 1) / 2 * (size - 1)).round().long()  # (N,)
    rows = ((1 - xy[:, 1]) / 2 * (size - 1)).round().long()
    canvas = torch.ones(3, size, size)
    colour = torch.tensor([0.1, 0.2, 0.6])[:, None]  # (3, 1)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            r, c = (rows + dy).clamp(0, size - 1), (cols + dx).clamp(0, size - 1)
            canvas[:, r, c] = colour
    return canvas
