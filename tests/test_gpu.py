"""The GPU path, run on a GPU (`gpu` marker): every test here needs CUDA and is skipped without it.
`make gpu-check` runs them with the rest of the GPU check (gan/gpu_check.py)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from gan.train import train

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]

ON_GPU = ["trainer=gpu", "trainer.accelerator=gpu"]  # after make_cfg's trainer.accelerator=cpu
# Every loss on the GPU fast path (compile, bf16 autocast, fused Adam, data on the device).
LOSS_RUNS = {
    "bce": ["loss=bce"],
    "minimax": ["loss=minimax"],
    "lsgan": ["loss=lsgan"],
    "hinge": ["loss=hinge"],
    "wgan": ["loss=wgan"],
    "wgan_gp": ["experiment=wgan_gp"],  # a gradient penalty: double backward through D
    "r1": ["loss=hinge", "loss.r1_gamma=1", "model.discriminator.norm=spectral"],
    "tutorial": ["experiment=tutorial"],  # sigmoid + nn.BCELoss, refused by CUDA autocast
}


@pytest.mark.parametrize("name", LOSS_RUNS)
def test_every_loss_trains_on_the_gpu_fast_path(make_cfg, name):
    shrink = "gan" if name == "tutorial" else "dcgan"
    batches = 10  # two WGAN generator steps (n_critic 5)
    cfg = make_cfg(
        *LOSS_RUNS[name], "fast=gpu", *ON_GPU, f"trainer.limit_train_batches={batches}",
        shrink=shrink,
    )  # fmt: skip
    assert cfg.trainer.precision == ("bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed")
    metrics = train(cfg)
    assert metrics["d_steps"] == batches and metrics["g_steps"] >= 2
    for key in ("train/loss_d", "train/loss_g", "val/fid_mnist"):
        assert math.isfinite(metrics[key]), key


def test_stylegan2_trains_on_the_gpu_fast_path(make_cfg):
    """The small recipe under compile, bf16 autocast, fused Adam and device data: 17 batches, so
    lazy R1 runs twice (the double backward eagerly) and path length five times."""
    batches = 17
    cfg = make_cfg(
        "experiment=stylegan2_small", "fast=gpu", *ON_GPU, f"trainer.limit_train_batches={batches}",
        "trainer.max_epochs=1", shrink="stylegan2",
    )  # fmt: skip
    metrics = train(cfg)
    assert metrics["d_steps"] == metrics["g_steps"] == batches
    for key in ("train/loss_d", "train/loss_g", "train/path_length", "val/fid_mnist"):
        assert math.isfinite(metrics[key]), key


def test_stylegan2_with_ada_trains_on_the_gpu(make_cfg):
    """Lazy R1 differentiates D's gradient through ADA's resampling: with torch 2.11's own
    grid_sample this stopped at the first step on an H200 (gan/augment/grid_sample.py). p fixed
    at 0.5 so that every transform is drawn; 17 batches, so R1 runs twice."""
    batches = 17
    cfg = make_cfg(
        "experiment=stylegan2_small", "remedy=ada", "augment.p=0.5", "augment.adaptive=false",
        *ON_GPU, f"trainer.limit_train_batches={batches}", "trainer.max_epochs=1",
        shrink="stylegan2",
    )  # fmt: skip
    metrics = train(cfg)
    assert metrics["d_steps"] == batches
    for key in ("train/loss_d", "train/d_penalty", "train/loss_g", "val/fid_mnist"):
        assert math.isfinite(metrics[key]), key
    assert metrics["train/ada_p"] == 0.5


# The mode-collapse remedies on the GPU: packing (along channels, and along features for the
# MLP), the minibatch standard deviation and DiffAugment's random transforms, on Stacked MNIST under
# compile and autocast (fast=gpu), and packing on a 2-D mixture (no fast path: its points are not
# images, so it keeps the DataLoader).
STACKED = [
    "experiment=stacked_mnist", "data.num_images=1000", "data.num_eval_images=300", "fast=gpu",
]  # fmt: skip
REMEDY_RUNS = {
    "pack2": [*STACKED, "remedy=pack2"],
    "pack3": [*STACKED, "remedy=pack3", "data.batch_size=15"],
    "minibatch_std": [*STACKED, "remedy=minibatch_std"],
    "diffaugment": [*STACKED, "remedy=diffaugment"],
    "mixture_pack2": ["experiment=mixture", "remedy=pack2"],
}


@pytest.mark.parametrize("name", REMEDY_RUNS)
def test_every_remedy_trains_on_the_gpu(make_cfg, name):
    shrink = "gan" if name.startswith("mixture") else "dcgan"
    batches = 6
    cfg = make_cfg(
        *REMEDY_RUNS[name], *ON_GPU, f"trainer.limit_train_batches={batches}",
        "trainer.max_epochs=1", shrink=shrink,
    )  # fmt: skip
    metrics = train(cfg)
    assert metrics["d_steps"] == batches and metrics["g_steps"] == batches
    for key in ("train/loss_d", "train/loss_g"):
        assert math.isfinite(metrics[key]), key
    modes = "val/modes_captured" if name.startswith("mixture") else "val/modes_covered"
    assert math.isfinite(metrics[modes]) and math.isfinite(metrics["val/mode_kl"])


def _train_then_resume(make_cfg, tmp_path: Path, first: list[str], then: list[str]) -> dict:
    """Two epochs of 3 batches on `first`'s device, then a third epoch resumed on `then`'s."""
    common = ["trainer.limit_train_batches=3"]
    cfg = make_cfg(*first, *common, "trainer.max_epochs=2", output_dir=tmp_path / "first")
    before = train(cfg)
    checkpoint = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    resumed = make_cfg(
        *then, *common, "trainer.max_epochs=3", f"ckpt_path={checkpoint}",
        output_dir=tmp_path / "resumed",
    )  # fmt: skip
    after = train(resumed)
    assert before["d_steps"] == 6 and after["d_steps"] == 9
    assert after["images_seen"] == 9 * 16 and after["epochs"] == 3
    assert math.isfinite(after["train/loss_d"]) and math.isfinite(after["val/fid_mnist"])
    return after


def test_checkpoint_saved_on_the_gpu_resumes_on_the_cpu(make_cfg, tmp_path):
    _train_then_resume(make_cfg, tmp_path, first=ON_GPU, then=["trainer=cpu"])


def test_checkpoint_saved_on_the_cpu_resumes_on_the_gpu(make_cfg, tmp_path):
    _train_then_resume(make_cfg, tmp_path, first=["trainer=cpu"], then=ON_GPU)


def test_fast_path_checkpoint_resumes_on_the_cpu(make_cfg, tmp_path):
    """Compiled, bf16, fused-Adam training on the GPU; the plain CPU path continues it."""
    _train_then_resume(make_cfg, tmp_path, first=["fast=gpu", *ON_GPU], then=["trainer=cpu"])


def test_the_ema_update_on_the_gpu_is_bit_for_bit_a_lerp_per_tensor():
    """The EMA's multi-tensor update (fused CUDA kernels) does exactly what a `lerp_` per tensor
    does, on the default DCGAN generator."""
    from gan.ema import EMA
    from gan.nets.dcgan import DCGANGenerator

    torch.manual_seed(0)
    generator = DCGANGenerator().cuda()
    ema = EMA(generator, 0.999, warmup=False)
    reference = [p.clone() for p in ema.averaged.parameters()]
    for _ in range(3):
        with torch.no_grad():
            for p in generator.parameters():
                p.add_(torch.randn_like(p))
        for average, current in zip(reference, generator.parameters(), strict=True):
            average.lerp_(current.detach(), 1.0 - 0.999)
        ema.update(generator)
    for average, expected in zip(ema.averaged.parameters(), reference, strict=True):
        assert torch.equal(average, expected)
