"""The seeded epoch order, shared out between DDP processes, and the device-resident batches."""

from __future__ import annotations

import torch
from torch.utils.data import Sampler

from gan.config import ConfigError
from gan.data.tensors import scale_to_unit_range


def check_a_batch_fits(num_items: int, batch_size: int, replicas: int = 1) -> None:
    """`ConfigError` when an epoch holds no full batch: incomplete batches are dropped, so the
    run would train nothing and still end as completed."""
    per_process = num_items // replicas
    if per_process < batch_size:
        each = f", {per_process:,} for each of {replicas} processes" if replicas > 1 else ""
        raise ConfigError(
            f"data.batch_size={batch_size} is larger than the training split ({num_items:,} "
            f"images{each}): no full batch, so nothing would train (incomplete batches are "
            f"dropped). Lower data.batch_size to {max(per_process, 1)} or less, or train on "
            "more images (data.limit_images, data.val_size)"
        )


class EpochShuffleSampler(Sampler[int]):
    """A random permutation drawn from (seed, epoch) alone, shared out between processes.

    Lightning calls `set_epoch` at the start of every epoch, so a run resumed from a checkpoint
    sees the same order of batches as a run that never stopped. Under distributed training every
    process draws the same permutation and takes every `num_replicas`-th index from `rank` on,
    all processes the same number (the remainder is left out), so no image is seen twice in an
    epoch and every process runs the same number of steps.
    """

    def __init__(self, num_items: int, seed: int, num_replicas: int = 1, rank: int = 0) -> None:
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank={rank}: must be in [0, num_replicas={num_replicas})")
        self.num_items = num_items
        self.seed = seed
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        order = torch.randperm(self.num_items, generator=generator)
        return iter(order[self.rank : len(self) * self.num_replicas : self.num_replicas].tolist())

    def __len__(self) -> int:
        return self.num_items // self.num_replicas


class DeviceBatches:
    """Training batches cut from one uint8 tensor held on the device: the fast data path.

    Each epoch follows `sampler`'s permutation (the same order as the DataLoader path, so both
    paths give the same batches), gathers a batch with one indexing operation on the device and
    scales it to [-1, 1] there: no workers, no per-image Python, 1 byte per pixel moved once.
    Incomplete last batches are dropped, as in the DataLoader path. Lightning calls
    `sampler.set_epoch` at the start of every epoch.
    """

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        sampler: EpochShuffleSampler,
        batch_size: int,
        device: torch.device | str,
    ) -> None:
        self.images = images.to(device)  # (N, C, H, W) uint8
        self.labels = labels.to(device)  # (N,)
        self.sampler = sampler
        self.batch_size = batch_size

    def __len__(self) -> int:
        return len(self.sampler) // self.batch_size

    def __iter__(self):
        order = torch.tensor(list(self.sampler), device=self.images.device)
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            index = order[start : start + self.batch_size]
            yield scale_to_unit_range(self.images[index]), self.labels[index]
