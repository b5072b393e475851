"""Bad input: one clear line naming the bad value and what would be accepted."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from PIL import Image

from gan.checkpoints import CheckpointError
from gan.config import ConfigError, validate_config
from gan.data import MNIST_FILES, DataNotFoundError, load_mnist
from gan.train import train
from tests.conftest import PROJECT_ROOT, compose_config, run_cli


def test_max_epochs_minus_one_is_refused_unless_something_else_ends_the_run(tmp_path):
    cfg = compose_config(["trainer.max_epochs=-1"], tmp_path)
    with pytest.raises(ConfigError, match=r"trainer.max_epochs=-1 .*trains until stopped"):
        validate_config(cfg)
    validate_config(
        compose_config(["trainer.max_epochs=-1", "+trainer.max_time=00:01:00:00"], tmp_path)
    )


def test_an_empty_data_dir_variable_means_the_default(tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_DATA_DIR", "")
    cfg = compose_config([], tmp_path)
    assert cfg.paths.data_dir == str(PROJECT_ROOT / "data")  # not "", which put the cache at /stats
    assert cfg.callbacks.metrics.cache_dir == str(PROJECT_ROOT / "data" / "stats")
    monkeypatch.setenv("GAN_DATA_DIR", str(tmp_path))
    assert compose_config([], tmp_path).paths.data_dir == str(tmp_path)


def test_a_task_chooses_its_model(tmp_path):
    with pytest.raises(ConfigError, match=r"model=cdcgan with task=inpaint: .*model=pix2pix"):
        validate_config(compose_config(["model=cdcgan", "task=inpaint"], tmp_path))
    with pytest.raises(ConfigError, match=r"model=pix2pix with task=generate"):
        validate_config(compose_config(["model=pix2pix"], tmp_path))
    validate_config(compose_config(["task=translate"], tmp_path))  # its own model: fine


@pytest.mark.parametrize("model", ["dcgan", "sngan", "vae", "cdcgan"])
def test_the_2d_mixtures_name_the_recipe_for_points(tmp_path, model):
    """`data=ring8` alone used to fail inside Hydra's instantiate ("resolution=1: this network
    is built for (28, 32, 64)")."""
    cfg = compose_config(["data=ring8", f"model={model}"], tmp_path)
    with pytest.raises(ConfigError, match=r"data=ring8 holds 2-D points.*experiment=mixture"):
        validate_config(cfg)
    validate_config(compose_config(["experiment=mixture", "data=grid25"], tmp_path))
    validate_config(compose_config(["data=grid25", "model=gan"], tmp_path))  # an MLP: fine


def test_a_damaged_mnist_file_is_named(tmp_path):
    shared = PROJECT_ROOT / "data" / "MNIST" / "raw"
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in MNIST_FILES:
        shutil.copyfile(shared / name, raw / name)
    damaged = raw / "t10k-labels-idx1-ubyte.gz"
    damaged.write_bytes(damaged.read_bytes()[:1000])  # cut short, as by an interrupted download
    with pytest.raises(DataNotFoundError, match=f"{damaged} is damaged") as error:
        load_mnist(tmp_path, train=False)
    assert "delete it" in str(error.value) and "\n" not in str(error.value)
    assert "train-images" not in str(error.value)


@pytest.mark.slow
def test_sampling_a_digit_an_untrained_model_never_draws_is_quick_and_one_line(make_cfg, tmp_path):
    from gan.train import train

    cfg = make_cfg("model=gan", "trainer.limit_train_batches=1")
    train(cfg)
    ckpt = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    result = run_cli(f"ckpt_path={ckpt}", "digit=1", "n=64", cwd=tmp_path, module="gan.sample")
    assert result.returncode == 2, result.stderr[-2000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: only ") and "look like a 1" in last, last
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_printing_the_resolved_config_works_with_the_default_logger(tmp_path):
    result = run_cli("--cfg", "job", "--resolve", "loss=hinge", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "- loss=hinge" in result.stdout  # the wandb tags, resolved


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("trainer.max_epochs=0", r"trainer\.max_epochs=0 is invalid: .*\(0 trains nothing\)"),
        ("trainer.max_epochs=abc", r"trainer\.max_epochs='abc' is invalid: an integer >= 1"),
        ("+trainer.max_steps=0", r"trainer\.max_steps=0 is invalid: an integer >= 1"),
        ("trainer.limit_train_batches=0", r"trainer\.limit_train_batches=0 is invalid"),
        ("seed=-1", r"seed=-1 is invalid: an integer in \[0, 4294967295\]"),
        ("seed=1.5", r"seed=1\.5 is invalid"),
        ("data.limit_images=0", r"data\.limit_images=0 is invalid: an integer >= 1"),
        ("data.limit_images=-5", r"data\.limit_images=-5 is invalid"),
        ("data=folder", r"data\.path is missing: data=folder needs the folder of images"),
    ],
)
def test_values_that_would_train_nothing_or_fail_inside_are_named(tmp_path, override, message):
    with pytest.raises(ConfigError, match=message) as error:
        validate_config(compose_config([override], tmp_path))
    assert "\n" not in str(error.value)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["trainer.max_epochs=abc"], "error: trainer.max_epochs='abc' is invalid"),
        (["data.limit_images=50", "data.batch_size=128"],
         "error: data.batch_size=128 is larger than the training split (50 images)"),
    ],
)  # fmt: skip
def test_a_run_that_would_train_nothing_fails_in_one_line_and_its_record_says_why(
    tmp_path, overrides, message
):
    """These ended as `completed` (Lightning's "No training batches" warning alone) or with a
    bare AssertionError in job.json."""
    run_dir = tmp_path / "run"
    result = run_cli(*overrides, "logger=csv", f"hydra.run.dir={run_dir}", cwd=tmp_path)
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stderr.strip().splitlines()[-1].startswith(message), result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    record = json.loads((run_dir / "job.json").read_text())
    assert record["status"] == "failed" and message.removeprefix("error: ") in record["error"]


@pytest.mark.slow
def test_a_folder_smaller_than_a_batch_and_its_class_count_are_refused(make_cfg, tmp_path):
    folder = tmp_path / "images"
    for i in range(60):  # 6 held out: 54 training images against the default batch of 128
        (folder / ("a" if i % 2 else "b")).mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (8, 8), (i, i, i)).save(folder / ("a" if i % 2 else "b") / f"{i}.png")
    common = ["data=folder", f"data.path={folder}", "data.resolution=28"]
    with pytest.raises(ConfigError, match=r"data\.batch_size=128 is larger than the training "
                                          r"split \(54 images\)"):  # fmt: skip
        train(make_cfg(*common, "data.batch_size=128", output_dir=tmp_path / "one"))
    with pytest.raises(ConfigError, match=r"data\.num_classes=10, but .* has 2 class folders"):
        train(make_cfg(*common, "model=cdcgan", "data.num_classes=10", output_dir=tmp_path / "2"))
    with pytest.raises(DataNotFoundError, match="a file, not a folder"):
        train(make_cfg("data=folder", f"data.path={folder / 'a' / '1.png'}",
                       output_dir=tmp_path / "three"))  # fmt: skip


@pytest.mark.slow
def test_resuming_a_run_that_has_already_reached_its_budget_is_refused(make_cfg, tmp_path):
    first = make_cfg("trainer.limit_train_batches=2", output_dir=tmp_path / "first")
    train(first)
    last = Path(first.paths.output_dir) / "checkpoints" / "last.ckpt"
    for budget, message in (
        (["trainer.max_epochs=1"], r"finished 1 epoch, so trainer\.max_epochs=1 trains nothing"),
        (["trainer.max_epochs=5", "+trainer.max_steps=4"], r"took 4 optimiser steps"),
    ):
        cfg = make_cfg(*budget, f"ckpt_path={last}", output_dir=tmp_path / "again")
        with pytest.raises(CheckpointError, match=message):
            train(cfg)
