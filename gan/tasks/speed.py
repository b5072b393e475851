"""Training speed of pix2pix and CycleGAN at 64, 128 and 256 px, as their task configs train
them (the reference's networks, batch 1, every loss term, the history pool), on random images:

    python -m gan.tasks.speed [--tasks pix2pix,cyclegan] [--sizes 64,128,256] [--batch 1]
        [--warmup 3] [--steps 10] [--device cpu|cuda] [--out speed.json]

Each configuration runs `warmup` + `steps` training steps through Lightning (the model's own
`training_step`: the D and G steps, the jitter, the logging); the median of the timed steps is
reported as milliseconds a step and images a second, counting one image a step per batch
element (for CycleGAN one image of each domain, as the reference counts an iteration).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import lightning as L
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate
from lightning.pytorch.utilities import CombinedLoader
from torch.utils.data import DataLoader, TensorDataset

from gan.config import PROJECT_ROOT, register_resolvers
from gan.data.jitter import load_size_for

TASKS = ("pix2pix", "cyclegan")


class StepTimer(L.Callback):
    """The wall time of every training batch, synchronised on a GPU."""

    def __init__(self) -> None:
        self.seconds: list[float] = []
        self._start = 0.0

    def _sync(self, module: L.LightningModule) -> None:
        if module.device.type == "cuda":
            torch.cuda.synchronize(module.device)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        self._sync(pl_module)
        self._start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        self._sync(pl_module)
        self.seconds.append(time.perf_counter() - self._start)


def build_model(task: str, size: int) -> L.LightningModule:
    """The model `task=<task> data.resolution=<size>` builds (data.path is not read)."""
    register_resolvers()
    GlobalHydra.instance().clear()
    overrides = [f"task={task}", "data.path=unused", f"data.resolution={size}"]
    with initialize_config_dir(config_dir=str(PROJECT_ROOT / "conf"), version_base="1.3"):
        cfg = compose("train", overrides=overrides)
    GlobalHydra.instance().clear()
    return instantiate(cfg.model)


def random_batches(task: str, size: int, batch: int, steps: int):
    """`steps` batches of random images at the task's load size, in the task's batch shape."""
    load = load_size_for(size)
    if task == "pix2pix":
        images = torch.rand(steps * batch, 6, load, load) * 2 - 1  # (N, 2C, L, L): pairs
        return DataLoader(TensorDataset(images, torch.zeros(len(images))), batch_size=batch)
    domains = {
        name: DataLoader(TensorDataset(torch.rand(steps * batch, 3, load, load) * 2 - 1), batch)
        for name in ("a", "b")
    }
    return CombinedLoader(domains, mode="min_size")


def time_task(task: str, size: int, batch: int, warmup: int, steps: int, device: str) -> dict:
    torch.manual_seed(0)
    model = build_model(task, size)
    timer = StepTimer()
    trainer = L.Trainer(
        accelerator=device, devices=1, max_epochs=1, logger=False, callbacks=[timer],
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
    )  # fmt: skip
    trainer.fit(model, random_batches(task, size, batch, warmup + steps))
    median = statistics.median(timer.seconds[warmup:])
    return {
        "task": task, "size": size, "batch": batch, "steps": steps,
        "ms_per_step": 1000 * median, "images_per_s": batch / median,
        "parameters_g": sum(p.numel() for g in model.generators for p in g.parameters()),
    }  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", default=",".join(TASKS))
    parser.add_argument("--sizes", default="64,128,256")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    rows = []
    for task in args.tasks.split(","):
        if task not in TASKS:
            raise SystemExit(f"error: --tasks {task!r}: choose from {TASKS}")
        for size in map(int, args.sizes.split(",")):
            row = time_task(task, size, args.batch, args.warmup, args.steps, args.device)
            print(
                f"{task:9s} {size:4d} px  batch {row['batch']}: {row['ms_per_step']:8.1f} ms a "
                f"step, {row['images_per_s']:7.2f} images/s"
            )
            rows.append(row)
    if args.out:
        args.out.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
