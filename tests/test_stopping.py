"""Runs stopped from outside (Ctrl-C, SIGTERM, SLURM's requeue signal, trainer.max_time) stop
between two batches with a checkpoint that resumes them bit for bit (gan/stopping.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from gan.train import train
from tests.conftest import PROJECT_ROOT

pytestmark = pytest.mark.slow

# 6 batches an epoch, 2 epochs; the signal arrives while batch 4 trains.
RUN = ["debug=smoke", "trainer.limit_train_batches=1.0", "trainer.max_epochs=2",
       "data.limit_images=96", "data.batch_size=16", "callbacks.metrics.num_samples=100",
       "model.generator.width=8", "model.discriminator.width=8", "seed=7"]  # fmt: skip


def signal_at(name: str, batch: int = 3, times: int = 1) -> list[str]:
    """Overrides adding tests/signal_helpers.SignalAt to a run."""
    return ["+callbacks.signal._target_=tests.signal_helpers.SignalAt",
            f"+callbacks.signal.name={name}", f"+callbacks.signal.batch={batch}",
            f"+callbacks.signal.times={times}"]  # fmt: skip


def gan_train(*overrides: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gan.train", *overrides], cwd=cwd, capture_output=True, text=True,
        timeout=300, env={**os.environ, "WANDB_MODE": "offline", "PYTHONPATH": str(PROJECT_ROOT),
                          **(env or {})},
    )  # fmt: skip


def final_state(run_dir: Path) -> dict:
    return torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)


def assert_same_run(a: dict, b: dict) -> None:
    assert (a["gan"]["d_steps"], a["gan"]["images_seen"]) == (
        b["gan"]["d_steps"],
        b["gan"]["images_seen"],
    )
    differ = [k for k, v in a["state_dict"].items() if not torch.equal(v, b["state_dict"][k])]
    assert differ == [], differ[:3]
    for x, y in zip(a["optimizer_states"], b["optimizer_states"], strict=True):
        assert all(
            torch.equal(x["state"][i]["exp_avg"], y["state"][i]["exp_avg"]) for i in x["state"]
        )


@pytest.fixture(scope="module")
def straight(tmp_path_factory) -> dict:
    """The run that is never stopped: its final checkpoint."""
    root = tmp_path_factory.mktemp("straight")
    result = gan_train(*RUN, f"hydra.run.dir={root / 'run'}", cwd=root)
    assert result.returncode == 0, result.stderr[-2000:]
    return final_state(root / "run")


@pytest.mark.parametrize(("name", "reason"), [("SIGINT", "Ctrl-C"), ("SIGTERM", "SIGTERM")])
def test_a_signal_stops_the_run_after_the_batch_with_a_checkpoint_that_resumes_it(
    straight, tmp_path, name, reason
):
    run = tmp_path / "run"
    result = gan_train(*RUN, *signal_at(name), f"hydra.run.dir={run}", cwd=tmp_path)
    assert result.returncode == 130, result.stderr[-2000:]
    ckpt = run / "checkpoints" / "last.ckpt"
    message = (f"{reason} stopped the run in epoch 1, after batch 4 of 6; {ckpt} resumes it from "
               "the next batch")  # fmt: skip
    assert message in result.stderr.strip().splitlines()[-1], result.stderr[-2000:]
    record = json.loads((run / "job.json").read_text())
    assert record["status"] == "interrupted" and message in record["error"]
    assert final_state(run)["gan"]["d_steps"] == 4
    assert not (run / "samples" / "epoch_000.png").exists()  # a cut epoch gets no grid
    resumed = gan_train(*RUN, f"ckpt_path={ckpt}", f"hydra.run.dir={tmp_path / 'resumed'}",
                        cwd=tmp_path)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert_same_run(straight, final_state(tmp_path / "resumed"))


def test_a_second_ctrl_c_stops_at_once_and_says_no_checkpoint_was_written(tmp_path):
    run = tmp_path / "run"
    result = gan_train(*RUN, *signal_at("SIGINT", times=2), f"hydra.run.dir={run}", cwd=tmp_path)
    assert result.returncode == 130, result.stderr[-2000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last.endswith("interrupted in epoch 1 of 2, after 0 complete epochs, at once; no "
                         "checkpoint was written yet"), result.stderr[-2000:]  # fmt: skip
    assert not (run / "checkpoints" / "last.ckpt").exists()


def test_slurms_requeue_signal_requeues_the_job_which_resumes_in_its_folder(straight, tmp_path):
    """SLURM sends SIGUSR1 ahead of a time limit (`#SBATCH --signal=USR1@90`): Lightning's own
    machinery saves hpc_ckpt_1.ckpt and calls `scontrol requeue`, here at the end of the batch;
    the requeued job (same id, same command) finds its folder, outputs/slurm/<job id>, and
    resumes from that checkpoint."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "scontrol_calls"
    (bin_dir / "scontrol").write_text(f'#!/bin/sh\necho "$@" >> {calls}\n')
    (bin_dir / "scontrol").chmod(0o755)
    slurm = {"SLURM_JOB_ID": "4242", "SLURM_NTASKS": "1", "SLURM_JOB_NAME": "gan",
             "SLURM_PROCID": "0", "SLURM_LOCALID": "0", "SLURM_NODEID": "0",
             "SLURM_NODELIST": "localhost", "PATH": f"{bin_dir}:{os.environ['PATH']}",
             "GAN_DATA_DIR": str(PROJECT_ROOT / "data")}  # fmt: skip
    command = [*RUN, *signal_at("SIGUSR1"), f"paths.root_dir={tmp_path}"]
    run = tmp_path / "outputs" / "slurm" / "4242"  # the default folder of a SLURM batch job
    first = gan_train(*command, cwd=tmp_path, env=slurm)
    assert first.returncode == 130, first.stderr[-2000:]
    assert calls.read_text().split() == ["requeue", "4242"]
    assert (run / "hpc_ckpt_1.ckpt").is_file()
    assert "asked SLURM to requeue the job" in json.loads((run / "job.json").read_text())["error"]
    requeued = gan_train(*command, cwd=tmp_path, env=slurm)  # the same job, started again
    assert requeued.returncode == 0, requeued.stderr[-2000:]
    assert f"resuming from {run / 'hpc_ckpt_1.ckpt'}" in requeued.stderr + requeued.stdout
    assert_same_run(straight, final_state(run))
    assert not (run / "hpc_ckpt_1.ckpt").exists()  # the finished run's last.ckpt supersedes it


def test_max_time_stops_inside_an_epoch_and_the_run_resumes_exactly(make_cfg, tmp_path):
    """Lightning's Timer ends the run between two batches; the rest of the epoch follows on
    resume (wherever the time ran out: every batch takes 10 ms more, so 1 s is inside the
    epoch of 150 batches on any machine)."""
    common = ["data.limit_images=2400", "data.batch_size=16", "trainer.limit_train_batches=1.0",
              "callbacks.metrics.num_samples=100", "trainer.log_every_n_steps=50", "seed=3",
              "+callbacks.slow._target_=tests.signal_helpers.SlowBatches",
              "+callbacks.slow.seconds=0.01"]  # fmt: skip
    whole = make_cfg(*common, output_dir=tmp_path / "whole")
    train(whole)
    cut = make_cfg(*common, "+trainer.max_time=00:00:00:01", output_dir=tmp_path / "cut")
    assert 0 < train(cut)["d_steps"] < 150  # inside the only epoch
    resumed = make_cfg(*common, f"ckpt_path={tmp_path / 'cut' / 'checkpoints' / 'last.ckpt'}",
                       output_dir=tmp_path / "resumed")  # fmt: skip
    train(resumed)
    assert_same_run(final_state(tmp_path / "whole"), final_state(tmp_path / "resumed"))
