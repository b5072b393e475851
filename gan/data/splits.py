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


def subset_size(num_items: int, limit: int | None, fraction: float | None) -> int | None:
    """How many of `num_items` training images a data-efficiency run keeps: `limit`, or
    `fraction` of them rounded (at least 1); None keeps all."""
    if limit is not None and fraction is not None:
        raise ValueError(
            f"limit_images={limit} and fraction={fraction}: give one of them (null the other)"
        )
    if fraction is not None:
        if not 0 < fraction <= 1:
            raise ValueError(f"fraction={fraction}: must be in (0, 1] (0.1 keeps 10%)")
        return max(1, round(fraction * num_items))
    if limit is not None and not 1 <= limit <= num_items:
        raise ValueError(f"limit_images={limit}: must be in [1, {num_items}] for this split")
    return limit


def class_balanced(labels: torch.Tensor, size: int, seed: int) -> torch.Tensor:
    """Sorted indices of a seeded choice of `size` of the items labelled `labels` (N,) in which
    every class keeps its share of the N: `size * n_c / N` items of class c, rounded down, the
    items left over going to the classes with the largest remainders (the lower class first on a
    tie). Within a class, the items come first in one seeded permutation of all N, so one class
    alone (unlabelled data) gives exactly `limited`'s choice. Depends on nothing but the labels,
    `size` and `seed`: every process, and every run, picks the same subset."""
    num_items = len(labels)
    if not 1 <= size <= num_items:
        raise ValueError(f"a subset of {size} images: must be in [1, {num_items}] for this split")
    classes, counts = torch.unique(labels, return_counts=True)
    shares = counts.double() * size / num_items  # (K,)
    taken = shares.floor().long()
    leftover = size - int(taken.sum())
    # Largest remainders first; a stable sort keeps the lower class first on a tie.
    by_remainder = torch.sort(-(shares - taken), stable=True).indices
    taken[by_remainder[:leftover]] += 1
    order = _permutation(num_items, seed + 1)
    ordered_labels = labels[order]
    chosen = [order[ordered_labels == c][:k] for c, k in zip(classes, taken, strict=True)]
    return torch.cat(chosen).sort().values


def unpaired_split(num_items: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Disjoint halves of range(num_items), seeded: domain A's images and domain B's."""
    order = _permutation(num_items, seed)
    half = num_items // 2
    return order[:half].sort().values, order[half : 2 * half].sort().values
