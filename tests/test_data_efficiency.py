"""Data efficiency: ADA's pipeline and controller, LeCam, bCR and zCR, and the class-balanced
training subsets of `data.limit_images` and `data.fraction`."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from hydra.utils import instantiate

from gan.augment import AdaptiveAugment
from gan.augment.ada import ALL, transform_names
from gan.augment.grid_sample import grid_sample
from gan.augment.leak import leak_rows
from gan.config import ConfigError, validate_config
from gan.data import default_data_dir
from gan.data.splits import class_balanced, limited, subset_size
from gan.losses import ConsistencyRegularisation, LeCam
from gan.train import train
from tests.conftest import PROJECT_ROOT
from tests.test_datasets import fabricate_folder

# The share of images a transform changes when applied: the flips and quarter turns draw the
# identity too (x-flip 1 in 2, luma flip 1 in 2, rotate90 1 in 4), an integer translation of up
# to 4 pixels at 32 px rounds to none in x and y 1 time in 64; the others always change an image.
CHANGED_WHEN_APPLIED = {"xflip": 0.5, "rotate90": 0.75, "lumaflip": 0.5, "xint": 63 / 64}


def _changed(pipe: AdaptiveAugment, images: torch.Tensor) -> torch.Tensor:
    """(B,) True where the pipeline changed an image."""
    return (pipe(images) - images).abs().amax(dim=(1, 2, 3)) > 1e-5


@pytest.mark.parametrize("name", ALL)
def test_each_transform_is_the_identity_at_p0_and_applied_with_probability_p(name):
    torch.manual_seed(0)
    images = torch.rand(2000, 3, 32, 32) * 2 - 1  # (B, 3, 32, 32) in [-1, 1]
    assert torch.equal(AdaptiveAugment([name], p=0.0)(images), images)
    expected = CHANGED_WHEN_APPLIED.get(name, 1.0)
    for p in (1.0, 0.5):
        share = _changed(AdaptiveAugment([name], p=p), images).float().mean().item()
        assert abs(share - p * expected) < 0.04, (name, p, share)


def test_the_blits_move_pixels_exactly():
    """x-flip, quarter turns and integer shifts resample at pixel centres: the flipped images
    are torch.flip's, to rounding."""
    torch.manual_seed(1)
    images = torch.rand(64, 3, 16, 16)
    out = AdaptiveAugment(["xflip"], p=1.0)(images)
    flipped = (out - images).abs().amax(dim=(1, 2, 3)) > 1e-5
    assert 10 < flipped.sum() < 54
    torch.testing.assert_close(out[flipped], images[flipped].flip(3), atol=1e-5, rtol=0)
    turned = AdaptiveAugment(["rotate90"], p=1.0)(images)
    quarter_turns = [images.rot90(k, dims=(2, 3)) for k in range(4)]
    for i in range(len(images)):
        assert any(torch.allclose(turned[i], q[i], atol=1e-5) for q in quarter_turns)


def test_the_pipeline_is_differentiable():
    images = torch.rand(2, 3, 8, 8, dtype=torch.float64, requires_grad=True)
    pipe = AdaptiveAugment("bgc", p=1.0)

    def augmented(x: torch.Tensor) -> torch.Tensor:
        torch.manual_seed(3)  # the same draws at every evaluation
        return pipe(x)

    assert torch.autograd.gradcheck(augmented, (images,), eps=1e-6, atol=1e-5)
    grey = torch.rand(2, 1, 8, 8, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(augmented, (grey,), eps=1e-6, atol=1e-5)


def _node_names(tensor: torch.Tensor) -> set[str]:
    """The names of every node in the autograd graph behind `tensor`."""
    names, stack, seen = set(), [tensor.grad_fn], set()
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        names.add(type(node).__name__)
        stack.extend(next_node for next_node, _ in node.next_functions)
    return names


@pytest.mark.parametrize("padding_mode", ["zeros", "border", "reflection"])
def test_the_resampling_is_f_grid_sample_and_twice_differentiable(padding_mode):
    torch.manual_seed(0)
    images = torch.randn(2, 3, 6, 5, dtype=torch.float64, requires_grad=True)
    theta = torch.eye(2, 3, dtype=torch.float64) + 0.3 * torch.randn(2, 2, 3, dtype=torch.float64)
    grid = F.affine_grid(theta, [2, 3, 7, 4], align_corners=False)  # (2, 7, 4, 2)

    def sampled(x: torch.Tensor) -> torch.Tensor:
        return grid_sample(x, grid, padding_mode)

    expected = F.grid_sample(
        images, grid, mode="bilinear", padding_mode=padding_mode, align_corners=False
    )
    torch.testing.assert_close(sampled(images), expected, rtol=0, atol=0)
    assert torch.autograd.gradcheck(sampled, (images,))
    assert torch.autograd.gradgradcheck(sampled, (images,))


def test_r1_through_ada_needs_no_derivative_torch_lacks():
    """R1 differentiates D's gradient with respect to the un-augmented images: a double backward
    through ADA's resampling. torch 2.11 has no derivative for grid_sampler_2d_backward (StyleGAN2
    with ADA stopped at its first step on an H200); the graph of the first derivative must not
    hold that node."""
    pipe = AdaptiveAugment("bgc", p=0.8)
    images = torch.randn(4, 1, 12, 12, requires_grad=True)
    weight = torch.randn(2, 1, 3, 3, requires_grad=True)
    scores = F.conv2d(pipe(images), weight).square().mean(dim=(1, 2, 3))  # (4,)
    (gradient,) = torch.autograd.grad(scores.sum(), images, create_graph=True)
    assert not any("GridSampler2D" in name for name in _node_names(gradient))
    gradient.square().sum().backward()
    assert weight.grad is not None and weight.grad.abs().sum() > 0


def test_a_grid_that_needs_a_gradient_gets_one():
    images = torch.randn(1, 1, 5, 5)
    grid = (torch.rand(1, 4, 4, 2) * 2 - 1).requires_grad_()
    grid_sample(images, grid, "reflection").sum().backward()
    assert grid.grad is not None and grid.grad.abs().sum() > 0
    with pytest.raises(ValueError, match=r"padding_mode='mirror'.*reflection"):
        grid_sample(images, grid.detach(), "mirror")


def test_the_draws_do_not_depend_on_the_images():
    """The same seed gives the same transforms whatever the images hold: the RNG moves alike,
    and per image the pipeline is one affine map (A(x) + A(y) - A(0) = A(x + y))."""
    pipe = AdaptiveAugment("bgc", p=0.7)
    x, y = torch.rand(32, 3, 16, 16), torch.rand(32, 3, 16, 16) * 0.5
    outputs, states = [], []
    for images in (x, y, torch.zeros_like(x), x + y):
        torch.manual_seed(11)
        outputs.append(pipe(images))
        states.append(torch.get_rng_state())
    assert all(torch.equal(states[0], s) for s in states[1:])
    a_x, a_y, a_0, a_xy = outputs
    torch.testing.assert_close(a_x + a_y - a_0, a_xy, atol=1e-4, rtol=0)


def test_the_controller_moves_p_at_the_references_rate():
    """Up when D's real scores are all positive (r_t = 1 > 0.6), down when they straddle zero
    (r_t = 0), by interval * batch / (speed_kimg * 1000) at each adjustment."""
    ada = AdaptiveAugment(p=0.0)
    batch, step = 64, 4 * 64 / 500_000
    for d_step in range(37):  # adjustments after D steps 0, 4, ..., 36: 10 of them
        ada.accumulate(torch.ones(batch))
        if ada.adjustment_due(d_step):
            ada.adjust(batch)
    assert ada.rt.item() == 1.0
    assert ada.p.item() == pytest.approx(10 * step, rel=1e-6)
    straddling = torch.tensor([1.0, -1.0]).repeat(batch // 2)
    for d_step in range(37, 57):  # after 40, 44, ..., 56: 5 adjustments
        ada.accumulate(straddling)
        if ada.adjustment_due(d_step):
            ada.adjust(batch)
    assert ada.rt.item() == 0.0
    assert ada.p.item() == pytest.approx(5 * step, rel=1e-5)
    fixed = AdaptiveAugment(p=0.3, adaptive=False)
    fixed.accumulate(torch.ones(batch))
    fixed.adjust(batch)
    assert fixed.p.item() == pytest.approx(0.3) and fixed.rt.item() == 1.0


def test_bad_ada_settings_are_refused_by_name():
    with pytest.raises(ValueError, match=r"augment\.transforms='bgcx'"):
        transform_names("bgcx")
    assert transform_names("bg") == ALL[:7] and transform_names(["hue", "xflip"]) == (
        "xflip",
        "hue",
    )
    with pytest.raises(ValueError, match=r"augment\.p=1\.5"):
        AdaptiveAugment(p=1.5)
    with pytest.raises(ValueError, match=r"augment\.interval=0"):
        AdaptiveAugment(interval=0)


def test_lecam_follows_the_scores_then_averages_and_penalises_the_drift():
    lecam = LeCam(weight=0.3, decay=0.99, start=2)
    lecam.update(torch.tensor(2.0), torch.tensor(-1.0), g_step=0)  # before start: follows
    assert (lecam.ema_real.item(), lecam.ema_fake.item()) == (2.0, -1.0)
    assert not lecam.active(2) and lecam.active(3)
    lecam.update(torch.tensor(3.0), torch.tensor(0.0), g_step=2)  # from start: decay 0.99
    assert lecam.ema_real.item() == pytest.approx(2.01)
    assert lecam.ema_fake.item() == pytest.approx(-0.99)
    real, fake = torch.tensor([1.0, -2.0]), torch.tensor([3.0, 0.0])
    expected = 0.3 * (((1 + 0.99) ** 2 + 0) / 2 + (0 + 2.01**2) / 2)
    assert lecam(real, fake).item() == pytest.approx(expected, rel=1e-5)


def test_the_consistency_terms_have_the_papers_signs():
    cr = ConsistencyRegularisation(bcr_real=10, bcr_fake=5, zcr_dis=5, zcr_gen=0.5)
    same = torch.tensor([0.5, -1.0])
    assert cr.balanced_penalty(same, same, same, same).item() == 0
    assert cr.balanced_penalty(same, same + 1, same, same + 2).item() == pytest.approx(30)
    assert cr.latent_d_penalty(same, same - 1).item() == pytest.approx(5)
    images = torch.zeros(2, 1, 4, 4)
    assert cr.latent_g_penalty(images, images + 2).item() == pytest.approx(-2)  # pushed apart
    with pytest.raises(ValueError, match="every weight is 0"):
        ConsistencyRegularisation(0, 0, 0, 0)


# Each remedy, with LeCam from the first step and ADA's p moving 0.05 per adjustment at batch 16.
REMEDY_RUNS = {
    "ada_lecam": (["lecam.start=0", "augment.speed_kimg=0.32"],
                  ["train/ada_p", "train/ada_rt", "train/lecam"]),
    "bcr": ([], ["train/bcr"]),
    "zcr": ([], ["train/zcr", "train/zcr_g"]),
}  # fmt: skip


@pytest.mark.parametrize("remedy", sorted(REMEDY_RUNS))
def test_each_remedy_trains_and_logs_its_terms(make_cfg, remedy):
    overrides, logged = REMEDY_RUNS[remedy]
    metrics = train(make_cfg(f"remedy={remedy}", *overrides))
    assert all(math.isfinite(metrics[name]) for name in logged), metrics
    if remedy == "ada_lecam":
        assert 0 <= metrics["train/ada_p"] <= 1 and -1 <= metrics["train/ada_rt"] <= 1


def test_p_and_the_lecam_averages_resume_bit_for_bit(make_cfg, tmp_path):
    """ADA (adjusted every 4 D steps) and LeCam, default callbacks, 2 epochs of 4 batches: a
    run stopped after 6 batches (between two adjustments) and resumed ends where one straight
    run ends, weights, p, r_t, the sign statistics and the LeCam averages alike."""
    common = ["remedy=ada_lecam", "lecam.start=2", "augment.speed_kimg=0.32",
              "trainer.max_epochs=2", "seed=3"]  # fmt: skip

    def run(*extra: str, out: str):
        return make_cfg(*common, *extra, output_dir=tmp_path / out)

    straight = run(out="straight")
    train(straight)
    first = run("+trainer.max_steps=12", out="first")
    assert train(first)["d_steps"] == 6
    ckpt = Path(first.paths.output_dir) / "checkpoints" / "last.ckpt"
    resumed = run(f"ckpt_path={ckpt}", "seed=999", out="resumed")
    assert train(resumed)["d_steps"] == 8
    a, b = (
        torch.load(Path(c.paths.output_dir) / "checkpoints" / "last.ckpt", weights_only=False)
        for c in (straight, resumed)
    )
    state_a, state_b = a["state_dict"], b["state_dict"]
    for key in ("augment.p", "augment.rt", "augment.sign_sum", "lecam.ema_real", "lecam.ema_fake"):
        assert key in state_a
    assert [k for k, v in state_a.items() if not torch.equal(v, state_b[k])] == []
    assert state_a["augment.p"].item() > 0 or state_a["augment.rt"].item() <= 0.6


# ---- training subsets -----------------------------------------------------------------------


def test_a_class_balanced_subset_keeps_every_classs_share():
    labels = torch.cat([torch.full((n,), c) for c, n in enumerate([500, 300, 200])])
    chosen = class_balanced(labels, 101, seed=7)
    counts = torch.bincount(labels[chosen]).tolist()
    assert len(chosen) == 101 and counts == [51, 30, 20]  # 50.5, 30.3, 20.2: 0's remainder
    assert torch.equal(chosen, class_balanced(labels, 101, seed=7))
    assert not torch.equal(chosen, class_balanced(labels, 101, seed=8))
    unlabelled = torch.zeros(1000, dtype=torch.long)
    assert torch.equal(class_balanced(unlabelled, 10, 7), limited(torch.arange(1000), 10, 7))
    assert subset_size(55000, None, 0.1) == 5500 and subset_size(55000, 500, None) == 500
    with pytest.raises(ValueError, match=r"limit_images=500 and fraction=0\.1"):
        subset_size(55000, 500, 0.1)


SUBSET_IN_A_PROCESS = """
import sys, torch
from gan.data import default_data_dir
from gan.data.splits import class_balanced
labels = torch.arange(60000) % 10
print(class_balanced(labels, int(sys.argv[1]), 1234).tolist()[:50], sum(
    class_balanced(labels, int(sys.argv[1]), 1234).tolist()))
"""


@pytest.mark.slow
def test_the_subset_is_the_same_in_every_process():
    """Two fresh interpreters (other global seeds, other hash seeds) pick the same images."""
    outputs = {
        subprocess.run(
            [sys.executable, "-c", SUBSET_IN_A_PROCESS, "1000"], capture_output=True,
            text=True, check=True, cwd=PROJECT_ROOT, env={"PYTHONHASHSEED": seed, "PATH": ""},
        ).stdout
        for seed in ("1", "2")
    }  # fmt: skip
    assert len(outputs) == 1 and outputs.pop().startswith("[")


@pytest.mark.slow
def test_fashion_mnist_at_a_fraction_is_class_balanced_and_recorded(make_cfg):
    cfg = make_cfg("data=fashion_mnist", "data.fraction=0.02", "trainer.limit_train_batches=2")
    job = Path(cfg.paths.output_dir) / "job.json"
    job.parent.mkdir(parents=True)
    job.write_text('{"status": "running"}')  # as gan.sweep.JobRecord starts it
    train(cfg)
    record = json.loads(job.read_text())["training_set"]
    assert record["images"] == 1100 and record["of"] == 55000 and record["fraction"] == 0.02
    assert all(108 <= n <= 112 for n in record["per_class"].values())  # 110 each, give or take
    assert len(record["indices_sha256"]) == 64


def test_limit_images_and_fraction_together_are_refused(make_cfg):
    with pytest.raises(ConfigError, match=r"data\.limit_images=500 and data\.fraction=0\.1"):
        validate_config(make_cfg("data.limit_images=500", "data.fraction=0.1"))
    with pytest.raises(ConfigError, match=r"data\.fraction=1\.5"):
        validate_config(make_cfg("data.fraction=1.5"))


def test_ada_is_built_for_every_image_gan(make_cfg):
    for model in ("dcgan", "sngan", "gan", "cdcgan", "stylegan2"):
        size = ["data.resolution=32"] if model == "sngan" else []
        cfg = make_cfg(f"model={model}", "remedy=ada_lecam", "consistency=icr", *size)
        gan = instantiate(cfg.model)
        assert isinstance(gan.augment, AdaptiveAugment), model
        assert gan.lecam is not None and gan.consistency is not None, model


@pytest.mark.slow
def test_the_leak_of_a_run_is_measured_against_a_baseline_without_augmentation(make_cfg, tmp_path):
    """A run at a fixed p and two seeds without augmentation: a row per checkpoint and baseline
    (a checkpoint listed twice, the same rows), both FIDs against real and augmented test images,
    and the leak from them; a run without ADA is refused as either, and too small an n."""
    runs = {}
    for name, extra in (("ada", ["remedy=ada", "augment.adaptive=false", "augment.p=0.8"]),
                        ("plain", []), ("plain-2", ["seed=2"])):  # fmt: skip
        cfg = make_cfg(*extra, output_dir=tmp_path / name)
        train(cfg)
        runs[name] = str(Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt")
    root = str(default_data_dir())
    rows = leak_rows([runs["ada"]] * 2, [runs["plain"], runs["plain-2"]], n=200, data_root=root)
    assert [row["baseline"] for row in rows] == [runs["plain"], runs["plain-2"]] * 2
    assert rows[2:] == rows[:2]  # the cached test images and baseline samples serve every run
    for row in rows:
        assert row["p"] == pytest.approx(0.8) and row["transforms"].startswith("xflip,rotate90")
        expected = (row["fid"] - row["fid_augmented"]) - (
            row["baseline_fid"] - row["baseline_fid_augmented"]
        )
        assert row["leak"] == pytest.approx(expected) and math.isfinite(row["leak"])
    assert rows[0]["fid"] == rows[1]["fid"] and rows[0]["leak"] != rows[1]["leak"]
    with pytest.raises(ConfigError, match="trained without augment=ada"):  # wherever it is listed
        leak_rows([runs["ada"], runs["plain"]], runs["plain"], n=200, data_root=root)
    with pytest.raises(ConfigError, match=r"--baseline .* trained with augmentation"):
        leak_rows([runs["ada"]], [runs["plain"], runs["ada"]], n=200, data_root=root)
    with pytest.raises(ConfigError, match=r"--n 1 is invalid"):
        leak_rows([runs["ada"]], runs["plain"], n=1, data_root=root)


@pytest.mark.slow
def test_the_remedies_train_on_a_folder_of_rgb_photos_of_odd_sizes(make_cfg, tmp_path):
    """A user's own folder (RGB, mixed sizes and formats, two class folders) at 32 px: ADA,
    LeCam and bCR + zCR over 2 epochs, on a class-balanced half of the training images."""
    folder = fabricate_folder(tmp_path / "images")
    cfg = make_cfg(
        "data=folder", f"data.path={folder}", "data.resolution=32", "data.val_size=4",
        "data.fraction=0.5", "data.batch_size=2", "callbacks.metrics=null",
        "trainer.max_epochs=2", "remedy=ada_lecam", "consistency=icr", "lecam.start=0",
        "augment.speed_kimg=0.1",
    )  # fmt: skip
    job = Path(cfg.paths.output_dir) / "job.json"
    job.parent.mkdir(parents=True)
    job.write_text('{"status": "running"}')
    metrics = train(cfg)
    assert metrics["d_steps"] == 4 and metrics["images_seen"] == 8  # 4 images, 2 epochs
    for name in ("train/ada_p", "train/lecam", "train/bcr", "train/zcr", "train/zcr_g"):
        assert math.isfinite(metrics[name]), name
    record = json.loads(job.read_text())["training_set"]
    assert record["images"] == 4 and record["of"] == 8 and record["balanced"] is True
    assert sum(record["per_class"].values()) == 4 and len(record["per_class"]) == 2


def test_every_remedy_option_reaches_the_module_and_the_data(make_cfg):
    """Each option of augment=ada, lecam=default, consistency=icr and data.balanced, set away
    from its default in the config, is what the built objects hold."""
    cfg = make_cfg(
        "augment=ada", "augment.transforms=[xflip,hue]", "augment.p=0.25", "augment.adaptive=false",
        "augment.target=0.7", "augment.interval=8", "augment.speed_kimg=50",
        "lecam=default", "lecam.weight=0.5", "lecam.decay=0.9", "lecam.start=7",
        "consistency=icr", "consistency.bcr_real=1.5", "consistency.bcr_fake=2.5",
        "consistency.zcr_dis=3.5", "consistency.zcr_gen=0.25", "consistency.zcr_sigma=0.05",
    )  # fmt: skip
    gan = instantiate(cfg.model)
    ada, lecam, cr = gan.augment, gan.lecam, gan.consistency
    assert ada.names == ("xflip", "hue") and ada.p.item() == 0.25 and not ada.adaptive
    assert (ada.target, ada.interval, ada.speed_kimg) == (0.7, 8, 50)
    assert (lecam.weight, lecam.decay, lecam.start) == (0.5, 0.9, 7)
    assert (cr.bcr_real, cr.bcr_fake, cr.zcr_dis, cr.zcr_gen, cr.zcr_sigma) == (
        1.5, 2.5, 3.5, 0.25, 0.05)  # fmt: skip

    subsets = {}
    for balanced in ("true", "false"):
        data = instantiate(make_cfg("data.limit_images=100", f"data.balanced={balanced}").data)
        data.setup("fit")
        subsets[balanced] = data.training_set_summary()
    assert subsets["true"]["balanced"] and not subsets["false"]["balanced"]
    assert set(subsets["true"]["per_class"].values()) <= {9, 10, 11}  # digits are 9-11% of MNIST
    assert subsets["false"]["per_class"] != subsets["true"]["per_class"]
