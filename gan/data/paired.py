"""Paired image folders for pix2pix (`data=paired_folder data.path=...`), in the layouts
pytorch-CycleGAN-and-pix2pix's data sets ship in:

- `aligned`: `<path>/train/` (and `<path>/test/` or `<path>/val/`) of images holding A and B side
  by side, split at the middle of the width (facades, maps, edges2shoes, cityscapes);
- `by_name`: `<path>/A/` and `<path>/B/`, the two images of a pair under the same relative name
  (the extension may differ), either directly or in `train/` and `test/` (or `val/`) subfolders of
  each (the reference's `combine_A_and_B.py` input).

`layout=auto` is `by_name` when `<path>/A` and `<path>/B` exist, else `aligned`. Each pair is
stored as one uint8 image of 2C channels, input first, target second (`direction` AtoB: A is the
input; BtoA: B is), so every loader, the device path and exact resume serve pairs unchanged and a
random crop cuts both images alike (gan.data.jitter). Images are resized to squares without
keeping their aspect ratio, as the reference's `resize` does: training images to `load_size`
(286 for 256-px crops, scaled at other sizes), the test images to the crop size. Decoding and the
cache are data=folder's (gan.data.folder).
"""

from __future__ import annotations

from pathlib import Path

import torch

from gan.data.base import DataNotFoundError, ImageDataModule, Split
from gan.data.folder import (
    cache_key,
    cached,
    decode,
    decode_all,
    fit_square,
    image_files,
    load_image,
    to_tensor,
)
from gan.data.jitter import load_size_for
from gan.data.splits import train_val_split

LAYOUTS = ("auto", "aligned", "by_name")
DIRECTIONS = ("AtoB", "BtoA")
TEST_FOLDERS = ("test", "val")  # the reference's data sets name their held-out split either way


def decode_aligned(path: Path, size: int, channels: int) -> torch.Tensor:
    """An A|B image -> uint8 (2C, size, size): its left half (A) and right half (B), each
    stretched to the square."""
    image = load_image(path).convert("L" if channels == 1 else "RGB")
    width, height = image.size
    if width < 2:
        raise ValueError(f"{width} px wide: too narrow to hold A and B side by side")
    halves = image.crop((0, 0, width // 2, height)), image.crop((width // 2, 0, width, height))
    return torch.cat([to_tensor(fit_square(half, size, stretch=True), channels) for half in halves])


def match_by_name(folder_a: Path, folder_b: Path) -> list[tuple[Path, Path]]:
    """The (A, B) files of `folder_a` and `folder_b` that share a relative name without extension,
    refusing files that have no partner."""
    files_a = {p.relative_to(folder_a).with_suffix(""): p for p in image_files(folder_a)}
    files_b = {p.relative_to(folder_b).with_suffix(""): p for p in image_files(folder_b)}
    for name, mine, other, theirs in (
        ("A", files_a, files_b, folder_b), ("B", files_b, files_a, folder_a),
    ):  # fmt: skip
        alone = sorted(set(mine) - set(other))
        if alone:
            raise DataNotFoundError(
                f"{len(alone)} image(s) of {name} have no partner of the same name in {theirs} "
                f"(first: {alone[0]}); pairs are matched by relative name without extension"
            )
    return [(files_a[name], files_b[name]) for name in sorted(files_a)]


class PairedFolderDataModule(ImageDataModule):
    """Pairs (input, target) for pix2pix: uint8 images of 2 x `channels` channels. The test split
    is `test/` (or `val/`); without one, `val_size` pairs (null: 10%, at most 5,000) are held out
    of the training pairs (seeded), and serve as validation and test alike.

    Args (beside ImageDataModule's):
        path: the folder, in one of LAYOUTS.
        layout: auto, aligned or by_name.
        direction: AtoB (A is the input, B the target) or BtoA.
        load_size: the training images' size before the random crop; null: resolution x 286/256.
        strict: refuse an unreadable file instead of skipping it with a warning.
    """

    def __init__(
        self, *args, path: str | Path | None = None, layout: str = "auto",
        direction: str = "AtoB", load_size: int | None = None, strict: bool = False,
        val_size: int | None = None, **kwargs,
    ) -> None:  # fmt: skip
        super().__init__(*args, val_size=val_size or 0, **kwargs)
        if not path:
            raise ValueError("data.path is required with data=paired_folder: the folder of pairs")
        if layout not in LAYOUTS:
            raise ValueError(f"data.layout={layout!r}: choose one of {LAYOUTS}")
        if direction not in DIRECTIONS:
            raise ValueError(f"data.direction={direction!r}: choose one of {DIRECTIONS}")
        self.path = Path(path)
        self.layout = layout
        self.direction = direction
        self.train_resolution = load_size_for(self.resolution, load_size)
        self.strict = strict
        self.requested_val_size = val_size

    def resolved_layout(self) -> str:
        if not self.path.is_dir():
            raise DataNotFoundError(f"data.path={str(self.path)!r}: no such folder")
        if self.layout != "auto":
            return self.layout
        both = (self.path / "A").is_dir() and (self.path / "B").is_dir()
        return "by_name" if both else "aligned"

    def split_folders(self, layout: str) -> tuple[Path, Path | None]:
        """The training folder and the test folder (None: hold pairs out) of `layout`; for
        by_name, the folders under A/ (B/ mirrors them)."""
        top = self.path / "A" if layout == "by_name" else self.path
        if layout == "by_name" and not (self.path / "B").is_dir():
            raise DataNotFoundError(
                f"data.path={str(self.path)!r}: data.layout=by_name needs A/ and B/ folders in it"
            )
        if (top / "train").is_dir():
            test = next((top / t for t in TEST_FOLDERS if (top / t).is_dir()), None)
            return top / "train", test
        if layout == "aligned":
            found = sorted(p.name for p in self.path.iterdir() if p.is_dir())
            raise DataNotFoundError(
                f"data.path={str(self.path)!r}: an aligned layout needs a train/ folder of A|B "
                f"images (and test/ or val/), found folders {found}; for pairs in A/ and B/ "
                "use data.layout=by_name"
            )
        return top, None

    def read_pairs(self, layout: str, folder: Path, size: int) -> torch.Tensor:
        """The pairs of one split folder as uint8 (N, 2C, size, size), A first (cached)."""
        if layout == "aligned":
            files = image_files(folder, "data.path")
            decode_one = lambda path: decode_aligned(path, size, self.channels)  # noqa: E731
            keyed = files
        else:
            twin = self.path / "B" / folder.relative_to(self.path / "A")
            pairs = match_by_name(folder, twin)
            files = [a for a, _ in pairs]
            partner = dict(pairs)
            keyed = [p for pair in pairs for p in pair]

            def decode_one(path: Path) -> torch.Tensor:
                a, b = (decode(p, size, self.channels, stretch=True) for p in (path, partner[path]))
                return torch.cat([a, b])

        key = cache_key(self.path, keyed, f"{layout}-{size}", self.channels)

        def build() -> dict:
            pairs, _ = decode_all(files, decode_one, self.strict, f"data.path={str(folder)!r}")
            return {"pairs": torch.stack(pairs)}

        return cached(self.root / "cache" / f"paired-{key}.pt", build)["pairs"]

    def oriented(self, pairs: torch.Tensor) -> Split:
        """Pairs A|B as input|target for `direction`."""
        if self.direction == "BtoA":
            pairs = torch.cat([pairs[:, self.channels :], pairs[:, : self.channels]], dim=1)
        return Split(pairs, None)

    def read(self) -> dict[str, Split]:
        layout = self.resolved_layout()
        train_folder, test_folder = self.split_folders(layout)
        train = self.oriented(self.read_pairs(layout, train_folder, self.train_resolution))
        if test_folder is not None:
            test = self.oriented(self.read_pairs(layout, test_folder, self.resolution))
            return {"train": train, "val": test, "test": test}
        val_size = self.requested_val_size
        if val_size is None:
            val_size = min(5000, max(1, len(train.images) // 10))
        kept, held_out = train_val_split(len(train.images), val_size, self.split_seed)
        val = train.take(held_out)
        return {"train": train.take(kept), "val": val, "test": val}
