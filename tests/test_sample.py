"""`python -m gan.sample`: grids of a chosen digit, or of all digits, from a checkpoint."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torchvision.io import decode_png, read_file

from gan.metrics.spaces import load_feature_space
from gan.sample import load_model, samples_of_class, write_samples
from gan.train import train

pytestmark = pytest.mark.slow


@pytest.fixture
def checkpoint(make_cfg):
    def make(*overrides: str) -> Path:
        cfg = make_cfg(*overrides)
        train(cfg)
        return Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"

    return make


def grid_size(path: Path) -> tuple[int, int]:
    return tuple(decode_png(read_file(str(path))).shape[1:])


def test_conditional_digit_grid_and_all_digits(checkpoint, tmp_path):
    ckpt = checkpoint("model=cdcgan")
    sevens = write_samples(ckpt, label=7, n=16, out=tmp_path / "sevens.png")
    assert grid_size(sevens) == (2 + 2 * 30, 2 + 8 * 30)  # 2 rows of 8, 28 px + 2 px padding
    all_digits = write_samples(ckpt, label=None, n=30, out=None)
    assert all_digits == ckpt.parent.parent / "samples" / "sample_digitall.png"
    assert grid_size(all_digits) == (2 + 10 * 30, 2 + 3 * 30)  # ten rows of 3


def test_unconditional_digit_is_picked_by_the_classifier(checkpoint):
    model = load_model(checkpoint("model=gan", "trainer.limit_train_batches=2"))
    space = load_feature_space("mnist")
    # An untrained generator still makes some images the classifier calls "1"s or others:
    # whatever it returns must be recognised as the digit asked for.
    digit = int(space.classify(model.generate(model.sample_noise(200))).mode().values)
    images = samples_of_class(model, digit, 5, space, num_classes=10)
    assert images.shape == (5, 1, 28, 28)
    assert (space.classify(images) == digit).all()


def test_cli_writes_the_grid_and_refuses_a_bad_digit(checkpoint, tmp_path):
    ckpt = checkpoint("model=cdcgan")
    out = tmp_path / "threes.png"
    run = [sys.executable, "-m", "gan.sample", f"ckpt_path={ckpt}", "n=8"]
    result = subprocess.run([*run, "digit=3", f"out={out}"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert out.is_file() and not (tmp_path / "sample.log").exists()
    result = subprocess.run([*run, "digit=12"], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 2
    assert "label=12 is invalid" in result.stderr and "Traceback" not in result.stderr


def test_model_rebuilt_from_checkpoint_generates_what_training_saved(checkpoint):
    ckpt = checkpoint()
    model = load_model(ckpt)
    state = torch.load(ckpt, weights_only=True)["state_dict"]
    assert torch.equal(model.fixed_noise, state["fixed_noise"])
    assert model.generate_fixed().shape == (64, 1, 28, 28)
