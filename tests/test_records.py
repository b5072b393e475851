"""Records say what happened, and output folders are checked before any work: job.json ends
`completed`, `failed` (with the error) or `interrupted` however a run ends; an unwritable folder
is one line before training or scoring."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from types import SimpleNamespace

import lightning as L
import pytest

import gan.train
from gan.config import ConfigError
from gan.sweep import JobRecord
from tests.conftest import TINY_CLI, run_cli


class InterruptAt(L.Callback):
    """Presses Ctrl-C (raises KeyboardInterrupt) at the start of batch `batch` of epoch 1."""

    def __init__(self, batch: int = 1) -> None:
        self.batch = batch

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        if trainer.current_epoch == 1 and batch_idx == self.batch:
            raise KeyboardInterrupt


def job_record(cfg) -> dict:
    return json.loads((Path(cfg.paths.output_dir) / "job.json").read_text())


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (FloatingPointError("loss_d is nan at D step 3"), "failed", 1),
        (ConfigError("data.batch_size=0 is invalid: an integer >= 1"), "failed", 2),
        (SystemExit(3), "failed", 3),
        (KeyboardInterrupt(), "interrupted", 130),
    ],
)
def test_every_way_out_of_a_run_is_recorded(make_cfg, monkeypatch, error, status, code):
    cfg = make_cfg()
    JobRecord().on_job_start(cfg)  # what Hydra does before calling the task
    assert job_record(cfg)["status"] == "running"

    def fails(cfg):
        raise error

    monkeypatch.setattr(gan.train, "train", fails)
    with pytest.raises(SystemExit) as exit_:
        gan.train.run(cfg)
    assert exit_.value.code == code
    record = job_record(cfg)
    assert record["status"] == status
    assert type(error).__name__ in record["error"]
    assert "ended" in record and "seconds" in record


@pytest.mark.parametrize(
    ("complete", "max_epochs", "said"),
    [
        (0, 5, "in epoch 1 of 5, after 0 complete epochs"),
        (1, 3, "in epoch 2 of 3, after 1 complete epoch"),
        (5, 5, "after 5 complete epochs of 5"),  # past the last epoch, before fit returns
        (2, -1, "in epoch 3, after 2 complete epochs"),  # no epoch limit
    ],
)
def test_an_interrupt_names_its_epoch_counted_from_one(complete, max_epochs, said):
    trainer = SimpleNamespace(current_epoch=complete, max_epochs=max_epochs)
    assert gan.train._where_in_training(trainer) == said


@pytest.mark.slow
def test_ctrl_c_during_training_is_recorded_as_interrupted(make_cfg):
    cfg = make_cfg(
        "trainer.max_epochs=3", "trainer.limit_train_batches=3",
        "+callbacks.interrupt._target_=tests.test_records.InterruptAt",
    )  # fmt: skip
    JobRecord().on_job_start(cfg)
    with pytest.raises(SystemExit) as exit_:
        gan.train.run(cfg)
    assert exit_.value.code == 130
    record = job_record(cfg)
    assert record["status"] == "interrupted"
    last = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    assert last.is_file()
    # Counted from 1; a KeyboardInterrupt raised, not a signal: at once, not after the batch.
    said = f"in epoch 2 of 3, after 1 complete epoch, at once; the last checkpoint is {last}"
    assert said in record["error"]


@pytest.mark.slow
def test_a_bad_value_on_the_command_line_is_recorded_as_failed(tmp_path):
    run_dir = tmp_path / "run"
    result = run_cli(*TINY_CLI, "model.optimizer_d.lr=-1", f"hydra.run.dir={run_dir}", cwd=tmp_path)
    assert result.returncode == 2
    record = json.loads((run_dir / "job.json").read_text())
    assert record["status"] == "failed" and "model.optimizer_d.lr=-1" in record["error"]


def test_an_unwritable_checkpoint_folder_is_refused_before_training(make_cfg, monkeypatch):
    cfg = make_cfg()
    checkpoints = Path(cfg.paths.output_dir) / "checkpoints"
    checkpoints.parent.mkdir(parents=True)
    checkpoints.write_text("a file where the folder should be")
    with pytest.raises(ConfigError, match=f"{checkpoints} is not a writable folder"):
        gan.train.train(cfg)
    checkpoints.unlink()

    # Read-only (simulated: the tests may run as root, for whom permissions do not bind).
    real_temporary_file = tempfile.TemporaryFile

    def read_only(*args, dir=None, **kwargs):
        if dir is not None and Path(dir) == checkpoints:
            raise PermissionError(13, "Permission denied")
        return real_temporary_file(*args, dir=dir, **kwargs)

    monkeypatch.setattr(tempfile, "TemporaryFile", read_only)
    with pytest.raises(ConfigError, match="Permission denied") as error:
        gan.train.train(cfg)
    assert "\n" not in str(error.value)
    assert not (Path(cfg.paths.output_dir) / "samples").exists()  # nothing was trained


@pytest.mark.slow
def test_eval_checks_its_out_dir_before_scoring(make_cfg, tmp_path):
    cfg = make_cfg()
    gan.train.train(cfg)
    ckpt = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    blocked = tmp_path / "blocked"
    blocked.write_text("a file")
    result = run_cli(f"ckpt_path={ckpt}", f"out_dir={blocked}", cwd=tmp_path, module="gan.eval")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith(f"error: {blocked} is not a writable")
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_a_run_directory_that_cannot_be_created_is_one_line(tmp_path):
    blocked = tmp_path / "blocked"
    blocked.write_text("a file")
    result = run_cli(*TINY_CLI, f"hydra.run.dir={blocked / 'run'}", cwd=tmp_path)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith(f"error: cannot create the run directory {blocked / 'run'}")
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_train_log_holds_lightnings_records_the_warnings_and_the_outcome(tmp_path):
    """train.log was empty but for a line: Lightning's loggers did not propagate to Hydra's."""
    run_dir = tmp_path / "run"
    result = run_cli(*TINY_CLI, f"hydra.run.dir={run_dir}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    log = (run_dir / "train.log").read_text()
    for line in (
        "[lightning.fabric.utilities.seed][INFO] - Seed set to 42",
        "[INFO] - `Trainer.fit` stopped: `max_epochs=1` reached.",
        "[py.warnings][WARNING]",
        "[gan.run][INFO] - completed: 2 D steps. val/fid_mnist",
    ):
        assert line in log, line  # fmt: skip
    failed_dir = tmp_path / "failed"
    result = run_cli(*TINY_CLI, "data.limit_images=4", f"hydra.run.dir={failed_dir}", cwd=tmp_path)
    assert result.returncode == 2
    log = (failed_dir / "train.log").read_text()
    assert "[gan.run][ERROR] - failed: ConfigError: data.batch_size=8 is larger" in log
    assert "data.batch_size=8 is larger" not in result.stdout  # once on the console: stderr
