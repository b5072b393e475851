"""The sets of images `gan.eval fake=... real=...` compares, read from what a user has.

A set is given as
- a checkpoint (`*.ckpt`): `n_samples` images drawn from its model;
- a folder: every image file under it (png, jpg, jpeg, webp, bmp), all of one size; grey when
  every file is grey, else RGB;
- an array file (`*.npz` with `arr_0` or `images`: uint8, (N, H, W), (N, H, W, C) or
  (N, C, H, W) with C = 1 or 3), the format of guided-diffusion's and many papers' sample files;
- a statistics file (`*.npz` with `mu` and `sigma`: pytorch-fid's format), for FID only;
- a data set's name (`mnist`, `fashion_mnist`, `stacked_mnist`, `cifar10`): its official test
  images, with its training images as the second real set behind the real-data floor.
"""

from __future__ import annotations

import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from gan.atomic import write_atomically
from gan.data import (
    CIFAR10DataModule,
    FashionMNISTDataModule,
    ImageDataModule,
    MNISTDataModule,
    StackedMNISTDataModule,
)
from gan.data.folder import IMAGE_SUFFIXES, find_images, load_image

DATASETS: dict[str, type[ImageDataModule]] = {
    "mnist": MNISTDataModule,
    "fashion_mnist": FashionMNISTDataModule,
    "stacked_mnist": StackedMNISTDataModule,
    "cifar10": CIFAR10DataModule,
}
ARRAY_KEYS = ("arr_0", "images")
ACCEPTED = (
    "a checkpoint (.ckpt), a folder of images, an .npz of uint8 images (key arr_0 or images), "
    f"an .npz of statistics (keys mu and sigma), or a data set name {sorted(DATASETS)}"
)


class ImageSetError(ValueError):
    """A set that cannot be read: the message names it and says what would be accepted."""


@dataclass
class ImageSet:
    """Images (uint8 or float in [-1, 1], (N, C, H, W)) or, for a statistics file, (mu, sigma)."""

    spec: str
    kind: str  # checkpoint | folder | array | statistics | dataset
    images: torch.Tensor | None = None
    statistics: tuple[torch.Tensor, torch.Tensor] | None = None
    second_real: torch.Tensor | None = None  # a data set's training images: the floor's set
    data: ImageDataModule | None = None  # a data set's module (its feature space, its labels)

    def __len__(self) -> int:
        return 0 if self.images is None else len(self.images)


def read_folder(folder: Path) -> torch.Tensor:
    """Every image under `folder` as uint8 (N, C, H, W), each file read once as training reads it
    (`gan.data.folder.load_image`: upright by its EXIF orientation, 16-bit grey scaled to 8 bits,
    transparency composited onto white): grey (C = 1) when every file is grey, else RGB (grey
    files repeated to three channels, as PIL converts them); one size for all, or a one-line
    error."""
    files = find_images(folder)
    if not files:
        raise ImageSetError(f"{folder}: holds no images (looked for {', '.join(IMAGE_SUFFIXES)})")
    size, images = None, []
    for path in files:
        image = load_image(path)
        size = size or image.size
        if image.size != size:
            raise ImageSetError(
                f"{folder}: images of different sizes ({files[0].name} is {size[0]}x{size[1]}, "
                f"{path.name} is {image.size[0]}x{image.size[1]}); give images of one size"
            )
        pixels = np.asarray(image)  # (H, W) grey or (H, W, 3)
        images.append(torch.from_numpy(pixels.copy()).reshape(size[1], size[0], -1))
    if any(image.shape[-1] == 3 for image in images):
        images = [image.expand(-1, -1, 3) for image in images]
    return torch.stack(images).permute(0, 3, 1, 2).contiguous()  # (N, C, H, W)


def read_array(path: Path, array: np.ndarray) -> torch.Tensor:
    """uint8 images (N, H, W), (N, H, W, C) or (N, C, H, W), C in {1, 3} -> (N, C, H, W)."""
    if array.dtype != np.uint8:
        raise ImageSetError(f"{path}: images must be uint8 pixels in [0, 255], got {array.dtype}")
    if array.ndim == 3:
        array = array[:, None]
    elif array.ndim == 4 and array.shape[-1] in (1, 3) and array.shape[1] not in (1, 3):
        array = array.transpose(0, 3, 1, 2)  # (N, H, W, C) -> (N, C, H, W)
    if array.ndim != 4 or array.shape[1] not in (1, 3) or len(array) < 2:
        raise ImageSetError(
            f"{path}: images of shape {array.shape}; expected at least 2 images as (N, H, W), "
            "(N, H, W, C) or (N, C, H, W) with C = 1 or 3"
        )
    return torch.from_numpy(np.ascontiguousarray(array))


def load_npz(path: Path) -> np.lib.npyio.NpzFile:
    """np.load of an .npz archive, or an ImageSetError naming the file when it is none (a text
    file named .npz made numpy say only "This file contains pickled (object) data")."""
    if not zipfile.is_zipfile(path):
        raise ImageSetError(
            f"{path}: not an .npz archive (no zip of .npy arrays, as np.savez writes)"
        )
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ImageSetError(f"{path}: not a readable .npz archive ({reason})") from None


def read_npz(path: Path) -> ImageSet:
    with load_npz(path) as contents:
        keys = set(contents.files)
        if {"mu", "sigma"} <= keys:
            mu, sigma = (torch.from_numpy(contents[k]).to(torch.float64) for k in ("mu", "sigma"))
            if mu.ndim != 1 or sigma.shape != (len(mu), len(mu)):
                raise ImageSetError(
                    f"{path}: mu {tuple(mu.shape)} and sigma {tuple(sigma.shape)} are not a mean "
                    "(D,) and a covariance (D, D)"
                )
            return ImageSet(str(path), "statistics", statistics=(mu, sigma))
        for key in ARRAY_KEYS:
            if key in keys:
                return ImageSet(str(path), "array", images=read_array(path, contents[key]))
    raise ImageSetError(f"{path}: has keys {sorted(keys)}; expected mu and sigma, or one of "
                        f"{list(ARRAY_KEYS)}")  # fmt: skip


def read_dataset(
    name: str,
    root: str | Path | None,
    n: int | None,
    seed: int,
    channels: int | None = None,
    resolution: int | None = None,
) -> ImageSet:
    """A data set's test images (the first `n`), and `n` training images (seeded choice), in the
    data set's own channels and size (Stacked MNIST and CIFAR-10 in RGB, CIFAR-10 at 32 px)
    unless `channels` or `resolution` say otherwise."""
    kind = DATASETS[name]
    channels = channels or kind.native_channels[0]
    data = kind(root=root, channels=channels, resolution=resolution or kind.native_resolution)
    data.prepare_data()
    data.setup()
    test = data.test_set.images[:n] if n else data.test_set.images
    train = data.train_set.images
    chosen = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))
    return ImageSet(name, "dataset", test, second_real=train[chosen[: len(test)]], data=data)


def read_image_set(
    spec: str,
    root: str | Path | None = None,
    n: int | None = None,
    seed: int = 0,
    channels: int | None = None,
    resolution: int | None = None,
) -> ImageSet:
    """The set `spec` names (not a checkpoint: gan.eval draws those). `root`, `n`, `seed`,
    `channels` and `resolution` are for a data set: where its files are, how many test images,
    the floor's choice, and the channels and size to give them in (default: its own)."""
    if spec in DATASETS:
        return read_dataset(spec, root, n, seed, channels, resolution)
    path = Path(spec)
    if path.is_dir():
        return ImageSet(spec, "folder", read_folder(path))
    if path.suffix == ".npz" and path.is_file():
        return read_npz(path)
    if not path.exists():
        raise ImageSetError(f"{spec!r}: no such file, folder or data set; give {ACCEPTED}")
    raise ImageSetError(f"{spec!r}: not a set this can read; give {ACCEPTED}")


def check_statistics_target(path: str | Path) -> None:
    """Refuse, before any scoring, a `save_stats` path that cannot take a statistics file: not
    `.npz`, a folder, an unwritable folder, or an existing file that is not a statistics file
    (whatever that is, it is not this command's to overwrite)."""
    path = Path(path)
    where = f"save_stats={str(path)!r}"
    if path.suffix != ".npz":
        raise ImageSetError(f"{where}: must end in .npz (pytorch-fid's format)")
    if path.is_dir():
        raise ImageSetError(f"{where}: a folder; give a file name ending in .npz")
    if path.exists():
        try:
            statistics = read_npz(path).kind == "statistics"
        except ImageSetError:
            statistics = False
        if not statistics:
            raise ImageSetError(
                f"{where}: exists and is not a statistics file (mu, sigma); not overwritten, "
                "give another path"
            )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path.parent):
            pass
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise ImageSetError(f"{where}: its folder is not writable ({reason})") from None


def save_statistics(path: str | Path, mu: torch.Tensor, sigma: torch.Tensor) -> None:
    """mu (D,) and sigma (D, D) as pytorch-fid's `.npz` (float64 arrays `mu` and `sigma`), where
    `check_statistics_target` allows it."""
    check_statistics_target(path)

    def write(file) -> None:
        np.savez_compressed(file, mu=mu.double().numpy(), sigma=sigma.double().numpy())

    write_atomically(path, write)
