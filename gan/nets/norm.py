"""Normalisation choices for generators and discriminators.

Discriminator: `batch` (BatchNorm, DCGAN), `spectral` (spectral normalisation of every weight,
Miyato et al. 2018, no feature normalisation), `layer` (normalise each sample over its features,
safe with gradient penalties), `none`. Generator: `batch`, `none`.
"""

from __future__ import annotations

from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

D_NORMS = ("batch", "spectral", "layer", "none")
G_NORMS = ("batch", "none")


def check_norm(norm: str, allowed: tuple[str, ...], owner: str) -> str:
    if norm not in allowed:
        raise ValueError(f"norm={norm!r} is not available for the {owner}; choose one of {allowed}")
    return norm


def feature_norm(norm: str, features: int, spatial: bool = True) -> nn.Module:
    """The normalisation layer after a conv (spatial) or linear layer; Identity when the choice
    normalises weights instead (`spectral`) or nothing (`none`)."""
    if norm == "batch":
        return nn.BatchNorm2d(features) if spatial else nn.BatchNorm1d(features)
    if norm == "layer":  # over (C, H, W) of each sample: GroupNorm with one group
        return nn.GroupNorm(1, features) if spatial else nn.LayerNorm(features)
    return nn.Identity()


def apply_spectral_norm(module: nn.Module) -> nn.Module:
    """Spectral normalisation on every conv and linear weight of `module` (in place)."""
    for child in list(module.modules()):
        if isinstance(child, nn.Conv2d | nn.ConvTranspose2d | nn.Linear):
            spectral_norm(child)
    return module


def has_batch_norm(module: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in module.modules())
