"""Callbacks for tests/test_stopping.py (imported by the training subprocesses through
PYTHONPATH): one sends its own process a signal at a chosen batch, which arrives while that batch
trains, as a real one would; one slows every batch down."""

from __future__ import annotations

import os
import signal
import time

import lightning as L


class SignalAt(L.Callback):
    """Sends `name` (SIGINT, SIGTERM, SIGUSR1) to this process at the start of batch `batch`
    (0-based) of epoch `epoch` (0-based), `times` times."""

    def __init__(self, name: str, batch: int, epoch: int = 0, times: int = 1) -> None:
        self.signum = signal.Signals[name]
        self.batch, self.epoch, self.times = batch, epoch, times

    def on_train_batch_start(self, trainer: L.Trainer, pl_module, batch, batch_idx: int) -> None:
        if (trainer.current_epoch, batch_idx) == (self.epoch, self.batch):
            for _ in range(self.times):
                os.kill(os.getpid(), self.signum)


class SlowBatches(L.Callback):
    """Makes every batch last at least `seconds` longer, so that a time limit falls inside an
    epoch on any machine."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def on_train_batch_end(self, trainer: L.Trainer, pl_module, outputs, batch, batch_idx) -> None:
        time.sleep(self.seconds)
