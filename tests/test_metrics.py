"""The metrics' mathematics, and that they move the right way on real digits."""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
import torch
import torch.nn.functional as F

from gan.callbacks import SampleMetrics
from gan.data import MNISTDataModule, as_unit_range
from gan.metrics import evaluate
from gan.metrics.classifier import WEIGHTS_SHA256
from gan.metrics.evaluate import evaluate_images, reference_statistics
from gan.metrics.scores import (
    class_statistics,
    density_coverage,
    feature_statistics,
    fid_infinity,
    fid_infinity_sizes,
    frechet_distance,
    frechet_distance_of,
    inception_score,
    kernel_distance,
    precision_recall,
)
from gan.metrics.spaces import load_feature_space
from gan.train import train


def scipy_frechet(a: np.ndarray, b: np.ndarray) -> float:
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = scipy.linalg.sqrtm(cov_a @ cov_b).real
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a + cov_b - 2 * root))


def test_frechet_distance_of_a_set_with_itself_is_zero():
    x = torch.randn(500, 8)
    assert frechet_distance(x, x) == pytest.approx(0.0, abs=1e-8)


def test_frechet_distance_of_shifted_gaussians_approaches_squared_shift():
    generator = torch.Generator().manual_seed(0)
    mu = torch.tensor([1.0, -2.0, 0.5, 0.0])
    a = torch.randn(200_000, 4, generator=generator, dtype=torch.float64)
    b = torch.randn(200_000, 4, generator=generator, dtype=torch.float64) + mu
    assert frechet_distance(a, b) == pytest.approx(mu.pow(2).sum().item(), rel=0.01)


def test_frechet_distance_matches_scipy_in_float64():
    generator = torch.Generator().manual_seed(1)
    a = torch.randn(300, 16, generator=generator, dtype=torch.float64)
    b = (
        torch.randn(400, 16, generator=generator, dtype=torch.float64)
        @ torch.randn(16, 16, generator=generator, dtype=torch.float64)
        + 0.3
    )
    expected = scipy_frechet(a.numpy(), b.numpy())
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-6)


def test_kid_is_near_zero_for_one_distribution_and_positive_for_two():
    generator = torch.Generator().manual_seed(2)
    a, b = torch.randn(2, 800, 6, generator=generator)
    same, _ = kernel_distance(a, b, num_subsets=20, subset_size=400)
    shifted, _ = kernel_distance(a, b + 1.0, num_subsets=20, subset_size=400)
    assert abs(same) < 0.01 < shifted


def test_inception_score_extremes():
    one_class = F.one_hot(torch.full((1000,), 3), 10).float()
    assert inception_score(one_class)[0] == pytest.approx(1.0)
    balanced_confident = F.one_hot(torch.arange(1000) % 10, 10).float()
    assert inception_score(balanced_confident)[0] == pytest.approx(10.0, rel=1e-6)
    uniform = torch.full((1000, 10), 0.1)
    assert inception_score(uniform)[0] == pytest.approx(1.0)


def _reference_inception_score(preds: np.ndarray, splits: int = 10) -> tuple[float, float]:
    """Salimans et al.'s code (openai/improved-gan), restated in NumPy."""
    scores = []
    for i in range(splits):
        part = preds[(i * preds.shape[0] // splits) : ((i + 1) * preds.shape[0] // splits), :]
        kl = part * (np.log(part) - np.log(np.expand_dims(np.mean(part, 0), 0)))
        scores.append(np.exp(np.mean(np.sum(kl, 1))))
    return float(np.mean(scores)), float(np.std(scores))


@pytest.mark.parametrize("n", [26, 100, 1003])
def test_inception_score_cuts_exactly_the_splits_asked_for_and_takes_numpys_std(n):
    """26 samples give 10 parts of 2 or 3 (torch.chunk would give 9 parts of 3), and the spread
    is the biased standard deviation, as the reference code reports it."""
    logits = torch.randn(n, 10, generator=torch.Generator().manual_seed(n), dtype=torch.float64)
    probabilities = logits.mul(3).softmax(dim=1)
    mean, std = inception_score(probabilities)
    expected_mean, expected_std = _reference_inception_score(probabilities.numpy())
    assert mean == pytest.approx(expected_mean, rel=1e-12)
    assert std == pytest.approx(expected_std, rel=1e-12)
    with pytest.raises(ValueError, match="splits=10: must be between 1 and the 9 samples"):
        inception_score(probabilities[:9])


def test_class_statistics():
    probabilities = F.one_hot(torch.tensor([0] * 50 + [1] * 49 + [7]), 10).float()
    stats = class_statistics(probabilities)
    assert stats["class_histogram"][:2] == [0.5, 0.49]
    assert stats["classes_covered"] == 3  # 1 sample of 100 is exactly the 1% threshold
    one = class_statistics(F.one_hot(torch.full((10,), 4), 10).float())
    assert one["class_kl"] == pytest.approx(np.log(10)) and one["classes_covered"] == 1
    balanced = class_statistics(F.one_hot(torch.arange(100) % 10, 10).float())
    assert balanced["class_kl"] == pytest.approx(0.0, abs=1e-12)


def test_precision_and_recall_on_known_manifolds():
    generator = torch.Generator().manual_seed(3)
    real = torch.randn(600, 3, generator=generator)
    assert precision_recall(real, real, k=3) == (1.0, 1.0)
    far = real + 100.0
    assert precision_recall(real, far, k=3) == (0.0, 0.0)
    # Generated samples from only half of the real distribution: faithful but not diverse.
    others = torch.randn(1200, 3, generator=generator)
    half = others[others[:, 0] > 0][:600]
    precision, recall = precision_recall(real, half, k=3)
    assert precision > 0.9 and 0.4 < recall < 0.75


def test_reference_statistics_are_cached_by_data_and_weights(tmp_path):
    space = load_feature_space("mnist")
    calls = []
    real_embed = space.embed
    space.embed = lambda images: calls.append(1) or real_embed(images)
    images = torch.randint(0, 256, (64, 1, 28, 28), dtype=torch.uint8)
    first = reference_statistics(space, images, tmp_path)
    second = reference_statistics(space, images, tmp_path)
    assert len(calls) == 1 and torch.equal(first.features, second.features)
    space.weights_sha256 = "0" * 64  # other weights: another cache entry
    reference_statistics(space, images, tmp_path)
    reference_statistics(space, images[:32], tmp_path)
    assert len(calls) == 3 and len(list(tmp_path.iterdir())) == 3


@pytest.fixture(scope="module")
def test_digits():
    data = MNISTDataModule()
    data.setup()
    images = as_unit_range(data.test_set.images)  # (10000, 1, 28, 28)
    return images, data.test_set.labels


@pytest.fixture(scope="module")
def scorer(test_digits):
    images, _ = test_digits
    space = load_feature_space("mnist")
    reference = reference_statistics(space, images[:5000])
    return lambda x, metrics=("fid",): evaluate_images(space, x, reference, metrics)


@pytest.mark.slow
def test_fid_grows_with_noise_and_blur(test_digits, scorer):
    images = test_digits[0][5000:7000]
    generator = torch.Generator().manual_seed(4)
    noise = torch.randn(images.shape, generator=generator)
    noisy = [scorer((images + s * noise).clamp(-1, 1))["fid_mnist"] for s in (0, 0.2, 0.5, 1.0)]
    assert noisy == sorted(noisy) and noisy[0] < 5 < noisy[-1]
    blurred = [scorer(blur(images, s))["fid_mnist"] for s in (0.0, 1.0, 1.5, 2.5)]
    assert blurred == sorted(blurred) and blurred[-1] > 5 * max(blurred[0], 0.1)


def blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    if sigma == 0:
        return images
    x = torch.arange(-4, 5, dtype=torch.float32)
    kernel = torch.exp(-(x**2) / (2 * sigma**2))
    kernel = (kernel / kernel.sum())[None, None]
    out = F.conv2d(images, kernel[..., None, :], padding=(0, 4))
    return F.conv2d(out, kernel[..., :, None], padding=(4, 0))


@pytest.mark.slow
def test_single_class_and_real_digits(test_digits, scorer):
    images, labels = test_digits
    metrics = ("is", "classes")
    threes = scorer(images[labels == 3], metrics)
    assert threes["classes_covered"] == 1 and threes["is_mnist"] < 1.1
    real = scorer(images[5000:], metrics)
    assert real["classes_covered"] == 10 and real["is_mnist"] > 9.5 and real["class_kl"] < 0.01


@pytest.mark.slow
def test_training_logs_val_metrics_and_keeps_the_best_checkpoint(make_cfg):
    cfg = make_cfg("trainer.max_epochs=2", "trainer.limit_train_batches=2")
    metrics = train(cfg)
    for name in ("fid_mnist", "kid_mnist", "is_mnist", "classes_covered", "class_kl"):
        assert math.isfinite(metrics[f"val/{name}"])
    assert 0 <= metrics["val/precision"] <= 1 and 0 <= metrics["val/recall"] <= 1
    checkpoints = Path(cfg.paths.output_dir) / "checkpoints"
    assert {p.name for p in checkpoints.iterdir()} == {"last.ckpt", "best.ckpt"}
    best = torch.load(checkpoints / "best.ckpt", weights_only=True)
    (state,) = [v for k, v in best["callbacks"].items() if "val/fid_mnist" in k]
    assert state["best_model_score"].item() <= metrics["val/fid_mnist"] + 1e-9


def test_unknown_metrics_and_spaces_are_refused():
    with pytest.raises(ValueError, match=r"unknown metrics \['fid_mnist'\]"):
        SampleMetrics(metrics=["fid_mnist"])  # the kinds are fid, kid, ...
    with pytest.raises(ValueError, match=r"feature_space='imagenet'"):
        SampleMetrics(feature_space="imagenet")
    with pytest.raises(ValueError, match=r"\['modes'\] are not available in the mnist"):
        evaluate.check_metrics(load_feature_space("mnist"), ["fid", "modes"])


@pytest.mark.slow
def test_eval_cli_writes_metrics_json_with_the_real_floor(make_cfg, tmp_path):
    cfg = make_cfg("model=cdcgan")
    train(cfg)
    ckpt = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    result = subprocess.run(
        [sys.executable, "-m", "gan.eval", f"ckpt_path={ckpt}", "n_samples=300",
         f"out_dir={tmp_path / 'eval'}", "inception=true", "inception_samples=12"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert report["n_samples"] == 300 and report["weights_sha256"] == WEIGHTS_SHA256
    assert report["feature_space"] == "mnist"
    assert report["model"].keys() == report["real_floor"].keys() >= {"fid_mnist", "recall"}
    assert report["real_floor"]["fid_mnist"] < report["model"]["fid_mnist"]
    assert report["real_floor"]["classes_covered"] == 10
    assert (tmp_path / "eval" / "samples.png").is_file()
    assert "fid_mnist" in result.stdout and "real data" in result.stdout
    assert report["inception"]["samples"] == 12 and len(report["inception"]["sha256"]) == 64
    assert all(math.isfinite(v) for v in report["inception_fid"].values())
    assert "Inception FID (12 samples" in result.stdout
    assert report["ema_batch_norm"] == "own"

    # The EMA generator with the live G's copied BatchNorm statistics, for comparison.
    live = subprocess.run(
        [sys.executable, "-m", "gan.eval", f"ckpt_path={ckpt}", "n_samples=300", "floor=false",
         f"out_dir={tmp_path / 'live'}", "ema_batch_norm=live"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert live.returncode == 0, live.stderr[-3000:]
    live_report = json.loads((tmp_path / "live" / "metrics.json").read_text())
    assert live_report["ema_batch_norm"] == "live"
    assert live_report["model"]["fid_mnist"] != report["model"]["fid_mnist"]


@pytest.mark.slow
def test_metrics_run_every_n_epochs_and_after_the_last(make_cfg):
    cfg = make_cfg(
        "trainer.max_epochs=3",
        "trainer.limit_train_batches=1",
        "callbacks.metrics.every_n_epochs=2",
    )
    train(cfg)
    with open(Path(cfg.paths.output_dir) / "csv" / "metrics.csv") as f:
        epochs = [row["epoch"] for row in csv.DictReader(f) if row.get("val/fid_mnist")]
    assert epochs == ["1", "2"]  # after epoch 2 (every 2) and after epoch 3 (the last)


def test_a_damaged_cache_file_is_named_deleted_and_recomputed(tmp_path):
    space = load_feature_space("mnist")
    images = torch.randint(0, 256, (32, 1, 28, 28), dtype=torch.uint8)
    first = reference_statistics(space, images, tmp_path)
    (cache,) = tmp_path.iterdir()
    cache.write_bytes(cache.read_bytes()[:100])  # truncated, as by a writer killed midway
    with pytest.warns(UserWarning, match=f"cache file {cache} is unreadable"):
        again = reference_statistics(space, images, tmp_path)
    assert torch.equal(first.features, again.features)
    assert torch.equal(torch.load(cache, weights_only=True)["features"], first.features)


def test_precision_and_recall_of_unequal_sets_are_not_biased_by_the_sizes():
    """One distribution, 5,000 real against 100 generated 64-d features: both near the value
    for equal sets (raw, precision would be 0.57: the dense real set's radii are small)."""
    torch.manual_seed(0)
    real, fake = torch.randn(5000, 64), torch.randn(100, 64)
    precision, recall = precision_recall(real, fake, k=3)
    assert precision > 0.7 and recall > 0.6
    chosen = torch.randperm(5000, generator=torch.Generator().manual_seed(0))[:100]
    assert (precision, recall) == precision_recall(real[chosen], fake, k=3)  # the seeded cut


def test_conditional_samples_follow_the_reference_class_mix():
    from gan.metrics.evaluate import generate_images, labels_like

    reference = torch.tensor([0] * 60 + [1] * 30 + [2] * 10)
    assert torch.bincount(labels_like(reference, 20, 3), minlength=3).tolist() == [12, 6, 2]
    # 7 x (0.6, 0.3, 0.1) = 4.2, 2.1, 0.7: floors 4, 2, 0; the largest remainder (0.7) gets one.
    assert torch.bincount(labels_like(reference, 7, 3), minlength=3).tolist() == [4, 2, 1]
    assert torch.bincount(labels_like(None, 20, 10), minlength=10).tolist() == [2] * 10

    class Recording:
        latent_dim, num_classes, seen = 4, 3, []

        def generate(self, z, labels):
            self.seen.append(labels)
            return torch.zeros(len(z), 1, 28, 28)

    model = Recording()
    generate_images(model, 20, batch_size=8, reference_labels=reference)
    assert torch.bincount(torch.cat(model.seen), minlength=3).tolist() == [12, 6, 2]


def test_density_and_coverage_see_fidelity_and_diversity():
    generator = torch.Generator().manual_seed(0)
    real = torch.randn(400, 8, generator=generator)
    same = torch.randn(400, 8, generator=generator)
    density, coverage = density_coverage(real, same)
    assert 0.8 < density < 1.2 and coverage > 0.9  # one distribution: about 1, nearly all
    collapsed = real[:1].repeat(400, 1) + 0.01 * torch.randn(400, 8, generator=generator)
    density, coverage = density_coverage(real, collapsed)
    assert coverage < 0.05  # every sample in one real ball: almost nothing covered
    far = torch.randn(400, 8, generator=generator) + 10
    assert density_coverage(real, far) == (0.0, 0.0)


def test_fid_infinity_removes_the_sample_size_bias():
    """Samples of the reference distribution itself: FID at N is biased above 0 by about
    tr(Sigma)-ish / N terms; the extrapolation to 1/N = 0 takes most of it away."""
    generator = torch.Generator().manual_seed(0)
    dim = 64
    truth = (torch.zeros(dim, dtype=torch.float64), torch.eye(dim, dtype=torch.float64))
    samples = torch.randn(10_000, dim, generator=generator)
    biased = frechet_distance_of(feature_statistics(samples), truth)
    extrapolated = fid_infinity(samples, truth)
    assert biased > 0.1
    assert abs(extrapolated["fid_infinity"]) < biased / 20
    assert extrapolated["fid_infinity_slope"] > 0  # fewer samples, larger FID


def test_fid_infinity_fits_within_chong_and_forsyths_range_only():
    """Subsets from 5,000 samples up, as their code fits; 1,000 samples in 512-d (where the fit
    of a Gaussian against itself went negative) are refused by count, before any FID."""
    assert fid_infinity_sizes(10_000)[0] == 5_000 and fid_infinity_sizes(10_000)[-1] == 10_000
    assert len(fid_infinity_sizes(50_000)) == 15
    truth = (torch.zeros(512, dtype=torch.float64), torch.eye(512, dtype=torch.float64))
    for n in (1_000, 9_999):
        refused = f"fid_infinity with {n:,} samples: .* at least 10,000"
        with pytest.raises(ValueError, match=refused):
            fid_infinity(torch.randn(n, 512), truth)
