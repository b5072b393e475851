"""A run's logged history, read back from its directory: the CSV logger's `metrics.csv` or the
`.wandb` file that wandb writes locally (offline runs and online ones alike), without a wandb
server. Used by notebooks/explore.ipynb and the tests."""

from __future__ import annotations

import csv
import json
import struct
from collections.abc import Iterator
from pathlib import Path

from wandb.proto import wandb_internal_pb2

BLOCK = 32 * 1024
FILE_HEADER = struct.Struct("<4sHB")  # ":W&B", magic, version
RECORD_HEADER = struct.Struct("<IHB")  # crc32, length, type (1 full, 2 first, 3 middle, 4 last)


def _payloads(data: bytes):
    offset, pending = FILE_HEADER.size, b""
    while offset + RECORD_HEADER.size <= len(data):
        room = BLOCK - offset % BLOCK
        if room < RECORD_HEADER.size:  # the rest of a block too small for a header is padding
            offset += room
            continue
        _, length, kind = RECORD_HEADER.unpack_from(data, offset)
        offset += RECORD_HEADER.size
        chunk, offset = data[offset : offset + length], offset + length
        if kind == 0 and length == 0:
            offset += BLOCK - offset % BLOCK if offset % BLOCK else 0
            continue
        pending = chunk if kind in (1, 2) else pending + chunk
        if kind in (1, 4):
            yield pending
            pending = b""


def wandb_records(run_file: Path) -> Iterator[wandb_internal_pb2.Record]:
    """Every record of a wandb run file (run, config, history, summary, ...), in order."""
    data = Path(run_file).read_bytes()
    if data[:4] != b":W&B":
        raise ValueError(f"{run_file}: not a wandb run file")
    for payload in _payloads(data):
        record = wandb_internal_pb2.Record()
        record.ParseFromString(payload)
        yield record


def wandb_history(run_file: Path) -> list[dict]:
    """Every history row (a dict of logged key -> value) in the order wandb wrote them."""
    return [
        {
            item.key or "/".join(item.nested_key): json.loads(item.value_json)
            for item in record.history.item
        }
        for record in wandb_records(run_file)
        if record.WhichOneof("record_type") == "history"
    ]


def csv_history(csv_file: Path) -> list[dict]:
    """The rows of a CSV logger's metrics.csv, empty cells left out, values as floats."""
    with Path(csv_file).open(newline="") as handle:
        return [{k: float(v) for k, v in row.items() if v != ""} for row in csv.DictReader(handle)]


def run_history(run_dir: Path) -> list[dict]:
    """The history of the run in `run_dir`: from its CSV log when there is one, else from its
    wandb run file."""
    run_dir = Path(run_dir)
    if csv_files := sorted(run_dir.glob("csv/**/metrics.csv")):
        return csv_history(csv_files[-1])
    if wandb_files := sorted(run_dir.glob("wandb/*run-*/run-*.wandb")):
        return wandb_history(wandb_files[-1])
    raise FileNotFoundError(
        f"no csv/**/metrics.csv nor wandb/*/run-*.wandb in {run_dir}: train with logger=csv or "
        "logger=wandb (the default) to keep a history"
    )


def series(rows: list[dict], key: str, x: str = "train/images_seen") -> tuple[list, list]:
    """(xs, ys) of `key` over the rows that hold both `key` and `x`."""
    pairs = [(row[x], row[key]) for row in rows if key in row and x in row]
    return [p[0] for p in pairs], [p[1] for p in pairs]
