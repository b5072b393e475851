"""Callbacks that make a DDP run misbehave on purpose, for tests/test_distributed.py (imported by
the training subprocesses through PYTHONPATH)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import lightning as L


class StuckPeer(L.Callback):
    """At the end of the first epoch, rank 1 stops answering (sleeps for an hour) after writing
    `marker`, so rank 0 blocks in its next collective, waiting for it."""

    def __init__(self, marker: str) -> None:
        self.marker = Path(marker)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.global_rank == 1:
            self.marker.write_text(str(os.getpid()))
            time.sleep(3600)
