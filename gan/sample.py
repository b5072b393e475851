"""Write a grid of samples from a checkpoint:
`python -m gan.sample ckpt_path=.../last.ckpt label=7 n=64 out=sevens.png` (`digit=7` is the
same, in MNIST's words).

With `label`, all `n` images show that class: a conditional model is asked for it; for an
unconditional one, samples are drawn until the data set's classifier (MNIST's, Fashion-MNIST's;
for Stacked MNIST the label is the mode, 0 to 999) has recognised `n` of that class. Without a
label, one row per class for data sets of at most ten classes (`n // 10` images each, at least
one), else a plain grid of `n` samples.
"""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
import torch
from omegaconf import DictConfig
from torchvision.utils import save_image

from gan.base import GenerativeModule
from gan.checkpoints import read_checkpoint, rebuild_model
from gan.config import ConfigError
from gan.metrics.spaces import FeatureSpace, load_feature_space
from gan.module import truncated, truncation_psis


def load_model(ckpt_path: str | Path, device: str | torch.device = "cpu") -> GenerativeModule:
    """Rebuild the model a training run saved, from the config stored in its checkpoint (read
    as data; only this project's classes are built, see gan.checkpoints)."""
    return load_model_and_classes(ckpt_path, device)[0]


def load_model_and_classes(
    ckpt_path: str | Path, device: str | torch.device = "cpu"
) -> tuple[GenerativeModule, FeatureSpace | None, int | None]:
    """The model (as `load_model`), its data set's number of classes (None: unlabelled) and, for
    an unconditional model, the feature space whose classifier tells the classes apart (None
    where the data set has none, or the model is conditional and needs none)."""
    checkpoint = read_checkpoint(ckpt_path)  # read once, as data
    model = rebuild_model(checkpoint, ckpt_path).to(device).eval()
    data = (checkpoint.get("config") or {}).get("data") or {}
    num_classes = data.get("num_classes", 10 if not data else None)  # older runs: MNIST
    feature_space = data.get("feature_space", "mnist")
    space = None
    if not model.num_classes and feature_space != "inception":
        space = load_feature_space(feature_space)
    return model, space, num_classes


class TooFewSamples(RuntimeError):
    """An unconditional model rarely or never draws the asked-for class."""


def samples_of_class(
    model: GenerativeModule,
    label: int,
    n: int,
    space: FeatureSpace | None,
    num_classes: int | None,
    max_draws: int | None = None,
    truncation: dict | None = None,
) -> torch.Tensor:
    """`n` images (n, C, H, W) in [-1, 1] of class `label`. An unconditional model's samples
    are drawn until `space` has recognised `n`, at most `max_draws` of them (default
    max(5,000, 50 n): seconds on a CPU, and enough for a class drawn a tenth of the time)."""
    if num_classes is None or not 0 <= label < num_classes:
        accepted = f"a class from 0 to {num_classes - 1}" if num_classes else "none: unlabelled"
        raise ConfigError(f"label={label} is invalid for this data set: {accepted}")
    if model.num_classes:
        labels = torch.full((n,), label, dtype=torch.long)
        return model.generate(model.sample_noise(n), labels, **(truncation or {}))
    if space is None or space.num_classes is None:
        raise ConfigError(
            f"label={label}: this unconditional model's data set has no classifier to pick "
            "that class with; leave label unset, or sample a conditional model"
        )
    max_draws = max_draws or max(5_000, 50 * n)
    kept, drawn = [], 0
    while sum(len(k) for k in kept) < n and drawn < max_draws:
        images = model.generate(model.sample_noise(500), None, **(truncation or {}))
        drawn += len(images)
        kept.append(images[space.classify(images).to(images.device) == label].cpu())
    found = torch.cat(kept)
    if len(found) < n:
        raise TooFewSamples(
            f"only {len(found)} of {drawn:,} samples look like a {label} to the {space.name} "
            f"classifier, wanted {n}: the model rarely draws that class (is it trained? ask for "
            "fewer with n=)"
        )
    return found[:n]


def write_samples(
    ckpt_path: str | Path,
    label: int | None,
    n: int,
    out: str | Path | None,
    seed: int = 0,
    truncation: float = 1.0,
    truncation_cutoff: int | None = None,
) -> Path:
    """Sample from a checkpoint and save the grid; return its path. `truncation` (psi) < 1
    pulls StyleGAN2's w (of the first `truncation_cutoff` layers; all by default) towards its
    tracked average."""
    if n < 1:
        raise ConfigError(f"n={n} is invalid: an integer >= 1")
    torch.manual_seed(seed)
    model, space, num_classes = load_model_and_classes(ckpt_path)
    psis = truncation_psis(truncation, getattr(model, "generator", None), truncation_cutoff)
    if len(psis) > 1:
        raise ConfigError(f"truncation={truncation}: one psi per grid (gan.eval sweeps a list)")
    truncation = truncated(psis[0], truncation_cutoff)
    model.noise_seed = seed
    if label is not None:
        images, nrow = samples_of_class(model, label, n, space, num_classes, None, truncation), 8
    elif num_classes and num_classes <= 10 and (model.num_classes or space is not None):
        per_class = max(1, n // num_classes)
        images = torch.cat(
            [
                samples_of_class(model, c, per_class, space, num_classes, None, truncation)
                for c in range(num_classes)
            ]
        )
        nrow = per_class
    else:  # no classes to show row by row
        z, labels = model.sample_noise(n), _any_labels(model, n)
        images, nrow = model.generate(z, labels, **truncation), 8
    name = f"sample_digit{label if label is not None else 'all'}.png"
    path = Path(out) if out else Path(ckpt_path).resolve().parent.parent / "samples" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    save_image(images, path, nrow=nrow, normalize=True, value_range=(-1, 1))
    return path


def _any_labels(model: GenerativeModule, n: int) -> torch.Tensor | None:
    """Seeded random labels for a conditional model, None for an unconditional one."""
    return torch.randint(model.num_classes, (n,)) if model.num_classes else None


@hydra.main(version_base="1.3", config_path="../conf", config_name="sample")
def main(cfg: DictConfig) -> None:
    try:
        label = cfg.label if cfg.label is not None else cfg.digit
        path = write_samples(cfg.ckpt_path, label, cfg.n, cfg.out, cfg.seed, cfg.truncation,
                             cfg.truncation_cutoff)  # fmt: skip
    except (ConfigError, TooFewSamples) as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
