"""Evaluate a checkpoint, or any set of images against another.

`python -m gan.eval fake=<checkpoint | folder | .npz of images> real=<data set name | folder |
.npz of images | .npz of statistics> [space=inception] [save_stats=stats.npz]` scores one set
against the other (see `gan.metrics.compare` and `gan.metrics.image_sets`); `real` defaults to a
checkpoint's own data set, `space` to that data set's feature space (Inception for other sets).
`save_stats=path` writes the fake set's Inception statistics in pytorch-fid's format.

`python -m gan.eval ckpt_path=.../last.ckpt n_samples=10000`, the checkpoint form:

Draws `n_samples` images from the checkpoint's model (its EMA generator when it has one), scores
them in its data set's feature space (the data config stored in the checkpoint: MNIST or
Fashion-MNIST classifier, the mode count for Stacked MNIST, Inception-v3 for CIFAR-10 and
folders) against as many test images, and reports the real-data floor beside them: the same
metrics for as many real training images against the same test images. With `inception=true`
(for the classifier spaces), also the Inception-v3 FID of `inception_samples` of them (and of as
many real training images) against as many test images (see `gan.metrics.inception`). Writes
`metrics.json` and `samples.png` to `out_dir` (default: `<run>/eval/`) and prints a table.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import hydra
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig
from rich.console import Console
from rich.table import Table
from torchvision.utils import make_grid, save_image

from gan.checkpoints import check_targets, read_checkpoint, rebuild_model
from gan.config import ConfigError, check_writable, register_resolvers
from gan.data import DataNotFoundError, ImageDataModule, as_unit_range
from gan.metrics.classifier import WeightsError, load_named_classifier
from gan.metrics.compare import check_fits_space, check_metrics_fit, compare_sets, embed_set
from gan.metrics.evaluate import (
    cached,
    evaluate_images,
    generate_images,
    reference_statistics,
)
from gan.metrics.image2image import (
    score_outputs,
    score_photo_outputs,
    task_examples,
    translate_images,
)
from gan.metrics.image_sets import (
    ACCEPTED,
    ImageSet,
    check_statistics_target,
    read_image_set,
    save_statistics,
)
from gan.metrics.inception import InceptionUnavailable, load_inception
from gan.metrics.lpips import LPIPSUnavailable, load_lpips, lpips_distance
from gan.metrics.resize import check_resize
from gan.metrics.scores import (
    check_fid_infinity_samples,
    feature_statistics,
    frechet_distance,
)
from gan.metrics.spaces import FeatureSpace, load_feature_space
from gan.module import truncation_psis
from gan.tasks.callbacks import strip
from gan.tasks.modules import ImageToImage

register_resolvers()
EMA_BATCH_NORM = ("own", "live")


def rebuild_data(checkpoint: dict, ckpt_path: str, root: str) -> ImageDataModule:
    """The data module a checkpoint's run trained on (only this project's classes are built),
    reading its files from `root`, set up."""
    config = dict((checkpoint.get("config") or {}).get("data") or {})
    if not config:
        raise ConfigError(f"ckpt_path={ckpt_path!r}: holds no data config to evaluate against")
    check_targets(config, f"ckpt_path={ckpt_path!r}")
    config |= {"root": root, "on_device": False, "unpaired": False, "limit_images": None}
    data = instantiate(config)
    data.prepare_data()
    data.setup()
    return data


def real_training_images(data: ImageDataModule, n: int, seed: int) -> torch.Tensor:
    """`n` training images (n, C, H, W) in [-1, 1], a seeded choice: the real-data floor."""
    train = data.train_set.images
    chosen = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))[:n]
    return as_unit_range(train[chosen])


def real_floor(
    data: ImageDataModule, space: FeatureSpace, reference, metrics, k: int, n: int, seed: int
) -> dict[str, float]:
    """The metrics of `n` real training images (seeded choice) against the test images."""
    return evaluate_images(space, real_training_images(data, n, seed), reference, metrics, k)


def inception_fid(
    generated: torch.Tensor,
    data: ImageDataModule,
    n: int,
    cache_dir,
    seed: int,
    device: str,
    resize: str = "tf1_bilinear",
    quantize: bool = True,
) -> tuple[dict, dict[str, float]]:
    """FID on Inception-v3 features: the first `n` generated images, and (the floor) `n` real
    training images, each against `n` test images. Returns (weights info, results)."""
    inception = load_inception(device)
    inception.resize, inception.quantize = resize, quantize
    test = as_unit_range(data.test_set.images[:n])
    reference = cached(
        f"inception_{inception.variant}",
        test,
        inception.sha256,
        lambda x: {"features": inception(x)},
        cache_dir,
    )["features"]
    results = {
        "fid_inception": frechet_distance(inception(generated[:n]), reference),
        "fid_inception_real_floor": frechet_distance(
            inception(real_training_images(data, n, seed)), reference
        ),
    }
    info = {"source": inception.source, "path": inception.path, "sha256": inception.sha256,
            "samples": min(n, len(generated)), "resize": resize, "quantize": quantize}  # fmt: skip
    return info, results


def device_of(cfg: DictConfig) -> str:
    if cfg.device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if cfg.device not in ("cpu", "cuda"):
        raise ConfigError(f"device={cfg.device!r} is invalid: auto, cpu or cuda")
    if cfg.device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device='cuda': no CUDA device is available here (use auto or cpu)")
    return cfg.device


def is_checkpoint(spec: str) -> bool:
    return str(spec).endswith(".ckpt")


def checkpoint_set(cfg: DictConfig, spec: str) -> tuple[ImageSet, ImageSet]:
    """`n_samples` images drawn from a checkpoint's model, and its own data set as the real set
    (as many test images, and as many training images for the floor)."""
    checkpoint = read_checkpoint(spec)
    model = rebuild_model(checkpoint, spec).eval()
    if isinstance(model, ImageToImage):
        raise ConfigError(f"fake={spec!r}: an image-to-image model; score it with ckpt_path=")
    if cfg.ema_batch_norm == "live" and getattr(model, "generator_ema", None):
        model.generator_ema.use_statistics_of(model.generator)
    data = rebuild_data(checkpoint, spec, cfg.data_root)
    test = data.test_set
    psis = truncation_psis(cfg.truncation, getattr(model, "generator", None), cfg.truncation_cutoff)
    if len(psis) > 1:
        raise ConfigError(f"truncation={cfg.truncation}: a sweep is for the ckpt_path= form")
    images = generate_images(
        model, cfg.n_samples, cfg.seed, reference_labels=test.labels, truncation_psi=psis[0],
        truncation_cutoff=cfg.truncation_cutoff,
    )  # fmt: skip
    n = min(cfg.n_samples, len(test))
    real = ImageSet(type(data).__name__, "dataset", test.images[:n], data=data,
                    second_real=real_training_images(data, n, cfg.seed))  # fmt: skip
    return ImageSet(spec, "checkpoint", images), real


def evaluate_sets(cfg: DictConfig) -> dict:
    """`fake=... real=...`: everything `python -m gan.eval` reports, as a dict."""
    if cfg.ckpt_path:
        raise ConfigError("give fake= or ckpt_path=, not both")
    check_resize(cfg.inception_resize)
    device = device_of(cfg)
    if cfg.save_stats:
        check_statistics_target(cfg.save_stats)  # before anything is read or scored
    default_real = None
    if cfg.fid_infinity and is_checkpoint(cfg.fake):
        check_fid_infinity_samples(cfg.n_samples)  # before drawing any
    if is_checkpoint(cfg.fake):
        fake, default_real = checkpoint_set(cfg, cfg.fake)
    else:
        fake = read_image_set(  # a data set's name: its test images
            cfg.fake, cfg.data_root, channels=cfg.dataset_channels,
            resolution=cfg.dataset_resolution,
        )  # fmt: skip
        if fake.images is None:
            raise ConfigError(f"fake={cfg.fake!r}: a statistics file; fake must be images")
    if cfg.fid_infinity:
        check_fid_infinity_samples(len(fake))  # before embedding any
    if cfg.real is not None:
        real = read_image_set(cfg.real, cfg.data_root, len(fake), cfg.seed,
                              cfg.dataset_channels, cfg.dataset_resolution)  # fmt: skip
    elif default_real is not None or cfg.save_stats:
        real = default_real
    else:
        raise ConfigError(f"real= is missing: what to score fake={cfg.fake!r} against ({ACCEPTED})")
    metrics = list(cfg.metrics) if cfg.metrics else None
    if real is not None:
        check_metrics_fit(real, metrics)  # before anything is embedded
    space_name = cfg.space or (default_real.data.feature_space if default_real else "inception")
    if space_name == "inception" and cfg.save_stats is None and real is None:
        raise ConfigError("nothing to do: give real= or save_stats=")
    check_writable(sets_out_dir(cfg))
    space = load_feature_space(space_name, device, cfg.inception_resize, cfg.inception_quantize)
    start = time.perf_counter()
    for image_set in (fake, real):  # images: their size and channels, before embedding either
        if image_set is not None and image_set.images is not None:
            check_fits_space(image_set, space, feature_size=0)
    fake_embedding = embed_set(space, fake)  # generated or not, a fake set is never cached
    if real is None:
        report = {"n_fake": len(fake), "feature_space": space.name, "model": {}}
    else:
        report = compare_sets(fake, fake_embedding, real, space, cfg.cache_dir, cfg.k,
                              cfg.fid_infinity, cfg.seed, metrics, cfg.floor)  # fmt: skip
    if cfg.save_stats:
        save_statistics(cfg.save_stats, *feature_statistics(fake_embedding.features))
        report["saved_statistics"] = str(Path(cfg.save_stats).resolve())
    report |= {
        "fake": fake.spec, "real": real.spec if real else None,
        "weights_sha256": space.weights_sha256, "weights": space.source,
        "seconds": time.perf_counter() - start,
    }  # fmt: skip
    grid = make_grid(as_unit_range(fake.images[:64]), nrow=8, normalize=True, value_range=(-1, 1))
    return write_report(cfg, report, grid, sets_out_dir(cfg))


def sets_out_dir(cfg: DictConfig) -> Path:
    """`out_dir`; by default <run>/eval/ for a checkpoint, `<name>_eval/` beside other sets."""
    if cfg.out_dir:
        return Path(cfg.out_dir)
    fake = Path(cfg.fake).resolve()
    if is_checkpoint(cfg.fake):
        return fake.parents[1] / "eval"
    return fake.parent / f"{fake.stem}_eval"


def evaluate_checkpoint(cfg: DictConfig) -> dict:
    """The `ckpt_path=` form: everything `python -m gan.eval` reports, as a dict (also written to
    metrics.json)."""
    if not cfg.ckpt_path:
        raise ConfigError(f"give fake= (and real=) or ckpt_path=; fake can be {ACCEPTED}")
    if cfg.save_stats:
        raise ConfigError(
            f"save_stats={cfg.save_stats!r} is for the sets form: python -m gan.eval "
            f"fake={cfg.ckpt_path} save_stats=... (the statistics of the samples it draws)"
        )
    if cfg.n_samples <= cfg.k:
        raise ConfigError(f"n_samples={cfg.n_samples} is invalid: an integer > k={cfg.k}")
    check_resize(cfg.inception_resize)
    check_writable(out_dir_of(cfg))  # before any scoring, not after
    if cfg.ema_batch_norm not in EMA_BATCH_NORM:
        raise ConfigError(
            f"ema_batch_norm={cfg.ema_batch_norm!r} is invalid: one of {EMA_BATCH_NORM}"
        )
    checkpoint = read_checkpoint(cfg.ckpt_path)  # read once, as data
    model = rebuild_model(checkpoint, cfg.ckpt_path).eval()
    if cfg.ema_batch_norm == "live" and getattr(model, "generator_ema", None):
        model.generator_ema.use_statistics_of(model.generator)
    data = rebuild_data(checkpoint, cfg.ckpt_path, cfg.data_root)
    if isinstance(model, ImageToImage):
        return write_report(cfg, *evaluate_task(cfg, model, data))
    space = load_feature_space(data.feature_space)
    metrics = list(cfg.metrics) if cfg.metrics else None
    test = data.test_set
    n = min(cfg.n_samples, len(test))  # the reference: as many test images as there are samples
    reference = reference_statistics(space, test.images[:n], cfg.cache_dir)

    start = time.perf_counter()
    psis = truncation_psis(cfg.truncation, getattr(model, "generator", None), cfg.truncation_cutoff)
    sweep, images = [], None
    for psi in psis:  # the first is the report's "model" (and grid); more: the truncation sweep
        drawn = generate_images(
            model, cfg.n_samples, cfg.seed, reference_labels=test.labels, truncation_psi=psi,
            truncation_cutoff=cfg.truncation_cutoff,
        )  # fmt: skip
        sweep.append({"psi": psi, **evaluate_images(space, drawn, reference, metrics, cfg.k)})
        images = drawn if images is None else images
    results = {key: value for key, value in sweep[0].items() if key != "psi"}
    seconds = time.perf_counter() - start
    report = {
        "checkpoint": str(Path(cfg.ckpt_path).resolve()),
        "n_samples": cfg.n_samples,
        "reference": f"{n:,} test images of {type(data).__name__}",
        "feature_space": space.name,
        "weights_sha256": space.weights_sha256,
        "ema_batch_norm": cfg.ema_batch_norm,
        "model": results,
        "seconds": seconds,
    }
    if psis != [1.0]:
        report["truncation"] = {"psi": psis[0], "cutoff": cfg.truncation_cutoff}
    if len(psis) > 1:
        report["truncation_sweep"] = sweep
    if cfg.floor:
        report["real_floor"] = real_floor(data, space, reference, metrics, cfg.k, n, cfg.seed)
    if cfg.inception and space.name != "inception":
        report["inception"], report["inception_fid"] = inception_fid(
            images, data, cfg.inception_samples, cfg.cache_dir, cfg.seed, device_of(cfg),
            cfg.inception_resize, cfg.inception_quantize,
        )  # fmt: skip
    grid = make_grid(images[:64], nrow=8, normalize=True, value_range=(-1, 1))
    return write_report(cfg, report, grid)


def evaluate_task(
    cfg: DictConfig, model: ImageToImage, data: ImageDataModule
) -> tuple[dict, torch.Tensor]:
    """An image-to-image checkpoint on the first `n_samples` test images: the task metrics of its
    outputs against the ground truth (MNIST's, or on photos PSNR, SSIM, Inception FID and KID),
    beside those of the input itself taken as the output (the masked image, the bicubic
    upsampling, the undilated digit, the untranslated photo): the do-nothing baseline. Returns
    the report and a strip."""
    real, labels, truth, domain = task_examples(data, model, cfg.n_samples, split="test")
    start = time.perf_counter()
    inputs, outputs, _ = translate_images(model, real, cfg.seed)
    unchanged = model.visible(inputs).cpu()
    if data.feature_space == "mnist":
        classifier = load_named_classifier("mnist")
        results = score_outputs(classifier, outputs, truth, labels)
        baseline = score_outputs(classifier, unchanged, truth, labels)
        reference = "the ground truth of MNIST test digits"
    else:
        lpips = None
        if cfg.lpips:  # before the long part: refused in one line when its weights are missing
            if truth is None:
                raise ConfigError("lpips=true: this data has no true outputs to compare with")
            lpips = load_lpips(cfg.lpips_net, device_of(cfg))
        inception = load_inception(device_of(cfg))
        results = score_photo_outputs(inception, outputs, truth, domain)
        baseline = score_photo_outputs(inception, unchanged, truth, domain)
        if lpips is not None:
            results["lpips"] = lpips_distance(lpips, outputs, truth)
            baseline["lpips"] = lpips_distance(lpips, unchanged, truth)
        reference = f"the {'true outputs' if truth is not None else 'target domain'} of " \
            f"{len(real)} test images of {type(data).__name__}"  # fmt: skip
    seconds = time.perf_counter() - start
    report = {
        "checkpoint": str(Path(cfg.ckpt_path).resolve()),
        "n_samples": len(real),
        "reference": reference,
        "feature_space": "mnist" if data.feature_space == "mnist" else "inception",
        "model": results,
        "input_as_output": baseline,
        "seconds": seconds,
    }
    return report, strip(model, real[:10], None if truth is None else truth[:10], cfg.seed)


def out_dir_of(cfg: DictConfig) -> Path:
    """`out_dir`, by default <run>/eval/ beside the checkpoint's folder."""
    if cfg.out_dir:
        return Path(cfg.out_dir)
    return Path(cfg.ckpt_path).resolve().parents[1] / "eval"


def write_report(
    cfg: DictConfig, report: dict, image: torch.Tensor, out_dir: Path | None = None
) -> dict:
    """metrics.json and samples.png (a grid in [0, 1]) in `out_dir` (default: <run>/eval/)."""
    out_dir = out_dir or out_dir_of(cfg)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "metrics.json").write_text(json.dumps(report, indent=2) + "\n")
    save_image(image, out_dir / "samples.png")
    report["out_dir"] = str(out_dir)
    return report


def print_report(report: dict) -> None:
    if "fake" in report:
        real = f"{report['n_real']:,}" if report.get("n_real") else "statistics"
        title = f"{report['fake']} ({report['n_fake']:,}) vs {report['real']} ({real})"
    else:
        title = f"{report['checkpoint']}: {report['n_samples']} vs {report['reference']}"
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("model", justify="right")
    extra = {"real_floor": "real data", "input_as_output": "input as output"}
    extra = {key: title for key, title in extra.items() if key in report}
    for title in extra.values():
        table.add_column(title, justify="right")
    for name, value in report["model"].items():
        floor = (f"{report[key][name]:.4g}" if name in report[key] else "" for key in extra)
        table.add_row(name, f"{value:.4g}", *floor)
    if report["model"]:
        Console().print(table)
    if "saved_statistics" in report:
        print(f"wrote the statistics of {report['fake']} to {report['saved_statistics']}")
    if "truncation_sweep" in report:
        rows = report["truncation_sweep"]
        sweep = Table("metric", title="truncation sweep")
        for row in rows:
            sweep.add_column(f"psi {row['psi']:g}", justify="right")
        for name in (key for key in rows[0] if key != "psi"):
            sweep.add_row(name, *(f"{row[name]:.4g}" for row in rows))
        Console().print(sweep)
    if "inception" in report:
        fid, info = report["inception_fid"], report["inception"]
        print(f"Inception FID ({info['samples']} samples vs {info['samples']} test images): "
              f"{fid['fid_inception']:.2f}, real-data floor {fid['fid_inception_real_floor']:.2f}; "
              f"weights {info['source']}, SHA-256 {info['sha256']}")  # fmt: skip
    print(f"wrote {report['out_dir']}/metrics.json and samples.png ({report['seconds']:.1f} s)")


@hydra.main(version_base="1.3", config_path="../conf", config_name="eval")
def main(cfg: DictConfig) -> None:
    try:
        report = evaluate_sets(cfg) if cfg.fake else evaluate_checkpoint(cfg)
    except (
        ValueError,
        WeightsError,
        DataNotFoundError,
        InceptionUnavailable,
        LPIPSUnavailable,
    ) as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    print_report(report)


if __name__ == "__main__":
    main()
