"""`gan.eval fake=... real=...`: checkpoints, folders, image arrays, data sets and statistics files
scored against each other; pytorch-fid's statistics format; bad input in one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from PIL import Image

import gan.eval
from gan.config import ConfigError
from gan.data import MNISTDataModule, as_unit_range
from gan.eval import evaluate_sets
from gan.metrics.classifier import Embedding
from gan.metrics.compare import compare_sets
from gan.metrics.image_sets import (
    ImageSet,
    ImageSetError,
    read_folder,
    read_image_set,
    read_npz,
)
from gan.metrics.spaces import FeatureSpace, load_feature_space
from gan.train import train
from tests.conftest import CONFIG_DIR, run_cli
from tests.test_datasets import fabricate_cifar10

pytestmark = pytest.mark.slow
N = 40  # images in each set: seconds in the MNIST classifier's space
BLANK_32 = torch.zeros(8, 1, 32, 32, dtype=torch.uint8)  # images the MNIST classifier cannot take
RGB_28 = torch.zeros(8, 3, 28, 28, dtype=torch.uint8)  # nor these


def eval_cfg(*overrides: str):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose("eval", overrides=list(overrides))


@pytest.fixture(scope="module")
def digits() -> MNISTDataModule:
    data = MNISTDataModule()
    data.setup()
    return data


def write_folder(folder: Path, images: torch.Tensor) -> Path:
    """uint8 images (N, 1, H, W) as PNG files in `folder`."""
    folder.mkdir(parents=True)
    for i, image in enumerate(images):
        Image.fromarray(image[0].numpy()).save(folder / f"{i:03d}.png")
    return folder


def write_array(path: Path, images: torch.Tensor) -> Path:
    """uint8 images (N, 1, H, W) as guided-diffusion's sample files hold them: (N, H, W, C)."""
    np.savez(path, arr_0=images.permute(0, 2, 3, 1).numpy())
    return path


def test_a_folder_and_an_array_of_the_same_images_are_at_distance_zero(digits, tmp_path):
    test_images = digits.test_set.images[:N]
    folder = write_folder(tmp_path / "folder", test_images)
    array = write_array(tmp_path / "same.npz", test_images)
    cache = tmp_path / "cache"
    cfg = eval_cfg(f"fake={folder}", f"real={array}", "space=mnist", f"out_dir={tmp_path / 'out'}",
                   f"cache_dir={cache}")  # fmt: skip
    report = evaluate_sets(cfg)
    assert len(list(cache.glob("*.pt"))) == 1  # the real set's embedding; the fake one never
    model = report["model"]
    assert report["n_fake"] == report["n_real"] == N
    assert model["fid_mnist_40"] == pytest.approx(0.0, abs=1e-6)
    assert model["precision"] == model["recall"] == model["coverage"] == 1.0
    assert "real_floor" not in report  # an array is no data set: no second real set
    written = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert written["model"]["fid_mnist_40"] == model["fid_mnist_40"]


def test_a_data_set_as_real_gives_the_floor_and_every_metric_of_the_space(digits, tmp_path):
    folder = write_folder(tmp_path / "train", digits.train_set.images[:N])
    report = evaluate_sets(eval_cfg(f"fake={folder}", "real=mnist", "space=mnist",
                                    f"out_dir={tmp_path / 'out'}"))  # fmt: skip
    expected = {"fid_mnist_40", "kid_mnist_40", "kid_mnist_40_std", "is_mnist_40",
                "is_mnist_40_std", "classes_covered", "class_kl", "precision", "recall",
                "density", "coverage"}  # fmt: skip
    assert set(report["model"]) == expected and set(report["real_floor"]) == expected
    assert report["model"]["fid_mnist_40"] > 1.0  # training digits against test digits
    assert report["real"] == "mnist" and report["n_real"] == N


def test_metrics_and_floor_choose_what_the_sets_form_scores(digits, tmp_path):
    folder = write_folder(tmp_path / "train", digits.train_set.images[:N])
    cfg = eval_cfg(f"fake={folder}", "real=mnist", "space=mnist", "floor=false",
                   "metrics=[fid,kid]", f"out_dir={tmp_path / 'out'}")  # fmt: skip
    report = evaluate_sets(cfg)
    assert set(report["model"]) == {"fid_mnist_40", "kid_mnist_40", "kid_mnist_40_std"}
    assert "real_floor" not in report


def test_a_data_set_as_fake_is_its_test_set(digits, tmp_path):
    stats = tmp_path / "mnist_test.npz"
    evaluate_sets(eval_cfg("fake=mnist", f"save_stats={stats}", "space=mnist",
                           f"out_dir={tmp_path / 'out'}"))  # fmt: skip
    with np.load(stats) as saved:
        mu = torch.from_numpy(saved["mu"])
    features = load_feature_space("mnist").embed(as_unit_range(digits.test_set.images)).features
    assert len(digits.test_set.images) == 10_000  # the whole official test set
    assert torch.allclose(mu, features.double().mean(0), atol=1e-5)


def test_statistics_round_trip_and_fid_from_them_equals_fid_from_images(digits, tmp_path):
    real_folder = write_folder(tmp_path / "real", digits.test_set.images[:N])
    fake = write_array(tmp_path / "fake.npz", digits.train_set.images[:N])
    stats = tmp_path / "real_stats.npz"
    evaluate_sets(eval_cfg(f"fake={real_folder}", f"save_stats={stats}", "space=mnist",
                           f"out_dir={tmp_path / 'saved'}"))  # fmt: skip
    with np.load(stats) as saved:  # pytorch-fid's format: float64 mu (D,) and sigma (D, D)
        assert set(saved.files) == {"mu", "sigma"}
        assert saved["mu"].shape == (128,) and saved["sigma"].shape == (128, 128)
        assert saved["mu"].dtype == saved["sigma"].dtype == np.float64
    from_images = evaluate_sets(eval_cfg(f"fake={fake}", f"real={real_folder}", "space=mnist",
                                         f"out_dir={tmp_path / 'a'}"))  # fmt: skip
    from_stats = evaluate_sets(eval_cfg(f"fake={fake}", f"real={stats}", "space=mnist",
                                        f"out_dir={tmp_path / 'b'}"))  # fmt: skip
    assert set(from_stats["model"]) == {"fid_mnist_40"}  # FID is all statistics allow
    assert from_stats["model"]["fid_mnist_40"] == pytest.approx(
        from_images["model"]["fid_mnist_40"], rel=1e-9
    )


def test_a_statistics_file_written_as_pytorch_fid_writes_it_is_read(tmp_path):
    mu, sigma = np.arange(3.0), np.eye(3) * 2
    np.savez_compressed(tmp_path / "s.npz", mu=mu, sigma=sigma)  # pytorch-fid's save_fid_stats
    read = read_npz(tmp_path / "s.npz")
    assert read.kind == "statistics"
    assert np.array_equal(read.statistics[0].numpy(), mu)
    assert np.array_equal(read.statistics[1].numpy(), sigma)


def test_a_checkpoint_as_fake_defaults_to_its_own_data_and_space(make_cfg, tmp_path):
    cfg = make_cfg("model=dcgan")
    train(cfg)
    ckpt = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    with pytest.raises(ValueError, match="fid_infinity with 50 samples"):  # before drawing any
        evaluate_sets(eval_cfg(f"fake={ckpt}", "n_samples=50", "fid_infinity=true"))
    report = evaluate_sets(eval_cfg(f"fake={ckpt}", "n_samples=50"))
    assert report["feature_space"] == "mnist" and report["n_fake"] == report["n_real"] == 50
    assert {"fid_mnist_50", "density"} <= set(report["model"])
    assert "fid_mnist_50" in report["real_floor"]
    assert (Path(cfg.paths.output_dir) / "eval" / "metrics.json").is_file()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d, t: (t / "empty").mkdir() or [f"fake={t / 'empty'}", "real=mnist"],
         "holds no images"),
        (lambda d, t: [f"fake={t / 'nowhere'}", "real=mnist"], "no such file, folder or data set"),
        (lambda d, t: [f"fake={write_folder(t / 'f', d.test_set.images[:5])}"],
         "real= is missing"),
        (lambda d, t: np.savez(t / "x.npz", arr_0=np.zeros((4, 28, 28), np.float32))
         or [f"fake={t / 'x.npz'}", "real=mnist"], "must be uint8"),
        (lambda d, t: np.savez(t / "s.npz", mu=np.zeros(64), sigma=np.eye(64))
         or [f"fake={write_folder(t / 'f', d.test_set.images[:5])}", f"real={t / 's.npz'}",
             "space=mnist"], "statistics of 64-d features; the mnist space gives 128-d"),
        (lambda d, t: np.savez(t / "s.npz", mu=np.zeros(128), sigma=np.eye(128))
         or [f"fake={write_folder(t / 'f', d.test_set.images[:5])}", f"real={t / 's.npz'}",
             "space=mnist", "metrics=[fid,kid,precision_recall]"],
         r"a statistics file allows FID only, not metrics \['kid', 'precision_recall'\]"),
        (lambda d, t: [f"fake={write_folder(t / 'f', d.test_set.images[:5])}", "real=mnist",
                       "save_stats=out.txt"], "must end in .npz"),
        (lambda d, t: [f"fake={write_folder(t / 'f', d.test_set.images[:5])}", "real=mnist",
                       "space=imagenet"], "feature_space='imagenet'"),
        (lambda d, t: [f"fake={write_folder(t / 'f', d.test_set.images[:5])}", "real=mnist",
                       "space=mnist"], "5 images; the k-NN metrics need more than 5"),
        (lambda d, t: [f"fake={write_array(t / 'big.npz', BLANK_32)}", "real=mnist",
                       "space=mnist"], r"images of \(32, 32\) pixels; the mnist space"),
        (lambda d, t: [f"fake={write_folder(t / 'f', d.test_set.images[:5])}", "space=mnist",
                       f"real={write_array(t / 'rgb.npz', RGB_28)}"],
         "rgb.npz: RGB images; the mnist space takes grey ones"),
        (lambda d, t: (t / "notes.npz").write_text("text") and
         [f"fake={write_folder(t / 'f', d.test_set.images[:5])}", f"real={t / 'notes.npz'}"],
         "notes.npz: not an .npz archive"),
    ],
    ids=["empty folder", "missing path", "no real", "float array", "wrong feature size",
         "metrics beyond FID from stats", "stats not npz", "unknown space", "too few images",
         "fake of 32x32 in mnist", "RGB real in mnist", "text file named npz"],
)  # fmt: skip
def test_bad_sets_are_refused_by_name(digits, tmp_path, make, message):
    overrides = make(digits, tmp_path)
    with pytest.raises((ImageSetError, ConfigError, ValueError), match=message):
        evaluate_sets(eval_cfg(*overrides, f"out_dir={tmp_path / 'out'}"))


@pytest.mark.parametrize(
    ("target", "message"),
    [
        (lambda t: (t / "dir.npz").mkdir() or t / "dir.npz", "a folder; give a file name"),
        (lambda t: write_array(t / "images.npz", RGB_28), "exists and is not a statistics file"),
        (lambda t: (t / "file").write_text("x") and t / "file" / "s.npz", "folder is not writable"),
    ],
    ids=["a folder", "someone else's file", "a file as its folder"],
)
def test_a_statistics_path_is_checked_before_any_scoring(digits, tmp_path, monkeypatch, target,
                                                          message):  # fmt: skip
    """save_stats was checked after scoring (a 10k Inception run lost to a typo) and overwrote
    whatever file it named."""
    path = target(tmp_path)
    before = path.read_bytes() if path.is_file() else None

    def too_late(*args, **kwargs):
        raise AssertionError("scored before save_stats was checked")

    monkeypatch.setattr(gan.eval, "embed_set", too_late)
    folder = write_folder(tmp_path / "f", digits.test_set.images[:8])
    with pytest.raises(ImageSetError, match=message):
        evaluate_sets(eval_cfg(f"fake={folder}", "real=mnist", f"save_stats={path}",
                               f"out_dir={tmp_path / 'out'}"))  # fmt: skip
    assert before is None or path.read_bytes() == before
    with pytest.raises(ConfigError, match=r"save_stats='s.npz' is for the sets form"):
        gan.eval.evaluate_checkpoint(eval_cfg("ckpt_path=x.ckpt", "save_stats=s.npz"))


def test_images_of_different_sizes_are_refused_in_one_line(tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    Image.new("L", (28, 28)).save(folder / "a.png")
    Image.new("L", (32, 32)).save(folder / "b.png")
    result = run_cli(f"fake={folder}", "real=mnist", cwd=tmp_path, module="gan.eval")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: {folder}: images of different sizes (a.png is 28x28, b.png is 32x32); give "
        "images of one size"
    ]


def test_the_cli_saves_statistics_of_a_folder_alone(digits, tmp_path):
    folder = write_folder(tmp_path / "digits", digits.test_set.images[:N])
    stats = tmp_path / "digits.npz"
    result = run_cli(f"fake={folder}", f"save_stats={stats}", "space=mnist", cwd=tmp_path,
                     module="gan.eval")  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"wrote the statistics of {folder} to {stats}" in result.stdout
    assert read_npz(stats).statistics[0].shape == (128,)


def test_a_folder_of_grey_and_colour_images_is_read_as_rgb_each_file_once(tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    Image.new("L", (4, 4), 100).save(folder / "a.png")
    Image.new("RGB", (4, 4), (10, 20, 30)).save(folder / "b.png")
    images = read_folder(folder)  # (2, 3, 4, 4)
    assert images.shape == (2, 3, 4, 4)
    assert images[0].unique().tolist() == [100]  # grey repeated to three channels
    assert images[1, :, 0, 0].tolist() == [10, 20, 30]
    grey = write_folder(tmp_path / "grey", torch.zeros(2, 1, 4, 4, dtype=torch.uint8))
    assert read_folder(grey).shape == (2, 1, 4, 4)  # all grey: one channel


def test_the_inception_preparation_options_reach_the_feature_space(monkeypatch, tmp_path):
    asked = {}

    def record(name, device, resize, quantize):
        asked.update(name=name, resize=resize, quantize=quantize)
        raise ImageSetError("recorded")  # stop before any Inception work

    monkeypatch.setattr(gan.eval, "load_feature_space", record)
    folder = write_folder(tmp_path / "f", torch.zeros(8, 1, 28, 28, dtype=torch.uint8))
    cfg = eval_cfg(f"fake={folder}", "real=mnist", "inception_resize=clean_fid",
                   "inception_quantize=false", f"out_dir={tmp_path / 'out'}")  # fmt: skip
    with pytest.raises(ImageSetError, match="recorded"):
        evaluate_sets(cfg)
    assert asked == {"name": "inception", "resize": "clean_fid", "quantize": False}


def test_an_unknown_device_is_refused_by_name(tmp_path):
    with pytest.raises(ConfigError, match="device='tpu' is invalid: auto, cpu or cuda"):
        evaluate_sets(eval_cfg(f"fake={tmp_path}", "real=mnist", "device=tpu"))


def test_fid_infinity_names_the_range_it_was_fitted_on():
    """10,000 features of the real Gaussian itself, against its statistics: FID∞ near 0, below
    the FID of all 10,000, fitted on 15 sizes from 5,000 to 10,000 (Chong & Forsyth's range)."""
    features = torch.randn(10_000, 8, generator=torch.Generator().manual_seed(0))
    truth = (torch.zeros(8, dtype=torch.float64), torch.eye(8, dtype=torch.float64))
    real = ImageSet("stats.npz", "statistics", statistics=truth)
    fake = ImageSet("fake.npz", "array", images=torch.zeros(10_000, 1, 2, 2, dtype=torch.uint8))
    space = FeatureSpace("toy", lambda x: None, ("fid",), "0" * 64)
    report = compare_sets(fake, Embedding(features), real, space, infinity=True)
    assert report["fid_infinity_fit"] == "15 subset sizes, 5,000 to 10,000"
    assert abs(report["model"]["fid_infinity"]) < report["model"]["fid_toy_10k"] / 10


@pytest.mark.slow
def test_stacked_mnist_named_as_real_comes_in_its_own_three_channels(tmp_path):
    """real=stacked_mnist used to be built grey (the default channels=1) and crash."""
    stacks = torch.randint(0, 256, (40, 3, 28, 28), dtype=torch.uint8)
    fake = write_array(tmp_path / "stacks.npz", stacks)
    report = evaluate_sets(eval_cfg(f"fake={fake}", "real=stacked_mnist", "space=stacked_mnist",
                                    f"out_dir={tmp_path / 'out'}"))  # fmt: skip
    assert report["n_real"] == 40 and "modes_covered" in report["model"]


@pytest.mark.slow
def test_cifar10_named_as_real_comes_in_rgb_at_32_px(tmp_path, monkeypatch):
    """real=cifar10 (as the README shows it) used to be built grey at 28 px and crash; a size
    can still be asked for."""
    fabricate_cifar10(tmp_path / "data", monkeypatch, per_batch=1100)  # 5,500 training images
    fake = write_array(tmp_path / "fake.npz", torch.randint(0, 256, (12, 3, 32, 32)).byte())
    cfg = eval_cfg(f"fake={fake}", "real=cifar10", f"data_root={tmp_path / 'data'}",
                   "metrics=[fid]", f"out_dir={tmp_path / 'out'}")  # fmt: skip
    report = evaluate_sets(cfg)
    assert report["n_real"] == 12 and "fid_inception_12" in report["model"]
    own = read_image_set("cifar10", tmp_path / "data", n=4)
    assert own.images.shape == own.second_real.shape == (4, 3, 32, 32)
    larger = read_image_set("cifar10", tmp_path / "data", n=4, resolution=64)
    assert larger.images.shape == (4, 3, 64, 64)
