"""DDP: data sharding, per-rank noise, the launcher guard, real 2-process CPU runs with the default
callbacks (resume included), and runs that a stuck process must not hang."""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from gan.config import ConfigError, check_launcher
from gan.data import EpochShuffleSampler
from gan.distributed import STOP_GRACE_S
from tests.conftest import PROJECT_ROOT, compose_config, run_cli


def test_sampler_shares_each_epoch_out_between_ranks_without_overlap():
    ranks = [list(EpochShuffleSampler(11, seed=3, num_replicas=2, rank=r)) for r in (0, 1)]
    assert len(ranks[0]) == len(ranks[1]) == 5  # equal steps on every process
    assert not set(ranks[0]) & set(ranks[1])
    whole = list(EpochShuffleSampler(11, seed=3))
    assert ranks[0] + ranks[1] == whole[0:10:2] + whole[1:10:2]  # the single-process order, dealt
    with pytest.raises(ValueError, match="rank=2"):
        EpochShuffleSampler(11, seed=3, num_replicas=2, rank=2)


def test_every_rank_draws_different_training_noise(make_cfg):
    from hydra.utils import instantiate

    cfg = make_cfg()
    noise = []
    for rank in (0, 1):
        torch.manual_seed(0)
        model = instantiate(cfg.model)
        model._trainer = SimpleNamespace(global_rank=rank, world_size=2)
        noise.append(model.sample_noise(4))
    assert not torch.equal(noise[0], noise[1])
    model.count_step_images(16)
    assert model.images_seen == 32  # images of both processes


def test_multi_process_trainer_is_refused_in_a_basic_multirun(tmp_path):
    cfg = compose_config(["trainer=ddp_cpu"], tmp_path, mode="MULTIRUN")
    with pytest.raises(ConfigError, match="hydra/launcher=slurm"):
        check_launcher(cfg)
    check_launcher(compose_config(["trainer=ddp_cpu"], tmp_path))  # a single run is fine


# Two CPU processes with the default callbacks (rich progress bar, metrics, checkpoints, grids):
# the configuration users run. model=gan: dropout draws from the global RNG.
DDP_RUN = [
    "trainer=ddp_cpu", "model=gan", "model.generator.hidden=[32,64]",
    "model.discriminator.hidden=[64,32]", "trainer.limit_train_batches=3", "data.batch_size=8",
    "callbacks.metrics.num_samples=100", "logger=csv",
]  # fmt: skip


def _ddp_run(tmp_path, name: str, *overrides: str, base: list[str] = DDP_RUN) -> tuple[Path, dict]:
    run_dir, dumps = tmp_path / name, tmp_path / f"{name}_ranks"
    result = run_cli(
        *base, *overrides, f"hydra.run.dir={run_dir}",
        f"+callbacks.rank_consistency.dump_dir={dumps}", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Starting with 2 processes" in result.stdout + result.stderr
    return run_dir, {r: torch.load(dumps / f"rank_{r}.pt") for r in (0, 1)}


@pytest.mark.slow
def test_ddp_cpu_with_default_callbacks_keeps_ranks_identical_and_resumes_exactly(tmp_path):
    epochs = tmp_path / "every_epoch"  # the straight run also keeps its first epoch's checkpoint
    keep_every_epoch = [
        "+callbacks.every_epoch._target_=gan.callbacks.RunCheckpoint",
        f"+callbacks.every_epoch.dirpath={epochs}",
        "+callbacks.every_epoch.save_top_k=-1",  # keep them all
        "+callbacks.every_epoch.monitor=train/images_seen",  # (a state key of its own)
    ]
    run_dir, ranks = _ddp_run(tmp_path, "straight", "trainer.max_epochs=2", *keep_every_epoch)
    for name, value in ranks[0]["state_dict"].items():  # G, D and the EMA generator, bit for bit
        assert torch.equal(value, ranks[1]["state_dict"][name]), name
    assert any(name.startswith("generator_ema.") for name in ranks[0]["state_dict"])
    # Each process its own streams: dropout masks and noise differ between ranks.
    assert not torch.equal(ranks[0]["torch_rng_state"], ranks[1]["torch_rng_state"])
    assert not torch.equal(ranks[0]["noise_rng_state"], ranks[1]["noise_rng_state"])

    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert math.isfinite(metrics["train/loss_d"]) and math.isfinite(metrics["val/fid_mnist"])
    assert metrics["ddp/param_max_abs_diff"] == 0.0
    assert metrics["d_steps"] == metrics["g_steps"] == 6
    assert metrics["images_seen"] == 6 * 8 * 2  # steps x batch x processes
    assert {"last.ckpt", "best.ckpt"} <= {p.name for p in (run_dir / "checkpoints").iterdir()}
    samples = sorted(p.name for p in (run_dir / "samples").iterdir())
    assert samples == ["epoch_000.png", "epoch_001.png", "final.png"]

    # Resumed from the first epoch's checkpoint: every rank continues its own RNG streams.
    (first_epoch,) = epochs.glob("epoch=0-*.ckpt")
    resume = f"ckpt_path='{first_epoch}'"  # quoted: the file name holds '='
    _, resumed = _ddp_run(tmp_path, "resumed", "trainer.max_epochs=2", resume)
    for rank in (0, 1):
        straight, again = ranks[rank], resumed[rank]
        for key in ("torch_rng_state", "noise_rng_state"):
            assert torch.equal(straight[key], again[key]), (rank, key)
        for name, value in straight["state_dict"].items():
            assert torch.equal(value, again["state_dict"][name]), (rank, name)


# StyleGAN2's small recipe at a test's size, with lazy R1 and path length every other step.
STYLEGAN2_DDP_RUN = [
    "trainer=ddp_cpu", "experiment=stylegan2_small", "model.latent_dim=16",
    "model.generator.w_dim=16", "model.generator.channel_base=512",
    "model.generator.channel_max=16", "loss.r1_interval=2", "model.path_length.interval=2",
    "trainer.limit_train_batches=3", "data.batch_size=8", "callbacks.metrics.num_samples=100",
    "logger=csv",
]  # fmt: skip
# Running averages each process keeps of its own samples between DDP's broadcasts of rank 0's
# buffers at every step, as StyleGAN2-ADA keeps them per GPU (its consistency check skips w_avg).
RANK_LOCAL = ("mapping.w_avg", "path_length.pl_mean")


@pytest.mark.slow
def test_stylegan2_under_ddp_cpu_keeps_ranks_identical_through_the_lazy_steps(tmp_path):
    run_dir, ranks = _ddp_run(tmp_path, "sg2", "trainer.max_epochs=2", base=STYLEGAN2_DDP_RUN)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["ddp/param_max_abs_diff"] == 0.0
    assert metrics["d_steps"] == metrics["g_steps"] == 6
    assert math.isfinite(metrics["train/path_length"]) and math.isfinite(metrics["val/fid_mnist"])
    states = [ranks[r]["state_dict"] for r in (0, 1)]
    for name, value in states[0].items():
        if not name.endswith(RANK_LOCAL):
            assert torch.equal(value, states[1][name]), name
    assert any(name.startswith("generator_ema.") for name in states[0])


@pytest.mark.slow
def test_ada_and_lecam_under_ddp_cpu_keep_one_p_and_one_pair_of_averages(tmp_path):
    """ADA's sign statistics are summed over both processes at every D step, LeCam's batch
    means averaged: after 6 D steps (adjustments after steps 0 and 4) both ranks hold the same
    p, r_t and averages, and the statistics since the last adjustment count step 5's real
    scores of both processes (8 each)."""
    run_dir, ranks = _ddp_run(tmp_path, "ada", "trainer.max_epochs=2", "remedy=ada_lecam",
                              "lecam.start=0", "augment.speed_kimg=0.1")  # fmt: skip
    states = [ranks[r]["state_dict"] for r in (0, 1)]
    for name in ("augment.p", "augment.rt", "augment.sign_sum", "augment.sign_count",
                 "lecam.ema_real", "lecam.ema_fake"):  # fmt: skip
        assert torch.equal(states[0][name], states[1][name]), name
    assert states[0]["augment.sign_count"].item() == 16
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["ddp/param_max_abs_diff"] == 0.0 and 0 <= metrics["train/ada_p"] <= 1


def _start_stuck_ddp_run(tmp_path, *overrides: str) -> tuple[subprocess.Popen, Path]:
    """A DDP run whose rank 1 stops answering after the first epoch (tests/ddp_helpers.py);
    returns the process (rank 0) once rank 1 is stuck. Output goes to tmp_path/output.txt (a
    pipe would stay open as long as the sleeping rank 1 lives)."""
    marker = tmp_path / "stuck"
    command = [
        sys.executable, "-m", "gan.train", *DDP_RUN, "trainer.max_epochs=2",
        f"hydra.run.dir={tmp_path / 'run'}", f"+callbacks.stuck.marker={marker}",
        "+callbacks.stuck._target_=tests.ddp_helpers.StuckPeer", *overrides,
    ]  # fmt: skip
    env = {**os.environ, "WANDB_MODE": "offline", "PYTHONPATH": str(PROJECT_ROOT)}
    with open(tmp_path / "output.txt", "w") as output:
        process = subprocess.Popen(
            command, cwd=tmp_path, env=env, stdout=output, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    deadline = time.monotonic() + 240
    while not marker.exists():
        assert process.poll() is None, (tmp_path / "output.txt").read_text()[-3000:]
        assert time.monotonic() < deadline, "rank 1 never got stuck"
        time.sleep(0.5)
    time.sleep(3)  # rank 0 is now waiting for rank 1 in a collective
    return process, marker


def _end(process: subprocess.Popen, marker: Path) -> None:
    """Kill whatever is left of the run (rank 1 sleeps on after rank 0 is gone)."""
    with contextlib.suppress(ProcessLookupError, ValueError):
        os.kill(int(marker.read_text()), signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


@pytest.mark.slow
def test_a_rank_kept_waiting_fails_after_the_process_group_timeout(tmp_path):
    # Half a minute: the timeout also bounds the processes' start-up rendezvous.
    process, marker = _start_stuck_ddp_run(tmp_path, "trainer.strategy.timeout.minutes=0.5")
    try:
        process.wait(timeout=180)
    finally:
        _end(process, marker)
    output = (tmp_path / "output.txt").read_text()
    assert process.returncode == 1
    last = output.strip().splitlines()[-1]
    assert last.startswith("error: a process waited longer than trainer.strategy.timeout"), last


@pytest.mark.slow
def test_sigterm_stops_a_run_blocked_in_a_collective(tmp_path):
    process, marker = _start_stuck_ddp_run(tmp_path)  # the 10-minute default timeout
    started = time.monotonic()
    try:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=120)
    finally:
        _end(process, marker)
    output = (tmp_path / "output.txt").read_text()
    assert process.returncode == 128 + signal.SIGTERM
    assert time.monotonic() - started < STOP_GRACE_S + 30
    assert "after SIGTERM" in output, output[-3000:]
