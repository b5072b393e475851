"""Mode metrics of 2-D mixtures, as Unrolled GAN, VEEGAN and PacGAN report them.

A sample is *high quality* when it lies within 3 standard deviations of its nearest mode's
centre, and is then registered to that mode; a mode is *captured* when at least `min_samples` (20
of PacGAN's 2,500) high-quality samples are registered to it. `mode_kl` is the KL divergence of the
registered samples' mode histogram to the uniform over the modes (ln K when none is high quality).
"""

from __future__ import annotations

import math

import torch

from gan.data.mixtures import SCALES, STDS, mixture_centres

MIN_SAMPLES = 20  # per 2,500 samples


def register(points: torch.Tensor, kind: str) -> torch.Tensor:
    """Each point's mode (N,), or -1 where it is not within 3 std of any; points (N, 2, 1, 1) or
    (N, 2) in the [-1, 1] box."""
    xy = points.reshape(len(points), 2).double() * SCALES[kind]  # data units
    distances = torch.cdist(xy, mixture_centres(kind))  # (N, K)
    nearest, mode = distances.min(dim=1)
    return torch.where(nearest <= 3 * STDS[kind], mode, torch.full_like(mode, -1))


def mixture_statistics(modes: torch.Tensor, kind: str, num_samples: int) -> dict[str, float]:
    """From each sample's registered mode (-1: none): modes captured, the high-quality share and
    the KL of the high-quality samples' modes to uniform. `min_samples` scales with the count."""
    num_modes = len(mixture_centres(kind))
    good = modes[modes >= 0]
    counts = torch.bincount(good, minlength=num_modes).double()
    threshold = max(1, round(MIN_SAMPLES * num_samples / 2500))
    if len(good) == 0:
        kl = math.log(num_modes)
    else:
        shares = counts / counts.sum()
        nonzero = shares[shares > 0]
        kl = float((nonzero * (nonzero * num_modes).log()).sum())
    return {
        "modes_captured": float((counts >= threshold).sum()),
        "high_quality": len(good) / max(1, len(modes)),
        "mode_kl": kl,
    }
