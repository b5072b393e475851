"""Any folder of images (`data=folder data.path=...`): decoded once into a cached uint8 tensor.

Files are found recursively (png, jpg, jpeg, webp, bmp; anything else is ignored). Images in
class subfolders (`<path>/<class>/...`, torchvision's ImageFolder convention) are labelled by
their folder's rank in name order; with any image directly in `<path>` the data is unlabelled.
Each image is read by `load_image` (turned upright by its EXIF orientation, 16-bit grey scaled to
8 bits, transparency composited onto white), converted to grey or RGB (`channels`), resized so
its shorter side is `resolution` (PIL's bicubic, which antialiases when it shrinks) and
centre-cropped square, so rectangular images work. The result is cached under
`<data_dir>/cache/`, keyed by the file list (paths, sizes, modification and change times, inode),
the resolution and the channels: the second run starts in seconds, and a file rewritten in place
with its size and modification time kept (`cp -p`, `rsync -a`, `tar x`) is decoded again.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from rich.progress import track

from gan.atomic import save_torch
from gan.config import ConfigError
from gan.data.base import DataNotFoundError, ImageDataModule, Split
from gan.data.splits import train_val_split

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")


def find_images(folder: Path) -> list[Path]:
    """Every image file under `folder`, in path order."""
    return sorted(
        p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
    )


SIXTEEN_BIT_GREY = ("I;16", "I;16L", "I;16B", "I;16N", "I")  # PIL's modes of 16-bit grey PNGs
ALPHA_BACKGROUND = (255, 255, 255)  # what shows through transparent pixels: white


def load_image(path: Path) -> Image.Image:
    """One image file as 8-bit grey ("L") or RGB, upright and opaque:
    - turned by its EXIF orientation tag, as phones and cameras store pictures;
    - 16-bit grey (PNG) scaled to 8 bits (0..65535 -> 0..255, value / 257, rounded), not clipped
      at 255 as PIL's own conversion does;
    - an alpha channel, or a palette's transparent colour, composited onto white
      (ALPHA_BACKGROUND): a transparent pixel is white whatever colour it hides;
    - palettes, CMYK and the rest converted to RGB, bilevel images to grey."""
    with Image.open(path) as opened:
        image = ImageOps.exif_transpose(opened)  # a loaded copy
    if image.mode in SIXTEEN_BIT_GREY:
        pixels = np.asarray(image).astype(np.float64)  # (H, W)
        return Image.fromarray(np.clip(np.round(pixels / 257), 0, 255).astype(np.uint8), "L")
    transparent = image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info
    if transparent:
        grey = image.mode in ("LA", "La")
        background = Image.new("RGBA", image.size, (*ALPHA_BACKGROUND, 255))
        image = Image.alpha_composite(background, image.convert("RGBA"))
        return image.convert("L" if grey else "RGB")
    if image.mode in ("L", "RGB"):
        return image
    return image.convert("L" if image.mode == "1" else "RGB")


def to_tensor(image: Image.Image, channels: int) -> torch.Tensor:
    """A PIL image -> uint8 (channels, H, W)."""
    image = image.convert("L" if channels == 1 else "RGB")
    pixels = torch.frombuffer(bytearray(image.tobytes()), dtype=torch.uint8)
    return pixels.view(image.size[1], image.size[0], channels).permute(2, 0, 1).contiguous()


def fit_square(image: Image.Image, resolution: int, stretch: bool = False) -> Image.Image:
    """`image` at resolution x resolution (PIL's bicubic, which antialiases when it shrinks):
    the shorter side resized to `resolution`, then centre-cropped; with `stretch`, resized to
    the square whatever its aspect ratio (pytorch-CycleGAN-and-pix2pix's `resize`)."""
    if stretch:
        return image.resize((resolution, resolution), Image.Resampling.BICUBIC)
    width, height = image.size
    scale = resolution / min(width, height)
    size = (max(resolution, round(width * scale)), max(resolution, round(height * scale)))
    image = image.resize(size, Image.Resampling.BICUBIC)
    left, top = (size[0] - resolution) // 2, (size[1] - resolution) // 2
    return image.crop((left, top, left + resolution, top + resolution))


def decode(path: Path, resolution: int, channels: int, stretch: bool = False) -> torch.Tensor:
    """One image file -> uint8 (channels, resolution, resolution): read by `load_image`, then
    `fit_square`."""
    image = load_image(path).convert("L" if channels == 1 else "RGB")
    return to_tensor(fit_square(image, resolution, stretch), channels)


def cache_key(folder: Path, files: list[Path], resolution: int | str, channels: int) -> str:
    """The cache's key: the resolution (and whatever else the caller adds to it), the channels
    and every file's path, size, modification time, change time and inode. The change time
    (ctime) moves whenever a file's content or metadata is written, and no tool can set it back,
    so a rewrite that keeps size and mtime still changes the key."""
    digest = hashlib.sha256(f"{resolution}|{channels}".encode())
    for path in files:
        stat = path.stat()
        digest.update(
            f"|{path.relative_to(folder)}|{stat.st_size}|{stat.st_mtime_ns}|{stat.st_ctime_ns}"
            f"|{stat.st_ino}".encode()
        )
    return digest.hexdigest()[:24]


def class_names(folder: Path, files: list[Path]) -> list[str] | None:
    """The class subfolders' names when every image sits in one, else None (unlabelled)."""
    parts = [path.relative_to(folder).parts for path in files]
    if any(len(part) < 2 for part in parts):
        return None
    return sorted({part[0] for part in parts})


def decode_all(
    files: list[Path], decode_one: Callable[[Path], Any], strict: bool, what: str
) -> tuple[list, list[Path]]:
    """`decode_one` of every file, and the files it read. An unreadable file is skipped with a
    warning, or refused (`DataNotFoundError`) when `strict`; none readable is refused."""
    decoded, kept = [], []
    for path in track(files, description=f"decoding {len(files)} images of {what}"):
        try:
            decoded.append(decode_one(path))
        except (OSError, UnidentifiedImageError, ValueError) as error:
            message = f"{path} is not a readable image ({type(error).__name__}: {error})"
            if strict:
                raise DataNotFoundError(f"{message}; data.strict=true refuses it") from None
            warnings.warn(f"{message}; skipped", stacklevel=2)
            continue
        kept.append(path)
    if not decoded:
        raise DataNotFoundError(f"{what}: no readable image in it")
    return decoded, kept


def cached(cache: Path, build: Callable[[], dict]) -> dict:
    """The tensors saved in `cache` when it is readable, else `build()`, saved there first."""
    if cache.is_file():
        try:
            return torch.load(cache, weights_only=True)
        except Exception as error:  # a damaged cache: say which, decode again
            message = f"cache file {cache} is unreadable ({error}); decoding again"
            warnings.warn(message, stacklevel=2)
    contents = build()
    save_torch(contents, cache)
    return contents


def image_files(folder: Path, option: str = "data.path") -> list[Path]:
    """`find_images(folder)`, refusing a missing folder, a file, or a folder without images."""
    if folder.is_file():
        raise DataNotFoundError(
            f"{option}={str(folder)!r}: a file, not a folder; give the folder that holds the images"
        )
    if not folder.is_dir():
        raise DataNotFoundError(f"{option}={str(folder)!r}: no such folder")
    files = find_images(folder)
    if not files:
        raise DataNotFoundError(
            f"{option}={str(folder)!r}: no image files ({', '.join(IMAGE_SUFFIXES)}) in it or below"
        )
    return files


class FolderDataModule(ImageDataModule):
    """A folder of images. `val_size` images are held out (seeded); with `val_size` null, 10% of
    them, at most 5,000. The held-out images also serve as the test split (a folder has no
    official one). `strict`: refuse an unreadable file instead of skipping it with a warning."""

    def __init__(
        self, *args, path: str | Path | None = None, strict: bool = False,
        val_size: int | None = None, **kwargs,
    ) -> None:  # fmt: skip
        super().__init__(*args, val_size=val_size or 0, **kwargs)
        if not path:
            raise ValueError("data.path is required with data=folder: the folder of images")
        self.path = Path(path)
        self.strict = strict
        self.requested_val_size = val_size
        self.class_names: list[str] | None = None

    def load(self) -> tuple[torch.Tensor, torch.Tensor, list[str] | None]:
        """The folder's images, labels and class names, from the cache when it is current."""
        files = image_files(self.path)
        key = cache_key(self.path, files, self.resolution, self.channels)

        def build() -> dict:
            images, kept = decode_all(
                files, lambda path: decode(path, self.resolution, self.channels), self.strict,
                f"data.path={str(self.path)!r}",
            )  # fmt: skip
            classes = class_names(self.path, kept)
            if classes is None:
                labels = torch.zeros(len(kept), dtype=torch.long)
            else:
                rank = {name: i for i, name in enumerate(classes)}
                labels = torch.tensor([rank[p.relative_to(self.path).parts[0]] for p in kept])
            return {"images": torch.stack(images), "labels": labels, "classes": classes}

        contents = cached(self.root / "cache" / f"folder-{key}.pt", build)
        return contents["images"], contents["labels"], contents["classes"]

    def read(self) -> dict[str, Split]:
        images, labels, self.class_names = self.load()
        if self.class_names and self.num_classes not in (None, len(self.class_names)):
            raise ConfigError(
                f"data.num_classes={self.num_classes}, but {self.path} has "
                f"{len(self.class_names)} class folders: {self.class_names}"
            )
        if self.class_names is None and self.num_classes is not None:
            raise ConfigError(
                f"data.num_classes={self.num_classes}, but {self.path} is unlabelled (images "
                "directly in it); put each class in a subfolder, or data.num_classes=null"
            )
        val_size = self.requested_val_size
        if val_size is None:
            val_size = min(5000, max(1, len(images) // 10))
        kept, held_out = train_val_split(len(images), val_size, self.split_seed)
        everything = Split(images, labels)
        val = everything.take(held_out)
        return {"train": everything.take(kept), "val": val, "test": val}
