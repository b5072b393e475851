"""Beyond 28x28 MNIST: Fashion-MNIST, Stacked MNIST, CIFAR-10 (fabricated files), folders of
images, limited subsets, and the networks at 28, 32 and 64 pixels."""

from __future__ import annotations

import hashlib
import json
import math
import os
import pickle
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.datasets import CIFAR10

from gan.config import ConfigError, validate_config
from gan.data import (
    CIFAR10DataModule,
    DataNotFoundError,
    FolderDataModule,
    MNISTDataModule,
    StackedMNISTDataModule,
    class_balanced,
    limited,
)
from gan.data import folder as folder_module
from gan.metrics.evaluate import evaluate_images
from gan.metrics.image_sets import read_folder
from gan.metrics.spaces import load_feature_space
from gan.nets import (
    ConditionalDCGANGenerator,
    DCGANDiscriminator,
    DCGANGenerator,
    ProjectionDiscriminator,
    ResNetDiscriminator,
    ResNetGenerator,
)
from gan.nets.vae import ConvEncoder
from gan.train import train
from tests.conftest import compose_config, run_cli

# ---- networks at any size ----------------------------------------------------------------------


@pytest.mark.parametrize("resolution", [28, 32, 64])
@pytest.mark.parametrize("channels", [1, 3])
def test_dcgan_networks_at_every_supported_size(resolution, channels):
    z = torch.randn(2, 16)
    g = DCGANGenerator(latent_dim=16, width=4, channels=channels, resolution=resolution)
    d = DCGANDiscriminator(width=4, channels=channels, resolution=resolution)
    images = g(z)
    assert images.shape == (2, channels, resolution, resolution)
    assert d(images).shape == (2,)
    cg = ConditionalDCGANGenerator(16, 5, 8, 4, channels, resolution=resolution)
    cd = ProjectionDiscriminator(5, 4, channels, resolution=resolution)
    labels = torch.tensor([0, 4])
    assert cd(cg(z, labels), labels).shape == (2,)
    encoder = ConvEncoder(latent_dim=3, width=4, channels=channels, resolution=resolution)
    assert encoder(images)[0].shape == (2, 3)


def test_other_sizes_are_refused_naming_the_supported_ones():
    with pytest.raises(
        ValueError, match=r"resolution=48: this network is built for \(28, 32, 64\)"
    ):
        DCGANGenerator(resolution=48)
    with pytest.raises(ValueError, match=r"resolution=28: this network is built for \(32,\)"):
        ResNetGenerator(resolution=28)
    with pytest.raises(ValueError, match=r"resolution=48: choose one of \(28, 32, 64, 128, 256\)"):
        MNISTDataModule(resolution=48)


def test_the_sngan_networks_are_the_cifar10_resnets():
    g, d = ResNetGenerator(), ResNetDiscriminator()
    images = g(torch.randn(2, 128))
    assert images.shape == (2, 3, 32, 32) and d(images).shape == (2,)
    # Miyato et al.'s CIFAR-10 ResNets: about 4.3M and 1.1M parameters.
    assert 4.2e6 < sum(p.numel() for p in g.parameters()) < 4.4e6
    assert 1.0e6 < sum(p.numel() for p in d.parameters()) < 1.1e6
    assert all(
        hasattr(m, "parametrizations") for m in d.modules() if isinstance(m, torch.nn.Conv2d)
    )


@pytest.mark.slow
def test_the_data_config_sizes_every_model(tmp_path):
    from hydra.utils import instantiate

    cfg = compose_config(["data=cifar10", "model=cdcgan"], tmp_path)
    model = instantiate(cfg.model)
    assert model.generator.body.resolution == 32 and model.num_classes == 10
    assert model.generate(torch.randn(2, 100), torch.tensor([1, 2])).shape == (2, 3, 32, 32)
    cfg = compose_config(["data=stacked_mnist", "model=gan"], tmp_path)
    assert instantiate(cfg.model).generator.image_shape == (3, 28, 28)
    cfg = compose_config(["model=vae", "data.resolution=64"], tmp_path)
    assert instantiate(cfg.model).generate(torch.randn(2, 16)).shape == (2, 1, 64, 64)


def test_each_task_names_the_data_it_runs_on(tmp_path):
    refusal = r"task=inpaint with data=fashion_mnist: task=inpaint runs on data=mnist or data=fo"
    with pytest.raises(ConfigError, match=refusal):
        validate_config(compose_config(["task=inpaint", "data=fashion_mnist"], tmp_path))


# ---- MNIST at other sizes, limited subsets ---------------------------------------------------


@pytest.mark.slow
def test_mnist_resized_and_limited():
    data = MNISTDataModule(resolution=32, limit_images=1000)
    data.setup()
    assert data.train_set.images.shape == (1000, 1, 32, 32)
    assert data.val_set.images.shape == (5000, 1, 32, 32)  # validation and test stay whole
    assert data.test_set.images.shape == (10000, 1, 32, 32)
    small, full = MNISTDataModule(limit_images=1000), MNISTDataModule()
    plain = MNISTDataModule(limit_images=1000, balanced=False)
    for data in (small, full, plain):
        data.setup()
    # A seeded, class-balanced choice of the training split (the validation split is held out
    # first); balanced=False: a plain seeded choice, as before `balanced` existed.
    chosen = class_balanced(full.train_set.labels, 1000, full.split_seed)
    assert torch.equal(small.train_set.images, full.train_set.images[chosen])
    assert torch.equal(small.val_set.images, full.val_set.images)
    chosen = limited(torch.arange(len(full.train_set)), 1000, full.split_seed)
    assert torch.equal(plain.train_set.images, full.train_set.images[chosen])
    with pytest.raises(ValueError, match="limit_images=60000: must be in"):
        MNISTDataModule(limit_images=60000).setup()


# ---- Stacked MNIST --------------------------------------------------------------------------


@pytest.mark.slow
def test_fashion_mnist_trains_and_is_scored_by_its_own_classifier(make_cfg):
    cfg = make_cfg(
        "data=fashion_mnist", "trainer.limit_train_batches=2", "callbacks.metrics.num_samples=200"
    )
    metrics = train(cfg)
    assert metrics["images_seen"] == 2 * cfg.data.batch_size
    fashion = {key for key in metrics if key.endswith("_fashion")}
    assert {"val/fid_fashion", "val/kid_fashion", "val/is_fashion"} <= fashion
    assert not [key for key in metrics if key.endswith("_mnist")]
    assert math.isfinite(metrics["val/fid_fashion"]) and metrics["val/classes_covered"] >= 1


@pytest.mark.slow
def test_stacked_mnist_stacks_three_digits_labelled_by_their_mode():
    data = StackedMNISTDataModule(channels=3, num_images=2000, num_eval_images=500)
    data.setup()
    images, labels = data.train_set.images, data.train_set.labels
    assert images.shape == (2000, 3, 28, 28) and data.val_set.images.shape == (500, 3, 28, 28)
    mnist = MNISTDataModule()
    mnist.setup()
    digits = {
        bytes(img.numpy()): int(label)
        for img, label in zip(mnist.train_set.images, mnist.train_set.labels, strict=True)
    }
    for image, label in zip(images[:50], labels[:50], strict=True):
        d = [digits[bytes(image[c : c + 1].numpy())] for c in range(3)]  # each channel a digit
        assert int(label) == 100 * d[0] + 10 * d[1] + d[2]
    assert len(labels.unique()) > 800  # 2,000 stacks reach most of the 1,000 modes


@pytest.mark.slow
def test_the_mode_metric_finds_1000_modes_in_real_stacks_and_1_in_a_repeated_one():
    """Real stacks, three of every mode (test digits of the right classes, seeded): all 1,000
    modes, KL near 0, despite the classifier's rare errors. One stack repeated: 1 mode, ln 1000."""
    space = load_feature_space("stacked_mnist")
    mnist = MNISTDataModule()
    mnist.setup()
    test = mnist.test_set
    generator = torch.Generator().manual_seed(0)
    by_digit = [torch.nonzero(test.labels == d).flatten() for d in range(10)]
    modes = torch.arange(1000).repeat_interleave(3)  # (3000,)
    digits = torch.stack([modes // 100, modes // 10 % 10, modes % 10], dim=1)  # (3000, 3)
    pick = [
        by_digit[d][torch.randint(len(by_digit[d]), (1,), generator=generator)]
        for d in digits.flatten().tolist()
    ]
    index = torch.cat(pick).view(3000, 3)
    real = test.images[index, 0].float().div(127.5).sub(1)  # (3000, 3, 28, 28)
    scores = evaluate_images(space, real, reference=None, metrics=["modes"])
    assert scores["modes_covered"] == 1000 and scores["mode_kl"] < 0.01
    one = real[:1].expand(500, -1, -1, -1)
    scores = evaluate_images(space, one, reference=None, metrics=["modes"])
    assert scores["modes_covered"] == 1 and scores["mode_kl"] == pytest.approx(math.log(1000))


# ---- CIFAR-10, fabricated in its own on-disk format -----------------------------------------


def fabricate_cifar10(root: Path, monkeypatch, per_batch: int = 12) -> None:
    """A tiny CIFAR-10 in torchvision's layout (pickled batches), whose MD5s are put in place of
    the real ones for this test only: torchvision's check stays as strict for real users."""
    folder = root / CIFAR10.base_folder
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    files = [name for name, _ in CIFAR10.train_list + CIFAR10.test_list]
    for name in files:
        batch = {
            "data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
            "labels": list(rng.integers(0, 10, per_batch)),
        }
        (folder / name).write_bytes(pickle.dumps(batch))
    (folder / "batches.meta").write_bytes(
        pickle.dumps({"label_names": [str(i) for i in range(10)]})
    )

    def md5(name: str) -> str:
        return hashlib.md5((folder / name).read_bytes()).hexdigest()

    monkeypatch.setattr(CIFAR10, "train_list", [[n, md5(n)] for n, _ in CIFAR10.train_list])
    monkeypatch.setattr(CIFAR10, "test_list", [[n, md5(n)] for n, _ in CIFAR10.test_list])
    monkeypatch.setattr(CIFAR10, "meta", {**CIFAR10.meta, "md5": md5("batches.meta")})


@pytest.mark.slow
def test_cifar10_trains_sngans_recipe_from_its_own_file_format(make_cfg, tmp_path, monkeypatch):
    fabricate_cifar10(tmp_path / "data", monkeypatch)
    cfg = make_cfg(
        "experiment=sngan_cifar10", f"data.root={tmp_path / 'data'}", "data.val_size=12",
        "data.batch_size=8", "callbacks.metrics.num_samples=8", "trainer.limit_train_batches=5",
        shrink="sngan",
    )  # fmt: skip
    metrics = train(cfg)
    assert metrics["images_seen"] == 40 and metrics["d_steps"] == 5 and metrics["g_steps"] == 1
    assert math.isfinite(metrics["val/fid_inception"])  # the Inception feature space
    assert "val/is_inception" not in metrics


def test_damaged_cifar10_is_one_line_with_the_command_to_fetch_it(tmp_path):
    data = CIFAR10DataModule(root=tmp_path, channels=3, resolution=32)
    with pytest.raises(DataNotFoundError, match=r"CIFAR-10 is not .* python -c") as error:
        data.prepare_data()
    assert "\n" not in str(error.value)


# ---- a folder of images -----------------------------------------------------------------------


def fabricate_folder(root: Path, labelled: bool = True) -> Path:
    """Images of mixed sizes and formats in two class folders, a text file, a broken image."""
    rng = np.random.default_rng(1)
    sizes = [(40, 30), (20, 50), (64, 64), (33, 17), (100, 80), (28, 28)]
    for i, (w, h) in enumerate(sizes * 2):
        folder = root / ("cats" if i % 2 else "dogs") if labelled else root
        folder.mkdir(parents=True, exist_ok=True)
        pixels = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        suffix = (".png", ".jpg", ".bmp", ".webp")[i % 4]
        Image.fromarray(pixels).save(folder / f"image_{i}{suffix}")
    (root / "notes.txt").write_text("not an image")
    return root


@pytest.mark.slow
def test_a_folder_of_mixed_images_trains_with_class_labels(make_cfg, tmp_path):
    folder = fabricate_folder(tmp_path / "images")
    cfg = make_cfg(
        "data=folder", f"data.path={folder}", "data.resolution=32", "data.num_classes=2",
        "model=cdcgan", "data.batch_size=4", "data.val_size=4",
        "callbacks.metrics.num_samples=4", "trainer.limit_train_batches=2",
    )  # fmt: skip
    metrics = train(cfg)
    assert metrics["images_seen"] == 8 and math.isfinite(metrics["val/fid_inception"])


@pytest.mark.slow
def test_a_folder_is_decoded_once_then_read_from_its_cache(tmp_path, monkeypatch):
    folder = fabricate_folder(tmp_path / "images")
    data = FolderDataModule(root=tmp_path / "data", path=folder, resolution=32, channels=3)
    data.setup()
    assert data.class_names == ["cats", "dogs"]
    assert len(data.train_set) + len(data.val_set) == 12  # the text file is ignored
    assert data.train_set.images.shape[1:] == (3, 32, 32)
    assert len(list((tmp_path / "data" / "cache").iterdir())) == 1

    def no_decoding(*args):
        raise AssertionError("decoded again")

    monkeypatch.setattr(folder_module, "decode", no_decoding)
    again = FolderDataModule(root=tmp_path / "data", path=folder, resolution=32, channels=3)
    again.setup()
    assert torch.equal(again.train_set.images, data.train_set.images)
    (folder / "dogs" / "image_0.png").touch()  # a changed file list: decoded again
    with pytest.raises(AssertionError, match="decoded again"):
        FolderDataModule(root=tmp_path / "data", path=folder, resolution=32, channels=3).setup()


def test_a_rewritten_file_with_its_size_and_mtime_kept_misses_the_cache(tmp_path):
    """`cp -p`, `rsync -a` and `tar x` keep size and modification time: the change time and
    inode are in the key too."""
    folder = tmp_path / "images"
    folder.mkdir()
    image = folder / "a.bmp"  # uncompressed: the same size for other pixels
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(image)
    before = folder_module.cache_key(folder, [image], 28, 1)
    stat = image.stat()
    time.sleep(0.05)  # past the file system's coarse clock tick
    Image.fromarray(np.full((8, 8), 255, np.uint8)).save(image)
    assert image.stat().st_size == stat.st_size
    os.utime(image, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # what cp -p does
    assert image.stat().st_mtime_ns == stat.st_mtime_ns
    assert folder_module.cache_key(folder, [image], 28, 1) != before


def _save(path: Path, pixels: np.ndarray, mode: str | None = None, **options) -> Path:
    Image.fromarray(pixels, mode).save(path, **options)
    return path


def test_16_bit_grey_is_scaled_to_8_bits_not_clipped(tmp_path):
    ramp = (np.arange(256, dtype=np.uint32) * 257).astype(np.uint16)[None].repeat(2, 0)  # (2, 256)
    path = _save(tmp_path / "ramp16.png", ramp)
    assert Image.open(path).mode == "I;16"
    loaded = np.asarray(folder_module.load_image(path))
    assert loaded.dtype == np.uint8 and loaded[0].tolist() == list(range(256))
    assert read_folder(tmp_path)[0, 0, 0].tolist() == list(range(256))  # gan.eval's reader


def test_exif_orientation_is_applied(tmp_path):
    """A 2x4 image whose EXIF says "rotate 90 degrees clockwise to view" (orientation 6), as a
    phone stores a portrait photo, loads as the 4x2 image the viewer shows."""
    pixels = np.array([[0, 50, 100, 150], [200, 210, 220, 230]], dtype=np.uint8)  # (H=2, W=4)
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation
    path = _save(tmp_path / "rotated.png", pixels, exif=exif)
    upright = np.asarray(folder_module.load_image(path))
    assert upright.shape == (4, 2)
    assert np.array_equal(upright, np.rot90(pixels, k=-1))  # clockwise


def test_transparency_is_composited_onto_white(tmp_path):
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[0, 0] = (0, 0, 0, 0)  # transparent black: white
    rgba[0, 1] = (255, 0, 0, 255)  # opaque red stays red
    rgba[1, 0] = (255, 0, 0, 128)  # half-transparent red over white: pink
    rgba[1, 1] = (10, 20, 30, 255)
    loaded = np.asarray(folder_module.load_image(_save(tmp_path / "a.png", rgba)))
    assert loaded.shape == (2, 2, 3)
    assert loaded[0, 0].tolist() == [255, 255, 255] and loaded[0, 1].tolist() == [255, 0, 0]
    assert loaded[1, 0].tolist() == [255, 127, 127] and loaded[1, 1].tolist() == [10, 20, 30]
    grey_alpha = np.array([[[0, 0], [90, 255]]], np.uint8)  # (1, 2, 2): L and A
    loaded = np.asarray(folder_module.load_image(_save(tmp_path / "la.png", grey_alpha, "LA")))
    assert loaded.tolist() == [[255, 90]]  # grey stays grey


@pytest.mark.slow
def test_folder_errors_are_one_line_naming_the_folder_or_the_file(tmp_path):
    def setup(path, **kwargs):
        data = FolderDataModule(root=tmp_path / "data", path=path, channels=3, **kwargs)
        data.setup()
        return data

    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.md").write_text("no images here")
    with pytest.raises(DataNotFoundError, match=f"data.path='{empty}': no image files"):
        setup(empty)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "a.png").write_bytes(b"not a png")
    with pytest.raises(DataNotFoundError, match=f"data.path='{broken}': no readable image"):
        setup(broken)
    with pytest.raises(DataNotFoundError, match="no such folder"):
        setup(tmp_path / "nowhere")

    mixed = fabricate_folder(tmp_path / "mixed", labelled=False)
    (mixed / "zz_broken.jpg").write_bytes(b"not a jpeg")
    with pytest.warns(UserWarning, match=r"zz_broken.jpg is not a readable image .*skipped"):
        data = setup(mixed)
    assert data.class_names is None and len(data.train_set) + len(data.val_set) == 12
    with pytest.raises(DataNotFoundError, match=r"zz_broken.jpg is not a readable image.*strict"):
        setup(mixed, strict=True, resolution=32)  # another resolution: not from the cache


@pytest.mark.slow
def test_gan_eval_scores_a_stacked_mnist_checkpoint_in_modes_beside_real_stacks(make_cfg, tmp_path):
    cfg = make_cfg(
        "data=stacked_mnist", "data.num_images=1000", "data.num_eval_images=400",
        "trainer.limit_train_batches=2",
    )  # fmt: skip
    train(cfg)
    ckpt = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    result = run_cli(
        f"ckpt_path={ckpt}", "n_samples=400", f"out_dir={tmp_path / 'eval'}", cwd=tmp_path,
        module="gan.eval",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert report["feature_space"] == "stacked_mnist"
    assert report["model"].keys() == report["real_floor"].keys() == {"modes_covered", "mode_kl"}
    # 400 real stacks: about 330 distinct modes; an untrained generator: a handful.
    assert report["real_floor"]["modes_covered"] > 300 > report["model"]["modes_covered"]
