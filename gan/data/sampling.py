"""The seeded epoch order, shared out between DDP processes, and the training loaders that keep
their place in it.

Both training loaders (`ResumableDataLoader`, `DeviceBatches`) count the batches they have handed
out in the current epoch and give Lightning that position as their `state_dict`; Lightning saves
it in every checkpoint and hands it back to `load_state_dict` on resume, so a run stopped inside
an epoch (a time limit, a preemption, Ctrl-C) goes on with the batch after the last one it
trained on, in the same order, instead of starting the epoch over or skipping its rest.
"""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader, Sampler

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
        self._resume: tuple[int, int] | None = None  # (epoch, items of it already trained on)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def resume_at(self, epoch: int, items: int) -> None:
        """Start the next iteration `items` into epoch `epoch`'s order, if it is that epoch's."""
        self._resume = (epoch, items)

    def items_to_skip(self) -> int:
        """How many items of the current epoch the next iteration skips (0 unless resumed)."""
        return self._resume[1] if self._resume and self._resume[0] == self.epoch else 0

    def __iter__(self):
        skip, self._resume = self.items_to_skip(), None
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        order = torch.randperm(self.num_items, generator=generator)
        mine = order[self.rank : len(self) * self.num_replicas : self.num_replicas]
        return iter(mine[skip:].tolist())

    def __len__(self) -> int:
        return self.num_items // self.num_replicas


class PlaceInEpoch:
    """What Lightning checkpoints of a training loader over an `EpochShuffleSampler`: the epoch
    and the batches handed out of it (see the module's docstring). Restored, the sampler skips
    those batches' items in that epoch."""

    sampler: EpochShuffleSampler
    batch_size: int
    _position: tuple[int, int] = (0, 0)  # (epoch, batches handed out in it)

    def state_dict(self) -> dict[str, int]:
        epoch, batches = self._position
        return {"epoch": epoch, "batches": batches}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self._position = (state["epoch"], state["batches"])
        self.sampler.resume_at(state["epoch"], state["batches"] * self.batch_size)


class ResumableDataLoader(PlaceInEpoch, DataLoader):
    """A DataLoader whose place in the epoch is checkpointed."""

    def __iter__(self):
        sampler = self.sampler
        batches = sampler.items_to_skip() // self.batch_size
        for batch in super().__iter__():  # the sampler skips what was trained on before
            batches += 1
            self._position = (sampler.epoch, batches)
            yield batch


class DeviceBatches(PlaceInEpoch):
    """Training batches cut from one uint8 tensor held on the device: the fast data path.

    Each epoch follows `sampler`'s permutation (the same order as the DataLoader path, so both
    paths give the same batches), gathers a batch with one indexing operation on the device and
    scales it to [-1, 1] there: no workers, no per-image Python, 1 byte per pixel moved once.
    Incomplete last batches are dropped, as in the DataLoader path. Lightning calls
    `sampler.set_epoch` at the start of every epoch. Its place in the epoch is checkpointed, as
    `ResumableDataLoader`'s is.
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
        epoch, batches = self.sampler.epoch, self.sampler.items_to_skip() // self.batch_size
        order = torch.tensor(list(self.sampler), device=self.images.device)  # the rest of it
        for start in range(0, (len(self) - batches) * self.batch_size, self.batch_size):
            index = order[start : start + self.batch_size]
            batches += 1
            self._position = (epoch, batches)
            yield scale_to_unit_range(self.images[index]), self.labels[index]
