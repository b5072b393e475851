"""Stacked MNIST, the mode-collapse benchmark of Metz et al. 2017 (Unrolled GAN), VEEGAN and
PacGAN: three MNIST digits drawn at random, one per colour channel, so 1,000 modes."""

from __future__ import annotations

import torch
from torchvision.datasets import MNIST

from gan.data.base import Split
from gan.data.mnist import MNISTDataModule, read_mnist_format
from gan.data.splits import train_val_split

NUM_MODES = 1000


def stack_digits(digits: Split, num_images: int, seed: int) -> Split:
    """`num_images` stacks (N, 3, 28, 28) of three digits drawn uniformly with replacement from
    `digits` (seeded), labelled 100 d_R + 10 d_G + d_B (0 to 999)."""
    generator = torch.Generator().manual_seed(seed)
    index = torch.randint(len(digits.images), (num_images, 3), generator=generator)  # (N, 3)
    images = digits.images[index, 0]  # (N, 3, 28, 28): channel c is digit index[:, c]
    classes = digits.labels[index]  # (N, 3)
    labels = 100 * classes[:, 0] + 10 * classes[:, 1] + classes[:, 2]
    return Split(images, labels)


class StackedMNISTDataModule(MNISTDataModule):
    """Stacks built, seeded, from MNIST's splits: `num_images` (128,000, as in PacGAN's code) from
    the training digits, `num_eval_images` from the validation digits (held out of the 60k as for
    MNIST) and as many from the test digits. No digit is shared between the splits."""

    native_channels = (3,)

    def __init__(
        self, *args, num_images: int = 128_000, num_eval_images: int = 26_000, **kwargs
    ) -> None:
        super().__init__(*args, **kwargs)
        if min(num_images, num_eval_images) < 1:
            raise ValueError(f"num_images={num_images}, num_eval_images={num_eval_images}: >= 1")
        self.num_images = num_images
        self.num_eval_images = num_eval_images

    def read(self) -> dict[str, Split]:
        digits = read_mnist_format(self.root, MNIST)
        kept, held_out = train_val_split(60_000, self.val_size, self.split_seed)
        seed = self.split_seed
        return {
            "train": stack_digits(digits["train"].take(kept), self.num_images, seed),
            "val": stack_digits(digits["train"].take(held_out), self.num_eval_images, seed + 1),
            "test": stack_digits(digits["test"], self.num_eval_images, seed + 2),
        }
