"""Where a training step's time goes, for `fast` and `plain-fast` side by side (gan.bench's
loops; `fast-callbacks` is `fast` with every default callback, as `make train` runs):
`python -m gan.profile_step`.

Each (way, garbage-collection mode) runs in its own process, through gan.bench's loop for that
way: `warmup` steps; then, with the collector left on or (`frozen`) collected and frozen
(`gc.freeze()`: compiled graphs leave many long-lived objects that every full collection would
walk again), `repeats` timed windows of `steps` steps (the median kept, as gan.bench does); then
one window under `torch.profiler` (host time and, on a GPU, kernel launches and the device's busy
time per step); then one under `cProfile` (the host's time per package: lightning, torch, gan, the
rest). Dynamo's counters (graphs, graph breaks, recompiles) are read at the end, and the
`TORCH_LOGS=recompiles,graph_breaks` lines of the run are kept. Prints the tables and writes
`profile.json` (with `--trace-dir`, a Chrome trace of each profiled window as well).

A step that the host takes longer to queue than the device takes to run (`host ms` well above
`device busy ms`) is bound by Python and launches, not by the GPU.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import os
import pstats
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

import torch

from gan.bench import LOOPS, MODELS, WindowClock, compose, machine, run_worker, synchronize

PROFILED_WAYS = ("fast", "fast-callbacks", "plain-fast")
GC_MODES = ("on", "frozen")
PACKAGES = ("lightning", "torch", "gan", "hydra", "omegaconf")
LAUNCHES = ("cudaLaunchKernel", "cudaLaunchKernelExC", "cuLaunchKernel", "cuLaunchKernelEx")
LOGGED = ("recompil", "graph break")  # in TORCH_LOGS lines, lower-cased


def package_of(filename: str) -> str:
    """The package a profiled function's file belongs to: "builtins" for functions written in C
    (torch's operators among them, called from any package), "other" for the standard library
    and the rest."""
    if filename.startswith(("~", "<")):
        return "builtins"
    parts = Path(filename).parts
    for package in PACKAGES:
        if package in parts:
            return package
    return "other"


def host_time_by_package(profile: cProfile.Profile, steps: int) -> dict[str, float]:
    """Milliseconds a step that the host spent in each package's own code (tottime)."""
    totals: Counter[str] = Counter()
    for (filename, _, _), (_, _, tottime, _, _) in pstats.Stats(profile).stats.items():
        totals[package_of(filename)] += tottime
    return {name: 1000 * seconds / steps for name, seconds in totals.most_common()}


def framework_functions(profile: cProfile.Profile, steps: int, top: int = 15) -> list[dict]:
    """The `top` functions of lightning and gan by cumulative time a step (what the framework
    adds around the operators: hooks, optimiser wrappers, toggles, logging)."""
    rows = []
    for (filename, line, name), (_, calls, _, cumtime, _) in pstats.Stats(profile).stats.items():
        if package_of(filename) in ("lightning", "gan"):
            where = "/".join(Path(filename).parts[-2:])
            rows.append({"function": f"{where}:{line} {name}", "calls_per_step": calls / steps,
                         "cumulative_ms_per_step": 1000 * cumtime / steps})  # fmt: skip
    return sorted(rows, key=lambda r: r["cumulative_ms_per_step"], reverse=True)[:top]


def _device_time_us(event) -> float:
    return getattr(event, "self_device_time_total", getattr(event, "self_cuda_time_total", 0.0))


def profile_summary(prof: torch.profiler.profile, steps: int, wall_s: float, top: int = 15) -> dict:
    """Per step: the wall time of the profiled window, the host's time in operators, the number
    of operator calls (in all and per operator) and kernel launches, the device's busy time; the
    `top` operators by host time."""
    events = prof.key_averages()
    ops = [e for e in events if e.key.startswith("aten::")]
    launches = sum(e.count for e in events if e.key in LAUNCHES)
    graph_launches = sum(e.count for e in events if e.key == "cudaGraphLaunch")
    device_us = sum(_device_time_us(e) for e in events if e.device_type.name == "CUDA")
    ranked = sorted(events, key=lambda e: e.self_cpu_time_total, reverse=True)[:top]
    return {
        "wall_ms_per_step": 1000 * wall_s / steps,
        "operator_calls_per_step": sum(e.count for e in ops) / steps,
        "host_operator_ms_per_step": sum(e.self_cpu_time_total for e in ops) / 1000 / steps,
        "kernel_launches_per_step": launches / steps,
        "cuda_graph_launches_per_step": graph_launches / steps,
        "device_busy_ms_per_step": device_us / 1000 / steps,
        "operator_calls": {e.key: e.count / steps for e in sorted(ops, key=lambda e: -e.count)},
        "top_host_operators": [
            {
                "name": e.key,
                "calls_per_step": e.count / steps,
                "host_ms_per_step": e.self_cpu_time_total / 1000 / steps,
            }
            for e in ranked
        ],
    }


def dynamo_counters() -> dict:
    """torch._dynamo's counters as plain numbers (graphs, breaks, recompiles, ...)."""
    from torch._dynamo.utils import counters

    return {group: dict(values) for group, values in counters.items() if values}


class GcClock:
    """Counts the collector's runs and times them, per generation, from `start()` on."""

    def __init__(self) -> None:
        self.collections = Counter()
        self.seconds = 0.0
        self._began = 0.0

    def __call__(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._began = time.perf_counter()
        else:
            self.collections[info["generation"]] += 1
            self.seconds += time.perf_counter() - self._began

    def start(self) -> None:
        gc.callbacks.append(self)

    def stop(self) -> None:
        gc.callbacks.remove(self)


class ProfilingClock(WindowClock):
    """gan.bench's clock, followed by a torch.profiler window and a cProfile window, with the
    collector set to `gc_mode` after the warm-up."""

    def __init__(self, device: str, warmup: int, steps: int, repeats: int, gc_mode: str,
                 trace: Path | None = None) -> None:  # fmt: skip
        super().__init__(device, warmup, steps, repeats)
        self.warmup, self.steps, self.gc_mode, self.trace = warmup, steps, gc_mode, trace
        self.timed_end = self.total
        self.total += 2 * steps
        self.gc = GcClock()
        self.summary: dict = {}
        self._torch_profile: torch.profiler.profile | None = None
        self.python_profile = cProfile.Profile()
        self._began = 0.0

    def tick(self) -> bool:
        super().tick()
        if self.done == self.warmup:
            if self.gc_mode == "frozen":
                gc.collect()
                gc.freeze()
            self.gc.start()
        elif self.done == self.timed_end:
            self.gc.stop()
            activities = [torch.profiler.ProfilerActivity.CPU]
            if self.device == "cuda":
                activities.append(torch.profiler.ProfilerActivity.CUDA)
            self._torch_profile = torch.profiler.profile(activities=activities)
            self._torch_profile.__enter__()
            self._began = time.perf_counter()
        elif self.done == self.timed_end + self.steps:
            synchronize(self.device)
            wall = time.perf_counter() - self._began
            self._torch_profile.__exit__(None, None, None)
            self.summary = profile_summary(self._torch_profile, self.steps, wall)
            if self.trace is not None:
                self._torch_profile.export_chrome_trace(str(self.trace))
            self.python_profile.enable()
        elif self.done == self.total:
            self.python_profile.disable()
        return self.done >= self.total


def profile_way(way: str, device: str, batch_size: int, warmup: int, steps: int, repeats: int,
                seed: int, gc_mode: str, model: str = "dcgan", trace: Path | None = None,
                fast_overrides: list[str] = ()) -> dict:  # fmt: skip
    """Measure one way with one collector mode in this process."""
    cfg = compose(device, batch_size, True, seed, fast_overrides, model)
    clock = ProfilingClock(device, warmup, steps, repeats, gc_mode, trace)
    try:
        LOOPS[way](cfg, device, clock)
    finally:
        gc.unfreeze()
        if clock.gc in gc.callbacks:
            clock.gc.stop()
    median = statistics.median(clock.windows())
    timed_steps = repeats * steps
    return {
        "model": model,
        "way": way,
        "gc": gc_mode,
        "batch_size": batch_size,
        "ms_per_step": 1000 * median / steps,
        "images_per_s": steps * batch_size / median,
        "gc_collections_per_100_steps": {
            str(g): 100 * n / timed_steps for g, n in sorted(clock.gc.collections.items())
        },
        "gc_ms_per_step": 1000 * clock.gc.seconds / timed_steps,
        "gc_tracked_objects": len(gc.get_objects()),
        "profile": clock.summary,
        "host_ms_per_step_by_package": host_time_by_package(clock.python_profile, steps),
        "framework_functions": framework_functions(clock.python_profile, steps),
        "dynamo": dynamo_counters(),
    }


# ---- the driver ---------------------------------------------------------------------------------


def in_worker(args: argparse.Namespace, way: str, gc_mode: str) -> dict:
    """One (way, gc mode) in a fresh process with TORCH_LOGS set; its recompile and graph-break
    log lines are added to its result."""
    command = [sys.executable, "-m", "gan.profile_step", "--worker", way, "--gc", gc_mode]
    for flag in ("device", "model", "batch_size", "warmup", "steps", "repeats", "seed"):
        command += [f"--{flag.replace('_', '-')}", str(getattr(args, flag))]
    command += ["--fast-overrides", args.fast_overrides]
    if args.trace_dir:
        command += ["--trace-dir", str(args.trace_dir)]
    record, stderr = run_worker(command, {**os.environ, "TORCH_LOGS": "recompiles,graph_breaks"})
    record["torch_logs"] = [
        line for line in stderr.splitlines() if any(key in line.lower() for key in LOGGED)
    ]
    return record


def tables(results: list[dict]) -> str:
    """Markdown: the step's timing per way and collector mode, then the host's time per package."""
    lines = [
        "| way | gc | ms/step | images/s | profiled ms/step | host operator ms | device busy ms "
        "| operator calls | kernel launches | CUDA graph launches | gc ms/step | graphs | graph "
        "breaks | recompiles |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        p, stats = r["profile"], r["dynamo"].get("stats", {})
        breaks = sum(r["dynamo"].get("graph_break", {}).values())
        recompiles = sum(r["dynamo"].get("recompiles", {}).values())
        lines.append(
            f"| {r['way']} | {r['gc']} | {r['ms_per_step']:.2f} | {r['images_per_s']:,.0f} | "
            f"{p['wall_ms_per_step']:.2f} | {p['host_operator_ms_per_step']:.2f} | "
            f"{p['device_busy_ms_per_step']:.2f} | {p['operator_calls_per_step']:.0f} | "
            f"{p['kernel_launches_per_step']:.0f} | {p['cuda_graph_launches_per_step']:.0f} | "
            f"{r['gc_ms_per_step']:.3f} | {stats.get('unique_graphs', 0)} | {breaks} | "
            f"{recompiles} |"
        )
    packages = sorted({name for r in results for name in r["host_ms_per_step_by_package"]})
    lines += ["", "Host time per step by package (ms, cProfile's own time, profiler overhead "
              "included):", "", "| way | gc | " + " | ".join(packages) + " |",
              "|---|---|" + "---:|" * len(packages)]  # fmt: skip
    for r in results:
        by = r["host_ms_per_step_by_package"]
        cells = " | ".join(f"{by.get(name, 0.0):.2f}" for name in packages)
        lines.append(f"| {r['way']} | {r['gc']} | {cells} |")
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m gan.profile_step", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--model", default="dcgan", choices=list(MODELS))
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--ways", default=",".join(PROFILED_WAYS))
    parser.add_argument("--gc-modes", default=",".join(GC_MODES))
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--warmup", type=int, default=30, help="untimed steps (compilation)")
    parser.add_argument("--steps", type=int, default=20, help="steps per window")
    parser.add_argument("--repeats", type=int, default=5, help="timed windows, median kept")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fast-overrides", default="", help="extra config overrides for both "
                        "ways, space-separated")  # fmt: skip
    parser.add_argument("--trace-dir", type=Path, help="write a Chrome trace per window here")
    parser.add_argument("--out", type=Path, default=Path("profile.json"))
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--gc", default="on", choices=GC_MODES, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is available here (use --device cpu)")
    args.way_list, args.gc_list = args.ways.split(","), args.gc_modes.split(",")
    if unknown := [w for w in args.way_list if w not in LOOPS]:
        parser.error(f"--ways: unknown {unknown}; choose from {list(LOOPS)}")
    if unknown := [g for g in args.gc_list if g not in GC_MODES]:
        parser.error(f"--gc-modes: unknown {unknown}; choose from {list(GC_MODES)}")
    if min(args.batch_size, args.warmup, args.steps, args.repeats) < 1:
        parser.error("--batch-size, --warmup, --steps and --repeats must be >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        trace = None
        if args.trace_dir:
            args.trace_dir.mkdir(parents=True, exist_ok=True)
            trace = args.trace_dir / f"{args.model}_{args.worker}_gc-{args.gc}.json"
        result = profile_way(
            args.worker, args.device, args.batch_size, args.warmup, args.steps, args.repeats,
            args.seed, args.gc, args.model, trace, args.fast_overrides.split(),
        )  # fmt: skip
        print(json.dumps(result))
        return 0
    results = []
    for way in args.way_list:
        for gc_mode in args.gc_list:
            print(f"{args.model}, {way}, gc {gc_mode} ...", file=sys.stderr, flush=True)
            results.append(in_worker(args, way, gc_mode))
    print(f"{args.model}, batch {args.batch_size}, device {args.device}: {args.warmup} warm-up "
          f"steps, median of {args.repeats} windows of {args.steps}, then one profiled window "
          "of each kind")  # fmt: skip
    print(tables(results))
    for r in results:
        print(f"\n{r['way']}, gc {r['gc']}: lightning's and gan's functions by cumulative ms/step")
        for f in r["framework_functions"][:10]:
            print(
                f"  {f['cumulative_ms_per_step']:8.3f}  x{f['calls_per_step']:g}  {f['function']}"
            )
    for r in results:
        for line in r["torch_logs"][:10]:
            print(f"{r['way']}/gc {r['gc']}: {line}")
    report = {"machine": machine(), "device": args.device, "model": args.model,
              "batch_size": args.batch_size, "warmup": args.warmup, "steps": args.steps,
              "repeats": args.repeats, "results": results}  # fmt: skip
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
