"""What every job of a sweep leaves behind: `job.json` with its overrides, status and metrics.

`JobRecord` is a Hydra callback (registered in conf/hydra/default.yaml), so it runs around every
job whatever the sweeper or launcher (basic, joblib, submitit). `gan.report` reads these files.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from lightning.fabric.utilities.rank_zero import rank_zero_only
from omegaconf import DictConfig, OmegaConf

from gan.atomic import write_json

JOB_FILE = "job.json"
METRICS_FILE = "metrics.json"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class JobRecord(Callback):
    """Writes `<job dir>/job.json`: `status` ("running" while it runs, then "completed" or
    "failed"), `overrides` (the job's command-line overrides), `job_num`, start and end times,
    `metrics` (the run's metrics.json) and, for a failed job, `error`. A job killed from outside
    keeps "running". Only rank 0 of a distributed job writes."""

    def __init__(self) -> None:
        self._started: float | None = None

    @staticmethod
    def _path(config: DictConfig) -> Path:
        return Path(config.hydra.runtime.output_dir) / JOB_FILE

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        if rank_zero_only.rank != 0:
            return
        self._started = time.perf_counter()
        record = {
            "status": "running",
            "overrides": list(OmegaConf.to_container(config.hydra.overrides.task)),
            "job_num": OmegaConf.select(config, "hydra.job.num"),
            "started": _now(),
        }
        write_json(self._path(config), record)

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        if rank_zero_only.rank != 0:
            return
        path = self._path(config)
        record = json.loads(path.read_text()) if path.is_file() else {}
        completed = job_return.status == JobStatus.COMPLETED
        record["status"] = "completed" if completed else "failed"
        record["ended"] = _now()
        if self._started is not None:
            record["seconds"] = round(time.perf_counter() - self._started, 1)
        metrics_path = path.parent / METRICS_FILE
        record["metrics"] = json.loads(metrics_path.read_text()) if metrics_path.is_file() else {}
        if not completed:
            error = job_return._return_value  # the exception; `return_value` would raise it
            record["error"] = f"{type(error).__name__}: {error}"
        write_json(path, record)
