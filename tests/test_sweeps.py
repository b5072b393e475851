"""Sweeps through the command line: launchers, Optuna, job records, wandb groups, gan.report."""

from __future__ import annotations

import json
import math
from pathlib import Path

import hydra
import lightning
import pytest
import torch
import yaml

from gan.config import native_cpu_bf16
from gan.history import wandb_records
from gan.machine import cpu_model, cpu_name
from tests.conftest import TINY_CLI, run_cli

pytestmark = pytest.mark.slow


def job_records(sweep_dir: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in sweep_dir.glob("*/job.json")}


def assert_completed(sweep_dir: Path, jobs: int) -> dict[str, dict]:
    records = job_records(sweep_dir)
    assert sorted(records) == [str(n) for n in range(jobs)]
    for record in records.values():
        assert record["status"] == "completed"
        assert math.isfinite(record["metrics"]["train/loss_d"])
        assert math.isfinite(record["metrics"]["val/fid_mnist"])
    return records


def test_joblib_launcher_runs_two_jobs_in_parallel(tmp_path):
    result = run_cli(
        "-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "seed=1,2", *TINY_CLI,
        f"hydra.sweep.dir={tmp_path}", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Joblib.Parallel(n_jobs=2" in result.stdout + result.stderr
    records = assert_completed(tmp_path, jobs=2)
    assert "seed=1" in records["0"]["overrides"] and "seed=2" in records["1"]["overrides"]
    choices = records["0"]["choices"]  # every group's option, typed or not, for gan.report
    assert (choices["model"], choices["remedy"]) == ("dcgan", "none")
    assert not [group for group in choices if group.startswith("hydra")]
    machine = records["1"]["machine"]  # where the figures come from, named beside them
    assert machine["cpu"] == cpu_name() and machine["native_bf16"] == native_cpu_bf16()
    assert machine["cpu_model"] == cpu_model()
    assert isinstance(machine["cpu_threads"], int) and machine["torch"] == torch.__version__
    versions = records["1"]["versions"]  # what the run can be set up again with
    assert versions["lightning"] == lightning.__version__
    assert versions["hydra-core"] == hydra.__version__ and versions["torch"] in torch.__version__


def test_optuna_sweep_minimises_fid_over_two_trials(tmp_path):
    result = run_cli(
        "hparams_search=optuna", "hydra.sweeper.n_trials=2", *TINY_CLI,
        f"hydra.sweep.dir={tmp_path}", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    records = assert_completed(tmp_path, jobs=2)
    fids = [r["metrics"]["val/fid_mnist"] for r in records.values()]
    results = yaml.safe_load((tmp_path / "optimization_results.yaml").read_text())
    assert results["best_value"] == pytest.approx(min(fids))
    for record in records.values():  # every trial drew from the documented search space
        sampled = dict(o.split("=", 1) for o in record["overrides"])
        assert 5e-5 <= float(sampled["model.optimizer_g.lr"]) <= 1e-3
        assert sampled["loss"] in {"bce", "hinge", "lsgan"}


def test_submitit_local_launcher_runs_a_job(tmp_path):
    result = run_cli(
        "-m", "hydra/launcher=submitit_local", "hydra.launcher.timeout_min=5", "seed=3", *TINY_CLI,
        f"hydra.sweep.dir={tmp_path}", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert_completed(tmp_path, jobs=1)
    assert list((tmp_path / ".submitit").iterdir())  # the job went through submitit


def test_sweep_jobs_share_a_wandb_group_and_carry_their_overrides_as_tags(tmp_path):
    result = run_cli(
        "-m", "loss=bce,hinge", "logger=wandb", *TINY_CLI, f"hydra.sweep.dir={tmp_path}",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    runs = {}
    for job in ("0", "1"):
        (run_file,) = (tmp_path / job / "wandb").glob("offline-run-*/run-*.wandb")
        run = next(r.run for r in wandb_records(run_file) if r.WhichOneof("record_type") == "run")
        runs[job] = run
    assert runs["0"].run_group == runs["1"].run_group == f"{tmp_path.parent.name}_{tmp_path.name}"
    assert "loss=bce" in runs["0"].tags and "loss=hinge" in runs["1"].tags


def test_report_of_a_grid_with_failed_jobs(tmp_path):
    sweep = tmp_path / "sweep"
    # wgan_gp refuses the BatchNorm discriminator of the default DCGAN: those jobs fail.
    result = run_cli(
        "-m", "loss=bce,hinge,wgan_gp", "seed=1,2", *TINY_CLI, f"hydra.sweep.dir={sweep}",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode != 0  # Hydra reports the failures after running every job
    records = job_records(sweep)
    assert len(records) == 6
    assert sorted(r["status"] for r in records.values()) == ["completed"] * 4 + ["failed"] * 2

    report = run_cli(str(sweep), cwd=tmp_path, module="gan.report")
    assert report.returncode == 0, report.stderr
    markdown = (sweep / "report.md").read_text()
    table = [line for line in markdown.splitlines() if line.startswith("| loss=")]
    assert [line.split(" | ")[:2] for line in table] == [["| loss=bce", "2"], ["| loss=hinge", "2"]]
    assert "## Failed jobs" in markdown
    assert markdown.count("model.discriminator.norm") == 2  # the error, once per failed job
    csv_lines = (sweep / "report.csv").read_text().splitlines()
    assert len(csv_lines) == 3 and csv_lines[0].startswith("configuration,n_seeds,seeds,")
