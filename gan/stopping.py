"""Stopping a run between two batches, with a checkpoint that resumes it exactly.

A run is stopped from outside in three ways: Ctrl-C, SIGTERM (a scheduler's preemption or time
limit, `kill`), and on SLURM the requeue signal Lightning listens for (SIGUSR1, sent ahead of a
time limit with `#SBATCH --signal=USR1@90`). Python delivers a signal wherever the interpreter
is, which may be between D's and G's steps, so none of them acts at once: each marks the run,
and at the end of the batch in progress (every process agreeing on which, under DDP) `StopRun`
ends the epoch early. Lightning then runs the epoch-end hooks, and the `checkpoint` callback
writes `last.ckpt`, which records the cut epoch as unfinished and the loaders' place in it (see
`gan.base` and `gan.data.sampling`): resumed, the run goes on with the next batch, bit for bit as
if it had never stopped. The sample metrics and grid of the cut epoch are skipped.

- Ctrl-C: the run ends as interrupted (exit status 130); a second Ctrl-C stops at once, without
  a checkpoint.
- SIGTERM: Lightning's own handler records it; the run stops as for Ctrl-C (Lightning alone
  would end it right after the batch, before the epoch-end hooks, without a checkpoint).
- SLURM's requeue signal: at the stop, Lightning's requeue machinery runs as it would have in
  its signal handler (it saves `hpc_ckpt_<n>.ckpt` in the run folder and calls
  `scontrol requeue`); the requeued job starts in the same folder and `train()` resumes it from
  that checkpoint.
"""

from __future__ import annotations

import signal
import sys
from types import FrameType

import lightning as L
from lightning.fabric.plugins.environments import SLURMEnvironment


class StopRun(L.Callback):
    """Stops training at the end of the batch in progress when Ctrl-C, SIGTERM or SLURM's
    requeue signal arrived during it (see the module's docstring). `reason` names what
    stopped the run (None while it runs on); `stopped_at` says where."""

    def __init__(self) -> None:
        self.reason: str | None = None  # the signal that asked for a stop
        self.stopped_at: str | None = None  # "epoch e, after batch b of n", once stopped
        self.saved: str | None = None  # the last.ckpt written at the stop
        self.requeue_checkpoint: str | None = None  # Lightning's hpc_ckpt_<n>.ckpt, on SLURM
        self._requeue_signal: int | None = None
        self._previous: dict[int, object] = {}

    # ---- signals ------------------------------------------------------------------------------

    def _on_ctrl_c(self, signum: int, frame: FrameType | None) -> None:
        if self.reason is not None:  # asked twice: stop now
            signal.signal(signal.SIGINT, signal.default_int_handler)
            raise KeyboardInterrupt
        self.reason = "Ctrl-C"
        print(
            "\nCtrl-C: stopping after this batch and saving a checkpoint that resumes it "
            "(Ctrl-C again to stop at once, without one)",
            file=sys.stderr,
            flush=True,
        )

    def _on_requeue_signal(self, signum: int, frame: FrameType | None) -> None:
        self.reason = self.reason or f"SLURM's requeue signal ({signal.Signals(signum).name})"

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Installs the handlers (before Lightning's own, which then leaves the requeue signal
        to this one and keeps SIGTERM's); the previous ones come back at the end of fit."""
        handlers = {signal.SIGINT: self._on_ctrl_c}
        environment = trainer._accelerator_connector.cluster_environment
        if isinstance(environment, SLURMEnvironment) and environment.auto_requeue:
            self._requeue_signal = environment.requeue_signal
            handlers[self._requeue_signal] = self._on_requeue_signal
        try:
            for signum, handler in handlers.items():
                self._previous[signum] = signal.signal(signum, handler)
        except ValueError:  # not the main thread: signals cannot be handled here
            self._restore()

    def _restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self._restore()

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception) -> None:
        self._restore()

    # ---- the stop -----------------------------------------------------------------------------

    def _asked(self, trainer: L.Trainer) -> bool:
        """Whether any process was asked to stop: every process takes the same decision at the
        same batch, or the next collective would wait forever."""
        if trainer.received_sigterm:
            self.reason = self.reason or "SIGTERM"
            # Lightning would raise right after this batch, before the epoch-end hooks and so
            # without a checkpoint; the stop below ends the epoch there instead.
            trainer._signal_connector.received_sigterm = False
        asked = self.reason is not None
        if trainer.world_size > 1:
            asked = trainer.strategy.reduce_boolean_decision(asked, all=False)
            if asked:
                self.reason = self.reason or "a signal to another process"
        return asked

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        if self.stopped_at is None and self._asked(trainer):
            trainer.should_stop = True  # the epoch ends here; its hooks save last.ckpt
            epoch = trainer.current_epoch + 1
            self.stopped_at = (
                f"epoch {epoch}, after batch {batch_idx + 1} of {trainer.num_training_batches}"
            )

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """On SLURM's signal: Lightning's requeue (hpc checkpoint, `scontrol requeue`), here at
        the cut rather than in the signal handler, wherever that struck."""
        if self.stopped_at is not None and self.reason.startswith("SLURM"):
            connector = trainer._checkpoint_connector
            self.requeue_checkpoint = connector.hpc_save_path(trainer.default_root_dir)
            trainer._signal_connector._slurm_sigusr_handler_fn(self._requeue_signal, None)

    def on_save_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:
        if self.stopped_at is not None:
            self.saved = last_checkpoint(trainer)


def last_checkpoint(trainer: L.Trainer) -> str | None:
    """The file the unmonitored checkpoint callback (`last.ckpt`) wrote last, if it did."""
    for callback in trainer.checkpoint_callbacks:
        if getattr(callback, "monitor", "") is None and callback.best_model_path:
            return callback.best_model_path
    return None


def stopped_by_signal(trainer: L.Trainer) -> bool:
    """Whether `trainer`'s run is being stopped by a signal (its cut epoch's metrics and grid are
    then skipped: the run is leaving, not finishing)."""
    return any(isinstance(c, StopRun) and c.stopped_at is not None for c in trainer.callbacks)
