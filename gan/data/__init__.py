"""Data sets as Lightning data modules over uint8 tensors, one file per family:

- `mnist.py`: MNIST (the default) and Fashion-MNIST;
- `stacked.py`: Stacked MNIST (1,000 modes, the mode-collapse benchmark);
- `cifar.py`: CIFAR-10;
- `folder.py`: any folder of images;
- `paired.py`, `unpaired.py`: paired and unpaired image folders (pix2pix, CycleGAN), and
  `jitter.py`, their training-time random crops and flips;
- `base.py`: what they share (`ImageDataModule`: splits, the seeded order, the fast path);
- `splits.py`, `sampling.py`, `tensors.py`: seeded splits, the epoch order and device batches,
  uint8 images and their scaling.
"""

from gan.data.base import (
    DATA_DIR_ENV,
    RESOLUTIONS,
    DataNotFoundError,
    ImageDataModule,
    Split,
    default_data_dir,
)
from gan.data.cifar import CIFAR10DataModule
from gan.data.folder import FolderDataModule
from gan.data.mixtures import MixtureDataModule
from gan.data.mnist import (
    MNIST_FILES,
    FashionMNISTDataModule,
    MNISTDataModule,
    damaged_files,
    load_mnist,
)
from gan.data.paired import PairedFolderDataModule
from gan.data.sampling import DeviceBatches, EpochShuffleSampler
from gan.data.splits import class_balanced, limited, subset_size, train_val_split, unpaired_split
from gan.data.stacked import StackedMNISTDataModule, stack_digits
from gan.data.tensors import ImageTensorDataset, as_unit_range, resize_images, scale_to_unit_range
from gan.data.unpaired import UnpairedFolderDataModule

__all__ = [
    "DATA_DIR_ENV",
    "MNIST_FILES",
    "RESOLUTIONS",
    "CIFAR10DataModule",
    "DataNotFoundError",
    "DeviceBatches",
    "EpochShuffleSampler",
    "FashionMNISTDataModule",
    "FolderDataModule",
    "ImageDataModule",
    "ImageTensorDataset",
    "MNISTDataModule",
    "MixtureDataModule",
    "PairedFolderDataModule",
    "Split",
    "StackedMNISTDataModule",
    "UnpairedFolderDataModule",
    "as_unit_range",
    "class_balanced",
    "damaged_files",
    "default_data_dir",
    "limited",
    "load_mnist",
    "resize_images",
    "scale_to_unit_range",
    "stack_digits",
    "subset_size",
    "train_val_split",
    "unpaired_split",
]
