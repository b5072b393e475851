"""Every model x loss x normalisation choice: the allowed ones train, the refused ones say why."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate

from gan.config import ConfigError, validate_config
from gan.nets.norm import D_NORMS
from gan.train import train
from tests.conftest import CONFIG_DIR, fit_on_random_images

pytestmark = pytest.mark.slow

GAN_MODELS = ["cdcgan", "dcgan", "gan"]
LOSSES = sorted(p.stem for p in (CONFIG_DIR / "loss").glob("*.yaml"))
EXPERIMENTS = sorted(p.stem for p in (CONFIG_DIR / "experiment").glob("*.yaml"))
# Recipes for data that cannot be fetched here (or a folder of one's own); tests/test_datasets.py
# and tests/test_stylegan2_training.py train them on fabricated files.
FABRICATED = ["sngan_cifar10", "stylegan2_cifar10", "stylegan2_folder"]


@pytest.mark.parametrize("model", GAN_MODELS)
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("norm", D_NORMS)
def test_every_combination_trains_or_is_refused_clearly(make_cfg, model, loss, norm):
    norm_override = f"model.discriminator.norm={norm}"
    cfg = make_cfg(f"model={model}", f"loss={loss}", norm_override, "loss.n_critic=1")
    if loss == "wgan_gp" and norm == "batch":
        with pytest.raises(ConfigError, match=r"model\.discriminator\.norm='batch'.*wgan_gp"):
            validate_config(cfg)
        with pytest.raises(InstantiationException, match="BatchNorm"):  # the module refuses it too
            instantiate(cfg.model)
        return
    validate_config(cfg)
    gan = instantiate(cfg.model)
    metrics = fit_on_random_images(gan)
    assert math.isfinite(metrics["train/loss_d"]) and math.isfinite(metrics["train/loss_g"])
    assert (gan.d_steps, gan.g_steps) == (2, 2)


@pytest.mark.parametrize("loss", LOSSES)
def test_r1_works_with_every_loss(make_cfg, loss):
    cfg = make_cfg(f"loss={loss}", "loss.r1_gamma=5", "model.discriminator.norm=spectral")
    metrics = fit_on_random_images(instantiate(cfg.model))
    assert metrics["train/d_penalty"] > 0 and math.isfinite(metrics["train/loss_d"])


def test_r1_with_batchnorm_is_refused_by_name(make_cfg):
    with pytest.raises(ConfigError, match=r"model\.discriminator\.norm='batch'"):
        train(make_cfg("loss.r1_gamma=1"))


def test_wgan_clips_the_critic_after_every_step(make_cfg):
    cfg = make_cfg("loss=wgan", "loss.clip_value=0.005", "model.discriminator.norm=none")
    gan = instantiate(cfg.model)
    fit_on_random_images(gan)
    assert max(p.abs().max().item() for p in gan.discriminator.parameters()) <= 0.005


def test_per_loss_n_critic_defaults_and_override(make_cfg):
    assert make_cfg("loss=wgan").loss.n_critic == 5
    assert make_cfg("loss=wgan_gp").loss.n_critic == 5
    assert make_cfg("loss=hinge").loss.n_critic == 1
    cfg = make_cfg("loss=wgan", "loss.n_critic=2", "model.discriminator.norm=none")
    gan = instantiate(cfg.model)
    fit_on_random_images(gan, batches=4)
    assert (gan.d_steps, gan.g_steps) == (4, 2)


def test_ttur_learning_rates_reach_the_optimisers(make_cfg):
    gan = instantiate(make_cfg("model.optimizer_g.lr=1e-4", "model.optimizer_d.lr=4e-4").model)
    opt_g, opt_d = gan.configure_optimizers()
    assert (opt_g.param_groups[0]["lr"], opt_d.param_groups[0]["lr"]) == (1e-4, 4e-4)


def test_ema_generator_is_used_for_samples_and_can_be_switched_off(make_cfg):
    gan = instantiate(make_cfg().model)
    assert gan.generator_ema is not None and gan.generator_ema.decay == 0.999
    fit_on_random_images(gan, batches=3)
    assert gan.sampling_generator is gan.generator_ema.averaged
    z = gan.fixed_noise[:4]
    assert torch.equal(gan.generate(z), gan.generator_ema.averaged.eval()(z))
    assert not torch.equal(gan.generate(z), gan.generator.eval()(z))
    no_ema = instantiate(make_cfg("ema=null").model)
    assert no_ema.generator_ema is None and no_ema.sampling_generator is no_ema.generator


def test_conditional_grid_has_one_row_per_digit(make_cfg):
    gan = instantiate(make_cfg("model=cdcgan").model)
    assert gan.fixed_labels.view(10, 8).tolist() == [[d] * 8 for d in range(10)]
    assert gan.generate_fixed().shape == (80, 1, 28, 28)


def test_vae_trains_through_train_and_decodes_samples(make_cfg):
    cfg = make_cfg("model=vae")
    metrics = train(cfg)
    assert math.isfinite(metrics["train/loss"]) and metrics["train/kl"] >= 0
    assert metrics["g_steps"] == 4 and metrics["images_seen"] == 64
    assert (Path(cfg.paths.output_dir) / "samples" / "final.png").is_file()


def test_every_experiment_trains_a_few_batches(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "gan.train",
            "-m",
            f"experiment=glob(*,exclude=[{','.join(FABRICATED)}])",
            "debug=smoke",
            "trainer.limit_train_batches=2",
            "data.batch_size=8",
            "callbacks.metrics.num_samples=100",
            f"hydra.sweep.dir={tmp_path}",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "WANDB_MODE": "offline"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    overrides = sorted((p.read_text(), p) for p in tmp_path.glob("*/.hydra/overrides.yaml"))
    assert len(overrides) == len(EXPERIMENTS) - len(FABRICATED)
    for _, path in overrides:
        assert (path.parent.parent / "samples" / "final.png").is_file()
        assert (path.parent.parent / "metrics.json").is_file()


def test_rmsprop_and_ema_settings_reach_the_module(make_cfg):
    cfg = make_cfg(
        "optim@model.optimizer_d=rmsprop", "ema.decay=0.9", "ema.warmup=false", "loss=wgan"
    )
    gan = instantiate(cfg.model)
    opt_g, opt_d = gan.configure_optimizers()
    assert type(opt_g).__name__ == "Adam" and type(opt_d).__name__ == "RMSprop"
    assert opt_d.param_groups[0]["lr"] == 5e-5
    assert (gan.generator_ema.decay, gan.generator_ema.warmup) == (0.9, False)
