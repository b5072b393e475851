"""The over-fitting benchmark's tables, from its runs' folders (each with job.json and the CSV
log), all of one data set (MNIST or Fashion-MNIST, FID and KID in its own feature space): per arm
(the run's `remedy`), mean ± std over seeds at epoch `--epoch` of FID, KID, precision, recall and
D's scores (`val/d_*`), then the seed means of FID and of r_v over training. A run longer than
`--epoch` epochs is read at that epoch: single-threaded CPU runs of one seed are identical up to
there, whatever their length. `--per-run FILE` also writes every run's values there (CSV).

    python docs/results/limited_data_cpu/overfitting/curves.py --epoch 300 <run folder> ...
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


def value_at(rows: list[dict], epoch: int, key: str) -> float | None:
    """`key` as logged at the end of epoch `epoch` (1-based)."""
    found = [
        float(r[key])
        for r in rows
        if r.get(key) not in (None, "") and int(float(r["epoch"])) == epoch - 1
    ]
    return found[-1] if found else None


def mean_std(values: list[float], digits: int) -> str:
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--epoch", type=int, default=300)
    parser.add_argument("--per-run", type=Path, help="write every run's values to this CSV")
    args = parser.parse_args()
    overrides = {
        run: dict(o.split("=", 1) for o in json.loads((run / "job.json").read_text())["overrides"])
        for run in args.runs
    }
    data_sets = {o.get("data", "mnist") for o in overrides.values()}
    if len(data_sets) != 1 or not data_sets <= SPACES.keys():
        raise SystemExit(f"runs of data={sorted(data_sets)}: give runs of one of {list(SPACES)}")
    space, label = SPACES[data_sets.pop()]
    table_metrics, fid = metrics(space), f"val/fid_{space}"
    cells = defaultdict(lambda: defaultdict(list))
    curves = {f"FID-{label}": (fid, defaultdict(lambda: defaultdict(list))),
              "r_v": ("val/d_overfit", defaultdict(lambda: defaultdict(list)))}  # fmt: skip
    per_run = []
    for run in args.runs:
        arm, rows = overrides[run].get("remedy", "none"), run_history(run)
        if value_at(rows, args.epoch, fid) is None:
            raise SystemExit(f"{run}: no metrics at epoch {args.epoch}")
        values = {key: value_at(rows, args.epoch, key) for key in table_metrics}
        per_run.append({"run": run.name, "arm": arm, "seed": overrides[run].get("seed"), **values})
        for key, value in values.items():
            cells[arm][key].append(value)
        for key, curve in curves.values():
            for epoch in range(50, 100_000, 50):
                if (v := value_at(rows, epoch, key)) is None:
                    break
                curve[arm][epoch].append(v)
    arms = [a for a in ORDER if a in cells] + sorted(set(cells) - set(ORDER))
    print(f"At epoch {args.epoch}, mean ± std over seeds:\n")
    if args.per_run:
        with args.per_run.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(per_run[0]))
            writer.writeheader()
            writer.writerows(sorted(per_run, key=lambda r: (r["arm"], str(r["seed"]))))
    print(f"| arm | seeds | FID-{label} | KID | precision | recall | r_v | D(train) | D(held-out) "
          "| D(generated) |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|")
    for arm in arms:
        cells_ = " | ".join(mean_std(cells[arm][k], d) for k, d in table_metrics.items())
        print(f"| {arm} | {len(cells[arm][fid])} | {cells_} |")
    for name, (_, curve) in curves.items():
        epochs = sorted({e for arm in curve for e in curve[arm]})
        print(f"\n{name} over training, seed mean (the number of seeds in brackets where fewer):\n")
        print("| arm | " + " | ".join(str(e) for e in epochs) + " |")
        print("|---|" + "---|" * len(epochs))
        for arm in arms:
            seeds = len(cells[arm][fid])
            row = []
            for e in epochs:
                v = curve[arm].get(e, [])
                row.append(
                    f"{statistics.mean(v):.2f}" + (f" ({len(v)})" if len(v) < seeds else "")
                    if v
                    else ""
                )
            print(f"| {arm} | " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
