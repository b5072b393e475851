"""MNIST and Fashion-MNIST: torchvision finds (or downloads) the files; we keep them as tensors."""

from __future__ import annotations

from pathlib import Path

from torchvision.datasets import MNIST, FashionMNIST
from torchvision.datasets.utils import check_integrity

from gan.data.base import DataNotFoundError, ImageDataModule, Split

MNIST_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)


def damaged_files(raw: Path, dataset: type[MNIST] = MNIST) -> list[str]:
    """The files of `dataset` in `raw` whose MD5 differs from torchvision's record of them."""
    damaged = []
    for name, md5 in dataset.resources:
        path = raw / name
        if path.is_file() and not check_integrity(str(path), md5):
            damaged.append(f"{path} is damaged (its MD5 is not {md5})")
    return damaged


def load_mnist(root: str | Path, train: bool, dataset: type[MNIST] = MNIST) -> MNIST:
    """torchvision's MNIST (or FashionMNIST, the same format) with `download=True`: verifies the
    files, downloads only what is missing; `DataNotFoundError` in one line otherwise."""
    root = Path(root)
    try:
        return dataset(root, train=train, download=True)
    except (OSError, RuntimeError) as error:  # URLError is an OSError; torchvision: RuntimeError
        raw = root / dataset.__name__ / "raw"
        if damaged := damaged_files(raw, dataset):
            raise DataNotFoundError(
                f"{'; '.join(damaged)}: delete it (torchvision then downloads it again) or put "
                "an intact copy in its place"
            ) from error
        files = [name for name, _ in dataset.resources]
        raise DataNotFoundError(
            f"{dataset.__name__} is not in {raw} and could not be downloaded ({error}). "
            f"Put these four files in {raw} (or the same without .gz): {', '.join(files)} "
            "(or point data.root / $GAN_DATA_DIR at a folder that holds "
            f"{dataset.__name__}/raw/)."
        ) from error


def read_mnist_format(root: Path, dataset: type[MNIST]) -> dict[str, Split]:
    """The 60k training and 10k test images of an MNIST-format data set, (N, 1, 28, 28) uint8."""
    train, test = (load_mnist(root, split, dataset) for split in (True, False))
    return {
        "train": Split(train.data.unsqueeze(1), train.targets),
        "test": Split(test.data.unsqueeze(1), test.targets),
    }


class MNISTDataModule(ImageDataModule):
    """MNIST scaled to [-1, 1]: a seeded train/validation split of the 60k training images, and
    the official 10k test set as `test`."""

    native_channels = (1,)
    native_resolution = 28
    dataset: type[MNIST] = MNIST

    def prepare_data(self) -> None:
        for train in (True, False):
            load_mnist(self.root, train, self.dataset)

    def read(self) -> dict[str, Split]:
        return read_mnist_format(self.root, self.dataset)


class FashionMNISTDataModule(MNISTDataModule):
    """Fashion-MNIST (Xiao et al. 2017): 28x28 grey images of ten kinds of clothing, in MNIST's
    format and sizes, so every MNIST setting carries over."""

    dataset = FashionMNIST
