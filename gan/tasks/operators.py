"""The image operators behind the image-to-image tasks: masks (inpainting), downsampling
(super-resolution) and morphological dilation (translation); the unpaired split is gan.data.splits.

All work on batches (B, 1, H, W) in [-1, 1] on any device; random ones take a torch.Generator.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

MASK_KINDS = ("centre", "boxes", "pixels", "strokes")
STROKE_VERTICES = (4, 9)  # segments per stroke: drawn from [4, 9)
FILL = 0.0  # masked pixels: mid-grey, which neither the background (-1) nor ink (+1) is


def make_mask(
    shape: tuple[int, ...],
    kind: str = "centre",
    size: int = 14,
    boxes: int = 2,
    fraction: float = 0.5,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
    strokes: int = 4,
) -> torch.Tensor:
    """A mask (B, 1, H, W), 1 where pixels are hidden, 0 where they are kept.

    kind "centre": the centred size x size square; "boxes": `boxes` squares of `size` at random
    positions per image; "pixels": each pixel hidden with probability `fraction`; "strokes":
    free-form masks (Yu et al. 2019's brush strokes), `strokes` random walks per image of 4 to 8
    straight segments, each up to a quarter of the image long, painted `size` pixels wide.
    """
    batch, _, height, width = shape
    if kind not in MASK_KINDS:
        raise ValueError(f"mask kind={kind!r}: choose from {MASK_KINDS}")
    if kind != "pixels" and not 1 <= size <= min(height, width):
        raise ValueError(f"mask size={size}: must be in [1, {min(height, width)}]")
    if kind == "pixels" and not 0.0 <= fraction <= 1.0:
        raise ValueError(f"mask fraction={fraction}: must be in [0, 1]")
    mask = torch.zeros(batch, 1, height, width, device=device)
    if kind == "centre":
        top, left = (height - size) // 2, (width - size) // 2
        mask[:, :, top : top + size, left : left + size] = 1.0
    elif kind == "boxes":
        tops = torch.randint(
            0, height - size + 1, (batch, boxes), generator=generator, device=device
        )
        lefts = torch.randint(
            0, width - size + 1, (batch, boxes), generator=generator, device=device
        )
        rows = torch.arange(height, device=device).view(1, 1, height, 1)
        cols = torch.arange(width, device=device).view(1, 1, 1, width)
        tops, lefts = tops.view(batch, boxes, 1, 1), lefts.view(batch, boxes, 1, 1)
        inside = (rows >= tops) & (rows < tops + size) & (cols >= lefts) & (cols < lefts + size)
        mask = inside.any(dim=1, keepdim=True).float()  # (B, 1, H, W)
    elif kind == "strokes":
        mask = stroke_mask(batch, height, width, size, strokes, generator, device)
    else:
        mask = torch.rand(batch, 1, height, width, generator=generator, device=device) < fraction
        mask = mask.float()
    return mask


def stroke_mask(
    batch: int, height: int, width: int, brush: int, strokes: int,
    generator: torch.Generator | None, device: torch.device | str,
) -> torch.Tensor:  # fmt: skip
    """(B, 1, H, W): 1 within brush / 2 of any segment of `strokes` random walks per image."""
    vertices = int(torch.randint(*STROKE_VERTICES, (), generator=generator, device=device))
    shape = (batch, strokes, vertices)
    angles = torch.rand(shape, generator=generator, device=device) * 2 * torch.pi
    lengths = torch.rand(shape, generator=generator, device=device) * min(height, width) / 4
    start = torch.rand(batch, strokes, 1, 2, generator=generator, device=device)
    start = start * torch.tensor([height - 1, width - 1], device=device)
    steps = torch.stack([angles.sin(), angles.cos()], dim=-1) * lengths.unsqueeze(-1)
    points = torch.cat([start, start + steps.cumsum(dim=2)], dim=2)  # (B, S, V + 1, 2) (y, x)
    limits = torch.tensor([height - 1, width - 1], device=device, dtype=points.dtype)
    points = torch.minimum(points.clamp(min=0), limits)
    a, b = points[:, :, :-1].flatten(1, 2), points[:, :, 1:].flatten(1, 2)  # (B, S*V, 2)
    rows = torch.arange(height, device=device, dtype=points.dtype)
    cols = torch.arange(width, device=device, dtype=points.dtype)
    pixels = torch.stack(torch.meshgrid(rows, cols, indexing="ij"), dim=-1).view(1, 1, -1, 2)
    a, b = a.unsqueeze(2), b.unsqueeze(2)  # (B, S*V, 1, 2)
    ab = b - a
    t = ((pixels - a) * ab).sum(-1) / (ab * ab).sum(-1).clamp(min=1e-12)  # (B, S*V, H*W)
    nearest = a + t.clamp(0, 1).unsqueeze(-1) * ab
    distance = (pixels - nearest).norm(dim=-1).amin(dim=1)  # (B, H*W)
    return (distance <= brush / 2).float().view(batch, 1, height, width)


def apply_mask(images: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Hidden pixels set to FILL (0, grey), the others kept."""
    return images * (1 - mask) + FILL * mask


def downsample(images: torch.Tensor, factor: int) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, H / factor, W / factor) by averaging factor x factor blocks."""
    if factor < 1 or images.shape[-1] % factor or images.shape[-2] % factor:
        raise ValueError(f"factor={factor}: must be >= 1 and divide {tuple(images.shape[-2:])}")
    return F.avg_pool2d(images, factor)


def upsample(images: torch.Tensor, size: int) -> torch.Tensor:
    """Bicubic resize to size x size, clamped to [-1, 1]: the super-resolution input."""
    return F.interpolate(images, size=(size, size), mode="bicubic", align_corners=False).clamp(
        -1, 1
    )


def disk(radius: int) -> torch.Tensor:
    """The structuring element (2r + 1, 2r + 1): 1 inside the disk of `radius`, else 0."""
    offsets = torch.arange(-radius, radius + 1)
    return ((offsets.view(-1, 1) ** 2 + offsets.view(1, -1) ** 2) <= radius**2).float()


def dilate(images: torch.Tensor, radius: int = 1) -> torch.Tensor:
    """Grey-level dilation by a disk: every pixel becomes the maximum of its neighbours within
    `radius`, so strokes (bright on dark) thicken by `radius` pixels on each side."""
    if radius < 0:
        raise ValueError(f"radius={radius}: must be >= 0")
    if radius == 0:
        return images
    batch, channels, height, width = images.shape
    element = disk(radius).to(images.device).flatten().bool()  # (k*k,)
    patches = F.unfold(images, 2 * radius + 1, padding=radius)  # (B, C*k*k, H*W)
    patches = patches.view(batch, channels, -1, height * width)[:, :, element]
    # Padding is 0 (grey) but dilation must see outside the image as background.
    outside = F.unfold(torch.ones_like(images[:, :1]), 2 * radius + 1, padding=radius)
    outside = (outside.view(batch, 1, -1, height * width)[:, :, element] == 0).expand_as(patches)
    patches = patches.masked_fill(outside, float("-inf"))
    return patches.amax(dim=2).view(batch, channels, height, width)
