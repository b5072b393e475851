"""Score one set of images against another in a feature space: `gan.eval fake=... real=...`.

Every metric the space supports (Inception: FID, KID, precision and recall, density and coverage;
the classifier spaces add IS and class coverage), each FID and KID named with its sample count
(`fid_inception_10k`), the real-data floor where the real set is a data set (its training images
against its test images), FID from statistics files, and FID extrapolated to infinitely many
samples on request.
"""

from __future__ import annotations

from gan.data import as_unit_range
from gan.metrics.classifier import Embedding
from gan.metrics.evaluate import evaluate_images, reference_statistics
from gan.metrics.image_sets import ImageSet, ImageSetError
from gan.metrics.scores import (
    density_coverage,
    feature_statistics,
    fid_infinity,
    fid_infinity_sizes,
    frechet_distance_of,
)
from gan.metrics.spaces import FeatureSpace

DENSITY_K = 5  # Naeem et al.'s k for density and coverage
CLASSIFIER_SPACES = {"mnist": 1, "fashion": 1, "stacked_mnist": 3}  # 28x28, these channels


def count_name(n: int) -> str:
    """10000 -> '10k', 2500 -> '2500': the sample count in a metric's name."""
    return f"{n // 1000}k" if n % 1000 == 0 and n >= 1000 else str(n)


def with_count(results: dict[str, float], space: str, n: int) -> dict[str, float]:
    """fid_<space> -> fid_<space>_<n>, and the same for kid and is (and their _std)."""
    renamed = {}
    for key, value in results.items():
        for kind in ("fid", "kid", "is"):
            prefix = f"{kind}_{space}"
            if key == prefix or key.startswith(prefix + "_"):
                key = f"{prefix}_{count_name(n)}{key[len(prefix) :]}"
                break
        renamed[key] = value
    return renamed


def check_fits_space(image_set: ImageSet, space: FeatureSpace, feature_size: int) -> None:
    """A statistics file must be of the space's features; images of a classifier space 28x28,
    grey for the MNIST and Fashion-MNIST classifiers and RGB stacks for Stacked MNIST's.
    (Inception takes any size, and sees grey images as RGB, as it sees every grey data set.)"""
    if image_set.statistics is not None:
        size = len(image_set.statistics[0])
        if size != feature_size:
            raise ImageSetError(
                f"{image_set.spec}: statistics of {size}-d features; the {space.name} space "
                f"gives {feature_size}-d ones (Inception pool features: 2048)"
            )
    elif space.name in CLASSIFIER_SPACES and tuple(image_set.images.shape[-2:]) != (28, 28):
        raise ImageSetError(
            f"{image_set.spec}: images of {tuple(image_set.images.shape[-2:])} pixels; the "
            f"{space.name} space takes 28x28 (use space=inception for other sizes)"
        )
    elif space.name in CLASSIFIER_SPACES and image_set.images.shape[1] != (
        channels := CLASSIFIER_SPACES[space.name]
    ):
        have, want = (("grey", "RGB")[c == 3] for c in (image_set.images.shape[1], channels))
        raise ImageSetError(
            f"{image_set.spec}: {have} images; the {space.name} space takes {want} ones "
            "(compare a grey set with an RGB one in space=inception, which sees grey as RGB)"
        )


def check_metrics_fit(real: ImageSet, metrics: list[str] | None) -> None:
    """A statistics file (a mean and a covariance) allows FID alone: other `metrics` are refused
    by name before anything is embedded, rather than dropped from the report."""
    if real.statistics is not None and metrics and (others := sorted(set(metrics) - {"fid"})):
        raise ImageSetError(
            f"{real.spec}: a statistics file allows FID only, not metrics {others}; give "
            "metrics=[fid] or real images (a folder, an image array or a data set's name)"
        )


def embed_set(space: FeatureSpace, image_set: ImageSet, cache_dir: str | None = None) -> Embedding:
    """The set's embedding; cached in `cache_dir` when given (for real sets only: generated ones,
    whether drawn from a checkpoint or read from files, are never cached)."""
    if cache_dir is None:
        return space.embed(as_unit_range(image_set.images))
    return reference_statistics(space, image_set.images, cache_dir)


def compare_sets(
    fake: ImageSet,
    fake_embedding: Embedding,
    real: ImageSet,
    space: FeatureSpace,
    cache_dir: str | None = None,
    k: int = 3,
    infinity: bool = False,
    seed: int = 0,
    metrics: list[str] | None = None,
    floor: bool = True,
) -> dict:
    """Scores of `fake` (embedded as `fake_embedding`) against `real` (and, with `floor`, of a
    data set's training images against the same real set), with the counts they were made of:
    `metrics` (gan.metrics.evaluate.METRICS) or every one the space supports. Real sets are
    cached in `cache_dir`."""
    feature_size = fake_embedding.features.shape[1]
    check_fits_space(real, space, feature_size)
    check_metrics_fit(real, metrics)
    n_fake = len(fake)
    report: dict = {"n_fake": n_fake, "feature_space": space.name}
    if real.statistics is not None:  # FID is all a mean and covariance allow
        fake_statistics = feature_statistics(fake_embedding.features)
        report["model"] = {
            f"fid_{space.name}_{count_name(n_fake)}": frechet_distance_of(
                fake_statistics, real.statistics
            )
        }
        report["n_real"] = None
        real_statistics = real.statistics
    else:
        if (fewest := min(n_fake, len(real))) <= max(k, DENSITY_K):
            raise ImageSetError(
                f"{fake.spec if n_fake == fewest else real.spec}: {fewest} images; the k-NN "
                f"metrics need more than {max(k, DENSITY_K)} in each set"
            )
        real_embedding = embed_set(space, real, cache_dir)
        report["n_real"] = len(real)
        report["model"] = score(space, fake_embedding, real_embedding, k, seed, metrics)
        report["model"] = with_count(report["model"], space.name, n_fake)
        if floor and real.second_real is not None:
            floor_set = ImageSet("floor", "dataset", real.second_real)
            floor_embedding = embed_set(space, floor_set, cache_dir)
            report["real_floor"] = with_count(
                score(space, floor_embedding, real_embedding, k, seed, metrics),
                space.name,
                n_fake,
            )
        real_statistics = feature_statistics(real_embedding.features)
    if infinity:
        report["model"] |= fid_infinity(fake_embedding.features, real_statistics, seed=seed)
        sizes = fid_infinity_sizes(n_fake)
        report["fid_infinity_fit"] = f"{len(sizes)} subset sizes, {sizes[0]:,} to {sizes[-1]:,}"
    return report


def score(
    space: FeatureSpace,
    fake: Embedding,
    real: Embedding,
    k: int,
    seed: int,
    metrics: list[str] | None = None,
) -> dict[str, float]:
    """`metrics` (default: every one the space supports), from embeddings; with precision and
    recall, density and coverage (k=5, the paper's, on the whole sets: the k-NN balls are the
    real set's only)."""
    results = evaluate_images(space, None, real, metrics, k, embedding=fake)
    if "precision_recall" in (metrics or space.metrics):
        results["density"], results["coverage"] = density_coverage(
            real.features, fake.features, k=DENSITY_K
        )
    return results
