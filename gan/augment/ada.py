"""Adaptive discriminator augmentation (ADA, Karras et al. 2020, "Training Generative Adversarial
Networks with Limited Data").

Every image D sees, real or generated, in the D step, the G step and the penalties, goes through
a chain of transforms, each applied to each image with probability p. The transforms are those of
StyleGAN2-ADA's `bgc` pipeline with its default strengths:

- `b` (pixel blitting): x-flip, 90-degree rotations, integer translation (up to 1/8 of the side);
- `g` (geometric): isotropic scaling (lognormal, std 0.2 octaves), arbitrary rotation (twice, each
  with probability 1 - sqrt(1 - p), around an anisotropic scaling of std 0.2), fractional
  translation (normal, std 1/8 of the side);
- `c` (colour): brightness (+N(0, 0.2)), contrast (lognormal, std 0.5 octaves), luma flip, hue
  rotation (any angle), saturation (lognormal, std 1 octave).

The geometric transforms compose into one 3x3 matrix per image, applied by bilinear resampling
with reflection padding (the reference resamples at twice the size through a wavelet filter
against aliasing; this module does not); the colour ones into one 4x4 matrix per image. An image
whose matrices are the identity is returned untouched, so p = 0 is exactly the identity. Every
parameter is drawn for every image whatever p and whatever the images hold, so the draws depend
only on the batch size and the RNG state (the global one, which checkpoints restore).

The controller (`adaptive=True`) moves p from the overfitting heuristic r_t = E[sign(D(real))],
averaged over `interval` D steps: up when r_t > `target`, down when below, by
`interval * batch / (speed_kimg * 1000)` each time, so p can cross [0, 1] in `speed_kimg`
thousand images (StyleGAN2-ADA: target 0.6, every 4 steps, 500 kimg). p is kept in [0, 1]. p, the
sign statistics and the last r_t are buffers: checkpoints hold them and resume restores them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from gan.augment.grid_sample import grid_sample

GROUPS = {
    "b": ("xflip", "rotate90", "xint"),
    "g": ("scale", "rotate", "aniso", "xfrac"),
    "c": ("brightness", "contrast", "lumaflip", "hue", "saturation"),
}
PRESETS = {"blit": "b", "geom": "g", "color": "c", "bg": "bg", "bgc": "bgc"}
GEOMETRIC = GROUPS["b"] + GROUPS["g"]
COLOUR = GROUPS["c"]
ALL = GEOMETRIC + COLOUR

# StyleGAN2-ADA's AugmentPipe defaults.
XINT_MAX, SCALE_STD, ROTATE_MAX, ANISO_STD, XFRAC_STD = 0.125, 0.2, 1.0, 0.2, 0.125
BRIGHTNESS_STD, CONTRAST_STD, HUE_MAX, SATURATION_STD = 0.2, 0.5, 1.0, 1.0


def transform_names(transforms: str | Sequence[str]) -> tuple[str, ...]:
    """The transforms of a preset ("bgc", "bg", "b", "g", "c", "blit", "geom", "color") or of a
    list of names from ALL, in the pipeline's order."""
    if isinstance(transforms, str) and (transforms in PRESETS or set(transforms) <= set(GROUPS)):
        letters = PRESETS.get(transforms, transforms)
        chosen = {name for letter in letters for name in GROUPS[letter]}
    else:
        listed = [transforms] if isinstance(transforms, str) else transforms
        chosen = {str(name) for name in listed}
    if not chosen or not chosen <= set(ALL):
        raise ValueError(
            f"augment.transforms={transforms!r}: a preset ({', '.join(PRESETS)}) or a list of "
            f"{', '.join(ALL)}"
        )
    return tuple(name for name in ALL if name in chosen)


def _matrices(rows: list[list], batch: int, device, dtype) -> torch.Tensor:
    """(B, n, n) from an n x n nested list of numbers and (B,) tensors."""
    entries = [
        torch.as_tensor(entry, device=device, dtype=dtype).expand(batch)
        for row in rows
        for entry in row
    ]
    return torch.stack(entries, dim=1).reshape(batch, len(rows), len(rows))


class _Draws:
    """Draws one transform's parameters for every image and masks the images that skip it."""

    def __init__(self, batch: int, p: torch.Tensor, device, dtype) -> None:
        self.batch, self.p, self.device, self.dtype = batch, p, device, dtype

    def uniform(self) -> torch.Tensor:
        return torch.rand(self.batch, device=self.device, dtype=self.dtype)  # (B,)

    def normal(self) -> torch.Tensor:
        return torch.randn(self.batch, device=self.device, dtype=self.dtype)  # (B,)

    def applied(self, value: torch.Tensor, identity: float, p: torch.Tensor | None = None):
        """`value` (B,) or (B, k) where the image is augmented (probability p, one draw per
        image), `identity` elsewhere."""
        p = self.p if p is None else p
        keep = self.uniform() < p.to(self.dtype)  # (B,)
        keep = keep.reshape(-1, *([1] * (value.ndim - 1)))
        return torch.where(keep, value, torch.full_like(value, identity))

    def pair(self, kind: str) -> torch.Tensor:
        """(B, 2): two uniform draws in [0, 1), or two standard normal ones, per image."""
        draw = torch.rand if kind == "uniform" else torch.randn
        return draw(self.batch, 2, device=self.device, dtype=self.dtype)

    def matrix(self, rows: list[list]) -> torch.Tensor:
        return _matrices(rows, self.batch, self.device, self.dtype)


def geometry(names: Sequence[str], draws: _Draws, height: int, width: int) -> torch.Tensor:
    """(B, 3, 3): output pixel coordinates (centred) to input ones, the transforms of `names`."""
    d, m = draws, draws.matrix
    g = m([[1, 0, 0], [0, 1, 0], [0, 0, 1]])
    if "xflip" in names:
        flip = d.applied(torch.floor(d.uniform() * 2), 0)
        g = g @ m([[1 - 2 * flip, 0, 0], [0, 1, 0], [0, 0, 1]])
    if "rotate90" in names:
        quarter = d.applied(torch.floor(d.uniform() * 4), 0) * (math.pi / 2)
        cos, sin = torch.cos(quarter).round(), torch.sin(quarter).round()  # exact quarter turns
        g = g @ m([[cos, sin, 0], [-sin, cos, 0], [0, 0, 1]])
    if "xint" in names:
        t = d.applied((d.pair("uniform") * 2 - 1) * XINT_MAX, 0)  # (B, 2): one draw, both axes
        tx, ty = torch.round(t[:, 0] * width), torch.round(t[:, 1] * height)
        g = g @ m([[1, 0, -tx], [0, 1, -ty], [0, 0, 1]])
    if "scale" in names:
        s = d.applied(torch.exp2(d.normal() * SCALE_STD), 1)
        g = g @ m([[1 / s, 0, 0], [0, 1 / s, 0], [0, 0, 1]])
    rotate_p = 1 - torch.sqrt((1 - draws.p).clamp(min=0))  # two rotations make p in all
    if "rotate" in names:
        g = g @ _rotation(d.applied((d.uniform() * 2 - 1) * math.pi * ROTATE_MAX, 0, rotate_p), m)
    if "aniso" in names:
        s = d.applied(torch.exp2(d.normal() * ANISO_STD), 1)
        g = g @ m([[1 / s, 0, 0], [0, s, 0], [0, 0, 1]])
    if "rotate" in names:
        g = g @ _rotation(d.applied((d.uniform() * 2 - 1) * math.pi * ROTATE_MAX, 0, rotate_p), m)
    if "xfrac" in names:
        t = d.applied(d.pair("normal") * XFRAC_STD, 0)  # (B, 2)
        tx, ty = t[:, 0] * width, t[:, 1] * height
        g = g @ m([[1, 0, -tx], [0, 1, -ty], [0, 0, 1]])
    return g


def _rotation(theta: torch.Tensor, m: Callable) -> torch.Tensor:
    """(B, 3, 3): the inverse of a rotation by theta (B,), which maps output to input."""
    cos, sin = torch.cos(theta), torch.sin(theta)
    return m([[cos, sin, 0], [-sin, cos, 0], [0, 0, 1]])


def colour(names: Sequence[str], draws: _Draws) -> torch.Tensor:
    """(B, 4, 4): the colour transforms of `names` on homogeneous RGB, each multiplied on the
    left of the ones before it."""
    d, m = draws, draws.matrix
    c = m([[float(i == j) for j in range(4)] for i in range(4)])
    luma = torch.tensor([1.0, 1.0, 1.0, 0.0], device=d.device, dtype=d.dtype) / math.sqrt(3)
    luma_outer = torch.outer(luma, luma)  # (4, 4): projection on the luma axis
    eye = torch.eye(4, device=d.device, dtype=d.dtype)
    if "brightness" in names:
        b = d.applied(d.normal() * BRIGHTNESS_STD, 0)
        c = m([[1, 0, 0, b], [0, 1, 0, b], [0, 0, 1, b], [0, 0, 0, 1]]) @ c
    if "contrast" in names:
        k = d.applied(torch.exp2(d.normal() * CONTRAST_STD), 1)
        c = m([[k, 0, 0, 0], [0, k, 0, 0], [0, 0, k, 0], [0, 0, 0, 1]]) @ c
    if "lumaflip" in names:
        flip = d.applied(torch.floor(d.uniform() * 2), 0)  # (B,)
        c = (eye - 2 * luma_outer * flip[:, None, None]) @ c
    if "hue" in names:
        theta = d.applied((d.uniform() * 2 - 1) * math.pi * HUE_MAX, 0)
        c = _rotation_about(luma[:3], theta, m) @ c
    if "saturation" in names:
        s = d.applied(torch.exp2(d.normal() * SATURATION_STD), 1)
        c = (luma_outer + (eye - luma_outer) * s[:, None, None]) @ c
    return c


def _rotation_about(axis: torch.Tensor, theta: torch.Tensor, m: Callable) -> torch.Tensor:
    """(B, 4, 4): rotations by theta (B,) about the unit 3-vector `axis` (Rodrigues)."""
    x, y, z = axis
    cos, sin = torch.cos(theta), torch.sin(theta)
    one = 1 - cos
    return m([
        [x * x * one + cos, x * y * one - z * sin, x * z * one + y * sin, 0],
        [y * x * one + z * sin, y * y * one + cos, y * z * one - x * sin, 0],
        [z * x * one - y * sin, z * y * one + x * sin, z * z * one + cos, 0],
        [0, 0, 0, 1],
    ])  # fmt: skip


def _not_identity(matrices: torch.Tensor) -> torch.Tensor:
    """(B,) True where a (B, n, n) matrix differs from the identity."""
    eye = torch.eye(matrices.shape[-1], device=matrices.device, dtype=matrices.dtype)
    return (matrices - eye).abs().amax(dim=(1, 2)) > 0


def resample(images: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Images (B, C, H, W) sampled at g (B, 3, 3) applied to each output pixel's centred
    coordinates: bilinear, reflection padding."""
    _, _, height, width = images.shape
    to_unit = torch.diag(g.new_tensor([2 / width, 2 / height, 1.0]))  # pixels -> [-1, 1]
    theta = to_unit @ g @ torch.linalg.inv(to_unit)  # (B, 3, 3) in grid_sample's coordinates
    grid = F.affine_grid(theta[:, :2].to(images.dtype), list(images.shape), align_corners=False)
    return grid_sample(images, grid, padding_mode="reflection")  # twice differentiable (R1)


def recolour(images: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """Images (B, C, H, W) with C = 3 times c (B, 4, 4) on homogeneous RGB; grey images (C = 1)
    as the mean of the three channels the grey level would give (StyleGAN2-ADA's rule)."""
    batch, channels, height, width = images.shape
    c = c.to(images.dtype)
    pixels = images.reshape(batch, channels, height * width)
    if channels == 3:
        out = c[:, :3, :3] @ pixels + c[:, :3, 3:]
    elif channels == 1:
        mean = c[:, :3, :].mean(dim=1, keepdim=True)  # (B, 1, 4)
        out = pixels * mean[:, :, :3].sum(dim=2, keepdim=True) + mean[:, :, 3:]
    else:
        raise ValueError(f"ADA's colour transforms need 1 or 3 channels, not {channels}")
    return out.reshape(images.shape)


class AdaptiveAugment(nn.Module):
    """ADA: the augmentation pipeline and its controller (see the module docstring).

    Args:
        transforms: a preset ("bgc", "bg", "b", "g", "c", or "blit", "geom", "color") or a list of
            transform names (`ALL`).
        p: the starting probability (or the fixed one, with adaptive=False), in [0, 1].
        adaptive: let the controller move p.
        target: the r_t the controller aims at, in (0, 1).
        interval: D steps between two adjustments of p.
        speed_kimg: thousands of images for p to move by 1.
    """

    def __init__(
        self,
        transforms: str | Sequence[str] = "bgc",
        p: float = 0.0,
        adaptive: bool = True,
        target: float = 0.6,
        interval: int = 4,
        speed_kimg: float = 500.0,
    ) -> None:
        super().__init__()
        self.names = transform_names(transforms)
        if not 0 <= p <= 1:
            raise ValueError(f"augment.p={p}: a probability in [0, 1]")
        if not 0 < target < 1:
            raise ValueError(f"augment.target={target}: r_t's target, in (0, 1) (ADA: 0.6)")
        if isinstance(interval, bool) or not isinstance(interval, int) or interval < 1:
            raise ValueError(f"augment.interval={interval}: D steps, an integer >= 1 (ADA: 4)")
        if not speed_kimg > 0:
            raise ValueError(f"augment.speed_kimg={speed_kimg}: must be > 0 (ADA: 500)")
        self.adaptive, self.target, self.interval = adaptive, target, interval
        self.speed_kimg = speed_kimg
        self.register_buffer("p", torch.tensor(float(p)))
        self.register_buffer("sign_sum", torch.zeros(()))  # sum of sign(D(real)) since the last
        self.register_buffer("sign_count", torch.zeros(()))  # adjustment, and how many scores
        self.register_buffer("rt", torch.full((), float("nan")))  # the last r_t

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Images (B, C, H, W) in [-1, 1], augmented: same shape, differentiable."""
        batch, _, height, width = images.shape
        dtype = torch.float64 if images.dtype == torch.float64 else torch.float32
        draws = _Draws(batch, self.p, images.device, dtype)
        geometric = [name for name in self.names if name in GEOMETRIC]
        colours = [name for name in self.names if name in COLOUR]
        if geometric:
            g = geometry(geometric, draws, height, width)  # (B, 3, 3)
            moved = _not_identity(g)[:, None, None, None]
            images = torch.where(moved, resample(images, g), images)
        if colours:
            c = colour(colours, draws)  # (B, 4, 4)
            recoloured = _not_identity(c)[:, None, None, None]
            images = torch.where(recoloured, recolour(images, c), images)
        return images

    @torch.no_grad()
    def accumulate(
        self, real_scores: torch.Tensor,
        over_processes: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> None:  # fmt: skip
        """Add one D step's scores of real images to the statistics behind r_t.
        `over_processes` sums a tensor over the DDP processes, so every process adds the same
        statistics (DDP broadcasts rank 0's buffers at every step: statistics kept per process
        would be overwritten)."""
        scores = real_scores.detach().float()
        stats = torch.stack([torch.sign(scores).sum(), torch.full_like(scores[0], scores.numel())])
        if over_processes is not None:
            stats = over_processes(stats)  # (2,)
        self.sign_sum += stats[0]
        self.sign_count += stats[1]

    def adjustment_due(self, d_step: int) -> bool:
        """Whether p is adjusted after the D step numbered `d_step` (from 0): the first and every
        `interval`-th after it, as StyleGAN2-ADA's loop does."""
        return d_step % self.interval == 0

    @torch.no_grad()
    def adjust(self, images_per_step: int) -> None:
        """r_t from the statistics since the last adjustment; p moved by the controller (when
        adaptive) by `interval * images_per_step / (speed_kimg * 1000)`; the statistics reset.
        `images_per_step`: the real images of one D step over all processes."""
        measured = self.sign_count > 0  # on the device: no wait for it
        self.rt.copy_(torch.where(measured, self.sign_sum / self.sign_count.clamp(min=1), self.rt))
        if self.adaptive:
            step = self.interval * images_per_step / (self.speed_kimg * 1000)
            moved = (self.p + torch.sign(self.rt - self.target) * step).clamp(0, 1)
            self.p.copy_(torch.where(measured, moved, self.p))
        self.sign_sum.zero_()
        self.sign_count.zero_()

    def extra_repr(self) -> str:
        mode = f"adaptive, target={self.target}" if self.adaptive else "fixed"
        return f"transforms={','.join(self.names)}, p={float(self.p):.4g} ({mode})"
