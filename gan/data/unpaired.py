"""Two unpaired image folders for CycleGAN (`data=unpaired_folder data.path=...`), laid out as
pytorch-CycleGAN-and-pix2pix's data sets ship (horse2zebra, monet2photo, summer2winter_yosemite):
`<path>/trainA/`, `<path>/trainB/` and, optionally, `<path>/testA/`, `<path>/testB/`.

Training images are stretched to `load_size` squares (286 for 256-px crops) for the random crop
and flip of gan.data.jitter, test images to the crop size; without testA/ and testB/, `val_size`
images of each domain are held out (seeded). Every batch is a dict {"a": ..., "b": ...} of
independently shuffled batches of each domain (an epoch ends with the smaller domain's last full
batch). When every test image of A has a test image of B of the same name (a data set made with a
known answer, such as photos and their edge maps), `val_truth` holds those B images in A's order,
and the translation is scored against them. Decoding and the cache are data=folder's.
"""

from __future__ import annotations

from pathlib import Path

import torch

from gan.data.base import DataNotFoundError, ImageDataModule
from gan.data.folder import cache_key, cached, decode, decode_all, image_files
from gan.data.jitter import load_size_for
from gan.data.splits import limited, subset_size, train_val_split
from gan.data.tensors import ImageTensorDataset, resize_images

DOMAIN_FOLDERS = ("trainA", "trainB", "testA", "testB")


class UnpairedFolderDataModule(ImageDataModule):
    """Domains A and B for CycleGAN. `val_set` is A's test images; `target_set` B's; `val_truth`
    the B image of each A test image when the names pair them all, else None.

    Args (beside ImageDataModule's):
        path: the folder holding trainA/ and trainB/ (and testA/, testB/).
        load_size: the training images' size before the random crop; null: resolution x 286/256.
        strict: refuse an unreadable file instead of skipping it with a warning.
        val_size: images of each domain held out when there is no testA/ and testB/ (null: 10%,
            at most 5,000).
    """

    def __init__(
        self, *args, path: str | Path | None = None, load_size: int | None = None,
        strict: bool = False, val_size: int | None = None, **kwargs,
    ) -> None:  # fmt: skip
        kwargs["unpaired"] = True
        super().__init__(*args, val_size=val_size or 0, **kwargs)
        if not path:
            raise ValueError(
                "data.path is required with data=unpaired_folder: the folder holding trainA/ "
                "and trainB/"
            )
        self.path = Path(path)
        self.train_resolution = load_size_for(self.resolution, load_size)
        self.strict = strict
        self.requested_val_size = val_size
        self.train_a: ImageTensorDataset | None = None
        self.train_b: ImageTensorDataset | None = None
        self.target_set: ImageTensorDataset | None = None
        self.val_truth: torch.Tensor | None = None

    def check_layout(self) -> dict[str, Path | None]:
        if not self.path.is_dir():
            raise DataNotFoundError(f"data.path={str(self.path)!r}: no such folder")
        folders = {name: self.path / name for name in DOMAIN_FOLDERS}
        missing = [name for name in ("trainA", "trainB") if not folders[name].is_dir()]
        if missing:
            found = sorted(p.name for p in self.path.iterdir() if p.is_dir())
            raise DataNotFoundError(
                f"data.path={str(self.path)!r}: an unpaired layout needs trainA/ and trainB/ "
                f"(and optionally testA/, testB/); {' and '.join(missing)} missing, found "
                f"folders {found}"
            )
        tests = [folders[name].is_dir() for name in ("testA", "testB")]
        if any(tests) and not all(tests):
            raise DataNotFoundError(
                f"data.path={str(self.path)!r}: testA/ and testB/ come together; give both or "
                "neither (then images of trainA/ and trainB/ are held out)"
            )
        return folders if all(tests) else {**folders, "testA": None, "testB": None}

    def read_domain(self, folder: Path, size: int) -> tuple[torch.Tensor, list[Path]]:
        """One folder's images as uint8 (N, C, size, size) and their files, cached."""
        files = image_files(folder)
        key = cache_key(self.path, files, f"stretch-{size}", self.channels)

        def build() -> dict:
            images, kept = decode_all(
                files, lambda path: decode(path, size, self.channels, stretch=True), self.strict,
                f"data.path={str(folder)!r}",
            )  # fmt: skip
            return {"images": torch.stack(images), "files": [str(p) for p in kept]}

        contents = cached(self.root / "cache" / f"unpaired-{key}.pt", build)
        return contents["images"], [Path(p) for p in contents["files"]]

    def held_out(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        val_size = self.requested_val_size
        if val_size is None:
            val_size = min(5000, max(1, len(images) // 10))
        kept, held = train_val_split(len(images), val_size, self.split_seed)
        return images[kept], resize_images(images[held], self.resolution)

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        folders = self.check_layout()
        train_a, _ = self.read_domain(folders["trainA"], self.train_resolution)
        train_b, _ = self.read_domain(folders["trainB"], self.train_resolution)
        if folders["testA"] is None:
            (train_a, test_a), (train_b, test_b) = self.held_out(train_a), self.held_out(train_b)
        else:
            test_a, files_a = self.read_domain(folders["testA"], self.resolution)
            test_b, files_b = self.read_domain(folders["testB"], self.resolution)
            self.val_truth = self.truth_of(files_a, folders["testA"], test_b, files_b)
        # The same seeded subset rule in each domain (unlabelled: no classes to balance).
        train_a, train_b = (
            x[limited(torch.arange(len(x)), subset_size(len(x), self.limit_images, self.fraction),
                      self.split_seed)]
            for x in (train_a, train_b)
        )  # fmt: skip
        self.train_a, self.train_b = ImageTensorDataset(train_a), ImageTensorDataset(train_b)
        self.train_set = self.train_a
        self.val_set = self.test_set = ImageTensorDataset(test_a)
        self.target_set = ImageTensorDataset(test_b)

    def truth_of(
        self, files_a: list[Path], folder_a: Path, test_b: torch.Tensor, files_b: list[Path]
    ) -> torch.Tensor | None:
        """testB's images in testA's order when every testA name has a testB twin, else None."""
        folder_b = folder_a.parent / "testB"
        index_b = {p.relative_to(folder_b).with_suffix(""): i for i, p in enumerate(files_b)}
        names = [p.relative_to(folder_a).with_suffix("") for p in files_a]
        if not all(name in index_b for name in names):
            return None
        return test_b[torch.tensor([index_b[name] for name in names])]

    def domains(self) -> tuple[ImageTensorDataset, ImageTensorDataset]:
        return self.train_a, self.train_b
