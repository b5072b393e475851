"""Fixtures: the project's Hydra config composed in-process, pointed at a temporary run dir."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import lightning as L
import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict
from torch.utils.data import DataLoader, TensorDataset

import gan.train  # noqa: F401  (registers the config resolvers)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CONFIG_DIR = PROJECT_ROOT / "conf"
# Small, quiet, fast: used by every test that trains through train(cfg).
FAST = [
    "debug=smoke",
    "trainer.accelerator=cpu",
    "data.batch_size=16",
    "callbacks.overfitting.num_images=200",
    "callbacks.metrics.num_samples=200",
]
# The image-to-image tasks (task=...) score their outputs with callbacks.task_metrics instead.
FAST_TASK = [*FAST[:-1], "callbacks.task_metrics.num_samples=100"]
TASK_MODELS = ("pix2pix", "cyclegan")
# Narrow networks for each model, so a few batches take a fraction of a second.
SMALL = {
    "dcgan": ["model.generator.width=8", "model.discriminator.width=8"],
    "gan": ["model.generator.hidden=[32,64]", "model.discriminator.hidden=[64,32]"],
    "cdcgan": ["model.generator.width=8", "model.discriminator.width=8"],
    "vae": ["model.encoder.width=8", "model.decoder.width=8"],
    "sngan": ["model.generator.width=16", "model.discriminator.width=16"],
    "stylegan2": [
        "model.latent_dim=16",
        "model.generator.w_dim=16",
        "model.generator.channel_base=512",
        "model.generator.channel_max=16",
    ],
    "pix2pix": ["model.generator.width=8", "model.discriminator.width=8"],
    "cyclegan": [
        *(f"model.{net}.width=8" for net in ("generator_ab", "generator_ba")),
        *(f"model.{net}.width=8" for net in ("discriminator_a", "discriminator_b")),
    ],
}


# The same, as command-line overrides for `python -m gan.train` in a subprocess.
TINY_CLI = [
    "debug=smoke",
    "trainer.limit_train_batches=2",
    "data.batch_size=8",
    "callbacks.metrics.num_samples=100",
    *SMALL["dcgan"],
]


def run_cli(*args: str, cwd: Path, module: str = "gan.train") -> subprocess.CompletedProcess:
    """`python -m <module> *args` in `cwd`, wandb offline; output captured."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "WANDB_MODE": "offline"},
    )


def fit_on_random_images(model: L.LightningModule, batches: int = 2) -> dict[str, float]:
    """Fit `model` for one epoch of `batches` batches of 4 random images with random digit
    labels, on the CPU; return the logged values."""
    images = torch.rand(batches * 4, 1, 28, 28) * 2 - 1  # (N, 1, 28, 28) in [-1, 1]
    loader = DataLoader(TensorDataset(images, torch.randint(0, 10, (len(images),))), batch_size=4)
    trainer = L.Trainer(
        accelerator="cpu",
        max_epochs=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(model, loader)
    return {key: float(value) for key, value in trainer.callback_metrics.items()}


def compose_config(overrides: list[str], output_dir: Path, mode: str = "RUN") -> DictConfig:
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("train", overrides=overrides, return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(output_dir)
        cfg.hydra.job.num = 0
        cfg.hydra.mode = mode
    HydraConfig().set_config(cfg)
    return cfg


@pytest.fixture
def make_cfg(tmp_path: Path) -> Callable[..., DictConfig]:
    """make_cfg(*overrides, fast=True) -> a composed config whose run dir is tmp_path/run."""

    def make(
        *overrides: str,
        fast: bool = True,
        shrink: str | None = None,
        output_dir: Path | None = None,
    ) -> DictConfig:
        """In fast mode the networks of `shrink` (default: the `model=` override, else dcgan)
        are narrowed; `shrink` names the model an experiment selects."""
        model = next((o.split("=", 1)[1] for o in overrides if o.startswith("model=")), "dcgan")
        shrink = shrink or model
        small = [*(FAST_TASK if shrink in TASK_MODELS else FAST), *SMALL[shrink]]
        extra = small if fast else []
        return compose_config([*extra, *overrides], output_dir or tmp_path / "run")

    yield make
    GlobalHydra.instance().clear()
