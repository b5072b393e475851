"""Feature spaces: where generated images are compared with real ones, one per kind of data.

- `mnist`, `fashion`: the project's classifier of that data set: 128-d features (FID, KID,
  precision/recall) and class probabilities (IS, classes covered, class KL).
- `stacked_mnist`: the MNIST classifier on each of the three channels; the three digits give
  the image's mode (100 d_R + 10 d_G + d_B): modes covered and mode KL.
- `inception`: Inception-v3's 2048-d pool features (FID, KID, precision/recall), for CIFAR-10
  and folders of images.

Metric kinds: `fid`, `kid`, `is`, `classes`, `precision_recall`, `modes`. Names carry the space
(`fid_mnist`, `fid_fashion`, `fid_inception`, `is_mnist`, ...); `precision`, `recall`,
`classes_covered`, `class_kl`, `modes_covered` and `mode_kl` are read in the data set's own space.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import torch

from gan.metrics.classifier import CLASSIFIERS, Embedding, embed, load_named_classifier

NUM_STACKED_MODES = 1000


@dataclass
class FeatureSpace:
    """A feature extractor, what it supports, and the hash that identifies its weights."""

    name: str
    embed: Callable[[torch.Tensor], Embedding]  # images (N, C, H, W) in [-1, 1] -> Embedding
    metrics: tuple[str, ...]
    weights_sha256: str
    source: str = ""
    variant: str = ""  # how images are prepared (Inception: the resize convention), in cache names

    def classify(self, images: torch.Tensor) -> torch.Tensor | None:
        """Each image's class or mode (N,), or None where the space has no classes."""
        embedding = self.embed(images)
        if embedding.modes is not None:
            return embedding.modes
        if embedding.probabilities is not None:
            return embedding.probabilities.argmax(dim=1)
        return None

    @property
    def num_classes(self) -> int | None:
        if "modes" in self.metrics:
            return NUM_STACKED_MODES
        return 10 if "classes" in self.metrics else None


def _classifier_space(name: str, device: str | torch.device) -> FeatureSpace:
    classifier = load_named_classifier(name, device)
    path, sha256, _ = CLASSIFIERS[name]
    return FeatureSpace(
        name, lambda images: embed(classifier, images),
        ("fid", "kid", "is", "classes", "precision_recall"), sha256, str(path),
    )  # fmt: skip


def _stacked_space(device: str | torch.device) -> FeatureSpace:
    classifier = load_named_classifier("mnist", device)
    _, sha256, _ = CLASSIFIERS["mnist"]

    def embed_stacks(images: torch.Tensor) -> Embedding:
        # (N, 3, 28, 28): each channel a digit; its classification is a digit of the mode.
        digits = [embed(classifier, images[:, c : c + 1]) for c in range(3)]
        modes = sum(
            10 ** (2 - c) * digit.probabilities.argmax(dim=1) for c, digit in enumerate(digits)
        )
        features = torch.cat([digit.features for digit in digits], dim=1)  # (N, 384)
        return Embedding(features, modes=modes)

    return FeatureSpace("stacked_mnist", embed_stacks, ("modes",), sha256, "MNIST classifier x 3")


def _inception_space(device: str | torch.device, resize: str, quantize: bool) -> FeatureSpace:
    from gan.metrics.inception import load_inception

    inception = load_inception(device)
    inception.resize, inception.quantize = resize, quantize
    return FeatureSpace(
        "inception", lambda images: Embedding(inception(images)),
        ("fid", "kid", "precision_recall"), inception.sha256, inception.source,
        inception.variant,
    )  # fmt: skip


def _mixture_space(kind: str) -> FeatureSpace:
    """2-D points: their coordinates are the features; each registered to a mode or to none."""
    from gan.metrics.mixtures import register

    return FeatureSpace(
        kind, lambda points: Embedding(points.reshape(len(points), 2).float(),
                                       modes=register(points, kind)),
        ("mixture",), hashlib.sha256(f"mixture {kind}".encode()).hexdigest(),
        f"the {kind} mixture's modes (gan.data.mixtures)",
    )  # fmt: skip


FEATURE_SPACES = ("mnist", "fashion", "stacked_mnist", "inception", "ring8", "grid25")


def load_feature_space(
    name: str,
    device: str | torch.device = "cpu",
    resize: str = "tf1_bilinear",
    quantize: bool = True,
) -> FeatureSpace:
    """The feature space `name` (one of FEATURE_SPACES), its weights loaded on `device`; for
    Inception, how images are prepared (`resize`: a convention of gan.metrics.resize)."""
    if name in ("mnist", "fashion"):
        return _classifier_space(name, device)
    if name == "stacked_mnist":
        return _stacked_space(device)
    if name == "inception":
        return _inception_space(device, resize, quantize)
    if name in ("ring8", "grid25"):
        return _mixture_space(name)
    raise ValueError(f"feature_space={name!r}: choose one of {FEATURE_SPACES}")
