"""What the framework costs the host per training step, piece by piece: `python -m gan.host_cost`.

The fast path (`gan.bench`'s `fast`: the Trainer, manual optimisation) and the hand-written loop
(`plain-fast`) run the same operators on the same networks, so what separates them is host work:
Lightning's loop and hooks, its `manual_backward` and optimiser wrappers, and the module's own
bookkeeping. Each variant runs in a process of its own:

- `fast`, `plain-fast`: as in the bench;
- `fast-bare-backward`: `fast` with `manual_backward(loss)` replaced by `loss.backward()`;
- `fast-bare-step`: `fast` with the raw optimisers in place of Lightning's wrappers, whose
  `step()` goes through the strategy, the precision plugin and the step counters;
- `fast-no-finite-check`: `fast` without the losses' finiteness check (`_check_finite`);
- `fast-no-logging`: `fast` with `self.log` and `self.log_dict` doing nothing (the module logs at
  the batches whose values are written: every 50th here).

Each bypass does the same arithmetic (the same gradients and updates: `tests/test_host_cost.py`
checks it), so a variant's saving is what that piece costs; what `fast` costs beyond `plain-fast`
and the bypasses together is Lightning's loop per batch and the module's step. A bypass is a
measurement, not a way to train: it skips Lightning's hooks and step counts.

Two measures, over windows of `--steps` steps after `--warmup` (50 each by default: the fast
path logs every 50th step, as `fast=gpu` does, so each window holds one logging step):

- time (default): the median of `--repeats` windows, as `gan.bench` times;
- `--count-instructions`: the host's instructions per step, counted by valgrind's callgrind over
  one window (valgrind must be installed). Instruction counts do not depend on what else the
  machine runs: repeated runs agree to 0.01%.

By default the DCGAN is made so narrow (width 1, batch 2) that its operators cost nearly nothing:
the step is then bound by the host, the regime of a GPU whose kernels finish before the host has
queued the next ones. `--full` measures the bench's DCGAN (width 64, batch 128) instead.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from gan.bench import LOOPS, WindowClock, compose, machine, run_worker

HOST_BOUND = ["model.generator.width=1", "model.discriminator.width=1"]
# Lightning's loggers and progress bar read logged values every this many batches (fast=gpu's).
OVERRIDES = ["trainer.log_every_n_steps=50"]
BYPASSES = {
    "fast-bare-backward": "manual_backward",
    "fast-bare-step": "optimizer_step",
    "fast-no-finite-check": "finite_check",
    "fast-no-logging": "logging",
}
VARIANTS = ("fast", "plain-fast", *BYPASSES)


@contextlib.contextmanager
def bypassed(piece: str | None):
    """Within the block, Lightning's `piece` (a value of BYPASSES) is replaced by the bare call."""
    import lightning as L

    from gan.module import GAN

    if piece is None:
        yield
        return
    replacements = {
        "manual_backward": [(L.LightningModule, "manual_backward",
                             lambda self, loss, *args, **kwargs: loss.backward(*args, **kwargs))],
        "optimizer_step": [(L.LightningModule, "optimizers",  # the raw optimisers
                            lambda self, use_pl_optimizer=True: originals[0](self, False))],
        "finite_check": [(GAN, "_check_finite", lambda self, *args: None)],
        "logging": [(L.LightningModule, "log", lambda self, *args, **kwargs: None),
                    (L.LightningModule, "log_dict", lambda self, *args, **kwargs: None)],
    }[piece]  # fmt: skip
    originals = [getattr(owner, name) for owner, name, _ in replacements]
    for owner, name, replacement in replacements:
        setattr(owner, name, replacement)
    try:
        yield
    finally:
        for (owner, name, _), original in zip(replacements, originals, strict=True):
            setattr(owner, name, original)


class CallgrindWindow(WindowClock):
    """Switches callgrind's counting on after `warmup` steps and off `steps` steps later, then
    stops the run (callgrind_control asks the valgrind running this process, and waits for it)."""

    def __init__(self, warmup: int, steps: int) -> None:
        super().__init__("cpu", warmup, steps, 1)
        self.warmup = warmup

    def tick(self) -> bool:
        self.done += 1
        if self.done in (self.warmup, self.total):
            switch = "on" if self.done == self.warmup else "off"
            command = ["callgrind_control", "--instr", switch, str(os.getpid())]
            subprocess.run(command, check=True, capture_output=True)
        return self.done >= self.total


def measure(variant: str, device: str, batch_size: int, warmup: int, steps: int, repeats: int,
            overrides: list[str], count_instructions: bool) -> dict:  # fmt: skip
    """Run one variant in this process (under valgrind when counting instructions)."""
    way = "plain-fast" if variant == "plain-fast" else "fast"
    cfg = compose(device, batch_size, True, 0, overrides)
    scaled = str(cfg.trainer.precision).split("-")[0] == "16"  # fp16: a grad scaler (bf16: none)
    if variant in ("fast-bare-backward", "fast-bare-step") and scaled:
        raise ValueError(
            f"{variant}: precision {cfg.trainer.precision} scales the loss in Lightning's "
            "wrappers; bypassing them would change the step (bf16 and fp32 only)"
        )
    clock = (
        CallgrindWindow(warmup, steps)
        if count_instructions
        else WindowClock(device, warmup, steps, repeats)
    )
    with bypassed(BYPASSES.get(variant)):
        LOOPS[way](cfg, device, clock)
    if count_instructions:
        return {"variant": variant}
    median = statistics.median(clock.windows())
    return {"variant": variant, "ms_per_step": 1000 * median / steps}


def callgrind_total(path: Path) -> int:
    """The instructions a callgrind output file counted: its `totals:` line (the sum of every
    cost it recorded), else its `summary:` line. With counting switched on mid-run the summary
    reads 0 and only the totals hold the count."""
    found = {}
    for line in path.read_text().splitlines():
        if match := re.match(r"(totals|summary):\s*(\d+)", line):
            found[match.group(1)] = int(match.group(2))
    if not found:
        raise ValueError(f"{path}: no totals line; is it callgrind's output?")
    return found.get("totals", found.get("summary"))


def run_variant(args: argparse.Namespace, variant: str) -> dict:
    """One variant in a fresh process, under valgrind when counting instructions."""
    command = [sys.executable, "-m", "gan.host_cost", "--worker", variant]
    for flag in ("device", "batch_size", "warmup", "steps", "repeats"):
        command += [f"--{flag.replace('_', '-')}", str(getattr(args, flag))]
    command += ["--full"] if args.full else []
    if not args.count_instructions:
        return run_worker(command)[0]
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "callgrind.out"
        valgrind = ["valgrind", "--tool=callgrind", "--instr-atstart=no",
                    f"--callgrind-out-file={out}"]  # fmt: skip
        record = run_worker([*valgrind, *command, "--count-instructions"])[0]
        record["instructions_per_step"] = callgrind_total(out) / args.steps
    return record


def table(results: list[dict]) -> str:
    """Markdown: each variant's cost per step and its difference to `fast`."""
    counted = "instructions_per_step" in results[0]
    key, unit = (
        ("instructions_per_step", "instructions/step") if counted else ("ms_per_step", "ms/step")
    )

    def shown(value: float) -> str:
        return f"{value / 1e6:.2f} M" if counted else f"{value:.3f}"

    fast = next((r[key] for r in results if r["variant"] == "fast"), None)
    lines = [f"| variant | {unit} | fast minus this |", "|---|---:|---:|"]
    for r in results:
        saved = "–" if fast is None else shown(fast - r[key])
        lines.append(f"| {r['variant']} | {shown(r[key])} | {saved} |")
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m gan.host_cost", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--batch-size", type=int, help="default: 2, or 128 with --full")
    parser.add_argument("--full", action="store_true", help="the bench's DCGAN, not a narrow one")
    parser.add_argument("--warmup", type=int, default=50, help="steps before the window")
    parser.add_argument(
        "--steps",
        type=int,
        default=50,
        help="steps per window (a multiple of 50: one logging step in each)",
    )
    parser.add_argument("--repeats", type=int, default=5, help="timed windows, median kept")
    parser.add_argument(
        "--count-instructions", action="store_true", help="count with callgrind, not time"
    )
    parser.add_argument("--out", type=Path, default=Path("host_cost.json"))
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.variant_list = args.variants.split(",")
    if unknown := [v for v in args.variant_list if v not in VARIANTS]:
        parser.error(f"--variants: unknown {unknown}; choose from {list(VARIANTS)}")
    if args.batch_size is None:
        args.batch_size = 128 if args.full else 2
    if min(args.batch_size, args.warmup, args.steps, args.repeats) < 1:
        parser.error("--batch-size, --warmup, --steps and --repeats must be >= 1")
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is available here")
    if args.count_instructions and args.device != "cpu":
        parser.error("--count-instructions counts the CPU's instructions: use --device cpu")
    if args.count_instructions and not args.worker and shutil.which("valgrind") is None:
        parser.error("--count-instructions needs valgrind (Debian: apt install valgrind)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    overrides = OVERRIDES + ([] if args.full else HOST_BOUND)
    if args.worker:
        torch.set_num_threads(1)
        result = measure(args.worker, args.device, args.batch_size, args.warmup, args.steps,
                         args.repeats, overrides, args.count_instructions)  # fmt: skip
        print(json.dumps(result))
        return 0
    results = []
    for variant in args.variant_list:
        print(f"{variant} ...", file=sys.stderr, flush=True)
        started = time.perf_counter()
        results.append(run_variant(args, variant))
        print(f"  {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    model = "bench's DCGAN" if args.full else "DCGAN of width 1"
    print(f"{model}, batch {args.batch_size}, {args.device}, one thread, "
          f"{' '.join(overrides)}")  # fmt: skip
    print(table(results))
    record = {"machine": machine(), "device": args.device, "batch_size": args.batch_size,
              "overrides": overrides, "steps": args.steps, "results": results}  # fmt: skip
    args.out.write_text(json.dumps(record, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
