"""Every seeded division of a data set: train/validation, the limited subset for data-efficiency
studies, and the unpaired halves of the translation task."""

from __future__ import annotations

import torch


def _permutation(num_items: int, seed: int) -> torch.Tensor:
    return torch.randperm(num_items, generator=torch.Generator().manual_seed(seed))


def train_val_split(num_items: int, val_size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(train, validation) indices: a seeded permutation, its first `val_size` held out."""
    if not 0 <= val_size < num_items:
        raise ValueError(f"val_size={val_size}: must be in [0, {num_items}) for this data")
    order = _permutation(num_items, seed)
    return order[val_size:], order[:val_size]


def limited(indices: torch.Tensor, limit: int | None, seed: int) -> torch.Tensor:
    """A seeded choice of `limit` of `indices` (all of them when `limit` is None)."""
    if limit is None:
        return indices
    if not 1 <= limit <= len(indices):
        raise ValueError(f"limit_images={limit}: must be in [1, {len(indices)}] for this split")
    return indices[_permutation(len(indices), seed + 1)[:limit].sort().values]


def unpaired_split(num_items: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Disjoint halves of range(num_items), seeded: domain A's images and domain B's."""
    order = _permutation(num_items, seed)
    half = num_items // 2
    return order[:half].sort().values, order[half : 2 * half].sort().values
