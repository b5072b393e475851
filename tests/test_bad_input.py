"""Bad input: one clear line naming the bad value and what would be accepted."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gan.config import ConfigError, validate_config
from gan.data import MNIST_FILES, DataNotFoundError, load_mnist
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
