"""Small real-photo sets for the image-to-image tasks, cut from the photographs that ship inside
scikit-image's wheel and matplotlib's sample data (no download):

    python -m gan.data.photos data/photos [--size 96 --train 400 --test 100 --seed 0]

writes three sets of random square crops (side 96 to the photo's shorter side, at random places,
resized to `size`, mirrored half the time), in the layouts the tasks read:

- `folder/`: photos alone (`task=superres`, `task=inpaint` with `data=folder`);
- `paired/{train,test}/`: aligned A|B images, A the photo's edge map (dark edges on white, Sobel
  magnitude of the grey image), B the photo (`task=pix2pix data=paired_folder`: edges -> photo);
- `unpaired/{trainA,trainB,testA,testB}/`: A photos, B posterised photos (4 levels per channel
  after a 3x3 blur: a "style" with a known answer); trainA and trainB are crops from different
  draws, so no training image of A has its B twin, while testA/x.png and testB/x.png are the same
  crop, so `gan.eval` scores the translation against the truth.

Test crops are drawn apart from training crops but from the same eight photographs.
The photographs and their licences: astronaut (Eileen Collins, NASA, public domain), chelsea (CC0,
Stefan van der Walt), coffee (CC0, Rachel Michetti), rocket (SpaceX, public domain),
hubble_deep_field (NASA, public domain), immunohistochemistry (no known copyright restrictions),
retina (CC0, Mikael Häggström) from skimage.data; grace_hopper.jpg (US Navy, public domain) from
matplotlib's sample data.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

SKIMAGE_PHOTOS = (
    "astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry",
    "retina",
)  # fmt: skip
MIN_CROP = 96


def photographs() -> list[Image.Image]:
    """The eight RGB photographs."""
    import matplotlib.cbook
    import skimage.data

    photos = [Image.fromarray(getattr(skimage.data, name)()) for name in SKIMAGE_PHOTOS]
    with Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg")) as hopper:
        photos.append(hopper.convert("RGB"))
    return photos


def random_crops(photos: list[Image.Image], n: int, size: int, seed: int) -> list[Image.Image]:
    """`n` square crops of random photos, places and sides, resized to `size`."""
    rng = np.random.default_rng(seed)
    crops = []
    for _ in range(n):
        photo = photos[rng.integers(len(photos))]
        width, height = photo.size
        side = int(rng.integers(MIN_CROP, min(width, height) + 1))
        left, top = int(rng.integers(width - side + 1)), int(rng.integers(height - side + 1))
        crop = photo.crop((left, top, left + side, top + side))
        crop = crop.resize((size, size), Image.Resampling.BICUBIC)
        if rng.random() < 0.5:
            crop = crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        crops.append(crop)
    return crops


def edge_map(photo: Image.Image) -> Image.Image:
    """Dark edges on white: 255 - the Sobel gradient magnitude of the grey photo, scaled so the
    strongest 1% of edges are black, as RGB."""
    grey = np.asarray(photo.convert("L"), dtype=np.float64)
    padded = np.pad(grey, 1, mode="edge")
    dx = (padded[1:-1, 2:] - padded[1:-1, :-2]) * 2 + padded[:-2, 2:] - padded[:-2, :-2]
    dx += padded[2:, 2:] - padded[2:, :-2]
    dy = (padded[2:, 1:-1] - padded[:-2, 1:-1]) * 2 + padded[2:, :-2] - padded[:-2, :-2]
    dy += padded[2:, 2:] - padded[:-2, 2:]
    magnitude = np.hypot(dx, dy)
    scale = max(np.percentile(magnitude, 99), 1e-6)
    edges = 255 - np.clip(magnitude / scale * 255, 0, 255)
    return Image.fromarray(edges.round().astype(np.uint8), "L").convert("RGB")


def posterise(photo: Image.Image, levels: int = 4) -> Image.Image:
    """A 3x3 blur, then each channel quantised to `levels` evenly spaced values."""
    pixels = np.asarray(photo.filter(ImageFilter.BoxBlur(1)), dtype=np.float64)
    step = 255 / (levels - 1)
    return Image.fromarray((np.round(pixels / step) * step).round().astype(np.uint8), "RGB")


def side_by_side(a: Image.Image, b: Image.Image) -> Image.Image:
    pair = Image.new("RGB", (a.width + b.width, a.height))
    pair.paste(a, (0, 0))
    pair.paste(b, (a.width, 0))
    return pair


def save_all(images: list[Image.Image], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, image in enumerate(images):
        image.save(folder / f"{i:04d}.png")


def write_photo_sets(
    out: str | Path, size: int = 96, train: int = 400, test: int = 100, seed: int = 0
) -> Path:
    """The three sets under `out` (see the module's docstring); returns `out`."""
    out = Path(out)
    photos = photographs()
    train_crops = random_crops(photos, train, size, seed)
    test_crops = random_crops(photos, test, size, seed + 1)
    other_crops = random_crops(photos, train, size, seed + 2)  # trainB: other draws
    save_all(train_crops, out / "folder")
    save_all([side_by_side(edge_map(c), c) for c in train_crops], out / "paired" / "train")
    save_all([side_by_side(edge_map(c), c) for c in test_crops], out / "paired" / "test")
    save_all(train_crops, out / "unpaired" / "trainA")
    save_all([posterise(c) for c in other_crops], out / "unpaired" / "trainB")
    save_all(test_crops, out / "unpaired" / "testA")
    save_all([posterise(c) for c in test_crops], out / "unpaired" / "testB")
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--train", type=int, default=400)
    parser.add_argument("--test", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    write_photo_sets(args.out, args.size, args.train, args.test, args.seed)
    print(f"wrote {args.out}/folder, {args.out}/paired and {args.out}/unpaired")


if __name__ == "__main__":
    main()
