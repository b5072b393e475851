"""Mode metrics of 2-D mixtures, as Unrolled GAN, VEEGAN and PacGAN report them.

A sample is *high quality* when it lies within 3 standard deviations of its nearest mode's
centre, and is then registered to that mode. `modes_captured` counts the modes with at least one
high-quality sample registered to them: VEEGAN's definition ("the number of mixture components
whose mean is nearest to at least one high quality sample", Srivastava et al. 2017), which
PacGAN's Table 1 follows and its released code computes (`mode coverage` in
synthetic_data_experiments/PacGAN/pacgan/extensions.py: the modes with a nonzero count), both on
2,500 samples. `modes_captured_20` is a stricter count, the modes with at least 20 of every 2,500
samples (a fifth of a mode's share on the grid), which this project reported before it followed
the papers' rule: it tells a mode the generator really draws from one touched by a few strays.
`mode_kl` is the KL divergence of the registered samples' mode histogram to the uniform over the
modes (ln K when none is high quality): PacGAN's reverse KL.
"""

from __future__ import annotations

import math

import torch

from gan.data.mixtures import SCALES, STDS, mixture_centres

STRICT_MIN_SAMPLES = 20  # per 2,500 samples, for modes_captured_20


def register(points: torch.Tensor, kind: str) -> torch.Tensor:
    """Each point's mode (N,), or -1 where it is not within 3 std of any; points (N, 2, 1, 1) or
    (N, 2) in the [-1, 1] box."""
    xy = points.reshape(len(points), 2).double() * SCALES[kind]  # data units
    distances = torch.cdist(xy, mixture_centres(kind))  # (N, K)
    nearest, mode = distances.min(dim=1)
    return torch.where(nearest <= 3 * STDS[kind], mode, torch.full_like(mode, -1))


def mixture_statistics(modes: torch.Tensor, kind: str, num_samples: int) -> dict[str, float]:
    """From each sample's registered mode (-1: none): modes captured (by the papers' rule, and by
    the stricter one, whose 20 of 2,500 scales with the count), the high-quality share and the KL
    of the high-quality samples' modes to uniform."""
    num_modes = len(mixture_centres(kind))
    good = modes[modes >= 0]
    counts = torch.bincount(good, minlength=num_modes).double()
    threshold = max(1, round(STRICT_MIN_SAMPLES * num_samples / 2500))
    if len(good) == 0:
        kl = math.log(num_modes)
    else:
        shares = counts / counts.sum()
        nonzero = shares[shares > 0]
        kl = float((nonzero * (nonzero * num_modes).log()).sum())
    return {
        "modes_captured": float((counts >= 1).sum()),
        "modes_captured_20": float((counts >= threshold).sum()),
        "high_quality": len(good) / max(1, len(modes)),
        "mode_kl": kl,
    }
