"""The image-to-image tasks: operators on hand-made images, the unpaired split, every task through
train(cfg) with and without the adversarial term, the cycle loss, the task metrics, gan.eval."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from torch import nn

from gan.data import MNISTDataModule, unpaired_split
from gan.metrics.image2image import psnr, sharpness, ssim
from gan.nets import UNet
from gan.tasks.corruptions import Inpainting, SuperResolution
from gan.tasks.operators import (
    FILL,
    apply_mask,
    dilate,
    disk,
    downsample,
    make_mask,
    upsample,
)
from gan.train import train
from tests.conftest import run_cli

TASKS = ("inpaint", "superres", "translate")
TASK_MODEL = {"inpaint": "pix2pix", "superres": "pix2pix", "translate": "cyclegan"}


def test_centre_mask_zeroes_exactly_the_square():
    images = torch.ones(2, 1, 28, 28)  # all ink
    mask = make_mask(images.shape, "centre", size=12)
    assert mask.sum() == 2 * 12 * 12
    assert mask[0, 0, 8:20, 8:20].all() and mask[0, 0].sum() == 144
    masked = apply_mask(images, mask)
    assert (masked[mask.bool()] == FILL).all() and (masked[~mask.bool()] == 1).all()


def test_random_masks_hide_what_they_say_and_follow_the_generator():
    shape = (64, 1, 28, 28)
    boxes = make_mask(shape, "boxes", size=5, boxes=1, generator=torch.Generator().manual_seed(0))
    assert (boxes.sum(dim=(1, 2, 3)) == 25).all()  # one 5x5 box per image
    again = make_mask(shape, "boxes", size=5, boxes=1, generator=torch.Generator().manual_seed(0))
    assert torch.equal(boxes, again)
    pixels = make_mask(shape, "pixels", fraction=0.3, generator=torch.Generator().manual_seed(1))
    assert pixels.mean().item() == pytest.approx(0.3, abs=0.01)
    with pytest.raises(ValueError, match="kind='ring'"):
        make_mask(shape, "ring")
    with pytest.raises(ValueError, match="size=40"):
        Inpainting(size=40)


def test_downsampling_averages_blocks_and_upsampling_restores_the_size():
    images = torch.zeros(1, 1, 4, 4)
    images[0, 0, :2, :2] = 1.0  # one bright 2x2 block
    assert torch.equal(downsample(images, 2)[0, 0], torch.tensor([[1.0, 0.0], [0.0, 0.0]]))
    assert downsample(torch.rand(3, 1, 28, 28), 4).shape == (3, 1, 7, 7)
    low = upsample(downsample(torch.rand(3, 1, 28, 28) * 2 - 1, 4), 28)
    assert low.shape == (3, 1, 28, 28) and low.min() >= -1 and low.max() <= 1
    with pytest.raises(ValueError, match="factor=3"):
        SuperResolution(3)


@pytest.mark.parametrize("radius", [1, 2, 3])
def test_dilating_a_single_pixel_gives_the_structuring_element(radius):
    images = torch.full((1, 1, 11, 11), -1.0)  # background
    images[0, 0, 5, 5] = 1.0
    dilated = dilate(images, radius)[0, 0]
    element = torch.zeros(11, 11)
    element[5 - radius : 6 + radius, 5 - radius : 6 + radius] = disk(radius)
    assert torch.equal(dilated, element * 2 - 1)  # ink exactly where the disk is


def test_dilation_thickens_strokes_and_treats_the_border_as_background():
    images = torch.full((1, 1, 5, 5), -1.0)
    images[0, 0, 0, 0] = 0.5  # a grey pixel in the corner
    dilated = dilate(images, 1)[0, 0]
    assert dilated[0, 0] == dilated[0, 1] == dilated[1, 0] == 0.5
    assert dilated[1, 1] == -1  # outside the radius-1 disk
    assert dilate(images, 0) is images


def test_unpaired_split_shares_no_training_image():
    index_a, index_b = unpaired_split(55_000, seed=1234)
    assert len(index_a) == len(index_b) == 27_500
    assert not set(index_a.tolist()) & set(index_b.tolist())
    data = MNISTDataModule(unpaired=True)
    data.prepare_data()
    data.setup()
    domain_a, domain_b = data.domains()
    rows = {bytes(image.numpy()) for image in domain_a.images}
    assert not any(bytes(image.numpy()) in rows for image in domain_b.images[:2000])


def test_residual_unet_with_a_zero_head_returns_its_input():
    unet = UNet(in_channels=2, out_channels=1, width=4, residual=True).eval()
    nn.init.zeros_(unet.out.weight)
    nn.init.zeros_(unet.out.bias)
    x = torch.rand(3, 2, 28, 28) * 2 - 1
    assert torch.equal(unet(x), x[:, :1])
    assert UNet(width=4)(x[:, :1]).abs().max() < 1  # the Tanh head otherwise
    with pytest.raises(ValueError, match="in_channels=1 < out_channels=2"):
        UNet(in_channels=1, out_channels=2, residual=True)


def test_cycle_loss_of_identity_generators_is_zero(make_cfg):
    model = instantiate(make_cfg("task=translate", shrink="cyclegan").model)
    model.generator_ab, model.generator_ba = nn.Identity(), nn.Identity()
    a, b = torch.rand(4, 1, 28, 28), torch.rand(4, 1, 28, 28)
    assert model.cycle_loss(a, b, model.generator_ab(a), model.generator_ba(b)) == 0


def test_task_losses_are_refused_by_name(make_cfg):
    with pytest.raises(Exception, match="loss=bce, minimax, lsgan or hinge"):
        instantiate(make_cfg("task=inpaint", "loss=wgan_gp", shrink="pix2pix").model)
    with pytest.raises(Exception, match="reconstruction='l3'"):
        instantiate(make_cfg("task=inpaint", "model.reconstruction=l3", shrink="pix2pix").model)


def test_identical_images_have_infinite_psnr_unit_ssim_and_sharpness():
    images = torch.rand(8, 1, 28, 28) * 2 - 1
    assert psnr(images, images) == math.inf
    assert ssim(images, images) == pytest.approx(1.0)
    assert sharpness(images, images) == pytest.approx(1.0)
    blurred = torch.nn.functional.avg_pool2d(images, 3, stride=1, padding=1)
    assert sharpness(blurred, images) < 0.7 and psnr(blurred, images) < 30


@pytest.mark.slow
@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("adv_weight", [1.0, 0.0])
def test_every_task_trains_through_train_cfg(make_cfg, task, adv_weight):
    cfg = make_cfg(f"task={task}", f"model.adv_weight={adv_weight}", shrink=TASK_MODEL[task])
    metrics = train(cfg)
    assert math.isfinite(metrics["train/loss_g"]) and math.isfinite(metrics["train/reconstruction"])
    assert metrics["g_steps"] == 4
    assert metrics["d_steps"] == (4 if adv_weight else 0)  # the twin never trains D
    if adv_weight:
        assert math.isfinite(metrics["train/loss_d"])
    for name in ("val/psnr", "val/ssim", "val/fid_mnist", "val/accuracy", "val/sharpness"):
        assert math.isfinite(metrics[name]), name
    assert (Path(cfg.paths.output_dir) / "samples" / "final.png").is_file()


@pytest.mark.slow
def test_eval_scores_a_task_checkpoint_beside_its_input(make_cfg, tmp_path):
    cfg = make_cfg("task=superres", "model.corruption.factor=2", shrink="pix2pix")
    train(cfg)
    ckpt = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    result = run_cli(f"ckpt_path={ckpt}", "n_samples=200", f"out_dir={tmp_path}", cwd=tmp_path,
                     module="gan.eval")  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((tmp_path / "metrics.json").read_text())
    assert report["n_samples"] == 200
    assert set(report["model"]) == set(report["input_as_output"]) == {
        "psnr", "ssim", "fid_mnist", "accuracy", "sharpness"
    }  # fmt: skip
    assert report["input_as_output"]["psnr"] > 15  # x2 bicubic is close to the digit already
    assert (tmp_path / "samples.png").is_file()
