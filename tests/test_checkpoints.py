"""Checkpoints are data, never code: crafted files are refused in one line and run nothing; a
checkpoint of another model is named, not a traceback; saves are whole or absent."""

from __future__ import annotations

import pathlib
import tempfile
from pathlib import Path

import pytest
import torch

from gan.checkpoints import CheckpointError, SafeCheckpointIO, read_checkpoint
from gan.sample import load_model
from gan.train import train
from tests.conftest import run_cli


class _CreatesAFile:
    """Pickled, this reduces to `Path(path).touch()`: loading it with weights_only=False would
    create the file. A stand-in for any code a crafted checkpoint could run."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return pathlib.Path.touch, (pathlib.Path(self.path),)


@pytest.fixture
def crafted(tmp_path) -> tuple[Path, Path]:
    """A file shaped like a checkpoint whose unpickling would create `marker`."""
    marker = tmp_path / "pwned"
    path = tmp_path / "crafted.ckpt"
    model = {"_target_": "gan.vae.VAE"}
    torch.save(
        {"state_dict": {}, "gan": {}, "config": {"model": model}, "x": _CreatesAFile(marker)}, path
    )
    return path, marker


def test_a_crafted_checkpoint_runs_nothing_when_read(crafted):
    path, marker = crafted
    with pytest.raises(CheckpointError, match="refused, it holds Python objects") as error:
        read_checkpoint(path)
    assert "\n" not in str(error.value)
    with pytest.raises(CheckpointError):
        load_model(path)  # gan.sample, gan.eval and the notebook rebuild models this way
    assert not marker.exists()


@pytest.mark.slow
@pytest.mark.parametrize("module", ["gan.train", "gan.eval", "gan.sample"])
def test_every_entry_point_refuses_a_crafted_checkpoint_in_one_line(crafted, tmp_path, module):
    path, marker = crafted
    overrides = [f"ckpt_path={path}", f"hydra.run.dir={tmp_path / 'run'}", "logger=csv"]
    overrides = overrides if module == "gan.train" else [f"ckpt_path={path}"]
    result = run_cli(*overrides, cwd=tmp_path, module=module)
    assert result.returncode == 2, result.stderr[-2000:]
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith(f"error: ckpt_path={str(path)!r}: refused"), result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert not marker.exists()


def test_a_stored_config_may_only_build_this_projects_classes(tmp_path):
    path = tmp_path / "foreign.ckpt"
    model = {"_target_": "gan.module.GAN", "generator": {"_target_": "os.system", "command": "x"}}
    torch.save({"state_dict": {}, "gan": {}, "config": {"model": model}}, path)
    with pytest.raises(CheckpointError, match=r"refused to build 'os.system'"):
        load_model(path)


@pytest.mark.slow
def test_a_checkpoint_of_another_model_is_named_in_one_line(make_cfg, tmp_path):
    vae = make_cfg("model=vae", output_dir=tmp_path / "vae")
    train(vae)
    ckpt = Path(vae.paths.output_dir) / "checkpoints" / "last.ckpt"
    with pytest.raises(
        CheckpointError, match=r"holds a gan\.vae\.VAE checkpoint.*gan\.module\.GAN"
    ):
        train(make_cfg("model=dcgan", f"ckpt_path={ckpt}", output_dir=tmp_path / "gan"))

    # A stored config that does not describe its weights (width 8 trained, 16 claimed).
    checkpoint = torch.load(ckpt, weights_only=True)
    checkpoint["config"]["model"]["decoder"]["width"] = 16
    torch.save(checkpoint, tmp_path / "mismatch.ckpt")
    with pytest.raises(CheckpointError, match=r"its weights do not fit gan\.vae\.VAE") as error:
        load_model(tmp_path / "mismatch.ckpt")
    assert "\n" not in str(error.value)


def test_an_interrupted_save_leaves_the_old_checkpoint_and_nothing_outside_its_folder(
    tmp_path, monkeypatch
):
    system_tmp = tmp_path / "system_tmp"
    system_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(system_tmp))
    folder = tmp_path / "checkpoints"
    io = SafeCheckpointIO()
    io.save_checkpoint({"step": 1}, folder / "last.ckpt")

    def killed_midway(obj, file, *args, **kwargs):
        file.write(b"half a checkpoint")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", killed_midway)
    with pytest.raises(KeyboardInterrupt):
        io.save_checkpoint({"step": 2}, folder / "last.ckpt")
    monkeypatch.undo()
    assert torch.load(folder / "last.ckpt", weights_only=True) == {"step": 1}
    assert [p.name for p in folder.iterdir()] == ["last.ckpt"]
    assert not list(system_tmp.iterdir())


def test_what_a_killed_save_left_behind_is_cleared_by_the_next(tmp_path):
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    (folder / ".last.ckpt.999999999.x1y2.partial").write_bytes(b"from a process long gone")
    SafeCheckpointIO().save_checkpoint({"step": 3}, folder / "last.ckpt")
    assert [p.name for p in folder.iterdir()] == ["last.ckpt"]


def test_a_checkpoint_read_before_training_is_not_read_again(tmp_path):
    """train() reads a resumed checkpoint once, to check it; the trainer gets that copy."""
    path = tmp_path / "last.ckpt"
    contents = {"state_dict": {}, "gan": {}}
    io = SafeCheckpointIO(preloaded={path: contents})  # no file there: it is not read
    assert io.load_checkpoint(str(path)) is contents
    with pytest.raises(CheckpointError, match="no such file"):
        io.load_checkpoint(str(path))  # handed out once; a second load reads the disk
