"""The 2-D mixtures (ring8, grid25): their geometry, mode metrics, a run and its scatter plots."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from torchvision.io import read_image

from gan.data.mixtures import SCALES, STDS, MixtureDataModule, mixture_centres
from gan.eval import evaluate_sets
from gan.metrics.mixtures import mixture_statistics, register
from gan.train import train
from tests.conftest import CONFIG_DIR


def test_the_modes_sit_where_the_papers_put_them():
    ring = mixture_centres("ring8")
    assert ring.shape == (8, 2) and torch.allclose(
        ring.norm(dim=1), torch.ones(8, dtype=ring.dtype)
    )
    grid = mixture_centres("grid25")
    assert grid.shape == (25, 2) and set(grid.flatten().tolist()) == {-4.0, -2.0, 0.0, 2.0, 4.0}
    with pytest.raises(ValueError, match="kind='moons'"):
        mixture_centres("moons")


@pytest.mark.parametrize("kind", ["ring8", "grid25"])
def test_real_points_cover_every_mode_evenly_and_one_point_covers_one(kind):
    data = MixtureDataModule(kind)
    data.setup()
    real = data.val_set.images  # (2500, 2, 1, 1) in the [-1, 1] box
    assert real.shape == (2500, 2, 1, 1) and real.abs().max() <= 1
    stats = mixture_statistics(register(real, kind), kind, len(real))
    num_modes = len(mixture_centres(kind))
    assert stats["modes_captured"] == stats["modes_captured_20"] == num_modes
    assert stats["high_quality"] > 0.99 and stats["mode_kl"] < 0.05
    one_mode = (mixture_centres(kind)[:1].float() / SCALES[kind]).repeat(2500, 1)
    collapsed = mixture_statistics(register(one_mode, kind), kind, 2500)
    assert collapsed["modes_captured"] == collapsed["modes_captured_20"] == 1
    assert collapsed["high_quality"] == 1.0
    assert collapsed["mode_kl"] == pytest.approx(math.log(num_modes))
    between = torch.full((2500, 2), 0.5 / SCALES[kind])  # (0.5, 0.5): near no mode of either
    lost = mixture_statistics(register(between, kind), kind, 2500)
    assert lost == {"modes_captured": 0.0, "modes_captured_20": 0.0, "high_quality": 0.0,
                    "mode_kl": math.log(num_modes)}  # fmt: skip


@pytest.mark.parametrize("kind", ["ring8", "grid25"])
def test_a_mode_is_captured_by_one_high_quality_sample_as_veegan_and_pacgan_count(kind):
    """2,500 samples, every one on the first mode but one on each of the others (VEEGAN's "at
    least one high quality sample", PacGAN's nonzero count): every mode captured; by the
    stricter count (20 of 2,500), only the first. A sample 3.5 std from a mode counts for none."""
    centres = mixture_centres(kind).float() / SCALES[kind]  # (K, 2) in the [-1, 1] box
    num_modes = len(centres)
    points = torch.cat([centres[:1].repeat(2500 - num_modes + 1, 1), centres[1:]])
    stats = mixture_statistics(register(points, kind), kind, len(points))
    assert stats["modes_captured"] == num_modes and stats["modes_captured_20"] == 1
    off = centres[1:2] + torch.tensor([[3.5 * STDS[kind] / SCALES[kind], 0.0]])
    assert register(off, kind).tolist() == [-1]


def test_a_mixture_refuses_image_settings_by_name():
    with pytest.raises(ValueError, match=r"data\.kind='moons'"):
        MixtureDataModule("moons")
    with pytest.raises(ValueError, match="resolution=28"):
        MixtureDataModule("ring8", resolution=28)


def test_limit_images_trains_on_fewer_points():
    data = MixtureDataModule("grid25", limit_images=500)
    data.setup()
    assert len(data.train_set) == 500 and len(data.val_set) == 2500


@pytest.mark.slow
def test_a_packed_mlp_gan_trains_on_the_grid_and_draws_scatter_plots(make_cfg):
    cfg = make_cfg("experiment=mixture", "data=grid25", "model.discriminator.pack=2",
                   "trainer.max_epochs=2", "trainer.limit_train_batches=20",
                   "callbacks.metrics.num_samples=500", "callbacks.metrics.metrics=null",
                   shrink="gan")  # fmt: skip
    metrics = train(cfg)
    assert {"val/modes_captured", "val/high_quality", "val/mode_kl"} <= set(metrics)
    assert 0 <= metrics["val/mode_kl"] <= math.log(25) + 1e-6  # logged as float32
    run = Path(cfg.paths.output_dir)
    plot = read_image(str(run / "samples" / "final.png"))  # (3, 256, 256)
    assert plot.shape == (3, 256, 256) and (plot < 255).any()  # dots drawn on white
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        eval_cfg = compose("eval", [f"fake={run / 'checkpoints' / 'last.ckpt'}", "n_samples=500"])
    report = evaluate_sets(eval_cfg)  # scored in the grid's own space, beside real points
    assert report["feature_space"] == "grid25"
    assert report["real_floor"]["modes_captured"] == 25
