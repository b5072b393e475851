"""The GPU check, one command for a GPU that is at hand only briefly: `make gpu-check`.

Runs, each step in its own process with its own time limit (in all under 8 minutes on one GPU):
0. `profile`: `gan.profile_step` at batch 128: where the fast path's step time goes, beside
   plain-fast's (first: the measurement the fast path's next changes wait for; `--only profile`
   runs it alone);
1. `epoch`: one epoch of the default DCGAN with `trainer=gpu fast=gpu` and the default callbacks;
2. `bench`: `gan.bench --device cuda --models dcgan`, every way at batch 128;
3. `bench-large`: `fast` and `plain-fast` at larger batches (the GPU's best batch size);
4. `inception`: Inception features of 50,000 images, timed (exact fp32, and TF32);
5. `tests`: the test suite's `gpu` marker (tests/test_gpu.py: every loss on the fast path,
   including `experiment=tutorial`; StyleGAN2's small recipe; checkpoints moved GPU -> CPU and
   CPU -> GPU);
6. `bench-stylegan2`: `gan.bench --models stylegan2` (its small recipe, batch 32), every way,
   last, so that it never takes the tests' time.
`--only epoch,bench` runs some of them.

Writes `gpu_check.json` (one record per step: status, seconds, figures) and `gpu_check.log`
(every step's command and output) to `--out`. Without CUDA the GPU steps are skipped and said
so, the `gpu` tests are collected and skipped, and the check passes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from gan.config import PROJECT_ROOT
from gan.machine import cpu_name

NO_GPU = "no CUDA device here: skipped"
STEP_KEYS = ("profile", "epoch", "bench", "bench-large", "inception", "tests", "bench-stylegan2")
BUDGET_S = 470  # the whole check, so that it ends within 8 minutes with the start-up
MIN_STEP_S = 15  # a step that would get less time than this is skipped


@dataclass
class Step:
    key: str  # for --only
    name: str
    command: list[str]
    timeout_s: int
    needs_gpu: bool = True
    result_file: Path | None = None  # a JSON the step writes, read into `figures`
    status: str = "pending"  # passed | failed | timed out | skipped
    seconds: float = 0.0
    note: str = ""
    figures: dict = field(default_factory=dict)


def environment() -> dict:
    info = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda_available": torch.cuda.is_available(),
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
    }
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info |= {
            "gpu": props.name,
            "gpu_memory_gib": round(props.total_memory / 2**30, 1),
            "multiprocessors": props.multi_processor_count,
            "cuda": torch.version.cuda,
            "bf16": torch.cuda.is_bf16_supported(),
        }
    return info


def plan(out: Path, work: Path, inception_file: Path | None) -> list[Step]:
    python = shlex.quote(sys.executable) + " -m"
    epoch_dir = work / "epoch"
    q = shlex.quote
    bench = f"{python} gan.bench --device cuda --models dcgan"
    bench_stylegan2 = f"{python} gan.bench --device cuda --models stylegan2"
    inception = f"--inception-file {q(str(inception_file))}" if inception_file else ""

    def command(line: str) -> list[str]:
        return shlex.split(line)

    return [
        Step(
            "profile",
            "profile: fast, fast with callbacks and plain-fast, gc on and frozen, batch 128",
            command(
                f"{python} gan.profile_step --device cuda --batch-size 128 --warmup 20 "
                f"--repeats 3 --trace-dir {q(str(out / 'traces'))} "
                f"--out {q(str(out / 'profile.json'))}"
            ),
            timeout_s=270,  # six processes, four compiling: 209.7 s on an H200 (2026-12-04)
            result_file=out / "profile.json",
        ),
        Step(
            "epoch",
            "one epoch, default DCGAN, trainer=gpu fast=gpu",
            command(
                f"{python} gan.train fast=gpu trainer.max_epochs=1 logger=csv "
                f"hydra.run.dir={q(str(epoch_dir))}"
            ),
            timeout_s=100,
            result_file=epoch_dir / "metrics.json",
        ),
        Step(
            "bench",
            "bench, every way, batch 128",
            command(f"{bench} --batch-sizes 128 --out {q(str(out / 'bench_cuda_128.json'))}"),
            timeout_s=150,
            result_file=out / "bench_cuda_128.json",
        ),
        Step(
            "bench-large",
            "bench, fast and plain-fast, large batches",
            command(
                f"{bench} --ways fast,plain-fast --batch-sizes 1024,4096 --warmup 5 --steps 10 "
                f"--repeats 3 --out {q(str(out / 'bench_large.json'))}"
            ),
            timeout_s=180,
            result_file=out / "bench_large.json",
        ),
        Step(
            "inception",
            "Inception features of 50,000 images",
            command(f"{bench} --worker inception --inception-images 50000 {inception}"),
            timeout_s=150,
        ),
        Step(
            "tests",
            "gpu tests",
            command(f"{python} pytest tests/test_gpu.py -m gpu -q -rs -p no:cacheprovider"),
            timeout_s=240,  # 16 tests, each compiling its networks: 81 s for 11 on an H100
            needs_gpu=False,
        ),
        Step(
            "bench-stylegan2",
            "bench, StyleGAN2's small recipe, every way, batch 32",
            command(
                f"{bench_stylegan2} --warmup 5 --steps 10 --repeats 3 "
                f"--out {q(str(out / 'bench_stylegan2.json'))}"
            ),
            timeout_s=150,
            result_file=out / "bench_stylegan2.json",
        ),
    ]


def last_json_line(text: str) -> dict:
    for line in reversed(text.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    return {}


def _text(output: str | bytes | None) -> str:
    return output.decode(errors="replace") if isinstance(output, bytes) else output or ""


def run_step(step: Step, log, has_gpu: bool, seconds_left: float) -> None:
    print(f"== {step.name}", file=log, flush=True)
    if step.needs_gpu and not has_gpu:
        step.status, step.note = "skipped", NO_GPU
        print(NO_GPU, file=log, flush=True)
        return
    timeout = min(step.timeout_s, int(seconds_left))
    if seconds_left < MIN_STEP_S:
        step.status, step.note = "skipped", f"{seconds_left:.0f} s left of the check's budget"
        print(step.note, file=log, flush=True)
        return
    print("$ " + shlex.join(step.command), file=log, flush=True)
    started = time.perf_counter()
    try:
        done = subprocess.run(
            step.command, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, timeout=timeout, env={**os.environ, "WANDB_MODE": "offline"},
        )  # fmt: skip
        output, returncode = done.stdout, done.returncode
    except subprocess.TimeoutExpired as error:
        output, returncode = _text(error.output) + f"\n(killed after {timeout} s)", None
    step.seconds = round(time.perf_counter() - started, 1)
    print(output, file=log, flush=True)
    if returncode is None:
        step.status = "timed out"
    else:
        step.status = "passed" if returncode == 0 else "failed"
    tail = [line for line in output.strip().splitlines() if line.strip()]
    step.note = tail[-1][:300] if tail else ""
    if step.status == "passed" and step.key == "tests" and not has_gpu:
        step.note = f"{NO_GPU} ({step.note})"
    if step.result_file is not None and step.result_file.is_file():
        step.figures = json.loads(step.result_file.read_text())
    elif step.status == "passed":
        step.figures = last_json_line(output)


def main(argv: list[str] | None = None) -> int:
    summary = __doc__.split("\n")[0]
    parser = argparse.ArgumentParser(prog="python -m gan.gpu_check", description=summary)
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "gpu_check")
    parser.add_argument(
        "--inception-file", type=Path, help="a TorchScript Inception to time where the project's "
        "weights are not installed (see gan.bench --inception-file)",
    )  # fmt: skip
    parser.add_argument(
        "--budget-s", type=float, default=BUDGET_S, help="seconds for the whole check; a step "
        f"gets at most what is left (default {BUDGET_S})",
    )  # fmt: skip
    parser.add_argument("--only", help=f"comma-separated steps, of: {','.join(STEP_KEYS)}")
    args = parser.parse_args(argv)
    only = args.only.split(",") if args.only else list(STEP_KEYS)
    if unknown := sorted(set(only) - set(STEP_KEYS)):
        parser.error(f"--only: unknown steps {unknown}; choose from {list(STEP_KEYS)}")
    args.out.mkdir(parents=True, exist_ok=True)
    has_gpu = torch.cuda.is_available()
    report = {"environment": environment(), "steps": []}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as work, (args.out / "gpu_check.log").open("w") as log:
        print(json.dumps(report["environment"]), file=log, flush=True)
        steps = plan(args.out, Path(work), args.inception_file)
        for step in (step for step in steps if step.key in only):
            run_step(step, log, has_gpu, args.budget_s - (time.perf_counter() - started))
            print(f"{step.status:>9}  {step.seconds:6.1f} s  {step.name}  {step.note}", flush=True)
            report["steps"].append({**asdict(step), "result_file": None})
            report["seconds"] = round(time.perf_counter() - started, 1)
            (args.out / "gpu_check.json").write_text(json.dumps(report, indent=2, default=str))
    failed = [s["name"] for s in report["steps"] if s["status"] in ("failed", "timed out")]
    print(f"gpu check: {len(failed)} of {len(report['steps'])} steps failed "
          f"({'GPU: ' + report['environment']['gpu'] if has_gpu else 'no GPU, GPU steps skipped'})"
          f"; {args.out / 'gpu_check.json'}")  # fmt: skip
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
