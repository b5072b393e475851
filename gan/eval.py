"""Evaluate a checkpoint: `python -m gan.eval ckpt_path=.../last.ckpt n_samples=10000`.

Draws `n_samples` images from the checkpoint's model (its EMA generator when it has one), scores
them on the project's MNIST classifier against the official test set, and reports the real-data
floor beside them: the same metrics for 10k real training images against the same test set.
With `inception=true`, also the Inception-v3 FID of `inception_samples` of them (and of as many
real training images) against as many test images (see `gan.metrics.inception`). Writes
`metrics.json` and `samples.png` to `out_dir` (default: `<run>/eval/`) and prints a table.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import hydra
import torch
from omegaconf import DictConfig
from rich.console import Console
from rich.table import Table
from torchvision.utils import make_grid, save_image

from gan.config import ConfigError, check_writable, register_resolvers
from gan.data import MNISTDataModule, MNISTNotFoundError, as_unit_range
from gan.metrics.classifier import WEIGHTS_SHA256, WeightsError, load_classifier
from gan.metrics.evaluate import (
    cached,
    evaluate_images,
    generate_images,
    reference_statistics,
)
from gan.metrics.image2image import score_outputs, translate_images
from gan.metrics.inception import InceptionUnavailable, load_inception
from gan.metrics.scores import frechet_distance
from gan.sample import load_model
from gan.tasks.callbacks import strip
from gan.tasks.modules import ImageToImage

register_resolvers()
EMA_BATCH_NORM = ("own", "live")


def real_training_images(data: MNISTDataModule, n: int, seed: int) -> torch.Tensor:
    """`n` training digits (n, 1, 28, 28) in [-1, 1], a seeded choice: the real-data floor."""
    train = data.train_set.images
    chosen = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))[:n]
    return as_unit_range(train[chosen])


def real_floor(
    data: MNISTDataModule, classifier, reference, metrics, k: int, n: int, seed: int
) -> dict[str, float]:
    """The metrics of `n` real training images (seeded choice) against the test set."""
    return evaluate_images(classifier, real_training_images(data, n, seed), reference, metrics, k)


def inception_fid(
    generated: torch.Tensor, data: MNISTDataModule, n: int, cache_dir, seed: int
) -> tuple[dict, dict[str, float]]:
    """FID on Inception-v3 features: the first `n` generated images, and (the floor) `n` real
    training images, each against `n` test images. Returns (weights info, results)."""
    inception = load_inception()
    test = as_unit_range(data.test_set.images[:n])
    reference = cached(
        "inception", test, inception.sha256, lambda x: {"features": inception(x)}, cache_dir
    )["features"]
    results = {
        "fid_inception": frechet_distance(inception(generated[:n]), reference),
        "fid_inception_real_floor": frechet_distance(
            inception(real_training_images(data, n, seed)), reference
        ),
    }
    info = {"source": inception.source, "path": inception.path, "sha256": inception.sha256,
            "samples": min(n, len(generated))}  # fmt: skip
    return info, results


def evaluate_checkpoint(cfg: DictConfig) -> dict:
    """Everything `python -m gan.eval` reports, as a dict (also written to metrics.json)."""
    if cfg.n_samples <= cfg.k:
        raise ConfigError(f"n_samples={cfg.n_samples} is invalid: an integer > k={cfg.k}")
    check_writable(out_dir_of(cfg))  # before any scoring, not after
    if cfg.ema_batch_norm not in EMA_BATCH_NORM:
        raise ConfigError(
            f"ema_batch_norm={cfg.ema_batch_norm!r} is invalid: one of {EMA_BATCH_NORM}"
        )
    model = load_model(cfg.ckpt_path)
    if cfg.ema_batch_norm == "live" and getattr(model, "generator_ema", None):
        model.generator_ema.use_statistics_of(model.generator)
    data = MNISTDataModule(root=cfg.data_root, val_size=0)
    data.prepare_data()
    data.setup()
    classifier = load_classifier()
    if isinstance(model, ImageToImage):
        return write_report(cfg, *evaluate_task(cfg, model, data, classifier))
    metrics = list(cfg.metrics)
    reference = reference_statistics(classifier, data.test_set.images, cfg.cache_dir)

    start = time.perf_counter()
    images = generate_images(model, cfg.n_samples, cfg.seed, reference_labels=data.test_set.labels)
    results = evaluate_images(classifier, images, reference, metrics, cfg.k)
    seconds = time.perf_counter() - start
    report = {
        "checkpoint": str(Path(cfg.ckpt_path).resolve()),
        "n_samples": cfg.n_samples,
        "reference": "MNIST test set (10k)",
        "classifier_sha256": WEIGHTS_SHA256,
        "ema_batch_norm": cfg.ema_batch_norm,
        "model": results,
        "seconds": seconds,
    }
    if cfg.floor:
        report["real_floor"] = real_floor(
            data, classifier, reference, metrics, cfg.k, cfg.n_samples, cfg.seed
        )
    if cfg.inception:
        report["inception"], report["inception_fid"] = inception_fid(
            images, data, cfg.inception_samples, cfg.cache_dir, cfg.seed
        )
    grid = make_grid(images[:64], nrow=8, normalize=True, value_range=(-1, 1))
    return write_report(cfg, report, grid)


def evaluate_task(
    cfg: DictConfig, model: ImageToImage, data: MNISTDataModule, classifier
) -> tuple[dict, torch.Tensor]:
    """An image-to-image checkpoint on the first `n_samples` test digits: the task metrics of its
    outputs against the ground truth, beside those of the input itself taken as the output (the
    masked digit, the bicubic upsampling, the undilated digit). Returns the report and a strip."""
    n = min(cfg.n_samples, len(data.test_set))
    real, labels = as_unit_range(data.test_set.images[:n]), data.test_set.labels[:n]
    start = time.perf_counter()
    inputs, outputs, truth = translate_images(model, real, cfg.seed)
    results = score_outputs(classifier, outputs, truth, labels)
    seconds = time.perf_counter() - start
    report = {
        "checkpoint": str(Path(cfg.ckpt_path).resolve()),
        "n_samples": n,
        "reference": "the ground truth of MNIST test digits",
        "classifier_sha256": WEIGHTS_SHA256,
        "model": results,
        "input_as_output": score_outputs(classifier, model.visible(inputs).cpu(), truth, labels),
        "seconds": seconds,
    }
    return report, strip(model, real[:10], cfg.seed)


def out_dir_of(cfg: DictConfig) -> Path:
    """`out_dir`, by default <run>/eval/ beside the checkpoint's folder."""
    if cfg.out_dir:
        return Path(cfg.out_dir)
    return Path(cfg.ckpt_path).resolve().parents[1] / "eval"


def write_report(cfg: DictConfig, report: dict, image: torch.Tensor) -> dict:
    """metrics.json and samples.png (a grid in [0, 1]) in `out_dir` (default: <run>/eval/)."""
    out_dir = out_dir_of(cfg)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "metrics.json").write_text(json.dumps(report, indent=2) + "\n")
    save_image(image, out_dir / "samples.png")
    report["out_dir"] = str(out_dir)
    return report


def print_report(report: dict) -> None:
    table = Table(title=f"{report['checkpoint']}: {report['n_samples']} vs {report['reference']}")
    table.add_column("metric")
    table.add_column("model", justify="right")
    extra = {"real_floor": "real data", "input_as_output": "input as output"}
    extra = {key: title for key, title in extra.items() if key in report}
    for title in extra.values():
        table.add_column(title, justify="right")
    for name, value in report["model"].items():
        table.add_row(name, f"{value:.4g}", *(f"{report[key][name]:.4g}" for key in extra))
    Console().print(table)
    if "inception" in report:
        fid, info = report["inception_fid"], report["inception"]
        print(f"Inception FID ({info['samples']} samples vs {info['samples']} test images): "
              f"{fid['fid_inception']:.2f}, real-data floor {fid['fid_inception_real_floor']:.2f}; "
              f"weights {info['source']}, SHA-256 {info['sha256']}")  # fmt: skip
    print(f"wrote {report['out_dir']}/metrics.json and samples.png ({report['seconds']:.1f} s)")


@hydra.main(version_base="1.3", config_path="../conf", config_name="eval")
def main(cfg: DictConfig) -> None:
    try:
        report = evaluate_checkpoint(cfg)
    except (ValueError, WeightsError, MNISTNotFoundError, InceptionUnavailable) as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    print_report(report)


if __name__ == "__main__":
    main()
