"""pytorch-CycleGAN-and-pix2pix's training-time jitter: images stored at `load_size` (286 for
256-px crops), a random `crop_size` crop and a random horizontal flip per image; the two images of
a pair (stacked along the channels) get the same crop and flip.

The jitter runs on the batch in the model's training step, drawn from the model's noise
generator, which checkpoints save: a resumed run draws the crops it would have drawn.
"""

from __future__ import annotations

import torch

REFERENCE_LOAD, REFERENCE_CROP = 286, 256  # the reference's --load_size, --crop_size


def load_size_for(resolution: int, load_size: int | None = None) -> int:
    """`load_size`, or the reference's 286 / 256 scaled to `resolution` (64: 72, 128: 143, 256:
    286, 28: 28, no jitter), refusing one smaller than the crop."""
    if load_size is None:
        return (
            resolution if resolution == 28 else round(resolution * REFERENCE_LOAD / REFERENCE_CROP)
        )
    if load_size < resolution:
        raise ValueError(
            f"data.load_size={load_size}: must be >= data.resolution={resolution} (the crop)"
        )
    return load_size


def random_crop_flip(
    images: torch.Tensor, size: int, flip: bool, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Images (B, C, L, L) -> (B, C, size, size): each its own uniformly drawn crop, and mirrored
    left-right with probability 0.5 when `flip`. All C channels of an image share both (a pair
    stacked as 2C channels is cropped and flipped as one)."""
    batch, _, height, width = images.shape
    if height < size or width < size:
        raise ValueError(f"crop {size} is larger than the images {(height, width)}")
    if height == size and width == size and not flip:
        return images
    device = images.device
    tops = torch.randint(0, height - size + 1, (batch,), generator=generator, device=device)
    lefts = torch.randint(0, width - size + 1, (batch,), generator=generator, device=device)
    mirrored = torch.rand(batch, generator=generator, device=device) < 0.5
    rows = tops.view(batch, 1) + torch.arange(size, device=device)  # (B, size)
    cols = lefts.view(batch, 1) + torch.arange(size, device=device)  # (B, size)
    if flip:
        cols = torch.where(mirrored.view(batch, 1), cols.flip(1), cols)
    crops = images[
        torch.arange(batch, device=device).view(batch, 1, 1, 1),
        torch.arange(images.shape[1], device=device).view(1, -1, 1, 1),
        rows.view(batch, 1, size, 1),
        cols.view(batch, 1, 1, size),
    ]
    return crops  # (B, C, size, size)
