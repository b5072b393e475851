"""Augmentations of every image D sees, real or generated: DiffAugment (fixed transforms) and ADA
(StyleGAN2-ADA's pipeline with the probability controller)."""

from gan.augment.ada import AdaptiveAugment
from gan.augment.diffaugment import POLICIES, TRANSFORMS, DiffAugment, color, cutout, translation

__all__ = [
    "POLICIES", "TRANSFORMS", "AdaptiveAugment", "DiffAugment", "color", "cutout", "translation",
]  # fmt: skip
