"""Training entry point: `python -m gan.train model=dcgan loss=bce ...`.

`train(cfg)` is a plain function of a composed config (tests call it in-process); `main` is the
thin Hydra wrapper around it.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import hydra
import lightning as L
from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from hydra.types import RunMode
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from gan import run_folder
from gan.callbacks import ConfigInCheckpoint
from gan.checkpoints import (
    SafeCheckpointIO,
    check_fits,
    check_trains_more,
    furthest_checkpoint,
    read_checkpoint,
    requeue_checkpoints,
)
from gan.config import (
    ConfigError,
    check_launcher,
    check_writable,
    output_folders,
    register_resolvers,
    slurm_batch_job,
    validate_config,
)
from gan.data import DataNotFoundError
from gan.distributed import stop_even_when_blocked
from gan.run_log import record_outcome, route_to_the_run
from gan.stopping import StopRun, last_checkpoint
from gan.sweep import TrainingSetRecord, job_file, record_job_end

register_resolvers()
log = logging.getLogger(__name__)


def _instantiate_all(group: DictConfig | None) -> list:
    """Instantiate every non-null entry of a dict-of-configs group (callbacks, logger)."""
    return [instantiate(node) for node in (group or {}).values() if node is not None]


def _finish_wandb(loggers: list) -> None:
    """Close the wandb run, so the next job of a multirun starts a new one."""
    if any(type(logger).__name__ == "WandbLogger" for logger in loggers):
        import wandb

        wandb.finish()


class CollectiveTimeout(RuntimeError):
    """Under DDP, a process waited on the others longer than the process group's timeout."""


class RunInterrupted(KeyboardInterrupt):
    """Training stopped by Ctrl-C, SIGTERM or SLURM's requeue signal (see gan.stopping)."""


def _where_in_training(trainer: L.Trainer) -> str:
    """Counting epochs from 1, as the logs and docs do: Lightning's `current_epoch` is the number
    of complete epochs, so an interrupt in its epoch 1 is in the second epoch."""
    done = trainer.current_epoch
    complete = f"{done} complete epoch{'s' if done != 1 else ''}"
    if not trainer.max_epochs or trainer.max_epochs < 0:  # no epoch limit
        return f"in epoch {done + 1}, after {complete}"
    if done >= trainer.max_epochs:  # between the last epoch's end and the end of fit
        return f"after {complete} of {trainer.max_epochs}"
    return f"in epoch {done + 1} of {trainer.max_epochs}, after {complete}"


def _interruption(stop: StopRun, trainer: L.Trainer) -> str:
    """Where a stopped run stopped and what resumes it."""
    if stop.stopped_at is not None:
        head = f"{stop.reason} stopped the run in {stop.stopped_at}"
        if stop.requeue_checkpoint:
            return (
                f"{head}; Lightning saved {stop.requeue_checkpoint} and asked SLURM to requeue "
                "the job, which resumes from it in this folder"
            )
        if stop.saved:
            return (
                f"{head}; {stop.saved} resumes it from the next batch: python -m gan.train "
                f"ckpt_path={stop.saved} (and the run's other overrides)"
            )
        return f"{head}; no checkpoint was saved (callbacks.checkpoint is off)"
    last = last_checkpoint(trainer)
    saved = f"the last checkpoint is {last}" if last and Path(last).is_file() else (
        "no checkpoint was written yet"
    )  # fmt: skip
    return f"interrupted {_where_in_training(trainer)}, at once; {saved}"


def _continued_from(output_dir: Path) -> str | None:
    """A run folder that already holds checkpoints: in a SLURM batch job, the job was requeued
    (by Lightning on the requeue signal, or by submitit) and goes on from the one furthest into
    training; anywhere else a new run there would overwrite an earlier run's, so it is refused."""
    newest = furthest_checkpoint(output_dir)
    if newest is None:
        return None
    if job := slurm_batch_job():
        log.info(f"SLURM job {job} restarted: resuming from {newest}")
        return str(newest)
    raise ConfigError(
        f"the run folder {output_dir} holds an earlier run's checkpoint ({newest}): resume it "
        f"with ckpt_path={newest}, or give this run its own hydra.run.dir"
    )


def train(cfg: DictConfig) -> dict[str, float]:
    """Train the configured GAN; return its final logged metrics and step counters.

    Writes `metrics.json`, `checkpoints/last.ckpt` and `samples/*.png` in `cfg.paths.output_dir`.
    """
    validate_config(cfg)
    check_launcher(cfg)
    check_writable(*output_folders(cfg))  # before training, not at the first checkpoint
    output_dir = Path(cfg.paths.output_dir)
    ckpt_path = cfg.get("ckpt_path") or _continued_from(output_dir)
    checkpoint = read_checkpoint(ckpt_path) if ckpt_path else None  # read once, as data
    L.seed_everything(cfg.seed, workers=True)

    datamodule = instantiate(cfg.data)
    model = instantiate(cfg.model)
    if checkpoint is not None:
        where = f"ckpt_path={str(ckpt_path)!r}"
        check_fits(checkpoint, model, where)  # another model: said first
        limits = cfg.trainer.get("max_epochs"), cfg.trainer.get("max_steps")
        check_trains_more(checkpoint, *limits, where)
    checkpoint_io = SafeCheckpointIO(preloaded={ckpt_path: checkpoint} if ckpt_path else None)
    run_config = OmegaConf.to_container(
        OmegaConf.masked_copy(cfg, [key for key in cfg if key != "hydra"]), resolve=True
    )
    stop = StopRun()
    callbacks = [*_instantiate_all(cfg.get("callbacks")), ConfigInCheckpoint(run_config), stop,
                 TrainingSetRecord()]  # fmt: skip
    loggers = _instantiate_all(cfg.get("logger"))
    trainer: L.Trainer = instantiate(
        cfg.trainer, callbacks=callbacks, logger=loggers or False, plugins=[checkpoint_io]
    )
    if trainer.world_size > 1:
        record = job_file()
        stop_even_when_blocked(
            on_stop=lambda name: record_job_end(record, "interrupted", f"{name}, while blocked")
        )
    if trainer.is_global_zero:  # before anything is written there
        run_folder.claim(output_dir)
    try:
        for logger in loggers:
            logger.log_hyperparams(run_config)
        trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
    except SystemExit as exit_:
        if trainer.interrupted:  # SIGTERM after the stop, or a second Ctrl-C
            raise RunInterrupted(_interruption(stop, trainer)) from exit_
        raise
    except RuntimeError as error:
        if trainer.world_size > 1 and "timed out" in str(error).lower():
            raise CollectiveTimeout(
                "a process waited longer than trainer.strategy.timeout "
                f"({cfg.trainer.strategy.get('timeout')}) for the others, so one of them is "
                f"stuck or gone; the last checkpoint is intact ({str(error).splitlines()[-1]})"
            ) from error
        raise
    finally:
        _finish_wandb(loggers)
        run_folder.release(output_dir)
    if stop.stopped_at is not None:  # Ctrl-C or SLURM's requeue signal
        raise RunInterrupted(_interruption(stop, trainer))

    metrics = {name: float(value) for name, value in trainer.callback_metrics.items()}
    metrics |= {**model.counters(), "epochs": trainer.current_epoch}
    if trainer.is_global_zero:  # one file per run, however many DDP processes
        for stale in requeue_checkpoints(output_dir):  # last.ckpt holds the finished run
            stale.unlink()
        (output_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics


def optimized_value(cfg: DictConfig, metrics: dict[str, float]) -> float | None:
    """The value a sweeper minimises or maximises: `metrics[cfg.optimized_metric]`, or None."""
    name = cfg.get("optimized_metric")
    if not name:
        return None
    if name not in metrics:
        raise ConfigError(
            f"optimized_metric={name!r} is not among the run's metrics: {sorted(metrics)} "
            "(val/* metrics need callbacks.metrics)"
        )
    return metrics[name]


def _in_multirun() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


# Errors that end a run with one line (and this exit status) instead of a traceback.
ONE_LINE_ERRORS = {
    ConfigError: 2,
    InstantiationException: 2,
    DataNotFoundError: 2,
    FloatingPointError: 1,
    CollectiveTimeout: 1,
}


def run(cfg: DictConfig) -> float | None:
    """What `python -m gan.train` does with a composed config: train, return the value a sweeper
    optimises, and end this job's job.json and train.log however the run ends (failed with the
    error, interrupted, or left to Hydra, which records completed and failed jobs it catches)."""
    try:
        metrics = train(cfg)
        summary = ", ".join(f"{k} {v:.4g}" for k, v in metrics.items() if k.startswith("val/"))
        record_outcome(logging.INFO, f"completed: {metrics['d_steps']} D steps. {summary}")
        return optimized_value(cfg, metrics)
    except KeyboardInterrupt as error:  # Ctrl-C or SIGTERM: stop the sweep too
        record_job_end(job_file(), "interrupted", error)
        message = f"interrupted: {error}" if str(error) else "interrupted"
        record_outcome(logging.WARNING, message)
        print(message, file=sys.stderr)
        raise SystemExit(130) from None
    except Exception as error:
        code = next((c for kind, c in ONE_LINE_ERRORS.items() if isinstance(error, kind)), None)
        record_job_end(job_file(), "failed", error)
        record_outcome(logging.ERROR, f"failed: {type(error).__name__}: {error}")
        if code is None or _in_multirun():
            raise  # a traceback; in a multirun Hydra records it and runs the other jobs
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(code) from None
    except SystemExit as error:
        if error.code not in (0, None):
            record_job_end(job_file(), "failed", f"SystemExit: exit status {error.code}")
        raise


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    route_to_the_run()  # Hydra's logging is set up now: Lightning's records join train.log
    return run(cfg)


if __name__ == "__main__":
    main()
