"""What the paired tasks hide from the generator: the corruption of a real digit that G must undo.

A corruption maps real images (B, 1, 28, 28) to G's input (B, in_channels, 28, 28), which is also
what the conditional discriminator sees beside the image it judges.
"""

from __future__ import annotations

import torch

from gan.tasks.operators import apply_mask, downsample, make_mask, upsample


class Inpainting:
    """Hide part of each digit (see `make_mask`); G's input is the masked digit and the mask.
    G's output is pasted into the hidden region only: the visible pixels are kept as given."""

    in_channels = 2

    def __init__(
        self, kind: str = "centre", size: int = 14, boxes: int = 2, fraction: float = 0.5
    ) -> None:
        make_mask((1, 1, 28, 28), kind, size, boxes, fraction)  # refuses bad settings now
        self.kind, self.size, self.boxes, self.fraction = kind, size, boxes, fraction

    def __call__(self, real: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        mask = make_mask(
            real.shape, self.kind, self.size, self.boxes, self.fraction, generator, real.device
        )  # (B, 1, 28, 28)
        return torch.cat([apply_mask(real, mask), mask], dim=1)  # (B, 2, 28, 28)

    @staticmethod
    def visible(inputs: torch.Tensor) -> torch.Tensor:
        return inputs[:, :1]  # the masked digit

    @staticmethod
    def complete(output: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        masked, mask = inputs[:, :1], inputs[:, 1:]
        return masked * (1 - mask) + output * mask


class SuperResolution:
    """Average-pool each digit by `factor` (x2: 14x14, x4: 7x7); G's input is that low-resolution
    digit resized back to 28x28 (bicubic), which G sharpens."""

    in_channels = 1

    def __init__(self, factor: int = 4) -> None:
        if factor not in (2, 4, 7, 14):
            raise ValueError(f"factor={factor}: must divide 28 (2, 4, 7 or 14)")
        self.factor = factor

    def __call__(self, real: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        return upsample(downsample(real, self.factor), real.shape[-1])  # (B, 1, 28, 28)

    @staticmethod
    def visible(inputs: torch.Tensor) -> torch.Tensor:
        return inputs

    @staticmethod
    def complete(output: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        return output
