"""Differentiable augmentation (DiffAugment, Zhao et al. 2020): every image D sees, real or
generated, in the D step and in the G step, goes through the same random transforms, which are
differentiable, so G's gradient passes through them and D cannot tell real from fake by the
augmentation itself. With few images it keeps D from memorising them.

Policies (comma-separated, applied in order; each draws fresh parameters for every image):
- `color`: brightness (add U(-0.5, 0.5)), saturation (scale the distance to the pixel's channel
  mean by U(0, 2); grey images have none), contrast (scale the distance to the image's mean by
  U(0.5, 1.5));
- `translation`: shift by up to 1/8 of the side in x and y, whole pixels, filling with 0;
- `cutout`: set a square of half the side, at a random centre, to 0.

Images are in [-1, 1], as in the paper's code, so 0 is mid-grey.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

POLICIES = ("color", "translation", "cutout")


def _uniform(x: torch.Tensor, low: float, high: float) -> torch.Tensor:
    """One draw per image, shaped (B, 1, 1, 1) to broadcast over it."""
    return torch.rand(len(x), 1, 1, 1, device=x.device, dtype=x.dtype) * (high - low) + low


def color(x: torch.Tensor) -> torch.Tensor:
    x = x + _uniform(x, -0.5, 0.5)  # brightness
    channel_mean = x.mean(dim=1, keepdim=True)  # (B, 1, H, W)
    x = (x - channel_mean) * _uniform(x, 0.0, 2.0) + channel_mean  # saturation
    image_mean = x.mean(dim=(1, 2, 3), keepdim=True)  # (B, 1, 1, 1)
    return (x - image_mean) * _uniform(x, 0.5, 1.5) + image_mean  # contrast


def translation(x: torch.Tensor, ratio: float = 0.125) -> torch.Tensor:
    batch, _, height, width = x.shape
    shift_y, shift_x = int(height * ratio + 0.5), int(width * ratio + 0.5)
    dy = torch.randint(-shift_y, shift_y + 1, (batch, 1, 1), device=x.device)
    dx = torch.randint(-shift_x, shift_x + 1, (batch, 1, 1), device=x.device)
    rows = torch.arange(height, device=x.device)[None, :, None] + dy  # (B, H, 1): source rows
    cols = torch.arange(width, device=x.device)[None, None, :] + dx  # (B, 1, W)
    inside = (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)  # (B, H, W)
    b = torch.arange(batch, device=x.device)[:, None, None]
    shifted = x.permute(0, 2, 3, 1)[b, rows.clamp(0, height - 1), cols.clamp(0, width - 1)]
    return (shifted * inside[..., None]).permute(0, 3, 1, 2)  # (B, C, H, W), 0 outside


def cutout(x: torch.Tensor, ratio: float = 0.5) -> torch.Tensor:
    batch, _, height, width = x.shape
    size_y, size_x = int(height * ratio + 0.5), int(width * ratio + 0.5)
    top = torch.randint(0, height, (batch, 1, 1), device=x.device) - size_y // 2
    left = torch.randint(0, width, (batch, 1, 1), device=x.device) - size_x // 2
    rows = torch.arange(height, device=x.device)[None, :, None]
    cols = torch.arange(width, device=x.device)[None, None, :]
    cut = (rows >= top) & (rows < top + size_y) & (cols >= left) & (cols < left + size_x)
    return x * (~cut)[:, None].to(x.dtype)  # (B, C, H, W)


TRANSFORMS = {"color": color, "translation": translation, "cutout": cutout}


class DiffAugment(nn.Module):
    """The transforms of `policy`, applied to a batch: a comma-separated string
    ("color,translation,cutout") or a list of names (`augment.policy=[translation,cutout]` on the
    command line, where an unquoted `a,b` would be read as a list)."""

    def __init__(self, policy: str | Sequence[str] = "color,translation,cutout") -> None:
        super().__init__()
        parts = policy.split(",") if isinstance(policy, str) else [str(p) for p in policy]
        names = [name.strip() for name in parts if name.strip()]
        if not names or any(name not in TRANSFORMS for name in names):
            shown = policy if isinstance(policy, str) else list(policy)
            raise ValueError(
                f"augment.policy={shown!r}: a comma-separated string or a list of "
                f"{', '.join(POLICIES)}"
            )
        self.policy = names

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for name in self.policy:
            x = TRANSFORMS[name](x)
        return x

    def extra_repr(self) -> str:
        return f"policy={','.join(self.policy)}"
