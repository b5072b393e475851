"""MNIST metrics of a generator against real digits, on the project classifier's features.

`reference_statistics` embeds a set of real images once and caches the result on disk, keyed by a
hash of the images and of the classifier weights; `evaluate_images` scores any image set against
it; `generate_images` draws a fixed, seeded sample set from a model (for a conditional one, with
the class mix of the reference split).
"""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import torch

from gan.atomic import save_torch
from gan.data import as_unit_range
from gan.metrics.classifier import WEIGHTS_SHA256, Embedding, MNISTClassifier, embed
from gan.metrics.scores import (
    class_statistics,
    frechet_distance,
    inception_score,
    kernel_distance,
    precision_recall,
)

METRICS = ("fid_mnist", "kid_mnist", "is_mnist", "classes", "precision_recall")


def cached(
    name: str, images: torch.Tensor, weights_sha256: str, compute, cache_dir: str | Path | None
) -> dict[str, torch.Tensor]:
    """`compute(images)` (a dict of tensors), cached in `cache_dir` as
    `<name>-<images hash>-<weights hash>.pt`: computed once per data set and extractor."""
    if cache_dir is None:
        return compute(images)
    data_hash = hashlib.sha256(images.to(torch.float32).numpy().tobytes()).hexdigest()
    path = Path(cache_dir) / f"{name}-{data_hash[:16]}-{weights_sha256[:16]}.pt"
    if path.is_file():
        try:
            return torch.load(path, weights_only=True)
        except Exception as error:  # a damaged file: say which, and compute it again
            warnings.warn(
                f"cache file {path} is unreadable ({type(error).__name__}); deleted and recomputed",
                stacklevel=2,
            )
            path.unlink(missing_ok=True)
    result = compute(images)
    save_torch(result, path)  # whole or not at all: processes may share the cache
    return result


def reference_statistics(
    classifier: MNISTClassifier,
    images: torch.Tensor,
    cache_dir: str | Path | None = None,
    weights_sha256: str = WEIGHTS_SHA256,
) -> Embedding:
    """The embedding of real `images` (uint8 (N, 28, 28) or float in [-1, 1]), computed once and
    cached in `cache_dir` under a key made of the images' and the weights' hashes."""

    def compute(x: torch.Tensor) -> dict[str, torch.Tensor]:
        embedding = embed(classifier, x)
        return {"features": embedding.features, "probabilities": embedding.probabilities}

    result = cached("mnist", as_unit_range(images), weights_sha256, compute, cache_dir)
    return Embedding(result["features"], result["probabilities"])


def evaluate_images(
    classifier: MNISTClassifier,
    images: torch.Tensor,
    reference: Embedding,
    metrics: tuple[str, ...] | list[str] = METRICS,
    k: int = 3,
) -> dict[str, float]:
    """Score images (N, 1, 28, 28) in [-1, 1] against the reference embedding.

    Keys: fid_mnist; kid_mnist and kid_mnist_std; is_mnist and is_mnist_std; classes_covered and
    class_kl (with "classes"); precision and recall (with "precision_recall", k-NN with `k`).
    """
    unknown = set(metrics) - set(METRICS)
    if unknown:
        raise ValueError(f"unknown metrics {sorted(unknown)}; choose from {list(METRICS)}")
    generated = embed(classifier, images)
    results: dict[str, float] = {}
    if "fid_mnist" in metrics:
        results["fid_mnist"] = frechet_distance(generated.features, reference.features)
    if "kid_mnist" in metrics:
        subset = min(1000, len(images), len(reference.features))
        results["kid_mnist"], results["kid_mnist_std"] = kernel_distance(
            generated.features, reference.features, subset_size=subset
        )
    if "is_mnist" in metrics:
        results["is_mnist"], results["is_mnist_std"] = inception_score(generated.probabilities)
    if "classes" in metrics:
        stats = class_statistics(generated.probabilities)
        results["classes_covered"] = stats["classes_covered"]
        results["class_kl"] = stats["class_kl"]
    if "precision_recall" in metrics:
        results["precision"], results["recall"] = precision_recall(
            reference.features, generated.features, k
        )
    return results


def labels_like(
    reference_labels: torch.Tensor | None, n: int, num_classes: int, seed: int = 0
) -> torch.Tensor:
    """`n` class labels (n,) in the proportions of `reference_labels` (equal shares without):
    each class gets its share of `n` rounded down, the largest remainders one more, and the
    order is shuffled by `seed`. MNIST's digits are 8.9% to 11.4% of a split, so a conditional
    model is scored on the class mix of the data it is compared with."""
    if reference_labels is None:
        counts = torch.ones(num_classes, dtype=torch.float64)
    else:
        counts = torch.bincount(reference_labels.long(), minlength=num_classes).double()
    share = counts / counts.sum() * n
    allotted = share.floor().long()
    largest_remainders = (share - allotted).argsort(descending=True, stable=True)
    allotted[largest_remainders[: n - int(allotted.sum())]] += 1
    labels = torch.repeat_interleave(torch.arange(num_classes), allotted)  # (n,)
    return labels[torch.randperm(n, generator=torch.Generator().manual_seed(seed))]


@torch.no_grad()
def generate_images(
    model,
    n: int,
    seed: int = 0,
    batch_size: int = 500,
    reference_labels: torch.Tensor | None = None,
) -> torch.Tensor:
    """`n` images (n, 1, 28, 28) in [-1, 1] from `model.generate` (the EMA generator when there
    is one), from noise of their own seeded RNG so that training's RNGs are left untouched.
    Conditional models get labels in the proportions of `reference_labels` (see labels_like)."""
    generator = torch.Generator().manual_seed(seed)
    z = torch.randn(n, model.latent_dim, generator=generator)
    labels = None
    if model.num_classes:
        labels = labels_like(reference_labels, n, model.num_classes, seed)
    chunks = [
        model.generate(
            z[i : i + batch_size], labels[i : i + batch_size] if labels is not None else None
        ).cpu()
        for i in range(0, n, batch_size)
    ]
    return torch.cat(chunks)
