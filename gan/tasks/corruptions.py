"""What the paired tasks give the generator in place of the image it must produce.

A corruption maps real images (B, C, R, R) to G's input (B, in_channels, R, R), which is also
what the conditional discriminator sees beside the image it judges, and names the target G is
trained towards (`target`): the real image itself for inpainting and super-resolution, the second
image of the pair for pix2pix's paired translation.
"""

from __future__ import annotations

import torch

from gan.tasks.operators import apply_mask, downsample, make_mask, upsample


class Inpainting:
    """Hide part of each image (see `make_mask`: centre, boxes, pixels or strokes); G's input is
    the masked image and the mask (C + 1 channels). G's output is pasted into the hidden region
    only: the visible pixels are kept as given."""

    def __init__(
        self, kind: str = "centre", size: int = 14, boxes: int = 2, fraction: float = 0.5,
        strokes: int = 4, channels: int = 1, resolution: int = 28,
    ) -> None:  # fmt: skip
        # Refuses bad settings now, before any training.
        make_mask((1, 1, resolution, resolution), kind, size, boxes, fraction, strokes=strokes)
        self.kind, self.size, self.boxes, self.fraction = kind, size, boxes, fraction
        self.strokes, self.channels = strokes, channels
        self.in_channels = channels + 1

    def __call__(self, real: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        mask = make_mask(
            real.shape, self.kind, self.size, self.boxes, self.fraction, generator, real.device,
            self.strokes,
        )  # (B, 1, R, R)  # fmt: skip
        return torch.cat([apply_mask(real, mask), mask], dim=1)  # (B, C + 1, R, R)

    def target(self, real: torch.Tensor) -> torch.Tensor:
        return real

    def visible(self, inputs: torch.Tensor) -> torch.Tensor:
        return inputs[:, : self.channels]  # the masked image

    def complete(self, output: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        masked, mask = inputs[:, : self.channels], inputs[:, self.channels :]
        return masked * (1 - mask) + output * mask


class SuperResolution:
    """Average-pool each image by `factor` (28-px digits x2: 14x14, x4: 7x7; 256-px photos x4:
    64x64); G's input is that low-resolution image resized back (bicubic), which G sharpens."""

    def __init__(self, factor: int = 4, channels: int = 1, resolution: int = 28) -> None:
        if factor < 2 or resolution % factor:
            divisors = [f for f in range(2, resolution + 1) if resolution % f == 0]
            raise ValueError(
                f"factor={factor}: must divide the resolution {resolution} ({divisors})"
            )
        self.factor = factor
        self.channels = self.in_channels = channels

    def __call__(self, real: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        return upsample(downsample(real, self.factor), real.shape[-1])  # (B, C, R, R)

    def target(self, real: torch.Tensor) -> torch.Tensor:
        return real

    @staticmethod
    def visible(inputs: torch.Tensor) -> torch.Tensor:
        return inputs

    @staticmethod
    def complete(output: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        return output


class PairedTranslation:
    """pix2pix's paired translation: the data holds each pair as one image of 2C channels, input
    first (gan.data.paired); G gets the input and is trained towards the target."""

    def __init__(self, channels: int = 3) -> None:
        self.channels = self.in_channels = channels

    def __call__(self, real: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        if real.shape[1] != 2 * self.channels:
            raise ValueError(
                f"a batch of {real.shape[1]} channels: pix2pix's paired translation takes pairs "
                f"of 2 x {self.channels} channels (data=paired_folder)"
            )
        return real[:, : self.channels]  # (B, C, R, R)

    def target(self, real: torch.Tensor) -> torch.Tensor:
        return real[:, self.channels :]

    @staticmethod
    def visible(inputs: torch.Tensor) -> torch.Tensor:
        return inputs

    @staticmethod
    def complete(output: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        return output
