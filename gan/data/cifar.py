"""CIFAR-10 (Krizhevsky 2009): 50k training and 10k test images, 32x32 RGB, ten classes."""

from __future__ import annotations

from pathlib import Path

import torch
from torchvision.datasets import CIFAR10

from gan.data.base import DataNotFoundError, ImageDataModule, Split

ARCHIVE = "cifar-10-python.tar.gz"


def load_cifar10(root: str | Path, train: bool) -> CIFAR10:
    """torchvision's CIFAR10 with `download=True`: it checks every file's MD5 and downloads the
    archive when one is missing or damaged; `DataNotFoundError` in one line otherwise."""
    root = Path(root)
    try:
        return CIFAR10(root, train=train, download=True)
    except (OSError, RuntimeError) as error:
        folder = root / CIFAR10.base_folder
        raise DataNotFoundError(
            f"CIFAR-10 is not (intact) in {folder} and could not be downloaded ({error}). On a "
            f'machine with internet access: python -c "from torchvision.datasets import CIFAR10; '
            f"CIFAR10('{root}', download=True)\", then copy {folder} here (or point "
            "data.root / $GAN_DATA_DIR at its parent)."
        ) from error


class CIFAR10DataModule(ImageDataModule):
    """CIFAR-10 scaled to [-1, 1]; the validation split is held out of the 50k training images."""

    native_channels = (3,)
    native_resolution = 32

    def prepare_data(self) -> None:
        for train in (True, False):
            load_cifar10(self.root, train)

    def read(self) -> dict[str, Split]:
        splits = {}
        for name, train in (("train", True), ("test", False)):
            data = load_cifar10(self.root, train)
            images = torch.from_numpy(data.data).permute(0, 3, 1, 2).contiguous()  # (N, 3, 32, 32)
            splits[name] = Split(images, torch.tensor(data.targets))
        return splits
