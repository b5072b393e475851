"""StyleGAN2 through train(cfg): its recipes, exact resume with lazy regularisers mid-interval,
and its samples (truncation) in gan.sample and gan.eval."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from PIL import Image

from gan.config import ConfigError, validate_config
from gan.eval import evaluate_checkpoint
from gan.sample import write_samples
from gan.train import train
from tests.conftest import compose_config
from tests.test_datasets import fabricate_cifar10
from tests.test_eval_sets import eval_cfg

pytestmark = pytest.mark.slow

SMALL = ["experiment=stylegan2_small", "trainer.limit_train_batches=1.0", "data.limit_images=96"]


def _last(cfg) -> dict:
    return torch.load(Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt", weights_only=True)


def test_the_small_recipe_trains_on_mnist_with_the_default_callbacks(make_cfg):
    """Two epochs of 6 batches, the metrics callback on (MNIST's classifier: the generator's 32x32
    images cropped to 28x28), lazy R1 and path length every few steps."""
    cfg = make_cfg(*SMALL, "trainer.max_epochs=2", shrink="stylegan2")
    assert (cfg.loss.r1_interval, cfg.model.path_length.interval) == (16, 4)
    metrics = train(cfg)
    assert (metrics["d_steps"], metrics["g_steps"]) == (12, 12)
    assert math.isfinite(metrics["val/fid_mnist"]) and metrics["train/path_length"] >= 0
    run = Path(cfg.paths.output_dir)
    assert (run / "samples" / "epoch_001.png").is_file()
    state = _last(cfg)["state_dict"]
    assert float(state["path_length.pl_mean"]) > 0
    assert not torch.equal(
        state["generator.mapping.w_avg"], torch.zeros_like(state["generator.mapping.w_avg"])
    )


def test_the_fast_cpu_path_trains_the_small_recipe(make_cfg):
    """Device data and channels-last D, bf16 autocast where the CPU has AMX (else fp32): R1 and
    path length (the first step's) run in float32 beside it."""
    cfg = make_cfg(*SMALL, "fast=cpu", "trainer.max_epochs=1", shrink="stylegan2")
    assert cfg.data.on_device and cfg.model.channels_last
    metrics = train(cfg)
    assert metrics["d_steps"] == metrics["g_steps"] == 6  # 96 images, batches of 16
    for key in ("train/loss_d", "train/loss_g", "train/path_length", "val/fid_mnist"):
        assert math.isfinite(metrics[key]), key


def test_a_conditional_stylegan2_maps_the_classes_in_both_networks(make_cfg):
    cfg = make_cfg(*SMALL, "model.generator.num_classes=${data.num_classes}", shrink="stylegan2")
    metrics = train(cfg)
    assert math.isfinite(metrics["val/fid_mnist"])
    model = instantiate(cfg.model)
    assert model.num_classes == 10 and model.discriminator.num_classes == 10
    assert model.generate_fixed().shape == (64, 1, 28, 28)


def test_resume_with_lazy_regularisers_mid_interval_is_exact(make_cfg, tmp_path):
    """R1 every 4 D steps and path length every 3 G steps; the first run stops after 5 batches
    (14 optimiser steps: 5 + 2 lazy R1, 5 + 2 path length), between regularisation steps of
    both, and is resumed to 12 batches."""
    common = [*SMALL, "trainer.max_epochs=2", "loss.r1_interval=4", "loss.r1_gamma=0.5",
              "model.path_length.interval=3", "seed=5"]  # fmt: skip

    def run(*extra: str, out: str):
        return make_cfg(*common, *extra, shrink="stylegan2", output_dir=tmp_path / out)

    straight = run(out="straight")
    train(straight)
    first = run("+trainer.max_steps=14", out="first")
    assert train(first)["d_steps"] == 5
    ckpt = Path(first.paths.output_dir) / "checkpoints" / "last.ckpt"
    resumed = run(f"ckpt_path={ckpt}", "seed=999", out="resumed")
    assert train(resumed)["d_steps"] == 12
    a, b = _last(straight), _last(resumed)
    differ = [k for k, v in a["state_dict"].items() if not torch.equal(v, b["state_dict"][k])]
    assert differ == []
    for x, y in zip(a["optimizer_states"], b["optimizer_states"], strict=True):
        assert all(
            torch.equal(x["state"][i]["exp_avg"], y["state"][i]["exp_avg"]) for i in x["state"]
        )


def test_the_cifar10_recipe_is_stylegan2_adas_cifar_config_and_trains(make_cfg, tmp_path,
                                                                      monkeypatch):  # fmt: skip
    cfg = compose_config(["experiment=stylegan2_cifar10"], tmp_path / "compose")
    g, d = cfg.model.generator, cfg.model.discriminator
    assert (g.mapping_layers, g.channel_base, g.channel_max, g.style_mixing_prob) == (
        2,
        32768,
        512,
        0.0,
    )
    assert (d.architecture, d.mbstd_group_size, cfg.model.path_length) == ("orig", 32, None)
    assert (cfg.loss.r1_gamma, cfg.loss.r1_interval, cfg.data.batch_size) == (0.01, 16, 64)
    assert (cfg.model.optimizer_g.lr, list(cfg.model.optimizer_d.betas)) == (0.0025, [0.0, 0.99])
    assert (cfg.ema.half_life_kimg, cfg.ema.rampup, g.num_classes) == (500, 0.05, 10)
    fabricate_cifar10(tmp_path / "data", monkeypatch, per_batch=40)
    small = make_cfg("experiment=stylegan2_cifar10", f"data.root={tmp_path / 'data'}",
                     "data.val_size=32", "data.batch_size=32", "callbacks.metrics.num_samples=32",
                     "trainer.limit_train_batches=2", shrink="stylegan2")  # fmt: skip
    metrics = train(small)
    assert metrics["d_steps"] == 2 and math.isfinite(metrics["val/fid_inception"])


@pytest.mark.parametrize(
    ("resolution", "batch", "gamma", "ema_kimg"),
    [(64, 32, 0.0256, 10.0), (128, 32, 0.1024, 10.0), (256, 16, 0.8192, 5.0)],
)
def test_the_folder_recipe_follows_the_auto_rules(tmp_path, resolution, batch, gamma, ema_kimg):
    cfg = compose_config(["experiment=stylegan2_folder", "data.path=x",
                          f"data.resolution={resolution}"], tmp_path)  # fmt: skip
    assert cfg.data.batch_size == batch and cfg.loss.r1_gamma == pytest.approx(gamma)
    assert cfg.model.generator.channel_base == 16384 and cfg.ema.half_life_kimg == ema_kimg
    assert cfg.model.discriminator.mbstd_group_size == 4 and cfg.model.optimizer_g.lr == 0.0025


def test_the_folder_recipe_trains_on_photos_at_64(make_cfg, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(48):
        Image.fromarray(rng.integers(0, 256, (80, 72, 3), dtype=np.uint8)).save(folder / f"{i}.jpg")
    cfg = make_cfg("experiment=stylegan2_folder", f"data.path={folder}", "data.batch_size=8",
                   "data.val_size=8", "callbacks.metrics.num_samples=8",
                   "trainer.limit_train_batches=2", shrink="stylegan2")  # fmt: skip
    metrics = train(cfg)
    assert metrics["d_steps"] == 2 and math.isfinite(metrics["val/fid_inception"])
    assert instantiate(cfg.model).generate_fixed().shape == (64, 3, 64, 64)


def test_a_minibatch_std_group_that_does_not_cut_the_batch_is_refused(tmp_path):
    cfg = compose_config(["experiment=stylegan2_small", "data.batch_size=30"], tmp_path)
    with pytest.raises(ConfigError, match=r"mbstd_group_size=4 is invalid: data\.batch_size=30"):
        validate_config(cfg)


def test_truncation_in_gan_eval_sweeps_fidelity_against_diversity_and_gan_sample_draws_it(
    make_cfg, tmp_path
):
    """A conditional model, so that gan.sample's row per class needs no classifier to find
    classes that an untrained generator rarely draws."""
    cfg = make_cfg(*SMALL, "model.generator.num_classes=${data.num_classes}", shrink="stylegan2")
    train(cfg)
    ckpt = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    report = evaluate_checkpoint(eval_cfg(f"ckpt_path={ckpt}", "n_samples=100", "floor=false",
                                          "truncation=[1.0,0.7,0.0]", "metrics=[fid,classes]",
                                          f"out_dir={tmp_path / 'eval'}"))  # fmt: skip
    sweep = report["truncation_sweep"]
    assert [row["psi"] for row in sweep] == [1.0, 0.7, 0.0]
    assert sweep[2]["classes_covered"] == 1  # psi 0: every sample the average image
    assert report["model"]["fid_mnist"] == sweep[0]["fid_mnist"]
    grid = write_samples(ckpt, None, 16, tmp_path / "truncated.png", truncation=0.5)
    assert grid.is_file()
    coarse = write_samples(ckpt, 3, 4, tmp_path / "coarse.png", truncation=0.5, truncation_cutoff=4)
    assert coarse.is_file()
    with pytest.raises(ConfigError, match=r"truncation_cutoff=99 is invalid: .* from 1 to 8"):
        write_samples(ckpt, None, 4, tmp_path / "x.png", truncation=0.5, truncation_cutoff=99)
    with pytest.raises(ConfigError, match=r"truncation=1\.5 is invalid: a psi in \[0, 1\]"):
        write_samples(ckpt, None, 4, tmp_path / "x.png", truncation=1.5)
    with pytest.raises(ConfigError, match=r"one psi per grid"):
        write_samples(ckpt, None, 4, tmp_path / "x.png", truncation=[0.5, 0.7])
    dcgan = make_cfg(output_dir=tmp_path / "dcgan")
    train(dcgan)
    dcgan_ckpt = Path(dcgan.paths.output_dir) / "checkpoints" / "last.ckpt"
    with pytest.raises(ConfigError, match=r"truncation=0\.5: .*DCGANGenerator has none"):
        evaluate_checkpoint(eval_cfg(f"ckpt_path={dcgan_ckpt}", "truncation=0.5",
                                     f"out_dir={tmp_path / 'e2'}"))  # fmt: skip
    with pytest.raises(ConfigError, match=r"truncation=0\.5: .*has none \(model=stylegan2 has\)"):
        write_samples(dcgan_ckpt, None, 4, tmp_path / "x.png", truncation=0.5)
