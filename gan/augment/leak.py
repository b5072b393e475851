"""Does the generator leak ADA's augmentations (learn to produce augmented images)?

`python -m gan.augment.leak <checkpoint> [...] --baseline <checkpoint> [...] [--n 5000]`

For each checkpoint of a run trained with `augment=ada` at a fixed p (`augment.adaptive=false`):
`n` samples of the model, scored in its data set's feature space against `n` test images as they
are and against the same images through the run's own pipeline at its p. A generator that leaks
makes images closer to the augmented set: FID(real) - FID(augmented) grows. Augmented images are
also more varied, so a poor generator gains on them too; the baseline (the same recipe trained
without augmentation) is scored against the same augmented images, and
`leak = [FID(real) - FID(augmented)] - [the baseline's]`: above 0, the run moved towards the
augmentation more than a run that never saw it. One table row per checkpoint and baseline: more
than one baseline (seeds of the plain recipe) shows how much of a leak is the baseline's seed.
"""

from __future__ import annotations

import argparse

import torch

from gan.augment.ada import AdaptiveAugment
from gan.checkpoints import read_checkpoint, rebuild_model
from gan.config import ConfigError
from gan.data import as_unit_range, default_data_dir
from gan.eval import rebuild_data
from gan.metrics.evaluate import generate_images
from gan.metrics.scores import frechet_distance
from gan.metrics.spaces import FeatureSpace, load_feature_space


def _sample_features(model, space: FeatureSpace, n: int, labels, seed: int) -> torch.Tensor:
    """The features (n, D) of `n` of the model's samples (seeded: the same at every call)."""
    return space.embed(generate_images(model, n, seed, reference_labels=labels)).features


def leak_rows(
    checkpoints: list[str], baselines: list[str] | str, n: int, data_root: str, seed: int = 0
) -> list[dict]:
    """One row per checkpoint and baseline (see the module docstring): several baselines (seeds
    of the plain recipe) show how far the leak moves with the baseline's seed."""
    if n < 2:
        raise ConfigError(f"--n {n} is invalid: at least 2 samples and test images for a FID")
    baselines = [baselines] if isinstance(baselines, str) else list(baselines)
    plains = [(path, rebuild_model(read_checkpoint(path), path).eval()) for path in baselines]
    for path, plain in plains:
        if getattr(plain, "augment", None) is not None:
            raise ConfigError(f"--baseline {path}: trained with augmentation; give a run without")
    models = [(path, rebuild_model(read_checkpoint(path), path).eval()) for path in checkpoints]
    for path, model in models:  # refused before any sample is drawn
        if not isinstance(getattr(model, "augment", None), AdaptiveAugment):
            raise ConfigError(f"{path}: trained without augment=ada, so there is nothing to leak")
    data = rebuild_data(read_checkpoint(baselines[0]), baselines[0], data_root)
    space = load_feature_space(data.feature_space)
    real = as_unit_range(data.test_set.images[:n])  # (n, C, H, W) in [-1, 1]
    labels = data.test_set.labels
    # The same for every checkpoint, so embedded once: the test images and the baselines' samples.
    real_features = space.embed(real).features  # (n, D)
    plain_features = {path: _sample_features(m, space, n, labels, seed) for path, m in plains}
    plain_clean = {path: frechet_distance(f, real_features) for path, f in plain_features.items()}
    rows = []
    for path, model in models:
        pipe = model.augment
        torch.manual_seed(seed)  # the augmentation's draws
        with torch.no_grad():
            augmented = space.embed(pipe(real).clamp(-1, 1)).features
        features = _sample_features(model, space, n, labels, seed)
        clean = frechet_distance(features, real_features)
        moved = frechet_distance(features, augmented)
        for baseline in baselines:
            plain_moved = frechet_distance(plain_features[baseline], augmented)
            rows.append({
                "checkpoint": path, "baseline": baseline, "transforms": ",".join(pipe.names),
                "p": float(pipe.p), "fid": clean, "fid_augmented": moved,
                "baseline_fid": plain_clean[baseline], "baseline_fid_augmented": plain_moved,
                "leak": (clean - moved) - (plain_clean[baseline] - plain_moved),
            })  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoints", nargs="+", help="last.ckpt of runs trained with ADA")
    parser.add_argument(
        "--baseline", required=True, nargs="+", help="last.ckpt of runs without it (1 or more)"
    )
    parser.add_argument("--n", type=int, default=5000, help="samples and test images (5000)")
    parser.add_argument("--data-root", default=str(default_data_dir()), help="where data sets live")
    args = parser.parse_args(argv)
    rows = leak_rows(args.checkpoints, args.baseline, args.n, args.data_root)
    print("| " + " | ".join(rows[0]) + " |")
    print("|" + "---|" * len(rows[0]))
    for row in rows:
        cells = [f"{v:.4g}" if isinstance(v, float) else str(v) for v in row.values()]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
