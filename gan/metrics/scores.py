"""Sample-quality scores computed from features and class probabilities of a fixed extractor.

All take plain tensors, so the same code serves the MNIST classifier's 128-d features and
Inception's 2048-d ones. Statistics are computed in float64.
"""

from __future__ import annotations

import torch


def _mean_and_covariance(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    x = features.detach().to(torch.float64)  # (N, D)
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f"expected a feature matrix (N >= 2, D), got {tuple(features.shape)}")
    mean = x.mean(dim=0)
    centred = x - mean
    return mean, centred.T @ centred / (len(x) - 1)


def _without_round_off(eigenvalues: torch.Tensor) -> torch.Tensor:
    """Eigenvalues of a PSD matrix with those below round-off (relative to the largest) set to 0:
    the square root would turn each 1e-16 into a 1e-8 and, summed over thousands of dimensions,
    bias a rank-deficient FID."""
    tolerance = eigenvalues.abs().max() * len(eigenvalues) * torch.finfo(eigenvalues.dtype).eps
    return torch.where(eigenvalues > tolerance, eigenvalues, torch.zeros_like(eigenvalues))


def feature_statistics(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The mean (D,) and covariance (D, D) of a feature matrix (N, D), in float64: what
    pytorch-fid saves as `mu` and `sigma`."""
    return _mean_and_covariance(features)


def frechet_distance(feats_a: torch.Tensor, feats_b: torch.Tensor) -> float:
    """Fréchet distance between Gaussians fitted to two feature matrices (N, D) and (M, D)."""
    if feats_a.shape[1] != feats_b.shape[1]:
        raise ValueError(f"feature sizes differ: {feats_a.shape[1]} and {feats_b.shape[1]}")
    return frechet_distance_of(_mean_and_covariance(feats_a), _mean_and_covariance(feats_b))


def frechet_distance_of(
    statistics_a: tuple[torch.Tensor, torch.Tensor], statistics_b: tuple[torch.Tensor, torch.Tensor]
) -> float:
    """Fréchet distance between two Gaussians given as (mean, covariance):
    ||mu_a - mu_b||^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2)), in float64.

    tr((S_a S_b)^(1/2)) = tr((S_a^(1/2) S_b S_a^(1/2))^(1/2)): the square roots of the eigenvalues
    of a symmetric positive semi-definite matrix, which `eigvalsh` computes stably even when the
    covariances are singular (fewer samples than dimensions); round-off below 0 is clipped.
    """
    (mean_a, cov_a), (mean_b, cov_b) = (
        (mean.to(torch.float64), cov.to(torch.float64))
        for mean, cov in (statistics_a, statistics_b)
    )
    if mean_a.shape != mean_b.shape or cov_a.shape != cov_b.shape:
        raise ValueError(f"feature sizes differ: {tuple(mean_a.shape)} and {tuple(mean_b.shape)}")
    values, vectors = torch.linalg.eigh(cov_a)
    sqrt_a = (vectors * _without_round_off(values).sqrt()) @ vectors.T
    middle = sqrt_a @ cov_b @ sqrt_a
    trace_sqrt = _without_round_off(torch.linalg.eigvalsh((middle + middle.T) / 2)).sqrt().sum()
    distance = (mean_a - mean_b).pow(2).sum() + cov_a.trace() + cov_b.trace() - 2 * trace_sqrt
    return float(distance)


# Chong & Forsyth's range: FID of subsets of 5,000 to 50,000 samples, extrapolated in 1/N. Below
# it the straight line in 1/N no longer holds (at 1,000 samples in 512 dimensions the fit of a
# Gaussian against itself, true FID 0, goes negative), so a set too small to fit within it is
# refused: it must hold twice the smallest subset, for sizes from 5,000 to at least 10,000.
FID_INFINITY_SMALLEST = 5_000
FID_INFINITY_MIN_SAMPLES = 2 * FID_INFINITY_SMALLEST


def check_fid_infinity_samples(n: int) -> None:
    """A ValueError naming `n` unless FID∞ can be fitted within its method's range."""
    if n < FID_INFINITY_MIN_SAMPLES:
        raise ValueError(
            f"fid_infinity with {n:,} samples: FID∞ is fitted on subsets of "
            f"{FID_INFINITY_SMALLEST:,} to 50,000 samples (Chong & Forsyth 2020), so it needs "
            f"at least {FID_INFINITY_MIN_SAMPLES:,} (n_samples, or the fake set's size)"
        )


def fid_infinity_sizes(n: int, points: int = 15) -> list[int]:
    """The subset sizes FID∞ fits on: `points` sizes evenly spaced from 5,000 to `n`."""
    check_fid_infinity_samples(n)
    return torch.linspace(FID_INFINITY_SMALLEST, n, points).long().unique().tolist()


def fid_infinity(
    fake_features: torch.Tensor,
    real_statistics: tuple[torch.Tensor, torch.Tensor],
    points: int = 15,
    seed: int = 0,
) -> dict[str, float]:
    """FID extrapolated to infinitely many samples (Chong & Forsyth 2020, "Effectively Unbiased
    FID and Inception Score and where to find them"), as their code computes it: FID of random
    subsets of `points` sizes evenly spaced from 5,000 to all N samples (their N: 50,000), a
    straight line fitted to FID against 1/N, its value at 1/N = 0. Also returns the slope (FID
    points per 1/N). Refuses fewer than 10,000 samples (see above)."""
    n = len(fake_features)
    sizes = torch.tensor(fid_infinity_sizes(n, points))
    generator = torch.Generator().manual_seed(seed)
    fids = []
    for size in sizes.tolist():
        chosen = torch.randperm(n, generator=generator)[:size]
        fids.append(
            frechet_distance_of(_mean_and_covariance(fake_features[chosen]), real_statistics)
        )
    x = 1.0 / sizes.double()  # (P,)
    design = torch.stack([torch.ones_like(x), x], dim=1)  # (P, 2)
    intercept, slope = torch.linalg.lstsq(
        design, torch.tensor(fids, dtype=torch.float64)[:, None]
    ).solution[:, 0]
    return {"fid_infinity": float(intercept), "fid_infinity_slope": float(slope)}


def kernel_distance(
    feats_a: torch.Tensor,
    feats_b: torch.Tensor,
    num_subsets: int = 100,
    subset_size: int = 1000,
    seed: int = 0,
) -> tuple[float, float]:
    """KID (Bińkowski et al. 2018): the unbiased MMD^2 with the cubic polynomial kernel
    k(x, y) = (x.y / D + 1)^3, averaged over random subsets; returns (mean, std over subsets)."""
    a, b = feats_a.to(torch.float64), feats_b.to(torch.float64)
    m = min(subset_size, len(a), len(b))
    if m < 2:
        raise ValueError("KID needs at least 2 samples in each set")
    generator = torch.Generator().manual_seed(seed)
    dim = a.shape[1]
    estimates = []
    for _ in range(num_subsets):
        x = a[torch.randperm(len(a), generator=generator)[:m]]
        y = b[torch.randperm(len(b), generator=generator)[:m]]
        k_xx = (x @ x.T / dim + 1) ** 3
        k_yy = (y @ y.T / dim + 1) ** 3
        k_xy = (x @ y.T / dim + 1) ** 3
        off_diagonal = (k_xx.sum() - k_xx.trace() + k_yy.sum() - k_yy.trace()) / (m * (m - 1))
        estimates.append(off_diagonal - 2 * k_xy.mean())
    values = torch.stack(estimates)
    return float(values.mean()), float(values.std()) if num_subsets > 1 else 0.0


def inception_score(probabilities: torch.Tensor, splits: int = 10) -> tuple[float, float]:
    """IS (Salimans et al. 2016): exp(E_x KL(p(y|x) || p(y))), mean and standard deviation over
    `splits` parts, exactly as their code computes them: part i is rows i N // splits to
    (i + 1) N // splits (so there are always `splits` parts), p(y) is each part's own mean, and
    the spread is np.std's (the biased one, dividing by `splits`). From 1 (every sample the same
    class, or every prediction uniform) to the number of classes."""
    n = len(probabilities)
    if not 1 <= splits <= n:
        raise ValueError(f"splits={splits}: must be between 1 and the {n} samples")
    p = probabilities.to(torch.float64).clamp(min=1e-12)  # (N, classes); 0 log 0 -> 0
    scores = []
    for i in range(splits):
        part = p[i * n // splits : (i + 1) * n // splits]
        marginal = part.mean(dim=0, keepdim=True)
        kl = (part * (part.log() - marginal.log())).sum(dim=1).mean()
        scores.append(kl.exp())
    values = torch.stack(scores)
    return float(values.mean()), float(values.std(correction=0))


def class_statistics(
    probabilities: torch.Tensor, min_share: float = 0.01
) -> dict[str, float | list[float]]:
    """From class probabilities (N, C): the histogram of predicted classes (shares), the number of
    classes covered (predicted for at least `min_share` of the samples: 1% by default, a tenth of a
    class's uniform share for MNIST, so a classifier's stray errors do not count as coverage) and
    KL(predicted class distribution || uniform), 0 for perfectly balanced samples, ln C for one
    class."""
    num_classes = probabilities.shape[1]
    counts = torch.bincount(probabilities.argmax(dim=1), minlength=num_classes).to(torch.float64)
    shares = counts / counts.sum()
    nonzero = shares[shares > 0]
    kl = float((nonzero * (nonzero * num_classes).log()).sum())
    return {
        "class_histogram": shares.tolist(),
        "classes_covered": float((shares >= min_share).sum()),
        "class_kl": kl,
    }


def mode_statistics(modes: torch.Tensor, num_modes: int) -> dict[str, float]:
    """From each sample's mode (N,): `modes_covered`, the modes with at least one sample, and
    `mode_kl` = KL(generated mode distribution || uniform over `num_modes`), 0 when every mode
    has its share, ln(num_modes) for one mode (as PacGAN and VEEGAN report them)."""
    counts = torch.bincount(modes.long(), minlength=num_modes).to(torch.float64)
    shares = counts / counts.sum()
    nonzero = shares[shares > 0]
    return {
        "modes_covered": float((counts > 0).sum()),
        "mode_kl": float((nonzero * (nonzero * num_modes).log()).sum()),
    }


def _kth_neighbour_radii(features: torch.Tensor, k: int, chunk: int = 2048) -> torch.Tensor:
    """Distance from each row to its k-th nearest other row (the radius of its k-NN ball)."""
    radii = []
    for start in range(0, len(features), chunk):
        distances = torch.cdist(features[start : start + chunk], features)  # (chunk, N)
        radii.append(distances.kthvalue(k + 1, dim=1).values)  # k + 1: the row itself is at 0
    return torch.cat(radii)


def _inside_manifold(
    queries: torch.Tensor, support: torch.Tensor, radii: torch.Tensor, chunk: int = 2048
) -> torch.Tensor:
    """For each query, whether it lies inside at least one k-NN ball of the support set."""
    inside = []
    for start in range(0, len(queries), chunk):
        distances = torch.cdist(queries[start : start + chunk], support)  # (chunk, M)
        inside.append((distances <= radii[None, :]).any(dim=1))
    return torch.cat(inside)


def _equal_size(features: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    """`features` cut to `n` rows by a seeded random choice (all of them when there are `n`)."""
    if len(features) == n:
        return features
    chosen = torch.randperm(len(features), generator=torch.Generator().manual_seed(seed))[:n]
    return features[chosen]


def precision_recall(
    real_features: torch.Tensor, fake_features: torch.Tensor, k: int = 3, seed: int = 0
) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019): each set's manifold is the union
    of balls reaching every sample's k-th nearest neighbour. Precision: the share of generated
    samples inside the real manifold (fidelity); recall: the share of real samples inside the
    generated manifold (coverage).

    The k-th neighbour radii shrink as a set grows, so sets of unequal size would bias the two
    numbers (64-d Gaussians, 5,000 real against 100 generated: precision 0.57 for one
    distribution); the larger set is cut to the smaller's size by a choice seeded by `seed`, as
    the method assumes."""
    n = min(len(real_features), len(fake_features))
    if k < 1 or k >= n:
        raise ValueError(f"k={k}: must be >= 1 and smaller than each set")
    real = _equal_size(real_features, n, seed).to(torch.float32)
    fake = _equal_size(fake_features, n, seed).to(torch.float32)
    precision = _inside_manifold(fake, real, _kth_neighbour_radii(real, k)).float().mean()
    recall = _inside_manifold(real, fake, _kth_neighbour_radii(fake, k)).float().mean()
    return float(precision), float(recall)


def density_coverage(
    real_features: torch.Tensor, fake_features: torch.Tensor, k: int = 5
) -> tuple[float, float]:
    """Density and coverage (Naeem et al. 2020, "Reliable Fidelity and Diversity Metrics for
    Generative Models"), from k-NN balls around the real samples only (k=5 as in the paper).
    Density: how many real balls a generated sample falls in, on average, divided by k (about 1
    when the two distributions match, above 1 where samples crowd dense real regions); coverage:
    the share of real samples whose ball holds at least one generated sample."""
    if k < 1 or k >= len(real_features):
        raise ValueError(f"k={k}: must be >= 1 and smaller than the real set")
    real, fake = real_features.to(torch.float32), fake_features.to(torch.float32)
    radii = _kth_neighbour_radii(real, k)  # (N,)
    balls_hit, covered = torch.zeros(len(fake)), torch.zeros(len(real), dtype=torch.bool)
    for start in range(0, len(fake), 2048):
        inside = torch.cdist(fake[start : start + 2048], real) <= radii[None, :]  # (chunk, N)
        balls_hit[start : start + 2048] = inside.sum(dim=1).float()
        covered |= inside.any(dim=0)
    return float(balls_hit.mean() / k), float(covered.float().mean())
