"""Two ways to show the discriminator a whole batch rather than one sample at a time, the
standard remedies for mode collapse:

- packing (PacGAN, Lin et al. 2018): D scores `pack` samples at once, concatenated along channels
  (or features), so a generator that repeats itself is easy to tell from the data;
- the minibatch standard deviation (Karras et al. 2018, ProGAN): a feature map near D's end holding
  the mean standard deviation of the features over groups of the batch.
"""

from __future__ import annotations

import torch
from torch import nn


def check_pack(pack: int) -> int:
    if not isinstance(pack, int) or isinstance(pack, bool) or pack < 1:
        raise ValueError(f"pack={pack!r}: an integer >= 1 (1: no packing)")
    return pack


def pack_samples(x: torch.Tensor, pack: int) -> torch.Tensor:
    """(B, C, ...) -> (B / pack, pack * C, ...): samples j*pack ... j*pack + pack - 1 side by side.
    Real packs come from real batches and fake packs from fake ones, because D scores each batch
    in its own call."""
    if pack == 1:
        return x
    if len(x) % pack:
        raise ValueError(
            f"pack={pack}: a batch of {len(x)} samples cannot be cut into packs of {pack}; use a "
            f"batch size that is a multiple of {pack}"
        )
    return x.reshape(len(x) // pack, pack * x.shape[1], *x.shape[2:])


class MinibatchStd(nn.Module):
    """(B, C, H, W) -> (B, C + 1, H, W): the added map is, for each sample's group of `group_size`
    (samples i, i + B/G, i + 2B/G, ...), the standard deviation of every feature over the group,
    averaged over features and positions (ProGAN's layer, one statistic per group)."""

    def __init__(self, group_size: int) -> None:
        super().__init__()
        if not isinstance(group_size, int) or group_size < 2:
            raise ValueError(f"minibatch_std={group_size!r}: a group size >= 2 (0: off)")
        self.group_size = group_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, channels, height, width = x.shape
        group = min(self.group_size, batch)
        if batch % group:
            raise ValueError(
                f"minibatch_std={self.group_size}: a batch of {batch} cannot be cut into groups "
                f"of {group}; use a batch size that is a multiple of it"
            )
        y = x.float().reshape(group, -1, channels, height, width)  # (G, B/G, C, H, W)
        y = (y.var(dim=0, unbiased=False) + 1e-8).sqrt().mean(dim=(1, 2, 3))  # (B/G,)
        y = y.to(x.dtype).reshape(-1, 1, 1, 1).repeat(group, 1, height, width)  # (B, 1, H, W)
        return torch.cat([x, y], dim=1)

    def extra_repr(self) -> str:
        return f"group_size={self.group_size}"
