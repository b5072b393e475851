"""Checkpoints are data, never code: crafted files are refused in one line and run nothing; a
checkpoint of another model is named, not a traceback; saves are whole or absent."""

from __future__ import annotations

import pathlib
import re
import tempfile
from pathlib import Path

import pytest
import torch

from gan.checkpoints import (
    CheckpointError,
    SafeCheckpointIO,
    check_targets,
    read_checkpoint,
    rebuild_model,
)
from gan.eval import rebuild_data
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


def _writes(marker: Path) -> list[dict]:
    """Stored configs that would write `marker` if built, each by another route through names
    the project's modules import or define: pathlib's method reached through gan.atomic, a
    project function that writes files, a class nested in `_args_` of a legitimate target, a
    `_partial_` node, a list inside a dict, os reached through a project module."""
    path_node = {"_target_": "gan.atomic.Path", "_args_": [str(marker)]}
    return [
        {"_target_": "gan.atomic.Path.write_text", "_args_": [path_node, "pwned"]},
        {"_target_": "gan.atomic.write_json", "path": str(marker), "record": {}},
        {"_target_": "gan.nets.DCGANGenerator", "_args_": [path_node]},
        {"_target_": "gan.module.GAN", "optimizer_g": {"_target_": "gan.atomic.write_json",
                                                       "_partial_": True, "path": str(marker)}},
        {"_target_": "gan.module.GAN", "loss": {"terms": [{"x": path_node}]}},
        {"_target_": "gan.atomic.os.system", "_args_": [f"touch {marker}"]},
        {"_target_": "gan.atomic.shutil.copyfile", "_args_": [__file__, str(marker)]},
    ]  # fmt: skip


@pytest.mark.parametrize("route", range(7))
def test_no_route_through_the_projects_names_builds_anything_else(tmp_path, route):
    """gan.atomic imports Path, os and shutil: a name walking through them, a project function
    or a class nested anywhere in the config is refused before anything is built."""
    marker = tmp_path / "pwned"
    model = _writes(marker)[route]
    path = tmp_path / "crafted.ckpt"
    torch.save({"state_dict": {}, "gan": {}, "config": {"model": model, "data": model}}, path)
    with pytest.raises(CheckpointError, match="refused to build") as error:
        load_model(path)  # gan.sample, gan.eval and the notebook
    assert "\n" not in str(error.value)
    with pytest.raises(CheckpointError, match="refused to build"):
        rebuild_data(read_checkpoint(path), str(path), str(tmp_path))  # gan.eval's data set
    assert not marker.exists()


@pytest.mark.parametrize(
    "target",
    ["gan.nets.DCGANGenerator", "gan.nets.dcgan.DCGANGenerator", "torch.optim.Adam",
     "torch.optim.adam.Adam", "gan.data.MNISTDataModule", "gan.losses.HingeLoss"],
)  # fmt: skip
def test_the_projects_classes_are_built_by_their_name_or_their_packages(target):
    check_targets({"_target_": target, "_partial_": True}, "ckpt_path='x'")


@pytest.mark.parametrize(
    "node, reason",
    [
        ({"_target_": 3}, "not a dotted name"),
        ({"_target_": "gan.atomic.Path"}, "pathlib.Path, from outside"),
        ({"_target_": "gan.nets.dcgan.nn"}, "a module, not a class"),
        ({"_target_": "gan.data.base.os"}, "a module, not a class"),
        ({"_target_": "gan.nets.DCGAN"}, "gan.nets has no DCGAN"),
        ({"_target_": "gan.sample.main"}, "not a class"),
        ({"lr": "${oc.env:HOME}"}, "an interpolation"),
    ],
)
def test_each_refusal_says_why(node, reason):
    with pytest.raises(CheckpointError, match=re.escape(reason)):
        check_targets({"_target_": "gan.module.GAN", "x": [node]}, "ckpt_path='x'")


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


def test_a_checkpoint_rebuilt_twice_samples_the_same_images_whatever_the_global_rng(make_cfg):
    """The EMA generator's BatchNorm statistics are recomputed from noise of the run's seed when
    it is rebuilt: the same z gives the same images however the global RNG stood (gan.eval and
    gan.augment.leak rebuild several checkpoints in one process)."""
    cfg = make_cfg("model=dcgan")
    train(cfg)
    path = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    checkpoint = read_checkpoint(path)
    z = torch.randn(8, cfg.model.latent_dim, generator=torch.Generator().manual_seed(0))
    images = []
    for global_seed in (1, 2):
        torch.manual_seed(global_seed)
        model = rebuild_model(checkpoint, path).eval()
        assert model.generator_ema is not None and model.generator_ema.batch_norm_stale
        assert model.noise_seed == checkpoint["gan"]["noise_seed"]
        assert model.run_seed == checkpoint["gan"]["run_seed"]
        images.append(model.generate(z))  # (8, 1, 28, 28)
    assert torch.equal(*images)


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
