"""Images as uint8 tensors (N, C, H, W), scaled to [-1, 1] only when used."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset


def scale_to_unit_range(images: torch.Tensor) -> torch.Tensor:
    """uint8 pixels in [0, 255] -> float in [-1, 1], the range of the generator's Tanh."""
    return images.float().div_(127.5).sub_(1.0)


def as_unit_range(images: torch.Tensor) -> torch.Tensor:
    """uint8 images (N, C, H, W), or grey (N, H, W), -> float (N, C, H, W) in [-1, 1]; float
    images pass through."""
    if images.dtype != torch.uint8:
        return images
    if images.ndim == 3:
        images = images.unsqueeze(1)  # (N, H, W) -> (N, 1, H, W)
    return scale_to_unit_range(images)


def resize_images(images: torch.Tensor, size: int, batch: int = 4096) -> torch.Tensor:
    """uint8 images (N, C, H, W) resized to (N, C, size, size), bilinear with antialiasing (so a
    downscale averages instead of skipping pixels), rounded back to uint8. Unchanged if already
    that size."""
    if images.shape[-2:] == (size, size):
        return images
    out = torch.empty(len(images), images.shape[1], size, size, dtype=torch.uint8)
    for start in range(0, len(images), batch):
        chunk = images[start : start + batch].float()
        resized = F.interpolate(chunk, (size, size), mode="bilinear", antialias=True)
        out[start : start + batch] = resized.round_().clamp_(0, 255).to(torch.uint8)
    return out


class ImageTensorDataset(Dataset):
    """(image (C, H, W) in [-1, 1], label) pairs read from one uint8 tensor (N, C, H, W).

    Indexing a tensor is several times faster than torchvision's per-image PIL round trip and
    gives the same values as ToTensor + Normalize(0.5, 0.5). Unlabelled data carries label 0.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> None:
        if images.dtype != torch.uint8 or images.ndim != 4:
            raise ValueError(
                f"expected uint8 images (N, C, H, W), got {images.dtype} {tuple(images.shape)}"
            )
        self.images = images  # (N, C, H, W) uint8
        self.labels = labels if labels is not None else torch.zeros(len(images), dtype=torch.long)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return scale_to_unit_range(self.images[index]), self.labels[index]
