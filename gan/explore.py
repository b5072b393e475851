"""Helpers behind notebooks/explore.ipynb: find a checkpoint, interpolate in latent space (z, and
StyleGAN2's w), sort samples by class, plot a run's curves and tabulate its metrics."""

from __future__ import annotations

import json
import math
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure
from torchvision.utils import make_grid

from gan.base import GenerativeModule
from gan.config import PROJECT_ROOT
from gan.history import series
from gan.metrics.spaces import FeatureSpace


def find_checkpoint(ckpt_path: str | Path | None = None, root: Path = PROJECT_ROOT) -> Path:
    """`ckpt_path` itself, or else the newest checkpoints/last.ckpt under outputs/ and multirun/."""
    if ckpt_path is not None:
        return Path(ckpt_path)
    candidates = [*root.glob("outputs/**/last.ckpt"), *root.glob("multirun/**/last.ckpt")]
    if not candidates:
        raise FileNotFoundError(
            f"no checkpoints/last.ckpt under {root}/outputs or {root}/multirun: train a model "
            "first (make train) or set ckpt_path"
        )
    return max(candidates, key=lambda path: path.stat().st_mtime)


def slerp(z0: torch.Tensor, z1: torch.Tensor, steps: int) -> torch.Tensor:
    """`steps` points (steps, D) from z0 to z1 (both (D,)) along the great circle, which keeps the
    norm typical of Gaussian noise (a straight line passes through low-norm points)."""
    t = torch.linspace(0, 1, steps).unsqueeze(1)  # (steps, 1)
    cos = torch.dot(z0 / z0.norm(), z1 / z1.norm()).clamp(-1, 1)
    omega = torch.arccos(cos)
    if omega.abs() < 1e-6:  # (anti)parallel: a straight line is the same path
        return torch.lerp(z0, z1, t)
    return (torch.sin((1 - t) * omega) * z0 + torch.sin(t * omega) * z1) / torch.sin(omega)


def interpolation(model: GenerativeModule, steps: int = 10, seed: int = 0) -> torch.Tensor:
    """Images (rows * steps, C, H, W) along slerp(z0, z1) for two seeded z: one row, or for a
    conditional model one row per class (the same path of z for every class)."""
    generator = torch.Generator().manual_seed(seed)
    z0, z1 = torch.randn(2, model.latent_dim, generator=generator)
    path = slerp(z0, z1, steps)  # (steps, latent_dim)
    if not model.num_classes:
        return model.generate(path).cpu()
    labels = torch.arange(model.num_classes).repeat_interleave(steps)  # (classes * steps,)
    return model.generate(path.repeat(model.num_classes, 1), labels).cpu()


@torch.no_grad()
def w_interpolation(
    model: GenerativeModule, steps: int = 10, seed: int = 0, truncation_psi: float = 1.0
) -> torch.Tensor:
    """StyleGAN2: images (rows * steps, C, H, W) along the straight line between the ws of two
    seeded z (the mapping's w space is where StyleGAN interpolates linearly), one row, or one per
    class for a conditional model; `truncation_psi` < 1 pulls both ends towards the average w.
    Raises ValueError for a generator without a mapping network."""
    generator = getattr(model, "sampling_generator", None)
    if not hasattr(generator, "mapping"):
        raise ValueError(
            f"{type(generator).__name__} has no mapping network, so no w space: "
            "interpolate in z with `interpolation`"
        )
    rng = torch.Generator().manual_seed(seed)
    z0, z1 = torch.randn(2, model.latent_dim, generator=rng).to(model.device)
    rows = model.num_classes or 1
    labels = torch.arange(rows, device=model.device) if model.num_classes else None
    was_training = generator.training
    generator.eval()
    w0 = generator.ws(z0.expand(rows, -1), labels, truncation_psi)  # (rows, num_ws, w_dim)
    w1 = generator.ws(z1.expand(rows, -1), labels, truncation_psi)
    t = torch.linspace(0, 1, steps, device=model.device).view(1, steps, 1, 1)
    path = torch.lerp(w0.unsqueeze(1), w1.unsqueeze(1), t)  # (rows, steps, num_ws, w_dim)
    images = generator.image(path.flatten(0, 1)).cpu()  # (rows * steps, C, H, W)
    generator.train(was_training)
    return images


def by_class(
    model: GenerativeModule,
    space: FeatureSpace | None,
    num_classes: int | None,
    per_class: int = 8,
    draws: int = 1000,
    seed: int = 0,
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """One row of `per_class` images per class (classes * per_class, C, H, W), row c showing
    class c, for data sets of at most ten classes (else, or without a way to tell the classes
    apart, (None, None)).

    A conditional model is asked for each class (the counts are None). An unconditional one draws
    `draws` samples, which the data set's classifier (`space`) sorts by class; rows with too few
    are filled with black, and the counts (classes,) of each predicted class among the draws are
    returned too.
    """
    if not num_classes or num_classes > 10 or not (model.num_classes or space):
        return None, None
    generator = torch.Generator().manual_seed(seed)
    if model.num_classes:
        z = torch.randn(num_classes * per_class, model.latent_dim, generator=generator)
        labels = torch.arange(num_classes).repeat_interleave(per_class)
        return model.generate(z, labels).cpu(), None
    images = model.generate(torch.randn(draws, model.latent_dim, generator=generator)).cpu()
    classes = space.classify(images).cpu()  # (draws,)
    rows = torch.full((num_classes, per_class, *images.shape[1:]), -1.0)  # black: too few
    for label in range(num_classes):
        found = images[classes == label][:per_class]
        rows[label, : len(found)] = found
    return rows.flatten(0, 1), torch.bincount(classes, minlength=num_classes)


def grid_figure(images: torch.Tensor, nrow: int, title: str) -> Figure:
    """A figure of images (N, C, H, W) in [-1, 1], `nrow` per row."""
    grid = make_grid(images.float(), nrow=nrow, normalize=True, value_range=(-1, 1), pad_value=1)
    rows = math.ceil(len(images) / nrow)
    figure, axes = plt.subplots(figsize=(0.6 * nrow + 0.5, 0.6 * rows + 0.6))
    axes.imshow(grid.permute(1, 2, 0).numpy())  # (H, W, 3)
    axes.set_axis_off()
    axes.set_title(title)
    return figure


def curves_figure(rows: list[dict]) -> Figure:
    """Training losses against images seen, and every val/* metric against the epoch."""
    metrics = sorted({key for row in rows for key in row if key.startswith("val/")})
    panels = 1 + len(metrics)
    columns = min(panels, 4)
    figure, axes = plt.subplots(
        math.ceil(panels / columns), columns, figsize=(4 * columns, 3 * math.ceil(panels / columns))
    )
    axes = list(getattr(axes, "flat", [axes]))
    for key in ("train/loss_d", "train/loss_g"):
        xs, ys = series(rows, key)
        axes[0].plot(xs, ys, label=key, linewidth=0.8)
    axes[0].set_xlabel("images seen")
    axes[0].legend()
    for ax, key in zip(axes[1:], metrics, strict=False):
        epochs, values = series(rows, key, x="epoch")
        ax.plot([e + 1 for e in epochs], values, marker="o")
        ax.set_title(key)
        ax.set_xlabel("epoch")
    for ax in axes[panels:]:
        ax.set_axis_off()
    figure.tight_layout()
    return figure


def metrics_markdown(run_dir: Path) -> str:
    """The run's final metrics (metrics.json) as a markdown table."""
    path = Path(run_dir) / "metrics.json"
    if not path.is_file():
        return f"No metrics.json in {run_dir} (the run has not finished)."
    metrics = json.loads(path.read_text())
    lines = ["| metric | value |", "|---|---|"]
    lines += [f"| {name} | {value:.4g} |" for name, value in metrics.items()]
    return "\n".join(lines)
