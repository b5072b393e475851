"""Apply a trained image-to-image generator to your own images:

    python -m gan.translate ckpt_path=<run>/checkpoints/last.ckpt input=<folder|image> \
        output=<folder>

Every image of `input` (a file, or a folder searched recursively) is read as data=folder reads
images (EXIF orientation, 16-bit grey, transparency), converted to the checkpoint's channels,
translated, and written to `output` as a PNG of the same relative name. How images of any size
are handled (`mode`):
- `resize` (pix2pix and CycleGAN's default, as the reference's test script): the image is resized
  to the model's square, translated, and the output resized back to the image's size;
- `tile` (super-resolution's and inpainting's default): the image is cut into overlapping squares
  of the model's size (`overlap` pixels shared, reflection-padded at the borders), each is
  translated, and the outputs are blended with weights that fall linearly towards each tile's
  edges, so no seam shows. Super-resolution first enlarges the image `factor` times (bicubic,
  as in training) so the output is `factor` times the input's size.
Inpainting fills the white pixels of `mask` (an image, or a folder of masks of the same relative
names); without one, the training run's own masks are drawn (seeded), to see what the model
does. CycleGAN translates A to B, or B to A with `direction=BtoA`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
import torch
import torch.nn.functional as F
from omegaconf import DictConfig
from PIL import Image

from gan.checkpoints import CheckpointError, read_checkpoint, rebuild_model
from gan.config import ConfigError
from gan.data.folder import IMAGE_SUFFIXES, find_images, load_image, to_tensor
from gan.data.tensors import scale_to_unit_range
from gan.tasks.corruptions import Inpainting, SuperResolution
from gan.tasks.modules import CycleGAN, ImageToImage
from gan.tasks.operators import apply_mask, upsample

MODES = ("auto", "resize", "tile")
DIRECTIONS = ("AtoB", "BtoA")


def load_translator(ckpt_path: str, device: str = "cpu") -> tuple[ImageToImage, int, int]:
    """The image-to-image model of a checkpoint, its data's channels and resolution; a
    checkpoint of a generation run is refused in one line."""
    checkpoint = read_checkpoint(ckpt_path)
    target = str(((checkpoint.get("config") or {}).get("model") or {}).get("_target_", ""))
    if not target.startswith("gan.tasks."):
        raise ConfigError(
            f"ckpt_path={ckpt_path!r} is a checkpoint of generation from noise "
            f"({target or 'no model config'}); gan.translate applies the image-to-image tasks' "
            "checkpoints (task=pix2pix, cyclegan, superres, inpaint, translate)"
        )
    model = rebuild_model(checkpoint, ckpt_path).to(device).eval()
    data = checkpoint["config"].get("data") or {}
    return model, int(data.get("channels", 1)), int(data.get("resolution", 28))


def read_input(path: Path, channels: int) -> torch.Tensor:
    """One image file as (1, channels, H, W) in [-1, 1]."""
    image = load_image(path).convert("L" if channels == 1 else "RGB")
    return scale_to_unit_range(to_tensor(image, channels)).unsqueeze(0)


def blend_window(size: int, overlap: int) -> torch.Tensor:
    """(size, size) weights: 1 inside, falling linearly to 1 / (overlap + 1) over `overlap`
    pixels at each edge (never 0, so a pixel covered by one tile keeps its value)."""
    ramp = torch.ones(size)
    if overlap:
        edge = torch.arange(1, overlap + 1, dtype=torch.float32) / (overlap + 1)
        ramp[:overlap], ramp[size - overlap :] = edge, edge.flip(0)
    return ramp.view(-1, 1) * ramp.view(1, -1)


def tiled(apply, image: torch.Tensor, size: int, overlap: int) -> torch.Tensor:
    """`apply` (B, C, size, size) -> (B, C', size, size) over overlapping tiles of `image`
    (1, C, H, W), blended; images smaller than a tile are reflection-padded."""
    if not 0 <= overlap < size:
        raise ConfigError(f"overlap={overlap}: must be in [0, {size}) (the tile size)")
    _, _, height, width = image.shape
    stride = size - overlap

    def padded_length(length: int) -> int:
        return size + max(0, -(-(length - size) // stride)) * stride

    full_h, full_w = padded_length(height), padded_length(width)
    pad = (0, full_w - width, 0, full_h - height)
    mode = "reflect" if max(pad) < min(height, width) else "replicate"
    image = F.pad(image, pad, mode=mode)
    window = blend_window(size, overlap).to(image.device)
    out, weight = None, torch.zeros(1, 1, full_h, full_w, device=image.device)
    for top in range(0, full_h - size + 1, stride):
        for left in range(0, full_w - size + 1, stride):
            tile = apply(image[:, :, top : top + size, left : left + size])  # (1, C', size, size)
            if out is None:
                out = torch.zeros(1, tile.shape[1], full_h, full_w, device=image.device)
            out[:, :, top : top + size, left : left + size] += tile * window
            weight[:, :, top : top + size, left : left + size] += window
    return (out / weight)[:, :, :height, :width]


class Translator:
    """Applies one model to images of any size (see the module's docstring)."""

    def __init__(
        self, model: ImageToImage, channels: int, resolution: int, mode: str = "auto",
        overlap: int | None = None, direction: str = "AtoB", seed: int = 0,
    ) -> None:  # fmt: skip
        if mode not in MODES:
            raise ConfigError(f"mode={mode!r}: choose one of {MODES}")
        if direction not in DIRECTIONS:
            raise ConfigError(f"direction={direction!r}: choose one of {DIRECTIONS}")
        if direction == "BtoA" and not isinstance(model, CycleGAN):
            raise ConfigError(
                "direction=BtoA: only a CycleGAN has a generator from B to A; a pix2pix model "
                "translates the way it was trained (data.direction)"
            )
        corruption = getattr(model, "corruption", None)
        local = isinstance(corruption, Inpainting | SuperResolution)
        self.model, self.channels, self.resolution = model, channels, resolution
        self.mode = ("tile" if local else "resize") if mode == "auto" else mode
        self.overlap = resolution // 4 if overlap is None else overlap
        self.generator = model.generator_ba if direction == "BtoA" else None
        self.corruption = corruption
        self.seed = seed

    @torch.no_grad()
    def g(self, inputs: torch.Tensor) -> torch.Tensor:
        inputs = inputs.to(self.model.device)
        if self.generator is not None:
            return self.generator(inputs)
        return self.model.forward_generator(inputs)

    def model_inputs(self, image: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """What G takes for this image: the image, its bicubic enlargement (super-resolution),
        or the masked image and the mask (inpainting)."""
        if isinstance(self.corruption, SuperResolution):
            height, width = image.shape[-2:]
            factor = self.corruption.factor
            return upsample_to(image, height * factor, width * factor)
        if isinstance(self.corruption, Inpainting):
            if mask is None:  # the training masks, drawn for the image's size
                generator = torch.Generator().manual_seed(self.seed)
                return self.corruption(image, generator)
            return torch.cat([apply_mask(image, mask), mask], dim=1)
        return image

    def __call__(self, image: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """(1, C, H, W) in [-1, 1] -> the output (1, C, H', W'), H' = H (factor x H for
        super-resolution)."""
        inputs = self.model_inputs(image, mask)
        height, width = inputs.shape[-2:]
        if self.mode == "resize":
            size = (self.resolution, self.resolution)
            squared = F.interpolate(inputs, size, mode="bicubic", antialias=True).clamp(-1, 1)
            output = self.g(squared).cpu()
            return F.interpolate(output, (height, width), mode="bicubic").clamp(-1, 1)
        return tiled(lambda tile: self.g(tile).cpu(), inputs, self.resolution, self.overlap)


def upsample_to(image: torch.Tensor, height: int, width: int) -> torch.Tensor:
    if height == width:
        return upsample(image, height)
    return F.interpolate(image, (height, width), mode="bicubic").clamp(-1, 1)


def input_files(source: Path) -> tuple[list[Path], Path]:
    """The images to translate and the folder their output names are relative to."""
    if source.is_file():
        return [source], source.parent
    if not source.is_dir():
        raise ConfigError(f"input={str(source)!r}: no such file or folder")
    files = find_images(source)
    if not files:
        raise ConfigError(f"input={str(source)!r}: no images ({', '.join(IMAGE_SUFFIXES)}) in it")
    return files, source


def mask_for(mask: Path | None, relative: Path) -> torch.Tensor | None:
    """The mask of an image (1, 1, H, W), 1 where hidden (white), from a file or a folder of
    masks named as the images."""
    if mask is None:
        return None
    path = mask
    if mask.is_dir():
        matches = [p for p in find_images(mask) if p.relative_to(mask).with_suffix("") == relative]
        if not matches:
            raise ConfigError(f"mask={str(mask)!r}: no mask named {relative} (any extension)")
        path = matches[0]
    grey = to_tensor(load_image(path).convert("L"), 1).float() / 255
    return (grey > 0.5).float().unsqueeze(0)


def translate_folder(cfg: DictConfig) -> list[Path]:
    """Translate every image of `cfg.input` into `cfg.output`; returns the files written."""
    model, channels, resolution = load_translator(cfg.ckpt_path, cfg.device)
    translator = Translator(
        model, channels, resolution, cfg.mode, cfg.overlap, cfg.direction, cfg.seed
    )
    mask = Path(cfg.mask) if cfg.mask else None
    if mask is not None and not isinstance(translator.corruption, Inpainting):
        raise ConfigError(f"mask={cfg.mask!r}: only an inpainting checkpoint takes a mask")
    files, root = input_files(Path(cfg.input))
    written = []
    for path in files:
        relative = path.relative_to(root).with_suffix("")
        image = read_input(path, channels)
        image_mask = mask_for(mask, relative)
        if image_mask is not None and image_mask.shape[-2:] != image.shape[-2:]:
            raise ConfigError(
                f"mask of {path}: {tuple(image_mask.shape[-2:])}, the image "
                f"{tuple(image.shape[-2:])}; a mask must be the image's size"
            )
        output = translator(image, image_mask)[0]  # (C, H', W')
        pixels = ((output + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
        target = Path(cfg.output) / relative.with_suffix(".png")
        target.parent.mkdir(parents=True, exist_ok=True)
        array = pixels.permute(1, 2, 0).squeeze(-1).numpy()
        Image.fromarray(array, "L" if channels == 1 else "RGB").save(target)
        written.append(target)
    return written


@hydra.main(version_base="1.3", config_path="../conf", config_name="translate")
def main(cfg: DictConfig) -> None:
    try:
        written = translate_folder(cfg)
    except (ConfigError, CheckpointError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    print(f"wrote {len(written)} image(s) to {cfg.output}")


if __name__ == "__main__":
    main()
