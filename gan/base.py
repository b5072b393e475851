"""What every generative model here shares: noise, the fixed sample batch, step counters and a
checkpoint that restores all of them (and the RNGs) exactly."""

from __future__ import annotations

from dataclasses import dataclass

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_warn

# On an accelerator, reading a loss's finiteness waits for the device to finish all queued work,
# which stops the host from running ahead (on an H200 the fast path ran at half the plain loop's
# speed with a check every step). There the losses are checked together, every this many checks
# and at the last batch of every epoch, before any checkpoint of that epoch is written.
FINITE_CHECK_EVERY_ON_ACCELERATOR = 50


def on_device(module: L.LightningModule, value: float) -> torch.Tensor:
    """A Python number as a scalar tensor on the module's device, for `self.log`, without a copy
    from the host: Lightning turns a logged number into `torch.tensor(value, device=...)`, a copy
    that on a GPU waits for all queued work (one such wait per step halves the fast path's speed);
    `torch.full` fills the tensor on the device instead."""
    return torch.full((), float(value), device=module.device)


@dataclass
class _PendingLoss:
    name: str
    loss: torch.Tensor  # a scalar on the device, detached
    d_steps: int
    g_steps: int
    epoch: int
    batch_idx: int


class GenerativeModule(L.LightningModule):
    """Base of the GAN, the VAE and the image-to-image models. Generators from noise call
    `init_sampling` in `__init__` and implement `generate(z, labels)`; the image-to-image models
    call `init_state`. All count `images_seen`, `d_steps` and `g_steps` as they train (a VAE
    counts its steps as G steps)."""

    latent_dim: int

    def init_state(self) -> None:
        """The training noise's own seeded RNG and the step counters (saved in checkpoints)."""
        self.noise_seed = int(torch.randint(0, 2**62, ()).item())
        # The run's seed (train() seeds the global RNG before building the model): under DDP each
        # process reseeds its global RNG (dropout, penalty interpolation) with run_seed + rank.
        self.run_seed = torch.initial_seed()
        self._noise_rng: torch.Generator | None = None
        self._noise_rng_state: torch.Tensor | None = None  # from a checkpoint, applied lazily
        self._noise_reseed_step = 0  # > 0: resumed with another number of processes
        self._rng_restored = False
        self.images_seen = 0
        self.d_steps = 0
        self.g_steps = 0
        self._pending_losses: list[_PendingLoss] = []

    def init_sampling(self, num_fixed_samples: int, num_classes: int | None = None) -> None:
        """`init_state`, and the fixed noise (and labels) behind the sample grids."""
        self.num_classes = num_classes
        # Drawn from the global RNG, so fixed by the run's seed; saved in every checkpoint.
        self.register_buffer("fixed_noise", torch.randn(num_fixed_samples, self.latent_dim))
        # A conditional model's grid: the classes in order, evenly (80 samples: 10 rows of 8).
        classes = num_classes or 1
        self.register_buffer(
            "fixed_labels", torch.arange(num_fixed_samples) * classes // num_fixed_samples
        )
        self.init_state()

    def generate(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError

    def generate_fixed(self) -> torch.Tensor:
        """The sample grid's images: G(fixed noise[, fixed labels])."""
        return self.generate(self.fixed_noise, self.fixed_labels)

    def _noise_generator(self) -> torch.Generator:
        """The RNG behind the training noise: its own, so resume can restore it exactly.

        Under DDP every process draws different noise (the seed is offset by the rank), and
        checkpoints hold every process's state."""
        if self._noise_rng is None or self._noise_rng.device != self.device:
            seed = self.noise_seed + self.global_rank * 1_000_003 + self._noise_reseed_step
            self._noise_rng = torch.Generator(device=self.device).manual_seed(seed % 2**63)
            if self._noise_rng_state is not None:
                try:
                    self._noise_rng.set_state(self._noise_rng_state)
                except RuntimeError:  # saved on another kind of device: the seed is all we keep
                    rank_zero_warn(f"noise RNG state does not fit {self.device}; reseeded")
                self._noise_rng_state = None
        return self._noise_rng

    def sample_noise(self, batch_size: int) -> torch.Tensor:
        return torch.randn(
            batch_size, self.latent_dim, device=self.device, generator=self._noise_generator()
        )  # (B, latent_dim)

    def _check_finite(self, name: str, loss: torch.Tensor, batch_idx: int) -> None:
        """Stop training with `FloatingPointError` if `loss` is not finite, naming the loss and
        the step. On the CPU at once; on an accelerator at the next check point (see
        FINITE_CHECK_EVERY_ON_ACCELERATOR), still naming the step where it happened."""
        step = (self.d_steps, self.g_steps, self.current_epoch, batch_idx)
        self._pending_losses.append(_PendingLoss(name, loss.detach(), *step))
        trainer = self._trainer
        last_batch = trainer is None or batch_idx + 1 >= trainer.num_training_batches
        due = len(self._pending_losses) >= FINITE_CHECK_EVERY_ON_ACCELERATOR or last_batch
        if self._checks_at_once() or due:
            self.raise_if_nonfinite()

    def _checks_at_once(self) -> bool:
        """Whether reading a loss is free: on the CPU it does not wait for a device queue."""
        return self.device.type == "cpu"

    def raise_if_nonfinite(self) -> None:
        """Check the losses recorded since the last check, with one wait for the device."""
        pending, self._pending_losses = self._pending_losses, []
        if not pending:
            return
        finite = torch.stack([torch.isfinite(p.loss) for p in pending]).cpu()  # (N,)
        if bool(finite.all()):
            return
        first = pending[int((~finite).nonzero()[0])]
        raise FloatingPointError(
            f"{first.name} is {first.loss.item()} at D step {first.d_steps} / G step "
            f"{first.g_steps} (epoch {first.epoch}, batch {first.batch_idx}); training stopped. "
            "Lower the learning rates, change the loss, or resume from the last checkpoint."
        )

    def on_train_epoch_end(self) -> None:
        self.raise_if_nonfinite()  # before the epoch's checkpoint (checkpoint callbacks run later)

    def logging_due(self, batch_idx: int) -> bool:
        """Whether the training step logs its values at this batch: where Lightning hands them to
        the loggers (every `trainer.log_every_n_steps` batches, when stopping, every batch of a
        fast_dev_run) and at each epoch's last batch, so that the bar and `callback_metrics` (the
        run's job.json) end on the epoch's final values. A value logged at any other batch would
        be overwritten unwritten, and each `self.log` costs host time (on the 2-core EPYC a fifth
        of a 2-D MLP GAN's epoch: docs/runs.md)."""
        trainer = self._trainer
        if trainer is None or trainer.fast_dev_run or batch_idx + 1 >= trainer.num_training_batches:
            return True
        return trainer._logger_connector.should_update_logs

    def count_step_images(self, batch_size: int) -> None:
        """Add one training step's real images, over all processes, to `images_seen`."""
        self.images_seen += batch_size * (self.trainer.world_size if self._trainer else 1)

    def counters(self) -> dict[str, int]:
        return {"images_seen": self.images_seen, "d_steps": self.d_steps, "g_steps": self.g_steps}

    # ---- checkpoints --------------------------------------------------------------------------

    def _world(self) -> tuple[int, int]:
        """(this process's rank, number of processes)."""
        return (self.global_rank, self.trainer.world_size) if self._trainer else (0, 1)

    def _per_rank(self, state: torch.Tensor) -> list[torch.Tensor]:
        """Every process's `state` (an RNG state), in rank order; a collective under DDP, made by
        every process since every process saves each checkpoint."""
        if self._world()[1] == 1:
            return [state]
        gathered = self.trainer.strategy.all_gather(state.to(self.device))  # (world, N)
        # Each row its own storage: torch.set_rng_state crashes on a view into a larger one.
        return [row.cpu().clone() for row in gathered]

    def on_fit_start(self) -> None:
        rank, world = self._world()
        if world > 1 and not self._rng_restored:  # each process its own stream
            torch.manual_seed(self.run_seed + rank)

    def _mark_a_cut_epoch_unfinished(self, checkpoint: dict) -> None:
        """A run stopped inside an epoch (trainer.max_steps, max_time, a signal: see
        gan.stopping) still runs the epoch-end hooks, and Lightning then counts the epoch as
        done in the checkpoint they save, so a resumed run would skip the rest of it. Such a
        checkpoint records the epoch as started and unfinished, as one saved between batches
        is: the resumed run finishes it from the batch after the last one trained on (the
        loaders keep their place, gan.data.sampling)."""
        trainer = self._trainer
        if trainer is None or "loops" not in checkpoint:
            return
        epochs = trainer.fit_loop.epoch_progress
        batches = trainer.fit_loop.epoch_loop.batch_progress.current.processed
        in_epoch_end = epochs.current.processed > epochs.current.completed
        if in_epoch_end and batches < trainer.num_training_batches:
            progress = checkpoint["loops"]["fit_loop"]["epoch_progress"]
            for counts in (progress["total"], progress["current"]):
                counts["processed"] = counts["completed"]

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        self._mark_a_cut_epoch_unfinished(checkpoint)
        cuda = torch.cuda.is_initialized() and self.device.type == "cuda"
        checkpoint["gan"] = {
            **self.counters(),
            "noise_seed": self.noise_seed,
            "run_seed": self.run_seed,
            "noise_rng_states": self._per_rank(self._noise_generator().get_state()),
            "torch_rng_states": self._per_rank(torch.get_rng_state()),
            "cuda_rng_states": self._per_rank(torch.cuda.get_rng_state(self.device))
            if cuda
            else [],
        }

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        state = checkpoint["gan"]
        self.images_seen = state["images_seen"]
        self.d_steps = state["d_steps"]
        self.g_steps = state["g_steps"]
        self.noise_seed = state["noise_seed"]
        self.run_seed = state.get("run_seed", self.run_seed)
        self._noise_rng = None
        rank, world = self._world()
        torch_states = state["torch_rng_states"]
        if len(torch_states) != world:
            rank_zero_warn(
                f"the checkpoint was saved by {len(torch_states)} process(es) and is resumed by "
                f"{world}: every process's RNGs are reseeded from (seed, rank, step), so this run "
                "continues, but not bit for bit as the saved one would have"
            )
            self._noise_reseed_step = self.d_steps + 1
            torch.manual_seed(self.run_seed + rank + self._noise_reseed_step * 1_000_003)
        else:
            # Dropout and gradient-penalty interpolation draw from these.
            self._noise_rng_state = state["noise_rng_states"][rank]  # applied on first use
            torch.set_rng_state(torch_states[rank].clone())
            cuda_states = state["cuda_rng_states"]
            if cuda_states and torch.cuda.is_available() and self.device.type == "cuda":
                torch.cuda.set_rng_state(cuda_states[rank], self.device)
        self._rng_restored = True
