"""Checks that distributed (DDP) training keeps every process's networks identical."""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import lightning as L
import torch
from torch.distributed import ReduceOp

STOP_GRACE_S = 20.0  # after SIGTERM / Ctrl-C, how long a process may take to stop by itself


def stop_even_when_blocked(
    grace_s: float = STOP_GRACE_S, on_stop: Callable[[str], None] | None = None
) -> None:
    """Make SIGTERM and Ctrl-C stop this process even while it is blocked in a collective.

    Python runs signal handlers only between bytecodes, so a process waiting inside a C++
    collective (for another process that will never join) never sees them: Lightning's graceful
    stop cannot start. Python's C-level handler does write the signal's number to the wakeup fd
    at once; a watcher thread reads it, gives the process `grace_s` seconds to stop by itself
    (Lightning's graceful path: the checkpoint on disk stays the last complete one), then exits
    it with 128 + the signal number. The other processes' collectives then fail at once, as
    their peer is gone. `on_stop(signal name)` runs just before that exit (to record it).
    Call from the main thread.
    """
    reader, writer = socket.socketpair()
    writer.setblocking(False)
    signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)

    def watch() -> None:
        _ = writer  # the wakeup fd must stay open as long as the watcher lives
        while data := reader.recv(1):
            signum = data[0]
            if signum not in (signal.SIGTERM, signal.SIGINT):
                continue
            time.sleep(grace_s)
            name = signal.Signals(signum).name
            print(f"error: still running {grace_s:.0f} s after {name} (blocked waiting for other "
                  "processes): stopping now", file=sys.stderr, flush=True)  # fmt: skip
            if on_stop is not None:
                on_stop(name)
            os._exit(128 + signum)

    threading.Thread(target=watch, name="stop-even-when-blocked", daemon=True).start()


class RankConsistency(L.Callback):
    """Under DDP, at the end of every `every_n_epochs`-th epoch and of training: checks that the
    parameters of G, D and the EMA generator are bit-identical on every process, and raises if not.

    DDP averages gradients, so identical starting weights and identical optimisers must stay
    identical; a parameter left out of the gradient reduction (the classic GAN-under-DDP bug) makes
    them drift apart. Buffers (BatchNorm running statistics) are updated from each process's own
    batch between DDP's per-step broadcasts, so before the check they are set to rank 0's, as DDP
    would at the next step; the checkpoint, samples and metrics use rank 0's in any case.

    Logs `ddp/param_max_abs_diff` (0 when consistent). With `dump_dir`, every process also saves
    its state_dict and RNG states as `<dump_dir>/rank_<r>.pt` at the end of training (used by the
    tests). With a single process it does nothing.
    """

    def __init__(self, every_n_epochs: int = 1, dump_dir: str | Path | None = None) -> None:
        if every_n_epochs < 1:
            raise ValueError(f"every_n_epochs={every_n_epochs}: must be >= 1")
        self.every_n_epochs = every_n_epochs
        self.dump_dir = Path(dump_dir) if dump_dir else None

    @staticmethod
    def max_abs_diff(trainer: L.Trainer, pl_module: L.LightningModule) -> float:
        """The largest |rank r parameter - rank 0 parameter| over all parameters and ranks."""
        with torch.no_grad():
            mine = torch.cat([p.detach().reshape(-1).float() for p in pl_module.parameters()])
            for buffer in pl_module.buffers():
                buffer.copy_(trainer.strategy.broadcast(buffer.detach().clone(), src=0))
        reference = trainer.strategy.broadcast(mine.clone(), src=0)
        local = (mine - reference).abs().max()
        return float(trainer.strategy.reduce(local, reduce_op=ReduceOp.MAX))

    def check(self, trainer: L.Trainer, pl_module: L.LightningModule) -> float:
        diff = self.max_abs_diff(trainer, pl_module)
        if diff != 0.0:
            raise RuntimeError(
                f"parameters differ between DDP processes (max |difference| {diff:.3g}) after "
                f"epoch {trainer.current_epoch}: some gradient was not averaged across processes"
            )
        return diff

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.world_size > 1 and (trainer.current_epoch + 1) % self.every_n_epochs == 0:
            # Already reduced over the processes: no sync_dist (see SampleMetrics).
            pl_module.log("ddp/param_max_abs_diff", self.check(trainer, pl_module))

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.world_size == 1:
            return
        self.check(trainer, pl_module)
        if self.dump_dir:
            self.dump_dir.mkdir(parents=True, exist_ok=True)
            dump = {
                "state_dict": pl_module.state_dict(),
                "torch_rng_state": torch.get_rng_state(),
                "noise_rng_state": pl_module._noise_generator().get_state(),
            }
            torch.save(dump, self.dump_dir / f"rank_{trainer.global_rank}.pt")
