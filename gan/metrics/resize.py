"""Resizing images to Inception's 299x299: the conventions of the reference FID implementations.

FID depends on how images are resized before Inception sees them (on 28x28 digits the choices
below differ by 17% in per-image features and more in FID: docs/evaluation.md), so each is offered
by name and follows its reference exactly:

- `tf1_bilinear` (the default): TensorFlow 1's `tf.image.resize_bilinear` with its defaults
  (`align_corners=False`, no half-pixel centres). Output pixel i samples the source at
  i * in / out, between the two pixels around it, the second clamped at the edge. This is what
  TTUR's original TensorFlow FID code does inside its graph, what StyleGAN2-ADA's TorchScript
  Inception reproduces (an affine grid shifted to those positions, border padding), what
  torch-fidelity computes (`interpolate_bilinear_2d_like_tensorflow1x`) and clean-fid's
  `legacy_tensorflow` mode: the convention behind the FIDs papers report.
- `pytorch_fid`: torch's bilinear interpolation with half-pixel centres
  (`F.interpolate(mode="bilinear", align_corners=False)`), pytorch-fid's.
- `clean_fid`: PIL's bicubic filter on each channel in float mode, then clipped to [0, 255], as
  clean-fid's `clean` mode (Parmar et al. 2022) does; it rounds nothing after the resize.

Every function takes pixels (B, C, H, W) as floats in [0, 255] and returns (B, C, size, size).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

RESIZES = ("tf1_bilinear", "pytorch_fid", "clean_fid")
# The names this option had before the conventions were named after their references; the
# default one meant pytorch-fid's resize, so neither is quietly mapped to a new meaning.
RENAMED = {"bilinear": "pytorch_fid", "pil_bicubic": "clean_fid"}


def check_resize(how: str) -> str:
    """`how` if it names a convention; otherwise a ValueError naming the accepted ones."""
    if how in RESIZES:
        return how
    hint = ""
    if how in RENAMED:
        hint = f" ({how!r} is now {RENAMED[how]!r}; the default is tf1_bilinear, TF1's legacy one)"
    raise ValueError(f"inception_resize={how!r} is invalid: choose one of {RESIZES}{hint}")


def tf1_bilinear_weights(n_in: int, n_out: int) -> torch.Tensor:
    """The (n_out, n_in) matrix of TF1's legacy bilinear resize along one axis: row i holds
    1 - f at floor(s) and f at min(floor(s) + 1, n_in - 1), where s = i * (n_in / n_out) and
    f = s - floor(s), computed in float32 as TensorFlow's kernel computes them (its positions
    round differently from exact ones when shrinking, by up to 0.004 of a pixel value)."""
    scale = torch.tensor(n_in / n_out, dtype=torch.float32)
    source = torch.arange(n_out, dtype=torch.float32) * scale  # (n_out,)
    low = source.floor()
    fraction = (source - low).double()
    low = low.long()
    high = (low + 1).clamp(max=n_in - 1)
    rows = torch.arange(n_out)
    weights = torch.zeros(n_out, n_in, dtype=torch.float64)
    weights.index_put_((rows, low), 1 - fraction, accumulate=True)
    weights.index_put_((rows, high), fraction, accumulate=True)
    return weights


def tf1_bilinear(pixels: torch.Tensor, size: int = 299) -> torch.Tensor:
    """TF1's legacy bilinear resize: separable, so one matrix per axis."""
    height, width = pixels.shape[-2:]
    rows = tf1_bilinear_weights(height, size).to(pixels)  # (size, H)
    columns = tf1_bilinear_weights(width, size).to(pixels)  # (size, W)
    return rows @ pixels @ columns.T  # (B, C, size, size)


def pytorch_fid(pixels: torch.Tensor, size: int = 299) -> torch.Tensor:
    """pytorch-fid's resize: torch's bilinear interpolation with half-pixel centres."""
    return F.interpolate(pixels, size=(size, size), mode="bilinear", align_corners=False)


def clean_fid(pixels: torch.Tensor, size: int = 299) -> torch.Tensor:
    """clean-fid's resize: PIL's bicubic per channel on float pixels, clipped to [0, 255]
    (bicubic overshoots near sharp edges: MNIST strokes reach -34 and 291 unclipped)."""
    planes = pixels.detach().float().cpu().numpy()
    out = np.empty((*planes.shape[:2], size, size), dtype=np.float32)
    for i, image in enumerate(planes):
        for c, plane in enumerate(image):
            resized = Image.fromarray(plane, mode="F").resize(
                (size, size), Image.Resampling.BICUBIC
            )
            out[i, c] = np.asarray(resized).clip(0, 255)
    return torch.from_numpy(out).to(pixels.device)


def resize(pixels: torch.Tensor, how: str = "tf1_bilinear", size: int = 299) -> torch.Tensor:
    """Pixels (B, C, H, W) in [0, 255] -> (B, C, size, size), by the convention `how`."""
    convention = {"tf1_bilinear": tf1_bilinear, "pytorch_fid": pytorch_fid, "clean_fid": clean_fid}
    return convention[check_resize(how)](pixels, size)
