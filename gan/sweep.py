"""What every job of a sweep leaves behind: `job.json` with its overrides, status and metrics.

`JobRecord` is a Hydra callback (registered in conf/hydra/default.yaml), so it runs around every
job whatever the sweeper or launcher (basic, joblib, submitit). `gan.report` reads these files.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import lightning as L
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from lightning.fabric.utilities.rank_zero import rank_zero_only
from omegaconf import DictConfig, OmegaConf

from gan import run_folder
from gan.atomic import write_json
from gan.machine import describe, package_versions

JOB_FILE = "job.json"
METRICS_FILE = "metrics.json"
RUNNING = "running"  # job.json's status from the job's start until it records how it ended


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class JobRecord(Callback):
    """Writes `<job dir>/job.json`: `status` ("running" while it runs, then "completed",
    "failed" or "interrupted"), `overrides` (the job's command-line overrides), `choices` (the
    option each config group got, by an override or by default), `job_num`, `machine` (the CPU,
    its family, model, instruction set and threads, the GPU it trained on: see `gan.machine`),
    `versions` (of Python, torch, lightning, hydra-core and the rest of
    `gan.machine.RECORDED_PACKAGES`), start and end times, `metrics` (the run's metrics.json)
    and, unless completed, `error`. Hydra ends the record of a job that returns or raises an
    Exception; `gan.train.run` ends it for every other way out (SystemExit, Ctrl-C, SIGTERM).
    Only a job killed outright (SIGKILL) keeps "running". Only rank 0 of a distributed job
    writes. Also checks, before a run or sweep, that its directory can be created, and claims the
    job's folder (`gan.run_folder`) before writing: a second live run in it stops in one line."""

    @staticmethod
    def _path(config: DictConfig) -> Path:
        return Path(config.hydra.runtime.output_dir) / JOB_FILE

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        if rank_zero_only.rank != 0:
            return
        try:  # before the record is written: it may be another live run's
            run_folder.claim(config.hydra.runtime.output_dir)
        except run_folder.RunFolderInUse as error:
            print(f"error: {error}", file=sys.stderr)
            raise SystemExit(2) from None
        record = {
            "status": RUNNING,
            "overrides": list(OmegaConf.to_container(config.hydra.overrides.task)),
            "choices": {
                group: option
                for group, option in config.hydra.runtime.choices.items()
                if not group.startswith("hydra")  # Hydra's own, not the run's
            },
            "job_num": OmegaConf.select(config, "hydra.job.num"),
            "machine": describe(),
            "versions": package_versions(),
            "started": _now(),
        }
        write_json(self._path(config), record)

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        completed = job_return.status == JobStatus.COMPLETED
        # On failure, the exception (`return_value` would raise it).
        error = None if completed else job_return._return_value
        record_job_end(self._path(config), "completed" if completed else "failed", error)
        run_folder.release(config.hydra.runtime.output_dir)

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        _check_creatable(config.hydra.run.dir)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        _check_creatable(config.hydra.sweep.dir)


def _check_creatable(directory: str) -> None:
    """Exit with one line (not Hydra's traceback) when the run's directory cannot be made."""
    try:
        Path(directory).mkdir(parents=True, exist_ok=True)
    except OSError as error:
        reason = error.strerror or type(error).__name__
        print(f"error: cannot create the run directory {directory} ({reason})", file=sys.stderr)
        raise SystemExit(2) from None


def job_file() -> Path | None:
    """This job's job.json under Hydra (None outside Hydra)."""
    try:
        return Path(HydraConfig.get().runtime.output_dir) / JOB_FILE
    except ValueError:
        return None


class TrainingSetRecord(L.Callback):
    """Adds `training_set` to the job's job.json once the data module is set up (after its
    `prepare_data` has downloaded what it needs): what `training_set_summary` says the run trains
    on (the subset's size, per class, and its indices' digest)."""

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        summary = getattr(trainer.datamodule, "training_set_summary", None)
        if stage == "fit" and summary is not None:
            record_training_set(job_file(), summary())


def record_training_set(path: Path | None, summary: dict) -> None:
    """Add `training_set` (what the run trains on: `DataModule.training_set_summary`) to
    `path` (a job.json). Only rank 0 writes."""
    if path is None or rank_zero_only.rank != 0 or not path.is_file():
        return
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    write_json(path, record | {"training_set": summary})


def record_job_end(path: Path | None, status: str, error: BaseException | str | None) -> None:
    """Finish `path` (a job.json): `status` ("completed", "failed" or "interrupted"), the end
    time, the seconds since the job started, the run's metrics and, unless completed, the
    error. Only rank 0 writes."""
    if path is None or rank_zero_only.rank != 0:
        return
    try:
        record = json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, ValueError):
        record = {}  # an unreadable record is rewritten whole
    record["status"] = status
    record["ended"] = _now()
    if "machine" in record and torch.cuda.is_initialized():  # the GPU it trained on
        record["machine"]["gpu"] = torch.cuda.get_device_name()
    if "started" in record:
        started = datetime.fromisoformat(record["started"])
        record["seconds"] = round((datetime.now(timezone.utc) - started).total_seconds(), 1)
    metrics_path = path.parent / METRICS_FILE
    record["metrics"] = json.loads(metrics_path.read_text()) if metrics_path.is_file() else {}
    if error is not None:
        record["error"] = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    write_json(path, record)
