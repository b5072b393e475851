"""`python -m gan.report <multirun dir>`: one row per configuration, mean ± std over seeds.

Reads the `job.json` of every job (see `gan.sweep`), groups the jobs that trained the same
configuration (each config group's option, typed or by default, and the other overrides) apart
from `seed` and `ckpt_path` (where a job resumed from, not what it trains), and writes `report.md`
and `report.csv` in the multirun directory (or `--out`). Each metric cell is mean ± sample
standard deviation over the seeds, with the best seed's value marked "best" (lowest for FID, KID
and KL; highest for IS, precision, recall and classes). Jobs that failed, never finished, or left
an unreadable record are listed under the table with their error; jobs whose record still says
"running" are counted and listed apart (a job killed outright, by SIGKILL or a lost machine, also
keeps that status). With no completed job there is no table, only those lists, and the exit
status is 1. A job that stopped but was resumed (another job's `ckpt_path` lies in its
directory) is listed apart, with the job that continued it.

`--rows KEYS --columns KEYS` lays each metric out as a grid as well (rows x columns, e.g. data
size by remedy), above the table of every configuration: a key is a config group (`remedy`) or
an override (`data.fraction`), several of them comma-separated for one axis.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import statistics
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from gan.sweep import JOB_FILE, RUNNING

RUNNING_NOTE = (
    "Still running, or killed outright (SIGKILL, a lost machine) before it could record its end."
)

# Metric names containing one of these are better when lower; the others listed when higher.
LOWER_IS_BETTER = ("fid", "kid", "kl", "loss")
HIGHER_IS_BETTER = (
    "is_",
    "precision",
    "recall",
    "classes",
    "modes",
    "high_quality",
    "psnr",
    "ssim",
    "accuracy",
)


@dataclass
class Job:
    directory: Path
    overrides: list[str]
    status: str
    metrics: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    choices: dict[str, str | None] | None = None  # config group -> option; None in old records
    machine: dict | None = None  # see gan.machine; None in old records

    def value(self, key: str) -> str | None:
        """The value this job's overrides gave `key`, if they did."""
        return next((o.split("=", 1)[1] for o in self.overrides if _key(o) == key), None)

    @property
    def seed(self) -> str | None:
        return self.value("seed")

    @property
    def ckpt_path(self) -> Path | None:
        """Where this job resumed from (relative paths from the current directory), if it did."""
        value = self.value("ckpt_path")
        return Path(value).resolve() if value else None

    @property
    def typed(self) -> set[str]:
        """The overrides that name what was trained: all but `seed` and `ckpt_path`."""
        return {o for o in self.overrides if _names_the_configuration(o)}


@dataclass
class Row:
    """One configuration: its distinguishing overrides and its jobs, one per seed."""

    label: str
    jobs: list[Job]

    def values(self, metric: str) -> list[float]:
        return [job.metrics[metric] for job in self.jobs if metric in job.metrics]


def _key(override: str) -> str:
    return override.lstrip("+~").split("=", 1)[0]


def _names_the_configuration(override: str) -> bool:
    """False for the overrides that do not change what is trained: the seed (a row's jobs differ
    by it) and `ckpt_path` (a resumed job is the same run continued)."""
    return _key(override) not in ("seed", "ckpt_path")


def read_jobs(multirun_dir: Path) -> list[Job]:
    """Every job under `multirun_dir`: those with a job.json, and those Hydra started (they have
    .hydra/overrides.yaml) that never wrote one."""
    jobs = []
    for path in sorted(multirun_dir.rglob(JOB_FILE)):
        try:
            record = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            reason = f"{JOB_FILE} is not valid JSON ({error})"
            jobs.append(Job(path.parent, [], "unreadable", error=reason))
            continue
        if not isinstance(record, dict):
            reason = f"{JOB_FILE} holds a JSON {type(record).__name__}, not a record (an object)"
            jobs.append(Job(path.parent, [], "unreadable", error=reason))
            continue
        jobs.append(
            Job(
                path.parent,
                record.get("overrides", []),
                record.get("status", "unknown"),
                record.get("metrics", {}),
                record.get("error"),
                record.get("choices"),
                record.get("machine"),
            )
        )
    recorded = {job.directory for job in jobs}
    for path in sorted(multirun_dir.rglob(".hydra/overrides.yaml")):
        directory = path.parent.parent
        if directory not in recorded:
            overrides = yaml.safe_load(path.read_text()) or []
            jobs.append(Job(directory, overrides, "no job.json", error="no record of an end"))
    return sorted(jobs, key=lambda job: _natural_key(job.directory.name))


def _natural_key(name: str) -> tuple:
    return (0, int(name), "") if name.isdigit() else (1, 0, name)


def _configuration(job: Job) -> tuple:
    """What a job trains: its config groups' options (`remedy=none` typed or left to the default
    is the same choice) and its other overrides, less `seed` and `ckpt_path`. A record without
    `choices` (written before they were recorded) has only its overrides to go by."""
    if job.choices is None:
        return (None, tuple(sorted(job.typed)))
    values = tuple(sorted(o for o in job.typed if _key(o) not in job.choices))
    return (tuple(sorted(job.choices.items(), key=str)), values)


def group_by_config(jobs: list[Job]) -> tuple[list[Row], list[str]]:
    """Completed jobs grouped by configuration, less `seed` and `ckpt_path`. Returns the rows,
    labelled by the overrides that vary between configurations, and the overrides that all jobs
    share."""
    configs: dict[tuple, list[Job]] = {}
    for job in jobs:
        configs.setdefault(_configuration(job), []).append(job)
    # A row's overrides: those all its jobs typed (one typed `remedy=none`, another did not).
    typed = [
        set.intersection(*(job.typed for job in config_jobs)) for config_jobs in configs.values()
    ]
    shared = set.intersection(*typed) if typed else set()
    rows = [
        Row(" ".join(sorted(overrides - shared)) or "(defaults)", config_jobs)
        for overrides, config_jobs in zip(typed, configs.values(), strict=True)
    ]
    return rows, sorted(shared)


def machines(jobs: list[Job]) -> str:
    """The machines the jobs ran on, each with its number of jobs: the GPU where one trained,
    else the CPU (with its family, model and instruction set where the record has them) and its
    threads ("" when no record names a machine)."""
    counts = Counter(job.machine.get("gpu") or _cpu(job.machine) for job in jobs if job.machine)
    return ", ".join(f"{name} ({_count(n, 'job')})" for name, n in counts.items())


def _cpu(machine: dict) -> str:
    """ "AMD EPYC (family 25 model 17, AVX512), 1 thread"; older records lack the details."""
    details = [machine[key] for key in ("cpu_model", "cpu_capability") if machine.get(key)]
    name = machine["cpu"] + (f" ({', '.join(details)})" if details else "")
    return f"{name}, {_count(machine['cpu_threads'], 'thread')}"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'s' * (n != 1)}"


def resumed_by(stopped: Job, jobs: list[Job]) -> Job | None:
    """The job that resumed from a checkpoint in `stopped`'s directory, if one did."""
    directory = stopped.directory.resolve()
    return next((job for job in jobs if job.ckpt_path and directory in job.ckpt_path.parents), None)


def better(metric: str) -> str | None:
    """ "min", "max", or None for a metric with no known direction."""
    name = metric.rsplit("/", 1)[-1].lower()
    if any(part in name for part in LOWER_IS_BETTER):
        return "min"
    if any(name.startswith(part) or part in name for part in HIGHER_IS_BETTER):
        return "max"
    return None


def summarise(values: list[float], direction: str | None) -> dict[str, float | None]:
    """mean, std (sample, None for one value) and best (None without a direction)."""
    if not values:
        return {"mean": None, "std": None, "best": None}
    std = statistics.stdev(values) if len(values) > 1 else None
    best = {"min": min, "max": max}[direction](values) if direction else None
    return {"mean": statistics.fmean(values), "std": std, "best": best}


def _number(value: float | None) -> str:
    """Three significant figures, but whole numbers from 1,000 up in full (1000 modes, 2716
    images/s), where `.3g` would print 1e+03."""
    if value is None:
        return ""
    if math.isinf(value):
        return "inf"
    return f"{value:.0f}" if abs(value) >= 1000 else f"{value:.3g}"


def cell(summary: dict[str, float | None], n: int) -> str:
    if summary["mean"] is None:
        return "–"
    text = _number(summary["mean"])
    if summary["std"] is not None:
        text += f" ± {_number(summary['std'])}"
    if summary["best"] is not None and n > 1:
        text += f" (best {_number(summary['best'])})"
    return text


def _table_row(cells: list[str]) -> str:
    """A markdown table row: as many cells as given (no empty one when there are no metrics)."""
    return "| " + " | ".join(cells) + " |"


def default_metrics(jobs: list[Job]) -> list[str]:
    """The val/* metrics that some job logged, in the order the first such job logged them."""
    names: dict[str, None] = {}
    for job in jobs:
        names |= dict.fromkeys(m for m in job.metrics if m.startswith("val/"))
    return list(names)


class GridError(ValueError):
    """The grid's keys do not lay the configurations out one to a cell."""


def _setting(job: Job, key: str) -> str | None:
    """The option `job` had for config group `key`, else the value its overrides gave `key`."""
    if job.choices and key in job.choices:
        return str(job.choices[key] or "null")
    return job.value(key)


def _axis_label(job: Job, keys: list[str]) -> tuple[str, tuple]:
    """A job's place on a grid's axis: its label, and a key that orders labels by the first key
    set, numbers by value ("(defaults)": none of the keys set, last)."""
    settings = [(key, _setting(job, key)) for key in keys]
    present = [(key, value) for key, value in settings if value is not None]
    if not present:
        label = "(default)" if len(keys) == 1 else "(defaults)"
    elif len(keys) == 1:
        label = present[0][1]
    else:
        label = " ".join(f"{key}={value}" for key, value in present)
    order = tuple((1,) if value is None else (0, *_sort_value(value)) for _, value in settings)
    return label, order


def _sort_value(value: str) -> tuple:
    try:
        return (0, float(value), "")
    except ValueError:
        return (1, 0.0, value)


def grid(
    rows: list[Row], row_keys: list[str], column_keys: list[str], metrics: list[str]
) -> tuple[list[str], list[tuple[str, str]]]:
    """Each metric as a markdown table of `row_keys` by `column_keys`, and each configuration's
    (row, column) labels, in the order of `rows`. Raises GridError when a key is set by no job
    or when two configurations fall into one cell (a key that tells them apart is missing)."""
    jobs = [job for row in rows for job in row.jobs]
    for key in row_keys + column_keys:
        if all(_setting(job, key) is None for job in jobs):
            raise GridError(f"no job sets {key!r} (a config group or an override key)")
    cells: dict[tuple[str, str], Row] = {}
    places = []
    order: dict[str, dict[str, tuple]] = {"row": {}, "column": {}}
    for config in rows:
        row_label, row_order = _axis_label(config.jobs[0], row_keys)
        column_label, column_order = _axis_label(config.jobs[0], column_keys)
        if (held := cells.get((row_label, column_label))) is not None:
            raise GridError(
                f"the cell {row_label} x {column_label} holds two configurations, "
                f"'{held.label}' and '{config.label}': add the key they differ in to --rows "
                "or --columns"
            )
        cells[row_label, column_label] = config
        places.append((row_label, column_label))
        order["row"][row_label] = row_order
        order["column"][column_label] = column_order
    row_labels = sorted(order["row"], key=order["row"].get)
    column_labels = sorted(order["column"], key=order["column"].get)
    lines = []
    for metric in metrics:
        lines += ["", f"## {metric}: {', '.join(row_keys)} by {', '.join(column_keys)}", ""]
        lines += [_table_row([", ".join(row_keys), *column_labels])]
        lines += ["|---" * (len(column_labels) + 1) + "|"]
        for row_label in row_labels:
            texts = [
                _grid_cell(cells.get((row_label, column_label)), metric)
                for column_label in column_labels
            ]
            lines += [_table_row([row_label, *texts])]
    return lines, places


def _grid_cell(config: Row | None, metric: str) -> str:
    """mean ± std over the seeds, their number in brackets; "–" with no configuration there."""
    values = config.values(metric) if config else []
    if not values:
        return "–"
    return f"{cell(summarise(values, None), len(values))} ({len(values)})"  # no "best" here


def build_report(
    multirun_dir: Path,
    metrics: list[str] | None = None,
    row_keys: list[str] | None = None,
    column_keys: list[str] | None = None,
) -> tuple[str, list[dict]]:
    """The markdown report and the CSV rows for the sweep in `multirun_dir`; with `row_keys`
    and `column_keys`, each metric's grid above the table (see `grid`)."""
    jobs = read_jobs(multirun_dir)
    if not jobs:
        raise FileNotFoundError(f"no jobs (no {JOB_FILE} nor .hydra/) under {multirun_dir}")
    completed = [job for job in jobs if job.status == "completed"]
    stopped = [job for job in jobs if job.status != "completed"]
    continued = {job.directory: by for job in stopped if (by := resumed_by(job, jobs))}
    unresumed = [job for job in stopped if job.directory not in continued]
    running = [job for job in unresumed if job.status == RUNNING]
    failed = [job for job in unresumed if job.status != RUNNING]
    metrics = metrics or default_metrics(completed)
    rows, shared = group_by_config(completed)

    lines = [f"# Sweep report: {multirun_dir}", ""]
    summary = f"{len(completed)} completed jobs in {len(rows)} configurations, {len(failed)} failed"
    if running:
        summary += f", {len(running)} running"
    if continued:
        summary += f", {len(continued)} stopped and resumed by another job"
    lines += [summary + "."]
    if ran_on := machines(completed):
        lines += ["", f"Ran on: {ran_on}."]
    if shared:
        lines += ["", "Shared by all jobs: " + " ".join(f"`{o}`" for o in shared)]
    places = []
    if rows and row_keys and column_keys:
        grid_lines, places = grid(rows, row_keys, column_keys, metrics)
        lines += ["", "Each grid cell: mean ± std over seeds (their number).", *grid_lines]
        lines += ["", "## Every configuration"]
    if rows:
        lines += ["", "Each cell: mean ± std over seeds (best seed).", ""]
        lines += [_table_row(["configuration", "seeds", *metrics])]
        lines += ["|---" * (len(metrics) + 2) + "|"]
    csv_rows = []
    for index, row in enumerate(rows):
        seeds = [job.seed or "?" for job in row.jobs]
        summaries = {m: summarise(row.values(m), better(m)) for m in metrics}
        cells = [cell(summaries[m], len(row.values(m))) for m in metrics]
        lines += [_table_row([row.label, str(len(seeds)), *cells])]
        csv_row = {"configuration": row.label, "n_seeds": len(seeds), "seeds": " ".join(seeds)}
        if places:
            csv_row |= dict(zip(("grid row", "grid column"), places[index], strict=True))
        for m in metrics:
            csv_row |= {f"{m} {stat}": value for stat, value in summaries[m].items()}
        csv_rows.append(csv_row)
    if failed:
        lines += ["", "## Failed jobs", ""]
        lines += ["| job | overrides | status | error |", "|---|---|---|---|"]
        for job in failed:
            error = (job.error or "").replace("|", "\\|").replace("\n", " ")
            overrides = " ".join(job.overrides)
            lines += [f"| {job.directory.name} | {overrides} | {job.status} | {error} |"]
    if running:
        lines += ["", "## Running", "", RUNNING_NOTE, ""]
        lines += ["| job | overrides |", "|---|---|"]
        lines += [f"| {job.directory.name} | {' '.join(job.overrides)} |" for job in running]
    if continued:
        lines += ["", "## Stopped and resumed", ""]
        lines += ["| job | status | resumed by |", "|---|---|---|"]
        for job in stopped:
            if job.directory in continued:
                by = continued[job.directory]
                lines += [f"| {job.directory.name} | {job.status} | {by.directory.name} |"]
    return "\n".join(lines) + "\n", csv_rows


def write_csv(path: Path, rows: list[dict]) -> None:
    fields = list(dict.fromkeys(key for row in rows for key in row))
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gan.report", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "multirun_dir", type=Path, help="a sweep's directory (multirun/<date>/<time>)"
    )
    parser.add_argument("--metrics", help="comma-separated metric names (default: every val/*)")
    parser.add_argument(
        "--out", type=Path, help="where to write report.md/.csv (default: the sweep)"
    )
    parser.add_argument("--rows", help="comma-separated keys: each metric's grid rows")
    parser.add_argument("--columns", help="comma-separated keys: each metric's grid columns")
    args = parser.parse_args(argv)
    if bool(args.rows) != bool(args.columns):
        print("error: --rows and --columns go together (give both, or neither)", file=sys.stderr)
        return 2
    if not args.multirun_dir.is_dir():
        print(
            f"error: {args.multirun_dir} is not a directory (give a multirun/<date>/<time>)",
            file=sys.stderr,
        )
        return 2
    metrics = args.metrics.split(",") if args.metrics else None
    try:
        markdown, rows = build_report(
            args.multirun_dir,
            metrics,
            args.rows.split(",") if args.rows else None,
            args.columns.split(",") if args.columns else None,
        )
    except (FileNotFoundError, GridError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    out = args.out or args.multirun_dir
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.md").write_text(markdown)
    write_csv(out / "report.csv", rows)
    print(markdown + f"\nwrote {out / 'report.md'} and {out / 'report.csv'}")
    return 0 if rows else 1  # no completed job: the sweep produced nothing to compare


if __name__ == "__main__":
    raise SystemExit(main())
