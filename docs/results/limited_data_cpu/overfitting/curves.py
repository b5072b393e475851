"""The over-fitting benchmark's tables, from its runs' folders (each with job.json and the CSV
log), all of one data set (MNIST or Fashion-MNIST, FID and KID in its own feature space): per
training-set size and arm (the run's `remedy`), mean ± std over seeds after `--batches` batches
(D steps) of FID, KID, precision, recall and D's scores (`val/d_*`), then the seed means of FID
and of r_v over training, every `--every` batches. Runs are read by batch, not by epoch, so that
sizes whose epochs differ share one budget. A longer run is read at `--batches`:
single-threaded CPU runs of one seed are identical up to there, whatever their length.
`--per-run FILE` also writes every run's values there (CSV), with ADA's p and r_t (`ada_p`,
`ada_rt`: their mean over the last tenth of the logged steps up to `--batches`) for ADA's arms.

    python docs/results/limited_data_cpu/overfitting/curves.py --batches 2100 <run folder> ...
"""

import argparse
import csv
import json
import statistics
from collections import defaultdict
from pathlib import Path

from gan.history import run_history

SPACES = {"fashion_mnist": ("fashion", "Fashion"), "mnist": ("mnist", "MNIST")}  # data: space


def metrics(space: str) -> dict[str, int]:
    """The table's metrics, name: digits."""
    return {
        f"val/fid_{space}": 2, f"val/kid_{space}": 4, "val/precision": 3, "val/recall": 3,
        "val/d_overfit": 2, "val/d_train": 2, "val/d_heldout": 2, "val/d_generated": 2,
    }  # fmt: skip


ORDER = ["none", "diffaugment", "ada", "lecam", "diffaugment_lecam", "ada_lecam", "bcr"]


def logged(rows: list[dict], key: str) -> list[tuple[int, float]]:
    """(step, value) of every row that logged `key` (the log's `step` counts batches from 0)."""
    return [(int(float(r["step"])), float(r[key])) for r in rows if r.get(key) not in (None, "")]


def value_at(rows: list[dict], batches: int, key: str) -> float | None:
    """`key` as logged after `batches` batches."""
    found = [value for step, value in logged(rows, key) if step == batches - 1]
    return found[-1] if found else None


def tail_mean(rows: list[dict], batches: int, key: str) -> float | None:
    """`key`'s mean over the last tenth of its values logged in the first `batches` batches."""
    found = [value for step, value in logged(rows, key) if step < batches]
    return statistics.mean(found[-max(1, len(found) // 10) :]) if found else None


def mean_std(values: list[float], digits: int) -> str:
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--batches", type=int, default=2100, help="the budget, in D steps")
    parser.add_argument("--every", type=int, default=350, help="the curves' spacing, in batches")
    parser.add_argument("--per-run", type=Path, help="write every run's values to this CSV")
    args = parser.parse_args()
    jobs = {run: json.loads((run / "job.json").read_text()) for run in args.runs}
    overrides = {run: dict(o.split("=", 1) for o in job["overrides"]) for run, job in jobs.items()}
    data_sets = {o.get("data", "mnist") for o in overrides.values()}
    if len(data_sets) != 1 or not data_sets <= SPACES.keys():
        raise SystemExit(f"runs of data={sorted(data_sets)}: give runs of one of {list(SPACES)}")
    space, label = SPACES[data_sets.pop()]
    table_metrics, fid = metrics(space), f"val/fid_{space}"
    cells = defaultdict(lambda: defaultdict(list))  # (images, arm): metric: values
    curves = {f"FID-{label}": (fid, defaultdict(lambda: defaultdict(list))),
              "r_v": ("val/d_overfit", defaultdict(lambda: defaultdict(list)))}  # fmt: skip
    per_run = []
    for run in args.runs:
        images = jobs[run]["training_set"]["images"]
        cell, rows = (images, overrides[run].get("remedy", "none")), run_history(run)
        if value_at(rows, args.batches, fid) is None:
            raise SystemExit(f"{run}: no metrics after {args.batches} batches")
        values = {key: value_at(rows, args.batches, key) for key in table_metrics}
        ada = {f"ada_{k}": tail_mean(rows, args.batches, f"train/ada_{k}") for k in ("p", "rt")}
        per_run.append({"run": run.name, "images": images, "arm": cell[1],
                        "seed": overrides[run].get("seed"), **values, **ada})  # fmt: skip
        for key, value in values.items():
            cells[cell][key].append(value)
        for key, curve in curves.values():
            for batches in range(args.every, 10_000_000, args.every):
                if (v := value_at(rows, batches, key)) is None:
                    break
                curve[cell][batches].append(v)
    rank = {arm: i for i, arm in enumerate(ORDER)}
    order = sorted(cells, key=lambda c: (c[0], rank.get(c[1], len(ORDER)), c[1]))
    if args.per_run:
        with args.per_run.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(per_run[0]))
            writer.writeheader()
            writer.writerows(sorted(per_run, key=lambda r: (r["images"], r["arm"], str(r["seed"]))))
    print(f"After {args.batches} batches, mean ± std over seeds:\n")
    print(f"| images | arm | seeds | FID-{label} | KID | precision | recall | r_v | D(train) "
          "| D(held-out) | D(generated) |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for images, arm in order:
        cells_ = " | ".join(mean_std(cells[images, arm][k], d) for k, d in table_metrics.items())
        print(f"| {images} | {arm} | {len(cells[images, arm][fid])} | {cells_} |")
    for name, (_, curve) in curves.items():
        points = sorted({b for cell in curve for b in curve[cell]})
        print(f"\n{name} over training (batches), seed mean (the number of seeds in brackets "
              "where fewer):\n")  # fmt: skip
        print("| images | arm | " + " | ".join(str(b) for b in points) + " |")
        print("|---|---|" + "---|" * len(points))
        for cell in order:
            seeds = len(cells[cell][fid])
            row = []
            for b in points:
                v = curve[cell].get(b, [])
                row.append(
                    f"{statistics.mean(v):.2f}" + (f" ({len(v)})" if len(v) < seeds else "")
                    if v
                    else ""
                )
            print(f"| {cell[0]} | {cell[1]} | " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
