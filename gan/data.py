"""MNIST for Lightning: torchvision finds or downloads the files; we keep them as tensors."""

from __future__ import annotations

import os
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.utilities import CombinedLoader
from torch.utils.data import DataLoader, Dataset, Sampler
from torchvision.datasets import MNIST
from torchvision.datasets.utils import check_integrity

from gan.tasks.operators import unpaired_split

MNIST_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
DATA_DIR_ENV = "GAN_DATA_DIR"


class MNISTNotFoundError(RuntimeError):
    """MNIST is neither on disk nor downloadable."""


def scale_to_unit_range(images: torch.Tensor) -> torch.Tensor:
    """uint8 pixels in [0, 255] -> float in [-1, 1], the range of the generator's Tanh."""
    return images.float().div_(127.5).sub_(1.0)


def as_unit_range(images: torch.Tensor) -> torch.Tensor:
    """uint8 digits (N, 28, 28) -> (N, 1, 28, 28) in [-1, 1]; float images pass through."""
    if images.dtype == torch.uint8:
        return scale_to_unit_range(images).unsqueeze(1)
    return images


class DigitImages(Dataset):
    """MNIST digits as (image (1, 28, 28) in [-1, 1], label) pairs, read from one uint8 tensor.

    torchvision's MNIST converts every image to PIL and back; indexing a tensor is several times
    faster and gives the same values as ToTensor + Normalize(0.5, 0.5).
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        if images.dtype != torch.uint8 or images.ndim != 3:
            raise ValueError(
                f"expected uint8 images (N, H, W), got {images.dtype} {tuple(images.shape)}"
            )
        self.images = images  # (N, 28, 28) uint8
        self.labels = labels  # (N,) int64

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return scale_to_unit_range(self.images[index]).unsqueeze(0), self.labels[index]


class EpochShuffleSampler(Sampler[int]):
    """A random permutation drawn from (seed, epoch) alone, shared out between processes.

    Lightning calls `set_epoch` at the start of every epoch, so a run resumed from a checkpoint
    sees the same order of batches as a run that never stopped. Under distributed training every
    process draws the same permutation and takes every `num_replicas`-th index from `rank` on,
    all processes the same number (the remainder is left out), so no image is seen twice in an
    epoch and every process runs the same number of steps.
    """

    def __init__(self, num_items: int, seed: int, num_replicas: int = 1, rank: int = 0) -> None:
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank={rank}: must be in [0, num_replicas={num_replicas})")
        self.num_items = num_items
        self.seed = seed
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        order = torch.randperm(self.num_items, generator=generator)
        return iter(order[self.rank : len(self) * self.num_replicas : self.num_replicas].tolist())

    def __len__(self) -> int:
        return self.num_items // self.num_replicas


class DeviceBatches:
    """Training batches cut from one uint8 tensor held on the device: the fast data path.

    Each epoch follows `sampler`'s permutation (the same order as the DataLoader path, so both
    paths give the same batches), gathers a batch with one indexing operation on the device and
    scales it to [-1, 1] there: no workers, no per-image Python, 1 byte per pixel moved once.
    Incomplete last batches are dropped, as in the DataLoader path. Lightning calls
    `sampler.set_epoch` at the start of every epoch.
    """

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        sampler: EpochShuffleSampler,
        batch_size: int,
        device: torch.device | str,
    ) -> None:
        self.images = images.to(device)  # (N, 28, 28) uint8
        self.labels = labels.to(device)  # (N,)
        self.sampler = sampler
        self.batch_size = batch_size

    def __len__(self) -> int:
        return len(self.sampler) // self.batch_size

    def __iter__(self):
        order = torch.tensor(list(self.sampler), device=self.images.device)
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            index = order[start : start + self.batch_size]
            yield scale_to_unit_range(self.images[index]).unsqueeze(1), self.labels[index]


def default_data_dir(root_dir: str | Path | None = None) -> Path:
    """`$GAN_DATA_DIR` when set and not empty, else `data/` in `root_dir` (the project root)."""
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return Path(env)
    return Path(root_dir or Path(__file__).resolve().parents[1]) / "data"


def damaged_mnist_files(raw: Path) -> list[str]:
    """The MNIST files in `raw` whose MD5 differs from torchvision's record of them."""
    damaged = []
    for name, md5 in MNIST.resources:
        path = raw / name
        if path.is_file() and not check_integrity(str(path), md5):
            damaged.append(f"{path} is damaged (its MD5 is not {md5})")
    return damaged


def load_mnist(root: str | Path, train: bool) -> MNIST:
    """torchvision's MNIST with `download=True`: verifies the files, downloads only when missing."""
    root = Path(root)
    try:
        return MNIST(root, train=train, download=True)
    except (OSError, RuntimeError) as error:  # URLError is an OSError; torchvision: RuntimeError
        raw = root / "MNIST" / "raw"
        if damaged := damaged_mnist_files(raw):
            raise MNISTNotFoundError(
                f"{'; '.join(damaged)}: delete it (torchvision then downloads it again) or put "
                "an intact copy in its place"
            ) from error
        raise MNISTNotFoundError(
            f"MNIST is not in {raw} and could not be downloaded ({error}). "
            f"Put these four files in {raw}: {', '.join(MNIST_FILES)} "
            f"(or point data.root / ${DATA_DIR_ENV} at a folder that holds MNIST/raw/)."
        ) from error


class MNISTDataModule(L.LightningDataModule):
    """MNIST scaled to [-1, 1]: a seeded train/validation split of the 60k training images, and the
    official 10k test set as `test`.

    With `on_device`, training batches come from the training images held on the trainer's
    device (`DeviceBatches`) instead of a DataLoader. With `unpaired`, the training split is cut
    into two disjoint halves, domains A and B (seeded by `split_seed`), and every training batch
    is a dict {"a": (images, labels), "b": (images, labels)} drawn from the two independently.
    """

    def __init__(
        self,
        root: str | Path | None = None,
        batch_size: int = 128,
        num_workers: int = 0,
        pin_memory: bool = False,
        val_size: int = 5000,
        seed: int = 0,
        split_seed: int = 1234,
        on_device: bool = False,
        unpaired: bool = False,
    ) -> None:
        super().__init__()
        if batch_size < 1:
            raise ValueError(f"batch_size={batch_size}: must be >= 1")
        if not 0 <= val_size < 60_000:
            raise ValueError(f"val_size={val_size}: must be in [0, 60000)")
        self.root = Path(root) if root else default_data_dir()
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        self.val_size = val_size
        self.seed = seed
        self.split_seed = split_seed
        self.on_device = on_device
        self.unpaired = unpaired
        if on_device and unpaired:
            raise ValueError("on_device=True with unpaired=True: the device path serves one domain")
        self.train_set: DigitImages | None = None
        self.val_set: DigitImages | None = None
        self.test_set: DigitImages | None = None

    def state_dict(self) -> dict:
        """Saved in checkpoints: a resumed run keeps the shuffling order of the run it continues."""
        return {"seed": self.seed}

    def load_state_dict(self, state_dict: dict) -> None:
        self.seed = state_dict["seed"]

    def prepare_data(self) -> None:
        load_mnist(self.root, train=True)
        load_mnist(self.root, train=False)

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        train = load_mnist(self.root, train=True)
        test = load_mnist(self.root, train=False)
        order = torch.randperm(
            len(train.data), generator=torch.Generator().manual_seed(self.split_seed)
        )
        val_idx, train_idx = order[: self.val_size], order[self.val_size :]
        self.train_set = DigitImages(train.data[train_idx], train.targets[train_idx])
        self.val_set = DigitImages(train.data[val_idx], train.targets[val_idx])
        self.test_set = DigitImages(test.data, test.targets)

    def _loader(self, dataset: Dataset, sampler: Sampler | None = None, drop_last: bool = False):
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            sampler=sampler,
            drop_last=drop_last,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader | DeviceBatches | CombinedLoader:
        # drop_last: BatchNorm and the images/s counter both want full batches. Under DDP each
        # process gets its share (the trainer configs turn Lightning's own sampler swap off).
        trainer = self.trainer
        replicas, rank = (trainer.world_size, trainer.global_rank) if trainer else (1, 0)
        sampler = EpochShuffleSampler(len(self.train_set), self.seed, replicas, rank)
        if self.unpaired:
            return self._unpaired_loaders(replicas, rank)
        if self.on_device:
            device = trainer.strategy.root_device if trainer else "cpu"
            train = self.train_set
            return DeviceBatches(train.images, train.labels, sampler, self.batch_size, device)
        return self._loader(self.train_set, sampler, drop_last=True)

    def domains(self) -> tuple[DigitImages, DigitImages]:
        """Domains A and B of the unpaired tasks: disjoint halves of the training split."""
        index_a, index_b = unpaired_split(len(self.train_set), self.split_seed)
        train = self.train_set
        return (
            DigitImages(train.images[index_a], train.labels[index_a]),
            DigitImages(train.images[index_b], train.labels[index_b]),
        )

    def _unpaired_loaders(self, replicas: int, rank: int) -> CombinedLoader:
        domain_a, domain_b = self.domains()
        # Independent orders: B's sampler is seeded apart from A's, so pairs are never fixed.
        loaders = {
            name: self._loader(
                domain, EpochShuffleSampler(len(domain), seed, replicas, rank), drop_last=True
            )
            for name, domain, seed in (("a", domain_a, self.seed), ("b", domain_b, self.seed + 1))
        }
        return CombinedLoader(loaders, mode="min_size")

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_set)
