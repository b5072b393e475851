"""Metrics of a generator against real images, in the data set's feature space (gan.metrics.spaces).

`reference_statistics` embeds a set of real images once and caches the result on disk, keyed by a
hash of the images and of the extractor's weights; `evaluate_images` scores any image set against
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
from gan.metrics.classifier import Embedding
from gan.metrics.mixtures import mixture_statistics
from gan.metrics.scores import (
    class_statistics,
    frechet_distance,
    inception_score,
    kernel_distance,
    mode_statistics,
    precision_recall,
)
from gan.metrics.spaces import FeatureSpace
from gan.module import truncated

METRICS = ("fid", "kid", "is", "classes", "precision_recall", "modes", "mixture")


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
    space: FeatureSpace, images: torch.Tensor, cache_dir: str | Path | None = None
) -> Embedding:
    """The embedding of real `images` (uint8 (N, C, H, W), or float in [-1, 1]) in `space`,
    computed once and cached in `cache_dir` under a key made of the images' and the weights'
    hashes."""

    def compute(x: torch.Tensor) -> dict[str, torch.Tensor]:
        embedding = space.embed(x)
        fields = ("features", "probabilities", "modes")
        return {f: getattr(embedding, f) for f in fields if getattr(embedding, f) is not None}

    # The MNIST space keeps its old cache name, so caches made before stay valid.
    name = "mnist" if space.name == "mnist" else f"space_{space.name}"
    name += f"_{space.variant}" if space.variant else ""
    result = cached(name, as_unit_range(images), space.weights_sha256, compute, cache_dir)
    return Embedding(result.get("features"), result.get("probabilities"), result.get("modes"))


def check_metrics(space: FeatureSpace, metrics: tuple[str, ...] | list[str] | None) -> list[str]:
    """The metric kinds to compute: all the space supports when `metrics` is None."""
    if metrics is None:
        return list(space.metrics)
    if unknown := sorted(set(metrics) - set(space.metrics)):
        raise ValueError(
            f"metrics {unknown} are not available in the {space.name} feature space; choose "
            f"from {list(space.metrics)}"
        )
    return list(metrics)


def evaluate_images(
    space: FeatureSpace,
    images: torch.Tensor | None,
    reference: Embedding,
    metrics: tuple[str, ...] | list[str] | None = None,
    k: int = 3,
    embedding: Embedding | None = None,
) -> dict[str, float]:
    """Score images (N, C, H, W) in [-1, 1] (or their `embedding`, already made) against the
    reference embedding, in `space`.

    Keys: fid_<space>; kid_<space> and kid_<space>_std; is_<space> and is_<space>_std;
    classes_covered and class_kl (with "classes"); precision and recall (with
    "precision_recall", k-NN with `k`); modes_covered and mode_kl (with "modes").
    """
    metrics = check_metrics(space, metrics)
    generated = embedding if embedding is not None else space.embed(images)
    n = len(generated.features)
    name = space.name
    results: dict[str, float] = {}
    if "fid" in metrics:
        results[f"fid_{name}"] = frechet_distance(generated.features, reference.features)
    if "kid" in metrics:
        subset = min(1000, n, len(reference.features))
        results[f"kid_{name}"], results[f"kid_{name}_std"] = kernel_distance(
            generated.features, reference.features, subset_size=subset
        )
    if "is" in metrics:
        results[f"is_{name}"], results[f"is_{name}_std"] = inception_score(generated.probabilities)
    if "classes" in metrics:
        stats = class_statistics(generated.probabilities)
        results["classes_covered"] = stats["classes_covered"]
        results["class_kl"] = stats["class_kl"]
    if "precision_recall" in metrics:
        results["precision"], results["recall"] = precision_recall(
            reference.features, generated.features, k
        )
    if "modes" in metrics:
        results |= mode_statistics(generated.modes, space.num_classes)
    if "mixture" in metrics:  # 2-D mixtures: modes captured, high-quality share, mode KL
        results |= mixture_statistics(generated.modes, space.name, n)
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
    truncation_psi: float = 1.0,
    truncation_cutoff: int | None = None,
) -> torch.Tensor:
    """`n` images (n, 1, 28, 28) in [-1, 1] from `model.generate` (the EMA generator when there
    is one), from noise of their own seeded RNG so that training's RNGs are left untouched.
    Conditional models get labels in the proportions of `reference_labels` (see labels_like).
    `truncation_psi` < 1: StyleGAN2's truncation (see gan.module.GAN.generate)."""
    truncation = truncated(truncation_psi, truncation_cutoff)
    generator = torch.Generator().manual_seed(seed)
    z = torch.randn(n, model.latent_dim, generator=generator)
    labels = None
    if model.num_classes:
        labels = labels_like(reference_labels, n, model.num_classes, seed)
    chunks = [
        model.generate(
            z[i : i + batch_size],
            labels[i : i + batch_size] if labels is not None else None,
            **truncation,
        ).cpu()
        for i in range(0, n, batch_size)
    ]
    return torch.cat(chunks)
