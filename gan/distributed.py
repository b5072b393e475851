"""Checks that distributed (DDP) training keeps every process's networks identical."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import torch
from torch.distributed import ReduceOp


class RankConsistency(L.Callback):
    """Under DDP, at the end of every `every_n_epochs`-th epoch and of training: checks that the
    parameters of G, D and the EMA generator are bit-identical on every process, and raises if not.

    DDP averages gradients, so identical starting weights and identical optimisers must stay
    identical; a parameter left out of the gradient reduction (the classic GAN-under-DDP bug) makes
    them drift apart. Buffers (BatchNorm running statistics) are updated from each process's own
    batch between DDP's per-step broadcasts, so before the check they are set to rank 0's, as DDP
    would at the next step; the checkpoint, samples and metrics use rank 0's in any case.

    Logs `ddp/param_max_abs_diff` (0 when consistent). With `dump_dir`, every process also saves
    its state_dict as `<dump_dir>/rank_<r>.pt` at the end of training (used by the tests). With a
    single process it does nothing.
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
            pl_module.log("ddp/param_max_abs_diff", self.check(trainer, pl_module), sync_dist=True)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.world_size == 1:
            return
        self.check(trainer, pl_module)
        if self.dump_dir:
            self.dump_dir.mkdir(parents=True, exist_ok=True)
            torch.save(pl_module.state_dict(), self.dump_dir / f"rank_{trainer.global_rank}.pt")
