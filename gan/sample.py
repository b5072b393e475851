"""Write a grid of samples from a checkpoint:
`python -m gan.sample ckpt_path=.../last.ckpt digit=7 n=64 out=sevens.png`.

With `digit`, all `n` images show that digit: a conditional model is asked for it; for an
unconditional one (GAN or VAE), samples are drawn until the project's MNIST classifier has
recognised `n` of that digit. Without `digit`, a grid of ten rows, digits 0 to 9, `n // 10`
images each (at least one).
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
from gan.metrics.classifier import MNISTClassifier, load_classifier, predict


def load_model(ckpt_path: str | Path, device: str | torch.device = "cpu") -> GenerativeModule:
    """Rebuild the model a training run saved, from the config stored in its checkpoint (read
    as data; only this project's classes are built, see gan.checkpoints)."""
    model = rebuild_model(read_checkpoint(ckpt_path), ckpt_path)
    return model.to(device).eval()


class TooFewSamples(RuntimeError):
    """An unconditional model rarely or never draws the asked-for digit."""


def samples_of_digit(
    model: GenerativeModule,
    digit: int,
    n: int,
    classifier: MNISTClassifier | None = None,
    max_draws: int | None = None,
) -> torch.Tensor:
    """`n` images (n, 1, 28, 28) in [-1, 1] that show `digit`. An unconditional model's samples
    are drawn until the classifier has recognised `n`, at most `max_draws` of them (default
    max(5,000, 50 n): seconds on a CPU, and enough for a digit drawn a tenth of the time)."""
    if not 0 <= digit <= 9:
        raise ConfigError(f"digit={digit} is invalid: a digit from 0 to 9, or null for all")
    if model.num_classes:
        return model.generate(model.sample_noise(n), torch.full((n,), digit, dtype=torch.long))
    classifier = classifier or load_classifier(device=model.device)
    max_draws = max_draws or max(5_000, 50 * n)
    kept, drawn = [], 0
    while sum(len(k) for k in kept) < n and drawn < max_draws:
        images = model.generate(model.sample_noise(500))
        drawn += len(images)
        kept.append(images[predict(classifier, images).argmax(dim=1) == digit].cpu())
    found = torch.cat(kept)
    if len(found) < n:
        raise TooFewSamples(
            f"only {len(found)} of {drawn:,} samples look like a {digit} to the MNIST classifier, "
            f"wanted {n}: the model rarely draws that digit (is it trained? ask for fewer with n=)"
        )
    return found[:n]


def write_samples(
    ckpt_path: str | Path, digit: int | None, n: int, out: str | Path | None, seed: int = 0
) -> Path:
    """Sample from a checkpoint and save the grid; return its path."""
    if n < 1:
        raise ConfigError(f"n={n} is invalid: an integer >= 1")
    torch.manual_seed(seed)
    model = load_model(ckpt_path)
    model.noise_seed = seed
    if digit is None:
        per_digit = max(1, n // 10)
        classifier = None if model.num_classes else load_classifier()
        images = torch.cat([samples_of_digit(model, d, per_digit, classifier) for d in range(10)])
        nrow = per_digit
    else:
        images, nrow = samples_of_digit(model, digit, n), 8
    name = f"sample_digit{digit if digit is not None else 'all'}.png"
    path = Path(out) if out else Path(ckpt_path).resolve().parent.parent / "samples" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    save_image(images, path, nrow=nrow, normalize=True, value_range=(-1, 1))
    return path


@hydra.main(version_base="1.3", config_path="../conf", config_name="sample")
def main(cfg: DictConfig) -> None:
    try:
        path = write_samples(cfg.ckpt_path, cfg.digit, cfg.n, cfg.out, cfg.seed)
    except (ConfigError, TooFewSamples) as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
