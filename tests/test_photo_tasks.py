"""The image-to-image tasks on photos: the reference's networks, the paired and unpaired layouts
and their errors, the jitter, the history pool, the identity loss, the learning-rate schedule,
every task through train(cfg) on a real-photo set, exact resume, gan.eval and gan.translate."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from PIL import Image
from torch import nn

from gan.config import ConfigError
from gan.data import DataNotFoundError, PairedFolderDataModule, UnpairedFolderDataModule
from gan.data.jitter import load_size_for, random_crop_flip
from gan.data.photos import write_photo_sets
from gan.nets.translation import cyclegan_generator, patch_discriminator, pix2pix_generator
from gan.tasks.image_pool import ImagePool
from gan.tasks.modules import linear_decay
from gan.train import train
from gan.translate import blend_window, tiled, translate_folder
from tests.conftest import compose_config, run_cli

# Photo tasks in tests: 64-px crops from 80-px photos, narrow networks, 3 batches of 4 an epoch.
PHOTO = [
    "data.resolution=64", "data.batch_size=4", "trainer.limit_train_batches=1.0",
    "data.metric_samples=6", "model.generator.ngf=8", "model.discriminator.ndf=8",
]  # fmt: skip
CYCLE = [
    "data.resolution=64", "data.batch_size=4", "trainer.limit_train_batches=1.0",
    "data.metric_samples=6", *(f"model.{g}.ngf=8" for g in ("generator_ab", "generator_ba")),
    *(f"model.{d}.ndf=8" for d in ("discriminator_a", "discriminator_b")),
]  # fmt: skip


def parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_reference_networks_have_the_reference_parameter_counts():
    """pytorch-CycleGAN-and-pix2pix prints these (in millions) for its default networks."""
    assert round(parameters(pix2pix_generator(3, 3, 256)) / 1e6, 3) == 54.414  # unet_256
    assert round(parameters(patch_discriminator(6, 256)) / 1e6, 3) == 2.769  # basic, batch
    assert round(parameters(cyclegan_generator(3, 256)) / 1e6, 3) == 11.378  # resnet_9blocks
    instance_d = patch_discriminator(3, 256, reference_norm="instance")
    assert round(parameters(instance_d) / 1e6, 3) == 2.765
    assert type(cyclegan_generator(3, 128)).__name__ == "ResNetBlocksGenerator"
    assert parameters(cyclegan_generator(3, 128)) < parameters(cyclegan_generator(3, 256))
    assert pix2pix_generator(3, 3, 64)(torch.randn(2, 3, 64, 64)).shape == (2, 3, 64, 64)
    assert patch_discriminator(6, 256)(torch.randn(1, 6, 256, 256)).shape == (1, 1, 30, 30)
    with pytest.raises(ValueError, match="resolution=96"):
        pix2pix_generator(3, 3, 96)


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    return write_photo_sets(tmp_path_factory.mktemp("photos"), size=80, train=12, test=6)


def save(image: Image.Image, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)


def solid(colour: tuple[int, int, int], size=(40, 30)) -> Image.Image:
    return Image.new("RGB", size, colour)


def paired(tmp_path, path, **kwargs) -> PairedFolderDataModule:
    kwargs = {"resolution": 64, "channels": 3, "batch_size": 2, **kwargs}
    data = PairedFolderDataModule(root=tmp_path / "data", path=path, **kwargs)
    data.setup()
    return data


def test_aligned_pairs_split_at_the_middle_in_either_direction(tmp_path):
    for i in range(4):
        pair = Image.new("RGB", (80, 40), (255, 0, 0))
        pair.paste(solid((0, 0, 255), (40, 40)), (40, 0))  # A red | B blue
        save(pair, tmp_path / "set" / ("train" if i < 3 else "val") / f"{i}.jpg")
    data = paired(tmp_path, tmp_path / "set")
    assert data.train_set.images.shape == (3, 6, 72, 72)  # load_size 72 for 64-px crops
    assert data.val_set.images.shape == (1, 6, 64, 64)  # the val/ folder, at the crop size
    red_then_blue = data.val_set.images[0, :, 32, 32].tolist()
    assert red_then_blue[0] > 200 and red_then_blue[2] < 60 and red_then_blue[5] > 200
    flipped = paired(tmp_path, tmp_path / "set", direction="BtoA").val_set.images[0, :, 32, 32]
    assert flipped.tolist() == red_then_blue[3:] + red_then_blue[:3]


def test_pairs_by_name_match_across_extensions_and_refuse_orphans(tmp_path):
    for i in range(5):
        save(solid((10 * i, 0, 0)), tmp_path / "set" / "A" / f"img{i}.png")
        save(solid((0, 10 * i, 0)), tmp_path / "set" / "B" / f"img{i}.jpg")
    data = paired(tmp_path, tmp_path / "set", val_size=1)  # no train/: one pair held out
    assert len(data.train_set) == 4 and len(data.val_set) == 1
    images = torch.cat(
        [data.train_set.images, data.val_set.images[:, :, :1, :1].expand(-1, -1, 72, 72)]
    )
    a_red, b_green = images[:, 0, 0, 0].sort().values, images[:, 4, 0, 0].sort().values
    assert torch.allclose(a_red.float(), b_green.float(), atol=3)  # each A beside its own B
    save(solid((1, 2, 3)), tmp_path / "set" / "A" / "lonely.png")
    with pytest.raises(DataNotFoundError, match=r"no partner of the same name.*lonely"):
        paired(tmp_path, tmp_path / "set")


def test_paired_layout_errors_name_what_was_found(tmp_path):
    (tmp_path / "set" / "images").mkdir(parents=True)
    with pytest.raises(DataNotFoundError, match=r"needs a train/ folder.*\['images'\]"):
        paired(tmp_path, tmp_path / "set")
    with pytest.raises(DataNotFoundError, match="no such folder"):
        paired(tmp_path, tmp_path / "missing")
    with pytest.raises(ValueError, match=r"data\.direction='AB'"):
        paired(tmp_path, tmp_path / "set", direction="AB")
    with pytest.raises(ValueError, match=r"data\.load_size=60"):
        paired(tmp_path, tmp_path / "set", load_size=60)


def test_unpaired_folders_find_the_truth_by_name_and_refuse_half_layouts(tmp_path, photos):
    data = UnpairedFolderDataModule(
        root=tmp_path / "data", path=photos / "unpaired", resolution=64, channels=3, batch_size=4
    )
    data.setup()
    assert len(data.train_a) == len(data.train_b) == 12 and len(data.val_set) == 6
    assert data.train_a.images.shape[-1] == 72 and data.val_set.images.shape[-1] == 64
    assert data.val_truth is not None and torch.equal(data.val_truth, data.target_set.images)
    batch = next(iter(data.train_dataloader()))[0]
    assert set(batch) == {"a", "b"} and batch["a"][0].shape == (4, 3, 72, 72)
    for missing in ("trainB", "testB"):
        broken = tmp_path / f"no_{missing}"
        for folder in ("trainA", "trainB", "testA", "testB"):
            if folder != missing:
                save(solid((0, 0, 0)), broken / folder / "x.png")
        module = UnpairedFolderDataModule(root=tmp_path / "data", path=broken, resolution=64)
        refusal = r"; trainB missing, found|testA/ and testB/ come together"
        with pytest.raises(DataNotFoundError, match=refusal):
            module.setup()


def test_a_pair_gets_the_same_crop_and_flip():
    images = torch.rand(64, 3, 10, 10)
    pairs = torch.cat([images, images], dim=1)  # (B, 6, 10, 10): A and B identical
    crops = random_crop_flip(pairs, 6, flip=True, generator=torch.Generator().manual_seed(0))
    assert crops.shape == (64, 6, 6, 6)
    assert torch.equal(crops[:, :3], crops[:, 3:])
    places = [(t, s) for t in range(5) for s in range(5)]
    mirrored = sum(
        not any(torch.equal(crop[:3], images[i, :, t : t + 6, s : s + 6]) for t, s in places)
        for i, crop in enumerate(crops)
    )
    assert 16 <= mirrored <= 48  # about half are flipped
    assert load_size_for(256) == 286 and load_size_for(64) == 72 and load_size_for(128) == 143


def test_the_history_pool_stores_50_then_swaps_half_the_time():
    pool = ImagePool(50)
    generator = torch.Generator().manual_seed(0)
    first = torch.arange(50.0).view(50, 1, 1, 1)  # image i is the constant i
    assert torch.equal(pool.query(first, generator), first)  # filling: returned as given
    old = 0
    for i in range(50, 1050):
        kept = {float(image) for image in pool.images}
        out = float(pool.query(torch.full((1, 1, 1, 1), float(i)), generator))
        if out != i:  # swapped: an image from the pool, whose place the new one takes
            old += 1
            assert out in kept and i in {float(image) for image in pool.images}
        assert len(pool.images) == 50
    assert 450 <= old <= 550  # probability 1/2
    restored = ImagePool(50)
    restored.load_state_dict(pool.state_dict())
    again = torch.Generator().manual_seed(5)
    expected = pool.query(torch.full((8, 1, 1, 1), -1.0), torch.Generator().manual_seed(5))
    assert torch.equal(restored.query(torch.full((8, 1, 1, 1), -1.0), again), expected)
    assert torch.equal(ImagePool(0).query(first), first)


def test_identity_loss_is_zero_for_identity_generators_only(make_cfg, photos):
    from hydra.utils import instantiate

    cfg = make_cfg("task=cyclegan", f"data.path={photos / 'unpaired'}", *CYCLE, shrink="cyclegan")
    model = instantiate(cfg.model)
    a, b = torch.rand(2, 3, 64, 64) * 2 - 1, torch.rand(2, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        assert float(model.identity_loss(a, b)) > 0
        model.generator_ab, model.generator_ba = nn.Identity(), nn.Identity()
        assert float(model.identity_loss(a, b)) == 0 and model.lambda_identity == 0.5


def test_learning_rates_stay_then_fall_linearly():
    factors = [linear_decay(epoch, 3, 3) for epoch in range(6)]
    assert factors == [1, 1, 1, 0.75, 0.5, 0.25]  # the reference's lambda rule
    assert linear_decay(199, 100, 100) == pytest.approx(1 / 101)


def photo_cfg(make_cfg, task: str, photos: Path, *extra: str, output_dir=None):
    data = {"pix2pix": "paired", "cyclegan": "unpaired"}.get(task, "folder")
    overrides = [f"task={task}", f"data.path={photos / data}"]
    overrides += CYCLE if task == "cyclegan" else PHOTO
    if task not in ("pix2pix", "cyclegan"):  # 12 photos: 6 to train on in 3 batches, 6 held out
        overrides += ["data=folder", "data.val_size=6", "data.batch_size=2"]
    if task == "inpaint":
        overrides += ["model.corruption.kind=strokes", "model.corruption.size=5"]
    model = "cyclegan" if task == "cyclegan" else "pix2pix"
    return make_cfg(*overrides, *extra, shrink=model, output_dir=output_dir)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("task", "adv_weight"),
    [("pix2pix", 1.0), ("pix2pix", 0.0), ("cyclegan", 1.0), ("superres", 1.0), ("inpaint", 1.0)],
)
def test_every_photo_task_trains_and_scores_through_train_cfg(make_cfg, photos, task, adv_weight):
    cfg = photo_cfg(make_cfg, task, photos, f"model.adv_weight={adv_weight}")
    metrics = train(cfg)
    assert metrics["g_steps"] == 3 and metrics["d_steps"] == (3 if adv_weight else 0)
    for name in ("val/psnr", "val/ssim", "val/fid_inception", "val/kid_inception"):
        assert math.isfinite(metrics[name]), name
    strip = Image.open(Path(cfg.paths.output_dir) / "samples" / "final.png")
    assert strip.size[1] > 3 * 64  # three rows: input, output, truth


@pytest.mark.slow
@pytest.mark.parametrize("task", ["pix2pix", "cyclegan", "superres", "inpaint"])
def test_each_photo_task_resumes_exactly(make_cfg, photos, tmp_path, task):
    """Two epochs straight equal one epoch, a stop and one more resumed, bit for bit: weights,
    Adam's moments, the learning rates' decay, the noise generator, the history pools."""
    decay = ["model.n_epochs=1", "model.n_epochs_decay=1", "seed=3"]

    def run(epochs: int, out: str, *extra: str):
        cfg = photo_cfg(make_cfg, task, photos, *decay, f"trainer.max_epochs={epochs}", *extra,
                        output_dir=tmp_path / out)  # fmt: skip
        train(cfg)
        return torch.load(tmp_path / out / "checkpoints" / "last.ckpt", weights_only=False)

    straight = run(2, "straight")
    first = run(1, "first")
    resumed = run(2, "resumed", f"ckpt_path={tmp_path / 'first' / 'checkpoints' / 'last.ckpt'}")
    assert straight["gan"]["g_steps"] == resumed["gan"]["g_steps"] == 2 * first["gan"]["g_steps"]
    differ = [
        k for k, v in straight["state_dict"].items() if not torch.equal(v, resumed["state_dict"][k])
    ]
    assert differ == []
    for a, b in zip(straight["optimizer_states"], resumed["optimizer_states"], strict=True):
        assert [g["lr"] for g in a["param_groups"]] == [g["lr"] for g in b["param_groups"]]
        assert a["param_groups"][0]["lr"] == pytest.approx(2e-4 / 2)  # epoch 2 of 1 + 1
        assert all(
            torch.equal(a["state"][i]["exp_avg"], b["state"][i]["exp_avg"]) for i in a["state"]
        )
    assert torch.equal(
        straight["gan"]["noise_rng_states"][0], resumed["gan"]["noise_rng_states"][0]
    )
    if task == "cyclegan":
        for name in ("a", "b"):
            assert torch.equal(
                straight["image_pools"][name]["images"], resumed["image_pools"][name]["images"]
            )


@pytest.fixture(scope="module")
def trained(tmp_path_factory, photos) -> dict[str, Path]:
    """A checkpoint of each photo task (one epoch), by task name."""
    from tests.conftest import FAST_TASK, SMALL

    out = tmp_path_factory.mktemp("trained")
    checkpoints = {}
    for task in ("pix2pix", "cyclegan", "superres", "inpaint"):
        model = "cyclegan" if task == "cyclegan" else "pix2pix"

        def make(*overrides, shrink=None, output_dir=None, model=model):
            fast = [*FAST_TASK, *SMALL[model]]
            return compose_config([*fast, *overrides], output_dir)

        cfg = photo_cfg(make, task, photos, output_dir=out / task)
        train(cfg)
        checkpoints[task] = out / task / "checkpoints" / "last.ckpt"
    return checkpoints


def translate_cfg(ckpt: Path, source: Path, output: Path, **extra):
    return OmegaConf.create({
        "ckpt_path": str(ckpt), "input": str(source), "output": str(output), "mode": "auto",
        "overlap": None, "direction": "AtoB", "mask": None, "seed": 0, "device": "cpu", **extra,
    })  # fmt: skip


@pytest.mark.slow
def test_translate_keeps_names_and_sizes_that_are_not_multiples_of_the_tile(trained, tmp_path):
    source = tmp_path / "in"
    save(solid((200, 100, 50), (300, 170)), source / "wide.jpg")
    save(solid((20, 100, 50), (70, 90)), source / "sub" / "small.png")
    for task, scale in (("pix2pix", 1), ("cyclegan", 1), ("superres", 4), ("inpaint", 1)):
        written = translate_folder(translate_cfg(trained[task], source, tmp_path / task))
        assert sorted(p.relative_to(tmp_path / task).as_posix() for p in written) == [
            "sub/small.png",
            "wide.png",
        ]
        assert Image.open(tmp_path / task / "wide.png").size == (300 * scale, 170 * scale)
        assert Image.open(tmp_path / task / "sub" / "small.png").size == (70 * scale, 90 * scale)
    back = translate_folder(
        translate_cfg(trained["cyclegan"], source, tmp_path / "ba", direction="BtoA")
    )
    assert len(back) == 2
    mask = tmp_path / "mask.png"
    Image.new("L", (300, 170), 0).save(mask)  # nothing hidden: inpainting returns the image
    translate_folder(
        translate_cfg(trained["inpaint"], source / "wide.jpg", tmp_path / "m", mask=str(mask))
    )
    kept = torch.from_numpy(np.asarray(Image.open(tmp_path / "m" / "wide.png"))).float()
    original = torch.from_numpy(np.asarray(Image.open(source / "wide.jpg"))).float()
    assert (kept - original).abs().max() <= 1


def test_tiles_blend_back_to_the_image_under_the_identity():
    image = torch.rand(1, 3, 100, 70) * 2 - 1
    assert torch.allclose(tiled(lambda tile: tile, image, 32, 8), image, atol=1e-6)
    assert blend_window(8, 2)[0, 0] == pytest.approx(1 / 9) and blend_window(8, 2)[4, 4] == 1


@pytest.mark.slow
def test_translate_refuses_a_generation_checkpoint_in_one_line(make_cfg, tmp_path):
    cfg = make_cfg("model=dcgan")
    train(cfg)
    ckpt = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    result = run_cli(f"ckpt_path={ckpt}", f"input={tmp_path}", f"output={tmp_path / 'out'}",
                     cwd=tmp_path, module="gan.translate")  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "generation from noise" in result.stderr


@pytest.mark.slow
def test_eval_scores_a_photo_task_beside_the_untranslated_input(trained, tmp_path, monkeypatch):
    result = run_cli(f"ckpt_path={trained['pix2pix']}", "n_samples=6", f"out_dir={tmp_path}",
                     cwd=tmp_path, module="gan.eval")  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((tmp_path / "metrics.json").read_text())
    assert report["feature_space"] == "inception" and report["n_samples"] == 6
    assert set(report["model"]) == set(report["input_as_output"]) == {
        "psnr", "ssim", "sharpness", "fid_inception", "kid_inception"
    }  # fmt: skip
    assert report["model"] != report["input_as_output"]
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty_hub"))  # no LPIPS backbone there
    result = run_cli(f"ckpt_path={trained['pix2pix']}", "n_samples=6", "lpips=true",
                     f"out_dir={tmp_path / 'lpips'}", cwd=tmp_path, module="gan.eval")  # fmt: skip
    assert result.returncode == 2 and result.stderr.strip().count("\n") == 0
    assert "not downloaded at run time" in result.stderr and "empty_hub" in result.stderr


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            ["task=pix2pix", "data=mnist"],
            "task=pix2pix with data=mnist: task=pix2pix runs on data=paired_folder",
        ),
        (["task=translate", "data=folder", "data.path=x"], "runs on data=mnist"),
        (["data=paired_folder", "data.path=x"], "use task=pix2pix"),
        (["data=unpaired_folder", "data.path=x"], "use task=cyclegan"),
    ],
)
def test_tasks_refuse_the_wrong_data_in_one_line(make_cfg, overrides, message):
    with pytest.raises(ConfigError, match=message):
        train(make_cfg(*overrides, fast=False))
